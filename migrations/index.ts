import type { Knex } from 'knex'
import * as initial from './20261128_01_initial.ts'
import * as providerCapabilities from './20261129_01_provider_capabilities.ts'
import * as sessionLogout from './20261201_01_session_logout.ts'
import * as accountSubject from './20261202_01_account_subject.ts'
import * as loginFlowClient from './20261203_01_login_flow_client.ts'
import * as sessionSignIns from './20261204_01_session_sign_ins.ts'
import * as endedSignIns from './20261205_01_ended_sign_ins.ts'
import * as endedSubjects from './20261206_01_ended_subjects.ts'
import * as sessionSuccessors from './20261207_01_session_successors.ts'

// Listed explicitly rather than read from a folder, so they load the same from source and from dist.
const migrations: Record<string, Knex.Migration> = {
  '20261128_01_initial': initial,
  '20261129_01_provider_capabilities': providerCapabilities,
  '20261201_01_session_logout': sessionLogout,
  '20261202_01_account_subject': accountSubject,
  '20261203_01_login_flow_client': loginFlowClient,
  '20261204_01_session_sign_ins': sessionSignIns,
  '20261205_01_ended_sign_ins': endedSignIns,
  '20261206_01_ended_subjects': endedSubjects,
  '20261207_01_session_successors': sessionSuccessors,
}

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name],
}

/**
 * Every table the migrations create. A database none of them ran on that already holds one of these
 * belongs to another application: `migrate` refuses it rather than fail halfway on its `users`.
 */
export const migratedTables = ['providers', 'users', 'accounts', 'sessions', 'login_flows', 'logout_tokens', 'session_sign_ins', 'ended_sign_ins', 'ended_subjects']
