import { describe, expect, it } from 'vitest'
import { TicketVerifier } from '../../../service-sdk/index.js'
import {
  TicketCache,
  ticketCacheKey,
  ticketWords,
  type CachedTicket,
} from '../../../service-sdk/ticket-cache.js'
import { authHeader, FakeClock, keyOf, makeKeytab, mintTicket, request, T0 } from './fixtures.js'

function entry(bytes: number[], endTime = 1000): CachedTicket {
  return {
    ticketWords: ticketWords(new Uint8Array(bytes), 0, bytes.length),
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
    authKey: new Uint8Array(32).fill(1),
    authAad: new Uint8Array(0),
    sessionKey: new Uint8Array(32).fill(2),
    apRepKey: undefined,
    window: undefined,
    hit: false,
    key: 0,
    slot: -1,
  }
}

describe('TicketCache', () => {
  it('finds an entry only when the full bytes match', () => {
    const c = new TicketCache(4)
    const e = entry([1, 2, 3, 4, 5])
    c.set(7, e, 0)
    const buf = new Uint8Array([9, 1, 2, 3, 4, 5, 9])
    expect(c.get(7, buf, 1, 6)).toBe(e)
    expect(c.get(7, new Uint8Array([1, 2, 3, 4, 6]), 0, 5)).toBeUndefined()
    expect(c.get(7, buf, 1, 5)).toBeUndefined()
    expect(c.get(8, buf, 1, 6)).toBeUndefined()
  })

  it('compares every byte, at aligned and unaligned offsets, for every length mod 4', () => {
    for (const length of [1, 2, 3, 4, 5, 63, 64, 65, 222]) {
      const ticket = Array.from({ length }, (_, i) => (i * 37 + 11) & 0xff)
      const c = new TicketCache(4)
      const e = entry(ticket)
      c.set(1, e, 0)
      for (const at of [0, 1, 2, 3, 4, 8]) {
        // A buffer of its own, so the aligned path sees a new ArrayBuffer each time too.
        const buf = new Uint8Array(at + length + 3)
        buf.set(ticket, at)
        expect(c.get(1, buf, at, at + length), `length ${length} at ${at}`).toBe(e)
        for (let i = 0; i < length; i++) {
          buf[at + i] = (buf[at + i] as number) ^ 0x80
          expect(c.get(1, buf, at, at + length), `flip ${i}`).toBeUndefined()
          buf[at + i] = (buf[at + i] as number) ^ 0x80
        }
        // Bytes past the end never matter; a longer or shorter range never matches.
        buf[at + length] = 0xff
        expect(c.get(1, buf, at, at + length)).toBe(e)
        expect(c.get(1, buf, at, at + length + 1)).toBeUndefined()
        expect(c.get(1, buf, at, at + length - 1)).toBeUndefined()
      }
    }
  })

  it('never holds more than its bound and evicts cold entries first (second chance)', () => {
    const c = new TicketCache(3)
    const es = [0, 1, 2, 3, 4].map((i) => entry([i]))
    c.set(0, es[0]!, 0)
    c.set(1, es[1]!, 0)
    c.set(2, es[2]!, 0)
    expect(c.get(0, new Uint8Array([0]), 0, 1)).toBe(es[0]) // 0 is hot now
    c.set(3, es[3]!, 0) // evicts 1 (oldest cold), keeps 0
    expect(c.size).toBe(3)
    expect(c.get(1, new Uint8Array([1]), 0, 1)).toBeUndefined()
    expect(c.get(0, new Uint8Array([0]), 0, 1)).toBe(es[0])
    for (let i = 10; i < 100; i++) c.set(i, entry([i]), 0)
    expect(c.size).toBe(3)
  })

  it('wipes the keys of evicted entries', () => {
    const c = new TicketCache(1)
    const a = entry([1])
    c.set(1, a, 0)
    c.set(2, entry([2]), 0)
    expect(a.authKey.every((b) => b === 0)).toBe(true)
    expect(a.sessionKey.every((b) => b === 0)).toBe(true)
  })

  it('evicts expired hot entries instead of giving them a second chance; sweeps by expiry', () => {
    const c = new TicketCache(2)
    const dead = entry([1], 50)
    c.set(1, dead, 0)
    c.get(1, new Uint8Array([1]), 0, 1)
    c.set(2, entry([2], 1000), 100)
    c.set(3, entry([3], 1000), 100)
    expect(c.get(1, new Uint8Array([1]), 0, 1)).toBeUndefined()
    c.sweep(2000)
    expect(c.size).toBe(0)
  })

  it('keys a ticket by 30 bits of its nonce', () => {
    const k = ticketCacheKey(new Uint8Array([0, 0xff, 0xff, 0xff, 0xff]), 1)
    expect(k).toBe(0x3fffffff)
  })

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
