/**
 * A credential: a ticket, the session key that goes with it, and what the KDC said about it. The
 * TGT and every service ticket are credentials; the session key never leaves the client SDK except
 * through the low-level {@link KdcSession} API, which hands out copies.
 */
import type { Ticket } from '../kdc/protocol/index.js'

/** A ticket and its session key, as issued by the KDC (times are on the KDC's clock, in seconds). */
export interface Credential {
  readonly realm: string
  readonly client: string
  /** The service the ticket is for: `krbtgt` for a TGT. */
  readonly service: string
  readonly ticket: Ticket
  /** Secret. Wiped when the credential is evicted from the cache. */
  readonly sessionKey: Uint8Array
  readonly authTime: number
  readonly startTime: number
  readonly endTime: number
  readonly flags: number
  /** Granted scopes (empty for a TGT). */
  readonly scopes: readonly string[]
  readonly policyVersion: number
}

/**
 * True while a credential can still be used: before its end time minus a margin (a tenth of its
 * life, at most 30 s) so a ticket does not expire between being sent and being checked.
 */
export function isUsable(cred: Credential, kdcNow: number): boolean {
  return kdcNow < cred.endTime - expiryMargin(cred)
}

/** Seconds before endTime at which a credential stops being used. */
export function expiryMargin(cred: Credential): number {
  return Math.min(30, Math.floor((cred.endTime - cred.startTime) / 10))
}
