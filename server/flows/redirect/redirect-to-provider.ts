import type { FlowSecrets } from '../../clients/base.ts'
import { maxAgeSeconds } from '../../clients/reserved-params.ts'
import { AllAccessError } from '../../errors.ts'
import { hookAnswerInWords } from '../../hooks.ts'
import { need, type LoginContext } from '../login-state.ts'

/**
 * The provider's authorization URL for this login. The asked `prompt` overrides the provider's own
 * (a preset's `prompt=consent`), so that `prompt=none` stays silent; the host app's
 * `getAdditionalParameters` has the last word. OAuth 1.0a has no `prompt`. Built before the flow is
 * stored: what it asks of the provider (`max_age`) decides what the callback accepts.
 */
export async function redirectUrl(ctx: LoginContext, secrets: FlowSecrets): Promise<string> {
  const provider = need(ctx, 'provider')
  const { prompt } = ctx.state.login
  const asked: Record<string, string> = prompt && provider.protocol !== 'oauth1' ? { prompt } : {}
  const extra = { ...asked, ...hookParameters(await ctx.state.runtime.hooks.getAdditionalParameters({ provider, ctx })) }
  return need(ctx, 'client').getRedirectUrl(secrets, need(ctx, 'callbackUrl'), extra)
}

/**
 * The hook's parameters as text. One given as undefined or null is left out, as a host passing a
 * query parameter on (`login_hint: ctx.query.email`) means when the login has none: set, it went to
 * the provider as the text "undefined". A number or a boolean is sent as its text; anything else
 * (an array, an object, a query string instead of an object, sent a character a parameter) is the
 * app's bug, which the provider could only misread.
 */
function hookParameters(given: unknown): Record<string, string> {
  const refuse = (what: string) => {
    throw new AllAccessError('server_error', { detail: `the getAdditionalParameters hook returned ${what}: it returns an object of parameter names and their text` })
  }
  if (given === undefined || given === null) return {}
  if (typeof given !== 'object' || Array.isArray(given)) return refuse(hookAnswerInWords(given))
  const parameters: Record<string, string> = {}
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined || value === null) continue
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') refuse(`${hookAnswerInWords(value)} for ${name}`)
    parameters[name] = String(value)
  }
  return parameters
}

/**
 * OpenID Connect Core §3.1.2.1: the `max_age` a redirect asks for, in seconds, which the ID token's
 * `auth_time` must then meet (§3.1.3.7 item 11); undefined when it asks none. all-access never asks
 * it itself: an OpenID Connect provider's extra parameters or the `getAdditionalParameters` hook may.
 */
export function maxAgeAsked(url: string): number | undefined {
  const value = new URL(url).searchParams.get('max_age')
  if (value === null) return undefined
  const seconds = maxAgeSeconds(value)
  // `--auth-param` refuses it already; the hook's is known only now, and the login cannot go on without it.
  if (seconds === null) throw new TypeError(`max_age must be a whole number of seconds, not "${value}" (getAdditionalParameters or the provider's extra authorization parameters)`)
  return seconds
}

/** Sends the browser to the provider, with the URL built before the flow was stored. */
export async function redirectToProvider(ctx: LoginContext): Promise<void> {
  ctx.redirect(need(ctx, 'redirectUrl'))
}
