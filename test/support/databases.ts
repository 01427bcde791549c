import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import knexFactory from 'knex'

/**
 * The databases every integration test runs on: a fresh SQLite file always, and a fresh PostgreSQL
 * database when TEST_DATABASE_URL is set (CI sets it; locally the PostgreSQL runs are skipped with a
 * visible message).
 */
export interface TestDatabase {
  kind: 'sqlite' | 'postgres'
  /** A DATABASE_URL for a database no other test run sees. */
  create(): Promise<{ url: string; drop(): Promise<void> }>
}

const sqlite: TestDatabase = {
  kind: 'sqlite',
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'all-access-test-'))
    return { url: `sqlite://${join(dir, 'db.sqlite3')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) }
  },
}

function postgres(adminUrl: string): TestDatabase {
  return {
    kind: 'postgres',
    async create() {
      const name = `aa_test_${process.pid}_${randomBytes(6).toString('hex')}`
      const admin = knexFactory({ client: 'pg', connection: adminUrl, pool: { min: 0, max: 1 } })
      try {
        await admin.raw(`CREATE DATABASE ${name}`)
      } finally {
        await admin.destroy()
      }
      const url = new URL(adminUrl)
      url.pathname = `/${name}`
      return {
        url: url.toString(),
        async drop() {
          const admin = knexFactory({ client: 'pg', connection: adminUrl, pool: { min: 0, max: 1 } })
          try {
            await admin.raw(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
          } finally {
            await admin.destroy()
          }
        },
      }
    },
  }
}

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL

if (!TEST_DATABASE_URL && !(globalThis as { warnedNoPostgres?: boolean }).warnedNoPostgres) {
  ;(globalThis as { warnedNoPostgres?: boolean }).warnedNoPostgres = true
  console.warn('TEST_DATABASE_URL is not set: PostgreSQL tests are skipped (CI sets it: TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test)')
}

/** Use as `describe.each(databases)('... on $kind', (database) => …)`. */
export const databases: TestDatabase[] = TEST_DATABASE_URL ? [sqlite, postgres(TEST_DATABASE_URL)] : [sqlite]
