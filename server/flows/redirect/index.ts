import compose from 'koa-compose'
import { redirectOnStartFailure } from '../failure-redirect.ts'
import { loadProvider } from '../load-provider.ts'
import { refuseCrossSiteSubrequests } from './cross-site-start.ts'
import { limitLoginStarts } from './login-rate-limit.ts'
import { readLoginOptions } from './read-login-options.ts'
import { redirectToProvider } from './redirect-to-provider.ts'
import { startFlow } from './start-flow.ts'

/** `GET /auth/login/:provider?next=/path&prompt=…&display=popup`: the redirect to the provider. */
export const loginRedirect = compose([redirectOnStartFailure, refuseCrossSiteSubrequests, readLoginOptions, loadProvider, limitLoginStarts, startFlow, redirectToProvider] as compose.Middleware<never>[])
