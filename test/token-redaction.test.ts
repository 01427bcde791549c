import { PassThrough, pipeline, Readable, Writable } from 'node:stream'
import { brotliCompressSync, gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { codingsToUndo, REDACTED, redactBytes, redactedBody, SecretScanner } from '../server/proxy/token-redaction.ts'
import { cpuMsSince } from './support/cpu-time.ts'

const redactText = (text: string, secrets: readonly string[]) => redactBytes(Buffer.from(text), secrets).toString()

const TOKEN = 'ya29.a0Af/h+x~Q=='

async function read(stream: Readable): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString()
}

function throughRedaction(chunks: (string | Buffer)[], secrets = [TOKEN], codings: string[] = []): Promise<string> {
  return read(redactedBody(Readable.from(chunks.map((chunk) => Buffer.from(chunk))), codings, secrets))
}

const escapeAll = (text: string, hex: (h: string) => string = (h) => h) => [...text].map((c) => `%${hex(c.charCodeAt(0).toString(16).toUpperCase())}`).join('')

describe('the token in a proxied answer body', () => {
  // How APIs and their languages write a token back: as sent, in a URL by encodeURIComponent, by
  // form rules, by Python's quote (keeps `/`), in lower-case hex, escaped whole, escaped twice (a
  // URL inside a URL), and in JSON (`\/`, `\u002b`).
  const written = [
    TOKEN,
    encodeURIComponent(TOKEN),
    new URLSearchParams({ t: TOKEN }).toString().slice(2),
    TOKEN.replace('+', '%2B').replace(/=/g, '%3D'),
    encodeURIComponent(TOKEN).replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
    escapeAll(TOKEN, (h) => h.toLowerCase()),
    encodeURIComponent(encodeURIComponent(TOKEN)),
    TOKEN.replaceAll('/', '\\/').replace('+', '\\u002b'),
  ]
  // JSON as the provider writes it, its own escapes as they are (JSON.stringify would escape the `\\`).
  const json = (forms: string[], next: string) => `{"written":[${forms.map((form) => `"<${form}>"`).join(',')}],"next":"https://graph.example/v1/me/feed?access_token=${next}&after=QVF"}`
  const body = json(written, encodeURIComponent(TOKEN))
  const expected = json(written.map(() => REDACTED), REDACTED)

  it('is replaced however the provider escapes it, the rest kept byte for byte', async () => {
    expect(await throughRedaction([body])).toBe(expected)
    expect(redactText(body, [TOKEN])).toBe(expected)
  })

  it('is replaced wherever the chunks of the answer cut it, escapes included, down to one byte a chunk', async () => {
    const bytes = Buffer.from(body)
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(await throughRedaction([bytes.subarray(0, cut), bytes.subarray(cut)]), `cut at ${cut}`).toBe(expected)
    }
    expect(await throughRedaction([...bytes].map((byte) => Buffer.from([byte])))).toBe(expected)
  })

  it('is replaced where an escape begins just before it and takes its first characters (`%` then `41ab…` reads as `A` then `b…`), escaped or not', async () => {
    // Tokens often open with hex digits: a hex token, an OAuth 1.0a token that opens with the user's id.
    for (const secret of ['41abcdef0123456789', '1234567890-AbCdEfGh', '41ab/cdef+0123456789']) {
      for (const written of [secret, encodeURIComponent(secret)]) {
        // No opener at all, or one that is not: what is read before the first escape stays found too.
        for (const opener of ['', 'x', '%', '%4', '%25', '%2525', '\\u00', '\\u004', '\\u0', '\\u']) {
          const text = `{"echo":"${opener}${written}"}`
          const redacted = redactText(text, [secret])
          // Past the digits it opens with, nothing of it is left, as sent or escaped.
          expect(redacted, `${opener} ${written}`).toMatch(new RegExp(`^\\{"echo":"${opener.replaceAll('\\', '\\\\')}[0-9a-fA-F]*${REDACTED}"\\}$`))
          const bytes = Buffer.from(text)
          for (let cut = 1; cut < bytes.length; cut++) {
            expect(await throughRedaction([bytes.subarray(0, cut), bytes.subarray(cut)], [secret]), `${opener} ${written} cut at ${cut}`).toBe(redacted)
          }
        }
      }
    }
  })

  it('replaces a secret of one or two hex digits only where it stands, escapes around it or not', async () => {
    for (const secret of ['b', '4a']) {
      const text = `{"url":"/x?q=%41 hello world ${secret}"}`
      expect(redactText(text, [secret]), secret).toBe(`{"url":"/x?q=%41 hello world ${REDACTED}"}`)
      expect(await throughRedaction([text.slice(0, 12), text.slice(12)], [secret]), secret).toBe(`{"url":"/x?q=%41 hello world ${REDACTED}"}`)
    }
  })

  it('leaves alone what only looks like part of it: a prefix, escapes that are not, a body ending inside an escape', async () => {
    const near = `${TOKEN.slice(0, -1)} %zz %2 \\u00 \\q 100% ${TOKEN.slice(1)}\\`
    expect(await throughRedaction([near])).toBe(near)
    expect(await throughRedaction([near.slice(0, 10), near.slice(10)])).toBe(near)
    expect(await throughRedaction(['a%2'])).toBe('a%2')
  })

  it('is replaced in JSON however it escapes a token secret holding a backslash, a quote or a letter past ASCII', async () => {
    // An OAuth 1.0a token secret is any string: JSON writes its `\\` and `"` escaped, and Python's
    // json.dumps and PHP's json_encode write its non-ASCII letters as `\u` escapes.
    for (const secret of ['s3c\\r/t', 's3c"r\\u0041t', 'gehéim\\\\2', 'k\\/\u{1F511}']) {
      const json = JSON.stringify(secret).slice(1, -1)
      const ascii = json.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
      for (const written of [json, ascii, ascii.replaceAll('/', '\\/'), encodeURIComponent(secret)]) {
        expect(await throughRedaction([`{"s":"${written}"}`], [secret]), written).toBe(`{"s":"${REDACTED}"}`)
        expect(redactText(`{"s":"${written}"}`, [secret]), written).toBe(`{"s":"${REDACTED}"}`)
      }
    }
  })

  it('replaces the OAuth 1.0a token secret too, and each secret wherever it stands', async () => {
    expect(await throughRedaction([`a=tok-1&b=sec%2D2&c=tok-1`], ['tok-1', 'sec-2'])).toBe(`a=${REDACTED}&b=${REDACTED}&c=${REDACTED}`)
  })

  it('holds back only bytes that could begin the token: the rest of a chunk leaves at once (server-sent events)', async () => {
    const source = new Readable({ read() {} })
    const out = redactedBody(source, [], [TOKEN])
    const seen: string[] = []
    out.on('data', (chunk: Buffer) => seen.push(chunk.toString()))
    source.push(Buffer.from('data: {"n":1}\n\n'))
    source.push(Buffer.from('data: {"n":2}\n\nya29.a0'))
    await new Promise((resolve) => setImmediate(resolve))
    expect(seen.join('')).toBe('data: {"n":1}\n\ndata: {"n":2}\n\n')
    source.push(Buffer.from('!'))
    source.push(null)
    await new Promise((resolve) => out.once('end', resolve))
    expect(seen.join('')).toBe('data: {"n":1}\n\ndata: {"n":2}\n\nya29.a0!')
  })

  it('is replaced after undoing a gzip or brotli coding the provider sent despite being asked for identity', async () => {
    expect(await throughRedaction([gzipSync(`x${TOKEN}y`)], [TOKEN], codingsToUndo('gzip'))).toBe(`x${REDACTED}y`)
    expect(await throughRedaction([brotliCompressSync(gzipSync(`x${TOKEN}y`))], [TOKEN], codingsToUndo('gzip, br'))).toBe(`x${REDACTED}y`)
    expect(codingsToUndo('identity')).toEqual([])
    expect(() => codingsToUndo('zstd')).toThrow(expect.objectContaining({ code: 'upstream_unreachable' }))
  })

  it('is replaced after undoing a transfer coding too, applied after the content codings; the chunked framing alone needs nothing', async () => {
    const [content, transfer] = ['gzip', 'br, chunked']
    expect(await throughRedaction([brotliCompressSync(gzipSync(`x${TOKEN}y`))], [TOKEN], codingsToUndo(content, transfer))).toBe(`x${REDACTED}y`)
    expect(codingsToUndo(null, 'chunked')).toEqual([])
    // Chunked framing under another coding is not taken off by the HTTP client: the body cannot be read.
    expect(() => codingsToUndo(null, 'chunked, gzip')).toThrow(expect.objectContaining({ code: 'upstream_unreachable' }))
  })

  it('reads an empty body in a coding as empty, as browsers do, and refuses more codings than a provider applies', async () => {
    for (const coding of ['gzip', 'deflate', 'br']) expect(await throughRedaction([], [TOKEN], codingsToUndo(coding)), coding).toBe('')
    expect(codingsToUndo('GZIP, identity, br')).toEqual(['br', 'gzip'])
    expect(() => codingsToUndo(Array(1000).fill('gzip').join(','))).toThrow(expect.objectContaining({ code: 'upstream_unreachable' }))
  })

  it("fails, neither hanging nor ending the process, when the provider's answer failed before the browser's side began to read it", async () => {
    // A host's middleware awaiting after the BFF's leaves time for the provider's answer to be cut,
    // or for a decoder to refuse it, before Koa pipes the body.
    const sent = (codings: string[], fail: (source: PassThrough) => void) => {
      const source = new PassThrough()
      // As the proxy's route does: the time limit stops with the answer, whichever way it ends.
      source.once('error', () => {})
      const body = redactedBody(source, codings, [TOKEN])
      fail(source)
      return new Promise((resolve) => setTimeout(resolve, 20)).then(
        () => new Promise((resolve) => pipeline(body, new Writable({ write: (_chunk, _encoding, done) => done() }), (error) => resolve(error?.message))),
      )
    }
    expect(await sent([], (source) => source.destroy(new Error('connection reset')))).toBe('connection reset')
    expect(await sent(['gzip'], (source) => source.end('not gzip'))).toBe('incorrect header check')
    expect(await sent([], (source) => source.destroy())).toBe('Premature close')
  })

  it('passes an answer on untouched when the call had no secret', async () => {
    expect(redactText('{"a":1}', [])).toBe('{"a":1}')
    expect(await throughRedaction(['{"a":1}'], [''])).toBe('{"a":1}')
  })

  it('takes time linear in the answer, however often the token, a near miss of it or an escape appears', () => {
    const secret = 'a'.repeat(200) + 'b'
    const near = 'a'.repeat(4 * 1024 * 1024)
    // The other token last: a search from each match to the end would take quadratic time.
    const many = secret.repeat(20_000) + TOKEN
    const escapes = '%25'.repeat(1024 * 1024)
    const started = process.cpuUsage()
    expect(redactText(near, [secret, TOKEN]) === near).toBe(true)
    expect(redactText(many, [secret, TOKEN]) === REDACTED.repeat(20_001)).toBe(true)
    expect(redactText(escapes, [secret, TOKEN]) === escapes).toBe(true)
    expect(cpuMsSince(started)).toBeLessThan(3000)
  })

  it('passes on a long run of escaped percent signs as it arrives, not held whole and read again at every chunk', () => {
    // `%252525…` reads as escapes of escapes to its end: held until then, 8 MB took seconds.
    const run = Buffer.from(`%${'25'.repeat(4 * 1024 * 1024)}`)
    const scanner = new SecretScanner([TOKEN])
    let passed = 0
    const started = process.cpuUsage()
    for (let at = 0; at < run.length; at += 64 * 1024) {
      passed += scanner.scan(run.subarray(at, at + 64 * 1024)).length
      expect(Math.min(at + 64 * 1024, run.length) - passed, `held at ${at}`).toBeLessThan(64)
    }
    expect(passed + scanner.scan(Buffer.alloc(0), true).length).toBe(run.length)
    expect(cpuMsSince(started)).toBeLessThan(1000)
  })
})
