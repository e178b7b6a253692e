/**
 * tessera/client: call Tessera services with Kerberos-style tickets (design brief §1, issue #4).
 *
 * - {@link TesseraClient}: `fetch` and `authorization` helpers for HTTP calls.
 * - {@link KdcSession}: the low-level KDC client (login, service tickets, admin calls).
 *
 * Every protocol outcome is a {@link BrokerError} with a stable `code` (see docs/errors.md);
 * misuse throws TypeError or RangeError.
 *
 * @example
 * ```ts
 * import { TesseraClient, isBrokerError } from 'tessera/client'
 *
 * const client = await TesseraClient.fromKeytab() // TESSERA_KEYTAB, TESSERA_KDC
 * try {
 *   const res = await client.fetch('orders', 'https://orders.internal/orders?id=7')
 * } catch (err) {
 *   if (isBrokerError(err, 'ERR_KDC_POLICY')) console.error('not allowed:', err.message)
 *   else throw err
 * } finally {
 *   client.close()
 * }
 * ```
 */
export {
  TesseraClient,
  type TesseraClientOptions,
  type TesseraFetchInit,
  type AuthorizationRequest,
  type AuthorizedRequest,
} from './client.js'
export {
  KdcSession,
  type KdcSessionOptions,
  type TgtInfo,
  type ServiceTicket,
  type ServiceTicketOptions,
  type AdminCallOptions,
  type SessionTestHooks,
} from './session.js'
export type { TransportOptions } from './transport.js'
export { systemClientClock, type ClientClock, type TimerHandle } from './clock.js'
export {
  AUTH_SCHEME,
  AP_REP_HEADER,
  MUTUAL_REQUEST_HEADER,
  bodyBytes,
  requestHashOf,
  type BufferedBody,
  type HttpRequestInput,
} from './authenticator.js'
export { readKeytabFile } from './keytab.js'
export {
  BrokerError,
  isBrokerError,
  type ErrorCode,
  type ErrorKind,
  type Keytab,
  type Ticket,
  type WireValue,
} from '../kdc/protocol/index.js'
