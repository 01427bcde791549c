import type { Knex } from 'knex'
import { AUTH_ERROR_PARAM, CSRF_HEADER, CSRF_VALUE, routes } from '../../shared/routes.ts'
import type { SessionInfo } from '../../shared/session.ts'
import { BrowserSession } from './browser-session.ts'

/** Signs in through the whole redirect dance and returns where the BFF sent the browser at the end. */
export async function login(browser: BrowserSession, bffUrl: string, provider: string, next?: string) {
  const start = new URL(routes.login(provider), bffUrl)
  if (next !== undefined) start.searchParams.set('next', next)
  const bff = new URL(bffUrl)
  // Stop at the BFF's final redirect back into the SPA (any BFF URL that is not an /auth route).
  const result = await browser.navigate(start, { stopAt: (location) => location.origin === bff.origin && !location.pathname.startsWith('/auth/') })
  if (!result.stopped) throw new Error(`login with ${provider} ended at ${result.url} with ${result.response.status}: ${await result.response.text()}`)
  return result.url
}

/** Starts a login and stops at the provider's authorization endpoint, returning its URL. */
export async function startLogin(browser: BrowserSession, bffUrl: string, provider: string, next?: string): Promise<URL> {
  const start = new URL(routes.login(provider), bffUrl)
  if (next !== undefined) start.searchParams.set('next', next)
  const response = await browser.fetch(start)
  await response.body?.cancel()
  if (response.status !== 302) throw new Error(`login answered ${response.status}`)
  return new URL(response.headers.get('location') ?? '')
}

export async function session(browser: BrowserSession, bffUrl: string): Promise<SessionInfo> {
  const response = await browser.fetch(new URL(routes.session, bffUrl), { headers: { [CSRF_HEADER]: CSRF_VALUE } })
  if (response.status !== 200) throw new Error(`session answered ${response.status}`)
  return (await response.json()) as SessionInfo
}

/** Row counts of every table a login writes, to prove a failure wrote nothing. */
export async function rowCounts(db: Knex): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const table of ['users', 'accounts', 'sessions']) {
    const [{ count }] = await db(table).count({ count: '*' })
    counts[table] = Number(count)
  }
  return counts
}

/** The app location an auth error redirect leads to. */
export function authError(location: URL): string | null {
  return location.searchParams.get(AUTH_ERROR_PARAM)
}
