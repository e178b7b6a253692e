/**
 * Every limit exactly at the limit and at limit + 1 (house style C2), each failure with its code:
 * frame size (ws maxPayload = MAX_FRAME_BYTES → close 1009), name length, scope count, requests in
 * flight per connection, the per-connection and per-principal token buckets. The KDC runs with
 * small limits so the tests stay fast.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  encode,
  encodeFrame,
  MAX_FRAME_BYTES,
  MAX_SCOPES,
  MSG,
  type PolicyRule,
} from '../../kdc/protocol/index.js'
import {
  buildAsReq,
  buildTgsReq,
  codeOf,
  errorCode,
  KdcWire,
  login,
  RawWs,
  startKdcRealm,
  type KdcRealm,
} from '../helpers/kdc-harness.js'

const INFLIGHT = 4
const CONN_BURST = 8
const PRINCIPAL_BURST = 3
const users = Array.from({ length: 12 }, (_, i) => `user${i}`)
const RULES: PolicyRule[] = [
  { id: 'u-t', caller: 'group:users', target: 'target', scopes: [], maxLifetime: 0 },
]
let kdc!: KdcRealm

beforeAll(async () => {
  kdc = await startKdcRealm({
    principals: [
      ...users.map((name) => ({ name, groups: ['users'] })),
      { name: 'target' },
      { name: 'a'.repeat(63) },
    ],
    rules: RULES,
    args: [
      '--max-inflight-per-connection',
      String(INFLIGHT),
      '--connection-burst',
      String(CONN_BURST),
      '--connection-rate-per-second',
      '1',
      '--principal-burst',
      String(PRINCIPAL_BURST),
      '--principal-rate-per-second',
      '1',
    ],
  })
})
afterAll(async () => {
  await (kdc as KdcRealm | undefined)?.cleanup()
})

/** An AS-REQ-shaped frame padded with one bin field to exactly `size` bytes. */
function frameOfSize(size: number): Uint8Array {
  for (let bin = size - 16; bin <= size; bin++) {
    const bytes = encode([1, MSG.AS_REQ, 77, [new Uint8Array(bin)]])
    if (bytes.length === size) return bytes
  }
  throw new Error(`cannot build a frame of ${size} bytes`)
}

describe('frame size', () => {
  it(`a ${MAX_FRAME_BYTES}-byte message is read (and refused by the parser); the connection stays open`, async () => {
    const wire = await KdcWire.connect(kdc.url)
    wire.sendRaw(frameOfSize(MAX_FRAME_BYTES))
    const r = await wire.next()
    expect(r.frame.id).toBe(77)
    expect(errorCode(r.frame)).toBe('ERR_PROTO_MALFORMED')
    await login(wire, { realm: kdc.realm, client: 'user11', key: kdc.key('user11') })
    wire.close()
  })

  it(`a ${MAX_FRAME_BYTES + 1}-byte message closes the connection with 1009`, async () => {
    const wire = await KdcWire.connect(kdc.url)
    wire.sendRaw(frameOfSize(MAX_FRAME_BYTES + 1))
    expect((await wire.closed).code).toBe(1009)
  })
})

describe('field limits', () => {
  it('a 63-byte client name logs in; 64 bytes is ERR_PROTO_MALFORMED', async () => {
    const wire = await KdcWire.connect(kdc.url)
    const name63 = 'a'.repeat(63)
    expect(
      await codeOf(login(wire, { realm: kdc.realm, client: name63, key: kdc.key(name63) })),
    ).toBe('OK')
    const { frame } = buildAsReq({
      realm: kdc.realm,
      client: 'user10',
      key: kdc.key('user10'),
      id: 5,
    })
    if (frame.type !== MSG.AS_REQ) throw new Error('unreachable')
    const long = encodeFrame({ ...frame, body: { ...frame.body, client: 'b'.repeat(64) } })
    wire.sendRaw(long)
    expect(errorCode((await wire.next((r) => r.frame.id === 5)).frame)).toBe('ERR_PROTO_MALFORMED')
    wire.close()
  })

  it(`${MAX_SCOPES} requested scopes reach the policy; ${MAX_SCOPES + 1} are ERR_PROTO_MALFORMED`, async () => {
    const wire = await KdcWire.connect(kdc.url)
    const creds = await login(wire, { realm: kdc.realm, client: 'user9', key: kdc.key('user9') })
    const scopes = (n: number): string[] =>
      Array.from({ length: n }, (_, i) => `s${String(i).padStart(3, '0')}`)
    const at = buildTgsReq({
      creds,
      target: 'target',
      scopes: scopes(MAX_SCOPES),
      id: wire.nextId(),
    })
    expect(errorCode(await wire.request(at.frame))).toBe('ERR_KDC_POLICY')
    const over = buildTgsReq({
      creds,
      target: 'target',
      scopes: scopes(MAX_SCOPES + 1),
      id: wire.nextId(),
    })
    expect(errorCode(await wire.request(over.frame))).toBe('ERR_PROTO_MALFORMED')
    wire.close()
  })
})

describe('requests in flight per connection', () => {
  const burst = async (n: number, firstUser: number) => {
    const raw = await RawWs.connect(kdc.url)
    const frames = Array.from({ length: n }, (_, i) => {
      const name = users[firstUser + i] as string
      return encodeFrame(
        buildAsReq({ realm: kdc.realm, client: name, key: kdc.key(name), id: 100 + i }).frame,
      )
    })
    // All frames in ONE TCP write, so they arrive together.
    raw.write(Buffer.concat(frames.map((f) => RawWs.frame(f))))
    await raw.waitFor(n)
    const replies = raw.frames()
    raw.destroy()
    return replies
  }

  it(`${INFLIGHT} requests at once are all served`, async () => {
    const replies = await burst(INFLIGHT, 0)
    expect(replies.map((r) => r.type)).toEqual(Array(INFLIGHT).fill(MSG.AS_REP))
  })

  it(`${INFLIGHT + 1} at once: the one over the cap gets ERR_KDC_RATE_LIMITED`, async () => {
    const replies = await burst(INFLIGHT + 1, 4)
    expect(replies).toHaveLength(INFLIGHT + 1)
    const limited = replies.filter((r) => r.type === MSG.ERROR)
    expect(limited.map((r) => errorCode(r))).toEqual(['ERR_KDC_RATE_LIMITED'])
    expect(limited[0]?.id).toBe(100 + INFLIGHT)
  })
})

describe('token buckets', () => {
  it(`a connection may send ${CONN_BURST} requests at once, the next is ERR_KDC_RATE_LIMITED`, async () => {
    const wire = await KdcWire.connect(kdc.url)
    const codes: string[] = []
    for (let i = 0; i <= CONN_BURST; i++) {
      const reply = await wire.request(encodeOnly(i))
      codes.push(reply.type === MSG.ERROR ? errorCode(reply) : 'OTHER')
    }
    // Each probe is a bogus frame (answered by the parser), so only the bucket decides.
    expect(codes.slice(0, CONN_BURST)).toEqual(Array(CONN_BURST).fill('ERR_PROTO_UNEXPECTED'))
    expect(codes[CONN_BURST]).toBe('ERR_KDC_RATE_LIMITED')
    wire.close()
  })

  it(`a principal may log in ${PRINCIPAL_BURST} times at once, the next is ERR_KDC_RATE_LIMITED`, async () => {
    const codes: string[] = []
    for (let i = 0; i <= PRINCIPAL_BURST; i++) {
      const wire = await KdcWire.connect(kdc.url)
      codes.push(
        await codeOf(login(wire, { realm: kdc.realm, client: 'user8', key: kdc.key('user8') })),
      )
      wire.close()
    }
    expect(codes).toEqual([...Array<string>(PRINCIPAL_BURST).fill('OK'), 'ERR_KDC_RATE_LIMITED'])
    const wire = await KdcWire.connect(kdc.url)
    expect(
      await codeOf(login(wire, { realm: kdc.realm, client: 'user7', key: kdc.key('user7') })),
    ).toBe('OK')
    wire.close()
  })
})

function encodeOnly(i: number) {
  return { type: MSG.ERROR, id: 500 + i, body: { kdcTime: 0, wire: 100 } } as const
}
