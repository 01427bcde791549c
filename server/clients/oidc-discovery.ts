import { createRemoteJWKSet, customFetch } from 'jose'
import { cutText } from '../cut-text.ts'
import { AllAccessError } from '../errors.ts'
import { providerUrlProblem } from '../providers/provider-url.ts'
import { answerFieldText, callProvider } from './provider-http.ts'

export interface OidcMetadata {
  issuer: string
  authorization_endpoint: string
  token_endpoint: string
  jwks_uri: string
  userinfo_endpoint?: string
  revocation_endpoint?: string
  end_session_endpoint?: string
  id_token_signing_alg_values_supported?: string[]
  authorization_response_iss_parameter_supported?: boolean
}

const TTL_MS = 60 * 60 * 1000
/** A failed discovery (or key-set fetch) is remembered this long: login starts must not hammer a provider that is down. */
const FAILURE_TTL_MS = 30 * 1000
/** The endpoints a client may call, each bound by the same https-or-loopback rule as the command line's. */
const ENDPOINTS = ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint', 'revocation_endpoint', 'end_session_endpoint'] as const
const cache = new Map<string, { metadata: Promise<OidcMetadata>; until: number }>()
const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>()

/** The tenant of every personal Microsoft account: the `consumers` endpoints' real issuer, and their tokens' `tid`. */
export const MICROSOFT_CONSUMERS_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad'

/**
 * Microsoft's multi-tenant endpoints publish `https://login.microsoftonline.com/{tenantid}/v2.0` as
 * issuer: the configured `common` or `organizations` issuer matches that template, and each token
 * names its tenant. The `consumers` endpoints instead publish the personal-accounts tenant itself.
 */
export function issuerMatches(configured: string, published: string): boolean {
  if (configured === published) return true
  if (published.replace(`/${MICROSOFT_CONSUMERS_TENANT}/`, '/consumers/') === configured) return true
  if (!published.includes('{tenantid}')) return false
  return ['common', 'organizations', 'consumers'].some((tenant) => published.replace('{tenantid}', tenant) === configured)
}

async function fetchMetadata(issuer: string): Promise<OidcMetadata> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`
  const answer = await callProvider(url, { method: 'GET', headers: { Accept: 'application/json' }, timeoutMs: 10_000 }, 'provider_unavailable')
  let metadata: OidcMetadata
  try {
    metadata = JSON.parse(answer.text) as OidcMetadata
  } catch {
    throw new AllAccessError('provider_unavailable', { detail: `discovery of ${issuer} answered ${answer.status} without JSON` })
  }
  // `null` and `[]` are JSON too: a document that is not an object is the provider's trouble, not ours.
  if (!answer.ok || typeof metadata !== 'object' || metadata === null || !metadata.authorization_endpoint || !metadata.token_endpoint || !metadata.jwks_uri) {
    throw new AllAccessError('provider_unavailable', { detail: `discovery of ${issuer} answered ${answer.status} without the required endpoints` })
  }
  const algorithms = metadata.id_token_signing_alg_values_supported
  if (algorithms !== undefined && !(Array.isArray(algorithms) && algorithms.every((alg) => typeof alg === 'string'))) {
    throw new AllAccessError('provider_unavailable', { detail: `discovery of ${issuer}: id_token_signing_alg_values_supported is not a list of names` })
  }
  // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
  if (typeof metadata.issuer !== 'string' || !issuerMatches(issuer, metadata.issuer)) throw new AllAccessError('provider_unavailable', { detail: `discovery of ${issuer} names issuer ${answerFieldText(metadata.issuer, 200)}` })
  for (const endpoint of ENDPOINTS) {
    // Some servers write an endpoint they lack as `null` rather than leave it out: it is absent.
    if (metadata[endpoint] === null) delete metadata[endpoint]
    const value: unknown = metadata[endpoint]
    // Not text (an object, a list): String() would throw (a server error, not the provider's), or pass a list's join.
    const problem = value === undefined ? null : typeof value !== 'string' ? 'is not a string' : providerUrlProblem(value)
    if (problem) throw new AllAccessError('provider_unavailable', { detail: `discovery of ${issuer}: ${endpoint} ${problem}` })
  }
  return metadata
}

/** The issuer's metadata, fetched once an hour; a failure is remembered for half a minute. */
export function discover(issuer: string): Promise<OidcMetadata> {
  const cached = cache.get(issuer)
  if (cached && cached.until > Date.now()) return cached.metadata
  const metadata = fetchMetadata(issuer)
  cache.set(issuer, { metadata, until: Date.now() + TTL_MS })
  metadata.catch(() => {
    const entry = cache.get(issuer)
    if (entry?.metadata === metadata) entry.until = Date.now() + FAILURE_TTL_MS
  })
  return metadata
}

/**
 * Key sets whose last fetch failed, until when. jose fetches again at every verification while it
 * holds no keys, and anyone may post a logout token: without this, each post would be a request to
 * a provider already in trouble.
 */
const keySetFailures = new Map<string, number>()

/** jose's key fetch, through the same client, cap and time limit as every other provider answer; a failure is remembered for half a minute. */
const cappedFetch = async (url: string, options: RequestInit): Promise<Response> => {
  // The URL is the discovery document's: cut, as it goes into a log line.
  if ((keySetFailures.get(url) ?? 0) > Date.now()) throw new AllAccessError('id_token_invalid', { detail: `key set ${cutText(url)} failed less than ${FAILURE_TTL_MS / 1000} s ago` })
  try {
    return await fetchKeySet(url, options)
  } catch (error) {
    keySetFailures.set(url, Date.now() + FAILURE_TTL_MS)
    throw error
  }
}

async function fetchKeySet(url: string, options: RequestInit): Promise<Response> {
  const answer = await callProvider(url, { method: 'GET', headers: Object.fromEntries(new Headers(options.headers)), timeoutMs: 10_000 }, 'id_token_invalid')
  // jose refuses such an answer with a plain JOSEError, a kin of a bad signature's: refused here, every
  // key set the provider failed to give is an AllAccessError, which a refresh tells from a refused token.
  let keys: unknown
  try {
    keys = (JSON.parse(answer.text) as { keys?: unknown } | null)?.keys
  } catch {
    keys = undefined
  }
  // jose takes only a list of objects as a key set (`[null]` it refuses as JWKSInvalid, a plain JOSEError).
  const isKey = (key: unknown) => typeof key === 'object' && key !== null && !Array.isArray(key)
  if (answer.status !== 200 || !Array.isArray(keys) || !keys.every(isKey)) throw new AllAccessError('id_token_invalid', { detail: `key set ${cutText(url)} answered ${answer.status} without a list of keys` })
  return new Response(answer.text, { status: answer.status, headers: answer.headers })
}

/** The JWKS of an issuer, shared by every client so keys are fetched once and refetched on rotation. */
export function keySet(jwksUri: string): ReturnType<typeof createRemoteJWKSet> {
  let keys = keySets.get(jwksUri)
  if (!keys) {
    keys = createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 10_000, [customFetch]: cappedFetch })
    keySets.set(jwksUri, keys)
  }
  return keys
}

/** Forgets cached metadata (tests that restart a provider on a new port). */
export function forgetDiscovery(): void {
  cache.clear()
  keySets.clear()
  keySetFailures.clear()
}
