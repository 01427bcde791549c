/** What this module needs of a node-sqlite3 statement. */
interface Statement {
  all(params: unknown[], callback: (this: unknown, error: Error | null, rows: unknown[]) => void): void
  finalize(callback: () => void): void
}

/** What this module needs of a node-sqlite3 connection (a `Database`). */
export interface SqliteConnection {
  all(sql: string, params: unknown[], callback: (this: unknown, error: Error | null, rows: unknown[]) => void): void
  prepare(sql: string, callback: (error: Error | null) => void): Statement
  close(callback: (error: Error | null) => void): void
}

/** Enough for every statement the store writes; ad-hoc SQL (migrations, a long IN list) pushes out the oldest. */
const STATEMENTS_PER_CONNECTION = 200

/**
 * node-sqlite3 prepares and finalizes a statement on every call: half the CPU time of the simple
 * statements a login runs (a flow taken, BEGIN, an account renewed, COMMIT). The connection keeps
 * the statements Knex runs through `all` prepared, by their SQL. `all` always runs a statement to
 * its end, so a kept statement holds no lock between uses; Knex's `run` (writes whose row count it
 * reads) prepares anew as before. A statement that fails to prepare, or fails while running, is not
 * kept, and SQLite's own error reaches Knex either way. Kept statements are finalized before the
 * connection closes, which SQLite refuses otherwise.
 */
export function keepStatementsPrepared(connection: SqliteConnection): SqliteConnection {
  const prepared = new Map<string, Statement>()
  const all = connection.all.bind(connection)
  const close = connection.close.bind(connection)

  const forget = (sql: string, statement: Statement) => {
    if (prepared.get(sql) !== statement) return
    prepared.delete(sql)
    statement.finalize(() => {})
  }

  const runPrepared = (sql: string, statement: Statement, params: unknown[], callback: Parameters<SqliteConnection['all']>[2]) => {
    statement.all(params, function (error, rows) {
      if (error) forget(sql, statement)
      callback.call(this, error, rows)
    })
  }

  connection.all = (sql, params, callback) => {
    const kept = prepared.get(sql)
    if (kept) return runPrepared(sql, kept, params, callback)
    const statement = connection.prepare(sql, (error) => {
      // A statement that did not prepare never answers: the ordinary call gives SQLite's error.
      if (error) return all(sql, params, callback)
      if (prepared.has(sql)) {
        // Prepared twice at once: this one serves its call and goes.
        return statement.all(params, function (failure, rows) {
          statement.finalize(() => callback.call(this, failure, rows))
        })
      }
      prepared.set(sql, statement)
      if (prepared.size > STATEMENTS_PER_CONNECTION) {
        const [oldestSql, oldest] = prepared.entries().next().value as [string, Statement]
        forget(oldestSql, oldest)
      }
      runPrepared(sql, statement, params, callback)
    })
  }

  connection.close = (callback) => {
    const statements = [...prepared.values()]
    prepared.clear()
    let pending = statements.length
    if (pending === 0) return close(callback)
    for (const statement of statements) statement.finalize(() => --pending === 0 && close(callback))
  }
  return connection
}
