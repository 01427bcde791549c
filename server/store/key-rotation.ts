import type { Knex } from 'knex'
import { KeyError } from '../crypto/keys.ts'
import type { SecretBox } from '../crypto/secret-box.ts'
import { isSqlite } from './database.ts'
import { ENCRYPTED_COLUMNS, encryptedField, type EncryptedColumn, type EncryptedTable } from './encrypted-columns.ts'

/** The column that names a row of each table with encrypted columns. */
const KEY_COLUMN: Record<EncryptedTable, string> = { providers: 'id', accounts: 'id', login_flows: 'id_hash' }

/** The tables with encrypted columns, and those columns. */
const encryptedTables = () => Object.entries(ENCRYPTED_COLUMNS) as [EncryptedTable, readonly EncryptedColumn<EncryptedTable>[]][]

/**
 * Re-encrypts every encrypted value with the first key, in one transaction: either every value
 * moves to the new key or none does. Returns how many values were rewritten.
 */
export async function rotateKeys(db: Knex, box: SecretBox): Promise<number> {
  const rewritten = await reencrypt(db, box)
  // Also after a rotation that found nothing to do: one interrupted before this point left copies.
  if (isSqlite(db)) await dropOldCopies(db)
  return rewritten
}

function reencrypt(db: Knex, box: SecretBox): Promise<number> {
  return db.transaction(async (trx) => {
    // Lock before reading, so a token a running server stores meanwhile is neither overwritten with the
    // value read before it nor refused: PostgreSQL locks the rows read, SQLite takes its write lock first.
    if (isSqlite(db)) await trx('providers').where('id', -1).update({ id: -1 })
    let rewritten = 0
    for (const [table, columns] of encryptedTables()) {
      const key = KEY_COLUMN[table]
      // FOR NO KEY UPDATE, the lock the rewrite takes anyway: FOR UPDATE would also stop every row that
      // names a provider (a login flow, a new account) until the rotation ends, and deadlock a login
      // that replaces an account the rotation waits for.
      const rows: Record<string, string | number | null>[] = await trx(table).select([key, ...columns]).forNoKeyUpdate()
      for (const row of rows) {
        const changes: Record<string, string | null> = {}
        for (const column of columns) {
          const stored = row[column] as string | null
          if (stored === null || box.keyIdOf(stored) === box.currentKeyId) continue
          const field = encryptedField(table, column)
          changes[column] = box.encrypt(field, box.decrypt(field, stored))
        }
        if (Object.keys(changes).length === 0) continue
        await trx(table).where(key, row[key] as string | number).update(changes)
        rewritten += Object.keys(changes).length
      }
    }
    return rewritten
  })
}

/**
 * SQLite keeps what it rewrites: the rewritten pages' former images stay in its write-ahead log, and
 * the free space that splits and updates leave inside pages keeps earlier values. The file then held
 * every secret a second time under the old key, for whoever later reads it with the retired (maybe
 * leaked) key. VACUUM rewrites the file from its live rows; the checkpoint empties the log, once the
 * readers of other connections (running servers) have moved on to the new pages.
 */
async function dropOldCopies(db: Knex): Promise<void> {
  await db.raw('VACUUM')
  // Each attempt waits out the busy timeout; a running server's steady writes may take a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const [checkpoint] = (await db.raw('PRAGMA wal_checkpoint(TRUNCATE)')) as { busy: number }[]
    if (!checkpoint?.busy) return
  }
  throw Object.assign(new Error('every value now uses the new key, but readers kept the SQLite log holding their old copies: run keys rotate again'), { code: 'SQLITE_BUSY' })
}

/** Stored values read `aa1.<key id>.…` with an 8-character key id (see SecretBox). */
const keyIdOfColumn = (column: string) => `substr(${column}, 5, 8)`

/**
 * The key ids stored secrets use that `box` lacks, in sorted order. Each column is searched for a
 * value outside the known ids first, so a database whose keys are all present costs one probe each.
 */
export async function missingKeyIds(db: Knex, box: SecretBox): Promise<string[]> {
  const known = box.keys.map((key) => key.id)
  const missing = new Set<string>()
  for (const [table, columns] of encryptedTables()) {
    for (const column of columns) {
      const outside = (q: Knex.QueryBuilder) => q.whereNotNull(column).whereRaw(`${keyIdOfColumn(column)} not in (${known.map(() => '?').join(', ')})`, known)
      if (!(await outside(db(table).first(db.raw('1 as found'))))) continue
      const rows: { id: string }[] = await outside(db(table).distinct(db.raw(`${keyIdOfColumn(column)} as id`)))
      for (const row of rows) missing.add(row.id)
    }
  }
  return [...missing].sort()
}

/** Refuses to run with keys that cannot decrypt what is stored: every request would fail later. */
export async function checkKeysCoverStore(db: Knex, box: SecretBox): Promise<void> {
  const missing = await missingKeyIds(db, box)
  if (missing.length) {
    throw new KeyError(
      `ALLACCESS_KEYS lacks key id${missing.length > 1 ? 's' : ''} ${missing.join(', ')} used by stored secrets (keys in use: ${box.keys.map((k) => k.id).join(', ')}): list the old key after the new one, or use the same ALLACCESS_KEYS as the process that stored them`,
    )
  }
}
