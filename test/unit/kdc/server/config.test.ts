import { describe, expect, it } from 'vitest'
import {
  buildConfig,
  LIMIT_BOUNDS,
  parseIntegerOption,
  parseListen,
} from '../../../../kdc/server/config.js'

describe('buildConfig', () => {
  it('fills defaults and deep-freezes', () => {
    const c = buildConfig({ dataDir: '/tmp/x' })
    expect(c.host).toBe('127.0.0.1')
    expect(c.port).toBe(7088)
    expect(c.limits.maxConnections).toBe(LIMIT_BOUNDS.maxConnections.default)
    expect(Object.isFrozen(c)).toBe(true)
    expect(Object.isFrozen(c.limits)).toBe(true)
    expect(() => {
      ;(c.limits as { maxConnections: number }).maxConnections = 5
    }).toThrow(TypeError)
  })

  it('accepts every limit at its bounds and refuses one past them', () => {
    for (const [name, b] of Object.entries(LIMIT_BOUNDS)) {
      expect(
        buildConfig({ dataDir: 'd', limits: { [name]: b.min } }).limits[name as 'maxConnections'],
      ).toBe(b.min)
      expect(
        buildConfig({ dataDir: 'd', limits: { [name]: b.max } }).limits[name as 'maxConnections'],
      ).toBe(b.max)
      expect(() => buildConfig({ dataDir: 'd', limits: { [name]: b.min - 1 } })).toThrow(RangeError)
      expect(() => buildConfig({ dataDir: 'd', limits: { [name]: b.max + 1 } })).toThrow(RangeError)
    }
  })

  it('refuses 0, negatives, Infinity, NaN, fractions and strings without coercion', () => {
    for (const bad of [0, -1, Infinity, -Infinity, NaN, 1.5, '10', null, true]) {
      expect(
        () => buildConfig({ dataDir: 'd', limits: { maxConnections: bad } }),
        String(bad),
      ).toThrow(/maxConnections/)
    }
  })

  it('refuses unknown limits, a bad realm and an empty data dir', () => {
    expect(() => buildConfig({ dataDir: 'd', limits: { maxConections: 5 } as never })).toThrow(
      TypeError,
    )
    expect(() => buildConfig({ dataDir: 'd', realm: 'lower' })).toThrow(TypeError)
    expect(() => buildConfig({ dataDir: '' })).toThrow(TypeError)
  })

  it('never lets the realm maximum exceed the protocol maximum', () => {
    expect(() => buildConfig({ dataDir: 'd', limits: { maxTicketLifetimeS: 86_401 } })).toThrow(
      RangeError,
    )
  })
})

describe('parseListen', () => {
  it('parses host:port and [v6]:port, port 0 included', () => {
    expect(parseListen('127.0.0.1:7088')).toEqual({ host: '127.0.0.1', port: 7088 })
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 })
    expect(parseListen('localhost:65535')).toEqual({ host: 'localhost', port: 65535 })
  })
  it('refuses malformed addresses', () => {
    for (const bad of [
      '7088',
      '127.0.0.1',
      '127.0.0.1:',
      '127.0.0.1:65536',
      '127.0.0.1:07088',
      'a b:1',
      '::1:80',
    ]) {
      // Operator input: a TypeError/RangeError whose message names the option (no wire code).
      let thrown: unknown
      try {
        parseListen(bad)
      } catch (err) {
        thrown = err
      }
      expect(thrown instanceof TypeError || thrown instanceof RangeError, bad).toBe(true)
      expect((thrown as Error).message, bad).toMatch(/^--listen /)
    }
  })
})

describe('parseIntegerOption', () => {
  it('accepts plain decimal digits only', () => {
    expect(parseIntegerOption('--n', '42')).toBe(42)
    for (const bad of ['', ' 1', '1 ', '+1', '-1', '1e3', '0x10', '1.0', 'Infinity', '01']) {
      expect(() => parseIntegerOption('--n', bad), bad).toThrow(TypeError)
    }
  })
})
