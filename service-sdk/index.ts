/**
 * `tessera/service`: the service half of Tessera. Verify the `Authorization: Tessera …` header of
 * incoming requests offline with the service's keytab, and guard routes by scope.
 *
 * @example
 * ```ts
 * import { TicketVerifier, tesseraExpress, requireScope } from 'tessera/service'
 *
 * const verifier = await TicketVerifier.fromKeytab({ keytab: '/etc/tessera/orders.keytab' })
 * app.use(tesseraExpress(verifier))
 * app.get('/orders', requireScope('orders:read'), (req, res) => res.json({ by: req.tessera.caller }))
 * ```
 */
export { TicketVerifier, type MutualResult } from './verifier.js'
export { MAX_AUTHORIZATION_CHARS } from './authorization-header.js'
export type {
  TesseraIdentity,
  VerifyRequest,
  VerifierOptions,
  KeytabVerifierOptions,
} from './types.js'
export { ReplayWindows, type ReplayWindowsOptions } from './replay-window.js'
export { KeyRing, loadKeytab, type ServiceKey } from './keytab.js'
export {
  AP_REP_HEADER,
  MUTUAL_REQUEST_HEADER,
  type TesseraFields,
  type TesseraHttpOptions,
} from './http.js'
export { DEFAULT_MAX_BODY_BYTES, EMPTY_BODY_HASH } from './request-binding.js'
export {
  tesseraHandler,
  type TesseraIncomingMessage,
  type TesseraRequestListener,
} from './node-http.js'
export {
  tesseraExpress,
  type ExpressMiddleware,
  type TesseraExpressOptions,
  type TesseraExpressRequest,
} from './express.js'
export { tesseraFastify, type TesseraFastifyOptions, type TesseraFastifyPlugin } from './fastify.js'
export { requireScope, type ScopeGuard } from './scope.js'
export { verifyUpgrade, rejectUpgrade } from './websocket.js'
export { BrokerError, isBrokerError, type ErrorCode } from '../kdc/protocol/index.js'
