import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { PROTOCOLS, REFRESH_SUPPORT, SCOPE_DELIMITERS, TOKEN_AUTH_METHODS } from '../shared/provider.ts'
import { getClient } from '../server/clients/index.ts'
import { RESERVED_AUTHORIZATION_PARAMS } from '../server/clients/reserved-params.ts'
import { displayNameOf, valueAtPath } from '../server/clients/identifier.ts'
import { OAuthClient, OAuth2Client, OidcClient } from '../server/clients/index.ts'
import { presetConfig } from '../server/providers/fill-preset.ts'
import { PRESETS, type Preset } from '../server/providers/presets.ts'
import { PRESETS_DOC_PATH, presetsMarkdown } from '../server/providers/presets-doc.ts'
import { buildProviderConfig } from '../server/providers/provider-input.ts'

const NAMES = Object.keys(PRESETS)

/** Every parameter at its example value: what a person following the docs would give. */
const examples = (preset: Preset) => Object.fromEntries((preset.params ?? []).map((p) => [p.name, p.example]))

interface Fixture {
  source: string
  profile: Record<string, unknown>
  identifier: string | null
  displayName: string | null
}

const fixture = (name: string): Fixture => JSON.parse(readFileSync(`test/fixtures/presets/${name}.json`, 'utf8')) as Fixture

describe('the presets', () => {
  it('are at least 40, with every provider the issue names', () => {
    expect(NAMES.length).toBeGreaterThanOrEqual(40)
    const named = [
      ...['google', 'microsoft', 'apple', 'gitlab', 'okta', 'auth0', 'keycloak', 'cognito', 'salesforce', 'line', 'yahoo', 'twitch', 'slack', 'linkedin'],
      ...['github', 'facebook', 'bitbucket', 'discord', 'spotify', 'dropbox', 'box', 'reddit', 'atlassian', 'figma', 'notion', 'linear', 'zoom', 'strava'],
      ...['patreon', 'x', 'tiktok', 'paypal', 'mastodon', 'gitea', 'yandex', 'vk', 'hubspot', 'zitadel', 'authentik', 'garmin'],
      ...['twitter', 'trello', 'flickr', 'discogs'],
    ]
    expect(named.filter((name) => !NAMES.includes(name))).toEqual([])
  })

  it('have per-tenant hosts for the providers that run one per customer', () => {
    for (const [name, param] of [['okta', 'domain'], ['auth0', 'domain'], ['keycloak', 'realm'], ['cognito', 'user_pool_id'], ['mastodon', 'instance'], ['gitea', 'domain'], ['zitadel', 'domain'], ['authentik', 'slug'], ['microsoft', 'tenant']]) {
      expect(PRESETS[name].params?.map((p) => p.name), name).toContain(param)
    }
  })

  it("leave a provider added from Garmin's OAuth 1.0a preset, before garmin moved to OAuth 2.0, with the OAuth 1.0a client", () => {
    const before = { ...buildProviderConfig('my-garmin', { preset: 'garmin-oauth1', clientId: 'id', clientSecret: 'secret' }), preset: 'garmin' }
    expect(PRESETS.garmin.protocol).toBe('oauth2')
    expect(getClient(before)).toBeInstanceOf(OAuthClient)
    expect(getClient(before)).not.toBeInstanceOf(OAuth2Client)
  })
})

describe.each(NAMES)('the %s preset', (name) => {
  const preset = PRESETS[name]

  it('uses a known protocol, https URLs only, and the endpoints its protocol needs', () => {
    expect(PROTOCOLS).toContain(preset.protocol)
    for (const url of Object.values(preset.endpoints)) expect(new URL(url.replace(/\{[a-z_]+\}/g, 'x')).protocol).toBe('https:')
    const needed = { oauth1: ['requestTokenUrl', 'authorizationUrl', 'accessTokenUrl', 'profileUrl'], oauth2: ['authorizationUrl', 'accessTokenUrl', 'profileUrl'], oidc: ['issuer'] }[preset.protocol]
    for (const field of needed) expect(preset.endpoints[field as keyof Preset['endpoints']], field).toBeTruthy()
    if (preset.protocol !== 'oauth1') expect(preset.endpoints.requestTokenUrl).toBeUndefined()
    if (preset.protocol !== 'oidc') expect(preset.endpoints.issuer).toBeUndefined()
  })

  it('says what its provider supports, in known terms', () => {
    const { supports } = preset
    expect(REFRESH_SUPPORT).toContain(supports.refresh)
    expect(SCOPE_DELIMITERS).toContain(supports.scopeDelimiter)
    expect(typeof supports.pkce).toBe('boolean')
    expect(supports.identifierPath).toMatch(/^[^.\s]+(\.[^.\s]+)*$/)
    if (supports.displayNamePath !== null) for (const path of supports.displayNamePath.split(' ')) expect(path).toMatch(/^[^.\s]+(\.[^.\s]+)*$/)
    if (preset.protocol === 'oauth1') {
      expect(supports).toEqual(expect.objectContaining({ refresh: 'none', pkce: false, tokenAuthMethod: null }))
      // OAuth 1.0a defines no revocation: a preset revokes only with its provider's own call, which its client makes.
      if (supports.revocation) expect(Object.hasOwn(preset.client?.prototype ?? {}, 'revokeToken'), 'its client revokes').toBe(true)
    } else {
      expect(TOKEN_AUTH_METHODS).toContain(supports.tokenAuthMethod)
    }
    // OpenID Connect fixes the delimiter; an OIDC provider's revocation endpoint may come from discovery.
    if (preset.protocol === 'oidc') expect(supports.scopeDelimiter).toBe(' ')
    if (preset.endpoints.revocationUrl) expect(supports.revocation).toBe(true)
    if (supports.revocation && preset.protocol !== 'oidc') expect(preset.endpoints.revocationUrl).toBeTruthy()
    expect(new URL(preset.docs).protocol).toBe('https:')
  })

  it('holds no secret and no value all-access sets itself', () => {
    const keys: string[] = []
    JSON.stringify({ ...preset, client: undefined }, (key, value: unknown) => (keys.push(key), value))
    expect(keys.filter((key) => /^(client_?id|client_?secret|client_?key|secret|password|api_?key|(access|refresh)_?token)$/i.test(key))).toEqual([])
    for (const param of preset.params ?? []) expect(param.name).not.toMatch(/secret|password/i)
    for (const param of Object.keys(preset.extraAuthorizationParams ?? {})) {
      expect(RESERVED_AUTHORIZATION_PARAMS.has(param), param).toBe(false)
      // A preset's scopes belong in its scope, where a --scope flag can replace them.
      expect(param).not.toBe('scope')
    }
    for (const param of preset.params ?? []) expect(param.default ?? '').not.toMatch(/secret|password|key/i)
  })

  it('fills every template completely from its parameters, and names every parameter it uses', () => {
    const used = new Set(Object.values(preset.endpoints).flatMap((url) => [...url.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1])))
    for (const param of used) expect(preset.params?.map((p) => p.name), `{${param}}`).toContain(param)
    const config = presetConfig(name, examples(preset))
    for (const field of ['requestTokenUrl', 'authorizationUrl', 'accessTokenUrl', 'profileUrl', 'apiBaseUrl', 'issuer', 'revocationUrl'] as const) {
      const url = config[field]
      if (!url) continue
      expect(url).not.toMatch(/[{}]/)
      expect(new URL(url).protocol).toBe('https:')
    }
  })

  it('makes a provider with its capabilities, whose client is its own', () => {
    const config = buildProviderConfig(`my-${name}`, { preset: name, params: examples(preset), clientId: 'id', clientSecret: 'secret' })
    expect(config).toEqual(
      expect.objectContaining({
        protocol: preset.protocol,
        pkce: preset.supports.pkce,
        refresh: preset.supports.refresh,
        scopeDelimiter: preset.supports.scopeDelimiter,
        identifierPath: preset.supports.identifierPath,
        displayNamePath: preset.supports.displayNamePath,
        preset: name,
      }),
    )
    const client = getClient(config)
    const Protocol = { oauth1: OAuthClient, oauth2: OAuth2Client, oidc: OidcClient }[preset.protocol]
    expect(client).toBeInstanceOf(preset.client ?? Protocol)
    expect(client).toBeInstanceOf(Protocol)
  })

  it("reads the identifier and display name out of the provider's documented profile answer", () => {
    const { profile, identifier, displayName, source } = fixture(name)
    expect(new URL(source).protocol).toBe('https:')
    expect(valueAtPath(profile, preset.supports.identifierPath)).toBe(identifier)
    expect(displayNameOf(profile, preset.supports.displayNamePath)).toBe(displayName)
  })
})

describe('docs/providers.md', () => {
  it('is what npm run docs:providers makes from the preset data', () => {
    expect(readFileSync(PRESETS_DOC_PATH, 'utf8')).toBe(presetsMarkdown())
  })

  it('lists every preset', () => {
    const doc = presetsMarkdown()
    for (const name of NAMES) expect(doc).toContain(`| [${name}](${PRESETS[name].docs}) |`)
  })
})
