/**
 * The KDC store's physical layout and record formats. Every record is a msgpack positional array
 * whose first item is the record version (house style B5: positional arrays, no maps), encoded with
 * the protocol codec and decoded with explicit limits, then validated field by field. A record that
 * fails any check is ERR_KDC_INTERNAL with status STORE_CORRUPT and a message naming its key; the
 * store refuses to open rather than serve from a half-understood database.
 *
 * Key layout (one flat LevelDB keyspace, ASCII keys, so LevelDB's bytewise order equals JS string
 * order; principal names never contain '/', docs/protocol.md §4):
 *
 * | key                         | record                                                  |
 * |-----------------------------|---------------------------------------------------------|
 * | `meta`                      | [1, realm, epoch, lastSerial, masterKvno]               |
 * | `p/<name>`                  | [1, name, id, enabled(0/1), groups, createdAt, updatedAt] |
 * | `k/<name>/<kvno:10 digits>` | [1, masterKvno, createdAt, sealedKey(72 bytes)]         |
 * | `policy`                    | [1, version, rules] (rules as in policy-rules.ts)       |
 * | `l/<serial:10 digits>`      | [1, serial, epoch, time, ops]; op = [0, key, value] or [1, key] |
 *
 * Only `p/`, `k/` and `policy` records travel in update-log ops; `meta` and `l/` are local
 * bookkeeping written in the same batch (see logged-store.ts).
 */
import {
  BrokerError,
  KEY_BYTES,
  MAX_GROUPS,
  MAX_UINT32,
  NONCE_BYTES,
  TAG_BYTES,
  decode,
  encode,
  isAscendingNameList,
  isGroupName,
  isPrincipalName,
  isRealmName,
  parsePolicy,
  policyToWire,
  type DecodeLimits,
  type Policy,
  type WireValue,
} from '../protocol/index.js'
import type { StoreOp, UpdateLogEntry } from './store.js'

/** Version of every record format in this file; a store with another version is refused. */
export const RECORD_VERSION = 1
/** Largest principal, key, policy or meta record in bytes. */
export const MAX_RECORD_BYTES = 262_144
/** Most principals one realm holds (design brief §10: every collection is capped). */
export const MAX_PRINCIPALS = 100_000
/** Most key versions one principal keeps; equal to the most a keytab can hold (keys.ts). */
export const MAX_KEYS_PER_PRINCIPAL = 16
/**
 * Largest update-log entry. A master-key roll re-seals every key record in one entry, so the bound
 * is the whole key set: MAX_PRINCIPALS × MAX_KEYS_PER_PRINCIPAL sealed records plus their keys.
 */
export const MAX_LOG_ENTRY_BYTES = 256 * 1024 * 1024
export const MAX_LOG_OPS = MAX_PRINCIPALS * (MAX_KEYS_PER_PRINCIPAL + 1)
/** Size of a sealed key: nonce ‖ 32-byte key ‖ tag. */
export const SEALED_KEY_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES

export const META_KEY = 'meta'
export const POLICY_KEY = 'policy'
const PRINCIPAL_PREFIX = 'p/'
const KEY_PREFIX = 'k/'
const LOG_PREFIX = 'l/'
/** Upper bound of the log key range: '0' < ':' in ASCII, so every `l/<digits>` sorts below. */
export const LOG_RANGE_END = 'l/:'

const ID_PATTERN = /^[0-9a-f]{32}$/

/** Zero-padded decimal so that key order is numeric order for every uint32. */
function pad10(n: number): string {
  return n.toString().padStart(10, '0')
}

export function principalKey(name: string): string {
  return PRINCIPAL_PREFIX + name
}
export function keyRecordKey(name: string, kvno: number): string {
  return `${KEY_PREFIX}${name}/${pad10(kvno)}`
}
export function logKey(serial: number): string {
  return LOG_PREFIX + pad10(serial)
}

/** What a store key addresses; `undefined` for a key outside the layout. */
export type ParsedKey =
  | { readonly kind: 'principal'; readonly name: string }
  | { readonly kind: 'key'; readonly name: string; readonly kvno: number }
  | { readonly kind: 'policy' }
  | { readonly kind: 'meta' }
  | { readonly kind: 'log'; readonly serial: number }

export function parseStoreKey(key: string): ParsedKey | undefined {
  if (key === META_KEY) return { kind: 'meta' }
  if (key === POLICY_KEY) return { kind: 'policy' }
  if (key.startsWith(PRINCIPAL_PREFIX)) {
    const name = key.slice(PRINCIPAL_PREFIX.length)
    return isPrincipalName(name) ? { kind: 'principal', name } : undefined
  }
  if (key.startsWith(KEY_PREFIX)) {
    const match = /^k\/([^/]+)\/(\d{10})$/.exec(key)
    if (match === null) return undefined
    const name = match[1] as string
    const kvno = Number(match[2])
    return isPrincipalName(name) && kvno >= 1 && kvno <= MAX_UINT32
      ? { kind: 'key', name, kvno }
      : undefined
  }
  if (key.startsWith(LOG_PREFIX)) {
    const match = /^l\/(\d{10})$/.exec(key)
    if (match === null) return undefined
    const serial = Number(match[1])
    return serial >= 1 && serial <= MAX_UINT32 ? { kind: 'log', serial } : undefined
  }
  return undefined
}

/** The error for any record or key that fails validation; names the key, never a secret. */
export function corrupt(key: string, reason: string, cause?: unknown): BrokerError {
  return new BrokerError('ERR_KDC_INTERNAL', {
    status: 'STORE_CORRUPT',
    message: `store record "${key}" is corrupt: ${reason}; restore the data directory from a backup or a peer`,
    cause,
  })
}

/** Encode a record, refusing one over MAX_RECORD_BYTES (a policy is the only one that can grow). */
function encodeRecord(key: string, value: WireValue, max = MAX_RECORD_BYTES): Uint8Array {
  const bytes = encode(value)
  if (bytes.length > max) {
    throw new BrokerError('ERR_ADMIN_INVALID', {
      status: 'RECORD_TOO_LARGE',
      message: `the record for "${key}" would be ${bytes.length} bytes, over the ${max}-byte limit`,
    })
  }
  return bytes
}

/** Decode a record with the store limits and check its version and arity. */
function decodeRecord(
  key: string,
  bytes: Uint8Array,
  arity: number,
  limits: DecodeLimits = { maxBytes: MAX_RECORD_BYTES },
): readonly WireValue[] {
  let value: WireValue
  try {
    value = decode(bytes, limits)
  } catch (err) {
    throw corrupt(key, 'not a valid msgpack record', err)
  }
  if (!Array.isArray(value) || value.length !== arity) throw corrupt(key, 'wrong shape')
  const fields = value as readonly WireValue[]
  if (fields[0] !== RECORD_VERSION)
    throw corrupt(key, `unknown record version ${String(fields[0])}`)
  return fields
}

function uintField(key: string, value: WireValue | undefined, what: string): number {
  if (typeof value !== 'number') throw corrupt(key, `bad ${what}`)
  return value
}

// ---- meta ------------------------------------------------------------------------------------

export interface MetaRecord {
  readonly realm: string
  readonly epoch: number
  readonly lastSerial: number
  /** The master kvno new key records are sealed with (informational; each key names its own). */
  readonly masterKvno: number
}

export function encodeMeta(m: MetaRecord): Uint8Array {
  return encodeRecord(META_KEY, [RECORD_VERSION, m.realm, m.epoch, m.lastSerial, m.masterKvno])
}

export function decodeMeta(bytes: Uint8Array): MetaRecord {
  const f = decodeRecord(META_KEY, bytes, 5)
  if (!isRealmName(f[1])) throw corrupt(META_KEY, 'bad realm name')
  return {
    realm: f[1],
    epoch: uintField(META_KEY, f[2], 'epoch'),
    lastSerial: uintField(META_KEY, f[3], 'last serial'),
    masterKvno: uintField(META_KEY, f[4], 'master kvno'),
  }
}

// ---- principal -------------------------------------------------------------------------------

/** The stored, non-secret part of a principal; its keys are separate `k/` records. */
export interface PrincipalRecord {
  readonly name: string
  readonly id: string
  readonly enabled: boolean
  /** Canonical: sorted, distinct, each a group name, at most MAX_GROUPS. */
  readonly groups: readonly string[]
  readonly createdAt: number
  readonly updatedAt: number
}

/** True for a canonical group list (sorted, distinct, valid names, at most MAX_GROUPS). */
export function isCanonicalGroups(value: unknown): value is readonly string[] {
  return isAscendingNameList(value, isGroupName, MAX_GROUPS)
}

export function encodePrincipal(r: PrincipalRecord): Uint8Array {
  return encodeRecord(principalKey(r.name), [
    RECORD_VERSION,
    r.name,
    r.id,
    r.enabled ? 1 : 0,
    [...r.groups],
    r.createdAt,
    r.updatedAt,
  ])
}

export function decodePrincipal(key: string, name: string, bytes: Uint8Array): PrincipalRecord {
  const f = decodeRecord(key, bytes, 7)
  if (f[1] !== name) throw corrupt(key, 'the name inside does not match the key')
  const id = f[2]
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) throw corrupt(key, 'bad id')
  if (f[3] !== 0 && f[3] !== 1) throw corrupt(key, 'bad enabled flag')
  if (!isCanonicalGroups(f[4])) throw corrupt(key, 'bad group list')
  return {
    name,
    id,
    enabled: f[3] === 1,
    groups: Object.freeze([...f[4]]),
    createdAt: uintField(key, f[5], 'createdAt'),
    updatedAt: uintField(key, f[6], 'updatedAt'),
  }
}

// ---- key -------------------------------------------------------------------------------------

/** A key record as stored: the key itself is sealed under master key version `masterKvno`. */
export interface KeyRecord {
  readonly masterKvno: number
  readonly createdAt: number
  readonly sealed: Uint8Array
}

export function encodeKeyRecord(key: string, r: KeyRecord): Uint8Array {
  return encodeRecord(key, [RECORD_VERSION, r.masterKvno, r.createdAt, r.sealed])
}

export function decodeKeyRecord(key: string, bytes: Uint8Array): KeyRecord {
  const f = decodeRecord(key, bytes, 4)
  const sealed = f[3]
  if (!(sealed instanceof Uint8Array) || sealed.length !== SEALED_KEY_BYTES) {
    throw corrupt(key, 'bad sealed key size')
  }
  const masterKvno = uintField(key, f[1], 'master kvno')
  if (masterKvno < 1) throw corrupt(key, 'bad master kvno')
  return { masterKvno, createdAt: uintField(key, f[2], 'createdAt'), sealed }
}

// ---- policy ----------------------------------------------------------------------------------

export function encodePolicy(p: Policy): Uint8Array {
  return encodeRecord(POLICY_KEY, [RECORD_VERSION, policyToWire(p)])
}

export function decodePolicyRecord(bytes: Uint8Array): Policy {
  const f = decodeRecord(POLICY_KEY, bytes, 2)
  try {
    return parsePolicy(f[1] as WireValue)
  } catch (err) {
    throw corrupt(POLICY_KEY, 'invalid policy', err)
  }
}

// ---- update log ------------------------------------------------------------------------------

const OP_PUT = 0
const OP_DEL = 1

export function encodeLogEntry(e: UpdateLogEntry): Uint8Array {
  const ops = e.ops.map((op): WireValue =>
    op.kind === 'put' ? [OP_PUT, op.key, op.value] : [OP_DEL, op.key],
  )
  return encodeRecord(
    logKey(e.serial),
    [RECORD_VERSION, e.serial, e.epoch, e.time, ops],
    MAX_LOG_ENTRY_BYTES,
  )
}

export function decodeLogEntry(key: string, bytes: Uint8Array): UpdateLogEntry {
  const f = decodeRecord(key, bytes, 5, {
    maxBytes: MAX_LOG_ENTRY_BYTES,
    maxBinBytes: MAX_RECORD_BYTES,
    maxArrayItems: MAX_LOG_OPS,
  })
  const list = f[4]
  if (!Array.isArray(list)) throw corrupt(key, 'bad op list')
  const ops: StoreOp[] = []
  for (const item of list as readonly WireValue[]) {
    if (!Array.isArray(item)) throw corrupt(key, 'bad op')
    const op = item as readonly WireValue[]
    const target = op[1]
    if (typeof target !== 'string') throw corrupt(key, 'bad op key')
    if (op.length === 3 && op[0] === OP_PUT && op[2] instanceof Uint8Array) {
      ops.push({ kind: 'put', key: target, value: op[2].slice() })
    } else if (op.length === 2 && op[0] === OP_DEL) {
      ops.push({ kind: 'del', key: target })
    } else {
      throw corrupt(key, 'bad op')
    }
  }
  return {
    serial: uintField(key, f[1], 'serial'),
    epoch: uintField(key, f[2], 'epoch'),
    time: uintField(key, f[3], 'time'),
    ops,
  }
}
