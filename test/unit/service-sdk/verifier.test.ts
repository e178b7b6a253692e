import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  availableBackends,
  useBackend,
  deriveKey,
  fromBase64Url,
  LABELS,
  openApRepPart,
  parseApRep,
  toBase64Url,
  isBrokerError,
  type ErrorCode,
} from '../../../kdc/protocol/index.js'
import { verifierHeap, type Heap } from '../../../service-sdk/heap.js'
import { TicketVerifier, MAX_AUTHORIZATION_CHARS } from '../../../service-sdk/index.js'
import {
  apReqBytes,
  authHeader,
  CLIENT,
  FakeClock,
  keyOf,
  makeKeytab,
  mintTicket,
  REALM,
  request,
  SERVICE,
  T0,
} from './fixtures.js'

function setup(options: { skew?: number; kvnos?: number[]; startedAt?: number } = {}) {
  const keytab = makeKeytab(options.kvnos ?? [3])
  // The verifier starts at `startedAt` (default T0: its restart guard refuses ctimes before it),
  // then the clock reads T0.
  const clock = new FakeClock(options.startedAt ?? T0)
  const verifier = new TicketVerifier(keytab, {
    clock,
    ...(options.skew === undefined ? {} : { skew: options.skew }),
  })
  clock.now = T0
  const kvno = keytab.keys.at(-1)?.kvno ?? 3
  const mint = (o: Partial<Parameters<typeof mintTicket>[0]> = {}) =>
    mintTicket({ serviceKey: keyOf(keytab, o.kvno ?? kvno), kvno, ...o })
  return { keytab, clock, verifier, mint }
}

function codeOf(fn: () => unknown): ErrorCode | 'no error' | 'not a BrokerError' {
  try {
    fn()
    return 'no error'
  } catch (err) {
    return isBrokerError(err) ? err.code : 'not a BrokerError'
  }
}

describe('TicketVerifier: accepts', () => {
  it('returns the identity from the ticket', () => {
    const { verifier, mint } = setup()
    const m = mint({ scopes: ['orders:read'], policyVersion: 42 })
    const who = verifier.verify(authHeader(m), request())
    expect(who.caller).toBe(CLIENT)
    expect(who.realm).toBe(REALM)
    expect(who.scopes).toEqual(['orders:read'])
    expect(who.policyVersion).toBe(42)
    expect(who.expiresAt).toBe(T0 + 900)
    expect(who.ticketId).toMatch(/^[0-9a-f]{32}$/)
    expect(Object.isFrozen(who)).toBe(true)
    expect(verifier.service).toBe(SERVICE)
    verifier.close()
  })

  it('serves a repeat caller from the cache with the same identity object', () => {
    const { verifier, mint } = setup()
    const m = mint()
    const a = verifier.verify(authHeader(m, { counter: 1 }), request())
    const b = verifier.verify(authHeader(m, { counter: 2 }), request())
    expect(b).toBe(a)
    expect(verifier.stats.cachedTickets).toBe(1)
  })

  it('binds method, path, query, host and body; canonicalises method case and default ports', () => {
    const { verifier, mint } = setup()
    const m = mint()
    const spec = {
      method: 'POST',
      url: '/orders?x=1',
      host: 'Orders.Internal:443',
      body: '{"a":1}',
    }
    expect(verifier.verify(authHeader(m, spec), { ...spec, method: 'post' }).caller).toBe(CLIENT)
    const bytes = new TextEncoder().encode('{"a":2}')
    expect(
      verifier.verify(authHeader(m, { ...spec, body: bytes, counter: 2 }), {
        ...spec,
        body: bytes,
      }),
    ).toBeDefined()
    expect(
      verifier.verify(authHeader(m, { url: '/a?b', counter: 3 }), {
        method: 'GET',
        url: 'http://orders.internal/a?b',
      }),
    ).toBeDefined()
  })

  it('accepts a lower-case scheme and extra spaces', () => {
    const { verifier, mint } = setup()
    const m = mint()
    const token = authHeader(m).slice('Tessera '.length)
    expect(verifier.verify(`tessera   ${token}`, request()).caller).toBe(CLIENT)
  })

  it('accepts tickets under every kvno of the keytab', () => {
    const { keytab, verifier } = setup({ kvnos: [1, 2] })
    for (const kvno of [1, 2]) {
      const m = mintTicket({ serviceKey: keyOf(keytab, kvno), kvno })
      expect(verifier.verify(authHeader(m), request()).caller).toBe(CLIENT)
    }
    expect(verifier.kvnos).toEqual([1, 2])
  })

  it('answers mutual authentication with an AP-REP the client can open', () => {
    const { verifier, mint } = setup()
    const m = mint()
    const { identity, apRep } = verifier.verifyMutual(authHeader(m, { counter: 9 }), request())
    expect(identity.caller).toBe(CLIENT)
    const bytes = fromBase64Url(apRep)
    if (bytes === undefined) throw new Error('AP-REP is not base64url')
    const part = openApRepPart(
      deriveKey(m.sessionKey, LABELS.apRep),
      { realm: REALM, client: CLIENT, service: SERVICE },
      parseApRep(bytes).encPart,
    )
    expect(part).toEqual({ ctime: T0, counter: 9 })
  })
})

describe('TicketVerifier: refuses, with a code', () => {
  it('ERR_AP_NO_CREDENTIALS without a header or with another scheme', () => {
    const { verifier } = setup()
    expect(codeOf(() => verifier.verify(undefined, request()))).toBe('ERR_AP_NO_CREDENTIALS')
    expect(codeOf(() => verifier.verify('Bearer abc.def', request()))).toBe('ERR_AP_NO_CREDENTIALS')
    expect(codeOf(() => verifier.verify('Tessera', request()))).toBe('ERR_AP_NO_CREDENTIALS')
    expect(codeOf(() => verifier.verify('Tesserax abc', request()))).toBe('ERR_AP_NO_CREDENTIALS')
  })

  it('ERR_PROTO_MALFORMED for bad base64url, padding, non-canonical bits, bad msgpack', () => {
    const { verifier, mint } = setup()
    const token = authHeader(mint()).slice(8)
    for (const bad of [
      `Tessera ${token}=`,
      `Tessera ${token.replace(/-/g, '+')}x`,
      `Tessera a`,
      `Tessera ${token}!`,
      'Tessera AAAA',
      `Tessera ${toBase64Url(new Uint8Array([0x93, 1, 5]))}`,
    ]) {
      expect(codeOf(() => verifier.verify(bad, request()))).toMatch(/^ERR_PROTO_/)
    }
    // "AB" has non-zero trailing bits: 0x00 is "AA"; "AB" would be a second spelling.
    expect(codeOf(() => verifier.verify('Tessera AB', request()))).toBe('ERR_PROTO_MALFORMED')
  })

  it('ERR_PROTO_TOO_LARGE for a header over the cap, before decoding', () => {
    const { verifier } = setup()
    const huge = `Tessera ${'A'.repeat(MAX_AUTHORIZATION_CHARS)}`
    expect(codeOf(() => verifier.verify(huge, request()))).toBe('ERR_PROTO_TOO_LARGE')
  })

  it('ERR_PROTO_VERSION for another protocol version', () => {
    const { verifier, mint } = setup()
    const bytes = apReqBytes(mint())
    bytes[1] = 2
    expect(codeOf(() => verifier.verify(`Tessera ${toBase64Url(bytes)}`, request()))).toBe(
      'ERR_PROTO_VERSION',
    )
  })

  it('ERR_AP_NOT_US for a ticket of another service or realm, before any crypto', () => {
    const { keytab, verifier } = setup()
    const other = mintTicket({ serviceKey: keyOf(keytab, 3), kvno: 3, service: 'billing' })
    expect(codeOf(() => verifier.verify(authHeader(other), request()))).toBe('ERR_AP_NOT_US')
    const realm = mintTicket({ serviceKey: keyOf(keytab, 3), kvno: 3, realm: 'OTHER.REALM' })
    expect(codeOf(() => verifier.verify(authHeader(realm), request()))).toBe('ERR_AP_NOT_US')
  })

  it('ERR_AP_BAD_KVNO for a kvno the keytab lacks (no trial decryption)', () => {
    const { keytab, verifier } = setup()
    const m = mintTicket({ serviceKey: keyOf(keytab, 3), kvno: 4 })
    expect(codeOf(() => verifier.verify(authHeader(m), request()))).toBe('ERR_AP_BAD_KVNO')
    const big = mintTicket({ serviceKey: keyOf(keytab, 3), kvno: 0xffff_ffff })
    expect(codeOf(() => verifier.verify(authHeader(big), request()))).toBe('ERR_AP_BAD_KVNO')
  })

  it('ERR_AP_BAD_INTEGRITY for a ticket sealed with another key', () => {
    const { verifier } = setup()
    const m = mintTicket({ serviceKey: makeKeytab([3]).keys[0]!.key, kvno: 3 })
    expect(codeOf(() => verifier.verify(authHeader(m), request()))).toBe('ERR_AP_BAD_INTEGRITY')
  })

  it('ERR_AP_BAD_INTEGRITY for an authenticator of another client or session key', () => {
    const { verifier, mint } = setup()
    const m = mint()
    expect(codeOf(() => verifier.verify(authHeader(m, { asClient: 'mallory' }), request()))).toBe(
      'ERR_AP_BAD_INTEGRITY',
    )
    const other = mint()
    const spliced = apReqBytes({ ...m, sessionKey: other.sessionKey })
    expect(codeOf(() => verifier.verify(`Tessera ${toBase64Url(spliced)}`, request()))).toBe(
      'ERR_AP_BAD_INTEGRITY',
    )
    // The same splice against a cached ticket.
    verifier.verify(authHeader(m, { counter: 50 }), request())
    expect(codeOf(() => verifier.verify(`Tessera ${toBase64Url(spliced)}`, request()))).toBe(
      'ERR_AP_BAD_INTEGRITY',
    )
  })

  it('ERR_AP_TKT_EXPIRED after endTime + skew, on first sight and from the cache', () => {
    const { verifier, mint, clock } = setup({ skew: 60 })
    const m = mint({ endTime: T0 + 100 })
    clock.now = T0 + 160
    expect(
      verifier.verify(authHeader(m, { ctime: clock.now, counter: 1 }), request()),
    ).toBeDefined()
    clock.now = T0 + 161
    expect(
      codeOf(() => verifier.verify(authHeader(m, { ctime: clock.now, counter: 2 }), request())),
    ).toBe('ERR_AP_TKT_EXPIRED')
    const fresh = mint({ endTime: T0 + 100 })
    expect(codeOf(() => verifier.verify(authHeader(fresh, { ctime: clock.now }), request()))).toBe(
      'ERR_AP_TKT_EXPIRED',
    )
  })

  it('ERR_AP_TKT_NOT_YET_VALID before startTime - skew', () => {
    const { verifier, mint } = setup({ skew: 60 })
    const m = mint({ startTime: T0 + 61, endTime: T0 + 900 })
    expect(codeOf(() => verifier.verify(authHeader(m), request()))).toBe('ERR_AP_TKT_NOT_YET_VALID')
    const edge = mint({ startTime: T0 + 60, endTime: T0 + 900 })
    expect(verifier.verify(authHeader(edge), request())).toBeDefined()
  })

  it('ERR_AP_SKEW for an authenticator outside ±skew, both sides of both edges', () => {
    // Started a minute ago, so that the restart guard is not what refuses T0 - 30 below.
    const { verifier, mint } = setup({ skew: 30, startedAt: T0 - 60 })
    const m = mint()
    expect(verifier.verify(authHeader(m, { ctime: T0, counter: 1 }), request())).toBeDefined()
    expect(codeOf(() => verifier.verify(authHeader(m, { ctime: T0 - 31 }), request()))).toBe(
      'ERR_AP_SKEW',
    )
    expect(codeOf(() => verifier.verify(authHeader(m, { ctime: T0 + 31 }), request()))).toBe(
      'ERR_AP_SKEW',
    )
    expect(verifier.verify(authHeader(m, { ctime: T0 - 30, counter: 2 }), request())).toBeDefined()
    expect(verifier.verify(authHeader(m, { ctime: T0 + 30, counter: 3 }), request())).toBeDefined()
  })

  it('ERR_AP_REPLAY for the same header twice, and a refused request consumes nothing', () => {
    const { verifier, mint } = setup()
    const m = mint()
    const h = authHeader(m, { counter: 5 })
    expect(codeOf(() => verifier.verify(h, request({ url: '/other' })))).toBe(
      'ERR_AP_REQUEST_MISMATCH',
    )
    expect(verifier.verify(h, request())).toBeDefined()
    expect(codeOf(() => verifier.verify(h, request()))).toBe('ERR_AP_REPLAY')
    // A fresh authenticator with an old counter is a replay too.
    expect(codeOf(() => verifier.verify(authHeader(m, { counter: 5 }), request()))).toBe(
      'ERR_AP_REPLAY',
    )
  })

  it('ERR_AP_REQUEST_MISMATCH for another method, path, query, host, port or body', () => {
    const { verifier, mint } = setup()
    const m = mint()
    const spec = { method: 'POST', url: '/orders?id=7', host: 'orders.internal', body: 'x' }
    const h = authHeader(m, spec)
    for (const changed of [
      { method: 'PUT' },
      { url: '/orders?id=8' },
      { url: '/orders' },
      { url: '/Orders?id=7' },
      { host: 'orders.internal:8080' },
      { host: 'evil.internal' },
      { body: 'y' },
      { body: undefined },
    ]) {
      expect(codeOf(() => verifier.verify(h, { ...spec, ...changed }))).toBe(
        'ERR_AP_REQUEST_MISMATCH',
      )
    }
    expect(verifier.verify(h, spec).caller).toBe(CLIENT)
  })

  it('refuses every single-bit flip of the AP-REQ with a code', () => {
    const { verifier, mint } = setup()
    const m = mint()
    const good = apReqBytes(m, { counter: 77 })
    const seen = new Set<string>()
    for (let i = 0; i < good.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bytes = good.slice()
        bytes[i] = (bytes[i] as number) ^ (1 << bit)
        const code = codeOf(() => verifier.verify(`Tessera ${toBase64Url(bytes)}`, request()))
        expect(code, `byte ${i} bit ${bit}`).toMatch(/^ERR_(AP|PROTO)_/)
        seen.add(code)
      }
    }
    expect(seen.has('ERR_AP_BAD_INTEGRITY')).toBe(true)
    // Flips are refused before the replay window, so the real request still goes through.
    expect(verifier.verify(`Tessera ${toBase64Url(good)}`, request()).caller).toBe(CLIENT)
  })

  it('refuses every single-bit flip against a cached ticket too', () => {
    const { verifier, mint } = setup()
    const m = mint()
    verifier.verify(authHeader(m, { counter: 1 }), request())
    const good = apReqBytes(m, { counter: 2 })
    for (let i = 0; i < good.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bytes = good.slice()
        bytes[i] = (bytes[i] as number) ^ (1 << bit)
        const code = codeOf(() => verifier.verify(`Tessera ${toBase64Url(bytes)}`, request()))
        expect(code, `byte ${i} bit ${bit}`).toMatch(/^ERR_(AP|PROTO)_/)
      }
    }
    expect(verifier.verify(`Tessera ${toBase64Url(good)}`, request()).caller).toBe(CLIENT)
  })

  it('ERR_AP_REPLAY for an authenticator made before the verifier started (restart guard)', () => {
    const { verifier, mint, clock } = setup({ skew: 300 })
    const m = mint()
    // Made 10 s before this verifier started: it may have been accepted by the previous process.
    expect(codeOf(() => verifier.verify(authHeader(m, { ctime: T0 - 10 }), request()))).toBe(
      'ERR_AP_REPLAY',
    )
    clock.now = T0 + 5
    expect(verifier.verify(authHeader(m, { ctime: T0, counter: 2 }), request())).toBeDefined()
    // Once the ticket has a window, an authenticator made before the start is still refused: the
    // window's bitmap is new, and the previous process may have accepted that counter (a replay of
    // counter 1 here would otherwise pass).
    expect(
      codeOf(() => verifier.verify(authHeader(m, { ctime: T0 - 10, counter: 3 }), request())),
    ).toBe('ERR_AP_REPLAY')
    expect(
      codeOf(() => verifier.verify(authHeader(m, { ctime: T0 - 10, counter: 1 }), request())),
    ).toBe('ERR_AP_REPLAY')
    expect(verifier.verify(authHeader(m, { ctime: T0 + 5, counter: 3 }), request())).toBeDefined()
    const off = new TicketVerifier(makeKeytab([3]), { clock, replayGuard: false })
    expect(off).toBeDefined()
  })

  it('misuse of options is a RangeError or TypeError, not a BrokerError', () => {
    const keytab = makeKeytab([1])
    expect(() => new TicketVerifier(keytab, { skew: -1 })).toThrow(RangeError)
    expect(() => new TicketVerifier(keytab, { skew: 1.5 })).toThrow(RangeError)
    expect(() => new TicketVerifier(keytab, { maxCachedTickets: 0 })).toThrow(RangeError)
  })
})

describe('TicketVerifier.precheck', () => {
  it('accepts a good header without consuming its counter; verify then serves it from the cache', () => {
    const { verifier, mint } = setup()
    const m = mint()
    const h = authHeader(m, { counter: 4 })
    expect(verifier.precheck(h).caller).toBe(CLIENT)
    expect(verifier.stats.cachedTickets).toBe(1)
    expect(verifier.precheck(h).caller).toBe(CLIENT)
    expect(verifier.verify(h, request()).caller).toBe(CLIENT)
    expect(codeOf(() => verifier.verify(h, request()))).toBe('ERR_AP_REPLAY')
  })

  it('refuses what verify refuses before the request binding', () => {
    const { keytab, verifier, mint } = setup({ skew: 10 })
    expect(codeOf(() => verifier.precheck(undefined))).toBe('ERR_AP_NO_CREDENTIALS')
    const other = mintTicket({ serviceKey: keyOf(keytab, 3), kvno: 3, service: 'billing' })
    expect(codeOf(() => verifier.precheck(authHeader(other)))).toBe('ERR_AP_NOT_US')
    expect(codeOf(() => verifier.precheck(authHeader(mint(), { ctime: T0 + 11 })))).toBe(
      'ERR_AP_SKEW',
    )
    expect(codeOf(() => verifier.precheck(authHeader(mint(), { asClient: 'mallory' })))).toBe(
      'ERR_AP_BAD_INTEGRITY',
    )
  })
})

describe('TicketVerifier: cached keys', () => {
  // Each cached ticket's keys live in a block of the verifier heap. A block freed twice could be
  // handed to two live tickets, and the later one would overwrite the earlier one's keys: its
  // callers would then fail with ERR_AP_BAD_INTEGRITY. Churn every path that frees blocks
  // (refusals after the ticket opened, expiry from the cache, eviction) and check that every
  // ticket still in the cache keeps verifying. (The block accounting itself is checked below.)
  it('recycles the key of every ticket that leaves, and never shares one between live tickets', () => {
    const keytab = makeKeytab([3])
    const clock = new FakeClock()
    const verifier = new TicketVerifier(keytab, { clock, maxCachedTickets: 8 })
    const mint = (endTime: number) =>
      mintTicket({ serviceKey: keyOf(keytab, 3), kvno: 3, startTime: clock.now - 10, endTime })
    const live: { m: ReturnType<typeof mint>; counter: number }[] = []
    let refused = 0
    for (let round = 0; round < 300; round++) {
      const m = mint(clock.now + (round % 7 === 0 ? 1 : 100_000))
      const kind = round % 5
      if (kind === 0) {
        // Opens the ticket, then fails the request binding: the fresh key goes back.
        const h = authHeader(m, { ctime: clock.now })
        expect(codeOf(() => verifier.verify(h, request({ url: '/x' })))).toBe(
          'ERR_AP_REQUEST_MISMATCH',
        )
        refused++
      } else if (kind === 1) {
        // Opens the ticket, then fails the skew check.
        const h = authHeader(m, { ctime: clock.now - 10_000 })
        expect(codeOf(() => verifier.verify(h, request()))).toBe('ERR_AP_SKEW')
        refused++
      } else {
        const h = authHeader(m, { counter: 1, ctime: clock.now })
        expect(verifier.verify(h, request()).caller).toBe(CLIENT)
        live.push({ m, counter: 1 })
      }
      if (round % 50 === 49) {
        // Let the short tickets expire: the next use deletes them from the cache.
        clock.now += 400
      }
      // Every live ticket that is still valid verifies again with a new counter.
      for (const t of live.slice(-12)) {
        t.counter++
        const h = authHeader(t.m, { counter: t.counter, ctime: clock.now })
        const code = codeOf(() => verifier.verify(h, request()))
        expect(['no error', 'ERR_AP_TKT_EXPIRED']).toContain(code)
      }
    }
    expect(refused).toBeGreaterThan(100)
    expect(verifier.stats.cachedTickets).toBeLessThanOrEqual(8)
    verifier.close()
  })
})

/**
 * Every alloc and free of `heap`, checked as they happen: a free must name a block that is live
 * (allocated since the tracking began, and not freed since) with its size. A bad free is recorded
 * and NOT passed on, so that a double free cannot corrupt the allocator for the other tests.
 */
function trackBlocks(heap: Heap) {
  const live = new Map<number, number>()
  const problems: string[] = []
  let allocs = 0
  let frees = 0
  const alloc = heap.alloc.bind(heap)
  const free = heap.free.bind(heap)
  vi.spyOn(heap, 'alloc').mockImplementation((size: number) => {
    const p = alloc(size)
    if (live.has(p)) problems.push(`alloc returned live block ${p}`)
    live.set(p, size)
    allocs++
    return p
  })
  vi.spyOn(heap, 'free').mockImplementation((p: number, size: number) => {
    const known = live.get(p)
    if (known === undefined) {
      problems.push(`free of ${p}, not a live block (double free, or allocated before tracking)`)
      return
    }
    if (known !== size) problems.push(`free of ${p} with size ${size}, allocated ${known}`)
    live.delete(p)
    frees++
    free(p, size)
  })
  return {
    live,
    problems,
    counts: () => ({ allocs, frees }),
  }
}

describe('TicketVerifier: heap blocks of cache entries', () => {
  afterEach(() => {
    vi.restoreAllMocks()
    vi.useRealTimers()
  })

  it('the block tracker catches a double free and a free of an unknown block', () => {
    const heap = verifierHeap()
    const t = trackBlocks(heap)
    const p = heap.alloc(40)
    heap.free(p, 40)
    expect(t.problems).toEqual([])
    heap.free(p, 40)
    expect(t.problems).toHaveLength(1)
    const q = heap.alloc(48)
    heap.free(q, 40)
    expect(t.problems).toHaveLength(2)
    expect(t.live.size).toBe(0)
  })

  it('frees every entry block exactly once: refusals after the ticket opened, expiry, eviction, sweep, close', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    const heap = verifierHeap()
    const keytab = makeKeytab([3])
    const clock = new FakeClock()
    const verifier = new TicketVerifier(keytab, { clock, maxCachedTickets: 4 })
    const mint = (o: { startTime?: number; endTime?: number } = {}) =>
      mintTicket({
        serviceKey: keyOf(keytab, 3),
        kvno: 3,
        startTime: o.startTime ?? clock.now - 10,
        endTime: o.endTime ?? clock.now + 100_000,
      })
    // Warm up first: the verifier's own long-lived blocks (work block, request hasher, the heap
    // copy of the ticket key) exist before the tracking starts; every block after is an entry's.
    // (A refusal after the ticket opened, so that no entry from before the tracking stays cached.)
    expect(
      codeOf(() =>
        verifier.verify(authHeader(mint(), { ctime: clock.now }), request({ url: '/x' })),
      ),
    ).toBe('ERR_AP_REQUEST_MISMATCH')
    expect(verifier.stats.cachedTickets).toBe(0)
    const t = trackBlocks(heap)
    const seen = new Map<string, number>()
    const expectOutcome = (fn: () => unknown, code: ReturnType<typeof codeOf>) => {
      expect(codeOf(fn)).toBe(code)
      seen.set(code, (seen.get(code) ?? 0) + 1)
    }
    for (let round = 0; round < 120; round++) {
      const now = clock.now
      switch (round % 10) {
        case 0:
          // First sight, accepted and cached.
          expectOutcome(
            () => verifier.verify(authHeader(mint(), { ctime: now }), request()),
            'no error',
          )
          break
        case 1:
          // Opens the ticket, then fails the request binding.
          expectOutcome(
            () => verifier.verify(authHeader(mint(), { ctime: now }), request({ url: '/x' })),
            'ERR_AP_REQUEST_MISMATCH',
          )
          break
        case 2: {
          // Replays. Of a header whose ticket is cached: refused from the cache, no open. Of one
          // whose ticket was evicted (four first sights since): opened again, then refused.
          const accepted = (m = mint()): string => {
            const h = authHeader(m, { counter: 1, ctime: now })
            expectOutcome(() => verifier.verify(h, request()), 'no error')
            return h
          }
          const gone = accepted()
          const cached = [accepted(), accepted(), accepted(), accepted()]
          const before = t.counts().allocs
          expectOutcome(() => verifier.verify(cached[3] ?? '', request()), 'ERR_AP_REPLAY')
          expect(t.counts().allocs, 'served from the cache').toBe(before)
          expectOutcome(() => verifier.verify(gone, request()), 'ERR_AP_REPLAY')
          expect(t.counts().allocs, 'opened again').toBe(before + 1)
          break
        }
        case 3:
          // Opens an expired ticket (first sight), and one not yet valid.
          expectOutcome(
            () => verifier.verify(authHeader(mint({ endTime: now - 1000 })), request()),
            'ERR_AP_TKT_EXPIRED',
          )
          expectOutcome(
            () => verifier.verify(authHeader(mint({ startTime: now + 1000 })), request()),
            'ERR_AP_TKT_NOT_YET_VALID',
          )
          break
        case 4:
          // Opens the ticket, then the authenticator is refused (another client, or skewed).
          expectOutcome(
            () => verifier.verify(authHeader(mint(), { asClient: 'mallory' }), request()),
            'ERR_AP_BAD_INTEGRITY',
          )
          expectOutcome(
            () => verifier.verify(authHeader(mint(), { ctime: now - 10_000 }), request()),
            'ERR_AP_SKEW',
          )
          break
        case 5: {
          // precheck caches the entry; verify is then served from it; mutual auth adds a key.
          const m = mint()
          expectOutcome(() => verifier.precheck(authHeader(m, { ctime: now })), 'no error')
          expectOutcome(
            () => verifier.verifyMutual(authHeader(m, { counter: 2, ctime: now }), request()),
            'no error',
          )
          break
        }
        case 6: {
          // A short ticket, cached, then used after its end: deleted from the cache.
          const m = mint({ endTime: now + 5 })
          expectOutcome(() => verifier.verify(authHeader(m, { ctime: now }), request()), 'no error')
          clock.now += 1000 // past endTime + skew
          expectOutcome(
            () => verifier.verify(authHeader(m, { counter: 2, ctime: clock.now }), request()),
            'ERR_AP_TKT_EXPIRED',
          )
          break
        }
        case 7: {
          // Short tickets left in the cache, removed by the timer's sweep.
          for (let i = 0; i < 2; i++) {
            const h = authHeader(mint({ endTime: now + 5 }), { ctime: now })
            expectOutcome(() => verifier.verify(h, request()), 'no error')
          }
          clock.now += 1000 // past endTime + skew
          vi.advanceTimersByTime(60_000)
          break
        }
        default:
          // Plain first sights: more evictions.
          expectOutcome(
            () => verifier.verify(authHeader(mint(), { ctime: now }), request()),
            'no error',
          )
      }
      expect(t.problems, `round ${round}`).toEqual([])
      expect(t.live.size, `round ${round}: live blocks vs cached tickets`).toBe(
        verifier.stats.cachedTickets,
      )
    }
    // Every path ran, and more entries were made than the cache holds.
    expect([...seen.keys()].sort()).toEqual(
      [
        'ERR_AP_BAD_INTEGRITY',
        'ERR_AP_REPLAY',
        'ERR_AP_REQUEST_MISMATCH',
        'ERR_AP_SKEW',
        'ERR_AP_TKT_EXPIRED',
        'ERR_AP_TKT_NOT_YET_VALID',
        'no error',
      ].sort(),
    )
    expect(t.counts().allocs).toBeGreaterThan(140)
    expect(verifier.stats.cachedTickets).toBe(4)
    verifier.close()
    expect(t.problems).toEqual([])
    expect([...t.live.keys()], 'blocks still allocated after close()').toEqual([])
    expect(t.counts().frees).toBe(t.counts().allocs)
    // Verification keeps working after close(), with the same accounting.
    expect(verifier.verify(authHeader(mint(), { ctime: clock.now }), request()).caller).toBe(CLIENT)
    expect(t.live.size).toBe(1)
    expect(t.problems).toEqual([])
  })
})

describe('TicketVerifier: the WebAssembly memory grows under it', () => {
  afterEach(() => {
    useBackend('wasm')
  })

  // Hashing a body larger than the memory (with the wasm backend) grows it mid-verify, detaching
  // every view the verifier held. Regression: the request hasher wrote through the old view and
  // the cleanup threw from Heap.free, so a good request failed with a TypeError and its block leaked.
  it('verifies a request whose body hashing grows the memory mid-call', () => {
    const { verifier, mint } = setup()
    const heap = verifierHeap()
    const body = new Uint8Array(heap.u8.length + (1 << 20)).fill(0x61)
    const spec = { method: 'POST', url: '/orders', body }
    useBackend('noble') // the caller's side hashes the body without touching the memory
    const header = authHeader(mint(), spec)
    useBackend('wasm')
    const before = heap.u8.buffer
    expect(verifier.verify(header, request(spec)).caller).toBe(CLIENT)
    expect(heap.u8.buffer).not.toBe(before) // the memory did grow during that call
    verifier.close()
  })

  it('wipes and frees its entries after someone else grew the memory (close, sweep)', () => {
    const { verifier, mint } = setup()
    const heap = verifierHeap()
    expect(verifier.verify(authHeader(mint()), request()).caller).toBe(CLIENT)
    expect(verifier.stats.cachedTickets).toBe(1)
    const wasm = availableBackends().find((b) => b.name === 'wasm')
    if (wasm === undefined) throw new Error('the wasm backend is a dependency')
    const held = heap.u8.buffer
    const big = new Uint8Array(heap.u8.length + (1 << 20))
    wasm.seal(new Uint8Array(32), new Uint8Array(24), new Uint8Array(0), big) // behind the heap's back
    expect(heap.u8.buffer).toBe(held)
    expect(held.byteLength).toBe(0) // detached
    expect(() => {
      verifier.close()
    }).not.toThrow()
    expect(verifier.stats.cachedTickets).toBe(0)
  })
})
