/** Where `next` is resolved: only the origin matters, and no real origin can equal it. */
const JUDGE_BASE = 'http://next.invalid'

/**
 * Keeps `next` a path on this site. It is judged the way a browser resolves a `Location` (dot
 * segments removed, tabs and newlines dropped, `\` read as `/`), and again as the value finally
 * sent: a path that only becomes `//host` after resolution (`/.//evil.example`) is refused, not
 * passed on. Anything that is not one leading `/` with no scheme and no control characters becomes `/`.
 */
export function safeNext(value: unknown): string {
  const local = judge(value)
  // What is sent is judged once more: it must pass unchanged (`/ \\` resolves to `/%5C`, which would not).
  return local === value || judge(local) === local ? local : '/'
}

function judge(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) return '/'
  if (!value.startsWith('/') || /[\u0000-\u001f\u007f\\]/.test(value)) return '/'
  let decoded: string
  try {
    decoded = decodeURIComponent(value)
  } catch {
    return '/'
  }
  // Proxies and some servers decode once more: refuse what would be off-site or broken then, dot
  // segments resolved too (`/..%2f/evil` decodes to `/..//evil`, which resolves to `//evil`).
  if (/^\/[/\\]/.test(decoded) || /[\u0000-\u001f\u007f]/.test(decoded) || /^\/[/\\]/.test(new URL(decoded, JUDGE_BASE).pathname)) return '/'
  const resolved = new URL(value, JUDGE_BASE)
  if (resolved.origin !== JUDGE_BASE) return '/'
  const local = resolved.pathname + resolved.search + resolved.hash
  // The value sent must itself resolve to the same place: `//x` or `/\x` would be another host.
  if (/^\/[/\\]/.test(local) || new URL(local, JUDGE_BASE).href !== resolved.href) return '/'
  return local
}
