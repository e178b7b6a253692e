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
 * time and, whenever a live window is evicted, moves to "now" or past the largest ctime that window
 * accepted, whichever is later (a client clock ahead of ours stamps ctimes up to the skew in the
 * future; those must not open a fresh window either). When a ticket's window has to be created
 * afresh, an authenticator whose ctime is before the guard time is refused (ERR_AP_REPLAY, status
 * BEFORE_GUARD): it was made before the moment we lost our memory, so we cannot prove it unseen.
 * Every authenticator made after that moment is accepted as usual. The cost is availability, not
 * safety: a client whose clock runs d seconds behind ours is refused for at most d seconds after a
 * restart (d ≤ skew). Windows are per process: instances behind a load balancer do not share them.
 */
import { BrokerError, REPLAY_WINDOW_COUNTERS } from '../kdc/protocol/index.js'

// The bitmap is a plain array of 16-bit words (small integers, stored unboxed on the JS heap):
// one window costs no ArrayBuffer, which keeps tens of thousands of live windows cheap for the GC.
const WORD_BITS = 16
const WORD_SHIFT = 4
const WORD_MASK = WORD_BITS - 1
const WINDOW_WORDS = REPLAY_WINDOW_COUNTERS / WORD_BITS
const WINDOW_MASK = REPLAY_WINDOW_COUNTERS - 1

/**
 * One ticket's window: `top` is the highest counter accepted; bit (c mod W) of the ring bitmap is
 * set when counter c in (top - W, top] was accepted.
 */
export class ReplayWindow {
  #top = -1
  /**
   * Allocated at the second accepted counter: a ticket seen once (a caller that makes one call per
   * ticket) costs no bitmap at all, and a window with only `top` set needs none to answer
   * correctly (every counter below top is unseen).
   */
  #bits: number[] | undefined
  /** The largest ctime of an authenticator accepted here (-1 before the first). */
  #maxCtime = -1
  /**
   * Set when the window leaves its table (eviction or expiry): whoever still holds a reference
   * (the ticket cache) must not accept counters in it, since nobody would remember them.
   */
  dropped = false
  /** Seconds since the epoch after which the ticket (plus skew) is dead and the window can go. */
  readonly expiresAt: number
  /** The ticket id (hex) this window belongs to. */
  readonly ticketId: string

  constructor(expiresAt: number, ticketId = '') {
    this.expiresAt = expiresAt
    this.ticketId = ticketId
  }

  /** The highest counter accepted so far, or -1. */
  get top(): number {
    return this.#top
  }

  /** The largest ctime accepted in this window, or -1: what the guard time must cover if lost. */
  get maxCtime(): number {
    return this.#maxCtime
  }

  /**
   * Accept `counter` (of an authenticator made at `ctime`) and remember it, or return false when it
   * was seen already or is older than the window. Counters are uint32; any jump forward is accepted
   * (it only slides the window).
   */
  accept(counter: number, ctime = 0): boolean {
    if (!this.#accept(counter)) return false
    if (ctime > this.#maxCtime) this.#maxCtime = ctime
    return true
  }

  #accept(counter: number): boolean {
    const top = this.#top
    if (top < 0) {
      this.#top = counter
      return true
    }
    let bits = this.#bits
    if (bits === undefined) {
      if (counter === top) return false
      if (counter < top && top - counter >= REPLAY_WINDOW_COUNTERS) return false
      bits = this.#bits = new Array<number>(WINDOW_WORDS).fill(0)
      const topPos = top & WINDOW_MASK
      bits[topPos >>> WORD_SHIFT] = 1 << (topPos & WORD_MASK)
    }
    if (counter > top) {
      const shift = counter - top
      if (shift >= REPLAY_WINDOW_COUNTERS) {
        bits.fill(0)
      } else {
        // Clear the ring positions of the counters we skip over (top+1 .. counter-1) and of
        // counter itself; whole words at a time once aligned.
        let c = top + 1
        while (c <= counter) {
          const pos = c & WINDOW_MASK
          if ((pos & WORD_MASK) === 0 && counter - c >= WORD_MASK) {
            bits[pos >>> WORD_SHIFT] = 0
            c += WORD_BITS
          } else {
            bits[pos >>> WORD_SHIFT] =
              (bits[pos >>> WORD_SHIFT] as number) & ~(1 << (pos & WORD_MASK))
            c++
          }
        }
      }
      this.#top = counter
      const pos = counter & WINDOW_MASK
      bits[pos >>> WORD_SHIFT] = (bits[pos >>> WORD_SHIFT] as number) | (1 << (pos & WORD_MASK))
      return true
    }
    if (top - counter >= REPLAY_WINDOW_COUNTERS) return false
    const pos = counter & WINDOW_MASK
    const word = bits[pos >>> WORD_SHIFT] as number
    const bit = 1 << (pos & WORD_MASK)
    if ((word & bit) !== 0) return false
    bits[pos >>> WORD_SHIFT] = word | bit
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
 *
 * Creation order is kept in a FIFO array (not by iterating the Map from its head, which costs
 * O(deleted entries) until the Map rehashes). Tickets mostly die in creation order, so expired
 * windows are popped from the head in O(1); a full sweep, at most once a second and only when the
 * table is full, catches the ones that died out of order.
 */
export class ReplayWindows {
  readonly #windows = new Map<string, ReplayWindow>()
  #order: ReplayWindow[] = []
  #head = 0
  readonly #max: number
  readonly #guard: boolean
  #guardTime: number
  #evictedLive = 0
  #lastFullSweep = -Infinity

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
    const window = new ReplayWindow(expiresAt, ticketId)
    this.#windows.set(ticketId, window)
    this.#order.push(window)
    return window
  }

  /** The window of `ticketId` if one is held (tests, diagnostics). */
  peek(ticketId: string): ReplayWindow | undefined {
    return this.#windows.get(ticketId)
  }

  /** Drop the windows of every dead ticket. O(n): for a timer, not for each request. */
  sweep(now: number): void {
    const windows = this.#windows
    for (const w of windows.values()) {
      if (w.expiresAt < now) {
        windows.delete(w.ticketId)
        w.dropped = true
      }
    }
    // Rebuild the creation order without the swept windows, so it never retains them.
    this.#order = this.#order.slice(this.#head).filter((w) => !w.dropped)
    this.#head = 0
  }

  #makeRoom(now: number): void {
    this.#popDeadHeads(now)
    if (this.#windows.size < this.#max) return
    if (now - this.#lastFullSweep >= 1) {
      this.#lastFullSweep = now
      this.sweep(now)
    }
    while (this.#windows.size >= this.#max) {
      const w = this.#shift()
      if (w === undefined) break
      if (w.dropped) continue // already swept
      this.#windows.delete(w.ticketId)
      w.dropped = true
      if (w.expiresAt >= now) {
        this.#evictedLive++
        // Every authenticator this window accepted must now be refused by the guard, including
        // one accepted in this very second and one whose ctime ran ahead of our clock (up to the
        // skew): the guard passes the largest ctime the window accepted, not just "now".
        const guard = Math.max(now, w.maxCtime + 1)
        if (guard > this.#guardTime) this.#guardTime = guard
      }
    }
  }

  /** Remove expired (or already swept) windows from the head of the creation order. */
  #popDeadHeads(now: number): void {
    const order = this.#order
    while (this.#head < order.length) {
      const w = order[this.#head] as ReplayWindow
      // Every removal from the table sets `dropped`, so this is "still in the table" without a
      // lookup (a string-keyed probe into a large table is a cache miss per request).
      const held = !w.dropped
      if (held && w.expiresAt >= now) break
      if (held) {
        this.#windows.delete(w.ticketId)
        w.dropped = true
      }
      this.#head++
    }
    this.#compact()
  }

  #shift(): ReplayWindow | undefined {
    const w = this.#order[this.#head]
    if (w !== undefined) this.#head++
    return w
  }

  /** Drop consumed slots of the FIFO array once they dominate it (amortised O(1)). */
  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head)
      this.#head = 0
    }
  }
}
