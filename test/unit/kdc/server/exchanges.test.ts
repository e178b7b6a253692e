/**
 * The AS and TGS pipelines in process, over the memory store with a fake clock: time boundaries,
 * replay-insert-last, policy and key changes applying to the next request, and the per-principal
 * rate limit. (The same flows run against a real process in test/integration/kdc-exchanges.test.ts.)
 */
import { Writable } from 'node:stream'
import { beforeEach, describe, expect, it } from 'vitest'
import {
  deriveKey,
  isBrokerError,
  LABELS,
  MSG,
  openAsRepPart,
  openTgsRepPart,
  openTicket,
  sealAuthenticator,
  sealPreauth,
  tgsRequestHash,
  type AsReq,
  type KeyVersion,
  type TgsReq,
  type Ticket,
} from '../../../../kdc/protocol/index.js'
import { handleAsReq } from '../../../../kdc/server/as.js'
import { buildConfig } from '../../../../kdc/server/config.js'
import type { KdcContext } from '../../../../kdc/server/context.js'
import { createContext } from '../../../../kdc/server/kdc.js'
import { handleTgsReq } from '../../../../kdc/server/tgs.js'
import { createMemoryStore } from '../../../../kdc/store/memory-store.js'
import type { KdcStore } from '../../../../kdc/store/store.js'

const REALM = 'UNIT.TEST'
let now = 1_800_000_000
const clock = { nowSeconds: () => now }
let store: KdcStore
let ctx: KdcContext
let logLines: string[]

function nonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(16))
}

async function setup(limits: Record<string, number> = {}): Promise<void> {
  now = 1_800_000_000
  store = await createMemoryStore({ realm: REALM, clock })
  for (const name of ['krbtgt', 'kadmin', 'payments', 'orders']) await store.addPrincipal({ name })
  await store.setPolicy([
    { id: 'p-o', caller: 'payments', target: 'orders', scopes: ['read'], maxLifetime: 0 },
  ])
  logLines = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logLines.push(chunk.toString())
      cb()
    },
  })
  ctx = createContext({
    config: buildConfig({ dataDir: '/nonexistent', limits }),
    store,
    clock,
    logDestination: sink,
  })
}

function key(name: string): KeyVersion {
  const p = store.getPrincipal(name)!
  return p.keys.at(-1)!
}

function asReq(client: string, o: { ctime?: number; lifetime?: number } = {}): AsReq {
  const k = key(client)
  const n = nonce()
  return {
    realm: REALM,
    client,
    kvno: k.kvno,
    nonce: n,
    lifetime: o.lifetime ?? 0,
    preauth: sealPreauth(
      deriveKey(k.key, LABELS.preauth),
      { realm: REALM, client, kvno: k.kvno, lifetime: o.lifetime ?? 0 },
      { ctime: o.ctime ?? now, nonce: n },
    ),
  }
}

interface Tgt {
  ticket: Ticket
  sessionKey: Uint8Array
  endTime: number
}

function loginAs(client: string, lifetime = 0): Tgt {
  const rep = handleAsReq(ctx, asReq(client, { lifetime }), {})
  const part = openAsRepPart(
    deriveKey(key(client).key, LABELS.asRep),
    { realm: REALM, client, kvno: rep.kvno },
    rep.encPart,
  )
  return { ticket: rep.tgt, sessionKey: part.sessionKey, endTime: part.endTime }
}

function tgsReq(tgt: Tgt, target: string, o: { scopes?: string[]; ctime?: number } = {}): TgsReq {
  const n = nonce()
  const scopes = o.scopes ?? []
  return {
    tgt: tgt.ticket,
    authenticator: sealAuthenticator(
      deriveKey(tgt.sessionKey, LABELS.authenticator),
      { realm: REALM, client: 'payments', service: 'krbtgt', msgType: MSG.TGS_REQ },
      { ctime: o.ctime ?? now, counter: 0, requestHash: tgsRequestHash(target, scopes, 0, n) },
    ),
    target,
    scopes,
    lifetime: 0,
    nonce: n,
  }
}

function code(fn: () => unknown): string {
  try {
    fn()
    return 'OK'
  } catch (err) {
    if (isBrokerError(err)) return `${err.code}/${err.kind}`
    throw err
  }
}

beforeEach(async () => {
  await setup()
})

describe('AS', () => {
  it('accepts a pre-auth exactly at ±skew and refuses one second beyond', () => {
    expect(code(() => handleAsReq(ctx, asReq('payments', { ctime: now - 300 }), {}))).toBe('OK')
    expect(code(() => handleAsReq(ctx, asReq('payments', { ctime: now + 300 }), {}))).toBe('OK')
    expect(code(() => handleAsReq(ctx, asReq('payments', { ctime: now - 301 }), {}))).toBe(
      'ERR_AP_SKEW/ap',
    )
    expect(code(() => handleAsReq(ctx, asReq('payments', { ctime: now + 301 }), {}))).toBe(
      'ERR_AP_SKEW/ap',
    )
  })

  it('seals the TGT with the CURRENT krbtgt key and still accepts TGTs of the previous one', async () => {
    const old = loginAs('payments')
    await store.rotateKey('krbtgt')
    const fresh = loginAs('payments')
    expect(fresh.ticket.kvno).toBe(old.ticket.kvno + 1)
    expect(code(() => handleTgsReq(ctx, tgsReq(old, 'orders'), {}))).toBe('OK')
    expect(code(() => handleTgsReq(ctx, tgsReq(fresh, 'orders'), {}))).toBe('OK')
  })

  it('applies the per-principal rate limit after authentication', async () => {
    await setup({ principalBurst: 2, principalRatePerSecond: 1 })
    expect(code(() => handleAsReq(ctx, asReq('payments'), {}))).toBe('OK')
    expect(code(() => handleAsReq(ctx, asReq('payments'), {}))).toBe('OK')
    expect(code(() => handleAsReq(ctx, asReq('payments'), {}))).toBe('ERR_KDC_RATE_LIMITED/kdc')
    expect(code(() => handleAsReq(ctx, asReq('orders'), {}))).toBe('OK')
  })
})

describe('TGS', () => {
  it('issues from a TGT until MIN_TICKET_LIFETIME_S before its end, then refuses it as expired', () => {
    const tgt = loginAs('payments', 120)
    now = tgt.endTime - 60
    const rep = handleTgsReq(ctx, tgsReq(tgt, 'orders'), {})
    const part = openTicket(rep.ticket, deriveKey(key('orders').key, LABELS.ticket))
    expect(part.endTime - part.startTime).toBe(60)
    expect(part.endTime).toBe(tgt.endTime)
    for (const left of [59, 1, 0]) {
      now = tgt.endTime - left
      expect(code(() => handleTgsReq(ctx, tgsReq(tgt, 'orders'), {}))).toBe('ERR_AP_TKT_EXPIRED/ap')
    }
  })

  it('refuses under a stored rule cap below MIN_TICKET_LIFETIME_S rather than lengthen the ticket', async () => {
    // Policies written before such caps were refused still load; the TGS fails closed on them.
    await store.setPolicy([
      { id: 'p-o', caller: 'payments', target: 'orders', scopes: ['read'], maxLifetime: 5 },
    ])
    const tgt = loginAs('payments')
    const req = tgsReq(tgt, 'orders')
    expect(code(() => handleTgsReq(ctx, req, {}))).toBe('ERR_KDC_POLICY/kdc')
    await store.setPolicy([
      { id: 'p-o', caller: 'payments', target: 'orders', scopes: ['read'], maxLifetime: 60 },
    ])
    expect(code(() => handleTgsReq(ctx, req, {}))).toBe('OK') // the refusal consumed nothing
  })

  it('issues with the target CURRENT key after a rotation', async () => {
    const tgt = loginAs('payments')
    const before = handleTgsReq(ctx, tgsReq(tgt, 'orders'), {})
    await store.rotateKey('orders')
    const after = handleTgsReq(ctx, tgsReq(tgt, 'orders'), {})
    expect(after.ticket.kvno).toBe(before.ticket.kvno + 1)
    const part = openTicket(after.ticket, deriveKey(key('orders').key, LABELS.ticket))
    expect(part.client).toBe('payments')
  })

  it('refuses a TGT whose kvno the KDC does not hold with ERR_AP_BAD_KVNO', () => {
    const tgt = loginAs('payments')
    const forged = { ...tgt, ticket: { ...tgt.ticket, kvno: tgt.ticket.kvno + 5 } }
    expect(code(() => handleTgsReq(ctx, tgsReq(forged, 'orders'), {}))).toBe('ERR_AP_BAD_KVNO/ap')
  })

  it('applies a policy change to the very next request, and a denial does not consume the authenticator', async () => {
    const tgt = loginAs('payments')
    const req = tgsReq(tgt, 'kadmin', { scopes: [] })
    expect(code(() => handleTgsReq(ctx, req, {}))).toBe('OK')
    const denied = tgsReq(tgt, 'orders', { scopes: ['write'] })
    expect(code(() => handleTgsReq(ctx, denied, {}))).toBe('ERR_KDC_POLICY/kdc')
    await store.setPolicy([
      {
        id: 'p-o',
        caller: 'payments',
        target: 'orders',
        scopes: ['read', 'write'],
        maxLifetime: 60,
      },
    ])
    const rep = handleTgsReq(ctx, denied, {})
    const part = openTgsRepPart(
      deriveKey(tgt.sessionKey, LABELS.tgsRep),
      { realm: REALM, client: 'payments', target: 'orders' },
      rep.encPart,
    )
    expect(part.scopes).toEqual(['write'])
    expect(part.endTime - part.startTime).toBe(60)
    expect(part.policyVersion).toBe(store.getPolicy().version)
    expect(code(() => handleTgsReq(ctx, denied, {}))).toBe('ERR_AP_REPLAY/ap')
  })

  it('re-reads the caller: deleted → ERR_KDC_CLIENT_REVOKED', async () => {
    const tgt = loginAs('payments')
    await store.deletePrincipal('payments')
    expect(code(() => handleTgsReq(ctx, tgsReq(tgt, 'orders'), {}))).toBe(
      'ERR_KDC_CLIENT_REVOKED/kdc',
    )
  })

  it('forgets authenticators only once they are outside the skew window', () => {
    const tgt = loginAs('payments', 3600)
    const req = tgsReq(tgt, 'orders')
    expect(code(() => handleTgsReq(ctx, req, {}))).toBe('OK')
    now += 300
    expect(code(() => handleTgsReq(ctx, req, {}))).toBe('ERR_AP_REPLAY/ap')
    now += 1
    expect(code(() => handleTgsReq(ctx, req, {}))).toBe('ERR_AP_SKEW/ap')
  })
})
