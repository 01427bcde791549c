import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { launchChromium } from './support/chromium.ts'
import { databases } from './support/databases.ts'
import { startServe, type RunningServe } from './support/demo-server.ts'
import { startOpenerCuttingProxy } from './support/opener-cutting-proxy.ts'

/**
 * Popup and silent logins in the demo, in Chromium: `all-access serve --sandbox` in its own process,
 * the app on localhost and the sandbox providers on 127.0.0.1, through the provider's own pages.
 */
describe.each(databases)('popup login in the demo SPA in Chromium on $kind', (database) => {
  let serve: RunningServe
  let drop: () => Promise<void>
  let browser: Browser
  let proxy: Awaited<ReturnType<typeof startOpenerCuttingProxy>>

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    serve = await startServe({ sandbox: true, databaseUrl: created.url })
    browser = await launchChromium()
    proxy = await startOpenerCuttingProxy('127.0.0.1')
  })

  afterAll(async () => {
    await browser?.close()
    await proxy?.close()
    await serve?.stop()
    await drop?.()
  })

  /** Resolves once the popup has closed itself (it may have done so already). */
  function closed(popup: Page): Promise<unknown> {
    return popup.isClosed() ? Promise.resolve() : popup.waitForEvent('close')
  }

  /** A browser profile of its own: no session at the BFF or at the provider. */
  async function freshPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(serve.url)
    await page.getByRole('button', { name: 'Sandbox OpenID in a popup' }).waitFor()
    return { context, page }
  }

  it('signs in in a popup through the provider page, and the page keeps its unsaved text', async () => {
    const { context, page } = await freshPage()
    await page.getByLabel('Unsaved note').fill('half-written thought')
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.getByRole('button', { name: 'Sandbox OpenID in a popup' }).click()])
    await popup.waitForLoadState()
    expect(new URL(popup.url()).hostname).toBe('127.0.0.1')
    await popup.getByLabel('User').selectOption('alice')
    await popup.getByRole('button', { name: 'Sign in' }).click()
    await popup.getByRole('button', { name: 'Allow' }).click()
    await closed(popup)
    await page.getByText('Signed in as').waitFor()
    await expect(page.locator('main').innerText()).resolves.toContain('Alice Liddell')
    await expect(page.getByLabel('Unsaved note').inputValue()).resolves.toBe('half-written thought')
    // The same page all along: no navigation happened in it.
    expect(new URL(page.url()).pathname).toBe('/')
    await expect(page.getByRole('alert').count()).resolves.toBe(0)
    await context.close()
  })

  it('signs in silently with prompt=none once the provider knows the user, without a page to click through', async () => {
    const { context, page } = await freshPage()
    // A first, interactive login leaves the provider's session in this browser profile; then sign out at the BFF only.
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.getByRole('button', { name: 'Sandbox OpenID in a popup' }).click()])
    await popup.getByLabel('User').selectOption('alice')
    await popup.getByRole('button', { name: 'Sign in' }).click()
    await popup.getByRole('button', { name: 'Allow' }).click()
    await page.getByRole('button', { name: 'Sign out', exact: true }).click()
    await page.getByLabel('Unsaved note').fill('kept through a silent login')
    await Promise.all([page.waitForEvent('popup'), page.getByRole('button', { name: 'Silent sign-in with Sandbox OpenID' }).click()])
    await page.getByText('Signed in as').waitFor()
    await expect(page.getByLabel('Unsaved note').inputValue()).resolves.toBe('kept through a silent login')
    await context.close()
  })

  it('ends a prompt=none login without a provider session with login_required', async () => {
    const { context, page } = await freshPage()
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.getByRole('button', { name: 'Silent sign-in with Sandbox OpenID' }).click()])
    await closed(popup)
    await page.getByRole('alert').filter({ hasText: 'The provider needs you to sign in.' }).waitFor()
    await expect(page.getByText('Signed in as').count()).resolves.toBe(0)
    await context.close()
  })

  it('rejects with access_denied when the popup is closed', async () => {
    const { context, page } = await freshPage()
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.getByRole('button', { name: 'Sandbox OpenID in a popup' }).click()])
    await popup.getByLabel('User').waitFor()
    await popup.close()
    await page.getByRole('alert').filter({ hasText: 'Sign-in was cancelled or refused.' }).waitFor()
    await expect(page.getByText('Signed in as').count()).resolves.toBe(0)
    await context.close()
  })

  /**
   * A browser profile of its own, in which the provider's pages carry `Cross-Origin-Opener-Policy:
   * same-origin` (Cognito, Bluesky): the popup loses its opener for good, and reads as closed to the
   * page from the provider's first page on. Headless Chromium gives every page the focus; a desktop
   * browser gives it to the popup in front, so the page's `document.hasFocus()` says so here.
   */
  async function pageWithOpenerCuttingProvider(): Promise<{ context: BrowserContext; page: Page; giveFocusBack: () => Promise<unknown> }> {
    const context = await browser.newContext({ proxy: { server: proxy.url, bypass: '<-loopback>' } })
    const page = await context.newPage()
    await page.goto(serve.url)
    await page.getByRole('button', { name: 'Sandbox OpenID in a popup' }).waitFor()
    await page.evaluate(() => {
      const focus = { inPage: false }
      Object.assign(window, { testFocus: focus })
      document.hasFocus = () => focus.inPage
    })
    const giveFocusBack = () => page.evaluate(() => ((window as unknown as { testFocus: { inPage: boolean } }).testFocus.inPage = true))
    return { context, page, giveFocusBack }
  }

  it('signs in in a popup that the provider cuts off from its opener, without a false cancel', async () => {
    const { context, page } = await pageWithOpenerCuttingProvider()
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.getByRole('button', { name: 'Sandbox OpenID in a popup' }).click()])
    await popup.getByLabel('User').selectOption('alice')
    await expect(popup.evaluate(() => window.opener)).resolves.toBeNull()
    await popup.getByRole('button', { name: 'Sign in' }).click()
    await popup.getByRole('button', { name: 'Allow' }).click()
    await closed(popup)
    await page.getByText('Signed in as').waitFor()
    await expect(page.getByRole('alert').count()).resolves.toBe(0)
    await context.close()
  })

  it('rejects with access_denied once a cut-off popup is closed and the page has the focus back', async () => {
    const { context, page, giveFocusBack } = await pageWithOpenerCuttingProvider()
    const [popup] = await Promise.all([page.waitForEvent('popup'), page.getByRole('button', { name: 'Sandbox OpenID in a popup' }).click()])
    await popup.getByLabel('User').waitFor()
    // The popup reads as closed from here on; the page waits while it has no focus.
    await page.waitForTimeout(1000)
    await expect(page.getByRole('alert').count()).resolves.toBe(0)
    await popup.close()
    await giveFocusBack()
    await page.getByRole('alert').filter({ hasText: 'Sign-in was cancelled or refused.' }).waitFor()
    await expect(page.getByText('Signed in as').count()).resolves.toBe(0)
    await context.close()
  })

  it('falls back to a full-page login when the popup is blocked, and comes back to the page, its fragment too (a hash-routed app)', async () => {
    const context = await browser.newContext()
    // What a popup blocker does: window.open answers null.
    await context.addInitScript(() => {
      window.open = () => null
    })
    const page = await context.newPage()
    await page.goto(`${serve.url}/?tab=notes#/drafts/7`)
    await page.getByRole('button', { name: 'Sandbox OpenID in a popup' }).click()
    await page.waitForURL((url) => url.hostname === '127.0.0.1')
    await page.getByLabel('User').selectOption('alice')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('button', { name: 'Allow' }).click()
    await page.getByText('Signed in as').waitFor()
    // Back where the login started: next was the page's own address on its site.
    const back = new URL(page.url())
    expect(back.pathname + back.search + back.hash).toBe('/?tab=notes#/drafts/7')
    expect(context.pages()).toHaveLength(1)
    await context.close()
  })
})
