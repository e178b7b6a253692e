/**
 * Time for the client SDK: a local clock with timers (injected, so tests can move time), and the
 * KDC clock offset (design brief §4: "every KDC reply carries the KDC's clock, so clients correct
 * their offset"), moved only by times the KDC authenticated (see KdcClock).
 */
import { MAX_CLOCK_SKEW_S } from '../kdc/protocol/index.js'

/**
 * An opaque timer handle returned by {@link ClientClock.setTimeout}.
 *
 * @example
 * ```ts
 * const handle: TimerHandle = clock.setTimeout(() => undefined, 10)
 * clock.clearTimeout(handle)
 * ```
 */
export type TimerHandle = object | number

/**
 * The local time source and timers the client uses. Inject one in tests to drive refresh
 * scheduling without waiting; the default is the system clock with unref'd timers, so a client that
 * is only refreshing tickets never keeps the process alive on its own.
 *
 * @example
 * ```ts
 * const clock: ClientClock = {
 *   now: () => fakeNowMs,
 *   setTimeout: (fn, ms) => timers.add(fn, ms),
 *   clearTimeout: (h) => timers.remove(h),
 * }
 * ```
 */
export interface ClientClock {
  /** Milliseconds since the Unix epoch. */
  now(): number
  setTimeout(callback: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle): void
}

/**
 * The system clock: Date.now and unref'd Node timers.
 *
 * @example
 * ```ts
 * const handle = systemClientClock.setTimeout(() => console.log('tick'), 1000)
 * systemClientClock.clearTimeout(handle)
 * ```
 */
export const systemClientClock: ClientClock = Object.freeze({
  now: (): number => Date.now(),
  setTimeout(callback: () => void, ms: number): TimerHandle {
    const t = setTimeout(callback, ms)
    t.unref()
    return t
  },
  clearTimeout(handle: TimerHandle): void {
    clearTimeout(handle as NodeJS.Timeout)
  },
})

/**
 * The KDC's clock as seen from here: local time plus an offset. Only authenticated KDC times move
 * the offset for good: the start time of a ticket the KDC just issued, read from the sealed part of
 * an AS-REP or TGS-REP ({@link KdcClock.observe}). The clear `kdcTime` of a frame (an ERROR above
 * all) could have been written by anyone on the path, so it is only a hint
 * ({@link KdcClock.hint}), adopted for the one retry after ERR_AP_SKEW and undone if that retry
 * fails ({@link KdcClock.retryWithHint}). Wire times are whole seconds, so a measured offset
 * jitters by ±1 s; the offset only moves when a measurement differs from it by more than that.
 *
 * @example
 * ```ts
 * const kdc = new KdcClock(systemClientClock)
 * kdc.observe(credential.startTime) // authenticated: from a reply's sealed part
 * const ctime = kdc.nowSeconds() // corrected to the KDC's clock
 * ```
 */
export class KdcClock {
  readonly #clock: ClientClock
  #offset = 0
  /** The offset measured from the last unauthenticated kdcTime, until used or replaced. */
  #hint: number | undefined

  constructor(clock: ClientClock) {
    this.#clock = clock
  }

  /** Seconds to add to the local clock to get the KDC's; 0 until a reply says otherwise. */
  get offsetSeconds(): number {
    return this.#offset
  }

  /** The current time on the KDC's clock, in whole seconds. */
  nowSeconds(): number {
    return Math.floor(this.#clock.now() / 1000) + this.#offset
  }

  /**
   * Learn from an authenticated KDC time (a just-issued ticket's start time); returns true when the
   * offset changed.
   */
  observe(kdcTime: number): boolean {
    const measured = kdcTime - Math.floor(this.#clock.now() / 1000)
    this.#hint = undefined
    if (Math.abs(measured - this.#offset) <= 1) return false
    this.#offset = measured
    return true
  }

  /** Note the clear kdcTime of a frame: remembered as a hint, not adopted. */
  hint(kdcTime: number): void {
    this.#hint = kdcTime - Math.floor(this.#clock.now() / 1000)
  }

  /**
   * Run `retry` once more after a refusal. When `adopt` is true and the last hint differs from the
   * offset, the retry runs on the hinted clock, and a retry that fails too restores the offset
   * (unless something authenticated moved it meanwhile). The hint is used up either way.
   */
  async retryWithHint<T>(adopt: boolean, retry: () => Promise<T>): Promise<T> {
    const hint = adopt ? this.#hint : undefined
    if (adopt) this.#hint = undefined
    if (hint === undefined || Math.abs(hint - this.#offset) <= 1) return retry()
    const before = this.#offset
    this.#offset = hint
    try {
      return await retry()
    } catch (err) {
      if (this.#offset === hint) this.#offset = before
      throw err
    }
  }

  /** True when the local clock is off from the KDC's by more than the protocol's skew allowance. */
  get skewed(): boolean {
    return Math.abs(this.#offset) > MAX_CLOCK_SKEW_S
  }
}

/** Full-jitter exponential backoff: a random delay in [base·2^n / 2, base·2^n], capped at `maxMs`. */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20))
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}
