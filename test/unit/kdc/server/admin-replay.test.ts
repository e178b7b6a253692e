/**
 * The admin exchange's replay protection must not be flushable. The KDC's authenticator cache is
 * bounded and evicts its oldest entry when full; any registered principal can fill it with its own
 * TGS (or forbidden admin) requests at its rate limit. If admin authenticators lived in that cache, a
 * captured admin write (policy.apply, principal.enable, key.rotate …) could then be replayed inside
 * the skew window and run again. Admin authenticators therefore live in their own cache, which
 * refuses new requests (ERR_KDC_RATE_LIMITED) rather than forget a live entry.
 */
import { Writable } from 'node:stream'
import { beforeEach, describe, expect, it } from 'vitest'
import {
  adminRequestHash,
  deriveKey,
  isBrokerError,
  LABELS,
  MSG,
  OBJ,
  openAsRepPart,
  openTgsRepPart,
  sealAdminPayload,
  sealAuthenticator,
  sealPreauth,
  tgsRequestHash,
  type KeyVersion,
  type TgsReq,
  type Ticket,
} from '../../../../kdc/protocol/index.js'
import { handleAdminReq, adminDeps } from '../../../../kdc/server/admin-exchange.js'
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

function nonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(16))
}

function key(name: string): KeyVersion {
  return store.getPrincipal(name)!.keys.at(-1)!
}

interface Tgt {
  client: string
  ticket: Ticket
  sessionKey: Uint8Array
}

function login(client: string): Tgt {
  const k = key(client)
  const n = nonce()
  const rep = handleAsReq(
    ctx,
    {
      realm: REALM,
      client,
      kvno: k.kvno,
      nonce: n,
      lifetime: 0,
      preauth: sealPreauth(
        deriveKey(k.key, LABELS.preauth),
        { realm: REALM, client, kvno: k.kvno, lifetime: 0 },
        { ctime: now, nonce: n },
      ),
    },
    {},
  )
  const part = openAsRepPart(
    deriveKey(k.key, LABELS.asRep),
    { realm: REALM, client, kvno: rep.kvno },
    rep.encPart,
  )
  return { client, ticket: rep.tgt, sessionKey: part.sessionKey }
}

function tgsReq(tgt: Tgt, target: string): TgsReq {
  const n = nonce()
  return {
    tgt: tgt.ticket,
    authenticator: sealAuthenticator(
      deriveKey(tgt.sessionKey, LABELS.authenticator),
      { realm: REALM, client: tgt.client, service: 'krbtgt', msgType: MSG.TGS_REQ },
      { ctime: now, counter: 1, requestHash: tgsRequestHash(target, [], 0, n) },
    ),
    target,
    scopes: [],
    lifetime: 0,
    nonce: n,
  }
}

function kadminTicket(tgt: Tgt): { ticket: Ticket; sessionKey: Uint8Array } {
  const rep = handleTgsReq(ctx, tgsReq(tgt, 'kadmin'), {})
  const part = openTgsRepPart(
    deriveKey(tgt.sessionKey, LABELS.tgsRep),
    { realm: REALM, client: tgt.client, target: 'kadmin' },
    rep.encPart,
  )
  return { ticket: rep.ticket, sessionKey: part.sessionKey }
}

interface AdminCall {
  client: string
  id: number
  body: { ticket: Ticket; authenticator: Uint8Array; payload: Uint8Array }
}

function adminCall(
  client: string,
  kadmin: { ticket: Ticket; sessionKey: Uint8Array },
  request: unknown,
  id: number,
): AdminCall {
  const payload = sealAdminPayload(
    deriveKey(kadmin.sessionKey, LABELS.admin),
    OBJ.ADMIN_REQ_ENC,
    { realm: REALM, client, id },
    request as never,
  )
  const authenticator = sealAuthenticator(
    deriveKey(kadmin.sessionKey, LABELS.authenticator),
    { realm: REALM, client, service: 'kadmin', msgType: MSG.ADMIN_REQ },
    { ctime: now, counter: id, requestHash: adminRequestHash(id, payload) },
  )
  return { client, id, body: { ticket: kadmin.ticket, authenticator, payload } }
}

async function send(call: AdminCall): Promise<void> {
  await handleAdminReq(ctx, adminDeps(ctx), call.id, call.body, {})
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

async function codeAsync(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'OK'
  } catch (err) {
    if (isBrokerError(err)) return err.code
    throw err
  }
}

beforeEach(async () => {
  now = 1_800_000_000
  store = await createMemoryStore({ realm: REALM, clock })
  for (const name of ['krbtgt', 'kadmin', 'orders']) await store.addPrincipal({ name })
  await store.addPrincipal({ name: 'payments', groups: ['payers'] })
  await store.addPrincipal({ name: 'alice', groups: ['admins'] })
  await store.setPolicy([
    { id: 'payers', caller: 'group:payers', target: 'orders', scopes: ['read'], maxLifetime: 0 },
  ])
  ctx = createContext({
    config: buildConfig({ dataDir: '/nonexistent', limits: { replayCacheEntries: 16 } }),
    store,
    clock,
    logDestination: new Writable({
      write(_chunk: Buffer, _enc, cb) {
        cb()
      },
    }),
  })
})

describe('admin replay protection', () => {
  it('survives a flood of TGS requests by another principal', async () => {
    const alice = kadminTicket(login('alice'))
    const enable = adminCall('alice', alice, ['principal.disable', ['orders']], 1)
    expect(await codeAsync(send(enable))).toBe('OK')
    expect(await codeAsync(send(enable))).toBe('ERR_AP_REPLAY')
    // The attacker (a registered service) fills the authenticator cache with its own requests.
    const tgt = login('payments')
    await store.setEnabled('orders', true)
    for (let i = 0; i < 40; i++) {
      expect(code(() => handleTgsReq(ctx, tgsReq(tgt, 'orders'), {}))).toBe('OK')
    }
    await store.setEnabled('orders', true)
    expect(await codeAsync(send(enable))).toBe('ERR_AP_REPLAY')
    expect(store.getPrincipal('orders')!.enabled).toBe(true)
  })

  it('survives a flood of (forbidden) admin requests by a non-admin', async () => {
    const alice = kadminTicket(login('alice'))
    const rotate = adminCall('alice', alice, ['key.rotate', ['orders', 0]], 1)
    expect(await codeAsync(send(rotate))).toBe('OK')
    const kvno = store.getPrincipal('orders')!.keys.at(-1)!.kvno
    const mallory = kadminTicket(login('payments'))
    for (let i = 0; i < 40; i++) {
      const code = await codeAsync(send(adminCall('payments', mallory, ['status', []], 100 + i)))
      expect(['ERR_ADMIN_FORBIDDEN', 'ERR_KDC_RATE_LIMITED']).toContain(code)
    }
    expect(await codeAsync(send(rotate))).toBe('ERR_AP_REPLAY')
    expect(store.getPrincipal('orders')!.keys.at(-1)!.kvno).toBe(kvno)
  })

  it('refuses new admin requests while the cache is full of live entries, and recovers', async () => {
    const alice = kadminTicket(login('alice'))
    for (let i = 1; i <= 16; i++) {
      expect(await codeAsync(send(adminCall('alice', alice, ['status', []], i)))).toBe('OK')
    }
    expect(await codeAsync(send(adminCall('alice', alice, ['status', []], 17)))).toBe(
      'ERR_KDC_RATE_LIMITED',
    )
    now += 2 * 300 + 1
    const fresh = kadminTicket(login('alice'))
    expect(await codeAsync(send(adminCall('alice', fresh, ['status', []], 18)))).toBe('OK')
  })
})
