/**
 * Zero-copy readers of the two sealed plaintexts the verifier opens on its hot path
 * (docs/protocol.md §5.2, §6.1): the authenticator [ctime, counter, requestHash] and the ticket's
 * EncTicketPart. Each accepts a subset of what kdc/protocol's decoders accept (canonical msgpack,
 * exact shapes, the name grammars) and allocates nothing for the fields it only checks; the
 * verifier hands anything a reader declines to kdc/protocol, which stays the single source of truth
 * for what is valid. test/unit/service-sdk/plaintext-reader.test.ts holds the two together.
 */
import {
  HASH_BYTES,
  KEY_BYTES,
  MAX_PRINCIPAL_BYTES,
  MAX_SCOPE_BYTES,
  PRINCIPAL_PATTERN,
  SCOPE_PATTERN,
  TICKET_ID_BYTES,
} from '../kdc/protocol/index.js'

/** Reads canonical msgpack unsigned integers (below 2^32) and short str headers. */
export class CanonicalReader {
  /** The value of the last successful uint read. */
  protected value = 0

  /** A canonical uint32 at p: returns the position after it (value in this.value), or -1. */
  protected uint(b: Uint8Array, p: number): number {
    const h = b[p]
    if (h === undefined) return -1
    if (h <= 0x7f) {
      this.value = h
      return p + 1
    }
    if (h === 0xcc) {
      const v = b[p + 1]
      if (v === undefined || v <= 0x7f) return -1
      this.value = v
      return p + 2
    }
    if (h === 0xcd) {
      if (p + 2 >= b.length) return -1
      const v = ((b[p + 1] as number) << 8) | (b[p + 2] as number)
      if (v <= 0xff) return -1
      this.value = v
      return p + 3
    }
    if (h === 0xce) {
      if (p + 4 >= b.length) return -1
      const v =
        (b[p + 1] as number) * 0x1000000 +
        (((b[p + 2] as number) << 16) | ((b[p + 3] as number) << 8) | (b[p + 4] as number))
      if (v <= 0xffff) return -1
      this.value = v
      return p + 5
    }
    return -1
  }

  /** A canonical str header of a string below 256 bytes at p: start of the text, length in value. */
  protected shortStr(b: Uint8Array, p: number): number {
    const h = b[p]
    if (h === undefined) return -1
    if (h >= 0xa0 && h <= 0xbf) {
      this.value = h & 0x1f
      return p + 1
    }
    if (h === 0xd9) {
      const n = b[p + 1]
      if (n === undefined || n < 32) return -1
      this.value = n
      return p + 2
    }
    return -1
  }
}

/**
 * The opened authenticator [ctime, counter, requestHash]: msgpack 93 uint uint c4 20 <32 bytes>
 * with canonical integers and nothing after.
 */
export class AuthenticatorView extends CanonicalReader {
  ctime = 0
  counter = 0
  /** requestHash is plaintext[hashStart, hashStart + 32). */
  hashStart = 0

  parse(pt: Uint8Array): boolean {
    if (pt[0] !== 0x93) return false
    let p = this.uint(pt, 1)
    if (p < 0) return false
    this.ctime = this.value
    p = this.uint(pt, p)
    if (p < 0) return false
    this.counter = this.value
    if (pt[p] !== 0xc4 || pt[p + 1] !== HASH_BYTES || p + 2 + HASH_BYTES !== pt.length) return false
    this.hashStart = p + 2
    return true
  }
}

// The name grammars of kdc/protocol/principal.ts as per-byte tables, derived from its patterns so
// that the two cannot drift: a byte may start a name when it is a valid name on its own, and may
// follow when a valid first character followed by it is a valid name.
const [PRINCIPAL_FIRST, PRINCIPAL_REST] = charClasses(PRINCIPAL_PATTERN)
const [SCOPE_FIRST, SCOPE_REST] = charClasses(SCOPE_PATTERN)
/** Distinct names (and scope lists) kept by the interner before it starts over. */
const MAX_INTERNED = 1_024

function charClasses(pattern: RegExp): [first: Uint8Array, rest: Uint8Array] {
  const first = new Uint8Array(256)
  const rest = new Uint8Array(256)
  for (let c = 0; c < 256; c++) if (pattern.test(String.fromCharCode(c))) first[c] = 1
  const lead = String.fromCharCode(first.indexOf(1))
  for (let c = 0; c < 256; c++) if (pattern.test(lead + String.fromCharCode(c))) rest[c] = 1
  return [first, rest]
}

interface Interned<T> {
  /** The bytes the value was read from, one character per byte. */
  readonly bytes: string
  readonly value: T
}

/**
 * The opened EncTicketPart [flags, sessionKey, client, authTime, startTime, endTime, scopes,
 * policyVersion, ticketId, kdcCheck]. Names and scope lists are interned: a service sees few
 * distinct callers, so a new ticket from a known caller costs no string or array allocation, and
 * the frozen scope list is shared by every identity that carries it.
 */
export class TicketPartView extends CanonicalReader {
  flags = 0
  /** The session key is plaintext[keyStart, keyStart + 32). */
  keyStart = 0
  client = ''
  authTime = 0
  startTime = 0
  endTime = 0
  scopes: readonly string[] = []
  policyVersion = 0
  /** The ticket id is plaintext[ticketIdStart, ticketIdStart + 16). */
  ticketIdStart = 0

  readonly #names = new Map<number, Interned<string>>()
  readonly #scopeLists = new Map<number, Interned<readonly string[]>>()

  parse(pt: Uint8Array): boolean {
    if (pt[0] !== 0x9a) return false
    let p = this.uint(pt, 1)
    if (p < 0) return false
    this.flags = this.value
    if (pt[p] !== 0xc4 || pt[p + 1] !== KEY_BYTES) return false
    this.keyStart = p + 2
    p += 2 + KEY_BYTES
    p = this.#client(pt, p)
    if (p < 0) return false
    p = this.uint(pt, p)
    if (p < 0) return false
    this.authTime = this.value
    p = this.uint(pt, p)
    if (p < 0) return false
    this.startTime = this.value
    p = this.uint(pt, p)
    if (p < 0) return false
    this.endTime = this.value
    p = this.#scopes(pt, p)
    if (p < 0) return false
    p = this.uint(pt, p)
    if (p < 0) return false
    this.policyVersion = this.value
    if (pt[p] !== 0xc4 || pt[p + 1] !== TICKET_ID_BYTES) return false
    this.ticketIdStart = p + 2
    p += 2 + TICKET_ID_BYTES
    // kdcCheck: a bin of 0..64 bytes (empty in v1), and nothing after it.
    if (pt[p] !== 0xc4) return false
    const n = pt[p + 1]
    return n !== undefined && n <= 64 && p + 2 + n === pt.length
  }

  /** client: a str matching the principal grammar. */
  #client(pt: Uint8Array, p: number): number {
    const start = this.shortStr(pt, p)
    if (start < 0) return -1
    const end = start + this.value
    if (end === start || end - start > MAX_PRINCIPAL_BYTES || end > pt.length) return -1
    if (PRINCIPAL_FIRST[pt[start] as number] !== 1) return -1
    let h = 0x811c9dc5
    for (let i = start; i < end; i++) {
      const c = pt[i] as number
      if (PRINCIPAL_REST[c] !== 1) return -1
      h = Math.imul(h ^ c, 0x01000193)
    }
    this.client = intern(this.#names, h, pt, start, end, latin1)
    return end
  }

  /** scopes: an array of at most MAX_SCOPES scope names in strictly ascending order. */
  #scopes(pt: Uint8Array, p: number): number {
    const h0 = pt[p]
    // A fixarray (0..15 scopes); a longer list (up to MAX_SCOPES) is array16, which the verifier
    // leaves to kdc/protocol's decoder.
    if (h0 === undefined || h0 < 0x90 || h0 > 0x9f) return -1
    const count = h0 & 0x0f
    const listStart = p
    p += 1
    let h = 0x811c9dc5
    let prevStart = -1
    let prevEnd = -1
    for (let k = 0; k < count; k++) {
      const start = this.shortStr(pt, p)
      if (start < 0) return -1
      const end = start + this.value
      if (end === start || end - start > MAX_SCOPE_BYTES || end > pt.length) return -1
      if (SCOPE_FIRST[pt[start] as number] !== 1) return -1
      for (let i = start; i < end; i++) {
        const c = pt[i] as number
        if (SCOPE_REST[c] !== 1) return -1
        h = Math.imul(h ^ c, 0x01000193)
      }
      h = Math.imul(h ^ 0xff, 0x01000193) // separator: ["ab","c"] and ["a","bc"] hash apart
      if (prevStart >= 0 && !ascending(pt, prevStart, prevEnd, start, end)) return -1
      prevStart = start
      prevEnd = end
      p = end
    }
    this.scopes = intern(this.#scopeLists, h, pt, listStart, p, scopeList)
    return p
  }
}

/** True when pt[a0, a1) < pt[b0, b1) as byte strings (ASCII: the same order as JS strings). */
function ascending(pt: Uint8Array, a0: number, a1: number, b0: number, b1: number): boolean {
  const n = Math.min(a1 - a0, b1 - b0)
  for (let i = 0; i < n; i++) {
    const d = (pt[a0 + i] as number) - (pt[b0 + i] as number)
    if (d !== 0) return d < 0
  }
  return a1 - a0 < b1 - b0
}

function latin1(pt: Uint8Array, start: number, end: number): string {
  return String.fromCharCode.apply(null, pt.subarray(start, end) as unknown as number[])
}

/** The scope list encoded at pt[start, end), already validated, frozen. */
function scopeList(pt: Uint8Array, start: number, end: number): readonly string[] {
  const out: string[] = []
  let p = start + 1
  while (p < end) {
    const h = pt[p] as number
    const n = h === 0xd9 ? (pt[p + 1] as number) : h & 0x1f
    const s = h === 0xd9 ? p + 2 : p + 1
    out.push(latin1(pt, s, s + n))
    p = s + n
  }
  return Object.freeze(out)
}

/** The interned value for pt[start, end) (hash h), made with `make` on a miss. */
function intern<T>(
  table: Map<number, Interned<T>>,
  h: number,
  pt: Uint8Array,
  start: number,
  end: number,
  make: (pt: Uint8Array, start: number, end: number) => T,
): T {
  const hit = table.get(h)
  if (hit !== undefined && sameBytes(hit.bytes, pt, start, end)) return hit.value
  if (table.size >= MAX_INTERNED) table.clear()
  const value = make(pt, start, end)
  table.set(h, { bytes: latin1(pt, start, end), value })
  return value
}

function sameBytes(s: string, pt: Uint8Array, start: number, end: number): boolean {
  if (s.length !== end - start) return false
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== pt[start + i]) return false
  return true
}

const HEX_DIGITS = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0))

/**
 * Lower-case hex of the 16 bytes at `u8[at]` (a ticket id), as one string made by one call:
 * Buffer#toString('hex') costs twice as much on the verifier's path, and joining pieces makes a
 * rope that is flattened again on first use.
 */
export function hex16(u8: Uint8Array, at: number): string {
  const d = HEX_DIGITS
  const hi = (i: number): number => d[(u8[at + i] as number) >>> 4] as number
  const lo = (i: number): number => d[(u8[at + i] as number) & 15] as number
  // prettier-ignore
  return String.fromCharCode(
    hi(0), lo(0), hi(1), lo(1), hi(2), lo(2), hi(3), lo(3),
    hi(4), lo(4), hi(5), lo(5), hi(6), lo(6), hi(7), lo(7),
    hi(8), lo(8), hi(9), lo(9), hi(10), lo(10), hi(11), lo(11),
    hi(12), lo(12), hi(13), lo(13), hi(14), lo(14), hi(15), lo(15),
  )
}
