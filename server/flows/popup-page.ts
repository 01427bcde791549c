import { createHash } from 'node:crypto'
import { authErrorMessage } from '../../shared/auth-errors.ts'
import type { ErrorCode } from '../../shared/errors.ts'
import { POPUP_MESSAGE_TYPE, type PopupLoginMessage } from '../../shared/routes.ts'
import type { LoginContext } from './login-state.ts'

/**
 * The page's only script. It reads the message and the target origin from the body's data
 * attributes, so it never varies and the CSP can allow it by its hash alone. A provider page sent
 * with `Cross-Origin-Opener-Policy: same-origin` (Cognito, Bluesky) cuts the popup off from its
 * opener for good; the result then goes by a BroadcastChannel, which reaches only pages of this
 * page's origin, `PUBLIC_URL`'s, as the opener's target origin would.
 */
export const POPUP_SCRIPT =
  'var d=document.body.dataset,m=JSON.parse(d.message);if(window.opener)window.opener.postMessage(m,d.origin);else new BroadcastChannel(m.type).postMessage(m);window.close()'

const POPUP_CSP = [
  "default-src 'none'",
  `script-src 'sha256-${createHash('sha256').update(POPUP_SCRIPT).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/**
 * Ends a popup login (DESIGN.md, `GET /auth/callback/:provider`): a `200` page that posts the
 * result to `window.opener` and closes. The target origin is `PUBLIC_URL`'s only: a page of another
 * site that opened the login receives nothing. No `Cross-Origin-Opener-Policy` here, which would cut
 * the popup off from its opener.
 */
export function answerPopup(ctx: LoginContext, error?: ErrorCode): void {
  const message: PopupLoginMessage = error ? { type: POPUP_MESSAGE_TYPE, ok: false, error } : { type: POPUP_MESSAGE_TYPE, ok: true }
  const origin = ctx.state.runtime.publicUrl.origin
  ctx.status = 200
  ctx.type = 'html'
  ctx.set('Content-Security-Policy', POPUP_CSP)
  // The address holds the provider's code: no page this one links to may see it.
  ctx.set('Referrer-Policy', 'no-referrer')
  ctx.body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${error ? 'Sign-in failed' : 'Signed in'}</title></head>
<body data-message="${escapeHtml(JSON.stringify(message))}" data-origin="${escapeHtml(origin)}">
<p>${escapeHtml(error ? authErrorMessage(error) : 'You are signed in.')} You can close this window.</p>
<script>${POPUP_SCRIPT}</script>
</body></html>
`
}
