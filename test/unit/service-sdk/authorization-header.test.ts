/**
 * The `Authorization: Tessera <token>` header (docs/protocol.md §5.5): the scheme match of
 * tokenStart, and decodeToken's strict base64url (RFC 4648 §5, no padding, no other characters,
 * zero trailing bits), which must give each AP-REQ exactly one accepted spelling.
 */
import { describe, expect, it } from 'vitest'
import { toBase64Url, toHex } from '../../../kdc/protocol/index.js'
import { decodeToken, tokenStart } from '../../../service-sdk/authorization-header.js'
import { verifierHeap } from '../../../service-sdk/heap.js'
import { TicketVerifier } from '../../../service-sdk/index.js'
import { detBytes } from '../../helpers/det-rng.js'
import { expectCode } from '../kdc/protocol/expect-code.js'
import { authHeader, FakeClock, keyOf, makeKeytab, mintTicket, request } from './fixtures.js'

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const SENTINEL = 0xee

/**
 * decodeToken of "Tessera <token>" into a fresh scratch buffer (sentinel-filled) at `at`; `out` is
 * a copy of the decoded bytes, `length` what decodeToken returned.
 */
function decode(token: string, at = 0, scratch = Buffer.alloc(at + token.length + 8, SENTINEL)) {
  const h = `Tessera ${token}`
  const length = decodeToken(h, 8, scratch, at)
  return { out: scratch.subarray(at, at + length), length, scratch }
}

function expectRefused(token: string, at = 0): void {
  expectCode(() => decode(token, at), 'ERR_PROTO_MALFORMED', 'BASE64')
}

/** `s` with the character at `i` replaced by `c`. */
function replaceAt(s: string, i: number, c: string): string {
  return s.slice(0, i) + c + s.slice(i + 1)
}

// Valid tokens of every length class: 0, 2 and 3 characters mod 4.
const LENGTHS = [1, 2, 3, 4, 5, 6, 30, 31, 32, 100, 256, 1000]
const TOKENS = LENGTHS.map((n) => {
  const bytes = detBytes(`authorization/${n}`, n)
  return { bytes, token: toBase64Url(bytes) }
})

describe('decodeToken: valid tokens', () => {
  it('the fixtures cover every token length class and both extra alphabet characters', () => {
    expect(new Set(TOKENS.map((t) => t.token.length % 4))).toEqual(new Set([0, 2, 3]))
    const all = TOKENS.map((t) => t.token).join('')
    expect(all).toContain('-')
    expect(all).toContain('_')
    expect(all).not.toMatch(/[+/=]/)
  })

  it.each([0, 1])('decodes to the exact bytes at offset %i of the scratch buffer', (at) => {
    for (const { bytes, token } of TOKENS) {
      const { out, length, scratch } = decode(token, at)
      expect(length, `length ${bytes.length}`).toBe(bytes.length)
      expect(toHex(out), `length ${bytes.length}`).toBe(toHex(bytes))
      // Nothing before `at` nor after the decoded bytes is touched.
      expect([...scratch.subarray(0, at)].every((b) => b === SENTINEL)).toBe(true)
      expect([...scratch.subarray(at + bytes.length)].every((b) => b === SENTINEL)).toBe(true)
    }
  })

  it('decodes all 256 byte values (every alphabet character in every position)', () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i)
    for (let shift = 0; shift < 3; shift++) {
      const b = Uint8Array.from([...bytes.subarray(shift), ...bytes.subarray(0, shift)])
      expect(toHex(decode(toBase64Url(b), 1).out)).toBe(toHex(b))
    }
  })

  it('writes into a scratch Buffer that itself starts at a non-zero offset of its memory', () => {
    const backing = Buffer.alloc(600, SENTINEL)
    const scratch = backing.subarray(7, 500)
    const { bytes, token } = TOKENS[8] as { bytes: Uint8Array; token: string }
    const { length } = decode(token, 1, scratch)
    expect(length).toBe(bytes.length)
    // Offset 1 of the scratch Buffer is offset 8 of its memory, whatever the Buffer's own offset.
    expect(toHex(backing.subarray(8, 8 + bytes.length))).toBe(toHex(bytes))
    expect([...backing.subarray(0, 8)].every((b) => b === SENTINEL)).toBe(true)
    expect([...backing.subarray(8 + bytes.length)].every((b) => b === SENTINEL)).toBe(true)
  })

  it('writes into the verifier heap at an address, as the verifier decodes (odd offset)', () => {
    const heap = verifierHeap()
    const { bytes, token } = TOKENS[10] as { bytes: Uint8Array; token: string }
    const size = bytes.length + 16
    const block = heap.alloc(size)
    try {
      heap.u8.fill(SENTINEL, block, block + size)
      const n = decodeToken(`Tessera ${token}`, 8, heap.buf, block + 1)
      expect(n).toBe(bytes.length)
      expect(toHex(heap.u8.subarray(block + 1, block + 1 + n))).toBe(toHex(bytes))
      expect(heap.u8[block]).toBe(SENTINEL)
      expect([...heap.u8.subarray(block + 1 + n, block + size)].every((b) => b === SENTINEL)).toBe(
        true,
      )
    } finally {
      heap.free(block, size)
    }
  })

  it('reads the token from `start`, whatever precedes it', () => {
    const { bytes, token } = TOKENS[3] as { bytes: Uint8Array; token: string }
    const h = `tessera    ${token}`
    const scratch = Buffer.alloc(64)
    const n = decodeToken(h, tokenStart(h), scratch, 0)
    expect(toHex(scratch.subarray(0, n))).toBe(toHex(bytes))
  })

  it('accepts exactly the final characters with zero trailing bits', () => {
    // 2 characters carry 12 bits for 8: the last character's low 4 bits must be zero;
    // 3 characters carry 18 bits for 16: its low 2 bits must be zero.
    for (const [prefix, mask] of [
      ['A', 0x0f],
      ['AA', 0x03],
      ['AAAAA', 0x0f],
      ['AAAAAA', 0x03],
    ] as const) {
      for (let i = 0; i < 64; i++) {
        const token = prefix + B64URL.charAt(i)
        if ((i & mask) === 0) {
          const { out, length } = decode(token)
          expect(length, token).toBe((token.length * 3) >>> 2)
          expect(toBase64Url(out), token).toBe(token)
        } else {
          expectRefused(token)
        }
      }
    }
  })
})

describe('decodeToken: every non-canonical spelling is ERR_PROTO_MALFORMED', () => {
  const samples = TOKENS.filter((t) => t.token.length >= 4)

  /** Positions to damage in a token: start, second, middle, second to last, last. */
  const positions = (len: number): number[] => [0, 1, len >> 1, len - 2, len - 1]

  it.each([
    ['+'],
    ['/'],
    ['='],
    [' '],
    ['.'],
    ['\t'],
    ['%'],
    ['~'],
    ['\u00e9'],
    ['\u00ff'],
    ['\u0000'],
  ])('a %j in place of any character', (c) => {
    for (const { token } of samples) {
      for (const i of positions(token.length)) expectRefused(replaceAt(token, i, c))
    }
  })

  it.each([['+'], ['/'], ['='], [' '], ['.'], ['\u00e9']])('a %j inserted or appended', (c) => {
    for (const { token } of samples) {
      for (const i of [0, 1, token.length >> 1, token.length]) {
        expectRefused(token.slice(0, i) + c + token.slice(i))
      }
      // Two of them keep the length class; three make every class reachable.
      expectRefused(token + c + c)
      expectRefused(token + c + c + c)
    }
  })

  it('"=" padding, with or without the padded length', () => {
    for (const { token } of samples) {
      const rest = token.length % 4
      if (rest === 2) expectRefused(token + '==')
      if (rest === 3) expectRefused(token + '=')
      if (rest === 0) expectRefused(token + '====')
      expectRefused(token + '=')
      expectRefused(token + '==')
    }
    expectRefused('AA==')
    expectRefused('AAA=')
    expectRefused('====')
  })

  it('a length of 1 mod 4', () => {
    for (const token of ['A', 'Q', '_', 'AAAAA', 'AAAAAAAAA']) expectRefused(token)
    for (const { token } of samples) {
      if (token.length % 4 === 0) expectRefused(token + 'A')
      expectRefused(token.slice(0, token.length - ((token.length % 4) + 3)))
    }
  })

  it('non-zero trailing bits', () => {
    for (const token of ['AB', 'AAB', 'AC', 'AAC', 'AH', 'A_', 'AA_', 'AAAAAB', 'AAAAAAB']) {
      expectRefused(token)
    }
  })

  it('a space or a tab between spaces and the token, and trailing white space', () => {
    const { token } = TOKENS[3] as { token: string }
    expectRefused(`\t${token}`)
    expectRefused(`${token} `)
    expectRefused(`${token}\r\n`)
    expectRefused(`${token.slice(0, 2)} ${token.slice(2)}`)
  })

  it('an empty token (nothing after "Tessera "); regression: accepted in abbd991', () => {
    // abbd991 replaced the regex /^[A-Za-z0-9_-]+$/ with checks under which "" passed
    // (0 characters decode to 0 = 0 * 3 / 4 bytes); fixed in 5f13431.
    expectRefused('')
  })

  it("characters above U+00FF whose low byte is base64 ('\u0141' would read as 'A'); regression: accepted in abbd991", () => {
    // Node's base64 decoder keeps only the low byte of each UTF-16 unit, so U+0141 decodes as
    // 'A' (0x41), U+012B as '+' (which its base64url decoding also takes, as '-'), U+0151 as 'Q':
    // the decoded length is unchanged, so abbd991 accepted a second spelling of the same bytes
    // (the verifier then verified such a header); fixed in 5f13431.
    for (const { token } of samples) {
      for (const i of [0, token.length >> 1, token.length - 1]) {
        const original = token.charCodeAt(i)
        for (const low of [0x41, original, 0x2b, 0x2f]) {
          const alias = replaceAt(token, i, String.fromCharCode(0x100 | low))
          expectRefused(alias)
        }
      }
    }
    expectRefused('\u0141AAA')
    expectRefused('AA\u0141A')
    expectRefused('AAA\u0141')
  })
})

describe('tokenStart: the scheme', () => {
  it.each([
    ['Tessera abc', 8],
    ['tessera abc', 8],
    ['TESSERA abc', 8],
    ['tEsSeRa abc', 8],
    ['Tessera  abc', 9],
    ['Tessera     abc', 12],
    ['Tessera a', 8],
    ['Tessera  ', 9],
  ])('%j: token at %i', (h, start) => {
    expect(tokenStart(h)).toBe(start)
  })

  it.each([
    ['Tesseraabc'],
    ['Tessera\tabc'],
    ['Tessera\u00a0abc'],
    ['Tessera'],
    ['Tessera '],
    [''],
    ['Bearer abc'],
    ['Tesser abc'],
    ['Tesserae abc'],
    [' Tessera abc'],
    ['Tessera-abc'],
    ['XTessera abc'],
    ['T\u0165ssera abc'], // U+0165: OR 0x20 does not fold it to 'e'
    ['\u0154essera abc'], // low byte 'T'
    ['Tessera\u0120abc'], // low byte ' '
    ['Tess\u00e9ra abc'],
    ['Tessera\u0000abc'],
  ])('%j: not a Tessera header (-1)', (h) => {
    expect(tokenStart(h)).toBe(-1)
  })

  it('tokenStart and decodeToken together read back every fixture token', () => {
    for (const { bytes, token } of TOKENS) {
      for (const h of [`Tessera ${token}`, `tessera   ${token}`]) {
        const start = tokenStart(h)
        expect(h.slice(start)).toBe(token)
        const scratch = Buffer.alloc(2000)
        const n = decodeToken(h, start, scratch, 1)
        expect(toHex(scratch.subarray(1, 1 + n))).toBe(toHex(bytes))
      }
    }
  })
})

describe('the verifier accepts exactly one spelling of an AP-REQ', () => {
  it('refuses a real header with one character replaced by its U+01xx twin, accepts the original', () => {
    const keytab = makeKeytab([3])
    const verifier = new TicketVerifier(keytab, { clock: new FakeClock() })
    const minted = mintTicket({ serviceKey: keyOf(keytab, 3), kvno: 3 })
    const header = authHeader(minted, { counter: 1 })
    for (const i of [8, 9, header.length >> 1, header.length - 2]) {
      const alias = replaceAt(header, i, String.fromCharCode(0x100 | header.charCodeAt(i)))
      expectCode(() => verifier.verify(alias, request()), 'ERR_PROTO_MALFORMED', 'BASE64')
    }
    expect(verifier.verify(header, request()).caller).toBe(minted.client)
  })
})
