import Koa, { type Middleware } from 'koa'
import { createServer, type Server } from 'node:http'
import { createAllAccess, type AllAccess, type AllAccessOptions } from '../../server/all-access.ts'
import { parseKeys, generateKey } from '../../server/crypto/keys.ts'
import { textLine, type Logger } from '../../server/log.ts'
import { buildProviderConfig, type ProviderInput } from '../../server/providers/provider-input.ts'
import { DEFAULT_CACHE_MS, openStore, type Store } from '../../server/store/index.ts'

export interface TestBff {
  url: string
  allAccess: AllAccess
  store: Store
  /** Every line the BFF logged, for "no secret in the log" assertions. */
  logs: string[]
  /** The lines of {@link logs} logged at the error level: what an operator would be alerted to. */
  errors: string[]
  /** The lines of {@link logs} as `serve`'s text format writes them, escaped, with what the BFF handed the logger beside each. */
  written: string[]
  addProvider(name: string, input: ProviderInput): Promise<void>
  close(): Promise<void>
}

/**
 * A real BFF on 127.0.0.1 with an ephemeral port, whose PUBLIC_URL is its own address named
 * `localhost`: another site than the test providers on 127.0.0.1, as real providers are.
 */
export async function startBff(
  databaseUrl: string,
  // `host`: a host app's own middleware, mounted before all-access's (one that awaits more work once all-access has answered, say).
  options: Omit<AllAccessOptions, 'publicUrl' | 'store' | 'databaseUrl' | 'keys' | 'log'> & { keys?: string; publicUrl?: string; host?: Middleware } = {},
): Promise<TestBff> {
  const keys = parseKeys(options.keys ?? generateKey())
  // Reads cached as in production: tests see what users of createAllAccess see.
  const store = openStore({ databaseUrl, keys, cacheMs: DEFAULT_CACHE_MS })
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  const url = `http://localhost:${port}`
  const logs: string[] = []
  const errors: string[] = []
  const written: string[] = []
  const log: Logger = {
    info: (line, fields) => (logs.push(line), written.push(textLine(line, fields))),
    error: (line, fields) => (logs.push(line), errors.push(line), written.push(textLine(line, fields))),
  }
  const { keys: _keys, publicUrl, host, ...rest } = options
  // Tests log in many times from one address: no login rate limit unless a test sets one.
  const allAccess = await createAllAccess({ ...rest, loginLimits: { perAddressPerMinute: 0, ...rest.loginLimits }, publicUrl: publicUrl ?? url, store, log })
  const app = new Koa()
  app.on('error', (error: Error) => logs.push(`error answer cut: ${error.message}`))
  if (host) app.use(host)
  app.use(allAccess.middleware)
  app.use((ctx) => {
    ctx.body = 'spa'
  })
  server.on('request', app.callback())
  return {
    url,
    allAccess,
    store,
    logs,
    errors,
    written,
    async addProvider(name, input) {
      await store.providers.add(buildProviderConfig(name, input))
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await allAccess.close()
      await store.close()
    },
  }
}
