import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import knexFactory, { type Knex } from 'knex'
import { randomToken } from '../server/crypto/random.ts'
import { SESSION_COOKIE } from '../server/session/cookies.ts'
import { migrate, openStore } from '../server/store/index.ts'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases, TEST_DATABASE_URL } from './support/databases.ts'

const postgres = databases.find((d) => d.kind === 'postgres')

/**
 * A PostgreSQL that refuses new connections ("too many connections", 53300: every slot taken, as
 * when instances together open more than max_connections) is a database the BFF cannot reach now.
 */
describe.skipIf(!TEST_DATABASE_URL)('a BFF whose PostgreSQL refuses new connections', () => {
  const role = `aa_limited_${randomBytes(4).toString('hex')}`
  let admin: Knex
  let drop: () => Promise<void>
  let bff: TestBff

  beforeAll(async () => {
    const created = await postgres!.create()
    drop = created.drop
    const keys = generateKey()
    const owner = openStore({ databaseUrl: created.url, keys: parseKeys(keys) })
    await migrate(owner.db)
    await owner.close()
    admin = knexFactory({ client: 'pg', connection: created.url, pool: { min: 0, max: 1 } })
    await admin.raw(`CREATE ROLE ${role} LOGIN`)
    await admin.raw(`GRANT ALL ON ALL TABLES IN SCHEMA public TO ${role}`)
    await admin.raw(`GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${role}`)
    const url = new URL(created.url)
    url.username = role
    bff = await startBff(url.toString(), { keys, migrate: false })
  })

  afterAll(async () => {
    await bff?.close()
    await admin?.raw(`DROP OWNED BY ${role}`).catch(() => {})
    await admin?.raw(`DROP ROLE IF EXISTS ${role}`).catch(() => {})
    await admin?.destroy()
    await drop?.()
  })

  it('answers 503 service_unavailable, with no stack in the log', async () => {
    await admin.raw(`ALTER ROLE ${role} CONNECTION LIMIT 0`)
    await admin.raw('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ?', [role])
    // A new session id each time: the read goes to the database, never to memory.
    const answer = await fetch(new URL('/auth/session', bff.url), { headers: { 'X-CSRF': '1', cookie: `${SESSION_COOKIE}=${randomToken()}` } })
    expect(answer.status).toBe(503)
    expect(await answer.json()).toEqual({ error: 'service_unavailable', message: expect.any(String) })
    expect(bff.logs.join('\n')).not.toMatch(/server_error|at .*\.[jt]s:\d+/)
  })
})
