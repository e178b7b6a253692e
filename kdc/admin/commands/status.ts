/** `status`: the KDC's realm, version, role, counts and uptime. */
import type { CommandContext } from '../context.js'
import { formatDuration } from '../duration.js'
import { EXIT, type ExitCode } from '../errors.js'
import { renderFields } from '../table.js'

export async function status(ctx: CommandContext): Promise<ExitCode> {
  const s = await ctx.call({ op: 'status' })
  if (ctx.json) {
    ctx.printJson({ ...s, kdc: ctx.kdcUrls })
    return EXIT.OK
  }
  ctx.print(
    renderFields([
      ['realm', s.realm],
      ['version', s.version],
      ['node', s.node],
      ['role', s.role],
      ['principals', String(s.principals)],
      ['policy version', String(s.policyVersion)],
      ['uptime', formatDuration(s.uptimeSeconds)],
      ['kdc', ctx.kdcUrls.join(', ')],
    ]),
  )
  return EXIT.OK
}
