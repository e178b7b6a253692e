import { describe, it, expect } from 'vitest'
import {
  canonicalScopes,
  decode,
  encode,
  isRuleMaxLifetime,
  isSelector,
  MAX_POLICY_RULES,
  MAX_SCOPES,
  MAX_TICKET_LIFETIME_S,
  MIN_TICKET_LIFETIME_S,
  parsePolicy,
  parseRule,
  policyToWire,
  ruleToWire,
  type PolicyRule,
  type WireValue,
} from '../../../../kdc/protocol/index.js'
import { expectCode, expectMisuse } from './expect-code.js'

const rule: PolicyRule = {
  id: 'payments-orders',
  caller: 'payments',
  target: 'orders',
  scopes: ['orders:read', 'orders:write'],
  maxLifetime: 900,
}

describe('policy rules (docs/protocol.md §7)', () => {
  it('round-trips rule = [id, caller, target, scopes, maxLifetime]', () => {
    const bytes = encode(ruleToWire(rule))
    expect(parseRule(decode(bytes))).toEqual(rule)
    const policy = { version: 4, rules: [rule, { ...rule, id: 'g', caller: 'group:batch' }] }
    expect(parsePolicy(decode(encode(policyToWire(policy))))).toEqual(policy)
  })

  it('selectors are a principal name or group:NAME', () => {
    expect(isSelector('payments')).toBe(true)
    expect(isSelector('group:admins')).toBe(true)
    expect(isSelector('group:')).toBe(false)
    expect(isSelector('group:Admins')).toBe(false)
    expect(isSelector('role:x')).toBe(false)
    expect(isSelector(5)).toBe(false)
  })

  const wire = ruleToWire(rule) as WireValue[]
  it.each([
    ['a bad id', ['-x', ...wire.slice(1)], 'BAD_RULE_ID'],
    ['a bad caller', [wire[0]!, 'group:', ...wire.slice(2)], 'BAD_RULE_CALLER'],
    ['a bad target', [wire[0]!, wire[1]!, 'Orders', ...wire.slice(3)], 'BAD_RULE_TARGET'],
    ['unsorted scopes', [...wire.slice(0, 3), ['b', 'a'], 900], 'BAD_RULE_SCOPES'],
    [
      'a lifetime above the realm maximum',
      [...wire.slice(0, 4), MAX_TICKET_LIFETIME_S + 1],
      'BAD_RULE_MAX_LIFETIME',
    ],
    [
      'a lifetime below the minimum',
      [...wire.slice(0, 4), MIN_TICKET_LIFETIME_S - 1],
      'BAD_RULE_MAX_LIFETIME',
    ],
    ['a lifetime of 1 s', [...wire.slice(0, 4), 1], 'BAD_RULE_MAX_LIFETIME'],
    ['four fields', wire.slice(0, 4), 'BAD_RULE'],
  ])('refuses a rule with %s → ERR_PROTO_MALFORMED', (_label, value, status) => {
    expectCode(() => parseRule(value), 'ERR_PROTO_MALFORMED', status)
  })

  it('a rule cap is 0 (none) or MIN_TICKET_LIFETIME_S..MAX_TICKET_LIFETIME_S', () => {
    for (const cap of [0, MIN_TICKET_LIFETIME_S, MAX_TICKET_LIFETIME_S]) {
      expect(isRuleMaxLifetime(cap)).toBe(true)
      expect(parseRule([...wire.slice(0, 4), cap]).maxLifetime).toBe(cap)
    }
    for (const cap of [1, MIN_TICKET_LIFETIME_S - 1, MAX_TICKET_LIFETIME_S + 1, 90.5, '90']) {
      expect(isRuleMaxLifetime(cap)).toBe(false)
    }
  })

  it('a stored policy holding a cap below the minimum (written before it was refused) still loads', () => {
    const legacy = [...wire.slice(0, 4), 5]
    expect(parsePolicy([3, [legacy]]).rules[0]?.maxLifetime).toBe(5)
  })

  it('refuses duplicate rule ids and more than MAX_POLICY_RULES rules', () => {
    expectCode(() => parsePolicy([1, [wire, wire]]), 'ERR_PROTO_MALFORMED', 'BAD_RULE_ID_DUPLICATE')
    const many = Array.from({ length: MAX_POLICY_RULES + 1 }, (_, i) => [
      'r' + String(i),
      ...wire.slice(1),
    ])
    expectCode(() => parsePolicy([1, many]), 'ERR_PROTO_MALFORMED', 'BAD_RULES')
  })
})

describe('canonicalScopes (caller side, docs/protocol.md §4)', () => {
  it('sorts and de-duplicates', () => {
    expect(canonicalScopes(['b', 'a', 'b'])).toEqual(['a', 'b'])
    expect(canonicalScopes([])).toEqual([])
  })

  it('sorts by UTF-16 code unit, which equals byte order for the ASCII scope grammar', () => {
    expect(canonicalScopes(['a', 'B', '_x'.slice(1), 'Z'])).toEqual(['B', 'Z', 'a', 'x'])
  })

  it('throws TypeError for an invalid scope and RangeError for too many', () => {
    expectMisuse(() => canonicalScopes(['ok', 'not ok']), TypeError)
    expectMisuse(
      () => canonicalScopes(Array.from({ length: MAX_SCOPES + 1 }, (_, i) => `s${String(i)}`)),
      RangeError,
    )
  })
})
