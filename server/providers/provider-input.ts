import {
  PROTOCOLS,
  PROVIDER_NAME_PATTERN,
  TOKEN_AUTH_METHODS,
  type Protocol,
  type ProviderConfig,
  type TokenAuthMethod,
  type TokenPlacement,
} from '../../shared/provider.ts'
import { PRESETS } from './presets.ts'

export class ProviderInputError extends Error {
  override name = 'ProviderInputError'
}

/** What a user may set on a provider (the CLI's flags); unset fields keep their preset or current value. */
export interface ProviderInput {
  preset?: string
  protocol?: string
  displayName?: string
  clientId?: string
  clientSecret?: string
  requestTokenUrl?: string
  authorizationUrl?: string
  accessTokenUrl?: string
  profileUrl?: string
  apiBaseUrl?: string
  issuer?: string
  revocationUrl?: string
  scope?: string
  identifierPath?: string
  pkce?: boolean
  tokenAuthMethod?: string
  tokenPlacement?: string
  extraAuthorizationParams?: Record<string, string>
}

const URL_FIELDS = [
  ['requestTokenUrl', 'request-token-url'],
  ['authorizationUrl', 'authorization-url'],
  ['accessTokenUrl', 'access-token-url'],
  ['profileUrl', 'profile-url'],
  ['apiBaseUrl', 'api-base-url'],
  ['issuer', 'issuer'],
  ['revocationUrl', 'revocation-url'],
] as const

/** Parameters a login sets itself: an extra one of these names would replace state, PKCE or the nonce. */
const RESERVED_AUTHORIZATION_PARAMS = new Set(['response_type', 'client_id', 'redirect_uri', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method', 'oauth_token'])

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/**
 * The rule every provider URL follows, given on the command line or found through discovery: https,
 * or plain http to this machine only (development and tests). Returns what is wrong, or null.
 */
export function providerUrlProblem(value: unknown): string | null {
  let url: URL
  try {
    url = new URL(String(value))
  } catch {
    return `"${String(value).slice(0, 200)}" is not a URL`
  }
  if (url.protocol === 'https:') return null
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) return null
  if (url.protocol === 'http:') return 'must use https (http is only allowed for localhost, 127.0.0.1 and [::1])'
  return `must be an https URL, got ${url.protocol}`
}

/** Provider URLs must be https; plain http only to this machine, for development and tests. */
export function checkProviderUrl(flag: string, value: string): string {
  const problem = providerUrlProblem(value)
  if (problem) throw new ProviderInputError(`--${flag}: ${problem}`)
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
  let preset = {}
  if (input.preset !== undefined) {
    if (!Object.hasOwn(PRESETS, input.preset)) throw new ProviderInputError(`--preset: unknown preset "${input.preset}" (known: ${Object.keys(PRESETS).join(', ')})`)
    preset = PRESETS[input.preset]
  }
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
    if (!/^[^.\s]+(\.[^.\s]+)*$/.test(input.identifierPath)) throw new ProviderInputError(`--identifier-path: "${input.identifierPath}" is not a dotted path like id or user.id`)
    given.identifierPath = input.identifierPath
  }
  for (const field of ['displayName', 'clientId', 'clientSecret', 'scope'] as const) {
    const value = input[field]
    if (value === undefined) continue
    if (field === 'displayName' && value.length > 100) throw new ProviderInputError('--display-name: must be at most 100 characters')
    if (/[\u0000-\u001f\u007f]/.test(value)) throw new ProviderInputError(`--${field.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}: must not contain control characters`)
    // An empty value clears an optional field (or restores the default display name).
    ;(given as Record<string, string | null>)[field] = value.trim() === '' ? null : value
  }
  if (input.pkce !== undefined) given.pkce = input.pkce
  if (input.extraAuthorizationParams !== undefined) {
    const reserved = Object.keys(input.extraAuthorizationParams).find((param) => RESERVED_AUTHORIZATION_PARAMS.has(param))
    if (reserved) throw new ProviderInputError(`--auth-param: "${reserved}" is set by all-access itself`)
    given.extraAuthorizationParams = input.extraAuthorizationParams
  }

  const merged: Partial<ProviderConfig> = { ...current, ...preset, ...given }
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
    identifierPath: merged.identifierPath ?? (protocol === 'oidc' ? 'sub' : 'id'),
    clientId: merged.clientId ?? null,
    clientSecret: merged.clientSecret ?? null,
    pkce: merged.pkce ?? true,
    tokenAuthMethod: merged.tokenAuthMethod ?? 'client_secret_basic',
    tokenPlacement: merged.tokenPlacement ?? 'header',
    extraAuthorizationParams: merged.extraAuthorizationParams ?? {},
  }
  if (!config.clientId) throw new ProviderInputError('--client-id is required')
  if (!config.clientSecret) throw new ProviderInputError('--client-secret is required')
  for (const field of REQUIRED[protocol]) {
    if (!config[field]) throw new ProviderInputError(`--${FLAG_OF[field]} is required for an ${protocol} provider`)
  }
  if (protocol !== 'oauth1' && config.requestTokenUrl) throw new ProviderInputError(`--request-token-url only applies to oauth1 providers, not ${protocol}`)
  return config
}
