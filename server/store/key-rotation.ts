import type { Knex } from 'knex'
import type { SecretBox } from '../crypto/secret-box.ts'

/** Every encrypted column, by table. The field name is also the value's authenticated data. */
export const ENCRYPTED_COLUMNS: Record<string, string[]> = {
  providers: ['client_id', 'client_secret'],
  accounts: ['access_token', 'token_secret', 'refresh_token', 'id_token'],
  login_flows: ['data'],
}

const KEY_COLUMN: Record<string, string> = { providers: 'id', accounts: 'id', login_flows: 'id_hash' }

/**
 * Re-encrypts every encrypted value with the first key, in one transaction: either every value
 * moves to the new key or none does. Returns how many values were rewritten.
 */
export async function rotateKeys(db: Knex, box: SecretBox): Promise<number> {
  return db.transaction(async (trx) => {
    // Lock before reading, so a token a running server stores meanwhile is neither overwritten with the
    // value read before it nor refused: PostgreSQL locks the rows read, SQLite takes its write lock first.
    if ((db.client as { dialect?: string }).dialect === 'sqlite3') await trx('providers').where('id', -1).update({ id: -1 })
    let rewritten = 0
    for (const [table, columns] of Object.entries(ENCRYPTED_COLUMNS)) {
      const key = KEY_COLUMN[table]
      const rows: Record<string, string | number | null>[] = await trx(table).select([key, ...columns]).forUpdate()
      for (const row of rows) {
        const changes: Record<string, string | null> = {}
        for (const column of columns) {
          const stored = row[column] as string | null
          if (stored === null || box.keyIdOf(stored) === box.currentKeyId) continue
          changes[column] = box.encrypt(`${table}.${column}`, box.decrypt(`${table}.${column}`, stored))
        }
        if (Object.keys(changes).length === 0) continue
        await trx(table).where(key, row[key] as string | number).update(changes)
        rewritten += Object.keys(changes).length
      }
    }
    return rewritten
  })
}
