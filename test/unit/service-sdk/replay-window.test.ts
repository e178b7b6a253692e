import { describe, expect, it } from 'vitest'
import { REPLAY_WINDOW_COUNTERS, isBrokerError } from '../../../kdc/protocol/index.js'
import { ReplayWindow, ReplayWindows } from '../../../service-sdk/index.js'

const W = REPLAY_WINDOW_COUNTERS

describe('ReplayWindow', () => {
  it('accepts counters in order once each', () => {
    const w = new ReplayWindow(0)
    for (let c = 0; c < 3 * W; c++) expect(w.accept(c)).toBe(true)
    for (let c = 2 * W + 1; c < 3 * W; c++) expect(w.accept(c)).toBe(false)
    expect(w.top).toBe(3 * W - 1)
  })

  it('accepts out-of-order counters within the window, once', () => {
    const w = new ReplayWindow(0)
    expect(w.accept(100)).toBe(true)
    expect(w.accept(97)).toBe(true)
    expect(w.accept(99)).toBe(true)
    expect(w.accept(97)).toBe(false)
    expect(w.accept(98)).toBe(true)
    expect(w.accept(100)).toBe(false)
    expect(w.accept(101)).toBe(true)
  })

  it('refuses duplicates', () => {
    const w = new ReplayWindow(0)
    expect(w.accept(5)).toBe(true)
    expect(w.accept(5)).toBe(false)
  })

  it('refuses counters below the window, accepts the lowest one inside it', () => {
    const w = new ReplayWindow(0)
    expect(w.accept(W + 10)).toBe(true)
    expect(w.accept(10)).toBe(false) // top - 10 = W: just outside
    expect(w.accept(11)).toBe(true) // top - 11 = W - 1: the oldest slot inside
    expect(w.accept(11)).toBe(false)
  })

  it('slides on a far jump and forgets everything behind it', () => {
    const w = new ReplayWindow(0)
    for (let c = 1; c <= 40; c++) w.accept(c)
    expect(w.accept(40 + 10 * W)).toBe(true)
    expect(w.accept(40)).toBe(false)
    // The slots reused by the ring must be clear for counters now inside the window.
    expect(w.accept(40 + 10 * W - 1)).toBe(true)
    expect(w.accept(40 + 9 * W + 1)).toBe(true)
    expect(w.accept(40 + 9 * W)).toBe(false)
  })

  it('clears skipped ring slots on a partial jump', () => {
    const w = new ReplayWindow(0)
    for (let c = 0; c < W; c++) expect(w.accept(c)).toBe(true)
    // Jump by W/2 + 3: the slots of W .. W + W/2 + 2 held counters 0 .. W/2 + 2 and must be fresh.
    const top = W + W / 2 + 2
    expect(w.accept(top)).toBe(true)
    for (let c = W; c < top; c++) expect(w.accept(c), `counter ${c}`).toBe(true)
    for (let c = top - W + 1; c < W; c++) expect(w.accept(c), `counter ${c}`).toBe(false)
  })

  it('handles the uint32 range', () => {
    const w = new ReplayWindow(0)
    expect(w.accept(0xffff_ffff)).toBe(true)
    expect(w.accept(0xffff_ffff)).toBe(false)
    expect(w.accept(0xffff_fffe)).toBe(true)
    expect(w.accept(0)).toBe(false)
  })

  it('matches a naive model on random sequences', () => {
    let seed = 12345
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    for (let run = 0; run < 20; run++) {
      const w = new ReplayWindow(0)
      const seen = new Set<number>()
      let top = -1
      let base = rand(1000)
      for (let i = 0; i < 3000; i++) {
        const r = rand(100)
        const c = r < 60 ? base++ : r < 95 ? Math.max(0, top - rand(W + 50)) : top + rand(3 * W)
        const expected = c > top || (top - c < W && !seen.has(c))
        expect(w.accept(c)).toBe(expected)
        if (expected) {
          seen.add(c)
          top = Math.max(top, c)
        }
      }
    }
  })
})

describe('ReplayWindows', () => {
  it('keeps one window per ticket id and bounds their number', () => {
    const ws = new ReplayWindows({ maxWindows: 3, startedAt: 100, guard: true })
    const a = ws.windowFor('a', 1000, 100, 100)
    expect(ws.windowFor('a', 1000, 100, 100)).toBe(a)
    ws.windowFor('b', 1000, 100, 100)
    ws.windowFor('c', 1000, 100, 100)
    ws.windowFor('d', 1000, 100, 100)
    expect(ws.size).toBe(3)
    expect(ws.peek('a')).toBeUndefined()
    expect(ws.evictedLive).toBe(1)
  })

  it('evicts expired windows before live ones, and does not move the guard for them', () => {
    const ws = new ReplayWindows({ maxWindows: 2, startedAt: 100, guard: true })
    ws.windowFor('old', 150, 100, 100)
    ws.windowFor('live', 1000, 100, 100)
    ws.windowFor('new', 1000, 200, 200)
    expect(ws.peek('old')).toBeUndefined()
    expect(ws.peek('live')).toBeDefined()
    expect(ws.evictedLive).toBe(0)
    expect(ws.guardTime).toBe(100)
  })

  it('moves the guard time when a live window is dropped', () => {
    const ws = new ReplayWindows({ maxWindows: 1, startedAt: 100, guard: true })
    ws.windowFor('a', 1000, 100, 100)
    ws.windowFor('b', 1000, 150, 150)
    expect(ws.guardTime).toBe(150)
    // 'a' lost its window: an authenticator made before the drop cannot open a new one.
    try {
      ws.windowFor('a', 1000, 149, 160)
      expect.unreachable()
    } catch (err) {
      expect(isBrokerError(err, 'ERR_AP_REPLAY')).toBe(true)
    }
    expect(ws.windowFor('a', 1000, 150, 160)).toBeDefined()
  })

  it('sweeps expired windows', () => {
    const ws = new ReplayWindows({ maxWindows: 10, startedAt: 0, guard: false })
    ws.windowFor('a', 10, 0, 0)
    ws.windowFor('b', 20, 0, 0)
    ws.sweep(15)
    expect(ws.size).toBe(1)
  })
})

describe('ReplayWindows under churn', () => {
  it('stays bounded and keeps evicting expired windows in O(1) per insert', () => {
    const ws = new ReplayWindows({ maxWindows: 1000, startedAt: 0, guard: true })
    let now = 0
    const t0 = performance.now()
    for (let i = 0; i < 200_000; i++) {
      if (i % 100 === 0) now++
      // Lifetimes of 5 s, with a few long-lived tickets mixed in.
      ws.windowFor(`t${String(i)}`, now + (i % 997 === 0 ? 10_000 : 5), now, now)
      expect(ws.size).toBeLessThanOrEqual(1000)
    }
    expect(performance.now() - t0).toBeLessThan(5000)
    expect(ws.evictedLive).toBe(0)
  })
})
