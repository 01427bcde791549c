import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser } from 'playwright-core'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { openStore, type Store } from '../server/store/index.ts'
import { launchChromium } from './support/chromium.ts'
import { startServe, type RunningServe } from './support/demo-server.ts'
import { scratchFolder } from './support/scratch-folder.ts'

/**
 * Another site's page against the login start, in Chromium: the demo on localhost with its login
 * rate limit on, and a page on 127.0.0.1 (another site) that makes the visitor's browser fetch the
 * login start without navigating to it, then links to it.
 */
describe('a login start that another site makes a visitor fetch, in Chromium', () => {
  let serve: RunningServe
  let store: Store
  let browser: Browser
  let otherSite: Server
  let otherSiteUrl: string

  beforeAll(async () => {
    const keys = generateKey()
    const databaseUrl = `sqlite://${scratchFolder('aa-cross-site-')}/db.sqlite3`
    serve = await startServe({ sandbox: true, databaseUrl, keys, env: { ALLACCESS_LOGIN_RATE_LIMIT: '30' } })
    store = openStore({ databaseUrl, keys: parseKeys(keys) })
    const start = `${serve.url}/auth/login/sandbox-oidc`
    // More fetches than the rate limit allows a minute, of every kind a page can make without navigating.
    const page = `<!doctype html><title>another site</title>
      ${Array.from({ length: 34 }, (_, i) => `<img src="${start}?i=${i}">`).join('')}
      <script src="${start}?as=script"></script>
      <iframe src="${start}?as=frame"></iframe>
      <script>fetch(${JSON.stringify(start + '?as=fetch')}, { mode: 'no-cors', credentials: 'include' }).catch(() => {})</script>
      <a href="${start}">Sign in over there</a>`
    otherSite = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(page))
    await new Promise<void>((resolve) => otherSite.listen(0, '127.0.0.1', resolve))
    otherSiteUrl = `http://127.0.0.1:${(otherSite.address() as AddressInfo).port}/`
    browser = await launchChromium()
  })

  afterAll(async () => {
    await browser?.close()
    await store?.close()
    await new Promise((resolve) => otherSite?.close(resolve))
    await serve?.stop()
  })

  it('starts no login for an image, a script, a frame or a fetch, and spends none of the visitor\'s limit: the link still signs in', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    // The BFF's request log: the page cannot read these answers (nor could it before).
    const answered = (status: number) => serve.output().split('\n').filter((line) => line.startsWith(`GET /auth/login/sandbox-oidc ${status} `)).length
    await page.goto(otherSiteUrl, { waitUntil: 'load' })
    await expect.poll(() => answered(403), { timeout: 20_000 }).toBe(37)
    expect(answered(302) + answered(429)).toBe(0)
    expect(Number((await store.db('login_flows').count({ n: '*' }).first())?.n)).toBe(0)
    // A link from another site is a navigation: it starts the login, at the provider's page.
    await page.getByRole('link', { name: 'Sign in over there' }).click()
    await page.getByLabel('User').waitFor()
    expect(new URL(page.url()).hostname).toBe('127.0.0.1')
    expect(Number((await store.db('login_flows').count({ n: '*' }).first())?.n)).toBe(1)
    await context.close()
  })
})
