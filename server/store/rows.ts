/** PostgreSQL returns BIGINT as a string; every epoch-millisecond column goes through here. */
export function toMillis(value: unknown): number {
  return typeof value === 'number' ? value : Number(value)
}

export function toMillisOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : toMillis(value)
}

/**
 * The rows a raw statement's RETURNING gave: the sqlite3 client answers them as a list, pg as a
 * result whose `rows` they are. (Knex's sqlite3 client drops returning() on update and delete, so
 * those statements are written out.)
 */
export function returnedRows<Row>(result: unknown): Row[] {
  return (Array.isArray(result) ? result : (result as { rows: Row[] }).rows) as Row[]
}
