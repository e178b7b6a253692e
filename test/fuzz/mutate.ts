/**
 * Byte- and text-level mutations: bit flips, interesting bytes, length fields rewritten with
 * boundary values, insertion, deletion, truncation, extension, duplication and splicing with another
 * input. Stacked 1..n at a time, as AFL's havoc stage does.
 */
import { concatBytes as concat, MAX_SEALED_BYTES } from '../../kdc/protocol/index.js'
import { INTERESTING_BYTES } from './msgpack-gen.js'
import type { Rng } from './rng.js'

/** Lengths worth writing into a length field. */
const INTERESTING_LENGTHS: readonly number[] = [
  0,
  1,
  15,
  16,
  31,
  32,
  40,
  41,
  0x7f,
  0x80,
  0xff,
  0x100,
  MAX_SEALED_BYTES,
  MAX_SEALED_BYTES + 1,
  0xffff,
  0x1_0000,
  0x7fff_ffff,
  0xffff_ffff,
]

/** Largest input a mutation may produce (inputs past the frame limit still get tried, a bit). */
const MAX_MUTANT_BYTES = 80 * 1024

function clampLength(b: Uint8Array): Uint8Array {
  return b.length > MAX_MUTANT_BYTES ? b.subarray(0, MAX_MUTANT_BYTES) : b
}

/** One random byte-level mutation of `b` (a new array; `b` is left alone). */
export function mutateBytesOnce(
  rng: Rng,
  b: Uint8Array,
  donors: readonly Uint8Array[],
): Uint8Array {
  const n = b.length
  const at = rng.int(n + 1)
  switch (rng.int(14)) {
    case 0: {
      if (n === 0) return Uint8Array.of(rng.int(256))
      const out = b.slice()
      const i = rng.int(n)
      out[i] = (out[i] as number) ^ (1 << rng.int(8))
      return out
    }
    case 1: {
      if (n === 0) return Uint8Array.of(rng.pick(INTERESTING_BYTES))
      const out = b.slice()
      out[rng.int(n)] = rng.pick(INTERESTING_BYTES)
      return out
    }
    case 2: {
      if (n === 0) return b.slice()
      const out = b.slice()
      out[rng.int(n)] = rng.int(256)
      return out
    }
    case 3: {
      // A big-endian length field of 1, 2 or 4 bytes.
      const width = rng.pick([1, 2, 4])
      if (n < width) return b.slice()
      const out = b.slice()
      const i = rng.int(n - width + 1)
      let v = rng.pick(INTERESTING_LENGTHS)
      if (rng.chance(0.3)) v += rng.pick([-1, 1])
      for (let k = width - 1; k >= 0; k--) {
        out[i + k] = v & 0xff
        v = Math.floor(v / 256)
      }
      return out
    }
    case 4: // insert bytes
      return concat(b.subarray(0, at), rng.bytes(rng.small(4)), b.subarray(at))
    case 5: // insert an interesting byte
      return concat(b.subarray(0, at), Uint8Array.of(rng.pick(INTERESTING_BYTES)), b.subarray(at))
    case 6: {
      // delete a range
      const len = Math.min(n - at, rng.small(8))
      return concat(b.subarray(0, at), b.subarray(at + len))
    }
    case 7: // truncate
      return b.slice(0, rng.int(n + 1))
    case 8: // extend
      return concat(b, rng.chance(0.5) ? rng.bytes(rng.small(16)) : new Uint8Array(rng.small(64)))
    case 9: {
      // duplicate a range
      const start = rng.int(n + 1)
      const len = Math.min(n - start, rng.small(64))
      return clampLength(concat(b.subarray(0, at), b.subarray(start, start + len), b.subarray(at)))
    }
    case 10: {
      // splice: a prefix of this, a suffix of a donor
      const d = donors.length > 0 ? rng.pick(donors) : b
      return concat(b.subarray(0, at), d.subarray(rng.int(d.length + 1)))
    }
    case 11: {
      // overwrite a range with bytes of a donor at the same offset (a field from another message)
      const d = donors.length > 0 ? rng.pick(donors) : b
      const out = b.slice()
      const len = Math.min(n - at, d.length - at, rng.small(48))
      if (len > 0) out.set(d.subarray(at, at + len), at)
      return out
    }
    case 12: {
      // add or subtract a small number at one byte
      if (n === 0) return b.slice()
      const out = b.slice()
      const i = rng.int(n)
      out[i] = ((out[i] as number) + rng.pick([-2, -1, 1, 2, 16, -16])) & 0xff
      return out
    }
    default: {
      // swap two bytes
      if (n < 2) return b.slice()
      const out = b.slice()
      const i = rng.int(n)
      const j = rng.int(n)
      const t = out[i] as number
      out[i] = out[j] as number
      out[j] = t
      return out
    }
  }
}

/** 1..maxStack stacked byte mutations. */
export function mutateBytes(
  rng: Rng,
  b: Uint8Array,
  donors: readonly Uint8Array[] = [],
  maxStack = 4,
): Uint8Array {
  let out = b
  const k = rng.small(maxStack)
  for (let i = 0; i < k; i++) out = mutateBytesOnce(rng, out, donors)
  return out === b ? b.slice() : out
}

/** Text insertions that trip parsers: YAML syntax, control characters, non-ASCII, long runs. */
const TEXT_FRAGMENTS: readonly string[] = [
  ' ',
  '  ',
  '\t',
  '\n',
  '\r\n',
  ':',
  ': ',
  '- ',
  '#',
  '"',
  "'",
  '[',
  ']',
  '{',
  '}',
  ',',
  '&a ',
  '*a',
  '<<: *a',
  '!!binary ',
  '!!int ',
  '!!str ',
  '!!map ',
  '!!seq ',
  '!!float ',
  '!foo ',
  '? ',
  '---\n',
  '...\n',
  '%YAML 1.1\n',
  '|\n',
  '>-\n',
  'null',
  '~',
  'true',
  'yes',
  '0x1F',
  '0o17',
  '007',
  '1e400',
  '-1',
  '.inf',
  '.nan',
  '1_000',
  '2026-01-01',
  '1h30m',
  '86401',
  '59',
  '\u0000',
  '\u00a0',
  '\ufeff',
  '\u2028',
  'é',
  '😀',
  '\ud800',
  'group:',
  'group:admins',
  'orders:*',
  'x'.repeat(65),
  'a'.repeat(64),
]

/** One random text mutation of `s`. `lines` of other inputs serve as donors. */
export function mutateTextOnce(rng: Rng, s: string, donors: readonly string[]): string {
  const at = rng.int(s.length + 1)
  switch (rng.int(9)) {
    case 0:
      return s.slice(0, at) + rng.pick(TEXT_FRAGMENTS) + s.slice(at)
    case 1: {
      const len = rng.small(8)
      return s.slice(0, at) + s.slice(at + len)
    }
    case 2:
      return s.slice(0, at)
    case 3: {
      // replace one character
      return s.slice(0, at) + String.fromCharCode(rng.int(128)) + s.slice(at + 1)
    }
    case 4: {
      // duplicate a line
      const lines = s.split('\n')
      const i = rng.int(lines.length)
      lines.splice(i, 0, lines[i] as string)
      return lines.join('\n')
    }
    case 5: {
      // delete a line
      const lines = s.split('\n')
      lines.splice(rng.int(lines.length), 1)
      return lines.join('\n')
    }
    case 6: {
      // re-indent a line
      const lines = s.split('\n')
      const i = rng.int(lines.length)
      const line = lines[i] as string
      lines[i] = rng.chance(0.5) ? '  ' + line : line.replace(/^ {1,2}/, '')
      return lines.join('\n')
    }
    case 7: {
      // a line from another input
      const d = donors.length > 0 ? rng.pick(donors) : s
      const dl = d.split('\n')
      const lines = s.split('\n')
      lines.splice(rng.int(lines.length + 1), 0, rng.pick(dl))
      return lines.join('\n')
    }
    default: {
      // replace a token (word) with a fragment
      const m = /[A-Za-z0-9:._*/-]+/g
      const tokens = [...s.matchAll(m)]
      if (tokens.length === 0) return s + rng.pick(TEXT_FRAGMENTS)
      const t = rng.pick(tokens)
      const start = t.index
      return s.slice(0, start) + rng.pick(TEXT_FRAGMENTS) + s.slice(start + t[0].length)
    }
  }
}

/** 1..maxStack stacked text mutations. */
export function mutateText(
  rng: Rng,
  s: string,
  donors: readonly string[] = [],
  maxStack = 3,
): string {
  let out = s
  const k = rng.small(maxStack)
  for (let i = 0; i < k; i++) out = mutateTextOnce(rng, out, donors)
  return out
}
