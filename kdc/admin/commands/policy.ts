/**
 * `policy apply FILE`, `policy show`, `policy diff FILE`, `policy check CALLER TARGET [SCOPE...]`.
 * Files are validated here first and every mistake is reported with its line; the KDC validates
 * again (kdc/protocol/admin-ops.ts) but can only answer with a code.
 */
import { readFile } from 'node:fs/promises'
import {
  MAX_ADMIN_PLAINTEXT_BYTES,
  MAX_SCOPES,
  policyPlaintextBytes,
  type PolicyRule,
} from '../../protocol/index.js'
import type { CommandContext } from '../context.js'
import { formatDuration } from '../duration.js'
import { CliError, EXIT, type ExitCode } from '../errors.js'
import { parsePolicyFile, PolicyFileError } from '../policy-file.js'
import { diffPolicies, policyToYaml, renderDiff } from '../policy-view.js'
import { principalArg, scopeArg } from './names.js'

/** Read and validate a policy file; CliError (exit 2) naming file and line on any mistake. */
export async function loadPolicyFile(file: string): Promise<PolicyRule[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO'
    throw new CliError(
      'ERR_CLI_IO',
      `cannot read policy file ${file}: ${code}`,
      'check the path; a policy file is YAML with a `rules:` list (docs/cli.md)',
      EXIT.USAGE,
      err,
    )
  }
  let rules: PolicyRule[]
  try {
    rules = parsePolicyFile(text, file)
  } catch (err) {
    if (!(err instanceof PolicyFileError)) throw err
    const more = err.issues.length > 1 ? ` (and ${err.issues.length - 1} more below)` : ''
    const first = err.message.split('\n')[0] ?? err.message
    throw new CliError(
      'ERR_CLI_POLICY_FILE',
      `${first}${more}${err.issues.length > 1 ? '\n' + err.message.split('\n').slice(1).join('\n') : ''}`,
      'fix the policy file and run the command again; nothing was sent to the KDC',
      EXIT.USAGE,
      err,
    )
  }
  const size = policyPlaintextBytes(rules)
  if (size > MAX_ADMIN_PLAINTEXT_BYTES) {
    throw new CliError(
      'ERR_CLI_POLICY_FILE',
      `${file}: the policy encodes to ${size} bytes (in a policy.show reply), above the admin payload limit of ${MAX_ADMIN_PLAINTEXT_BYTES}`,
      'use group selectors (group:NAME) to express the same rules with fewer entries',
      EXIT.USAGE,
    )
  }
  return rules
}

/** A rule as --json prints it: maxLifetime in seconds, 0 meaning no cap. */
function ruleJson(r: PolicyRule): Record<string, unknown> {
  return {
    id: r.id,
    caller: r.caller,
    target: r.target,
    scopes: [...r.scopes],
    maxLifetime: r.maxLifetime,
  }
}

export async function policyApply(ctx: CommandContext, file: string): Promise<ExitCode> {
  const rules = await loadPolicyFile(file)
  const r = await ctx.call({ op: 'policy.apply', rules })
  if (ctx.json) ctx.printJson({ policyVersion: r.version, rules: rules.length })
  else ctx.print(`policy applied: version ${r.version}, ${rules.length} rule(s)`)
  return EXIT.OK
}

export async function policyShow(ctx: CommandContext): Promise<ExitCode> {
  const policy = await ctx.call({ op: 'policy.show' })
  if (ctx.json) ctx.printJson({ version: policy.version, rules: policy.rules.map(ruleJson) })
  else ctx.print(policyToYaml(policy))
  return EXIT.OK
}

export async function policyDiff(ctx: CommandContext, file: string): Promise<ExitCode> {
  const proposed = await loadPolicyFile(file)
  const current = await ctx.call({ op: 'policy.show' })
  const d = diffPolicies(current.rules, proposed)
  if (ctx.json) {
    ctx.printJson({
      kdcPolicyVersion: current.version,
      added: d.added.map(ruleJson),
      removed: d.removed.map(ruleJson),
      changed: d.changed.map((c) => ({ id: c.id, fields: c.fields })),
      unchanged: d.unchanged,
    })
  } else {
    ctx.print(renderDiff(d, current.version))
  }
  return EXIT.OK
}

export async function policyCheck(
  ctx: CommandContext,
  caller: string,
  target: string,
  scopes: readonly string[],
): Promise<ExitCode> {
  principalArg(caller)
  ctx.subject = principalArg(target)
  const requested = [...new Set(scopes.map(scopeArg))].sort()
  let d
  try {
    d = await ctx.call({ op: 'policy.check', caller, target, scopes: requested })
  } catch (err) {
    // The KDC does not say which name is unknown; name both.
    if (err instanceof CliError && err.code === 'ERR_ADMIN_NOT_FOUND') {
      throw new CliError(
        err.code,
        `no principal named '${caller}' or '${target}' is registered`,
        'see `tessera-admin principal list`; policy check needs both principals registered',
        err.exitCode,
        err,
      )
    }
    throw err
  }
  // Policy is one gate; the TGS also refuses disabled principals. Say so, or the dry run misleads.
  const disabled: string[] = []
  for (const name of caller === target ? [caller] : [caller, target]) {
    if (!(await ctx.call({ op: 'principal.show', name })).enabled) disabled.push(name)
  }
  const note =
    disabled.length === 0
      ? ''
      : `\nnote: ${disabled.join(' and ')} ${disabled.length === 1 ? 'is' : 'are'} disabled: the TGS refuses tickets until \`tessera-admin principal enable\``
  if (ctx.json) {
    ctx.printJson({
      caller,
      target,
      disabled,
      requestedScopes: requested,
      allowed: d.allowed,
      reason: d.allowed ? null : d.reason,
      ruleIds: [...d.ruleIds],
      grantedScopes: [...d.grantedScopes],
      maxLifetime: d.maxLifetime,
      policyVersion: d.policyVersion,
    })
    return d.allowed ? EXIT.OK : EXIT.DENIED
  }
  const call = `${caller} -> ${target}`
  const version = `policy version ${d.policyVersion}`
  if (d.allowed && d.ruleIds.length === 0) {
    // kadmin: the TGS issues it to anyone; the admin ACL decides each operation.
    ctx.print(
      `allowed: ${call}: no rule needed, the admin ACL decides each operation (${version})${note}`,
    )
    return EXIT.OK
  }
  if (d.allowed) {
    const cap = d.maxLifetime === 0 ? '' : `, max lifetime ${formatDuration(d.maxLifetime)}`
    const rules = d.ruleIds.length === 1 ? 'rule' : 'rules'
    ctx.print(
      `allowed: ${call} with scopes [${d.grantedScopes.join(', ')}] by ${rules} ${d.ruleIds.map((id) => `'${id}'`).join(', ')} (${version}${cap})${note}`,
    )
    return EXIT.OK
  }
  if (d.reason === 'NO_RULE') {
    ctx.print(`denied: no rule allows ${call} (${version}; default deny)${note}`)
  } else if (d.reason === 'TOO_MANY_SCOPES') {
    ctx.print(
      `denied: ${call} matches ${d.ruleIds.map((id) => `'${id}'`).join(', ')}, which together grant more than the ${MAX_SCOPES} scopes a ticket holds; the caller must name the scopes it needs (the client SDK's scopes option), or the rules must grant fewer (${version})${note}`,
    )
  } else {
    ctx.print(
      `denied: ${call} matches ${d.ruleIds.map((id) => `'${id}'`).join(', ')}, which grant [${d.grantedScopes.join(', ')}], not [${requested.filter((s) => !d.grantedScopes.includes(s)).join(', ')}] (${version})${note}`,
    )
  }
  return EXIT.DENIED
}
