import { AllAccessError } from '../errors.ts'

/**
 * Whether the escaped non-ASCII bytes of a path (already free of escaped ASCII syntax) could read as
 * path syntax to a server that decodes them leniently: overlong UTF-8 (`%c0%ae` is `.` to decoders
 * that do not refuse it), or characters that Unicode compatibility folding (NFKC) turns into dots,
 * slashes, backslashes, percent signs or semicolons (`%ef%bc%8e` is a fullwidth `.`, `%e2%80%a5` is `..`).
 */
function foldsIntoSyntax(rawPath: string, segmentCount: number): boolean {
  const bytes: number[] = []
  for (let at = 0; at < rawPath.length; at++) {
    if (rawPath[at] === '%') {
      bytes.push(parseInt(rawPath.slice(at + 1, at + 3), 16))
      at += 2
    } else {
      bytes.push(rawPath.charCodeAt(at))
    }
  }
  for (let at = 0; at < bytes.length; at++) {
    const [lead, next] = [bytes[at], bytes[at + 1] ?? 0]
    // The shortest form is the only UTF-8 (RFC 3629 §3): these leads start longer spellings of shorter
    // characters, the five- and six-byte ones of RFC 2279 (which old decoders still read) included.
    if (lead === 0xc0 || lead === 0xc1 || (lead === 0xe0 && next < 0xa0) || (lead === 0xf0 && next < 0x90) || (lead === 0xf8 && next < 0x88) || (lead === 0xfc && next < 0x84)) return true
  }
  const folded = Buffer.from(bytes).toString('utf8').normalize('NFKC')
  if (/[\\%@\u0000-\u001f\u007f-\u009f]/.test(folded)) return true
  const foldedSegments = folded.split('/')
  if (foldedSegments.length !== segmentCount) return true
  return foldedSegments.some((segment) => {
    const name = segment.split(';', 1)[0]
    return name === '.' || name === '..'
  })
}

/**
 * Validates the path a browser asks the proxy for, as it arrived (still percent-encoded), and joins
 * it below the provider's API base URL. Only plain relative paths pass: no `.`/`..` segments (nor
 * `..;x` or `..%3bx`, a dot segment to servers that drop path parameters), no empty segments, no encoded slash,
 * backslash, dot or percent (double encoding), no `@`, no scheme, no control characters, nor any of
 * these in overlong UTF-8 or as characters that Unicode folding reads as them. The join is checked
 * again, so the target is always below the base.
 */
export function resolveApiTarget(apiBaseUrl: string, rawPath: string, rawQuery: string): URL {
  const invalid = () => new AllAccessError('invalid_path')
  if (rawPath.length === 0 || rawPath.length > 4096) throw invalid()
  if (/[\u0000-\u0020\u007f-\uffff\\@]/.test(rawPath)) throw invalid()
  if (/%(?![0-9a-fA-F]{2})/.test(rawPath)) throw invalid()
  if (/%(2f|5c|2e|25|40|3a|00|0[0-9a-f]|1[0-9a-f]|7f)/i.test(rawPath)) throw invalid()
  const segments = rawPath.split('/')
  for (const [index, segment] of segments.entries()) {
    // Only the last segment may be empty: a trailing slash, not `//`.
    if (segment === '' && index !== segments.length - 1) throw invalid()
    // Servers that take `;parameters` off a segment (Tomcat, Spring) read `..;x` as `..`; `..%3bx`
    // too, behind a proxy that decodes the path first (nginx's proxy_pass with a URI).
    const name = segment.split(/;|%3b/i, 1)[0]
    if (name === '.' || name === '..') throw invalid()
  }
  // A first segment with a colon would read as a scheme if ever resolved as a relative reference.
  if (segments[0].includes(':')) throw invalid()
  if (/%[89a-f]/i.test(rawPath) && foldsIntoSyntax(rawPath, segments.length)) throw invalid()
  if (/[\u0000-\u001f\u007f]|%(0[0-9a-f]|1[0-9a-f]|7f)/i.test(rawQuery)) throw invalid()
  const base = new URL(apiBaseUrl)
  const basePath = base.pathname.replace(/\/+$/, '')
  const target = new URL(base.origin)
  target.pathname = `${basePath}/${rawPath}`
  target.search = rawQuery ? `?${rawQuery}` : ''
  if (target.origin !== base.origin || !target.pathname.startsWith(`${basePath}/`)) throw invalid()
  return target
}
