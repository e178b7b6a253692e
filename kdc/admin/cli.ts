#!/usr/bin/env node
/**
 * tessera-admin: operate a running Tessera KDC over the admin exchange (docs/cli.md). It never opens
 * the store: every operation is an admin request authenticated with an admin ticket, sent through
 * client/ (house style B1).
 *
 * Output: data on stdout (tables, or one JSON document with --json); failures on stderr as
 * `tessera-admin: error: <what>` and `hint: <what to do>` (and a JSON error document on stdout with
 * --json). Exit codes: see errors.ts EXIT.
 */
import { realpathSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Command, CommanderError } from 'commander'
import { CommandContext, type Connect, type Io } from './context.js'
import { CliError, EXIT, toCliError, usageError, type ExitCode } from './errors.js'
import { keepArg, keyRotate, keytabExport } from './commands/keys.js'
import { policyApply, policyCheck, policyDiff, policyShow } from './commands/policy.js'
import {
  principalAdd,
  principalDelete,
  principalList,
  principalSetEnabled,
  principalShow,
  type AddOptions,
} from './commands/principal.js'
import { status } from './commands/status.js'

const collect = (value: string, previous: readonly string[] | undefined): string[] => [
  ...(previous ?? []),
  value,
]

const EXIT_HELP = `
Exit codes:
  0  success (policy check: allowed)
  1  the KDC refused the operation, or a local step failed
  2  bad command line or input file (nothing was sent)
  3  policy check: denied
  4  no KDC reachable

Environment:
  TESSERA_KDC     comma-separated KDC URLs (default ws://127.0.0.1:7088/v1)
  TESSERA_KEYTAB  admin keytab (default ./var/kdc/admin.keytab)
`

async function packageVersion(): Promise<string> {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
        name?: string
        version?: string
      }
      if (pkg.name === 'tessera' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // not here; look in the parent
    }
    dir = dirname(dir)
  }
  return 'unknown'
}

/** What runCli needs from the outside world. */
export interface CliEnv {
  readonly io: Io
  readonly connect: Connect
}

function buildProgram(env: CliEnv, version: string, state: RunState): Command {
  const program = new Command('tessera-admin')
    .description('Operate a running Tessera KDC: principals, keys, policy, status.')
    .option(
      '--kdc <url>',
      'KDC URL; repeat for an HA pair (default: $TESSERA_KDC, then ws://127.0.0.1:7088/v1)',
      collect,
    )
    .option(
      '--keytab <file>',
      'admin keytab to authenticate with (default: $TESSERA_KEYTAB, then ./var/kdc/admin.keytab)',
    )
    .option('--json', 'print one machine-readable JSON document on stdout')
    .version(version, '-V, --version')
    .addHelpText('after', EXIT_HELP)
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({
      writeOut: env.io.stdout,
      writeErr: env.io.stderr,
      outputError: (str) => {
        state.commanderMessage = str.trim().replace(/^error: /, '')
      },
    })

  // A ties each handler's parameter types to the positional args commander passes (typed any).
  const run =
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
    <A extends unknown[]>(fn: (ctx: CommandContext, ...args: A) => Promise<ExitCode>) =>
      async (...raw: unknown[]): Promise<void> => {
        const cmd = raw[raw.length - 1] as Command
        const ctx = new CommandContext(cmd.optsWithGlobals(), env.io, env.connect)
        state.ctx = ctx
        state.exit = await fn(ctx, ...(raw.slice(0, -1) as A))
      }

  const principal = program.command('principal').description('register and manage principals')
  principal
    .command('add <name>')
    .description('register a principal and write its keytab (mode 0600)')
    .option('--group <group>', 'add to this group; repeatable', collect)
    .option('--out <file>', 'where to write the new keytab (default: ./NAME.keytab)')
    .action(
      run((ctx, name: string, o: { group?: string[]; out?: string }) => {
        const opts: AddOptions =
          o.out === undefined ? { group: o.group ?? [] } : { group: o.group ?? [], out: o.out }
        return principalAdd(ctx, name, opts)
      }),
    )
  principal
    .command('list')
    .description('list principals')
    .option('--group <group>', 'only members of this group')
    .action(
      run((ctx, o: { group?: string }) =>
        principalList(ctx, o.group === undefined ? {} : { group: o.group }),
      ),
    )
  principal
    .command('show <name>')
    .description('show one principal (never its keys)')
    .action(run((ctx, name: string) => principalShow(ctx, name)))
  principal
    .command('disable <name>')
    .description('stop issuing tickets to and for a principal')
    .action(run((ctx, name: string) => principalSetEnabled(ctx, name, false)))
  principal
    .command('enable <name>')
    .description('re-enable a disabled principal')
    .action(run((ctx, name: string) => principalSetEnabled(ctx, name, true)))
  principal
    .command('delete <name>')
    .description('delete a principal and all its keys')
    .action(run((ctx, name: string) => principalDelete(ctx, name)))

  program
    .command('keytab')
    .description('export keytabs')
    .command('export <name>')
    .description('write every live key version of a principal to a keytab file (mode 0600)')
    .requiredOption('--out <file>', 'keytab file to write (replaced atomically)')
    .action(run((ctx, name: string, o: { out: string }) => keytabExport(ctx, name, o)))

  program
    .command('key')
    .description('rotate keys')
    .command('rotate <name>')
    .description(
      'add a new key version; older versions stay live so tickets in flight still verify',
    )
    .option('--out <file>', 'also write the keytab with the new key (mode 0600)')
    .option(
      '--keep <n>',
      'key versions left live, the new one included (1-16; default 3). --keep 1 retires every older version at once (a stolen key)',
    )
    .action(
      run((ctx, name: string, o: { out?: string; keep?: string }) =>
        keyRotate(ctx, name, {
          ...(o.out === undefined ? {} : { out: o.out }),
          ...(o.keep === undefined ? {} : { keep: keepArg(o.keep) }),
        }),
      ),
    )

  const policy = program.command('policy').description('authorization policy')
  policy
    .command('apply <file>')
    .description('validate a YAML policy file locally, then make it the KDC policy')
    .action(run((ctx, file: string) => policyApply(ctx, file)))
  policy
    .command('show')
    .description('print the KDC policy as a policy file (YAML)')
    .action(run((ctx) => policyShow(ctx)))
  policy
    .command('diff <file>')
    .description("rules a policy file would add, remove or change in the KDC's policy")
    .action(run((ctx, file: string) => policyDiff(ctx, file)))
  policy
    .command('check <caller> <target> [scopes...]')
    .description(
      'dry run: would the TGS give CALLER a ticket for TARGET (with SCOPES)? exit 0 yes, 3 no',
    )
    .action(
      run((ctx, caller: string, target: string, scopes: string[] | undefined) =>
        policyCheck(ctx, caller, target, scopes ?? []),
      ),
    )

  program
    .command('status')
    .description("the KDC's realm, version, role and counts")
    .action(run((ctx) => status(ctx)))

  return program
}

interface RunState {
  ctx: CommandContext | undefined
  exit: ExitCode
  commanderMessage: string | undefined
}

/** The sub-command path named in argv ("policy check"), for usage hints. */
function commandPath(program: Command, argv: readonly string[]): string {
  const names: string[] = []
  let cmd: Command | undefined = program
  for (const arg of argv) {
    if (arg.startsWith('-')) continue
    const next: Command | undefined = cmd.commands.find((c) => c.name() === arg)
    if (next === undefined) break
    names.push(arg)
    cmd = next
  }
  return ['tessera-admin', ...names].join(' ')
}

function report(env: CliEnv, json: boolean, err: CliError): void {
  env.io.stderr(`tessera-admin: error: ${err.message}\nhint: ${err.hint}\n`)
  if (json) {
    env.io.stdout(
      `${JSON.stringify({ error: { code: err.code, message: err.message, hint: err.hint, exitCode: err.exitCode } })}\n`,
    )
  }
}

/** Run tessera-admin with `argv` (without node and script); resolves with the exit code. */
export async function runCli(argv: readonly string[], env: CliEnv): Promise<number> {
  const state: RunState = { ctx: undefined, exit: EXIT.OK, commanderMessage: undefined }
  const program = buildProgram(env, await packageVersion(), state)
  const json = argv.includes('--json')
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return state.exit
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') {
        return EXIT.OK
      }
      const path = commandPath(program, argv)
      const message =
        err.code === 'commander.help' || err.code === 'commander.executeSubCommandAsync'
          ? 'missing command'
          : (state.commanderMessage ?? err.message.replace(/^error: /, ''))
      report(env, json, usageError(message, `run \`${path} --help\` for usage`))
      return EXIT.USAGE
    }
    const cliErr = toCliError(err, state.ctx?.hintContext() ?? { kdcUrls: [], keytabPath: '' })
    report(env, json, cliErr)
    return cliErr.exitCode
  } finally {
    await state.ctx?.close()
  }
}

async function main(): Promise<void> {
  const { connectAdmin } = await import('./session.js')
  const io: Io = {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
  }
  // The client SDK unrefs its timers (a library must not keep its host alive), so a backoff
  // between KDC attempts could let the process end early with exit 0. Hold it open until done.
  const keepAlive = setInterval(() => undefined, 60_000)
  try {
    process.exitCode = await runCli(process.argv.slice(2), { io, connect: connectAdmin })
  } finally {
    clearInterval(keepAlive)
  }
}

function isMain(): boolean {
  const script = process.argv[1]
  if (script === undefined) return false
  try {
    return pathToFileURL(realpathSync(script)).href === import.meta.url
  } catch {
    return false
  }
}

if (isMain()) {
  main().catch((err: unknown) => {
    process.stderr.write(
      `tessera-admin: error: ${err instanceof Error ? err.message : String(err)}\nhint: this is a bug in tessera-admin; please report it\n`,
    )
    process.exitCode = EXIT.FAILED
  })
}
