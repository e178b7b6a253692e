/**
 * `requireScope`: one line to require a scope on a route, for Express and for Fastify.
 */
import type { ServerResponse } from 'node:http'
import { BrokerError } from '../kdc/protocol/index.js'
import { failureHeaders, failureOf, missingScope, scopeError, sendFailure } from './http.js'
import type { TesseraIdentity } from './types.js'

/** What requireScope reads from a request: the identity the middleware attached. */
export interface ScopedRequest {
  tessera?: TesseraIdentity | null
}

/** Fastify's reply, structurally (the SDK does not load fastify). */
export interface ReplyLike {
  code(status: number): ReplyLike
  headers(values: Record<string, string>): ReplyLike
  send(payload?: unknown): unknown
  readonly raw: ServerResponse
}

/** A route guard usable as Express middleware and as a Fastify preHandler hook. */
export type ScopeGuard = (req: object, res: object, next: () => void) => void

function isReply(res: object): res is ReplyLike {
  return typeof (res as Partial<ReplyLike>).code === 'function' && 'raw' in res
}

/**
 * A guard that lets a request through only when its verified caller holds every one of
 * `scopes`; otherwise 403 with `WWW-Authenticate: Tessera error="ERR_AP_SCOPE"` (401
 * ERR_AP_NO_CREDENTIALS when no Tessera middleware ran before it).
 *
 * @example
 * ```ts
 * // Express
 * app.use(tesseraExpress(verifier))
 * app.get('/orders', requireScope('orders:read'), (req, res) => res.json([]))
 *
 * // Fastify
 * await app.register(tesseraFastify, { verifier })
 * app.get('/orders', { preHandler: requireScope('orders:read') }, async () => [])
 * ```
 */
export function requireScope(...scopes: string[]): ScopeGuard {
  if (scopes.length === 0 || scopes.some((s) => typeof s !== 'string' || s === '')) {
    throw new TypeError('requireScope needs at least one scope name')
  }
  return (req, res, next) => {
    const identity = (req as ScopedRequest).tessera
    let failure: BrokerError | undefined
    if (identity === undefined || identity === null) {
      failure = new BrokerError('ERR_AP_NO_CREDENTIALS', { status: 'NO_TESSERA_MIDDLEWARE' })
    } else {
      const lacking = missingScope(identity, scopes)
      if (lacking !== undefined) failure = scopeError(lacking)
    }
    if (failure === undefined) {
      next()
      return
    }
    if (isReply(res)) {
      const { status, code } = failureOf(failure)
      void res.code(status).headers(failureHeaders(code, status)).send(code)
      return
    }
    sendFailure(res as ServerResponse, failure)
  }
}
