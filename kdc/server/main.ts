#!/usr/bin/env node
/**
 * tessera-kdc: the KDC process (docs/internals.md).
 *
 *   tessera-kdc init  --realm R --data DIR                 create a realm offline (never overwrites)
 *   tessera-kdc start --data DIR [--listen HOST:PORT] [--realm R] [limits…]
 *
 * `start` on an empty data directory bootstraps a realm first (named by --realm, default
 * TESSERA.LOCAL) and says on stderr where the admin keytab is and what to run next. Once listening
 * it prints exactly one line on stdout, `tessera-kdc listening on ws://HOST:PORT/v1`; audit records
 * and logs follow as JSON lines. SIGTERM/SIGINT: stop accepting, drain in-flight requests (bounded
 * by --drain-timeout-ms), close the store, exit 0.
 *
 * Test hook: TESSERA_KDC_TEST_CLOCK_OFFSET_S=<signed seconds> shifts the KDC's clock, so
 * integration tests can age tickets and provoke skew without waiting. It is announced on stderr.
 */
import { Command, InvalidArgumentError, Option } from 'commander'
import { isBrokerError } from '../protocol/index.js'
import { rollMasterKey } from '../store/master-key.js'
import { initRealm, openStore, realmExists } from '../store/realm.js'
import {
  buildConfig,
  DEFAULT_LISTEN,
  LIMIT_BOUNDS,
  parseIntegerOption,
  type KdcConfig,
  type LimitName,
} from './config.js'
import { kdcClock, softwareVersion, startKdc } from './kdc.js'
import { flushLogger } from './audit.js'

const PROGRAM = 'tessera-kdc'
export const DEFAULT_REALM = 'TESSERA.LOCAL'
export const CLOCK_OFFSET_ENV = 'TESSERA_KDC_TEST_CLOCK_OFFSET_S'

/** "maxInflightPerConnection" → "max-inflight-per-connection". */
function flagOf(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

function fail(message: string, hint?: string): never {
  process.stderr.write(`${PROGRAM}: error: ${message}\n`)
  if (hint !== undefined) process.stderr.write(`hint: ${hint}\n`)
  process.exit(1)
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function readClockOffset(): number {
  const text = process.env[CLOCK_OFFSET_ENV]
  if (text === undefined || text === '') return 0
  if (!/^-?(0|[1-9][0-9]{0,9})$/.test(text)) {
    fail(`${CLOCK_OFFSET_ENV} must be a whole number of seconds, got ${JSON.stringify(text)}`)
  }
  const offset = Number(text)
  if (offset !== 0) {
    process.stderr.write(
      `${PROGRAM}: warning: ${CLOCK_OFFSET_ENV}=${offset}: the KDC clock is shifted (tests only)\n`,
    )
  }
  return offset
}

interface StartOptions {
  readonly data: string
  readonly listen: string
  readonly realm?: string
  readonly node?: string
  readonly [limit: string]: unknown
}

async function commandInit(options: { data: string; realm: string }): Promise<void> {
  const config = buildConfig({ dataDir: options.data, realm: options.realm })
  const realm = config.realm ?? DEFAULT_REALM
  if (realmExists(config.dataDir)) {
    fail(
      `${config.dataDir} already holds a realm; refusing to overwrite it`,
      'choose another --data directory, or start the existing realm with `tessera-kdc start`',
    )
  }
  const created = await initRealm({ dataDir: config.dataDir, realm, clock: kdcClock(config) })
  process.stderr.write(
    `${PROGRAM}: created realm ${realm} in ${config.dataDir}\n` +
      `  admin keytab: ${created.adminKeytabPath} (principal admin, group admins; keep it secret)\n` +
      `  next: ${PROGRAM} start --data ${config.dataDir}\n`,
  )
}

/**
 * Roll the master key (design brief §3): a new master kvno in the stash, every stored key re-sealed
 * under it in one batch. Offline: the KDC holds the store's lock, so stop it first (the HA pair
 * rolls one node at a time).
 */
async function commandRollMasterKey(options: { data: string }): Promise<void> {
  const config = buildConfig({ dataDir: options.data })
  const store = await openStore({ dataDir: config.dataDir, clock: kdcClock(config) })
  try {
    const kvno = await rollMasterKey({ dataDir: config.dataDir, store })
    process.stdout.write(
      `${PROGRAM}: master key rolled to version ${String(kvno)}; every key record re-sealed under it\n`,
    )
  } finally {
    await store.close()
  }
}

async function commandStart(options: StartOptions): Promise<void> {
  const limits: Partial<Record<LimitName, unknown>> = {}
  for (const name of Object.keys(LIMIT_BOUNDS) as LimitName[]) {
    const v = options[name]
    if (v !== undefined) limits[name] = v
  }
  const config: KdcConfig = buildConfig({
    dataDir: options.data,
    listen: options.listen,
    realm: options.realm,
    ...(options.node === undefined ? {} : { node: options.node }),
    clockOffsetS: readClockOffset(),
    limits,
  })
  const clock = kdcClock(config)
  let bootstrapped: { realm: string; adminKeytabPath: string } | undefined
  if (!realmExists(config.dataDir)) {
    const realm = config.realm ?? DEFAULT_REALM
    const created = await initRealm({ dataDir: config.dataDir, realm, clock })
    bootstrapped = { realm, adminKeytabPath: created.adminKeytabPath }
    // Said now, so that it is said even if the KDC then fails to listen.
    process.stderr.write(
      `${PROGRAM}: created realm ${realm} in ${config.dataDir}\n` +
        `  admin keytab: ${created.adminKeytabPath} (principal admin, group admins; keep it secret)\n`,
    )
  }
  const store = await openStore({ dataDir: config.dataDir, clock })
  if (config.realm !== undefined && config.realm !== store.realm && bootstrapped === undefined) {
    process.stderr.write(
      `${PROGRAM}: note: --realm ${config.realm} ignored: ${config.dataDir} holds realm ${store.realm} (--realm only names a new realm)\n`,
    )
  }
  let kdc
  try {
    kdc = await startKdc({ config, store, clock })
  } catch (err) {
    await store.close().catch(() => undefined)
    throw err
  }
  // Handlers first: whoever waits for the line below may signal at once.
  let signalled = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) {
      process.stderr.write(`${PROGRAM}: ${signal} again: exiting without draining\n`)
      process.exit(1)
    }
    signalled = true
    kdc.ctx.log.info({ signal }, 'shutting down: draining in-flight requests')
    kdc
      .stop()
      .then(async ({ drained }) => {
        kdc.ctx.log.info({ drained }, 'stopped')
        await flushLogger(kdc.ctx.log)
      })
      .then(
        () => {
          process.exit(0)
        },
        (err: unknown) => {
          process.stderr.write(`${PROGRAM}: error while stopping: ${describe(err)}\n`)
          process.exit(1)
        },
      )
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  process.stdout.write(`${PROGRAM} listening on ${kdc.url}\n`)
  if (bootstrapped !== undefined) {
    process.stderr.write(
      `  next: TESSERA_KDC=${kdc.url} TESSERA_KEYTAB=${bootstrapped.adminKeytabPath} tessera-admin status\n`,
    )
  }
}

function integerArg(flag: string): (value: string) => number {
  return (value) => {
    try {
      return parseIntegerOption(`--${flag}`, value)
    } catch (err) {
      throw new InvalidArgumentError(describe(err))
    }
  }
}

export function buildProgram(): Command {
  const program = new Command(PROGRAM)
  program
    .description('Tessera KDC: ticket broker server')
    .version(softwareVersion())
    .showHelpAfterError(`(run \`${PROGRAM} --help\` for usage)`)
    .configureOutput({
      outputError: (text, write) => {
        write(`${PROGRAM}: ${text.replace(/^error: /, 'error: ')}`)
      },
    })

  program
    .command('init')
    .description('create a new realm in an empty data directory (offline)')
    .requiredOption('--realm <REALM>', 'realm name, upper case (e.g. TESSERA.LOCAL)')
    .requiredOption('--data <DIR>', 'data directory to create the realm in')
    .action(async (options: { data: string; realm: string }) => {
      await commandInit(options)
    })

  program
    .command('roll-master-key')
    .description('add a master key version and re-seal every stored key under it (KDC stopped)')
    .requiredOption('--data <DIR>', 'data directory of the realm')
    .action(async (options: { data: string }) => {
      await commandRollMasterKey(options)
    })

  const start = program
    .command('start')
    .description('serve the realm in --data (bootstrapping one when the directory is empty)')
    .requiredOption('--data <DIR>', 'data directory')
    .option('--listen <HOST:PORT>', 'address to listen on (port 0: any free port)', DEFAULT_LISTEN)
    .option('--realm <REALM>', `realm to create if --data is empty (default ${DEFAULT_REALM})`)
    .option('--node <NAME>', 'node name reported by status (default: host name)')
  for (const [name, bound] of Object.entries(LIMIT_BOUNDS)) {
    const flag = flagOf(name)
    start.addOption(
      new Option(
        `--${flag} <N>`,
        `limit ${name} (${bound.min}..${bound.max}, default ${bound.default})`,
      ).argParser(integerArg(flag)),
    )
  }
  start.action(async (options: StartOptions) => {
    await commandStart(options)
  })
  return program
}

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv)
  } catch (err) {
    if (isBrokerError(err)) {
      fail(
        describe(err),
        err.status === 'DB_LOCKED'
          ? 'stop the KDC that holds this directory (roll-master-key needs it stopped), or use another --data directory'
          : undefined,
      )
    }
    if (err instanceof TypeError || err instanceof RangeError) {
      fail(describe(err), `run \`${PROGRAM} --help\` for the options and their bounds`)
    }
    fail(describe(err))
  }
}

await main()
