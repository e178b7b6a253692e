/**
 * Bogus frames at a real KDC (cf. krb5 t_bogus_kdc_req.py): each gets an ERROR frame with the
 * codec's code, addressed with the frame's own id when its head is readable (0 otherwise), the
 * connection stays usable, and the KDC still issues a TGT and a service ticket right afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encode, MSG, type PolicyRule } from '../../kdc/protocol/index.js'
import {
  buildAsReq,
  errorCode,
  getServiceTicket,
  KdcWire,
  login,
  RawWs,
  startKdcRealm,
  type KdcRealm,
} from '../helpers/kdc-harness.js'

const RULES: PolicyRule[] = [
  { id: 'a-b', caller: 'alpha', target: 'bravo', scopes: ['x'], maxLifetime: 0 },
]
let kdc!: KdcRealm

beforeAll(async () => {
  kdc = await startKdcRealm({ principals: [{ name: 'alpha' }, { name: 'bravo' }], rules: RULES })
})
afterAll(async () => {
  await (kdc as KdcRealm | undefined)?.cleanup()
})

async function stillServes(wire: KdcWire): Promise<void> {
  const creds = await login(wire, { realm: kdc.realm, client: 'alpha', key: kdc.key('alpha') })
  const st = await getServiceTicket(wire, { creds, target: 'bravo' })
  expect(st.part.scopes).toEqual(['x'])
}

function validAsReqBytes(id: number): Uint8Array {
  const { frame } = buildAsReq({ realm: kdc.realm, client: 'alpha', key: kdc.key('alpha'), id })
  if (frame.type !== MSG.AS_REQ) throw new Error('unreachable')
  const b = frame.body
  return encode([1, MSG.AS_REQ, id, [b.realm, b.client, b.kvno, b.nonce, b.lifetime, b.preauth]])
}

const nested = (depth: number): Uint8Array =>
  new Uint8Array([0x94, 1, 1, 77, ...Array<number>(depth).fill(0x91), 0x90])

const CASES: { name: string; bytes: () => Uint8Array; code: string; id: number }[] = [
  { name: 'empty message', bytes: () => new Uint8Array(0), code: 'ERR_PROTO_MALFORMED', id: 0 },
  { name: 'msgpack nil', bytes: () => new Uint8Array([0xc0]), code: 'ERR_PROTO_MALFORMED', id: 0 },
  {
    name: 'trailing byte',
    bytes: () => new Uint8Array([...validAsReqBytes(11), 0]),
    code: 'ERR_PROTO_MALFORMED',
    id: 0,
  },
  {
    name: 'truncated',
    bytes: () => validAsReqBytes(12).subarray(0, 40),
    code: 'ERR_PROTO_MALFORMED',
    id: 0,
  },
  { name: 'wrong version', bytes: () => encode([2, 1, 13, []]), code: 'ERR_PROTO_VERSION', id: 13 },
  {
    name: 'unknown type',
    bytes: () => encode([1, 99, 14, []]),
    code: 'ERR_PROTO_MALFORMED',
    id: 14,
  },
  { name: 'body arity', bytes: () => encode([1, 1, 15, [1]]), code: 'ERR_PROTO_MALFORMED', id: 15 },
  { name: 'frame arity', bytes: () => encode([1, 1, 16]), code: 'ERR_PROTO_MALFORMED', id: 16 },
  {
    name: 'non-canonical integer',
    bytes: () => new Uint8Array([0x94, 0x01, 0x01, 0xce, 0, 0, 0, 5, 0x90]),
    code: 'ERR_PROTO_NON_CANONICAL',
    id: 0,
  },
  {
    name: 'a map',
    bytes: () => new Uint8Array([0x94, 1, 1, 17, 0x80]),
    code: 'ERR_PROTO_MALFORMED',
    id: 0,
  },
  { name: 'deep nesting', bytes: () => nested(40), code: 'ERR_PROTO_TOO_LARGE', id: 0 },
  {
    name: 'array32 claiming 2^32-1 items',
    bytes: () => new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff]),
    code: 'ERR_PROTO_TOO_LARGE',
    id: 0,
  },
  {
    name: 'invalid UTF-8 in a name',
    bytes: () => {
      const b = validAsReqBytes(18)
      const i = b.indexOf(0x61 /* 'a' of alpha */, 8)
      b[i] = 0xc3
      b[i + 1] = 0x28
      return b
    },
    code: 'ERR_PROTO_MALFORMED',
    id: 0,
  },
  {
    name: 'a reply type sent as a request',
    bytes: () => encode([1, MSG.ERROR, 19, [1, 100]]),
    code: 'ERR_PROTO_UNEXPECTED',
    id: 19,
  },
  {
    name: 'a client name over 63 bytes',
    bytes: () => {
      const { frame } = buildAsReq({
        realm: kdc.realm,
        client: 'alpha',
        key: kdc.key('alpha'),
        id: 20,
      })
      if (frame.type !== MSG.AS_REQ) throw new Error('unreachable')
      const b = frame.body
      return encode([1, 1, 20, [b.realm, 'a'.repeat(64), b.kvno, b.nonce, b.lifetime, b.preauth]])
    },
    code: 'ERR_PROTO_MALFORMED',
    id: 20,
  },
]

describe('malformed frames', () => {
  it.each(CASES)('$name → $code (id $id), and the connection keeps working', async (c) => {
    const wire = await KdcWire.connect(kdc.url)
    const bytes = c.bytes()
    wire.sendRaw(bytes)
    const reply = await wire.next()
    expect(reply.frame.id).toBe(c.id)
    expect(errorCode(reply.frame)).toBe(c.code)
    if (reply.frame.type === MSG.ERROR) {
      expect(Math.abs(reply.frame.body.kdcTime - Date.now() / 1000)).toBeLessThan(5)
    }
    await stillServes(wire)
    wire.close()
  })

  it('survives random and mutated frames, answering each with a protocol or AP code', async () => {
    const wire = await KdcWire.connect(kdc.url)
    let seed = 0x2545f491
    const rand = (): number => {
      seed ^= seed << 13
      seed ^= seed >>> 17
      seed ^= seed << 5
      return (seed >>> 0) / 2 ** 32
    }
    const allowed = new Set([
      'ERR_PROTO_MALFORMED',
      'ERR_PROTO_VERSION',
      'ERR_PROTO_TOO_LARGE',
      'ERR_PROTO_NON_CANONICAL',
      'ERR_PROTO_UNEXPECTED',
      'ERR_KDC_PREAUTH_FAILED',
      'ERR_KDC_BAD_LIFETIME', // the requested lifetime is not sealed in the pre-auth
      'ERR_AP_REPLAY',
    ])
    const N = 300
    for (let i = 0; i < N; i++) {
      let bytes: Uint8Array
      if (i % 2 === 0) {
        bytes = new Uint8Array(1 + Math.floor(rand() * 200)).map(() => Math.floor(rand() * 256))
      } else {
        bytes = validAsReqBytes(1000 + i)
        const flips = 1 + Math.floor(rand() * 3)
        for (let f = 0; f < flips; f++) {
          const j = Math.floor(rand() * bytes.length)
          bytes[j] = (bytes[j] as number) ^ (1 << Math.floor(rand() * 8))
        }
      }
      // One at a time: a burst would (rightly) meet the in-flight cap, tested in flood.test.ts.
      wire.sendRaw(bytes)
      const r = await wire.next()
      if (r.frame.type === MSG.AS_REP) continue // a flip in an id or nonce leaves a valid request
      expect(allowed).toContain(errorCode(r.frame))
    }
    await stillServes(wire)
    wire.close()
  })

  it('closes with 1003 on a text frame, and other connections are unaffected', async () => {
    const other = await KdcWire.connect(kdc.url)
    const wire = await KdcWire.connect(kdc.url)
    wire.sendRaw('hello')
    expect((await wire.closed).code).toBe(1003)
    await stillServes(other)
    other.close()
  })

  it('closes with 1007 on a text message that is not UTF-8, and counts both kinds of text refusal', async () => {
    const metric = async (): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${String(kdc.port)}/metrics`)).text()
      const m = /tessera_kdc_rejected_connections_total\{reason="text_frame"\} (\d+)/.exec(text)
      return m === null ? 0 : Number(m[1])
    }
    const before = await metric()
    const raw = await RawWs.connect(kdc.url)
    raw.write(RawWs.frame(new Uint8Array([0x94, 0x01, 0xff, 0xfe]), 1))
    await raw.waitFor(1)
    const close = raw.messages[0]
    expect(close?.opcode).toBe(8)
    expect(close?.payload.readUInt16BE(0)).toBe(1007)
    await raw.ended
    const wire = await KdcWire.connect(kdc.url)
    wire.sendRaw('hello')
    expect((await wire.closed).code).toBe(1003)
    expect(await metric()).toBe(before + 2)
  })

  it('reassembles a frame delivered byte by byte and fragmented', async () => {
    const raw = await RawWs.connect(kdc.url)
    const bytes = validAsReqBytes(31)
    const half = Math.floor(bytes.length / 2)
    const wireBytes = Buffer.concat([
      RawWs.frame(bytes.subarray(0, half), 2, false),
      RawWs.frame(bytes.subarray(half), 0, true),
    ])
    for (const b of wireBytes) {
      raw.write(new Uint8Array([b]))
      await new Promise((r) => setImmediate(r))
    }
    await raw.waitFor(1)
    expect(raw.frames()[0]?.type).toBe(MSG.AS_REP)
    raw.destroy()
  })
})
