import compose from 'koa-compose'
import { redirectOnFailure } from '../failure-redirect.ts'
import { loadProvider } from '../load-provider.ts'
import { checkCallback } from './check-callback.ts'
import { consumeFlow } from './consume-flow.ts'
import { exchangeCode } from './exchange-code.ts'
import { finishLogin } from './finish-login.ts'
import { linkAccount } from './link-account.ts'
import { loadProfile } from './load-profile.ts'
import { readIdentifier } from './read-identifier.ts'
import { restoreSession } from './restore-session.ts'

/** `GET /auth/callback/:provider`: the provider's answer, step by step (django-all-access's OAuthCallback). */
export const loginCallback = compose([
  redirectOnFailure,
  loadProvider,
  consumeFlow,
  restoreSession,
  checkCallback,
  exchangeCode,
  loadProfile,
  readIdentifier,
  linkAccount,
  finishLogin,
] as compose.Middleware<never>[])
