import type { Knex } from 'knex'

export interface UserRecord {
  id: number
  displayName: string | null
}

export class UserStore {
  constructor(private readonly db: Knex) {}

  async create(displayName: string | null, trx: Knex = this.db): Promise<UserRecord> {
    const now = Date.now()
    const [row] = await trx('users').insert({ display_name: displayName, created_at: now, updated_at: now }).returning(['id', 'display_name'])
    return { id: row.id, displayName: row.display_name }
  }

  async get(id: number, trx: Knex = this.db): Promise<UserRecord | null> {
    const row = await trx('users').where({ id }).first('id', 'display_name')
    return row ? { id: row.id, displayName: row.display_name } : null
  }
}
