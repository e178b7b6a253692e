/**
 * Adversarial authorization review of the KDC (design brief §3, §4, §6): can a caller obtain a
 * ticket, scope, lifetime or admin action that policy or the ACL forbids? Each test asserts the
 * precise outcome. Tests marked `found in review` exposed a defect, now fixed: a name deleted and
 * re-added within one second let the old principal's TGT and kadmin tickets act as the new record
 * (TGTs and kadmin tickets now carry the principal's id in kdcCheck, docs/protocol.md §5.2.1).
 */
import { beforeEach, describe, expect, it } from 'vitest'
import {
  buildAdminRequest,
  deriveKey,
  encodeFrame,
  isBrokerError,
  LABELS,
  MAX_UINT32,
  MSG,
  OBJ,
  openAdminPayload,
  openTgsRepPart,
  fromHex,
  openTicket,
  parseAdminReply,
  parseFrame,
  sealAuthenticator,
  sealTicket,
  tgsRequestHash,
  TICKET_FLAGS,
  type AdminRequest,
  type EncTicketPart,
  type KeyVersion,
  type PolicyRule,
  type TgsRepPart,
  type TgsReq,
  type Ticket,
  type WireValue,
} from '../../../../kdc/protocol/index.js'
import { adminDeps, handleAdminReq } from '../../../../kdc/server/admin-exchange.js'
import { ticketSubkey } from '../../../../kdc/server/context.js'
import { handleTgsReq } from '../../../../kdc/server/tgs.js'
import {
  codeOf,
  codeOfAsync,
  REALM,
  T0,
  UnitKdc,
  type ServiceCredential,
  type Tgt,
} from './in-process-kdc.js'

let kdc: UnitKdc

const RULES: readonly PolicyRule[] = [
  {
    id: 'alice-orders',
    caller: 'alice',
    target: 'orders',
    scopes: ['orders:read', 'orders:write'],
    maxLifetime: 0,
  },
  { id: 'payers', caller: 'group:payers', target: 'orders', scopes: ['pay'], maxLifetime: 300 },
  { id: 'to-backend', caller: 'bob', target: 'group:backend', scopes: ['b'], maxLifetime: 0 },
]

beforeEach(async () => {
  kdc = await UnitKdc.create({
    principals: [
      { name: 'orders', groups: ['backend'] },
      { name: 'billing', groups: ['backend', 'payers'] },
      { name: 'alice' },
      { name: 'bob', groups: ['payers'] },
      { name: 'carol' },
      { name: 'root', groups: ['admins'] },
      { name: 'root2', groups: ['admins'] },
      { name: 'auditor', groups: ['admin-readers'] },
    ],
    rules: RULES,
  })
})

interface TgsOpts {
  readonly scopes?: readonly string[]
  readonly lifetime?: number
}

/** A TGS-REQ from any ticket + session key (the caller need not hold a real TGT). */
function tgsReqFrom(
  ticket: Ticket,
  sessionKey: Uint8Array,
  client: string,
  target: string,
  o: TgsOpts = {},
): TgsReq {
  const n = crypto.getRandomValues(new Uint8Array(16))
  const scopes = o.scopes ?? []
  const lifetime = o.lifetime ?? 0
  return {
    tgt: ticket,
    authenticator: sealAuthenticator(
      deriveKey(sessionKey, LABELS.authenticator),
      { realm: REALM, client, service: 'krbtgt', msgType: MSG.TGS_REQ },
      {
        ctime: kdc.now,
        counter: 1,
        requestHash: tgsRequestHash(target, scopes, lifetime, n),
      },
    ),
    target,
    scopes,
    lifetime,
    nonce: n,
  }
}

interface Issued {
  readonly rep: TgsRepPart
  /** The service ticket as the target opens it. */
  readonly ticket: EncTicketPart
  readonly raw: Ticket
}

function tgs(tgt: Tgt, target: string, o: TgsOpts = {}): Issued {
  const rep = handleTgsReq(
    kdc.ctx,
    tgsReqFrom(tgt.ticket, tgt.sessionKey, tgt.client, target, o),
    {},
  )
  const part = openTgsRepPart(
    deriveKey(tgt.sessionKey, LABELS.tgsRep),
    { realm: REALM, client: tgt.client, target },
    rep.encPart,
  )
  const ticket = openTicket(rep.ticket, ticketSubkey(kdc.key(target)))
  return { rep: part, ticket, raw: rep.ticket }
}

function tgsCode(tgt: Tgt, target: string, o: TgsOpts = {}): string {
  return codeOf(() =>
    handleTgsReq(kdc.ctx, tgsReqFrom(tgt.ticket, tgt.sessionKey, tgt.client, target, o), {}),
  )
}

/** The status tag of the BrokerError `fn` throws ('OK' if none). */
function statusOf(fn: () => unknown): string | undefined {
  try {
    fn()
    return 'OK'
  } catch (err) {
    if (isBrokerError(err)) return err.status
    throw err
  }
}

let frameId = 1

/** Run an admin request; returns the reply plaintext or throws the BrokerError. */
async function admin(
  client: string,
  kadmin: ServiceCredential,
  request: AdminRequest | WireValue[],
): Promise<WireValue> {
  // A raw wire array skips the client-side schema check, so the KDC's own checks are exercised.
  const wire = Array.isArray(request) ? request : buildAdminRequest(request)
  const call = kdc.adminCall(client, kadmin, wire, frameId++)
  const rep = await handleAdminReq(kdc.ctx, adminDeps(kdc.ctx), call.id, call.body, {})
  return openAdminPayload(
    deriveKey(kadmin.sessionKey, LABELS.admin),
    OBJ.ADMIN_REP_ENC,
    { realm: REALM, client, id: call.id },
    rep.payload,
  )
}

function adminCode(
  client: string,
  kadmin: ServiceCredential,
  request: AdminRequest | WireValue[],
): Promise<string> {
  return codeOfAsync(admin(client, kadmin, request))
}

/** Re-seal a ticket part under `key` with the given header, as a key holder could. */
function forge(key: KeyVersion, service: string, part: EncTicketPart): Ticket {
  return sealTicket(ticketSubkey(key), { realm: REALM, service, kvno: key.kvno }, part)
}

describe('ticket-type confusion at the TGS and the admin exchange', () => {
  it('refuses a service ticket presented as a TGT (WRONG_SERVICE)', () => {
    const alice = kdc.login('alice')
    const svc = tgs(alice, 'orders')
    const req = () =>
      handleTgsReq(kdc.ctx, tgsReqFrom(svc.raw, svc.rep.sessionKey, 'alice', 'orders'), {})
    expect(codeOf(req)).toBe('ERR_AP_NOT_US')
    expect(statusOf(req)).toBe('WRONG_SERVICE')
  })

  it('refuses a kadmin service ticket at the TGS and a TGT at the admin exchange', async () => {
    const tgt = kdc.login('root')
    const kadmin = kdc.kadminTicket(tgt)
    const req = () =>
      handleTgsReq(kdc.ctx, tgsReqFrom(kadmin.ticket, kadmin.sessionKey, 'root', 'orders'), {})
    expect(codeOf(req)).toBe('ERR_AP_NOT_US')
    // A TGT as the admin ticket.
    const asAdmin: ServiceCredential = { ticket: tgt.ticket, sessionKey: tgt.sessionKey }
    expect(await adminCode('root', asAdmin, { op: 'status' })).toBe('ERR_AP_NOT_US')
  })

  it('refuses a service-key-sealed ticket re-flagged INITIAL and relabelled krbtgt (Bronze Bit)', () => {
    const alice = kdc.login('alice')
    const svc = tgs(alice, 'orders')
    const ordersKey = kdc.key('orders')
    // orders opens its own ticket, sets INITIAL and re-seals under its key.
    const evil: EncTicketPart = { ...svc.ticket, flags: TICKET_FLAGS.INITIAL, client: 'root' }
    // Presented with header service=krbtgt: the KDC opens it with ITS key and fails.
    const asTgt = forge(ordersKey, 'krbtgt', evil)
    expect(
      codeOf(() =>
        handleTgsReq(kdc.ctx, tgsReqFrom(asTgt, svc.rep.sessionKey, 'root', 'orders'), {}),
      ),
    ).toBe('ERR_AP_BAD_INTEGRITY')
    // Presented with header service=orders: refused before any key is tried.
    const asOrders = forge(ordersKey, 'orders', evil)
    expect(
      codeOf(() =>
        handleTgsReq(kdc.ctx, tgsReqFrom(asOrders, svc.rep.sessionKey, 'root', 'orders'), {}),
      ),
    ).toBe('ERR_AP_NOT_US')
  })

  it('refuses a service-key-sealed ticket relabelled kadmin (admin impersonation)', async () => {
    const alice = kdc.login('alice')
    const svc = tgs(alice, 'orders')
    const evil: EncTicketPart = { ...svc.ticket, client: 'root' }
    const cred: ServiceCredential = {
      ticket: forge(kdc.key('orders'), 'kadmin', evil),
      sessionKey: svc.rep.sessionKey,
    }
    expect(
      await adminCode('root', cred, { op: 'principal.add', name: 'mallory', groups: ['admins'] }),
    ).toBe('ERR_AP_BAD_INTEGRITY')
    expect(kdc.store.getPrincipal('mallory')).toBeUndefined()
  })

  it('issues service tickets without INITIAL and with an empty kdcCheck', () => {
    const svc = tgs(kdc.login('alice'), 'orders')
    expect(svc.ticket.flags).toBe(0)
    expect(svc.rep.flags).toBe(0)
    expect(svc.ticket.kdcCheck.length).toBe(0)
  })

  it('refuses unknown ticket flags even under the krbtgt key', () => {
    const alice = kdc.login('alice')
    const part = openTicket(alice.ticket, ticketSubkey(kdc.key('krbtgt')))
    const odd = forge(kdc.key('krbtgt'), 'krbtgt', { ...part, flags: part.flags | 0x80 })
    const req = () =>
      handleTgsReq(kdc.ctx, tgsReqFrom(odd, alice.sessionKey, 'alice', 'orders'), {})
    expect(statusOf(req)).toBe('UNKNOWN_TICKET_FLAGS')
  })
})

describe('kdcCheck binds the KDC-only tickets to the principal record (§5.2.1)', () => {
  it('a TGT and a kadmin ticket carry the caller id; a service ticket carries nothing', () => {
    const root = kdc.login('root')
    const id = fromHex(kdc.store.getPrincipal('root')!.id)
    expect(openTicket(root.ticket, ticketSubkey(kdc.key('krbtgt'))).kdcCheck).toEqual(id)
    const kadmin = kdc.kadminTicket(root)
    expect(openTicket(kadmin.ticket, ticketSubkey(kdc.key('kadmin'))).kdcCheck).toEqual(id)
    const alice = kdc.login('alice')
    expect(tgs(alice, 'orders').ticket.kdcCheck.length).toBe(0)
  })

  it('refuses a TGT without the id, or with another record id (CALLER_REISSUED)', () => {
    const alice = kdc.login('alice')
    const part = openTicket(alice.ticket, ticketSubkey(kdc.key('krbtgt')))
    const other = fromHex(kdc.store.getPrincipal('root')!.id)
    for (const kdcCheck of [new Uint8Array(0), other, part.kdcCheck.subarray(0, 15)]) {
      const t = forge(kdc.key('krbtgt'), 'krbtgt', { ...part, kdcCheck })
      const req = () =>
        handleTgsReq(kdc.ctx, tgsReqFrom(t, alice.sessionKey, 'alice', 'orders'), {})
      expect(codeOf(req)).toBe('ERR_KDC_CLIENT_REVOKED')
      expect(statusOf(req)).toBe('CALLER_REISSUED')
    }
  })
})

describe('policy at the TGS', () => {
  it('denies by default and is directional', () => {
    expect(tgsCode(kdc.login('carol'), 'orders')).toBe('ERR_KDC_POLICY')
    // alice -> orders is allowed; orders -> alice is not.
    expect(tgsCode(kdc.login('orders'), 'alice')).toBe('ERR_KDC_POLICY')
  })

  it('treats empty scopes as "everything granted", sorted, and a subset exactly', () => {
    const alice = kdc.login('alice')
    expect(tgs(alice, 'orders').ticket.scopes).toEqual(['orders:read', 'orders:write'])
    const narrow = tgs(alice, 'orders', { scopes: ['orders:read'] })
    expect(narrow.ticket.scopes).toEqual(['orders:read'])
    expect(narrow.rep.scopes).toEqual(['orders:read'])
  })

  it('refuses scopes not granted: other, prefix, wildcard, case variant, extension', () => {
    const alice = kdc.login('alice')
    for (const s of ['pay', 'orders:rea', 'orders:*', 'Orders:read', 'orders:read:all', 'orders']) {
      expect(tgsCode(alice, 'orders', { scopes: [s] })).toBe('ERR_KDC_POLICY')
    }
    // One ungranted scope among granted ones refuses the whole request.
    expect(tgsCode(alice, 'orders', { scopes: ['orders:read', 'orders:zzz'] })).toBe(
      'ERR_KDC_POLICY',
    )
  })

  it('refuses unsorted or duplicate scope lists on the wire', () => {
    const alice = kdc.login('alice')
    for (const scopes of [
      ['orders:write', 'orders:read'],
      ['orders:read', 'orders:read'],
    ]) {
      const req = tgsReqFrom(alice.ticket, alice.sessionKey, 'alice', 'orders')
      const bytes = encodeFrame({ type: MSG.TGS_REQ, id: 1, body: { ...req, scopes } })
      expect(codeOf(() => parseFrame(bytes))).toBe('ERR_PROTO_MALFORMED')
    }
  })

  it('re-reads group membership: removal from a group stops the grant at once', async () => {
    const bob = kdc.login('bob')
    // 'b' from bob -> group:backend (orders is in backend), 'pay' from group:payers -> orders.
    expect(tgs(bob, 'orders').ticket.scopes).toEqual(['b', 'pay'])
    await kdc.store.setGroups('bob', [])
    expect(tgs(bob, 'orders').ticket.scopes).toEqual(['b'])
    expect(tgsCode(bob, 'orders', { scopes: ['pay'] })).toBe('ERR_KDC_POLICY')
    await kdc.store.setGroups('orders', [])
    expect(tgsCode(bob, 'orders')).toBe('ERR_KDC_POLICY')
    // And a group granted after login applies at once too (re-read, not a snapshot).
    const carol = kdc.login('carol')
    await kdc.store.setGroups('carol', ['payers'])
    expect(tgs(carol, 'orders').ticket.scopes).toEqual(['pay'])
  })

  it('matches a target-group rule only on the target side', () => {
    // bob -> group:backend: billing and orders are targets; a backend member as CALLER gets nothing.
    const bob = kdc.login('bob')
    expect(tgs(bob, 'billing').ticket.scopes).toEqual(['b'])
    // billing is in backend AND payers: as caller it gets 'pay' on orders, never 'b'.
    const billing = kdc.login('billing')
    expect(tgs(billing, 'orders').ticket.scopes).toEqual(['pay'])
    expect(tgsCode(billing, 'orders', { scopes: ['b'] })).toBe('ERR_KDC_POLICY')
    expect(tgsCode(billing, 'bob')).toBe('ERR_KDC_POLICY')
  })

  it('needs a rule for self-targeting', () => {
    expect(tgsCode(kdc.login('alice'), 'alice')).toBe('ERR_KDC_POLICY')
    expect(tgsCode(kdc.login('orders'), 'orders')).toBe('ERR_KDC_POLICY')
  })

  it('never issues krbtgt, and kadmin only without scopes', () => {
    const alice = kdc.login('alice')
    expect(tgsCode(alice, 'krbtgt')).toBe('ERR_KDC_POLICY')
    expect(tgsCode(alice, 'kadmin', { scopes: ['orders:read'] })).toBe('ERR_KDC_POLICY')
    const k = tgs(alice, 'kadmin')
    expect(k.ticket.scopes).toEqual([])
    expect(k.ticket.flags).toBe(0)
  })

  it('compares names exactly (no case folding)', () => {
    const alice = kdc.login('alice')
    expect(tgsCode(alice, 'Orders')).toBe('ERR_KDC_PRINCIPAL_UNKNOWN')
    expect(tgsCode(alice, 'KRBTGT')).toBe('ERR_KDC_PRINCIPAL_UNKNOWN')
  })

  it('refuses a disabled target, a disabled caller and a deleted caller', async () => {
    const alice = kdc.login('alice')
    await kdc.store.setEnabled('orders', false)
    expect(tgsCode(alice, 'orders')).toBe('ERR_KDC_PRINCIPAL_DISABLED')
    await kdc.store.setEnabled('orders', true)
    await kdc.store.setEnabled('alice', false)
    expect(tgsCode(alice, 'orders')).toBe('ERR_KDC_PRINCIPAL_DISABLED')
    expect(tgsCode(alice, 'kadmin')).toBe('ERR_KDC_PRINCIPAL_DISABLED')
    await kdc.store.setEnabled('alice', true)
    await kdc.store.deletePrincipal('alice')
    expect(tgsCode(alice, 'orders')).toBe('ERR_KDC_CLIENT_REVOKED')
  })

  it('seals for a re-added target with its NEW key only', async () => {
    const alice = kdc.login('alice')
    const oldKey = kdc.key('orders')
    kdc.now += 5
    await kdc.store.deletePrincipal('orders')
    await kdc.store.addPrincipal({ name: 'orders' })
    const issued = tgs(alice, 'orders')
    expect(codeOf(() => openTicket(issued.raw, ticketSubkey(oldKey)))).toBe('ERR_AP_BAD_INTEGRITY')
  })

  it('refuses a TGT issued to a principal deleted and re-added in a LATER second', async () => {
    const bob = kdc.login('bob')
    kdc.now += 1
    await kdc.store.deletePrincipal('bob')
    await kdc.store.addPrincipal({ name: 'bob', groups: ['payers'] })
    expect(tgsCode(bob, 'orders')).toBe('ERR_KDC_CLIENT_REVOKED')
  })

  it('found in review: refuses a TGT of the OLD principal when the name is deleted and re-added in the same second', async () => {
    // The attacker holds bob's (compromised) key and logs in; in the same second the admin
    // replaces bob (delete + add, e.g. a scripted re-key). The old TGT must not act as the new bob.
    const stolen = kdc.login('bob')
    await kdc.store.deletePrincipal('bob')
    await kdc.store.addPrincipal({ name: 'bob', groups: ['payers'] })
    kdc.now += 60 // an hour-long TGT keeps working long after the replacement
    expect(tgsCode(stolen, 'orders')).toBe('ERR_KDC_CLIENT_REVOKED')
  })

  it('found in review: same-second re-registration does not hand the OLD holder the NEW record rights (admin)', async () => {
    // carol (not an admin) logs in; in the same second the name is deleted and given to a new
    // principal in `admins`. The old holder's TGT must not yield an admin ticket that works.
    const oldCarol = kdc.login('carol')
    await kdc.store.deletePrincipal('carol')
    await kdc.store.addPrincipal({ name: 'carol', groups: ['admins'] })
    kdc.now += 30
    const code = await codeOfAsync(
      (async () => {
        const k = kdc.kadminTicket(oldCarol)
        await admin('carol', k, { op: 'principal.add', name: 'mallory', groups: ['admins'] })
      })(),
    )
    expect(code).toBe('ERR_KDC_CLIENT_REVOKED')
    expect(kdc.store.getPrincipal('mallory')).toBeUndefined()
  })

  it('stamps the current policy version into the ticket and the reply', async () => {
    const alice = kdc.login('alice')
    const v1 = kdc.store.getPolicy().version
    expect(tgs(alice, 'orders').ticket.policyVersion).toBe(v1)
    await kdc.store.setPolicy([...RULES, { ...RULES[0]!, id: 'extra', scopes: ['x'] }])
    const v2 = kdc.store.getPolicy().version
    expect(v2).toBeGreaterThan(v1)
    const t = tgs(alice, 'orders')
    expect(t.ticket.policyVersion).toBe(v2)
    expect(t.rep.policyVersion).toBe(v2)
    expect(t.ticket.scopes).toEqual(['orders:read', 'orders:write', 'x'])
    expect(tgs(alice, 'kadmin').ticket.policyVersion).toBe(v2)
  })
})

describe('lifetimes at the TGS', () => {
  it('uses the default for 0, clamps huge requests to the realm max, refuses too short', () => {
    const alice = kdc.login('alice', { lifetime: 86_400 })
    expect(tgs(alice, 'orders').ticket.endTime).toBe(T0 + 900)
    expect(tgs(alice, 'orders', { lifetime: MAX_UINT32 }).ticket.endTime).toBe(T0 + 86_400)
    expect(tgsCode(alice, 'orders', { lifetime: 59 })).toBe('ERR_KDC_BAD_LIFETIME')
    expect(tgsCode(alice, 'orders', { lifetime: 1 })).toBe('ERR_KDC_BAD_LIFETIME')
  })

  it('applies the rule cap, also to an empty (= all granted) request', () => {
    const bob = kdc.login('bob', { lifetime: 86_400 })
    expect(tgs(bob, 'orders', { lifetime: 86_400 }).ticket.endTime).toBe(T0 + 300)
    expect(tgs(bob, 'orders', { lifetime: 86_400, scopes: ['pay'] }).ticket.endTime).toBe(T0 + 300)
  })

  it('never outlives the TGT, kadmin tickets included', () => {
    const alice = kdc.login('alice', { lifetime: 600 })
    kdc.now += 500
    const t = tgs(alice, 'orders', { lifetime: 86_400 })
    expect(t.ticket.endTime).toBe(T0 + 600)
    expect(t.rep.endTime).toBe(T0 + 600)
    expect(tgs(alice, 'kadmin', { lifetime: 86_400 }).ticket.endTime).toBe(T0 + 600)
    kdc.now = T0 + 600
    expect(tgsCode(alice, 'orders')).toBe('ERR_AP_TKT_EXPIRED')
  })

  it('caps the TGT itself at the realm maximum', async () => {
    kdc = await UnitKdc.create({
      principals: [{ name: 'orders' }, { name: 'alice' }],
      rules: RULES,
      limits: { maxTicketLifetimeS: 600 },
    })
    const alice = kdc.login('alice', { lifetime: MAX_UINT32 })
    expect(openTicket(alice.ticket, ticketSubkey(kdc.key('krbtgt'))).endTime).toBe(T0 + 600)
    expect(tgs(alice, 'orders', { lifetime: MAX_UINT32 }).ticket.endTime).toBe(T0 + 600)
  })
})

describe('admin ACL', () => {
  it('forbids every op to a non-admin, and nothing changes', async () => {
    const k = kdc.kadminTicket(kdc.login('carol'))
    const version = kdc.store.getPolicy().version
    const ops: AdminRequest[] = [
      { op: 'principal.add', name: 'mallory', groups: ['admins'] },
      { op: 'principal.disable', name: 'root' },
      { op: 'policy.apply', rules: [] },
      { op: 'keytab.export', name: 'orders' },
      { op: 'status' },
      { op: 'policy.show' },
    ]
    for (const op of ops) expect(await adminCode('carol', k, op)).toBe('ERR_ADMIN_FORBIDDEN')
    expect(kdc.store.getPrincipal('mallory')).toBeUndefined()
    expect(kdc.store.getPrincipal('root')!.enabled).toBe(true)
    expect(kdc.store.getPolicy().version).toBe(version)
  })

  it('lets an admin-reader read but not write', async () => {
    const k = kdc.kadminTicket(kdc.login('auditor'))
    const version = kdc.store.getPolicy().version
    const kvno = kdc.key('orders').kvno
    const writes: AdminRequest[] = [
      { op: 'principal.add', name: 'mallory', groups: ['admins'] },
      { op: 'principal.disable', name: 'orders' },
      { op: 'principal.enable', name: 'orders' },
      { op: 'principal.delete', name: 'orders' },
      { op: 'keytab.export', name: 'orders' },
      { op: 'key.rotate', name: 'orders', withKeys: true, keep: 0 },
      { op: 'policy.apply', rules: [] },
    ]
    for (const op of writes) expect(await adminCode('auditor', k, op)).toBe('ERR_ADMIN_FORBIDDEN')
    expect(kdc.store.getPrincipal('mallory')).toBeUndefined()
    expect(kdc.store.getPrincipal('orders')!.enabled).toBe(true)
    expect(kdc.key('orders').kvno).toBe(kvno)
    expect(kdc.store.getPolicy().version).toBe(version)
    const shown = parseAdminReply('policy.show', await admin('auditor', k, { op: 'policy.show' }))
    expect(shown.version).toBe(version)
    expect(await adminCode('auditor', k, { op: 'status' })).toBe('OK')
  })

  it('re-reads the ACL: an admin removed from admins loses its live kadmin ticket', async () => {
    const k = kdc.kadminTicket(kdc.login('root'))
    expect(await adminCode('root', k, { op: 'status' })).toBe('OK')
    await kdc.store.setGroups('root', ['admin-readers'])
    expect(await adminCode('root', k, { op: 'principal.add', name: 'mallory', groups: [] })).toBe(
      'ERR_ADMIN_FORBIDDEN',
    )
    expect(kdc.store.getPrincipal('mallory')).toBeUndefined()
    await kdc.store.setGroups('root', [])
    expect(await adminCode('root', k, { op: 'status' })).toBe('ERR_ADMIN_FORBIDDEN')
    await kdc.store.setGroups('root', ['admins'])
    await kdc.store.setEnabled('root', false)
    expect(await adminCode('root', k, { op: 'status' })).toBe('ERR_KDC_PRINCIPAL_DISABLED')
  })

  it('refuses an admin ticket of a principal deleted and re-added later', async () => {
    const k = kdc.kadminTicket(kdc.login('root'))
    kdc.now += 1
    await kdc.store.deletePrincipal('root')
    await kdc.store.addPrincipal({ name: 'root', groups: ['admins'] })
    expect(await adminCode('root', k, { op: 'status' })).toBe('ERR_KDC_CLIENT_REVOKED')
  })

  it('refuses self-disable/delete and keeps the KDC keys in the KDC', async () => {
    const k = kdc.kadminTicket(kdc.login('root'))
    expect(await adminCode('root', k, { op: 'principal.disable', name: 'root' })).toBe(
      'ERR_ADMIN_INVALID',
    )
    expect(await adminCode('root', k, { op: 'principal.delete', name: 'root' })).toBe(
      'ERR_ADMIN_INVALID',
    )
    for (const name of ['krbtgt', 'kadmin']) {
      const before = kdc.key(name).kvno
      expect(await adminCode('root', k, { op: 'keytab.export', name })).toBe('ERR_ADMIN_INVALID')
      expect(await adminCode('root', k, { op: 'key.rotate', name, withKeys: true, keep: 0 })).toBe(
        'ERR_ADMIN_INVALID',
      )
      expect(kdc.key(name).kvno).toBe(before)
      for (const op of ['principal.delete', 'principal.disable']) {
        expect(await adminCode('root', k, [op, [name]])).toBe('ERR_ADMIN_INVALID')
      }
      expect(await adminCode('root', k, ['principal.add', [name, ['admins']]])).toBe(
        'ERR_ADMIN_INVALID',
      )
      expect(kdc.store.getPrincipal(name)!.enabled).toBe(true)
      expect(kdc.store.getPrincipal(name)!.groups).toEqual([])
    }
    expect(kdc.store.getPrincipal('root')!.enabled).toBe(true)
    // Another admin may act on root.
    const k2 = kdc.kadminTicket(kdc.login('root2'))
    expect(await adminCode('root2', k2, { op: 'principal.disable', name: 'root' })).toBe('OK')
    expect(kdc.store.getPrincipal('root')!.enabled).toBe(false)
  })

  it('policy.check agrees with issuance on scopes and caps', async () => {
    const k = kdc.kadminTicket(kdc.login('root'))
    const r = parseAdminReply(
      'policy.check',
      await admin('root', k, { op: 'policy.check', caller: 'bob', target: 'orders', scopes: [] }),
    )
    expect(r.allowed).toBe(true)
    expect(r.grantedScopes).toEqual(['b', 'pay'])
    // 'b' is uncapped, 'pay' capped at 300: the ticket carrying both is capped at 300.
    expect(r.maxLifetime).toBe(300)
    const bobTgt = kdc.login('bob', { lifetime: 86_400 })
    expect(tgs(bobTgt, 'orders', { lifetime: 86_400 }).ticket.endTime).toBe(T0 + 300)
    // Asking only for the uncapped scope drops the cap (documented: per-scope justification).
    expect(tgs(bobTgt, 'orders', { lifetime: 86_400, scopes: ['b'] }).ticket.endTime).toBe(
      T0 + 86_400,
    )
    const denied = parseAdminReply(
      'policy.check',
      await admin('root', k, {
        op: 'policy.check',
        caller: 'bob',
        target: 'orders',
        scopes: ['orders:read'],
      }),
    )
    expect(denied.allowed).toBe(false)
    expect(tgsCode(kdc.login('bob'), 'orders', { scopes: ['orders:read'] })).toBe('ERR_KDC_POLICY')
  })
})

describe('policy.check (dry run) agrees with issuance for the reserved targets', () => {
  it('reports a kadmin target as allowed without a rule, as the TGS issues it (the ACL applies later)', async () => {
    const k = kdc.kadminTicket(kdc.login('root'))
    const r = parseAdminReply(
      'policy.check',
      await admin('root', k, { op: 'policy.check', caller: 'carol', target: 'kadmin', scopes: [] }),
    )
    expect(r).toMatchObject({ allowed: true, ruleIds: [], grantedScopes: [], reason: '' })
    expect(tgsCode(kdc.login('carol'), 'kadmin')).toBe('OK')
  })

  it('reports krbtgt as denied with no deciding rule, even if a rule names it, as the TGS refuses it', async () => {
    // A rule naming krbtgt can only come from an older store (policy.apply refuses it, below).
    await kdc.store.setPolicy([
      ...RULES,
      { id: 'tgt', caller: 'carol', target: 'krbtgt', scopes: [], maxLifetime: 0 },
    ])
    const k = kdc.kadminTicket(kdc.login('root'))
    const r = parseAdminReply(
      'policy.check',
      await admin('root', k, { op: 'policy.check', caller: 'carol', target: 'krbtgt', scopes: [] }),
    )
    expect(r).toMatchObject({ allowed: false, ruleIds: [], reason: 'NO_RULE' })
    expect(tgsCode(kdc.login('carol'), 'krbtgt')).toBe('ERR_KDC_POLICY')
  })

  it.each(['krbtgt', 'kadmin'])(
    'policy.apply refuses a rule whose target is %s',
    async (target) => {
      const k = kdc.kadminTicket(kdc.login('root'))
      const before = kdc.store.getPolicy().version
      const rules = [...RULES, { id: 'r', caller: 'carol', target, scopes: [], maxLifetime: 0 }]
      let code = 'OK'
      try {
        await admin('root', k, { op: 'policy.apply', rules })
      } catch (err) {
        code = isBrokerError(err) ? `${err.code}/${err.status ?? ''}` : String(err)
      }
      expect(code).toBe('ERR_ADMIN_INVALID/RESERVED_TARGET')
      expect(kdc.store.getPolicy().version).toBe(before)
    },
  )
})
