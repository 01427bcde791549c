import type { Knex } from 'knex'
import { PROVIDER_NAME_PATTERN } from '../../shared/provider.ts'
import type { AccountStatus, AccountSummary } from '../../shared/session.ts'
import type { ParsedToken } from '../clients/types.ts'
import { hashId } from '../crypto/random.ts'
import type { SecretBox } from '../crypto/secret-box.ts'
import { ENCRYPTED_COLUMNS, encryptedField, type EncryptedColumn } from './encrypted-columns.ts'
import { databaseNow, isSqlite } from './database.ts'
import { afterTransaction, storeCaches, type ReadCache, type StoreCaches } from './read-cache.ts'
import { returnedRows, toMillis, toMillisOrNull } from './rows.ts'

/** The tokens an account keeps (decrypted): a provider's parsed token, without its raw answer. */
export type AccountTokens = Omit<ParsedToken, 'raw'>

export interface RenewedAccount {
  id: number
  createdAt: number
  user: { id: number; displayName: string | null }
  /** The refresh token the account now holds: the login's, or the one it kept when the login brought none. */
  refreshToken: string | null
}

/** The tokens an account held when it was unlinked, which a disconnect revokes (OAuth 1.0a signs with the secret). */
export interface UnlinkedTokens {
  id: number
  accessToken: string
  tokenSecret?: string | null
  refreshToken: string | null
}

/** A user's link to one provider identity (django-all-access's AccountAccess). */
export interface AccountRecord extends AccountTokens {
  id: number
  providerId: number
  provider: string
  identifier: string
  userId: number
  displayName: string | null
  status: AccountStatus
  createdAt: number
  updatedAt: number
}

const COLUMNS = [
  'accounts.id', 'accounts.provider_id', 'providers.name as provider', 'accounts.identifier', 'accounts.user_id',
  'accounts.display_name', ...ENCRYPTED_COLUMNS.accounts.map((column) => `accounts.${column}`),
  'accounts.expires_at', 'accounts.scope', 'accounts.status', 'accounts.created_at', 'accounts.updated_at',
]

/** What the session route shows of an account: no token column. */
const SUMMARY_COLUMNS = ['providers.name as provider', 'accounts.identifier', 'accounts.display_name', 'accounts.status', 'accounts.created_at']

export class AccountStore {
  constructor(
    private readonly db: Knex,
    private readonly box: SecretBox,
    private readonly caches: StoreCaches = storeCaches(0),
  ) {}

  /** Reads the proxy and the session route make on every request: from memory for a moment. */
  private cached<V>(key: string, trx: Knex, load: () => Promise<V>): Promise<V> {
    return trx === this.db ? (this.caches.accounts as ReadCache<V>).read(key, load) : load()
  }

  /** Any account write: cached reads are forgotten now, and again once its transaction ends. */
  private changed(trx: Knex): void {
    this.caches.accounts.clear()
    if (trx !== this.db) afterTransaction(trx, () => this.caches.accounts.clear())
  }

  private query(trx: Knex, columns: readonly string[] = COLUMNS) {
    return trx('accounts').join('providers', 'providers.id', 'accounts.provider_id').select(columns)
  }

  async findByIdentity(providerId: number, identifier: string, trx: Knex = this.db): Promise<AccountRecord | null> {
    const row = await this.query(trx).where({ 'accounts.provider_id': providerId, 'accounts.identifier': identifier }).first()
    return row ? this.fromRow(row) : null
  }

  async findForUser(userId: number, providerName: string, trx: Knex = this.db): Promise<AccountRecord | null> {
    const record = await this.cached(`${userId}/${providerName}`, trx, () => this.readForUser(userId, providerName, trx))
    return record && { ...record }
  }

  /**
   * The user's account at a provider as the database holds it now, not as this instance read it up
   * to a second ago: what a write acts on. From memory, a disconnect right after the user linked
   * the provider again on another instance found the old account, gone, and answered
   * `account_not_found` for an account that was there.
   */
  findForUserNow(userId: number, providerName: string): Promise<AccountRecord | null> {
    return this.readForUser(userId, providerName, this.db)
  }

  private async readForUser(userId: number, providerName: string, trx: Knex): Promise<AccountRecord | null> {
    // As providers.get: a name no provider can have (a route's %00) is no account, not a query PostgreSQL refuses.
    if (!PROVIDER_NAME_PATTERN.test(providerName)) return null
    const row = await this.query(trx).where({ 'accounts.user_id': userId, 'providers.name': providerName }).orderBy('accounts.id').first()
    return row ? this.fromRow(row) : null
  }

  async get(id: number, trx: Knex = this.db): Promise<AccountRecord | null> {
    const row = await this.query(trx).where({ 'accounts.id': id }).first()
    return row ? this.fromRow(row) : null
  }

  /**
   * What `GET /auth/session` shows of a user's accounts: no token is read or decrypted. The list is
   * kept in memory as it is and shared by the requests that read it: never change it.
   */
  summariesForUser(userId: number): Promise<readonly Readonly<AccountSummary>[]> {
    return this.cached(`summaries/${userId}`, this.db, async () => {
      const rows = await this.query(this.db, SUMMARY_COLUMNS).where({ 'accounts.user_id': userId }).orderBy('accounts.id')
      return rows.map((row: Record<string, unknown>) => ({
        provider: row.provider as string,
        identifier: row.identifier as string,
        displayName: (row.display_name as string | null) ?? null,
        status: row.status as AccountStatus,
        connectedAt: new Date(toMillis(row.created_at)).toISOString(),
      }))
    })
  }

  async listForUser(userId: number, trx: Knex = this.db): Promise<AccountRecord[]> {
    const records = await this.cached(`${userId}`, trx, async () => {
      const rows = await this.query(trx).where({ 'accounts.user_id': userId }).orderBy('accounts.id')
      return rows.map((row: Record<string, unknown>) => this.fromRow(row))
    })
    return records.map((record) => ({ ...record }))
  }

  async create(
    input: { providerId: number; identifier: string; userId: number; displayName: string | null; subject?: string | null } & AccountTokens,
    trx: Knex = this.db,
  ): Promise<number> {
    const now = Date.now()
    const [row] = await trx('accounts')
      .insert({
        provider_id: input.providerId,
        identifier: input.identifier,
        user_id: input.userId,
        display_name: input.displayName,
        subject_hash: input.subject ? hashId(input.subject) : null,
        ...this.tokenColumns(input),
        status: 'active',
        created_at: now,
        updated_at: now,
      })
      .returning('id')
    this.changed(trx)
    return typeof row === 'object' ? row.id : row
  }

  /**
   * A returning identity's login: its new tokens stored and its user read in one statement (the
   * login's hottest path runs on one SQLite connection, where each statement waits its turn).
   * Null when the identity has no account yet.
   */
  async renewAfterLogin(
    providerId: number,
    identifier: string,
    input: { displayName: string | null; subject?: string | null } & AccountTokens,
    trx: Knex = this.db,
  ): Promise<RenewedAccount | null> {
    const columns: Record<string, Knex.Value> = { display_name: input.displayName, ...this.tokenColumns(input), status: 'active', updated_at: Date.now() }
    if (input.refreshToken === null) {
      // A provider need not send a refresh token at every login (Google sends one only with
      // consent): the one kept still works, as it does when a refresh answers without one. A
      // refresh still out with it keeps its lease, so that the refresh token it may get in
      // exchange (rotation) is stored, not lost.
      delete columns.refresh_token
    } else {
      // A new grant: a refresh still out with the old one may then neither store its tokens over
      // these nor mark the account reauth_required (both need the lease).
      columns.refresh_lease_owner = null
      columns.refresh_lease_until = null
    }
    if (input.subject) columns.subject_hash = hashId(input.subject)
    const names = Object.keys(columns)
    // Knex's sqlite3 client drops returning() on update, so the SQL is written out; both databases
    // accept a subquery in RETURNING.
    const result = await trx.raw(
      `UPDATE accounts SET ${names.map((name) => `${name} = ?`).join(', ')} WHERE provider_id = ? AND identifier = ? ` +
        'RETURNING id, user_id, created_at, refresh_token, (SELECT display_name FROM users WHERE users.id = accounts.user_id) AS user_display_name',
      [...Object.values(columns), providerId, identifier],
    )
    const [row] = returnedRows<{ id: number; user_id: number; created_at: unknown; refresh_token: string | null; user_display_name: string | null }>(result)
    if (!row) return null
    this.changed(trx)
    return {
      id: row.id,
      createdAt: toMillis(row.created_at),
      user: { id: row.user_id, displayName: row.user_display_name ?? null },
      // Decrypted only when it is not the login's own.
      refreshToken: input.refreshToken ?? this.decrypt('refresh_token', row),
    }
  }

  async updateTokens(id: number, tokens: AccountTokens, trx: Knex = this.db): Promise<void> {
    await trx('accounts').where({ id }).update({ ...this.tokenColumns(tokens), updated_at: Date.now() })
    this.changed(trx)
  }

  /**
   * Stores refreshed tokens and frees the refresh lease in one write, only while `owner` still holds
   * the lease. Returns false when the lease was lost (the tokens were not stored).
   */
  async storeRefreshed(id: number, owner: string, tokens: AccountTokens): Promise<boolean> {
    const updated = await this.db('accounts')
      .where({ id, refresh_lease_owner: owner })
      .update({ ...this.tokenColumns(tokens), refresh_lease_owner: null, refresh_lease_until: null, updated_at: Date.now() })
    this.changed(this.db)
    return updated === 1
  }

  /**
   * Takes the account's refresh lease for `owner`, for `leaseMs` of the database's clock, unless
   * another holder's lease is still running. True when taken. A lease, not a lock held by a
   * connection: a holder that dies blocks others only until its lease ends.
   */
  async takeRefreshLease(id: number, owner: string, leaseMs: number): Promise<boolean> {
    const now = databaseNow(this.db)
    const taken = await this.db('accounts')
      .where({ id })
      .andWhere((q) => q.whereNull('refresh_lease_until').orWhere('refresh_lease_until', '<', now))
      .update({ refresh_lease_owner: owner, refresh_lease_until: this.db.raw('? + ?', [now, leaseMs]) })
    return taken === 1
  }

  /** Moves the end of `owner`'s lease on to `leaseMs` from now (the database's clock), while it still holds it. */
  async renewRefreshLease(id: number, owner: string, leaseMs: number): Promise<void> {
    await this.db('accounts')
      .where({ id, refresh_lease_owner: owner })
      .update({ refresh_lease_until: this.db.raw('? + ?', [databaseNow(this.db), leaseMs]) })
  }

  /** Frees the lease if `owner` still holds it. */
  async releaseRefreshLease(id: number, owner: string): Promise<void> {
    await this.db('accounts').where({ id, refresh_lease_owner: owner }).update({ refresh_lease_owner: null, refresh_lease_until: null })
  }

  /**
   * The provider refused the refresh of the account as last written at `updatedAt`: it needs a new
   * login, and the lease is freed in the same write; only while `owner` still holds it (a login with
   * a refresh token meanwhile freed it) and nothing has written the account since (a login without
   * one keeps the lease, but its access token makes the account usable). False when not marked: the
   * lease is then freed all the same, or the next refresh would wait for it to end.
   */
  async refreshRefused(id: number, owner: string, updatedAt: number): Promise<boolean> {
    const marked = await this.db('accounts')
      .where({ id, refresh_lease_owner: owner, updated_at: updatedAt })
      .update({ status: 'reauth_required', refresh_lease_owner: null, refresh_lease_until: null, updated_at: Date.now() })
    if (marked === 0) await this.releaseRefreshLease(id, owner)
    this.changed(this.db)
    return marked === 1
  }

  /**
   * The provider refused the token the account held as last written at `updatedAt`, and it cannot
   * be refreshed: the account needs a new login, unless a login (or another instance's refresh)
   * has written it since. False when it had been.
   */
  async tokenRefused(id: number, updatedAt: number): Promise<boolean> {
    const marked = await this.db('accounts').where({ id, updated_at: updatedAt }).update({ status: 'reauth_required', updated_at: Date.now() })
    this.changed(this.db)
    return marked === 1
  }

  async setStatus(id: number, status: AccountStatus, trx: Knex = this.db): Promise<void> {
    await trx('accounts').where({ id }).update({ status, updated_at: Date.now() })
    this.changed(trx)
  }

  /**
   * Removes a user's accounts at a provider: a user who links another identity of a provider they
   * had stops using the old one, as the BFF's routes name one account per provider
   * (`/api/:provider`, `DELETE /auth/accounts/:provider`).
   */
  async removeForUserAt(userId: number, providerId: number, trx: Knex = this.db): Promise<number> {
    // Two links of one user at once (PostgreSQL, several connections) take turns on the user's row:
    // otherwise each read the other's old account, and both new ones stayed. SQLite's one connection
    // runs transactions one at a time already.
    if (!isSqlite(this.db)) await trx('users').where({ id: userId }).forUpdate().first('id')
    const removed = await trx('accounts').where({ user_id: userId, provider_id: providerId }).delete()
    if (removed) this.changed(trx)
    return removed
  }

  /**
   * Removes an account and answers the tokens it held at that moment (null when it was gone
   * already): a refresh stored between a read and the delete would otherwise leave its tokens
   * unrevoked, and one still out finds the account gone and revokes its own.
   */
  async unlink(id: number): Promise<UnlinkedTokens | null> {
    // Knex's sqlite3 client ignores returning() on delete, so the SQL is written out; both databases speak it.
    const result = await this.db.raw('DELETE FROM accounts WHERE id = ? RETURNING id, access_token, token_secret, refresh_token', [id])
    const [row] = returnedRows<Record<string, unknown>>(result)
    this.changed(this.db)
    return row ? { id: row.id as number, accessToken: this.decrypt('access_token', row) ?? '', tokenSecret: this.decrypt('token_secret', row), refreshToken: this.decrypt('refresh_token', row) } : null
  }

  private encrypt(column: EncryptedColumn<'accounts'>, value: string | null): string | null {
    return this.box.encrypt(encryptedField('accounts', column), value)
  }

  private decrypt(column: EncryptedColumn<'accounts'>, row: Record<string, unknown>): string | null {
    return this.box.decrypt(encryptedField('accounts', column), (row[column] ?? null) as string | null, `account ${String(row.id)}`)
  }

  private tokenColumns(tokens: AccountTokens) {
    return {
      access_token: this.encrypt('access_token', tokens.accessToken),
      token_secret: this.encrypt('token_secret', tokens.tokenSecret),
      refresh_token: this.encrypt('refresh_token', tokens.refreshToken),
      id_token: this.encrypt('id_token', tokens.idToken),
      expires_at: tokens.expiresAt,
      scope: tokens.scope,
    }
  }

  private fromRow(row: Record<string, unknown>): AccountRecord {
    const text = (key: string) => (row[key] ?? null) as string | null
    return {
      id: row.id as number,
      providerId: row.provider_id as number,
      provider: row.provider as string,
      identifier: row.identifier as string,
      userId: row.user_id as number,
      displayName: text('display_name'),
      // Every login stores one; a row without one reads as an empty token, which a provider refuses.
      accessToken: this.decrypt('access_token', row) ?? '',
      tokenSecret: this.decrypt('token_secret', row),
      refreshToken: this.decrypt('refresh_token', row),
      idToken: this.decrypt('id_token', row),
      expiresAt: toMillisOrNull(row.expires_at),
      scope: text('scope'),
      status: row.status as AccountStatus,
      createdAt: toMillis(row.created_at),
      updatedAt: toMillis(row.updated_at),
    }
  }
}
