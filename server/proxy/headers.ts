/** Browser headers the provider may see. Never Cookie, Authorization, X-CSRF, Origin or Referer. */
export const FORWARDED_REQUEST_HEADERS = [
  'accept',
  'accept-language',
  'content-type',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  'range',
]

/** Provider headers the browser may see. Never Set-Cookie; never the provider's auth challenges or redirects. */
export const RETURNED_RESPONSE_HEADERS = [
  'content-type',
  // The body is passed on byte for byte: its coding must travel with it.
  'content-encoding',
  'content-language',
  'content-range',
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

export function pickHeaders(source: { get(name: string): string | null | undefined }, names: string[]): Record<string, string> {
  const picked: Record<string, string> = {}
  for (const name of names) {
    const value = source.get(name)
    if (value) picked[name] = value
  }
  return picked
}
