/**
 * The verifier's zero-copy plaintext readers (service-sdk/plaintext-reader.ts) against kdc/protocol,
 * the single source of truth for what a plaintext means:
 *
 * - parity: on valid plaintexts the readers return exactly what the protocol decoders return;
 * - safety: a reader never accepts a byte string the protocol refuses (hand-written refusals,
 *   exhaustive single-byte edits, and seeded fast-check mutations);
 * - completeness: the only valid EncTicketParts TicketPartView declines are those with 16+ scopes
 *   (array16), which the verifier hands to parseTicketPlaintext;
 * - interning: equal scope lists share one frozen array, and nothing interned is confused with a
 *   different name or list (also under FNV-1a hash collisions and table resets).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  authenticatorAad,
  deriveKey,
  encode,
  isBrokerError,
  LABELS,
  MSG,
  openAuthenticator,
  openBytes,
  parseTicketPlaintext,
  sealBytes,
  sealTicket,
  ticketAad,
  toHex,
  type Authenticator,
  type EncTicketPart,
  type WireValue,
} from '../../../kdc/protocol/index.js'
import { AuthenticatorView, TicketPartView } from '../../../service-sdk/plaintext-reader.js'
import { detBytes } from '../../helpers/det-rng.js'
import { expectCode } from '../kdc/protocol/expect-code.js'
import { CLIENT, REALM, SERVICE, T0 } from './fixtures.js'

const SEED = 0x7e55e4a
const numRuns = process.env.SLOW === '1' ? 3000 : 300

/** Every msgpack uint width boundary (fixint, uint8, uint16, uint32). */
const BOUNDARIES = [0, 1, 127, 128, 255, 256, 65535, 65536, 0xffff_ffff] as const
/** Encoded length of each boundary: 1 byte up to 127, then 2, 3 and 5. */
const BOUNDARY_WIDTH = [1, 1, 1, 2, 2, 3, 3, 5, 5] as const

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

let partCounter = 0

/** A valid EncTicketPart; every call gets its own session key and ticket id. */
function makePart(o: Partial<EncTicketPart> = {}): EncTicketPart {
  const n = ++partCounter
  return {
    flags: 0,
    sessionKey: detBytes(`reader/key/${n}`, 32),
    client: CLIENT,
    authTime: T0 - 10,
    startTime: T0 - 10,
    endTime: T0 + 900,
    scopes: ['orders:read', 'orders:write'],
    policyVersion: 7,
    ticketId: detBytes(`reader/id/${n}`, 16),
    kdcCheck: new Uint8Array(0),
    ...o,
  }
}

/** The wire form of an EncTicketPart (ticket.ts toWire; checked against sealTicket below). */
function wire(p: EncTicketPart): WireValue[] {
  return [
    p.flags,
    p.sessionKey,
    p.client,
    p.authTime,
    p.startTime,
    p.endTime,
    [...p.scopes],
    p.policyVersion,
    p.ticketId,
    p.kdcCheck,
  ]
}

function plaintext(p: EncTicketPart): Uint8Array {
  return encode(wire(p))
}

/** Each field of the wire form encoded on its own, for byte-level surgery. */
function fieldsOf(p: EncTicketPart): Uint8Array[] {
  return wire(p).map((v) => encode(v))
}

/** A msgpack array of already-encoded fields (fixarray header unless one is given). */
function assemble(fields: readonly Uint8Array[], header: readonly number[] = []): Uint8Array {
  const head = header.length > 0 ? header : [0x90 | fields.length]
  const total = head.length + fields.reduce((n, f) => n + f.length, 0)
  const out = new Uint8Array(total)
  out.set(head, 0)
  let p = head.length
  for (const f of fields) {
    out.set(f, p)
    p += f.length
  }
  return out
}

/** The protocol's verdict: the decoded part, or undefined after a (required) ERR_AP_BAD_INTEGRITY. */
function protocolParse(pt: Uint8Array): EncTicketPart | undefined {
  try {
    return parseTicketPlaintext(pt)
  } catch (err) {
    if (!isBrokerError(err, 'ERR_AP_BAD_INTEGRITY')) throw err
    return undefined
  }
}

/** Every field the view read equals what parseTicketPlaintext decoded from the same bytes. */
function expectAgree(view: TicketPartView, pt: Uint8Array, full: EncTicketPart, what = ''): void {
  expect(view.client, `client ${what}`).toBe(full.client)
  expect([...view.scopes], `scopes ${what}`).toEqual([...full.scopes])
  expect(Object.isFrozen(view.scopes), `scopes frozen ${what}`).toBe(true)
  expect(view.flags, `flags ${what}`).toBe(full.flags)
  expect(view.authTime, `authTime ${what}`).toBe(full.authTime)
  expect(view.startTime, `startTime ${what}`).toBe(full.startTime)
  expect(view.endTime, `endTime ${what}`).toBe(full.endTime)
  expect(view.policyVersion, `policyVersion ${what}`).toBe(full.policyVersion)
  expect(toHex(pt.subarray(view.keyStart, view.keyStart + 32)), `sessionKey ${what}`).toBe(
    toHex(full.sessionKey),
  )
  expect(toHex(pt.subarray(view.ticketIdStart, view.ticketIdStart + 16)), `ticketId ${what}`).toBe(
    toHex(full.ticketId),
  )
}

/** The view accepts `p`'s plaintext and reads back exactly `p` (and what the protocol reads). */
function expectParity(view: TicketPartView, p: EncTicketPart, what = ''): void {
  const pt = plaintext(p)
  const full = parseTicketPlaintext(pt)
  expect(view.parse(pt), `view.parse ${what}`).toBe(true)
  expectAgree(view, pt, full, what)
  // And both equal the part the plaintext was built from.
  expect(full.client).toBe(p.client)
  expect([...view.scopes]).toEqual([...p.scopes])
  expect([view.flags, view.authTime, view.startTime, view.endTime, view.policyVersion]).toEqual([
    p.flags,
    p.authTime,
    p.startTime,
    p.endTime,
    p.policyVersion,
  ])
  expect(toHex(pt.subarray(view.keyStart, view.keyStart + 32))).toBe(toHex(p.sessionKey))
  expect(toHex(pt.subarray(view.ticketIdStart, view.ticketIdStart + 16))).toBe(toHex(p.ticketId))
}

type Mutation =
  | { readonly kind: 'set'; readonly at: number; readonly value: number }
  | { readonly kind: 'xor'; readonly at: number; readonly bit: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'insert'; readonly at: number; readonly value: number }
  | { readonly kind: 'delete'; readonly at: number }

const byte = fc.integer({ min: 0, max: 255 })
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: byte }),
  fc.record({
    kind: fc.constant('xor' as const),
    at: fc.nat(),
    bit: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: byte }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
)

function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = bytes.slice()
  for (const m of mutations) {
    const len = b.length
    switch (m.kind) {
      case 'set':
        if (len > 0) b[m.at % len] = m.value
        break
      case 'xor':
        if (len > 0) b[m.at % len] = (b[m.at % len] as number) ^ (1 << m.bit)
        break
      case 'truncate':
        b = b.slice(0, m.at % (len + 1))
        break
      case 'insert': {
        const at = m.at % (len + 1)
        b = Uint8Array.from([...b.subarray(0, at), m.value, ...b.subarray(at)])
        break
      }
      case 'delete': {
        if (len === 0) break
        const at = m.at % len
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1)])
        break
      }
    }
  }
  return b
}

// ---- arbitraries for valid parts ---------------------------------------------------------------

const uint32Arb = fc.oneof(
  fc.constantFrom(...BOUNDARIES),
  fc.integer({ min: 0, max: 0xffff_ffff }),
  fc.integer({ min: 0, max: 300 }),
)
const principalArb = fc.stringMatching(/^[a-z][a-z0-9._-]{0,62}$/)
const scopeArb = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9:._/*-]{0,63}$/)
const scopesArb = (maxLength: number): fc.Arbitrary<string[]> =>
  fc.uniqueArray(scopeArb, { maxLength }).map((s) => [...s].sort())
const partArb = (maxScopes = 15): fc.Arbitrary<EncTicketPart> =>
  fc.record({
    flags: uint32Arb,
    sessionKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    client: principalArb,
    authTime: uint32Arb,
    startTime: uint32Arb,
    endTime: uint32Arb,
    scopes: scopesArb(maxScopes),
    policyVersion: uint32Arb,
    ticketId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    kdcCheck: fc.uint8Array({ maxLength: 64 }),
  })

// ================================================================================================

describe('TicketPartView: parity with parseTicketPlaintext on valid plaintexts', () => {
  it('the wire form used here is the one sealTicket seals (field order of toWire)', () => {
    const p = makePart({ flags: 1, scopes: ['a', 'b:c'], policyVersion: 300 })
    const subkey = deriveKey(detBytes('reader/service-key', 32), LABELS.ticket)
    const header = { realm: REALM, service: SERVICE, kvno: 4 }
    const sealed = sealTicket(subkey, header, p).sealed
    const opened = openBytes(subkey, ticketAad(header), sealed, 8192)
    expect(toHex(opened)).toBe(toHex(plaintext(p)))
    const view = new TicketPartView()
    expect(view.parse(opened)).toBe(true)
    expectAgree(view, opened, parseTicketPlaintext(opened))
    expect(view.client).toBe(CLIENT)
    expect(view.flags).toBe(1)
  })

  it('reads every integer field at every msgpack width boundary', () => {
    const view = new TicketPartView()
    BOUNDARIES.forEach((v, i) => {
      // The boundary really is at the width it claims.
      expect(encode(v).length, `width of ${v}`).toBe(BOUNDARY_WIDTH[i])
      // All five integers at v at once, then each one alone at v (the others differ).
      expectParity(
        view,
        makePart({ flags: v, authTime: v, startTime: v, endTime: v, policyVersion: v }),
        `all = ${v}`,
      )
      for (const field of ['flags', 'authTime', 'startTime', 'endTime', 'policyVersion'] as const) {
        expectParity(view, makePart({ [field]: v }), `${field} = ${v}`)
      }
    })
  })

  it('reads neighbouring integers of different widths without shifting the fields after them', () => {
    const view = new TicketPartView()
    for (const a of BOUNDARIES) {
      for (const b of BOUNDARIES) {
        expectParity(
          view,
          makePart({ authTime: a, startTime: b, endTime: a, policyVersion: b, flags: b }),
          `${a}/${b}`,
        )
      }
    }
  })

  it('reads client names of length 1, 31 (fixstr), 32 and 63 (str8), with every allowed character', () => {
    const view = new TicketPartView()
    const names = [
      'a',
      'z',
      'a' + 'b'.repeat(30),
      'a' + 'c'.repeat(31),
      'q' + 'x'.repeat(62),
      'a0123456789._-',
      'z.y_x-w9',
      'abcdefghijklmnopqrstuvwxyz',
    ]
    expect(names.map((n) => n.length).slice(0, 5)).toEqual([1, 1, 31, 32, 63])
    expect(encode('a'.repeat(31))[0]).toBe(0xbf)
    expect(encode('a'.repeat(32))[0]).toBe(0xd9)
    for (const client of names) expectParity(view, makePart({ client }), `client ${client}`)
  })

  it('reads scope lists of 0, 1, 2 and 15 items (fixarray), of scope lengths 1, 31, 32 and 64', () => {
    const view = new TicketPartView()
    const fifteen = Array.from({ length: 15 }, (_, i) => `svc:scope${String(i).padStart(2, '0')}`)
    const lists: string[][] = [
      [],
      ['orders:read'],
      ['a', 'b'],
      fifteen,
      ['A'],
      ['x'.repeat(31)],
      ['y'.repeat(32)],
      ['Z'.repeat(64)],
      ['0', '9', 'A', 'Z', 'a', 'z'],
      ['a', 'a-', 'a.', 'a/', 'a:', 'a*', 'a_', 'ab'].sort(),
      ['orders', 'orders:read', 'orders:read:all'],
    ]
    for (const scopes of lists) {
      expectParity(view, makePart({ scopes }), `scopes ${JSON.stringify(scopes)}`)
    }
    expect(encode(fifteen)[0]).toBe(0x9f)
  })

  it('reads a kdcCheck of 0, 1 and 64 bytes', () => {
    const view = new TicketPartView()
    for (const n of [0, 1, 63, 64]) {
      expectParity(view, makePart({ kdcCheck: detBytes(`reader/kdc/${n}`, n) }), `kdcCheck ${n}`)
    }
  })

  it('reads a plaintext that is a subarray at a non-zero offset; offsets are relative to it', () => {
    const view = new TicketPartView()
    const p = makePart()
    const pt = plaintext(p)
    const big = new Uint8Array(pt.length + 13).fill(0xc1)
    big.set(pt, 5)
    const sub = big.subarray(5, 5 + pt.length)
    expect(view.parse(sub)).toBe(true)
    expectAgree(view, sub, parseTicketPlaintext(sub))
    expect(toHex(sub.subarray(view.keyStart, view.keyStart + 32))).toBe(toHex(p.sessionKey))
  })

  it('declines 16 and 32 scopes (array16), which parseTicketPlaintext accepts: the verifier falls back', () => {
    const view = new TicketPartView()
    for (const count of [16, 17, 32]) {
      const scopes = Array.from({ length: count }, (_, i) => `s${String(i).padStart(2, '0')}`)
      const pt = plaintext(makePart({ scopes }))
      expect(encode(scopes)[0]).toBe(0xdc)
      expect(view.parse(pt), `${count} scopes`).toBe(false)
      const full = parseTicketPlaintext(pt)
      expect([...full.scopes]).toEqual(scopes)
    }
    // 33 scopes is over MAX_SCOPES: both refuse.
    const over = Array.from({ length: 33 }, (_, i) => `s${String(i).padStart(2, '0')}`)
    const pt = plaintext(makePart({ scopes: over }))
    expect(view.parse(pt)).toBe(false)
    expectCode(() => parseTicketPlaintext(pt), 'ERR_AP_BAD_INTEGRITY')
  })

  it('agrees with parseTicketPlaintext on random valid parts (fast-check)', () => {
    const view = new TicketPartView()
    fc.assert(
      fc.property(partArb(), (p) => {
        expectParity(view, p)
      }),
      { seed: SEED, numRuns },
    )
  })
})

describe('TicketPartView: never accepts what parseTicketPlaintext refuses', () => {
  const base = makePart({ scopes: ['a', 'b'] })
  const good = fieldsOf(base)

  /** `good` with field i replaced by raw bytes. */
  function withField(i: number, bytes: readonly number[] | Uint8Array): Uint8Array {
    const fields = good.slice()
    fields[i] = Uint8Array.from(bytes)
    return assemble(fields)
  }

  const cases: [string, Uint8Array][] = [
    // integers
    ['flags 5 as uint8 (cc 05)', withField(0, [0xcc, 0x05])],
    ['flags 127 as uint8 (cc 7f)', withField(0, [0xcc, 0x7f])],
    ['authTime 255 as uint16 (cd 00 ff)', withField(3, [0xcd, 0x00, 0xff])],
    ['startTime 0 as uint16 (cd 00 00)', withField(4, [0xcd, 0x00, 0x00])],
    ['endTime 65535 as uint32 (ce 00 00 ff ff)', withField(5, [0xce, 0x00, 0x00, 0xff, 0xff])],
    ['policyVersion as uint64 (cf)', withField(7, [0xcf, 0, 0, 0, 0, 0, 0, 0, 1])],
    ['flags negative fixint (ff)', withField(0, [0xff])],
    ['flags int8 (d0 01)', withField(0, [0xd0, 0x01])],
    ['flags nil (c0)', withField(0, [0xc0])],
    ['flags true (c3)', withField(0, [0xc3])],
    ['authTime float32', withField(3, [0xca, 0x3f, 0x80, 0x00, 0x00])],
    ['policyVersion as a string', withField(7, encode('7'))],
    ['endTime uint16 cut short', withField(5, [0xcd, 0x01])],
    // client
    ['uppercase client', withField(2, encode('Payments'))],
    ['client starting with a digit', withField(2, encode('9lives'))],
    ['client starting with "-"', withField(2, encode('-pay'))],
    ['client with a space', withField(2, encode('pay ments'))],
    ['client with "/"', withField(2, encode('pay/ments'))],
    ['client with ":"', withField(2, encode('pay:ments'))],
    ['empty client', withField(2, encode(''))],
    ['client of 64 characters', withField(2, encode('a'.repeat(64)))],
    ['non-ASCII client', withField(2, encode('payé'))],
    ['client with invalid UTF-8', withField(2, [0xa3, 0x61, 0xff, 0x62])],
    ['client with a NUL', withField(2, [0xa3, 0x61, 0x00, 0x62])],
    ['str8 for a 5-byte client (d9 05 ...)', withField(2, [0xd9, 0x05, ...utf8('alice')])],
    ['str16 for a 40-byte client', withField(2, [0xda, 0x00, 40, ...utf8('a'.repeat(40))])],
    ['client as bin', withField(2, encode(utf8('alice')))],
    ['client as an array', withField(2, encode(['alice']))],
    // scopes
    ['scope with a space', withField(6, encode(['orders read']))],
    ['scope starting with ":"', withField(6, encode([':read']))],
    ['scope starting with "*"', withField(6, encode(['*']))],
    ['empty scope', withField(6, encode(['']))],
    ['scope of 65 characters', withField(6, encode(['s'.repeat(65)]))],
    ['non-ASCII scope', withField(6, encode(['ordérs']))],
    ['unsorted scopes', withField(6, encode(['b', 'a']))],
    ['unsorted scopes (prefix after its extension)', withField(6, encode(['ab', 'a']))],
    ['duplicate scopes', withField(6, encode(['a', 'a']))],
    ['duplicate scopes, not adjacent to the start', withField(6, encode(['a', 'b', 'b']))],
    ['case-folded order (lower before upper)', withField(6, encode(['a', 'B']))],
    ['scopes as array16 of 2 (dc 00 02)', withField(6, [0xdc, 0x00, 0x02, 0xa1, 0x61, 0xa1, 0x62])],
    ['str8 for a short scope', withField(6, [0x91, 0xd9, 0x01, 0x61])],
    ['scope that is a number', withField(6, encode([1]))],
    ['scope list that is a string', withField(6, encode('a'))],
    ['scope list with a nested list', withField(6, encode([['a']]))],
    // byte fields
    ['session key of 31 bytes', withField(1, encode(new Uint8Array(31)))],
    ['session key of 33 bytes', withField(1, encode(new Uint8Array(33)))],
    ['session key as a 32-byte string', withField(1, encode('k'.repeat(32)))],
    ['session key as bin16 (c5 00 20)', withField(1, [0xc5, 0x00, 0x20, ...new Uint8Array(32)])],
    ['ticket id of 15 bytes', withField(8, encode(new Uint8Array(15)))],
    ['ticket id of 17 bytes', withField(8, encode(new Uint8Array(17)))],
    ['kdcCheck of 65 bytes', withField(9, encode(new Uint8Array(65)))],
    ['kdcCheck as a string', withField(9, encode(''))],
    ['kdcCheck as bin16 of 2 bytes', withField(9, [0xc5, 0x00, 0x02, 0x01, 0x02])],
    ['kdcCheck bin8 running past the end', withField(9, [0xc4, 0x05, 0x01])],
    // the array
    ['trailing byte', Uint8Array.from([...assemble(good), 0x00])],
    ['trailing empty kdcCheck', Uint8Array.from([...assemble(good), 0xc4, 0x00])],
    ['9 elements (no kdcCheck)', assemble(good.slice(0, 9))],
    ['11 elements (an extra uint)', assemble([...good, encode(0)])],
    ['11 elements in a 10-element header', assemble([...good, encode(0)], [0x9a])],
    ['10 elements as array16 (dc 00 0a)', assemble(good, [0xdc, 0x00, 0x0a])],
    ['a map instead of the array', assemble(good, [0x8a])],
    [
      'fields swapped (client before session key)',
      assemble([good[0], good[2], good[1], ...good.slice(3)] as Uint8Array[]),
    ],
    ['empty plaintext', new Uint8Array(0)],
    ['only the array header', Uint8Array.of(0x9a)],
    ['truncated in the session key', assemble(good).subarray(0, 20)],
    ['truncated before kdcCheck', assemble(good).subarray(0, assemble(good).length - 1)],
  ]

  it('the unmodified assembly is accepted by both (so each refusal below is caused by its edit)', () => {
    const pt = assemble(good)
    expect(toHex(pt)).toBe(toHex(plaintext(base)))
    const view = new TicketPartView()
    expect(view.parse(pt)).toBe(true)
    expectAgree(view, pt, parseTicketPlaintext(pt))
  })

  it.each(cases)('refuses %s (and so does parseTicketPlaintext)', (_name, pt) => {
    const view = new TicketPartView()
    expectCode(() => parseTicketPlaintext(pt), 'ERR_AP_BAD_INTEGRITY')
    expect(view.parse(pt)).toBe(false)
    // Also with a view that has already interned the valid names and list.
    const warm = new TicketPartView()
    expect(warm.parse(assemble(good))).toBe(true)
    expect(warm.parse(pt)).toBe(false)
  })

  it('every single-byte substitution, deletion, insertion and truncation: same verdict as the protocol', () => {
    const view = new TicketPartView()
    let accepted = 0
    let refused = 0
    for (const p of [
      makePart({ scopes: ['a', 'b'], client: 'svc.a', flags: 200, policyVersion: 70000 }),
      makePart({ scopes: [], client: 'x'.repeat(32), kdcCheck: Uint8Array.of(1, 2, 3) }),
    ]) {
      const pt = plaintext(p)
      // Inside the session key and the ticket id any byte is valid: every 29th value is enough
      // there; everywhere else (headers, names, integers) all 256 values are tried.
      expect(view.parse(pt)).toBe(true)
      const opaque = (i: number): boolean =>
        (i >= view.keyStart && i < view.keyStart + 32) ||
        (i >= view.ticketIdStart && i < view.ticketIdStart + 16)
      const variants: Uint8Array[] = []
      for (let i = 0; i < pt.length; i++) {
        for (let v = 0; v < 256; v += opaque(i) ? 29 : 1) {
          if (v === pt[i]) continue
          const b = pt.slice()
          b[i] = v
          variants.push(b)
        }
        variants.push(Uint8Array.from([...pt.subarray(0, i), ...pt.subarray(i + 1)]))
        variants.push(pt.slice(0, i))
        for (const v of [0x00, 0x61, 0x7f, 0x80, 0xc4, 0xcc, 0xd9]) {
          variants.push(Uint8Array.from([...pt.subarray(0, i), v, ...pt.subarray(i)]))
        }
      }
      for (const b of variants) {
        const full = protocolParse(b)
        const ok = view.parse(b)
        if (ok) {
          expect(full, `view accepted what the protocol refuses: ${toHex(b)}`).toBeDefined()
          expectAgree(view, b, full as EncTicketPart, toHex(b))
          accepted++
        } else {
          // Every variant has at most 2 scopes, so the view has no reason to decline a valid one.
          expect(full, `view declined a valid plaintext: ${toHex(b)}`).toBeUndefined()
          refused++
        }
      }
    }
    // Not vacuous: byte edits inside the key, ticket id, names and integers stay valid.
    expect(accepted).toBeGreaterThan(1_000)
    expect(refused).toBeGreaterThan(10_000)
  })

  it('random mutations (fast-check): whenever the view accepts, the protocol accepts and agrees', () => {
    const view = new TicketPartView()
    let accepted = 0
    fc.assert(
      fc.property(partArb(), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (p, muts) => {
        const pt = mutate(plaintext(p), muts)
        if (!view.parse(pt)) return
        accepted++
        let full: EncTicketPart | undefined
        try {
          full = parseTicketPlaintext(pt)
        } catch (err) {
          throw new Error(`view accepted a plaintext the protocol refuses: ${toHex(pt)}`, {
            cause: err,
          })
        }
        expectAgree(view, pt, full, toHex(pt))
      }),
      { seed: SEED, numRuns: numRuns * 10 },
    )
    expect(accepted).toBeGreaterThan(numRuns / 2)
  })

  it('random mutations (fast-check): a valid result with at most 15 scopes is never declined', () => {
    const view = new TicketPartView()
    fc.assert(
      fc.property(partArb(), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (p, muts) => {
        const pt = mutate(plaintext(p), muts)
        const full = protocolParse(pt)
        if (full === undefined || full.scopes.length > 15) return
        expect(view.parse(pt), toHex(pt)).toBe(true)
        expectAgree(view, pt, full, toHex(pt))
      }),
      { seed: SEED + 1, numRuns: numRuns * 10 },
    )
  })

  it('random bytes (fast-check) are refused by the view whenever the protocol refuses them', () => {
    const view = new TicketPartView()
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.uint8Array({ minLength: 1, maxLength: 150 }).map((b) => Uint8Array.from([0x9a, ...b])),
        ),
        (pt) => {
          if (view.parse(pt)) expectAgree(view, pt, parseTicketPlaintext(pt))
          else expect(protocolParse(pt)?.scopes.length ?? 16).toBeGreaterThan(15)
        },
      ),
      { seed: SEED + 2, numRuns },
    )
  })
})

describe('TicketPartView: interning', () => {
  it('the same scope list in different plaintexts is one frozen array', () => {
    const view = new TicketPartView()
    const scopes = ['orders:read', 'orders:write']
    expect(view.parse(plaintext(makePart({ scopes, client: 'alpha' })))).toBe(true)
    const first = view.scopes
    expect(view.parse(plaintext(makePart({ scopes, client: 'beta', flags: 70000 })))).toBe(true)
    expect(view.scopes).toBe(first)
    expect(view.client).toBe('beta')
    expect(Object.isFrozen(first)).toBe(true)
    expect(() => (first as string[]).push('orders:admin')).toThrow(TypeError)
    expect([...first]).toEqual(scopes)
    // An empty list, too, is shared and frozen.
    expect(view.parse(plaintext(makePart({ scopes: [] })))).toBe(true)
    const empty = view.scopes
    expect(view.parse(plaintext(makePart({ scopes: [], client: 'gamma' })))).toBe(true)
    expect(view.scopes).toBe(empty)
    expect(Object.isFrozen(empty)).toBe(true)
    expect(empty).toHaveLength(0)
  })

  it('the same client in different plaintexts reads as the same string', () => {
    // (String identity is not observable in JS; what matters is the value, hit or miss.)
    const view = new TicketPartView()
    for (const scopes of [['a'], ['b'], []]) {
      expect(view.parse(plaintext(makePart({ client: 'payments', scopes })))).toBe(true)
      expect(view.client).toBe('payments')
    }
  })

  it('lists with the same characters split differently are different, correct lists', () => {
    const view = new TicketPartView()
    const read = (scopes: string[]): readonly string[] => {
      expect(view.parse(plaintext(makePart({ scopes })))).toBe(true)
      return view.scopes
    }
    const abc = read(['ab', 'c'])
    const aBc = read(['a', 'bc'])
    const aBC = read(['a', 'b', 'c'])
    const whole = read(['abc'])
    expect([...abc]).toEqual(['ab', 'c'])
    expect([...aBc]).toEqual(['a', 'bc'])
    expect([...aBC]).toEqual(['a', 'b', 'c'])
    expect([...whole]).toEqual(['abc'])
    expect(new Set([abc, aBc, aBC, whole]).size).toBe(4)
    expect(read(['ab', 'c'])).toBe(abc)
    expect(read(['a', 'bc'])).toBe(aBc)
  })

  it('lists differing only in a header (fixstr vs str8 length class) are not confused', () => {
    const view = new TicketPartView()
    const a31 = 'a'.repeat(31)
    const a32 = 'a'.repeat(32)
    for (const scopes of [[a31], [a32], [a31, a32], [a31], [a32]]) {
      expect(view.parse(plaintext(makePart({ scopes })))).toBe(true)
      expect([...view.scopes]).toEqual(scopes)
    }
  })

  it('names and lists whose FNV-1a hashes collide are never returned for each other', () => {
    // Known FNV-1a 32-bit collisions, valid principal names and scopes alike.
    const pairs: [string, string][] = [
      ['costarring', 'liquid'],
      ['declinate', 'macallums'],
      ['altarage', 'zinke'],
      ['altarages', 'zinkes'],
    ]
    const view = new TicketPartView()
    for (const [a, b] of pairs) {
      const rounds: [string, string][] = [
        [a, a],
        [b, b],
        [a, b],
        [b, a],
        [a, a],
      ]
      for (const [client, scope] of rounds) {
        expect(view.parse(plaintext(makePart({ client, scopes: [scope] })))).toBe(true)
        expect(view.client).toBe(client)
        expect([...view.scopes]).toEqual([scope])
      }
    }
  })

  it('stays correct past the interning table size (1024) and after it starts over', () => {
    const view = new TicketPartView()
    const name = (i: number): string => `caller-${i}`
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 2_100; i++) {
        const scopes = [`s${i % 1_500}`]
        expect(view.parse(plaintext(makePart({ client: name(i), scopes })))).toBe(true)
        expect(view.client).toBe(name(i))
        expect([...view.scopes]).toEqual(scopes)
      }
    }
  })

  it('what it returned survives wiping and reuse of the plaintext buffer (the verifier does both)', () => {
    const view = new TicketPartView()
    const buffer = new Uint8Array(512)
    const p1 = makePart({ client: 'first', scopes: ['x:1', 'x:2'] })
    const pt1 = plaintext(p1)
    buffer.set(pt1)
    expect(view.parse(buffer.subarray(0, pt1.length))).toBe(true)
    const client1 = view.client
    const scopes1 = view.scopes
    buffer.fill(0)
    expect(client1).toBe('first')
    expect([...scopes1]).toEqual(['x:1', 'x:2'])
    const pt2 = plaintext(makePart({ client: 'secnd', scopes: ['y:1', 'y:2'] }))
    buffer.set(pt2)
    expect(view.parse(buffer.subarray(0, pt2.length))).toBe(true)
    expect([view.client, [...view.scopes]]).toEqual(['secnd', ['y:1', 'y:2']])
    expect([client1, [...scopes1]]).toEqual(['first', ['x:1', 'x:2']])
  })
})

// ================================================================================================

const AUTH_CTX = { realm: REALM, client: CLIENT, service: SERVICE, msgType: MSG.AP_REQ }
const AUTH_SUBKEY = deriveKey(detBytes('reader/session', 32), LABELS.authenticator)
const AUTH_AAD = authenticatorAad(AUTH_CTX)

/**
 * kdc/protocol's decoding of an authenticator plaintext (it exports no bare decoder): seal the bytes
 * exactly as given and open them with openAuthenticator. Undefined after ERR_AP_BAD_INTEGRITY.
 */
function protocolAuth(pt: Uint8Array): Authenticator | undefined {
  try {
    return openAuthenticator(AUTH_SUBKEY, AUTH_CTX, sealBytes(AUTH_SUBKEY, AUTH_AAD, pt))
  } catch (err) {
    if (!isBrokerError(err, 'ERR_AP_BAD_INTEGRITY')) throw err
    return undefined
  }
}

function expectAuthAgree(v: AuthenticatorView, pt: Uint8Array, a: Authenticator, what = ''): void {
  expect(v.ctime, `ctime ${what}`).toBe(a.ctime)
  expect(v.counter, `counter ${what}`).toBe(a.counter)
  expect(toHex(pt.subarray(v.hashStart, v.hashStart + 32)), `hash ${what}`).toBe(
    toHex(a.requestHash),
  )
  expect(v.hashStart + 32, `hash ends the plaintext ${what}`).toBe(pt.length)
}

describe('AuthenticatorView: parity with openAuthenticator', () => {
  const hash = detBytes('reader/request-hash', 32)

  it('reads ctime and counter at every width boundary', () => {
    const v = new AuthenticatorView()
    for (const ctime of BOUNDARIES) {
      for (const counter of BOUNDARIES) {
        const pt = encode([ctime, counter, hash])
        const a = protocolAuth(pt)
        expect(a).toEqual({ ctime, counter, requestHash: expect.any(Uint8Array) as unknown })
        expect(v.parse(pt)).toBe(true)
        expectAuthAgree(v, pt, a as Authenticator, `${ctime}/${counter}`)
      }
    }
  })

  it.each([
    ['ctime 5 as uint8', [0x93, 0xcc, 0x05, 0x01, 0xc4, 32, ...hash]],
    ['counter 255 as uint16', [0x93, 0x01, 0xcd, 0x00, 0xff, 0xc4, 32, ...hash]],
    ['counter 65535 as uint32', [0x93, 0x01, 0xce, 0x00, 0x00, 0xff, 0xff, 0xc4, 32, ...hash]],
    ['ctime as uint64', [0x93, 0xcf, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0xc4, 32, ...hash]],
    ['negative ctime', [0x93, 0xff, 0x01, 0xc4, 32, ...hash]],
    ['nil counter', [0x93, 0x01, 0xc0, 0xc4, 32, ...hash]],
    ['hash of 31 bytes', [0x93, 0x01, 0x02, 0xc4, 31, ...hash.subarray(0, 31)]],
    ['hash of 33 bytes', [0x93, 0x01, 0x02, 0xc4, 33, ...hash, 0]],
    ['hash as a string', [0x93, 0x01, 0x02, 0xd9, 32, ...new Uint8Array(32).fill(0x61)]],
    ['hash as bin16', [0x93, 0x01, 0x02, 0xc5, 0x00, 32, ...hash]],
    ['trailing byte', [0x93, 0x01, 0x02, 0xc4, 32, ...hash, 0x00]],
    ['2 elements', [0x92, 0x01, 0xc4, 32, ...hash]],
    ['4 elements', [0x94, 0x01, 0x02, 0xc4, 32, ...hash, 0x00]],
    ['array16 of 3', [0xdc, 0x00, 0x03, 0x01, 0x02, 0xc4, 32, ...hash]],
    ['truncated hash', [0x93, 0x01, 0x02, 0xc4, 32, ...hash.subarray(0, 20)]],
    ['empty', []],
  ] as [string, number[]][])('refuses %s (and so does openAuthenticator)', (_name, bytes) => {
    const pt = Uint8Array.from(bytes)
    expect(protocolAuth(pt)).toBeUndefined()
    expect(new AuthenticatorView().parse(pt)).toBe(false)
  })

  it('every single-byte edit of a valid plaintext: the same verdict and fields as the protocol', () => {
    const v = new AuthenticatorView()
    let accepted = 0
    for (const [ctime, counter] of [
      [T0, 1],
      [0, 0xffff_ffff],
      [200, 70000],
    ] as const) {
      const pt = encode([ctime, counter, hash])
      const variants: Uint8Array[] = []
      for (let i = 0; i < pt.length; i++) {
        for (let x = 0; x < 256; x += i < 10 ? 1 : 17) {
          if (x === pt[i]) continue
          const b = pt.slice()
          b[i] = x
          variants.push(b)
        }
        variants.push(Uint8Array.from([...pt.subarray(0, i), ...pt.subarray(i + 1)]))
        variants.push(pt.slice(0, i))
        for (const x of [0x00, 0x7f, 0xcc, 0xc4]) {
          variants.push(Uint8Array.from([...pt.subarray(0, i), x, ...pt.subarray(i)]))
        }
      }
      for (const b of variants) {
        const a = protocolAuth(b)
        const ok = v.parse(b)
        expect(ok, toHex(b)).toBe(a !== undefined)
        if (ok) {
          expectAuthAgree(v, b, a as Authenticator, toHex(b))
          accepted++
        }
      }
    }
    expect(accepted).toBeGreaterThan(300)
  })

  it('random mutations (fast-check): accepts exactly what openAuthenticator accepts', () => {
    const v = new AuthenticatorView()
    fc.assert(
      fc.property(
        uint32Arb,
        uint32Arb,
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(mutationArb, { maxLength: 3 }),
        (ctime, counter, h, muts) => {
          const pt = mutate(encode([ctime, counter, h]), muts)
          const a = protocolAuth(pt)
          expect(v.parse(pt), toHex(pt)).toBe(a !== undefined)
          if (a !== undefined) expectAuthAgree(v, pt, a, toHex(pt))
        },
      ),
      { seed: SEED + 3, numRuns: numRuns * 5 },
    )
  })
})
