import type { Context } from 'koa'
import type { Knex } from 'knex'
import { hashId, randomToken } from '../crypto/random.ts'
import { AllAccessError } from '../errors.ts'
import type { SessionRecord, SessionStore } from '../store/sessions.ts'
import { clearCookie, readIdCookie, SESSION_COOKIE, writeIdCookie, type CookieSettings } from './cookies.ts'
import { SessionIdHashes } from './id-hashes.ts'

export interface SessionTimeouts {
  /** A session unused for this long ends (sliding). */
  idleMs: number
  /** A session ends this long after login whatever happens. */
  absoluteMs: number
}

export const DEFAULT_SESSION_TIMEOUTS: SessionTimeouts = { idleMs: 12 * 60 * 60 * 1000, absoluteMs: 7 * 24 * 60 * 60 * 1000 }

/** Where a login signed in: the provider, and the `sid` its ID token named (OpenID Connect), if any. */
export interface SignIn {
  providerId: number
  sid: string | null
}

/**
 * What a new session records of where it signed in. A login that links another provider to a live
 * session carries that session's provider on, unless it brings a `sid` of its own: the provider's
 * logout must still reach the session that its sign-in began.
 */
function signedInWith(signIn: SignIn | undefined, previous: ActiveSession | undefined): Pick<SessionRecord, 'providerId' | 'sidHash'> {
  if (previous?.providerId && !signIn?.sid) return { providerId: previous.providerId, sidHash: previous.sidHash ?? null }
  return { providerId: signIn?.providerId ?? null, sidHash: signIn?.sid ? hashId(signIn.sid) : null }
}

/** What `ctx.state.session` holds on a request with a live session. */
export interface ActiveSession extends SessionRecord {
  /** The hash of the cookie's id: the row's key. The id itself is never kept. */
  idHash: string
}

/** A session just started: the only moment its id is known, to be put in the cookie. */
export interface StartedSession extends ActiveSession {
  id: string
}

/** The session end the SPA is told about: the sooner of the idle and absolute ends. */
export function sessionExpiresAt(session: SessionRecord): number {
  return Math.min(session.idleExpiresAt, session.absoluteExpiresAt)
}

export class Sessions {
  private readonly idHashes = new SessionIdHashes()

  constructor(
    private readonly store: SessionStore,
    private readonly cookies: CookieSettings,
    readonly timeouts: SessionTimeouts,
  ) {}

  /** The hash of the session id the request's cookie holds, live or not. */
  private cookieIdHash(ctx: Context): string | null {
    const id = readIdCookie(ctx, SESSION_COOKIE, this.cookies)
    return id ? this.idHashes.of(id) : null
  }

  /** Loads the session named by the cookie into `ctx.state.session`; a dead one clears the cookie. */
  async load(ctx: Context): Promise<void> {
    const idHash = this.cookieIdHash(ctx)
    if (!idHash) return
    const record = await this.store.find(idHash)
    // A new object, not idHash added to the record: V8 turns adding a property to an object made by
    // spreading into a slow path twenty times the cost of this copy.
    if (record) ctx.state.session = { idHash, ...record } satisfies ActiveSession
    // A request sent before a login's answer gave the browser its new id: clearing the cookie as this
    // answer comes after that one would delete the new id, and sign the browser out.
    else if (!(await this.store.replacedByLive(idHash))) clearCookie(ctx, SESSION_COOKIE, this.cookies, 'strict')
  }

  /** The live session with this id hash (a login flow records the session that started it). */
  find(idHash: string, trx?: Knex): Promise<SessionRecord | null> {
    return this.store.find(idHash, Date.now(), trx)
  }

  /**
   * Slides the idle end forward. Writes only when that gains at least a quarter of the idle time
   * (a minute at most), to spare the database a write per request.
   */
  async touch(ctx: Context): Promise<void> {
    const session = ctx.state.session as ActiveSession | undefined
    if (!session) return
    const idleExpiresAt = Math.min(Date.now() + this.timeouts.idleMs, session.absoluteExpiresAt)
    if (idleExpiresAt - session.idleExpiresAt < Math.min(60_000, this.timeouts.idleMs / 4)) return
    await this.store.extend(session.idHash, idleExpiresAt)
    session.idleExpiresAt = idleExpiresAt
  }

  /**
   * Starts a session for a user with a new id, ending `previous` (the request's, or the one a login
   * flow recorded): an id an attacker planted before login is worthless after it (no fixation).
   * `signIn` is the provider the login went through, for that provider's logout. A `previous` that
   * has ended meanwhile (a logout, `sessions revoke`, a back-channel logout, its idle or absolute
   * end while the login waited on the provider) fails the login `invalid_state`: a session started
   * from it would outlive its end, with whatever the login linked to its user.
   */
  async start(userId: number, previous: ActiveSession | undefined, trx?: Knex, signIn?: SignIn): Promise<StartedSession> {
    if (previous && trx) await this.store.lockUserForLogin(previous.userId, trx)
    // Read before the row goes (its sign-ins go with it): the new session stays reachable by the
    // logout of every provider the old one signed in with, not only by this login's.
    const carried = previous ? await this.store.signInsOf(previous.idHash, trx) : []
    // Only a live one: a session that reached its idle or absolute end while the provider answered
    // has ended as surely as one logged out, and a login must not start it again.
    if (previous && !(await this.store.remove(previous.idHash, trx, Date.now()))) {
      throw new AllAccessError('invalid_state', { detail: 'the session that started the login ended before it finished' })
    }
    const signIns = new Map(carried.map((each) => [each.providerId, each.sidHash]))
    if (signIn?.sid) signIns.set(signIn.providerId, hashId(signIn.sid))
    const now = Date.now()
    const id = randomToken()
    const session: StartedSession = {
      id,
      idHash: hashId(id),
      userId,
      createdAt: now,
      idleExpiresAt: now + Math.min(this.timeouts.idleMs, this.timeouts.absoluteMs),
      absoluteExpiresAt: now + this.timeouts.absoluteMs,
      ...signedInWith(signIn, previous),
    }
    await this.store.create(session.idHash, session, trx, [...signIns].map(([providerId, sidHash]) => ({ providerId, sidHash })), previous?.idHash ?? null)
    return session
  }

  /** Sets the cookie for a started session; separate from `start` so it happens only after the commit. */
  writeCookie(ctx: Context, session: StartedSession): void {
    writeIdCookie(ctx, SESSION_COOKIE, session.id, this.cookies, { sameSite: 'strict', maxAgeMs: session.absoluteExpiresAt - Date.now() })
    ctx.state.session = { ...session, id: undefined } as ActiveSession
  }

  /**
   * Throws `not_authenticated`, clearing the cookie, unless the request's session is still live: a
   * proxied call reads it on arrival, then may wait for its body or a token refresh for many seconds,
   * and must not reach the provider as a user whose session ended meanwhile (a revocation, a logout).
   * A session its user's login replaced with a new one has not ended: the call goes on.
   */
  async confirmLive(ctx: Context): Promise<void> {
    const session = ctx.state.session as ActiveSession | undefined
    if (session && ((await this.store.find(session.idHash)) || (await this.store.replacedByLive(session.idHash)))) return
    ctx.state.session = undefined
    clearCookie(ctx, SESSION_COOKIE, this.cookies, 'strict')
    throw new AllAccessError('not_authenticated', { detail: 'the session ended while the call was under way' })
  }

  async end(ctx: Context): Promise<void> {
    const session = ctx.state.session as ActiveSession | undefined
    // Not only a live session's: the cookie's id may be one a login of this browser just replaced (removeOrSuccessor).
    const idHash = session?.idHash ?? this.cookieIdHash(ctx)
    if (idHash) await this.store.removeOrSuccessor(idHash)
    ctx.state.session = undefined
    clearCookie(ctx, SESSION_COOKIE, this.cookies, 'strict')
  }
}
