import { readFileSync } from 'node:fs'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import type { ProviderInput } from '../providers/provider-input.ts'
import { InputError } from '../input-error.ts'

export class UsageError extends InputError {
  override name = 'UsageError'
}

/** Every flag of `providers add` and `update` (exported for the test that each shows in `providers list --json`). */
export const PROVIDER_OPTIONS = {
  preset: { type: 'string' },
  protocol: { type: 'string' },
  'display-name': { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret': { type: 'string' },
  'request-token-url': { type: 'string' },
  'authorization-url': { type: 'string' },
  'access-token-url': { type: 'string' },
  'profile-url': { type: 'string' },
  'api-base-url': { type: 'string' },
  issuer: { type: 'string' },
  'revocation-url': { type: 'string' },
  scope: { type: 'string' },
  'identifier-path': { type: 'string' },
  'no-pkce': { type: 'boolean' },
  pkce: { type: 'boolean' },
  'token-auth': { type: 'string' },
  'token-placement': { type: 'string' },
  'auth-param': { type: 'string', multiple: true },
  param: { type: 'string', multiple: true },
  'display-name-path': { type: 'string' },
  refresh: { type: 'string' },
  'scope-delimiter': { type: 'string' },
} as const satisfies ParseArgsConfig['options']

/** parseArgs, with its errors turned into one readable line. */
type Flags<T extends NonNullable<ParseArgsConfig['options']>> = ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>>

export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T): Flags<T> {
  const { values, positionals } = parseTokens(args, options)
  return { values, positionals } as Flags<T>
}

function parseTokens<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  let parsed
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true, tokens: true })
  } catch (error) {
    const message = (error as Error).message.split('\n')[0]
    const unknown = /Unknown option '([^']+)'/.exec(message)
    if (unknown) throw new UsageError(`unknown flag ${unknown[1]}`)
    // A value that starts with `-` (a random secret may): Node's first line names no way out, its third the one below.
    const ambiguous = /Option '--([^']+)' argument is ambiguous/.exec(message)
    if (ambiguous) throw new UsageError(`--${ambiguous[1]}: a value that starts with "-" is written --${ambiguous[1]}=-…${SECRET_FLAGS[ambiguous[1]] ?? ''}`)
    throw new UsageError(message)
  }
  // parseArgs keeps the last of a repeated flag: `--client-id a … --client-id b` is a mistake to name, not to guess at.
  const seen = new Set<string>()
  for (const token of parsed.tokens) {
    if (token.kind !== 'option' || options[token.name]?.multiple) continue
    if (seen.has(token.name)) throw new UsageError(`--${token.name} given twice`)
    seen.add(token.name)
  }
  return parsed as typeof parsed & Flags<T>
}

/** Flags whose values are never repeated back: what follows one unquoted may be the rest of it. */
const SECRET_FLAGS: Record<string, string> = { 'client-secret': ', or give the secret as --client-secret - on standard input', 'client-id': '' }

export function parseProviderFlags(args: string[]): { name: string; input: ProviderInput } {
  const { values, positionals, tokens } = parseTokens(args, PROVIDER_OPTIONS)
  if (positionals.length === 0) throw new UsageError('a provider name is required')
  if (positionals.length > 1) {
    const stray = tokens.filter((token) => token.kind === 'positional')[1]
    const before = tokens[tokens.indexOf(stray) - 1]
    if (before?.kind === 'option' && before.value !== undefined && Object.hasOwn(SECRET_FLAGS, before.name)) {
      throw new UsageError(`unexpected argument after the value of --${before.name} (quote a value that holds spaces${SECRET_FLAGS[before.name]})`)
    }
    throw new UsageError(`unexpected argument "${positionals[1]}"`)
  }
  if (values['no-pkce'] && values.pkce) throw new UsageError('--pkce and --no-pkce contradict each other')
  const extra = authParams(values['auth-param'])
  const params = keyValues('param', values.param)
  const input: ProviderInput = {
    preset: values.preset,
    protocol: values.protocol,
    displayName: values['display-name'],
    clientId: values['client-id'],
    // `--client-secret -` reads it from standard input, out of the shell history and process list.
    clientSecret: values['client-secret'] === '-' ? readSecretFromStdin() : values['client-secret'],
    requestTokenUrl: values['request-token-url'],
    authorizationUrl: values['authorization-url'],
    accessTokenUrl: values['access-token-url'],
    profileUrl: values['profile-url'],
    apiBaseUrl: values['api-base-url'],
    issuer: values.issuer,
    revocationUrl: values['revocation-url'],
    scope: values.scope,
    identifierPath: values['identifier-path'],
    pkce: values['no-pkce'] ? false : values.pkce ? true : undefined,
    tokenAuthMethod: values['token-auth'],
    tokenPlacement: values['token-placement'],
    extraAuthorizationParams: extra,
    params,
    displayNamePath: values['display-name-path'],
    refresh: values.refresh,
    scopeDelimiter: values['scope-delimiter'],
  }
  return { name: positionals[0], input }
}

/**
 * `--auth-param key=value`, repeated; `--auth-param ''` for none, as an empty value clears the other
 * flags' settings: given, the flags replace the provider's whole set, so without it the last
 * parameter could never go.
 */
function authParams(pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs?.includes('')) return keyValues('auth-param', pairs)
  if (pairs.length > 1) throw new UsageError('--auth-param "" clears every authorization parameter: give it alone')
  return {}
}

/**
 * Repeated `--flag key=value` as a record; undefined when the flag is absent. Built from entries, so
 * that every key is a key of its own: assigned, `__proto__=x` was dropped without a word.
 */
function keyValues(flag: string, pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs) return undefined
  const values = new Map<string, string>()
  for (const pair of pairs) {
    const at = pair.indexOf('=')
    if (at < 1) throw new UsageError(`--${flag}: expected key=value, got "${pair}"`)
    const key = pair.slice(0, at)
    // As for a flag given twice: the last value would silently win over the first.
    if (values.has(key)) throw new UsageError(`--${flag} ${key} given twice`)
    values.set(key, pair.slice(at + 1))
  }
  return Object.fromEntries(values)
}

function readSecretFromStdin(): string {
  let secret: string
  try {
    secret = readFileSync(0, 'utf8').trim()
  } catch {
    throw new UsageError('--client-secret -: could not read the secret from standard input')
  }
  if (!secret) throw new UsageError('--client-secret -: standard input was empty')
  return secret
}
