/**
 * The admin exchange's replay protection must not be flushable. The KDC's authenticator cache is
 * bounded and evicts its oldest entry when full; any registered principal can fill it with its own
 * TGS (or forbidden admin) requests at its rate limit. If admin authenticators lived in that cache, a
 * captured admin write (policy.apply, principal.enable, key.rotate …) could then be replayed inside
 * the skew window and run again. Admin authenticators therefore live in their own cache, which
 * refuses new requests (ERR_KDC_RATE_LIMITED) rather than forget a live entry.
 */
import { beforeEach, describe, expect, it } from 'vitest'
import { handleTgsReq } from '../../../../kdc/server/tgs.js'
import { codeOf, codeOfAsync, UnitKdc } from './in-process-kdc.js'

let kdc: UnitKdc

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
    limits: { replayCacheEntries: 16 },
  })
})

describe('admin replay protection', () => {
  it('survives a flood of TGS requests by another principal', async () => {
    const alice = kdc.kadminTicket(kdc.login('alice'))
    const enable = kdc.adminCall('alice', alice, ['principal.disable', ['orders']], 1)
    expect(await codeOfAsync(kdc.sendAdmin(enable))).toBe('OK')
    expect(await codeOfAsync(kdc.sendAdmin(enable))).toBe('ERR_AP_REPLAY')
    // The attacker (a registered service) fills the authenticator cache with its own requests.
    const tgt = kdc.login('payments')
    await kdc.store.setEnabled('orders', true)
    for (let i = 0; i < 40; i++) {
      expect(codeOf(() => handleTgsReq(kdc.ctx, kdc.tgsReq(tgt, 'orders'), {}))).toBe('OK')
    }
    await kdc.store.setEnabled('orders', true)
    expect(await codeOfAsync(kdc.sendAdmin(enable))).toBe('ERR_AP_REPLAY')
    expect(kdc.store.getPrincipal('orders')!.enabled).toBe(true)
  })

  it('survives a flood of (forbidden) admin requests by a non-admin', async () => {
    const alice = kdc.kadminTicket(kdc.login('alice'))
    const rotate = kdc.adminCall('alice', alice, ['key.rotate', ['orders', 0, 0]], 1)
    expect(await codeOfAsync(kdc.sendAdmin(rotate))).toBe('OK')
    const kvno = kdc.store.getPrincipal('orders')!.keys.at(-1)!.kvno
    const mallory = kdc.kadminTicket(kdc.login('payments'))
    for (let i = 0; i < 40; i++) {
      const code = await codeOfAsync(
        kdc.sendAdmin(kdc.adminCall('payments', mallory, ['status', []], 100 + i)),
      )
      expect(['ERR_ADMIN_FORBIDDEN', 'ERR_KDC_RATE_LIMITED']).toContain(code)
    }
    expect(await codeOfAsync(kdc.sendAdmin(rotate))).toBe('ERR_AP_REPLAY')
    expect(kdc.store.getPrincipal('orders')!.keys.at(-1)!.kvno).toBe(kvno)
  })

  it('refuses new admin requests while the cache is full of live entries, and recovers', async () => {
    const alice = kdc.kadminTicket(kdc.login('alice'))
    for (let i = 1; i <= 16; i++) {
      expect(
        await codeOfAsync(kdc.sendAdmin(kdc.adminCall('alice', alice, ['status', []], i))),
      ).toBe('OK')
    }
    expect(
      await codeOfAsync(kdc.sendAdmin(kdc.adminCall('alice', alice, ['status', []], 17))),
    ).toBe('ERR_KDC_RATE_LIMITED')
    kdc.now += 2 * 300 + 1
    const fresh = kdc.kadminTicket(kdc.login('alice'))
    expect(
      await codeOfAsync(kdc.sendAdmin(kdc.adminCall('alice', fresh, ['status', []], 18))),
    ).toBe('OK')
  })

  it('a restarted KDC refuses an admin request made before it started (its replay cache is new)', async () => {
    const alice = kdc.kadminTicket(kdc.login('alice'))
    const disable = kdc.adminCall('alice', alice, ['principal.disable', ['orders']], 1)
    expect(await codeOfAsync(kdc.sendAdmin(disable))).toBe('OK')
    await kdc.store.setEnabled('orders', true) // the operator changed their mind
    kdc.now += 5
    kdc.restart()
    // Inside the skew window the captured disable is fresh enough, and the new process has never
    // seen it: without the start-time rule it would run again.
    expect(await codeOfAsync(kdc.sendAdmin(disable))).toBe('ERR_AP_REPLAY')
    expect(kdc.store.getPrincipal('orders')!.enabled).toBe(true)
    // A request made after the start is served.
    const again = kdc.adminCall('alice', alice, ['status', []], 2)
    expect(await codeOfAsync(kdc.sendAdmin(again))).toBe('OK')
  })
})
