import type { Knex } from 'knex'
import * as initial from './20261128_01_initial.ts'

// Listed explicitly rather than read from a folder, so they load the same from source and from dist.
const migrations: Record<string, Knex.Migration> = {
  '20261128_01_initial': initial,
}

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name],
}
