import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signIn } from '../bench/login-flow.ts'
import { startServer, stopAll, type Started } from '../bench/processes.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'

// What `npm run bench` stands on: its auto-approving OAuth 2.0 provider and its login client. No timing here.
describe("the bench's auto-approving provider", () => {
  let provider: Started
  let bff: TestBff
  let drop: () => Promise<void>

  beforeAll(async () => {
    provider = await startServer('provider.ts', { ...process.env, BENCH_CLIENT_ID: 'bench-client', BENCH_CLIENT_SECRET: 'bench-secret' })
    const created = await databases[0].create()
    drop = created.drop
    bff = await startBff(created.url)
    await bff.addProvider('bench', {
      protocol: 'oauth2',
      authorizationUrl: `${provider.url}/authorize`,
      accessTokenUrl: `${provider.url}/token`,
      profileUrl: `${provider.url}/profile`,
      clientId: 'bench-client',
      clientSecret: 'bench-secret',
    })
  })

  afterAll(async () => {
    await stopAll()
    await bff?.close()
    await drop?.()
  })

  async function userOf(cookie: string) {
    const answer = await fetch(new URL('/auth/session', bff.url), { headers: { cookie, 'X-CSRF': '1' } })
    return ((await answer.json()) as { user: { id: string } }).user.id
  }

  it('signs the bench browser in through the BFF, a returning user as the same user and a new one as another', async () => {
    const first = await userOf(await signIn(bff.url, 'bench', 'returning-0'))
    const again = await userOf(await signIn(bff.url, 'bench', 'returning-0'))
    const other = await userOf(await signIn(bff.url, 'bench', 'new-1'))
    expect(again).toBe(first)
    expect(other).not.toBe(first)
  })

  it('gives a token only for the PKCE verifier of the challenge, once per code', async () => {
    const verifier = 'v'.repeat(43)
    const redirectUri = 'http://127.0.0.1:1/auth/callback/bench'
    const approve = async () => {
      const authorize = new URL(`${provider.url}/authorize`)
      const challenge = createHash('sha256').update(verifier).digest('base64url')
      const params = { client_id: 'bench-client', redirect_uri: redirectUri, response_type: 'code', state: 's', code_challenge: challenge, code_challenge_method: 'S256' }
      for (const [key, value] of Object.entries(params)) authorize.searchParams.set(key, value)
      const approved = await fetch(authorize, { redirect: 'manual' })
      expect(approved.status).toBe(302)
      return new URL(approved.headers.get('location') ?? '').searchParams.get('code') ?? ''
    }
    const redeem = (code: string, codeVerifier: string) =>
      fetch(`${provider.url}/token`, {
        method: 'POST',
        headers: { Authorization: `Basic ${Buffer.from('bench-client:bench-secret').toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: codeVerifier }),
      })
    expect((await redeem(await approve(), 'w'.repeat(43))).status).toBe(400)
    const code = await approve()
    expect((await redeem(code, verifier)).status).toBe(200)
    expect((await redeem(code, verifier)).status).toBe(400)
  })
})
