import { createHmac, randomInt } from 'node:crypto'
import OAuth from 'oauth-1.0a'

export interface OAuth1Credentials {
  key: string
  secret: string
}

export interface OAuth1SignInput {
  /** Any case; signed upper-cased. */
  method: string
  /** May carry a query string: its parameters are signed too, duplicates included. */
  url: string
  /** A form body (`application/x-www-form-urlencoded`), signed; never a JSON body (RFC 5849 §3.4.1.3.1). */
  form?: URLSearchParams | Record<string, string | string[]>
  consumer: OAuth1Credentials
  token?: OAuth1Credentials | null
  oauthParams?: { oauth_callback?: string; oauth_verifier?: string }
  /** Fixed values, for known-answer tests only. */
  nonce?: string
  timestamp?: number
  /** `null` leaves `oauth_version` out, which RFC 5849 §3.1 allows (its own examples do). */
  version?: '1.0' | null
}

/** A request parameter, decoded: `[name, value]`. */
export type OAuth1Parameter = readonly [name: string, value: string]

/** RFC 5849 §3.6: every octet but the unreserved characters, in upper-case hex (stricter than encodeURIComponent). */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

/** RFC 5849 §3.4.1.2: lower-case scheme and host, default port dropped, no query or fragment. */
function baseStringUri(url: URL): string {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`OAuth 1.0a signs http(s) URLs only, not ${url.protocol}`)
  // WHATWG URL already lower-cases scheme and host and drops the scheme's default port.
  return `${url.protocol}//${url.host}${url.pathname}`
}

/** RFC 5849 §3.4.1.3.2: encode names and values, sort by name then value (byte order), join. */
function normalizedParameters(params: Iterable<OAuth1Parameter>): string {
  const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
  return [...params]
    .map(([name, value]) => [percentEncode(name), percentEncode(value)] as const)
    .sort(([an, av], [bn, bv]) => byteOrder(an, bn) || byteOrder(av, bv))
    .map(([name, value]) => `${name}=${value}`)
    .join('&')
}

/**
 * The signature base string of RFC 5849 §3.4.1.
 *
 * @param url the request URL; its query parameters are read from it, decoded as a form (§3.4.1.3.1),
 *   duplicates kept.
 * @param params the other request parameters, decoded: form body parameters and protocol parameters
 *   (without `oauth_signature` and `realm`).
 */
export function oauth1SignatureBaseString(method: string, url: string | URL, params: Iterable<OAuth1Parameter>): string {
  const parsed = new URL(url)
  const all = [...parsed.searchParams, ...params]
  return [method.toUpperCase(), percentEncode(baseStringUri(parsed)), percentEncode(normalizedParameters(all))].join('&')
}

function formParameters(form: OAuth1SignInput['form']): OAuth1Parameter[] {
  if (!form) return []
  if (form instanceof URLSearchParams) return [...form]
  return Object.entries(form).flatMap(([name, value]) => (Array.isArray(value) ? value : [value]).map((item) => [name, item] as const))
}

const NONCE_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** 32 characters of `[A-Za-z0-9]` from the CSPRNG: oauth-1.0a's own nonce comes from Math.random. */
function cryptoNonce(): string {
  return Array.from({ length: 32 }, () => NONCE_ALPHABET[randomInt(NONCE_ALPHABET.length)]).join('')
}

function hmacSha1(baseString: string, key: string): string {
  return createHmac('sha1', key).update(baseString).digest('base64')
}

/**
 * The `Authorization: OAuth …` header (RFC 5849 §3.5.1) of a request signed with HMAC-SHA1
 * (§3.4.2). Query, form and protocol parameters are all signed.
 *
 * oauth-1.0a is used only where it is right (signing key, HMAC hook, header serialisation, clock):
 * its own parameter string double-encodes encoded query names, lets a query parameter overwrite a
 * form parameter of the same name, signs an unnormalised URL and cannot leave `oauth_version` out,
 * so the base string is {@link oauth1SignatureBaseString}.
 */
export function oauth1AuthorizationHeader(input: OAuth1SignInput): string {
  if (input.timestamp !== undefined && !(Number.isSafeInteger(input.timestamp) && input.timestamp >= 0)) {
    throw new TypeError(`oauth_timestamp must be a whole number of seconds, not ${input.timestamp}`)
  }
  // Named explicitly: without signature_method the package signs PLAINTEXT.
  const oauth = new OAuth({ consumer: input.consumer, signature_method: 'HMAC-SHA1', hash_function: hmacSha1 })
  const protocol: Record<string, string> = {
    oauth_consumer_key: input.consumer.key,
    oauth_nonce: input.nonce ?? cryptoNonce(),
    oauth_signature_method: 'HMAC-SHA1',
    oauth_timestamp: String(input.timestamp ?? oauth.getTimeStamp()),
  }
  const version = input.version === undefined ? '1.0' : input.version
  if (version !== null) protocol.oauth_version = version
  if (input.token?.key) protocol.oauth_token = input.token.key
  for (const [name, value] of Object.entries(input.oauthParams ?? {})) if (value !== undefined) protocol[name] = value

  const baseString = oauth1SignatureBaseString(input.method, input.url, [...formParameters(input.form), ...Object.entries(protocol)])
  const signature = oauth.hash_function(baseString, oauth.getSigningKey(input.token?.secret))
  // toHeader serialises whatever oauth_* keys it is given; its type insists on oauth_version, which RFC 5849 makes optional.
  return oauth.toHeader({ ...protocol, oauth_signature: signature } as unknown as OAuth.Authorization).Authorization
}
