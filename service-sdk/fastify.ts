/**
 * Fastify adapter (Fastify 4 and 5). The SDK does not load fastify: the plugin is typed
 * structurally and marked with fastify's skip-override symbol (what fastify-plugin does) so its
 * hook covers the routes of the instance it is registered on.
 *
 * The body is hashed in a preParsing hook, where fastify hands over the raw payload stream: it is
 * read through SHA-256 with the cap, the request verified, and an equivalent stream of the same
 * bytes returned for fastify's own content-type parsers. Verification thus runs before parsing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { BrokerError } from '../kdc/protocol/index.js'
import {
  AP_REP_HEADER,
  failureHeaders,
  failureOf,
  hasNoBody,
  maxBodyOption,
  mustCloseAfter,
  readBody,
  scopesOption,
  verifiedEarlier,
  verifyAndCheck,
  type TesseraHttpOptions,
} from './http.js'
import { EMPTY_BODY_HASH } from './request-binding.js'
import type { TesseraIdentity } from './types.js'
import type { TicketVerifier } from './verifier.js'

const EMPTY_BODY: Buffer = Buffer.alloc(0)

/** Options of {@link tesseraFastify}. */
export interface TesseraFastifyOptions extends TesseraHttpOptions {
  readonly verifier: TicketVerifier
}

/** The parts of a Fastify request the plugin uses. */
export interface FastifyRequestLike {
  readonly raw: IncomingMessage
  tessera?: TesseraIdentity | null
}

/** The parts of a Fastify reply the plugin uses. */
export interface FastifyReplyLike {
  code(status: number): FastifyReplyLike
  headers(values: Record<string, string>): FastifyReplyLike
  header(name: string, value: string): FastifyReplyLike
  send(payload?: unknown): unknown
  readonly raw: ServerResponse
}

type PayloadStream = NodeJS.ReadableStream & { receivedEncodedLength?: number }

/** The parts of a Fastify instance the plugin uses. */
export interface FastifyInstanceLike {
  decorateRequest(name: 'tessera', value: null): unknown
  hasRequestDecorator(name: string): boolean
  addHook(
    name: 'preParsing',
    hook: (
      request: FastifyRequestLike,
      reply: FastifyReplyLike,
      payload: PayloadStream,
      done: (err: Error | null, payload?: PayloadStream) => void,
    ) => void,
  ): unknown
}

/** The plugin function, in Fastify's callback-plugin shape. */
export type TesseraFastifyPlugin = ((
  instance: object,
  options: TesseraFastifyOptions,
  done: (err?: Error) => void,
) => void) &
  Record<symbol, unknown>

/**
 * Fastify plugin: verifies every request of the instance it is registered on and sets
 * `request.tessera`; failures answer 401/403/413 with the code before any body parsing or handler.
 * Pair with {@link requireScope} as a route preHandler.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify'
 * import { TicketVerifier, tesseraFastify, requireScope } from 'tessera/service'
 *
 * const app = Fastify()
 * await app.register(tesseraFastify, { verifier: await TicketVerifier.fromKeytab({ keytab }) })
 * app.get('/orders', { preHandler: requireScope('orders:read') }, async (request) => ({
 *   caller: request.tessera.caller,
 * }))
 * ```
 */
export const tesseraFastify: TesseraFastifyPlugin = Object.assign(
  (fastify: object, options: TesseraFastifyOptions, done: (err?: Error) => void) => {
    // Typed structurally (FastifyInstance's overloaded addHook does not fit a narrower interface).
    const instance = fastify as FastifyInstanceLike
    const verifier = options.verifier as TicketVerifier | undefined
    if (verifier === undefined) {
      done(new TypeError('tesseraFastify needs { verifier }'))
      return
    }
    const max = maxBodyOption(options)
    const required = scopesOption(options)
    if (!instance.hasRequestDecorator('tessera')) instance.decorateRequest('tessera', null)
    instance.addHook('preParsing', (request, reply, payload, next) => {
      const req = request.raw
      const refuse = (err: unknown): void => {
        const { status, code } = failureOf(err)
        const headers = failureHeaders(code, status)
        if (mustCloseAfter(req, status)) headers.connection = 'close'
        void reply.code(status).headers(headers).send(code)
      }
      const finish = (hash: Uint8Array, body: Buffer | undefined): void => {
        let identity: TesseraIdentity
        let apRep: string | undefined
        try {
          ;({ identity, apRep } = verifyAndCheck(
            verifier,
            req,
            hash,
            body ?? EMPTY_BODY,
            options,
            required,
          ))
        } catch (err) {
          refuse(err)
          return
        }
        request.tessera = identity
        if (apRep !== undefined) reply.header(AP_REP_HEADER, apRep)
        if (body === undefined) {
          next(null, payload)
          return
        }
        const replay: PayloadStream = Readable.from(body.length === 0 ? [] : [body])
        replay.receivedEncodedLength = body.length
        next(null, replay)
      }
      // Registered again in a child context (with a requireScope): the parent's hook verified
      // this request already, and verifying again would spend its counter twice.
      let done
      try {
        done = verifiedEarlier(req, verifier, required)
      } catch (err) {
        refuse(err)
        return
      }
      if (done !== undefined) {
        request.tessera = done.identity
        next(null, payload)
        return
      }
      if (req.headers.authorization === undefined) {
        refuse(new BrokerError('ERR_AP_NO_CREDENTIALS', { status: 'NO_HEADER' }))
        return
      }
      if (hasNoBody(req)) {
        finish(EMPTY_BODY_HASH, undefined)
        return
      }
      if (options.precheck ?? true) {
        try {
          verifier.precheck(req.headers.authorization)
        } catch (err) {
          refuse(err)
          return
        }
      }
      readBody(payload, req.headers, max).then(({ hash, body }) => {
        finish(hash, body)
      }, refuse)
    })
    done()
  },
  { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'tessera' },
)
