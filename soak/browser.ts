// One of the soak's browsers: a cookie jar that honours SameSite (the provider's redirect back is a
// cross-site navigation: Strict cookies stay home), the SPA's X-CSRF header, and every answer the
// BFF gave written down with when the request started and ended.
import { Agent, request } from 'undici'
import { ERROR_CODES, PROXY_ERROR_CODES } from '../shared/errors.ts'
import { AllAccessError } from '../server/errors.ts'
import { BALANCER_HEADER } from './balancer.ts'

/** Bounded waits: the BFF's longest own wait (another instance's refresh) is well under this. */
const agent = new Agent({ headersTimeout: 30_000, bodyTimeout: 30_000, keepAliveTimeout: 4_000, connections: 256 })

export interface Outcome {
  /** What was asked, with no identifier in it: `GET /api/soak`, `login soak1 callback`. */
  action: string
  /** Milliseconds since the soak began. */
  start: number
  end: number
  /** The HTTP status, or `aborted` (the answer broke off mid-body) or `network` (no answer). */
  status: number | 'aborted' | 'network'
  /** The JSON error code, or the `auth_error` of a login redirect. */
  code?: string
  /** Set when the balancer answered itself: no instance took the request. */
  balancer?: string
  /** A broken promise of the contract: an unknown code, or a code with another status. */
  offContract?: string
}

export class Recorder {
  readonly outcomes: Outcome[] = []
  constructor(readonly began: number) {}
  now(): number {
    return performance.now() - this.began
  }
}

interface Cookie {
  value: string
  strict: boolean
}

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json?: { error?: string; [key: string]: unknown }
  location?: URL
}

/** The contract's promise about an error answer: a known code, with its status (DESIGN.md). */
function contractBreach(path: string, status: number, code: string | undefined): string | undefined {
  if (status < 400 || code === undefined) return status >= 400 && !path.startsWith('/api/') ? `${status} without an error code` : undefined
  const codes: readonly string[] = path.startsWith('/api/') ? PROXY_ERROR_CODES : ERROR_CODES
  if (!codes.includes(code)) return `unknown code ${code}`
  const expected = new AllAccessError(code as (typeof ERROR_CODES)[number]).status
  return expected === status ? undefined : `${code} with ${status}, not ${expected}`
}

/** How many of a user's last requests, and of the model's decisions, a reported problem shows. */
export const RECENT_KEPT = 16

export class Browser {
  private readonly jar = new Map<string, Cookie>()
  /** This browser's last requests, oldest first: what a reported problem followed. */
  readonly recent: Outcome[] = []

  constructor(
    readonly bffUrl: string,
    private readonly recorder: Recorder,
  ) {}

  get signedInCookie(): boolean {
    return [...this.jar.values()].some((cookie) => cookie.strict)
  }

  forgetCookies(): void {
    this.jar.clear()
  }

  private cookieHeader(crossSite: boolean): string {
    return [...this.jar].filter(([, cookie]) => !crossSite || !cookie.strict).map(([name, cookie]) => `${name}=${cookie.value}`).join('; ')
  }

  private keep(setCookie: string | string[] | undefined): void {
    for (const line of [setCookie ?? []].flat()) {
      const [pair, ...attributes] = line.split(';').map((part) => part.trim())
      const equals = pair.indexOf('=')
      const name = pair.slice(0, equals)
      const value = pair.slice(equals + 1)
      const gone = !value || attributes.some((a) => /^max-age=0$/i.test(a) || /^expires=thu, 01 jan 1970/i.test(a))
      if (gone) this.jar.delete(name)
      else this.jar.set(name, { value, strict: attributes.some((a) => /^samesite=strict$/i.test(a)) })
    }
  }

  /**
   * One request to the BFF (through the balancer), recorded under `action`. `crossSite`: a
   * navigation arriving from the provider. Resolves with the answer, or undefined when there was
   * none (recorded as `network` or `aborted`).
   */
  async send(action: string, method: string, path: string, options: { body?: string; type?: string; crossSite?: boolean; csrf?: boolean } = {}): Promise<Answer | undefined> {
    const headers: Record<string, string> = {}
    const cookie = this.cookieHeader(options.crossSite ?? false)
    if (cookie) headers.cookie = cookie
    if (options.csrf) headers['x-csrf'] = '1'
    if (options.type) headers['content-type'] = options.type
    const start = this.recorder.now()
    const outcome: Outcome = { action, start, end: start, status: 'network' }
    try {
      const answer = await request(new URL(path, this.bffUrl), { method: method as 'GET', headers, body: options.body, dispatcher: agent })
      outcome.status = answer.statusCode
      let text: string
      try {
        text = await answer.body.text()
      } catch {
        outcome.status = 'aborted'
        return undefined
      }
      this.keep(answer.headers['set-cookie'])
      const balancer = answer.headers[BALANCER_HEADER]
      if (balancer) outcome.balancer = String(balancer)
      const location = typeof answer.headers.location === 'string' ? new URL(answer.headers.location, this.bffUrl) : undefined
      let json: Answer['json']
      if (String(answer.headers['content-type']).startsWith('application/json')) json = JSON.parse(text) as Answer['json']
      outcome.code = json && typeof json.error === 'string' ? json.error : (location?.searchParams.get('auth_error') ?? undefined)
      const authError = location?.searchParams.get('auth_error')
      if (!balancer) outcome.offContract = authError && !(ERROR_CODES as readonly string[]).includes(authError) ? `unknown auth_error ${authError}` : contractBreach(path, answer.statusCode, json?.error)
      return { status: answer.statusCode, headers: answer.headers, text, json, location }
    } catch {
      return undefined
    } finally {
      outcome.end = this.recorder.now()
      this.recorder.outcomes.push(outcome)
      if (this.recent.push(outcome) > RECENT_KEPT) this.recent.shift()
    }
  }

  /** A request to a provider (not recorded: the soak judges the BFF). */
  async toProvider(url: URL, method: 'GET' | 'POST', headers: Record<string, string>, body?: string): Promise<{ status: number; location?: URL }> {
    const answer = await request(url, { method, headers, body, dispatcher: agent })
    await answer.body.dump()
    const location = typeof answer.headers.location === 'string' ? new URL(answer.headers.location, url) : undefined
    return { status: answer.statusCode, location }
  }
}
