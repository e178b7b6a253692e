/**
 * Authorization rules as they travel in admin payloads and sit in the store (docs/protocol.md §7):
 * rule = [id, caller, target, scopes, maxLifetime]. A selector is a principal name or
 * "group:NAME". maxLifetime is seconds, 0 meaning "no rule cap" (the realm maximum still applies),
 * otherwise MIN_TICKET_LIFETIME_S..MAX_TICKET_LIFETIME_S: a shorter cap could never be honoured.
 * Default deny: a call is allowed only if some rule matches caller AND target.
 */
import type { WireValue } from './codec.js'
import { MAX_TICKET_LIFETIME_S, MIN_TICKET_LIFETIME_S } from './limits.js'
import { isGroupName, isPrincipalName } from './principal.js'
import { bad, scopes as parseScopes, text, tuple, uint } from './schema.js'

export interface PolicyRule {
  readonly id: string
  readonly caller: string
  readonly target: string
  readonly scopes: readonly string[]
  readonly maxLifetime: number
}

export interface Policy {
  /** Increases by one with every applied change; stamped into every ticket and audit record. */
  readonly version: number
  readonly rules: readonly PolicyRule[]
}

/** Most rules in one policy. */
export const MAX_POLICY_RULES = 512
/** Rule ids: 1..64 characters of [A-Za-z0-9._:-]. */
export const RULE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/

export function isSelector(value: unknown): value is string {
  if (typeof value !== 'string') return false
  if (value.startsWith('group:')) return isGroupName(value.slice(6))
  return isPrincipalName(value)
}

export function ruleToWire(r: PolicyRule): WireValue {
  return [r.id, r.caller, r.target, [...r.scopes], r.maxLifetime]
}

/** A rule cap a new rule may carry: 0 (no cap) or MIN_TICKET_LIFETIME_S..MAX_TICKET_LIFETIME_S. */
export function isRuleMaxLifetime(value: unknown): value is number {
  return (
    typeof value === 'number' &&
    Number.isInteger(value) &&
    (value === 0 || (value >= MIN_TICKET_LIFETIME_S && value <= MAX_TICKET_LIFETIME_S))
  )
}

/** A rule as admin input (policy.apply): its cap is 0 or at least MIN_TICKET_LIFETIME_S. */
export function parseRule(value: WireValue): PolicyRule {
  const rule = parseStoredRule(value)
  if (!isRuleMaxLifetime(rule.maxLifetime)) throw bad('rule_max_lifetime')
  return rule
}

/**
 * A rule as a stored or replicated policy holds it. Policies written before caps of
 * 1..MIN_TICKET_LIFETIME_S-1 were refused may still hold one; they must keep loading (a refused
 * policy record would stop the KDC from opening its store), and the TGS refuses to issue tickets
 * under such a cap (kdc/server/lifetimes.ts) rather than lengthen them.
 */
function parseStoredRule(value: WireValue): PolicyRule {
  const f = tuple(value, 5, 'rule')
  const id = text(f[0], 64, 'rule_id')
  if (!RULE_ID_PATTERN.test(id)) throw bad('rule_id')
  if (!isSelector(f[1])) throw bad('rule_caller')
  if (!isSelector(f[2])) throw bad('rule_target')
  return {
    id,
    caller: f[1],
    target: f[2],
    scopes: parseScopes(f[3], 'rule_scopes'),
    maxLifetime: uint(f[4], 'rule_max_lifetime', MAX_TICKET_LIFETIME_S),
  }
}

export function policyToWire(p: Policy): WireValue {
  return [p.version, p.rules.map(ruleToWire)]
}

/**
 * A policy as the store and replication hold it (and as policy.show returns it). Its rules are read
 * as stored: a cap of 1..MIN_TICKET_LIFETIME_S-1 written before such caps were refused still loads
 * (see parseStoredRule); new rules go through parseRule.
 */
export function parsePolicy(value: WireValue): Policy {
  const f = tuple(value, 2, 'policy')
  const version = uint(f[0], 'policy_version')
  if (!Array.isArray(f[1]) || f[1].length > MAX_POLICY_RULES) throw bad('rules')
  const rules = (f[1] as readonly WireValue[]).map(parseStoredRule)
  const ids = new Set<string>()
  for (const r of rules) {
    if (ids.has(r.id)) throw bad('rule_id_duplicate')
    ids.add(r.id)
  }
  return { version, rules }
}
