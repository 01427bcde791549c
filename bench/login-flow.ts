import { Agent, request } from 'undici'

// Keep-alive connections to the BFF and the provider, as a browser keeps them; bounded waits so a
// stuck server fails the bench instead of hanging it.
const agent = new Agent({ headersTimeout: 15_000, bodyTimeout: 15_000, keepAliveTimeout: 10_000 })

/** The `name=value` pairs a browser would send back from these Set-Cookie headers (deletions left out). */
function cookiesFrom(header: string | string[] | undefined): string {
  return [header ?? []]
    .flat()
    .filter((line) => !/;\s*(max-age=0|expires=thu, 01 jan 1970)/i.test(line))
    .map((line) => line.split(';')[0].trim())
    .filter((pair) => /^[^=]+=./.test(pair))
    .join('; ')
}

async function get(url: string, headers: Record<string, string>, expected: string) {
  const answer = await request(url, { method: 'GET', headers, dispatcher: agent }).catch((error: Error) => {
    throw new Error(`${expected}: GET ${new URL(url).origin}${new URL(url).pathname} failed: ${error.message}`)
  })
  const text = await answer.body.text()
  const location = answer.headers.location
  if (answer.statusCode !== 302 || typeof location !== 'string') throw new Error(`${expected}: answered ${answer.statusCode} ${text.slice(0, 200)}`)
  return { location: new URL(location, url), cookies: cookiesFrom(answer.headers['set-cookie']) }
}

/**
 * One login the way a browser makes it: the BFF's login route (its flow cookie kept), the provider's
 * authorization endpoint (which approves `user` at once), the BFF's callback with the flow cookie.
 * Resolves with the session cookie; rejects, naming the step, unless the BFF ends at its app root.
 */
export async function signIn(bffUrl: string, provider: string, user: string): Promise<string> {
  const start = await get(new URL(`/auth/login/${provider}`, bffUrl).toString(), {}, 'login')
  if (!start.cookies) throw new Error('login: no flow cookie')
  const approved = await get(start.location.toString(), { 'x-bench-user': user }, 'authorization')
  if (approved.location.origin !== new URL(bffUrl).origin) throw new Error(`authorization: redirected to ${approved.location.origin}`)
  const done = await get(approved.location.toString(), { cookie: start.cookies }, 'callback')
  if (done.location.pathname !== '/' || done.location.search) throw new Error(`callback: redirected to ${done.location.pathname}${done.location.search}`)
  if (!done.cookies) throw new Error('callback: no session cookie')
  return done.cookies
}
