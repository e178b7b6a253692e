import { describe, expect, it } from 'vitest'
import { REPLAY_WINDOW_COUNTERS, isBrokerError } from '../../../kdc/protocol/index.js'
import { ReplayWindows } from '../../../service-sdk/index.js'

const W = REPLAY_WINDOW_COUNTERS

/** A 16-byte ticket id as the four words windowFor takes: the name's bytes, zero-padded. */
function id(name: string): Int32Array {
  const bytes = new Uint8Array(16)
  bytes.set(new TextEncoder().encode(name).subarray(0, 16))
  return new Int32Array(bytes.buffer)
}

/** One window of a fresh table, with its accept() and top(). */
function oneWindow(): { accept: (counter: number, ctime?: number) => boolean; top: () => number } {
  const ws = new ReplayWindows({ maxWindows: 1, startedAt: 0, guard: false })
  const w = ws.windowFor(id('t'), 0, 0, 0, 0)
  return { accept: (counter, ctime = 0) => ws.accept(w, counter, ctime), top: () => ws.top(w) }
}

/** ReplayWindows keyed by names, as the tests below read best. */
class Named {
  readonly ws: ReplayWindows
  constructor(maxWindows: number, startedAt: number, guard = true) {
    this.ws = new ReplayWindows({ maxWindows, startedAt, guard })
  }
  windowFor(name: string, expiresAt: number, ctime: number, now: number): number {
    return this.ws.windowFor(id(name), 0, expiresAt, ctime, now)
  }
  peek(name: string): number | undefined {
    const w = this.ws.peek(id(name), 0)
    return w < 0 ? undefined : w
  }
}

describe('a replay window', () => {
  it('accepts counters in order once each', () => {
    const w = oneWindow()
    for (let c = 0; c < 3 * W; c++) expect(w.accept(c)).toBe(true)
    for (let c = 2 * W + 1; c < 3 * W; c++) expect(w.accept(c)).toBe(false)
    expect(w.top()).toBe(3 * W - 1)
  })

  it('accepts out-of-order counters within the window, once', () => {
    const w = oneWindow()
    expect(w.accept(100)).toBe(true)
    expect(w.accept(97)).toBe(true)
    expect(w.accept(99)).toBe(true)
    expect(w.accept(97)).toBe(false)
    expect(w.accept(98)).toBe(true)
    expect(w.accept(100)).toBe(false)
    expect(w.accept(101)).toBe(true)
  })

  it('refuses duplicates', () => {
    const w = oneWindow()
    expect(w.accept(5)).toBe(true)
    expect(w.accept(5)).toBe(false)
  })

  it('refuses counters below the window, accepts the lowest one inside it', () => {
    const w = oneWindow()
    expect(w.accept(W + 10)).toBe(true)
    expect(w.accept(10)).toBe(false) // top - 10 = W: just outside
    expect(w.accept(11)).toBe(true) // top - 11 = W - 1: the oldest slot inside
    expect(w.accept(11)).toBe(false)
  })

  it('slides on a far jump and forgets everything behind it', () => {
    const w = oneWindow()
    for (let c = 1; c <= 40; c++) w.accept(c)
    expect(w.accept(40 + 10 * W)).toBe(true)
    expect(w.accept(40)).toBe(false)
    // The slots reused by the ring must be clear for counters now inside the window.
    expect(w.accept(40 + 10 * W - 1)).toBe(true)
    expect(w.accept(40 + 9 * W + 1)).toBe(true)
    expect(w.accept(40 + 9 * W)).toBe(false)
  })

  it('clears skipped ring slots on a partial jump', () => {
    const w = oneWindow()
    for (let c = 0; c < W; c++) expect(w.accept(c)).toBe(true)
    // Jump by W/2 + 3: the slots of W .. W + W/2 + 2 held counters 0 .. W/2 + 2 and must be fresh.
    const top = W + W / 2 + 2
    expect(w.accept(top)).toBe(true)
    for (let c = W; c < top; c++) expect(w.accept(c), `counter ${c}`).toBe(true)
    for (let c = top - W + 1; c < W; c++) expect(w.accept(c), `counter ${c}`).toBe(false)
  })

  it('handles the uint32 range', () => {
    const w = oneWindow()
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
      const w = oneWindow()
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
    const ws = new Named(3, 100)
    const a = ws.windowFor('a', 1000, 100, 100)
    expect(ws.windowFor('a', 1000, 100, 100)).toBe(a)
    ws.windowFor('b', 1000, 100, 100)
    ws.windowFor('c', 1000, 100, 100)
    ws.windowFor('d', 1000, 100, 100)
    expect(ws.ws.size).toBe(3)
    expect(ws.peek('a')).toBeUndefined()
    expect(ws.ws.evictedLive).toBe(1)
  })

  it('evicts expired windows before live ones, and does not move the guard for them', () => {
    const ws = new Named(2, 100)
    ws.windowFor('old', 150, 100, 100)
    ws.windowFor('live', 1000, 100, 100)
    ws.windowFor('new', 1000, 200, 200)
    expect(ws.peek('old')).toBeUndefined()
    expect(ws.peek('live')).toBeDefined()
    expect(ws.ws.evictedLive).toBe(0)
    expect(ws.ws.guardTime).toBe(100)
  })

  it('moves the guard time when a live window is dropped', () => {
    const ws = new Named(1, 100)
    ws.windowFor('a', 1000, 100, 100)
    ws.windowFor('b', 1000, 150, 150)
    expect(ws.ws.guardTime).toBe(150)
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
    const ws = new Named(10, 0, false)
    ws.windowFor('a', 10, 0, 0)
    ws.windowFor('b', 20, 0, 0)
    ws.ws.sweep(15)
    expect(ws.ws.size).toBe(1)
  })
})

describe('ReplayWindows under churn', () => {
  it('stays bounded and keeps evicting expired windows in O(1) per insert', () => {
    const ws = new Named(1000, 0)
    let now = 0
    const t0 = performance.now()
    for (let i = 0; i < 200_000; i++) {
      if (i % 100 === 0) now++
      // Lifetimes of 5 s, with a few long-lived tickets mixed in.
      ws.windowFor(`t${String(i)}`, now + (i % 997 === 0 ? 10_000 : 5), now, now)
      expect(ws.ws.size).toBeLessThanOrEqual(1000)
    }
    expect(performance.now() - t0).toBeLessThan(5000)
    expect(ws.ws.evictedLive).toBe(0)
  })
})

describe('ReplayWindows: the typed-array table', () => {
  /** Ids whose first word (the index key) is the same and whose other words differ. */
  function sameFirstWord(n: number): Int32Array {
    return Int32Array.of(0x1234_5678, n, ~n, n * 31)
  }

  it('keeps tickets whose ids share the first word apart', () => {
    const ws = new ReplayWindows({ maxWindows: 100, startedAt: 0, guard: false })
    const windows = Array.from({ length: 50 }, (_, n) =>
      ws.windowFor(sameFirstWord(n), 0, 1000, 0, 0),
    )
    expect(new Set(windows).size).toBe(50)
    for (let n = 0; n < 50; n++) {
      expect(ws.peek(sameFirstWord(n), 0)).toBe(windows[n])
      expect(ws.accept(windows[n] as number, 7, 0)).toBe(true)
    }
    // Each ticket saw counter 7 once: a second 7 is a replay in every window, and in no other.
    for (let n = 0; n < 50; n++) expect(ws.accept(windows[n] as number, 7, 0)).toBe(false)
    expect(ws.peek(sameFirstWord(50), 0)).toBe(-1)
  })

  it('finds a window again after others with the same first word were dropped', () => {
    const ws = new ReplayWindows({ maxWindows: 3, startedAt: 0, guard: false })
    ws.windowFor(sameFirstWord(0), 0, 10, 0, 0)
    ws.windowFor(sameFirstWord(1), 0, 10, 0, 0)
    const keep = ws.windowFor(sameFirstWord(2), 0, 1000, 0, 0)
    ws.sweep(20) // drops 0 and 1: their index entries go, 2 must stay reachable
    expect(ws.size).toBe(1)
    expect(ws.peek(sameFirstWord(2), 0)).toBe(keep)
    expect(ws.peek(sameFirstWord(0), 0)).toBe(-1)
  })

  it('reads the id at an offset into a larger word array', () => {
    const ws = new ReplayWindows({ maxWindows: 10, startedAt: 0, guard: false })
    const words = new Int32Array(12)
    words.set(id('x'), 5)
    const w = ws.windowFor(words, 5, 1000, 0, 0)
    expect(ws.peek(id('x'), 0)).toBe(w)
  })

  it('a stamp stops holding once its window is dropped, even when the record is reused', () => {
    const ws = new ReplayWindows({ maxWindows: 1, startedAt: 0, guard: false })
    const a = ws.windowFor(id('a'), 0, 1000, 0, 0)
    const stampA = ws.stampOf(a)
    expect(ws.holds(a, stampA)).toBe(true)
    const b = ws.windowFor(id('b'), 0, 1000, 0, 0) // evicts a (live)
    expect(b).toBe(a) // the record was reused...
    expect(ws.holds(a, stampA)).toBe(false) // ...but a's stamp no longer holds it
    expect(ws.holds(b, ws.stampOf(b))).toBe(true)
    expect(ws.holds(-1, 0)).toBe(false)
  })

  it('gives a reused bitmap back clean', () => {
    const ws = new ReplayWindows({ maxWindows: 1, startedAt: 0, guard: false })
    const a = ws.windowFor(id('a'), 0, 10, 0, 0)
    for (let c = 1; c <= 100; c++) expect(ws.accept(a, c, 0)).toBe(true) // a bitmap is in use
    ws.sweep(20)
    const b = ws.windowFor(id('b'), 0, 1000, 0, 20)
    expect(ws.accept(b, 100, 0)).toBe(true)
    // Counters below 100 were accepted by a, never by b.
    for (let c = 1; c < 100; c++) expect(ws.accept(b, c, 0), `counter ${c}`).toBe(true)
    expect(ws.accept(b, 50, 0)).toBe(false)
  })

  it('keeps every window, its counters and the eviction order across growth', () => {
    const n = 3000 // several doublings of the record arrays and the index
    const ws = new ReplayWindows({ maxWindows: n, startedAt: 0, guard: true })
    const windows: number[] = []
    for (let i = 0; i < n; i++) {
      const w = ws.windowFor(id(`t${String(i)}`), 0, 10_000, 0, 0)
      expect(ws.accept(w, i, i)).toBe(true)
      windows.push(w)
    }
    for (let i = 0; i < n; i++) {
      expect(ws.peek(id(`t${String(i)}`), 0)).toBe(windows[i])
      expect(ws.accept(windows[i] as number, i, 0)).toBe(false)
      expect(ws.top(windows[i] as number)).toBe(i)
      expect(ws.maxCtime(windows[i] as number)).toBe(i)
    }
    // Full: the next window evicts the oldest live one, t0, and the guard passes its ctime.
    ws.windowFor(id('new'), 0, 10_000, 5000, 5000)
    expect(ws.peek(id('t0'), 0)).toBe(-1)
    expect(ws.peek(id('t1'), 0)).toBe(windows[1])
    expect(ws.evictedLive).toBe(1)
    expect(ws.guardTime).toBe(5000)
  })

  it('a sweep keeps the creation order of the windows it keeps', () => {
    const ws = new ReplayWindows({ maxWindows: 4, startedAt: 0, guard: false })
    ws.windowFor(id('a'), 0, 1000, 0, 0)
    ws.windowFor(id('dies'), 0, 10, 0, 0)
    ws.windowFor(id('b'), 0, 1000, 0, 0)
    ws.windowFor(id('c'), 0, 1000, 0, 0)
    ws.sweep(20)
    expect(ws.size).toBe(3)
    ws.windowFor(id('d'), 0, 1000, 0, 20) // room: nothing evicted
    ws.windowFor(id('e'), 0, 1000, 0, 20) // full: evicts the oldest, a
    expect(ws.peek(id('a'), 0)).toBe(-1)
    for (const name of ['b', 'c', 'd', 'e']) expect(ws.peek(id(name), 0)).toBeGreaterThanOrEqual(0)
    ws.windowFor(id('f'), 0, 1000, 0, 20) // then b
    expect(ws.peek(id('b'), 0)).toBe(-1)
    expect(ws.peek(id('c'), 0)).toBeGreaterThanOrEqual(0)
  })
})

describe('ReplayWindows: the window floor', () => {
  it('a window opened again after its loss refuses authenticators made before the guard', () => {
    const ws = new Named(1, 100)
    const a = ws.windowFor('a', 1000, 100, 100)
    expect(ws.ws.accept(a, 1, 100)).toBe(true) // captured by an attacker
    ws.windowFor('b', 1000, 110, 110) // a's live window is dropped: guard 110
    const again = ws.windowFor('a', 1000, 111, 111) // the client goes on: a fresh window
    expect(ws.ws.accept(again, 2, 111)).toBe(true)
    expect(ws.ws.floor(again)).toBe(110)
    // The captured authenticator (ctime 100, counter 1) is unseen by the fresh bitmap: the floor
    // refuses it. Made at or after the guard, anything goes through the bitmap as usual.
    expect(ws.ws.accept(again, 1, 100)).toBe(false)
    expect(ws.ws.accept(again, 1, 109)).toBe(false)
    expect(ws.ws.accept(again, 1, 110)).toBe(true)
    expect(ws.ws.accept(again, 1, 110)).toBe(false)
  })

  it('the floor is the guard before the window made room, not after its own eviction', () => {
    const ws = new Named(1, 100)
    ws.ws.accept(ws.windowFor('a', 1000, 100, 100), 1, 100)
    // b evicts a (live), which moves the guard to 101; b's own floor stays 100.
    const b = ws.windowFor('b', 1000, 100, 100)
    expect(ws.ws.guardTime).toBe(101)
    expect(ws.ws.floor(b)).toBe(100)
    expect(ws.ws.accept(b, 1, 100)).toBe(true)
  })

  it('without the guard there is no floor', () => {
    const ws = new Named(1, 100, false)
    const a = ws.windowFor('a', 1000, 5, 100)
    expect(ws.ws.floor(a)).toBe(0)
    expect(ws.ws.accept(a, 1, 5)).toBe(true)
  })
})

describe('a wave of expiries', () => {
  it('costs each new window at most 4 drops, and the sweep takes the rest', () => {
    const ws = new ReplayWindows({ maxWindows: 10_000, startedAt: 0, guard: true })
    const ids = new Int32Array(4 * 2_001)
    for (let i = 0; i < ids.length; i++) ids[i] = Math.imul(i + 1, 0x9e3779b1)
    for (let i = 0; i < 2_000; i++) {
      expect(ws.accept(ws.windowFor(ids, 4 * i, 100, 10, 10), 1, 10)).toBe(true)
    }
    expect(ws.size).toBe(2_000)
    // Every window has expired: a new one drops 4 of them, not 2,000 in one request.
    const fresh = ws.windowFor(ids, 4 * 2_000, 1_000, 500, 500)
    expect(ws.accept(fresh, 1, 500)).toBe(true)
    expect(ws.size).toBe(2_000 - 4 + 1)
    ws.sweep(500)
    expect(ws.size).toBe(1)
    expect(ws.evictedLive).toBe(0)
    expect(ws.accept(fresh, 1, 500)).toBe(false) // the new window kept its counters
  })
})
