import { Readable, type Writable } from 'node:stream'
import { codingsToUndo as undoneCodings, decodingChain, UnreadableCoding } from '../clients/content-coding.ts'
import { AllAccessError } from '../errors.ts'
import { ESCAPE_DEPTH, withoutOpeningDigits } from './headers.ts'

/** What the browser reads where a provider's answer held the token. */
export const REDACTED = 'REDACTED'
const REDACTED_BYTES = Buffer.from(REDACTED)
const EMPTY = Buffer.alloc(0)

const PERCENT = 0x25
const BACKSLASH = 0x5c
const SLASH = 0x2f
const QUOTE = 0x22
const LETTER_U = 0x75

/** What `stream.pipeline` reports of a stream that closed before its end (the browser gone, a provider's answer cut). */
export function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })
}

function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30
  const lower = byte | 0x20
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1
}

/** The character {@link readCharacter} read last (one byte's value). */
let character = 0

/**
 * Reads the character at `at` as a browser or a script would read it back: `%HH` in either case,
 * percent-escapes of percent-escapes (`%252F`, {@link ESCAPE_DEPTH} deep), JSON's `\/`, `\\`, `\"`
 * and `\u00HH`, or the byte itself. Sets {@link character} and answers the bytes it took; 0 when the
 * data ends inside what may be an escape and more may follow (`final` false).
 */
function readCharacter(data: Buffer, at: number, final: boolean): number {
  const byte = data[at]!
  if (byte === PERCENT) {
    let width = 1
    let value = PERCENT
    for (let round = 0; value === PERCENT && round < ESCAPE_DEPTH; round++) {
      const high = hexValue(data[at + width])
      const low = hexValue(data[at + width + 1])
      if (!final && (at + width >= data.length || (high >= 0 && at + width + 1 >= data.length))) return 0
      if (high < 0 || low < 0) break
      value = high * 16 + low
      width += 2
    }
    character = value
    return width
  }
  if (byte === BACKSLASH) {
    const next = data[at + 1]
    if (next === SLASH || next === BACKSLASH || next === QUOTE) {
      character = next
      return 2
    }
    if (next === LETTER_U) {
      let code = 0
      for (let i = 2; i < 6; i++) {
        const digit = hexValue(data[at + i])
        if (digit < 0) {
          if (!final && at + i >= data.length) return 0
          code = -1
          break
        }
        code = code * 16 + digit
      }
      if (code >= 0 && code < 0x80) {
        character = code
        return 6
      }
    } else if (next === undefined && !final) return 0
  }
  character = byte
  return 1
}

/** A secret as its characters read (its own escapes read as in an answer), with its KMP failure table. */
interface Pattern {
  // Plain arrays: typed arrays this small cost more to allocate, once per proxied call, than they save.
  bytes: number[]
  failure: number[]
  /** How many of its characters the answer's last characters match. */
  matched: number
}

function pattern(secret: string): Pattern {
  const raw = Buffer.from(secret)
  const bytes: number[] = []
  for (let at = 0; at < raw.length; ) {
    at += readCharacter(raw, at, true)
    bytes.push(character)
  }
  const failure = [0]
  for (let i = 1, k = 0; i < bytes.length; i++) {
    while (k > 0 && bytes[i] !== bytes[k]) k = failure[k - 1]!
    if (bytes[i] === bytes[k]) k++
    failure.push(k)
  }
  return { bytes, failure, matched: 0 }
}

/**
 * A secret, and as JSON writes it where that reads otherwise: an OAuth 1.0a token secret may be
 * any string, its `\` and `"` escaped by every JSON, its letters past ASCII by Python's json.dumps and
 * PHP's json_encode (`\u00e9`). Most tokens are none of these, and are read as they are.
 */
function writtenForms(secret: string): string[] {
  if (!/[\\"\0-\x1f\u0080-\uffff]/.test(secret)) return [secret]
  const json = JSON.stringify(secret).slice(1, -1)
  // Forms that read alike are each a pattern all the same: rare, and harmless.
  return [secret, json, json.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)]
}

/** The bytes that may open a secret (the first of each, and the openers of escapes), by the secrets' first bytes. */
const openers = new Map<string, Uint8Array>()

function openersOf(patterns: Pattern[]): Uint8Array {
  const firsts = String.fromCharCode(...patterns.map((p) => p.bytes[0]!))
  let table = openers.get(firsts)
  if (!table) {
    table = new Uint8Array(256)
    for (const p of patterns) table[p.bytes[0]!] = 1
    table[PERCENT] = table[BACKSLASH] = 1
    // One entry per set of first characters: a few hundred at most, whatever the tokens.
    if (openers.size < 4096) openers.set(firsts, table)
  }
  return table
}

/**
 * Finds the secrets of one call in a provider's answer, however it escapes them (a Graph API
 * `paging.next` URL carries the token percent-encoded; Python's `quote` leaves its `/` and escapes
 * its `+`; PHP's JSON writes `\/`), and replaces each with {@link REDACTED}. The answer is read once,
 * chunk by chunk, a KMP automaton per secret: time linear in its length. Only the bytes that may
 * begin a secret wait for the next chunk, so a streamed answer (server-sent events) is not held.
 */
export class SecretScanner {
  /**
   * What is looked for: the secrets' written forms, and from the first escape read on, each without
   * the hex digits it opens with ({@link withoutOpeningDigits}): an escape whose opener stands just
   * before a secret takes them, and the rest is replaced, the digits left. An answer with no escape
   * hides no such rest, and is read as fast as before.
   */
  private patterns: Pattern[]
  private readonly forms: string[] = []
  private tailed = false
  private readonly longest: number
  /** Where each of the last `longest` characters began (offsets in the whole answer); made at the first. */
  private starts: number[] | null = null
  private characters = 0
  private opens: Uint8Array
  /** Bytes received and not passed on yet, and where they begin in the whole answer. */
  private pending = EMPTY
  private pendingAt = 0
  /** How many bytes of `pending` were read already. */
  private read = 0

  constructor(secrets: readonly string[]) {
    this.patterns = []
    let longest = 1
    for (const secret of secrets) {
      if (!secret) continue
      for (const form of writtenForms(secret)) {
        this.forms.push(form)
        const p = pattern(form)
        this.patterns.push(p)
        longest = Math.max(longest, p.bytes.length)
      }
    }
    this.longest = longest
    this.opens = openersOf(this.patterns)
  }

  get empty(): boolean {
    return this.patterns.length === 0
  }

  /** The bytes of `chunk` (and of earlier chunks held back) that may be passed on now. */
  scan(chunk: Buffer, final = false): Buffer {
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk
    let { patterns, opens } = this
    const longest = this.longest
    let starts = this.starts
    let count = patterns.length
    const end = data.length
    const pieces: Buffer[] = []
    let passed = 0
    let at = this.read
    let characters = this.characters
    let partial = patterns.some((p) => p.matched > 0)
    while (at < end) {
      // Outside a match, only a byte that may open one needs reading: most bytes are skipped here.
      if (!partial) {
        while (at < end && !opens[data[at]!]) at++
        if (at === end) break
      }
      const width = readCharacter(data, at, final)
      if (width === 0) break
      if (width > 1 && !this.tailed) {
        this.tailed = true
        const escape = character
        // After the forms: a form and its rest end on the same character, and the whole form, found first, is replaced.
        const rests = this.forms.map(withoutOpeningDigits).filter((rest, i) => rest !== this.forms[i])
        patterns = this.patterns = [...patterns, ...rests.map((rest) => pattern(rest))]
        opens = this.opens = openersOf(patterns)
        count = patterns.length
        // pattern() reads the rests with the same reader, which left its own last character there.
        character = escape
      }
      starts ??= this.starts = new Array<number>(longest).fill(0)
      starts[characters++ % longest] = this.pendingAt + at
      at += width
      partial = false
      for (let i = 0; i < count; i++) {
        const p = patterns[i]!
        let matched = p.matched
        while (matched > 0 && character !== p.bytes[matched]) matched = p.failure[matched - 1]!
        if (character === p.bytes[matched]) matched++
        if (matched === p.bytes.length) {
          pieces.push(data.subarray(passed, starts[(characters - matched) % longest]! - this.pendingAt), REDACTED_BYTES)
          passed = at
          for (const other of patterns) other.matched = 0
          partial = false
          break
        }
        p.matched = matched
        if (matched > 0) partial = true
      }
    }
    this.characters = characters
    let held = final ? end : at
    for (const p of patterns) if (p.matched > 0 && !final) held = Math.min(held, starts![(characters - p.matched) % longest]! - this.pendingAt)
    pieces.push(data.subarray(passed, held))
    // A copy: what is held must not keep the whole chunk alive.
    this.pending = held < end ? Buffer.from(data.subarray(held)) : EMPTY
    this.pendingAt += held
    this.read = at - held
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces)
  }
}

/** A body read whole with the secrets replaced (a 401's, read to judge it). */
export function redactBytes(bytes: Buffer, secrets: readonly string[]): Buffer {
  const scanner = new SecretScanner(secrets)
  return scanner.empty ? bytes : scanner.scan(bytes, true)
}

/**
 * A provider's answer with its secrets replaced, a secret cut across chunks included. Read as a
 * stream (Koa sends it with `stream.pipeline`), or sent by {@link RedactedBody.pipeTo} straight
 * from the provider's answer, as `serve` does: no stream between the two, which cost a proxied
 * call a fifth of its CPU time as a Transform, measured.
 */
export class RedactedBody extends Readable {
  private started = false

  constructor(
    private readonly source: Readable,
    private readonly scanner: SecretScanner,
    /** Every stream from the provider's answer to `source`: let go with this one. */
    private readonly chain: Readable[],
  ) {
    super()
    // A decoder may fail before the browser's side starts reading (a host's middleware still
    // awaiting after the BFF's): unheard, that failure would end the process. start() finds it.
    source.on('error', () => {})
  }

  /** Sends the answer to `destination`, pausing the provider's answer while it is full; errors end this stream. */
  pipeTo(destination: Writable): void {
    // No empty last chunk: `end(<0 bytes>)` writes the chunked answer's end apart, a packet of its own.
    this.start((out) => destination.write(out), (out) => (out.length ? destination.end(out) : destination.end()))
    destination.on('drain', () => this.source.resume())
  }

  override _read(): void {
    this.start((out) => this.push(out), (out) => {
      if (out.length) this.push(out)
      this.push(null)
    })
    this.source.resume()
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    for (const stream of this.chain) stream.destroy()
    done(error)
  }

  private start(write: (out: Buffer) => boolean, end: (out: Buffer) => void): void {
    if (this.started) return
    this.started = true
    const { source, scanner } = this
    // Failed or let go before this started: no event is left to come, and the answer would hang.
    if (source.destroyed) return void this.destroy(source.errored ?? prematureClose())
    let ended = false
    source.on('data', (chunk: Buffer) => {
      const out = scanner.scan(chunk)
      if (out.length && !write(out)) source.pause()
    })
    source.once('end', () => {
      ended = true
      end(scanner.scan(EMPTY, true))
    })
    source.once('error', (error) => this.destroy(error))
    source.once('close', () => {
      if (!ended && !this.destroyed) this.destroy(prematureClose())
    })
  }
}

/**
 * The codings of an answer's `Content-Encoding` and `Transfer-Encoding` to undo, the last applied
 * first. The proxy asks for `identity`; a provider that encodes anyway is decoded so that its body
 * can be read for the token.
 * A coding the proxy cannot read is refused: the body might carry the token unseen.
 */
export function codingsToUndo(contentEncoding: string | null, transferEncoding: string | null = null): string[] {
  try {
    return undoneCodings(contentEncoding, transferEncoding)
  } catch (error) {
    if (!(error instanceof UnreadableCoding)) throw error
    throw new AllAccessError('upstream_unreachable', { detail: `${error.message}: the proxy cannot read it for the token` })
  }
}

/**
 * The provider's answer as the browser may read it: decoded, then with every secret, however
 * escaped, replaced by {@link REDACTED}. Errors travel down the chain; when the browser's side ends
 * (the answer sent, or the browser gone), every stream of the chain is let go, the provider's
 * answer included. Piped by hand: `stream.pipeline` costs a proxied call a third of its CPU time
 * (see piped-answer.ts).
 */
export function redactedBody(source: Readable, codings: string[], secrets: readonly string[]): Readable {
  const chain = decodingChain(source, codings)
  const scanner = new SecretScanner(secrets)
  const last = chain[chain.length - 1]!
  return scanner.empty && chain.length === 1 ? last : new RedactedBody(last, scanner, chain)
}
