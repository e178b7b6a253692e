/**
 * Audit and logs (design brief §6, house style C5): one JSON line per AS, TGS and admin outcome,
 * written through pino to stdout after the "listening" line. The record is precise where the wire
 * is vague: the status tag (CLIENT_NOT_FOUND, PREAUTH_BAD_INTEGRITY, NO_RULE …) appears here only.
 *
 * Records carry names, kvnos, scopes, rule ids, the policy version and the ticket id in hex — never
 * key material. The type below admits only strings, numbers and string lists, so a Uint8Array
 * cannot slip into a record by accident.
 */
import { pino, type DestinationStream, type Logger } from 'pino'
import type { ErrorCode } from '../protocol/index.js'

export type Exchange = 'AS' | 'TGS' | 'ADMIN' | 'FRAME'

export interface AuditRecord {
  /** Frame id of the request (0 when unreadable). */
  readonly requestId: number
  /** Connection number, to tie records of one connection together. */
  readonly conn: number
  readonly exchange: Exchange
  readonly caller?: string
  readonly target?: string
  /** 'OK' or the code sent on the wire. */
  readonly outcome: ErrorCode | 'OK'
  /** Precise internal status tag (never on the wire). */
  readonly status?: string
  readonly scopes?: readonly string[]
  /** Ticket id of the issued ticket, hex. */
  readonly ticketId?: string
  readonly kvno?: number
  readonly policyVersion?: number
  /** Ids of the rules that decided. */
  readonly rules?: readonly string[]
  /** Admin operation name, when known. */
  readonly op?: string
  readonly durationMs: number
  readonly remote: string
}

export type AuditSink = (record: AuditRecord) => void

/** The process logger: JSON lines, ISO times, no pid/hostname noise. */
export function createLogger(destination?: DestinationStream): Logger {
  const options = {
    base: null,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  }
  return destination === undefined ? pino(options) : pino(options, destination)
}

/** The audit sink: records at info level with `audit: true`, message "audit". */
export function createAuditSink(logger: Logger): AuditSink {
  const child = logger.child({ audit: true })
  return (record) => {
    child.info(record, 'audit')
  }
}
