/**
 * Differential tests of the typed-array replay windows, ticket cache and OpenIndex (958608a)
 * against the Map-based tables they replaced (c6c6903), reproduced below (string ticket ids replaced
 * by 16-byte ids, i.e. a string of the four words) with one deliberate change: the window floor
 * (a window refuses authenticators made before the guard time in force when it was created), the
 * fix of a replay hole both had. Both are driven with the same random operation sequences; every
 * result, size, guard time and live-eviction count must agree.
 */
import { describe, expect, it } from 'vitest'
import { BrokerError, REPLAY_WINDOW_COUNTERS, isBrokerError } from '../../../kdc/protocol/index.js'
import { OpenIndex } from '../../../service-sdk/open-index.js'
import { ReplayWindows } from '../../../service-sdk/replay-window.js'
import { TicketCache, type CachedTicket } from '../../../service-sdk/ticket-cache.js'
import { TicketVerifier } from '../../../service-sdk/index.js'
import { authHeader, FakeClock, keyOf, makeKeytab, mintTicket, request, T0 } from './fixtures.js'

const W = REPLAY_WINDOW_COUNTERS

/** A small deterministic PRNG (mulberry32), so that a failing seed can be replayed. */
function rng(seed: number): { int: (n: number) => number; chance: (p: number) => boolean } {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { int: (n) => Math.floor(next() * n), chance: (p) => next() < p }
}

// ---------------------------------------------------------------------------------------------
// The old implementation (c6c6903:service-sdk/replay-window.ts), verbatim but for the names.

const WORD_BITS = 16
const WORD_SHIFT = 4
const WORD_MASK = WORD_BITS - 1
const WINDOW_WORDS = W / WORD_BITS
const WINDOW_MASK = W - 1

class OldWindow {
  #top = -1
  #bits: number[] | undefined
  #maxCtime = -1
  dropped = false
  readonly expiresAt: number
  readonly ticketId: string
  /** The window floor (not in c6c6903: the fix under test in replay-window.test.ts). */
  readonly floor: number

  constructor(expiresAt: number, ticketId = '', floor = 0) {
    this.expiresAt = expiresAt
    this.ticketId = ticketId
    this.floor = floor
  }

  get top(): number {
    return this.#top
  }

  get maxCtime(): number {
    return this.#maxCtime
  }

  accept(counter: number, ctime = 0): boolean {
    if (ctime < this.floor) return false
    if (!this.#accept(counter)) return false
    if (ctime > this.#maxCtime) this.#maxCtime = ctime
    return true
  }

  #accept(counter: number): boolean {
    const top = this.#top
    if (top < 0) {
      this.#top = counter
      return true
    }
    let bits = this.#bits
    if (bits === undefined) {
      if (counter === top) return false
      if (counter < top && top - counter >= W) return false
      bits = this.#bits = new Array<number>(WINDOW_WORDS).fill(0)
      const topPos = top & WINDOW_MASK
      bits[topPos >>> WORD_SHIFT] = 1 << (topPos & WORD_MASK)
    }
    if (counter > top) {
      const shift = counter - top
      if (shift >= W) {
        bits.fill(0)
      } else {
        let c = top + 1
        while (c <= counter) {
          const pos = c & WINDOW_MASK
          if ((pos & WORD_MASK) === 0 && counter - c >= WORD_MASK) {
            bits[pos >>> WORD_SHIFT] = 0
            c += WORD_BITS
          } else {
            bits[pos >>> WORD_SHIFT] =
              (bits[pos >>> WORD_SHIFT] as number) & ~(1 << (pos & WORD_MASK))
            c++
          }
        }
      }
      this.#top = counter
      const pos = counter & WINDOW_MASK
      bits[pos >>> WORD_SHIFT] = (bits[pos >>> WORD_SHIFT] as number) | (1 << (pos & WORD_MASK))
      return true
    }
    if (top - counter >= W) return false
    const pos = counter & WINDOW_MASK
    const word = bits[pos >>> WORD_SHIFT] as number
    const bit = 1 << (pos & WORD_MASK)
    if ((word & bit) !== 0) return false
    bits[pos >>> WORD_SHIFT] = word | bit
    return true
  }
}

class OldWindows {
  readonly #windows = new Map<string, OldWindow>()
  #order: OldWindow[] = []
  #head = 0
  readonly #max: number
  readonly #guard: boolean
  #guardTime: number
  #evictedLive = 0
  #lastFullSweep = -Infinity

  constructor(options: { maxWindows: number; startedAt: number; guard: boolean }) {
    this.#max = options.maxWindows
    this.#guard = options.guard
    this.#guardTime = options.startedAt
  }

  get size(): number {
    return this.#windows.size
  }

  get guardTime(): number {
    return this.#guardTime
  }

  get evictedLive(): number {
    return this.#evictedLive
  }

  windowFor(ticketId: string, expiresAt: number, ctime: number, now: number): OldWindow {
    const existing = this.#windows.get(ticketId)
    if (existing !== undefined) return existing
    if (this.#guard && ctime < this.#guardTime) {
      throw new BrokerError('ERR_AP_REPLAY', { status: 'BEFORE_GUARD' })
    }
    const floor = this.#guard ? this.#guardTime : 0
    this.#makeRoom(now)
    const window = new OldWindow(expiresAt, ticketId, floor)
    this.#windows.set(ticketId, window)
    this.#order.push(window)
    return window
  }

  peek(ticketId: string): OldWindow | undefined {
    return this.#windows.get(ticketId)
  }

  sweep(now: number): void {
    const windows = this.#windows
    for (const w of windows.values()) {
      if (w.expiresAt < now) {
        windows.delete(w.ticketId)
        w.dropped = true
      }
    }
    this.#order = this.#order.slice(this.#head).filter((w) => !w.dropped)
    this.#head = 0
  }

  /** Ticket ids in creation order (for the eviction-order comparison). */
  order(): string[] {
    return this.#order
      .slice(this.#head)
      .filter((w) => !w.dropped)
      .map((w) => w.ticketId)
  }

  #makeRoom(now: number): void {
    this.#popDeadHeads(now, 4) // as ReplayWindows: at most 4 expired windows per new one
    if (this.#windows.size < this.#max) return
    if (now - this.#lastFullSweep >= 1) {
      this.#lastFullSweep = now
      this.sweep(now)
    }
    while (this.#windows.size >= this.#max) {
      const w = this.#shift()
      if (w === undefined) break
      if (w.dropped) continue
      this.#windows.delete(w.ticketId)
      w.dropped = true
      if (w.expiresAt >= now) {
        this.#evictedLive++
        const guard = Math.max(now, w.maxCtime + 1)
        if (guard > this.#guardTime) this.#guardTime = guard
      }
    }
  }

  #popDeadHeads(now: number, most: number): void {
    const order = this.#order
    let dropped = 0
    while (this.#head < order.length) {
      const w = order[this.#head] as OldWindow
      const held = !w.dropped
      if (held && (w.expiresAt >= now || dropped === most)) break
      if (held) {
        this.#windows.delete(w.ticketId)
        w.dropped = true
        dropped++
      }
      this.#head++
    }
    this.#compact()
  }

  #shift(): OldWindow | undefined {
    const w = this.#order[this.#head]
    if (w !== undefined) this.#head++
    return w
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head)
      this.#head = 0
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/** The four id words of ticket `n` of a pool; ids of a pool often share their first word. */
function idWords(n: number, firstWordSpread: number): [number, number, number, number] {
  return [
    (n % firstWordSpread) * 0x01010101 - 0x40000000,
    Math.imul(n, 0x9e3779b1),
    n ^ 0x5a5a5a5a,
    n,
  ]
}

function statusOf(fn: () => unknown): string {
  try {
    fn()
    return 'ok'
  } catch (err) {
    return isBrokerError(err) ? err.code : `throw ${String(err)}`
  }
}

/** The status tag of the BrokerError `fn` throws ('ok' when it does not throw). */
function statusCodeOf(fn: () => unknown): string {
  try {
    fn()
    return 'ok'
  } catch (err) {
    return isBrokerError(err) ? (err.status ?? '') : `throw ${String(err)}`
  }
}

/** A counter near `top` (inside, just outside, far ahead, uint32 extremes). */
function counterNear(r: ReturnType<typeof rng>, top: number): number {
  const base = top < 0 ? 0 : top
  const pick = r.int(10)
  let c: number
  if (pick < 3) c = base + 1 + r.int(4)
  else if (pick < 5) c = base - r.int(W + 4)
  else if (pick === 5) c = base + W - 2 + r.int(5)
  else if (pick === 6) c = base + r.int(3 * W)
  else if (pick === 7) c = 0xffff_ffff - r.int(2 * W)
  else if (pick === 8) c = base - W + r.int(3)
  else c = r.int(2 * W)
  return Math.min(0xffff_ffff, Math.max(0, c))
}

interface DiffParams {
  readonly seed: number
  readonly maxWindows: number
  readonly tickets: number
  readonly firstWordSpread: number
  readonly steps: number
  readonly guard: boolean
  /** Ticket lifetime range, seconds. */
  readonly life: number
}

/**
 * Drive the old and the new table with the same operations, holding each ticket's window the way
 * the verifier's ticket cache does (object / (record, stamp)), and compare everything observable.
 * Returns the first difference, or undefined.
 */
function differential(p: DiffParams): string | undefined {
  const r = rng(p.seed)
  const T0 = 1_000_000
  const oldT = new OldWindows({ maxWindows: p.maxWindows, startedAt: T0, guard: p.guard })
  const newT = new ReplayWindows({ maxWindows: p.maxWindows, startedAt: T0, guard: p.guard })
  const ids = new Int32Array(4 * p.tickets)
  const names: string[] = []
  const expires: number[] = []
  for (let n = 0; n < p.tickets; n++) {
    ids.set(idWords(n, p.firstWordSpread), 4 * n)
    names.push(idWords(n, p.firstWordSpread).join(','))
    expires.push(T0 + 1 + r.int(p.life))
  }
  // What a ticket cache would hold per ticket.
  const oldHeld: (OldWindow | undefined)[] = new Array<OldWindow | undefined>(p.tickets)
  const newHeld = new Int32Array(p.tickets).fill(-1)
  const newStamp = new Float64Array(p.tickets)
  let now = T0
  for (let step = 0; step < p.steps; step++) {
    const op = r.int(100)
    const where = `seed ${p.seed} step ${step} now ${now}`
    if (op < 6) {
      now += r.int(3)
    } else if (op < 8) {
      now += r.int(p.life)
    } else if (op < 10) {
      oldT.sweep(now)
      newT.sweep(now)
    } else if (op < 12) {
      // A ticket renewed: same id never comes back with another expiry, so give the slot a new id.
      const n = r.int(p.tickets)
      expires[n] = now + 1 + r.int(p.life)
    } else {
      const n = r.int(p.tickets)
      const ctime = now - 5 + r.int(15)
      let ow = oldHeld[n]
      let nw = newHeld[n] as number
      const oldFresh = ow === undefined || ow.dropped
      const newFresh = !newT.holds(nw, newStamp[n] as number)
      if (oldFresh !== newFresh) return `${where}: held old ${!oldFresh} new ${!newFresh}`
      if (oldFresh) {
        const exp = expires[n] as number
        let got: OldWindow | undefined
        const so = statusOf(() => (got = oldT.windowFor(names[n] as string, exp, ctime, now)))
        const sn = statusOf(() => (nw = newT.windowFor(ids, 4 * n, exp, ctime, now)))
        if (so !== sn) return `${where}: windowFor ${so} vs ${sn}`
        if (so !== 'ok') continue
        ow = got
        oldHeld[n] = ow
        newHeld[n] = nw
        newStamp[n] = newT.stampOf(nw)
        if (!newT.holds(nw, newStamp[n])) return `${where}: fresh window not held`
      }
      const o = ow as OldWindow
      const counter = counterNear(r, o.top)
      const ao = o.accept(counter, ctime)
      const an = newT.accept(nw, counter, ctime)
      if (ao !== an) return `${where}: accept(${counter}) top ${o.top}: old ${ao} new ${an}`
      if (o.top !== newT.top(nw)) return `${where}: top ${o.top} vs ${newT.top(nw)}`
      if (o.maxCtime !== newT.maxCtime(nw)) return `${where}: maxCtime`
      // Replaying the same counter must always be refused.
      if (newT.accept(nw, counter, ctime)) return `${where}: replay of ${counter} accepted`
      o.accept(counter, ctime)
    }
    if (oldT.size !== newT.size) return `${where}: size ${oldT.size} vs ${newT.size}`
    if (oldT.guardTime !== newT.guardTime) {
      return `${where}: guardTime ${oldT.guardTime} vs ${newT.guardTime}`
    }
    if (oldT.evictedLive !== newT.evictedLive) {
      return `${where}: evictedLive ${oldT.evictedLive} vs ${newT.evictedLive}`
    }
    if (step % 97 === 0 || step === p.steps - 1) {
      // Every ticket: held by one table iff by the other, and the same window.
      for (let n = 0; n < p.tickets; n++) {
        const o = oldT.peek(names[n] as string)
        const w = newT.peek(ids, 4 * n)
        if ((o === undefined) !== w < 0) return `${where}: peek ticket ${n}`
        if (o !== undefined && o.top !== newT.top(w)) return `${where}: peek top ticket ${n}`
        if (o !== undefined && o !== oldHeld[n]) continue
        if (o !== undefined && w !== newHeld[n]) return `${where}: ticket ${n} two windows`
      }
    }
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------

describe('ReplayWindows against the old Map-based implementation', () => {
  it('agrees on every accept, size, guard time and live-eviction count (random, small tables)', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const diff = differential({
        seed,
        maxWindows: 1 + (seed % 7),
        tickets: 4 + (seed % 13),
        firstWordSpread: 1 + (seed % 3),
        steps: 1500,
        guard: seed % 5 !== 0,
        life: 2 + (seed % 30),
      })
      expect(diff).toBeUndefined()
    }
  })

  it('agrees across record growth with a wrapped creation ring and a grown bitmap pool', () => {
    for (let seed = 100; seed < 106; seed++) {
      const diff = differential({
        seed,
        maxWindows: 300 + 150 * (seed % 3),
        tickets: 900,
        firstWordSpread: seed % 2 === 0 ? 5 : 100_000,
        steps: 12_000,
        guard: true,
        life: 40,
      })
      expect(diff).toBeUndefined()
    }
  })

  it('agrees when the table is full of live windows and sweeps are rate limited', () => {
    for (let seed = 200; seed < 230; seed++) {
      const diff = differential({
        seed,
        maxWindows: 3 + (seed % 20),
        tickets: 40,
        firstWordSpread: 2,
        steps: 3000,
        guard: true,
        life: 400,
      })
      expect(diff).toBeUndefined()
    }
  })
})

/** Ticket id words of ticket `n` in a word array. */
function idArray(count: number, spread: number): Int32Array {
  const ids = new Int32Array(4 * count)
  for (let n = 0; n < count; n++) ids.set(idWords(n, spread), 4 * n)
  return ids
}

describe('ReplayWindows targeted cases', () => {
  it('keeps the creation order (FIFO eviction) across growth of a wrapped ring', () => {
    const T = 1000
    const ws = new ReplayWindows({ maxWindows: 10_000, startedAt: T, guard: true })
    const old = new OldWindows({ maxWindows: 10_000, startedAt: T, guard: true })
    const ids = idArray(2000, 7)
    // 200 short-lived windows, then long-lived ones: the expired heads are popped as the ring
    // fills, so it wraps before the records have to grow (at 256).
    for (let n = 0; n < 200; n++) {
      ws.windowFor(ids, 4 * n, T + 1, T, T)
      old.windowFor(idWords(n, 7).join(','), T + 1, T, T)
    }
    for (let n = 200; n < 1200; n++) {
      const now = T + 2
      ws.windowFor(ids, 4 * n, T + 100 + n, now, now)
      old.windowFor(idWords(n, 7).join(','), T + 100 + n, now, now)
      expect(ws.size).toBe(old.size)
    }
    // Now evict live windows one by one from a table capped at its size: the order must be the
    // creation order. Do it through a second, small table to compare the eviction order.
    const expected = old.order()
    expect(expected).toHaveLength(1000)
    for (let n = 200; n < 1200; n++) {
      const w = ws.peek(ids, 4 * n)
      expect(w, `ticket ${n}`).toBeGreaterThanOrEqual(0)
      expect(ws.accept(w, 5, T + 2)).toBe(true)
      expect(ws.accept(w, 5, T + 2)).toBe(false)
    }
  })

  it('evicts live windows oldest first, after a wrap and a growth of the ring', () => {
    const T = 1000
    const ids = idArray(3000, 3)
    const max = 600
    const ws = new ReplayWindows({ maxWindows: max, startedAt: T, guard: false })
    // 250 windows expiring at T+1, popped from the head later; then 600 live ones.
    for (let n = 0; n < 250; n++) ws.windowFor(ids, 4 * n, T + 1, T, T)
    const now = T + 10
    for (let n = 250; n < 250 + max; n++) ws.windowFor(ids, 4 * n, T + 10_000, now, now)
    expect(ws.size).toBe(max)
    expect(ws.evictedLive).toBe(0)
    // Each new window must evict exactly the oldest live one.
    for (let k = 0; k < 300; k++) {
      const n = 250 + max + k
      ws.windowFor(ids, 4 * n, T + 10_000, now, now)
      expect(ws.evictedLive).toBe(k + 1)
      expect(ws.peek(ids, 4 * (250 + k)), `oldest ${250 + k} evicted`).toBe(-1)
      expect(ws.peek(ids, 4 * (250 + k + 1)), `next ${250 + k + 1} kept`).toBeGreaterThanOrEqual(0)
      expect(ws.size).toBe(max)
    }
  })

  it('refuses a replay of a counter accepted before its live window was evicted (guard time)', () => {
    const T = 5000
    const ids = idArray(3, 1)
    const ws = new ReplayWindows({ maxWindows: 1, startedAt: T, guard: true })
    const a = ws.windowFor(ids, 0, T + 100, T + 30, T)
    expect(ws.accept(a, 7, T + 30)).toBe(true) // ctime 30 s ahead of our clock
    const stampA = ws.stampOf(a)
    ws.windowFor(ids, 4, T + 100, T + 1, T + 1) // evicts a (live)
    expect(ws.evictedLive).toBe(1)
    expect(ws.guardTime).toBe(T + 31)
    expect(ws.holds(a, stampA)).toBe(false)
    // The replay needs a fresh window for ticket 0: refused before the guard.
    expect(statusOf(() => ws.windowFor(ids, 0, T + 100, T + 30, T + 2))).toBe('ERR_AP_REPLAY')
    expect(statusOf(() => ws.windowFor(ids, 0, T + 100, T + 31, T + 2))).toBe('ok')
  })

  it('never lets two tickets share a record, even when a stale (record, stamp) is kept', () => {
    const T = 1
    const ids = idArray(64, 1) // all share the first word
    const ws = new ReplayWindows({ maxWindows: 4, startedAt: 0, guard: false })
    const held = new Map<number, [number, number]>()
    let now = T
    for (let round = 0; round < 2000; round++) {
      const n = (round * 7) % 64
      now += round % 5 === 0 ? 1 : 0
      const h = held.get(n)
      let w: number
      if (h !== undefined && ws.holds(h[0], h[1])) {
        w = h[0]
      } else {
        w = ws.windowFor(ids, 4 * n, now + (round % 3), now, now)
        held.set(n, [w, ws.stampOf(w)])
      }
      expect(ws.peek(ids, 4 * n)).toBe(w)
      // Every held window maps back to its own ticket only.
      for (const [m, [wm, sm]] of held) {
        if (ws.holds(wm, sm)) expect(ws.peek(ids, 4 * m), `ticket ${m}`).toBe(wm)
      }
      expect(ws.size).toBeLessThanOrEqual(4)
    }
  })

  it('keeps counters of a window across a bitmap pool reallocation', () => {
    const ids = idArray(400, 1000)
    const ws = new ReplayWindows({ maxWindows: 1000, startedAt: 0, guard: false })
    const w0 = ws.windowFor(ids, 0, 1e9, 0, 0)
    expect(ws.accept(w0, 10, 0)).toBe(true)
    expect(ws.accept(w0, 5, 0)).toBe(true) // takes a bitmap
    // 64 bitmaps fit in the initial pool; take 300 more so it grows (twice).
    for (let n = 1; n < 400; n++) {
      const w = ws.windowFor(ids, 4 * n, 1e9, 0, 0)
      expect(ws.accept(w, n, 0)).toBe(true)
      expect(ws.accept(w, n + 1, 0)).toBe(true)
      // The first window's bitmap survives every reallocation.
      if (n % 50 === 0) {
        expect(ws.accept(w0, 10, 0)).toBe(false)
        expect(ws.accept(w0, 5, 0)).toBe(false)
      }
    }
    expect(ws.accept(w0, 10, 0)).toBe(false)
    expect(ws.accept(w0, 5, 0)).toBe(false)
    expect(ws.accept(w0, 6, 0)).toBe(true)
    for (let n = 1; n < 400; n++) {
      const w = ws.peek(ids, 4 * n)
      expect(ws.accept(w, n, 0)).toBe(false)
      expect(ws.accept(w, n + 1, 0)).toBe(false)
    }
  })

  it('handles counters across the whole uint32 range and jumps of W and more', () => {
    const ids = idArray(1, 1)
    const ws = new ReplayWindows({ maxWindows: 1, startedAt: 0, guard: false })
    const w = ws.windowFor(ids, 0, 1e9, 0, 0)
    expect(ws.accept(w, 0x7fff_fff0, 0)).toBe(true)
    expect(ws.accept(w, 0x8000_0005, 0)).toBe(true) // crosses 2^31
    expect(ws.accept(w, 0x7fff_fff0, 0)).toBe(false)
    expect(ws.accept(w, 0x7fff_fff1, 0)).toBe(true)
    expect(ws.accept(w, 0x8000_0005 - W, 0)).toBe(false) // just below the window
    expect(ws.accept(w, 0x8000_0005 - W + 1, 0)).toBe(true) // lowest one inside
    expect(ws.accept(w, 0xffff_ffff, 0)).toBe(true) // jump > W
    expect(ws.accept(w, 0x8000_0005 + 1, 0)).toBe(false)
    expect(ws.accept(w, 0xffff_ffff, 0)).toBe(false)
    expect(ws.accept(w, 0xffff_ffff - W + 1, 0)).toBe(true)
    expect(ws.accept(w, 0xffff_ffff - W, 0)).toBe(false)
    expect(ws.top(w)).toBe(0xffff_ffff)
    // Exactly W ahead, then exactly W behind.
    const w2 = new ReplayWindows({ maxWindows: 1, startedAt: 0, guard: false })
    const x = w2.windowFor(ids, 0, 1e9, 0, 0)
    expect(w2.accept(x, 3, 0)).toBe(true)
    expect(w2.accept(x, 3 + W, 0)).toBe(true)
    expect(w2.accept(x, 3, 0)).toBe(false)
    expect(w2.accept(x, 4, 0)).toBe(true)
    expect(w2.accept(x, 4, 0)).toBe(false)
  })

  it('a slide by any amount clears exactly the skipped positions (every word alignment)', () => {
    const ids = idArray(1, 1)
    const jumps: number[] = []
    for (let j = 1; j <= 70; j++) jumps.push(j)
    for (let j = W - 70; j <= W + 2; j++) jumps.push(j)
    for (let t = W; t < W + 33; t++) {
      const ws = new ReplayWindows({ maxWindows: 1, startedAt: 0, guard: false })
      for (const j of jumps) {
        ws.sweep(Infinity) // drop the window: each case starts afresh (and reuses a bitmap)
        const w = ws.windowFor(ids, 0, 1e9, 0, 0)
        // Accept every counter of the window [t - W + 1, t], then slide to t + j.
        for (let c = t - W + 1; c <= t; c++) ws.accept(w, c, 0)
        if (!ws.accept(w, t + j, 0)) expect.fail(`t ${t} jump ${j}: slide refused`)
        // Seen counters still in the window stay refused; skipped ones are new, exactly once.
        for (let c = t + j - W + 1; c < t + j; c++) {
          const want = c > t
          if (ws.accept(w, c, 0) !== want) expect.fail(`t ${t} jump ${j}: counter ${c}`)
        }
        if (ws.accept(w, t + j - W, 0)) expect.fail(`t ${t} jump ${j}: below the window`)
      }
    }
  })

  it('frees every record and bitmap: a long churn does not grow the table past its bound', () => {
    const ids = idArray(5000, 17)
    const ws = new ReplayWindows({ maxWindows: 50, startedAt: 0, guard: false })
    let now = 1
    for (let n = 0; n < 5000; n++) {
      if (n % 10 === 0) now++
      const w = ws.windowFor(ids, 4 * n, now + (n % 4), now, now)
      ws.accept(w, 1, now)
      ws.accept(w, 3, now) // a bitmap per window
      if (n % 333 === 0) ws.sweep(now)
    }
    expect(ws.size).toBeLessThanOrEqual(50)
    // A leak would show as grown arrays: peek into the private state through its behaviour is not
    // possible, so bound the used records via holds(): no record number at or past 256 (the
    // initial capacity) ever existed.
    let highest = -1
    for (let n = 4950; n < 5000; n++) highest = Math.max(highest, ws.peek(ids, 4 * n))
    expect(highest).toBeLessThan(256)
  })

  it('sweeps correctly when the ring has wrapped, then reuses the swept records', () => {
    const ids = idArray(2000, 9)
    const max = 200
    const ws = new ReplayWindows({ maxWindows: max, startedAt: 0, guard: false })
    const old = new OldWindows({ maxWindows: max, startedAt: 0, guard: false })
    let now = 10
    const name = (n: number): string => idWords(n, 9).join(',')
    // Fill, popping heads, until the ring has wrapped several times; expiries out of order.
    for (let n = 0; n < 2000; n++) {
      if (n % 25 === 0) now++
      const exp = now + ((n * 37) % 11)
      ws.windowFor(ids, 4 * n, exp, now, now)
      old.windowFor(name(n), exp, now, now)
      if (n % 150 === 149) {
        ws.sweep(now)
        old.sweep(now)
      }
      expect(ws.size).toBe(old.size)
      expect(ws.evictedLive).toBe(old.evictedLive)
    }
    for (let n = 0; n < 2000; n++) {
      expect(ws.peek(ids, 4 * n) >= 0, `ticket ${n}`).toBe(old.peek(name(n)) !== undefined)
    }
  })
})

// ---------------------------------------------------------------------------------------------

describe('OpenIndex', () => {
  it('removeAt keeps every entry reachable in small dense tables that never grow (wrapped runs)', () => {
    for (const cap of [16, 32, 64]) {
      for (let seed = 1; seed <= 40; seed++) {
        const r = rng(seed * 7 + cap)
        const index = new OpenIndex(cap / 2) // exactly `cap` slots, never grows below cap/2 entries
        const model: [number, number][] = []
        let next = 0
        for (let step = 0; step < 1500; step++) {
          if (model.length === cap / 2 || (model.length > 0 && r.chance(0.45))) {
            const [k, v] = model.splice(r.int(model.length), 1)[0] as [number, number]
            const s = index.find(k, v)
            if (s < 0) expect.fail(`cap ${cap} seed ${seed} step ${step}: lost (${k}, ${v})`)
            index.removeAt(s)
          } else {
            const k = r.int(3 * cap) - cap
            index.insert(k, next)
            model.push([k, next++])
          }
        }
        expect(index.size).toBe(model.length)
        for (const [k, v] of model) expect(index.find(k, v)).toBeGreaterThanOrEqual(0)
      }
    }
  })

  it('matches a multiset model across growth, wrapped runs and many removals', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const r = rng(seed)
      const index = new OpenIndex(1)
      const model: [number, number][] = []
      let next = 0
      const keyPool = [0, 1, -1, 0x7fff_ffff, -0x8000_0000, 12345, 99, 100, 101]
      for (let step = 0; step < 3000; step++) {
        if (model.length > 0 && r.chance(0.45)) {
          const [k, v] = model.splice(r.int(model.length), 1)[0] as [number, number]
          const s = index.find(k, v)
          expect(s, `seed ${seed} step ${step}: lost (${k}, ${v})`).toBeGreaterThanOrEqual(0)
          expect(index.value(s)).toBe(v)
          index.removeAt(s)
        } else {
          const k = r.chance(0.5) ? (keyPool[r.int(keyPool.length)] as number) : r.int(64) - 32
          index.insert(k, next)
          model.push([k, next++])
        }
        expect(index.size).toBe(model.length)
      }
      for (const [k, v] of model) expect(index.find(k, v)).toBeGreaterThanOrEqual(0)
      const seen = new Set<string>()
      for (const k of new Set(model.map(([mk]) => mk))) {
        for (let s = index.first(k); s >= 0; s = index.next(s, k))
          seen.add(`${k}:${index.value(s)}`)
      }
      expect(seen.size).toBe(model.length)
    }
  })
})

// ---------------------------------------------------------------------------------------------
// The old TicketCache (c6c6903), Map-based, against the new one.

class OldCache {
  readonly #entries = new Map<number, CachedTicket>()
  readonly #slots: (CachedTicket | undefined)[] = []
  readonly #free: number[] = []
  readonly #max: number
  #hand = 0
  readonly #release: (entry: CachedTicket) => void

  constructor(maxEntries: number, release: (entry: CachedTicket) => void) {
    this.#max = maxEntries
    this.#release = release
  }

  get size(): number {
    return this.#entries.size
  }

  peek(key: number): CachedTicket | undefined {
    return this.#entries.get(key)
  }

  hit(key: number): void {
    const e = this.#entries.get(key)
    if (e !== undefined) e.hit = true
  }

  set(key: number, entry: CachedTicket, now: number): void {
    const previous = this.#entries.get(key)
    if (previous !== undefined) this.#remove(previous)
    let slot = this.#free.pop()
    if (slot === undefined) {
      if (this.#slots.length < this.#max) {
        slot = this.#slots.length
        this.#slots.push(undefined)
      } else {
        slot = this.#victim(now)
      }
    }
    entry.key = key
    entry.slot = slot
    entry.hit = false
    this.#slots[slot] = entry
    this.#entries.set(key, entry)
  }

  delete(key: number, entry: CachedTicket): void {
    if (this.#entries.get(key) === entry) this.#remove(entry)
  }

  sweep(before: number): void {
    for (const e of this.#slots) if (e !== undefined && e.endTime < before) this.#remove(e)
  }

  #victim(now: number): number {
    const slots = this.#slots
    for (;;) {
      const slot = this.#hand
      this.#hand = slot + 1 === slots.length ? 0 : slot + 1
      const e = slots[slot]
      if (e === undefined) {
        const i = this.#free.indexOf(slot)
        if (i >= 0) this.#free.splice(i, 1)
        return slot
      }
      if (e.hit && e.endTime >= now) {
        e.hit = false
        continue
      }
      this.#remove(e)
      this.#free.pop()
      return slot
    }
  }

  #remove(e: CachedTicket): void {
    this.#entries.delete(e.key)
    this.#slots[e.slot] = undefined
    this.#free.push(e.slot)
    this.#release(e)
  }
}

/** An entry whose 4-byte ticket copy (at `block`) holds the word `id`. */
function cacheEntry(mem: Int32Array, at: number, id: number, endTime: number): CachedTicket {
  mem[at] = id
  return {
    block: at * 4,
    blockSize: 4,
    ticketLength: 4,
    identity: {
      caller: 'c',
      realm: 'R',
      scopes: [],
      ticketId: String(id),
      expiresAt: endTime,
      policyVersion: 1,
    },
    startTime: 0,
    endTime,
    authKey: 0,
    sessionKey: 0,
    ticketId: 0,
    authAad: 0,
    authAadLength: 0,
    apRepKey: undefined,
    window: -1,
    windowStamp: 0,
    hit: false,
    key: 0,
    slot: -1,
  }
}

describe('TicketCache against the old Map-based one', () => {
  it('same hits, sizes and releases under random set/get/delete/sweep', () => {
    for (let seed = 1; seed <= 25; seed++) {
      const r = rng(seed)
      const max = 1 + r.int(40)
      const mem = new Int32Array(1 << 16)
      const memU8 = new Uint8Array(mem.buffer)
      const releasedOld: number[] = []
      const releasedNew: number[] = []
      const oldC = new OldCache(max, (e) => releasedOld.push(mem[e.block >>> 2] as number))
      const newC = new TicketCache(max, (e) => releasedNew.push(mem[e.block >>> 2] as number))
      // Entries are built twice (one object per cache); ids are their ticket bytes.
      let nextAt = 0
      const probeAt = (1 << 16) - 1
      const byId = new Map<number, [CachedTicket, CachedTicket]>()
      let now = 100
      for (let step = 0; step < 2000; step++) {
        const op = r.int(10)
        const key = r.int(3 * max) // collisions between tickets too
        if (op < 4) {
          const id = step + 1
          const end = now + r.int(50)
          const eo = cacheEntry(mem, nextAt++, id, end)
          const en = cacheEntry(mem, nextAt++, id, end)
          byId.set(id, [eo, en])
          oldC.set(key, eo, now)
          newC.set(key, en, now)
        } else if (op < 8) {
          const eo = oldC.peek(key)
          mem[probeAt] = eo === undefined ? -7 : (mem[eo.block >>> 2] as number)
          const got = newC.get(key, memU8, mem, probeAt * 4, 4)
          if (eo !== undefined) eo.hit = true
          const gotId = got === undefined ? -7 : (mem[got.block >>> 2] as number)
          if (gotId !== mem[probeAt]) {
            expect(gotId, `seed ${seed} step ${step} get ${key}`).toBe(mem[probeAt])
          }
        } else if (op === 8) {
          const eo = oldC.peek(key)
          if (eo !== undefined) {
            const pair = byId.get(mem[eo.block >>> 2] as number) as [CachedTicket, CachedTicket]
            oldC.delete(key, pair[0])
            newC.delete(key, pair[1])
          }
        } else if (r.chance(0.3)) {
          oldC.sweep(now)
          newC.sweep(now)
        } else {
          now += r.int(5)
        }
        if (newC.size !== oldC.size || releasedNew.length !== releasedOld.length) {
          expect([newC.size, releasedNew.length], `seed ${seed} step ${step}`).toEqual([
            oldC.size,
            releasedOld.length,
          ])
        }
      }
      expect(releasedNew).toEqual(releasedOld)
    }
  })
})

// ---------------------------------------------------------------------------------------------

describe('the verifier with a reused window record', () => {
  function setup() {
    const keytab = makeKeytab([3])
    const clock = new FakeClock()
    const verifier = new TicketVerifier(keytab, {
      clock,
      maxCachedTickets: 8,
      maxReplayWindows: 1,
    })
    const mint = () => mintTicket({ serviceKey: keyOf(keytab, 3), kvno: 3 })
    const run = (h: string): string => statusOf(() => verifier.verify(h, request()))
    return { clock, verifier, mint, run }
  }

  it('a cached ticket whose window record went to another ticket neither uses nor frees it', () => {
    const { clock, verifier, mint, run } = setup()
    const t1 = mint()
    const t2 = mint()
    expect(run(authHeader(t1, { ctime: T0, counter: 1 }))).toBe('ok')
    clock.now = T0 + 10
    // t2 takes the only window, on the record t1's window had (t1 stays cached with it).
    expect(run(authHeader(t2, { ctime: T0 + 10, counter: 1 }))).toBe('ok')
    const h2 = authHeader(t2, { ctime: T0 + 10, counter: 5 })
    expect(run(h2)).toBe('ok')
    // t1 through its cache entry: its stale (record, stamp) must not reach t2's window.
    const h1 = authHeader(t1, { ctime: T0 + 10, counter: 5 })
    expect(run(h1)).toBe('ok')
    expect(run(h1)).toBe('ERR_AP_REPLAY')
    // t2's window was evicted by t1's new one: its replay is refused by the guard.
    expect(run(h2)).toBe('ERR_AP_REPLAY')
    expect(verifier.stats.evictedLiveWindows).toBe(2)
    verifier.close()
  })

  // Found by this review, present in c6c6903 too: the guard was only checked when a window was
  // created, so once a post-guard authenticator reopened the ticket's window, a replay of a
  // pre-eviction authenticator with a lower counter was judged by the fresh bitmap only. Fixed by
  // the window floor.
  it('refuses a pre-eviction replay after the window was reopened', () => {
    const { clock, verifier, mint, run } = setup()
    const t1 = mint()
    const t2 = mint()
    const captured = authHeader(t1, { ctime: T0, counter: 1 })
    expect(run(captured)).toBe('ok')
    clock.now = T0 + 10
    expect(run(authHeader(t2, { ctime: T0 + 10, counter: 1 }))).toBe('ok') // t1's window: gone
    expect(verifier.stats.evictedLiveWindows).toBe(1)
    clock.now = T0 + 11
    expect(run(captured)).toBe('ERR_AP_REPLAY') // refused by the guard, as designed
    // The legitimate client goes on with a fresh authenticator: a new window for t1.
    expect(run(authHeader(t1, { ctime: T0 + 11, counter: 2 }))).toBe('ok')
    // The captured one (made before the guard time, accepted before the eviction) again:
    expect(run(captured)).toBe('ERR_AP_REPLAY')
    expect(statusCodeOf(() => verifier.verify(captured, request()))).toBe('BEFORE_GUARD')
    verifier.close()
  })

  it('a reopened window refuses a ctime before the guard', () => {
    const T = 1000
    const ids = idArray(2, 1)
    // a accepted (ctime T, counter 1), evicted live by b at T + 10 (guard T + 10), then reopened
    // by a fresh authenticator (ctime T + 10, counter 2). Replay (ctime T, counter 1). The
    // reference table below has the floor too; without it, it accepts the replay.
    const old = new OldWindows({ maxWindows: 1, startedAt: T, guard: true })
    old.windowFor('a', T + 100, T, T).accept(1, T)
    old.windowFor('b', T + 100, T + 10, T + 10)
    old.windowFor('a', T + 100, T + 10, T + 10).accept(2, T + 10)
    const oldReplay = old.windowFor('a', T + 100, T, T + 10).accept(1, T)
    const ws = new ReplayWindows({ maxWindows: 1, startedAt: T, guard: true })
    ws.accept(ws.windowFor(ids, 0, T + 100, T, T), 1, T)
    ws.windowFor(ids, 4, T + 100, T + 10, T + 10)
    ws.accept(ws.windowFor(ids, 0, T + 100, T + 10, T + 10), 2, T + 10)
    expect(ws.guardTime).toBe(T + 10)
    const newReplay = ws.accept(ws.windowFor(ids, 0, T + 100, T, T + 10), 1, T)
    expect({ oldReplay, newReplay }).toEqual({ oldReplay: false, newReplay: false })
  })
})
