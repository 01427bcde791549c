import type { Next } from 'koa'
import { AllAccessError } from '../../errors.ts'
import { readForm } from '../../http/read-form.ts'
import type { LogoutContext } from './logout-state.ts'

/** Far more than a logout token (a signed JWT of a few claims) needs. */
const MAX_FORM_BYTES = 16 * 1024

/** §2.5: the token comes as the form field `logout_token` of a POST. */
export async function readLogoutToken(ctx: LogoutContext, next: Next): Promise<void> {
  const form = await readForm(ctx, MAX_FORM_BYTES)
  const tokens = form?.getAll('logout_token') ?? []
  if (tokens.length !== 1 || !tokens[0]) throw new AllAccessError('invalid_request', { detail: 'logout token missing' })
  ctx.state.logout.logoutToken = tokens[0]
  await next()
}
