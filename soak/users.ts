// The soak's users: each a browser running an SPA's traffic in a loop (session reads, proxied GETs
// and POSTs on both providers, a burst of parallel calls, logouts, disconnects, reconnects), and a
// model of what its session must look like. Any answer the model cannot explain is a problem.
import { Browser, RECENT_KEPT, type Answer, type Recorder } from './browser.ts'

export const OAUTH2 = 'soak'
export const OAUTH1 = 'soak1'
/** bench/oauth1-provider.ts numbers its users from here. */
const OAUTH1_FIRST_ID = 5000
/** The contract gives other instances a second to see a change (their 750 ms read cache). */
const CONVERGE_MS = 1000

type Provider = typeof OAUTH2 | typeof OAUTH1

export interface Problem {
  at: number
  user: number
  what: string
}

export interface UserFigures {
  logins: Record<Provider, number>
  failedLogins: number
  revocationsSeen: number
  staleReads: number
}

const pick = <T>(weighted: [number, T][]): T => {
  let roll = Math.random() * weighted.reduce((sum, [weight]) => sum + weight, 0)
  for (const [weight, value] of weighted) if ((roll -= weight) < 0) return value
  return weighted[weighted.length - 1][1]
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export class SoakUser {
  readonly browser: Browser
  /** The BFF's id for this person, fixed by their first login; any other id is a duplicated user. */
  userId: string | undefined
  signedIn = false
  readonly connected = new Set<Provider>()
  /** The provider revoked our OAuth 2.0 grant (the soak did it): `reauth_required` is now expected. */
  revoked = false
  /** The BFF said the OAuth 2.0 account needs a new login. */
  needsLogin = false
  /** A change whose answer never came (an instance died, a fault): the next session read tells. */
  private uncertain = false
  private changedAt = -Infinity
  readonly figures: UserFigures = { logins: { soak: 0, soak1: 0 }, failedLogins: 0, revocationsSeen: 0, staleReads: 0 }

  constructor(
    readonly index: number,
    bffUrl: string,
    private readonly recorder: Recorder,
    private readonly problems: Problem[],
  ) {
    this.browser = new Browser(bffUrl, recorder)
  }

  /**
   * A disagreement, with this person's last requests and the model's own decisions among them: a
   * soak run is not repeatable, so its report is all there is to tell a model's gap from a bug's.
   */
  private problem(what: string): void {
    const seconds = (ms: number) => (ms / 1000).toFixed(2)
    const lines = [
      ...this.browser.recent.map((o) => ({ at: o.start, line: `${seconds(o.start)}–${seconds(o.end)} s ${o.action}: ${o.status}${o.code ? ` ${o.code}` : ''}${o.balancer ? ` (the balancer's: ${o.balancer})` : ''}` })),
      ...this.decisions.map(({ at, what: decided }) => ({ at, line: `${seconds(at)} s the model: ${decided}` })),
    ].filter(({ at }) => at >= (this.browser.recent[0]?.start ?? 0))
    const history = lines.sort((a, b) => a.at - b.at).map(({ line }) => `\n      ${line}`).join('')
    this.problems.push({ at: this.recorder.now(), user: this.index, what: `${what}${history}` })
  }

  /** The model's last decisions that a request's answer did not show (an uncertain change, a session's word taken). */
  private readonly decisions: { at: number; what: string }[] = []

  private decide(what: string): void {
    if (this.decisions.push({ at: this.recorder.now(), what }) > RECENT_KEPT) this.decisions.shift()
  }

  private changed(answer: Answer | undefined, expected: number[]): boolean {
    this.changedAt = this.recorder.now()
    if (answer && expected.includes(answer.status)) return true
    // No answer, or a 5xx: the change may or may not have happened.
    if (!answer || answer.status >= 500) {
      this.uncertain = true
      this.decide('uncertain what that change did')
    }
    return false
  }

  /** One login through the BFF and the provider, approving as this user; true once back in the app. */
  async login(provider: Provider): Promise<boolean> {
    const start = await this.browser.send(`login ${provider}`, 'GET', `/auth/login/${provider}`)
    if (!start || start.status !== 302 || !start.location || start.location.origin === new URL(this.browser.bffUrl).origin) return this.loginFailed()
    let approved
    try {
      if (provider === OAUTH2) {
        approved = await this.browser.toProvider(start.location, 'GET', { 'x-bench-user': `soak-${this.index}` })
      } else {
        const form = new URLSearchParams({ oauth_token: start.location.searchParams.get('oauth_token') ?? '', decision: 'allow', user: String(OAUTH1_FIRST_ID + this.index) })
        approved = await this.browser.toProvider(new URL(start.location.pathname, start.location), 'POST', { 'content-type': 'application/x-www-form-urlencoded' }, form.toString())
      }
    } catch (error) {
      this.problem(`the ${provider} provider did not answer: ${(error as Error).message}`)
      return false
    }
    if (approved.status !== 302 || !approved.location) {
      this.problem(`the ${provider} provider answered ${approved.status} to the approval`)
      return false
    }
    const callbackPath = approved.location.pathname + approved.location.search
    const callback = await this.browser.send(`login ${provider} callback`, 'GET', callbackPath, { crossSite: true })
    if (!callback || callback.status !== 302 || callback.location?.pathname !== '/' || callback.location.search) {
      this.changed(callback, [])
      return this.loginFailed()
    }
    this.changed(callback, [302])
    this.figures.logins[provider]++
    this.signedIn = true
    this.connected.add(provider)
    if (provider === OAUTH2) {
      this.revoked = false
      this.needsLogin = false
    }
    return true
  }

  private loginFailed(): false {
    this.figures.failedLogins++
    return false
  }

  /** `GET /auth/session`, held against the model. */
  async readSession(): Promise<void> {
    const answer = await this.browser.send('GET /auth/session', 'GET', '/auth/session', { csrf: true })
    if (!answer || answer.status !== 200) return
    const session = answer.json as { authenticated: boolean; user?: { id: string }; accounts?: { provider: Provider; status: string }[] }
    if (session.authenticated && session.user) {
      this.userId ??= String(session.user.id)
      if (String(session.user.id) !== this.userId) this.problem(`signed in as user ${session.user.id}, expected ${this.userId} (a duplicated user)`)
    }
    const providers = new Set((session.accounts ?? []).map((account) => account.provider))
    const oauth2Status = session.accounts?.find((account) => account.provider === OAUTH2)?.status
    const agrees =
      session.authenticated === this.signedIn &&
      (!session.authenticated ||
        (providers.size === this.connected.size &&
          [...this.connected].every((p) => providers.has(p)) &&
          (oauth2Status === 'active' || this.revoked || this.needsLogin)))
    if (agrees) {
      this.uncertain = false
      return
    }
    if (this.recorder.now() - this.changedAt < CONVERGE_MS) {
      // The other instance may answer from what it read up to 750 ms ago: the contract gives it a second.
      this.figures.staleReads++
      this.decide(`a read within the second after a change, not judged: ${session.authenticated ? [...providers].join(',') || 'no accounts' : 'signed out'}`)
      return
    }
    if (this.uncertain) {
      // The server's word settles what an unanswered change did.
      this.decide(`took the session's word: ${session.authenticated ? [...providers].join(',') || 'no accounts' : 'signed out'}`)
      this.adopt(session.authenticated, providers)
      if (oauth2Status === 'reauth_required') this.needsLogin = true
      this.uncertain = false
      return
    }
    this.problem(
      `session disagrees: authenticated ${session.authenticated} (expected ${this.signedIn}), accounts ${[...providers].join(',') || 'none'} (expected ${[...this.connected].join(',') || 'none'}), ${OAUTH2} ${oauth2Status ?? 'absent'}`,
    )
    // Adopt it, so one disagreement is reported once.
    this.adopt(session.authenticated, providers)
  }

  /**
   * Takes the session's word for what this person has. Signed out, it names no accounts, yet the
   * user's links stay in the database: they are kept, or a logout whose answer was lost (an
   * instance killed mid-answer) made the next sign-in look like it had dropped them.
   */
  private adopt(authenticated: boolean, providers: Set<Provider>): void {
    this.signedIn = authenticated
    if (!authenticated) return
    this.connected.clear()
    for (const provider of providers) this.connected.add(provider)
  }

  /** One proxied call; its answer judged against the model. */
  async callApi(provider: Provider, method: 'GET' | 'POST'): Promise<Answer | undefined> {
    const path = provider === OAUTH2 ? `/api/${OAUTH2}/items?page=${1 + (this.index % 3)}` : `/api/${OAUTH1}/echo.json?from=soak`
    const body = method === 'GET' ? undefined : provider === OAUTH2 ? JSON.stringify({ name: `item of ${this.index}` }) : new URLSearchParams({ status: `hello from ${this.index}` }).toString()
    const type = method === 'GET' ? undefined : provider === OAUTH2 ? 'application/json' : 'application/x-www-form-urlencoded'
    const answer = await this.browser.send(`${method} /api/${provider}`, method, path, { csrf: true, body, type })
    if (!answer) return answer
    const code = answer.json?.error
    const settling = this.uncertain || this.recorder.now() - this.changedAt < CONVERGE_MS
    if (answer.status === 401 && code === 'reauth_required') {
      if (provider === OAUTH2 && (this.revoked || this.needsLogin)) {
        if (!this.needsLogin) this.figures.revocationsSeen++
        this.needsLogin = true
      } else this.problem(`${method} /api/${provider}: reauth_required, but the grant was never revoked (a lost refresh)`)
    } else if ((answer.status === 403 && code === 'account_not_connected') || (answer.status === 401 && code === 'not_authenticated')) {
      if (!settling) this.problem(`${method} /api/${provider}: ${code}, expected the account connected and signed in`)
      else this.uncertain = true
    } else if (answer.status < 500 && answer.status !== 200) {
      this.problem(`${method} /api/${provider}: ${answer.status} ${answer.text.slice(0, 120)}`)
    }
    return answer
  }

  async logout(): Promise<void> {
    const answer = await this.browser.send('POST /auth/logout', 'POST', '/auth/logout', { csrf: true })
    if (this.changed(answer, [204])) this.signedIn = false
    else if (answer && answer.status < 500) this.problem(`POST /auth/logout: ${answer.status} ${answer.text.slice(0, 120)}`)
  }

  async disconnect(provider: Provider): Promise<void> {
    const answer = await this.browser.send(`DELETE /auth/accounts/${provider}`, 'DELETE', `/auth/accounts/${provider}`, { csrf: true })
    if (!this.changed(answer, [204]) && answer && answer.status < 500) return this.problem(`DELETE /auth/accounts/${provider}: ${answer.status} ${answer.text.slice(0, 120)}`)
    // Done, or unanswered (an instance killed mid-answer) or a 5xx, when the link may be gone: it is
    // no longer one to sign in again with, which would make a new user. The session's word puts it
    // back if it stayed.
    this.connected.delete(provider)
  }

  /** Signs in with a provider still linked to this person (a new identity would make a new user). */
  private signInAgain(): Promise<boolean> {
    const linked = [...this.connected]
    return this.login(linked.length === 0 || !this.userId ? OAUTH2 : linked[Math.floor(Math.random() * linked.length)])
  }

  /** One step of an SPA's life. */
  async step(): Promise<void> {
    if (!this.signedIn) {
      if (!(await this.signInAgain())) await sleep(500)
      return
    }
    if (this.needsLogin || !this.connected.has(OAUTH2)) {
      if (!(await this.login(OAUTH2))) await sleep(500)
      return
    }
    // Someone whose grant was revoked does not know it yet: they go on using the app until the BFF says so.
    const mayLeave = this.revoked ? 0 : 1
    const action = pick<() => Promise<unknown>>([
      [30, () => this.readSession()],
      [20, () => this.callApi(OAUTH2, 'GET')],
      [8, () => this.callApi(OAUTH2, 'POST')],
      // A page that loads several panels at once: concurrent calls meet the token's refresh together.
      [5, () => Promise.all(Array.from({ length: 4 }, () => this.callApi(OAUTH2, 'GET')))],
      [10, () => (this.connected.has(OAUTH1) ? this.callApi(OAUTH1, 'GET') : this.login(OAUTH1))],
      [5, () => (this.connected.has(OAUTH1) ? this.callApi(OAUTH1, 'POST') : this.login(OAUTH1))],
      [1.5 * mayLeave, () => this.logout()],
      [1.5, () => (this.connected.has(OAUTH1) ? this.disconnect(OAUTH1) : this.login(OAUTH1))],
      [1 * mayLeave, () => this.login(OAUTH2)],
    ])
    await action()
  }

  /** Runs steps, with a pause like a person's between them, until `until` says stop. */
  async run(until: () => boolean, thinkMs: [number, number]): Promise<void> {
    while (!until()) {
      try {
        await this.step()
      } catch (error) {
        this.problem(`step failed: ${(error as Error).stack ?? error}`)
        await sleep(500)
      }
      await sleep(thinkMs[0] + Math.random() * (thinkMs[1] - thinkMs[0]))
    }
  }

  /**
   * After the faults: everything this person had must work again. Signs in, relinks what the
   * soak's revocation broke, and expects both providers' APIs and the session to answer fully.
   */
  async settle(): Promise<void> {
    if (!this.signedIn && !(await this.signInAgain())) return this.problem('settle: cannot sign in again')
    if ((this.needsLogin || this.revoked || !this.connected.has(OAUTH2)) && !(await this.login(OAUTH2))) return this.problem(`settle: cannot sign in with ${OAUTH2}`)
    if (!this.connected.has(OAUTH1) && !(await this.login(OAUTH1))) return this.problem(`settle: cannot connect ${OAUTH1}`)
    for (const provider of [OAUTH2, OAUTH1] as const) {
      const answer = await this.callApi(provider, 'GET')
      if (answer?.status !== 200) this.problem(`settle: GET /api/${provider} answered ${answer?.status ?? 'nothing'}`)
    }
    await this.readSession()
  }
}
