/**
 * The one seam between the store logic (logged-store.ts) and its storage: LevelDB in production
 * (level-store.ts), a Map in unit tests (memory-store.ts). Everything above this interface — the
 * view, validation, sealing, serials, the update log — is shared, so both stores pass the same
 * conformance suite by construction.
 */
import type { StoreOp } from './store.js'

/** A key range over the flat, ASCII-ordered keyspace (records.ts). */
export interface BackendRange {
  readonly gt?: string
  readonly lt?: string
  readonly limit?: number
}

export interface StoreBackend {
  /** Where the data lives, for messages (a directory, or "memory"). */
  readonly location: string
  /** Entries in ascending key order. Values may be views: callers copy what they keep. */
  entries(range?: BackendRange): AsyncIterable<readonly [string, Uint8Array]>
  /** Write all ops atomically and durably (fsynced) before resolving. */
  write(ops: readonly StoreOp[]): Promise<void>
  /**
   * Discard replaced and deleted values from the underlying files (LevelDB keeps them until a
   * compaction), so that what the store no longer holds is not left on disk either.
   */
  compact(): Promise<void>
  close(): Promise<void>
}
