/**
 * A principal name that is deleted and registered again is a NEW principal (new id, new key, maybe
 * other groups). Tickets carry only the name, so a TGT (or an admin ticket) issued to the OLD
 * principal must not act as the new one: the KDC refuses tickets whose authTime predates the
 * caller's current record (ERR_KDC_CLIENT_REVOKED, status CALLER_REISSUED), and a client SDK
 * then logs in again.
 */
import { beforeEach, describe, expect, it } from 'vitest'
import type { WireValue } from '../../../../kdc/protocol/index.js'
import { handleTgsReq } from '../../../../kdc/server/tgs.js'
import { codeOf, codeOfAsync, UnitKdc, type ServiceCredential } from './in-process-kdc.js'

let kdc: UnitKdc

/** An admin request by alice. */
function admin(kadmin: ServiceCredential, request: WireValue, id: number): Promise<void> {
  return kdc.sendAdmin(kdc.adminCall('alice', kadmin, request, id))
}

beforeEach(async () => {
  kdc = await UnitKdc.create({
    principals: [
      { name: 'orders' },
      { name: 'payments', groups: ['payers'] },
      { name: 'alice', groups: ['admins'] },
    ],
    rules: [
      { id: 'payers', caller: 'group:payers', target: 'orders', scopes: ['read'], maxLifetime: 0 },
    ],
  })
})

describe('a name deleted and registered again', () => {
  it('refuses a TGT issued to the old principal', async () => {
    const old = kdc.login('payments')
    expect(codeOf(() => handleTgsReq(kdc.ctx, kdc.tgsReq(old, 'orders'), {}))).toBe('OK')
    kdc.now += 10
    await kdc.store.deletePrincipal('payments')
    await kdc.store.addPrincipal({ name: 'payments', groups: ['payers'] })
    kdc.now += 10
    expect(codeOf(() => handleTgsReq(kdc.ctx, kdc.tgsReq(old, 'orders'), {}))).toBe(
      'ERR_KDC_CLIENT_REVOKED',
    )
    // The new principal logs in with its own key and is served.
    const fresh = kdc.login('payments')
    expect(codeOf(() => handleTgsReq(kdc.ctx, kdc.tgsReq(fresh, 'orders'), {}))).toBe('OK')
  })

  it('refuses an admin ticket issued to the old principal', async () => {
    const oldTgt = kdc.login('alice')
    const oldAdmin = kdc.kadminTicket(oldTgt)
    expect(await codeOfAsync(admin(oldAdmin, ['status', []], 1))).toBe('OK')
    kdc.now += 10
    // Re-registered by another admin, this time as an admin again (or not): the old holder
    // of the name must not inherit the new record's rights.
    await kdc.store.deletePrincipal('alice')
    await kdc.store.addPrincipal({ name: 'alice', groups: ['admins'] })
    kdc.now += 10
    expect(await codeOfAsync(admin(oldAdmin, ['status', []], 2))).toBe('ERR_KDC_CLIENT_REVOKED')
    const freshAdmin = kdc.kadminTicket(kdc.login('alice'))
    expect(await codeOfAsync(admin(freshAdmin, ['status', []], 3))).toBe('OK')
  })

  it('still accepts a TGT issued in the same second the principal was created', async () => {
    await kdc.store.addPrincipal({ name: 'newbie', groups: ['payers'] })
    const tgt = kdc.login('newbie')
    expect(codeOf(() => handleTgsReq(kdc.ctx, kdc.tgsReq(tgt, 'orders'), {}))).toBe('OK')
  })
})
