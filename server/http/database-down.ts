import knex from 'knex'

/** PostgreSQL's "database does not exist": the server answers, the database is not there. */
export const DATABASE_MISSING = '3D000'

/** PostgreSQL's "invalid authorization specification" (a role it does not know, no user name) and "invalid password". */
export const DATABASE_LOGIN_REFUSED: readonly string[] = ['28000', '28P01']

/**
 * pg's own refusal to go on with SCRAM (PostgreSQL 14 and later by default) when it has no password
 * to answer with: DATABASE_URL gives none, nor do PGPASSWORD or ~/.pgpass.
 */
export function isDatabasePasswordMissing(error: unknown): boolean {
  return error instanceof Error && /^SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a (?:non-empty )?string$/.test(error.message)
}

/**
 * What PostgreSQL itself refused, in its own words and code, or null: a role without a privilege
 * (PostgreSQL 15 and later let only the database's owner create tables in `public`), a read-only
 * replica, a bad `options` setting in the URL. Knex puts the statement before the words, and " - ".
 */
export function databaseRefusal(error: unknown): string | null {
  const { severity, code } = (error ?? {}) as { severity?: unknown; code?: unknown }
  if (!(error instanceof Error) || typeof severity !== 'string' || typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return null
  const line = error.message.split('\n')[0]
  const statementEnd = line.lastIndexOf(' - ')
  return `${statementEnd === -1 ? line : line.slice(statementEnd + 3)} (${code})`
}

/**
 * Network failures, PostgreSQL's "cannot connect now" and "connection failure" classes, and its
 * "too many connections" (53300: every slot taken, as when instances together pass max_connections).
 */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', '57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08006', 'SQLITE_BUSY', 'SQLITE_CANTOPEN', 'SQLITE_IOERR'])

/**
 * TLS to the database refused by its certificate: one the URL's sslmode does not trust (self-signed,
 * an unknown authority without `sslrootcert`), expired, or for another name. No connection can be
 * made, as when the server is away: the settings' or the server's fault to name, not a bug.
 */
const TLS_REFUSED_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/** True for errors meaning the database cannot be reached right now, as opposed to a bug. */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  if (error instanceof knex.KnexTimeoutError) return true
  const { code } = error as { code?: string }
  if (code && (UNAVAILABLE_CODES.has(code) || TLS_REFUSED_CODES.has(code))) return true
  if (error.cause !== undefined && isDatabaseUnavailable(error.cause)) return true
  // The one exception to "by code": pg ends the queries of a connection that dropped, and refuses a
  // server that will not speak TLS when the URL's sslmode asks for it, with a plain Error that has
  // no code, only these words, which Knex puts after the query's SQL and " - ".
  return Object.getPrototypeOf(error) === Error.prototype && PG_CONNECTION_LOST.test(error.message)
}

const PG_CONNECTION_LOST = /(?:^|\s-\s)(?:Connection terminated|Client has encountered a connection error and is not queryable|The server does not support SSL connections|There was an error establishing an SSL connection)/
