import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto'
import { secureRandom } from './random.ts'
import { derive, type RootKey } from './keys.ts'
import { InputError } from '../input-error.ts'

const PREFIX = 'aa1'

export class SecretError extends InputError {
  override name = 'SecretError'
}

/** Node's decoder skips stray characters and spare bits, so an altered value could still decrypt: only the canonical form is accepted. */
function strictBase64url(text: string): Buffer | null {
  const bytes = Buffer.from(text, 'base64url')
  return bytes.toString('base64url') === text ? bytes : null
}

/**
 * AES-256-GCM encryption of single database fields. A stored value reads
 * `aa1.<key id>.<iv>.<ciphertext+tag>` (base64url), and the field name is authenticated data, so a
 * value copied into another column fails to decrypt instead of being misread.
 */
export class SecretBox {
  readonly keys: RootKey[]
  /** The first key's, for {@link SecretBox.keyedHash}: every instance given the same first key hashes alike. */
  private readonly hashKey: Buffer

  constructor(keys: RootKey[]) {
    if (keys.length === 0) throw new TypeError('SecretBox needs at least one key')
    this.keys = keys
    this.hashKey = derive(keys[0].secretKey, 'keyed hashes')
  }

  /**
   * A hash of a value that is no secret but must not be read back from a dump: a client's address
   * (the /56 or IPv4 the login limits count), whose plain SHA-256 anyone tries all 2^32 of in
   * minutes. Keyed, it groups rows alike and tells nothing without the key. A new first key hashes
   * anew: what it groups lives minutes (pending logins).
   */
  keyedHash(value: string): string {
    return createHmac('sha256', this.hashKey).update(value).digest('hex')
  }

  get currentKeyId(): string {
    return this.keys[0].id
  }

  encrypt(field: string, plaintext: string): string
  encrypt(field: string, plaintext: string | null | undefined): string | null
  encrypt(field: string, plaintext: string | null | undefined): string | null {
    // Empty values are stored as NULL, as django-all-access does: nothing to hide, and "unset" stays testable.
    if (plaintext === null || plaintext === undefined || plaintext === '') return null
    const key = this.keys[0]
    const iv = secureRandom(12)
    const cipher = createCipheriv('aes-256-gcm', key.secretKey, iv)
    cipher.setAAD(Buffer.from(field))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()])
    return [PREFIX, key.id, iv.toString('base64url'), body.toString('base64url')].join('.')
  }

  /** `row` names the value's row in errors (`account 12`), so that an operator can find it. */
  decrypt(field: string, stored: string | null | undefined, row?: string): string | null {
    if (stored === null || stored === undefined) return null
    const where = row ? `${field} of ${row}` : field
    const parts = stored.split('.')
    if (parts.length !== 4 || parts[0] !== PREFIX) throw new SecretError(`${where}: stored value is not an all-access encrypted value`)
    const key = this.keys.find((candidate) => candidate.id === parts[1])
    if (!key) throw new SecretError(`${where}: encrypted with unknown key id ${parts[1]} (is its key missing from ALLACCESS_KEYS?)`)
    const iv = strictBase64url(parts[2])
    const body = strictBase64url(parts[3])
    if (!iv || !body) throw new SecretError(`${where}: stored value is not valid base64url (tampered)`)
    if (iv.length !== 12 || body.length < 16) throw new SecretError(`${where}: stored value is truncated`)
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.secretKey, iv)
      decipher.setAAD(Buffer.from(field))
      decipher.setAuthTag(body.subarray(body.length - 16))
      return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString('utf8')
    } catch (cause) {
      throw new SecretError(`${where}: stored value failed authentication (tampered, or encrypted for another field)`, { cause })
    }
  }

  /** The key id a stored value was encrypted with, or null for NULL. */
  keyIdOf(stored: string | null): string | null {
    return stored === null ? null : (stored.split('.')[1] ?? null)
  }
}
