import { describe, expect, it } from 'vitest'
import type { PolicyRule } from '../../../../kdc/protocol/index.js'
import { parsePolicyFile } from '../../../../kdc/admin/policy-file.js'
import { diffPolicies, policyToYaml, renderDiff } from '../../../../kdc/admin/policy-view.js'

const RULES: PolicyRule[] = [
  {
    id: 'payments-reads-orders',
    caller: 'payments',
    target: 'orders',
    scopes: ['orders:read'],
    maxLifetime: 900,
  },
  { id: 'web-inv', caller: 'group:web', target: 'inventory', scopes: [], maxLifetime: 0 },
]

describe('policyToYaml', () => {
  it('prints the policy file form', () => {
    expect(policyToYaml({ version: 3, rules: RULES }, 'TESSERA.LOCAL')).toBe(
      `# Tessera policy version 3 of realm TESSERA.LOCAL, from the KDC

rules:
  - id: payments-reads-orders
    caller: payments
    target: orders
    scopes: [orders:read]
    maxLifetime: 15m
  - id: web-inv
    caller: group:web
    target: inventory
    scopes: []
`,
    )
  })

  it('is read back unchanged by parsePolicyFile', () => {
    const yaml = policyToYaml({ version: 1, rules: RULES })
    expect(parsePolicyFile(yaml, 'shown.yaml')).toEqual(RULES)
  })

  it('prints an empty policy as an empty list', () => {
    expect(policyToYaml({ version: 0, rules: [] })).toContain('rules: []')
  })
})

describe('diffPolicies', () => {
  const base = RULES
  it('finds nothing between equal policies, whatever the order', () => {
    const d = diffPolicies(base, [...base].reverse())
    expect(d).toEqual({ added: [], removed: [], changed: [], unchanged: 2 })
    expect(renderDiff(d, 4)).toBe("no differences from the KDC's policy (version 4)\n")
  })

  it('reports added, removed and changed rules field by field', () => {
    const proposed: PolicyRule[] = [
      { ...(base[0] as PolicyRule), scopes: ['orders:read', 'orders:write'], maxLifetime: 3600 },
      { id: 'new', caller: 'a', target: 'b', scopes: ['x'], maxLifetime: 0 },
    ]
    const d = diffPolicies(base, proposed)
    expect(d.added.map((r) => r.id)).toEqual(['new'])
    expect(d.removed.map((r) => r.id)).toEqual(['web-inv'])
    expect(d.changed).toHaveLength(1)
    expect(d.changed[0]?.fields).toEqual([
      { field: 'scopes', before: '[orders:read]', after: '[orders:read, orders:write]' },
      { field: 'maxLifetime', before: '15m', after: '1h' },
    ])
    expect(renderDiff(d, 7)).toBe(
      `+ new: a -> b [x]
- web-inv: group:web -> inventory []
~ payments-reads-orders:
    scopes: [orders:read] -> [orders:read, orders:write]
    maxLifetime: 15m -> 1h
1 added, 1 removed, 1 changed, 0 unchanged (KDC policy version 7)
`,
    )
  })

  it('shows a removed cap as (none)', () => {
    const d = diffPolicies(base, [
      { ...(base[0] as PolicyRule), maxLifetime: 0 },
      base[1] as PolicyRule,
    ])
    expect(d.changed[0]?.fields).toEqual([{ field: 'maxLifetime', before: '15m', after: '(none)' }])
  })
})
