/**
 * The in-memory view of the store and the one function that changes it: stageOps turns physical
 * ops (the same ops a mutation writes, a peer's log entry carries, or open() reads back) into the
 * principals and policy they produce, validating and unsealing everything BEFORE anything is
 * written. Local mutations, replication and loading all go through it, so a peer that applies a
 * log entry ends in exactly the state the writer reached.
 */
import { BrokerError, type KeyVersion, type Policy } from '../protocol/index.js'
import { openKey } from './key-seal.js'
import type { MasterKeyring } from './master-key.js'
import {
  MAX_KEYS_PER_PRINCIPAL,
  MAX_PRINCIPALS,
  corrupt,
  decodeKeyRecord,
  decodePolicyRecord,
  decodePrincipal,
  parseStoreKey,
  principalKey,
  type PrincipalRecord,
} from './records.js'
import type { PrincipalEntry, StoreOp } from './store.js'

/** One principal in the view: its record, its keys by kvno, and the frozen entry readers get. */
export interface PrincipalState {
  readonly record: PrincipalRecord
  readonly keys: ReadonlyMap<number, KeyVersion>
  readonly entry: PrincipalEntry
}

/** The outcome of a batch of ops: `null` marks a deleted principal. */
export interface Staged {
  readonly principals: ReadonlyMap<string, PrincipalState | null>
  readonly policy: Policy | undefined
}

function buildState(record: PrincipalRecord, keys: Map<number, KeyVersion>): PrincipalState {
  const sorted = [...keys.values()].sort((a, b) => a.kvno - b.kvno)
  const entry: PrincipalEntry = Object.freeze({
    name: record.name,
    id: record.id,
    enabled: record.enabled,
    groups: record.groups,
    keys: Object.freeze(sorted.map((k) => Object.freeze(k))),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  })
  return { record, keys: new Map(sorted.map((k) => [k.kvno, k])), entry }
}

/**
 * Decode, validate and unseal `ops` against the current view `base`. Throws (STORE_CORRUPT naming
 * the key, a MASTER_KEY_* status, or PRINCIPAL_CAP) without touching `base`.
 */
export function stageOps(
  base: ReadonlyMap<string, PrincipalState>,
  ops: readonly StoreOp[],
  ring: MasterKeyring,
  realm: string,
): Staged {
  const records = new Map<string, PrincipalRecord | null>()
  const keyChanges = new Map<string, Map<number, KeyVersion | null>>()
  let policy: Policy | undefined
  for (const op of ops) {
    const parsed = parseStoreKey(op.key)
    switch (parsed?.kind) {
      case 'principal':
        records.set(
          parsed.name,
          op.kind === 'put' ? decodePrincipal(op.key, parsed.name, op.value) : null,
        )
        break
      case 'key': {
        let changes = keyChanges.get(parsed.name)
        if (changes === undefined) {
          changes = new Map<number, KeyVersion | null>()
          keyChanges.set(parsed.name, changes)
        }
        if (op.kind === 'put') {
          const record = decodeKeyRecord(op.key, op.value)
          const key = openKey(ring, realm, parsed.name, parsed.kvno, record, op.key)
          changes.set(parsed.kvno, { kvno: parsed.kvno, key, createdAt: record.createdAt })
        } else {
          changes.set(parsed.kvno, null)
        }
        break
      }
      case 'policy':
        if (op.kind === 'del') throw corrupt(op.key, 'the policy cannot be deleted')
        policy = decodePolicyRecord(op.value)
        break
      case 'meta':
      case 'log':
      case undefined:
        throw corrupt(op.key, 'not a principal, key or policy record')
    }
  }

  const principals = new Map<string, PrincipalState | null>()
  let count = base.size
  for (const name of new Set([...records.keys(), ...keyChanges.keys()])) {
    const old = base.get(name)
    const record = records.has(name) ? records.get(name) : old?.record
    const keys = new Map(old?.keys ?? [])
    for (const [kvno, version] of keyChanges.get(name) ?? []) {
      if (version === null) keys.delete(kvno)
      else keys.set(kvno, version)
    }
    if (record === null || record === undefined) {
      if (keys.size > 0) throw corrupt(principalKey(name), 'key records without a principal')
      if (old !== undefined) count--
      principals.set(name, null)
      continue
    }
    if (keys.size === 0) throw corrupt(principalKey(name), 'a principal without keys')
    if (keys.size > MAX_KEYS_PER_PRINCIPAL) {
      throw corrupt(principalKey(name), `more than ${MAX_KEYS_PER_PRINCIPAL} key versions`)
    }
    if (old === undefined) count++
    principals.set(name, buildState(record, keys))
  }
  if (count > MAX_PRINCIPALS) {
    throw new BrokerError('ERR_ADMIN_INVALID', {
      status: 'PRINCIPAL_CAP',
      message: `the realm would hold ${count} principals, over the limit of ${MAX_PRINCIPALS}`,
    })
  }
  return { principals, policy }
}

/** Apply a staged result to the view maps (only after the batch is durable). */
export function commitStaged(principals: Map<string, PrincipalState>, staged: Staged): void {
  for (const [name, state] of staged.principals) {
    if (state === null) principals.delete(name)
    else principals.set(name, state)
  }
}
