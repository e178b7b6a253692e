/**
 * A principal name that is deleted and registered again is a NEW principal (new id, new key, maybe
 * other groups). Tickets carry only the name, so a TGT (or an admin ticket) issued to the OLD
 * principal must not act as the new one: the KDC refuses tickets whose authTime predates the
 * caller's current record (ERR_KDC_PRINCIPAL_UNKNOWN, status CALLER_REISSUED).
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

async function admin(
  client: string,
  kadmin: { ticket: Ticket; sessionKey: Uint8Array },
  request: unknown,
  id: number,
): Promise<void> {
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
  await handleAdminReq(
    ctx,
    adminDeps(ctx),
    id,
    { ticket: kadmin.ticket, authenticator, payload },
    {},
  )
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
  const sink = new Writable({
    write(_chunk: Buffer, _enc, cb) {
      cb()
    },
  })
  ctx = createContext({
    config: buildConfig({ dataDir: '/nonexistent' }),
    store,
    clock,
    logDestination: sink,
  })
})

describe('a name deleted and registered again', () => {
  it('refuses a TGT issued to the old principal', async () => {
    const old = login('payments')
    expect(code(() => handleTgsReq(ctx, tgsReq(old, 'orders'), {}))).toBe('OK')
    now += 10
    await store.deletePrincipal('payments')
    await store.addPrincipal({ name: 'payments', groups: ['payers'] })
    now += 10
    expect(code(() => handleTgsReq(ctx, tgsReq(old, 'orders'), {}))).toBe(
      'ERR_KDC_PRINCIPAL_UNKNOWN',
    )
    // The new principal logs in with its own key and is served.
    const fresh = login('payments')
    expect(code(() => handleTgsReq(ctx, tgsReq(fresh, 'orders'), {}))).toBe('OK')
  })

  it('refuses an admin ticket issued to the old principal', async () => {
    const oldTgt = login('alice')
    const oldAdmin = kadminTicket(oldTgt)
    expect(await codeAsync(admin('alice', oldAdmin, ['status', []], 1))).toBe('OK')
    now += 10
    // Re-registered by another admin, this time as an admin again (or not): the old holder
    // of the name must not inherit the new record's rights.
    await store.deletePrincipal('alice')
    await store.addPrincipal({ name: 'alice', groups: ['admins'] })
    now += 10
    expect(await codeAsync(admin('alice', oldAdmin, ['status', []], 2))).toBe(
      'ERR_KDC_PRINCIPAL_UNKNOWN',
    )
    const freshAdmin = kadminTicket(login('alice'))
    expect(await codeAsync(admin('alice', freshAdmin, ['status', []], 3))).toBe('OK')
  })

  it('still accepts a TGT issued in the same second the principal was created', async () => {
    await store.addPrincipal({ name: 'newbie', groups: ['payers'] })
    const tgt = login('newbie')
    expect(code(() => handleTgsReq(ctx, tgsReq(tgt, 'orders'), {}))).toBe('OK')
  })
})
