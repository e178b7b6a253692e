/**
 * The policy engine (design brief §6, house style C6; cf. krb5 tgs_policy.c): default deny, rules as
 * data, and a pure decision function of (policy, caller record, target record, requested scopes).
 *
 * A rule matches when its caller selector names the caller (or `group:G` with G among the caller's
 * groups) AND its target selector names the target likewise. The granted scopes are the union of
 * the matching rules' scopes; a request may only narrow them.
 *
 * Lifetime cap with several matching rules: every scope in the ticket must be justified by a rule
 * whose cap the ticket respects. So the cap of one scope is the LARGEST cap among the rules that
 * grant it (0 = no cap), and the ticket's cap is the SMALLEST of those over its scopes. A ticket
 * with no scopes is capped by the most permissive matching rule.
 */
import {
  ADMIN_PRINCIPAL,
  BrokerError,
  MAX_SCOPES,
  TGS_PRINCIPAL,
  type Policy,
  type PolicyRule,
} from '../protocol/index.js'

/** The parts of a principal record the policy looks at. */
export interface PolicySubject {
  readonly name: string
  readonly groups: readonly string[]
}

export interface PolicyGrant {
  /** Canonical: sorted, distinct. */
  readonly scopes: readonly string[]
  /** The rules that decided (sorted ids), for the ticket's audit record. */
  readonly ruleIds: readonly string[]
  /** Seconds; 0 = no cap from policy. */
  readonly maxLifetime: number
  readonly policyVersion: number
}

/** Status tags of denials (audit only; the wire says ERR_KDC_POLICY). */
export const POLICY_STATUS = Object.freeze({
  NO_RULE: 'NO_RULE',
  SCOPE_NOT_GRANTED: 'SCOPE_NOT_GRANTED',
  /**
   * Asked for "everything policy grants" where the matching rules together grant more scopes than
   * a ticket holds (MAX_SCOPES): the caller must name the scopes it needs.
   */
  TOO_MANY_SCOPES: 'TOO_MANY_SCOPES',
} as const)

/** True when `selector` (a principal name or "group:NAME") selects `subject`. */
export function selectorMatches(selector: string, subject: PolicySubject): boolean {
  if (selector.startsWith('group:')) return subject.groups.includes(selector.slice(6))
  return selector === subject.name
}

/** The rules of `policy` that match caller AND target, in policy order. */
export function matchingRules(
  policy: Policy,
  caller: PolicySubject,
  target: PolicySubject,
): PolicyRule[] {
  return policy.rules.filter(
    (r) => selectorMatches(r.caller, caller) && selectorMatches(r.target, target),
  )
}

/** Combine caps where 0 means "unbounded". */
function capMax(a: number, b: number): number {
  return a === 0 || b === 0 ? 0 : Math.max(a, b)
}
function capMin(a: number, b: number): number {
  if (a === 0) return b
  if (b === 0) return a
  return Math.min(a, b)
}

/**
 * Decide a TGS request. Throws ERR_KDC_POLICY with status NO_RULE when no rule matches, or
 * SCOPE_NOT_GRANTED when a requested scope is not in the union of the matching rules' scopes.
 * `requested` must be canonical (the message parser guarantees sorted and distinct).
 */
export function decidePolicy(
  policy: Policy,
  caller: PolicySubject,
  target: PolicySubject,
  requested: readonly string[],
): PolicyGrant {
  const rules = matchingRules(policy, caller, target)
  if (rules.length === 0) {
    throw new BrokerError('ERR_KDC_POLICY', { status: POLICY_STATUS.NO_RULE })
  }
  const granted = new Set<string>()
  for (const r of rules) for (const s of r.scopes) granted.add(s)
  for (const s of requested) {
    if (!granted.has(s)) {
      throw new BrokerError('ERR_KDC_POLICY', { status: POLICY_STATUS.SCOPE_NOT_GRANTED })
    }
  }
  // Each rule holds at most MAX_SCOPES scopes, but several rules together may grant more than a
  // ticket can carry: then only a request that names its scopes (at most MAX_SCOPES) can be served.
  if (requested.length === 0 && granted.size > MAX_SCOPES) {
    throw new BrokerError('ERR_KDC_POLICY', { status: POLICY_STATUS.TOO_MANY_SCOPES })
  }
  const scopes = requested.length === 0 ? [...granted].sort() : [...requested]

  let maxLifetime: number
  const deciding = new Set<string>()
  if (scopes.length === 0) {
    maxLifetime = rules.reduce((acc, r) => capMax(acc, r.maxLifetime), -1)
    for (const r of rules) deciding.add(r.id)
  } else {
    maxLifetime = 0
    for (const s of scopes) {
      let capOfScope = -1
      for (const r of rules) {
        if (!r.scopes.includes(s)) continue
        deciding.add(r.id)
        capOfScope = capOfScope === -1 ? r.maxLifetime : capMax(capOfScope, r.maxLifetime)
      }
      maxLifetime = capMin(maxLifetime, capOfScope)
    }
  }
  return {
    scopes,
    ruleIds: [...deciding].sort(),
    maxLifetime: Math.max(maxLifetime, 0),
    policyVersion: policy.version,
  }
}

/**
 * The grant for a TGS request to `target`, as the TGS decides it and the admin dry run reports it:
 * kadmin needs no rule (the admin ACL applies per operation) and carries no scopes; krbtgt is never
 * a TGS target; anything else goes through the policy.
 */
export function grantFor(
  policy: Policy,
  caller: PolicySubject,
  target: PolicySubject,
  requested: readonly string[],
): PolicyGrant {
  if (target.name === TGS_PRINCIPAL) {
    throw new BrokerError('ERR_KDC_POLICY', { status: 'RESERVED_TARGET' })
  }
  if (target.name === ADMIN_PRINCIPAL) {
    if (requested.length > 0) {
      throw new BrokerError('ERR_KDC_POLICY', { status: POLICY_STATUS.SCOPE_NOT_GRANTED })
    }
    return { scopes: [], ruleIds: [], maxLifetime: 0, policyVersion: policy.version }
  }
  return decidePolicy(policy, caller, target, requested)
}
