/**
 * WebSocket helper: verify the HTTP upgrade request of a WebSocket connection (a GET with no body)
 * before accepting it. Works with any server that exposes the upgrade request, e.g. `ws`'s
 * `verifyClient` or node's 'upgrade' event; the SDK itself does not load `ws`.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { failureOf } from './http.js'
import { EMPTY_BODY_HASH, requestAuthority } from './request-binding.js'
import type { TesseraIdentity } from './types.js'
import type { TicketVerifier } from './verifier.js'

/**
 * Verify an upgrade request; returns the caller or throws the BrokerError (see
 * {@link TicketVerifier.verify}). The client binds its authenticator to GET, the host and the
 * request target of the upgrade, with an empty body.
 *
 * @example
 * ```ts
 * server.on('upgrade', (req, socket, head) => {
 *   let who
 *   try {
 *     who = verifyUpgrade(verifier, req)
 *   } catch (err) {
 *     rejectUpgrade(socket, err)
 *     return
 *   }
 *   wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req, who))
 * })
 * ```
 */
export function verifyUpgrade(verifier: TicketVerifier, req: IncomingMessage): TesseraIdentity {
  return verifier.verify(req.headers.authorization, {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    host: requestAuthority(req.headers),
    bodyHash: EMPTY_BODY_HASH,
  })
}

/** Answer a refused upgrade on the raw socket (401 with the code) and close it. */
export function rejectUpgrade(socket: Duplex, err: unknown): void {
  const { status, code } = failureOf(err)
  const reason = status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Error'
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      `WWW-Authenticate: Tessera error="${code}"\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${code.length}\r\n` +
      `Connection: close\r\n\r\n${code}`,
  )
}
