import { describe, it, expect } from 'vitest'
import {
  concatBytes,
  constantTimeEqual,
  fromBase64Url,
  fromHex,
  toBase64Url,
  toHex,
  utf8DecodeStrict,
  utf8Encode,
} from '../../../../kdc/protocol/bytes.js'
import { expectMisuse } from './expect-code.js'

const ascii = (s: string): Uint8Array => utf8Encode(s)

describe('bytes: UTF-8', () => {
  it('encodes and strictly decodes UTF-8', () => {
    expect(toHex(utf8Encode('é'))).toBe('c3a9')
    expect(utf8DecodeStrict(fromHex('c3a9'))).toBe('é')
  })

  it('returns undefined for invalid UTF-8 instead of inserting U+FFFD', () => {
    expect(utf8DecodeStrict(fromHex('c328'))).toBeUndefined()
    expect(utf8DecodeStrict(fromHex('eda080'))).toBeUndefined()
    expect(utf8DecodeStrict(fromHex('ff'))).toBeUndefined()
  })

  it('keeps a leading byte-order mark', () => {
    expect(utf8DecodeStrict(fromHex('efbbbf61'))).toBe('\ufeffa')
  })
})

describe('bytes: concat and constant-time equality', () => {
  it('concatenates into a new array', () => {
    const a = new Uint8Array([1])
    const out = concatBytes(a, new Uint8Array([]), new Uint8Array([2, 3]))
    expect([...out]).toEqual([1, 2, 3])
    out[0] = 9
    expect(a[0]).toBe(1)
  })

  it('compares equal and unequal arrays, including different lengths', () => {
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true)
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false)
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 0]))).toBe(false)
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true)
  })
})

describe('bytes: hex', () => {
  it('round-trips lower-case hex and accepts upper case', () => {
    expect(toHex(new Uint8Array([0, 15, 255]))).toBe('000fff')
    expect([...fromHex('000FfF')]).toEqual([0, 15, 255])
  })

  it.each(['0', 'zz', '0g', ' 00'])('refuses %j with a TypeError (caller misuse)', (text) => {
    expectMisuse(() => fromHex(text), TypeError)
  })
})

describe('bytes: base64url (RFC 4648 §5, no padding)', () => {
  it.each([
    ['', ''],
    ['f', 'Zg'],
    ['fo', 'Zm8'],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg'],
    ['fooba', 'Zm9vYmE'],
    ['foobar', 'Zm9vYmFy'],
  ])('encodes %j as %j and back', (plain, encoded) => {
    expect(toBase64Url(ascii(plain))).toBe(encoded)
    expect(fromBase64Url(encoded)).toEqual(ascii(plain))
  })

  it('uses - and _ instead of + and /', () => {
    expect(toBase64Url(new Uint8Array([0xfb, 0xff]))).toBe('-_8')
    expect([...(fromBase64Url('-_8') ?? [])]).toEqual([0xfb, 0xff])
  })

  it.each([
    ['padding', 'Zg=='],
    ['standard alphabet +', '+_8'],
    ['standard alphabet /', '-/8'],
    ['a length of 1 mod 4', 'Zm9vY'],
    ['non-zero trailing bits', 'Zh'],
    ['non-ASCII', 'Zé'],
    ['whitespace', 'Zm9 v'],
  ])('refuses %s so every byte string has one encoding', (_label, text) => {
    expect(fromBase64Url(text)).toBeUndefined()
  })
})
