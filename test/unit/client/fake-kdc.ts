/**
 * Test fixtures for the client SDK: a small KDC that speaks the real protocol through kdc/protocol
 * (AS, TGS, admin echo), usable in memory (FakeTransport, for tests with a fake clock) or over a
 * real ws WebSocketServer (for transport and failover tests); and a fake clock with timers.
 */
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'
import {
  adminRequestHash,
  BrokerError,
  constantTimeEqual,
  deriveKey,
  encodeFrame,
  fromWire,
  isBrokerError,
  LABELS,
  MSG,
  OBJ,
  openAdminPayload,
  openAuthenticator,
  openPreauth,
  openTicket,
  parseFrame,
  sealAdminPayload,
  sealAsRepPart,
  sealTgsRepPart,
  sealTicket,
  TICKET_FLAGS,
  tgsRequestHash,
  type ErrorCode,
  type Frame,
  type KeyVersion,
  type Keytab,
  type Ticket,
} from '../../../kdc/protocol/index.js'
import type { ClientClock, TimerHandle } from '../../../client/clock.js'
import type { RequestSpec } from '../../../client/transport.js'

export const REALM = 'TEST.REALM'

export function newKey(kvno = 1): KeyVersion {
  return { kvno, key: new Uint8Array(randomBytes(32)), createdAt: 1_700_000_000 }
}

/** What the fake KDC does with the next requests. */
export type Behaviour =
  | { readonly kind: 'normal' }
  | { readonly kind: 'hang' }
  | { readonly kind: 'error'; readonly code: ErrorCode }
  | { readonly kind: 'wrong-id' }
  | { readonly kind: 'wrong-type' }
  | { readonly kind: 'bad-nonce' }

export class FakeKdc {
  readonly realm = REALM
  readonly principals = new Map<string, KeyVersion[]>()
  readonly tgsKey = newKey(1)
  /** KDC time in seconds. */
  now: () => number
  tgtLifetime = 3_600
  ticketLifetime = 900
  /** Requests seen, by type. */
  readonly seen: Frame[] = []
  /** Behaviours consumed one per request; when empty, 'normal'. */
  readonly script: Behaviour[] = []
  /** Scopes granted to every service ticket. */
  grantedScopes: readonly string[] = ['read', 'write']
  /** Misbehave: grant every scope of grantedScopes even when fewer were asked for. */
  overGrant = false

  constructor(now: () => number = () => Math.floor(Date.now() / 1000)) {
    this.now = now
    this.principals.set('kadmin', [newKey(1)])
  }

  /** Register a principal and return its keytab. */
  addPrincipal(name: string): Keytab {
    const keys = [newKey(1)]
    this.principals.set(name, keys)
    return { realm: this.realm, principal: name, keys }
  }

  count(type: number): number {
    return this.seen.filter((f) => f.type === type).length
  }

  /** Answer one request frame; undefined means "say nothing" (hang). */
  handle(frame: Frame): Frame | undefined {
    this.seen.push(frame)
    const behaviour = this.script.shift() ?? { kind: 'normal' }
    const now = this.now()
    switch (behaviour.kind) {
      case 'hang':
        return undefined
      case 'error':
        return errorFrame(frame.id, now, behaviour.code)
      case 'wrong-id':
        return errorFrame((frame.id + 1000) % 0xffff_ffff, now, 'ERR_KDC_INTERNAL')
      case 'wrong-type':
        return {
          type: MSG.ADMIN_REP,
          id: frame.id,
          body: { kdcTime: now, payload: new Uint8Array(41) },
        }
      case 'normal':
      case 'bad-nonce':
        break
    }
    try {
      return this.#answer(frame, now, behaviour.kind === 'bad-nonce')
    } catch (err) {
      if (isBrokerError(err)) return errorFrame(frame.id, now, err.code)
      throw err
    }
  }

  #answer(frame: Frame, now: number, badNonce: boolean): Frame {
    switch (frame.type) {
      case MSG.AS_REQ: {
        const b = frame.body
        const key = this.principals.get(b.client)?.find((k) => k.kvno === b.kvno)
        if (key === undefined || b.realm !== this.realm)
          throw new BrokerError('ERR_KDC_PREAUTH_FAILED')
        const pa = openPreauth(deriveKey(key.key, LABELS.preauth), b, b.preauth)
        if (!constantTimeEqual(pa.nonce, b.nonce)) throw new BrokerError('ERR_KDC_PREAUTH_FAILED')
        if (Math.abs(pa.ctime - now) > 300) throw new BrokerError('ERR_AP_SKEW')
        const sessionKey = new Uint8Array(randomBytes(32))
        const endTime = now + this.tgtLifetime
        const tgt = sealTicket(
          deriveKey(this.tgsKey.key, LABELS.ticket),
          { realm: this.realm, service: 'krbtgt', kvno: this.tgsKey.kvno },
          {
            flags: TICKET_FLAGS.INITIAL,
            sessionKey,
            client: b.client,
            authTime: now,
            startTime: now,
            endTime,
            scopes: [],
            policyVersion: 1,
            ticketId: new Uint8Array(randomBytes(16)),
            kdcCheck: new Uint8Array(0),
          },
        )
        const encPart = sealAsRepPart(
          deriveKey(key.key, LABELS.asRep),
          { realm: this.realm, client: b.client, kvno: b.kvno },
          {
            sessionKey,
            nonce: badNonce ? new Uint8Array(16) : b.nonce,
            authTime: now,
            startTime: now,
            endTime,
            flags: TICKET_FLAGS.INITIAL,
          },
        )
        return {
          type: MSG.AS_REP,
          id: frame.id,
          body: { kdcTime: now, tgt, kvno: b.kvno, encPart },
        }
      }
      case MSG.TGS_REQ: {
        const b = frame.body
        const tgt = openTicket(b.tgt, deriveKey(this.tgsKey.key, LABELS.ticket))
        const auth = openAuthenticator(
          deriveKey(tgt.sessionKey, LABELS.authenticator),
          { realm: this.realm, client: tgt.client, service: 'krbtgt', msgType: MSG.TGS_REQ },
          b.authenticator,
        )
        if (Math.abs(auth.ctime - now) > 300) throw new BrokerError('ERR_AP_SKEW')
        const expected = tgsRequestHash(b.target, b.scopes, b.lifetime, b.nonce)
        if (!constantTimeEqual(auth.requestHash, expected))
          throw new BrokerError('ERR_AP_REQUEST_MISMATCH')
        if (now >= tgt.endTime) throw new BrokerError('ERR_AP_TKT_EXPIRED')
        const serviceKey = this.principals.get(b.target)?.at(-1)
        if (serviceKey === undefined) throw new BrokerError('ERR_KDC_PRINCIPAL_UNKNOWN')
        const sessionKey = new Uint8Array(randomBytes(32))
        const endTime = Math.min(now + this.ticketLifetime, tgt.endTime)
        const scopes = b.scopes.length === 0 || this.overGrant ? this.grantedScopes : b.scopes
        const ticketId = new Uint8Array(randomBytes(16))
        const ticket = sealTicket(
          deriveKey(serviceKey.key, LABELS.ticket),
          { realm: this.realm, service: b.target, kvno: serviceKey.kvno },
          {
            flags: 0,
            sessionKey,
            client: tgt.client,
            authTime: tgt.authTime,
            startTime: now,
            endTime,
            scopes,
            policyVersion: 1,
            ticketId,
            kdcCheck: new Uint8Array(0),
          },
        )
        const encPart = sealTgsRepPart(
          deriveKey(tgt.sessionKey, LABELS.tgsRep),
          { realm: this.realm, client: tgt.client, target: b.target },
          {
            sessionKey,
            nonce: badNonce ? new Uint8Array(16) : b.nonce,
            authTime: tgt.authTime,
            startTime: now,
            endTime,
            scopes,
            policyVersion: 1,
            ticketId,
            flags: 0,
          },
        )
        return {
          type: MSG.TGS_REP,
          id: frame.id,
          body: { kdcTime: now, target: b.target, ticket, encPart },
        }
      }
      case MSG.ADMIN_REQ: {
        const b = frame.body
        const kadminKey = this.principals.get('kadmin')?.at(-1) as KeyVersion
        const part = openTicket(b.ticket, deriveKey(kadminKey.key, LABELS.ticket))
        const auth = openAuthenticator(
          deriveKey(part.sessionKey, LABELS.authenticator),
          { realm: this.realm, client: part.client, service: 'kadmin', msgType: MSG.ADMIN_REQ },
          b.authenticator,
        )
        if (!constantTimeEqual(auth.requestHash, adminRequestHash(frame.id, b.payload))) {
          throw new BrokerError('ERR_AP_REQUEST_MISMATCH')
        }
        const subkey = deriveKey(part.sessionKey, LABELS.admin)
        const ctx = { realm: this.realm, client: part.client, id: frame.id }
        const request = openAdminPayload(subkey, OBJ.ADMIN_REQ_ENC, ctx, b.payload)
        // Echo: ['echo', request, counter]
        const payload = sealAdminPayload(subkey, OBJ.ADMIN_REP_ENC, ctx, [
          'echo',
          request,
          auth.counter,
        ])
        return { type: MSG.ADMIN_REP, id: frame.id, body: { kdcTime: now, payload } }
      }
      case MSG.AS_REP:
      case MSG.TGS_REP:
      case MSG.ERROR:
      case MSG.ADMIN_REP:
      case MSG.REPL_REQ:
      case MSG.REPL_REP:
        throw new BrokerError('ERR_PROTO_UNEXPECTED')
    }
  }

  /** Open a service ticket the way a service would (for checking AP-REQs in tests). */
  openServiceTicket(ticket: Ticket): ReturnType<typeof openTicket> {
    const key = this.principals.get(ticket.service)?.find((k) => k.kvno === ticket.kvno)
    if (key === undefined) throw new Error(`no key for ${ticket.service}`)
    return openTicket(ticket, deriveKey(key.key, LABELS.ticket))
  }

  /** Serve over a real WebSocket server at ws://127.0.0.1:PORT/v1. */
  async listen(): Promise<{ url: string; server: WebSocketServer; close: () => Promise<void> }> {
    const server = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      path: '/v1',
      perMessageDeflate: false,
    })
    await new Promise<void>((resolve) => server.once('listening', resolve))
    server.on('connection', (ws: WebSocket) => {
      ws.on('message', (data: Buffer) => {
        const reply = this.handle(parseFrame(new Uint8Array(data)))
        if (reply !== undefined) ws.send(encodeFrame(reply), { binary: true })
      })
    })
    const port = (server.address() as AddressInfo).port
    return {
      url: `ws://127.0.0.1:${port}/v1`,
      server,
      close: () =>
        new Promise<void>((resolve) => {
          for (const c of server.clients) c.terminate()
          server.close(() => {
            resolve()
          })
        }),
    }
  }
}

export function errorFrame(id: number, kdcTime: number, code: ErrorCode): Frame {
  const wire = new BrokerError(code).wire
  if (wire === null) throw new Error(`${code} has no wire number`)
  return { type: MSG.ERROR, id, body: { kdcTime, wire } }
}

/** The in-memory transport: calls the fake KDC directly, like KdcTransport would over ws. */
export class FakeTransport {
  readonly kdc: FakeKdc
  readonly onKdcTime: (t: number) => void
  #nextId = 1
  constructor(kdc: FakeKdc, onKdcTime: (t: number) => void) {
    this.kdc = kdc
    this.onKdcTime = onKdcTime
  }

  async request<S>(spec: RequestSpec<S>): Promise<{ reply: Frame; state: S; endpoint: string }> {
    await Promise.resolve()
    const { frame, state } = spec.build(this.#nextId++)
    const reply = this.kdc.handle(frame)
    if (reply === undefined) throw new BrokerError('ERR_CLIENT_TIMEOUT')
    if ('kdcTime' in reply.body) this.onKdcTime(reply.body.kdcTime)
    if (reply.type === MSG.ERROR) throw fromWire(reply.body.wire, 'KDC_REPLY')
    return { reply, state, endpoint: 'memory' }
  }
}

/** A fake clock: time moves only through advance(), which fires due timers in order. */
export class FakeClock implements ClientClock {
  #now: number
  #seq = 0
  readonly #timers = new Map<number, { at: number; fn: () => void }>()

  constructor(startMs = 1_800_000_000_000) {
    this.#now = startMs
  }

  now(): number {
    return this.#now
  }

  nowSeconds(): number {
    return Math.floor(this.#now / 1000)
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#seq
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn })
    return id
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number)
  }

  get pending(): number {
    return this.#timers.size
  }

  /** Move time forward by `ms`, firing due timers in time order and letting promises settle. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms
    for (;;) {
      await flush()
      let next: [number, { at: number; fn: () => void }] | undefined
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry
      }
      if (next === undefined) break
      this.#timers.delete(next[0])
      this.#now = Math.max(this.#now, next[1].at)
      next[1].fn()
    }
    this.#now = end
    await flush()
  }
}

/** Let pending promise chains run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}
