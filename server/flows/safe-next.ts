/**
 * Keeps `next` a path on this site: one leading `/`, not `//` or `/\` (a protocol-relative URL to
 * another host), no scheme, no control characters. Anything else becomes `/` (no open redirect).
 */
export function safeNext(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) return '/'
  if (!value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\')) return '/'
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return '/'
  let decoded = value
  try {
    decoded = decodeURIComponent(value)
  } catch {
    return '/'
  }
  // Browsers and proxies may decode once more: refuse what would become an off-site URL then.
  if (decoded.startsWith('//') || decoded.startsWith('/\\') || /[\u0000-\u001f\u007f]/.test(decoded)) return '/'
  const resolved = new URL(value, 'http://local.invalid')
  if (resolved.origin !== 'http://local.invalid') return '/'
  return resolved.pathname + resolved.search + resolved.hash
}
