import type { ProviderConfig } from '../../shared/provider.ts'
import { URL_FIELDS, type ProviderInput } from '../providers/provider-input.ts'
import { presetConfig, presetNamed } from '../providers/fill-preset.ts'
import { PRESETS } from '../providers/presets.ts'

/** One preset as `all-access presets --json` lists it. */
export function presetSummary(name: string) {
  const preset = PRESETS[name]
  const { supports } = preset
  return {
    name,
    displayName: preset.displayName,
    protocol: preset.protocol,
    refresh: supports.refresh,
    pkce: supports.pkce,
    revocation: supports.revocation,
    tokenAuthMethod: supports.tokenAuthMethod,
    scopeDelimiter: supports.scopeDelimiter,
    identifierPath: supports.identifierPath,
    displayNamePath: supports.displayNamePath,
    params: (preset.params ?? []).map((param) => ({ name: param.name, required: param.default === undefined, default: param.default ?? null, example: param.example })),
    docs: preset.docs,
  }
}

const yesNo = (value: boolean) => (value ? 'yes' : 'no')

/** The presets as lines of aligned columns, by name. */
export function presetTable(): string[] {
  const rows = [['name', 'protocol', 'refresh', 'pkce', 'revocation', 'parameters']]
  for (const name of Object.keys(PRESETS).sort()) {
    const summary = presetSummary(name)
    const params = summary.params.map((p) => (p.required ? p.name : `[${p.name}=${p.default}]`)).join(' ')
    rows.push([name, summary.protocol, summary.refresh, yesNo(summary.pkce), yesNo(summary.revocation), params || '-'])
  }
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)))
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('  '))
}

/**
 * What someone adding a provider still has to do or know: the callback URL to register, the
 * preset parameters left at their default, and the preset's own setup note.
 */
export function afterAdding(config: ProviderConfig, callbackUrl: string, input: ProviderInput = {}): string[] {
  const lines = [`callback URL to register with the provider: ${callbackUrl}`]
  if (!config.preset) return lines
  const preset = presetNamed(config.preset)
  for (const param of preset.params ?? []) {
    if (param.default !== undefined && input.params?.[param.name] === undefined) lines.push(`--param ${param.name} not given: using ${param.default} (${param.meaning})`)
  }
  // A preset's endpoints moved elsewhere (GitHub Enterprise) in part: the others, still at the
  // preset's own host, would get this provider's logins, tokens or client secret.
  const movedTo = new Set(URL_FIELDS.flatMap(([field]) => (input[field] ? [new URL(input[field]).origin] : [])))
  for (const [field, flag] of URL_FIELDS) {
    const kept = config[field]
    if (movedTo.size && !input[field] && kept && !movedTo.has(new URL(kept).origin)) lines.push(`note: --${flag} is still the preset's ${kept}: give it too if this provider is elsewhere`)
  }
  if (preset.setup) lines.push(`note: ${preset.setup}`)
  return lines
}

/** The settings a preset gives besides its endpoints, with the flag that sets each. */
const PRESET_SETTINGS = [
  ['protocol', 'protocol'],
  ['displayName', 'display-name'],
  ['scope', 'scope'],
  ['displayNamePath', 'display-name-path'],
  ['pkce', 'pkce'],
  ['tokenAuthMethod', 'token-auth'],
  ['tokenPlacement', 'token-placement'],
  ['refresh', 'refresh'],
  ['scopeDelimiter', 'scope-delimiter'],
  ['extraAuthorizationParams', 'auth-param'],
] as const

function shown(field: string, value: unknown): string {
  if (value === null || value === undefined || value === '') return 'none'
  if (typeof value === 'boolean') return value ? 'on' : 'off'
  if (field === 'scopeDelimiter') return value === ',' ? 'comma' : 'space'
  if (typeof value === 'object') return Object.entries(value).map(([key, v]) => `${key}=${v}`).join(' ') || 'none'
  return JSON.stringify(value)
}

/**
 * What `providers update` re-applying a preset (`--preset`, or `--param` alone) changed without a
 * flag naming it: a value a flag gave when the provider was added is the preset's again, which an
 * operator refreshing endpoints may not expect (a scope, GitHub Enterprise's URLs, the identifier
 * path accounts are matched by). With `--param`, the endpoints follow the parameters given.
 */
export function afterPresetUpdate(before: ProviderConfig, after: ProviderConfig, input: ProviderInput): string[] {
  if (input.preset === undefined && !input.params) return []
  const fields = input.params ? PRESET_SETTINGS : [...URL_FIELDS, ...PRESET_SETTINGS]
  const lines: string[] = []
  for (const [field, flag] of fields) {
    if (input[field] !== undefined) continue
    const was = shown(field, before[field])
    const now = shown(field, after[field])
    if (was !== now) lines.push(`note: --${flag} is now the preset's ${now}, no longer ${was}`)
  }
  // Kept unless a flag names it (buildProviderConfig): the accounts are found by it.
  const presetPath = after.preset ? presetConfig(after.preset, after.presetParams).identifierPath : undefined
  if (input.identifierPath === undefined && presetPath && presetPath !== after.identifierPath) {
    lines.push(`note: --identifier-path stays ${shown('identifierPath', after.identifierPath)}, by which this provider's accounts are found; the preset's is ${shown('identifierPath', presetPath)} (giving it would leave those accounts unfound: each user's next login would make a new user)`)
  }
  return lines
}
