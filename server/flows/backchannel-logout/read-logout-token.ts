import type { Next } from 'koa'
import { AllAccessError } from '../../errors.ts'
import type { LogoutContext } from './logout-state.ts'

/** Far more than a logout token (a signed JWT of a few claims) needs. */
const MAX_FORM_BYTES = 16 * 1024

/** §2.5: the token comes as the form field `logout_token` of a POST. */
export async function readLogoutToken(ctx: LogoutContext, next: Next): Promise<void> {
  const form = ctx.is('application/x-www-form-urlencoded') ? await readForm(ctx) : null
  const tokens = form?.getAll('logout_token') ?? []
  if (tokens.length !== 1 || !tokens[0]) throw new AllAccessError('invalid_request', { detail: 'logout token missing' })
  ctx.state.logout.logoutToken = tokens[0]
  await next()
}

async function readForm(ctx: LogoutContext): Promise<URLSearchParams | null> {
  if (Number(ctx.get('Content-Length') || 0) > MAX_FORM_BYTES) return null
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_FORM_BYTES) return null
    chunks.push(chunk)
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
}
