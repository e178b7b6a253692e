/**
 * Frame → exchange → frame (house style B1 dispatch.ts). Every request gets exactly one reply frame
 * with the request's id and the KDC's clock, one audit record and one metrics observation:
 *
 * - a frame that fails to parse gets an ERROR frame with the codec's code, addressed with the id of
 *   peekFrameHead() when readable (0 otherwise);
 * - a BrokerError with a wire number becomes an ERROR frame with that number;
 * - anything else is ERR_KDC_INTERNAL on the wire and the details go to the log only.
 */
import { performance } from 'node:perf_hooks'
import {
  BrokerError,
  clampWireTime,
  encodeFrame,
  isBrokerError,
  MAX_UINT32,
  MSG,
  parseFrame,
  peekFrameHead,
  type ErrorCode,
  type Frame,
} from '../protocol/index.js'
import { handleAdminReq } from './admin-exchange.js'
import type { AdminDeps } from './admin-types.js'
import { handleAsReq } from './as.js'
import type { Exchange } from './audit.js'
import type { AuditNote, KdcContext } from './context.js'
import { handleTgsReq } from './tgs.js'

export interface RequestMeta {
  readonly conn: number
  readonly remote: string
}

/** The id to answer a frame that failed to parse: its own when readable, else 0. */
export function replyIdFor(bytes: Uint8Array): number {
  const head = peekFrameHead(bytes)
  const id = head?.id
  return id !== undefined && Number.isInteger(id) && id >= 0 && id <= MAX_UINT32 ? id : 0
}

/** An ERROR frame for `code` (a code with a wire number). */
export function errorFrame(
  ctx: { readonly clock: { nowSeconds(): number } },
  id: number,
  code: ErrorCode,
): Uint8Array {
  const wire = new BrokerError(code).wire ?? 500
  return encodeFrame({
    type: MSG.ERROR,
    id,
    body: { kdcTime: clampWireTime(ctx.clock.nowSeconds()), wire },
  })
}

function exchangeOf(type: number): Exchange {
  switch (type) {
    case MSG.AS_REQ:
      return 'AS'
    case MSG.TGS_REQ:
      return 'TGS'
    case MSG.ADMIN_REQ:
      return 'ADMIN'
    default:
      return 'FRAME'
  }
}

export class Dispatcher {
  readonly #ctx: KdcContext
  readonly #adminDeps: AdminDeps

  constructor(ctx: KdcContext, adminDeps: AdminDeps) {
    this.#ctx = ctx
    this.#adminDeps = adminDeps
  }

  /** Handle one received message; always resolves to the reply bytes. */
  async handle(bytes: Uint8Array, meta: RequestMeta): Promise<Uint8Array> {
    const ctx = this.#ctx
    const started = performance.now()
    const note: AuditNote = {}
    let id = 0
    let exchange: Exchange = 'FRAME'
    let reply: Uint8Array
    let outcome: ErrorCode | 'OK' = 'OK'
    let status: string | undefined
    try {
      let frame: Frame
      try {
        frame = parseFrame(bytes)
      } catch (err) {
        id = replyIdFor(bytes)
        throw err
      }
      id = frame.id
      exchange = exchangeOf(frame.type)
      reply = await this.#route(frame, note)
    } catch (err) {
      if (isBrokerError(err) && err.wire !== null) {
        outcome = err.code
        status = err.status
      } else {
        outcome = 'ERR_KDC_INTERNAL'
        status = 'INTERNAL'
        ctx.log.error(
          {
            err:
              err instanceof Error
                ? { name: err.name, message: err.message, stack: err.stack }
                : String(err),
            conn: meta.conn,
            requestId: id,
          },
          'internal error while handling a request',
        )
      }
      reply = errorFrame(ctx, id, outcome)
    }
    const durationMs = performance.now() - started
    ctx.metrics.observe(exchange, outcome, durationMs)
    ctx.audit({
      requestId: id,
      conn: meta.conn,
      exchange,
      ...note,
      outcome,
      ...(status === undefined ? {} : { status }),
      durationMs: Math.round(durationMs * 1000) / 1000,
      remote: meta.remote,
    })
    return reply
  }

  async #route(frame: Frame, note: AuditNote): Promise<Uint8Array> {
    const ctx = this.#ctx
    switch (frame.type) {
      case MSG.AS_REQ:
        return encodeFrame({
          type: MSG.AS_REP,
          id: frame.id,
          body: handleAsReq(ctx, frame.body, note),
        })
      case MSG.TGS_REQ:
        return encodeFrame({
          type: MSG.TGS_REP,
          id: frame.id,
          body: handleTgsReq(ctx, frame.body, note),
        })
      case MSG.ADMIN_REQ: {
        const body = await handleAdminReq(ctx, this.#adminDeps, frame.id, frame.body, note)
        return encodeFrame({ type: MSG.ADMIN_REP, id: frame.id, body })
      }
      case MSG.AS_REP:
      case MSG.TGS_REP:
      case MSG.ERROR:
      case MSG.ADMIN_REP:
      case MSG.REPL_REQ:
      case MSG.REPL_REP:
        // Replies are never requests; replication has its own port-less exchange (not yet served).
        throw new BrokerError('ERR_PROTO_UNEXPECTED', { status: `UNEXPECTED_TYPE_${frame.type}` })
    }
  }
}
