import {
  startOAuth1Provider as startPlainProvider,
  type OAuth1ProviderOptions,
  type OAuth1ProviderRequest,
  type RunningOAuth1Provider as PlainProvider,
} from '../../server/sandbox/oauth1-provider.ts'

export { parseOAuthAuthorization } from '../../server/sandbox/oauth1-provider.ts'

export interface RunningOAuth1Provider extends PlainProvider {
  /** Every request it answered, refusals with their reason, for assertions. */
  requests: OAuth1ProviderRequest[]
}

/** The demo's OAuth 1.0a provider with the request log only tests need, kept out of the product. */
export async function startOAuth1Provider(options: OAuth1ProviderOptions & { port?: number; host?: string }): Promise<RunningOAuth1Provider> {
  const requests: OAuth1ProviderRequest[] = []
  const provider = await startPlainProvider({
    ...options,
    onRequest: (request) => {
      requests.push(request)
      options.onRequest?.(request)
    },
  })
  return { ...provider, requests }
}
