import { describe, expect, it } from 'vitest'
import { parsePolicyFile, PolicyFileError } from '../../../../kdc/admin/policy-file.js'

function issues(text: string): string[] {
  try {
    parsePolicyFile(text, 'policy.yaml')
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyFileError)
    return (err as PolicyFileError).message.split('\n')
  }
  throw new Error('expected PolicyFileError')
}

const GOOD = `# payments may read orders
rules:
  - id: payments-reads-orders
    caller: payments            # a principal, or group:NAME
    target: orders              # a principal, or group:NAME
    scopes: [orders:read]
    maxLifetime: 15m            # optional
  - id: frontends-inventory
    caller: group:frontends
    target: inventory
    scopes:
      - inv:write
      - inv:read
      - inv:read
    description: web tier reads and writes inventory
`

describe('parsePolicyFile', () => {
  it('reads the documented form', () => {
    expect(parsePolicyFile(GOOD, 'policy.yaml')).toEqual([
      {
        id: 'payments-reads-orders',
        caller: 'payments',
        target: 'orders',
        scopes: ['orders:read'],
        maxLifetime: 900,
      },
      {
        id: 'frontends-inventory',
        caller: 'group:frontends',
        target: 'inventory',
        scopes: ['inv:read', 'inv:write'],
        maxLifetime: 0,
      },
    ])
  })

  it('accepts an empty policy', () => {
    expect(parsePolicyFile('rules: []\n', 'p.yaml')).toEqual([])
  })

  it('accepts maxLifetime as plain seconds', () => {
    const rules = parsePolicyFile(
      'rules:\n  - {id: a, caller: x, target: y, scopes: [], maxLifetime: 600}\n',
      'p.yaml',
    )
    expect(rules[0]?.maxLifetime).toBe(600)
  })

  it('names the line of a bad scope', () => {
    const text = GOOD.replace('scopes: [orders:read]', 'scopes: [orders read]')
    expect(issues(text)).toEqual([
      expect.stringMatching(
        /^policy\.yaml:6: rule 'payments-reads-orders': unknown scope syntax "orders read"/,
      ),
    ])
  })

  it('names the line of a bad scope in a block list', () => {
    const text = GOOD.replace('      - inv:write', '      - "inv write"')
    expect(issues(text)[0]).toMatch(
      /^policy\.yaml:12: rule 'frontends-inventory': unknown scope syntax/,
    )
  })

  it('names the line of a bad duration', () => {
    const text = GOOD.replace('maxLifetime: 15m', 'maxLifetime: 15 minutes')
    expect(issues(text)).toEqual([
      expect.stringMatching(
        /^policy\.yaml:7: rule 'payments-reads-orders': maxLifetime "15 minutes" is not a duration/,
      ),
    ])
  })

  it('refuses a lifetime below the minimum and above the realm maximum', () => {
    expect(issues(GOOD.replace('maxLifetime: 15m', 'maxLifetime: 30s'))[0]).toMatch(
      /^policy\.yaml:7: .*below the minimum ticket lifetime 1m/,
    )
    expect(issues(GOOD.replace('maxLifetime: 15m', 'maxLifetime: 2d'))[0]).toMatch(
      /^policy\.yaml:7: .*above the realm maximum 1d/,
    )
  })

  it('names the line of a bad caller and of a bad target', () => {
    const text = GOOD.replace('caller: payments ', 'caller: Payments ').replace(
      'target: inventory',
      'target: group:Front',
    )
    expect(issues(text)).toEqual([
      expect.stringMatching(
        /^policy\.yaml:4: rule 'payments-reads-orders': invalid caller "Payments"/,
      ),
      expect.stringMatching(
        /^policy\.yaml:10: rule 'frontends-inventory': invalid target "group:Front"/,
      ),
    ])
  })

  it('names the line of an unknown field (a typo)', () => {
    const text = GOOD.replace('    scopes: [orders:read]', '    scope: [orders:read]')
    expect(issues(text)).toEqual([
      "policy.yaml:3: rule 'payments-reads-orders': missing field 'scopes'",
      expect.stringMatching(/^policy\.yaml:6: rule 'payments-reads-orders': unknown field 'scope'/),
    ])
  })

  it('names the line of a duplicate id and where it was first defined', () => {
    const text = GOOD.replace('id: frontends-inventory', 'id: payments-reads-orders')
    expect(issues(text)).toEqual([
      "policy.yaml:8: rule 'payments-reads-orders': duplicate id (first defined on line 3)",
    ])
  })

  it('names the line of an invalid id', () => {
    expect(issues(GOOD.replace('id: frontends-inventory', 'id: "bad id!"'))[0]).toMatch(
      /^policy\.yaml:8: rule #2: invalid id "bad id!"/,
    )
  })

  it('refuses values YAML reads as numbers or booleans, saying to quote them', () => {
    const text = GOOD.replace('id: frontends-inventory', 'id: 0x1F')
      .replace('target: inventory', 'target: 2024')
      .replace('- inv:write', '- 007')
      .replace('scopes: [orders:read]', 'scopes: [1e3, yes, true]')
    expect(issues(text)).toEqual([
      'policy.yaml:6: rule \'payments-reads-orders\': scope: YAML reads 1e3 as a number, not text; quote it: "1e3"',
      'policy.yaml:6: rule \'payments-reads-orders\': scope: YAML reads true as a boolean, not text; quote it: "true"',
      'policy.yaml:8: rule #2: id: YAML reads 0x1F as a number, not text; quote it: "0x1F"',
      'policy.yaml:10: rule #2: target: YAML reads 2024 as a number, not text; quote it: "2024"',
      'policy.yaml:12: rule #2: scope: YAML reads 007 as a number, not text; quote it: "007"',
    ])
    const quoted = parsePolicyFile(
      'rules:\n  - id: "0x1F"\n    caller: payments\n    target: orders\n    scopes: ["007", \'1e3\']\n',
      'policy.yaml',
    )
    expect(quoted[0]).toMatchObject({ id: '0x1F', scopes: ['007', '1e3'] })
  })

  it('reports a YAML syntax error with its line', () => {
    const text = 'rules:\n  - id: a\n    scopes: [x\n    caller: b\n'
    expect(issues(text)[0]).toMatch(/^policy\.yaml:\d+: YAML: /)
  })

  it('reports duplicate keys as a YAML error with the line', () => {
    const text = 'rules:\n  - id: a\n    id: b\n    caller: x\n    target: y\n    scopes: []\n'
    expect(issues(text)[0]).toMatch(/^policy\.yaml:3: YAML: Map keys must be unique/)
  })

  it('refuses an unknown top-level key and a missing rules list', () => {
    expect(issues('rule: []\n')).toEqual([
      "policy.yaml:1: unknown key 'rule' (expected 'rules')",
      'policy.yaml:1: missing `rules:`',
    ])
  })

  it('refuses an empty file, a scalar and a non-list rules', () => {
    expect(issues('')).toEqual(['policy.yaml:1: empty file: expected `rules:`'])
    expect(issues('hello\n')[0]).toMatch(/^policy\.yaml:1: expected a mapping/)
    expect(issues('rules:\n  a: b\n')[0]).toMatch(/^policy\.yaml:2: rules must be a list/)
  })

  it('refuses a rule that is not a mapping, naming it by position', () => {
    expect(issues('rules:\n  - just-a-string\n')[0]).toBe(
      'policy.yaml:2: rule #1: expected a mapping with id, caller, target and scopes',
    )
  })

  it('refuses scopes given as a string', () => {
    expect(
      issues('rules:\n  - id: a\n    caller: x\n    target: y\n    scopes: orders:read\n')[0],
    ).toMatch(/^policy\.yaml:5: rule 'a': scopes must be a list/)
  })

  it('reports every mistake, in line order', () => {
    const text = GOOD.replace('caller: payments ', 'caller: Payments ')
      .replace('maxLifetime: 15m', 'maxLifetime: soon')
      .replace('      - inv:write', '      - "?"')
    const lines = issues(text)
    expect(lines.map((l) => Number(l.split(':')[1]))).toEqual([4, 7, 12])
  })
})
