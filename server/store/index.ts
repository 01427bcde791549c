import type { Knex } from 'knex'
import type { RootKey } from '../crypto/keys.ts'
import { SecretBox } from '../crypto/secret-box.ts'
import { AccountStore } from './accounts.ts'
import { EndedSignInStore } from './ended-sign-ins.ts'
import { openDatabase, parseDatabaseUrl, migrate, refusePendingMigrations, type PoolOptions } from './database.ts'
import { LoginFlowStore } from './login-flows.ts'
import { LogoutTokenStore } from './logout-tokens.ts'
import { ProviderStore } from './providers.ts'
import { SessionStore } from './sessions.ts'
import { UserStore } from './users.ts'
import { storeCaches } from './read-cache.ts'

export interface Store {
  db: Knex
  box: SecretBox
  providers: ProviderStore
  users: UserStore
  accounts: AccountStore
  sessions: SessionStore
  loginFlows: LoginFlowStore
  logoutTokens: LogoutTokenStore
  endedSignIns: EndedSignInStore
  close(): Promise<void>
}

export interface StoreOptions {
  databaseUrl: string
  keys: RootKey[]
  pool?: PoolOptions
  cwd?: string
  /**
   * How long providers, sessions, accounts and users may be answered from memory (ms; 0: never).
   * Writes by other processes are seen after at most this long. The BFF uses DEFAULT_CACHE_MS.
   */
  cacheMs?: number
}

export function openStore({ databaseUrl, keys, pool, cwd, cacheMs = 0 }: StoreOptions): Store {
  const db = openDatabase(parseDatabaseUrl(databaseUrl, cwd), pool)
  return storeOn(db, new SecretBox(keys), cacheMs)
}

export function storeOn(db: Knex, box: SecretBox, cacheMs = 0): Store {
  const caches = storeCaches(cacheMs)
  return {
    db,
    box,
    providers: new ProviderStore(db, box, caches),
    users: new UserStore(db, caches),
    accounts: new AccountStore(db, box, caches),
    sessions: new SessionStore(db, caches),
    loginFlows: new LoginFlowStore(db, box),
    logoutTokens: new LogoutTokenStore(db),
    endedSignIns: new EndedSignInStore(db),
    close: () => db.destroy(),
  }
}

export { migrate, parseDatabaseUrl, refusePendingMigrations }
export { DEFAULT_CACHE_MS } from './read-cache.ts'
