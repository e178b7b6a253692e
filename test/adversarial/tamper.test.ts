/**
 * Tampering at the TGS (house style B7 tamper.test.ts): every single-bit flip of a TGT's sealed
 * part or of an authenticator is ERR_AP_BAD_INTEGRITY; header edits select no key or the wrong
 * service; parts cut from one context and pasted into another never open. The KDC still serves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MSG, type PolicyRule } from '../../kdc/protocol/index.js'
import {
  buildTgsReq,
  errorCode,
  getServiceTicket,
  KdcWire,
  login,
  startKdcRealm,
  type Credentials,
  type KdcRealm,
} from '../helpers/kdc-harness.js'

const RULES: PolicyRule[] = [
  { id: 'a-b', caller: 'alpha', target: 'bravo', scopes: ['x'], maxLifetime: 0 },
  { id: 'c-b', caller: 'charlie', target: 'bravo', scopes: ['x'], maxLifetime: 0 },
]
let kdc!: KdcRealm
let wire!: KdcWire
let alpha!: Credentials
let charlie!: Credentials

beforeAll(async () => {
  kdc = await startKdcRealm({
    principals: [{ name: 'alpha' }, { name: 'bravo' }, { name: 'charlie' }],
    rules: RULES,
  })
  wire = await KdcWire.connect(kdc.url)
  alpha = await login(wire, { realm: kdc.realm, client: 'alpha', key: kdc.key('alpha') })
  charlie = await login(wire, { realm: kdc.realm, client: 'charlie', key: kdc.key('charlie') })
})
afterAll(async () => {
  ;(wire as KdcWire | undefined)?.close()
  await (kdc as KdcRealm | undefined)?.cleanup()
})

function flip(bytes: Uint8Array, i: number, bit: number): Uint8Array {
  const out = bytes.slice()
  out[i] = (out[i] as number) ^ (1 << bit)
  return out
}

async function tgsCode(frame: ReturnType<typeof buildTgsReq>['frame']): Promise<string> {
  const reply = await wire.request(frame)
  return reply.type === MSG.TGS_REP ? 'OK' : errorCode(reply)
}

describe('TGT tampering', () => {
  it('every byte of the sealed TGT, flipped, is ERR_AP_BAD_INTEGRITY', async () => {
    const sealed = alpha.tgt.sealed
    const codes = new Set<string>()
    for (let i = 0; i < sealed.length; i++) {
      const tgt = { ...alpha.tgt, sealed: flip(sealed, i, i % 8) }
      codes.add(
        await tgsCode(buildTgsReq({ creds: alpha, target: 'bravo', id: wire.nextId(), tgt }).frame),
      )
    }
    expect([...codes]).toEqual(['ERR_AP_BAD_INTEGRITY'])
  })

  it('a truncated or extended TGT is ERR_AP_BAD_INTEGRITY', async () => {
    const s = alpha.tgt.sealed
    for (const sealed of [
      s.subarray(0, s.length - 1),
      new Uint8Array([...s, 0]),
      s.subarray(0, 41),
    ]) {
      const tgt = { ...alpha.tgt, sealed }
      expect(
        await tgsCode(buildTgsReq({ creds: alpha, target: 'bravo', id: wire.nextId(), tgt }).frame),
      ).toBe('ERR_AP_BAD_INTEGRITY')
    }
  })

  it('header edits: unknown kvno → ERR_AP_BAD_KVNO, other realm or service → ERR_AP_NOT_US', async () => {
    const cases: [Partial<Credentials['tgt']>, string][] = [
      [{ kvno: alpha.tgt.kvno + 1 }, 'ERR_AP_BAD_KVNO'],
      [{ realm: 'OTHER.REALM' }, 'ERR_AP_NOT_US'],
      [{ service: 'bravo' }, 'ERR_AP_NOT_US'],
    ]
    for (const [edit, code] of cases) {
      const tgt = { ...alpha.tgt, ...edit }
      expect(
        await tgsCode(buildTgsReq({ creds: alpha, target: 'bravo', id: wire.nextId(), tgt }).frame),
      ).toBe(code)
    }
  })

  it('a service ticket presented as a TGT is refused', async () => {
    const st = await getServiceTicket(wire, { creds: alpha, target: 'bravo' })
    const frame = buildTgsReq({
      creds: alpha,
      target: 'bravo',
      id: wire.nextId(),
      tgt: st.ticket,
    }).frame
    expect(await tgsCode(frame)).toBe('ERR_AP_NOT_US')
  })
})

describe('authenticator tampering', () => {
  it('every byte of the authenticator, flipped, is ERR_AP_BAD_INTEGRITY', async () => {
    const codes = new Set<string>()
    const { frame, authenticator } = buildTgsReq({ creds: alpha, target: 'bravo', id: 0 })
    if (frame.type !== MSG.TGS_REQ) throw new Error('unreachable')
    for (let i = 0; i < authenticator.length; i++) {
      const body = { ...frame.body, authenticator: flip(authenticator, i, (i * 3) % 8) }
      codes.add(await tgsCode({ ...frame, id: wire.nextId(), body }))
    }
    expect([...codes]).toEqual(['ERR_AP_BAD_INTEGRITY'])
  })

  it("another client's authenticator with this TGT is ERR_AP_BAD_INTEGRITY", async () => {
    const mine = buildTgsReq({ creds: alpha, target: 'bravo', id: wire.nextId() }).frame
    const theirs = buildTgsReq({ creds: charlie, target: 'bravo', id: 0 }).frame
    if (mine.type !== MSG.TGS_REQ || theirs.type !== MSG.TGS_REQ) throw new Error('unreachable')
    const body = { ...theirs.body, tgt: mine.body.tgt }
    expect(await tgsCode({ ...theirs, id: wire.nextId(), body })).toBe('ERR_AP_BAD_INTEGRITY')
  })

  it('still issues tickets afterwards', async () => {
    const st = await getServiceTicket(wire, { creds: alpha, target: 'bravo' })
    expect(st.part.scopes).toEqual(['x'])
  })
})
