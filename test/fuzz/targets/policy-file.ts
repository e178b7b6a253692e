/**
 * kdc/admin/policy-file.ts parsePolicyFile on mutated YAML: it returns rules the protocol accepts, or
 * throws PolicyFileError with at least one issue, each with a line number; nothing else.
 */
import { parsePolicyFile, PolicyFileError } from '../../../kdc/admin/policy-file.js'
import {
  isRuleMaxLifetime,
  isScope,
  isSelector,
  parseRule,
  RULE_ID_PATTERN,
  ruleToWire,
  type PolicyRule,
} from '../../../kdc/protocol/index.js'
import { validRule } from '../corpus.js'
import { describeError, FuzzFailure, type Target } from '../harness.js'
import { mutateText } from '../mutate.js'
import type { Rng } from '../rng.js'

const HAND_WRITTEN = [
  `# payments may read orders
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
`,
  'rules: []\n',
  'rules:\n  - {id: a, caller: x, target: y, scopes: [], maxLifetime: 600}\n',
  'rules:\n  - id: "r1"\n    caller: "a"\n    target: "group:g"\n    scopes: ["x:y", "z/*"]\n    maxLifetime: "1h30m"\n',
]

function lifetimeText(rng: Rng, seconds: number): string {
  if (seconds === 0) return ''
  const forms = [
    String(seconds),
    `${seconds}s`,
    seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`,
    '1h',
    '1d',
    '1h30m',
    '"15m"',
  ]
  return rng.pick(forms)
}

function ruleYaml(rng: Rng, r: PolicyRule): string {
  const scopes = rng.chance(0.5)
    ? `    scopes: [${r.scopes.join(', ')}]\n`
    : `    scopes:\n${r.scopes.map((s) => `      - ${s}\n`).join('')}${r.scopes.length === 0 ? '      []\n' : ''}`
  const life = lifetimeText(rng, r.maxLifetime)
  return (
    `  - id: ${r.id}\n    caller: ${r.caller}\n    target: ${r.target}\n` +
    (r.scopes.length === 0 ? '    scopes: []\n' : scopes) +
    (life === '' ? '' : `    maxLifetime: ${life}\n`) +
    (rng.chance(0.3)
      ? `    description: ${rng.pick(['free text', '"quoted: text"', '|\n      block\n      text'])}\n`
      : '')
  )
}

function policyYaml(rng: Rng): string {
  const n = rng.chance(0.9) ? rng.int(5) : rng.int(40)
  const rules = Array.from({ length: n }, (_, i) => ruleYaml(rng, validRule(rng, `r-${i}`)))
  return (
    (rng.chance(0.3) ? '# policy\n' : '') + (n === 0 ? 'rules: []\n' : `rules:\n${rules.join('')}`)
  )
}

export const policyFileTarget: Target = {
  name: 'policy-file',
  summary:
    'kdc/admin/policy-file.ts parsePolicyFile on mutated YAML: PolicyFileError (with lines) or valid rules',
  setup(rng) {
    const corpus = [...HAND_WRITTEN, ...Array.from({ length: 60 }, () => policyYaml(rng))]
    return {
      next(r) {
        const base = r.pick(corpus)
        if (r.chance(0.05)) return { input: base, origin: 'valid policy' }
        return { input: mutateText(r, base, corpus, 4), origin: 'text mutation' }
      },
      run(c) {
        const text = c.input as string
        let rules: PolicyRule[]
        try {
          rules = parsePolicyFile(text, 'fuzz.yaml')
        } catch (err) {
          if (!(err instanceof PolicyFileError)) {
            throw new FuzzFailure(
              'parsePolicyFile threw something other than PolicyFileError',
              describeError(err),
            )
          }
          if (err.issues.length === 0) throw new FuzzFailure('PolicyFileError without issues')
          for (const issue of err.issues) {
            if (!Number.isInteger(issue.line) || issue.line < 1) {
              throw new FuzzFailure(
                `PolicyFileError issue with line ${String(issue.line)}: ${issue.message}`,
              )
            }
          }
          return 'PolicyFileError'
        }
        const ids = new Set<string>()
        for (const rule of rules) {
          if (ids.has(rule.id)) throw new FuzzFailure(`duplicate rule id ${rule.id} accepted`)
          ids.add(rule.id)
          if (
            !RULE_ID_PATTERN.test(rule.id) ||
            !isSelector(rule.caller) ||
            !isSelector(rule.target) ||
            !rule.scopes.every(isScope) ||
            !isRuleMaxLifetime(rule.maxLifetime)
          ) {
            throw new FuzzFailure(
              `parsePolicyFile returned an invalid rule: ${JSON.stringify(rule)}`,
            )
          }
          try {
            parseRule(ruleToWire(rule))
          } catch (err) {
            throw new FuzzFailure(
              'parsePolicyFile returned a rule the protocol refuses',
              describeError(err),
            )
          }
        }
        return rules.length === 0 ? 'OK(empty)' : 'OK'
      },
    }
  },
}
