/** Browser headers the provider may see. Never Cookie, Authorization, X-CSRF, Origin or Referer. */
export const FORWARDED_REQUEST_HEADERS = [
  'accept',
  'accept-language',
  'content-type',
  // The body passes as bytes, so its coding must go with it: a compressed upload read as plain is garbage.
  'content-encoding',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  // Range's condition (RFC 9110 §13.1.5): sent alone, a Range asks for a part of whatever the resource now is.
  'if-range',
  'range',
]

/** Provider headers the browser may see. Never Set-Cookie; never the provider's auth challenges or redirects. */
export const RETURNED_RESPONSE_HEADERS = [
  'content-type',
  // A 405's list of the methods the resource takes (RFC 9110 §15.5.6).
  'allow',
  // Kept where no body is decoded (identity, a 204, a 304); a decoded body leaves it behind (index.ts).
  'content-encoding',
  'content-language',
  'content-range',
  // How an app learns it may send the Range the proxy forwards (RFC 9110 §14.3).
  'accept-ranges',
  'content-disposition',
  'etag',
  'last-modified',
  'link',
  'retry-after',
  'vary',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'x-ratelimit-used',
  'x-rate-limit-limit',
  'x-rate-limit-remaining',
  'x-rate-limit-reset',
]

/**
 * The browser's headers the provider may see, less those its `Connection` header names: those are
 * for this hop only (RFC 9110 §7.6.1). Browsers cannot set `Connection`; other callers can.
 */
export function forwardedHeaders(get: (name: string) => string | null): Record<string, string> {
  const picked = pickHeaders({ get }, FORWARDED_REQUEST_HEADERS)
  const hopOnly = get('connection')
  if (hopOnly) for (const name of hopOnly.split(',')) delete picked[name.trim().toLowerCase()]
  return picked
}

export function pickHeaders(source: { get(name: string): string | null | undefined }, names: string[]): Record<string, string> {
  const picked: Record<string, string> = {}
  for (const name of names) {
    const value = source.get(name)
    if (value) picked[name] = value
  }
  return picked
}

/**
 * How deep escapes of escapes are read, in headers and bodies alike: a URL inside a URL inside a
 * URL, and further, far past the double encoding of real URLs. Without a bound, `%2525…` took
 * quadratic time in a header, and in a body was one character held whole and read again at every chunk.
 */
export const ESCAPE_DEPTH = 4

/**
 * A secret without the hex digits it opens with (as many as {@link ESCAPE_DEPTH} escapes can take,
 * while three quarters of it are left): what can still be read of it where an escape's opener stands
 * just before it and takes them (`%` then `41ab…` reads as `A` then `b…`; `%25` or `%4` alike).
 * Many tokens open with hex digits (a hex token; an OAuth 1.0a token opens with the user's id).
 */
export function withoutOpeningDigits(secret: string): string {
  let digits = 0
  // Counted with the digit it would take: a secret of one hex digit had nothing left, which every
  // header and every character of a body then matched.
  while (digits < 2 * ESCAPE_DEPTH && (digits + 1) * 4 <= secret.length && /[0-9a-f]/i.test(secret[digits]!)) digits++
  return secret.slice(digits)
}

/**
 * `text` with its percent-escapes decoded, again while some are left (double encoding included),
 * bytes as Latin-1 characters; null when escapes are still left after {@link ESCAPE_DEPTH} rounds. Each
 * round only takes off one level: decoded to the end, `%2525…` took time quadratic in its length.
 */
function percentDecoded(text: string): string | null {
  let decoded = text
  for (let round = 0; round < ESCAPE_DEPTH; round++) {
    if (!decoded.includes('%')) return decoded
    const next = decoded.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    if (next === decoded) return decoded
    decoded = next
  }
  return /%[0-9a-fA-F]{2}/.test(decoded) ? null : decoded
}

/**
 * The provider's headers without any that carries one of `secrets` (the token the call was made
 * with), as sent or percent-encoded, an escape's opener just before it included: a provider given the token in the query may build a pagination
 * `Link` (or an ETag) from the request URL, and the browser must never hold a provider token. A
 * header encoded too deep to read is dropped too.
 */
export function withoutSecrets(headers: Record<string, string>, secrets: readonly string[]): Record<string, string> {
  if (!secrets.length) return headers
  // Decoded, a secret behind an escape's opener reads as another character then the rest.
  const rests = secrets.map(withoutOpeningDigits)
  for (const [name, value] of Object.entries(headers)) {
    const decoded = percentDecoded(value)
    if (decoded === null || secrets.some((secret, i) => value.includes(secret) || decoded.includes(rests[i]!))) delete headers[name]
  }
  return headers
}
