import type { Knex } from 'knex'
import { storeCaches, type ReadCache, type StoreCaches } from './read-cache.ts'

export interface UserRecord {
  id: number
  displayName: string | null
}

export class UserStore {
  constructor(
    private readonly db: Knex,
    private readonly caches: StoreCaches = storeCaches(0),
  ) {}

  async create(displayName: string | null, trx: Knex = this.db): Promise<UserRecord> {
    const now = Date.now()
    const [row] = await trx('users').insert({ display_name: displayName, created_at: now, updated_at: now }).returning(['id', 'display_name'])
    return { id: row.id, displayName: row.display_name }
  }

  async get(id: number, trx: Knex = this.db): Promise<UserRecord | null> {
    const load = async () => {
      const row = await trx('users').where({ id }).first('id', 'display_name')
      return row ? { id: row.id as number, displayName: row.display_name as string | null } : null
    }
    const user = trx === this.db ? await (this.caches.users as ReadCache<UserRecord | null>).read(String(id), load) : await load()
    return user && { ...user }
  }
}
