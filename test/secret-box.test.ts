import { describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, statSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKey, loadKeys, parseKeys, rootKey } from '../server/crypto/keys.ts'
import { SecretBox } from '../server/crypto/secret-box.ts'

describe('SecretBox', () => {
  const [key] = parseKeys(generateKey())
  const box = new SecretBox([key])

  it('round-trips a value and never stores it in clear', () => {
    const stored = box.encrypt('accounts.access_token', 'token-abc')
    expect(stored).toMatch(new RegExp(`^aa1\\.${key.id}\\.[A-Za-z0-9_-]{16}\\.[A-Za-z0-9_-]+$`))
    expect(stored).not.toContain('token-abc')
    expect(box.decrypt('accounts.access_token', stored)).toBe('token-abc')
  })

  it('uses a fresh IV for every value', () => {
    expect(box.encrypt('f', 'same')).not.toBe(box.encrypt('f', 'same'))
  })

  it('stores empty values as NULL', () => {
    expect(box.encrypt('f', '')).toBeNull()
    expect(box.encrypt('f', null)).toBeNull()
    expect(box.decrypt('f', null)).toBeNull()
  })

  it('refuses a value moved to another field', () => {
    const stored = box.encrypt('providers.client_secret', 'secret')
    expect(() => box.decrypt('providers.client_id', stored)).toThrow(/providers\.client_id: stored value failed authentication/)
  })

  it.each([
    ['the ciphertext', (parts: string[]) => { parts[3] = (parts[3][0] === 'A' ? 'B' : 'A') + parts[3].slice(1) }],
    ['the IV', (parts: string[]) => { parts[2] = (parts[2][0] === 'A' ? 'B' : 'A') + parts[2].slice(1) }],
    ['the tag', (parts: string[]) => { parts[3] = parts[3].slice(0, -2) + (parts[3].endsWith('AA') ? 'BB' : 'AA') }],
  ])('names the field when %s was tampered with', (_, tamper) => {
    const parts = box.encrypt('accounts.refresh_token', 'refresh-me').split('.')
    tamper(parts)
    expect(() => box.decrypt('accounts.refresh_token', parts.join('.'))).toThrow(/^accounts\.refresh_token: /)
  })

  it('names the field and the key id for an unknown key', () => {
    const other = new SecretBox(parseKeys(generateKey()))
    const stored = other.encrypt('accounts.id_token', 'x')
    expect(() => box.decrypt('accounts.id_token', stored)).toThrow(`accounts.id_token: encrypted with unknown key id ${other.currentKeyId}`)
  })

  it('refuses garbage with an error, not garbage', () => {
    expect(() => box.decrypt('f', 'plain text')).toThrow(/^f: stored value is not an all-access encrypted value/)
    expect(() => box.decrypt('f', `aa1.${key.id}.AAAA.AAAA`)).toThrow(/^f: stored value is truncated/)
  })

  it('decrypts old values with a second key while the first encrypts', () => {
    const [newKey] = parseKeys(generateKey())
    const stored = box.encrypt('f', 'old')
    const rotated = new SecretBox([newKey, key])
    expect(rotated.decrypt('f', stored)).toBe('old')
    expect(rotated.keyIdOf(rotated.encrypt('f', 'new'))).toBe(newKey.id)
  })
})

describe('keys', () => {
  it('derives distinct secret and cookie keys, and a stable id, from one key', () => {
    const material = Buffer.alloc(32, 7)
    const a = rootKey(material)
    const b = rootKey(Buffer.from(material))
    expect(a.id).toBe(b.id)
    expect(a.secretKey.equals(a.cookieKey)).toBe(false)
    expect(a.secretKey.equals(material)).toBe(false)
  })

  it('parses comma-separated keys, first first', () => {
    const [k1, k2] = [generateKey(), generateKey()]
    const keys = parseKeys(` ${k1} , ${k2} `)
    expect(keys.map((k) => k.id)).toEqual([rootKey(Buffer.from(k1, 'base64')).id, rootKey(Buffer.from(k2, 'base64')).id])
  })

  it.each(['short', Buffer.alloc(16).toString('base64'), Buffer.alloc(33).toString('base64'), '!!!not base64!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'])('refuses %s with a message saying how to make a key', (value) => {
    expect(() => parseKeys(value)).toThrow(/is not a base64 32-byte key \(make one with: openssl rand -base64 32\)/)
  })

  it('generates a development key once, 0600, with a warning, and reuses it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aa-keys-'))
    const file = join(dir, 'data', 'keys')
    const warnings: string[] = []
    const first = loadKeys({ env: {}, devKeyFile: file, warn: (m) => warnings.push(m) })
    expect(existsSync(file)).toBe(true)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/ALLACCESS_KEYS is not set/)
    const second = loadKeys({ env: {}, devKeyFile: file, warn: (m) => warnings.push(m) })
    expect(second[0].id).toBe(first[0].id)
    expect(warnings).toHaveLength(1)
    expect(readFileSync(file, 'utf8').trim()).toHaveLength(44)
  })

  it('refuses to run in production without ALLACCESS_KEYS', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aa-keys-'))
    expect(() => loadKeys({ env: { NODE_ENV: 'production' }, devKeyFile: join(dir, 'keys') })).toThrow(/ALLACCESS_KEYS is not set: with NODE_ENV=production set ALLACCESS_KEYS/)
    expect(existsSync(join(dir, 'keys'))).toBe(false)
  })

  it('prefers ALLACCESS_KEYS over a key file', () => {
    const key = generateKey()
    const dir = mkdtempSync(join(tmpdir(), 'aa-keys-'))
    const keys = loadKeys({ env: { ALLACCESS_KEYS: key }, devKeyFile: join(dir, 'keys') })
    expect(keys[0].id).toBe(rootKey(Buffer.from(key, 'base64')).id)
    expect(existsSync(join(dir, 'keys'))).toBe(false)
  })
})
