/**
 * Policy output: the YAML form `policy show` prints (parsePolicyFile reads it back unchanged), the
 * JSON form of --json, and the rule-by-rule difference `policy diff` reports.
 */
import { Document, isMap, isSeq } from 'yaml'
import type { Policy, PolicyRule } from '../protocol/index.js'
import { formatDuration } from './duration.js'

/** A rule as JSON and YAML show it: maxLifetime as a duration string, omitted when uncapped. */
export interface RuleView {
  readonly id: string
  readonly caller: string
  readonly target: string
  readonly scopes: readonly string[]
  readonly maxLifetime?: string
}

export function ruleView(r: PolicyRule): RuleView {
  const base = { id: r.id, caller: r.caller, target: r.target, scopes: [...r.scopes] }
  return r.maxLifetime === 0 ? base : { ...base, maxLifetime: formatDuration(r.maxLifetime) }
}

/**
 * The policy as a policy file.
 *
 * @example policyToYaml({ version: 1, rules: [] }) // '# Tessera policy version 1 ...\nrules: []\n'
 */
export function policyToYaml(policy: Policy, realm?: string): string {
  const doc = new Document({ rules: policy.rules.map(ruleView) })
  const rules = doc.get('rules', true)
  if (isSeq(rules)) {
    for (const item of rules.items) {
      if (!isMap(item)) continue
      const scopes = item.get('scopes', true)
      if (isSeq(scopes)) scopes.flow = true
    }
  }
  const where = realm === undefined ? '' : ` of realm ${realm}`
  doc.commentBefore = ` Tessera policy version ${policy.version}${where}, from the KDC`
  return doc.toString({ flowCollectionPadding: false, lineWidth: 0 })
}

/** One field of a rule that differs between the KDC and the file. */
export interface FieldChange {
  readonly field: 'caller' | 'target' | 'scopes' | 'maxLifetime'
  readonly before: string
  readonly after: string
}

export interface PolicyDiff {
  /** In the file, not at the KDC. */
  readonly added: readonly PolicyRule[]
  /** At the KDC, not in the file. */
  readonly removed: readonly PolicyRule[]
  /** Same id, different content. */
  readonly changed: readonly {
    readonly id: string
    readonly before: PolicyRule
    readonly after: PolicyRule
    readonly fields: readonly FieldChange[]
  }[]
  readonly unchanged: number
}

function showScopes(s: readonly string[]): string {
  return `[${s.join(', ')}]`
}
function showLifetime(n: number): string {
  return n === 0 ? '(none)' : formatDuration(n)
}

/**
 * Rules added, removed and changed going from `current` (the KDC's) to `proposed` (a file). Rule
 * order carries no meaning (the policy grants the union of matching rules), so it is ignored.
 */
export function diffPolicies(
  current: readonly PolicyRule[],
  proposed: readonly PolicyRule[],
): PolicyDiff {
  const before = new Map(current.map((r) => [r.id, r]))
  const after = new Map(proposed.map((r) => [r.id, r]))
  const added = proposed.filter((r) => !before.has(r.id))
  const removed = current.filter((r) => !after.has(r.id))
  const changed: PolicyDiff['changed'][number][] = []
  let unchanged = 0
  for (const next of proposed) {
    const prev = before.get(next.id)
    if (prev === undefined) continue
    const fields: FieldChange[] = []
    if (prev.caller !== next.caller) {
      fields.push({ field: 'caller', before: prev.caller, after: next.caller })
    }
    if (prev.target !== next.target) {
      fields.push({ field: 'target', before: prev.target, after: next.target })
    }
    if (showScopes(prev.scopes) !== showScopes(next.scopes)) {
      fields.push({
        field: 'scopes',
        before: showScopes(prev.scopes),
        after: showScopes(next.scopes),
      })
    }
    if (prev.maxLifetime !== next.maxLifetime) {
      fields.push({
        field: 'maxLifetime',
        before: showLifetime(prev.maxLifetime),
        after: showLifetime(next.maxLifetime),
      })
    }
    if (fields.length === 0) unchanged++
    else changed.push({ id: next.id, before: prev, after: next, fields })
  }
  return { added, removed, changed, unchanged }
}

/** One line summary of a rule, for diff and check output. */
export function ruleLine(r: PolicyRule): string {
  const cap = r.maxLifetime === 0 ? '' : `, maxLifetime ${formatDuration(r.maxLifetime)}`
  return `${r.id}: ${r.caller} -> ${r.target} ${showScopes(r.scopes)}${cap}`
}

/** The human-readable diff (`+` added, `-` removed, `~` changed). */
export function renderDiff(d: PolicyDiff, kdcVersion: number): string {
  const out: string[] = []
  for (const r of d.added) out.push(`+ ${ruleLine(r)}`)
  for (const r of d.removed) out.push(`- ${ruleLine(r)}`)
  for (const c of d.changed) {
    out.push(`~ ${c.id}:`)
    for (const f of c.fields) out.push(`    ${f.field}: ${f.before} -> ${f.after}`)
  }
  const total = d.added.length + d.removed.length + d.changed.length
  out.push(
    total === 0
      ? `no differences from the KDC's policy (version ${kdcVersion})`
      : `${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed, ${d.unchanged} unchanged (KDC policy version ${kdcVersion})`,
  )
  return out.join('\n') + '\n'
}
