/**
 * Structure-aware msgpack for the fuzzer: an encoder of our own (not msgpackr) that can write every
 * value canonically OR with a wider header than needed, raw nodes for what the wire subset forbids
 * (nil, booleans, floats, negative integers, maps, extensions, invalid UTF-8), random values at and
 * just beyond the limits of kdc/protocol/limits.ts, and tree mutations of decoded valid messages.
 */
import {
  MAX_ARRAY_ITEMS,
  MAX_BIN_BYTES,
  MAX_NESTING_DEPTH,
  MAX_PRINCIPAL_BYTES,
  MAX_REALM_BYTES,
  MAX_SCOPE_BYTES,
  MAX_SCOPES,
  MAX_SEALED_BYTES,
  MAX_STR_BYTES,
  MAX_UINT32,
  type WireValue,
} from '../../kdc/protocol/index.js'
import type { Rng } from './rng.js'

/** Pre-encoded bytes written verbatim: anything outside the wire subset. */
export class RawNode {
  readonly bytes: Uint8Array
  constructor(bytes: Uint8Array | readonly number[]) {
    this.bytes = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes)
  }
}

/** A mutable value tree: the wire subset, plus raw nodes and out-of-range numbers. */
export type Tree = number | string | Uint8Array | RawNode | Tree[]

/** A mutable deep copy of a decoded wire value. */
export function toTree(value: WireValue): Tree {
  if (Array.isArray(value)) return (value as readonly WireValue[]).map(toTree)
  if (value instanceof Uint8Array) return value.slice()
  return value as number | string
}

const utf8 = new TextEncoder()

class Writer {
  buf = new Uint8Array(256)
  len = 0

  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.len + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.len))
    this.buf = next
  }
  u8(v: number): void {
    this.reserve(1)
    this.buf[this.len++] = v & 0xff
  }
  be(v: number, bytes: number): void {
    this.reserve(bytes)
    for (let i = bytes - 1; i >= 0; i--) this.buf[this.len++] = Math.floor(v / 2 ** (8 * i)) & 0xff
  }
  raw(b: Uint8Array): void {
    this.reserve(b.length)
    this.buf.set(b, this.len)
    this.len += b.length
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.len)
  }
}

/** How headers are chosen: minimal, or sometimes wider (non-canonical). */
interface Style {
  readonly rng: Rng | undefined
  readonly wideP: number
}

function wide(style: Style): boolean {
  return style.rng !== undefined && style.wideP > 0 && style.rng.chance(style.wideP)
}

/** Header size class for a length: 0 = fix, 1 = 8-bit, 2 = 16-bit, 4 = 32-bit. */
function sizeClass(n: number, fixMax: number, has8: boolean): number {
  if (n <= fixMax) return 0
  if (has8 && n <= 0xff) return 1
  if (n <= 0xffff) return 2
  return 4
}

function widen(cls: number, style: Style, has8: boolean): number {
  if (!wide(style) || cls === 4) return cls
  const wider = [0, ...(has8 ? [1] : []), 2, 4].filter((c) => c > cls)
  return style.rng?.pick(wider) ?? cls
}

function writeUint(w: Writer, v: number, style: Style): void {
  let cls = v <= 0x7f ? 0 : v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= MAX_UINT32 ? 4 : 8
  if (cls !== 8 && wide(style)) {
    const wider = [1, 2, 4, 8].filter((c) => c > cls)
    cls = style.rng?.pick(wider) ?? cls
  }
  switch (cls) {
    case 0:
      w.u8(v)
      return
    case 1:
      w.u8(0xcc)
      w.u8(v)
      return
    case 2:
      w.u8(0xcd)
      w.be(v, 2)
      return
    case 4:
      w.u8(0xce)
      w.be(v, 4)
      return
    default:
      w.u8(0xcf)
      w.be(Math.floor(v / 2 ** 32), 4)
      w.be(v >>> 0, 4)
  }
}

function writeNumber(w: Writer, v: number, style: Style): void {
  if (Number.isInteger(v) && v >= 0 && v < 2 ** 64) {
    writeUint(w, v, style)
  } else if (Number.isInteger(v) && v < 0 && v >= -(2 ** 31)) {
    if (v >= -32) w.u8(0xe0 | (v + 32))
    else {
      w.u8(0xd2)
      w.be(v >>> 0, 4)
    }
  } else {
    w.u8(0xcb)
    const b = new Uint8Array(8)
    new DataView(b.buffer).setFloat64(0, v)
    w.raw(b)
  }
}

function writeLengthHeader(w: Writer, n: number, kind: 'str' | 'bin' | 'arr', style: Style): void {
  if (kind === 'bin') {
    const cls = widen(sizeClass(n, -1, true), style, true)
    if (cls === 1 || cls === 0) {
      w.u8(0xc4)
      w.u8(n)
    } else if (cls === 2) {
      w.u8(0xc5)
      w.be(n, 2)
    } else {
      w.u8(0xc6)
      w.be(n, 4)
    }
    return
  }
  if (kind === 'str') {
    const cls = widen(sizeClass(n, 31, true), style, true)
    if (cls === 0) w.u8(0xa0 | n)
    else if (cls === 1) {
      w.u8(0xd9)
      w.u8(n)
    } else if (cls === 2) {
      w.u8(0xda)
      w.be(n, 2)
    } else {
      w.u8(0xdb)
      w.be(n, 4)
    }
    return
  }
  const cls = widen(sizeClass(n, 15, false), style, false)
  if (cls === 0) w.u8(0x90 | n)
  else if (cls === 2) {
    w.u8(0xdc)
    w.be(n, 2)
  } else {
    w.u8(0xdd)
    w.be(n, 4)
  }
}

function write(w: Writer, t: Tree, style: Style): void {
  if (typeof t === 'number') writeNumber(w, t, style)
  else if (typeof t === 'string') {
    const b = utf8.encode(t)
    writeLengthHeader(w, b.length, 'str', style)
    w.raw(b)
  } else if (t instanceof Uint8Array) {
    writeLengthHeader(w, t.length, 'bin', style)
    w.raw(t)
  } else if (t instanceof RawNode) {
    w.raw(t.bytes)
  } else {
    writeLengthHeader(w, t.length, 'arr', style)
    for (const item of t) write(w, item, style)
  }
}

/**
 * Encode a tree. Canonical (minimal headers, as msgpackr writes the wire subset) unless `rng` is
 * given with `wideP` > 0: then each header is widened with that probability.
 */
export function encodeTree(t: Tree | WireValue, rng?: Rng, wideP = 0): Uint8Array {
  const w = new Writer()
  write(w, t as Tree, { rng, wideP })
  return w.result()
}

// ---- interesting values ------------------------------------------------------------------------

export const INTERESTING_UINTS: readonly number[] = [
  0,
  1,
  0x7f,
  0x80,
  0xff,
  0x100,
  0xffff,
  0x1_0000,
  0x7fff_ffff,
  0x8000_0000,
  MAX_UINT32,
  1_800_000_000,
  1_800_000_000 + 86_400,
]
/** Numbers outside the wire subset. */
const OUT_OF_RANGE_NUMBERS: readonly number[] = [
  2 ** 32,
  2 ** 53 - 1,
  -1,
  -32,
  -33,
  -(2 ** 31),
  0.5,
  1e300,
  NaN,
]

export const STR_LENGTHS: readonly number[] = [
  0,
  1,
  31,
  32,
  MAX_PRINCIPAL_BYTES,
  MAX_PRINCIPAL_BYTES + 1,
  MAX_SCOPE_BYTES,
  MAX_SCOPE_BYTES + 1,
  255,
  256,
  MAX_STR_BYTES,
  MAX_STR_BYTES + 1,
]
export const BIN_LENGTHS: readonly number[] = [
  0,
  1,
  15,
  16,
  17,
  31,
  32,
  33,
  40,
  41,
  64,
  65,
  255,
  256,
  MAX_SEALED_BYTES,
  MAX_SEALED_BYTES + 1,
  MAX_BIN_BYTES,
  MAX_BIN_BYTES + 1,
]
export const ARRAY_LENGTHS: readonly number[] = [
  0,
  1,
  2,
  15,
  16,
  MAX_SCOPES,
  MAX_SCOPES + 1,
  MAX_ARRAY_ITEMS,
  MAX_ARRAY_ITEMS + 1,
]

/** Header bytes that change a value's type or claim a length. */
export const INTERESTING_BYTES: readonly number[] = [
  0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x91, 0x94, 0x9f, 0xa0, 0xa1, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3,
  0xc4, 0xc5, 0xc6, 0xc7, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd4, 0xd9, 0xda, 0xdb, 0xdc,
  0xdd, 0xde, 0xdf, 0xe0, 0xff,
]

const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789._-'
const REALM_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-'
const SCOPE_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:._/*-'
const ODD_CHARS = [
  ' ',
  '\u0000',
  '\n',
  'é',
  'É',
  '\u00ff',
  '\u0100',
  '\u2028',
  '\ud800',
  '😀',
  'A',
  'z',
]

function randomText(rng: Rng, length: number, alphabet: string): string {
  let s = ''
  for (let i = 0; i < length; i++) s += alphabet[rng.int(alphabet.length)] as string
  return s
}

/** A name-like string: mostly valid for one of the grammars, sometimes at or over its limit. */
export function randomName(rng: Rng): string {
  switch (rng.int(6)) {
    case 0:
      return 'a' + randomText(rng, rng.int(12), NAME_CHARS)
    case 1:
      return 'A' + randomText(rng, rng.int(12), REALM_CHARS)
    case 2:
      return 'o' + randomText(rng, rng.int(10), SCOPE_CHARS)
    case 3: {
      const n = rng.pick(STR_LENGTHS.filter((l) => l <= 256))
      return n === 0 ? '' : 'a' + randomText(rng, n - 1, NAME_CHARS)
    }
    case 4:
      return 'A' + randomText(rng, rng.pick([MAX_REALM_BYTES - 1, MAX_REALM_BYTES]), REALM_CHARS)
    default:
      return 'a' + randomText(rng, rng.int(6), NAME_CHARS) + rng.pick(ODD_CHARS)
  }
}

/** A value outside the wire subset, as raw bytes. */
export function randomRawNode(rng: Rng): RawNode {
  switch (rng.int(12)) {
    case 0:
      return new RawNode([0xc0]) // nil
    case 1:
      return new RawNode([rng.pick([0xc2, 0xc3])]) // booleans
    case 2:
      return new RawNode([0xc1]) // reserved
    case 3:
      return new RawNode(encodeTree(rng.pick(OUT_OF_RANGE_NUMBERS)))
    case 4:
      return new RawNode([0x81, 0xa1, 0x61, 0x01]) // {a: 1}
    case 5:
      return new RawNode([0xde, 0x00, 0x01, 0x01, 0x02]) // map16 {1: 2}
    case 6:
      return new RawNode([0xd6, 0xff, 0x00, 0x00, 0x00, 0x01]) // fixext4 type -1 (a Date in msgpackr)
    case 7:
      return new RawNode([0xc7, 0x01, 0x05, 0x00]) // ext8
    case 8:
      return new RawNode([0xa2, 0xc3, 0x28]) // invalid UTF-8
    case 9:
      return new RawNode([0xa3, 0xed, 0xa0, 0x80]) // a UTF-8 surrogate
    case 10:
      return new RawNode([0xa2, 0xc0, 0x80]) // overlong NUL
    default:
      // A header that claims more than follows.
      return new RawNode([rng.pick([0xc4, 0xd9, 0xdc, 0xc5, 0xda, 0xdd, 0xc6, 0xdb]), 0xff, 0xff])
  }
}

/** A random value of the wire subset (sometimes just beyond a limit, or a raw forbidden value). */
export function randomTree(rng: Rng, depth = 0, budget = { items: 6_000 }): Tree {
  budget.items--
  const roll = rng.int(20)
  if (roll < 5) return rng.chance(0.7) ? rng.pick(INTERESTING_UINTS) : rng.u32()
  if (roll < 9) return randomName(rng)
  if (roll < 10) return 'x'.repeat(rng.pick(STR_LENGTHS))
  if (roll < 13) {
    const n = rng.chance(0.7) ? rng.pick([0, 16, 32, 41, 48, 60, 100]) : rng.pick(BIN_LENGTHS)
    return rng.bytes(n)
  }
  if (roll < 14) return randomRawNode(rng)
  if (depth >= MAX_NESTING_DEPTH + 1 || budget.items <= 0) return rng.u32() & 0x7f
  let n = rng.chance(0.8) ? rng.int(8) : rng.pick(ARRAY_LENGTHS)
  if (n > budget.items) n = Math.max(0, budget.items)
  const out: Tree[] = []
  // Long arrays get scalar items: the point is the count, not the content.
  for (let i = 0; i < n; i++) out.push(n > 64 ? rng.int(0x80) : randomTree(rng, depth + 1, budget))
  return out
}

/** An array nested exactly `depth` levels (the outermost counts as 1). */
export function nested(depth: number, leaf: Tree = 1): Tree {
  let t: Tree = leaf
  for (let i = 0; i < depth; i++) t = [t]
  return t
}

// ---- tree mutation -------------------------------------------------------------------------------

interface Slot {
  readonly parent: Tree[] | undefined
  readonly index: number
  readonly node: Tree
}

function slots(root: Tree, limit = 4_000): Slot[] {
  const out: Slot[] = [{ parent: undefined, index: 0, node: root }]
  for (let i = 0; i < out.length && out.length < limit; i++) {
    const node = (out[i] as Slot).node
    if (Array.isArray(node)) {
      for (let k = 0; k < node.length && out.length < limit; k++) {
        out.push({ parent: node, index: k, node: node[k] as Tree })
      }
    }
  }
  return out
}

function resizeBytes(rng: Rng, b: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n)
  out.set(b.subarray(0, Math.min(n, b.length)))
  if (n > b.length) out.set(rng.bytes(Math.min(n - b.length, 64)), b.length)
  return out
}

function mutateString(rng: Rng, s: string): string {
  switch (rng.int(8)) {
    case 0:
      return s.toUpperCase()
    case 1:
      return s.toLowerCase()
    case 2: {
      const i = rng.int(s.length + 1)
      return s.slice(0, i) + rng.pick(ODD_CHARS) + s.slice(i)
    }
    case 3:
      return s.slice(0, rng.int(s.length + 1))
    case 4: {
      const n = rng.pick(STR_LENGTHS)
      return (s + 'a'.repeat(Math.max(0, n - s.length))).slice(0, n)
    }
    case 5:
      return s + s
    case 6: {
      const i = rng.int(s.length + 1)
      return s.slice(0, i) + randomText(rng, 1, SCOPE_CHARS + '@+ ') + s.slice(i + 1)
    }
    default:
      return randomName(rng)
  }
}

function mutateNumber(rng: Rng, v: number): number {
  switch (rng.int(5)) {
    case 0:
      return rng.pick(INTERESTING_UINTS)
    case 1:
      return v + 1
    case 2:
      return Math.max(0, v - 1)
    case 3:
      return rng.pick(OUT_OF_RANGE_NUMBERS)
    default:
      return rng.u32()
  }
}

function mutateArray(rng: Rng, a: Tree[], donors: readonly Tree[]): Tree {
  const copy = a.slice()
  switch (rng.int(9)) {
    case 0:
      if (copy.length > 0) copy.splice(rng.int(copy.length), 1)
      return copy
    case 1:
      if (copy.length > 0) copy.splice(rng.int(copy.length), 0, copy[rng.int(copy.length)] as Tree)
      return copy
    case 2:
      copy.splice(rng.int(copy.length + 1), 0, randomTree(rng, 6))
      return copy
    case 3:
      return copy.reverse()
    case 4:
      return [copy]
    case 5: {
      const n = rng.pick(ARRAY_LENGTHS)
      const filler = copy.length > 0 ? (copy[copy.length - 1] as Tree) : 1
      while (copy.length < n) copy.push(filler)
      return copy.slice(0, n)
    }
    case 6:
      return nested(rng.pick([MAX_NESTING_DEPTH - 1, MAX_NESTING_DEPTH]), copy)
    case 7:
      if (copy.length > 1) {
        const i = rng.int(copy.length)
        const j = rng.int(copy.length)
        const t = copy[i] as Tree
        copy[i] = copy[j] as Tree
        copy[j] = t
      }
      return copy
    default:
      return donors.length > 0 ? pickSubtree(rng, rng.pick(donors)) : copy
  }
}

function pickSubtree(rng: Rng, donor: Tree): Tree {
  return rng.pick(slots(donor, 500)).node
}

/** A deep copy (structuredClone would turn raw nodes into plain objects). */
export function cloneTree(t: Tree): Tree {
  if (Array.isArray(t)) return t.map(cloneTree)
  if (t instanceof Uint8Array) return t.slice()
  return t
}

/** Replace one node of `t` (mutating a copy); `donors` supplies subtrees from other messages. */
export function mutateTree(rng: Rng, t: Tree, donors: readonly Tree[] = []): Tree {
  const root = cloneTree(t)
  const all = slots(root)
  const slot = rng.pick(all)
  const node = slot.node
  let next: Tree
  const generic = rng.chance(0.15)
  if (generic) {
    next = rng.chance(0.5) ? randomTree(rng, 4) : randomRawNode(rng)
  } else if (typeof node === 'number') {
    next = mutateNumber(rng, node)
  } else if (typeof node === 'string') {
    next = mutateString(rng, node)
  } else if (node instanceof Uint8Array) {
    if (rng.chance(0.5) && node.length > 0) {
      const b = node.slice()
      const i = rng.int(b.length)
      b[i] = (b[i] as number) ^ (1 << rng.int(8))
      next = b
    } else {
      next = resizeBytes(rng, node, rng.pick(BIN_LENGTHS))
    }
  } else if (node instanceof RawNode) {
    next = randomTree(rng, 4)
  } else {
    next = mutateArray(rng, node, donors)
  }
  if (slot.parent === undefined) return next
  slot.parent[slot.index] = next
  return root
}
