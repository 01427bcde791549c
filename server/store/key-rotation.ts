import type { Knex } from 'knex'
import { KeyError } from '../crypto/keys.ts'
import type { SecretBox } from '../crypto/secret-box.ts'
import { isSqlite } from './database.ts'
import { ENCRYPTED_COLUMNS, encryptedField, type EncryptedColumn, type EncryptedTable } from './encrypted-columns.ts'
import { expiredFlows, pendingFlows } from './login-flows.ts'

/** The column that names a row of each table with encrypted columns. */
const KEY_COLUMN: Record<EncryptedTable, string> = { providers: 'id', accounts: 'id', login_flows: 'id_hash' }

/** The tables with encrypted columns, and those columns. */
const encryptedTables = () => Object.entries(ENCRYPTED_COLUMNS) as [EncryptedTable, readonly EncryptedColumn<EncryptedTable>[]][]

/**
 * Rows re-encrypted per transaction. Each transaction holds what a running server's writes wait for:
 * on SQLite its one write lock (5 s at most, then the write fails, and a refreshed, rotated refresh
 * token is lost), on PostgreSQL the rows' locks (every refresh and login of those accounts waits,
 * holding a pooled connection). One transaction over 40 000 accounts held them for 8 to 11 s.
 */
const BATCH_ROWS = 500
/**
 * The pause between two batches on SQLite. Its lock is not handed to whoever waited: a waiting writer
 * tries again every 100 ms at most, and without a pause longer than that the next batch took the lock
 * first, again and again (a server's write waited 3.9 s beside a rotation of 40 000 accounts).
 * PostgreSQL queues the waiters of a row lock.
 */
const SQLITE_BATCH_PAUSE_MS = 120

type Row = Record<string, string | number | null>

/** A row's key, what names it in errors, and its encrypted columns. */
function selected(table: EncryptedTable, columns: readonly string[]): string[] {
  return [KEY_COLUMN[table], ...(table === 'providers' ? ['name'] : []), ...columns]
}

/** How an error names a row, for an operator to find it (a login flow's key is only a hash). */
function rowName(table: EncryptedTable, row: Row): string {
  return table === 'providers' ? `provider ${row.name}` : table === 'accounts' ? `account ${row.id}` : 'a login flow'
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Re-encrypts every encrypted value with the first key, a few hundred rows per transaction. Returns
 * how many values were rewritten. Every value is decrypted first, so a value no key opens stops the
 * rotation before anything is written. A rotation cut short leaves values under both keys, which both
 * keys still read, and running it again finishes it.
 */
export async function rotateKeys(db: Knex, box: SecretBox): Promise<number> {
  // Login flows past their time are no one's: one under a key since dropped would stop the rotation.
  await expiredFlows(db, Date.now()).delete()
  // A batch at a time, as the rewrite reads them: read whole, 180 000 accounts held 300 MB, so a
  // database of a few hundred thousand accounts ran keys rotate out of a small container's memory.
  for (const [table, columns] of encryptedTables()) {
    await inBatches(table, async (after) => {
      const rows = await batchAfter(db, table, columns, after)
      for (const row of rows) {
        for (const column of columns) if (row[column] !== null) box.decrypt(encryptedField(table, column), row[column] as string, rowName(table, row))
      }
      return rows
    })
  }
  let rewritten = 0
  for (const [table, columns] of encryptedTables()) rewritten += await reencryptTable(db, table, columns, box)
  // Also after a rotation that found nothing to do: one interrupted before this point left copies.
  if (isSqlite(db)) await dropOldCopies(db)
  return rewritten
}

/**
 * Walks `table` in key order, a batch at a time: `batch` reads (and handles) the rows after the key
 * it is given, from the first when null, and answers them; a short batch is the last.
 */
async function inBatches(table: EncryptedTable, batch: (after: string | number | null) => Promise<Row[]>, pauseMs = 0): Promise<void> {
  let after: string | number | null = null
  for (;;) {
    const rows = await batch(after)
    if (rows.length < BATCH_ROWS) return
    after = rows[rows.length - 1][KEY_COLUMN[table]]
    if (pauseMs) await sleep(pauseMs)
  }
}

async function reencryptTable(db: Knex, table: EncryptedTable, columns: readonly EncryptedColumn<EncryptedTable>[], box: SecretBox): Promise<number> {
  let rewritten = 0
  await inBatches(table, async (after) => {
    const { rows, count } = await withDeadlockRetries(() =>
      db.transaction(async (trx) => {
        // Lock before reading, so a token a running server stores meanwhile is neither overwritten with
        // the value read before it nor refused: SQLite takes its write lock first, PostgreSQL locks the
        // rows read. FOR NO KEY UPDATE, the lock the rewrite takes anyway: FOR UPDATE would also stop
        // every row that names a provider (a login flow, a new account), and deadlock a login that
        // replaces an account the rotation waits for.
        if (isSqlite(db)) await trx('providers').where('id', -1).update({ id: -1 })
        const batch = await batchAfter(trx, table, columns, after, true)
        return { rows: batch, count: await rewrite(trx, table, columns, batch, box) }
      }),
    )
    rewritten += count
    return rows
  }, isSqlite(db) ? SQLITE_BATCH_PAUSE_MS : 0)
  return rewritten
}

/** PostgreSQL's codes for a transaction it cancelled to break a deadlock, or to keep transactions serial. */
const CANCELLED_TO_RESOLVE = new Set(['40P01', '40001'])

/**
 * A batch again when PostgreSQL cancelled it to break a deadlock. The expired-flow purge deletes
 * login flows in its scan's order while a batch locks them in key order: PostgreSQL cancels one of
 * the two, and a rotation it cancelled ended with a stack trace, to be run again by hand. A batch
 * is whole or nothing, so running it again is safe.
 */
async function withDeadlockRetries<T>(batch: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await batch()
    } catch (error) {
      if (attempt === 3 || !CANCELLED_TO_RESOLVE.has((error as { code?: string }).code ?? '')) throw error
    }
  }
}

/** The next BATCH_ROWS rows of `table` after the key `after` (from the first when null), in key order. */
function batchAfter(db: Knex, table: EncryptedTable, columns: readonly string[], after: string | number | null, lock = false): Promise<Row[]> {
  const key = KEY_COLUMN[table]
  return db(table)
    .select(selected(table, columns))
    .modify((q) => (after === null ? q : q.where(key, '>', after)))
    .modify((q) => (lock ? q.forNoKeyUpdate() : q))
    .orderBy(key)
    .limit(BATCH_ROWS)
}

async function rewrite(trx: Knex.Transaction, table: EncryptedTable, columns: readonly EncryptedColumn<EncryptedTable>[], rows: Row[], box: SecretBox): Promise<number> {
  let rewritten = 0
  for (const row of rows) {
    const changes = reencrypted(table, columns, row, box)
    if (Object.keys(changes).length === 0) continue
    await trx(table).where(KEY_COLUMN[table], row[KEY_COLUMN[table]] as string | number).update(changes)
    rewritten += Object.keys(changes).length
  }
  return rewritten
}

/** The row's values not yet under the first key, decrypted and encrypted again. */
function reencrypted(table: EncryptedTable, columns: readonly EncryptedColumn<EncryptedTable>[], row: Row, box: SecretBox): Record<string, string | null> {
  const changes: Record<string, string | null> = {}
  for (const column of columns) {
    const stored = row[column] as string | null
    if (stored === null || box.keyIdOf(stored) === box.currentKeyId) continue
    const field = encryptedField(table, column)
    changes[column] = box.encrypt(field, box.decrypt(field, stored, rowName(table, row)))
  }
  return changes
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
/** Whether a column's value has that form: only then are its characters 5 to 12 a key id. */
const encryptedForm = (column: string) => `(substr(${column}, 1, 4) = 'aa1.' and substr(${column}, 13, 1) = '.')`

/**
 * The rows of `table` whose secrets can still be read for use: not a login flow past its time, which
 * no callback takes and the purge deletes. Counted, one encrypted with a key since dropped kept
 * `serve` from starting, and so from the purge that would delete it.
 */
const inUse = (db: Knex, table: EncryptedTable) => (table === 'login_flows' ? pendingFlows(db, Date.now()) : db(table))

/** What of the stored secrets `box` cannot read: the key ids it lacks, and the columns holding values in clear. */
export interface UnreadableSecrets {
  /** Key ids stored values use that `box` lacks, in sorted order. */
  missing: string[]
  /**
   * Encrypted columns (`table.column`) holding a value not of the encrypted form: set by hand in
   * clear, or damaged. Its characters are never taken for a key id, as they may be a secret's own.
   */
  clear: string[]
}

/**
 * Finds what of the stored secrets `box` cannot read. Each column is probed once for a value of
 * either kind (every start of `serve` does this, and a probe that finds nothing reads the whole
 * table), and only a column where one is found is read again to tell which.
 */
export async function unreadableSecrets(db: Knex, box: SecretBox): Promise<UnreadableSecrets> {
  const known = box.keys.map((key) => key.id)
  const missing = new Set<string>()
  const clear: string[] = []
  for (const [table, columns] of encryptedTables()) {
    for (const column of columns) {
      const inClear = `not ${encryptedForm(column)}`
      const otherKey = [`${keyIdOfColumn(column)} not in (${known.map(() => '?').join(', ')})`, known] as const
      const values = () => inUse(db, table).whereNotNull(column)
      const odd = await values().first(db.raw('1 as found')).where((q) => q.whereRaw(inClear).orWhereRaw(...otherKey))
      if (!odd) continue
      if (await values().first(db.raw('1 as found')).whereRaw(inClear)) clear.push(encryptedField(table, column))
      const rows: { id: string }[] = await values().distinct(db.raw(`${keyIdOfColumn(column)} as id`)).whereRaw(encryptedForm(column)).whereRaw(...otherKey)
      for (const row of rows) missing.add(row.id)
    }
  }
  return { missing: [...missing].sort(), clear }
}

/** Refuses to run with keys that cannot decrypt what is stored: every request would fail later. */
export async function checkKeysCoverStore(db: Knex, box: SecretBox): Promise<void> {
  const { missing, clear } = await unreadableSecrets(db, box)
  if (clear.length) {
    // Named by column, never quoted: such a value may be a token or client secret written in clear.
    throw new KeyError(
      `stored secrets in ${clear.join(', ')} are not all-access encrypted values (written in clear, or damaged): set them again with all-access providers update, or delete those rows`,
    )
  }
  if (missing.length) {
    throw new KeyError(
      // Not "list the old key after the new one": after a rotation the key missing may be the new one.
      `ALLACCESS_KEYS lacks key id${missing.length > 1 ? 's' : ''} ${missing.join(', ')} used by stored secrets (the ids of its keys: ${box.keys.map((k) => k.id).join(', ')}): add the key${missing.length > 1 ? 's' : ''} with ${missing.length > 1 ? 'those ids' : 'that id'}, or use the same ALLACCESS_KEYS as the process that stored them`,
    )
  }
}
