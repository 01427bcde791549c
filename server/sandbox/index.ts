import { randomBytes } from 'node:crypto'
import { routes } from '../../shared/routes.ts'
import type { Logger } from '../log.ts'
import { buildProviderConfig, type ProviderInput } from '../providers/provider-input.ts'
import type { Store } from '../store/index.ts'
import { startOAuth1Provider } from './oauth1-provider.ts'
import { startOidcSandbox } from './oidc-provider.ts'

export interface RunningSandbox {
  oidcUrl: string
  oauth1Url: string
  close(): Promise<void>
}

const SANDBOX_PROVIDERS = ['sandbox-oidc', 'sandbox-oauth1']

/** Registers or refreshes a sandbox provider: its ports and credentials change at every start. */
async function register(store: Store, name: string, input: ProviderInput): Promise<void> {
  const current = await store.providers.get(name)
  const config = buildProviderConfig(name, input, current ?? undefined)
  if (current) await store.providers.update(name, config)
  else await store.providers.add(config)
}

/**
 * Starts the demo's two local providers on loopback ports (`serve --sandbox` only) and registers
 * them as `sandbox-oidc` (OpenID Connect) and `sandbox-oauth1` (OAuth 1.0a).
 */
export async function startSandbox({ store, publicUrl, log }: { store: Store; publicUrl: URL; log: Logger }): Promise<RunningSandbox> {
  const secret = () => randomBytes(24).toString('base64url')
  const oidcClient = { clientId: 'all-access-demo', clientSecret: secret() }
  const oauth1Consumer = { key: 'all-access-demo', secret: secret() }
  const oidc = await startOidcSandbox({
    clients: [
      {
        ...oidcClient,
        redirectUris: [new URL(routes.callback('sandbox-oidc'), publicUrl).toString()],
        // Signing out at the provider ends the BFF's session too; "Sign out everywhere" comes back to the app.
        backchannelLogoutUri: new URL(routes.backchannelLogout('sandbox-oidc'), publicUrl).toString(),
        postLogoutRedirectUris: [new URL('/', publicUrl).toString()],
      },
    ],
    host: '127.0.0.1',
    accessTokenTtl: 300,
  })
  const oauth1 = await startOAuth1Provider({ consumers: [oauth1Consumer], host: '127.0.0.1' })
  await register(store, 'sandbox-oidc', {
    displayName: 'Sandbox OpenID',
    protocol: 'oidc',
    issuer: oidc.issuer,
    apiBaseUrl: oidc.apiBaseUrl,
    scope: 'openid profile email',
    identifierPath: 'sub',
    clientId: oidcClient.clientId,
    clientSecret: oidcClient.clientSecret,
  })
  await register(store, 'sandbox-oauth1', {
    displayName: 'Sandbox OAuth 1.0a',
    protocol: 'oauth1',
    requestTokenUrl: oauth1.requestTokenUrl,
    authorizationUrl: oauth1.authorizationUrl,
    accessTokenUrl: oauth1.accessTokenUrl,
    profileUrl: oauth1.profileUrl,
    apiBaseUrl: oauth1.apiBaseUrl,
    identifierPath: 'id_str',
    clientId: oauth1Consumer.key,
    clientSecret: oauth1Consumer.secret,
  })
  log.info(`sandbox providers: sandbox-oidc at ${oidc.url}, sandbox-oauth1 at ${oauth1.url}`)
  return {
    oidcUrl: oidc.url,
    oauth1Url: oauth1.url,
    async close() {
      await Promise.allSettled([oidc.close(), oauth1.close()])
      // Their ports close with them: left enabled, a `serve` without `--sandbox` on this database would
      // offer logins that fail. Without a client secret they are disabled; the next start enables them,
      // and the accounts linked to them stay.
      for (const name of SANDBOX_PROVIDERS) {
        const current = await store.providers.get(name)
        if (current) await store.providers.update(name, { ...current, clientSecret: null })
      }
    },
  }
}
