/**
 * Policy files (design brief §6): YAML in, rules out, every mistake reported with its line.
 *
 *   rules:
 *     - id: payments-reads-orders
 *       caller: payments            # a principal, or group:NAME
 *       target: orders              # a principal, or group:NAME
 *       scopes: [orders:read]
 *       maxLifetime: 15m            # optional: 900s, 15m, 1h, 1h30m, 1d or plain seconds
 *       description: free text      # optional, not sent to the KDC
 *
 * The KDC's ERROR frames carry only a code, so everything an operator needs to fix a file is found
 * here, before anything is sent (docs/internals.md, "Admin errors").
 */
import { LineCounter, parseDocument, isMap, isScalar, isSeq, type Node, type Pair } from 'yaml'
import {
  MAX_POLICY_RULES,
  MAX_SCOPES,
  MAX_TICKET_LIFETIME_S,
  MIN_TICKET_LIFETIME_S,
  RULE_ID_PATTERN,
  isScope,
  isSelector,
  parseRule,
  ruleToWire,
  type PolicyRule,
} from '../protocol/index.js'
import { formatDuration, parseDuration } from './duration.js'

/** One mistake in a policy file. `line` is 1-based. */
export interface PolicyIssue {
  readonly line: number
  readonly message: string
}

/** A policy file that cannot be applied; `issues` holds every mistake found, in line order. */
export class PolicyFileError extends Error {
  override readonly name = 'PolicyFileError'
  readonly file: string
  readonly issues: readonly PolicyIssue[]

  constructor(file: string, issues: readonly PolicyIssue[]) {
    super(issues.map((i) => `${file}:${i.line}: ${i.message}`).join('\n'))
    this.file = file
    this.issues = issues
  }
}

const RULE_FIELDS = ['id', 'caller', 'target', 'scopes', 'maxLifetime', 'description'] as const
type RuleField = (typeof RULE_FIELDS)[number]

const SELECTOR_HELP = 'use a principal name (a-z 0-9 . _ -, starting with a letter) or group:NAME'
const SCOPE_HELP =
  'a scope is 1-64 characters of A-Z a-z 0-9 : . _ / * -, starting with a letter or digit'

class Collector {
  readonly issues: PolicyIssue[] = []
  readonly lines: LineCounter
  constructor(lines: LineCounter) {
    this.lines = lines
  }

  lineOf(node: Node | Pair | null | undefined, fallback = 1): number {
    const range = node === null || node === undefined ? undefined : rangeOf(node)
    return range === undefined ? fallback : this.lines.linePos(range).line
  }

  add(at: Node | Pair | null | undefined, message: string, fallback?: number): void {
    this.issues.push({ line: this.lineOf(at, fallback), message })
  }
}

function rangeOf(node: Node | Pair): number | undefined {
  if ('range' in node && node.range) return node.range[0]
  if ('key' in node) {
    const k = node.key as Node | null
    if (k !== null && typeof k === 'object' && 'range' in k && k.range) return k.range[0]
  }
  return undefined
}

/**
 * The text of a string scalar, else undefined. A plain scalar that YAML resolves to a number or a
 * boolean is NOT turned back into text: `0x1F` would come back as "31" and `007` as "7", so the
 * KDC would enforce something other than what the file says (see quoteHint).
 */
function scalarText(node: unknown): string | undefined {
  return isScalar(node) && typeof node.value === 'string' ? node.value : undefined
}

/** For a scalar YAML reads as a number or a boolean where text is expected: how to fix it. */
function quoteHint(node: unknown): string | undefined {
  if (!isScalar(node)) return undefined
  const v = node.value
  if (typeof v !== 'number' && typeof v !== 'boolean') return undefined
  const source = node.source ?? String(v)
  const kind = typeof v === 'number' ? 'a number' : 'a boolean'
  return `YAML reads ${source} as ${kind}, not text; quote it: ${JSON.stringify(source)}`
}

/** A node's value as messages quote it. */
function shown(node: unknown): string {
  if (isScalar(node)) return JSON.stringify(node.value ?? null)
  if (isMap(node)) return '(a mapping)'
  if (isSeq(node)) return '(a list)'
  return '(nothing)'
}

function keyName(pair: Pair): string {
  const key = pair.key
  if (!isScalar(key)) return String(key)
  return scalarText(key) ?? key.source ?? String(key.value)
}

/**
 * Parse and validate a policy file. Returns the rules in file order with canonical scopes, or
 * throws PolicyFileError listing every mistake with its line.
 *
 * @example parsePolicyFile('rules: []\n', 'policy.yaml') // []
 */
export function parsePolicyFile(text: string, file: string): PolicyRule[] {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true })
  const c = new Collector(lines)
  for (const e of doc.errors) {
    const firstLine = e.message.split('\n')[0] ?? e.message
    c.issues.push({ line: lines.linePos(e.pos[0]).line, message: `YAML: ${firstLine}` })
  }
  if (c.issues.length > 0) throw new PolicyFileError(file, c.issues)

  const root = doc.contents
  if (root === null || (isScalar(root) && root.value === null)) {
    throw new PolicyFileError(file, [{ line: 1, message: 'empty file: expected `rules:`' }])
  }
  if (!isMap(root)) {
    throw new PolicyFileError(file, [
      { line: c.lineOf(root), message: 'expected a mapping with the key `rules:`' },
    ])
  }
  let rulesNode: unknown
  for (const pair of root.items) {
    const key = keyName(pair)
    if (key === 'rules') rulesNode = pair.value
    else c.add(pair, `unknown key '${key}' (expected 'rules')`)
  }
  if (rulesNode === undefined) {
    c.add(root, 'missing `rules:`')
    throw new PolicyFileError(file, c.issues)
  }
  if (!isSeq(rulesNode)) {
    c.add(rulesNode as Node, 'rules must be a list (use `rules: []` for an empty policy)')
    throw new PolicyFileError(file, c.issues)
  }
  if (rulesNode.items.length > MAX_POLICY_RULES) {
    c.add(rulesNode, `too many rules: ${rulesNode.items.length} (at most ${MAX_POLICY_RULES})`)
  }
  const rules: PolicyRule[] = []
  const firstLineOfId = new Map<string, number>()
  rulesNode.items.forEach((item, index) => {
    const rule = parseRuleNode(c, item as Node, index)
    if (rule === undefined) return
    const line = c.lineOf(item as Node)
    const first = firstLineOfId.get(rule.id)
    if (first !== undefined) {
      c.add(item as Node, `rule '${rule.id}': duplicate id (first defined on line ${first})`)
      return
    }
    firstLineOfId.set(rule.id, line)
    rules.push(rule)
  })
  if (c.issues.length > 0) {
    throw new PolicyFileError(
      file,
      [...c.issues].sort((a, b) => a.line - b.line),
    )
  }
  return rules
}

function parseRuleNode(c: Collector, item: Node, index: number): PolicyRule | undefined {
  if (!isMap(item)) {
    c.add(item, `rule #${index + 1}: expected a mapping with id, caller, target and scopes`)
    return undefined
  }
  const fields = new Map<RuleField, Pair>()
  const unknown: Pair[] = []
  for (const pair of item.items) {
    const key = keyName(pair)
    if ((RULE_FIELDS as readonly string[]).includes(key)) fields.set(key as RuleField, pair)
    else unknown.push(pair)
  }
  const idPair = fields.get('id')
  const idText = idPair === undefined ? undefined : scalarText(idPair.value)
  const label =
    idText !== undefined && RULE_ID_PATTERN.test(idText) ? `rule '${idText}'` : `rule #${index + 1}`
  const before = c.issues.length

  for (const pair of unknown) {
    c.add(pair, `${label}: unknown field '${keyName(pair)}' (expected ${RULE_FIELDS.join(', ')})`)
  }
  for (const required of ['id', 'caller', 'target', 'scopes'] as const) {
    if (!fields.has(required)) c.add(item, `${label}: missing field '${required}'`)
  }
  const idQuote = idPair === undefined ? undefined : quoteHint(idPair.value)
  if (idPair !== undefined && idQuote !== undefined) {
    c.add(idPair.value as Node, `${label}: id: ${idQuote}`)
  } else if (idPair !== undefined && (idText === undefined || !RULE_ID_PATTERN.test(idText))) {
    c.add(
      idPair.value as Node,
      `${label}: invalid id ${JSON.stringify(idText ?? null)} (1-64 characters A-Z a-z 0-9 . _ : -, starting with a letter or digit)`,
    )
  }
  const selector = (field: 'caller' | 'target'): string | undefined => {
    const pair = fields.get(field)
    if (pair === undefined) return undefined
    const quote = quoteHint(pair.value)
    if (quote !== undefined) {
      c.add(pair.value as Node, `${label}: ${field}: ${quote}`)
      return undefined
    }
    const value = scalarText(pair.value)
    if (value === undefined || !isSelector(value)) {
      c.add(pair.value as Node, `${label}: invalid ${field} ${shown(pair.value)}: ${SELECTOR_HELP}`)
      return undefined
    }
    return value
  }
  const caller = selector('caller')
  const target = selector('target')
  const scopes = parseScopes(c, label, fields.get('scopes'))
  const maxLifetime = parseLifetime(c, label, fields.get('maxLifetime'))
  const descPair = fields.get('description')
  if (descPair !== undefined && !isScalar(descPair.value)) {
    c.add(descPair.value as Node, `${label}: description must be text`)
  }
  if (c.issues.length > before) return undefined
  if (idText === undefined || caller === undefined || target === undefined) return undefined
  if (scopes === undefined) return undefined
  const rule: PolicyRule = { id: idText, caller, target, scopes, maxLifetime }
  // The protocol's own parser is the final word on what the KDC accepts.
  parseRule(ruleToWire(rule))
  return rule
}

function parseScopes(c: Collector, label: string, pair: Pair | undefined): string[] | undefined {
  if (pair === undefined) return undefined
  const node = pair.value
  if (!isSeq(node)) {
    c.add(
      (node as Node | null) ?? pair,
      `${label}: scopes must be a list, e.g. [orders:read] (or [] for none)`,
    )
    return undefined
  }
  const out = new Set<string>()
  let ok = true
  for (const s of node.items) {
    const quote = quoteHint(s)
    const value = scalarText(s)
    if (quote !== undefined) {
      c.add(s as Node, `${label}: scope: ${quote}`)
      ok = false
    } else if (value === undefined || !isScope(value)) {
      c.add(s as Node, `${label}: unknown scope syntax ${shown(s)}: ${SCOPE_HELP}`)
      ok = false
    } else {
      out.add(value)
    }
  }
  if (out.size > MAX_SCOPES) {
    c.add(node, `${label}: too many scopes: ${out.size} (at most ${MAX_SCOPES})`)
    ok = false
  }
  return ok ? [...out].sort() : undefined
}

function parseLifetime(c: Collector, label: string, pair: Pair | undefined): number {
  if (pair === undefined) return 0
  const node = pair.value as Node | null
  const raw = isScalar(node) ? node.value : undefined
  const seconds =
    typeof raw === 'string' || typeof raw === 'number' ? parseDuration(raw) : undefined
  const shown = JSON.stringify(raw ?? null)
  if (seconds === undefined) {
    c.add(node ?? pair, `${label}: maxLifetime ${shown} is not a duration (use e.g. 900s, 15m, 1h)`)
    return 0
  }
  if (seconds < MIN_TICKET_LIFETIME_S) {
    c.add(
      node ?? pair,
      `${label}: maxLifetime ${shown} is below the minimum ticket lifetime ${formatDuration(MIN_TICKET_LIFETIME_S)} (omit it for no cap)`,
    )
    return 0
  }
  if (seconds > MAX_TICKET_LIFETIME_S) {
    c.add(
      node ?? pair,
      `${label}: maxLifetime ${shown} is above the realm maximum ${formatDuration(MAX_TICKET_LIFETIME_S)}`,
    )
    return 0
  }
  return seconds
}
