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
