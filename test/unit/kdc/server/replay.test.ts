import { describe, expect, it } from 'vitest'
import { ReplayCache } from '../../../../kdc/server/replay.js'

function fakeClock(start = 1_000) {
  let now = start
  return { nowSeconds: () => now, advance: (s: number) => (now += s) }
}

describe('ReplayCache', () => {
  it('remembers an entry for its ttl and forgets it after', () => {
    const clock = fakeClock()
    const c = new ReplayCache({ maxEntries: 10, ttlSeconds: 600, clock })
    expect(c.has('a')).toBe(false)
    c.add('a')
    expect(c.has('a')).toBe(true)
    clock.advance(599)
    expect(c.has('a')).toBe(true)
    clock.advance(1)
    expect(c.has('a')).toBe(false)
  })

  it('holds at most maxEntries, evicting the oldest first', () => {
    const clock = fakeClock()
    const c = new ReplayCache({ maxEntries: 3, ttlSeconds: 600, clock })
    for (const k of ['a', 'b', 'c', 'd']) c.add(k)
    expect(c.size).toBe(3)
    expect(c.has('a')).toBe(false)
    expect(c.has('d')).toBe(true)
    expect(c.evictedLive).toBe(1)
  })

  it('sweeps expired entries on insert, so memory follows the live window', () => {
    const clock = fakeClock()
    const c = new ReplayCache({ maxEntries: 1_000, ttlSeconds: 10, clock })
    for (let i = 0; i < 500; i++) c.add(`k${i}`)
    clock.advance(11)
    c.add('fresh')
    expect(c.size).toBe(1)
    expect(c.evictedLive).toBe(0)
  })

  it('refuses nonsense bounds', () => {
    const clock = fakeClock()
    for (const maxEntries of [0, -1, 1.5, Infinity]) {
      expect(() => new ReplayCache({ maxEntries, ttlSeconds: 1, clock })).toThrow(RangeError)
    }
    expect(() => new ReplayCache({ maxEntries: 1, ttlSeconds: 0, clock })).toThrow(RangeError)
  })
})

describe('ReplayCache.tryAdd', () => {
  it('never evicts a live entry: refuses when full, accepts again once entries expire', () => {
    const clock = fakeClock()
    const c = new ReplayCache({ maxEntries: 2, ttlSeconds: 10, clock })
    expect(c.tryAdd('a')).toBe(true)
    expect(c.tryAdd('b')).toBe(true)
    expect(c.tryAdd('c')).toBe(false)
    expect(c.has('a')).toBe(true)
    expect(c.has('c')).toBe(false)
    expect(c.evictedLive).toBe(0)
    clock.advance(10)
    expect(c.tryAdd('c')).toBe(true)
    expect(c.has('c')).toBe(true)
  })
})
