/**
 * Tessera's fuzzing harness: every boundary parser, time-bounded, runnable as a plain Node script
 * (no vitest). Built by tsc with the rest of the tree (tsconfig.build.json includes test/fuzz).
 *
 *   node dist/test/fuzz/main.js [--seconds 60] [--seed N] [--target NAME[,NAME…]]
 *                               [--iterations N] [--slow-ms 2000] [--hang-seconds 20]
 *                               [--max-failures 1] [--inline] [--list]
 *
 * --seconds   total wall time, split evenly across the chosen targets (setup included)
 * --seed      replays a run: every target draws from its own stream derived from (seed, target)
 * --target    one or more targets (see --list); default all
 * --iterations  cap per target, on top of the time bound
 * --slow-ms   one input taking longer than this, twice in a row, is a failure
 * --hang-seconds  the watchdog's limit for one input; the fuzzing runs in a worker thread so
 *             that a parser that never returns is caught and its input printed
 * --max-failures  distinct failures to collect per target before moving on
 * --inline    run in this thread, without the watchdog (for a debugger)
 *
 * Prints per target: iterations, rate, slowest input and the distinct outcomes (error codes) seen;
 * on a failure: the target, seed, iteration, the input in hex and what was unexpected. Exits 1 on
 * any failure, 0 otherwise.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import {
  formatFailure,
  formatResult,
  hexOf,
  P,
  PHASE_DONE,
  PHASE_RUN,
  Progress,
  runTarget,
  type Target,
  type TargetResult,
} from './harness.js'
import { freshSeed, Rng } from './rng.js'
import { apReqViewTarget } from './targets/ap-req-view.js'
import { authorizationHeaderTarget } from './targets/authorization-header.js'
import { codecTarget, messagesTarget } from './targets/codec.js'
import { configTarget } from './targets/config.js'
import { kdcAdminTarget } from './targets/kdc-admin.js'
import { kdcFramesTarget } from './targets/kdc-frames.js'
import { adminOpsTarget, keytabTarget } from './targets/keytab-admin.js'
import { plaintextReadersTarget } from './targets/plaintext-readers.js'
import { policyFileTarget } from './targets/policy-file.js'
import { requestBindingTarget } from './targets/request-binding.js'
import { sealedPartsTarget } from './targets/sealed-parts.js'
import { verifierTarget, verifierTinyCacheTarget } from './targets/verifier.js'

export const TARGETS: readonly Target[] = [
  codecTarget,
  messagesTarget,
  sealedPartsTarget,
  apReqViewTarget,
  plaintextReadersTarget,
  authorizationHeaderTarget,
  requestBindingTarget,
  verifierTarget,
  verifierTinyCacheTarget,
  keytabTarget,
  adminOpsTarget,
  kdcFramesTarget,
  kdcAdminTarget,
  policyFileTarget,
  configTarget,
]

interface Options {
  readonly seconds: number
  readonly seed: string
  readonly targets: readonly string[]
  readonly iterations: number
  readonly slowMs: number
  readonly hangSeconds: number
  readonly maxFailures: number
  readonly inline: boolean
  readonly list: boolean
}

const USAGE =
  'usage: main.js [--seconds N] [--seed N] [--target NAME[,NAME…]] [--iterations N] [--slow-ms N] [--hang-seconds N] [--max-failures N] [--inline] [--list]'

function parseArgs(argv: readonly string[]): Options {
  let seconds = 60
  let seed: string | undefined
  const targets: string[] = []
  let iterations = 50_000_000
  let slowMs = 2_000
  let hangSeconds = 20
  let maxFailures = 1
  let inline = false
  let list = false
  const number = (flag: string, v: string | undefined): number => {
    if (v === undefined || !/^\d+(\.\d+)?$/.test(v))
      throw new Error(`${flag} needs a number\n${USAGE}`)
    return Number(v)
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    const [flag, inlineValue] = a.includes('=')
      ? (a.split('=', 2) as [string, string])
      : [a, undefined]
    const value = (): string | undefined => inlineValue ?? argv[++i]
    switch (flag) {
      case '--seconds':
        seconds = number(flag, value())
        break
      case '--seed': {
        const v = value()
        if (v === undefined || !/^\d{1,20}$/.test(v))
          throw new Error(`--seed needs a decimal number\n${USAGE}`)
        seed = v
        break
      }
      case '--target':
        targets.push(...(value() ?? '').split(',').filter((t) => t !== ''))
        break
      case '--iterations':
        iterations = number(flag, value())
        break
      case '--slow-ms':
        slowMs = number(flag, value())
        break
      case '--hang-seconds':
        hangSeconds = number(flag, value())
        break
      case '--max-failures':
        maxFailures = Math.max(1, number(flag, value()))
        break
      case '--inline':
        inline = true
        break
      case '--list':
        list = true
        break
      case '--help':
      case '-h':
        throw new Error(USAGE)
      default:
        throw new Error(`unknown option ${a}\n${USAGE}`)
    }
  }
  const known = new Set(TARGETS.map((t) => t.name))
  for (const t of targets) {
    if (!known.has(t)) throw new Error(`unknown target ${t}; known: ${[...known].join(', ')}`)
  }
  return {
    seconds,
    seed: seed ?? freshSeed(),
    targets: targets.length > 0 ? targets : TARGETS.map((t) => t.name),
    iterations,
    slowMs,
    hangSeconds,
    maxFailures,
    inline,
    list,
  }
}

/** Run the chosen targets one after another; returns whether any failed. */
async function fuzz(
  options: Options,
  progress: Progress | undefined,
  log: (l: string) => void,
): Promise<boolean> {
  const chosen = TARGETS.filter((t) => options.targets.includes(t.name))
  log(`tessera fuzz: seed ${options.seed}, ${options.seconds} s over ${chosen.length} target(s)`)
  const started = performance.now()
  const results: TargetResult[] = []
  for (let k = 0; k < chosen.length; k++) {
    const target = chosen[k] as Target
    const remaining = options.seconds * 1000 - (performance.now() - started)
    const share = Math.max(50, remaining / (chosen.length - k))
    const deadline = performance.now() + share
    progress?.phase(TARGETS.indexOf(target), 0)
    const rng = new Rng(options.seed, target.name)
    let result: TargetResult
    try {
      const runner = await target.setup(rng)
      progress?.phase(TARGETS.indexOf(target), PHASE_RUN)
      result = await runTarget(target, rng, runner, {
        seed: options.seed,
        deadline,
        maxIterations: options.iterations,
        slowMs: options.slowMs,
        maxFailures: options.maxFailures,
        progress,
        log,
      })
    } catch (err) {
      const message = err instanceof Error ? (err.stack ?? err.message) : String(err)
      result = {
        name: target.name,
        iterations: 0,
        seconds: 0,
        outcomes: new Map(),
        slowestMs: 0,
        failures: [
          {
            target: target.name,
            iteration: 0,
            origin: 'setup',
            input: '',
            message: 'setup failed',
            detail: message,
          },
        ],
      }
      log(formatFailure(result.failures[0] as (typeof result.failures)[number], options.seed))
    }
    results.push(result)
    log(formatResult(result))
  }
  progress?.phase(-1, PHASE_DONE)
  const failed = results.filter((r) => r.failures.length > 0)
  const total = results.reduce((n, r) => n + r.iterations, 0)
  log(
    `\n${total} inputs in ${((performance.now() - started) / 1000).toFixed(1)} s, seed ${options.seed}: ` +
      (failed.length === 0 ? 'no failures' : `FAILURES in ${failed.map((r) => r.name).join(', ')}`),
  )
  return failed.length > 0
}

// ---- watchdog (main thread) and worker ------------------------------------------------------------

interface WorkerMessage {
  readonly kind: 'line' | 'done'
  readonly text?: string
  readonly failed?: boolean
}

function watch(options: Options): void {
  const shared = Progress.allocate()
  const progress = new Progress(shared)
  const worker = new Worker(new URL(import.meta.url), { workerData: { options, shared } })
  let lastBeat = -1
  let lastChange = performance.now()
  let finished = false
  const timer = setInterval(() => {
    const beat = Atomics.load(progress.state, P.BEAT)
    const now = performance.now()
    if (beat !== lastBeat) {
      lastBeat = beat
      lastChange = now
      return
    }
    const phase = Atomics.load(progress.state, P.PHASE)
    if (phase === PHASE_DONE) return
    // Setup (minting, building a KDC) is allowed longer than one input.
    const limit =
      (phase === PHASE_RUN ? options.hangSeconds : Math.max(120, options.hangSeconds)) * 1000
    if (now - lastChange < limit) return
    const target = TARGETS[Atomics.load(progress.state, P.TARGET)]?.name ?? '?'
    const n = progress.state[P.LENGTH] as number
    const bytes = progress.input.slice(0, n)
    const generating = phase === PHASE_RUN && progress.state[P.STAGE] === 0
    const where = generating ? ' — in the input generator, not in the code under test' : ''
    const lines = [
      `FAIL ${target}: no progress for ${((now - lastChange) / 1000).toFixed(0)} s (${phase === PHASE_RUN ? 'one input hangs' : 'setup hangs'})${where}`,
      `  seed ${options.seed}, iteration ${progress.state[P.ITERATION] ?? 0}`,
      `  rerun: --target ${target} --seed ${options.seed}`,
    ]
    if (phase === PHASE_RUN && !generating) {
      if (progress.state[P.KIND] === 1)
        lines.push(`  input (text): ${JSON.stringify(new TextDecoder().decode(bytes))}`)
      lines.push(`  input (hex, ${n} bytes): ${hexOf(bytes)}`)
    }
    console.log(lines.join('\n'))
    finished = true
    clearInterval(timer)
    process.exitCode = 1
    void worker.terminate()
  }, 250)
  worker.on('message', (m: WorkerMessage) => {
    if (m.kind === 'line') console.log(m.text)
    else {
      finished = true
      clearInterval(timer)
      process.exitCode = m.failed === true ? 1 : 0
      // Targets leave timers and caches behind (a KDC context, verifiers): do not wait for them.
      void worker.terminate()
    }
  })
  worker.on('error', (err) => {
    console.log(`FAIL the fuzz worker crashed: ${err.stack ?? err.message}`)
    finished = true
    clearInterval(timer)
    process.exitCode = 1
  })
  worker.on('exit', (code) => {
    clearInterval(timer)
    if (!finished) {
      console.log(`FAIL the fuzz worker exited with code ${code} before finishing (out of memory?)`)
      process.exitCode = 1
    }
  })
}

async function main(): Promise<void> {
  if (!isMainThread) {
    const data = workerData as { options: Options; shared: SharedArrayBuffer }
    const port = parentPort
    if (port === null) return
    const failed = await fuzz(data.options, new Progress(data.shared), (text) => {
      port.postMessage({ kind: 'line', text } satisfies WorkerMessage)
    })
    port.postMessage({ kind: 'done', failed } satisfies WorkerMessage)
    return
  }
  let options: Options
  try {
    options = parseArgs(process.argv.slice(2))
  } catch (err) {
    console.error((err as Error).message)
    process.exitCode = 2
    return
  }
  if (options.list) {
    for (const t of TARGETS) console.log(`${t.name.padEnd(22)} ${t.summary}`)
    return
  }
  if (options.inline) {
    const failed = await fuzz(options, undefined, (l) => {
      console.log(l)
    })
    process.exit(failed ? 1 : 0)
  }
  watch(options)
}

await main()
