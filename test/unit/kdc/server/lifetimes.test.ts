import { describe, expect, it } from 'vitest'
import { isBrokerError } from '../../../../kdc/protocol/index.js'
import { computeTicketTimes } from '../../../../kdc/server/lifetimes.js'

const NOW = 1_700_000_000
const caps = { defaultS: 900, realmMaxS: 86_400 }

function codeOf(fn: () => unknown): string {
  try {
    fn()
    return 'OK'
  } catch (err) {
    if (isBrokerError(err)) return `${err.code}/${err.kind}`
    throw err
  }
}

describe('computeTicketTimes', () => {
  it('uses the default for a request of 0', () => {
    expect(computeTicketTimes(0, NOW, caps)).toEqual({ startTime: NOW, endTime: NOW + 900 })
  })
  it('honours a request below every cap', () => {
    expect(computeTicketTimes(300, NOW, caps).endTime).toBe(NOW + 300)
  })
  it('caps at the realm maximum', () => {
    expect(computeTicketTimes(200_000, NOW, caps).endTime).toBe(NOW + 86_400)
  })
  it('caps at the rule maximum when it is set, and ignores a rule cap of 0', () => {
    expect(computeTicketTimes(0, NOW, { ...caps, ruleMaxS: 120 }).endTime).toBe(NOW + 120)
    expect(computeTicketTimes(0, NOW, { ...caps, ruleMaxS: 0 }).endTime).toBe(NOW + 900)
  })
  it('never passes notAfter (the TGT end)', () => {
    expect(computeTicketTimes(0, NOW, { ...caps, notAfter: NOW + 300 }).endTime).toBe(NOW + 300)
    expect(computeTicketTimes(0, NOW, { ...caps, notAfter: NOW + 60 }).endTime).toBe(NOW + 60)
  })
  it('refuses with ERR_AP_TKT_EXPIRED when the TGT end leaves less than the minimum', () => {
    for (const left of [59, 30, 1]) {
      expect(codeOf(() => computeTicketTimes(0, NOW, { ...caps, notAfter: NOW + left }))).toBe(
        'ERR_AP_TKT_EXPIRED/ap',
      )
    }
  })
  it('a notAfter beyond the capped lifetime does not bind', () => {
    expect(computeTicketTimes(0, NOW, { ...caps, ruleMaxS: 60, notAfter: NOW + 61 }).endTime).toBe(
      NOW + 60,
    )
  })
  it('refuses a rule cap below the minimum with ERR_KDC_POLICY instead of raising it', () => {
    expect(computeTicketTimes(0, NOW, { ...caps, ruleMaxS: 60 }).endTime).toBe(NOW + 60)
    for (const ruleMaxS of [59, 5, 1]) {
      expect(codeOf(() => computeTicketTimes(0, NOW, { ...caps, ruleMaxS }))).toBe(
        'ERR_KDC_POLICY/kdc',
      )
    }
  })
  it('accepts exactly the minimum and refuses minimum - 1 with ERR_KDC_BAD_LIFETIME', () => {
    expect(computeTicketTimes(60, NOW, caps).endTime).toBe(NOW + 60)
    expect(codeOf(() => computeTicketTimes(59, NOW, caps))).toBe('ERR_KDC_BAD_LIFETIME/kdc')
    expect(codeOf(() => computeTicketTimes(1, NOW, caps))).toBe('ERR_KDC_BAD_LIFETIME/kdc')
  })
  it('refuses when nothing is left before notAfter', () => {
    expect(codeOf(() => computeTicketTimes(0, NOW, { ...caps, notAfter: NOW }))).toBe(
      'ERR_AP_TKT_EXPIRED/ap',
    )
  })
})
