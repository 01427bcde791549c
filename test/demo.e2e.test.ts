import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Browser, Page } from 'playwright-core'
import { launchChromium } from './support/chromium.ts'
import { databases } from './support/databases.ts'
import { startServe, type RunningServe } from './support/demo-server.ts'

/** The demo as a newcomer meets it after `npm start`: real server process, real sandbox providers, real browser. */
describe.each(databases)('the demo SPA in Chromium on $kind', (database) => {
  let serve: RunningServe
  let drop: () => Promise<void>
  let browser: Browser
  let page: Page

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    serve = await startServe({ sandbox: true, databaseUrl: created.url })
    browser = await launchChromium()
    page = await browser.newPage()
  })

  afterAll(async () => {
    await browser?.close()
    await serve?.stop()
    await drop?.()
  })

  async function signInAtOidcSandbox(page: Page) {
    await page.getByLabel('User').selectOption('alice')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('button', { name: 'Allow' }).click()
  }

  it('shows the enabled providers as sign-in buttons, under a CSP that forbids framing', async () => {
    const response = await page.goto(serve.url)
    expect(response?.headers()['content-security-policy']).toContain("frame-ancestors 'none'")
    await page.getByRole('button', { name: 'Sign in with Sandbox OpenID' }).waitFor({ state: 'visible' })
    await page.getByRole('button', { name: 'Sign in with Sandbox OAuth 1.0a' }).waitFor({ state: 'visible' })
  })

  it('shows a failed login in words and removes auth_error from the address', async () => {
    await page.getByRole('button', { name: 'Sign in with Sandbox OpenID' }).click()
    await page.getByRole('button', { name: 'Cancel' }).click()
    await page.getByRole('alert').filter({ hasText: 'Sign-in was cancelled or refused.' }).waitFor()
    expect(new URL(page.url()).searchParams.has('auth_error')).toBe(false)
  })

  it('signs in with the OpenID sandbox and shows the account', async () => {
    await page.goto(serve.url)
    await page.getByRole('button', { name: 'Sign in with Sandbox OpenID' }).click()
    await signInAtOidcSandbox(page)
    await page.getByText('Signed in as').waitFor()
    await expect(page.locator('main').innerText()).resolves.toContain('Alice Liddell')
    const account = page.locator('li.account').filter({ hasText: 'Sandbox OpenID' })
    await expect(account.locator('.identifier').innerText()).resolves.toBe('alice')
    await expect(account.locator('.status').innerText()).resolves.toBe('active')
  })

  it("calls the provider's API through the proxy and shows the JSON", async () => {
    const account = page.locator('li.account').filter({ hasText: 'Sandbox OpenID' })
    await account.getByRole('button', { name: 'Call the API' }).click()
    const result = page.getByLabel('Sandbox OpenID API result')
    await result.waitFor()
    expect(JSON.parse(await result.innerText())).toEqual({ sub: 'alice', name: 'Alice Liddell', email: 'alice@sandbox.example' })
    await account.getByRole('button', { name: 'Add a note' }).click()
    await page.getByLabel('Sandbox OpenID write result').waitFor()
    expect(JSON.parse(await page.getByLabel('Sandbox OpenID write result').innerText())).toEqual(expect.objectContaining({ text: 'Hello from all-access!' }))
  })

  it('connects the OAuth 1.0a sandbox to the same user and calls its API', async () => {
    await page.getByRole('button', { name: 'Connect Sandbox OAuth 1.0a' }).click()
    await page.getByLabel('User').selectOption('1001')
    await page.getByRole('button', { name: 'Allow' }).click()
    const account = page.locator('li.account').filter({ hasText: 'Sandbox OAuth 1.0a' })
    await account.waitFor()
    await expect(page.locator('li.account').count()).resolves.toBe(2)
    await expect(account.locator('.identifier').innerText()).resolves.toBe('1001')
    // Still Alice's session: the provider's site is not the app's, so this proves the link survived it.
    expect(new URL(page.url()).hostname).toBe('localhost')
    await expect(page.locator('main').innerText()).resolves.toContain('Alice Liddell')
    await account.getByRole('button', { name: 'Post a status' }).click()
    await page.getByLabel('Sandbox OAuth 1.0a write result').waitFor()
    expect(JSON.parse(await page.getByLabel('Sandbox OAuth 1.0a write result').innerText())).toEqual(expect.objectContaining({ text: 'Hello from all-access!' }))
  })

  it('works with the keyboard: a focused button is pressed with Enter', async () => {
    const button = page.locator('li.account').filter({ hasText: 'Sandbox OAuth 1.0a' }).getByRole('button', { name: 'Call the API' })
    await button.focus()
    await page.keyboard.press('Enter')
    const result = page.getByLabel('Sandbox OAuth 1.0a API result')
    await result.waitFor()
    expect(JSON.parse(await result.innerText())).toEqual(expect.objectContaining({ screen_name: 'alice' }))
  })

  it('disconnects the second provider', async () => {
    await page.getByRole('button', { name: 'Disconnect Sandbox OAuth 1.0a' }).click()
    await page.locator('li.account').filter({ hasText: 'Sandbox OAuth 1.0a' }).waitFor({ state: 'detached' })
    await expect(page.locator('li.account').count()).resolves.toBe(1)
    await page.getByRole('button', { name: 'Connect Sandbox OAuth 1.0a' }).waitFor()
  })

  it('logs out', async () => {
    await page.getByRole('button', { name: 'Sign out', exact: true }).click()
    await page.getByRole('button', { name: 'Sign in with Sandbox OpenID' }).waitFor()
    await page.reload()
    await page.getByRole('button', { name: 'Sign in with Sandbox OpenID' }).waitFor()
    await expect(page.getByText('Signed in as').count()).resolves.toBe(0)
  })

  it('signs out everywhere: at the OpenID sandbox too, and comes back to the app signed out', async () => {
    // The provider still has its own session from before: signing in again asks nothing.
    await page.getByRole('button', { name: 'Sign in with Sandbox OpenID' }).click()
    await page.getByText('Signed in as').waitFor()
    await page.getByRole('button', { name: 'Sign out everywhere' }).click()
    await page.getByRole('button', { name: 'Yes, sign me out' }).click()
    await page.getByRole('button', { name: 'Sign in with Sandbox OpenID' }).waitFor()
    expect(new URL(page.url()).origin).toBe(serve.url)
    await expect(page.getByText('Signed in as').count()).resolves.toBe(0)
    // Signed out at the provider as well: signing in now asks who you are.
    await page.getByRole('button', { name: 'Sign in with Sandbox OpenID' }).click()
    await page.getByLabel('User').waitFor()
    expect(new URL(page.url()).hostname).toBe('127.0.0.1')
  })

  it('ends the session in the app when the user signs out at the OpenID sandbox itself (back-channel logout)', async () => {
    await signInAtOidcSandbox(page)
    await page.getByText('Signed in as').waitFor()
    const sandboxUrl = /sandbox-oidc at (http:\/\/127\.0\.0\.1:\d+)/.exec(serve.output())![1]
    await page.goto(`${sandboxUrl}/session/end`)
    await page.getByRole('button', { name: 'Yes, sign me out' }).click()
    await page.getByText('You are signed out of Sandbox OpenID').waitFor()
    await page.goto(serve.url)
    await page.getByRole('button', { name: 'Sign in with Sandbox OpenID' }).waitFor()
    await expect(page.getByText('Signed in as').count()).resolves.toBe(0)
  })
})
