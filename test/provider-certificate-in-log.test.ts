import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEXT_LIMIT } from '../server/cut-text.ts'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { buildProviderConfig } from '../server/providers/provider-input.ts'
import { migrate, openStore, type Store } from '../server/store/index.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startServe, type RunningServe } from './support/demo-server.ts'
import { startDocumentedProvider, type DocumentedProvider } from './support/documented-provider.ts'
import { authError, login } from './support/login.ts'
import { signedIn } from './support/signed-in.ts'

/** The hosts a provider's certificate names, the one it is reached by not among them: a shared certificate of some other service, say. */
const NAMED = Array.from({ length: 300 }, (_, i) => `api-${i}.provider.example`)

/** A certificate authority, and a certificate it signed for `hosts`, made by openssl in `folder`: the authority's file, the key's and the certificate's. */
function certificateFor(folder: string, hosts: string[]): { ca: string; key: Buffer; cert: Buffer } {
  const at = (name: string) => join(folder, name)
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']
  execFileSync('openssl', ['req', '-x509', ...ec, '-keyout', at('ca.key'), '-out', at('ca.pem'), '-subj', '/CN=all-access test CA', '-days', '1', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'], { stdio: 'ignore' })
  execFileSync('openssl', ['req', ...ec, '-keyout', at('leaf.key'), '-out', at('leaf.csr'), '-subj', `/CN=${hosts[0]}`], { stdio: 'ignore' })
  writeFileSync(at('leaf.ext'), `subjectAltName=${hosts.map((host) => `DNS:${host}`).join(',')}\n`)
  execFileSync('openssl', ['x509', '-req', '-in', at('leaf.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial', '-out', at('leaf.pem'), '-days', '1', '-extfile', at('leaf.ext')], { stdio: 'ignore' })
  return { ca: at('ca.pem'), key: readFileSync(at('leaf.key')), cert: readFileSync(at('leaf.pem')) }
}

// Node's words for a certificate naming other hosts list every host it names: a provider's
// certificate may name hundreds, and what it says went whole into the error line.
describe('all-access serve, calling a provider whose certificate names hundreds of hosts but not the one called', () => {
  let folder: string
  let server: Server
  let store: Store
  let provider: DocumentedProvider
  let serve: RunningServe
  let proxied: Response
  let loginError: string | null
  let lines: string[]

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), 'all-access-certificate-'))
    const { ca, key, cert } = certificateFor(folder, NAMED)
    // Never answers: the BFF gives up on its certificate first.
    server = createServer({ key, cert }, (_request, response) => response.end())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const called = `https://localhost:${(server.address() as AddressInfo).port}`
    provider = await startDocumentedProvider({ answers: {} })
    const databaseUrl = `sqlite://${join(folder, 'db.sqlite3')}`
    const keys = generateKey()
    store = openStore({ databaseUrl, keys: parseKeys(keys) })
    await migrate(store.db)
    const elsewhere = { authorizationUrl: 'https://idp.example/authorize', accessTokenUrl: 'https://idp.example/token', profileUrl: 'https://idp.example/me' }
    await store.providers.add(buildProviderConfig('named-api', { ...elsewhere, apiBaseUrl: `${called}/v1`, clientId: 'c', clientSecret: 's' }))
    await store.providers.add(buildProviderConfig('named-token', { authorizationUrl: `${provider.url}/authorize`, accessTokenUrl: `${called}/token`, profileUrl: `${provider.url}/profile`, clientId: 'c', clientSecret: 's' }))
    // The authority trusted, as a provider's is: only the host names are wrong.
    serve = await startServe({ databaseUrl, keys, env: { NODE_EXTRA_CA_CERTS: ca } })
    const { browser } = await signedIn({ store, url: serve.url }, 'named-api', { accessToken: 'token-named' })
    proxied = await browser.fetch(new URL('/api/named-api/me', serve.url), { headers: { 'X-CSRF': '1' } })
    loginError = authError(await login(new BrowserSession(), serve.url, 'named-token'))
    await serve.stop()
    lines = serve.output().split('\n')
  })

  afterAll(async () => {
    await serve?.stop()
    await provider?.close()
    await store?.close()
    await new Promise((resolve) => server?.close(resolve))
    if (folder) rmSync(folder, { recursive: true, force: true })
  })

  /** The line of `code`, which names the certificate's first hosts and is cut with a mark a few hundred characters after. */
  function expectCut(code: string) {
    const line = lines.find((candidate) => candidate.includes(`${code}: `))
    expect(line).toMatch(new RegExp(`: Hostname/IP does not match certificate's altnames: Host: localhost\\. is not in the cert's altnames: DNS:${NAMED[0]!.replaceAll('.', '\\.')}, DNS:[^…]+…\\[cut:\\d+-chars\\]$`))
    expect(line!.length).toBeLessThan(TEXT_LIMIT + 400)
  }

  it("cuts what Node says of it in the proxy's error line", async () => {
    expect([proxied.status, ((await proxied.json()) as { error: string }).error]).toEqual([502, 'upstream_unreachable'])
    expectCut('upstream_unreachable')
  })

  it("cuts what Node says of it in a failed login's error line", () => {
    expect(loginError).toBe('token_request_failed')
    expectCut('token_request_failed')
  })
})
