import type { Knex } from 'knex'
import { hashId } from '../crypto/random.ts'
import { isSqlite } from './database.ts'
import { afterTransaction, ReadCache, storeCaches, type StoreCaches } from './read-cache.ts'
import { toMillis } from './rows.ts'

export interface SessionRecord {
  userId: number
  createdAt: number
  idleExpiresAt: number
  absoluteExpiresAt: number
  /** The provider the session signed in with (an OpenID provider's logout names its sessions). */
  providerId?: number | null
  /** The SHA-256 (`hashId`) of the `sid` the provider's ID token gave the session, if any. */
  sidHash?: string | null
}

/** A provider's `sid` that names a session (its SHA-256): every OpenID provider the session signed in with has one. */
export interface SessionSignIn {
  providerId: number
  sidHash: string
}

/**
 * Server-side sessions. Rows are keyed by the SHA-256 of the cookie's id (`idHash`, made once with
 * `hashId`), never the id itself.
 */
export class SessionStore {
  private readonly cache: ReadCache<SessionRecord | null>

  constructor(
    private readonly db: Knex,
    caches: StoreCaches = storeCaches(0),
  ) {
    this.cache = caches.sessions as ReadCache<SessionRecord | null>
  }

  /** `replaces`: the hash of the session a login replaced with this one (see {@link replacedByLive}). */
  async create(idHash: string, session: SessionRecord, trx: Knex = this.db, signIns: readonly SessionSignIn[] = [], replaces: string | null = null): Promise<void> {
    this.cache.forget(idHash)
    await trx('sessions').insert({
      id_hash: idHash,
      user_id: session.userId,
      created_at: session.createdAt,
      idle_expires_at: session.idleExpiresAt,
      absolute_expires_at: session.absoluteExpiresAt,
      provider_id: session.providerId ?? null,
      provider_sid_hash: session.sidHash ?? null,
      replaces_id_hash: replaces,
    })
    if (signIns.length) {
      await trx('session_sign_ins').insert(signIns.map((signIn) => ({ session_id_hash: idHash, provider_id: signIn.providerId, sid_hash: signIn.sidHash })))
    }
  }

  /** The providers' `sid`s that name this session, read when a login replaces it with a new one. */
  async signInsOf(idHash: string, trx: Knex = this.db): Promise<SessionSignIn[]> {
    const rows: { provider_id: number; sid_hash: string }[] = await trx('session_sign_ins').select('provider_id', 'sid_hash').where({ session_id_hash: idHash })
    return rows.map((row) => ({ providerId: Number(row.provider_id), sidHash: row.sid_hash }))
  }

  /** The live session with this id hash, or null when there is none or it has ended. */
  async find(idHash: string, now = Date.now(), trx: Knex = this.db): Promise<SessionRecord | null> {
    let read = false
    const load = async () => {
      read = true
      const row = await trx('sessions').where({ id_hash: idHash }).first()
      if (!row) return null
      return {
        userId: row.user_id as number,
        createdAt: toMillis(row.created_at),
        idleExpiresAt: toMillis(row.idle_expires_at),
        absoluteExpiresAt: toMillis(row.absolute_expires_at),
        providerId: (row.provider_id as number | null) ?? null,
        sidHash: (row.provider_sid_hash as string | null) ?? null,
      }
    }
    const ended = (record: SessionRecord) => record.idleExpiresAt <= now || record.absoluteExpiresAt <= now
    let session = trx === this.db ? await this.cache.read(idHash, load) : await load()
    // A remembered end may have been moved on since by another instance's slide: only the database
    // says that a session's time is up, or a live session would be signed out (its cookie cleared).
    if (session && ended(session) && !read) {
      this.cache.forget(idHash)
      session = await this.cache.read(idHash, load)
    }
    if (!session || ended(session)) return null
    return { ...session }
  }

  /**
   * Whether the session with this id hash, no longer live, was replaced by a login of its user (a
   * new id, no fixation) whose session is live: not ended, only renamed. One step only: a session
   * replaced twice since is taken as ended.
   */
  async replacedByLive(idHash: string, now = Date.now()): Promise<boolean> {
    const row = await liveOnly(this.db('sessions').where({ replaces_id_hash: idHash }), now).first('id_hash')
    return row !== undefined
  }

  async extend(idHash: string, idleExpiresAt: number): Promise<void> {
    await this.db('sessions').where({ id_hash: idHash }).update({ idle_expires_at: idleExpiresAt })
    this.cache.forget(idHash)
  }

  /**
   * Deletes the session; true when there was a row to delete. With `liveAt`, only a session still
   * live then: a row past its end stays for the clean-up, and the answer is false.
   */
  async remove(idHash: string, trx: Knex = this.db, liveAt?: number): Promise<boolean> {
    this.cache.forget(idHash)
    const row = trx('sessions').where({ id_hash: idHash })
    if (liveAt !== undefined) liveOnly(row, liveAt)
    const removed = await row.delete()
    // A read that ran while the delete waited (a lock, another connection) may have cached the row
    // again: forget it once the delete is done, and inside a transaction once more at its end.
    afterTransaction(trx, () => this.cache.forget(idHash))
    return removed > 0
  }

  /**
   * Logout: deletes the session, or, when a login already replaced it, the session that replaced it.
   * The logout was sent with the id the browser held before that login's answer reached it, and its
   * user asked to be signed out: the login's new id, arriving after it, must not sign them in again.
   */
  async removeOrSuccessor(idHash: string): Promise<void> {
    if (await this.remove(idHash)) return
    // A statement of its own: on PostgreSQL it sees a replacing login that committed while the delete above waited for it.
    if (await this.db('sessions').where({ replaces_id_hash: idHash }).delete()) this.cache.clear()
  }

  /** Ends every session of the user; the number of them that were live (ended ones go too, uncounted). */
  async removeForUser(userId: number, now = Date.now()): Promise<number> {
    const removed = await this.db.transaction(async (trx): Promise<number> => {
      await this.lockUsers(trx, [userId])
      return await this.removeCountingLive(trx('sessions').where({ user_id: userId }), now)
    })
    this.forgetAll(this.db)
    return removed
  }

  /**
   * PostgreSQL: waits for, then holds off, the logins of these users that replace a session
   * ({@link lockUserForLogin}). A delete alone, under READ COMMITTED, waits for such a login's
   * removal of the old session and then skips it, never seeing the new session that login commits
   * with it: a revocation would miss the very session a stolen cookie's holder was making. The
   * delete that follows, a statement of its own, sees what those logins committed.
   */
  private async lockUsers(trx: Knex, userIds: readonly number[] | Knex.QueryBuilder): Promise<void> {
    if (isSqlite(this.db)) return
    await trx('users').whereIn('id', userIds as readonly number[]).forUpdate().select('id')
  }

  /** Taken by a login before it replaces a session of this user: see {@link lockUsers}. SQLite writes one at a time anyway. */
  async lockUserForLogin(userId: number, trx: Knex): Promise<void> {
    await this.lockUsers(trx, [userId])
  }

  /**
   * Ends the sessions that signed in at a provider with the `sid` whose hash this is (back-channel
   * logout), including those that went on to connect other providers.
   */
  async removeBySid(providerId: number, sidHash: string, trx: Knex = this.db): Promise<number> {
    const named = () => trx('session_sign_ins').select('session_id_hash').where({ provider_id: providerId, sid_hash: sidHash })
    await this.lockUsers(trx, trx('sessions').select('user_id').whereIn('id_hash', named()))
    const removed = await trx('sessions').whereIn('id_hash', named()).delete()
    this.forgetAll(trx)
    return removed
  }

  /**
   * Ends every session of the user linked to the identity with this `sub` at this provider
   * (back-channel logout by `sub`): the account that signed in with that `sub`, or, for an account
   * that has not signed in since accounts kept it, the one whose identifier it is.
   */
  async removeForIdentity(providerId: number, sub: string, trx: Knex = this.db): Promise<number> {
    const users = trx('accounts')
      .select('user_id')
      .where({ provider_id: providerId })
      .andWhere((match) => match.where({ subject_hash: hashId(sub) }).orWhere((old) => old.whereNull('subject_hash').andWhere({ identifier: sub })))
    await this.lockUsers(trx, users.clone())
    const removed = await trx('sessions').whereIn('user_id', users).delete()
    this.forgetAll(trx)
    return removed
  }

  private forgetAll(trx: Knex): void {
    this.cache.clear()
    if (trx !== this.db) afterTransaction(trx, () => this.cache.clear())
  }

  /** Ends every session (incident response: a key or a provider secret leaked); the number that were live. */
  async removeAll(now = Date.now()): Promise<number> {
    const removed = await this.db.transaction(async (trx): Promise<number> => {
      // Every user's lock at once (see lockUsers): the table's, which waits for the transactions
      // writing sessions and keeps new ones out until the delete commits.
      if (!isSqlite(this.db)) await trx.raw('LOCK TABLE sessions IN SHARE ROW EXCLUSIVE MODE')
      return await this.removeCountingLive(trx('sessions'), now)
    })
    this.forgetAll(this.db)
    return removed
  }

  /**
   * Deletes these sessions, ended ones included, and counts the live ones: the operator is told how
   * many sessions a revocation ended, not how many rows the clean-up had yet to reach.
   */
  private async removeCountingLive(sessions: Knex.QueryBuilder, now: number): Promise<number> {
    const live = await liveOnly(sessions.clone(), now).delete()
    await sessions.delete()
    return live
  }

  /** Sessions that have not ended: the active-sessions gauge, counted in the database (other instances' sessions too). */
  async countLive(now = Date.now()): Promise<number> {
    const row = await liveOnly(this.db('sessions'), now).count({ n: '*' }).first()
    return Number(row?.n ?? 0)
  }

  /** Deletes ended sessions; safe to run from several instances at once. */
  async removeExpired(now = Date.now()): Promise<number> {
    const removed = await this.db('sessions').where('idle_expires_at', '<=', now).orWhere('absolute_expires_at', '<=', now).delete()
    if (removed) this.cache.clear()
    return removed
  }
}

/** The sessions of `query` still live at `now`: before both their idle and their absolute end (`find` judges a row alike). */
function liveOnly(query: Knex.QueryBuilder, now: number): Knex.QueryBuilder {
  return query.andWhere('idle_expires_at', '>', now).andWhere('absolute_expires_at', '>', now)
}
