import type { Knex } from 'knex'
import type { SecretBox } from '../crypto/secret-box.ts'
import { hashId } from '../crypto/random.ts'
import { encryptedField } from './encrypted-columns.ts'
import { returnedRows, toMillis } from './rows.ts'

/** Login flows a callback can still take: not past their time. */
export const pendingFlows = (db: Knex, now: number) => db('login_flows').where('expires_at', '>', now)

/** Login flows past their time: no callback takes them, and the purge deletes them. */
export const expiredFlows = (db: Knex, now: number) => db('login_flows').where('expires_at', '<=', now)

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
  /** The `max_age` (seconds) the redirect asked of an OpenID Connect provider: the ID token's `auth_time` is held to it. */
  maxAge?: number
}

/** Whose pending login a start at the cap may take ({@link LoginFlowStore.roomFor}). */
export interface Room {
  clientHash: string
  /** How many more it holds than the starter, less one: the most it can give up and stay fair. */
  spare: number
}

/** Rows a start at the cap tries to delete before it gives up (others arriving at once took them). */
const MAX_ROOM_TRIES = 16

/**
 * Login-flow records, single use: `consume` deletes the row and only the caller whose DELETE removed
 * it gets the flow, so a replayed callback (even a concurrent one) finds nothing.
 */
export class LoginFlowStore {
  constructor(
    private readonly db: Knex,
    private readonly box: SecretBox,
  ) {}

  /** `client` is who started it (login-rate-limit.ts's `clientKey`), stored hashed with a key (an address's plain hash is its address). */
  async create(id: string, providerId: number, flow: LoginFlow, ttlMs: number, client?: string): Promise<void> {
    const now = Date.now()
    await this.db('login_flows').insert({
      id_hash: hashId(id),
      provider_id: providerId,
      client_hash: client === undefined ? null : this.box.keyedHash(client),
      data: this.box.encrypt(encryptedField('login_flows', 'data'), JSON.stringify(flow)),
      created_at: now,
      expires_at: now + ttlMs,
    })
  }

  async consume(id: string, now = Date.now()): Promise<LoginFlow | null> {
    // One statement: only the caller whose DELETE removed the row gets it back. (Knex's sqlite3
    // client ignores returning() on delete, so the SQL is written out; both databases speak it.)
    const result = await this.db.raw('DELETE FROM login_flows WHERE id_hash = ? RETURNING data, expires_at', [hashId(id)])
    const [row] = returnedRows<{ data: string; expires_at: unknown }>(result)
    if (!row || toMillis(row.expires_at) <= now) return null
    return JSON.parse(this.box.decrypt(encryptedField('login_flows', 'data'), row.data) as string) as LoginFlow
  }

  /** Logins started and neither finished nor expired. */
  async countPending(now = Date.now()): Promise<number> {
    const row = await this.pending(now).count({ n: '*' }).first()
    return Number(row?.n ?? 0)
  }

  /**
   * Once the pending logins reach their cap, whose pending login may make room for one more of
   * `client`: the client holding the most, if it holds at least two more than `client` does. Without
   * this a few addresses, each within its own rate limit, could keep the cap full and shut everybody
   * else out; now they only push out their own logins, and filling the cap for everyone takes as many
   * addresses as it holds logins. Null when nobody holds more than a fair share. Nothing is deleted
   * here: a login start decides before it spends a request token at the provider, and takes the room
   * ({@link makeRoom}) only once its own flow is ready to be written.
   */
  async roomFor(client: string, now = Date.now()): Promise<Room | null> {
    const [heaviest] = (await this.pending(now).whereNotNull('client_hash').select('client_hash').count({ n: '*' }).groupBy('client_hash').orderBy('n', 'desc').limit(1)) as { client_hash: string; n: unknown }[]
    if (!heaviest) return null
    const own = this.box.keyedHash(client)
    const ownCount = heaviest.client_hash === own ? Number(heaviest.n) : Number((await this.pending(now).where('client_hash', own).count({ n: '*' }).first())?.n ?? 0)
    if (Number(heaviest.n) < ownCount + 2) return null
    return { clientHash: heaviest.client_hash, spare: Number(heaviest.n) - ownCount - 1 }
  }

  /** Deletes the oldest pending login of the client `room` names; false when none was left to take. */
  async makeRoom(room: Room, now = Date.now()): Promise<boolean> {
    // Starts arriving together all read the same oldest row, and only one DELETE removes it: the others
    // try the next ones, else every newcomer but one would be refused though the heaviest has to spare.
    const oldest: string[] = await this.pending(now).where('client_hash', room.clientHash).orderBy('created_at').limit(Math.min(room.spare, MAX_ROOM_TRIES)).pluck('id_hash')
    for (const idHash of oldest) if ((await this.db('login_flows').where('id_hash', idHash).delete()) > 0) return true
    return false
  }

  private pending(now: number) {
    return pendingFlows(this.db, now)
  }

  async removeExpired(now = Date.now()): Promise<number> {
    return expiredFlows(this.db, now).delete()
  }
}
