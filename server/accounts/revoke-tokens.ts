import { OAuth2Client } from '../clients/oauth2.ts'
import type { Runtime } from '../runtime.ts'
import type { AccountRecord } from '../store/accounts.ts'

/**
 * Revokes an account's tokens at its provider (RFC 7009), refresh token first, where the provider
 * has a revocation endpoint. Failures are logged, never thrown: the account goes either way.
 */
export async function revokeAccountTokens(runtime: Runtime, account: AccountRecord, requestId: string): Promise<void> {
  const provider = await runtime.store.providers.get(account.provider)
  const client = provider ? runtime.accounts.client(provider, account) : null
  if (!(client instanceof OAuth2Client)) return
  const revocations: [string | null, 'refresh_token' | 'access_token'][] = [
    [account.refreshToken, 'refresh_token'],
    [account.accessToken, 'access_token'],
  ]
  for (const [token, hint] of revocations) {
    if (!token) continue
    try {
      const revoked = await client.revokeToken(token, hint)
      if (!revoked && (await client.revocationEndpoint())) runtime.log.info(`revocation of an account ${account.id} ${hint} was refused req=${requestId}`)
    } catch (error) {
      runtime.log.error(`error req=${requestId} revocation failed for account ${account.id}: ${(error as Error).message}`)
    }
  }
}
