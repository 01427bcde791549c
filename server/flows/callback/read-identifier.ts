import type { Next } from 'koa'
import { AllAccessError } from '../../errors.ts'
import { hookAnswerInWords } from '../../hooks.ts'
import { need, type LoginContext } from '../login-state.ts'

/** The identifier column's width: a longer one is refused, never cut (two identities must not collide). */
const MAX_IDENTIFIER_LENGTH = 255

export async function readIdentifier(ctx: LoginContext, next: Next): Promise<void> {
  const identifier: unknown = await ctx.state.runtime.hooks.getUserId({ provider: need(ctx, 'provider'), profile: need(ctx, 'profile') })
  if (identifier === null || (typeof identifier !== 'object' && !identifier)) throw new AllAccessError('missing_identifier')
  // A host's hook may hand back what it found in the profile as it is. As text an object is
  // "[object Object]", and a number past 2^53 the id JSON.parse rounded it onto: every such profile
  // would be one identity, signed in as whoever came first.
  if (typeof identifier !== 'string' && !(typeof identifier === 'number' && Number.isSafeInteger(identifier))) {
    throw new AllAccessError('missing_identifier', { detail: `the getUserId hook returned ${hookAnswerInWords(identifier)}, not a string (nor a whole number up to 2^53)` })
  }
  const text = String(identifier)
  if (text.length > MAX_IDENTIFIER_LENGTH) throw new AllAccessError('missing_identifier', { detail: `identifier of ${text.length} characters` })
  // PostgreSQL's text cannot hold U+0000: the login would fail as a server error there, and only there.
  if (text.includes('\u0000')) throw new AllAccessError('missing_identifier', { detail: 'identifier with a NUL character' })
  // Both drivers write a lone surrogate (JSON's `"\ud800"`) as U+FFFD: kept, it would be the
  // identifier of the identity whose id holds U+FFFD there, and sign in as that user.
  if (/\p{Cs}/u.test(text)) throw new AllAccessError('missing_identifier', { detail: 'identifier with a lone surrogate' })
  ctx.state.login.identifier = text
  await next()
}
