/**
 * The KDC store on LevelDB (`level`, i.e. classic-level on Node): the database lives in
 * `<data>/db/` (docs/internals.md) and holds the flat keyspace of records.ts. LevelDB takes an
 * exclusive lock on open; a second KDC process on the same directory gets ERR_KDC_UNAVAILABLE
 * telling the operator to stop the first (cf. krb5 CANTLOCK_DB → SVC_UNAVAILABLE).
 */
import { chmod } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { BrokerError, type Clock } from '../protocol/index.js'
import type { BackendRange, StoreBackend } from './backend.js'
import { LoggedStore } from './logged-store.js'
import type { MasterKeyring } from './master-key.js'
import type { StoreOp } from './store.js'

/** The LevelDB directory inside a data directory. */
export function dbPath(dataDir: string): string {
  return join(dataDir, 'db')
}

/** On Node, `level` is classic-level, which can compact; the `level` types only promise less. */
interface Compactable {
  compactRange(start: string, end: string): Promise<void>
}

class LevelBackend implements StoreBackend {
  readonly location: string
  readonly #db: Level<string, Uint8Array>

  constructor(db: Level<string, Uint8Array>, location: string) {
    this.#db = db
    this.location = location
  }

  async *entries(range: BackendRange = {}): AsyncIterable<readonly [string, Uint8Array]> {
    const options: { gt?: string; lt?: string; limit?: number } = {}
    if (range.gt !== undefined) options.gt = range.gt
    if (range.lt !== undefined) options.lt = range.lt
    if (range.limit !== undefined) options.limit = range.limit
    for await (const [key, value] of this.#db.iterator(options)) yield [key, value]
  }

  async write(ops: readonly StoreOp[]): Promise<void> {
    await this.#db.batch(
      ops.map((op) =>
        op.kind === 'put'
          ? { type: 'put' as const, key: op.key, value: op.value }
          : { type: 'del' as const, key: op.key },
      ),
      // sync: LevelDB fsyncs its log before the batch resolves, so "done" means durable.
      { sync: true },
    )
  }

  async compact(): Promise<void> {
    const db = this.#db as unknown as Partial<Compactable>
    if (typeof db.compactRange !== 'function') {
      throw new TypeError('this LevelDB binding cannot compact (expected classic-level)')
    }
    // Every key of the layout (records.ts) is printable ASCII, so this range covers them all.
    await db.compactRange('\u0000', '\u007f')
  }

  close(): Promise<void> {
    return this.#db.close()
  }
}

function isLockError(err: unknown): boolean {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null
  return e?.code === 'LEVEL_DATABASE_NOT_OPEN' && e.cause?.code === 'LEVEL_LOCKED'
}

/** Options of openLevelStore. */
export interface OpenLevelStoreOptions {
  readonly dataDir: string
  readonly masterKeys: MasterKeyring
  readonly clock?: Clock
  /** Create an empty realm with this name (initRealm); refused if the database holds one. */
  readonly createRealm?: string
}

/**
 * Open the LevelDB store of `dataDir` and load it into memory. Errors: ERR_KDC_UNAVAILABLE
 * (DB_LOCKED: another KDC process holds the directory; DB_OPEN; NO_REALM), ERR_KDC_INTERNAL
 * (STORE_CORRUPT naming the record, MASTER_KEY_* for a wrong or missing master key).
 */
export async function openLevelStore(options: OpenLevelStoreOptions): Promise<LoggedStore> {
  const location = dbPath(options.dataDir)
  const db = new Level<string, Uint8Array>(location, {
    keyEncoding: 'utf8',
    valueEncoding: 'view',
    createIfMissing: options.createRealm !== undefined,
  })
  try {
    await db.open()
  } catch (err) {
    if (isLockError(err)) {
      throw new BrokerError('ERR_KDC_UNAVAILABLE', {
        status: 'DB_LOCKED',
        message: `another KDC process holds ${options.dataDir}; stop it before starting this one (or use another --data directory)`,
        cause: err,
      })
    }
    throw new BrokerError('ERR_KDC_UNAVAILABLE', {
      status: options.createRealm === undefined ? 'NO_REALM' : 'DB_OPEN',
      message:
        options.createRealm === undefined
          ? `cannot open the store in ${location}: no realm there, or it is unreadable; create one with \`tessera-kdc init --data ${options.dataDir}\``
          : `cannot create the store in ${location}`,
      cause: err,
    })
  }
  // LevelDB creates its directory with the process umask; the values inside are sealed, but their
  // names, sizes and the update log are nobody else's business either.
  await chmod(location, 0o700)
  const backend = new LevelBackend(db, location)
  try {
    return await LoggedStore.open({
      backend,
      masterKeys: options.masterKeys,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.createRealm === undefined ? {} : { createRealm: options.createRealm }),
    })
  } catch (err) {
    await db.close().catch(() => undefined)
    throw err
  }
}
