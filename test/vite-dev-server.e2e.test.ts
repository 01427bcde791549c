import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join, resolve } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { createServer, type ViteDevServer } from 'vite'
import { startBff, type TestBff } from './support/bff.ts'
import { launchChromium } from './support/chromium.ts'
import { databases } from './support/databases.ts'
import { freePort } from './support/demo-server.ts'
import { startOidcSandbox, type RunningOidcSandbox } from './support/oidc-sandbox.ts'
import { scratchFolder } from './support/scratch-folder.ts'

const EXAMPLE = resolve('examples/koa-react')

/**
 * The README's development setup: the SPA on Vite's dev server, which forwards `/auth` and `/api`
 * to the BFF (the example's own vite.config.js), and the BFF's PUBLIC_URL set to Vite's origin.
 * The browser only ever talks to Vite; the SPA uses the built client library.
 */
describe('a SPA on Vite’s dev server, proxying to the BFF, in Chromium', () => {
  const [database] = databases
  let drop: () => Promise<void>
  let cacheDir: string
  let idp: RunningOidcSandbox
  let bff: TestBff
  let vite: ViteDevServer
  let viteUrl: string
  let browser: Browser
  let page: Page

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    cacheDir = scratchFolder('aa-vite-cache-')
    const vitePort = await freePort()
    viteUrl = `http://localhost:${vitePort}`
    idp = await startOidcSandbox({ clients: [{ clientId: 'vite-dev', clientSecret: 'vite-dev-secret-xxxxxxxxxxxxxxx', redirectUris: [`${viteUrl}/auth/callback/sandbox-oidc`] }] })
    bff = await startBff(created.url, { publicUrl: viteUrl })
    await bff.addProvider('sandbox-oidc', {
      displayName: 'Sandbox OpenID',
      issuer: idp.issuer,
      apiBaseUrl: idp.apiBaseUrl,
      scope: 'openid profile email',
      clientId: 'vite-dev',
      clientSecret: 'vite-dev-secret-xxxxxxxxxxxxxxx',
    })
    // vite.config.js reads where the BFF is when Vite loads it.
    process.env.BFF_URL = bff.url.replace('localhost', '127.0.0.1')
    vite = await createServer({
      root: EXAMPLE,
      configFile: join(EXAMPLE, 'vite.config.js'),
      cacheDir,
      logLevel: 'error',
      clearScreen: false,
      server: { port: vitePort, host: '127.0.0.1', hmr: false, fs: { allow: [EXAMPLE, resolve('dist/client-lib'), resolve('node_modules'), cacheDir] } },
      // What `npm install all-access` puts in node_modules: the built library, not its source.
      resolve: { alias: { 'all-access/client': resolve('dist/client-lib/all-access-client.js') } },
    })
    await vite.listen()
    browser = await launchChromium()
    page = await browser.newPage()
  })

  afterAll(async () => {
    await browser?.close()
    await vite?.close()
    await bff?.close()
    await idp?.close()
    await drop?.()
    delete process.env.BFF_URL
  })

  it('sends the provider back to the Vite origin, signs in, and calls the API through both proxies', async () => {
    const authorizations: URL[] = []
    page.on('request', (request) => {
      if (request.url().startsWith(`${idp.url}/auth?`)) authorizations.push(new URL(request.url()))
    })
    // A page of the app's own, deep in it: a login that names no `next` comes back to it.
    await page.goto(`${viteUrl}/welcome?from=mail#top`)
    await page.getByRole('button', { name: 'Sign in with Sandbox OpenID' }).click()
    await page.getByLabel('User').selectOption('alice')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('button', { name: 'Allow' }).click()
    await page.getByText('Signed in as Alice Liddell').waitFor()
    expect(authorizations.map((url) => url.searchParams.get('redirect_uri'))).toEqual([`${viteUrl}/auth/callback/sandbox-oidc`])
    expect(page.url()).toBe(`${viteUrl}/welcome?from=mail#top`)
    const profile = page.getByLabel("Profile from the provider's API")
    await profile.getByText('alice@sandbox.example').waitFor()
    expect(JSON.parse(await profile.innerText())).toEqual({ sub: 'alice', name: 'Alice Liddell', email: 'alice@sandbox.example' })
  })

  it('accepts the POST the browser sends with the Vite origin, and signs out', async () => {
    const answered = page.waitForResponse((response) => response.url() === `${viteUrl}/auth/logout`)
    await page.getByRole('button', { name: 'Sign out' }).click()
    const logout = await answered
    expect(logout.request().method()).toBe('POST')
    expect(await logout.request().headerValue('origin')).toBe(viteUrl)
    expect(logout.status()).toBe(204)
    await page.getByRole('button', { name: 'Sign in with Sandbox OpenID' }).waitFor()
    expect(await bff.store.db('sessions').count({ n: '*' })).toEqual([{ n: 0 }])
  })

  it("lands a login after a failed one on the page it left, without the failure's auth_error", async () => {
    // A browser of its own: no session at the BFF nor at the provider.
    const context = await browser.newContext()
    const fresh = await context.newPage()
    try {
      await fresh.goto(viteUrl)
      await fresh.getByRole('button', { name: 'Sign in with Sandbox OpenID' }).click()
      await fresh.getByRole('button', { name: 'Cancel' }).click()
      // The example reads no auth_error (it shows no useAuthError): the failure's code stays in the address.
      await fresh.waitForURL(`${viteUrl}/?auth_error=access_denied`)
      await fresh.getByRole('button', { name: 'Sign in with Sandbox OpenID' }).click()
      await fresh.getByLabel('User').selectOption('alice')
      await fresh.getByRole('button', { name: 'Sign in' }).click()
      await fresh.getByRole('button', { name: 'Allow' }).click()
      await fresh.getByText('Signed in as Alice Liddell').waitFor()
      expect(fresh.url()).toBe(`${viteUrl}/`)
    } finally {
      await context.close()
    }
  })
})
