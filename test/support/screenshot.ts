// Regenerates docs/demo-signed-in.png, the README's picture of the signed-in demo:
// `npm run screenshot` (it builds first). Drives the same server and browser as the end-to-end test.
import { resolve } from 'node:path'
import { launchChromium } from './chromium.ts'
import { startServe } from './demo-server.ts'

const serve = await startServe({ sandbox: true })
const browser = await launchChromium()
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 1100 } })
  await page.goto(serve.url)
  await page.getByRole('button', { name: 'Sign in with Sandbox OpenID' }).click()
  await page.getByLabel('User').selectOption('alice')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('button', { name: 'Allow' }).click()
  await page.getByRole('button', { name: 'Connect Sandbox OAuth 1.0a' }).click()
  await page.getByLabel('User').selectOption('1001')
  await page.getByRole('button', { name: 'Allow' }).click()
  await page.locator('li.account').filter({ hasText: 'Sandbox OAuth 1.0a' }).waitFor()
  await page.locator('li.account').filter({ hasText: 'Sandbox OpenID' }).getByRole('button', { name: 'Call the API' }).click()
  await page.getByLabel('Sandbox OpenID API result').waitFor()
  const file = resolve('docs/demo-signed-in.png')
  await page.screenshot({ path: file, fullPage: true })
  console.log(`wrote ${file}`)
} finally {
  await browser.close()
  await serve.stop()
}
