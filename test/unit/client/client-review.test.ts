/**
 * Security review of the client SDK (client/). Tests named "found in review: …" assert the secure
 * behaviour and fail today (each says what happens instead); the others probe attacks that turned
 * out to be handled and document that coverage.
 */
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocketServer, type WebSocket } from 'ws'
import {
  BrokerError,
  deriveKey,
  encodeApRep,
  encodeFrame,
  fromBase64Url,
  fromWire,
  isBrokerError,
  LABELS,
  MAX_CLOCK_SKEW_S,
  MSG,
  openAuthenticator,
  parseApReq,
  parseFrame,
  sealApRepPart,
  sealAsRepPart,
  sealTicket,
  TICKET_FLAGS,
  toBase64Url,
  type Frame,
  type Keytab,
} from '../../../kdc/protocol/index.js'
import { buildAsReq, readAsRep } from '../../../client/as.js'
import { KdcClock } from '../../../client/clock.js'
import { Credentials } from '../../../client/credentials.js'
import { KdcSession, TesseraClient } from '../../../client/index.js'
import type { RequestSpec } from '../../../client/transport.js'
import { errorFrame, FakeClock, FakeKdc, newKey, REALM } from './fake-kdc.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

// ---- helpers ------------------------------------------------------------------------------------

/**
 * An in-memory transport (like fake-kdc's FakeTransport) with an on-path attacker: `tamper` sees
 * each request and the KDC's genuine reply and decides what the client receives.
 */
class MitmTransport {
  #nextId = 1
  tamper: (request: Frame, reply: Frame) => Frame = (_q, r) => r
  readonly sentAt: { type: number; ms: number }[] = []
  readonly kdc: FakeKdc
  readonly clock: FakeClock
  readonly onKdcTime: (t: number) => void
  constructor(kdc: FakeKdc, clock: FakeClock, onKdcTime: (t: number) => void) {
    this.kdc = kdc
    this.clock = clock
    this.onKdcTime = onKdcTime
  }

  async request<S>(spec: RequestSpec<S>): Promise<{ reply: Frame; state: S; endpoint: string }> {
    await Promise.resolve()
    const { frame, state } = spec.build(this.#nextId++)
    this.sentAt.push({ type: frame.type, ms: this.clock.now() })
    const genuine = this.kdc.handle(frame)
    if (genuine === undefined) throw new BrokerError('ERR_CLIENT_TIMEOUT')
    const reply = this.tamper(frame, genuine)
    if ('kdcTime' in reply.body) this.onKdcTime(reply.body.kdcTime)
    if (reply.type === MSG.ERROR) throw fromWire(reply.body.wire, 'KDC_REPLY')
    return { reply, state, endpoint: 'memory' }
  }
}

function memoryWorld(): {
  clock: FakeClock
  kdc: FakeKdc
  kdcClock: KdcClock
  transport: MitmTransport
  creds: Credentials
  errors: unknown[]
} {
  const clock = new FakeClock()
  const kdc = new FakeKdc(() => clock.nowSeconds())
  const keytab = kdc.addPrincipal('payments')
  kdc.addPrincipal('orders')
  kdc.addPrincipal('billing')
  const kdcClock = new KdcClock(clock)
  const transport = new MitmTransport(kdc, clock, (t) => kdcClock.observe(t))
  const errors: unknown[] = []
  const creds = new Credentials({
    transport,
    kdcClock,
    clock,
    random: () => 0.5,
    realm: keytab.realm,
    principal: keytab.principal,
    loadKeytab: () => Promise.resolve(keytab),
    maxTickets: 16,
    tgtLifetime: 0,
    ticketLifetime: 0,
    refresh: true,
    onBackgroundError: (err) => errors.push(err),
  })
  cleanups.push(() => {
    creds.close()
  })
  return { clock, kdc, kdcClock, transport, creds, errors }
}

/**
 * The fake KDC served over a loopback WebSocket through an on-path attacker: `tamper` gets each
 * request and the KDC's genuine answer (which the KDC has already acted on) and returns the frames
 * the client receives.
 */
async function mitmKdc(
  kdc: FakeKdc,
  tamper: (request: Frame, reply: Frame | undefined) => Frame[],
): Promise<string> {
  const server = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    path: '/v1',
    perMessageDeflate: false,
  })
  await new Promise<void>((resolve) => server.once('listening', resolve))
  server.on('connection', (ws: WebSocket) => {
    ws.on('message', (data: Buffer) => {
      const request = parseFrame(new Uint8Array(data))
      for (const out of tamper(request, kdc.handle(request))) {
        ws.send(encodeFrame(out), { binary: true })
      }
    })
  })
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const c of server.clients) c.terminate()
        server.close(() => {
          resolve()
        })
      }),
  )
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1`
}

function passThrough(_request: Frame, reply: Frame | undefined): Frame[] {
  return reply === undefined ? [] : [reply]
}

function wsWorld(): { kdc: FakeKdc; keytab: Keytab } {
  const kdc = new FakeKdc()
  const keytab = kdc.addPrincipal('payments')
  kdc.addPrincipal('orders')
  kdc.addPrincipal('billing')
  return { kdc, keytab }
}

function session(keytab: Keytab, url: string, extra: { clock?: FakeClock } = {}): KdcSession {
  const s = new KdcSession(keytab, { kdc: [url], deadlineMs: 2_000, ...extra })
  cleanups.push(() => {
    s.close()
  })
  return s
}

/** What the service sees in an Authorization header: the authenticator's ctime and counter. */
function serviceView(kdc: FakeKdc, authorization: string): { ctime: number; counter: number } {
  const apReq = parseApReq(fromBase64Url(authorization.replace(/^Tessera /, '')) as Uint8Array)
  const part = kdc.openServiceTicket(apReq.ticket)
  const auth = openAuthenticator(
    deriveKey(part.sessionKey, LABELS.authenticator),
    { realm: apReq.ticket.realm, client: part.client, service: apReq.ticket.service, msgType: 5 },
    apReq.authenticator,
  )
  return { ctime: auth.ctime, counter: auth.counter }
}

function withKdcTime(reply: Frame, kdcTime: number): Frame {
  return { ...reply, body: { ...reply.body, kdcTime } } as Frame
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000)

// ---- findings -----------------------------------------------------------------------------------

describe('found in review: mutual authentication after a ticket is wiped', () => {
  it('found in review: a forged AP-REP under the all-zero key passes mutual auth once the ticket was evicted and wiped mid-call', async () => {
    // An on-path attacker impersonating `orders`: it answers a concurrent POST with a forged
    // 401 ERR_AP_TKT_EXPIRED (nothing authenticates a 401), so the client forget()s the shared
    // ticket; 60 s later (WIPE_GRACE_MS) the session key is zeroed in place. The attacker then
    // releases the first call's response with an AP-REP sealed under deriveKey(0^32, ap-rep),
    // echoing the predictable ctime (now) and counter (1).
    // Today: verifyApRep re-derives the ap-rep subkey from the zeroed session key, the forgery
    // opens, and fetch() resolves with the attacker's response as mutually authenticated.
    const clock = new FakeClock(Date.now())
    const kdc = new FakeKdc(() => clock.nowSeconds())
    const keytab = kdc.addPrincipal('payments')
    kdc.addPrincipal('orders')
    const url = await mitmKdc(kdc, passThrough)
    const s = session(keytab, url, { clock })

    let release: ((r: Response) => void) | undefined
    let arrived: (() => void) | undefined
    const slowArrived = new Promise<void>((resolve) => (arrived = resolve))
    let predictedCtime = 0
    const fetchImpl = (input: string | URL): Promise<Response> => {
      if (input.toString().endsWith('/slow')) {
        predictedCtime = clock.nowSeconds()
        arrived?.()
        return new Promise<Response>((resolve) => (release = resolve))
      }
      return Promise.resolve(
        new Response('expired', {
          status: 401,
          headers: { 'www-authenticate': 'Tessera error="ERR_AP_TKT_EXPIRED"' },
        }),
      )
    }
    const client = new TesseraClient(s, { fetch: fetchImpl as typeof fetch, mutual: true })
    const slow = client.fetch('orders', 'http://orders.test/slow')
    const outcome = slow.then(
      (r) => ({ ok: true as const, status: r.status }),
      (e: unknown) => ({ ok: false as const, err: e }),
    )
    await slowArrived
    const refused = await client.fetch('orders', 'http://orders.test/pay', {
      method: 'POST',
      body: '{}',
    })
    expect(refused.status).toBe(401)
    await clock.advance(61_000) // the evicted entry's keys are wiped

    const zeroKey = new Uint8Array(32)
    const forged = toBase64Url(
      encodeApRep({
        encPart: sealApRepPart(
          deriveKey(zeroKey, LABELS.apRep),
          { realm: REALM, client: 'payments', service: 'orders' },
          { ctime: predictedCtime, counter: 1 },
        ),
      }),
    )
    release?.(new Response('attacker data', { status: 200, headers: { 'tessera-ap-rep': forged } }))
    const result = await outcome
    expect(result.ok).toBe(false)
    if (!result.ok) expect(isBrokerError(result.err, 'ERR_CLIENT_MUTUAL_FAILED')).toBe(true)
  })
})

describe('found in review: AS-REP key version', () => {
  it('found in review: an AS-REP sealed under an older key version than the AS-REQ used is accepted', () => {
    // The keytab holds kvno 1 (retired, e.g. after a compromise) and kvno 2 (current); the AS-REQ
    // is sealed with kvno 2. Whoever knows the retired key answers with kvno 1 and an encPart
    // under it carrying the request's (clear) nonce and a session key of its choosing.
    // Today: readAsRep selects the key by the reply's kvno, so the fake TGT and the attacker's
    // session key are accepted: the attacker can then answer TGS requests and forge AP-REPs.
    const old = newKey(1)
    const current = newKey(2)
    const keytab: Keytab = { realm: REALM, principal: 'payments', keys: [old, current] }
    const now = nowSeconds()
    const { body, state } = buildAsReq(keytab, now, 0)
    expect(body.kvno).toBe(2)
    const attackerSessionKey = new Uint8Array(randomBytes(32))
    const fakeTgt = sealTicket(
      deriveKey(new Uint8Array(randomBytes(32)), LABELS.ticket),
      { realm: REALM, service: 'krbtgt', kvno: 1 },
      {
        flags: TICKET_FLAGS.INITIAL,
        sessionKey: attackerSessionKey,
        client: 'payments',
        authTime: now,
        startTime: now,
        endTime: now + 3600,
        scopes: [],
        policyVersion: 1,
        ticketId: new Uint8Array(16),
        kdcCheck: new Uint8Array(16),
      },
    )
    const encPart = sealAsRepPart(
      deriveKey(old.key, LABELS.asRep),
      { realm: REALM, client: 'payments', kvno: 1 },
      {
        sessionKey: attackerSessionKey,
        nonce: body.nonce,
        authTime: now,
        startTime: now,
        endTime: now + 3600,
        flags: TICKET_FLAGS.INITIAL,
      },
    )
    let caught: unknown
    try {
      readAsRep(keytab, { kdcTime: now, tgt: fakeTgt, kvno: 1, encPart }, state)
    } catch (err) {
      caught = err
    }
    expect(isBrokerError(caught, 'ERR_CLIENT_REPLY_MISMATCH')).toBe(true)
  })
})

describe('found in review: clock offset steered by unauthenticated kdcTime', () => {
  it('found in review: a TGS-REP whose clear kdcTime was shifted by an hour moves the offset, so the service refuses our ctime', async () => {
    // kdcTime sits outside the sealed encPart; the encPart's authenticated startTime says "now".
    // Today: the endpoint feeds kdcTime to the clock before the reply is authenticated and nothing
    // cross-checks it with startTime: the offset becomes -3600 and every AP-REQ built from the
    // cached ticket carries a ctime an hour old (ERR_AP_SKEW at the service) until the next
    // untampered KDC reply, up to a refresh period later.
    const { kdc, keytab } = wsWorld()
    const url = await mitmKdc(kdc, (_q, reply) => {
      if (reply === undefined) return []
      if (reply.type === MSG.TGS_REP) return [withKdcTime(reply, reply.body.kdcTime - 3_600)]
      return [reply]
    })
    const s = session(keytab, url)
    const client = new TesseraClient(s)
    const auth = await client.authorize('orders', { url: 'http://orders.test/x' })
    const { ctime } = serviceView(kdc, auth.authorization)
    expect(Math.abs(ctime - nowSeconds())).toBeLessThanOrEqual(MAX_CLOCK_SKEW_S)
  })

  it('found in review: an ERROR frame (ERR_KDC_POLICY) with a forged kdcTime shifts the ctime of later service calls', async () => {
    // An ERROR frame is entirely unauthenticated. Its kdcTime is only needed for the one retry
    // after ERR_AP_SKEW (protocol.md §5.1, §6.3), yet any ERROR is adopted for good.
    // Today: after a refused TGS for billing, AP-REQs from the cached orders ticket carry a ctime
    // an hour old, and the service refuses them with ERR_AP_SKEW.
    const { kdc, keytab } = wsWorld()
    let forge = false
    const url = await mitmKdc(kdc, (request, reply) => {
      if (forge && request.type === MSG.TGS_REQ) {
        forge = false
        return [errorFrame(request.id, nowSeconds() - 3_600, 'ERR_KDC_POLICY')]
      }
      return reply === undefined ? [] : [reply]
    })
    const s = session(keytab, url)
    const client = new TesseraClient(s)
    await client.authorize('orders', { url: 'http://orders.test/x' })
    forge = true
    const err: unknown = await s.serviceTicket('billing').catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_KDC_POLICY')).toBe(true)
    const auth = await client.authorize('orders', { url: 'http://orders.test/y' })
    const { ctime } = serviceView(kdc, auth.authorization)
    expect(Math.abs(ctime - nowSeconds())).toBeLessThanOrEqual(MAX_CLOCK_SKEW_S)
  })
})

describe('found in review: admin writes and unauthenticated ERROR frames', () => {
  it('found in review: an admin write is sent twice when a forged ERR_AP_SKEW replaces its reply', async () => {
    // The KDC executes the admin request; the attacker swaps the ADMIN-REP for an ERROR frame
    // (ERR_AP_SKEW, or likewise ERR_AP_TKT_EXPIRED / ERR_AP_BAD_INTEGRITY, or at the transport
    // ERR_KDC_RATE_LIMITED / ERR_ADMIN_NOT_WRITER). Nothing authenticates ERROR frames.
    // Today: adminCall treats it as "refused before it ran" and resends a fresh request (new id,
    // new authenticator, so the KDC's replay cache cannot catch it): e.g. key.rotate runs twice.
    const { kdc, keytab } = wsWorld()
    let swapped = false
    const url = await mitmKdc(kdc, (request, reply) => {
      if (request.type === MSG.ADMIN_REQ && !swapped) {
        swapped = true
        return [errorFrame(request.id, nowSeconds(), 'ERR_AP_SKEW')]
      }
      return reply === undefined ? [] : [reply]
    })
    const s = session(keytab, url)
    await s.serviceTicket('kadmin')
    const out: unknown = await s.adminCall(['key.rotate', ['orders']]).catch((e: unknown) => e)
    expect(kdc.count(MSG.ADMIN_REQ)).toBe(1)
    expect(isBrokerError(out, 'ERR_AP_SKEW')).toBe(true)
  })
})

describe('found in review: background refresh against a failing KDC', () => {
  it('found in review: a failing refresh retries every 4-8 s for the rest of the ticket life, with no growing backoff', async () => {
    // credentials.ts calls backoffDelay(3, …) with a constant attempt number, so the delay never
    // grows: each cached ticket (up to maxTickets = 256) hits a KDC that answers
    // ERR_KDC_UNAVAILABLE every ~6 s (and each refresh is up to maxAttempts frames on the wire).
    // Today: about 50 TGS requests for one ticket in 5 minutes.
    const { clock, transport, creds } = memoryWorld()
    await creds.ticket('orders', [])
    transport.tamper = (request, reply) =>
      request.type === MSG.TGS_REQ
        ? errorFrame(request.id, clock.nowSeconds(), 'ERR_KDC_UNAVAILABLE')
        : reply
    const start = clock.now()
    await clock.advance(530_000) // the refresh point of a 900 s ticket (58 % with random 0.5)
    await clock.advance(300_000)
    const tgs = transport.sentAt.filter((s) => s.type === MSG.TGS_REQ && s.ms > start)
    expect(tgs.length).toBeGreaterThan(0)
    expect(tgs.length).toBeLessThanOrEqual(16)
  })
})

// ---- attacks that are handled -------------------------------------------------------------------

describe('client SDK review: attacks that are handled', () => {
  it('a genuine TGS-REP for another target, replayed in answer to a request for orders, is ERR_CLIENT_REPLY_MISMATCH', async () => {
    const { transport, creds } = memoryWorld()
    await creds.ticket('billing', [])
    const billingRep = transport.sentAt.length
    let captured: Frame | undefined
    transport.tamper = (request, reply) => {
      if (request.type !== MSG.TGS_REQ) return reply
      if (captured === undefined) {
        captured = reply
        return reply
      }
      return { ...captured, id: request.id }
    }
    await creds.ticket('billing', [], true) // captures a billing reply
    expect(transport.sentAt.length).toBe(billingRep + 1)
    const err: unknown = await creds.ticket('orders', []).catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_CLIENT_REPLY_MISMATCH')).toBe(true)
    expect(creds.cached('orders', [])).toBeUndefined()
  })

  it('a TGS-REP granting more scopes than asked for is refused, nothing is cached', async () => {
    const { kdc, creds } = memoryWorld()
    kdc.overGrant = true
    const err: unknown = await creds.ticket('orders', ['read']).catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_CLIENT_REPLY_MISMATCH')).toBe(true)
    expect((err as BrokerError).status).toBe('SCOPES')
    expect(creds.cached('orders', ['read'])).toBeUndefined()
    // Asking for everything (no scopes) accepts whatever policy grants.
    expect((await creds.ticket('orders', [])).credential.scopes).toEqual(['read', 'write'])
  })

  it('a replayed earlier TGS-REP for the same target is refused (nonce), nothing is cached', async () => {
    const { transport, creds } = memoryWorld()
    let captured: Frame | undefined
    transport.tamper = (request, reply) => {
      if (request.type !== MSG.TGS_REQ) return reply
      if (captured === undefined) {
        captured = reply
        return reply
      }
      return { ...captured, id: request.id }
    }
    const first = await creds.ticket('orders', [])
    const err: unknown = await creds.ticket('orders', [], true).catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_CLIENT_REPLY_MISMATCH')).toBe(true)
    expect(creds.cached('orders', [])).toBe(first)
  })

  it('a TGS-REP whose ticket header names another service is refused', async () => {
    const { transport, creds } = memoryWorld()
    transport.tamper = (_q, reply) =>
      reply.type === MSG.TGS_REP
        ? {
            ...reply,
            body: { ...reply.body, ticket: { ...reply.body.ticket, service: 'billing' } },
          }
        : reply
    const err: unknown = await creds.ticket('orders', []).catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_CLIENT_REPLY_MISMATCH')).toBe(true)
  })

  it('a replayed earlier AS-REP is refused (nonce) and the TGT is not replaced', async () => {
    const { transport, creds } = memoryWorld()
    let captured: Frame | undefined
    transport.tamper = (request, reply) => {
      if (request.type !== MSG.AS_REQ) return reply
      if (captured === undefined) {
        captured = reply
        return reply
      }
      return { ...captured, id: request.id }
    }
    const tgt = await creds.login()
    const err: unknown = await creds.login().catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_CLIENT_REPLY_MISMATCH')).toBe(true)
    expect(creds.tgtEntry).toBe(tgt)
  })

  it('forged TGT rejections (ERR_KDC_CLIENT_REVOKED on every TGS) cause one re-login per call, not a loop', async () => {
    const { kdc, transport, creds } = memoryWorld()
    await creds.login()
    transport.tamper = (request, reply) =>
      request.type === MSG.TGS_REQ
        ? errorFrame(request.id, kdc.now(), 'ERR_KDC_CLIENT_REVOKED')
        : reply
    const err: unknown = await creds.ticket('orders', []).catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_KDC_CLIENT_REVOKED')).toBe(true)
    expect(kdc.count(MSG.AS_REQ)).toBe(2)
    expect(kdc.count(MSG.TGS_REQ)).toBe(2)
  })

  it('the kdcTime of a stray frame (an id no request has) is not adopted', async () => {
    const { kdc, keytab } = wsWorld()
    let stray = true
    const url = await mitmKdc(kdc, (request, reply) => {
      const out = reply === undefined ? [] : [reply]
      if (stray && request.type === MSG.AS_REQ) {
        stray = false
        return [errorFrame((request.id + 7_777) % 0xffff_ffff, 4_000_000_000, 'ERR_KDC_INTERNAL')]
      }
      return out
    })
    const s = session(keytab, url)
    await s.login().catch(() => undefined)
    expect(Math.abs(s.kdcOffsetSeconds)).toBeLessThanOrEqual(1)
  })

  it('an AP-REP captured from an earlier call on the same ticket does not pass mutual auth', async () => {
    const { kdc, keytab } = wsWorld()
    const url = await mitmKdc(kdc, passThrough)
    const s = session(keytab, url)
    let captured: string | undefined
    const fetchImpl = (_input: string | URL, init?: RequestInit): Promise<Response> => {
      const authorization = new Headers(init?.headers).get('authorization') ?? ''
      const apReq = parseApReq(fromBase64Url(authorization.slice(8)) as Uint8Array)
      const part = kdc.openServiceTicket(apReq.ticket)
      const { ctime, counter } = serviceView(kdc, authorization)
      const apRep = toBase64Url(
        encodeApRep({
          encPart: sealApRepPart(
            deriveKey(part.sessionKey, LABELS.apRep),
            { realm: REALM, client: 'payments', service: 'orders' },
            { ctime, counter },
          ),
        }),
      )
      const header = captured ?? apRep
      captured ??= apRep
      return Promise.resolve(new Response('ok', { headers: { 'tessera-ap-rep': header } }))
    }
    const client = new TesseraClient(s, { fetch: fetchImpl as typeof fetch, mutual: true })
    expect((await client.fetch('orders', 'http://orders.test/a')).status).toBe(200)
    const err: unknown = await client
      .fetch('orders', 'http://orders.test/b')
      .catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_CLIENT_MUTUAL_FAILED')).toBe(true)
  })

  it('concurrent authorizations on one ticket never share a counter', async () => {
    const { kdc, keytab } = wsWorld()
    const url = await mitmKdc(kdc, passThrough)
    const client = new TesseraClient(session(keytab, url))
    const auths = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        client.authorize('orders', { url: `http://orders.test/${i}` }),
      ),
    )
    const counters = auths.map((a) => serviceView(kdc, a.authorization).counter)
    expect(new Set(counters).size).toBe(40)
    expect(kdc.count(MSG.TGS_REQ)).toBe(1)
  })

  it('mutual-auth and reply-mismatch errors name no key bytes', async () => {
    const { kdc, keytab } = wsWorld()
    const url = await mitmKdc(kdc, passThrough)
    const s = session(keytab, url)
    const t = await s.serviceTicket('orders')
    const client = new TesseraClient(s)
    const auth = await client.authorize('orders', { url: 'http://orders.test/x' })
    let caught: unknown
    try {
      auth.verifyApRep(toBase64Url(new Uint8Array(60)))
    } catch (err) {
      caught = err
    }
    expect(isBrokerError(caught, 'ERR_CLIENT_MUTUAL_FAILED')).toBe(true)
    const text = `${(caught as Error).message} ${String((caught as Error).stack)}`
    const hex = Buffer.from(t.sessionKey).toString('hex')
    expect(text.includes(hex)).toBe(false)
    expect(text.includes(Buffer.from(keytab.keys[0]?.key ?? []).toString('hex'))).toBe(false)
  })
})
