import { routes } from '../../shared/routes.ts'
import { BrowserSession } from './browser-session.ts'

/** The first form of a page: its action and its fields (inputs and selects, first option selected). */
export function readForm(html: string, pageUrl: URL, buttonValue?: string): { action: URL; fields: URLSearchParams } {
  const form = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/i.exec(html)
  if (!form) throw new Error(`no form on ${pageUrl}`)
  const fields = new URLSearchParams()
  for (const input of form[2].matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/gi)) fields.set(input[1], input[2])
  for (const select of form[2].matchAll(/<select[^>]*name="([^"]+)"[^>]*>\s*<option value="([^"]+)"/gi)) fields.set(select[1], select[2])
  if (buttonValue) {
    const button = new RegExp(`<button[^>]*name="([^"]+)"[^>]*value="${buttonValue}"`, 'i').exec(form[2])
    if (button) fields.set(button[1], buttonValue)
  }
  return { action: new URL(form[1].replace(/&amp;/g, '&'), pageUrl), fields }
}

/**
 * Signs in through `all-access serve --sandbox`'s own pages as a person would, with plain HTTP:
 * the sandboxes' sign-in and consent forms are submitted with their first user and "Allow".
 */
export async function sandboxLogin(browser: BrowserSession, bffUrl: string, provider: string, user?: string): Promise<URL> {
  const bff = new URL(bffUrl)
  let result = await browser.navigate(new URL(routes.login(provider), bffUrl), { stopAt: (u) => u.origin === bff.origin && !u.pathname.startsWith('/auth/') })
  for (let step = 0; step < 4 && !result.stopped; step++) {
    const html = await result.response.text()
    const { action, fields } = readForm(html, result.url, 'allow')
    if (user && fields.has('username')) fields.set('username', user)
    if (user && fields.has('user')) fields.set('user', user)
    result = await browser.navigate(action, {
      init: { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: fields.toString() },
      stopAt: (u) => u.origin === bff.origin && !u.pathname.startsWith('/auth/'),
    })
  }
  if (!result.stopped) throw new Error(`sandbox login with ${provider} did not come back`)
  return result.url
}
