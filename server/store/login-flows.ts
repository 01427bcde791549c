import type { Knex } from 'knex'
import type { SecretBox } from '../crypto/secret-box.ts'
import { hashId } from '../crypto/random.ts'
import { encryptedField } from './encrypted-columns.ts'
import { toMillis } from './rows.ts'

/** What the BFF remembers between the redirect to a provider and its callback. */
export interface LoginFlow {
  provider: string
  /** OAuth 2.0 state. */
  state?: string
  codeVerifier?: string
  nonce?: string
  /** OAuth 1.0a request token and secret. */
  requestToken?: string
  requestTokenSecret?: string
  next: string
  /** The session that started the flow, if any: the login then links another provider to its user. */
  sessionIdHash?: string
  /** Started with `display=popup`: the callback answers with the popup page, failures too. */
  popup?: true
}

/**
 * Login-flow records, single use: `consume` deletes the row and only the caller whose DELETE removed
 * it gets the flow, so a replayed callback (even a concurrent one) finds nothing.
 */
export class LoginFlowStore {
  constructor(
    private readonly db: Knex,
    private readonly box: SecretBox,
  ) {}

  async create(id: string, providerId: number, flow: LoginFlow, ttlMs: number): Promise<void> {
    const now = Date.now()
    await this.db('login_flows').insert({
      id_hash: hashId(id),
      provider_id: providerId,
      data: this.box.encrypt(encryptedField('login_flows', 'data'), JSON.stringify(flow)),
      created_at: now,
      expires_at: now + ttlMs,
    })
  }

  async consume(id: string, now = Date.now()): Promise<LoginFlow | null> {
    // One statement: only the caller whose DELETE removed the row gets it back. (Knex's sqlite3
    // client ignores returning() on delete, so the SQL is written out; both databases speak it.)
    const result = await this.db.raw('DELETE FROM login_flows WHERE id_hash = ? RETURNING data, expires_at', [hashId(id)])
    const [row] = (Array.isArray(result) ? result : result.rows) as { data: string; expires_at: unknown }[]
    if (!row || toMillis(row.expires_at) <= now) return null
    return JSON.parse(this.box.decrypt(encryptedField('login_flows', 'data'), row.data) as string) as LoginFlow
  }

  /** Logins started and neither finished nor expired. */
  async countPending(now = Date.now()): Promise<number> {
    const row = await this.db('login_flows').where('expires_at', '>', now).count({ n: '*' }).first()
    return Number(row?.n ?? 0)
  }

  async removeExpired(now = Date.now()): Promise<number> {
    return this.db('login_flows').where('expires_at', '<=', now).delete()
  }
}
