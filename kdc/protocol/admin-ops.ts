/**
 * Admin operation schemas (docs/protocol-admin.md): the plaintext of the sealed admin payloads of
 * ADMIN_REQ / ADMIN_REP (docs/protocol.md §5.6).
 *
 *   request = [op, args]      op: string, args: positional array, exact arity per op
 *   reply   = [op, result]    op echoes the request's op; result: shape per op
 *
 * Both sides validate: shape and type defects are ERR_PROTO_MALFORMED; a well-formed request with a
 * bad value (unknown op, name outside the grammar, reserved name, duplicate rule id) is
 * ERR_ADMIN_INVALID. Optional values are arrays of zero or one item, so every op has a fixed arity;
 * booleans are the uints 0 and 1 (the wire has no booleans, docs/protocol.md §2). Only the ops whose
 * purpose is to hand out a keytab (principal.add, keytab.export, key.rotate with keys) carry key
 * material; every other result is free of secrets.
 */
import { encode, type WireValue } from './codec.js'
import { BrokerError } from './errors.js'
import type { Keytab, KeyVersion } from './keys.js'
import { MAX_KEYTAB_KEYS } from './keys.js'
import {
  KEY_BYTES,
  MAX_ADMIN_SEALED_BYTES,
  MAX_GROUPS,
  MAX_TICKET_LIFETIME_S,
  NONCE_BYTES,
  TAG_BYTES,
} from './limits.js'
import { parsePolicy, parseRule, policyToWire, ruleToWire } from './policy-rules.js'
import type { Policy, PolicyRule } from './policy-rules.js'
import { MAX_POLICY_RULES } from './policy-rules.js'
import { isGroupName, isPrincipalName, isReservedPrincipal } from './principal.js'
import { bad, bytesExact, realm as parseRealmField, scopes, text, tuple, uint } from './schema.js'

/** Every admin operation, by its wire name. */
export const ADMIN_OPS = [
  'principal.add',
  'principal.list',
  'principal.show',
  'principal.disable',
  'principal.enable',
  'principal.delete',
  'keytab.export',
  'key.rotate',
  'policy.apply',
  'policy.show',
  'policy.check',
  'status',
] as const

export type AdminOp = (typeof ADMIN_OPS)[number]

/** The ops members of group `admin-readers` may perform (docs/internals.md, admin ACL). */
export const ADMIN_READ_OPS: ReadonlySet<AdminOp> = new Set<AdminOp>([
  'principal.list',
  'principal.show',
  'policy.show',
  'policy.check',
  'status',
])

/** Longest op name on the wire. */
export const MAX_ADMIN_OP_BYTES = 32
/** Most principals in one principal.list page (the byte budget below usually stops it first). */
export const MAX_ADMIN_LIST_PAGE = 256
/** Plaintext bytes a principal.list page may fill; leaves room for the envelope in the sealed limit. */
export const ADMIN_LIST_PAGE_BYTES = 32_768
/** Largest admin payload plaintext: the sealed limit minus nonce and tag. */
export const MAX_ADMIN_PLAINTEXT_BYTES = MAX_ADMIN_SEALED_BYTES - NONCE_BYTES - TAG_BYTES
/** Principal ids: 32 lower-case hex characters. */
export const PRINCIPAL_ID_PATTERN = /^[0-9a-f]{32}$/
/** Free-text status fields (software version, role, node id). */
export const MAX_STATUS_TEXT_BYTES = 128

// ---- requests --------------------------------------------------------------------------------

/** The arguments of each op, as the wire carries them (docs/protocol-admin.md). */
export interface AdminArgs {
  readonly 'principal.add': { readonly name: string; readonly groups: readonly string[] }
  readonly 'principal.list': {
    /** Only members of this group; undefined for all. */
    readonly group: string | undefined
    /** Resume after this name ("" = from the start); names ascend. */
    readonly after: string
    readonly limit: number
  }
  readonly 'principal.show': { readonly name: string }
  readonly 'principal.disable': { readonly name: string }
  readonly 'principal.enable': { readonly name: string }
  readonly 'principal.delete': { readonly name: string }
  readonly 'keytab.export': { readonly name: string }
  /** `keep`: key versions left live, the new one included (1..16); 0 = the KDC's default (3). */
  readonly 'key.rotate': {
    readonly name: string
    readonly withKeys: boolean
    readonly keep: number
  }
  readonly 'policy.apply': { readonly rules: readonly PolicyRule[] }
  readonly 'policy.show': object
  readonly 'policy.check': {
    readonly caller: string
    readonly target: string
    /** Requested scopes, sorted and distinct; empty asks for everything policy grants. */
    readonly scopes: readonly string[]
  }
  readonly status: object
}

/** The request for one op. */
export type AdminRequestOf<O extends AdminOp> = { readonly op: O } & AdminArgs[O]

/** Any admin request (a union discriminated by `op`). */
export type AdminRequest = { [O in AdminOp]: AdminRequestOf<O> }[AdminOp]

function invalid(status: string, message: string): BrokerError<'ERR_ADMIN_INVALID'> {
  return new BrokerError('ERR_ADMIN_INVALID', { status, message })
}

function isAdminOp(value: string): value is AdminOp {
  return (ADMIN_OPS as readonly string[]).includes(value)
}

/** A name argument: a principal name, and for writes not a reserved one. */
function nameArg(value: WireValue | undefined, op: AdminOp): string {
  if (typeof value !== 'string') throw bad('admin_name')
  if (!isPrincipalName(value)) throw invalid('BAD_NAME', `${op}: invalid principal name`)
  return value
}

function writableName(value: WireValue | undefined, op: AdminOp): string {
  const name = nameArg(value, op)
  if (isReservedPrincipal(name)) {
    throw invalid('RESERVED_NAME', `${op}: ${name} is reserved for the KDC`)
  }
  return name
}

/** A 0/1 flag. */
function flag(value: WireValue | undefined, field: string): boolean {
  return uint(value, field, 1) === 1
}

/** An optional value: an array of zero or one item. */
function optional(value: WireValue | undefined, field: string): WireValue | undefined {
  if (!Array.isArray(value) || value.length > 1) throw bad(field)
  return (value as readonly WireValue[])[0]
}

/** A group list: at most MAX_GROUPS group names, strictly ascending (one encoding per set). */
function groupList(value: WireValue | undefined, field: string): readonly string[] {
  if (!Array.isArray(value) || value.length > MAX_GROUPS) throw bad(field)
  const list = value as readonly WireValue[]
  for (let i = 0; i < list.length; i++) {
    const g = list[i]
    if (typeof g !== 'string') throw bad(field)
    if (!isGroupName(g)) throw invalid('BAD_GROUP', `invalid group name`)
    if (i > 0 && !((list[i - 1] as string) < g)) throw bad(field)
  }
  return list as readonly string[]
}

function parseRules(value: WireValue | undefined): readonly PolicyRule[] {
  if (!Array.isArray(value) || value.length > MAX_POLICY_RULES) throw bad('rules')
  const rules: PolicyRule[] = []
  const ids = new Set<string>()
  for (const item of value as readonly WireValue[]) {
    let rule: PolicyRule
    try {
      rule = parseRule(item)
    } catch (err) {
      // Values inside a well-formed rule tuple (a bad selector or id) are the admin's mistake.
      if (Array.isArray(item) && item.length === 5) {
        throw invalidWithCause(
          'BAD_RULE',
          'policy.apply: a rule has an invalid id, selector or scope',
          err,
        )
      }
      throw err
    }
    if (ids.has(rule.id)) throw invalid('DUPLICATE_RULE_ID', 'policy.apply: duplicate rule id')
    ids.add(rule.id)
    rules.push(rule)
  }
  return rules
}

function invalidWithCause(status: string, message: string, cause: unknown): BrokerError {
  return new BrokerError('ERR_ADMIN_INVALID', { status, message, cause })
}

/** Parse a request plaintext (server side). */
export function parseAdminRequest(value: WireValue): AdminRequest {
  const f = tuple(value, 2, 'admin_request')
  const op = text(f[0], MAX_ADMIN_OP_BYTES, 'admin_op')
  if (!Array.isArray(f[1])) throw bad('admin_args')
  if (!isAdminOp(op)) throw invalid('UNKNOWN_OP', 'unknown admin operation')
  const args = f[1] as readonly WireValue[]
  switch (op) {
    case 'principal.add': {
      const a = tuple(args, 2, op)
      return { op, name: writableName(a[0], op), groups: groupList(a[1], 'groups') }
    }
    case 'principal.list': {
      const a = tuple(args, 3, op)
      const group = optional(a[0], 'group')
      if (group !== undefined && typeof group !== 'string') throw bad('group')
      if (group !== undefined && !isGroupName(group)) throw invalid('BAD_GROUP', 'bad group')
      const after = text(a[1], 63, 'after')
      if (after !== '' && !isPrincipalName(after)) throw bad('after')
      const limit = uint(a[2], 'limit', MAX_ADMIN_LIST_PAGE)
      if (limit === 0) throw bad('limit')
      return { op, group, after, limit }
    }
    case 'principal.show':
    case 'keytab.export': {
      const a = tuple(args, 1, op)
      return { op, name: nameArg(a[0], op) }
    }
    case 'principal.disable':
    case 'principal.enable':
    case 'principal.delete': {
      const a = tuple(args, 1, op)
      return { op, name: writableName(a[0], op) }
    }
    case 'key.rotate': {
      const a = tuple(args, 3, op)
      return {
        op,
        name: nameArg(a[0], op),
        withKeys: flag(a[1], 'with_keys'),
        keep: uint(a[2], 'keep', MAX_KEYTAB_KEYS),
      }
    }
    case 'policy.apply': {
      const a = tuple(args, 1, op)
      return { op, rules: parseRules(a[0]) }
    }
    case 'policy.show':
    case 'status':
      tuple(args, 0, op)
      return { op }
    case 'policy.check': {
      const a = tuple(args, 3, op)
      return {
        op,
        caller: nameArg(a[0], op),
        target: nameArg(a[1], op),
        scopes: scopes(a[2], 'scopes'),
      }
    }
  }
}

/** Build a request plaintext (client side). Misuse (a bad name) throws TypeError/RangeError. */
export function buildAdminRequest(req: AdminRequest): WireValue {
  const out = ((): WireValue => {
    switch (req.op) {
      case 'principal.add':
        return [req.op, [req.name, [...new Set(req.groups)].sort()]]
      case 'principal.list':
        return [req.op, [req.group === undefined ? [] : [req.group], req.after, req.limit]]
      case 'principal.show':
      case 'principal.disable':
      case 'principal.enable':
      case 'principal.delete':
      case 'keytab.export':
        return [req.op, [req.name]]
      case 'key.rotate':
        return [req.op, [req.name, req.withKeys ? 1 : 0, req.keep]]
      case 'policy.apply':
        return [req.op, [req.rules.map(ruleToWire)]]
      case 'policy.show':
      case 'status':
        return [req.op, []]
      case 'policy.check':
        return [req.op, [req.caller, req.target, [...new Set(req.scopes)].sort()]]
    }
  })()
  // Our own parser is the schema: a request we would refuse is a caller bug, said plainly.
  try {
    parseAdminRequest(out)
  } catch (err) {
    throw new TypeError(`invalid admin request: ${(err as Error).message}`, { cause: err })
  }
  return out
}

// ---- results ---------------------------------------------------------------------------------

/** What the admin exchange says about a principal: never its keys. */
export interface PrincipalInfo {
  readonly name: string
  readonly id: string
  readonly enabled: boolean
  readonly groups: readonly string[]
  /** Live key versions, ascending; the last is current. */
  readonly kvnos: readonly number[]
  readonly createdAt: number
  readonly updatedAt: number
}

/** The KDC's status (kdc/server/admin-types.ts KdcStatus has this shape). */
export interface AdminStatus {
  readonly realm: string
  /** Software version. */
  readonly version: string
  /** Replication role, e.g. "writer" or "replica". */
  readonly role: string
  readonly principals: number
  readonly policyVersion: number
  readonly uptimeSeconds: number
  /** Node id. */
  readonly node: string
}

/**
 * Why a policy dry run denied: no rule matched, a requested scope is not granted, or all scopes
 * were asked for and the matching rules grant more than a ticket holds.
 */
export const POLICY_DENIAL_REASONS = [
  '',
  'NO_RULE',
  'SCOPE_NOT_GRANTED',
  'TOO_MANY_SCOPES',
] as const
export type PolicyDenialReason = (typeof POLICY_DENIAL_REASONS)[number]

/** The outcome of a policy dry run, as the TGS would decide it. */
export interface PolicyDecision {
  readonly allowed: boolean
  /**
   * Allowed: the rules that decided (sorted ids). Denied: the rules that matched caller and target
   * (none for NO_RULE).
   */
  readonly ruleIds: readonly string[]
  /** Allowed: the scopes the ticket would carry. Denied: what the matching rules grant. */
  readonly grantedScopes: readonly string[]
  readonly policyVersion: number
  /** Seconds; 0 = no cap from policy (the realm maximum still applies). */
  readonly maxLifetime: number
  /** '' when allowed. */
  readonly reason: PolicyDenialReason
}

export interface AdminResults {
  'principal.add': { readonly principal: PrincipalInfo; readonly keytab: Keytab }
  'principal.list': { readonly principals: readonly PrincipalInfo[]; readonly next: string }
  'principal.show': PrincipalInfo
  'principal.disable': PrincipalInfo
  'principal.enable': PrincipalInfo
  'principal.delete': { readonly name: string }
  'keytab.export': Keytab
  'key.rotate': { readonly principal: PrincipalInfo; readonly keytab: Keytab | undefined }
  'policy.apply': { readonly version: number }
  'policy.show': Policy
  'policy.check': PolicyDecision
  status: AdminStatus
}

function infoToWire(p: PrincipalInfo): WireValue {
  return [p.name, p.id, p.enabled ? 1 : 0, [...p.groups], [...p.kvnos], p.createdAt, p.updatedAt]
}

function parseInfo(value: WireValue | undefined): PrincipalInfo {
  const f = tuple(value ?? 0, 7, 'principal_info')
  const id = text(f[1], 32, 'principal_id')
  if (!PRINCIPAL_ID_PATTERN.test(id)) throw bad('principal_id')
  if (!Array.isArray(f[4]) || f[4].length > MAX_KEYTAB_KEYS) throw bad('kvnos')
  const kvnos = (f[4] as readonly WireValue[]).map((k) => uint(k, 'kvno'))
  for (let i = 1; i < kvnos.length; i++) {
    if ((kvnos[i - 1] as number) >= (kvnos[i] as number)) throw bad('kvnos')
  }
  return {
    name: nameOrBad(f[0], 'principal_name'),
    id,
    enabled: flag(f[2], 'enabled'),
    groups: groupList(f[3], 'groups'),
    kvnos,
    createdAt: uint(f[5], 'created_at'),
    updatedAt: uint(f[6], 'updated_at'),
  }
}

function nameOrBad(value: WireValue | undefined, field: string): string {
  if (!isPrincipalName(value)) throw bad(field)
  return value
}

function keytabToWire(k: Keytab): WireValue {
  const keys = [...k.keys].sort((a, b) => a.kvno - b.kvno)
  return [k.realm, k.principal, keys.map((v) => [v.kvno, v.key, v.createdAt])]
}

function parseKeytabEntries(value: WireValue | undefined): Keytab {
  const f = tuple(value ?? 0, 3, 'keytab')
  if (!Array.isArray(f[2]) || f[2].length === 0 || f[2].length > MAX_KEYTAB_KEYS) {
    throw bad('keytab_keys')
  }
  const keys: KeyVersion[] = []
  for (const e of f[2] as readonly WireValue[]) {
    const k = tuple(e, 3, 'keytab_entry')
    const kvno = uint(k[0], 'kvno')
    const previous = keys[keys.length - 1]
    if (previous !== undefined && previous.kvno >= kvno) throw bad('kvno_order')
    keys.push({ kvno, key: bytesExact(k[1], KEY_BYTES, 'key').slice(), createdAt: uint(k[2], 't') })
  }
  return { realm: parseRealmField(f[0]), principal: nameOrBad(f[1], 'principal'), keys }
}

function statusText(value: WireValue | undefined, field: string): string {
  return text(value, MAX_STATUS_TEXT_BYTES, field)
}

function resultToWire(op: AdminOp, r: AdminResults[AdminOp]): WireValue {
  switch (op) {
    case 'principal.add': {
      const x = r as AdminResults[typeof op]
      return [infoToWire(x.principal), keytabToWire(x.keytab)]
    }
    case 'principal.list': {
      const x = r as AdminResults[typeof op]
      return [x.principals.map(infoToWire), x.next]
    }
    case 'principal.show':
    case 'principal.disable':
    case 'principal.enable':
      return infoToWire(r as PrincipalInfo)
    case 'principal.delete':
      return [(r as AdminResults[typeof op]).name]
    case 'keytab.export':
      return keytabToWire(r as Keytab)
    case 'key.rotate': {
      const x = r as AdminResults[typeof op]
      return [infoToWire(x.principal), x.keytab === undefined ? [] : [keytabToWire(x.keytab)]]
    }
    case 'policy.apply':
      return [(r as AdminResults[typeof op]).version]
    case 'policy.show':
      return policyToWire(r as Policy)
    case 'policy.check': {
      const x = r as PolicyDecision
      return [
        x.allowed ? 1 : 0,
        [...x.ruleIds],
        [...x.grantedScopes].sort(),
        x.policyVersion,
        x.maxLifetime,
        x.reason,
      ]
    }
    case 'status': {
      const s = r as AdminStatus
      return [s.realm, s.version, s.role, s.principals, s.policyVersion, s.uptimeSeconds, s.node]
    }
  }
}

function parseResult(op: AdminOp, v: WireValue | undefined): AdminResults[AdminOp] {
  switch (op) {
    case 'principal.add': {
      const f = tuple(v ?? 0, 2, op)
      return { principal: parseInfo(f[0]), keytab: parseKeytabEntries(f[1]) }
    }
    case 'principal.list': {
      const f = tuple(v ?? 0, 2, op)
      if (!Array.isArray(f[0]) || f[0].length > MAX_ADMIN_LIST_PAGE) throw bad('principals')
      const next = text(f[1], 63, 'next')
      if (next !== '' && !isPrincipalName(next)) throw bad('next')
      return { principals: (f[0] as readonly WireValue[]).map(parseInfo), next }
    }
    case 'principal.show':
    case 'principal.disable':
    case 'principal.enable':
      return parseInfo(v)
    case 'principal.delete':
      return { name: nameOrBad(tuple(v ?? 0, 1, op)[0], 'name') }
    case 'keytab.export':
      return parseKeytabEntries(v)
    case 'key.rotate': {
      const f = tuple(v ?? 0, 2, op)
      const k = optional(f[1], 'keytab_opt')
      return { principal: parseInfo(f[0]), keytab: k === undefined ? k : parseKeytabEntries(k) }
    }
    case 'policy.apply':
      return { version: uint(tuple(v ?? 0, 1, op)[0], 'policy_version') }
    case 'policy.show':
      return parsePolicy(v ?? 0)
    case 'policy.check': {
      const f = tuple(v ?? 0, 6, op)
      if (!Array.isArray(f[1]) || f[1].length > MAX_POLICY_RULES) throw bad('rule_ids')
      const ruleIds = (f[1] as readonly WireValue[]).map((id) => text(id, 64, 'rule_id'))
      const allowed = flag(f[0], 'allowed')
      const reason = f[5]
      if (!POLICY_DENIAL_REASONS.includes(reason as PolicyDenialReason)) throw bad('reason')
      if (allowed !== (reason === '')) throw bad('reason')
      return {
        allowed,
        ruleIds,
        grantedScopes: scopes(f[2], 'granted_scopes'),
        policyVersion: uint(f[3], 'policy_version'),
        maxLifetime: uint(f[4], 'max_lifetime', MAX_TICKET_LIFETIME_S),
        reason: reason as PolicyDenialReason,
      }
    }
    case 'status': {
      const f = tuple(v ?? 0, 7, op)
      return {
        realm: parseRealmField(f[0]),
        version: statusText(f[1], 'version'),
        role: statusText(f[2], 'role'),
        principals: uint(f[3], 'principals'),
        policyVersion: uint(f[4], 'policy_version'),
        uptimeSeconds: uint(f[5], 'uptime'),
        node: statusText(f[6], 'node'),
      }
    }
  }
}

/** Build a reply plaintext [op, result] (server side). */
export function buildAdminReply<O extends AdminOp>(op: O, result: AdminResults[O]): WireValue {
  return [op, resultToWire(op, result)]
}

/**
 * The largest admin plaintext a policy of `rules` takes: its policy.apply request, or its
 * policy.show reply at the largest version number (whichever is longer). A KDC refuses a policy
 * over MAX_ADMIN_PLAINTEXT_BYTES by this measure, so that policy.show can always send it back.
 */
export function policyPlaintextBytes(rules: readonly PolicyRule[]): number {
  return Math.max(
    encode(buildAdminRequest({ op: 'policy.apply', rules })).length,
    encode(buildAdminReply('policy.show', { version: 0xffff_ffff, rules })).length,
  )
}

/** Parse a reply plaintext for the op that was asked (client side); the op must be echoed. */
export function parseAdminReply<O extends AdminOp>(op: O, value: WireValue): AdminResults[O] {
  const f = tuple(value, 2, 'admin_reply')
  if (f[0] !== op) throw bad('admin_reply_op')
  return parseResult(op, f[1]) as AdminResults[O]
}
