/**
 * Anti-replay without a disk replay cache (docs/protocol.md §6.4, design brief §5): per ticket, a
 * sliding window of the last REPLAY_WINDOW_COUNTERS authenticator counters, as IPsec ESP keeps per
 * security association (RFC 4303 §3.4.3, RFC 6479): the highest counter seen and a bitmap of the
 * counters below it. Memory is one small bitmap per live ticket, never one entry per request.
 *
 * The restart caveat, and what we do about it. The windows live in memory only. A verifier that
 * restarts (or that had to drop a live ticket's window because its table was full) has forgotten
 * which counters it saw, while the authenticators it accepted before are still inside the clock-skew
 * window for up to MAX_CLOCK_SKEW_S seconds: a captured request could be replayed once more. The
 * sound fix without a disk is a guard time: `ReplayWindows.guardTime` starts at the verifier's start
 * time and moves to "now" whenever a live window is evicted. When a ticket's window has to be created
 * afresh, an authenticator whose ctime is before the guard time is refused (ERR_AP_REPLAY, status
 * BEFORE_GUARD): it was made before the moment we lost our memory, so we cannot prove it unseen.
 * Every authenticator made after that moment is accepted as usual. The cost is availability, not
 * safety: a client whose clock runs d seconds behind ours is refused for at most d seconds after a
 * restart (d ≤ skew). Windows are per process: instances behind a load balancer do not share them.
 */
import { BrokerError, REPLAY_WINDOW_COUNTERS } from '../kdc/protocol/index.js'

const WINDOW_WORDS = REPLAY_WINDOW_COUNTERS >>> 5
const WINDOW_MASK = REPLAY_WINDOW_COUNTERS - 1

/**
 * One ticket's window: `top` is the highest counter accepted; bit (c mod W) of the ring bitmap is
 * set when counter c in (top - W, top] was accepted.
 */
export class ReplayWindow {
  #top = -1
  readonly #bits = new Uint32Array(WINDOW_WORDS)
  /** Seconds since the epoch after which the ticket (plus skew) is dead and the window can go. */
  readonly expiresAt: number

  constructor(expiresAt: number) {
    this.expiresAt = expiresAt
  }

  /** The highest counter accepted so far, or -1. */
  get top(): number {
    return this.#top
  }

  /**
   * Accept `counter` and remember it, or return false when it was seen already or is older than
   * the window. Counters are uint32; any jump forward is accepted (it only slides the window).
   */
  accept(counter: number): boolean {
    const top = this.#top
    const bits = this.#bits
    if (counter > top) {
      const shift = counter - top
      if (top < 0 || shift >= REPLAY_WINDOW_COUNTERS) {
        bits.fill(0)
      } else {
        // Clear the ring positions of the counters we skip over (top+1 .. counter-1) and of
        // counter itself; whole words at a time once aligned.
        let c = top + 1
        while (c <= counter) {
          const pos = c & WINDOW_MASK
          if ((pos & 31) === 0 && counter - c >= 31) {
            bits[pos >>> 5] = 0
            c += 32
          } else {
            bits[pos >>> 5] = (bits[pos >>> 5] as number) & ~(1 << (pos & 31))
            c++
          }
        }
      }
      this.#top = counter
      const pos = counter & WINDOW_MASK
      bits[pos >>> 5] = (bits[pos >>> 5] as number) | (1 << (pos & 31))
      return true
    }
    if (top - counter >= REPLAY_WINDOW_COUNTERS) return false
    const pos = counter & WINDOW_MASK
    const word = bits[pos >>> 5] as number
    const bit = 1 << (pos & 31)
    if ((word & bit) !== 0) return false
    bits[pos >>> 5] = word | bit
    return true
  }
}

/** Options of {@link ReplayWindows}. */
export interface ReplayWindowsOptions {
  /** Most live tickets tracked at once. */
  readonly maxWindows: number
  /** Seconds since the epoch when this verifier started: the initial guard time. */
  readonly startedAt: number
  /** Apply the guard time (see the file comment). Turning it off accepts the restart replay risk. */
  readonly guard: boolean
}

/**
 * The windows of all live tickets, keyed by ticket id (hex). Bounded: when full, expired windows
 * go first; if none has expired, the oldest live one is dropped and the guard time moves to now.
 * Map insertion order is creation order, so eviction pops the head: O(1) amortised.
 */
export class ReplayWindows {
  readonly #windows = new Map<string, ReplayWindow>()
  readonly #max: number
  readonly #guard: boolean
  #guardTime: number
  #evictedLive = 0

  constructor(options: ReplayWindowsOptions) {
    this.#max = options.maxWindows
    this.#guard = options.guard
    this.#guardTime = options.startedAt
  }

  /** Live windows held. */
  get size(): number {
    return this.#windows.size
  }

  /** Authenticators made before this time cannot open a fresh window (see the file comment). */
  get guardTime(): number {
    return this.#guardTime
  }

  /** How many live windows were dropped because the table was full. */
  get evictedLive(): number {
    return this.#evictedLive
  }

  /**
   * The window of `ticketId`, creating it if needed. A fresh window refuses an authenticator
   * made before the guard time with ERR_AP_REPLAY. Called only after every other check passed.
   */
  windowFor(ticketId: string, expiresAt: number, ctime: number, now: number): ReplayWindow {
    const existing = this.#windows.get(ticketId)
    if (existing !== undefined) return existing
    if (this.#guard && ctime < this.#guardTime) {
      throw new BrokerError('ERR_AP_REPLAY', { status: 'BEFORE_GUARD' })
    }
    this.#makeRoom(now)
    const window = new ReplayWindow(expiresAt)
    this.#windows.set(ticketId, window)
    return window
  }

  /** The window of `ticketId` if one is held (tests, diagnostics). */
  peek(ticketId: string): ReplayWindow | undefined {
    return this.#windows.get(ticketId)
  }

  /** Drop windows of dead tickets from the head of the table. */
  sweep(now: number): void {
    for (const [id, w] of this.#windows) {
      if (w.expiresAt >= now) break
      this.#windows.delete(id)
    }
  }

  #makeRoom(now: number): void {
    // Expired heads first (cheap, and usually enough since tickets mostly die in creation order).
    for (const [id, w] of this.#windows) {
      if (w.expiresAt >= now) break
      this.#windows.delete(id)
    }
    while (this.#windows.size >= this.#max) {
      const head = this.#windows.keys().next()
      if (head.done === true) break
      const w = this.#windows.get(head.value)
      this.#windows.delete(head.value)
      if (w !== undefined && w.expiresAt >= now) {
        this.#evictedLive++
        if (now > this.#guardTime) this.#guardTime = now
      }
    }
  }
}
