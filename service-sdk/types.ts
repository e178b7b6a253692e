/**
 * Public types of the service SDK (`tessera/service`).
 */
import type { Clock } from '../kdc/protocol/index.js'

/**
 * The verified caller of one request. The same frozen object is returned for every request made
 * with the same ticket, so it is cheap to pass around and must not be mutated.
 */
export interface TesseraIdentity {
  /** The calling principal, e.g. "payments". */
  readonly caller: string
  /** The realm of the caller and of this service. */
  readonly realm: string
  /** Scopes the KDC's policy granted to the caller for this service, sorted. */
  readonly scopes: readonly string[]
  /** The ticket id, 32 lower-case hex characters; stamped into the KDC's audit log too. */
  readonly ticketId: string
  /**
   * When the ticket expires, in whole seconds since the Unix epoch (the wire's unit; use
   * `new Date(expiresAt * 1000)` for a Date). Requests are refused after it (plus the skew).
   */
  readonly expiresAt: number
  /** The KDC policy version that granted the ticket. */
  readonly policyVersion: number
}

/**
 * The HTTP request an authenticator must be bound to (docs/protocol.md §6.2). Pass the request as
 * it arrived: the verifier canonicalises method and authority itself.
 */
export interface VerifyRequest {
  /** The method, e.g. "GET" (compared upper-cased). */
  readonly method: string
  /**
   * The request target exactly as received: path and query, e.g. "/orders?id=7" (node's
   * `req.url`). An absolute http(s) URL ("https://host/path?q", e.g. a Fetch Request's url) is
   * accepted too: its authority is the request's, and a `host` naming another server is refused
   * (ERR_AP_REQUEST_MISMATCH), as is a URL whose authority names no server.
   */
  readonly url: string
  /**
   * The Host header (or HTTP/2's :authority), e.g. "orders.internal:8443". The middleware passes
   * :authority when present and refuses a request whose Host names another server.
   */
  readonly host?: string | undefined
  /** The body bytes (or text, hashed as UTF-8). Omit for an empty body. */
  readonly body?: Uint8Array | string | undefined
  /** SHA-256 of the body when already computed (the middleware streams it); wins over `body`. */
  readonly bodyHash?: Uint8Array | undefined
}

/** Options shared by every way of building a {@link TicketVerifier}. */
export interface VerifierOptions {
  /** Allowed clock difference in seconds; default MAX_CLOCK_SKEW_S (300). Integer 0..3600. */
  readonly skew?: number
  /** Most verified tickets kept for repeat callers; default 10 000. */
  readonly maxCachedTickets?: number
  /** Most live tickets whose replay windows are kept; default 100 000 (~25 MB at most). */
  readonly maxReplayWindows?: number
  /** Time source; default the system clock. */
  readonly clock?: Clock
  /**
   * Refuse authenticators made before this verifier started (or before it last had to drop a live
   * replay window) when no window exists for their ticket; default true. See replay-window.ts.
   */
  readonly replayGuard?: boolean
}

/** Options of {@link TicketVerifier.fromKeytab}. */
export interface KeytabVerifierOptions extends VerifierOptions {
  /** Path of the service's keytab file (`tessera-admin keytab export`). */
  readonly keytab: string
  /** Reload the keytab when the file changes; default true. */
  readonly watch?: boolean
  /** Stat-polling interval of the watch fallback, in ms; default 2000. */
  readonly pollIntervalMs?: number
  /** Quiet time after a change before reloading, in ms; default 100. */
  readonly debounceMs?: number
  /** Called when a reload fails (the old keys stay in use). */
  readonly onError?: (err: Error) => void
  /** Called after a reload with the kvnos now held. */
  readonly onReload?: (kvnos: readonly number[]) => void
}
