import { createHmac, randomBytes } from 'node:crypto'
import OAuth from 'oauth-1.0a'

export interface OAuth1Credentials {
  key: string
  secret: string
}

export interface OAuth1SignInput {
  method: string
  /** May carry a query string: its parameters are signed too. */
  url: string
  /** A form body (`application/x-www-form-urlencoded`), signed; never a JSON body. */
  form?: URLSearchParams | Record<string, string | string[]>
  consumer: OAuth1Credentials
  token?: OAuth1Credentials | null
  oauthParams?: { oauth_callback?: string; oauth_verifier?: string }
  /** Fixed values, for known-answer tests only. */
  nonce?: string
  timestamp?: number
}

/** RFC 3986 percent-encoding as RFC 5849 §3.6 requires (stricter than encodeURIComponent). */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

function pairsOf(form: OAuth1SignInput['form']): [string, string][] {
  if (!form) return []
  if (form instanceof URLSearchParams) return [...form]
  return Object.entries(form).flatMap(([key, value]) => (Array.isArray(value) ? value.map((item): [string, string] => [key, item]) : [[key, value] as [string, string]]))
}

/** A nonce of `[A-Za-z0-9]` from the system's CSPRNG (oauth-1.0a's own uses Math.random). */
function cryptoNonce(): string {
  let nonce = ''
  while (nonce.length < 32) nonce += randomBytes(32).toString('base64').replace(/[^A-Za-z0-9]/g, '')
  return nonce.slice(0, 32)
}

/**
 * RFC 5849 §3.4.1 signature base string, written out independently of oauth-1.0a: the tests use it
 * to check the package's signatures and the RFC's vectors (which omit `oauth_version`).
 */
export function oauth1SignatureBaseString(method: string, url: string, params: [string, string][]): string {
  const parsed = new URL(url)
  const defaultPort = (parsed.protocol === 'http:' && parsed.port === '80') || (parsed.protocol === 'https:' && parsed.port === '443') || parsed.port === ''
  const base = `${parsed.protocol}//${parsed.hostname.toLowerCase()}${defaultPort ? '' : `:${parsed.port}`}${parsed.pathname}`
  const normalized = params
    .map(([key, value]) => [percentEncode(key), percentEncode(value)] as const)
    .sort(([ak, av], [bk, bv]) => (ak === bk ? (av < bv ? -1 : av > bv ? 1 : 0) : ak < bk ? -1 : 1))
    .map(([key, value]) => `${key}=${value}`)
    .join('&')
  return [method.toUpperCase(), percentEncode(base), percentEncode(normalized)].join('&')
}

export function hmacSha1(baseString: string, key: string): string {
  return createHmac('sha1', key).update(baseString).digest('base64')
}

/**
 * The `Authorization: OAuth …` header of a request signed with HMAC-SHA1, through oauth-1.0a used
 * the way its traps require (see reference/oauth1-notes.md): HMAC-SHA1 named explicitly on
 * node:crypto, query parameters taken out of the URL and passed percent-decoded with duplicates
 * kept as arrays, form parameters merged the same way, a CSPRNG nonce.
 */
export function oauth1AuthorizationHeader(input: OAuth1SignInput): string {
  const oauth = new OAuth({
    consumer: { key: input.consumer.key, secret: input.consumer.secret },
    signature_method: 'HMAC-SHA1',
    hash_function: hmacSha1,
  })
  oauth.getNonce = () => input.nonce ?? cryptoNonce()
  if (input.timestamp !== undefined) oauth.getTimeStamp = () => input.timestamp as number
  const url = new URL(input.url)
  const data: Record<string, string | string[]> = {}
  for (const [key, value] of [...url.searchParams, ...pairsOf(input.form)]) {
    const current = data[key]
    data[key] = current === undefined ? value : Array.isArray(current) ? [...current, value] : [current, value]
  }
  for (const [key, value] of Object.entries(input.oauthParams ?? {})) if (value !== undefined) data[key] = value
  url.search = ''
  const token = input.token?.key ? { key: input.token.key, secret: input.token.secret } : undefined
  const authorized = oauth.authorize({ url: url.toString(), method: input.method.toUpperCase(), data }, token)
  return oauth.toHeader(authorized).Authorization
}
