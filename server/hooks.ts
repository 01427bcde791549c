import type { Context } from 'koa'
import type { Knex } from 'knex'
import type { ErrorCode } from '../shared/errors.ts'
import type { ProviderConfig } from '../shared/provider.ts'
import { AUTH_ERROR_PARAM, routes } from '../shared/routes.ts'
import { displayNameOf, valueAtPath } from './clients/identifier.ts'
import { AllAccessError } from './errors.ts'
import type { Profile } from './clients/types.ts'
import type { AccountAccess } from './accounts/account-access.ts'
import type { UserRecord } from './store/users.ts'
import type { Store } from './store/index.ts'

/**
 * The decisions a host app may take over (django-all-access's callback hooks). Each has a working
 * default; pass only the ones to change to `createAllAccess({ hooks })`.
 */
export interface AllAccessHooks {
  /** The provider identity from the profile: by default the value at the provider's identifier path. */
  getUserId(args: { provider: ProviderConfig; profile: Profile }): string | null | Promise<string | null>
  /** The user a new identity belongs to when nobody is signed in; runs inside the login's transaction, in which `trx` and every part of `store` write. */
  getOrCreateUser(args: { provider: ProviderConfig; profile: Profile; identifier: string; trx: Knex; store: Store }): Promise<UserRecord>
  /** Runs after a successful login is stored; may return the local path to go to instead of `next`. */
  onLogin(args: { provider: ProviderConfig; user: UserRecord; account: AccountAccess; isNew: boolean; next: string; ctx: Context }): Promise<string | void> | string | void
  /** Where a failed login lands; by default `/?auth_error=<code>`. */
  getErrorRedirect(args: { provider: ProviderConfig | null; code: ErrorCode }): string
  /** Extra authorization parameters for one redirect (they override the provider's). */
  getAdditionalParameters(args: { provider: ProviderConfig; ctx: Context }): Record<string, string> | Promise<Record<string, string>>
  /** The callback URL given to the provider (at login, and again in a refresh where it wants it); by default `PUBLIC_URL/auth/callback/<name>`. */
  getCallbackUrl(args: { provider: ProviderConfig; publicUrl: URL }): string
}

export const defaultHooks: AllAccessHooks = {
  getUserId: ({ provider, profile }) => valueAtPath(profile, provider.identifierPath),
  getOrCreateUser: ({ provider, profile, trx, store }) => store.users.create(displayNameOf(profile, provider.displayNamePath ?? null), trx),
  onLogin: () => undefined,
  getErrorRedirect: ({ code }) => `/?${new URLSearchParams({ [AUTH_ERROR_PARAM]: code })}`,
  getAdditionalParameters: () => ({}),
  getCallbackUrl: ({ provider, publicUrl }) => new URL(routes.callback(provider.name), publicUrl).toString(),
}

/**
 * The app's own hooks, each handed a view of the provider whose client secret is readable but left
 * out of what the hook prints, serialises or copies (`console.log(args)` in `onLogin`), as an
 * account's tokens are. The defaults, all-access's own code, get the provider as it is. Whatever else
 * the app's object holds stays on it, and a hook is called on it: a hook written as a method may read
 * a setting or call a helper of its own through `this`, as before the view.
 */
export function appHooks(given: { [Name in keyof AllAccessHooks]?: AllAccessHooks[Name] | undefined } = {}): AllAccessHooks {
  const hooks: Record<string, unknown> = { ...given }
  for (const name of Object.keys(defaultHooks) as (keyof AllAccessHooks)[]) {
    const hook = given[name] as ((this: unknown, args: { provider: ProviderConfig | null }) => unknown) | undefined
    // A hook left undefined (`onLogin: enabled ? fn : undefined`) is the default's.
    hooks[name] =
      typeof hook === 'function'
        ? function (this: unknown, args: { provider: ProviderConfig | null }) {
            return hook.call(this, { ...args, provider: args.provider && withHiddenSecret(args.provider) })
          }
        : defaultHooks[name]
  }
  return hooks as unknown as AllAccessHooks
}

function withHiddenSecret(provider: ProviderConfig): ProviderConfig {
  const view = { ...provider }
  // Read, not copied by the spread: a provider already a view (one hook calling another) has it hidden.
  Object.defineProperty(view, 'clientSecret', { value: provider.clientSecret, enumerable: false, writable: true, configurable: true })
  return view
}

/**
 * What a host's hook handed back, in words for the error line that names it: never the value
 * itself, which may hold a profile's data, but for a number and null or undefined (a forgotten
 * `return`).
 */
export function hookAnswerInWords(value: unknown): string {
  if (value === null || value === undefined) return String(value)
  if (value === '') return 'an empty string'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'number') return `the number ${value}`
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}

/**
 * The callback URL for `provider`, as the app's getCallbackUrl answers it, judged before a provider
 * or a refresh uses it: an absolute URL on the public origin, without a fragment (RFC 6749 §3.1.2).
 * A path or a non-URL went to the provider as its redirect_uri, which it refuses on its own page;
 * a URL on another origin brought the user back where the login's cookie is not sent. A URL object
 * is taken as its text, as a whole number is taken for an identifier.
 */
export function callbackUrlOf(hooks: AllAccessHooks, provider: ProviderConfig, publicUrl: URL): string {
  const refuse = (problem: string) => new AllAccessError('server_error', { detail: `the getCallbackUrl hook ${problem}` })
  let given: unknown
  try {
    given = hooks.getCallbackUrl({ provider, publicUrl })
  } catch (thrown) {
    throw refuse(`failed: ${(thrown as Error)?.stack ?? String(thrown)}`)
  }
  const url = given instanceof URL ? given : typeof given === 'string' ? absoluteUrl(given) : null
  const wanted = `an absolute URL on the public origin ${publicUrl.origin}`
  if (!url) throw refuse(`returned ${typeof given === 'string' && given !== '' ? 'a string that is no absolute URL' : hookAnswerInWords(given)}, not ${wanted}`)
  if (url.origin !== publicUrl.origin) throw refuse(`returned a URL on ${url.origin}, not ${wanted}: the browser would come back where the login's cookie is not sent`)
  if (url.hash !== '' || url.href.endsWith('#')) throw refuse(`returned a URL with a fragment, which a redirect URI may not have (RFC 6749 §3.1.2)`)
  // As given: the provider compares it with the one registered there, character for character.
  return typeof given === 'string' ? given : url.toString()
}

function absoluteUrl(text: string): URL | null {
  try {
    return new URL(text)
  } catch {
    return null
  }
}
