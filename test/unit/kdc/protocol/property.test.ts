/**
 * Property tests (house style B7): every message round-trips, every bit flip and truncation of a
 * sealed object is ERR_AP_BAD_INTEGRITY, and arbitrary bytes into any parser yield only
 * BrokerErrors. SLOW=1 runs ten times the iterations.
 */
import fc from 'fast-check'
import { describe, it, expect } from 'vitest'
import {
  isBrokerError,
  decode,
  deriveKey,
  encode,
  encodeApRep,
  encodeApReq,
  encodeFrame,
  encodeKeytab,
  LABELS,
  MAX_NESTING_DEPTH,
  MSG,
  NODE_NAME_PATTERN,
  OBJ,
  openAdminPayload,
  openApRepPart,
  openAsRepPart,
  openAuthenticator,
  openPreauth,
  openTgsRepPart,
  openTicket,
  parseApRep,
  parseApReq,
  parseFrame,
  parseKeytab,
  sealAdminPayload,
  sealApRepPart,
  sealAsRepPart,
  sealAuthenticator,
  sealPreauth,
  sealTgsRepPart,
  sealTicket,
  toHex,
  type EncTicketPart,
  type Frame,
  type Ticket,
  type WireValue,
} from '../../../../kdc/protocol/index.js'
import { detBytes } from '../../../helpers/det-rng.js'
import {
  apContext,
  authSubkey,
  clientKey,
  encTicketPart,
  fixedNonce,
  requestNonce,
  sampleFrames,
  sessionKey,
  T0,
  ticketHeader,
  ticketId,
  ticketSubkey,
} from './fixtures.js'

const numRuns = process.env.SLOW === '1' ? 1000 : 100
const opts = { numRuns }

// ---- arbitraries ------------------------------------------------------------------------------

const uint32 = fc.integer({ min: 0, max: 0xffff_ffff })
const bytes = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n })
const sealedBlob = fc.uint8Array({ minLength: 41, maxLength: 300 })
const principal = fc.stringMatching(/^[a-z][a-z0-9._-]{0,62}$/)
const realm = fc.stringMatching(/^[A-Z0-9][A-Z0-9.-]{0,62}$/)
const nodeName = fc.stringMatching(NODE_NAME_PATTERN)
const scope = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9:._/*-]{0,63}$/)
const scopes = fc.uniqueArray(scope, { maxLength: 32 }).map((s) => [...s].sort())
const ticket: fc.Arbitrary<Ticket> = fc.record({
  realm,
  service: principal,
  kvno: uint32,
  sealed: sealedBlob,
})

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({
    type: fc.constant(MSG.AS_REQ),
    id: uint32,
    body: fc.record({
      realm,
      client: principal,
      kvno: uint32,
      nonce: bytes(16),
      lifetime: uint32,
      preauth: sealedBlob,
    }),
  }),
  fc.record({
    type: fc.constant(MSG.AS_REP),
    id: uint32,
    body: fc.record({ kdcTime: uint32, tgt: ticket, kvno: uint32, encPart: sealedBlob }),
  }),
  fc.record({
    type: fc.constant(MSG.TGS_REQ),
    id: uint32,
    body: fc.record({
      tgt: ticket,
      authenticator: sealedBlob,
      target: principal,
      scopes,
      lifetime: uint32,
      nonce: bytes(16),
    }),
  }),
  fc.record({
    type: fc.constant(MSG.TGS_REP),
    id: uint32,
    body: fc.record({ kdcTime: uint32, target: principal, ticket, encPart: sealedBlob }),
  }),
  fc.record({
    type: fc.constant(MSG.ERROR),
    id: uint32,
    body: fc.record({ kdcTime: uint32, wire: fc.integer({ min: 0, max: 0xffff }) }),
  }),
  fc.record({
    type: fc.constant(MSG.ADMIN_REQ),
    id: uint32,
    body: fc.record({ ticket, authenticator: sealedBlob, payload: sealedBlob }),
  }),
  fc.record({
    type: fc.constant(MSG.ADMIN_REP),
    id: uint32,
    body: fc.record({ kdcTime: uint32, payload: sealedBlob }),
  }),
  fc.record({
    type: fc.constantFrom(MSG.REPL_REQ, MSG.REPL_REP),
    id: uint32,
    body: fc.record({ node: nodeName, payload: sealedBlob }),
  }),
)

const { wire: wireValue } = fc.letrec<{ wire: WireValue }>((tie) => ({
  wire: fc.oneof(
    { depthSize: 'small', maxDepth: MAX_NESTING_DEPTH },
    uint32,
    fc.string({ unit: 'grapheme', maxLength: 40 }),
    fc.uint8Array({ maxLength: 40 }),
    fc.array(tie('wire'), { maxLength: 6 }),
  ),
}))

const encTicketPartArb: fc.Arbitrary<EncTicketPart> = fc.record({
  flags: uint32,
  sessionKey: bytes(32),
  client: principal,
  authTime: uint32,
  startTime: uint32,
  endTime: uint32,
  scopes,
  policyVersion: uint32,
  ticketId: bytes(16),
  kdcCheck: fc.uint8Array({ maxLength: 64 }),
})

// ---- round trips ------------------------------------------------------------------------------

describe('property: every message round-trips parse(build(x))', () => {
  it('any wire value: decode(encode(x)) = x, and the bytes are canonical', () => {
    fc.assert(
      fc.property(wireValue, (v) => {
        const bytes = encode(v)
        const back = decode(bytes)
        expect(back).toEqual(v)
        expect(toHex(encode(back))).toBe(toHex(bytes))
      }),
      opts,
    )
  })

  it('every frame type', () => {
    fc.assert(
      fc.property(frameArb, (f) => {
        const bytes = encodeFrame(f)
        expect(parseFrame(bytes)).toEqual(f)
        expect(toHex(encodeFrame(parseFrame(bytes)))).toBe(toHex(bytes))
      }),
      opts,
    )
  })

  it('AP-REQ and AP-REP', () => {
    fc.assert(
      fc.property(ticket, sealedBlob, sealedBlob, (t, authenticator, encPart) => {
        expect(parseApReq(encodeApReq({ ticket: t, authenticator }))).toEqual({
          ticket: t,
          authenticator,
        })
        expect(parseApRep(encodeApRep({ encPart }))).toEqual({ encPart })
      }),
      opts,
    )
  })

  it('tickets: openTicket(sealTicket(x)) = x', () => {
    fc.assert(
      fc.property(encTicketPartArb, realm, principal, uint32, (part, r, service, kvno) => {
        const header = { realm: r, service, kvno }
        const t = sealTicket(ticketSubkey, header, part)
        expect(openTicket(t, ticketSubkey)).toEqual(part)
      }),
      opts,
    )
  })

  it('authenticators and the KDC parts', () => {
    fc.assert(
      fc.property(
        uint32,
        uint32,
        bytes(32),
        bytes(16),
        uint32,
        scopes,
        (t, n, key, nonce, v, s) => {
          const a = { ctime: t, counter: n, requestHash: key }
          expect(
            openAuthenticator(authSubkey, apContext, sealAuthenticator(authSubkey, apContext, a)),
          ).toEqual(a)
          const ctx = { realm: 'TESSERA.LOCAL', client: 'payments', kvno: v }
          const pre = { ctime: t, nonce }
          const pctx = { ...ctx, lifetime: n }
          expect(openPreauth(clientKey, pctx, sealPreauth(clientKey, pctx, pre))).toEqual(pre)
          const as = { sessionKey: key, nonce, authTime: t, startTime: t, endTime: n, flags: v }
          expect(openAsRepPart(clientKey, ctx, sealAsRepPart(clientKey, ctx, as))).toEqual(as)
          const tctx = { realm: 'TESSERA.LOCAL', client: 'payments', target: 'orders' }
          const tgs = { ...as, scopes: s, policyVersion: v, ticketId: nonce }
          expect(openTgsRepPart(sessionKey, tctx, sealTgsRepPart(sessionKey, tctx, tgs))).toEqual(
            tgs,
          )
        },
      ),
      opts,
    )
  })
})

// ---- tamper: exhaustive bit flips and truncations ---------------------------------------------

interface SealedCase {
  readonly name: string
  readonly sealed: Uint8Array
  readonly open: (sealed: Uint8Array) => unknown
}

function sealedCases(): SealedCase[] {
  const preKey = deriveKey(clientKey, LABELS.preauth)
  const asKey = deriveKey(clientKey, LABELS.asRep)
  const tgsKey = deriveKey(sessionKey, LABELS.tgsRep)
  const apRepKey = deriveKey(sessionKey, LABELS.apRep)
  const adminKey = deriveKey(sessionKey, LABELS.admin)
  const cctx = { realm: 'TESSERA.LOCAL', client: 'payments', kvno: 2 }
  const tctx = { realm: 'TESSERA.LOCAL', client: 'payments', target: 'orders' }
  const actx = { realm: 'TESSERA.LOCAL', client: 'admin', id: 7 }
  const rctx = { realm: 'TESSERA.LOCAL', client: 'payments', service: 'orders' }
  const tgs = {
    sessionKey: detBytes('prop/s2', 32),
    nonce: requestNonce,
    authTime: T0,
    startTime: T0,
    endTime: T0 + 900,
    scopes: ['orders:read'],
    policyVersion: 3,
    ticketId,
    flags: 0,
  }
  const auth = { ctime: T0, counter: 1, requestHash: detBytes('prop/rh', 32) }
  return [
    {
      name: 'ticket',
      sealed: sealTicket(ticketSubkey, ticketHeader, encTicketPart, fixedNonce).sealed,
      open: (s) => openTicket({ ...ticketHeader, sealed: s }, ticketSubkey),
    },
    {
      name: 'authenticator',
      sealed: sealAuthenticator(authSubkey, apContext, auth, fixedNonce),
      open: (s) => openAuthenticator(authSubkey, apContext, s),
    },
    {
      name: 'preauth',
      sealed: sealPreauth(
        preKey,
        { ...cctx, lifetime: 0 },
        { ctime: T0, nonce: requestNonce },
        fixedNonce,
      ),
      open: (s) => openPreauth(preKey, { ...cctx, lifetime: 0 }, s),
    },
    {
      name: 'as-rep part',
      sealed: sealAsRepPart(
        asKey,
        cctx,
        { sessionKey, nonce: requestNonce, authTime: T0, startTime: T0, endTime: T0 + 1, flags: 1 },
        fixedNonce,
      ),
      open: (s) => openAsRepPart(asKey, cctx, s),
    },
    {
      name: 'tgs-rep part',
      sealed: sealTgsRepPart(tgsKey, tctx, tgs, fixedNonce),
      open: (s) => openTgsRepPart(tgsKey, tctx, s),
    },
    {
      name: 'ap-rep part',
      sealed: sealApRepPart(apRepKey, rctx, { ctime: T0, counter: 1 }, fixedNonce),
      open: (s) => openApRepPart(apRepKey, rctx, s),
    },
    {
      name: 'admin request payload',
      sealed: sealAdminPayload(adminKey, OBJ.ADMIN_REQ_ENC, actx, ['status', []], fixedNonce),
      open: (s) => openAdminPayload(adminKey, OBJ.ADMIN_REQ_ENC, actx, s),
    },
    {
      name: 'admin reply payload',
      sealed: sealAdminPayload(adminKey, OBJ.ADMIN_REP_ENC, actx, ['status', [1]], fixedNonce),
      open: (s) => openAdminPayload(adminKey, OBJ.ADMIN_REP_ENC, actx, s),
    },
  ]
}

function integrityFailure(fn: () => unknown): string {
  try {
    fn()
    return 'opened'
  } catch (err) {
    return isBrokerError(err) ? err.code : `non-BrokerError: ${String(err)}`
  }
}

describe('property: tampering with any sealed object is ERR_AP_BAD_INTEGRITY', () => {
  it.each(sealedCases().map((c) => [c.name, c] as const))('%s: every single-bit flip', (_n, c) => {
    expect(() => c.open(c.sealed)).not.toThrow()
    const outcomes = new Map<string, number>()
    const copy = c.sealed.slice()
    for (let i = 0; i < copy.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        copy[i] = (copy[i] as number) ^ (1 << bit)
        const code = integrityFailure(() => c.open(copy))
        outcomes.set(code, (outcomes.get(code) ?? 0) + 1)
        copy[i] = (copy[i] as number) ^ (1 << bit)
      }
    }
    expect(Object.fromEntries(outcomes)).toEqual({ ERR_AP_BAD_INTEGRITY: c.sealed.length * 8 })
  })

  it.each(sealedCases().map((c) => [c.name, c] as const))(
    '%s: every truncation and extension',
    (_n, c) => {
      for (let len = 0; len < c.sealed.length; len++) {
        expect(
          integrityFailure(() => c.open(c.sealed.subarray(0, len))),
          `length ${len}`,
        ).toBe('ERR_AP_BAD_INTEGRITY')
        // Dropping leading bytes too (a shifted nonce).
        expect(integrityFailure(() => c.open(c.sealed.subarray(c.sealed.length - len)))).toBe(
          'ERR_AP_BAD_INTEGRITY',
        )
      }
      const longer = new Uint8Array(c.sealed.length + 1)
      longer.set(c.sealed)
      expect(integrityFailure(() => c.open(longer))).toBe('ERR_AP_BAD_INTEGRITY')
    },
  )

  it('random bytes into every open function are ERR_AP_BAD_INTEGRITY', () => {
    const cases = sealedCases()
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (junk) => {
        for (const c of cases)
          expect(integrityFailure(() => c.open(junk))).toBe('ERR_AP_BAD_INTEGRITY')
      }),
      opts,
    )
  })
})

// ---- hostile bytes into every parser ----------------------------------------------------------

type Outcome = 'ok' | `code:${string}` | `non-broker:${string}`

function outcome(fn: () => unknown): Outcome {
  try {
    fn()
    return 'ok'
  } catch (err) {
    return isBrokerError(err) ? `code:${err.code}` : `non-broker:${String(err)}`
  }
}

const PROTO_CODES = new Set([
  'code:ERR_PROTO_MALFORMED',
  'code:ERR_PROTO_VERSION',
  'code:ERR_PROTO_TOO_LARGE',
  'code:ERR_PROTO_UNEXPECTED',
  'code:ERR_PROTO_NON_CANONICAL',
])

const parsers: [string, (b: Uint8Array) => unknown, ReadonlySet<Outcome>][] = [
  ['decode', (b) => decode(b), PROTO_CODES as ReadonlySet<Outcome>],
  ['parseFrame', parseFrame, PROTO_CODES as ReadonlySet<Outcome>],
  ['parseApReq', parseApReq, PROTO_CODES as ReadonlySet<Outcome>],
  ['parseApRep', parseApRep, PROTO_CODES as ReadonlySet<Outcome>],
  ['parseKeytab', parseKeytab, new Set<Outcome>(['code:ERR_CLIENT_KEYTAB'])],
]

const validInputs: Uint8Array[] = [
  ...sampleFrames.map((f) => encodeFrame(f)),
  encodeApReq({
    ticket: sealTicket(ticketSubkey, ticketHeader, encTicketPart, fixedNonce),
    authenticator: detBytes('prop/auth', 81),
  }),
  encodeApRep({ encPart: detBytes('prop/aprep', 50) }),
  encodeKeytab({
    realm: 'TESSERA.LOCAL',
    principal: 'orders',
    keys: [{ kvno: 1, key: detBytes('prop/k', 32), createdAt: T0 }],
  }),
]

/** A valid input with a few random byte edits: overwrite, insert, delete, truncate. */
const mutated: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.constantFrom(...validInputs),
    fc.array(
      fc.tuple(
        fc.constantFrom('set', 'insert', 'delete', 'truncate'),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
      ),
      { minLength: 1, maxLength: 4 },
    ),
  )
  .map(([input, edits]) => {
    let b = Array.from(input)
    for (const [op, at, value] of edits) {
      const i = b.length === 0 ? 0 : at % b.length
      if (op === 'set') b[i] = value
      else if (op === 'insert') b.splice(i, 0, value)
      else if (op === 'delete') b.splice(i, 1)
      else b = b.slice(0, i)
    }
    return Uint8Array.from(b)
  })

const hostile = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  mutated,
  wireValue.map((v) => encode(v)),
  // Frame-shaped values with arbitrary bodies.
  fc
    .tuple(fc.integer({ min: 0, max: 12 }), uint32, wireValue)
    .map(([t, id, body]) => encode([1, t, id, body])),
)

describe('property: hostile bytes into every parser yield only BrokerErrors', () => {
  it.each(parsers)('%s', (_name, parse, allowed) => {
    fc.assert(
      fc.property(hostile, (input) => {
        const result = outcome(() => parse(input))
        if (result !== 'ok') expect(allowed.has(result), result).toBe(true)
      }),
      { numRuns: numRuns * 5 },
    )
  })

  it('every truncation of every valid input is refused with a code', () => {
    for (const input of validInputs) {
      for (let len = 0; len < input.length; len++) {
        for (const [name, parse, allowed] of parsers) {
          const result = outcome(() => parse(input.subarray(0, len)))
          expect(result === 'ok' || allowed.has(result), `${name} at ${len}: ${result}`).toBe(true)
        }
      }
    }
  })
})
