import type { LogoutTokenClaims, OidcClient } from '../../clients/oidc.ts'
import type { BffContext } from '../../runtime.ts'
import type { ProviderRecord } from '../../store/providers.ts'

/** What the steps of the back-channel logout hand each other, filled in as they pass. */
export interface LogoutState {
  provider: ProviderRecord
  client: OidcClient
  logoutToken: string
  claims: LogoutTokenClaims
}

export type LogoutContext = BffContext<{ logout: Partial<LogoutState> }>

/** Reads a field a previous step must have set; a missing one is a wiring mistake, not input. */
export function need<K extends keyof LogoutState>(ctx: LogoutContext, key: K): LogoutState[K] {
  const value = ctx.state.logout[key]
  if (value === undefined) throw new TypeError(`back-channel logout step ran before ${key} was set`)
  return value as LogoutState[K]
}
