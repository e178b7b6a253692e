import { describe, expect, it } from 'vitest'
import { TicketVerifier } from '../../../service-sdk/index.js'
import {
  sameTicket,
  TicketCache,
  ticketCacheKey,
  type CachedTicket,
} from '../../../service-sdk/ticket-cache.js'
import { authHeader, FakeClock, keyOf, makeKeytab, mintTicket, request, T0 } from './fixtures.js'

/**
 * One memory for a test, as the verifier heap is for the verifier: the entries' ticket copies and
 * the bytes looked up live in it, and the cache reads both through the same u8/i32 views.
 */
class Memory {
  readonly u8 = new Uint8Array(1 << 16)
  readonly i32 = new Int32Array(this.u8.buffer)
  #top = 8

  /** Copy `bytes` to the next 8-aligned address plus `offset` (0..7); returns where they landed. */
  put(bytes: ArrayLike<number>, offset = 0): number {
    const at = this.#top + offset
    this.u8.set(bytes, at)
    this.#top = (at + bytes.length + 8 + 7) & ~7
    return at
  }
}

/** A cache entry whose ticket copy is `bytes`, in a block of `mem` laid out as the verifier's. */
function entry(mem: Memory, bytes: number[], endTime = 1000): CachedTicket {
  const pad = (bytes.length + 3) & ~3
  const block = mem.put([...bytes, ...new Array<number>(pad - bytes.length + 80).fill(0)])
  return {
    block,
    blockSize: pad + 80,
    ticketLength: bytes.length,
    identity: Object.freeze({
      caller: 'c',
      realm: 'R',
      scopes: [],
      ticketId: '00',
      expiresAt: endTime,
      policyVersion: 1,
    }),
    startTime: 0,
    endTime,
    authKey: block + pad,
    sessionKey: block + pad + 32,
    ticketId: block + pad + 64,
    authAad: block + pad + 80,
    authAadLength: 0,
    apRepKey: undefined,
    window: -1,
    windowStamp: 0,
    hit: false,
    key: 0,
    slot: -1,
  }
}

/** A cache whose release callback records every entry it is handed. */
function cacheOf(max: number): { c: TicketCache; released: CachedTicket[] } {
  const released: CachedTicket[] = []
  const c = new TicketCache(max, (e) => {
    released.push(e)
  })
  return { c, released }
}

describe('TicketCache', () => {
  it('finds an entry only when the full bytes match', () => {
    const mem = new Memory()
    const { c } = cacheOf(4)
    const e = entry(mem, [1, 2, 3, 4, 5])
    c.set(7, e, 0)
    const at = mem.put([9, 1, 2, 3, 4, 5, 9])
    const other = mem.put([1, 2, 3, 4, 6])
    expect(c.get(7, mem.u8, mem.i32, at + 1, 5)).toBe(e)
    expect(c.get(7, mem.u8, mem.i32, other, 5)).toBeUndefined()
    expect(c.get(7, mem.u8, mem.i32, at + 1, 4)).toBeUndefined()
    expect(c.get(7, mem.u8, mem.i32, at + 1, 6)).toBeUndefined()
    expect(c.get(8, mem.u8, mem.i32, at + 1, 5)).toBeUndefined()
  })

  it('compares every byte, at aligned and unaligned offsets, for every length mod 4', () => {
    for (const length of [1, 2, 3, 4, 5, 6, 7, 8, 63, 64, 65, 66, 222]) {
      const ticket = Array.from({ length }, (_, i) => (i * 37 + 11) & 0xff)
      const mem = new Memory()
      const { c } = cacheOf(4)
      const e = entry(mem, ticket)
      c.set(1, e, 0)
      for (const offset of [0, 1, 2, 3, 4, 5, 6, 7]) {
        const { u8, i32 } = mem
        const at = mem.put(ticket, offset)
        expect(at & 7, 'put').toBe(offset)
        expect(c.get(1, u8, i32, at, length), `length ${length} at +${offset}`).toBe(e)
        for (let i = 0; i < length; i++) {
          u8[at + i] = (u8[at + i] as number) ^ 0x80
          expect(c.get(1, u8, i32, at, length), `flip ${i}`).toBeUndefined()
          u8[at + i] = (u8[at + i] as number) ^ 0x80
          // The cached copy's bytes count as much as the looked-up ones.
          u8[e.block + i] = (u8[e.block + i] as number) ^ 0x01
          expect(c.get(1, u8, i32, at, length), `cached flip ${i}`).toBeUndefined()
          u8[e.block + i] = (u8[e.block + i] as number) ^ 0x01
        }
        // Bytes past the end never matter; a longer or shorter range never matches.
        u8[at + length] = 0xff
        u8[e.block + length] = 0xfe
        expect(c.get(1, u8, i32, at, length)).toBe(e)
        expect(c.get(1, u8, i32, at, length + 1)).toBeUndefined()
        expect(c.get(1, u8, i32, at, length - 1)).toBeUndefined()
        u8[e.block + length] = 0
      }
    }
  })

  it('never holds more than its bound and evicts cold entries first (second chance)', () => {
    const mem = new Memory()
    const { c, released } = cacheOf(3)
    const es = [0, 1, 2, 3].map((i) => entry(mem, [i]))
    const at = [0, 1, 2].map((i) => mem.put([i]))
    c.set(0, es[0]!, 0)
    c.set(1, es[1]!, 0)
    c.set(2, es[2]!, 0)
    expect(c.get(0, mem.u8, mem.i32, at[0]!, 1)).toBe(es[0]) // 0 is hot now
    c.set(3, es[3]!, 0) // evicts 1 (oldest cold), keeps 0
    expect(c.size).toBe(3)
    expect(released).toEqual([es[1]])
    expect(c.get(1, mem.u8, mem.i32, at[1]!, 1)).toBeUndefined()
    expect(c.get(0, mem.u8, mem.i32, at[0]!, 1)).toBe(es[0])
    for (let i = 10; i < 100; i++) {
      c.set(i, entry(mem, [i]), 0)
      expect(c.size).toBeLessThanOrEqual(3)
    }
    expect(c.size).toBe(3)
    expect(released.length).toBe(94 - 3)
  })

  it('releases every entry that leaves, exactly once: eviction, replacement, delete, sweep, clear', () => {
    const mem = new Memory()
    const { c, released } = cacheOf(2)
    const inserted: CachedTicket[] = []
    const put = (key: number, e: CachedTicket, now = 0): CachedTicket => {
      inserted.push(e)
      c.set(key, e, now)
      return e
    }
    const a = put(1, entry(mem, [1]))
    const b = put(2, entry(mem, [2]))
    expect(released).toEqual([])
    // Eviction.
    const d = put(3, entry(mem, [3]))
    expect(released).toEqual([a])
    // A new entry under a key in use replaces (and releases) the old one.
    const d2 = put(3, entry(mem, [3, 3]))
    expect(released).toEqual([a, d])
    // delete() of an entry no longer in the cache does nothing; of a cached one releases it.
    c.delete(3, d)
    c.delete(1, a)
    expect(released).toEqual([a, d])
    c.delete(3, d2)
    expect(released).toEqual([a, d, d2])
    c.delete(3, d2)
    expect(released).toEqual([a, d, d2])
    // Sweep releases the expired only; clear releases the rest; neither twice.
    const dead = put(4, entry(mem, [4], 50))
    c.sweep(100)
    expect(released).toEqual([a, d, d2, dead])
    c.sweep(100)
    c.clear()
    expect(released).toEqual([a, d, d2, dead, b])
    c.clear()
    expect(c.size).toBe(0)
    expect(released.length).toBe(inserted.length)
    expect(new Set(released).size).toBe(released.length)
    // The cache is usable after clear().
    const f = put(5, entry(mem, [5]))
    expect(c.get(5, mem.u8, mem.i32, mem.put([5]), 1)).toBe(f)
  })

  it('releases each of many churned entries exactly once', () => {
    const mem = new Memory()
    const { c, released } = cacheOf(5)
    const inserted: CachedTicket[] = []
    for (let i = 0; i < 200; i++) {
      const e = entry(mem, [i & 0xff], i % 3 === 0 ? i : 10_000)
      inserted.push(e)
      c.set(i % 37, e, i) // repeated keys: replacements as well as evictions
      if (i % 4 === 0) c.get(i % 37, mem.u8, mem.i32, e.block, 1)
      if (i % 50 === 49) c.sweep(i)
      expect(c.size).toBeLessThanOrEqual(5)
    }
    c.clear()
    expect(released.length).toBe(inserted.length)
    expect(new Set(released)).toEqual(new Set(inserted))
  })

  it('evicts expired hot entries instead of giving them a second chance; sweeps by expiry', () => {
    const mem = new Memory()
    const { c, released } = cacheOf(2)
    const dead = entry(mem, [1], 50)
    const one = mem.put([1])
    c.set(1, dead, 0)
    expect(c.get(1, mem.u8, mem.i32, one, 1)).toBe(dead) // hot
    c.set(2, entry(mem, [2], 1000), 100)
    c.set(3, entry(mem, [3], 1000), 100)
    expect(released).toEqual([dead])
    expect(c.get(1, mem.u8, mem.i32, one, 1)).toBeUndefined()
    c.sweep(999)
    expect(c.size).toBe(2)
    c.sweep(2000)
    expect(c.size).toBe(0)
    expect(released.length).toBe(3)
  })

  it('keys a ticket by 30 bits of its nonce', () => {
    const k = ticketCacheKey(new Uint8Array([0, 0xff, 0xff, 0xff, 0xff]), 1)
    expect(k).toBe(0x3fffffff)
  })
})

describe('sameTicket', () => {
  /** An Int32Array over `u8`'s memory that counts its element reads. */
  function countingWords(u8: Uint8Array): { i32: Int32Array; reads: () => number } {
    let n = 0
    const i32 = new Proxy(new Int32Array(u8.buffer), {
      get(target, prop, receiver) {
        if (typeof prop === 'string' && /^\d+$/.test(prop)) n++
        return Reflect.get(target, prop, receiver) as unknown
      },
    })
    return { i32, reads: () => n }
  }

  it('compares every byte of both sides, word-wise when both are 4-aligned, bytewise otherwise', () => {
    const mem = new Memory()
    for (let length = 0; length <= 13; length++) {
      const bytes = Array.from({ length }, (_, i) => (i * 91 + 5) & 0xff)
      for (const oa of [0, 1, 2, 3, 4]) {
        for (const ob of [0, 1, 2, 3, 4]) {
          const a = mem.put(bytes, oa)
          const b = mem.put(bytes, ob)
          const { u8 } = mem
          const { i32, reads } = countingWords(u8)
          const label = `length ${length}, a +${oa}, b +${ob}`
          expect(sameTicket(u8, i32, a, b, length), label).toBe(true)
          const aligned = ((a | b) & 3) === 0
          expect(reads(), label).toBe(aligned ? 2 * (length >>> 2) : 0)
          for (let i = 0; i < length; i++) {
            for (const side of [a, b]) {
              u8[side + i] = (u8[side + i] as number) ^ 0x40
              expect(sameTicket(u8, mem.i32, a, b, length), `${label}, flip ${i}`).toBe(false)
              u8[side + i] = (u8[side + i] as number) ^ 0x40
            }
          }
          u8[a + length] = 1
          u8[b + length] = 2
          expect(sameTicket(u8, mem.i32, a, b, length), label).toBe(true)
        }
      }
    }
  })

  it('has no early exit: a difference in the first byte reads every word too', () => {
    const mem = new Memory()
    const bytes = Array.from({ length: 64 }, (_, i) => i)
    const a = mem.put(bytes)
    const b = mem.put(bytes)
    mem.u8[b] = 0xff
    const { i32, reads } = countingWords(mem.u8)
    expect(sameTicket(mem.u8, i32, a, b, 64)).toBe(false)
    expect(reads()).toBe(32)
  })
})

describe('the verifier ticket cache', () => {
  it('bounds the verifier cache: many callers, maxCachedTickets entries', () => {
    const keytab = makeKeytab([1])
    const clock = new FakeClock()
    const v = new TicketVerifier(keytab, { clock, maxCachedTickets: 5 })
    for (let i = 0; i < 20; i++) {
      const m = mintTicket({ serviceKey: keyOf(keytab, 1), kvno: 1 })
      v.verify(authHeader(m), request())
    }
    expect(v.stats.cachedTickets).toBe(5)
    expect(v.stats.replayWindows).toBe(20)
    v.close()
  })

  it('a ticket evicted from the cache keeps its replay window', () => {
    const keytab = makeKeytab([1])
    const v = new TicketVerifier(keytab, { clock: new FakeClock(), maxCachedTickets: 1 })
    const a = mintTicket({ serviceKey: keyOf(keytab, 1), kvno: 1 })
    const h = authHeader(a, { counter: 3 })
    v.verify(h, request())
    v.verify(authHeader(mintTicket({ serviceKey: keyOf(keytab, 1), kvno: 1 })), request())
    expect(() => v.verify(h, request())).toThrow(expect.objectContaining({ code: 'ERR_AP_REPLAY' }))
    expect(v.verify(authHeader(a, { counter: 4, ctime: T0 }), request()).caller).toBe('payments')
  })
})
