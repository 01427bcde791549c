import type { Knex } from 'knex'
import { isSqlite } from './database.ts'

/**
 * What a back-channel logout names: a provider session by its `sid`, or a user by their `sub`
 * (a token without `sid`: every session of that user). Each kept in its own table, by the claim's
 * SHA-256 (`hashId`).
 */
export type EndedClaim = 'sid' | 'sub'

const TABLES = {
  sid: { table: 'ended_sign_ins', column: 'sid_hash' },
  sub: { table: 'ended_subjects', column: 'sub_hash' },
} as const satisfies Record<EndedClaim, { table: string; column: string }>

/**
 * The provider sessions, and the users, a back-channel logout ended, each by provider and the
 * hash of its `sid` or `sub`: a login carrying one of them in its ID token, whose token exchange
 * came before the logout and whose commit after, must not start a session with it. Kept until
 * `removeExpired` may drop them (the logout says how long: as long as such a login can still commit).
 *
 * The logout records the pair and ends the sessions it names; the login looks for its pairs and
 * records its session's sign-in. Under PostgreSQL's READ COMMITTED each statement sees only what
 * was committed before it began, so if each side ran its statements before the other committed,
 * both would miss each other and the login's session would outlive the logout (write skew). Both
 * sides therefore first take a lock on the pair, held until their transaction ends: whichever takes
 * it second runs its statements after the first committed, and sees its rows. Logins take it shared
 * (they need not wait for each other), a logout exclusively. On SQLite a process has one connection
 * (database.ts), so one transaction at a time; processes sharing a file write one at a time, and a
 * transaction that read before another's commit cannot write after it (SQLITE_BUSY): one side fails
 * rather than misses the other.
 */
export class EndedSignInStore {
  constructor(private readonly db: Knex) {}

  /**
   * Records that the provider ended this session, or every session of this user, at `endedAt` (its
   * logout token's `iat`, in epoch ms), kept until `keepUntil`; a later end, or a later keep,
   * already recorded stays.
   */
  async remember(claim: EndedClaim, providerId: number, hash: string, endedAt: number, keepUntil: number, trx: Knex): Promise<void> {
    const { table, column } = TABLES[claim]
    await this.lock(claim, providerId, hash, trx, 'pg_advisory_xact_lock')
    const later = (name: string) => trx.raw(`CASE WHEN excluded.${name} > ${table}.${name} THEN excluded.${name} ELSE ${table}.${name} END`)
    await trx(table)
      .insert({ provider_id: providerId, [column]: hash, ended_at: Math.ceil(endedAt), expires_at: Math.ceil(keepUntil) })
      .onConflict(['provider_id', column])
      .merge({ ended_at: later('ended_at'), expires_at: later('expires_at') })
  }

  /**
   * Whether the provider ended this session (or this user's sessions) at or after `issuedAt` (the
   * login's ID token's `iat`, epoch ms): both times are the provider's own clock's. An ID token it
   * issued later, in a session it kept or began since, is not refused. The lock stays until `trx` ends.
   */
  async hasEnded(claim: EndedClaim, providerId: number, hash: string, issuedAt: number, trx: Knex): Promise<boolean> {
    const { table, column } = TABLES[claim]
    await this.lock(claim, providerId, hash, trx, 'pg_advisory_xact_lock_shared')
    const ended = await trx(table).where({ provider_id: providerId, [column]: hash }).andWhere('ended_at', '>=', issuedAt).first('provider_id')
    return ended !== undefined
  }

  /**
   * The pair's lock: its key is the provider id (negated for `sub`, so that a `sid` and a `sub`
   * never share one) and the first 32 bits of the hash. Two pairs that share a key only wait for
   * each other. Outside a transaction it would end with its statement, guarding nothing.
   */
  private async lock(claim: EndedClaim, providerId: number, hash: string, trx: Knex, lockFunction: 'pg_advisory_xact_lock' | 'pg_advisory_xact_lock_shared'): Promise<void> {
    if (!trx.isTransaction) throw new TypeError('ended sign-ins are read and recorded inside the transaction that acts on them')
    if (isSqlite(this.db)) return
    await trx.raw(`SELECT ${lockFunction}(?, ?)`, [claim === 'sid' ? providerId : -providerId, Number.parseInt(hash.slice(0, 8), 16) | 0])
  }

  async removeExpired(now = Date.now()): Promise<number> {
    const [sids, subs] = await Promise.all(Object.values(TABLES).map(({ table }) => this.db(table).where('expires_at', '<=', now).delete()))
    return sids + subs
  }
}
