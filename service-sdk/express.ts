/**
 * Express adapter (Express 4 and 5). The SDK does not load express: these are structural types,
 * and Express requests and responses are node's IncomingMessage and ServerResponse.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isBrokerError } from '../kdc/protocol/index.js'
import {
  authenticate,
  AP_REP_HEADER,
  maxBodyOption,
  scopesOption,
  sendFailure,
  type TesseraFields,
  type TesseraHttpOptions,
} from './http.js'
import type { TesseraIdentity } from './types.js'
import type { TicketVerifier } from './verifier.js'

declare global {
  // Express's own extension point (express-session types req.session the same way): in a handler
  // behind tesseraExpress, `req.tessera` is typed with no cast. Declared without importing express,
  // which is not a dependency; without @types/express this merely declares an unused interface.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /**
       * The verified caller, set by tesseraExpress on every request it lets through (undefined on
       * a route the middleware does not cover).
       */
      tessera: TesseraIdentity
    }
  }
}

/** Options of {@link tesseraExpress}. */
export interface TesseraExpressOptions extends TesseraHttpOptions {
  /**
   * The middleware consumes the body stream (it must hash it), so it also parses it: JSON
   * (`application/json`, `*+json`) into `req.body`, `text/*` as a string, anything else as the
   * raw Buffer. `false` leaves `req.body` alone. Default true.
   */
  readonly parseBody?: boolean
}

/** An Express request after tesseraExpress: `req.tessera`, `req.rawBody`. */
export type TesseraExpressRequest = IncomingMessage & Partial<TesseraFields> & { body?: unknown }

/** Express middleware signature, structurally. */
export type ExpressMiddleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\b/i

/**
 * Express middleware: verifies the Tessera Authorization header of every request it sees,
 * hashing the body as it streams in (mount it BEFORE express.json(): the body is read here, and
 * parsed here too, see `parseBody`). On success `req.tessera` holds the caller and `next()` runs;
 * on failure it answers 401/403/413 with the code and `next` is not called.
 *
 * @example
 * ```ts
 * import express from 'express'
 * import { TicketVerifier, tesseraExpress, requireScope } from 'tessera/service'
 *
 * const verifier = await TicketVerifier.fromKeytab({ keytab: '/etc/tessera/orders.keytab' })
 * const app = express()
 * app.use(tesseraExpress(verifier))
 * app.get('/orders', requireScope('orders:read'), (req, res) => {
 *   res.json({ caller: req.tessera.caller })
 * })
 * ```
 */
export function tesseraExpress(
  verifier: TicketVerifier,
  options: TesseraExpressOptions = {},
): ExpressMiddleware {
  const max = maxBodyOption(options)
  const required = scopesOption(options)
  const parse = options.parseBody ?? true
  return (req, res, next) => {
    authenticate(verifier, req, options, max, required).then(
      ({ identity, body, apRep }) => {
        const r = req as TesseraExpressRequest
        r.tessera = identity
        r.rawBody = body
        // Before the body is parsed: the request is verified, so even the 400 for a body that is
        // not JSON proves the service to a mutual-auth caller.
        if (apRep !== undefined) res.setHeader(AP_REP_HEADER, apRep)
        if (parse && body.length > 0) {
          const type = req.headers['content-type'] ?? ''
          if (JSON_TYPE.test(type)) {
            try {
              r.body = JSON.parse(body.toString('utf8')) as unknown
            } catch {
              res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' })
              res.end('invalid JSON body')
              return
            }
          } else if (type.toLowerCase().startsWith('text/')) {
            r.body = body.toString('utf8')
          } else {
            r.body = body
          }
        }
        next()
      },
      (err: unknown) => {
        // Verification outcomes are answered here; anything else is Express's error handling.
        if (isBrokerError(err)) sendFailure(res, err, req)
        else next(err)
      },
    )
  }
}
