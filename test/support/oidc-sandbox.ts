import type { Context, Next } from 'koa'
import type Provider from 'oidc-provider'
import { REVOCATION_PATH, startOidcSandbox as startPlainSandbox, type OidcSandboxOptions, type RunningOidcSandbox as PlainSandbox } from '../../server/sandbox/oidc-provider.ts'

export { DEMO_USERS, type OidcSandboxClient } from '../../server/sandbox/oidc-provider.ts'

/** Counters the tests read to prove what reached the provider. */
export interface OidcSandboxStats {
  refreshGrants: number
  refreshFailures: number
  authorizationCodeGrants: number
  /** Revocation requests answered 200 (RFC 7009 answers 200 for unknown tokens too). */
  revocations: number
  /** Every request under `/api`, accepted or not. */
  apiCalls: number
}

export interface RunningOidcSandbox extends PlainSandbox {
  stats: OidcSandboxStats
  /**
   * Holds every token request for `ms` before answering (0 ends it); a request whose client hung
   * up meanwhile is dropped unprocessed, as if it never arrived (tests of a BFF dying mid-refresh).
   */
  stallTokenRequests(ms: number): void
}

/** The demo's OpenID provider with the counters and the stall only tests need, kept out of the product. */
export async function startOidcSandbox(options: OidcSandboxOptions): Promise<RunningOidcSandbox> {
  const stats: OidcSandboxStats = { refreshGrants: 0, refreshFailures: 0, authorizationCodeGrants: 0, revocations: 0, apiCalls: 0 }
  const stall = { ms: 0 }
  const instrument = (provider: Provider) => {
    provider.on('grant.success', (ctx) => {
      const grantType = ctx.oidc.params?.grant_type
      if (grantType === 'refresh_token') stats.refreshGrants++
      if (grantType === 'authorization_code') stats.authorizationCodeGrants++
    })
    provider.on('grant.error', (ctx) => {
      if (ctx.oidc?.params?.grant_type === 'refresh_token') stats.refreshFailures++
    })
    provider.use(async (ctx: Context, next: Next) => {
      if (ctx.path === '/api' || ctx.path.startsWith('/api/')) stats.apiCalls++
      if (ctx.path === '/token' && stall.ms > 0) {
        const until = Date.now() + stall.ms
        while (Date.now() < until && stall.ms > 0 && !ctx.req.destroyed) await new Promise((resolve) => setTimeout(resolve, 20))
        if (ctx.req.destroyed || ctx.req.socket.destroyed) {
          ctx.respond = false
          return
        }
      }
      await next()
      if (ctx.method === 'POST' && ctx.path === REVOCATION_PATH && ctx.status === 200) stats.revocations++
    })
    options.instrument?.(provider)
  }
  const sandbox = await startPlainSandbox({ ...options, instrument })
  return {
    ...sandbox,
    stats,
    stallTokenRequests(ms) {
      stall.ms = ms
    },
  }
}
