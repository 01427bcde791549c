import type { Preset } from './preset.ts'
import { PRESETS } from './presets.ts'

/** Where the generated page lives, from the package root. */
export const PRESETS_DOC_PATH = 'docs/providers.md'

const PROTOCOL_NAMES: Record<Preset['protocol'], string> = { oauth1: 'OAuth 1.0a', oauth2: 'OAuth 2.0', oidc: 'OpenID Connect' }

const code = (value: string) => `\`${value.replace(/\|/g, '\\|')}\``
const yesNo = (value: boolean) => (value ? 'yes' : 'no')

function row(name: string, preset: Preset): string {
  const { supports } = preset
  const params = (preset.params ?? []).map((p) => (p.default === undefined ? code(p.name) : `${code(p.name)} (default ${code(p.default)})`)).join(', ')
  const cells = [
    `[${name}](${preset.docs})`,
    preset.displayName,
    PROTOCOL_NAMES[preset.protocol],
    supports.refresh,
    yesNo(supports.pkce),
    yesNo(supports.revocation),
    supports.tokenAuthMethod ? code(supports.tokenAuthMethod) : 'signed (1.0a)',
    supports.scopeDelimiter === ',' ? 'comma' : 'space',
    code(supports.identifierPath),
    supports.displayNamePath ? code(supports.displayNamePath) : 'usual fields',
    params || '-',
    preset.client ? code(preset.client.name) : '-',
  ]
  return `| ${cells.join(' | ')} |`
}

/** docs/providers.md, made from the preset data alone: a test fails when the file in the repository differs. */
export function presetsMarkdown(): string {
  const names = Object.keys(PRESETS).sort()
  const parameters = names.flatMap((name) => (PRESETS[name].params ?? []).map((p) => `- \`${name}\` — \`${p.name}\`: ${p.meaning} (e.g. \`${p.example}\`${p.default === undefined ? '' : `; default \`${p.default}\``})`))
  const notes = names.filter((name) => PRESETS[name].setup).map((name) => `- \`${name}\`: ${PRESETS[name].setup}`)
  return `# Provider presets

<!-- Generated from server/providers/presets.ts by \`npm run docs:providers\`. Edit the data, then run it. -->

${names.length} presets. Each one knows its provider's endpoints and what the provider supports, as its
documentation (linked from its name) says. Add one with

\`\`\`sh
npx all-access providers add <name> --preset <preset> [--param key=value …] --client-id … --client-secret …
\`\`\`

and register the callback URL it prints. Any flag overrides a preset value. \`npx all-access presets\`
lists the same table in the terminal (\`--json\` for programs).

| preset | provider | protocol | refresh | PKCE | revocation | token endpoint auth | scopes joined by | identifier | display name | parameters | client |
|---|---|---|---|---|---|---|---|---|---|---|---|
${names.map((name) => row(name, PRESETS[name])).join('\n')}

- **refresh**: \`none\` — the provider gives no refresh token, and none is ever attempted (the user signs in
  again when the token dies); \`static\` — one refresh token that stays valid; \`rotating\` — a new refresh
  token at every refresh, which all-access stores before using again.
- **PKCE**: S256 is sent only where the provider documents it.
- **revocation**: tokens are revoked when the user disconnects the account (RFC 7009, or the provider's
  own call made by the preset's client).
- **identifier** / **display name**: dotted paths into the profile; several paths separated by spaces are
  joined (\`firstname lastname\`). "usual fields" means the first of \`name\`, \`display_name\`, \`login\`,
  \`username\`, \`email\`… present.
- **client**: the client class that handles what the provider does differently from the protocol.

## Parameters

Per-tenant providers take their host (or tenant) as \`--param name=value\`. A parameter without a default
is required: \`providers add\` refuses, in one line naming it, to add the preset without it.

${parameters.join('\n')}

## Notes

${notes.join('\n')}

## Adding a preset

1. Read the provider's own documentation: authorization, token, profile and revocation endpoints;
   whether it gives refresh tokens and whether they rotate; PKCE; how the client authenticates at the
   token endpoint; how scopes are separated; where the profile holds the user's id and name.
2. Add a record to \`PRESETS\` in \`server/providers/presets.ts\`: endpoints (with \`{param}\` for per-tenant
   parts, and the parameter in \`params\`), \`scope\`, \`supports\` and \`docs\`. OpenID Connect presets name
   the \`issuer\`; discovery gives the rest.
3. When the provider departs from the protocol, write a small client in \`server/providers/quirks/\`
   (override one hook: \`encodeTokenRequest\`, \`authenticateClient\`, \`getRedirectArgs\`,
   \`getProfileInfo\`, \`revokeAt\`, \`authorizeRequest\`…) and name it in the record's \`client\`.
4. Save the provider's documented profile answer as \`test/fixtures/presets/<preset>.json\`, with the
   identifier and display name it must give. A quirk gets a test against a local server that answers
   as the provider documents (\`test/preset-quirks.test.ts\`).
5. Run \`npm run docs:providers\` to regenerate this page, and \`npm test\`.
`
}
