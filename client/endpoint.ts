/**
 * One WebSocket connection to one KDC endpoint (docs/protocol.md §5.1): binary frames only,
 * maxPayload = MAX_FRAME_BYTES, no compression. Requests are matched to replies by frame id; each
 * has its own deadline. The connection is opened lazily and, once used, kept open: after any close
 * it reconnects in the background with jittered exponential backoff until the transport closes.
 */
import WebSocket from 'ws'
import {
  BrokerError,
  encodeFrame,
  fromWire,
  isBrokerError,
  isoTime,
  MAX_FRAME_BYTES,
  MSG,
  parseFrame,
  peekFrameHead,
  type Frame,
  type FrameType,
} from '../kdc/protocol/index.js'
import { backoffDelay, type ClientClock, type TimerHandle } from './clock.js'
import type { Attempt } from './transport.js'

/** Settings shared by every endpoint of a transport. */
/** WebSocket close code 1001, which the KDC sends when it closes an idle connection. */
const GOING_AWAY = 1001

export interface EndpointSettings {
  readonly connectTimeoutMs: number
  readonly reconnectBaseMs: number
  readonly reconnectMaxMs: number
  readonly clock: ClientClock
  readonly random: () => number
  /** Called with the kdcTime of every reply that carries one (ERROR frames included). */
  readonly onKdcTime: (kdcTime: number) => void
}

interface Pending {
  readonly expect: FrameType
  readonly resolve: (frame: Frame) => void
  readonly reject: (err: BrokerError) => void
  readonly timer: TimerHandle
}

/** Late replies to these many timed-out ids are dropped quietly instead of being a protocol error. */
const ABANDONED_IDS_KEPT = 256

export class KdcEndpoint {
  readonly url: string
  readonly #settings: EndpointSettings
  #ws: WebSocket | undefined
  #dialing: WebSocket | undefined
  #connecting: Promise<WebSocket> | undefined
  readonly #pending = new Map<number, Pending>()
  readonly #abandoned = new Set<number>()
  #failures = 0
  #reconnectTimer: TimerHandle | undefined
  #used = false
  #closed = false

  constructor(url: string, settings: EndpointSettings) {
    this.url = url
    this.#settings = settings
  }

  /** Consecutive failures (connect errors, timeouts, closes); 0 means healthy. */
  get failures(): number {
    return this.#failures
  }

  /** True while a connection is open. */
  get open(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN
  }

  /** Requests awaiting a reply on this connection. */
  get inFlight(): number {
    return this.#pending.size
  }

  /**
   * Open the connection the first time the transport is used; from then on the reconnect loop keeps
   * it open, so a warm call does not redial an endpoint that is backing off.
   */
  warm(): void {
    if (this.#used || this.#closed) return
    this.#used = true
    this.connect().catch(() => undefined)
  }

  /**
   * Open (or reuse) the connection. Fails with ERR_CLIENT_UNREACHABLE, which means nothing was
   * sent: a non-idempotent request may safely go to another endpoint.
   */
  connect(): Promise<WebSocket> {
    if (this.#closed) return Promise.reject(closedError(this.url))
    this.#used = true
    const ws = this.#ws
    if (ws?.readyState === WebSocket.OPEN) return Promise.resolve(ws)
    if (this.#connecting !== undefined) return this.#connecting
    if (this.#reconnectTimer !== undefined) {
      // A request wants this endpoint now: skip the rest of the backoff.
      this.#settings.clock.clearTimeout(this.#reconnectTimer)
      this.#reconnectTimer = undefined
    }
    const p = this.#dial()
    this.#connecting = p
    p.then(
      () => {
        if (this.#connecting === p) this.#connecting = undefined
      },
      () => {
        if (this.#connecting === p) this.#connecting = undefined
        this.#scheduleReconnect()
      },
    )
    return p
  }

  #dial(): Promise<WebSocket> {
    return new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(this.url, {
        maxPayload: MAX_FRAME_BYTES,
        perMessageDeflate: false,
        handshakeTimeout: this.#settings.connectTimeoutMs,
      })
      ws.binaryType = 'nodebuffer'
      this.#dialing = ws
      let settled = false
      /** The dial failed before the connection opened: nothing was sent on it. */
      const unreachable = (message: string, cause?: Error): void => {
        if (settled) return
        settled = true
        if (this.#dialing === ws) this.#dialing = undefined
        this.#failures++
        reject(
          new BrokerError('ERR_CLIENT_UNREACHABLE', {
            status: 'CONNECT',
            message,
            ...(cause === undefined ? {} : { cause }),
          }),
        )
      }
      ws.on('open', () => {
        settled = true
        this.#dialing = undefined
        if (this.#closed) {
          ws.terminate()
          reject(closedError(this.url))
          return
        }
        this.#ws = ws
        this.#failures = 0
        resolve(ws)
      })
      ws.on('message', (data, isBinary) => {
        this.#onMessage(ws, data as Buffer, isBinary)
      })
      ws.on('error', (err) => {
        unreachable(
          `cannot connect to KDC ${this.url}: ${err.message}; check the endpoint and that a KDC runs there`,
          err,
        )
      })
      ws.on('close', (code: number) => {
        // The KDC closes connections that sat idle (1001 "going away"). Redialing at once would
        // churn forever for a quiet client; the next request (or ticket refresh) redials instead.
        if (settled && code === GOING_AWAY && this.#pending.size === 0) this.#used = false
        unreachable(`KDC ${this.url} closed the connection during the handshake`)
        this.#onClose(ws)
      })
    })
  }

  /**
   * Send one request on this connection and wait for its reply. `build` is called once the
   * connection is open and the frame id is allocated (admin requests seal the id into the payload).
   * ERROR replies reject with the catalogue's BrokerError (status 'KDC_REPLY').
   */
  async request<S>(
    id: number,
    build: (id: number) => Attempt<S>,
    expect: FrameType,
    deadlineMs: number,
  ): Promise<{ reply: Frame; state: S }> {
    const ws = await this.connect()
    const attempt = build(id)
    const bytes = encodeFrame(attempt.frame)
    const reply = await new Promise<Frame>((resolve, reject) => {
      const timer = this.#settings.clock.setTimeout(() => {
        if (!this.#pending.delete(id)) return
        this.#abandon(id)
        this.#failures++
        reject(
          new BrokerError('ERR_CLIENT_TIMEOUT', {
            status: 'DEADLINE',
            message: `KDC ${this.url} did not answer within ${deadlineMs} ms; check the KDC and the network`,
          }),
        )
      }, deadlineMs)
      this.#pending.set(id, { expect, resolve, reject, timer })
      ws.send(bytes, { binary: true }, (err?: Error | null) => {
        if (err === undefined || err === null) return
        this.#settle(id)?.reject(
          new BrokerError('ERR_CLIENT_CLOSED', {
            status: 'SEND',
            message: `sending to KDC ${this.url} failed: ${err.message}`,
            cause: err,
          }),
        )
      })
    })
    return { reply, state: attempt.state }
  }

  #settle(id: number): Pending | undefined {
    const p = this.#pending.get(id)
    if (p === undefined) return undefined
    this.#pending.delete(id)
    this.#settings.clock.clearTimeout(p.timer)
    return p
  }

  #abandon(id: number): void {
    this.#abandoned.add(id)
    if (this.#abandoned.size > ABANDONED_IDS_KEPT) {
      const oldest = this.#abandoned.values().next()
      if (oldest.done !== true) this.#abandoned.delete(oldest.value)
    }
  }

  #onMessage(ws: WebSocket, data: Buffer, isBinary: boolean): void {
    if (ws !== this.#ws) return
    if (!isBinary) {
      this.#fail(ws, new BrokerError('ERR_PROTO_MALFORMED', { status: 'TEXT_FRAME' }))
      return
    }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    let frame: Frame
    try {
      frame = parseFrame(bytes)
    } catch (err) {
      const error = isBrokerError(err)
        ? err
        : new BrokerError('ERR_PROTO_MALFORMED', { status: 'FRAME', cause: err })
      const head = peekFrameHead(bytes)
      const p = head === undefined ? undefined : this.#settle(head.id)
      if (p !== undefined) p.reject(error)
      else this.#fail(ws, error)
      return
    }
    const p = this.#settle(frame.id)
    // The KDC's clock is learnt only from replies to requests in flight, never from stray frames.
    if (p !== undefined && 'kdcTime' in frame.body) this.#settings.onKdcTime(frame.body.kdcTime)
    if (p === undefined) {
      if (this.#abandoned.delete(frame.id)) return // a late reply to a request that timed out
      this.#fail(
        ws,
        new BrokerError('ERR_CLIENT_REPLY_MISMATCH', {
          status: 'UNKNOWN_ID',
          message: `KDC ${this.url} sent a reply with id ${frame.id}, which no request on this connection has; the connection was dropped`,
        }),
      )
      return
    }
    this.#failures = 0
    if (frame.type === MSG.ERROR) {
      p.reject(kdcError(this.url, frame.body.wire, frame.body.kdcTime, this.#settings.clock.now()))
    } else if (frame.type !== p.expect) {
      p.reject(
        new BrokerError('ERR_CLIENT_REPLY_MISMATCH', {
          status: 'TYPE',
          message: `KDC ${this.url} answered with message type ${frame.type}, expected ${p.expect}`,
        }),
      )
    } else {
      p.resolve(frame)
    }
  }

  /** The stream can no longer be trusted: fail everything pending and drop the connection. */
  #fail(ws: WebSocket, err: BrokerError): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(err)
    this.#failures++
    ws.terminate()
  }

  #onClose(ws: WebSocket): void {
    if (this.#ws !== ws) return
    this.#ws = undefined
    for (const id of [...this.#pending.keys()]) {
      this.#settle(id)?.reject(
        new BrokerError('ERR_CLIENT_CLOSED', {
          status: 'CLOSED',
          message: `the connection to KDC ${this.url} closed before the reply arrived`,
        }),
      )
    }
    this.#scheduleReconnect()
  }

  #scheduleReconnect(): void {
    if (this.#closed || !this.#used || this.#reconnectTimer !== undefined) return
    const s = this.#settings
    const delay = backoffDelay(this.#failures, s.reconnectBaseMs, s.reconnectMaxMs, s.random)
    this.#reconnectTimer = s.clock.setTimeout(() => {
      this.#reconnectTimer = undefined
      if (this.#closed) return
      // A failure schedules the next try (see connect()).
      this.connect().catch(() => undefined)
    }, delay)
  }

  /** Close the connection, fail pending requests with ERR_CLIENT_CLOSED, stop reconnecting. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    if (this.#reconnectTimer !== undefined) this.#settings.clock.clearTimeout(this.#reconnectTimer)
    this.#reconnectTimer = undefined
    this.#dialing?.terminate()
    this.#dialing = undefined
    const ws = this.#ws
    if (ws !== undefined) {
      this.#onClose(ws)
      ws.terminate()
    }
    for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(closedError(this.url))
  }
}

/** The BrokerError of an ERROR frame; a skew refusal names both clocks (design brief §4). */
function kdcError(url: string, wire: number, kdcTime: number, localMs: number): BrokerError {
  const err = fromWire(wire, 'KDC_REPLY')
  if (err.code !== 'ERR_AP_SKEW') return err
  const local = Math.floor(localMs / 1000)
  return new BrokerError('ERR_AP_SKEW', {
    status: 'KDC_REPLY',
    message: `KDC ${url} refused our timestamp: its clock reads ${isoTime(kdcTime)}, this host's ${isoTime(local)} (${kdcTime - local} s apart); synchronise the clocks (NTP)`,
  })
}

function closedError(url: string): BrokerError<'ERR_CLIENT_CLOSED'> {
  return new BrokerError('ERR_CLIENT_CLOSED', {
    status: 'CLIENT_CLOSED',
    message: `the client was closed while talking to KDC ${url}`,
  })
}
