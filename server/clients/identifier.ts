/**
 * Reads a value by dotted path (`id`, `response.user.id`), as django-all-access's identifier
 * lookup does. Whole numbers become strings; anything else missing or empty gives null. A number
 * past 2^53 gives null too: JSON.parse has already rounded it, onto the id of another identity.
 */
export function valueAtPath(profile: unknown, path: string): string | null {
  let value: unknown = profile
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, part)) return null
    value = (value as Record<string, unknown>)[part]
  }
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
  if (typeof value === 'string' && value.length > 0) return value
  return null
}

const NAME_FIELDS = ['name', 'display_name', 'displayName', 'screen_name', 'login', 'username', 'preferred_username', 'nickname', 'email']

/**
 * A human name for an account: the values at `path` (space-separated dotted paths, joined with a
 * space, as `firstname lastname`), else the first common profile field present.
 */
export function displayNameOf(profile: unknown, path: string | null = null): string | null {
  if (path) {
    const parts = path.split(/\s+/).map((one) => valueAtPath(profile, one)).filter((value) => value !== null)
    const name = shown(parts.join(' '))
    if (name) return name
  }
  for (const field of NAME_FIELDS) {
    const value = valueAtPath(profile, field)
    const name = value && shown(value)
    if (name) return name
  }
  return null
}

/**
 * A name as it is shown: no control characters (PostgreSQL refuses U+0000 in text), no bidi
 * embeddings, overrides or isolates (U+202A–U+202E, U+2066–U+2069: a name could reverse the text
 * shown after it), at most 200 characters.
 */
const shown = (name: string): string | null => name.replace(/[\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]/g, '').slice(0, 200) || null
