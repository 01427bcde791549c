import { createHmac, randomBytes } from 'node:crypto'

export interface OAuth1Credentials {
  key: string
  secret: string
}

export interface OAuth1SignInput {
  method: string
  url: string
  form?: URLSearchParams | Record<string, string | string[]>
  consumer: OAuth1Credentials
  token?: OAuth1Credentials | null
  oauthParams?: { oauth_callback?: string; oauth_verifier?: string }
  nonce?: string
  timestamp?: number
  version?: '1.0' | null
}

/** RFC 3986 percent-encoding as RFC 5849 §3.6 requires (stricter than encodeURIComponent). */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

function formPairs(form: OAuth1SignInput['form']): [string, string][] {
  if (!form) return []
  if (form instanceof URLSearchParams) return [...form]
  return Object.entries(form).flatMap(([k, v]) => (Array.isArray(v) ? v.map((item): [string, string] => [k, item]) : [[k, v] as [string, string]]))
}

/** RFC 5849 §3.4.1: method, base URI and normalised parameters (query, form body and oauth_*). */
export function oauth1SignatureBaseString(method: string, url: string, params: [string, string][]): string {
  const parsed = new URL(url)
  const defaultPort = (parsed.protocol === 'http:' && parsed.port === '80') || (parsed.protocol === 'https:' && parsed.port === '443')
  const base = `${parsed.protocol}//${parsed.hostname.toLowerCase()}${parsed.port && !defaultPort ? `:${parsed.port}` : ''}${parsed.pathname}`
  const normalized = [...params.map(([k, v]) => [percentEncode(k), percentEncode(v)] as const)]
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
  return [method.toUpperCase(), percentEncode(base), percentEncode(normalized)].join('&')
}

/** The `Authorization: OAuth …` header of a request signed with HMAC-SHA1 (RFC 5849 §3). */
export function oauth1AuthorizationHeader(input: OAuth1SignInput): string {
  const oauth: Record<string, string> = {
    oauth_consumer_key: input.consumer.key,
    oauth_nonce: input.nonce ?? randomBytes(24).toString('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, 32),
    oauth_signature_method: 'HMAC-SHA1',
    oauth_timestamp: String(input.timestamp ?? Math.floor(Date.now() / 1000)),
  }
  if (input.version !== null) oauth.oauth_version = input.version ?? '1.0'
  if (input.token?.key) oauth.oauth_token = input.token.key
  for (const [key, value] of Object.entries(input.oauthParams ?? {})) if (value !== undefined) oauth[key] = value
  const query = [...new URL(input.url).searchParams]
  const params: [string, string][] = [...query, ...formPairs(input.form), ...Object.entries(oauth)]
  const signingKey = `${percentEncode(input.consumer.secret)}&${percentEncode(input.token?.secret ?? '')}`
  oauth.oauth_signature = createHmac('sha1', signingKey).update(oauth1SignatureBaseString(input.method, input.url, params)).digest('base64')
  return 'OAuth ' + Object.entries(oauth).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${percentEncode(k)}="${percentEncode(v)}"`).join(', ')
}
