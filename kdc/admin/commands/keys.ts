/**
 * `keytab export NAME --out FILE` and `key rotate NAME [--out FILE]`. Keys go to a 0600 file
 * written atomically; stdout only ever says where and which kvnos.
 */
import type { CommandContext } from '../context.js'
import { MAX_KEYTAB_KEYS } from '../../protocol/index.js'
import { EXIT, usageError, type ExitCode } from '../errors.js'
import { checkWritable, writeKeytabFile } from '../keytab-file.js'
import { principalArg, writablePrincipalArg } from './names.js'
import { principalJson } from './principal.js'

export async function keytabExport(
  ctx: CommandContext,
  name: string,
  opts: { readonly out: string },
): Promise<ExitCode> {
  // The krbtgt and kadmin keys forge any ticket: they never leave the KDC.
  ctx.subject = writablePrincipalArg(name, 'export the keys of')
  await checkWritable(opts.out)
  const keytab = await ctx.call({ op: 'keytab.export', name })
  const path = await writeKeytabFile(opts.out, keytab)
  const kvnos = keytab.keys.map((k) => k.kvno)
  if (ctx.json) ctx.printJson({ principal: name, keytab: { path, kvnos } })
  else ctx.print(`keytab for ${name} written to ${path} (mode 0600, kvnos ${kvnos.join(', ')})`)
  return EXIT.OK
}

export async function keyRotate(
  ctx: CommandContext,
  name: string,
  opts: { readonly out?: string; readonly keep?: number },
): Promise<ExitCode> {
  ctx.subject =
    opts.out === undefined ? principalArg(name) : writablePrincipalArg(name, 'export the keys of')
  if (opts.out !== undefined) await checkWritable(opts.out)
  const r = await ctx.call({
    op: 'key.rotate',
    name,
    withKeys: opts.out !== undefined,
    keep: opts.keep ?? 0,
  })
  const kvno = r.principal.kvnos[r.principal.kvnos.length - 1] ?? 0
  let written: { path: string; kvnos: number[] } | null = null
  if (opts.out !== undefined && r.keytab !== undefined) {
    const path = await writeKeytabFile(opts.out, r.keytab)
    written = { path, kvnos: r.keytab.keys.map((k) => k.kvno) }
  }
  if (ctx.json) {
    ctx.printJson({ principal: principalJson(r.principal), kvno, keytab: written })
    return EXIT.OK
  }
  const lines = [`rotated ${name}: new kvno ${kvno} (live kvnos ${r.principal.kvnos.join(', ')})`]
  if (written !== null) {
    lines.push(`keytab written to ${written.path} (mode 0600, kvnos ${written.kvnos.join(', ')})`)
  } else {
    lines.push(
      `new tickets for ${name} use kvno ${kvno}: give its services a fresh keytab with \`tessera-admin keytab export ${name} --out FILE\``,
    )
  }
  ctx.print(lines.join('\n'))
  return EXIT.OK
}

/** The --keep of `key rotate`: 1..MAX_KEYTAB_KEYS key versions left live. */
export function keepArg(text: string): number {
  const n = /^[0-9]{1,2}$/.test(text) ? Number(text) : NaN
  if (!(n >= 1 && n <= MAX_KEYTAB_KEYS)) {
    throw usageError(
      `--keep must be a whole number from 1 to ${String(MAX_KEYTAB_KEYS)}, got ${JSON.stringify(text)}`,
      'e.g. --keep 1 to retire every older key version at once, or leave it out to keep 3',
    )
  }
  return n
}
