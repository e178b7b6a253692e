import { describe, expect, it } from 'vitest'
import { isBrokerError, type Policy, type PolicyRule } from '../../../../kdc/protocol/index.js'
import { decidePolicy, matchingRules, selectorMatches } from '../../../../kdc/server/policy.js'

function rule(
  id: string,
  caller: string,
  target: string,
  scopes: string[],
  maxLifetime = 0,
): PolicyRule {
  return { id, caller, target, scopes, maxLifetime }
}
const payments = { name: 'payments', groups: ['billing'] }
const orders = { name: 'orders', groups: ['shop'] }
const web = { name: 'web', groups: [] }

function deny(
  policy: Policy,
  caller = payments,
  target = orders,
  requested: string[] = [],
): string {
  try {
    decidePolicy(policy, caller, target, requested)
    return 'OK'
  } catch (err) {
    if (isBrokerError(err)) return `${err.code}/${err.kind}/${err.status ?? ''}`
    throw err
  }
}

describe('selectors', () => {
  it('match names and groups exactly', () => {
    expect(selectorMatches('payments', payments)).toBe(true)
    expect(selectorMatches('group:billing', payments)).toBe(true)
    expect(selectorMatches('group:shop', payments)).toBe(false)
    expect(selectorMatches('payment', payments)).toBe(false)
    expect(selectorMatches('group:payments', payments)).toBe(false)
  })
})

describe('decidePolicy', () => {
  it('denies by default (no rules) with NO_RULE', () => {
    expect(deny({ version: 1, rules: [] })).toBe('ERR_KDC_POLICY/kdc/NO_RULE')
  })

  it('needs caller AND target to match', () => {
    const p = { version: 1, rules: [rule('r', 'payments', 'inventory', ['x'])] }
    expect(deny(p)).toBe('ERR_KDC_POLICY/kdc/NO_RULE')
    expect(deny(p, web, { name: 'inventory', groups: [] })).toBe('ERR_KDC_POLICY/kdc/NO_RULE')
  })

  it('grants the union of matching rules, sorted, with the deciding rules and version', () => {
    const p = {
      version: 7,
      rules: [
        rule('b', 'group:billing', 'orders', ['orders:write']),
        rule('a', 'payments', 'group:shop', ['orders:read', 'orders:write']),
        rule('z', 'web', 'orders', ['orders:admin']),
      ],
    }
    expect(decidePolicy(p, payments, orders, [])).toEqual({
      scopes: ['orders:read', 'orders:write'],
      ruleIds: ['a', 'b'],
      maxLifetime: 0,
      policyVersion: 7,
    })
    expect(matchingRules(p, payments, orders).map((r) => r.id)).toEqual(['b', 'a'])
  })

  it('lets the request narrow and names only the rules that grant what is asked', () => {
    const p = {
      version: 1,
      rules: [
        rule('r', 'payments', 'orders', ['orders:read']),
        rule('w', 'payments', 'orders', ['orders:write']),
      ],
    }
    const g = decidePolicy(p, payments, orders, ['orders:write'])
    expect(g.scopes).toEqual(['orders:write'])
    expect(g.ruleIds).toEqual(['w'])
  })

  it('refuses a scope no matching rule grants with SCOPE_NOT_GRANTED', () => {
    const p = { version: 1, rules: [rule('r', 'payments', 'orders', ['orders:read'])] }
    expect(deny(p, payments, orders, ['orders:read', 'orders:write'])).toBe(
      'ERR_KDC_POLICY/kdc/SCOPE_NOT_GRANTED',
    )
    // A scope granted for another pair does not leak across.
    const q = { ...p, rules: [...p.rules, rule('o', 'web', 'orders', ['orders:write'])] }
    expect(deny(q, payments, orders, ['orders:write'])).toBe('ERR_KDC_POLICY/kdc/SCOPE_NOT_GRANTED')
  })

  it('allows a rule with no scopes (access without scopes)', () => {
    const p = { version: 1, rules: [rule('r', 'payments', 'orders', [], 300)] }
    expect(decidePolicy(p, payments, orders, [])).toMatchObject({
      scopes: [],
      ruleIds: ['r'],
      maxLifetime: 300,
    })
  })

  it('caps lifetime per scope by the most permissive granting rule, then the tightest scope', () => {
    const p = {
      version: 1,
      rules: [
        rule('r1', 'payments', 'orders', ['read'], 600),
        rule('r2', 'payments', 'orders', ['read'], 1200),
        rule('w', 'payments', 'orders', ['write'], 300),
        rule('u', 'payments', 'orders', ['misc'], 0),
      ],
    }
    expect(decidePolicy(p, payments, orders, ['read']).maxLifetime).toBe(1200)
    expect(decidePolicy(p, payments, orders, ['read', 'write']).maxLifetime).toBe(300)
    expect(decidePolicy(p, payments, orders, ['misc']).maxLifetime).toBe(0)
    expect(decidePolicy(p, payments, orders, ['misc', 'read']).maxLifetime).toBe(1200)
    expect(decidePolicy(p, payments, orders, []).maxLifetime).toBe(300)
  })
})
