import { describe, expect, it } from 'vitest'
import { KeyedRateLimiter, TokenBucket } from '../../../../kdc/server/rate-limit.js'

function fakeMs() {
  let now = 0
  return { nowMs: () => now, advance: (ms: number) => (now += ms) }
}

describe('TokenBucket', () => {
  it('allows exactly `burst` at once, then refills at the rate', () => {
    const t = fakeMs()
    const b = new TokenBucket({ ratePerSecond: 10, burst: 5, nowMs: t.nowMs })
    for (let i = 0; i < 5; i++) expect(b.take()).toBe(true)
    expect(b.take()).toBe(false)
    t.advance(99)
    expect(b.take()).toBe(false)
    t.advance(1)
    expect(b.take()).toBe(true)
    t.advance(10_000)
    for (let i = 0; i < 5; i++) expect(b.take()).toBe(true)
    expect(b.take()).toBe(false)
  })
})

describe('KeyedRateLimiter', () => {
  it('keeps buckets per key', () => {
    const t = fakeMs()
    const l = new KeyedRateLimiter({ ratePerSecond: 1, burst: 2, maxKeys: 10, nowMs: t.nowMs })
    expect(l.take('a')).toBe(true)
    expect(l.take('a')).toBe(true)
    expect(l.take('a')).toBe(false)
    expect(l.take('b')).toBe(true)
  })

  it('holds at most maxKeys buckets (least recently used dropped)', () => {
    const t = fakeMs()
    const l = new KeyedRateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 2, nowMs: t.nowMs })
    l.take('a')
    l.take('b')
    l.take('a')
    l.take('c')
    expect(l.size).toBe(2)
    // 'a' was used more recently than 'b', so it is still empty; 'b' came back full.
    expect(l.take('a')).toBe(false)
  })
})
