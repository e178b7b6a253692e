/**
 * HTTP glue shared by the node:http, Express and Fastify adapters: read and hash the body as it
 * arrives (with a cap, before buffering past it), verify, check the route's scope, answer failures.
 *
 * Failures answer with the code only (house style B4.4: vague on the wire, precise in the log):
 * 401 + `WWW-Authenticate: Tessera error="<code>"` for every verification failure, 403 with
 * error="ERR_AP_SCOPE" for a missing scope, 413 for a body over the cap. The body is the code.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { BrokerError, bodyHash, isBrokerError } from '../kdc/protocol/index.js'
import {
  BodyHasher,
  DEFAULT_MAX_BODY_BYTES,
  EMPTY_BODY_HASH,
  requestAuthority,
} from './request-binding.js'
import type { TesseraIdentity } from './types.js'
import type { TicketVerifier } from './verifier.js'

/** Options shared by every middleware. */
export interface TesseraHttpOptions {
  /** A scope every request must carry (403 ERR_AP_SCOPE otherwise). */
  readonly requireScope?: string | readonly string[]
  /** Largest body read and hashed, in bytes; default 1 MiB. Larger → 413. */
  readonly maxBodyBytes?: number
  /**
   * Mutual authentication (the `Tessera-AP-REP` response header): 'auto' (default) when the
   * request carries `Tessera-Mutual: 1`, 'always', or 'never'.
   */
  readonly mutual?: 'auto' | 'always' | 'never'
  /**
   * Check the ticket and authenticator before reading a body (TicketVerifier.precheck), so an
   * unauthenticated caller cannot make the service read and hash its body; default true. Costs one
   * more authenticator open per request that has a body.
   */
  readonly precheck?: boolean
}

/** The request header that asks for an AP-REP, and the response header that carries it. */
export const MUTUAL_REQUEST_HEADER = 'tessera-mutual'
export const AP_REP_HEADER = 'Tessera-AP-REP'
/** The response header on the middleware's own refusals (any status): the error code. */
export const ERROR_HEADER = 'tessera-error'

/** A request the middleware verified: the identity, and the body it read. */
export interface TesseraFields {
  /** The verified caller. */
  tessera: TesseraIdentity
  /** The raw body bytes (empty when none). */
  rawBody: Buffer
}

const EMPTY: Buffer = Buffer.alloc(0)

/**
 * True when the request carries no body. HTTP/1.x says so by its framing headers (no
 * Transfer-Encoding, Content-Length absent or 0). HTTP/2 needs neither header to send a body in
 * DATA frames: there, only a stream that ended with its headers (END_STREAM) has none.
 */
export function hasNoBody(req: IncomingMessage): boolean {
  if (req.httpVersionMajor >= 2) {
    const stream = (req as { stream?: { endAfterHeaders?: unknown } }).stream
    return stream?.endAfterHeaders === true
  }
  const headers = req.headers
  if (headers['transfer-encoding'] !== undefined) return false
  const cl = headers['content-length']
  return cl === undefined || cl === '0'
}

/** Requests a Tessera middleware verified, and with which verifier (see verifiedEarlier). */
const verified = new WeakMap<
  IncomingMessage,
  { readonly verifier: TicketVerifier; readonly identity: TesseraIdentity; readonly body: Buffer }
>()

/**
 * For a request an earlier Tessera middleware on its path already verified with the same verifier
 * (mounted on the app and again on a router or child context, with a requireScope): its identity
 * and body once `required` is checked (ERR_AP_SCOPE), else undefined. Verifying again would spend
 * the same counter twice, an ERR_AP_REPLAY.
 */
export function verifiedEarlier(
  req: IncomingMessage,
  verifier: TicketVerifier,
  required: readonly string[],
): { identity: TesseraIdentity; body: Buffer } | undefined {
  const done = verified.get(req)
  if (done?.verifier !== verifier) return undefined
  const lacking = missingScope(done.identity, required)
  if (lacking !== undefined) throw scopeError(lacking)
  return done
}

/**
 * Verify a node request whose body (and its hash) is known, remember it for
 * {@link verifiedEarlier}, and check `required` (ERR_AP_SCOPE).
 */
export function verifyAndCheck(
  verifier: TicketVerifier,
  req: IncomingMessage,
  hash: Uint8Array,
  body: Buffer,
  options: TesseraHttpOptions,
  required: readonly string[],
): { identity: TesseraIdentity; apRep: string | undefined } {
  const { identity, apRep } = verifyNodeRequest(verifier, req, hash, options)
  verified.set(req, { verifier, identity, body })
  const lacking = missingScope(identity, required)
  if (lacking !== undefined) throw scopeError(lacking)
  return { identity, apRep }
}

/** The body cap option, validated. */
export function maxBodyOption(options: TesseraHttpOptions): number {
  const max = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  if (!Number.isInteger(max) || max < 0) throw new RangeError('maxBodyBytes must be an integer ≥ 0')
  return max
}

/** The scope option as a list. */
export function scopesOption(options: TesseraHttpOptions): readonly string[] {
  const s = options.requireScope
  if (s === undefined) return []
  return typeof s === 'string' ? [s] : s
}

/**
 * Read a body stream to its end through SHA-256, refusing it (ERR_PROTO_TOO_LARGE with status
 * BODY_TOO_LARGE) as soon as it passes `max` bytes, or at once when Content-Length says so.
 */
export function readBody(
  stream: NodeJS.ReadableStream,
  headers: IncomingMessage['headers'],
  max: number,
): Promise<{ hash: Uint8Array; body: Buffer }> {
  const declared = headers['content-length']
  if (declared !== undefined && Number(declared) > max) {
    return Promise.reject(new BrokerError('ERR_PROTO_TOO_LARGE', { status: 'BODY_TOO_LARGE' }))
  }
  return new Promise((resolve, reject) => {
    const hasher = new BodyHasher(max)
    const onData = (chunk: Buffer | string): void => {
      try {
        hasher.update(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
      } catch (err) {
        cleanup()
        stream.pause()
        reject(err instanceof Error ? err : new Error(String(err)))
      }
    }
    const onEnd = (): void => {
      cleanup()
      resolve(hasher.finish())
    }
    // A client that hangs up mid-body is not a failure of ours: no warning, nobody to answer.
    const aborted = (cause?: unknown): BrokerError =>
      new BrokerError('ERR_CLIENT_CLOSED', {
        status: 'CLIENT_ABORTED',
        message: 'the client closed the connection before its body ended',
        cause,
      })
    const onError = (err: Error): void => {
      cleanup()
      const code = (err as NodeJS.ErrnoException).code
      reject(code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' ? aborted(err) : err)
    }
    const onClose = (): void => {
      cleanup()
      reject(aborted())
    }
    const cleanup = (): void => {
      stream.removeListener('data', onData)
      stream.removeListener('end', onEnd)
      stream.removeListener('error', onError)
      stream.removeListener('close', onClose)
    }
    stream.on('data', onData)
    stream.on('end', onEnd)
    stream.on('error', onError)
    stream.on('close', onClose)
  })
}

/** Verify a node request whose body hash is known; returns the identity and the AP-REP to send. */
export function verifyNodeRequest(
  verifier: TicketVerifier,
  req: IncomingMessage,
  bodyHash: Uint8Array,
  options: TesseraHttpOptions,
): { identity: TesseraIdentity; apRep: string | undefined } {
  // Express rewrites req.url inside a mounted middleware (app.use('/api', …) sees '/orders' for
  // '/api/orders') and keeps the target as received in req.originalUrl: bind to that one.
  const original = (req as { originalUrl?: unknown }).originalUrl
  const request = {
    method: req.method ?? 'GET',
    url: typeof original === 'string' && original !== '' ? original : (req.url ?? '/'),
    host: requestAuthority(req.headers),
    bodyHash,
  }
  const mutual = options.mutual ?? 'auto'
  if (mutual === 'always' || (mutual === 'auto' && req.headers[MUTUAL_REQUEST_HEADER] === '1')) {
    const { identity, apRep } = verifier.verifyMutual(req.headers.authorization, request)
    return { identity, apRep }
  }
  return { identity: verifier.verify(req.headers.authorization, request), apRep: undefined }
}

/** The first required scope the identity lacks, or undefined. */
export function missingScope(
  identity: TesseraIdentity,
  required: readonly string[],
): string | undefined {
  for (const s of required) if (!identity.scopes.includes(s)) return s
  return undefined
}

/** HTTP status and code for an error thrown by verification or body reading. */
export function failureOf(err: unknown): { status: number; code: string } {
  if (isBrokerError(err)) {
    // The client is gone (it hung up mid-body): the answer reaches nobody; not a server error.
    if (err.code === 'ERR_CLIENT_CLOSED') return { status: 400, code: err.code }
    if (err.code === 'ERR_PROTO_TOO_LARGE' && err.status === 'BODY_TOO_LARGE') {
      return { status: 413, code: err.code }
    }
    if (err.code === 'ERR_AP_SCOPE') return { status: 403, code: err.code }
    return { status: 401, code: err.code }
  }
  return { status: 500, code: 'ERR_KDC_INTERNAL' }
}

/**
 * Whether a refusal must close the connection: a body we stopped reading would otherwise stall an
 * HTTP/1.x connection. Not over HTTP/2, which forbids the header (node warns and drops it) and
 * resets the unread stream by itself.
 */
export function mustCloseAfter(req: IncomingMessage, status: number): boolean {
  return req.httpVersionMajor < 2 && (status === 413 || !req.complete)
}

/** Headers of a failure response. */
export function failureHeaders(code: string, status: number): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    // Marks the middleware's own refusals, whatever their status: they carry no AP-REP (nothing
    // was verified), and a mutual-auth client returns them as they are (docs/protocol.md §5.5.3).
    [ERROR_HEADER]: code,
  }
  if (status === 401 || status === 403) headers['www-authenticate'] = `Tessera error="${code}"`
  return headers
}

/** Answer a failure on a raw node response (unless something was already sent). */
export function sendFailure(res: ServerResponse, err: unknown, req?: IncomingMessage): void {
  const { status, code } = failureOf(err)
  // Not a verification outcome but a bug or misconfiguration: the wire says only 500, the
  // operator gets the error.
  if (status === 500) process.emitWarning(err instanceof Error ? err : String(err))
  if (res.headersSent) {
    res.destroy()
    return
  }
  const headers = failureHeaders(code, status)
  if (req !== undefined ? mustCloseAfter(req, status) : status === 413) headers.connection = 'close'
  res.writeHead(status, headers)
  res.end(code)
}

/**
 * Answer an error thrown by the application's handler, after verification succeeded: always 500
 * ERR_KDC_INTERNAL, whatever it is. A BrokerError from the handler (a downstream call's
 * ERR_AP_TKT_EXPIRED, say) is not this request's verification outcome; answering it as a 401 would
 * tell the caller its ticket was refused before anything ran, and the client SDK would re-send the
 * request with a fresh ticket to a handler that already ran.
 */
export function sendHandlerFailure(res: ServerResponse, err: unknown): void {
  process.emitWarning(err instanceof Error ? err : String(err))
  if (res.headersSent) {
    res.destroy()
    return
  }
  res.writeHead(500, failureHeaders('ERR_KDC_INTERNAL', 500))
  res.end('ERR_KDC_INTERNAL')
}

/** A BrokerError for a missing scope. */
export function scopeError(scope: string): BrokerError {
  return new BrokerError('ERR_AP_SCOPE', { status: `MISSING_${scope}` })
}

/**
 * Verify `req` (reading its body unless it has none) and return what the adapters attach to it.
 */
export async function authenticate(
  verifier: TicketVerifier,
  req: IncomingMessage,
  options: TesseraHttpOptions,
  max: number,
  required: readonly string[],
): Promise<{ identity: TesseraIdentity; body: Buffer; apRep: string | undefined }> {
  const done = verifiedEarlier(req, verifier, required)
  if (done !== undefined) return { identity: done.identity, body: done.body, apRep: undefined }
  // No credentials: answer before reading a byte of the body.
  if (req.headers.authorization === undefined) {
    throw new BrokerError('ERR_AP_NO_CREDENTIALS', { status: 'NO_HEADER' })
  }
  let hash = EMPTY_BODY_HASH
  let body = EMPTY
  if (!hasNoBody(req)) {
    if (options.precheck ?? true) verifier.precheck(req.headers.authorization)
    if (req.readableEnded) {
      // Someone read the stream first: only a raw body they kept can still be hashed.
      const raw = (req as { rawBody?: unknown }).rawBody
      if (!(raw instanceof Uint8Array)) {
        throw new TypeError(
          'the request body was read before Tessera verification: mount the Tessera middleware before body parsers',
        )
      }
      if (raw.length > max) {
        throw new BrokerError('ERR_PROTO_TOO_LARGE', { status: 'BODY_TOO_LARGE' })
      }
      hash = raw.length === 0 ? EMPTY_BODY_HASH : bodyHash(raw)
      body = Buffer.from(raw.buffer, raw.byteOffset, raw.length)
    } else {
      const read = await readBody(req, req.headers, max)
      hash = read.hash
      body = read.body
    }
  }
  const { identity, apRep } = verifyAndCheck(verifier, req, hash, body, options, required)
  return { identity, body, apRep }
}
