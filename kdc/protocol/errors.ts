import { CODES, codeFromWire, type ErrorCode, type ErrorKind } from './codes.js'

/**
 * The one error class for peer data and protocol outcomes (house style B4). Caller misuse is a
 * plain TypeError or RangeError instead. `status` is an internal audit tag (e.g. 'CLIENT_NOT_FOUND')
 * that never goes on the wire; the message never contains secrets.
 */
export class BrokerError<C extends ErrorCode = ErrorCode> extends Error {
  override readonly name = 'BrokerError'
  readonly code: C
  readonly wire: number | null
  readonly kind: ErrorKind
  readonly retry: boolean
  readonly status: string | undefined

  constructor(code: C, options: { message?: string; status?: string; cause?: unknown } = {}) {
    super(options.message ?? CODES[code].message, { cause: options.cause })
    this.code = code
    this.wire = CODES[code].wire
    this.kind = CODES[code].kind
    this.retry = CODES[code].retry
    this.status = options.status
  }
}

/** True when `err` is a BrokerError, optionally with the given code (narrows the type). */
export function isBrokerError<C extends ErrorCode>(err: unknown, code?: C): err is BrokerError<C> {
  return err instanceof BrokerError && (code === undefined || err.code === code)
}

/** The BrokerError for a wire number received in an ERROR frame. */
export function fromWire(wire: number, status?: string): BrokerError {
  const code = codeFromWire(wire)
  return new BrokerError(code, status === undefined ? {} : { status })
}
