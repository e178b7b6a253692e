import { describe, it, expect } from 'vitest'
import {
  encode,
  encodeApRep,
  encodeApReq,
  encodeFrame,
  isNodeName,
  MAX_SCOPES,
  MAX_SEALED_BYTES,
  MSG,
  NODE_NAME_PATTERN,
  parseApRep,
  parseApReq,
  parseFrame,
  peekFrameHead,
  toHex,
  type WireValue,
} from '../../../../kdc/protocol/index.js'
import { hex } from '../../../helpers/hex.js'
import { expectCode, expectMisuse } from './expect-code.js'
import { requestNonce, sampleFrames, T0, wireTicket } from './fixtures.js'

const ticketWire: WireValue[] = [
  wireTicket.realm,
  wireTicket.service,
  wireTicket.kvno,
  wireTicket.sealed,
]
const asReqBody: WireValue[] = [
  'TESSERA.LOCAL',
  'payments',
  2,
  requestNonce,
  3600,
  new Uint8Array(64),
]

function frame(body: WireValue, type: number = MSG.AS_REQ, version = 1, id = 9): Uint8Array {
  return encode([version, type, id, body])
}

describe('frames (docs/protocol.md §5.1)', () => {
  it('has the documented message type numbers', () => {
    expect(MSG).toEqual({
      AS_REQ: 1,
      AS_REP: 2,
      TGS_REQ: 3,
      TGS_REP: 4,
      AP_REQ: 5,
      AP_REP: 6,
      ERROR: 7,
      ADMIN_REQ: 8,
      ADMIN_REP: 9,
      REPL_REQ: 10,
      REPL_REP: 11,
    })
  })

  it.each(sampleFrames.map((f) => [f.type, f] as const))(
    'type %i round-trips parseFrame(encodeFrame(x))',
    (_type, f) => {
      const bytes = encodeFrame(f)
      expect(parseFrame(bytes)).toEqual(f)
      expect(toHex(encodeFrame(parseFrame(bytes)))).toBe(toHex(bytes))
    },
  )

  it('encodes an ERROR frame as [1, 7, id, [kdcTime, wire]]', () => {
    const bytes = encodeFrame({ type: MSG.ERROR, id: 3, body: { kdcTime: T0, wire: 203 } })
    expect(toHex(bytes)).toBe('94010703' + '92' + 'ce' + T0.toString(16) + 'cccb')
  })

  it('peeks at version, type and id, and never throws', () => {
    expect(peekFrameHead(encodeFrame(sampleFrames[0]!))).toEqual({ version: 1, type: 1, id: 1 })
    expect(peekFrameHead(frame([], 99, 2, 77))).toEqual({ version: 2, type: 99, id: 77 })
    expect(peekFrameHead(hex`c1`)).toBeUndefined()
    expect(peekFrameHead(encode([1, 2]))).toBeUndefined()
    expect(peekFrameHead(encode(['1', 2, 3]))).toBeUndefined()
  })

  it('refuses a frame id outside uint32 (caller misuse)', () => {
    expectMisuse(() => encodeFrame({ ...sampleFrames[4]!, id: 2 ** 32 }), RangeError)
    expectMisuse(() => encodeFrame({ ...sampleFrames[4]!, id: -1 }), RangeError)
  })
})

describe('frames: every defect has its code', () => {
  it('version 2 → ERR_PROTO_VERSION', () => {
    expectCode(() => parseFrame(frame(asReqBody, MSG.AS_REQ, 2)), 'ERR_PROTO_VERSION', 'VERSION')
    expectCode(() => parseFrame(frame(asReqBody, MSG.AS_REQ, 0)), 'ERR_PROTO_VERSION', 'VERSION')
  })

  it('a known frame of the wrong arity → ERR_PROTO_MALFORMED', () => {
    expectCode(() => parseFrame(encode([1, 1, 9])), 'ERR_PROTO_MALFORMED', 'BAD_FRAME')
    expectCode(
      () => parseFrame(encode([1, 1, 9, asReqBody, 0])),
      'ERR_PROTO_MALFORMED',
      'BAD_FRAME',
    )
    expectCode(() => parseFrame(encode(5)), 'ERR_PROTO_MALFORMED', 'BAD_FRAME')
  })

  it('unknown or non-frame types (AP_REQ, AP_REP, 0, 12) → ERR_PROTO_MALFORMED', () => {
    for (const type of [0, MSG.AP_REQ, MSG.AP_REP, 12, 255]) {
      expectCode(() => parseFrame(frame([], type)), 'ERR_PROTO_MALFORMED', 'UNKNOWN_TYPE')
    }
  })

  it('a map where the body array is expected → ERR_PROTO_MALFORMED (MAP)', () => {
    const bytes = hex`94 01 01 09 80`
    expectCode(() => parseFrame(bytes), 'ERR_PROTO_MALFORMED', 'MAP')
  })

  it('a string where the version is expected → ERR_PROTO_MALFORMED', () => {
    expectCode(
      () => parseFrame(encode(['1', 1, 9, asReqBody])),
      'ERR_PROTO_MALFORMED',
      'BAD_VERSION',
    )
  })

  const asReqDefects: [string, WireValue[], string][] = [
    ['five fields', asReqBody.slice(0, 5), 'BAD_AS_REQ'],
    ['a lower-case realm', ['tessera', ...asReqBody.slice(1)], 'BAD_REALM'],
    ['an upper-case client', [asReqBody[0]!, 'Payments', ...asReqBody.slice(2)], 'BAD_CLIENT'],
    [
      'a 15-byte nonce',
      [...asReqBody.slice(0, 3), new Uint8Array(15), ...asReqBody.slice(4)],
      'BAD_NONCE',
    ],
    ['a string nonce', [...asReqBody.slice(0, 3), 'nonce', ...asReqBody.slice(4)], 'BAD_NONCE'],
    ['a 40-byte preauth', [...asReqBody.slice(0, 5), new Uint8Array(40)], 'BAD_PREAUTH'],
    [
      'an over-long preauth',
      [...asReqBody.slice(0, 5), new Uint8Array(MAX_SEALED_BYTES + 1)],
      'BAD_PREAUTH',
    ],
    [
      'a bytes kvno',
      [asReqBody[0]!, asReqBody[1]!, new Uint8Array(1), ...asReqBody.slice(3)],
      'BAD_KVNO',
    ],
  ]
  it.each(asReqDefects)('AS-REQ with %s → ERR_PROTO_MALFORMED', (_label, body, status) => {
    expectCode(() => parseFrame(frame(body)), 'ERR_PROTO_MALFORMED', status)
  })

  it('AS-REQ with a non-canonical integer → ERR_PROTO_NON_CANONICAL', () => {
    const good = toHex(frame(asReqBody))
    // lifetime 3600 = cd0e10; re-encode as uint32 ce00000e10.
    const bad = good.replace('cd0e10', 'ce00000e10')
    expect(bad).not.toBe(good)
    expectCode(() => parseFrame(hex(bad)), 'ERR_PROTO_NON_CANONICAL', 'INT_NOT_MINIMAL')
  })

  it('AS-REQ with a float lifetime → ERR_PROTO_MALFORMED (FLOAT)', () => {
    const bad = toHex(frame(asReqBody)).replace('cd0e10', 'cb40ac200000000000')
    expectCode(() => parseFrame(hex(bad)), 'ERR_PROTO_MALFORMED', 'FLOAT')
  })

  it('trailing bytes after a valid frame → ERR_PROTO_MALFORMED (TRAILING_BYTES)', () => {
    const bytes = encodeFrame(sampleFrames[0]!)
    const longer = new Uint8Array(bytes.length + 1)
    longer.set(bytes)
    expectCode(() => parseFrame(longer), 'ERR_PROTO_MALFORMED', 'TRAILING_BYTES')
  })

  const tgsBody = (scopes: WireValue): WireValue[] => [
    ticketWire,
    new Uint8Array(81),
    'orders',
    scopes,
    900,
    requestNonce,
  ]
  it.each([
    ['unsorted', ['orders:write', 'orders:read']],
    ['duplicated', ['orders:read', 'orders:read']],
    ['invalid', ['orders read']],
    [
      'too many',
      Array.from({ length: MAX_SCOPES + 1 }, (_, i) => `s${String(i).padStart(3, '0')}`),
    ],
    ['not strings', [1]],
  ])('TGS-REQ with %s scopes → ERR_PROTO_MALFORMED (BAD_SCOPES)', (_label, scopes) => {
    expectCode(
      () => parseFrame(frame(tgsBody(scopes), MSG.TGS_REQ)),
      'ERR_PROTO_MALFORMED',
      'BAD_SCOPES',
    )
  })

  it('TGS-REQ accepts exactly MAX_SCOPES sorted scopes', () => {
    const scopes = Array.from({ length: MAX_SCOPES }, (_, i) => `s${String(i).padStart(3, '0')}`)
    const parsed = parseFrame(frame(tgsBody(scopes), MSG.TGS_REQ))
    expect(parsed.type === MSG.TGS_REQ && parsed.body.scopes.length).toBe(MAX_SCOPES)
  })

  it.each([
    ['three fields', ticketWire.slice(0, 3), 'BAD_TICKET'],
    ['a bad service', [ticketWire[0]!, 'Krbtgt', 1, ticketWire[3]!], 'BAD_TICKET_SERVICE'],
    ['a string kvno', [ticketWire[0]!, 'krbtgt', '1', ticketWire[3]!], 'BAD_TICKET_KVNO'],
    [
      'a 40-byte sealed part',
      [ticketWire[0]!, 'krbtgt', 1, new Uint8Array(40)],
      'BAD_TICKET_SEALED',
    ],
  ])('a ticket with %s → ERR_PROTO_MALFORMED', (_label, ticket, status) => {
    const body = tgsBody(['orders:read'])
    body[0] = ticket
    expectCode(() => parseFrame(frame(body, MSG.TGS_REQ)), 'ERR_PROTO_MALFORMED', status)
  })

  it('ERROR with a wire number above 0xffff → ERR_PROTO_MALFORMED', () => {
    expectCode(
      () => parseFrame(frame([T0, 0x10000], MSG.ERROR)),
      'ERR_PROTO_MALFORMED',
      'BAD_ERROR_CODE',
    )
    const ok = parseFrame(frame([T0, 0xffff], MSG.ERROR))
    expect(ok.type === MSG.ERROR && ok.body.wire).toBe(0xffff)
  })

  it('REPL with an over-long node id → ERR_PROTO_MALFORMED', () => {
    expectCode(
      () => parseFrame(frame(['n'.repeat(64), new Uint8Array(41)], MSG.REPL_REQ)),
      'ERR_PROTO_MALFORMED',
      'BAD_NODE',
    )
  })

  it.each([
    ['empty', ''],
    ['non-ASCII (63 characters, 126 bytes)', '\u0436'.repeat(63)],
    ['starting with a dot', '.kdc1'],
    ['with a space', 'kdc 1'],
    ['with a trailing newline', 'kdc1\n'],
    ['with a colon', 'kdc:1'],
  ])('REPL with a node id %s → ERR_PROTO_MALFORMED', (_label, node) => {
    for (const type of [MSG.REPL_REQ, MSG.REPL_REP]) {
      expectCode(
        () => parseFrame(frame([node, new Uint8Array(41)], type)),
        'ERR_PROTO_MALFORMED',
        'BAD_NODE',
      )
    }
  })

  it('REPL accepts node ids of the node-name grammar, 1..63 bytes', () => {
    expect(NODE_NAME_PATTERN.source).toBe('^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$')
    for (const node of ['a', 'kdc-1.example_2', 'N'.repeat(63)]) {
      expect(isNodeName(node)).toBe(true)
      const f = parseFrame(frame([node, new Uint8Array(41)], MSG.REPL_REP))
      expect(f.type === MSG.REPL_REP && f.body.node).toBe(node)
    }
    expect(isNodeName(5)).toBe(false)
  })
})

describe('AP-REQ and AP-REP (docs/protocol.md §5.5)', () => {
  const apReq = {
    ticket: { ...wireTicket, service: 'orders', kvno: 3 },
    authenticator: new Uint8Array(81).fill(2),
  }

  it('AP-REQ = [1, 5, ticket, authenticator] round-trips', () => {
    const bytes = encodeApReq(apReq)
    expect(toHex(bytes).slice(0, 6)).toBe('940105')
    expect(parseApReq(bytes)).toEqual(apReq)
  })

  it('AP-REP = [1, 6, encPart] round-trips', () => {
    const rep = { encPart: new Uint8Array(49).fill(3) }
    const bytes = encodeApRep(rep)
    expect(toHex(bytes).slice(0, 6)).toBe('930106')
    expect(parseApRep(bytes)).toEqual(rep)
  })

  it('refuses the other message type with ERR_PROTO_UNEXPECTED', () => {
    expectCode(
      () => parseApReq(encode([1, MSG.AP_REP, ticketWire, new Uint8Array(41)])),
      'ERR_PROTO_UNEXPECTED',
      'NOT_AP_REQ',
    )
    expectCode(
      () => parseApRep(encode([1, MSG.AP_REQ, new Uint8Array(41)])),
      'ERR_PROTO_UNEXPECTED',
      'NOT_AP_REP',
    )
  })

  it('refuses version 2 with ERR_PROTO_VERSION', () => {
    expectCode(
      () => parseApReq(encode([2, MSG.AP_REQ, ticketWire, new Uint8Array(41)])),
      'ERR_PROTO_VERSION',
    )
    expectCode(() => parseApRep(encode([2, MSG.AP_REP, new Uint8Array(41)])), 'ERR_PROTO_VERSION')
  })

  it('refuses a short authenticator, a short enc part and wrong arity', () => {
    expectCode(
      () => parseApReq(encode([1, MSG.AP_REQ, ticketWire, new Uint8Array(40)])),
      'ERR_PROTO_MALFORMED',
      'BAD_AUTHENTICATOR',
    )
    expectCode(
      () => parseApRep(encode([1, MSG.AP_REP, new Uint8Array(40)])),
      'ERR_PROTO_MALFORMED',
      'BAD_ENC_PART',
    )
    expectCode(() => parseApRep(encode([1, MSG.AP_REP])), 'ERR_PROTO_MALFORMED', 'BAD_AP_REP')
  })
})
