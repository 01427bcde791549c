import { BrowserSession } from './browser-session.ts'
import { readForm } from './sandbox-login.ts'

/**
 * Signs out at the sandbox OpenID provider as a person would, over plain HTTP: opens its end-session
 * page (`url`: the page itself, or a BFF's `logoutUrl`), answers "Yes, sign me out", and follows the
 * redirects that come after. The provider posts its back-channel logouts before it answers, so they
 * have all been received when this returns. Resolves with where the browser ended.
 */
export async function signOutAtProvider(browser: BrowserSession, url: string | URL): Promise<URL> {
  const page = await browser.navigate(url)
  const html = await page.response.text()
  if (page.response.status !== 200) throw new Error(`end-session page answered ${page.response.status}: ${html}`)
  const { action, fields } = readForm(html, page.url, 'yes')
  if (fields.get('logout') !== 'yes') throw new Error(`no sign-out button on ${page.url}`)
  const done = await browser.navigate(action, {
    init: { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: fields.toString() },
    from: page.url,
  })
  await done.response.body?.cancel()
  return done.url
}
