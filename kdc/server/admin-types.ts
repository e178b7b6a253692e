/**
 * The contract between the admin-exchange dispatcher (kdc/server/admin-exchange.ts) and the admin
 * operations (kdc/server/admin.ts): what an operation may use, and the status it can report.
 */
import type { Clock } from '../protocol/index.js'
import type { KdcStore } from '../store/store.js'

/** The KDC's status (same shape as AdminStatus in kdc/protocol/admin-ops.ts). */
export interface KdcStatus {
  readonly realm: string
  /** Software version (package.json). */
  readonly version: string
  /** Replication role; 'writer' is the only role until replication lands. */
  readonly role: 'writer'
  readonly principals: number
  readonly policyVersion: number
  readonly uptimeSeconds: number
  /** Node name (--node, default the host name). */
  readonly node: string
}

/** What executeAdminOp gets from the KDC. */
export interface AdminDeps {
  readonly store: KdcStore
  readonly clock: Clock
  /**
   * Write one audit event (a JSON line tagged audit: true). Uint8Array values are replaced by
   * "[bytes]" before logging, as a last line of defence; never pass key material anyway.
   */
  readonly audit: (event: Record<string, unknown>) => void
  readonly status: () => KdcStatus
}
