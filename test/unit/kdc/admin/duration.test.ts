import { describe, expect, it } from 'vitest'
import { formatDuration, parseDuration } from '../../../../kdc/admin/duration.js'

describe('parseDuration', () => {
  it.each([
    ['900s', 900],
    ['15m', 900],
    ['1h', 3600],
    ['1h30m', 5400],
    ['1d', 86_400],
    ['2h0m5s', 7205],
    ['900', 900],
    ['0s', 0],
  ])('reads %s as %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds)
  })

  it('reads a YAML integer as seconds', () => {
    expect(parseDuration(600)).toBe(600)
  })

  it.each(['', '15 m', '15min', '1.5h', '-5m', 'm', '30m1h', '1h1h', 'h15', '15M', '1w'])(
    'refuses %j',
    (text) => {
      expect(parseDuration(text)).toBeUndefined()
    },
  )

  it('refuses negative and fractional numbers', () => {
    expect(parseDuration(-1)).toBeUndefined()
    expect(parseDuration(1.5)).toBeUndefined()
  })
})

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [45, '45s'],
    [900, '15m'],
    [3600, '1h'],
    [5400, '1h30m'],
    [86_400, '1d'],
    [90_061, '1d1h1m1s'],
  ])('formats %i as %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text)
  })

  it('round-trips through parseDuration', () => {
    for (const n of [1, 59, 60, 61, 899, 3599, 3601, 86_399, 86_400]) {
      expect(parseDuration(formatDuration(n))).toBe(n)
    }
  })

  it('throws RangeError on misuse', () => {
    expect(() => formatDuration(-1)).toThrow(RangeError)
  })
})
