import type { Knex } from 'knex'
import * as initial from './20261128_01_initial.ts'
import * as providerCapabilities from './20261129_01_provider_capabilities.ts'
import * as sessionLogout from './20261201_01_session_logout.ts'
import * as accountSubject from './20261202_01_account_subject.ts'

// Listed explicitly rather than read from a folder, so they load the same from source and from dist.
const migrations: Record<string, Knex.Migration> = {
  '20261128_01_initial': initial,
  '20261129_01_provider_capabilities': providerCapabilities,
  '20261201_01_session_logout': sessionLogout,
  '20261202_01_account_subject': accountSubject,
}

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name],
}
