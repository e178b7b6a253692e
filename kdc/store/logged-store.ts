/**
 * The KdcStore logic shared by the LevelDB and in-memory stores (store.ts contract). Reads are
 * synchronous from the in-memory view; the AS/TGS hot path never waits on disk. Each mutation runs
 * alone (a promise queue, so serials are gap-free): build the physical ops, stage them against the
 * view (validate, unseal), write ops + update-log entry + meta (new last serial) in ONE durable
 * batch, then update the view, then resolve (design brief §8). Nothing is written per ticket.
 */
import {
  BrokerError,
  MAX_UINT32,
  systemClock,
  type Clock,
  type Policy,
  type PolicyRule,
} from '../protocol/index.js'
import type { StoreBackend } from './backend.js'
import type { MasterKeyring } from './master-key.js'
import {
  planAddPrincipal,
  planDeletePrincipal,
  planReseal,
  planRotateKey,
  planSetPolicy,
  planUpdate,
  type PlanContext,
} from './mutations.js'
import {
  LOG_RANGE_END,
  META_KEY,
  corrupt,
  decodeLogEntry,
  decodeMeta,
  encodeLogEntry,
  encodeMeta,
  logKey,
  parseStoreKey,
  type MetaRecord,
} from './records.js'
import type {
  AddPrincipalInput,
  KdcStore,
  MutationOptions,
  PrincipalEntry,
  RotateKeyOptions,
  StoreOp,
  UpdateLogEntry,
} from './store.js'
import { commitStaged, stageOps, type PrincipalState } from './view.js'

export { DEFAULT_KEEP_KEYS } from './mutations.js'

/** Most entries one readLog call returns. */
export const MAX_READ_LOG_ENTRIES = 1_000

/** Options shared by every store built on LoggedStore. */
export interface LoggedStoreOptions {
  readonly backend: StoreBackend
  readonly masterKeys: MasterKeyring
  readonly clock?: Clock
  /** Create an empty realm with this name when the backend holds none (initRealm only). */
  readonly createRealm?: string
}

const EMPTY_POLICY: Policy = Object.freeze({ version: 0, rules: Object.freeze([]) })

function invalid(status: string, message: string): BrokerError {
  return new BrokerError('ERR_ADMIN_INVALID', { status, message })
}

function closedError(): BrokerError {
  return new BrokerError('ERR_KDC_UNAVAILABLE', {
    status: 'STORE_CLOSED',
    message: 'the store is closed (the KDC is shutting down); retry on the other node',
  })
}

/**
 * A peer's entry, proven to have the exact shape of a stored one by a round trip through the log
 * record format (so no odd value reaches the staging step); any defect is STORE_CORRUPT.
 */
function normalizeLogEntry(entry: UpdateLogEntry): UpdateLogEntry {
  const key = `l/${String(entry.serial)}`
  let bytes: Uint8Array
  try {
    bytes = encodeLogEntry(entry)
  } catch (err) {
    throw corrupt(key, 'the received log entry is malformed', err)
  }
  return decodeLogEntry(key, bytes)
}

/**
 * The meta record and the log are written in the same batch, so the last log key must be exactly
 * `l/<lastSerial>`; anything else means the directory was tampered with or mixed from two copies.
 */
async function checkLogTail(backend: StoreBackend, lastSerial: number): Promise<void> {
  const range = { gt: lastSerial > 1 ? logKey(lastSerial - 1) : 'l/', lt: LOG_RANGE_END, limit: 2 }
  const found: string[] = []
  for await (const [key] of backend.entries(range)) found.push(key)
  const expected = lastSerial === 0 ? [] : [logKey(lastSerial)]
  if (found.length !== expected.length || found[0] !== expected[0]) {
    throw corrupt(META_KEY, `the last serial ${lastSerial} does not match the update log`)
  }
}

/** The error initRealm and LoggedStore.open give when asked to create over an existing realm. */
export function realmExistsError(dir: string): BrokerError {
  return new BrokerError('ERR_ADMIN_EXISTS', {
    status: 'REALM_EXISTS',
    message: `a realm already exists in ${dir}; use \`tessera-kdc start --data ${dir}\`, or choose an empty directory`,
  })
}

/** A KdcStore over any StoreBackend. Use openLevelStore or createMemoryStore to get one. */
export class LoggedStore implements KdcStore {
  readonly realm: string
  readonly #backend: StoreBackend
  readonly #clock: Clock
  readonly #principals: Map<string, PrincipalState>
  #policy: Policy
  #meta: MetaRecord
  #ring: MasterKeyring
  #tail: Promise<unknown> = Promise.resolve()
  #closed = false
  #failed: unknown = undefined

  private constructor(
    backend: StoreBackend,
    ring: MasterKeyring,
    clock: Clock,
    meta: MetaRecord,
    principals: Map<string, PrincipalState>,
    policy: Policy,
  ) {
    this.#backend = backend
    this.#ring = ring
    this.#clock = clock
    this.#meta = meta
    this.realm = meta.realm
    this.#principals = principals
    this.#policy = policy
  }

  /**
   * Load every record into the view, validating each (a corrupt record is STORE_CORRUPT naming its
   * key) and unsealing every key with the master version it names. The log is not read here.
   */
  static async open(options: LoggedStoreOptions): Promise<LoggedStore> {
    const { backend } = options
    let metaBytes: Uint8Array | undefined
    const ops: StoreOp[] = []
    // Everything but the log: keys below 'l/' and above the log range (records.ts layout).
    for (const range of [{ lt: 'l/' }, { gt: LOG_RANGE_END }]) {
      for await (const [key, value] of backend.entries(range)) {
        if (key === META_KEY) metaBytes = value.slice()
        else ops.push({ kind: 'put', key, value: value.slice() })
      }
    }
    let meta: MetaRecord
    if (metaBytes === undefined) {
      if (options.createRealm === undefined) {
        throw new BrokerError('ERR_KDC_UNAVAILABLE', {
          status: 'NO_REALM',
          message: `no realm in ${backend.location}; create one with \`tessera-kdc init\``,
        })
      }
      if (ops.length > 0) throw corrupt(META_KEY, 'missing while other records exist')
      meta = {
        realm: options.createRealm,
        epoch: 1,
        lastSerial: 0,
        masterKvno: options.masterKeys.current.kvno,
      }
      await backend.write([{ kind: 'put', key: META_KEY, value: encodeMeta(meta) }])
    } else {
      if (options.createRealm !== undefined) throw realmExistsError(backend.location)
      meta = decodeMeta(metaBytes)
      await checkLogTail(backend, meta.lastSerial)
    }
    const staged = stageOps(new Map(), ops, options.masterKeys, meta.realm)
    const principals = new Map<string, PrincipalState>()
    commitStaged(principals, staged)
    return new LoggedStore(
      backend,
      options.masterKeys,
      options.clock ?? systemClock,
      meta,
      principals,
      staged.policy ?? EMPTY_POLICY,
    )
  }

  // ---- reads: synchronous, from the view --------------------------------------------------

  getPrincipal(name: string): PrincipalEntry | undefined {
    return this.#principals.get(name)?.entry
  }

  listPrincipals(filter?: { readonly group?: string }): readonly PrincipalEntry[] {
    const group = filter?.group
    const out: PrincipalEntry[] = []
    for (const state of this.#principals.values()) {
      if (group === undefined || state.record.groups.includes(group)) out.push(state.entry)
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  principalCount(): number {
    return this.#principals.size
  }

  getPolicy(): Policy {
    return this.#policy
  }

  lastSerial(): number {
    return this.#meta.lastSerial
  }

  epoch(): number {
    return this.#meta.epoch
  }

  /** The master kvno new key records are sealed with. */
  masterKvno(): number {
    return this.#ring.current.kvno
  }

  // ---- mutations ---------------------------------------------------------------------------

  addPrincipal(input: AddPrincipalInput, options: MutationOptions = {}): Promise<PrincipalEntry> {
    return this.#mutate(options, (ctx) => ({
      ops: planAddPrincipal(ctx, input),
      result: () => this.#entry(input.name),
    }))
  }

  setEnabled(
    name: string,
    enabled: boolean,
    options: MutationOptions = {},
  ): Promise<PrincipalEntry> {
    return this.#mutate(options, (ctx) => ({
      ops: planUpdate(ctx, name, { enabled }),
      result: () => this.#entry(name),
    }))
  }

  setGroups(
    name: string,
    groups: readonly string[],
    options: MutationOptions = {},
  ): Promise<PrincipalEntry> {
    return this.#mutate(options, (ctx) => ({
      ops: planUpdate(ctx, name, { groups }),
      result: () => this.#entry(name),
    }))
  }

  deletePrincipal(name: string, options: MutationOptions = {}): Promise<void> {
    return this.#mutate(options, (ctx) => ({
      ops: planDeletePrincipal(ctx, name),
      result: () => undefined,
    }))
  }

  rotateKey(name: string, options: RotateKeyOptions = {}): Promise<PrincipalEntry> {
    return this.#mutate(options, (ctx) => ({
      ops: planRotateKey(ctx, name, options),
      result: () => this.#entry(name),
    }))
  }

  setPolicy(rules: readonly PolicyRule[], options: MutationOptions = {}): Promise<Policy> {
    return this.#mutate(options, () => ({
      ops: planSetPolicy(this.#policy, rules),
      result: () => this.#policy,
    }))
  }

  /**
   * Move the store onto `ring`'s current master version (master-key.ts rollMasterKey). In ONE
   * durable batch: every key record re-sealed under it (one update-log entry) and every earlier
   * update-log entry dropped, since their ops carry keys sealed under the older versions. The log
   * then starts at this entry (a peer behind it needs a fresh copy of the store), and no record is
   * sealed under any other version, so the caller may retire those from the stash. Finally the
   * backend compacts, so the replaced values leave the database files too. Returns the number of
   * key records re-sealed.
   */
  resealKeys(ring: MasterKeyring): Promise<number> {
    return this.#enqueue(async () => {
      this.#checkWritable()
      const ops = planReseal(this.#planContext(), ring)
      const serial = this.#meta.lastSerial + 1
      const dropped: StoreOp[] = []
      const first = await this.#firstLogSerial()
      if (first !== undefined) {
        for (let s = first; s < serial; s++) dropped.push({ kind: 'del', key: logKey(s) })
      }
      await this.#commit({ serial, epoch: this.#meta.epoch, time: this.#now(), ops }, ring, dropped)
      await this.#compact()
      return ops.length
    })
  }

  /**
   * Persist a new writer epoch (design brief §8: `promote`). Not a log entry: each node records
   * the epoch it has seen; log entries carry the epoch they were written in.
   */
  setEpoch(epoch: number): Promise<void> {
    return this.#enqueue(async () => {
      if (!Number.isInteger(epoch) || epoch < this.#meta.epoch || epoch > MAX_UINT32) {
        throw new RangeError(`the epoch only grows: ${epoch} < ${this.#meta.epoch}`)
      }
      const meta = { ...this.#meta, epoch }
      await this.#write([{ kind: 'put', key: META_KEY, value: encodeMeta(meta) }])
      this.#meta = meta
    })
  }

  // ---- replication -------------------------------------------------------------------------

  async readLog(after: number, limit: number): Promise<readonly UpdateLogEntry[]> {
    if (!Number.isInteger(after) || after < 0 || after > MAX_UINT32) {
      throw new RangeError('after is a serial in 0..2^32-1')
    }
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit is a positive integer')
    if (this.#closed) throw closedError()
    const out: UpdateLogEntry[] = []
    const range = {
      gt: logKey(after),
      lt: LOG_RANGE_END,
      limit: Math.min(limit, MAX_READ_LOG_ENTRIES),
    }
    for await (const [key, value] of this.#backend.entries(range)) {
      const entry = decodeLogEntry(key, value)
      if (logKey(entry.serial) !== key) throw corrupt(key, 'serial does not match the key')
      out.push(entry)
    }
    return out
  }

  applyLogEntry(received: UpdateLogEntry): Promise<void> {
    return this.#enqueue(async () => {
      this.#checkWritable()
      const entry = normalizeLogEntry(received)
      const last = this.#meta.lastSerial
      if (entry.serial <= last) {
        throw invalid('LOG_ALREADY_APPLIED', `log entry ${entry.serial} is already applied`)
      }
      if (entry.serial !== last + 1) {
        throw invalid(
          'LOG_GAP',
          `log entry ${entry.serial} does not follow ${last}; fetch the missing entries first`,
        )
      }
      if (entry.epoch < this.#meta.epoch) {
        throw new BrokerError('ERR_ADMIN_NOT_WRITER', {
          status: 'STALE_EPOCH',
          message: `log entry ${entry.serial} comes from epoch ${entry.epoch}, older than ${this.#meta.epoch}`,
        })
      }
      await this.#commit(entry, this.#ring)
    })
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve()
    this.#closed = true
    // Let mutations already queued finish, then release the database.
    return this.#tail.then(() => this.#backend.close())
  }

  // ---- internals ---------------------------------------------------------------------------

  #now(): number {
    return this.#clock.nowSeconds()
  }

  #entry(name: string): PrincipalEntry {
    return this.#principals.get(name)?.entry as PrincipalEntry
  }

  /** Run `task` after every earlier mutation has settled; a failure does not block later ones. */
  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    // Checked when queued, not when run: whatever was queued before close() still completes.
    if (this.#closed) return Promise.reject(closedError())
    const run = this.#tail.then(task)
    this.#tail = run.catch(() => undefined)
    return run
  }

  #planContext(): PlanContext {
    return { principals: this.#principals, realm: this.realm, ring: this.#ring, now: this.#now() }
  }

  /**
   * Queue a mutation: once every earlier one has settled, run the caller's precondition against
   * the view as it is then, plan the ops and commit them as one log entry.
   */
  #mutate<T>(
    options: MutationOptions,
    build: (ctx: PlanContext) => { readonly ops: StoreOp[]; readonly result: () => T },
  ): Promise<T> {
    return this.#enqueue(async () => {
      this.#checkWritable()
      options.precondition?.(this)
      const { ops, result } = build(this.#planContext())
      const entry: UpdateLogEntry = {
        serial: this.#meta.lastSerial + 1,
        epoch: this.#meta.epoch,
        time: this.#now(),
        ops,
      }
      await this.#commit(entry, this.#ring)
      return result()
    })
  }

  /** The serial of the oldest update-log entry still stored, if any. */
  async #firstLogSerial(): Promise<number | undefined> {
    for await (const [key] of this.#backend.entries({ gt: 'l/', lt: LOG_RANGE_END, limit: 1 })) {
      const parsed = parseStoreKey(key)
      if (parsed?.kind !== 'log') throw corrupt(key, 'not an update-log key')
      return parsed.serial
    }
    return undefined
  }

  /** Let the backend discard replaced and deleted values from its files (after a roll). */
  async #compact(): Promise<void> {
    try {
      await this.#backend.compact()
    } catch (err) {
      throw new BrokerError('ERR_KDC_INTERNAL', {
        status: 'STORE_COMPACT_FAILED',
        message: `the store in ${this.#backend.location} is re-sealed, but compacting it failed, so replaced records may remain in its files for now; run the master-key roll again`,
        cause: err,
      })
    }
  }

  /**
   * Stage, write ops + log entry + meta (+ `local` bookkeeping ops, never replicated) in one
   * durable batch, then update the view.
   */
  async #commit(
    entry: UpdateLogEntry,
    ring: MasterKeyring,
    local: readonly StoreOp[] = [],
  ): Promise<void> {
    const staged = stageOps(this.#principals, entry.ops, ring, this.realm)
    const meta: MetaRecord = {
      ...this.#meta,
      epoch: Math.max(this.#meta.epoch, entry.epoch),
      lastSerial: entry.serial,
      masterKvno: ring.current.kvno,
    }
    await this.#write([
      ...local,
      ...entry.ops,
      { kind: 'put', key: logKey(entry.serial), value: encodeLogEntry(entry) },
      { kind: 'put', key: META_KEY, value: encodeMeta(meta) },
    ])
    commitStaged(this.#principals, staged)
    if (staged.policy !== undefined) this.#policy = staged.policy
    this.#meta = meta
    this.#ring = ring
  }

  async #write(ops: readonly StoreOp[]): Promise<void> {
    try {
      await this.#backend.write(ops)
    } catch (err) {
      // The batch may or may not have reached the disk: stop writing until a restart re-reads it.
      this.#failed = err
      throw new BrokerError('ERR_KDC_UNAVAILABLE', {
        status: 'STORE_WRITE_FAILED',
        message: `writing to the store in ${this.#backend.location} failed; restart the KDC`,
        cause: err,
      })
    }
  }

  #checkWritable(): void {
    if (this.#failed !== undefined) {
      throw new BrokerError('ERR_KDC_UNAVAILABLE', {
        status: 'STORE_FAILED',
        message: `an earlier write to ${this.#backend.location} failed; restart the KDC`,
        cause: this.#failed,
      })
    }
  }
}
