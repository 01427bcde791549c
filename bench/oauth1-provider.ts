// The soak's OAuth 1.0a provider: the demo's sandbox provider (server/sandbox/oauth1-provider.ts),
// with BENCH_OAUTH1_USERS users `soak-0`… (ids 5000…). The soak's browser approves on the consent
// form as a person would, choosing its user.
import { createServer } from 'node:http'
import { createOAuth1ProviderApp } from '../server/sandbox/oauth1-provider.ts'
import { listen } from './child.ts'

const OAUTH1_FIRST_ID = 5000
const users = Array.from({ length: Number(process.env.BENCH_OAUTH1_USERS ?? 10) }, (_, i) => ({ id: String(OAUTH1_FIRST_ID + i), screenName: `soak-${i}`, name: `Soak user ${i}` }))
const app = createOAuth1ProviderApp({
  consumers: [{ key: process.env.BENCH_CLIENT_ID ?? 'bench-client', secret: process.env.BENCH_CLIENT_SECRET ?? 'bench-secret' }],
  users,
})
// Refusals are part of the soak (a revoked token); they are counted by the soak, not printed here.
app.silent = true
listen(createServer(app.callback()), 'bench OAuth 1.0a provider')
