/**
 * Differential: service-sdk/authorization-header.ts tokenStart / decodeToken against a plain
 * reference: scheme "Tessera" (ASCII case-insensitive), one or more spaces, then strict unpadded
 * base64url with zero trailing bits, decoded by Buffer; decodeToken writes nothing outside its bytes.
 */
import { decodeToken, tokenStart } from '../../../service-sdk/authorization-header.js'
import { attempt, expectSameBytes, FuzzFailure, hexOf, type Target } from '../harness.js'
import type { Rng } from '../rng.js'

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const ABUSE = [
  '+',
  '/',
  '=',
  '==',
  ' ',
  '\t',
  '\n',
  '.',
  '%',
  '~',
  '\u0000',
  '\u007f',
  '\u00ff',
  '\u0100',
  '\u0141',
  '\u017f',
  '\u212a',
  '\ud800',
  '\udc00',
  '😀',
  'Ａ',
  '\u00c1',
]

export function refTokenStart(h: string): number {
  if (h.length < 9) return -1
  const lower = 'tessera'
  const upper = 'TESSERA'
  for (let i = 0; i < 7; i++) if (h[i] !== lower[i] && h[i] !== upper[i]) return -1
  if (h[7] !== ' ') return -1
  let p = 7
  while (h[p] === ' ') p++
  return p
}

/** Strict unpadded base64url with zero trailing bits, or undefined. */
export function refDecode(token: string): Buffer | undefined {
  if (token.length === 0 || token.length % 4 === 1 || !/^[A-Za-z0-9_-]+$/.test(token))
    return undefined
  const b = Buffer.from(token, 'base64url')
  return b.toString('base64url') === token ? b : undefined
}

export function mutateHeader(rng: Rng, h: string, donors: readonly string[]): string {
  const at = rng.int(h.length + 1)
  switch (rng.int(12)) {
    case 0:
      return h.slice(0, at) + rng.pick(ABUSE) + h.slice(at)
    case 1:
      return h.slice(0, at) + rng.pick(ABUSE) + h.slice(at + 1)
    case 2:
      return h.slice(0, at) + (B64URL[rng.int(64)] as string) + h.slice(at + 1)
    case 3:
      return h.slice(0, at) + h.slice(at + rng.small(3))
    case 4:
      return h.slice(0, at)
    case 5:
      return h + (B64URL[rng.int(64)] as string).repeat(rng.small(3))
    case 6:
      return h.replaceAll(rng.chance(0.5) ? '-' : '_', rng.chance(0.5) ? '+' : '/')
    case 7: {
      // scheme spelling
      const token = h.slice(Math.max(0, h.indexOf(' ')))
      return (
        rng.pick([
          'tessera',
          'TESSERA',
          'TeSsErA',
          'Tessera',
          'Tessera ',
          'Tesserá',
          'Bearer',
          'Tesser',
          'Tessera\t',
        ]) + token
      )
    }
    case 8: {
      const sp = h.indexOf(' ')
      return sp < 0 ? h : h.slice(0, sp) + ' '.repeat(rng.small(4)) + h.slice(sp)
    }
    case 9: {
      const d = rng.pick(donors)
      return h.slice(0, at) + d.slice(rng.int(d.length + 1))
    }
    case 10: {
      // flip the last character's low bits (trailing-bit canonicality)
      if (h.length === 0) return h
      const last = B64URL.indexOf(h.charAt(h.length - 1))
      return last < 0 ? h : h.slice(0, -1) + (B64URL[last ^ (1 << rng.int(4))] as string)
    }
    default:
      return h + rng.pick(['=', '==', '\r\n', ' ', ','])
  }
}

export const authorizationHeaderTarget: Target = {
  name: 'authorization-header',
  summary: 'service-sdk tokenStart/decodeToken vs a reference strict base64url decoder on Buffer',
  setup(rng) {
    const headers: string[] = []
    for (let i = 0; i < 200; i++) {
      const n = rng.chance(0.7) ? rng.int(40) : rng.pick([0, 1, 2, 3, 4, 250, 255, 256, 600])
      headers.push(`Tessera ${Buffer.from(rng.bytes(n)).toString('base64url')}`)
    }
    return {
      next(r) {
        const base = r.pick(headers)
        if (r.chance(0.1)) return { input: base, origin: 'valid header' }
        let h = base
        for (let k = r.small(3); k > 0; k--) h = mutateHeader(r, h, headers)
        return { input: h, origin: 'header mutation' }
      },
      run(c) {
        const h = c.input as string
        const start = tokenStart(h)
        const refStart = refTokenStart(h)
        if (start !== refStart)
          throw new FuzzFailure(`tokenStart says ${start}, the reference ${refStart}`)
        if (start < 0) return 'no-scheme'
        const token = h.slice(start)
        const want = refDecode(token)
        const at = 5
        const buf = Buffer.alloc(at + Math.ceil((token.length * 3) / 4) + 16, 0xaa)
        const got = attempt('decodeToken', () => decodeToken(h, start, buf, at), [
          'ERR_PROTO_MALFORMED',
        ])
        if (want === undefined) {
          if (got.ok) {
            throw new FuzzFailure(
              `decodeToken accepted a token the strict reference refuses (${got.value} bytes: ${hexOf(buf.subarray(at, at + got.value))})`,
            )
          }
          return 'token:refused'
        }
        if (!got.ok) throw new FuzzFailure('decodeToken refused a valid base64url token')
        if (got.value !== want.length)
          throw new FuzzFailure(`decodeToken returned ${got.value}, want ${want.length}`)
        expectSameBytes(
          'decodeToken bytes differ from Buffer base64url',
          buf.subarray(at, at + got.value),
          want,
        )
        for (let i = 0; i < buf.length; i++) {
          if ((i < at || i >= at + got.value) && buf[i] !== 0xaa) {
            throw new FuzzFailure(`decodeToken wrote outside its bytes (offset ${i})`)
          }
        }
        return 'token:OK'
      },
    }
  },
}
