import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Knex } from 'knex'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openDatabase } from '../server/store/database.ts'

/** SQLite through the store's own Knex set-up, counting the statements the connection prepares. */
describe('SQLite statements kept prepared per connection', () => {
  let folder: string
  let db: Knex
  let prepares: string[]
  /** What each closing of a connection answered: SQLite refuses to close one with statements left. */
  let closings: (Error | null)[]

  const open = async () => {
    const knex = openDatabase({ kind: 'sqlite', location: join(folder, 'store.sqlite3') })
    // The pool's one connection, as the store's queries reach it.
    const connection = (await knex.client.acquireConnection()) as {
      prepare(sql: string, ...rest: unknown[]): unknown
      close(callback: (error: Error | null) => void): void
    }
    await knex.client.releaseConnection(connection)
    const prepare = connection.prepare.bind(connection)
    connection.prepare = (sql: string, ...rest: unknown[]) => {
      prepares.push(sql)
      return prepare(sql, ...rest)
    }
    const close = connection.close.bind(connection)
    connection.close = (callback) =>
      close((error) => {
        closings.push(error)
        callback(error)
      })
    return knex
  }

  beforeEach(async () => {
    folder = mkdtempSync(join(tmpdir(), 'aa-statements-'))
    prepares = []
    closings = []
    db = await open()
    await db.schema.createTable('items', (table) => {
      table.increments('id')
      table.string('name').notNullable().unique()
    })
  })

  afterEach(async () => {
    await db.destroy()
    rmSync(folder, { recursive: true, force: true })
  })

  const insert = (name: string, trx: Knex = db) => trx.raw('INSERT INTO items (name) VALUES (?) RETURNING id, name', [name])
  const byName = (name: string) => db('items').where({ name }).first()

  it('prepares a statement once and gives each use its own parameters and rows', async () => {
    for (const name of ['a', 'b', 'c']) await insert(name)
    expect(await Promise.all(['c', 'a', 'b', 'nobody'].map(byName))).toEqual([{ id: 3, name: 'c' }, { id: 1, name: 'a' }, { id: 2, name: 'b' }, undefined])
    expect(prepares.filter((sql) => sql.startsWith('INSERT INTO items'))).toHaveLength(1)
    expect(prepares.filter((sql) => sql.startsWith('select'))).toHaveLength(1)
  })

  it('answers a statement that cannot be prepared with SQLite error, and prepares it once it can', async () => {
    await expect(db('extras').select('*')).rejects.toThrow(/no such table: extras/)
    await expect(db('extras').select('*')).rejects.toThrow(/no such table: extras/)
    await db.schema.createTable('extras', (table) => table.string('note'))
    await db('extras').insert({ note: 'there' })
    expect(await db('extras').select('*')).toEqual([{ note: 'there' }])
  })

  it('answers a statement that fails while running with its error, and runs it again afterwards', async () => {
    expect((await insert('a'))).toEqual([{ id: 1, name: 'a' }])
    await expect(insert('a')).rejects.toThrow(/UNIQUE constraint failed: items.name/)
    expect(await insert('b')).toEqual([{ id: 2, name: 'b' }])
  })

  it('keeps transactions whole: a rolled-back one leaves nothing and holds nothing, and the next commits', async () => {
    await expect(
      db.transaction(async (trx) => {
        await insert('kept?', trx)
        await insert('kept?', trx)
      }),
    ).rejects.toThrow(/UNIQUE/)
    expect(await byName('kept?')).toBeUndefined()
    for (let round = 0; round < 3; round++) await db.transaction(async (trx) => void (await insert(`round ${round}`, trx)))
    expect((await db('items').count({ n: '*' }))[0].n).toBe(3)
    // Two uses of one statement at once inside a transaction, before it was ever prepared.
    const [first, second] = await db.transaction((trx) => Promise.all([trx.raw('SELECT name FROM items WHERE id = ?', [1]), trx.raw('SELECT name FROM items WHERE id = ?', [2])]))
    expect([first, second]).toEqual([[{ name: 'round 0' }], [{ name: 'round 1' }]])
  })

  it('reads a changed table through a statement prepared before the change', async () => {
    await insert('a')
    expect(await db.raw('SELECT * FROM items')).toEqual([{ id: 1, name: 'a' }])
    await db.schema.alterTable('items', (table) => table.string('colour'))
    expect(await db.raw('SELECT * FROM items')).toEqual([{ id: 1, name: 'a', colour: null }])
  })

  it('finalizes what it keeps before the connection closes, past its bound too, and the file opens again', async () => {
    for (let i = 0; i < 250; i++) await db.raw(`SELECT ${i} AS n FROM items`)
    await insert('a')
    await db.destroy()
    expect(closings).toEqual([null])
    db = await open()
    expect(await byName('a')).toEqual({ id: 1, name: 'a' })
  })
})
