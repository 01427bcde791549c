import type { Next } from 'koa'
import { need, type LoginContext } from '../login-state.ts'

/** Refusal, state (or OAuth 1.0a token), RFC 9207 issuer and code, before any token request. */
export async function checkCallback(ctx: LoginContext, next: Next): Promise<void> {
  await need(ctx, 'client').checkCallback(callbackInput(ctx))
  await next()
}

export function callbackInput(ctx: LoginContext) {
  return { params: new URLSearchParams(ctx.querystring), flow: need(ctx, 'flow'), callbackUrl: need(ctx, 'callbackUrl') }
}
