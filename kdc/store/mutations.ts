/**
 * What each store mutation writes: pure planners from (view, input, time) to the physical ops of
 * records.ts. They validate their input (ERR_ADMIN_* for anything an admin request could carry)
 * and seal new keys, but write nothing; logged-store.ts runs the plan through the one commit path
 * (stage → durable batch with the log entry → view), which re-validates every op it is given.
 */
import { randomBytes } from 'node:crypto'
import {
  BrokerError,
  KEY_BYTES,
  MAX_UINT32,
  canonicalScopes,
  generateKey,
  isPrincipalName,
  isReservedPrincipal,
  parsePolicy,
  policyToWire,
  type Policy,
  type PolicyRule,
} from '../protocol/index.js'
import { sealKey } from './key-seal.js'
import type { MasterKeyring } from './master-key.js'
import {
  MAX_KEYS_PER_PRINCIPAL,
  MAX_PRINCIPALS,
  POLICY_KEY,
  encodeKeyRecord,
  encodePolicy,
  encodePrincipal,
  isCanonicalGroups,
  keyRecordKey,
  principalKey,
  type PrincipalRecord,
} from './records.js'
import type { AddPrincipalInput, StoreOp } from './store.js'
import type { PrincipalState } from './view.js'

/** Key versions rotateKey keeps by default: the new one and two before it (design brief §7). */
export const DEFAULT_KEEP_KEYS = 3

/** What a planner sees: the current view, the realm, the master keys and the time. */
export interface PlanContext {
  readonly principals: ReadonlyMap<string, PrincipalState>
  readonly realm: string
  readonly ring: MasterKeyring
  readonly now: number
}

function invalid(status: string, message: string, cause?: unknown): BrokerError {
  return new BrokerError('ERR_ADMIN_INVALID', { status, message, cause })
}

function canonicalGroups(groups: readonly string[]): readonly string[] {
  const out = Object.freeze([...new Set(groups)].sort())
  if (!isCanonicalGroups(out)) {
    throw invalid('BAD_GROUPS', 'groups are at most 32 names of 1-63 characters a-z 0-9 . _ -')
  }
  return out
}

function checkKey(key: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw invalid('BAD_KEY', `keys are exactly ${KEY_BYTES} bytes`)
  }
  // Copy: the view keeps what it is given, and the caller may reuse its buffer (house style B6).
  return Uint8Array.from(key)
}

function requirePrincipal(ctx: PlanContext, name: string): PrincipalState {
  const state = ctx.principals.get(name)
  if (state === undefined) {
    throw new BrokerError('ERR_ADMIN_NOT_FOUND', {
      status: 'PRINCIPAL_UNKNOWN',
      message: `no principal "${name}"`,
    })
  }
  return state
}

function putPrincipal(record: PrincipalRecord): StoreOp {
  return { kind: 'put', key: principalKey(record.name), value: encodePrincipal(record) }
}

function putKey(
  ctx: PlanContext,
  name: string,
  kvno: number,
  key: Uint8Array,
  createdAt: number,
  ring = ctx.ring,
): StoreOp {
  const storeKey = keyRecordKey(name, kvno)
  const record = sealKey(ring, ctx.realm, name, kvno, key, createdAt)
  return { kind: 'put', key: storeKey, value: encodeKeyRecord(storeKey, record) }
}

export function planAddPrincipal(ctx: PlanContext, input: AddPrincipalInput): StoreOp[] {
  const { name } = input
  if (!isPrincipalName(name)) {
    throw invalid(
      'BAD_NAME',
      `principal name ${JSON.stringify(name)} is invalid: use 1-63 characters a-z 0-9 . _ - starting with a letter`,
    )
  }
  if (ctx.principals.has(name)) {
    throw new BrokerError('ERR_ADMIN_EXISTS', {
      status: 'PRINCIPAL_EXISTS',
      message: `principal "${name}" already exists`,
    })
  }
  if (ctx.principals.size >= MAX_PRINCIPALS) {
    throw invalid('PRINCIPAL_CAP', `the realm already holds ${MAX_PRINCIPALS} principals`)
  }
  const record: PrincipalRecord = {
    name,
    id: randomBytes(16).toString('hex'),
    enabled: input.enabled ?? true,
    groups: canonicalGroups(input.groups ?? []),
    createdAt: ctx.now,
    updatedAt: ctx.now,
  }
  const key = input.key === undefined ? generateKey() : checkKey(input.key)
  return [putPrincipal(record), putKey(ctx, name, 1, key, ctx.now)]
}

/** setEnabled / setGroups: rewrite the principal record; keys are untouched. */
export function planUpdate(
  ctx: PlanContext,
  name: string,
  change: { readonly enabled?: boolean; readonly groups?: readonly string[] },
): StoreOp[] {
  const { record } = requirePrincipal(ctx, name)
  return [
    putPrincipal({
      ...record,
      enabled: change.enabled ?? record.enabled,
      groups: change.groups === undefined ? record.groups : canonicalGroups(change.groups),
      updatedAt: ctx.now,
    }),
  ]
}

export function planDeletePrincipal(ctx: PlanContext, name: string): StoreOp[] {
  if (isReservedPrincipal(name)) {
    throw invalid('RESERVED', `"${name}" is reserved by the KDC and cannot be deleted`)
  }
  const state = requirePrincipal(ctx, name)
  const ops: StoreOp[] = [{ kind: 'del', key: principalKey(name) }]
  for (const kvno of state.keys.keys()) ops.push({ kind: 'del', key: keyRecordKey(name, kvno) })
  return ops
}

export function planRotateKey(
  ctx: PlanContext,
  name: string,
  options: { readonly key?: Uint8Array; readonly keep?: number },
): StoreOp[] {
  const keep = options.keep ?? DEFAULT_KEEP_KEYS
  if (!Number.isInteger(keep) || keep < 1 || keep > MAX_KEYS_PER_PRINCIPAL) {
    throw invalid('BAD_KEEP', `keep is an integer in 1..${MAX_KEYS_PER_PRINCIPAL}`)
  }
  const state = requirePrincipal(ctx, name)
  const kvnos = [...state.keys.keys()] // ascending (view.ts)
  const kvno = (kvnos[kvnos.length - 1] ?? 0) + 1
  if (kvno > MAX_UINT32) throw invalid('KVNO_EXHAUSTED', `"${name}" has used every kvno`)
  const key = options.key === undefined ? generateKey() : checkKey(options.key)
  const ops: StoreOp[] = [
    putKey(ctx, name, kvno, key, ctx.now),
    putPrincipal({ ...state.record, updatedAt: ctx.now }),
  ]
  for (const old of kvnos.slice(0, Math.max(0, kvnos.length + 1 - keep))) {
    ops.push({ kind: 'del', key: keyRecordKey(name, old) })
  }
  return ops
}

export function planSetPolicy(current: Policy, rules: readonly PolicyRule[]): StoreOp[] {
  let policy: Policy
  try {
    const canonical = rules.map((r) => ({ ...r, scopes: canonicalScopes(r.scopes) }))
    // Round-trip through the wire form: the stored policy is exactly what parsePolicy accepts.
    policy = parsePolicy(policyToWire({ version: current.version + 1, rules: canonical }))
  } catch (err) {
    throw invalid('BAD_POLICY', 'the policy is invalid (rule ids, selectors or scopes)', err)
  }
  return [{ kind: 'put', key: POLICY_KEY, value: encodePolicy(policy) }]
}

/** Every key record, re-sealed under `ring`'s current master version (a master-key roll). */
export function planReseal(ctx: PlanContext, ring: MasterKeyring): StoreOp[] {
  const ops: StoreOp[] = []
  for (const state of ctx.principals.values()) {
    for (const k of state.keys.values()) {
      ops.push(putKey(ctx, state.record.name, k.kvno, k.key, k.createdAt, ring))
    }
  }
  return ops
}
