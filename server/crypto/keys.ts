import { createHash, hkdfSync, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { InputError } from '../input-error.ts'

/** One 32-byte root key and what is derived from it (HKDF-SHA256, one label per use). */
export interface RootKey {
  /** Short public id stored beside every encrypted value, so old keys keep decrypting after rotation. */
  id: string
  secretKey: Buffer
}

export class KeyError extends InputError {
  override name = 'KeyError'
}

/** A 32-byte key for one use of `material`, named by `label`. */
export function derive(material: Buffer, label: string): Buffer {
  return Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), `all-access ${label} v1`, 32))
}

export function rootKey(material: Buffer): RootKey {
  if (material.length !== 32) throw new KeyError(`an all-access key must be 32 bytes, got ${material.length}`)
  return {
    id: createHash('sha256').update('all-access key id').update(material).digest('base64url').slice(0, 8),
    secretKey: derive(material, 'secrets'),
  }
}

/** Parses `ALLACCESS_KEYS`: comma-separated base64 32-byte keys, the first one encrypts. */
export function parseKeys(value: string | undefined): RootKey[] {
  if (typeof value !== 'string') throw new KeyError('ALLACCESS_KEYS is not set: give one or more base64 32-byte keys, comma-separated (make one with: openssl rand -base64 32)')
  const parts = value.split(',').map((part) => part.trim()).filter(Boolean)
  if (parts.length === 0) throw new KeyError('ALLACCESS_KEYS is empty')
  return parts.map((part, index) => {
    const material = Buffer.from(part, 'base64')
    if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(part) || material.length !== 32) {
      throw new KeyError(`ALLACCESS_KEYS entry ${index + 1} is not a base64 32-byte key (make one with: openssl rand -base64 32)`)
    }
    if (index === 0 && !looksRandom(material)) {
      throw new KeyError(
        'ALLACCESS_KEYS entry 1 is not random bytes (a base64-encoded password or phrase, or a repeated byte), and the first key encrypts every new secret: put a key made with openssl rand -base64 32 first, keep this one after it, and run all-access keys rotate',
      )
    }
    return rootKey(material)
  })
}

/**
 * Whether 32 bytes can be a key drawn at random, not typed. A base64-encoded passphrase passes the
 * length check yet falls to a dictionary search, and the key id stored beside every value lets one
 * test guesses offline. 32 random bytes are all printable ASCII about once in 6·10^13, and take fewer
 * than 8 distinct values far more rarely still. Only the first key is judged: a weak key kept after
 * it still decrypts, so its values can be rotated away.
 */
function looksRandom(material: Buffer): boolean {
  const printable = material.every((byte) => byte >= 0x20 && byte <= 0x7e)
  return !printable && new Set(material).size >= 8
}

export function generateKey(): string {
  return randomBytes(32).toString('base64')
}

export interface KeySource {
  env: NodeJS.ProcessEnv
  /** Where a development key is kept when ALLACCESS_KEYS is unset. */
  devKeyFile: string
  warn?: (message: string) => void
}

/**
 * The keys in force: ALLACCESS_KEYS when set; otherwise, outside production, a key generated once
 * into a 0600 file. Production without keys is refused: a generated key there would be lost with the
 * machine, and every stored token with it.
 */
export function loadKeys({ env, devKeyFile, warn = (m) => process.stderr.write(`${m}\n`) }: KeySource): RootKey[] {
  if (env.ALLACCESS_KEYS?.trim()) return parseKeys(env.ALLACCESS_KEYS)
  if (env.NODE_ENV === 'production') {
    throw new KeyError('ALLACCESS_KEYS is not set: with NODE_ENV=production set ALLACCESS_KEYS to one or more base64 32-byte keys (openssl rand -base64 32)')
  }
  if (!existsSync(devKeyFile) && createKeyFile(devKeyFile)) {
    warn(`all-access: ALLACCESS_KEYS is not set; generated a development key in ${devKeyFile}. Set ALLACCESS_KEYS in production.`)
  }
  let text: string
  try {
    chmodSync(devKeyFile, 0o600)
    text = readFileSync(devKeyFile, 'utf8')
  } catch (error) {
    throw new KeyError(`cannot read the development key file ${devKeyFile} (${errorCode(error)}): set ALLACCESS_KEYS, or restore the file`)
  }
  try {
    return parseKeys(text)
  } catch (error) {
    if (error instanceof KeyError) throw new KeyError(`${devKeyFile} does not hold a base64 32-byte key (set ALLACCESS_KEYS, or restore the file)`)
    throw error
  }
}

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException).code ?? (error as Error).message

/**
 * Writes a new key beside the file, then links it into place: several processes starting at once
 * all end up with the one key that won, and none reads a half-written file. False when another won.
 */
function createKeyFile(file: string): boolean {
  // A folder or file that cannot be made (a file named like the folder, no permission) is the
  // person's to fix: one line naming it, as DATABASE_URL's folder is named, not a stack trace.
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  } catch (error) {
    throw new KeyError(`cannot create the folder ${dirname(file)} for the development key (${errorCode(error)}): set ALLACCESS_KEYS, or make that folder`)
  }
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    writeFileSync(temporary, generateKey() + '\n', { mode: 0o600, flag: 'wx' })
  } catch (error) {
    throw new KeyError(`cannot write the development key into ${dirname(file)} (${errorCode(error)}): set ALLACCESS_KEYS, or let this user write there`)
  }
  try {
    linkSync(temporary, file)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw new KeyError(`cannot create the development key file ${file} (${errorCode(error)}): set ALLACCESS_KEYS`)
  } finally {
    unlinkSync(temporary)
  }
}
