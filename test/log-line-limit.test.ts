import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LINE_LIMIT, textLine } from '../server/log.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { startServe, type RunningServe } from './support/demo-server.ts'
import { startDocumentedProvider, type DocumentedProvider } from './support/documented-provider.ts'
import { authError, login } from './support/login.ts'

/** A profile field of a hundred kilobytes: a provider's answer may run to its megabyte. */
const LONG = 'b'.repeat(100_000)

describe.each(databases)("an error line quoting a provider's answer at length, on $kind", (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  const providers: DocumentedProvider[] = []

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url, {
      hooks: {
        // A host app that quotes what it could not place, as an error message may.
        getOrCreateUser: ({ profile }) => {
          throw new Error(typeof profile.name === 'string' ? `no seat for ${profile.name}` : 'no seat left')
        },
      },
    })
  })

  afterAll(async () => {
    await bff?.close()
    for (const provider of providers) await provider.close()
    await drop?.()
  })

  /** The error lines of a login through a provider whose profile is `profile`, and how it ended. */
  async function loginWithProfile(name: string, profile: Record<string, unknown>): Promise<{ error: string | null; errors: string[] }> {
    const provider = await startDocumentedProvider({
      answers: { '/token': () => ({ body: { access_token: 'at', token_type: 'Bearer' } }), '/profile': () => ({ body: profile }) },
    })
    providers.push(provider)
    await bff.addProvider(name, { protocol: 'oauth2', authorizationUrl: `${provider.url}/authorize`, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/profile`, clientId: 'c', clientSecret: 's' })
    const before = bff.errors.length
    const error = authError(await login(new BrowserSession(), bff.url, name))
    return { error, errors: bff.errors.slice(before) }
  }

  it(`cuts the line to ${LINE_LIMIT} characters with a mark of its length, keeping the request id, the code, the start of the error and its stack trace's frames`, async () => {
    const { errors: ordinary } = await loginWithProfile('ordinary-profile', { id: 'erin' })
    const { error, errors } = await loginWithProfile('long-profile', { id: 'alice', name: LONG })
    expect(error).toBe('server_error')
    expect(errors).toHaveLength(1)
    const line = errors[0]!
    expect(line).toMatch(/^error req=[0-9a-f]+ server_error: Error: no seat for b+…\[cut:\d+-chars\]\n {4}at /)
    // The message is cut, not the frames after it: the same as an ordinary error's from the same hook.
    const framesOf = (text: string) => text.slice(text.indexOf('\n    at '))
    expect(framesOf(line)).toBe(framesOf(ordinary[0]!))
    // The mark gives the length of the line as it was: the whole message and its stack.
    expect(Number(/\[cut:(\d+)-chars\]/.exec(line)![1])).toBeGreaterThan(`error req=0000000000000000 server_error: Error: no seat for ${LONG}`.length)
    expect(line.length).toBeLessThanOrEqual(LINE_LIMIT)
  })

  it(`cuts a line of control characters so that, escaped as the log writes them, it still holds ${LINE_LIMIT} characters at most`, async () => {
    const before = bff.written.length
    const { error, errors } = await loginWithProfile('control-profile', { id: 'bob', name: '\u0001'.repeat(100_000) })
    expect(error).toBe('server_error')
    const line = errors[0]!
    expect(line).toMatch(/^error req=[0-9a-f]+ server_error: Error: no seat for \u0001+…\[cut:\d+-chars\]\n {4}at /)
    expect(textLine(line).length).toBeLessThanOrEqual(LINE_LIMIT)
    const written = bff.written.slice(before).find((candidate) => candidate.startsWith('error '))!
    expect(written).toMatch(/\\u0001…\[cut:\d+-chars\]\n {6}at /)
    expect(written.length).toBeLessThanOrEqual(LINE_LIMIT)
  })

  it("writes a profile's text that reads as a stack frame on the error's line, and only the hook's own frames below it", async () => {
    const before = bff.written.length
    const { error, errors } = await loginWithProfile('forged-frame-profile', { id: 'dave', name: 'mallory\n    at forged (/app/node_modules/all-access/dist/server/all-access.js:1:1)' })
    expect(error).toBe('server_error')
    expect(errors).toHaveLength(1)
    const written = bff.written.slice(before).find((line) => line.startsWith('error '))!
    const [first, ...frames] = written.split('\n')
    expect(first).toMatch(/^error req=[0-9a-f]+ server_error: Error: no seat for mallory\\u000a {4}at forged \(\/app\/node_modules\/all-access\/dist\/server\/all-access\.js:1:1\)$/)
    expect(frames.length).toBeGreaterThan(1)
    for (const frame of frames) expect(frame).toMatch(/^ {6}at (?!forged)/)
  })

  it("keeps an error of ordinary length whole, with its stack trace's frames", async () => {
    const { error, errors } = await loginWithProfile('short-profile', { id: 'carol' })
    expect(error).toBe('server_error')
    expect(errors).toEqual([expect.stringMatching(/^error req=[0-9a-f]+ server_error: Error: no seat left\n {4}at /)])
    expect(errors[0]).not.toContain('[cut:')
    expect(errors[0]!.split('\n    at ').length).toBeGreaterThan(2)
  })
})

describe("all-access serve's own error line, quoting a client's path of thousands of characters", () => {
  let folder: string
  let serve: RunningServe

  beforeAll(async () => {
    // A static folder holding a link that loops: a file under it fails to be read with an error
    // naming the path asked for (as one under a folder the server may not read would).
    folder = mkdtempSync(join(tmpdir(), 'all-access-static-'))
    writeFileSync(join(folder, 'index.html'), '<p>app</p>')
    symlinkSync('loop', join(folder, 'loop'))
    serve = await startServe({ env: { ALLACCESS_STATIC_DIR: folder } })
  })

  afterAll(async () => {
    await serve?.stop()
    rmSync(folder, { recursive: true, force: true })
  })

  it(`is cut to ${LINE_LIMIT} characters with the same mark, as every line handed to a logger is`, async () => {
    // Under the 4,096 bytes a file path may have, with the folder's: longer, the file is simply not there.
    const path = `/loop/${'y'.repeat(4_080 - folder.length)}.js`
    const response = await fetch(new URL(path, serve.url))
    expect(response.status).toBe(500)
    await serve.stop()
    const line = serve.output().split('\n').find((candidate) => candidate.startsWith('error '))
    expect(line).toMatch(new RegExp(`^error req=${response.headers.get('x-request-id')} server_error: Error: ELOOP: [^']*'${folder}/loop/y+…\\[cut:\\d+-chars\\]$`))
    expect(line!.length).toBeLessThanOrEqual(LINE_LIMIT)
  })
})
