import {
  PROTOCOLS,
  PROVIDER_NAME_PATTERN,
  REFRESH_SUPPORT,
  TOKEN_AUTH_METHODS,
  type Protocol,
  type ProviderConfig,
  type RefreshSupport,
  type ScopeDelimiter,
  type TokenAuthMethod,
  type TokenPlacement,
} from '../../shared/provider.ts'
import { maxAgeSeconds, RESERVED_AUTHORIZATION_PARAMS } from '../clients/reserved-params.ts'
import { presetConfig } from './fill-preset.ts'
import type { PresetEndpoints } from './preset.ts'
import { ProviderInputError } from './provider-input-error.ts'
import { providerUrlProblem } from './provider-url.ts'

export { ProviderInputError }

/** What a user may set on a provider (the CLI's flags); unset fields keep their preset or current value. */
export interface ProviderInput extends PresetEndpoints {
  preset?: string
  protocol?: string
  displayName?: string
  clientId?: string
  clientSecret?: string
  scope?: string
  identifierPath?: string
  pkce?: boolean
  tokenAuthMethod?: string
  tokenPlacement?: string
  extraAuthorizationParams?: Record<string, string>
  /** Values of the preset's parameters (`domain`, `tenant`, …); given alone, they re-apply the provider's preset. */
  params?: Record<string, string>
  displayNamePath?: string
  refresh?: string
  /** `space` or `comma` (or the character itself). */
  scopeDelimiter?: string
}

/** The endpoint fields of a provider, with the flag that sets each. */
export const URL_FIELDS = [
  ['requestTokenUrl', 'request-token-url'],
  ['authorizationUrl', 'authorization-url'],
  ['accessTokenUrl', 'access-token-url'],
  ['profileUrl', 'profile-url'],
  ['apiBaseUrl', 'api-base-url'],
  ['issuer', 'issuer'],
  ['revocationUrl', 'revocation-url'],
] as const

const SCOPE_DELIMITER_NAMES: Record<string, ScopeDelimiter> = { space: ' ', ' ': ' ', comma: ',', ',': ',' }

const DOTTED_PATH = /^[^.\s]+(\.[^.\s]+)*$/


/**
 * URLs that others are appended to: the issuer (discovery's path; OpenID Connect Discovery 1.0 §3
 * allows no query or fragment in it) and the API base (the proxied path and query), which would
 * silently lose a query or fragment of their own.
 */
const BASE_URL_FLAGS = new Set(['issuer', 'api-base-url'])

/** Provider URLs must be https; plain http only to this machine, for development and tests. */
export function checkProviderUrl(flag: string, value: string): string {
  const problem = providerUrlProblem(value)
  if (problem) throw new ProviderInputError(`--${flag}: ${problem}`)
  if (BASE_URL_FLAGS.has(flag) && /[?#]/.test(new URL(value).href)) throw new ProviderInputError(`--${flag}: must not have a query (?…) or a fragment (#…)`)
  return value
}

export function checkProviderName(name: string): string {
  if (!PROVIDER_NAME_PATTERN.test(name)) throw new ProviderInputError(`provider name "${name}" must be 1-50 characters of a-z, 0-9 and -`)
  return name
}

function inferProtocol(fields: Partial<ProviderConfig>): Protocol {
  if (fields.requestTokenUrl) return 'oauth1'
  if (fields.issuer) return 'oidc'
  return 'oauth2'
}

const REQUIRED: Record<Protocol, (keyof ProviderConfig)[]> = {
  oauth1: ['requestTokenUrl', 'authorizationUrl', 'accessTokenUrl', 'profileUrl'],
  oauth2: ['authorizationUrl', 'accessTokenUrl', 'profileUrl'],
  oidc: ['issuer'],
}

const FLAG_OF: Partial<Record<keyof ProviderConfig, string>> = Object.fromEntries(URL_FIELDS.map(([field, flag]) => [field, flag]))

/**
 * Builds a complete provider config from user input, over a preset and over the current config when
 * updating. Throws a one-line ProviderInputError naming the first problem.
 */
export function buildProviderConfig(name: string, input: ProviderInput, current?: ProviderConfig): ProviderConfig {
  checkProviderName(name)
  const preset = presetFor(input, current)
  const given: Partial<ProviderConfig> = {}
  for (const [field, flag] of URL_FIELDS) {
    const value = input[field]
    if (value !== undefined) given[field] = value === '' ? null : checkProviderUrl(flag, value)
  }
  if (input.protocol !== undefined) {
    if (!(PROTOCOLS as readonly string[]).includes(input.protocol)) throw new ProviderInputError(`--protocol: must be one of ${PROTOCOLS.join(', ')}, got "${input.protocol}"`)
    given.protocol = input.protocol as Protocol
  }
  if (input.tokenAuthMethod !== undefined) {
    if (!(TOKEN_AUTH_METHODS as readonly string[]).includes(input.tokenAuthMethod)) {
      throw new ProviderInputError(`--token-auth: must be one of ${TOKEN_AUTH_METHODS.join(', ')}, got "${input.tokenAuthMethod}"`)
    }
    given.tokenAuthMethod = input.tokenAuthMethod as TokenAuthMethod
  }
  if (input.tokenPlacement !== undefined) {
    if (input.tokenPlacement !== 'header' && input.tokenPlacement !== 'query') throw new ProviderInputError(`--token-placement: must be header or query, got "${input.tokenPlacement}"`)
    given.tokenPlacement = input.tokenPlacement as TokenPlacement
  }
  if (input.identifierPath !== undefined) {
    if (input.identifierPath.length > 200) throw new ProviderInputError('--identifier-path: must be at most 200 characters')
    if (!DOTTED_PATH.test(input.identifierPath)) throw new ProviderInputError(`--identifier-path: "${input.identifierPath}" is not a dotted path like id or user.id`)
    given.identifierPath = input.identifierPath
  }
  if (input.displayNamePath !== undefined) {
    const paths = input.displayNamePath.trim()
    if (paths.length > 200) throw new ProviderInputError('--display-name-path: must be at most 200 characters')
    if (paths && !paths.split(/\s+/).every((path) => DOTTED_PATH.test(path))) {
      throw new ProviderInputError(`--display-name-path: "${input.displayNamePath}" is not dotted paths like name or user.first_name user.last_name`)
    }
    given.displayNamePath = paths || null
  }
  if (input.refresh !== undefined) {
    if (!(REFRESH_SUPPORT as readonly string[]).includes(input.refresh)) throw new ProviderInputError(`--refresh: must be one of ${REFRESH_SUPPORT.join(', ')}, got "${input.refresh}"`)
    given.refresh = input.refresh as RefreshSupport
  }
  if (input.scopeDelimiter !== undefined) {
    // Own keys only: `toString` or `constructor` would find Object.prototype's.
    const delimiter = Object.hasOwn(SCOPE_DELIMITER_NAMES, input.scopeDelimiter) ? SCOPE_DELIMITER_NAMES[input.scopeDelimiter] : undefined
    if (!delimiter) throw new ProviderInputError(`--scope-delimiter: must be space or comma, got "${input.scopeDelimiter}"`)
    given.scopeDelimiter = delimiter
  }
  for (const field of ['displayName', 'clientId', 'clientSecret', 'scope'] as const) {
    const value = input[field]
    if (value === undefined) continue
    if (field === 'displayName' && value.length > 100) throw new ProviderInputError('--display-name: must be at most 100 characters')
    // A client secret may be a PEM private key (Apple's), whose lines are its own.
    const control = field === 'clientSecret' ? /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f]/ : /[\u0000-\u001f\u007f]/
    const flag = field.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())
    if (control.test(value)) throw new ProviderInputError(`--${flag}: must not contain control characters`)
    // A client id is sent as given: spaces pasted around it would fail every login at the provider.
    if (field === 'clientId' && value !== value.trim()) throw new ProviderInputError(`--${flag}: must not start or end with a space`)
    // An empty value clears an optional field (or restores the default display name).
    ;(given as Record<string, string | null>)[field] = value.trim() === '' ? null : value
  }
  if (input.pkce !== undefined) given.pkce = input.pkce
  if (input.extraAuthorizationParams !== undefined) {
    const reserved = Object.keys(input.extraAuthorizationParams).find((param) => RESERVED_AUTHORIZATION_PARAMS.has(param))
    if (reserved) throw new ProviderInputError(`--auth-param: "${reserved}" is set by all-access itself`)
    const maxAge = Object.hasOwn(input.extraAuthorizationParams, 'max_age') ? input.extraAuthorizationParams.max_age : undefined
    // Every login would otherwise fail: the ID token's auth_time cannot be held to it.
    if (maxAge !== undefined && maxAgeSeconds(maxAge) === null) throw new ProviderInputError(`--auth-param: max_age must be a whole number of seconds, got "${maxAge}"`)
    given.extraAuthorizationParams = input.extraAuthorizationParams
  }

  const merged: Partial<ProviderConfig> = { ...current, ...preset, ...given }
  // An OAuth 1.0a provider's stored `false` is no `--no-pkce` for the OAuth 2.0 one it is updated to.
  const pkce = given.pkce ?? preset.pkce ?? (current?.protocol === 'oauth1' ? undefined : current?.pkce)
  // An explicit flag wins, then the preset, then what the provider already was; a new one is inferred.
  const protocol = given.protocol ?? (preset as Partial<ProviderConfig>).protocol ?? current?.protocol ?? inferProtocol(merged)
  const config: ProviderConfig = {
    name,
    displayName: merged.displayName || name.charAt(0).toUpperCase() + name.slice(1),
    protocol,
    requestTokenUrl: merged.requestTokenUrl ?? null,
    authorizationUrl: merged.authorizationUrl ?? null,
    accessTokenUrl: merged.accessTokenUrl ?? null,
    profileUrl: merged.profileUrl ?? null,
    apiBaseUrl: merged.apiBaseUrl ?? null,
    issuer: merged.issuer ?? null,
    revocationUrl: merged.revocationUrl ?? null,
    scope: merged.scope ?? null,
    identifierPath: given.identifierPath ?? keptIdentifierPath(current, protocol) ?? merged.identifierPath ?? (protocol === 'oidc' ? 'sub' : 'id'),
    clientId: merged.clientId ?? null,
    clientSecret: merged.clientSecret ?? null,
    // OAuth 1.0a has no PKCE: a stored `true` would only mislead `providers list`.
    pkce: protocol !== 'oauth1' && (pkce ?? true),
    tokenAuthMethod: merged.tokenAuthMethod ?? 'client_secret_basic',
    tokenPlacement: merged.tokenPlacement ?? 'header',
    extraAuthorizationParams: merged.extraAuthorizationParams ?? {},
    preset: merged.preset ?? null,
    presetParams: merged.presetParams ?? {},
    displayNamePath: merged.displayNamePath ?? null,
    refresh: merged.refresh ?? 'rotating',
    scopeDelimiter: merged.scopeDelimiter ?? ' ',
  }
  if (!config.clientId) throw new ProviderInputError('--client-id is required')
  if (!config.clientSecret) throw new ProviderInputError('--client-secret is required')
  for (const field of REQUIRED[protocol]) {
    if (!config[field]) throw new ProviderInputError(`--${FLAG_OF[field]} is required for an ${protocol} provider`)
  }
  if (protocol === 'oauth1' && given.pkce) throw new ProviderInputError('--pkce only applies to oauth2 and oidc providers, not oauth1')
  if (protocol !== 'oauth1' && config.requestTokenUrl) throw new ProviderInputError(`--request-token-url only applies to oauth1 providers, not ${protocol}`)
  return config
}

/**
 * An updated provider's identifier path, unless a flag names another: its accounts are found by it, so
 * a preset re-applied with another (GitHub's `id` over a provider added with `node_id`) would leave
 * every account unfound, and each user's next login would make a new user. Not across a change of
 * protocol, whose profile is another document.
 */
function keptIdentifierPath(current: ProviderConfig | undefined, protocol: Protocol): string | undefined {
  return current && current.protocol === protocol ? current.identifierPath : undefined
}

/**
 * The preset values to apply: `--preset`'s, or with `--param` alone the provider's own preset again.
 * Parameters given before stay unless given anew, as long as the preset is the same.
 */
function presetFor(input: ProviderInput, current?: ProviderConfig): Partial<ProviderConfig> {
  const name = input.preset ?? (input.params ? current?.preset : undefined)
  if (name === undefined || name === null) {
    if (input.params) throw new ProviderInputError(current ? `--param: provider "${current.name}" was not made from a preset (add --preset)` : '--param needs --preset')
    return {}
  }
  const kept = current?.preset === name ? current.presetParams : {}
  return presetConfig(name, { ...kept, ...input.params })
}
