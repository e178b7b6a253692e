/**
 * The KDC's replay caches must remember a pre-auth or an authenticator for as long as the skew
 * check can still accept its timestamp. A timestamp `now + skew` (accepted at `now`) stays inside
 * the skew window until `now + 2·skew` INCLUSIVE (the window is closed: |ctime − now| ≤ skew), so
 * the entry must still be there at that second; otherwise the identical request replays once.
 */
import { Writable } from 'node:stream'
import { beforeEach, describe, expect, it } from 'vitest'
import {
  deriveKey,
  isBrokerError,
  LABELS,
  MSG,
  openAsRepPart,
  sealAuthenticator,
  sealPreauth,
  tgsRequestHash,
  type AsReq,
  type KeyVersion,
  type TgsReq,
} from '../../../../kdc/protocol/index.js'
import { handleAsReq } from '../../../../kdc/server/as.js'
import { buildConfig } from '../../../../kdc/server/config.js'
import type { KdcContext } from '../../../../kdc/server/context.js'
import { createContext } from '../../../../kdc/server/kdc.js'
import { handleTgsReq } from '../../../../kdc/server/tgs.js'
import { createMemoryStore } from '../../../../kdc/store/memory-store.js'
import type { KdcStore } from '../../../../kdc/store/store.js'

const REALM = 'UNIT.TEST'
const SKEW = 300
let now = 1_800_000_000
const clock = { nowSeconds: () => now }
let store: KdcStore
let ctx: KdcContext

function key(name: string): KeyVersion {
  return store.getPrincipal(name)!.keys.at(-1)!
}

function asReq(client: string, ctime: number, lifetime = 0): AsReq {
  const k = key(client)
  const n = crypto.getRandomValues(new Uint8Array(16))
  return {
    realm: REALM,
    client,
    kvno: k.kvno,
    nonce: n,
    lifetime,
    preauth: sealPreauth(
      deriveKey(k.key, LABELS.preauth),
      { realm: REALM, client, kvno: k.kvno, lifetime },
      { ctime, nonce: n },
    ),
  }
}

function code(fn: () => unknown): string {
  try {
    fn()
    return 'OK'
  } catch (err) {
    if (isBrokerError(err)) return err.code
    throw err
  }
}

beforeEach(async () => {
  now = 1_800_000_000
  store = await createMemoryStore({ realm: REALM, clock })
  for (const name of ['krbtgt', 'kadmin', 'payments', 'orders']) await store.addPrincipal({ name })
  await store.setPolicy([
    { id: 'p-o', caller: 'payments', target: 'orders', scopes: ['read'], maxLifetime: 0 },
  ])
  ctx = createContext({
    config: buildConfig({ dataDir: '/nonexistent' }),
    store,
    clock,
    logDestination: new Writable({
      write(_c: Buffer, _e, cb) {
        cb()
      },
    }),
  })
})

describe('replay caches at the far edge of the skew window', () => {
  it('AS: a pre-auth stamped now + skew cannot be replayed at now + 2·skew', () => {
    const t0 = now
    const req = asReq('payments', t0 + SKEW)
    expect(code(() => handleAsReq(ctx, req, {}))).toBe('OK')
    now = t0 + 2 * SKEW - 1
    expect(code(() => handleAsReq(ctx, req, {}))).toBe('ERR_AP_REPLAY')
    now = t0 + 2 * SKEW
    expect(code(() => handleAsReq(ctx, req, {}))).toBe('ERR_AP_REPLAY')
    now = t0 + 2 * SKEW + 1
    expect(code(() => handleAsReq(ctx, req, {}))).toBe('ERR_AP_SKEW')
  })

  it('TGS: an authenticator stamped now + skew cannot be replayed at now + 2·skew', () => {
    const t0 = now
    const rep = handleAsReq(ctx, asReq('payments', t0, 7200), {})
    const part = openAsRepPart(
      deriveKey(key('payments').key, LABELS.asRep),
      { realm: REALM, client: 'payments', kvno: rep.kvno },
      rep.encPart,
    )
    const n = crypto.getRandomValues(new Uint8Array(16))
    const req: TgsReq = {
      tgt: rep.tgt,
      authenticator: sealAuthenticator(
        deriveKey(part.sessionKey, LABELS.authenticator),
        { realm: REALM, client: 'payments', service: 'krbtgt', msgType: MSG.TGS_REQ },
        { ctime: t0 + SKEW, counter: 1, requestHash: tgsRequestHash('orders', [], 0, n) },
      ),
      target: 'orders',
      scopes: [],
      lifetime: 0,
      nonce: n,
    }
    expect(code(() => handleTgsReq(ctx, req, {}))).toBe('OK')
    now = t0 + 2 * SKEW
    expect(code(() => handleTgsReq(ctx, req, {}))).toBe('ERR_AP_REPLAY')
    now = t0 + 2 * SKEW + 1
    expect(code(() => handleTgsReq(ctx, req, {}))).toBe('ERR_AP_SKEW')
  })
})
