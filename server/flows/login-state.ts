import type { LoginPrompt } from '../../shared/routes.ts'
import type { BaseOAuthClient } from '../clients/base.ts'
import type { ParsedToken, Profile } from '../clients/types.ts'
import type { AccountAccess } from '../accounts/account-access.ts'
import type { BffContext } from '../runtime.ts'
import type { LoginFlow, Room } from '../store/login-flows.ts'
import type { ProviderRecord } from '../store/providers.ts'
import type { UserRecord } from '../store/users.ts'

/** What the steps of the redirect and callback flows hand each other, filled in as they pass. */
export interface LoginState {
  provider: ProviderRecord
  client: BaseOAuthClient
  callbackUrl: string
  next: string
  flow: LoginFlow
  /** The provider's authorization URL this login sends the browser to. */
  redirectUrl: string
  token: ParsedToken
  profile: Profile
  identifier: string
  user: UserRecord
  account: AccountAccess
  isNew: boolean
  /** Who started the login (`clientKey` of its address): its pending login is counted against it. */
  startedBy: string
  /** At the pending-login cap: whose oldest pending login this start takes once its flow is ready. */
  room: Room
  /** Started with `display=popup`: the callback ends in a page that posts the result to its opener. */
  popup: boolean
  /** The `prompt` asked for, passed to OAuth 2.0 / OIDC providers. */
  prompt: LoginPrompt
  /** When the callback took its flow (this instance's clock): a login with a `sid` is stored within LOGIN_STORE_LIMIT_MS of it. */
  flowTakenAt: number
}

export type LoginContext = BffContext<{ login: Partial<LoginState> }>

/** Reads a field a previous step must have set; a missing one is a wiring mistake, not user input. */
export function need<K extends keyof LoginState>(ctx: LoginContext, key: K): LoginState[K] {
  const value = ctx.state.login[key]
  if (value === undefined) throw new TypeError(`login flow step ran before ${key} was set`)
  return value as LoginState[K]
}
