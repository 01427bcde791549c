import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { constants, createBrotliDecompress, createGunzip, createInflate, createInflateRaw } from 'node:zlib'
import { cutText } from '../cut-text.ts'
import { AnswerTooLarge, readCapped } from './provider-transport.ts'

// Every request to a provider asks for `identity`, but some answer compressed anyway (a CDN, a
// framework's default). Their bodies are decoded here, for the login steps, `apiClient` and the
// proxy alike: read as bytes, a gzip body is neither JSON to parse nor text to search for the token.

// Read as browsers and undici's fetch read them: an empty body (a 200 to a DELETE, say) or one whose
// coding stops short is what it holds, not a failure.
const ZLIB = { flush: constants.Z_SYNC_FLUSH, finishFlush: constants.Z_SYNC_FLUSH }
const BROTLI = { flush: constants.BROTLI_OPERATION_FLUSH, finishFlush: constants.BROTLI_OPERATION_FLUSH }
const DECODERS: Record<string, () => Transform> = {
  gzip: () => createGunzip(ZLIB),
  'x-gzip': () => createGunzip(ZLIB),
  deflate: () => new Inflate(),
  br: () => createBrotliDecompress(BROTLI),
}
/**
 * `deflate` as browsers and undici's fetch read it: the zlib format the name stands for (RFC 9110
 * §8.4.1.2), or the raw deflate data (RFC 1951) that some servers send under it, told apart by the
 * first byte, whose low half is 8 (the compression method) only in a zlib header. Read as zlib
 * alone, every raw answer was refused as undecodable.
 */
class Inflate extends Transform {
  private inflate: Transform | null = null
  private ended = false

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    // Bytes after the end of the deflate data are no part of the body (decodingChain lets them go).
    if (this.ended) return done()
    if (!this.inflate) {
      if (!chunk.length) return done()
      const inflate = (this.inflate = (chunk[0]! & 0x0f) === 0x08 ? createInflate(ZLIB) : createInflateRaw(ZLIB))
      // Paused while this side is full: a small answer can decode to a great deal.
      inflate.on('data', (out: Buffer) => {
        if (!this.push(out)) inflate.pause()
      })
      inflate.once('end', () => {
        this.ended = true
        this.push(null)
      })
      inflate.once('error', (error) => this.destroy(error))
    }
    // Called back once the inflater has taken the chunk, later while it holds what was not read.
    this.inflate.write(chunk, done)
  }

  override _read(size: number): void {
    this.inflate?.resume()
    super._read(size)
  }

  override _flush(done: TransformCallback): void {
    if (!this.inflate || this.ended) return done()
    this.inflate.once('end', () => done()).end()
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.inflate?.destroy()
    done(error)
  }
}

/** The most codings undone: a decoder apiece, so a header naming thousands held memory for each (curl's CVE-2022-32206). */
const MAX_CODINGS = 5

/** An answer in a coding this side cannot undo, or in too many: its body cannot be read. */
export class UnreadableCoding extends Error {
  override name = 'UnreadableCoding'
}

function codingList(header: string | null | undefined): string[] {
  return (header ?? '').split(',').map((coding) => coding.trim().toLowerCase()).filter((coding) => coding && coding !== 'identity')
}

/**
 * The codings of an answer's `Content-Encoding` to undo, and of its `Transfer-Encoding` (applied
 * after them), the last applied first. undici takes off only a last `chunked`: a provider answering
 * `Transfer-Encoding: gzip, chunked`, which no call asks for (none sends `TE`, RFC 9112 §7.4),
 * reaches the reader still gzipped, the token unseen inside it.
 */
export function codingsToUndo(contentEncoding: string | null | undefined, transferEncoding: string | null = null): string[] {
  const codings = codingList(contentEncoding)
  if (transferEncoding && transferEncoding !== 'chunked') {
    const transfer = codingList(transferEncoding)
    if (transfer[transfer.length - 1] === 'chunked') transfer.pop()
    codings.push(...transfer)
  }
  if (codings.length > MAX_CODINGS) throw new UnreadableCoding(`the provider answered in ${codings.length} codings, more than are undone`)
  for (const coding of codings) {
    // The provider's own text, up to its 16 KiB of headers: cut, as it goes into a log line.
    if (!DECODERS[coding]) throw new UnreadableCoding(`the provider answered in coding "${cutText(coding)}", which cannot be read`)
  }
  return codings.reverse()
}

/**
 * `source` and a decoder per coding, piped in that order: the last stream is the decoded body.
 * Errors travel down the chain; whoever ends reading lets go of every stream of it.
 */
export function decodingChain(source: Readable, codings: readonly string[]): Readable[] {
  const chain: Readable[] = [source, ...codings.map((coding) => DECODERS[coding]!())]
  for (let i = 1; i < chain.length; i++) {
    const [from, to] = [chain[i - 1]!, chain[i] as Transform]
    const forward = (error: Error) => to.destroy(error)
    from.once('error', forward)
    from.pipe(to)
    // A coding that ends before the answer does: what follows is no part of the body (browsers
    // drop it too). Read on, it would be read after the call is over, with no time limit, or
    // stall and hold the provider's connection open for good: the answer is let go of instead.
    to.once('end', () => {
      if (from.readableEnded) return
      from.off('error', forward)
      from.unpipe(to)
      to.end()
      letGo(chain.slice(0, i))
    })
  }
  return chain
}

/** Lets go of every stream of a chain read no further; what they report after this concerns nobody. */
export function letGo(chain: readonly Readable[]): void {
  for (const stream of chain) stream.on('error', () => {}).destroy()
}

/**
 * An answer's body read whole and decoded, failing with {@link AnswerTooLarge} past `maxBytes`
 * decoded bytes, or past twice that many coded ones (and a margin). The decoded count alone is no
 * cap: empty gzip members or deflate blocks decode to nothing, and a provider could send them until
 * the time limit, each byte read and inflated. No coding doubles what it holds, so a real answer
 * within the cap is always read.
 */
export async function readDecoded(body: Readable, codings: readonly string[], maxBytes: number): Promise<Buffer> {
  const chain = decodingChain(body, codings)
  try {
    if (codings.length) {
      const codedCap = maxBytes * 2 + 64 * 1024
      let coded = 0
      body.on('data', (chunk: Uint8Array) => {
        coded += chunk.byteLength
        if (coded > codedCap) body.destroy(new AnswerTooLarge(`coded answer over ${codedCap} bytes`))
      })
    }
    return await readCapped(chain[chain.length - 1], maxBytes)
  } catch (error) {
    letGo(chain)
    throw error
  }
}
