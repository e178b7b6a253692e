/**
 * node:http adapter: wrap a request listener so it only runs for verified callers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import {
  authenticate,
  AP_REP_HEADER,
  maxBodyOption,
  scopesOption,
  sendFailure,
  sendHandlerFailure,
  type TesseraFields,
  type TesseraHttpOptions,
} from './http.js'
import type { TicketVerifier } from './verifier.js'

/** A node request after verification: `req.tessera` is the caller, `req.rawBody` the body. */
export type TesseraIncomingMessage = IncomingMessage & TesseraFields

/**
 * A request listener that runs only for verified requests. Whatever it returns is ignored, except
 * that a rejected promise answers 500 like a throw (so `(req, res) => res.end('…')` fits).
 */
export type TesseraRequestListener = (req: TesseraIncomingMessage, res: ServerResponse) => unknown

/**
 * Wrap a node:http request listener: the body is read and hashed (up to `maxBodyBytes`), the
 * Authorization header verified, `requireScope` enforced, and only then `handler` runs, with
 * `req.tessera` set and the body in `req.rawBody` (the stream is consumed). Failures answer 401,
 * 403 or 413 with the code, and never reach `handler`; an error thrown by `handler` answers 500.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import { TicketVerifier, tesseraHandler } from 'tessera/service'
 *
 * const verifier = await TicketVerifier.fromKeytab({ keytab: '/etc/tessera/orders.keytab' })
 * createServer(
 *   tesseraHandler(verifier, (req, res) => {
 *     res.end(`hello ${req.tessera.caller}`)
 *   }, { requireScope: 'orders:read' }),
 * ).listen(8080)
 * ```
 */
export function tesseraHandler(
  verifier: TicketVerifier,
  handler: TesseraRequestListener,
  options: TesseraHttpOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const max = maxBodyOption(options)
  const required = scopesOption(options)
  return (req, res) => {
    authenticate(verifier, req, options, max, required).then(
      ({ identity, body, apRep }) => {
        const r = req as TesseraIncomingMessage
        r.tessera = identity
        r.rawBody = body
        if (apRep !== undefined) res.setHeader(AP_REP_HEADER, apRep)
        let result: unknown
        try {
          result = handler(r, res)
        } catch (err) {
          sendHandlerFailure(res, err)
          return
        }
        if (result instanceof Promise) {
          result.catch((err: unknown) => {
            sendHandlerFailure(res, err)
          })
        }
      },
      (err: unknown) => {
        sendFailure(res, err, req)
      },
    )
  }
}
