/**
 * Replay after a live replay window was dropped (docs/protocol.md §6.4): the guard time must cover
 * every authenticator the lost window accepted, and a window dropped from the table must not keep
 * accepting counters through the ticket cache (its counters would be forgotten with it).
 */
import { describe, expect, it } from 'vitest'
import { isBrokerError, type ErrorCode } from '../../../kdc/protocol/index.js'
import { TicketVerifier } from '../../../service-sdk/index.js'
import { authHeader, FakeClock, keyOf, makeKeytab, mintTicket, request, T0 } from './fixtures.js'

function codeOf(fn: () => unknown): ErrorCode | 'no error' | 'not a BrokerError' {
  try {
    fn()
    return 'no error'
  } catch (err) {
    return isBrokerError(err) ? err.code : 'not a BrokerError'
  }
}

function setup(maxCachedTickets: number, maxReplayWindows: number) {
  const keytab = makeKeytab([3])
  const clock = new FakeClock()
  const verifier = new TicketVerifier(keytab, { clock, maxCachedTickets, maxReplayWindows })
  const mint = () => mintTicket({ serviceKey: keyOf(keytab, 3), kvno: 3 })
  return { clock, verifier, mint }
}

describe('TicketVerifier: replay after a live window was dropped', () => {
  it('refuses a replay of an authenticator accepted in the same second as the drop', () => {
    const { verifier, mint } = setup(1, 1)
    const t1 = mint()
    const t2 = mint()
    const h1 = authHeader(t1, { ctime: T0, counter: 1 })
    expect(codeOf(() => verifier.verify(h1, request()))).toBe('no error')
    // t2 takes the only window (t1's is dropped, live) and the only cache slot.
    expect(codeOf(() => verifier.verify(authHeader(t2, { ctime: T0 }), request()))).toBe('no error')
    expect(verifier.stats.evictedLiveWindows).toBe(1)
    expect(codeOf(() => verifier.verify(h1, request()))).toBe('ERR_AP_REPLAY')
  })

  it('refuses a replay of an authenticator with a ctime ahead of the verifier clock', () => {
    const { clock, verifier, mint } = setup(1, 1)
    const t1 = mint()
    const t2 = mint()
    // The caller's clock runs 100 s ahead: inside the skew, accepted.
    const h1 = authHeader(t1, { ctime: T0 + 100, counter: 1 })
    expect(codeOf(() => verifier.verify(h1, request()))).toBe('no error')
    clock.now = T0 + 5
    expect(codeOf(() => verifier.verify(authHeader(t2, { ctime: T0 + 5 }), request()))).toBe(
      'no error',
    )
    clock.now = T0 + 10
    expect(codeOf(() => verifier.verify(h1, request()))).toBe('ERR_AP_REPLAY')
  })

  it('does not keep accepting counters in a dropped window through the ticket cache', () => {
    const { clock, verifier, mint } = setup(2, 1)
    const t1 = mint()
    const t2 = mint()
    expect(codeOf(() => verifier.verify(authHeader(t1, { counter: 1 }), request()))).toBe(
      'no error',
    )
    clock.now = T0 + 10
    // t2 takes the only window: t1's (still cached with its ticket) is dropped.
    expect(
      codeOf(() => verifier.verify(authHeader(t2, { ctime: T0 + 10, counter: 1 }), request())),
    ).toBe('no error')
    clock.now = T0 + 20
    const h = authHeader(t1, { ctime: T0 + 20, counter: 2 })
    expect(codeOf(() => verifier.verify(h, request()))).toBe('no error')
    // Two more tickets push t1 out of the ticket cache (precheck caches without a window).
    verifier.precheck(authHeader(mint(), { ctime: T0 + 20 }))
    verifier.precheck(authHeader(mint(), { ctime: T0 + 20 }))
    // The same authenticator again: it must still be a replay.
    expect(codeOf(() => verifier.verify(h, request()))).toBe('ERR_AP_REPLAY')
  })
})
