import { describe, expect, it } from 'vitest'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { SecretBox, SecretError } from '../server/crypto/secret-box.ts'

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** The SecretError a call throws (failing the test when it throws nothing, or something else). */
function secretErrorOf(call: () => unknown): SecretError {
  try {
    call()
  } catch (error) {
    expect(error).toBeInstanceOf(SecretError)
    return error as SecretError
  }
  throw new Error('expected a SecretError, nothing was thrown')
}

/** Every one-character change of `text` at `index`, over the base64url alphabet and the separator. */
function everyChangeAt(text: string, index: number): string[] {
  return [...BASE64URL, '.', '=', '+', '/'].filter((c) => c !== text[index]).map((c) => text.slice(0, index) + c + text.slice(index + 1))
}

describe('SecretBox', () => {
  const [key] = parseKeys(generateKey())
  const box = new SecretBox([key])

  describe('encrypt then decrypt', () => {
    it('gives back the value, stored as aa1.<key id>.<iv>.<ciphertext> and never in clear', () => {
      const stored = box.encrypt('accounts.access_token', 'token-abc')
      const [prefix, keyId, iv, body] = stored.split('.')
      expect(prefix).toBe('aa1')
      expect(keyId).toBe(key.id)
      expect(Buffer.from(iv, 'base64url')).toHaveLength(12)
      // 9 bytes of plaintext and a 16-byte tag.
      expect(Buffer.from(body, 'base64url')).toHaveLength(9 + 16)
      expect(stored).not.toContain('token-abc')
      expect(stored).not.toContain(Buffer.from('token-abc').toString('base64url'))
      expect(box.decrypt('accounts.access_token', stored)).toBe('token-abc')
    })

    it.each([
      ['a single character', 'x'],
      ['non-ASCII text', 'clé 🔑 ключ'],
      ['a long JSON document', JSON.stringify({ state: 's'.repeat(5000), next: '/' })],
      ['text with dots', 'a.b.c.d'],
    ])('gives back %s unchanged', (_, value) => {
      expect(box.decrypt('f', box.encrypt('f', value))).toBe(value)
    })

    it('uses a fresh 12-byte IV for every value, so equal values never look equal', () => {
      const stored = Array.from({ length: 50 }, () => box.encrypt('f', 'same'))
      expect(new Set(stored).size).toBe(50)
      expect(new Set(stored.map((s) => s.split('.')[2])).size).toBe(50)
    })

    it('stores empty values as NULL and reads NULL back as null', () => {
      expect(box.encrypt('f', '')).toBeNull()
      expect(box.encrypt('f', null)).toBeNull()
      expect(box.encrypt('f', undefined)).toBeNull()
      expect(box.decrypt('f', null)).toBeNull()
      expect(box.decrypt('f', undefined)).toBeNull()
    })

    it('refuses to be made without a key', () => {
      expect(() => new SecretBox([])).toThrow(new TypeError('SecretBox needs at least one key'))
    })
  })

  describe('the field name as authenticated data', () => {
    it('refuses a value moved into another field, naming the field it was read as', () => {
      const stored = box.encrypt('providers.client_secret', 'secret')
      const error = secretErrorOf(() => box.decrypt('providers.client_id', stored))
      expect(error.message).toBe('providers.client_id: stored value failed authentication (tampered, or encrypted for another field)')
    })

    it('refuses an access token read as a refresh token', () => {
      const stored = box.encrypt('accounts.access_token', 'token')
      expect(secretErrorOf(() => box.decrypt('accounts.refresh_token', stored)).message).toMatch(/^accounts\.refresh_token: stored value failed authentication/)
    })
  })

  describe('a stored value that was altered', () => {
    // 18 bytes of plaintext and a 16-byte tag: 46 characters, the last one with spare bits.
    const stored = box.encrypt('accounts.refresh_token', 'refresh-me-please!')
    const [prefix, keyId, iv, body] = stored.split('.')
    const ivStart = prefix.length + 1 + keyId.length + 1
    const bodyStart = ivStart + iv.length + 1

    it.each([
      ['the prefix', 0, prefix.length, /^accounts\.refresh_token: stored value (is not an all-access encrypted value|is not valid base64url)/],
      ['the key id', prefix.length + 1, keyId.length, /^accounts\.refresh_token: (encrypted with unknown key id|stored value is not an all-access encrypted value)/],
      ['the IV', ivStart, iv.length, /^accounts\.refresh_token: stored value (failed authentication|is not valid base64url|is not an all-access encrypted value)/],
      ['the ciphertext', bodyStart, body.length - 22, /^accounts\.refresh_token: stored value (failed authentication|is not valid base64url|is not an all-access encrypted value)/],
      ['the tag', stored.length - 22, 22, /^accounts\.refresh_token: stored value (failed authentication|is not valid base64url|is not an all-access encrypted value)/],
    ])('is refused with a SecretError naming the field, whatever character of %s changed', (_, start, length, message) => {
      let tried = 0
      for (let index = start; index < start + length; index++) {
        for (const altered of everyChangeAt(stored, index)) {
          expect(secretErrorOf(() => box.decrypt('accounts.refresh_token', altered)).message).toMatch(message)
          tried++
        }
      }
      expect(tried).toBeGreaterThan(length * 60)
    })

    it.each([
      ['plain text', 'plain text', 'accounts.refresh_token: stored value is not an all-access encrypted value'],
      ['an empty string', '', 'accounts.refresh_token: stored value is not an all-access encrypted value'],
      ['another format version', stored.replace(/^aa1/, 'aa2'), 'accounts.refresh_token: stored value is not an all-access encrypted value'],
      ['a fifth part', `${stored}.AAAA`, 'accounts.refresh_token: stored value is not an all-access encrypted value'],
      ['a missing part', `${prefix}.${keyId}.${body}`, 'accounts.refresh_token: stored value is not an all-access encrypted value'],
      ['a truncated IV', `${prefix}.${keyId}.${iv.slice(0, 8)}.${body}`, 'accounts.refresh_token: stored value is truncated'],
      ['a body shorter than a tag', `${prefix}.${keyId}.${iv}.${body.slice(0, 20)}`, 'accounts.refresh_token: stored value is truncated'],
      ['the tag cut off', `${prefix}.${keyId}.${iv}.${Buffer.from(body, 'base64url').subarray(0, -16).toString('base64url')}`, 'accounts.refresh_token: stored value failed authentication (tampered, or encrypted for another field)'],
      ['a character appended', `${stored}A`, /^accounts\.refresh_token: stored value (is not valid base64url|failed authentication)/],
      ['padding appended', `${stored}=`, 'accounts.refresh_token: stored value is not valid base64url (tampered)'],
      ['a stray character inside', `${prefix}.${keyId}.${iv}.${body.slice(0, 4)}!${body.slice(4)}`, 'accounts.refresh_token: stored value is not valid base64url (tampered)'],
    ])('refuses %s with a SecretError naming the field', (_, altered, message) => {
      const error = secretErrorOf(() => box.decrypt('accounts.refresh_token', altered))
      if (typeof message === 'string') expect(error.message).toBe(message)
      else expect(error.message).toMatch(message)
    })
  })

  describe('key ids', () => {
    it('names the field and the key id when the key is not known', () => {
      const other = new SecretBox(parseKeys(generateKey()))
      const stored = other.encrypt('accounts.id_token', 'x')
      expect(secretErrorOf(() => box.decrypt('accounts.id_token', stored)).message).toBe(
        `accounts.id_token: encrypted with unknown key id ${other.currentKeyId} (is its key missing from ALLACCESS_KEYS?)`,
      )
    })

    it('encrypts with the first key and decrypts values of every key it holds', () => {
      const [newKey] = parseKeys(generateKey())
      const old = box.encrypt('f', 'old value')
      const rotated = new SecretBox([newKey, key])
      expect(rotated.currentKeyId).toBe(newKey.id)
      expect(rotated.decrypt('f', old)).toBe('old value')
      const fresh = rotated.encrypt('f', 'new value')
      expect(rotated.keyIdOf(fresh)).toBe(newKey.id)
      expect(rotated.decrypt('f', fresh)).toBe('new value')
      expect(secretErrorOf(() => box.decrypt('f', fresh)).message).toMatch(new RegExp(`^f: encrypted with unknown key id ${newKey.id}`))
    })

    it('tells which key a stored value was encrypted with', () => {
      expect(box.keyIdOf(box.encrypt('f', 'v'))).toBe(key.id)
      expect(box.keyIdOf(null)).toBeNull()
    })

    it('refuses a value whose key id was swapped for another known key', () => {
      const [second] = parseKeys(generateKey())
      const both = new SecretBox([key, second])
      const stored = both.encrypt('f', 'value')
      const swapped = stored.replace(`.${key.id}.`, `.${second.id}.`)
      expect(secretErrorOf(() => both.decrypt('f', swapped)).message).toBe('f: stored value failed authentication (tampered, or encrypted for another field)')
    })
  })
})
