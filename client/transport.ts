/**
 * KDC transport with failover (design brief §8): one WebSocket per endpoint, all kept open once
 * used; a short per-request deadline after which the next endpoint is tried; bounded, jittered
 * retries of idempotent requests (AS, TGS) across endpoints. A non-idempotent request (admin) moves
 * to another endpoint only when it cannot have been executed: the connection never opened, or the
 * KDC refused it before acting (ERR_ADMIN_NOT_WRITER, ERR_KDC_RATE_LIMITED).
 */
import {
  BrokerError,
  isBrokerError,
  MAX_UINT32,
  type ErrorCode,
  type Frame,
  type FrameType,
} from '../kdc/protocol/index.js'
import { backoffDelay, systemClientClock, type ClientClock, type TimerHandle } from './clock.js'
import { KdcEndpoint } from './endpoint.js'
import { fnOption, intOption, kdcEndpoints } from './options.js'

/**
 * Options of {@link KdcTransport}.
 *
 * @example
 * ```ts
 * const options: TransportOptions = { kdc: ['ws://a:7088/v1', 'ws://b:7088/v1'], deadlineMs: 2000 }
 * ```
 */
/**
 * One attempt of a request: the frame to send (built once the id is known) and what to expect.
 * Declared here rather than in endpoint.ts, so that the public declarations never load
 * endpoint.d.ts, which names the `ws` package's types (SDK users need not install @types/ws).
 */
export interface Attempt<S> {
  readonly frame: Frame
  readonly state: S
}

export interface TransportOptions {
  /** KDC endpoints in order of preference; defaults to $TESSERA_KDC (comma-separated). */
  readonly kdc?: readonly string[] | string
  /** Per-request deadline before the next endpoint is tried, in ms (default 2000). */
  readonly deadlineMs?: number
  /** Deadline of admin requests, which wait for replication to the peer (default 15000 ms). */
  readonly adminDeadlineMs?: number
  /** WebSocket handshake timeout, in ms (default 2000). */
  readonly connectTimeoutMs?: number
  /** Most attempts of one idempotent request across all endpoints (default 4). */
  readonly maxAttempts?: number
  /** Local clock and timers (tests inject one); default: the system clock. */
  readonly clock?: ClientClock
  /** Uniform random numbers in [0, 1) for jitter (tests inject one); default Math.random. */
  readonly random?: () => number
}

/** One request: how to build each attempt's frame, what reply type to expect. */
export interface RequestSpec<S> {
  /** Called once per attempt with that attempt's frame id, after its connection is open. */
  readonly build: (id: number) => Attempt<S>
  readonly expect: FrameType
  /** AS and TGS are idempotent; admin requests are not. */
  readonly idempotent: boolean
  readonly deadlineMs?: number
}

/**
 * Codes after which a non-idempotent request may go to the next endpoint: it never left
 * (unreachable), or only a writer can run it. Not ERR_KDC_RATE_LIMITED: an ERROR frame is not
 * authenticated, and one put in place of the reply to a request that ran would make it run twice.
 */
const REFUSED_BEFORE_ACTING: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ERR_CLIENT_UNREACHABLE',
  'ERR_ADMIN_NOT_WRITER',
])

/**
 * Connections to the KDC endpoints, with failover. Replies' kdcTime values go to `onKdcTime`.
 *
 * @example
 * ```ts
 * const transport = new KdcTransport({ kdc: ['ws://a:7088/v1', 'ws://b:7088/v1'] }, (t) => kdcClock.observe(t))
 * const { reply } = await transport.request({
 *   build: (id) => ({ frame: { type: MSG.AS_REQ, id, body }, state: undefined }),
 *   expect: MSG.AS_REP,
 *   idempotent: true,
 * })
 * transport.close()
 * ```
 */
export class KdcTransport {
  readonly endpoints: readonly string[]
  readonly deadlineMs: number
  readonly adminDeadlineMs: number
  readonly #maxAttempts: number
  readonly #clock: ClientClock
  readonly #random: () => number
  readonly #endpoints: readonly KdcEndpoint[]
  #nextId: number
  #closed = false
  readonly #sleeps = new Set<{ handle: TimerHandle | undefined; wake: () => void }>()

  constructor(
    options: TransportOptions = {},
    onKdcTime: (kdcTime: number) => void = () => undefined,
  ) {
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new TypeError('transport options must be an object')
    }
    this.endpoints = kdcEndpoints(options.kdc)
    this.deadlineMs = intOption(options.deadlineMs, 'deadlineMs', 10, 120_000, 2_000)
    this.adminDeadlineMs = intOption(
      options.adminDeadlineMs,
      'adminDeadlineMs',
      10,
      600_000,
      15_000,
    )
    const connectTimeoutMs = intOption(
      options.connectTimeoutMs,
      'connectTimeoutMs',
      10,
      120_000,
      2_000,
    )
    this.#maxAttempts = intOption(options.maxAttempts, 'maxAttempts', 1, 16, 4)
    this.#clock = options.clock ?? systemClientClock
    this.#random = fnOption<() => number>(options.random, 'random') ?? Math.random
    this.#nextId = 1 + Math.floor(this.#random() * 0x7fff_ffff)
    const settings = {
      connectTimeoutMs,
      reconnectBaseMs: 250,
      reconnectMaxMs: 15_000,
      clock: this.#clock,
      random: this.#random,
      onKdcTime,
    }
    this.#endpoints = this.endpoints.map((url) => new KdcEndpoint(url, settings))
  }

  /** Endpoints with an open connection right now. */
  get connected(): string[] {
    return this.#endpoints.filter((e) => e.open).map((e) => e.url)
  }

  /**
   * Send a request and wait for its reply, failing over across endpoints as described above.
   * Rejects with the KDC's BrokerError, ERR_CLIENT_TIMEOUT, ERR_CLIENT_CLOSED, or
   * ERR_CLIENT_UNREACHABLE when no endpoint could be reached at all.
   */
  async request<S>(spec: RequestSpec<S>): Promise<{ reply: Frame; state: S; endpoint: string }> {
    if (this.#closed) throw new TypeError('this Tessera client is closed; create a new one')
    // Keep a connection to every endpoint so that failover does not pay for a handshake.
    for (const e of this.#endpoints) e.warm()
    const deadline = spec.deadlineMs ?? this.deadlineMs
    const order = this.#order()
    const attempts = spec.idempotent ? this.#maxAttempts : Math.max(order.length, 1)
    let last: BrokerError | undefined
    let reachedAny = false
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0 && attempt % order.length === 0) {
        await this.#sleep(backoffDelay(attempt / order.length - 1, 100, 1_000, this.#random))
      }
      if (this.#isClosed()) throw closedError()
      const endpoint = order[attempt % order.length] as KdcEndpoint
      try {
        const out = await endpoint.request(this.#allocateId(), spec.build, spec.expect, deadline)
        return { ...out, endpoint: endpoint.url }
      } catch (err) {
        if (!isBrokerError(err)) throw err
        last = err
        if (err.code !== 'ERR_CLIENT_UNREACHABLE') reachedAny = true
        if (this.#isClosed()) throw closedError()
        if (!this.#retryable(err, spec.idempotent)) throw err
      }
    }
    if (!reachedAny) {
      throw new BrokerError('ERR_CLIENT_UNREACHABLE', {
        status: 'ALL_ENDPOINTS',
        message: `no KDC endpoint could be reached (${this.endpoints.join(', ')}); check --kdc / TESSERA_KDC and that a KDC runs`,
        cause: last,
      })
    }
    throw last ?? closedError()
  }

  #retryable(err: BrokerError, idempotent: boolean): boolean {
    if (!idempotent) return REFUSED_BEFORE_ACTING.has(err.code)
    // ap-kind codes (skew, expired ticket, kvno) need a new request, not a resend: the caller's job.
    return err.retry && err.kind !== 'ap'
  }

  /** Healthy endpoints first, each group in configured order (the first is preferred). */
  #order(): KdcEndpoint[] {
    return [...this.#endpoints].sort((a, b) => Number(a.failures > 0) - Number(b.failures > 0))
  }

  #isClosed(): boolean {
    return this.#closed
  }

  #allocateId(): number {
    const id = this.#nextId
    this.#nextId = id >= MAX_UINT32 ? 1 : id + 1
    return id
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        handle: undefined as TimerHandle | undefined,
        wake: (): void => {
          this.#sleeps.delete(entry)
          resolve()
        },
      }
      entry.handle = this.#clock.setTimeout(entry.wake, ms)
      this.#sleeps.add(entry)
    })
  }

  /** Close every connection and timer; requests in flight fail with ERR_CLIENT_CLOSED. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    for (const e of this.#endpoints) e.close()
    for (const s of [...this.#sleeps]) {
      if (s.handle !== undefined) this.#clock.clearTimeout(s.handle)
      s.wake()
    }
  }
}

function closedError(): BrokerError<'ERR_CLIENT_CLOSED'> {
  return new BrokerError('ERR_CLIENT_CLOSED', {
    status: 'CLIENT_CLOSED',
    message: 'the Tessera client was closed while a KDC request was in flight',
  })
}
