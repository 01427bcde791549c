export type AccountStatus = 'active' | 'reauth_required'

/** A linked provider identity as the SPA sees it: no tokens. */
export interface AccountSummary {
  provider: string
  identifier: string
  displayName: string | null
  status: AccountStatus
  /** ISO 8601 */
  connectedAt: string
}

export interface SessionUser {
  id: string
  displayName: string | null
}

/** The body of `GET /auth/session`. */
export type SessionInfo =
  | { authenticated: false }
  | {
      authenticated: true
      user: SessionUser
      accounts: AccountSummary[]
      /** ISO 8601: when the session ends unless it is used again (never later than its absolute end). */
      expiresAt: string
    }

/** The body of `POST /auth/logout?provider_logout=1` when the provider has a sign-out page to send the user to. */
export interface LogoutAnswer {
  logoutUrl: string
}
