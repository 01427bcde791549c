import { describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { generateKey, KeyError, loadKeys, parseKeys, rootKey } from '../server/crypto/keys.ts'
import { constantTimeEqual, hashId, randomToken } from '../server/crypto/random.ts'
import { scratchFolder } from './support/scratch-folder.ts'

const temporaryFolder = () => scratchFolder('aa-keys-')

/** The KeyError a call throws (failing the test when it throws nothing, or something else). */
function keyErrorOf(call: () => unknown): KeyError {
  try {
    call()
  } catch (error) {
    expect(error).toBeInstanceOf(KeyError)
    return error as KeyError
  }
  throw new Error('expected a KeyError, nothing was thrown')
}

describe('rootKey', () => {
  const material = Buffer.alloc(32, 7)

  it('derives a secret key that differs from the material', () => {
    const key = rootKey(material)
    expect(key.secretKey).toHaveLength(32)
    expect(key.secretKey.equals(material)).toBe(false)
  })

  it('derives the same id and keys from the same material, and others from other material', () => {
    const a = rootKey(material)
    const b = rootKey(Buffer.from(material))
    const c = rootKey(Buffer.alloc(32, 8))
    expect(b).toEqual(a)
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{8}$/)
    expect(c.id).not.toBe(a.id)
    expect(c.secretKey.equals(a.secretKey)).toBe(false)
  })

  it('does not reveal the material in its id', () => {
    expect(rootKey(material).id).not.toBe(material.toString('base64url').slice(0, 8))
  })

  it('refuses material that is not 32 bytes', () => {
    expect(keyErrorOf(() => rootKey(Buffer.alloc(31))).message).toBe('an all-access key must be 32 bytes, got 31')
  })
})

describe('parseKeys', () => {
  it('reads comma-separated keys in order, ignoring spaces and empty entries', () => {
    const [k1, k2] = [generateKey(), generateKey()]
    const keys = parseKeys(` ${k1} ,, ${k2} ,`)
    expect(keys.map((k) => k.id)).toEqual([rootKey(Buffer.from(k1, 'base64')).id, rootKey(Buffer.from(k2, 'base64')).id])
  })

  it('accepts a key in base64url and without padding, as the same key', () => {
    // Bytes whose base64 holds + and /, which base64url writes - and _.
    const material = Buffer.from(Array.from({ length: 32 }, (_, i) => 0xfb - i))
    const [standard] = parseKeys(material.toString('base64'))
    const [url] = parseKeys(material.toString('base64url'))
    expect(url.id).toBe(standard.id)
  })

  it('makes keys that parse: 44 characters of base64 for 32 random bytes', () => {
    const key = generateKey()
    expect(key).toMatch(/^[A-Za-z0-9+/]{43}=$/)
    expect(Buffer.from(key, 'base64')).toHaveLength(32)
    expect(generateKey()).not.toBe(key)
    expect(parseKeys(key)).toHaveLength(1)
  })

  it.each([
    ['a word', 'short'],
    ['16 bytes', Buffer.alloc(16).toString('base64')],
    ['33 bytes', Buffer.alloc(33).toString('base64')],
    ['64 bytes', Buffer.alloc(64).toString('base64')],
    ['44 characters that are not base64', '!!!not base64!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!='],
    ['a hex key', Buffer.alloc(32, 1).toString('hex')],
    ['a key with a space inside', `${generateKey().slice(0, 20)} ${generateKey().slice(20)}`],
  ])('refuses %s with a message saying how to make a key', (_, value) => {
    expect(keyErrorOf(() => parseKeys(value)).message).toBe('ALLACCESS_KEYS entry 1 is not a base64 32-byte key (make one with: openssl rand -base64 32)')
  })

  it('names the position of the bad entry', () => {
    expect(keyErrorOf(() => parseKeys(`${generateKey()},${generateKey()},nope`)).message).toBe(
      'ALLACCESS_KEYS entry 3 is not a base64 32-byte key (make one with: openssl rand -base64 32)',
    )
  })

  it('takes a key given twice, or in both base64 alphabets, as the one key it is', () => {
    const material = Buffer.from(Array.from({ length: 32 }, (_, i) => 0xfb - i))
    const id = rootKey(material).id
    expect(parseKeys(`${material.toString('base64')},${material.toString('base64')}`).map((k) => k.id)).toEqual([id, id])
    expect(parseKeys(`${material.toString('base64')}, ${material.toString('base64url')},`).map((k) => k.id)).toEqual([id, id])
  })

  it('refuses keys put one a line, as a secret manager may hold them, in one line naming the entry', () => {
    expect(keyErrorOf(() => parseKeys(`${generateKey()}\n${generateKey()}`)).message).toBe('ALLACCESS_KEYS entry 1 is not a base64 32-byte key (make one with: openssl rand -base64 32)')
  })

  it.each(['', ' ', ',', ' , , '])('refuses %j as empty', (value) => {
    expect(keyErrorOf(() => parseKeys(value)).message).toBe('ALLACCESS_KEYS is empty')
  })
})

describe('loadKeys', () => {
  it('uses ALLACCESS_KEYS when set, and writes no key file', () => {
    const key = generateKey()
    const dir = temporaryFolder()
    const warnings: string[] = []
    const keys = loadKeys({ env: { ALLACCESS_KEYS: key }, devKeyFile: join(dir, 'data', 'keys'), warn: (m) => warnings.push(m) })
    expect(keys.map((k) => k.id)).toEqual([rootKey(Buffer.from(key, 'base64')).id])
    expect(existsSync(join(dir, 'data'))).toBe(false)
    expect(warnings).toEqual([])
  })

  it('uses ALLACCESS_KEYS in production', () => {
    const key = generateKey()
    expect(loadKeys({ env: { ALLACCESS_KEYS: key, NODE_ENV: 'production' }, devKeyFile: join(temporaryFolder(), 'keys') })[0].id).toBe(rootKey(Buffer.from(key, 'base64')).id)
  })

  it('generates a development key once, in a 0600 file of its own folder, with one warning, and reuses it', () => {
    const dir = temporaryFolder()
    const file = join(dir, 'data', 'keys')
    const warnings: string[] = []
    const first = loadKeys({ env: {}, devKeyFile: file, warn: (m) => warnings.push(m) })
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, 'data')).mode & 0o777).toBe(0o700)
    expect(readFileSync(file, 'utf8')).toMatch(/^[A-Za-z0-9+/]{43}=\n$/)
    expect(warnings).toEqual([`all-access: ALLACCESS_KEYS is not set; generated a development key in ${file}. Set ALLACCESS_KEYS in production.`])
    expect(readdirSync(join(dir, 'data'))).toEqual(['keys'])

    const second = loadKeys({ env: {}, devKeyFile: file, warn: (m) => warnings.push(m) })
    expect(second.map((k) => k.id)).toEqual(first.map((k) => k.id))
    expect(second[0].secretKey.equals(first[0].secretKey)).toBe(true)
    expect(warnings).toHaveLength(1)
  })

  it('treats a blank ALLACCESS_KEYS as unset', () => {
    const file = join(temporaryFolder(), 'keys')
    const warnings: string[] = []
    loadKeys({ env: { ALLACCESS_KEYS: '  ' }, devKeyFile: file, warn: (m) => warnings.push(m) })
    expect(existsSync(file)).toBe(true)
    expect(warnings).toHaveLength(1)
  })

  it('tightens a development key file that others could read back to 0600', () => {
    const file = join(temporaryFolder(), 'keys')
    const key = generateKey()
    writeFileSync(file, `${key}\n`)
    chmodSync(file, 0o644)
    expect(loadKeys({ env: {}, devKeyFile: file, warn: () => {} })[0].id).toBe(rootKey(Buffer.from(key, 'base64')).id)
    expect(statSync(file).mode & 0o777).toBe(0o600)
  })

  it('names the development key file, not ALLACCESS_KEYS, when that file is damaged', () => {
    const file = join(temporaryFolder(), 'keys')
    writeFileSync(file, 'damaged\n', { mode: 0o600 })
    expect(keyErrorOf(() => loadKeys({ env: {}, devKeyFile: file, warn: () => {} })).message).toBe(
      `${file} does not hold a base64 32-byte key (set ALLACCESS_KEYS, or restore the file)`,
    )
  })

  it('says in one line which development key file or folder it cannot make or read', () => {
    const dir = temporaryFolder()
    // A file where the key's folder should be, and a folder where the key file should be.
    writeFileSync(join(dir, 'data'), '')
    expect(keyErrorOf(() => loadKeys({ env: {}, devKeyFile: join(dir, 'data', 'keys'), warn: () => {} })).message).toBe(
      `cannot create the folder ${join(dir, 'data')} for the development key (EEXIST): set ALLACCESS_KEYS, or make that folder`,
    )
    const folder = join(temporaryFolder(), 'keys')
    mkdirSync(folder)
    expect(keyErrorOf(() => loadKeys({ env: {}, devKeyFile: folder, warn: () => {} })).message).toBe(
      `cannot read the development key file ${folder} (EISDIR): set ALLACCESS_KEYS, or restore the file`,
    )
  })

  it('refuses to run in production without ALLACCESS_KEYS, naming it, and writes no key', () => {
    const dir = temporaryFolder()
    for (const env of [{ NODE_ENV: 'production' }, { NODE_ENV: 'production', ALLACCESS_KEYS: '' }]) {
      expect(keyErrorOf(() => loadKeys({ env, devKeyFile: join(dir, 'keys') })).message).toBe(
        'ALLACCESS_KEYS is not set: with NODE_ENV=production set ALLACCESS_KEYS to one or more base64 32-byte keys (openssl rand -base64 32)',
      )
    }
    expect(readdirSync(dir)).toEqual([])
  })

  it('gives every process starting at the same moment the same development key', async () => {
    const dir = temporaryFolder()
    const file = join(dir, 'data', 'keys')
    const script = join(dir, 'load.mjs')
    // Each process waits for the same instant, then loads the keys: they race to create the file.
    writeFileSync(
      script,
      `const { loadKeys } = await import(${JSON.stringify(resolve('server/crypto/keys.ts'))})
const start = Number(process.argv[2]); while (Date.now() < start) {}
let warned = 0
const [key] = loadKeys({ env: {}, devKeyFile: ${JSON.stringify(file)}, warn: () => warned++ })
console.log(JSON.stringify({ id: key.id, warned }))`,
    )
    const start = Date.now() + 2500
    const outputs = await Promise.all(
      Array.from({ length: 6 }, () =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
          const child = spawn(process.execPath, ['--import', 'tsx', script, String(start)], { env: { ...process.env, ALLACCESS_KEYS: '', NODE_ENV: 'test' } })
          let stdout = ''
          let stderr = ''
          child.stdout.on('data', (chunk) => (stdout += chunk))
          child.stderr.on('data', (chunk) => (stderr += chunk))
          child.on('close', (code) => done({ code, stdout, stderr }))
        }),
      ),
    )
    for (const output of outputs) expect(output).toEqual({ code: 0, stdout: expect.stringMatching(/^\{.*\}\n$/), stderr: '' })
    const results = outputs.map((output) => JSON.parse(output.stdout) as { id: string; warned: number })
    expect(new Set(results.map((r) => r.id))).toEqual(new Set([rootKey(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64')).id]))
    expect(results.reduce((sum, r) => sum + r.warned, 0)).toBe(1)
    expect(readdirSync(join(dir, 'data'))).toEqual(['keys'])
  }, 30_000)
})

describe('random values', () => {
  it('makes 256-bit URL-safe tokens by default, and never the same twice', () => {
    const tokens = Array.from({ length: 100 }, () => randomToken())
    for (const token of tokens) {
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(Buffer.from(token, 'base64url')).toHaveLength(32)
    }
    expect(new Set(tokens).size).toBe(100)
    expect(Buffer.from(randomToken(16), 'base64url')).toHaveLength(16)
  })

  it('hashes ids with SHA-256 into 64 hex characters that do not contain the id', () => {
    expect(hashId('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expect(hashId('abc')).not.toContain('abc')
    expect(hashId('abd')).not.toBe(hashId('abc'))
  })

  it.each([
    ['equal strings', 'state-123', 'state-123', true],
    ['one changed character', 'state-123', 'state-124', false],
    ['a prefix', 'state-123', 'state-12', false],
    ['an empty string', '', 'x', false],
    ['two empty strings', '', '', true],
    ['equal non-ASCII strings', 'é🔑', 'é🔑', true],
    ['strings of one length in bytes but not in characters', 'é', 'ee', false],
  ])('compares %s in constant time: %j and %j give %s', (_, a, b, equal) => {
    expect(constantTimeEqual(a, b)).toBe(equal)
  })
})
