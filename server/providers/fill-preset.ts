import type { ProviderConfig } from '../../shared/provider.ts'
import type { Preset, PresetEndpoints } from './preset.ts'
import { PRESETS } from './presets.ts'
import { ProviderInputError } from './provider-input-error.ts'

/** A parameter's value goes into a host or a path segment: nothing that could move to another host or path. */
const PARAM_VALUE = /^[A-Za-z0-9][A-Za-z0-9._~:-]*$/

const ENDPOINTS: (keyof PresetEndpoints)[] = ['requestTokenUrl', 'authorizationUrl', 'accessTokenUrl', 'profileUrl', 'apiBaseUrl', 'issuer', 'revocationUrl']

export function presetNamed(name: string): Preset {
  if (!Object.hasOwn(PRESETS, name)) throw new ProviderInputError(`--preset: unknown preset "${name}" (all-access presets lists them)`)
  return PRESETS[name]
}

/** The preset's parameters with their values: those given, then the defaults. Throws on an unknown, bad or missing one. */
export function presetParams(name: string, given: Record<string, string> = {}): Record<string, string> {
  const declared = presetNamed(name).params ?? []
  for (const [param, value] of Object.entries(given)) {
    if (!declared.some((p) => p.name === param)) {
      const known = declared.length ? `it takes ${declared.map((p) => p.name).join(', ')}` : 'it takes none'
      throw new ProviderInputError(`--param: the ${name} preset has no parameter "${param}" (${known})`)
    }
    if (!PARAM_VALUE.test(value) || value.length > 200) throw new ProviderInputError(`--param ${param}: "${value}" may hold only letters, digits and . _ ~ : -`)
  }
  const values: Record<string, string> = {}
  for (const param of declared) {
    const value = given[param.name] ?? param.default
    if (value === undefined) throw new ProviderInputError(`--preset ${name} needs --param ${param.name}=… (${param.meaning}, e.g. ${param.example})`)
    values[param.name] = value
  }
  return values
}

/** Replaces each `{name}` of a template with its parameter's value. */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{([a-z_]+)\}/g, (whole, name: string) => values[name] ?? whole)
}

/**
 * Everything a preset sets on a provider, its endpoints filled with the parameters' values: every
 * field it covers, so that re-applying a preset on `providers update` leaves nothing of another.
 */
export function presetConfig(name: string, given: Record<string, string> = {}): Partial<ProviderConfig> {
  const preset = presetNamed(name)
  const values = presetParams(name, given)
  const endpoints: Partial<ProviderConfig> = {}
  for (const field of ENDPOINTS) {
    const template = preset.endpoints[field]
    endpoints[field] = template === undefined ? null : fillTemplate(template, values)
  }
  const { supports } = preset
  return {
    displayName: preset.displayName,
    protocol: preset.protocol,
    ...endpoints,
    scope: preset.scope ?? null,
    extraAuthorizationParams: preset.extraAuthorizationParams ?? {},
    tokenPlacement: preset.tokenPlacement ?? 'header',
    tokenAuthMethod: supports.tokenAuthMethod ?? 'client_secret_basic',
    pkce: supports.pkce,
    refresh: supports.refresh,
    scopeDelimiter: supports.scopeDelimiter,
    identifierPath: supports.identifierPath,
    displayNamePath: supports.displayNamePath,
    preset: name,
    presetParams: values,
  }
}
