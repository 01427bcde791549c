import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { codingsToUndo, UnreadableCoding } from '../server/clients/content-coding.ts'
import { cases } from './support/property.ts'

const READABLE = ['gzip', 'x-gzip', 'deflate', 'br']
/** A coding as a provider may spell it: any case. */
const spelled = (name: string) => fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }).map((upper) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(''))
/** Optional whitespace (RFC 9110 §5.6.1: SP and HTAB), now and then a long run of it. */
const ows = fc.oneof(fc.constantFrom('', ' ', '\t', ' \t '), fc.nat(4096).map((n) => ' '.repeat(n)))
/** What a list may hold that names no coding: empty elements (RFC 9110 §5.6.1 tells recipients to skip them) and `identity`. */
const noise = fc.oneof(ows, spelled('identity').chain((name) => fc.tuple(ows, ows).map(([before, after]) => before + name + after)))

/**
 * A Content-Encoding header naming `codings` in order, among noise: runs of thousands of commas
 * and spaces, `identity`, any case.
 */
const header = (codings: string[]) =>
  fc
    .tuple(
      fc.tuple(...codings.map((name) => fc.tuple(spelled(name), ows, ows, fc.array(noise, { maxLength: 4 })))),
      fc.array(noise, { maxLength: 4 }),
      fc.nat(8192),
    )
    .map(([named, trailing, commas]) => [','.repeat(commas), ...named.flatMap(([name, before, after, around]) => [...around, before + name + after]), ...trailing].join(','))

describe('codingsToUndo, on Content-Encoding headers of thousands of characters', () => {
  it('finds the codings named, whatever empty elements, whitespace and identity surround them, the last applied first', () => {
    const named = fc.array(fc.constantFrom(...READABLE), { maxLength: 5 })
    fc.assert(
      fc.property(named.chain((codings) => fc.tuple(fc.constant(codings), header(codings))), ([codings, value]) => {
        expect(codingsToUndo(value)).toEqual([...codings].reverse())
      }),
      cases(300),
    )
  })

  it('refuses more than five codings, counting only those named, not the empty elements around them', () => {
    const named = fc.array(fc.constantFrom(...READABLE, 'zstd'), { minLength: 6, maxLength: 40 })
    fc.assert(
      fc.property(named.chain((codings) => fc.tuple(fc.constant(codings), header(codings))), ([codings, value]) => {
        expect(() => codingsToUndo(value)).toThrow(new UnreadableCoding(`the provider answered in ${codings.length} codings, more than are undone`))
      }),
      cases(200),
    )
  })

  it('refuses a coding it cannot read among up to five, naming it', () => {
    const named = fc.tuple(fc.array(fc.constantFrom(...READABLE), { maxLength: 4 }), fc.nat(4)).map(([readable, at]) => readable.toSpliced(Math.min(at, readable.length), 0, 'zstd'))
    fc.assert(
      fc.property(named.chain((codings) => fc.tuple(fc.constant(codings), header(codings))), ([, value]) => {
        expect(() => codingsToUndo(value)).toThrow(new UnreadableCoding('the provider answered in coding "zstd", which cannot be read'))
      }),
      cases(200),
    )
  })
})
