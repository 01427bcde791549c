import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { readDecoded } from '../server/clients/content-coding.ts'
import { AnswerTooLarge } from '../server/clients/provider-transport.ts'

describe('readDecoded', () => {
  it('gives up on a body of codings that decode to nothing, however long it goes on, once its coded bytes pass twice the cap', async () => {
    const empty = gzipSync(Buffer.alloc(0))
    let produced = 0
    const endless = new Readable({
      read() {
        produced += empty.length * 100
        this.push(Buffer.concat(Array.from({ length: 100 }, () => empty)))
      },
    })
    await expect(readDecoded(endless, ['gzip'], 1024)).rejects.toBeInstanceOf(AnswerTooLarge)
    expect(produced).toBeLessThan(1024 * 1024)
    expect(endless.destroyed).toBe(true)
  })

  it('reads a body within the cap whole, however little it compresses', async () => {
    const random = randomBytes(64 * 1024)
    expect(await readDecoded(Readable.from([gzipSync(random)]), ['gzip'], random.length)).toEqual(random)
  })
})
