import { cutText } from '../cut-text.ts'

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
    // Quoted as JSON: a discovery document's line break must not start a log line of its own. Cut
    // once quoted: each control character quoted takes six.
    return `${cutText(JSON.stringify(String(value)), 200)} is not a URL`
  }
  // The URL parser would drop them, but the value is kept as given: an issuer compared as text, or a
  // discovery URL built from it, would never match the provider's.
  if (/[\u0000-\u0020\u007f]/.test(String(value))) return 'must not contain spaces or control characters'
  // Requests go to the URL's origin and path: a user name or password in it would never be sent.
  if (url.username || url.password) return 'must not hold a user name or password'
  if (url.protocol === 'https:') return null
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) return null
  if (url.protocol === 'http:') return 'must use https (http is only allowed for localhost, 127.0.0.1 and [::1])'
  // A scheme has no length limit: a discovery document's may run to its megabyte.
  return `must be an https URL, got ${cutText(url.protocol, 50)}`
}
