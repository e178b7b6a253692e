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

/**
 * The process logger: JSON lines, ISO times, no pid/hostname noise. By default stdout is written
 * asynchronously in batches (sonic-boom, sync: false): a record reaches stdout within AUDIT_FLUSH_MS.
 * One synchronous write per record cost ~10% of TGS time in profiles. `flushLogger` drains the
 * buffer at shutdown; a crash (SIGKILL) can lose at most the last AUDIT_FLUSH_MS of records.
 */
export function createLogger(destination?: DestinationStream): Logger {
  const options = {
    base: null,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  }
  if (destination !== undefined) return pino(options, destination)
  const stdout = pino.destination({ dest: 1, sync: false, minLength: AUDIT_BUFFER_BYTES })
  const logger = pino(options, stdout)
  // Bounded delay: whatever is buffered reaches stdout within AUDIT_FLUSH_MS even when idle.
  setInterval(() => {
    logger.flush()
  }, AUDIT_FLUSH_MS).unref()
  return logger
}

/** Audit and log records are written in batches of about this many bytes… */
const AUDIT_BUFFER_BYTES = 4096
/** …or after this many milliseconds, whichever comes first. */
const AUDIT_FLUSH_MS = 50

/** Write out everything the logger buffered; call before the process exits. */
export async function flushLogger(logger: Logger): Promise<void> {
  await new Promise<void>((resolve) => {
    logger.flush(() => {
      resolve()
    })
  })
}

/** The audit sink: records at info level with `audit: true`, message "audit". */
export function createAuditSink(logger: Logger): AuditSink {
  const child = logger.child({ audit: true })
  return (record) => {
    child.info(record, 'audit')
  }
}
