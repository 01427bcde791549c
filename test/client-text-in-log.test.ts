import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEXT_LIMIT } from '../server/cut-text.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { startServe, type RunningServe } from './support/demo-server.ts'
import { startOidcSandbox, type RunningOidcSandbox } from './support/oidc-sandbox.ts'

const CSRF = { 'X-CSRF': '1' }

/** A path as long as Node's 16 KiB of headers lets a client send. */
const LONG = 'a'.repeat(15_000)

/** A compact JWT with this protected header: no key or signature is looked at before the header is judged. */
function jwtWithHeader(header: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  return `${part(header)}.${part({ iss: 'x' })}.${Buffer.from('signature').toString('base64url')}`
}

/** Lines of a log, each short enough that a client's text was cut: what the client chose is a few hundred characters at most, `times` times. */
function expectShort(lines: string[], times = 1) {
  for (const line of lines) expect(line.length).toBeLessThan(times * (TEXT_LIMIT + 200))
}

describe.each(databases)('what a client chose, in the log, on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let idp: RunningOidcSandbox

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url)
    idp = await startOidcSandbox({ clients: [{ clientId: 'client-idp', clientSecret: 'secret-idp-0123456789', redirectUris: [`${bff.url}/auth/callback/idp`] }], autoApprove: 'alice' })
    await bff.addProvider('idp', { issuer: idp.issuer, clientId: 'client-idp', clientSecret: 'secret-idp-0123456789', scope: 'openid' })
  })

  afterAll(async () => {
    await bff?.close()
    await idp?.close()
    await drop?.()
  })

  /** The lines `run` made the BFF log. */
  async function linesOf(run: () => Promise<Response>): Promise<{ lines: string[]; response: Response }> {
    const before = bff.logs.length
    const response = await run()
    await response.body?.cancel()
    return { lines: bff.logs.slice(before), response }
  }

  it('cuts a path of thousands of characters to a few hundred in the request line, with a mark, and keeps method, status and request id', async () => {
    const path = `/api/nobody/${LONG}`
    const { lines, response } = await linesOf(() => fetch(new URL(path, bff.url), { headers: CSRF }))
    expect(response.status).toBe(401)
    const id = response.headers.get('x-request-id')
    expect(lines).toEqual([`GET ${path.slice(0, TEXT_LIMIT)}…[cut:${path.length}-chars] 401 ${lines[0]!.split(' ')[3]} req=${id}`])
    expect(lines[0]).toMatch(/^GET \S+ 401 \d+ms req=[0-9a-f]+$/)
    expectShort(lines)
  })

  it("cuts a header of thousands of characters quoted in a refusal's detail: another site's login start naming its Sec-Fetch-Dest", async () => {
    const destination = 'd'.repeat(12_000)
    const { lines, response } = await linesOf(() =>
      fetch(new URL('/auth/login/idp', bff.url), { redirect: 'manual', headers: { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'no-cors', 'Sec-Fetch-Dest': destination } }),
    )
    expect(response.status).toBe(403)
    const id = response.headers.get('x-request-id')
    const detail = `a login start from another site's ${destination}`
    expect(lines).toEqual([`refused req=${id} origin_not_allowed: ${detail.slice(0, TEXT_LIMIT)}…[cut:${detail.length}-chars]`, expect.stringMatching(/^GET \/auth\/login\/idp 403 /)])
    expectShort(lines)
  })

  it("cuts a logout token's header of thousands of characters quoted in the refusal's detail: anyone may post one", async () => {
    const parameter = 'p'.repeat(10_000)
    const { lines, response } = await linesOf(() =>
      fetch(new URL('/auth/backchannel-logout/idp', bff.url), { method: 'POST', body: new URLSearchParams({ logout_token: jwtWithHeader({ alg: 'RS256', crit: [parameter] }) }) }),
    )
    expect(response.status).toBe(400)
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^refused req=${response.headers.get('x-request-id')} invalid_request: logout token rejected: Extension Header Parameter "p{${TEXT_LIMIT - 60},}…\\[cut:\\d+-chars\\]$`)),
      expect.stringMatching(/^POST \/auth\/backchannel-logout\/idp 400 /),
    ])
    expectShort(lines)
  })

  it('keeps a path of ordinary length whole', async () => {
    const path = `/auth/login/${'b'.repeat(TEXT_LIMIT - '/auth/login/'.length)}`
    const { lines, response } = await linesOf(() => fetch(new URL(path, bff.url), { redirect: 'manual' }))
    expect(response.status).toBe(404)
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^GET ${path} 404 \\d+ms req=${response.headers.get('x-request-id')}$`))])
  })
})

describe('all-access serve with ALLACCESS_LOG_FORMAT=json, asked for a path of thousands of characters', () => {
  let serve: RunningServe

  beforeAll(async () => {
    serve = await startServe({ env: { ALLACCESS_LOG_FORMAT: 'json' } })
  })

  afterAll(async () => {
    await serve?.stop()
  })

  it("cuts it in the line's msg and path alike, for the BFF's routes and the SPA's pages", async () => {
    const asked = [`/api/nobody/${LONG}`, `/app/${LONG}`]
    const ids: (string | null)[] = []
    for (const path of asked) {
      const response = await fetch(new URL(path, serve.url), { headers: CSRF })
      await response.body?.cancel()
      ids.push(response.headers.get('x-request-id'))
    }
    await serve.stop()
    const entries = serve.output().trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
    const requests = entries.filter((entry) => entry.method !== undefined)
    expect(requests.map(({ path, status, req }) => ({ path, status, req }))).toEqual([
      { path: `${asked[0]!.slice(0, TEXT_LIMIT)}…[cut:${asked[0]!.length}-chars]`, status: 401, req: ids[0] },
      { path: `${asked[1]!.slice(0, TEXT_LIMIT)}…[cut:${asked[1]!.length}-chars]`, status: 200, req: ids[1] },
    ])
    for (const request of requests) expect(request.msg).toBe(`GET ${request.path as string} ${request.status as number} ${request.ms as number}ms req=${request.req as string}`)
    // The path twice: in msg and in its own field.
    expectShort(serve.output().trimEnd().split('\n'), 2)
  })
})

/** A log's lines as Python's `str.splitlines()` reads them, or JavaScript's multiline `^`: at every line terminator Unicode names. */
const splitLines = (text: string) => text.split(/\r\n|[\n\r\u000b\u000c\u001c-\u001e\u0085\u2028\u2029]/)

describe.each(['text', 'json'])('all-access serve with ALLACCESS_LOG_FORMAT=%s, posted a logout token whose header holds line separators', (format) => {
  let serve: RunningServe

  beforeAll(async () => {
    serve = await startServe({ sandbox: true, env: { ALLACCESS_LOG_FORMAT: format } })
  })

  afterAll(async () => {
    await serve?.stop()
  })

  it('escapes them, so that the text after them starts no line of its own', async () => {
    const forged = 'GET /auth/session 200 0ms req=f0f0f0f0f0f0f0f0'
    const parameter = `x\u2028${forged}\u2029${forged}`
    const response = await fetch(new URL('/auth/backchannel-logout/sandbox-oidc', serve.url), { method: 'POST', body: new URLSearchParams({ logout_token: jwtWithHeader({ alg: 'RS256', crit: [parameter] }) }) })
    expect(response.status).toBe(400)
    await serve.stop()
    const output = serve.output()
    expect(splitLines(output).filter((line) => line.includes('req=f0f0'))).toEqual([expect.stringMatching(/^(refused|\{)/)])
    const refusal = `refused req=${response.headers.get('x-request-id')} invalid_request: logout token rejected: Extension Header Parameter "${parameter}" is not recognized`
    if (format === 'json') {
      // The sandbox's own library warns in plain text: the BFF's lines are the objects.
      const entries = output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
      // Escaped, they read back as the characters the client sent.
      expect(entries).toContainEqual(expect.objectContaining({ level: 'info', msg: refusal }))
    } else {
      expect(output.split('\n')).toContain(refusal.replace('\u2028', '\\u2028').replace('\u2029', '\\u2029'))
    }
  })
})

describe.each(['text', 'json'])('all-access serve with ALLACCESS_LOG_FORMAT=%s, posted a logout token whose header holds a line break', (format) => {
  let serve: RunningServe

  beforeAll(async () => {
    serve = await startServe({ sandbox: true, env: { ALLACCESS_LOG_FORMAT: format } })
  })

  afterAll(async () => {
    await serve?.stop()
  })

  // Indented, the text after it was still a line of its own to awk or a collector that takes one record a line.
  it('escapes it, so that the text after it is no line of the log, indented or not', async () => {
    const forged = 'GET /auth/session 500 0ms req=f0f0f0f0f0f0f0f0'
    const parameter = `x\n${forged}\r\n    ${forged}`
    const response = await fetch(new URL('/auth/backchannel-logout/sandbox-oidc', serve.url), { method: 'POST', body: new URLSearchParams({ logout_token: jwtWithHeader({ alg: 'RS256', crit: [parameter] }) }) })
    expect(response.status).toBe(400)
    await serve.stop()
    const output = serve.output()
    expect(output.split('\n').filter((line) => line.includes('req=f0f0'))).toEqual([expect.stringMatching(/^(refused|\{)/)])
    const refusal = `refused req=${response.headers.get('x-request-id')} invalid_request: logout token rejected: Extension Header Parameter "${parameter}" is not recognized`
    if (format === 'json') {
      const entries = output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
      expect(entries).toContainEqual(expect.objectContaining({ level: 'info', msg: refusal }))
    } else {
      expect(output.split('\n')).toContain(refusal.replace('\r', '\\u000d').replaceAll('\n', '\\u000a'))
    }
  })
})

describe.each(['text', 'json'])("all-access serve with ALLACCESS_LOG_FORMAT=%s, posted a logout token whose header holds Unicode's bidirectional controls", (format) => {
  let serve: RunningServe

  beforeAll(async () => {
    serve = await startServe({ sandbox: true, env: { ALLACCESS_LOG_FORMAT: format } })
  })

  afterAll(async () => {
    await serve?.stop()
  })

  // U+202E shows what follows it right to left in a log viewer (a browser's, a bidi terminal's): the
  // client's text would show, in the BFF's line, as words the BFF never wrote.
  it('escapes them, so that a viewer shows the line in the order it was written', async () => {
    const controls = ['\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069']
    const parameter = `x${controls.join('')}0f0f0f0f0f0f0f0f=qer sm0 002 noisses/htua/ TEG`
    const response = await fetch(new URL('/auth/backchannel-logout/sandbox-oidc', serve.url), { method: 'POST', body: new URLSearchParams({ logout_token: jwtWithHeader({ alg: 'RS256', crit: [parameter] }) }) })
    expect(response.status).toBe(400)
    await serve.stop()
    const output = serve.output()
    for (const control of controls) expect(output).not.toContain(control)
    const refusal = `refused req=${response.headers.get('x-request-id')} invalid_request: logout token rejected: Extension Header Parameter "${parameter}" is not recognized`
    if (format === 'json') {
      // Escaped, they read back as the characters the client sent.
      const entries = output.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
      expect(entries).toContainEqual(expect.objectContaining({ level: 'info', msg: refusal }))
    } else {
      const escapedControls = controls.map((control) => `\\u${control.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')
      expect(output.split('\n')).toContain(refusal.replace(controls.join(''), escapedControls))
    }
  })
})
