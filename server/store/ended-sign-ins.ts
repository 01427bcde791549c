import type { Knex } from 'knex'
import { isSqlite } from './database.ts'

/**
 * The provider sessions a back-channel logout ended, each by provider and the SHA-256 (`hashId`)
 * of its `sid`: a login carrying one of those `sid`s, whose token exchange came before the logout
 * and whose commit after, must not start a session with it. Kept until `removeExpired` may drop
 * them (the logout says how long: as long as such a login can still commit).
 *
 * The logout records the pair and ends the sessions that signed in with it; the login looks for
 * the pair and records its session's sign-in. Under PostgreSQL's READ COMMITTED each statement sees
 * only what was committed before it began, so if each side ran its statements before the other
 * committed, both would miss each other and the login's session would outlive the logout (write
 * skew). Both sides therefore first take a lock on the pair, held until their transaction ends:
 * whichever takes it second runs its statements after the first committed, and sees its rows.
 * Logins take it shared (they need not wait for each other), a logout exclusively. On SQLite a
 * process has one connection (database.ts), so one transaction at a time; processes sharing a file
 * write one at a time, and a transaction that read before another's commit cannot write after it
 * (SQLITE_BUSY): one side fails rather than misses the other.
 */
export class EndedSignInStore {
  constructor(private readonly db: Knex) {}

  /**
   * Records that the provider ended this session at `endedAt` (its logout token's `iat`, in epoch
   * ms), kept until `keepUntil`; a later end, or a later keep, already recorded stays.
   */
  async remember(providerId: number, sidHash: string, endedAt: number, keepUntil: number, trx: Knex): Promise<void> {
    await this.lock(providerId, sidHash, trx, 'pg_advisory_xact_lock')
    const later = (column: string) => trx.raw(`CASE WHEN excluded.${column} > ended_sign_ins.${column} THEN excluded.${column} ELSE ended_sign_ins.${column} END`)
    await trx('ended_sign_ins')
      .insert({ provider_id: providerId, sid_hash: sidHash, ended_at: Math.ceil(endedAt), expires_at: Math.ceil(keepUntil) })
      .onConflict(['provider_id', 'sid_hash'])
      .merge({ ended_at: later('ended_at'), expires_at: later('expires_at') })
  }

  /**
   * Whether the provider ended this session at or after `issuedAt` (the login's ID token's `iat`,
   * epoch ms): both times are the provider's own clock's. An ID token it issued later, in a session it
   * kept, is not refused. The lock stays until `trx` ends.
   */
  async hasEnded(providerId: number, sidHash: string, issuedAt: number, trx: Knex): Promise<boolean> {
    await this.lock(providerId, sidHash, trx, 'pg_advisory_xact_lock_shared')
    const ended = await trx('ended_sign_ins').where({ provider_id: providerId, sid_hash: sidHash }).andWhere('ended_at', '>=', issuedAt).first('provider_id')
    return ended !== undefined
  }

  /**
   * The pair's lock: its key is the provider id and the first 32 bits of the `sid` hash. Two pairs
   * that share a key only wait for each other. Outside a transaction it would end with its
   * statement, guarding nothing.
   */
  private async lock(providerId: number, sidHash: string, trx: Knex, lockFunction: 'pg_advisory_xact_lock' | 'pg_advisory_xact_lock_shared'): Promise<void> {
    if (!trx.isTransaction) throw new TypeError('ended sign-ins are read and recorded inside the transaction that acts on them')
    if (isSqlite(this.db)) return
    await trx.raw(`SELECT ${lockFunction}(?, ?)`, [providerId, Number.parseInt(sidHash.slice(0, 8), 16) | 0])
  }

  async removeExpired(now = Date.now()): Promise<number> {
    return this.db('ended_sign_ins').where('expires_at', '<=', now).delete()
  }
}
