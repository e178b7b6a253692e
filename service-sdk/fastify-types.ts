/**
 * `tessera/service/fastify`: the Fastify plugin, with `request.tessera` typed on Fastify's own
 * FastifyRequest (Fastify's extension point for request decorators). A separate entry point because
 * the augmentation names the `fastify` module, which only Fastify users have installed.
 *
 * @example
 * ```ts
 * import { tesseraFastify } from 'tessera/service/fastify'
 * import { TicketVerifier, requireScope } from 'tessera/service'
 *
 * await app.register(tesseraFastify, { verifier: await TicketVerifier.fromKeytab({ keytab }) })
 * app.get('/orders', { preHandler: requireScope('orders:read') }, async (request) => ({
 *   caller: request.tessera.caller,
 * }))
 * ```
 */
// Brings the augmented module into the program; type-only, so the emitted JS does not load fastify.
import type {} from 'fastify'
import type { TesseraIdentity } from './types.js'

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The verified caller, set by tesseraFastify on every request it lets through (null on a
     * route the plugin does not cover, so reading it there fails closed).
     */
    tessera: TesseraIdentity
  }
}

export { tesseraFastify, type TesseraFastifyOptions, type TesseraFastifyPlugin } from './fastify.js'
