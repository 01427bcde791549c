import type { Context, Middleware } from 'koa'
import type { Knex } from 'knex'
import { randomToken } from '../crypto/random.ts'
import type { SessionRecord, SessionStore } from '../store/sessions.ts'
import { clearCookie, readSignedCookie, SESSION_COOKIE, writeSignedCookie, type CookieSettings } from './cookies.ts'

export interface SessionTimeouts {
  /** A session unused for this long ends (sliding). */
  idleMs: number
  /** A session ends this long after login whatever happens. */
  absoluteMs: number
}

export const DEFAULT_SESSION_TIMEOUTS: SessionTimeouts = { idleMs: 12 * 60 * 60 * 1000, absoluteMs: 7 * 24 * 60 * 60 * 1000 }

/** What `ctx.state.session` holds on a request with a live session. */
export interface ActiveSession extends SessionRecord {
  id: string
}

/** The session end the SPA is told about: the sooner of the idle and absolute ends. */
export function sessionExpiresAt(session: SessionRecord): number {
  return Math.min(session.idleExpiresAt, session.absoluteExpiresAt)
}

export class Sessions {
  constructor(
    private readonly store: SessionStore,
    private readonly cookies: CookieSettings,
    readonly timeouts: SessionTimeouts,
  ) {}

  /** Loads the session named by the cookie into `ctx.state.session`; a dead one clears the cookie. */
  load(): Middleware {
    return async (ctx, next) => {
      const id = readSignedCookie(ctx, SESSION_COOKIE, this.cookies)
      if (id) {
        const record = await this.store.find(id)
        if (record) ctx.state.session = { id, ...record } satisfies ActiveSession
        else clearCookie(ctx, SESSION_COOKIE, this.cookies, 'strict')
      }
      await next()
    }
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
    await this.store.extend(session.id, idleExpiresAt)
    session.idleExpiresAt = idleExpiresAt
  }

  /**
   * Starts a session for a user with a new id, ending the one the request came with: an id an
   * attacker planted before login is worthless after it (no fixation).
   */
  async start(ctx: Context, userId: number, trx?: Knex): Promise<ActiveSession> {
    const previous = ctx.state.session as ActiveSession | undefined
    if (previous) await this.store.remove(previous.id, trx)
    const now = Date.now()
    const session: ActiveSession = {
      id: randomToken(),
      userId,
      createdAt: now,
      idleExpiresAt: now + Math.min(this.timeouts.idleMs, this.timeouts.absoluteMs),
      absoluteExpiresAt: now + this.timeouts.absoluteMs,
    }
    await this.store.create(session.id, session, trx)
    ctx.state.session = session
    return session
  }

  /** Sets the cookie for a started session; separate from `start` so it happens only after the commit. */
  writeCookie(ctx: Context, session: ActiveSession): void {
    writeSignedCookie(ctx, SESSION_COOKIE, session.id, this.cookies, { sameSite: 'strict', maxAgeMs: session.absoluteExpiresAt - Date.now() })
  }

  async end(ctx: Context): Promise<void> {
    const session = ctx.state.session as ActiveSession | undefined
    if (session) await this.store.remove(session.id)
    ctx.state.session = undefined
    clearCookie(ctx, SESSION_COOKIE, this.cookies, 'strict')
  }
}
