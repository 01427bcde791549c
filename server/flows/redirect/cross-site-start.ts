import type { Next } from 'koa'
import { AllAccessError } from '../../errors.ts'
import type { LoginContext } from '../login-state.ts'

/**
 * A login start is a page navigating to it: the app's button, a link from anywhere, a popup.
 * Another site's page can also make a visitor's browser fetch it without navigating (an image, a
 * script, a fetch, a frame), which signs nobody in but spent the visitor's login rate limit, a
 * pending login and, on OAuth 1.0a, a request token: any site could keep its visitors from signing
 * in here. The browser's fetch metadata tells the two apart; a request without it (an older
 * browser, a script) passes as before, and its answer was never readable by that other page.
 */
export async function refuseCrossSiteSubrequests(ctx: LoginContext, next: Next): Promise<void> {
  const site = ctx.get('sec-fetch-site')
  if (site === 'cross-site' || site === 'same-site') {
    const mode = ctx.get('sec-fetch-mode')
    const destination = ctx.get('sec-fetch-dest')
    if (mode !== 'navigate' || (destination !== 'document' && destination !== '')) {
      throw new AllAccessError('origin_not_allowed', { detail: `a login start from another site's ${destination || mode || 'request'}` })
    }
  }
  await next()
}
