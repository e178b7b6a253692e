/**
 * The KDC store contract (design brief §8, issue #3 item 3). One implementation on LevelDB
 * (level-store.ts) and one in memory (memory-store.ts, unit tests only) pass the same conformance
 * suite. The KDC reads from an in-memory view that every mutation updates, so the AS/TGS hot path
 * never waits on disk; every mutation writes its change AND an update-log entry in one atomic,
 * synced batch before it resolves (the HA pair replicates that log).
 *
 * Long-term keys are sealed under the master key at rest (label tessera/v1/db, AAD context
 * [realm, principal, kvno, masterKvno]); in memory they are plain, and they never reach a log line.
 */
import type { KeyVersion, Policy, PolicyRule } from '../protocol/index.js'

export interface PrincipalEntry {
  readonly name: string
  /** Immutable id (32 hex chars) assigned at creation; survives renames of nothing, never reused. */
  readonly id: string
  readonly enabled: boolean
  readonly groups: readonly string[]
  /** Ascending by kvno; the last is the current key. Secret. */
  readonly keys: readonly KeyVersion[]
  /** Seconds since the epoch. */
  readonly createdAt: number
  readonly updatedAt: number
}

/** One replicated update: everything one mutation wrote, in order. */
export interface UpdateLogEntry {
  readonly serial: number
  /** Writer epoch (design brief §8): an old writer that comes back steps down. */
  readonly epoch: number
  readonly time: number
  /** The physical writes of the mutation: sealed values exactly as stored. */
  readonly ops: readonly StoreOp[]
}

export type StoreOp =
  | { readonly kind: 'put'; readonly key: string; readonly value: Uint8Array }
  | { readonly kind: 'del'; readonly key: string }

export interface AddPrincipalInput {
  readonly name: string
  readonly groups?: readonly string[]
  /** Defaults to a fresh random key. */
  readonly key?: Uint8Array
  readonly enabled?: boolean
}

/** The synchronous reads of a store: what a mutation's precondition may look at. */
export type StoreReader = Pick<
  KdcStore,
  'realm' | 'getPrincipal' | 'listPrincipals' | 'principalCount' | 'getPolicy'
>

/** Options every mutation accepts. */
export interface MutationOptions {
  /**
   * Runs inside the store's mutation queue, just before the change is planned, against the view as
   * it is then: no other mutation can commit between the check and this one's write. Throw to
   * refuse the mutation (nothing is written). For rules that must hold when the write happens, not
   * only when the request arrived (the admin ACL, "never disable the last admin").
   */
  readonly precondition?: (view: StoreReader) => void
}

/** Options of rotateKey. */
export interface RotateKeyOptions extends MutationOptions {
  /** Defaults to a fresh random key. */
  readonly key?: Uint8Array
  /** Key versions left live, the new one included (default 3). */
  readonly keep?: number
}

export interface KdcStore {
  readonly realm: string
  /** Sync read from the in-memory view. */
  getPrincipal(name: string): PrincipalEntry | undefined
  listPrincipals(filter?: { readonly group?: string }): readonly PrincipalEntry[]
  principalCount(): number
  getPolicy(): Policy
  /** Serial of the last applied update-log entry (0 for an empty log). */
  lastSerial(): number
  epoch(): number

  /** Mutations: atomic change + log entry, fsynced, then the view updates, then resolve. */
  addPrincipal(input: AddPrincipalInput, options?: MutationOptions): Promise<PrincipalEntry>
  setEnabled(name: string, enabled: boolean, options?: MutationOptions): Promise<PrincipalEntry>
  deletePrincipal(name: string, options?: MutationOptions): Promise<void>
  /** Adds a new key version (kvno = current + 1), keeping at most `keep` newest versions. */
  rotateKey(name: string, options?: RotateKeyOptions): Promise<PrincipalEntry>
  setGroups(
    name: string,
    groups: readonly string[],
    options?: MutationOptions,
  ): Promise<PrincipalEntry>
  /** Replaces the rules; version = previous + 1. Returns the new policy. */
  setPolicy(rules: readonly PolicyRule[], options?: MutationOptions): Promise<Policy>

  /** Replication support: entries with serial > after, at most `limit`. */
  readLog(after: number, limit: number): Promise<readonly UpdateLogEntry[]>
  /** Apply a peer's entry (serial must be lastSerial() + 1) atomically; updates the view. */
  applyLogEntry(entry: UpdateLogEntry): Promise<void>

  close(): Promise<void>
}
