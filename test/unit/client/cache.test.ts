import { describe, expect, it } from 'vitest'
import { TicketCache } from '../../../client/cache.js'
import { backoffDelay, KdcClock } from '../../../client/clock.js'
import { FakeClock } from './fake-kdc.js'

describe('TicketCache', () => {
  it('evicts the least recently used entry past the bound, through onEvict', () => {
    const evicted: string[] = []
    const cache = new TicketCache<number>(2, (k) => evicted.push(k))
    cache.set('a', 1)
    cache.set('b', 2)
    expect(cache.get('a')).toBe(1)
    cache.set('c', 3)
    expect(evicted).toEqual(['b'])
    expect(cache.keys()).toEqual(['a', 'c'])
    expect(cache.size).toBe(2)
  })

  it('peek does not change recency', () => {
    const evicted: string[] = []
    const cache = new TicketCache<number>(2, (k) => evicted.push(k))
    cache.set('a', 1)
    cache.set('b', 2)
    cache.peek('a')
    cache.set('c', 3)
    expect(evicted).toEqual(['a'])
  })

  it('replacing a value evicts the old one', () => {
    const evicted: [string, number][] = []
    const cache = new TicketCache<number>(4, (k, v) => evicted.push([k, v]))
    cache.set('a', 1)
    cache.set('a', 2)
    expect(evicted).toEqual([['a', 1]])
    expect(cache.get('a')).toBe(2)
  })

  it('delete(key, value) removes only when the value is still current', () => {
    const cache = new TicketCache<number>(4)
    cache.set('a', 1)
    expect(cache.delete('a', 2)).toBe(false)
    expect(cache.delete('a', 1)).toBe(true)
    expect(cache.delete('a')).toBe(false)
  })

  it('clear evicts everything', () => {
    const evicted: string[] = []
    const cache = new TicketCache<number>(4, (k) => evicted.push(k))
    cache.set('a', 1)
    cache.set('b', 2)
    cache.clear()
    expect(evicted).toEqual(['a', 'b'])
    expect(cache.size).toBe(0)
  })

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new TicketCache(0)).toThrow(RangeError)
    expect(() => new TicketCache(1.5)).toThrow(RangeError)
  })
})

describe('KdcClock', () => {
  it('adopts the offset of a reply that differs by more than a second, not jitter', () => {
    const clock = new FakeClock(1_000_000_000_500)
    const kdc = new KdcClock(clock)
    expect(kdc.observe(1_000_000_001)).toBe(false)
    expect(kdc.offsetSeconds).toBe(0)
    expect(kdc.observe(1_000_000_120)).toBe(true)
    expect(kdc.offsetSeconds).toBe(120)
    expect(kdc.nowSeconds()).toBe(1_000_000_120)
    expect(kdc.observe(1_000_000_119)).toBe(false)
    expect(kdc.skewed).toBe(false)
    kdc.observe(1_000_001_000)
    expect(kdc.skewed).toBe(true)
  })
})

describe('backoffDelay', () => {
  it('is jittered within [ceiling/2, ceiling] and capped', () => {
    expect(backoffDelay(0, 100, 1000, () => 0)).toBe(50)
    expect(backoffDelay(0, 100, 1000, () => 1)).toBe(100)
    expect(backoffDelay(3, 100, 1000, () => 1)).toBe(800)
    expect(backoffDelay(10, 100, 1000, () => 0.5)).toBe(750)
  })
})
