import Koa from 'koa'
import { createAllAccess, optionsFromEnv, staticSite } from 'all-access/server'

// `--dev` (npm run dev:bff): the BFF behind Vite's dev server, which forwards /auth, /api and
// /hello to it (vite.config.js). The browser only sees Vite's origin, so PUBLIC_URL is Vite's:
// callback URLs point there and the Origin of the SPA's POSTs is accepted.
const dev = process.argv.includes('--dev')
const env = dev ? { PORT: '4100', PUBLIC_URL: 'http://localhost:5173', ...process.env } : process.env

// PUBLIC_URL, DATABASE_URL, ALLACCESS_KEYS and the rest of all-access's configuration variables.
const options = optionsFromEnv(env)
const allAccess = await createAllAccess(options)

// `--sandbox`: two local providers to sign in with, offline (needs the oidc-provider package).
const { startSandbox } = process.argv.includes('--sandbox') ? await import('all-access/sandbox') : {}
const sandbox = await startSandbox?.({ store: allAccess.store, publicUrl: options.publicUrl, log: options.log })

const app = new Koa()
app.use(allAccess.middleware) // answers /auth/* and /api/*, passes everything else on
app.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/hello') ctx.body = { hello: 'from the Koa app' }
  else await next()
})
app.use(staticSite('dist')) // the SPA that `vite build` wrote, index.html for its own routes

const port = Number(env.PORT || 3000)
const server = app.listen(port, env.HOST || 'localhost', () => console.log(`example listening on port ${port}, open ${options.publicUrl}`))

async function stop() {
  // Requests still running may need the database: let them end (ten seconds at most) before closing it.
  setTimeout(() => server.closeAllConnections(), 10_000).unref()
  await new Promise((resolve) => server.close(resolve))
  await sandbox?.close()
  await allAccess.close()
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
