/**
 * One WebSocket connection (house style B5 "per connection"): binary messages only (a text message
 * closes with 1003, or with 1007 when ws finds it is not UTF-8 before we see it), at most
 * `maxInflightPerConnection` requests in progress and a token bucket of requests per second (both
 * answered with ERR_KDC_RATE_LIMITED; the connection stays usable), an idle timeout, and a cap on
 * unsent reply bytes (a client that does not read is closed). Oversized messages never reach this
 * code: ws refuses them at the length prefix and closes with 1009.
 *
 * Requests are handled on a later turn of the event loop (setImmediate), so a burst of frames that
 * arrives in one read counts as in flight together and other connections get their turn.
 */
import { performance } from 'node:perf_hooks'
import type { WebSocket, RawData } from 'ws'
import type { KdcContext } from './context.js'
import { errorFrame, replyIdFor, type Dispatcher } from './dispatch.js'
import { TokenBucket } from './rate-limit.js'

/** WebSocket close codes used by the KDC (RFC 6455 §7.4.1). */
export const CLOSE = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  UNSUPPORTED_DATA: 1003,
  TOO_BIG: 1009,
  TRY_AGAIN_LATER: 1013,
} as const)

/** Process-wide count of requests in progress, for the shutdown drain. */
export class InflightTracker {
  #count = 0
  #waiters: (() => void)[] = []

  get count(): number {
    return this.#count
  }
  begin(): void {
    this.#count++
  }
  end(): void {
    this.#count--
    if (this.#count === 0) {
      const waiters = this.#waiters
      this.#waiters = []
      for (const w of waiters) w()
    }
  }
  /** Resolves when nothing is in flight, or after `timeoutMs`; true when drained. */
  async idle(timeoutMs: number): Promise<boolean> {
    if (this.#count === 0) return true
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        resolve(false)
      }, timeoutMs)
      this.#waiters.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }
}

export interface ConnectionDeps {
  readonly ctx: KdcContext
  readonly dispatcher: Dispatcher
  readonly inflight: InflightTracker
  /** True once shutdown began: new requests get ERR_KDC_UNAVAILABLE. */
  readonly draining: () => boolean
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data)
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  return data
}

/** Serve one accepted WebSocket until it closes. */
export function serveConnection(
  deps: ConnectionDeps,
  ws: WebSocket,
  meta: { readonly conn: number; readonly remote: string },
): void {
  const { ctx, dispatcher, inflight } = deps
  const limits = ctx.config.limits
  const bucket = new TokenBucket({
    ratePerSecond: limits.connectionRatePerSecond,
    burst: limits.connectionBurst,
    nowMs: () => performance.now(),
  })
  let pending = 0
  let idleTimer: NodeJS.Timeout | undefined

  // ws waits up to 30 s for the peer's close frame; a peer that never answers is cut after 1 s.
  const closeSoon = (code: number, reason: string): void => {
    ws.close(code, reason)
    setTimeout(() => {
      ws.terminate()
    }, 1_000).unref()
  }

  const armIdle = (): void => {
    if (idleTimer !== undefined) clearTimeout(idleTimer)
    idleTimer = setTimeout(() => {
      ctx.metrics.rejectedConnections.inc({ reason: 'idle' })
      closeSoon(CLOSE.GOING_AWAY, 'idle timeout')
    }, limits.idleTimeoutMs)
    idleTimer.unref()
  }

  const send = (bytes: Uint8Array): void => {
    if (ws.readyState !== ws.OPEN) return
    if (ws.bufferedAmount + bytes.length > limits.maxBufferedBytes) {
      ctx.metrics.rejectedConnections.inc({ reason: 'slow_reader' })
      ws.terminate()
      return
    }
    ws.send(bytes, { binary: true })
  }

  const refuse = (
    bytes: Uint8Array,
    code: 'ERR_KDC_RATE_LIMITED' | 'ERR_KDC_UNAVAILABLE',
    status: string,
  ): void => {
    const id = replyIdFor(bytes)
    ctx.metrics.observe('FRAME', code, 0)
    ctx.audit({
      requestId: id,
      conn: meta.conn,
      exchange: 'FRAME',
      outcome: code,
      status,
      durationMs: 0,
      remote: meta.remote,
    })
    send(errorFrame(ctx, id, code))
  }

  armIdle()
  ws.on('message', (data: RawData, isBinary: boolean) => {
    armIdle()
    if (!isBinary) {
      ctx.metrics.rejectedConnections.inc({ reason: 'text_frame' })
      closeSoon(CLOSE.UNSUPPORTED_DATA, 'binary frames only')
      return
    }
    const bytes = toBytes(data)
    if (deps.draining()) {
      refuse(bytes, 'ERR_KDC_UNAVAILABLE', 'DRAINING')
      return
    }
    if (pending >= limits.maxInflightPerConnection) {
      refuse(bytes, 'ERR_KDC_RATE_LIMITED', 'INFLIGHT_CAP')
      return
    }
    if (!bucket.take()) {
      refuse(bytes, 'ERR_KDC_RATE_LIMITED', 'CONNECTION_RATE')
      return
    }
    pending++
    inflight.begin()
    setImmediate(() => {
      dispatcher
        .handle(bytes, meta)
        .then(send, (err: unknown) => {
          // handle() never rejects; if it ever does, log and keep serving.
          ctx.log.error({ err: String(err), conn: meta.conn }, 'dispatcher rejected')
        })
        .finally(() => {
          pending--
          inflight.end()
        })
    })
  })
  ws.on('error', (err) => {
    // ws has already closed the socket with the right code (1009 oversized, 1007 a text message
    // that is not UTF-8, 1002 protocol error).
    const code = (err as { code?: string }).code
    ctx.log.debug({ conn: meta.conn, code }, 'websocket error')
    if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
      ctx.metrics.rejectedConnections.inc({ reason: 'oversized' })
    } else if (code === 'WS_ERR_INVALID_UTF8') {
      ctx.metrics.rejectedConnections.inc({ reason: 'text_frame' })
    }
  })
  ws.on('close', () => {
    if (idleTimer !== undefined) clearTimeout(idleTimer)
    ctx.metrics.connections.dec()
  })
}
