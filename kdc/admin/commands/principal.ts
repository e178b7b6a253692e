/**
 * `principal add|list|show|disable|enable|delete`. Results are printed as tables or key/value
 * lines, or as one JSON document with --json. Key material is written only to keytab files, never
 * printed.
 */
import type { PrincipalInfo } from '../../protocol/index.js'
import type { CommandContext } from '../context.js'
import { EXIT, type ExitCode } from '../errors.js'
import { checkWritable, writeKeytabFile } from '../keytab-file.js'
import { formatTime, renderFields, renderTable } from '../table.js'
import { groupArg, principalArg, writablePrincipalArg } from './names.js'

/** Principal info as --json prints it. */
export function principalJson(p: PrincipalInfo): Record<string, unknown> {
  return {
    name: p.name,
    id: p.id,
    enabled: p.enabled,
    groups: [...p.groups],
    kvnos: [...p.kvnos],
    currentKvno: p.kvnos[p.kvnos.length - 1] ?? null,
    createdAt: formatTime(p.createdAt),
    updatedAt: formatTime(p.updatedAt),
  }
}

function groupsText(groups: readonly string[]): string {
  return groups.length === 0 ? '-' : groups.join(',')
}

function principalFields(p: PrincipalInfo): string {
  return renderFields([
    ['name', p.name],
    ['id', p.id],
    ['enabled', p.enabled ? 'yes' : 'no'],
    ['groups', groupsText(p.groups)],
    ['kvnos', p.kvnos.join(', ')],
    ['created', formatTime(p.createdAt)],
    ['updated', formatTime(p.updatedAt)],
  ])
}

export interface AddOptions {
  readonly group: readonly string[]
  readonly out?: string
}

export async function principalAdd(
  ctx: CommandContext,
  name: string,
  opts: AddOptions,
): Promise<ExitCode> {
  ctx.subject = writablePrincipalArg(name, 'add')
  const groups = opts.group.map(groupArg)
  const out = opts.out ?? `./${name}.keytab`
  // The key exists only in this reply: make sure it can be written before creating it.
  await checkWritable(out)
  const r = await ctx.call({ op: 'principal.add', name, groups })
  let path: string
  try {
    path = await writeKeytabFile(out, r.keytab)
  } catch (err) {
    ctx.io.stderr(
      `tessera-admin: principal ${name} was created, but its keytab could not be written; get it with \`tessera-admin keytab export ${name} --out FILE\`\n`,
    )
    throw err
  }
  const kvnos = r.keytab.keys.map((k) => k.kvno)
  if (ctx.json) {
    ctx.printJson({ principal: principalJson(r.principal), keytab: { path, kvnos } })
  } else {
    ctx.print(
      `added principal ${name} (groups: ${groupsText(r.principal.groups)}, kvno ${kvnos.join(', ')})\nkeytab written to ${path} (mode 0600)`,
    )
  }
  return EXIT.OK
}

export async function principalList(
  ctx: CommandContext,
  opts: { readonly group?: string },
): Promise<ExitCode> {
  const group = opts.group === undefined ? undefined : groupArg(opts.group)
  const all: PrincipalInfo[] = []
  let after = ''
  // Pages until the KDC says there is no more; a bound stops a misbehaving peer looping us.
  for (let page = 0; page < 10_000; page++) {
    const r = await ctx.call({ op: 'principal.list', group, after, limit: 256 })
    all.push(...r.principals)
    if (r.next === '' || r.next <= after) break
    after = r.next
  }
  if (ctx.json) {
    ctx.printJson({ principals: all.map(principalJson) })
    return EXIT.OK
  }
  if (all.length === 0) {
    ctx.print(group === undefined ? 'no principals' : `no principals in group ${group}`)
    return EXIT.OK
  }
  ctx.print(
    renderTable(
      ['NAME', 'ENABLED', 'KVNO', 'GROUPS', 'CREATED'],
      all.map((p) => [
        p.name,
        p.enabled ? 'yes' : 'no',
        String(p.kvnos[p.kvnos.length - 1] ?? '-'),
        groupsText(p.groups),
        formatTime(p.createdAt),
      ]),
    ),
  )
  return EXIT.OK
}

export async function principalShow(ctx: CommandContext, name: string): Promise<ExitCode> {
  ctx.subject = principalArg(name)
  const p = await ctx.call({ op: 'principal.show', name })
  if (ctx.json) ctx.printJson(principalJson(p))
  else ctx.print(principalFields(p))
  return EXIT.OK
}

export async function principalSetEnabled(
  ctx: CommandContext,
  name: string,
  enable: boolean,
): Promise<ExitCode> {
  ctx.subject = writablePrincipalArg(name, enable ? 'enable' : 'disable')
  const p = await ctx.call({ op: enable ? 'principal.enable' : 'principal.disable', name })
  if (ctx.json) ctx.printJson(principalJson(p))
  else
    ctx.print(
      enable
        ? `principal ${name} enabled`
        : `principal ${name} disabled: the KDC issues it no tickets and no tickets for it`,
    )
  return EXIT.OK
}

export async function principalDelete(ctx: CommandContext, name: string): Promise<ExitCode> {
  ctx.subject = writablePrincipalArg(name, 'delete')
  const r = await ctx.call({ op: 'principal.delete', name })
  if (ctx.json) ctx.printJson({ deleted: r.name })
  else ctx.print(`principal ${r.name} deleted`)
  return EXIT.OK
}
