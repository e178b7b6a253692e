/**
 * The KDC's replay caches must remember a pre-auth or an authenticator for as long as the skew
 * check can still accept its timestamp. A timestamp `now + skew` (accepted at `now`) stays inside
 * the skew window until `now + 2·skew` INCLUSIVE (the window is closed: |ctime − now| ≤ skew), so
 * the entry must still be there at that second; otherwise the identical request replays once.
 */
import { beforeEach, describe, expect, it } from 'vitest'
import { handleAsReq } from '../../../../kdc/server/as.js'
import { handleTgsReq } from '../../../../kdc/server/tgs.js'
import { codeOf, UnitKdc } from './in-process-kdc.js'

const SKEW = 300
let kdc: UnitKdc

beforeEach(async () => {
  kdc = await UnitKdc.create({
    principals: [{ name: 'payments' }, { name: 'orders' }],
    rules: [{ id: 'p-o', caller: 'payments', target: 'orders', scopes: ['read'], maxLifetime: 0 }],
  })
})

describe('replay caches at the far edge of the skew window', () => {
  it('AS: a pre-auth stamped now + skew cannot be replayed at now + 2·skew', () => {
    const t0 = kdc.now
    const req = kdc.asReq('payments', { ctime: t0 + SKEW })
    expect(codeOf(() => handleAsReq(kdc.ctx, req, {}))).toBe('OK')
    kdc.now = t0 + 2 * SKEW - 1
    expect(codeOf(() => handleAsReq(kdc.ctx, req, {}))).toBe('ERR_AP_REPLAY')
    kdc.now = t0 + 2 * SKEW
    expect(codeOf(() => handleAsReq(kdc.ctx, req, {}))).toBe('ERR_AP_REPLAY')
    kdc.now = t0 + 2 * SKEW + 1
    expect(codeOf(() => handleAsReq(kdc.ctx, req, {}))).toBe('ERR_AP_SKEW')
  })

  it('TGS: an authenticator stamped now + skew cannot be replayed at now + 2·skew', () => {
    const t0 = kdc.now
    const tgt = kdc.login('payments', { lifetime: 7200 })
    const req = kdc.tgsReq(tgt, 'orders', { ctime: t0 + SKEW })
    expect(codeOf(() => handleTgsReq(kdc.ctx, req, {}))).toBe('OK')
    kdc.now = t0 + 2 * SKEW
    expect(codeOf(() => handleTgsReq(kdc.ctx, req, {}))).toBe('ERR_AP_REPLAY')
    kdc.now = t0 + 2 * SKEW + 1
    expect(codeOf(() => handleTgsReq(kdc.ctx, req, {}))).toBe('ERR_AP_SKEW')
  })
})
