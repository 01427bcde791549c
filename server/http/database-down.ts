/** True for errors meaning the database cannot be reached right now, as opposed to a bug. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { name?: string; code?: string; message?: string; errno?: number }
  if (!e || typeof e !== 'object') return false
  if (e.name === 'KnexTimeoutError') return true
  const codes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006', 'SQLITE_BUSY', 'SQLITE_CANTOPEN', 'SQLITE_IOERR'])
  if (e.code && codes.has(e.code)) return true
  return /Connection terminated|connect ECONNREFUSED|Client has encountered a connection error|the database system is (starting up|shutting down)/i.test(e.message ?? '')
}
