/**
 * Keys and keytabs (docs/protocol.md §8). A key is 32 CSPRNG bytes with a kvno. A keytab file is
 * msgpack(["tessera-keytab", 1, realm, principal, [[kvno, key, createdAt], ...]]) with the entries in
 * strictly ascending kvno order; files are written with mode 0600 by whoever writes them.
 */
import { randomBytes } from './random.js'
import { decode, encode, type WireValue } from './codec.js'
import { BrokerError } from './errors.js'
import { KEY_BYTES } from './limits.js'
import { isPrincipalName, isRealmName } from './principal.js'

/** A key version. `key` is secret: never log it, never put it in an error. */
export interface KeyVersion {
  readonly kvno: number
  readonly key: Uint8Array
  /** Seconds since the epoch. */
  readonly createdAt: number
}

export interface Keytab {
  readonly realm: string
  readonly principal: string
  /** Ascending by kvno; the last is the current key. */
  readonly keys: readonly KeyVersion[]
}

export const KEYTAB_MAGIC = 'tessera-keytab'
export const KEYTAB_VERSION = 1
/** Most key versions in one keytab. */
export const MAX_KEYTAB_KEYS = 16
/** Largest keytab file, in bytes: readers read no more than this (plus one, to tell it is more). */
export const MAX_KEYTAB_FILE_BYTES = 4_096

/**
 * What is wrong with a keytab file of this POSIX `mode`, or undefined when only its owner can get
 * at it (docs/protocol.md §8.2). Readers warn rather than refuse: container secret volumes are often
 * mounted 0644, and refusing would take a service down over its deployment's defaults.
 */
export function keytabModeProblem(path: string, mode: number): string | undefined {
  if ((mode & 0o077) === 0) return undefined
  const octal = (mode & 0o777).toString(8).padStart(3, '0')
  return `the keytab ${path} has mode 0${octal}: its group or other users can read or replace it, and so act as its principal; chmod 600 it (for a Kubernetes secret volume, set defaultMode: 0400)`
}

/** Paths already warned about: one warning per file and process, not one per reload. */
const warnedModes = new Set<string>()

interface WarningProcess {
  readonly platform?: string
  emitWarning?(message: string, options: { code: string }): void
}

/**
 * Emit a process warning (code TESSERA_KEYTAB_MODE), once per path, when a keytab's mode lets its
 * group or others at it; the SDKs call it on every read. A no-op outside Node and on Windows.
 */
export function warnIfKeytabExposed(path: string, mode: number): void {
  const proc = (globalThis as { process?: WarningProcess }).process
  if (proc?.emitWarning === undefined || proc.platform === 'win32' || warnedModes.has(path)) return
  const problem = keytabModeProblem(path, mode)
  if (problem === undefined) return
  warnedModes.add(path)
  proc.emitWarning(`tessera: ${problem}`, { code: 'TESSERA_KEYTAB_MODE' })
}

/**
 * What {@link readKeytabHandle} needs of an open file: node's `FileHandle` (node:fs/promises) has
 * this shape. The protocol core does no I/O of its own; the SDKs open the file and pass it here.
 */
export interface KeytabFileHandle {
  stat(): Promise<{ isFile(): boolean; readonly size: number; readonly mode: number }>
  read(
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesRead: number }>
}

/**
 * The bytes of the keytab open as `handle` (at `path`, for messages): a regular file of at most
 * MAX_KEYTAB_FILE_BYTES, read no further than that limit, so that a device or a huge file is refused
 * without reading it. Open it with O_NONBLOCK: a FIFO at the path would otherwise hang the open and
 * hold a libuv thread. Warns once per path when the file's mode exposes it (warnIfKeytabExposed).
 * Refusals are ERR_CLIENT_KEYTAB (NOT_A_FILE, SIZE); `setting` names where the path came from, for
 * the message (e.g. "TESSERA_KEYTAB"). The caller wipes the returned bytes.
 */
export async function readKeytabHandle(
  handle: KeytabFileHandle,
  path: string,
  setting: string,
): Promise<Uint8Array> {
  const info = await handle.stat()
  if (!info.isFile()) {
    throw new BrokerError('ERR_CLIENT_KEYTAB', {
      status: 'NOT_A_FILE',
      message: `the keytab ${path} is not a regular file; point ${setting} at the file that 'tessera-admin principal add' or 'keytab export' wrote`,
    })
  }
  warnIfKeytabExposed(path, info.mode)
  const bytes = new Uint8Array(MAX_KEYTAB_FILE_BYTES + 1)
  let n = 0
  if (info.size <= MAX_KEYTAB_FILE_BYTES) {
    for (;;) {
      const { bytesRead } = await handle.read(bytes, n, bytes.length - n, n)
      if (bytesRead === 0) break
      n += bytesRead
      if (n === bytes.length) break
    }
  }
  if (info.size > MAX_KEYTAB_FILE_BYTES || n > MAX_KEYTAB_FILE_BYTES) {
    bytes.fill(0)
    throw new BrokerError('ERR_CLIENT_KEYTAB', {
      status: 'SIZE',
      message: `the keytab ${path} is larger than ${String(MAX_KEYTAB_FILE_BYTES)} bytes; is it a Tessera keytab?`,
    })
  }
  return bytes.subarray(0, n)
}

/** A fresh random 32-byte key. */
export function generateKey(): Uint8Array {
  return randomBytes(KEY_BYTES)
}

export function encodeKeytab(keytab: Keytab): Uint8Array {
  if (!isRealmName(keytab.realm) || !isPrincipalName(keytab.principal))
    throw new TypeError('invalid keytab names')
  if (keytab.keys.length === 0 || keytab.keys.length > MAX_KEYTAB_KEYS) {
    throw new RangeError(`a keytab holds 1..${MAX_KEYTAB_KEYS} keys`)
  }
  const sorted = [...keytab.keys].sort((a, b) => a.kvno - b.kvno)
  return encode([
    KEYTAB_MAGIC,
    KEYTAB_VERSION,
    keytab.realm,
    keytab.principal,
    sorted.map((k) => [k.kvno, k.key, k.createdAt]),
  ])
}

function invalid(status: string): BrokerError<'ERR_CLIENT_KEYTAB'> {
  return new BrokerError('ERR_CLIENT_KEYTAB', { status })
}

/** Parse keytab bytes; any defect is ERR_CLIENT_KEYTAB (the message never contains key bytes). */
export function parseKeytab(bytes: Uint8Array): Keytab {
  let value: WireValue
  try {
    value = decode(bytes, { maxBytes: MAX_KEYTAB_FILE_BYTES })
  } catch (err) {
    throw new BrokerError('ERR_CLIENT_KEYTAB', { status: 'DECODE', cause: err })
  }
  if (!Array.isArray(value) || value.length !== 5) throw invalid('SHAPE')
  const [magic, version, realm, principal, entries] = value as WireValue[]
  if (magic !== KEYTAB_MAGIC) throw invalid('MAGIC')
  if (version !== KEYTAB_VERSION) throw invalid('VERSION')
  if (!isRealmName(realm) || !isPrincipalName(principal)) throw invalid('NAMES')
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > MAX_KEYTAB_KEYS)
    throw invalid('ENTRIES')
  const keys: KeyVersion[] = []
  let previous = -1
  for (const e of entries as WireValue[]) {
    if (!Array.isArray(e) || e.length !== 3) throw invalid('ENTRY')
    const [kvno, key, createdAt] = e as WireValue[]
    if (typeof kvno !== 'number' || kvno <= previous) throw invalid('KVNO_ORDER')
    if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) throw invalid('KEY_SIZE')
    if (typeof createdAt !== 'number') throw invalid('CREATED_AT')
    // A real copy even when the input is a Buffer (whose slice() is a view into the file bytes).
    keys.push({ kvno, key: Uint8Array.prototype.slice.call(key), createdAt })
    previous = kvno
  }
  return { realm, principal, keys }
}
