import { describe, it, expect } from 'vitest'
import {
  checkSkew,
  clampWireTime,
  isoTime,
  MAX_CLOCK_SKEW_S,
  offsetClock,
  systemClock,
} from '../../../../kdc/protocol/index.js'
import { expectCode } from './expect-code.js'

const NOW = 1_767_225_600

describe('time (docs/protocol.md §6)', () => {
  it('accepts timestamps exactly at ±MAX_CLOCK_SKEW_S', () => {
    expect(() => {
      checkSkew(NOW - MAX_CLOCK_SKEW_S, NOW)
    }).not.toThrow()
    expect(() => {
      checkSkew(NOW + MAX_CLOCK_SKEW_S, NOW)
    }).not.toThrow()
  })

  it('refuses one second beyond the skew on either side with ERR_AP_SKEW naming both times', () => {
    const late = expectCode(
      () => {
        checkSkew(NOW + MAX_CLOCK_SKEW_S + 1, NOW)
      },
      'ERR_AP_SKEW',
      'SKEW',
    )
    expect(late.message).toContain('2026-01-01T00:05:01Z')
    expect(late.message).toContain('2026-01-01T00:00:00Z')
    expectCode(
      () => {
        checkSkew(NOW - MAX_CLOCK_SKEW_S - 1, NOW)
      },
      'ERR_AP_SKEW',
      'SKEW',
    )
  })

  it('honours a tighter skew', () => {
    expectCode(() => {
      checkSkew(NOW + 11, NOW, 10)
    }, 'ERR_AP_SKEW')
  })

  it('formats wire times as ISO-8601 without milliseconds', () => {
    expect(isoTime(0)).toBe('1970-01-01T00:00:00Z')
    expect(isoTime(NOW)).toBe('2026-01-01T00:00:00Z')
  })

  it('clamps to the uint32 wire range', () => {
    expect(clampWireTime(-5)).toBe(0)
    expect(clampWireTime(12.9)).toBe(12)
    expect(clampWireTime(2 ** 40)).toBe(0xffffffff)
  })

  it('offsets a clock by a live offset', () => {
    let offset = 5
    const base = { nowSeconds: () => NOW }
    const clock = offsetClock(base, () => offset)
    expect(clock.nowSeconds()).toBe(NOW + 5)
    offset = -7
    expect(clock.nowSeconds()).toBe(NOW - 7)
  })

  it('the system clock returns whole seconds', () => {
    const now = systemClock.nowSeconds()
    expect(Number.isInteger(now)).toBe(true)
    expect(Math.abs(now - Date.now() / 1000)).toBeLessThan(2)
  })
})
