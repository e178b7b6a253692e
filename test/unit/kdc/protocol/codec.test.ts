import { describe, it, expect } from 'vitest'
import { decode, encode, encodeTrusted, type WireValue } from '../../../../kdc/protocol/codec.js'
import {
  MAX_ARRAY_ITEMS,
  MAX_BIN_BYTES,
  MAX_FRAME_BYTES,
  MAX_NESTING_DEPTH,
  MAX_STR_BYTES,
} from '../../../../kdc/protocol/limits.js'
import { hex, toHex } from '../../../helpers/hex.js'
import { expectCode, expectMisuse } from './expect-code.js'

function nested(depth: number, leaf: WireValue = 0): WireValue {
  let v: WireValue = leaf
  for (let i = 0; i < depth; i++) v = [v]
  return v
}

describe('codec: encode (docs/protocol.md §2)', () => {
  it.each([
    [0, '00'],
    [0x7f, '7f'],
    [0x80, 'cc80'],
    [0xff, 'ccff'],
    [0x100, 'cd0100'],
    [0xffff, 'cdffff'],
    [0x10000, 'ce00010000'],
    [0xffffffff, 'ceffffffff'],
  ])('encodes the integer %i minimally as %s', (value, expected) => {
    expect(toHex(encode(value))).toBe(expected)
    expect(decode(hex(expected))).toBe(value)
  })

  it('encodes strings with the smallest header: fixstr, str8, str16', () => {
    expect(toHex(encode(''))).toBe('a0')
    expect(toHex(encode('a'.repeat(31))).slice(0, 2)).toBe('bf')
    expect(toHex(encode('a'.repeat(32))).slice(0, 4)).toBe('d920')
    expect(toHex(encode('a'.repeat(255))).slice(0, 4)).toBe('d9ff')
    expect(toHex(encode('a'.repeat(256))).slice(0, 6)).toBe('da0100')
  })

  it('counts string length in UTF-8 bytes, not UTF-16 units', () => {
    // 16 x "é" (2 bytes each) = 32 bytes: str8, not fixstr.
    expect(toHex(encode('é'.repeat(16))).slice(0, 4)).toBe('d920')
    expect(decode(encode('é'.repeat(16)))).toBe('é'.repeat(16))
    expect(decode(encode('tessera 🔑'))).toBe('tessera 🔑')
  })

  it('encodes bytes as bin8 / bin16 and arrays as fixarray / array16', () => {
    expect(toHex(encode(new Uint8Array(0)))).toBe('c400')
    expect(toHex(encode(new Uint8Array([1, 2])))).toBe('c4020102')
    expect(toHex(encode(new Uint8Array(256))).slice(0, 6)).toBe('c50100')
    expect(toHex(encode([]))).toBe('90')
    expect(toHex(encode(new Array<number>(15).fill(0))).slice(0, 2)).toBe('9f')
    expect(toHex(encode(new Array<number>(16).fill(0))).slice(0, 6)).toBe('dc0010')
  })

  it('encodes a Uint8Array view as its own bytes only', () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9])
    expect(toHex(encode(backing.subarray(2, 5)))).toBe('c403010203')
  })

  it('returns a plain Uint8Array that owns its whole buffer (a real copy)', () => {
    const a = encode([1, 'x'])
    const b = encode([2, 'y'])
    expect(toHex(a)).toBe('9201a178')
    expect(toHex(b)).toBe('9202a179')
    expect(Object.getPrototypeOf(a)).toBe(Uint8Array.prototype)
    expect(a.byteOffset).toBe(0)
    expect(a.buffer.byteLength).toBe(a.length)
    a.fill(0)
    expect(toHex(encode([1, 'x']))).toBe('9201a178')
  })

  it('encodeTrusted produces the same bytes as encode', () => {
    const v: WireValue = ['tessera/v1/ticket', 1, 32, ['R', 'svc', 7], new Uint8Array([1])]
    expect(toHex(encodeTrusted(v))).toBe(toHex(encode(v)))
  })

  it.each([
    ['a negative integer', -1, RangeError],
    ['a fraction', 1.5, RangeError],
    ['2^32', 2 ** 32, RangeError],
    ['NaN', Number.NaN, RangeError],
    ['null', null, TypeError],
    ['a boolean', true, TypeError],
    ['a bigint', 1n, TypeError],
    ['a plain object', { a: 1 }, TypeError],
    ['a Map', new Map(), TypeError],
    ['a nested negative', [0, [-5]], RangeError],
  ] as const)('refuses to encode %s (caller misuse, no code)', (_label, value, type) => {
    expectMisuse(() => encode(value as unknown as WireValue), type)
  })

  it('encodes exactly the nesting that decode accepts, and refuses one more array', () => {
    expect(decode(encode(nested(MAX_NESTING_DEPTH)))).toEqual(nested(MAX_NESTING_DEPTH))
    expect(decode(encode(nested(MAX_NESTING_DEPTH - 1, [])))).toEqual(
      nested(MAX_NESTING_DEPTH - 1, []),
    )
    expectMisuse(() => encode(nested(MAX_NESTING_DEPTH + 1)), RangeError)
    expectMisuse(() => encode(nested(MAX_NESTING_DEPTH, [])), RangeError)
  })
})

describe('codec: decode accepts exactly the canonical subset', () => {
  it('round-trips a representative value', () => {
    const v: WireValue = [1, 2, 0xffffffff, 'realm', new Uint8Array(32).fill(7), [[], ['é']]]
    const bytes = encode(v)
    expect(decode(bytes)).toEqual(v)
  })

  it('returns bin values as views into the input (no copy)', () => {
    const bytes = encode([new Uint8Array([5, 6, 7])])
    const out = decode(bytes) as readonly WireValue[]
    const bin = out[0] as Uint8Array
    expect(bin.buffer).toBe(bytes.buffer)
    expect([...bin]).toEqual([5, 6, 7])
  })

  it('accepts exactly MAX_NESTING_DEPTH nested arrays and refuses one more', () => {
    expect(decode(encode(nested(MAX_NESTING_DEPTH)))).toEqual(nested(MAX_NESTING_DEPTH))
    const tooDeep = new Uint8Array(MAX_NESTING_DEPTH + 2).fill(0x91)
    tooDeep[MAX_NESTING_DEPTH + 1] = 0x00
    expectCode(() => decode(tooDeep), 'ERR_PROTO_TOO_LARGE', 'TOO_DEEP')
  })

  it('refuses 100 000 nested arrays with TOO_DEEP: no stack overflow, no large allocation', () => {
    const depth = 100_000
    const bytes = new Uint8Array(depth + 1).fill(0x91)
    bytes[depth] = 0x00
    const before = process.memoryUsage().heapUsed
    const started = performance.now()
    // maxBytes is raised so that depth, not size, is what fails.
    expectCode(() => decode(bytes, { maxBytes: depth + 1 }), 'ERR_PROTO_TOO_LARGE', 'TOO_DEEP')
    expect(performance.now() - started).toBeLessThan(200)
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 * 1024 * 1024)
  })

  it('refuses a 2^32-1 array length prefix in a 20-byte frame without allocating', () => {
    const bytes = new Uint8Array(20)
    bytes.set([0xdd, 0xff, 0xff, 0xff, 0xff])
    const before = process.memoryUsage().heapUsed
    expectCode(() => decode(bytes), 'ERR_PROTO_TOO_LARGE', 'ARRAY_TOO_LONG')
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 * 1024 * 1024)
  })

  it('refuses a 2^32-1 str or bin length prefix in a 20-byte frame', () => {
    const str = new Uint8Array(20)
    str.set([0xdb, 0xff, 0xff, 0xff, 0xff])
    expectCode(() => decode(str), 'ERR_PROTO_TOO_LARGE', 'STR_TOO_LONG')
    const bin = new Uint8Array(20)
    bin.set([0xc6, 0xff, 0xff, 0xff, 0xff])
    expectCode(() => decode(bin), 'ERR_PROTO_TOO_LARGE', 'BIN_TOO_LONG')
  })

  it('refuses an array length beyond the remaining bytes before allocating', () => {
    // array16 of 4096 items (at the item limit) in a 10-byte input.
    const bytes = hex`dc 1000 00 00 00 00 00 00 00`
    expectCode(() => decode(bytes), 'ERR_PROTO_MALFORMED', 'TRUNCATED_ARRAY')
  })

  it('accepts MAX_ARRAY_ITEMS items and refuses one more', () => {
    expect((decode(encode(new Array<number>(MAX_ARRAY_ITEMS).fill(1))) as unknown[]).length).toBe(
      MAX_ARRAY_ITEMS,
    )
    expectCode(
      () => decode(encode(new Array<number>(MAX_ARRAY_ITEMS + 1).fill(1))),
      'ERR_PROTO_TOO_LARGE',
      'ARRAY_TOO_LONG',
    )
  })

  it('accepts a MAX_STR_BYTES string and refuses one more byte', () => {
    expect(decode(encode('s'.repeat(MAX_STR_BYTES)))).toBe('s'.repeat(MAX_STR_BYTES))
    expectCode(
      () => decode(encode('s'.repeat(MAX_STR_BYTES + 1))),
      'ERR_PROTO_TOO_LARGE',
      'STR_TOO_LONG',
    )
  })

  it('accepts a MAX_BIN_BYTES bin and refuses one more byte (frame limit raised)', () => {
    const ok = encode(new Uint8Array(MAX_BIN_BYTES))
    expect((decode(ok, { maxBytes: ok.length }) as Uint8Array).length).toBe(MAX_BIN_BYTES)
    const over = encode(new Uint8Array(MAX_BIN_BYTES + 1))
    expectCode(() => decode(over, { maxBytes: over.length }), 'ERR_PROTO_TOO_LARGE', 'BIN_TOO_LONG')
  })

  it('accepts a MAX_FRAME_BYTES input and refuses one more byte', () => {
    const atLimit = encode(new Uint8Array(MAX_FRAME_BYTES - 3)) // bin16 header: 3 bytes
    expect(atLimit.length).toBe(MAX_FRAME_BYTES)
    expect((decode(atLimit) as Uint8Array).length).toBe(MAX_FRAME_BYTES - 3)
    const over = encode(new Uint8Array(MAX_FRAME_BYTES - 2))
    expect(over.length).toBe(MAX_FRAME_BYTES + 1)
    expectCode(() => decode(over), 'ERR_PROTO_TOO_LARGE', 'FRAME_TOO_LARGE')
  })

  it('applies tighter caller limits', () => {
    expectCode(
      () => decode(encode('abcd'), { maxStrBytes: 3 }),
      'ERR_PROTO_TOO_LARGE',
      'STR_TOO_LONG',
    )
    expectCode(
      () => decode(encode(new Uint8Array(4)), { maxBinBytes: 3 }),
      'ERR_PROTO_TOO_LARGE',
      'BIN_TOO_LONG',
    )
    expectCode(() => decode(encode([1, 2, 3, 4]), { maxArrayItems: 3 }), 'ERR_PROTO_TOO_LARGE')
    expectCode(() => decode(encode([[1]]), { maxDepth: 1 }), 'ERR_PROTO_TOO_LARGE', 'TOO_DEEP')
    expectCode(
      () => decode(encode('abcd'), { maxBytes: 4 }),
      'ERR_PROTO_TOO_LARGE',
      'FRAME_TOO_LARGE',
    )
  })
})

describe('codec: decode refuses everything outside the subset, each with its code', () => {
  it.each([
    ['empty input', '', 'ERR_PROTO_MALFORMED', 'EMPTY'],
    ['trailing bytes', '0102', 'ERR_PROTO_MALFORMED', 'TRAILING_BYTES'],
    ['trailing bytes after an array', '920102ff', 'ERR_PROTO_MALFORMED', 'TRAILING_BYTES'],
    ['a fixmap', '80', 'ERR_PROTO_MALFORMED', 'MAP'],
    ['a fixmap with a key', '81a16101', 'ERR_PROTO_MALFORMED', 'MAP'],
    ['a map16', 'de0000', 'ERR_PROTO_MALFORMED', 'MAP'],
    ['a map32', 'df00000000', 'ERR_PROTO_MALFORMED', 'MAP'],
    ['nil', 'c0', 'ERR_PROTO_MALFORMED', 'NIL'],
    ['false', 'c2', 'ERR_PROTO_MALFORMED', 'BOOLEAN'],
    ['true', 'c3', 'ERR_PROTO_MALFORMED', 'BOOLEAN'],
    ['the reserved byte 0xc1', 'c1', 'ERR_PROTO_MALFORMED', 'RESERVED_BYTE'],
    ['a float32 holding 1.0', 'ca3f800000', 'ERR_PROTO_MALFORMED', 'FLOAT'],
    ['a float64 holding 1.0', 'cb3ff0000000000000', 'ERR_PROTO_MALFORMED', 'FLOAT'],
    ['a negative fixint', 'ff', 'ERR_PROTO_MALFORMED', 'NEGATIVE_INT'],
    ['an int8', 'd001', 'ERR_PROTO_MALFORMED', 'NEGATIVE_INT'],
    ['an int16', 'd10001', 'ERR_PROTO_MALFORMED', 'NEGATIVE_INT'],
    ['an int32', 'd200000001', 'ERR_PROTO_MALFORMED', 'NEGATIVE_INT'],
    ['an int64', 'd30000000000000001', 'ERR_PROTO_MALFORMED', 'NEGATIVE_INT'],
    ['a uint64', 'cf0000000100000000', 'ERR_PROTO_TOO_LARGE', 'INT_OVER_UINT32'],
    ['ext type -1 (msgpack timestamp)', 'd6ff00000000', 'ERR_PROTO_MALFORMED', 'EXTENSION'],
    ['fixext1', 'd40100', 'ERR_PROTO_MALFORMED', 'EXTENSION'],
    ['fixext2', 'd5010000', 'ERR_PROTO_MALFORMED', 'EXTENSION'],
    ['fixext8', 'd7ff0000000000000000', 'ERR_PROTO_MALFORMED', 'EXTENSION'],
    ['fixext16', 'd801' + '00'.repeat(16), 'ERR_PROTO_MALFORMED', 'EXTENSION'],
    ['ext8', 'c7010100', 'ERR_PROTO_MALFORMED', 'EXTENSION'],
    ['ext16', 'c800010100', 'ERR_PROTO_MALFORMED', 'EXTENSION'],
    ['ext32', 'c90000000101' + '00', 'ERR_PROTO_MALFORMED', 'EXTENSION'],
    ['invalid UTF-8 (c3 28)', 'a2c328', 'ERR_PROTO_MALFORMED', 'INVALID_UTF8'],
    ['a lone continuation byte', 'a180', 'ERR_PROTO_MALFORMED', 'INVALID_UTF8'],
    ['an overlong "/" (c0 af)', 'a2c0af', 'ERR_PROTO_MALFORMED', 'INVALID_UTF8'],
    ['a UTF-16 surrogate (ed a0 80)', 'a3eda080', 'ERR_PROTO_MALFORMED', 'INVALID_UTF8'],
    ['a non-canonical uint8', 'cc05', 'ERR_PROTO_NON_CANONICAL', 'INT_NOT_MINIMAL'],
    ['a non-canonical uint8 at 0x7f', 'cc7f', 'ERR_PROTO_NON_CANONICAL', 'INT_NOT_MINIMAL'],
    ['a non-canonical uint16', 'cd00ff', 'ERR_PROTO_NON_CANONICAL', 'INT_NOT_MINIMAL'],
    [
      'a non-canonical uint32 (ce 00000001)',
      'ce00000001',
      'ERR_PROTO_NON_CANONICAL',
      'INT_NOT_MINIMAL',
    ],
    [
      'a non-canonical uint32 at 0xffff',
      'ce0000ffff',
      'ERR_PROTO_NON_CANONICAL',
      'INT_NOT_MINIMAL',
    ],
    ['a str8 that fits a fixstr', 'd90161', 'ERR_PROTO_NON_CANONICAL', 'LENGTH_NOT_MINIMAL'],
    ['a str16 that fits a str8', 'da000161', 'ERR_PROTO_NON_CANONICAL', 'LENGTH_NOT_MINIMAL'],
    ['a str32 that fits a str16', 'db0000000161', 'ERR_PROTO_NON_CANONICAL', 'LENGTH_NOT_MINIMAL'],
    ['a bin16 that fits a bin8', 'c5000101', 'ERR_PROTO_NON_CANONICAL', 'LENGTH_NOT_MINIMAL'],
    ['a bin32 that fits a bin16', 'c60000000101', 'ERR_PROTO_NON_CANONICAL', 'LENGTH_NOT_MINIMAL'],
    [
      'an array16 that fits a fixarray',
      'dc000101',
      'ERR_PROTO_NON_CANONICAL',
      'LENGTH_NOT_MINIMAL',
    ],
    [
      'an array32 that fits an array16',
      'dd0000000101',
      'ERR_PROTO_NON_CANONICAL',
      'LENGTH_NOT_MINIMAL',
    ],
    ['a truncated uint16', 'cd01', 'ERR_PROTO_MALFORMED', 'TRUNCATED_LENGTH'],
    ['a truncated uint8', 'cc', 'ERR_PROTO_MALFORMED', 'TRUNCATED_HEADER'],
    ['a truncated str', 'a3616263'.slice(0, 6), 'ERR_PROTO_MALFORMED', 'TRUNCATED_STR'],
    ['a truncated bin', 'c40401', 'ERR_PROTO_MALFORMED', 'TRUNCATED_BIN'],
    ['an array missing items', '930102', 'ERR_PROTO_MALFORMED', 'TRUNCATED_ARRAY'],
    ['an array whose last item is cut', '9201cd01', 'ERR_PROTO_MALFORMED', 'TRUNCATED_LENGTH'],
  ] as const)('%s → %s', (_label, input, code, status) => {
    expectCode(() => decode(hex(input)), code, status)
  })

  it('refuses a map where an array is expected, inside an otherwise valid value', () => {
    expectCode(() => decode(hex`93 01 80 02`), 'ERR_PROTO_MALFORMED', 'MAP')
  })

  it('refuses a float where an integer is expected, inside an array', () => {
    expectCode(() => decode(hex`92 01 cb 4000000000000000`), 'ERR_PROTO_MALFORMED', 'FLOAT')
  })

  it('never reports a U+FFFD replacement as success (msgpackr would)', () => {
    const out = (() => {
      try {
        return decode(hex`a2 c3 28`)
      } catch {
        return undefined
      }
    })()
    expect(out).toBeUndefined()
  })

  it('accepts a valid byte-order mark as data (no silent stripping)', () => {
    expect(decode(hex`a3 efbbbf`)).toBe('\ufeff')
  })
})
