import type { Knex } from 'knex'
import type { RootKey } from '../crypto/keys.ts'
import { SecretBox } from '../crypto/secret-box.ts'
import { AccountStore } from './accounts.ts'
import { openDatabase, parseDatabaseUrl, migrate, type PoolOptions } from './database.ts'
import { LoginFlowStore } from './login-flows.ts'
import { ProviderStore } from './providers.ts'
import { SessionStore } from './sessions.ts'
import { UserStore } from './users.ts'

export interface Store {
  db: Knex
  box: SecretBox
  providers: ProviderStore
  users: UserStore
  accounts: AccountStore
  sessions: SessionStore
  loginFlows: LoginFlowStore
  close(): Promise<void>
}

export interface StoreOptions {
  databaseUrl: string
  keys: RootKey[]
  pool?: PoolOptions
  cwd?: string
}

export function openStore({ databaseUrl, keys, pool, cwd }: StoreOptions): Store {
  const db = openDatabase(parseDatabaseUrl(databaseUrl, cwd), pool)
  return storeOn(db, new SecretBox(keys))
}

export function storeOn(db: Knex, box: SecretBox): Store {
  return {
    db,
    box,
    providers: new ProviderStore(db, box),
    users: new UserStore(db),
    accounts: new AccountStore(db, box),
    sessions: new SessionStore(db),
    loginFlows: new LoginFlowStore(db, box),
    close: () => db.destroy(),
  }
}

export { migrate, parseDatabaseUrl }
