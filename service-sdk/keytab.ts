/**
 * Keytab loading and hot reload (docs/protocol.md §8.2, design brief §7). The verifier selects
 * exactly one key by the ticket's kvno (never a trial decryption); this module keeps those keys,
 * with the ticket subkey deriveKey(key, LABELS.ticket) and the ticket AAD precomputed per kvno at
 * load time.
 *
 * Rotation never breaks tickets in flight: after a reload the ring holds the new file's kvnos AND
 * the kvnos of the file before it (one generation back), so an operator may export a keytab that
 * holds only the newest key while tickets sealed under the previous one are still valid.
 *
 * The file is watched with fs.watch on its directory (atomic writes replace it by rename, which a
 * watch on the file itself would lose) plus stat polling as a fallback for filesystems where watch
 * events do not arrive (network mounts, some containers). Changes are debounced. A file that fails
 * to load keeps the old keys and is reported; nothing here can crash the process.
 */
import { watch, watchFile, unwatchFile, type FSWatcher, type Stats } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import {
  BrokerError,
  cryptoBackend,
  deriveKey,
  LABELS,
  parseKeytab,
  ticketAad,
  toHex,
  type Keytab,
} from '../kdc/protocol/index.js'

/** One usable key version: the subkey that opens tickets and the AAD they were sealed with. */
export interface ServiceKey {
  readonly kvno: number
  /** deriveKey(key, LABELS.ticket). Secret. */
  readonly ticketKey: Uint8Array
  /** ticketAad({ realm, service, kvno }), encoded once. */
  readonly ticketAad: Uint8Array
}

/** The keys of one service, by kvno. Immutable once built; a reload builds a new ring. */
export class KeyRing {
  readonly realm: string
  readonly service: string
  /** Keys that came from the latest file. */
  readonly own: ReadonlyMap<number, ServiceKey>
  readonly #all: Map<number, ServiceKey>

  private constructor(realm: string, service: string, own: Map<number, ServiceKey>) {
    this.realm = realm
    this.service = service
    this.own = own
    this.#all = new Map(own)
  }

  /**
   * Build a ring from a parsed keytab; with `previous`, keep its own kvnos that the new file no
   * longer lists (one generation back).
   */
  static fromKeytab(keytab: Keytab, previous?: KeyRing): KeyRing {
    const own = new Map<number, ServiceKey>()
    for (const k of keytab.keys) {
      own.set(k.kvno, {
        kvno: k.kvno,
        ticketKey: deriveKey(k.key, LABELS.ticket),
        ticketAad: ticketAad({ realm: keytab.realm, service: keytab.principal, kvno: k.kvno }),
      })
    }
    const ring = new KeyRing(keytab.realm, keytab.principal, own)
    if (previous !== undefined) {
      for (const [kvno, key] of previous.own) if (!own.has(kvno)) ring.#all.set(kvno, key)
    }
    return ring
  }

  /** The key of `kvno`, or undefined (ERR_AP_BAD_KVNO for the caller). */
  get(kvno: number): ServiceKey | undefined {
    return this.#all.get(kvno)
  }

  /** Every kvno held, ascending. */
  get kvnos(): number[] {
    return [...this.#all.keys()].sort((a, b) => a - b)
  }
}

/** Read and parse a keytab file; any defect is ERR_CLIENT_KEYTAB (never with key bytes). */
export async function loadKeytab(path: string): Promise<Keytab> {
  return (await loadKeytabFile(path)).keytab
}

/**
 * The keytab and a SHA-256 digest of the file's bytes, so a watcher can tell a real change from a
 * second notification about the same write.
 */
export async function loadKeytabFile(path: string): Promise<{ keytab: Keytab; digest: string }> {
  let bytes: Uint8Array
  try {
    const file = await readFile(path)
    // A plain Uint8Array view: Buffer#slice would alias the file bytes wiped below.
    bytes = new Uint8Array(file.buffer, file.byteOffset, file.length)
  } catch (err) {
    throw new BrokerError('ERR_CLIENT_KEYTAB', {
      status: 'READ',
      message: `cannot read the keytab ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      cause: err,
    })
  }
  try {
    return { keytab: parseKeytab(bytes), digest: toHex(cryptoBackend().sha256(bytes)) }
  } finally {
    bytes.fill(0)
  }
}

/** What the watcher needs from its owner. */
export interface KeytabWatchTarget {
  current(): KeyRing
  replace(ring: KeyRing): void
  onError(err: Error): void
}

/** Options of {@link KeytabWatcher}. */
export interface KeytabWatchOptions {
  readonly pollIntervalMs: number
  readonly debounceMs: number
  /** Digest (loadKeytabFile) of the file the owner loaded before watching, if known. */
  readonly loadedDigest?: string
}

/**
 * Watches one keytab file and swaps the owner's key ring when the file changes. Reloads are
 * serialised: a change during a reload triggers one more reload afterwards.
 */
export class KeytabWatcher {
  readonly #path: string
  readonly #target: KeytabWatchTarget
  readonly #options: KeytabWatchOptions
  #fsWatcher: FSWatcher | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #reloading: Promise<void> | undefined
  #again = false
  #closed = false
  /** Digest of the file behind the current ring (undefined until the watcher's first load). */
  #loadedDigest: string | undefined
  readonly #onStat = (cur: Stats, prev: Stats): void => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size || cur.ino !== prev.ino) {
      this.schedule()
    }
  }

  constructor(path: string, target: KeytabWatchTarget, options: KeytabWatchOptions) {
    this.#path = path
    this.#target = target
    this.#options = options
    this.#loadedDigest = options.loadedDigest
  }

  /** Start watching. Never throws: a directory that cannot be watched leaves the polling. */
  start(): void {
    const name = basename(this.#path)
    try {
      this.#fsWatcher = watch(dirname(this.#path), { persistent: false }, (_event, filename) => {
        if (filename === null || filename === name) this.schedule()
      })
      this.#fsWatcher.on('error', (err) => {
        this.#target.onError(err)
      })
    } catch (err) {
      this.#target.onError(err as Error)
    }
    watchFile(
      this.#path,
      { persistent: false, interval: this.#options.pollIntervalMs },
      this.#onStat,
    )
  }

  /** Reload after the debounce delay (coalescing bursts of events). */
  schedule(): void {
    if (this.#closed) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.reload()
    }, this.#options.debounceMs)
    this.#timer.unref()
  }

  /** Load the file now; resolves when the ring is swapped or the failure reported. Never rejects. */
  reload(): Promise<void> {
    if (this.#reloading !== undefined) {
      this.#again = true
      return this.#reloading
    }
    this.#reloading = this.#reloadOnce().finally(() => {
      this.#reloading = undefined
      if (this.#again && !this.#closed) {
        this.#again = false
        void this.reload()
      }
    })
    return this.#reloading
  }

  async #reloadOnce(): Promise<void> {
    try {
      const { keytab, digest } = await loadKeytabFile(this.#path)
      if (this.#closed) return
      // fs.watch and the stat poll both report one write: reloading the same bytes again would
      // make the ring forget the previous file's keys one reload early (see KeyRing.fromKeytab).
      if (digest === this.#loadedDigest) {
        for (const k of keytab.keys) k.key.fill(0)
        return
      }
      const current = this.#target.current()
      if (keytab.realm !== current.realm || keytab.principal !== current.service) {
        throw new BrokerError('ERR_CLIENT_KEYTAB', {
          status: 'OTHER_PRINCIPAL',
          message: `the keytab ${this.#path} now holds keys of ${keytab.principal}@${keytab.realm}, not ${current.service}@${current.realm}; keeping the old keys`,
        })
      }
      const ring = KeyRing.fromKeytab(keytab, current)
      for (const k of keytab.keys) k.key.fill(0)
      this.#target.replace(ring)
      this.#loadedDigest = digest
    } catch (err) {
      if (!this.#closed) this.#target.onError(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** Stop watching; pending reloads are dropped. */
  close(): void {
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#fsWatcher?.close()
    unwatchFile(this.#path, this.#onStat)
  }
}
