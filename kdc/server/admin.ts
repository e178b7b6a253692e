/**
 * The admin operations (docs/protocol-admin.md), run once the dispatcher has authenticated an
 * ADMIN_REQ (a service ticket for `kadmin` plus an authenticator) and opened its payload.
 *
 * Pipeline per request: ACL membership → parse → ACL per op → check against the store → mutate
 * (the store re-checks the ACL and the last-admin rule inside its queue, just before the write) →
 * reply; one audit event per request whatever the outcome (who, op, target, outcome code, policy
 * version), never key material. Errors are BrokerErrors with ERR_ADMIN_* codes; the dispatcher
 * sends them as ERROR frames (the wire carries only the code; the CLI explains it).
 */
import {
  ADMIN_LIST_PAGE_BYTES,
  ADMIN_READ_OPS,
  BrokerError,
  buildAdminReply,
  encode,
  isBrokerError,
  isReservedPrincipal,
  MAX_ADMIN_PLAINTEXT_BYTES,
  MAX_SCOPES,
  parseAdminRequest,
  policyPlaintextBytes,
  type AdminOp,
  type AdminRequest,
  type AdminRequestOf,
  type Keytab,
  type PrincipalInfo,
  type WireValue,
} from '../protocol/index.js'
import type { MutationOptions, PrincipalEntry } from '../store/store.js'
import type { AdminDeps } from './admin-types.js'
import { grantFor, matchingRules, POLICY_STATUS } from './policy.js'

/** Group whose members may perform every admin operation (docs/internals.md). */
export const ADMIN_GROUP = 'admins'
/** Group whose members may perform only the read operations. */
export const ADMIN_READER_GROUP = 'admin-readers'

function forbidden(status: string): BrokerError<'ERR_ADMIN_FORBIDDEN'> {
  return new BrokerError('ERR_ADMIN_FORBIDDEN', { status })
}
function notFound(name: string): BrokerError<'ERR_ADMIN_NOT_FOUND'> {
  return new BrokerError('ERR_ADMIN_NOT_FOUND', {
    status: 'NO_SUCH_PRINCIPAL',
    message: `no principal named ${name}`,
  })
}
function invalid(status: string, message: string): BrokerError<'ERR_ADMIN_INVALID'> {
  return new BrokerError('ERR_ADMIN_INVALID', { status, message })
}

/** The principal as the admin exchange shows it: everything but the keys. */
export function principalInfo(p: PrincipalEntry): PrincipalInfo {
  return {
    name: p.name,
    id: p.id,
    enabled: p.enabled,
    groups: [...p.groups].sort(),
    kvnos: p.keys.map((k) => k.kvno).sort((a, b) => a - b),
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
  }
}

function keytabOf(realm: string, p: PrincipalEntry): Keytab {
  return { realm, principal: p.name, keys: p.keys }
}

/** Which ops the caller may run: all, reads only, or none. */
function accessOf(caller: PrincipalEntry): 'all' | 'read' | 'none' {
  if (!caller.enabled) return 'none'
  if (caller.groups.includes(ADMIN_GROUP)) return 'all'
  if (caller.groups.includes(ADMIN_READER_GROUP)) return 'read'
  return 'none'
}

/** True when the caller is in the admin ACL at all (admins or admin-readers, and enabled). */
export function hasAdminAccess(caller: PrincipalEntry): boolean {
  return accessOf(caller) !== 'none'
}

function targetOf(req: AdminRequest): string | undefined {
  switch (req.op) {
    case 'principal.add':
    case 'principal.show':
    case 'principal.disable':
    case 'principal.enable':
    case 'principal.delete':
    case 'keytab.export':
    case 'key.rotate':
      return req.name
    case 'policy.check':
      return `${req.caller}->${req.target}`
    case 'principal.list':
      return req.group === undefined ? undefined : `group:${req.group}`
    case 'policy.apply':
    case 'policy.show':
    case 'status':
      return undefined
  }
}

function existing(deps: AdminDeps, name: string): PrincipalEntry {
  const p = deps.store.getPrincipal(name)
  if (p === undefined) throw notFound(name)
  return p
}

/**
 * The checks that must still hold when a write commits, not only when the request arrived: run by
 * the store inside its mutation queue (MutationOptions.precondition), so no other mutation can
 * commit in between. The caller must still be the same enabled member of `admins` (another
 * admin may have disabled or deleted it meanwhile), and, when `demoted` names a principal this
 * write disables or deletes, the realm must keep another enabled member of `admins`.
 */
function stillAllowed(caller: PrincipalEntry, demoted?: string): MutationOptions {
  return {
    precondition: (view) => {
      const now = view.getPrincipal(caller.name)
      // Deleted, or deleted and registered again under its name: not the principal that asked.
      if (now?.id !== caller.id) throw forbidden('CALLER_REVOKED')
      if (accessOf(now) !== 'all') throw forbidden(now.enabled ? 'NOT_IN_ACL' : 'CALLER_DISABLED')
      if (demoted === undefined) return
      const target = view.getPrincipal(demoted)
      if (target === undefined || !target.enabled || !target.groups.includes(ADMIN_GROUP)) return
      const others = view
        .listPrincipals({ group: ADMIN_GROUP })
        .filter((p) => p.enabled && p.name !== demoted)
      if (others.length === 0) {
        throw invalid(
          'LAST_ADMIN',
          `refusing to disable or delete ${demoted}: it is the last enabled member of '${ADMIN_GROUP}'; add another admin first`,
        )
      }
    },
  }
}

function notSelf(caller: PrincipalEntry, name: string, op: AdminOp): void {
  // An admin locking itself out is almost always a mistake; another admin can do it.
  if (caller.name === name) {
    throw invalid('SELF', `${op}: refusing to act on the principal making the request`)
  }
}

async function run(deps: AdminDeps, caller: PrincipalEntry, req: AdminRequest): Promise<WireValue> {
  const { store } = deps
  switch (req.op) {
    case 'principal.add': {
      if (store.getPrincipal(req.name) !== undefined) {
        throw new BrokerError('ERR_ADMIN_EXISTS', { status: 'EXISTS' })
      }
      const p = await store.addPrincipal(
        { name: req.name, groups: req.groups },
        stillAllowed(caller),
      )
      return buildAdminReply(req.op, {
        principal: principalInfo(p),
        keytab: keytabOf(store.realm, p),
      })
    }
    case 'principal.list':
      return listPage(deps, req)
    case 'principal.show':
      return buildAdminReply(req.op, principalInfo(existing(deps, req.name)))
    case 'principal.disable':
    case 'principal.enable': {
      existing(deps, req.name)
      const enable = req.op === 'principal.enable'
      if (!enable) notSelf(caller, req.name, req.op)
      const p = await store.setEnabled(
        req.name,
        enable,
        stillAllowed(caller, enable ? undefined : req.name),
      )
      return buildAdminReply(req.op, principalInfo(p))
    }
    case 'principal.delete': {
      existing(deps, req.name)
      notSelf(caller, req.name, req.op)
      await store.deletePrincipal(req.name, stillAllowed(caller, req.name))
      return buildAdminReply(req.op, { name: req.name })
    }
    case 'keytab.export': {
      // The TGS and admin keys forge any ticket: they never leave the KDC.
      if (isReservedPrincipal(req.name)) {
        throw invalid('RESERVED_NAME', `keytab.export: ${req.name} keys never leave the KDC`)
      }
      return buildAdminReply(req.op, keytabOf(store.realm, existing(deps, req.name)))
    }
    case 'key.rotate': {
      existing(deps, req.name)
      if (req.withKeys && isReservedPrincipal(req.name)) {
        throw invalid('RESERVED_NAME', `key.rotate: ${req.name} keys never leave the KDC`)
      }
      // keep 0 asks for the store's default (3); the parser bounded keep to 16.
      const p = await store.rotateKey(req.name, {
        ...(req.keep === 0 ? {} : { keep: req.keep }),
        ...stillAllowed(caller),
      })
      return buildAdminReply(req.op, {
        principal: principalInfo(p),
        keytab: req.withKeys ? keytabOf(store.realm, p) : undefined,
      })
    }
    case 'policy.apply': {
      for (const rule of req.rules) {
        if (isReservedPrincipal(rule.target)) {
          throw invalid(
            'RESERVED_TARGET',
            `rule '${rule.id}': target ${rule.target} is reserved for the KDC: krbtgt is never issued, and kadmin needs no rule (the admin ACL decides each operation)`,
          )
        }
      }
      const size = policyPlaintextBytes(req.rules)
      if (size > MAX_ADMIN_PLAINTEXT_BYTES) {
        // The request fit, but policy.show could not send this policy back.
        throw invalid(
          'POLICY_TOO_LARGE',
          `the policy takes ${String(size)} bytes in a policy.show reply, above the admin payload limit of ${String(MAX_ADMIN_PLAINTEXT_BYTES)}`,
        )
      }
      const policy = await store.setPolicy(req.rules, stillAllowed(caller))
      return buildAdminReply(req.op, { version: policy.version })
    }
    case 'policy.show':
      return buildAdminReply(req.op, store.getPolicy())
    case 'policy.check':
      return policyCheck(deps, req)
    case 'status':
      return buildAdminReply(req.op, deps.status())
  }
}

function listPage(deps: AdminDeps, req: AdminRequestOf<'principal.list'>): WireValue {
  const all = deps.store
    .listPrincipals(req.group === undefined ? undefined : { group: req.group })
    .filter((p) => p.name > req.after)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const page: PrincipalInfo[] = []
  let bytes = 0
  for (const p of all) {
    if (page.length >= req.limit) break
    const info = principalInfo(p)
    const size = encode(buildAdminReply('principal.show', info)).length
    if (page.length > 0 && bytes + size > ADMIN_LIST_PAGE_BYTES) break
    page.push(info)
    bytes += size
  }
  const last = page[page.length - 1]
  const next = page.length < all.length && last !== undefined ? last.name : ''
  return buildAdminReply('principal.list', { principals: page, next })
}

function policyCheck(deps: AdminDeps, req: AdminRequestOf<'policy.check'>): WireValue {
  const caller = existing(deps, req.caller)
  const target = existing(deps, req.target)
  const policy = deps.store.getPolicy()
  // The same function the TGS uses, so the dry run cannot disagree with issuance.
  try {
    const grant = grantFor(policy, caller, target, req.scopes)
    return buildAdminReply(req.op, {
      allowed: true,
      ruleIds: grant.ruleIds,
      grantedScopes: grant.scopes,
      policyVersion: grant.policyVersion,
      maxLifetime: grant.maxLifetime,
      reason: '',
    })
  } catch (err) {
    if (!isBrokerError(err, 'ERR_KDC_POLICY')) throw err
    // No rule decides for a reserved target (krbtgt is never issued), whatever the policy says.
    const rules = isReservedPrincipal(target.name) ? [] : matchingRules(policy, caller, target)
    let granted = [...new Set(rules.flatMap((r) => r.scopes))].sort()
    const tooMany = err.status === POLICY_STATUS.TOO_MANY_SCOPES
    // A reply carries at most MAX_SCOPES scopes: past that, those of the requested ones the rules
    // grant (none when all were asked for), which still shows what is missing.
    if (granted.length > MAX_SCOPES) granted = granted.filter((s) => req.scopes.includes(s))
    return buildAdminReply(req.op, {
      allowed: false,
      ruleIds: rules.map((r) => r.id).sort(),
      grantedScopes: granted,
      policyVersion: policy.version,
      maxLifetime: 0,
      reason: rules.length === 0 ? 'NO_RULE' : tooMany ? 'TOO_MANY_SCOPES' : 'SCOPE_NOT_GRANTED',
    })
  }
}

/**
 * Run one authenticated admin request. `caller` is the principal the admin ticket names, as the
 * store holds it now. Returns the reply plaintext; throws BrokerError (ERR_ADMIN_FORBIDDEN,
 * ERR_ADMIN_NOT_FOUND, ERR_ADMIN_EXISTS, ERR_ADMIN_INVALID, ERR_PROTO_MALFORMED, or a store error).
 */
export async function executeAdminOp(
  deps: AdminDeps,
  caller: PrincipalEntry,
  request: WireValue,
): Promise<WireValue> {
  let op = 'unparsed'
  let target: string | undefined
  try {
    // Outsiders learn nothing, not even whether their request was well-formed.
    const access = accessOf(caller)
    if (access === 'none') throw forbidden(caller.enabled ? 'NOT_IN_ACL' : 'CALLER_DISABLED')
    const req = parseAdminRequest(request)
    op = req.op
    target = targetOf(req)
    if (access === 'read' && !ADMIN_READ_OPS.has(req.op)) throw forbidden('READ_ONLY')
    const reply = await run(deps, caller, req)
    audit(deps, caller, op, target, 'OK', undefined)
    return reply
  } catch (err) {
    const code = isBrokerError(err) ? err.code : 'ERR_KDC_INTERNAL'
    const status = isBrokerError(err) ? err.status : undefined
    audit(deps, caller, op, target, code, status)
    throw err
  }
}

function audit(
  deps: AdminDeps,
  caller: PrincipalEntry,
  op: string,
  target: string | undefined,
  outcome: string,
  status: string | undefined,
): void {
  let policyVersion: number | undefined
  try {
    policyVersion = deps.store.getPolicy().version
  } catch {
    policyVersion = undefined
  }
  const event: Record<string, unknown> = {
    event: 'admin',
    caller: caller.name,
    op,
    outcome,
  }
  if (target !== undefined) event.target = target
  if (status !== undefined) event.status = status
  if (policyVersion !== undefined) event.policyVersion = policyVersion
  deps.audit(event)
}
