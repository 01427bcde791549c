import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { ProviderConfig } from '../shared/provider.ts'
import type { BaseOAuthClient, RejectionEvidence } from '../server/clients/base.ts'
import { displayNameOf, valueAtPath } from '../server/clients/identifier.ts'
import { getClient } from '../server/clients/index.ts'
import { parseAnswerBody } from '../server/clients/provider-http.ts'
import type { ApiResponse, ParsedToken } from '../server/clients/types.ts'
import { AllAccessError } from '../server/errors.ts'
import { defaultHooks } from '../server/hooks.ts'
import { PRESETS } from '../server/providers/presets.ts'
import { buildProviderConfig } from '../server/providers/provider-input.ts'
import { cpuMsSince } from './support/cpu-time.ts'
import { cases } from './support/property.ts'

const IDP = 'https://idp.example'
const endpoints = { authorizationUrl: `${IDP}/authorize`, accessTokenUrl: `${IDP}/token`, profileUrl: `${IDP}/me`, clientId: 'client', clientSecret: 'secret' }

/** Every client all-access may use: one per protocol, and the client of every preset (their quirks included). */
const PROVIDERS: ProviderConfig[] = [
  buildProviderConfig('plain-oauth1', { ...endpoints, requestTokenUrl: `${IDP}/request_token` }),
  buildProviderConfig('plain-oauth2', endpoints),
  buildProviderConfig('plain-oidc', { issuer: IDP, clientId: 'client', clientSecret: 'secret' }),
  ...Object.entries(PRESETS).map(([name, preset]) =>
    buildProviderConfig(name, { preset: name, clientId: 'client', clientSecret: 'secret', params: Object.fromEntries((preset.params ?? []).map((param) => [param.name, param.example])) }),
  ),
]

/** A client whose provider answers `answer` to any profile request, with no network (and, for OpenID Connect, no discovery). */
function offline(provider: ProviderConfig, answer: ApiResponse): BaseOAuthClient {
  const client = getClient(provider)
  const metadata = { issuer: IDP, authorization_endpoint: `${IDP}/authorize`, token_endpoint: `${IDP}/token`, jwks_uri: `${IDP}/jwks`, userinfo_endpoint: `${IDP}/userinfo` }
  Object.assign(client, { send: async () => answer, metadata: async () => metadata })
  return client
}

/** The contract's failure: anything else thrown is a bug that would answer `server_error`. */
function expectContractError(error: unknown): void {
  if (!(error instanceof AllAccessError)) throw error
}

// Keys that providers' parsers look for, and keys that trip careless JavaScript.
const KEYS = ['access_token', 'token_type', 'expires_in', 'refresh_token', 'id_token', 'scope', 'error', 'error_description', 'ok', 'authed_user', 'oauth_token', 'oauth_token_secret', 'oauth_problem', 'errors', 'code', 'id', 'sub', 'name', 'user', 'data', 'open_id', 'union_id', 'user_id', '__proto__', 'toString', 'valueOf', 'constructor', 'hasOwnProperty', 'length', 'then']
const key = fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 6 }))
const { json } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, false, 0, -1, 1e300, 3600, 0.5, '', 'Bearer', 'invalid_grant', 'ok', 'token_rejected', 'token_expired', 89),
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.double(),
    fc.integer(),
    fc.array(tie('json'), { maxLength: 4 }),
    fc.dictionary(key, tie('json'), { maxKeys: 5 }),
  ),
}))
const form = fc.array(fc.tuple(key, fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('3600', '-5', '1e300', 'x', ''))), { maxLength: 6 }).map((pairs) => new URLSearchParams(pairs).toString())
const tokenField = fc.oneof(json, fc.constantFrom('3600', '1e300', '-1', '0x10', ' 60 ', 'Infinity'))
/** Token answers, well and badly formed: the shapes parsers must tell apart. */
const tokenAnswer = fc
  .record(
    { access_token: tokenField, expires_in: tokenField, refresh_token: tokenField, id_token: tokenField, scope: tokenField, error: tokenField, ok: tokenField, authed_user: fc.dictionary(fc.constantFrom('access_token', 'expires_in', 'scope'), tokenField), oauth_token: tokenField, oauth_token_secret: tokenField },
    { requiredKeys: [] },
  )
  .chain((fields) => fc.constantFrom(JSON.stringify(fields), new URLSearchParams(Object.entries(fields).map(([name, value]) => [name, typeof value === 'string' ? value : JSON.stringify(value) ?? ''])).toString()))
/** Objects whose conversion to text JavaScript cannot do: `String({ toString: null })` throws. */
const unprintable = fc.dictionary(fc.constantFrom('toString', 'valueOf', '__proto__', 'constructor'), json, { minKeys: 1, maxKeys: 3 })
const profileField = fc.oneof(json, unprintable)
/** Profile answers, with the fields the presets' clients inspect. */
const profileAnswer = fc
  .record({ ok: profileField, error: fc.oneof(profileField, fc.record({ code: profileField }, { requiredKeys: [] })), errors: profileField, id: profileField, sub: profileField, data: profileField, user: profileField }, { requiredKeys: [] })
  .map((fields) => JSON.stringify(fields))
const body = fc.oneof(
  json.map((value) => JSON.stringify(value) ?? ''),
  tokenAnswer,
  profileAnswer,
  form,
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '{', '[', '{"a":', 'a=1&', '=', '&&&', '%', 'a=%zz', '<html>a=b</html>', 'null', '"text"', '0', 'oauth_token=t&oauth_token_secret=s'),
)
const contentType = fc.oneof(
  fc.constantFrom(null, '', 'application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/problem+json', 'text/javascript', 'text/plain', 'text/html', 'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=utf-8'),
  fc.string({ maxLength: 12 }),
)
const status = fc.constantFrom(200, 201, 204, 400, 401, 403, 404, 500, 502)
const header = fc.oneof(fc.constantFrom(null, '', 'Bearer error="invalid_token"', 'OAuth oauth_problem="token_rejected"', 'OAuth oauth_problem=token_expired', 'OAuth realm="x"'), fc.string({ maxLength: 30 }))

/** An API answer as the account call policy shows it to a client's judge (apiClient's: read whole). */
const evidence = (status: number, headers: Headers, text: string): RejectionEvidence => ({ status, headers, body: async () => text, shortBody: async (limit) => (Buffer.byteLength(text) <= limit ? text : null) })

function headersOf(type: string | null, challenge: string | null): Headers {
  const headers = new Headers()
  // Headers refuses some values a provider could still send; such answers never reach these parsers.
  const set = (name: string, value: string | null) => {
    try {
      if (value !== null) headers.set(name, value)
    } catch {}
  }
  set('content-type', type)
  set('www-authenticate', challenge)
  return headers
}

describe('parsers of provider answers on generated answers', () => {
  it('parseAnswerBody never throws, and reads a JSON body sent as JSON as JSON.parse does', () => {
    fc.assert(
      fc.property(body, contentType, (text, type) => {
        const parsed = parseAnswerBody(text, type)
        if (type?.toLowerCase().startsWith('application/json')) {
          let expected: unknown = text
          try {
            expected = JSON.parse(text)
          } catch {}
          expect(parsed).toEqual(expected)
        }
      }),
      cases(5_000),
    )
  })

  it("every client's parseRawToken gives null or a token with an access token and an expiry a database can hold", () => {
    fc.assert(
      fc.property(fc.constantFrom(...PROVIDERS), body, contentType, (provider, text, type) => {
        const before = Date.now()
        const token = getClient(provider).parseRawToken(text, type)
        if (token === null) return
        expect(typeof token.accessToken).toBe('string')
        expect(token.accessToken.length).toBeGreaterThan(0)
        for (const field of ['tokenSecret', 'refreshToken', 'idToken', 'scope'] as const) expect(token[field] === null || typeof token[field] === 'string').toBe(true)
        if (token.expiresAt !== null) {
          expect(Number.isSafeInteger(token.expiresAt), `expiresAt ${token.expiresAt}`).toBe(true)
          expect(token.expiresAt).toBeGreaterThanOrEqual(before)
        }
      }),
      cases(5_000),
    )
  })

  it("every client's tokenRejected answers true or false for any API answer, never an error", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...PROVIDERS), status, body, contentType, header, async (provider, code, text, type, challenge) => {
        const headers = headersOf(type, challenge)
        const rejected = await getClient(provider).tokenRejected(evidence(code, headers, text))
        expect(typeof rejected).toBe('boolean')
        if (code !== 401) expect(rejected).toBe(false)
      }),
      cases(5_000),
    )
  })

  it("every client's getProfileInfo gives an object or fails with a contract error, whatever the profile answer", async () => {
    const token = fc.record({ accessToken: fc.constantFrom('at', 'a/b?c'), raw: fc.record({ idTokenClaims: fc.option(fc.dictionary(key, json, { maxKeys: 4 }), { nil: undefined }), appleUser: fc.option(json, { nil: undefined }) }, { requiredKeys: [] }) })
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...PROVIDERS), status, body, contentType, token, async (provider, code, text, type, tokenFields) => {
        const headers = headersOf(type, null)
        const answer: ApiResponse = { status: code, ok: code >= 200 && code < 300, headers, text, body: parseAnswerBody(text, headers.get('content-type')) }
        const parsed: ParsedToken = { tokenSecret: 's', refreshToken: null, idToken: null, expiresAt: null, scope: null, ...tokenFields }
        const profile = await offline(provider, answer)
          .getProfileInfo(parsed)
          .catch((error: unknown) => expectContractError(error))
        if (profile !== undefined) expect(typeof profile === 'object' && profile !== null).toBe(true)
      }),
      cases(5_000),
    )
  })

  it('the identifier and display name read from any profile are null or text, the display name at most 200 characters', () => {
    const path = fc.oneof(fc.constantFrom('id', 'sub', 'user.id', 'data.user.open_id', '__proto__', 'constructor.name', 'toString', 'a..b', ''), fc.array(key, { minLength: 1, maxLength: 3 }).map((keys) => keys.join('.')))
    fc.assert(
      fc.property(fc.constantFrom(...PROVIDERS), json, path, fc.option(fc.array(path, { maxLength: 3 }).map((paths) => paths.join(' '))), (provider, profile, identifierPath, namePath) => {
        const identifier = defaultHooks.getUserId({ provider: { ...provider, identifierPath }, profile: profile as Record<string, unknown> })
        expect(identifier === null || (typeof identifier === 'string' && identifier.length > 0)).toBe(true)
        expect(valueAtPath(profile, identifierPath)).toBe(identifier)
        const name = displayNameOf(profile, namePath)
        expect(name === null || (typeof name === 'string' && name.length <= 200 && !/[\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]/.test(name))).toBe(true)
      }),
      cases(5_000),
    )
  })
})

describe("every client's parsers on hostile JSON at every field of a well-formed answer", () => {
  // Each value in turn at each field of an answer the client reads (the root included): what a
  // hostile or broken provider can send where a quirk expects text, a flag or an envelope. The nested
  // ones are far deeper than any recursive walk can go (JSON.stringify's ends near 5,000), and all
  // stay under the 1 MiB cap on answers.
  const HOSTILE: Record<string, string> = {
    'lists nested 100,000 deep': `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
    'objects nested 100,000 deep': `${'{"a":'.repeat(100_000)}0${'}'.repeat(100_000)}`,
    'an object String() cannot print': '{"toString":null,"valueOf":null}',
    'an own __proto__': '{"__proto__":{"ok":true,"code":"ok","access_token":"t","id":"1","sub":"s"}}',
    'a list of 200,000 members': `[${'0,'.repeat(199_999)}0]`,
    'an object of 50,000 members': `{${Array.from({ length: 50_000 }, (_, i) => `"k${i}":${i}`).join(',')}}`,
    'a text of 500,000 characters': JSON.stringify('a'.repeat(500_000)),
    'control and bidi characters': JSON.stringify('\u0000\n\u202e'),
    'a number past 2^53': '12345678901234567890',
    'a fraction': '0.5',
    'a negative number': '-1',
    'a number too large for a double': '1e400',
    null: 'null',
    true: 'true',
    'an empty text': '""',
    'an empty list': '[]',
  }
  // Parsed once: each profile case shares the value rather than parsing 500 kB again.
  const parsedHostile = Object.fromEntries(Object.entries(HOSTILE).map(([name, text]) => [name, JSON.parse(text) as unknown]))

  /** A token answer every client takes: OAuth 2.0's fields, Slack's `authed_user` (with `ok`), OAuth 1.0a's. */
  const TOKEN_ANSWER = {
    ok: true,
    access_token: 'at',
    token_type: 'Bearer',
    expires_in: 3600,
    refresh_token: 'rt',
    scope: 'read,write',
    id_token: 'h.p.s',
    authed_user: { id: 'U1', access_token: 'xoxp-1', token_type: 'user', scope: 'users:read', expires_in: 3600, refresh_token: 'xoxe-1' },
    oauth_token: 'ot',
    oauth_token_secret: 'os',
  }
  /** A refusal every client could read as one: OAuth 1.0a's `oauth_problem`, Twitter's `errors`, OAuth 2.0's `error`. */
  const REFUSAL = { errors: [{ code: 89, message: 'Invalid or expired token.' }], oauth_problem: 'token_expired', error: 'invalid_token' }
  /** The fields of the answers judged by their body whatever their status (Slack, Facebook, Figma, Linear, VK, Flickr). */
  const BODY_REFUSAL = {
    ok: false,
    stat: 'fail',
    code: 98,
    err: 'Invalid token',
    error: { code: 190, error_subcode: 463, error_code: 5, message: 'Invalid token' },
    errors: [{ message: 'Authentication required', extensions: { type: 'authentication error', code: 'AUTHENTICATION_ERROR' } }],
  }

  /** Every path into `value`'s objects and lists, the root (`[]`) first. */
  function pathsOf(value: unknown, prefix: string[] = []): string[][] {
    if (value === null || typeof value !== 'object') return [prefix]
    return [prefix, ...Object.entries(value).flatMap(([key, child]) => pathsOf(child, [...prefix, key]))]
  }
  const MARK = '"@@the hostile value@@"'
  /** `base` as JSON text with `fragment` (JSON text) at `path`. */
  function textWith(base: unknown, path: string[], fragment: string): string {
    return JSON.stringify(valueWith(base, path, JSON.parse(MARK))).replace(MARK, () => fragment)
  }
  /** A copy of `base` with `value` at `path` (missing objects made on the way); `base` is left as it is. */
  function valueWith(base: unknown, path: string[], value: unknown): unknown {
    if (path.length === 0) return value
    const [key, ...rest] = path
    const copy = (Array.isArray(base) ? [...base] : typeof base === 'object' && base !== null ? { ...base } : {}) as Record<string, unknown>
    // Defined, not assigned: assigning to `__proto__` would set the prototype, not a field.
    Object.defineProperty(copy, key, { value: valueWith(copy[key], rest, value), enumerable: true, writable: true, configurable: true })
    return copy
  }
  /** One provider for each implementation of `method`: presets that share a parser parse alike. */
  function oneEach(method: 'parseRawToken' | 'tokenRejected'): ProviderConfig[] {
    const seen = new Set<unknown>()
    return PROVIDERS.filter((provider) => {
      const implementation = getClient(provider)[method]
      return !seen.has(implementation) && Boolean(seen.add(implementation))
    })
  }
  /** Runs `check` on every case, and lists the ones that threw something else than a contract error or took more than a second of CPU. */
  async function failures<T>(cases: T[], name: (one: T) => string, check: (one: T) => unknown): Promise<string[]> {
    const failed: string[] = []
    for (const one of cases) {
      const started = process.cpuUsage()
      try {
        await check(one)
      } catch (error) {
        if (!(error instanceof AllAccessError)) failed.push(`${name(one)}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`)
      }
      // A linear reading of a 1 MiB answer takes milliseconds; a quadratic one, minutes.
      const spent = cpuMsSince(started)
      if (spent > 1000) failed.push(`${name(one)}: ${Math.round(spent)} ms of CPU`)
    }
    return failed
  }
  const everyField = (base: unknown, extra: string[][] = []) => [...pathsOf(base), ...extra].flatMap((path) => Object.keys(HOSTILE).map((value) => ({ path, value })))
  const described = (path: string[], value: string) => `${path.join('.') || '(root)'} = ${value}`

  it("every token parser gives null or a usable token, never an error, in linear time", async () => {
    const fields = everyField(TOKEN_ANSWER, [['error'], ['authed_user', 'error']])
    const cases = oneEach('parseRawToken').flatMap((provider) => fields.map((field) => ({ provider, ...field })))
    const failed = await failures(cases, ({ provider, path, value }) => `${provider.name} parseRawToken ${described(path, value)}`, ({ provider, path, value }) => {
      const token = getClient(provider).parseRawToken(textWith(TOKEN_ANSWER, path, HOSTILE[value]), 'application/json')
      if (token === null) return
      // A token the login would store: text where the columns hold text, an expiry a bigint holds.
      if (typeof token.accessToken !== 'string' || !token.accessToken) throw new TypeError(`access token ${typeof token.accessToken}`)
      for (const field of ['tokenSecret', 'refreshToken', 'idToken', 'scope'] as const) if (token[field] !== null && typeof token[field] !== 'string') throw new TypeError(`${field} ${typeof token[field]}`)
      if (token.expiresAt !== null && !Number.isSafeInteger(token.expiresAt)) throw new TypeError(`expiresAt ${token.expiresAt}`)
    })
    expect(failed).toEqual([])
  })

  it('every judge of a refused token answers true or false, never an error, in linear time', async () => {
    // A 401, and the statuses under which some judge the body (Slack's and Linear's 200, Facebook's 400, Figma's 403).
    const shapes = [...[401, 200].map((status) => ({ status, base: REFUSAL })), ...[200, 400, 403].map((status) => ({ status, base: BODY_REFUSAL }))]
    const cases = oneEach('tokenRejected').flatMap((provider) => shapes.flatMap(({ status, base }) => everyField(base).map((field) => ({ provider, status, base, ...field }))))
    const failed = await failures(cases, ({ provider, status, path, value }) => `${provider.name} tokenRejected ${status} ${described(path, value)}`, async ({ provider, status, base, path, value }) => {
      const text = textWith(base, path, HOSTILE[value])
      const rejected = await getClient(provider).tokenRejected(evidence(status, headersOf('application/json', null), text))
      if (typeof rejected !== 'boolean') throw new TypeError(`tokenRejected gave ${typeof rejected}`)
    })
    expect(failed).toEqual([])
  })

  it("every preset's profile reading gives an object with an identifier and name that are null or text, or fails profile_request_failed, in linear time", async () => {
    // The fields the quirks read besides the documented profile: Slack's and TikTok's error envelopes, Linear's errors, HubSpot's active.
    const extra = [['ok'], ['error'], ['error', 'code'], ['errors'], ['active'], ['token']]
    const cases = PROVIDERS.filter((provider) => !provider.name.startsWith('plain-')).flatMap((provider) => {
      const documented = (JSON.parse(readFileSync(`test/fixtures/presets/${provider.name}.json`, 'utf8')) as { profile: Record<string, unknown> }).profile
      return everyField(documented, extra).map((field) => ({ provider, documented, ...field }))
    })
    const failed = await failures(cases, ({ provider, path, value }) => `${provider.name} getProfileInfo ${described(path, value)}`, async ({ provider, documented, path, value }) => {
      const body = valueWith(documented, path, parsedHostile[value])
      const answer: ApiResponse = { status: 200, ok: true, headers: headersOf('application/json', null), text: '', body }
      // The ID token's subject where the preset has one: OpenID Connect's userinfo must name it too.
      const raw = typeof documented.sub === 'string' ? { idTokenClaims: { sub: documented.sub } } : {}
      const token: ParsedToken = { accessToken: 'at', tokenSecret: 's', refreshToken: null, idToken: null, expiresAt: null, scope: null, raw }
      let profile: Record<string, unknown>
      try {
        profile = await offline(provider, answer).getProfileInfo(token)
      } catch (error) {
        if (error instanceof AllAccessError && error.code !== 'profile_request_failed') throw new TypeError(`failed ${error.code}, not profile_request_failed`)
        throw error
      }
      if (typeof profile !== 'object' || profile === null) throw new TypeError(`profile ${typeof profile}`)
      const identifier = defaultHooks.getUserId({ provider, profile })
      if (identifier !== null && typeof identifier !== 'string') throw new TypeError(`identifier ${typeof identifier}`)
      const name = displayNameOf(profile, provider.displayNamePath ?? null)
      if (name !== null && (typeof name !== 'string' || name.length > 200)) throw new TypeError(`display name ${String(name).slice(0, 20)}`)
    })
    expect(failed).toEqual([])
  })
})

describe('what the generated answers found', () => {
  it('shows names without control characters or bidi controls, which could reverse the text after them', () => {
    expect(displayNameOf({ name: 'Ann\u202eeeL\u202c' })).toBe('AnneeL')
    expect(displayNameOf({ first: 'Ann\u2067', last: 'Lee\u0007' }, 'first last')).toBe('Ann Lee')
    expect(displayNameOf({ name: '\u202e\u2066' })).toBeNull()
  })

  const oauth2 = getClient(PROVIDERS.find((provider) => provider.name === 'plain-oauth2')!)

  it('reads a fractional expires_in as whole milliseconds, and one past 2^53 ms or not a number as no known expiry', () => {
    const before = Date.now()
    const expiresAt = oauth2.parseRawToken('{"access_token":"t","expires_in":1.5}', 'application/json')!.expiresAt!
    expect(Number.isInteger(expiresAt)).toBe(true)
    expect(expiresAt - before).toBeGreaterThanOrEqual(1500)
    expect(oauth2.parseRawToken('{"access_token":"t","expires_in":1e300}', 'application/json')!.expiresAt).toBeNull()
    expect(oauth2.parseRawToken('{"access_token":"t","expires_in":{"toString":null}}', 'application/json')!.expiresAt).toBeNull()
  })

  it.each(['slack-app', 'tiktok'])("fails %s's profile with profile_request_failed when its error field cannot be printed", async (name) => {
    const text = name === 'slack-app' ? '{"ok":false,"error":{"toString":null}}' : '{"error":{"code":{"toString":null}}}'
    const answer: ApiResponse = { status: 200, ok: true, headers: new Headers({ 'content-type': 'application/json' }), text, body: JSON.parse(text) }
    const token: ParsedToken = { accessToken: 'at', tokenSecret: null, refreshToken: null, idToken: null, expiresAt: null, scope: null, raw: {} }
    await expect(offline(PROVIDERS.find((provider) => provider.name === name)!, answer).getProfileInfo(token)).rejects.toMatchObject({ code: 'profile_request_failed', detail: expect.stringContaining('{"toString":null}') })
  })
})

describe('parsers of provider answers on generated answers of 256 KiB', () => {
  // Each answer repeats a generated piece up to the size: the shapes that make a backtracking or
  // quadratic parser take minutes here (the test's own time limit fails it) take a linear one milliseconds.
  const SIZE = 256 * 1024
  const piece = fc.oneof(fc.constantFrom('a=1&', '=', '&', '%', '%2', '{"a":', '[', '"', '\\"', ' ', 'a', '<', 'oauth_problem=', 'errors', '{"errors":[', ',{}'), fc.string({ minLength: 1, maxLength: 6 }))
  const large = fc.tuple(piece, fc.string({ maxLength: 4 })).map(([unit, tail]) => unit.repeat(Math.ceil(SIZE / unit.length)) + tail)
  const protocolClients = PROVIDERS.filter((provider) => provider.name.startsWith('plain-') || provider.name === 'slack-app')

  it('parseAnswerBody, parseRawToken and tokenRejected read each in one pass', async () => {
    await fc.assert(
      fc.asyncProperty(large, contentType, fc.constantFrom(...protocolClients), async (text, type, provider) => {
        parseAnswerBody(text, type)
        const client = getClient(provider)
        client.parseRawToken(text, type)
        await client.tokenRejected(evidence(401, headersOf(type, text.slice(0, 1000)), text))
      }),
      cases(60),
    )
  })
})
