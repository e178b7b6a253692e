/**
 * The in-memory KdcStore for unit tests of the KDC logic: the same LoggedStore as production over
 * a Map instead of LevelDB, so it validates, seals and logs exactly like the real one. Pass the
 * same `data` Map to a second createMemoryStore to simulate a restart.
 */
import type { Clock } from '../protocol/index.js'
import type { BackendRange, StoreBackend } from './backend.js'
import { LoggedStore } from './logged-store.js'
import { generateMasterKeyring, type MasterKeyring } from './master-key.js'
import type { StoreOp } from './store.js'

/** A StoreBackend over a Map (exported so tests can wrap it with fault injection). */
export class MemoryBackend implements StoreBackend {
  readonly location = 'memory'
  readonly #data: Map<string, Uint8Array>

  constructor(data: Map<string, Uint8Array>) {
    this.#data = data
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- async iteration is the contract
  async *entries(range: BackendRange = {}): AsyncIterable<readonly [string, Uint8Array]> {
    const keys = [...this.#data.keys()].sort()
    let count = 0
    for (const key of keys) {
      if (range.gt !== undefined && !(key > range.gt)) continue
      if (range.lt !== undefined && !(key < range.lt)) break
      if (range.limit !== undefined && count >= range.limit) break
      count++
      yield [key, this.#data.get(key) as Uint8Array]
    }
  }

  write(ops: readonly StoreOp[]): Promise<void> {
    // A Map write cannot fail halfway, so applying the ops in order is atomic.
    for (const op of ops) {
      if (op.kind === 'put') this.#data.set(op.key, op.value.slice())
      else this.#data.delete(op.key)
    }
    return Promise.resolve()
  }

  compact(): Promise<void> {
    // A Map keeps nothing it no longer holds.
    return Promise.resolve()
  }

  close(): Promise<void> {
    return Promise.resolve()
  }
}

/** Options of createMemoryStore. */
export interface MemoryStoreOptions {
  readonly realm: string
  /** Defaults to a fresh random master key (kvno 1). */
  readonly masterKeys?: MasterKeyring
  readonly clock?: Clock
  /** The backing Map; reuse it to "restart". When it already holds a realm, that realm is opened. */
  readonly data?: Map<string, Uint8Array>
}

/** Create (or reopen, given `data`) an in-memory store. */
export async function createMemoryStore(options: MemoryStoreOptions): Promise<LoggedStore> {
  const data = options.data ?? new Map<string, Uint8Array>()
  return LoggedStore.open({
    backend: new MemoryBackend(data),
    masterKeys: options.masterKeys ?? generateMasterKeyring(),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(data.has('meta') ? {} : { createRealm: options.realm }),
  })
}
