import type { Next } from 'koa'
import { need, type LoginContext } from '../login-state.ts'

/** Refusal, state (or OAuth 1.0a token), RFC 9207 issuer and code, before any token request. */
export async function checkCallback(ctx: LoginContext, next: Next): Promise<void> {
  await need(ctx, 'client').checkCallback(callbackInput(ctx))
  await next()
}

export function callbackInput(ctx: LoginContext) {
  return { params: singleParams(ctx.querystring), flow: need(ctx, 'flow'), callbackUrl: need(ctx, 'callbackUrl') }
}

/**
 * The callback's query with each parameter once. RFC 6749 §3.1 allows none twice; a repeated one
 * (`state`, `code`, `iss`, `oauth_token`, …) reads as one empty value, which every check refuses
 * (`invalid_state`, `missing_code`, `issuer_mismatch`), rather than as whichever copy a client's
 * `get` takes: a copy added by whoever passed the redirect on must not be the one checked while
 * another is used. Done here, for every client, a custom one included.
 */
function singleParams(query: string): URLSearchParams {
  const params = new URLSearchParams(query)
  for (const name of new Set(params.keys())) if (params.getAll(name).length > 1) params.set(name, '')
  return params
}
