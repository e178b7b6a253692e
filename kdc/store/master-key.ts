/**
 * The master key (design brief §3, last item): 32 random bytes with a master kvno, under which
 * every long-term key in the store is sealed. It comes from the stash file `<data>/master.key`
 * (mode 0600) or from TESSERA_MASTER_KEY (64 hex chars, master kvno 1), never from both.
 *
 * Stash format: msgpack(["tessera-master-key", 1, [[mkvno, key], ...]]) with strictly ascending
 * mkvnos; the last is current. A roll retires the older versions once the store no longer uses
 * them (rollMasterKey): a backup of db/ taken before a roll needs the master.key saved with it.
 *
 * Every defect of the key source is ERR_KDC_INTERNAL with a MASTER_KEY_* status and a message that
 * says how to fix it; no message ever contains key bytes.
 */
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import {
  BrokerError,
  KEY_BYTES,
  LABELS,
  MAX_UINT32,
  decode,
  deriveKey,
  encode,
  generateKey,
  type WireValue,
} from '../protocol/index.js'
import { writeSecretFile } from './keytab-file.js'

export const STASH_FILE = 'master.key'
export const STASH_MAGIC = 'tessera-master-key'
export const STASH_VERSION = 1
/** Most master key versions one stash holds. */
export const MAX_MASTER_KEYS = 16
export const MASTER_KEY_ENV = 'TESSERA_MASTER_KEY'

/** One master key version. `key` is secret. */
export interface MasterKey {
  readonly kvno: number
  readonly key: Uint8Array
}

/** Where a keyring came from, for messages (never the key itself). */
export type MasterKeySource =
  | { readonly kind: 'stash'; readonly path: string }
  | { readonly kind: 'env' }
  | { readonly kind: 'memory' }

function masterKeyError(status: string, message: string, cause?: unknown): BrokerError {
  return new BrokerError('ERR_KDC_INTERNAL', { status, message, cause })
}

/**
 * The master key versions a store may use. New seals use `current` (the highest kvno); opening a
 * key record uses exactly the version the record names (no trial decryption, house style C9).
 */
export class MasterKeyring {
  readonly source: MasterKeySource
  readonly current: MasterKey
  readonly #keys: ReadonlyMap<number, Uint8Array>
  readonly #subkeys = new Map<number, Uint8Array>()

  /** `versions` must be non-empty with distinct kvnos in 1..2^32-1; the bytes are copied. */
  constructor(versions: readonly MasterKey[], source: MasterKeySource = { kind: 'memory' }) {
    if (versions.length === 0 || versions.length > MAX_MASTER_KEYS) {
      throw new RangeError(`a master keyring holds 1..${MAX_MASTER_KEYS} versions`)
    }
    const keys = new Map<number, Uint8Array>()
    for (const v of versions) {
      if (!Number.isInteger(v.kvno) || v.kvno < 1 || v.kvno > MAX_UINT32 || keys.has(v.kvno)) {
        throw new RangeError('master kvnos are distinct integers in 1..2^32-1')
      }
      if (!(v.key instanceof Uint8Array) || v.key.length !== KEY_BYTES) {
        throw new RangeError(`master keys are ${KEY_BYTES} bytes`)
      }
      // Uint8Array.from copies even a Buffer, whose slice() would share memory.
      keys.set(v.kvno, Uint8Array.from(v.key))
    }
    const kvno = Math.max(...keys.keys())
    this.#keys = keys
    this.current = Object.freeze({ kvno, key: keys.get(kvno) as Uint8Array })
    this.source = source
  }

  /** All versions, ascending by kvno (copies). */
  versions(): MasterKey[] {
    return [...this.#keys.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([kvno, key]) => ({ kvno, key: Uint8Array.from(key) }))
  }

  has(kvno: number): boolean {
    return this.#keys.has(kvno)
  }

  /** The db subkey of version `kvno` (docs/protocol.md §3.2, label tessera/v1/db); cached. */
  dbSubkey(kvno: number): Uint8Array | undefined {
    let subkey = this.#subkeys.get(kvno)
    if (subkey === undefined) {
      const key = this.#keys.get(kvno)
      if (key === undefined) return undefined
      subkey = deriveKey(key, LABELS.db)
      this.#subkeys.set(kvno, subkey)
    }
    return subkey
  }

  /** A new keyring with one more version (a fresh random key unless given) that becomes current. */
  withNewVersion(key: Uint8Array = generateKey()): MasterKeyring {
    return new MasterKeyring(
      [...this.versions(), { kvno: this.current.kvno + 1, key }],
      this.source,
    )
  }

  /** Where the keys came from, phrased for an operator. */
  describeSource(): string {
    switch (this.source.kind) {
      case 'stash':
        return `the stash ${this.source.path}`
      case 'env':
        return MASTER_KEY_ENV
      case 'memory':
        return 'the in-memory master key'
    }
  }
}

/** A fresh single-version keyring (master kvno 1) for a new realm or a test. */
export function generateMasterKeyring(source: MasterKeySource = { kind: 'memory' }): MasterKeyring {
  return new MasterKeyring([{ kvno: 1, key: generateKey() }], source)
}

/** Parse TESSERA_MASTER_KEY: exactly 64 hex chars, master kvno 1. */
export function masterKeyFromHex(text: string): MasterKeyring {
  const hex = text.trim()
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw masterKeyError(
      'MASTER_KEY_ENV',
      `${MASTER_KEY_ENV} must be exactly 64 hex characters (32 bytes); generate one with: openssl rand -hex 32`,
    )
  }
  return new MasterKeyring([{ kvno: 1, key: Buffer.from(hex, 'hex') }], { kind: 'env' })
}

export function stashPath(dataDir: string): string {
  return join(dataDir, STASH_FILE)
}

/** Encode a keyring as stash bytes. */
export function encodeStash(ring: MasterKeyring): Uint8Array {
  return encode([STASH_MAGIC, STASH_VERSION, ring.versions().map((v) => [v.kvno, v.key])])
}

/** Parse stash bytes; `path` only names the file in errors. */
export function parseStash(bytes: Uint8Array, path: string): MasterKeyring {
  const invalid = (why: string, cause?: unknown): BrokerError =>
    masterKeyError(
      'MASTER_KEY_STASH_INVALID',
      `the master key stash ${path} is invalid (${why}); restore it from your backup`,
      cause,
    )
  let value: WireValue
  try {
    value = decode(bytes, { maxBytes: 4096 })
  } catch (err) {
    throw invalid('not a msgpack stash', err)
  }
  if (!Array.isArray(value) || value.length !== 3) throw invalid('wrong shape')
  const [magic, version, entries] = value as readonly WireValue[]
  if (magic !== STASH_MAGIC) throw invalid('wrong magic')
  if (version !== STASH_VERSION) throw invalid(`unknown version ${String(version)}`)
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > MAX_MASTER_KEYS) {
    throw invalid('bad key list')
  }
  const versions: MasterKey[] = []
  let previous = 0
  for (const e of entries as readonly WireValue[]) {
    if (!Array.isArray(e) || e.length !== 2) throw invalid('bad entry')
    const [kvno, key] = e as readonly WireValue[]
    if (typeof kvno !== 'number' || kvno <= previous) throw invalid('kvnos not ascending')
    if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) throw invalid('bad key size')
    versions.push({ kvno, key })
    previous = kvno
  }
  return new MasterKeyring(versions, { kind: 'stash', path })
}

/** Write the stash atomically with mode 0600 (keytab-file.ts). */
export async function writeStash(dataDir: string, ring: MasterKeyring): Promise<void> {
  await writeSecretFile(stashPath(dataDir), encodeStash(ring))
}

/**
 * Read the stash, refusing one whose mode lets group or others read or write it: a readable stash
 * next to a copy of the store gives away every key (docs/security.md).
 */
export async function readStash(dataDir: string): Promise<MasterKeyring> {
  const path = stashPath(dataDir)
  let mode: number
  try {
    mode = (await stat(path)).mode
  } catch (err) {
    throw masterKeyError(
      'MASTER_KEY_MISSING',
      `no master key: ${path} does not exist and ${MASTER_KEY_ENV} is not set; restore the stash or set ${MASTER_KEY_ENV}`,
      err,
    )
  }
  if ((mode & 0o077) !== 0) {
    throw masterKeyError(
      'MASTER_KEY_STASH_MODE',
      `the master key stash ${path} has mode ${(mode & 0o777).toString(8).padStart(4, '0')}, so group or others can reach it; fix it with: chmod 600 ${path}`,
    )
  }
  return parseStash(new Uint8Array(await readFile(path)), path)
}

/** Options for finding the master key of a data directory. */
export interface LoadMasterKeyOptions {
  readonly dataDir: string
  /** Defaults to process.env; only TESSERA_MASTER_KEY is read. */
  readonly env?: Readonly<Record<string, string | undefined>>
}

/** True when the environment holds a master key (the stash is then not used). */
export function hasEnvMasterKey(env: Readonly<Record<string, string | undefined>>): boolean {
  const value = env[MASTER_KEY_ENV]
  return value !== undefined && value !== ''
}

/**
 * The master keyring of `dataDir`: from TESSERA_MASTER_KEY when set, else from the stash. Both at
 * once is refused, because it is ambiguous which one the store was sealed with.
 */
export async function loadMasterKeys(options: LoadMasterKeyOptions): Promise<MasterKeyring> {
  const env = options.env ?? process.env
  if (hasEnvMasterKey(env)) {
    const stashExists = await stat(stashPath(options.dataDir)).then(
      () => true,
      () => false,
    )
    if (stashExists) {
      throw masterKeyError(
        'MASTER_KEY_AMBIGUOUS',
        `both ${MASTER_KEY_ENV} and the stash ${stashPath(options.dataDir)} are present; unset ${MASTER_KEY_ENV} or remove the stash`,
      )
    }
    return masterKeyFromHex(env[MASTER_KEY_ENV] as string)
  }
  return readStash(options.dataDir)
}

/** The part of a store rollMasterKey needs (LoggedStore provides it). */
export interface ResealableStore {
  /**
   * Re-seal every stored key under `ring.current` so that, once it resolves, no record of the
   * store (key records and update log alike) is sealed under any other version.
   */
  resealKeys(ring: MasterKeyring): Promise<number>
}

/** A keyring holding only `ring`'s current version (the others retired). */
function currentOnly(ring: MasterKeyring): MasterKeyring {
  return new MasterKeyring([ring.current], ring.source)
}

/**
 * Roll the master key (design brief §3, §7): add a new master kvno to the stash (written first, so
 * the new key is durable before any record depends on it), re-seal every key record under it in
 * one batch that also drops the update-log entries before it (their ops hold keys sealed under the
 * old versions), then retire the old versions from the stash, since no record uses them any more.
 * Each step leaves a store the stash opens: a crash before the re-seal leaves the old versions in
 * use and in the stash; a crash after it leaves unused versions that the next roll retires.
 * Needs a stash: a key from TESSERA_MASTER_KEY cannot gain versions. Returns the new master kvno.
 */
export async function rollMasterKey(options: {
  readonly dataDir: string
  readonly store: ResealableStore
  readonly env?: Readonly<Record<string, string | undefined>>
}): Promise<number> {
  if (hasEnvMasterKey(options.env ?? process.env)) {
    throw masterKeyError(
      'MASTER_KEY_ENV',
      `the master key comes from ${MASTER_KEY_ENV}, which holds one version; to roll it, move to a stash file`,
    )
  }
  const { dataDir, store } = options
  let stash = await readStash(dataDir)
  if (stash.versions().length >= MAX_MASTER_KEYS) {
    // A full stash (left by interrupted rolls, or by a version that never retired keys): move
    // everything onto the current version first, so the older ones can go and a new one fits.
    await store.resealKeys(stash)
    stash = currentOnly(stash)
    await writeStash(dataDir, stash)
  }
  const next = stash.withNewVersion()
  await writeStash(dataDir, next)
  await store.resealKeys(next)
  await writeStash(dataDir, currentOnly(next))
  return next.current.kvno
}
