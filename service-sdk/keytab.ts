/**
 * Keytab loading and hot reload (docs/protocol.md §8.2, design brief §7). The verifier selects
 * exactly one key by the ticket's kvno (never a trial decryption); this module keeps those keys,
 * with the ticket subkey deriveKey(key, LABELS.ticket) and the ticket AAD precomputed per kvno at
 * load time.
 *
 * The file is the whole truth: after a reload the ring holds exactly the file's kvnos. Rotation
 * never breaks tickets in flight because the KDC writes every live key version into the keytabs it
 * exports (the new one and, by default, the two before it); a kvno the file no longer lists is
 * refused at once, cached tickets included, which is how a stolen key is retired without a restart
 * (`tessera-admin key rotate NAME --keep 1 --out FILE`, docs/operations.md §5.1).
 *
 * The file is watched with fs.watch on its directory (atomic writes replace it by rename, which a
 * watch on the file itself would lose) plus stat polling as a fallback for filesystems where watch
 * events do not arrive (network mounts, some containers). Changes are debounced. A file that fails
 * to load keeps the old keys and is reported; nothing here can crash the process.
 */
import { constants, watch, watchFile, unwatchFile, type FSWatcher, type Stats } from 'node:fs'
import { open } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import {
  BrokerError,
  cryptoBackend,
  isBrokerError,
  deriveKey,
  LABELS,
  parseKeytab,
  readKeytabHandle,
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
  readonly #all: ReadonlyMap<number, ServiceKey>

  private constructor(realm: string, service: string, keys: Map<number, ServiceKey>) {
    this.realm = realm
    this.service = service
    this.#all = keys
  }

  /** Build a ring from a parsed keytab: exactly its kvnos. */
  static fromKeytab(keytab: Keytab): KeyRing {
    const own = new Map<number, ServiceKey>()
    for (const k of keytab.keys) {
      own.set(k.kvno, {
        kvno: k.kvno,
        ticketKey: deriveKey(k.key, LABELS.ticket),
        ticketAad: ticketAad({ realm: keytab.realm, service: keytab.principal, kvno: k.kvno }),
      })
    }
    return new KeyRing(keytab.realm, keytab.principal, own)
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
    bytes = await readKeytabBytes(path)
  } catch (err) {
    if (isBrokerError(err)) throw err
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

/** The bytes of the keytab at `path` (see readKeytabHandle). */
async function readKeytabBytes(path: string): Promise<Uint8Array> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
  try {
    return await readKeytabHandle(handle, path, 'the keytab option')
  } finally {
    await handle.close()
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
  /** The reload that follows the running one, shared by everyone who asked during it. */
  #next: Promise<void> | undefined
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

  /**
   * Load the file now; resolves when the file as it is now (or later) has been loaded, or the
   * failure reported. Never rejects. A call during a running reload (which may have read the file
   * before the change the caller knows of) resolves after the one more reload that follows it.
   */
  reload(): Promise<void> {
    if (this.#reloading !== undefined) {
      this.#next ??= this.#reloading.then(() => {
        this.#next = undefined
        return this.#closed ? undefined : this.reload()
      })
      return this.#next
    }
    this.#reloading = this.#reloadOnce().finally(() => {
      this.#reloading = undefined
    })
    return this.#reloading
  }

  async #reloadOnce(): Promise<void> {
    let keytab: Keytab | undefined
    try {
      const loaded = await loadKeytabFile(this.#path)
      keytab = loaded.keytab
      const digest = loaded.digest
      if (this.#closed) return
      // fs.watch and the stat poll both report one write: the same bytes again change nothing.
      if (digest === this.#loadedDigest) return
      const current = this.#target.current()
      if (keytab.realm !== current.realm || keytab.principal !== current.service) {
        throw new BrokerError('ERR_CLIENT_KEYTAB', {
          status: 'OTHER_PRINCIPAL',
          message: `the keytab ${this.#path} now holds keys of ${keytab.principal}@${keytab.realm}, not ${current.service}@${current.realm}; keeping the old keys`,
        })
      }
      const ring = KeyRing.fromKeytab(keytab)
      this.#target.replace(ring)
      this.#loadedDigest = digest
    } catch (err) {
      if (!this.#closed) this.#target.onError(err instanceof Error ? err : new Error(String(err)))
    } finally {
      // The ring holds its own derived keys: the parsed copies go on every path (refused, dropped
      // by close(), same bytes, or swapped in).
      if (keytab !== undefined) for (const k of keytab.keys) k.key.fill(0)
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
