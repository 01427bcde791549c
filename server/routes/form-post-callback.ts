import type { Context, Next } from 'koa'
import { readForm } from '../http/read-form.ts'

/** The login callback's path; the name keeps to the provider-name alphabet. */
const PROVIDER_CALLBACK_PATH = /^\/auth\/callback\/([a-z0-9-]{1,50})$/

/** More than any provider's posted answer (Apple's: code, state, id_token and the user's name). */
const MAX_FORM_BYTES = 16 * 1024

/**
 * `POST /auth/callback/:provider`: a provider answering with the OAuth 2.0 Form Post Response Mode
 * (Apple, when asked for the user's name or email) is sent on, with a 303, to the GET callback with
 * the form as its query. The login's flow cookie is `SameSite=Lax`, which a cross-site POST does not
 * carry and the top-level GET it becomes does. A form that cannot be read leads to the callback with
 * nothing, which fails as any callback without state does.
 */
export async function formPostCallback(ctx: Context, next: Next): Promise<void> {
  const match = PROVIDER_CALLBACK_PATH.exec(ctx.path)
  if (ctx.method !== 'POST' || !match) return next()
  const form = await readForm(ctx, MAX_FORM_BYTES)
  ctx.set('Cache-Control', 'no-store')
  ctx.status = 303
  ctx.redirect(`/auth/callback/${match[1]}${form?.size ? `?${form}` : ''}`)
}
