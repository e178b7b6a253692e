/**
 * The fuzz loop shared by every target: draw an input, run it, classify the outcome, stop at the
 * first failure (or after `maxFailures` distinct ones). Every loop is bounded by an iteration count
 * and a wall-clock deadline; a single run slower than `slowMs` (twice in a row) is a failure, and a
 * run that never returns is caught by the watchdog in main.ts through {@link Progress}.
 */
import { performance } from 'node:perf_hooks'
import { CODES, isBrokerError, type BrokerError, type ErrorCode } from '../../kdc/protocol/index.js'
import type { Rng } from './rng.js'

/** One fuzz input: bytes, or text (headers, YAML, argv values). */
export type Input = Uint8Array | string

export interface Case {
  readonly input: Input
  /** Which generator or mutation made it (printed with a failure). */
  readonly origin: string
}

/** What a target's setup returns: an input generator and the oracle that runs one input. */
export interface Runner {
  next(rng: Rng, iteration: number): Case
  /** Run one input; returns the outcome label(s), or throws FuzzFailure. */
  run(c: Case): string | readonly string[] | Promise<string | readonly string[]>
}

export interface Target {
  readonly name: string
  readonly summary: string
  setup(rng: Rng): Runner | Promise<Runner>
}

/** A property violation: the fuzzer found something. */
export class FuzzFailure extends Error {
  override readonly name = 'FuzzFailure'
  readonly detail: string | undefined
  constructor(message: string, detail?: string) {
    super(message)
    this.detail = detail
  }
}

/** name: message, code/status of a BrokerError, and the top of the stack. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return `non-Error thrown: ${String(err)}`
  const broker = isBrokerError(err) ? ` [${err.code}${err.status ? ` / ${err.status}` : ''}]` : ''
  const stack = (err.stack ?? '').split('\n').slice(1, 7).join('\n')
  return `${err.name}: ${err.message}${broker}\n${stack}`
}

/** The result of running code that may only fail with a BrokerError. */
export type Attempt<T> = { ok: true; value: T } | { ok: false; error: BrokerError }

/**
 * Run `fn`; a BrokerError (with one of `allowed` codes, when given) is an ordinary outcome, anything
 * else is a FuzzFailure naming `what`.
 */
export function attempt<T>(what: string, fn: () => T, allowed?: readonly ErrorCode[]): Attempt<T> {
  try {
    return { ok: true, value: fn() }
  } catch (err) {
    if (err instanceof FuzzFailure) throw err
    if (!isBrokerError(err)) {
      throw new FuzzFailure(`${what} threw a non-BrokerError`, describeError(err))
    }
    if (!Object.hasOwn(CODES, err.code)) {
      throw new FuzzFailure(`${what} threw a code outside the catalogue`, describeError(err))
    }
    if (allowed !== undefined && !allowed.includes(err.code)) {
      throw new FuzzFailure(
        `${what} threw ${err.code}, expected one of ${allowed.join(', ')}`,
        describeError(err),
      )
    }
    return { ok: false, error: err }
  }
}

/** The outcome label of an attempt: 'OK' or the code. */
export function label<T>(a: Attempt<T>): string {
  return a.ok ? 'OK' : a.error.code
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export function hexOf(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex')
}

/** Throw a FuzzFailure unless `a` and `b` are the same bytes. */
export function expectSameBytes(what: string, got: Uint8Array, want: Uint8Array): void {
  if (!sameBytes(got, want)) {
    throw new FuzzFailure(what, `re-encoded: ${hexOf(got)}\noriginal:   ${hexOf(want)}`)
  }
}

// ---- progress shared with the watchdog ---------------------------------------------------------

/** Slots of Progress.state. */
export const P = Object.freeze({
  BEAT: 0,
  TARGET: 1,
  ITERATION: 2,
  LENGTH: 3,
  KIND: 4,
  PHASE: 5,
  /** 0: generating the next input, 1: running it. */
  STAGE: 6,
} as const)
export const PHASE_SETUP = 0
export const PHASE_RUN = 1
export const PHASE_DONE = 2
export const PROGRESS_INPUT_BYTES = 1 << 20

/**
 * The current target, iteration and input, in shared memory: the watchdog (main thread) reads them
 * when the worker stops making progress, and prints the input that hung.
 */
export class Progress {
  readonly state: Int32Array
  readonly input: Uint8Array
  readonly #text: Buffer

  constructor(shared: SharedArrayBuffer) {
    this.state = new Int32Array(shared, 0, 8)
    this.input = new Uint8Array(shared, 64, PROGRESS_INPUT_BYTES)
    this.#text = Buffer.from(shared, 64, PROGRESS_INPUT_BYTES)
  }

  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(64 + PROGRESS_INPUT_BYTES)
  }

  phase(target: number, phase: number): void {
    Atomics.store(this.state, P.TARGET, target)
    Atomics.store(this.state, P.PHASE, phase)
    Atomics.add(this.state, P.BEAT, 1)
  }

  /** Generating the input of `iteration` (a generator that hangs is reported as such). */
  generating(iteration: number): void {
    this.state[P.ITERATION] = iteration
    this.state[P.STAGE] = 0
    Atomics.add(this.state, P.BEAT, 1)
  }

  record(iteration: number, input: Input): void {
    let n: number
    if (typeof input === 'string') {
      n = this.#text.write(input, 'utf8')
      this.state[P.KIND] = 1
    } else {
      n = Math.min(input.length, PROGRESS_INPUT_BYTES)
      this.input.set(input.length === n ? input : input.subarray(0, n))
      this.state[P.KIND] = 0
    }
    this.state[P.LENGTH] = n
    this.state[P.ITERATION] = iteration
    this.state[P.STAGE] = 1
    Atomics.add(this.state, P.BEAT, 1)
  }
}

const encoder = new TextEncoder()

// ---- the loop ----------------------------------------------------------------------------------

export interface RunOptions {
  readonly seed: string
  readonly deadline: number
  readonly maxIterations: number
  readonly slowMs: number
  readonly maxFailures: number
  readonly progress: Progress | undefined
  readonly log: (line: string) => void
}

export interface FailureReport {
  readonly target: string
  readonly iteration: number
  readonly origin: string
  readonly input: Input
  readonly message: string
  readonly detail: string | undefined
}

export interface TargetResult {
  readonly name: string
  readonly iterations: number
  readonly seconds: number
  readonly outcomes: ReadonlyMap<string, number>
  readonly failures: readonly FailureReport[]
  readonly slowestMs: number
}

function asFailure(err: unknown): { message: string; detail: string | undefined } {
  if (err instanceof FuzzFailure) return { message: err.message, detail: err.detail }
  return {
    message: 'the target itself threw (harness bug or unexpected exception)',
    detail: describeError(err),
  }
}

/** Run one target until its deadline, its iteration cap, or enough failures. */
export async function runTarget(
  target: Target,
  rng: Rng,
  runner: Runner,
  options: RunOptions,
): Promise<TargetResult> {
  const outcomes = new Map<string, number>()
  const failures: FailureReport[] = []
  const seen = new Set<string>()
  const started = performance.now()
  let slowest = 0
  let i = 0
  for (; i < options.maxIterations; i++) {
    if ((i & 15) === 0 && performance.now() >= options.deadline) break
    let c: Case
    options.progress?.generating(i)
    try {
      c = runner.next(rng, i)
    } catch (err) {
      failures.push({
        target: target.name,
        iteration: i,
        origin: 'the input generator',
        input: '',
        ...asFailure(err),
      })
      options.log(formatFailure(failures[failures.length - 1] as FailureReport, options.seed))
      break
    }
    options.progress?.record(i, c.input)
    const t0 = performance.now()
    let result: string | readonly string[]
    try {
      const r = runner.run(c)
      result = r instanceof Promise ? await r : r
      const ms = performance.now() - t0
      if (ms > slowest) slowest = ms
      if (ms > options.slowMs) {
        // Once more, to tell a slow input from a GC pause or a busy machine.
        const t1 = performance.now()
        try {
          const again = runner.run(c)
          if (again instanceof Promise) await again
        } catch {
          // Only the time matters here (a stateful target may answer differently the second time).
        }
        const ms2 = performance.now() - t1
        if (ms2 > options.slowMs) {
          throw new FuzzFailure(
            `one run took ${ms.toFixed(0)} ms and ${ms2.toFixed(0)} ms (limit ${options.slowMs} ms)`,
          )
        }
      }
    } catch (err) {
      const f = asFailure(err)
      if (!seen.has(f.message)) {
        seen.add(f.message)
        failures.push({ target: target.name, iteration: i, origin: c.origin, input: c.input, ...f })
        options.log(formatFailure(failures[failures.length - 1] as FailureReport, options.seed))
      }
      if (failures.length >= options.maxFailures) {
        i++
        break
      }
      continue
    }
    if (typeof result === 'string') outcomes.set(result, (outcomes.get(result) ?? 0) + 1)
    else for (const r of result) outcomes.set(r, (outcomes.get(r) ?? 0) + 1)
  }
  return {
    name: target.name,
    iterations: i,
    seconds: (performance.now() - started) / 1000,
    outcomes,
    failures,
    slowestMs: slowest,
  }
}

/** The input as hex (text as its UTF-8), shortened in the middle past `max` bytes. */
export function inputHex(input: Input, max = 8_192): string {
  const bytes = typeof input === 'string' ? encoder.encode(input) : input
  const hex = hexOf(bytes)
  if (bytes.length <= max) return hex
  return `${hex.slice(0, max)}…(${bytes.length} bytes in all)…${hex.slice(-64)}`
}

export function formatFailure(f: FailureReport, seed: string): string {
  const lines = [
    `FAIL ${f.target}: ${f.message}`,
    `  seed ${seed}, iteration ${f.iteration}, input from ${f.origin}`,
    `  rerun: --target ${f.target} --seed ${seed}`,
  ]
  const size = typeof f.input === 'string' ? `${f.input.length} chars` : `${f.input.length} bytes`
  if (typeof f.input === 'string') {
    const shown = f.input.length > 4_000 ? `${f.input.slice(0, 4_000)}…` : f.input
    lines.push(`  input (text, ${size}): ${JSON.stringify(shown)}`)
  }
  lines.push(
    `  input (hex${typeof f.input === 'string' ? ' of UTF-8' : ''}, ${size}): ${inputHex(f.input)}`,
  )
  if (f.detail !== undefined) lines.push(...f.detail.split('\n').map((l) => `  | ${l}`))
  return lines.join('\n')
}

export function formatResult(r: TargetResult): string {
  const rate = r.seconds > 0 ? Math.round(r.iterations / r.seconds) : 0
  const outcomes = [...r.outcomes.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')
  const status = r.failures.length === 0 ? 'ok  ' : 'FAIL'
  return (
    `${status} ${r.name.padEnd(20)} ${String(r.iterations).padStart(9)} it ` +
    `${r.seconds.toFixed(1).padStart(6)} s ${String(rate).padStart(8)} it/s ` +
    `slowest ${r.slowestMs.toFixed(1)} ms\n       outcomes (${r.outcomes.size}): ${outcomes}`
  )
}
