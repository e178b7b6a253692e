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
 * The same holds after the window was opened again: a window remembers the guard time in force when
 * it was created (its floor) and refuses every authenticator made before it, since a replay of one
 * accepted before the loss would find a fresh bitmap (ERR_AP_REPLAY, BEFORE_GUARD). Every
 * authenticator made after that moment is accepted as usual. The cost is availability, not
 * safety: a client whose clock runs d seconds behind ours is refused for at most d seconds after a
 * restart (d ≤ skew). Windows are per process: instances behind a load balancer do not share them.
 *
 * Layout. A verifier may hold a hundred thousand live windows, and a first-sight request looks one
 * up and inserts one. So the table keeps no object per window: each window is a record (an integer)
 * in a handful of typed arrays — the 16-byte ticket id, expiry, top counter, largest ctime, a
 * bitmap offset and a stamp — found through an {@link OpenIndex} on the id's first word, with the
 * creation order in a ring of record numbers. The 1024-bit bitmap is taken from a pool only at a
 * window's second accepted counter: a ticket used once costs none. A record's stamp is unique over
 * the table's life and is cleared when the window goes, so whoever remembers (record, stamp) — the
 * ticket cache — can tell that the window it used was dropped (and must not take counters through
 * it) even after the record was reused for another ticket.
 */
import { BrokerError, REPLAY_WINDOW_COUNTERS } from '../kdc/protocol/index.js'
import { OpenIndex } from './open-index.js'

const WINDOW_MASK = REPLAY_WINDOW_COUNTERS - 1
/** 32-bit words per bitmap. */
const WORDS = REPLAY_WINDOW_COUNTERS >>> 5
/** Int32 words per ticket id (16 bytes). */
export const TICKET_ID_WORDS = 4
const MIN_RECORDS = 256
/** Expired windows dropped from the head of the creation ring per new window (see the class). */
const DEAD_HEADS_PER_CALL = 4

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
 * The windows of all live tickets, keyed by ticket id. Bounded: when full, expired windows go
 * first; if none has expired, the oldest live one is dropped and the guard time moves (see the file
 * comment).
 *
 * A window is named by its record number `w` (what {@link ReplayWindows.windowFor} returns), valid
 * while {@link ReplayWindows.holds}(w, stamp) for the stamp read when it was obtained. Tickets
 * mostly die in creation order, so expired windows are popped from the head of the creation ring,
 * a few per new window (so that a wave of expiries never makes one request pay for all of them, and
 * the backlog still shrinks faster than windows are added); a full sweep, at most once a second
 * and only when the table is full, catches the ones that died out of order.
 */
export class ReplayWindows {
  readonly #max: number
  readonly #guard: boolean
  #guardTime: number
  #evictedLive = 0
  #lastFullSweep = -Infinity
  #nextStamp = 1

  readonly #index = new OpenIndex(MIN_RECORDS)
  // Per record: the ticket id (4 words), expiry, floor (no ctime below it is accepted), top counter
  // (-1: none), largest accepted ctime (-1: none), bitmap offset into #bits (-1: none), stamp
  // (0: free).
  #ids = new Int32Array(MIN_RECORDS * TICKET_ID_WORDS)
  #expires = new Float64Array(MIN_RECORDS)
  #floor = new Float64Array(MIN_RECORDS)
  #top = new Float64Array(MIN_RECORDS)
  #maxCtime = new Float64Array(MIN_RECORDS)
  #bitmap = new Int32Array(MIN_RECORDS)
  #stamp = new Float64Array(MIN_RECORDS)
  /** Free record numbers, a stack: `#freeRecords[0, #freeCount)`. */
  #freeRecords = new Int32Array(MIN_RECORDS)
  #freeCount = 0
  /** Records in use or free, `[0, #used)`; the arrays above have room for #capacity. */
  #used = 0
  #capacity = MIN_RECORDS

  /**
   * Creation order: a ring of the `#count` live windows' records from `#head`. Every window is in
   * it exactly once: whatever drops a window (a sweep, the head's expiry, an eviction) takes it
   * out of the ring at the same time, so `#count` is the number of live windows.
   */
  #ring = new Int32Array(MIN_RECORDS)
  #head = 0
  #count = 0

  /** Bitmap pool: WORDS words each; free offsets stacked in #freeBitmaps. */
  #bits = new Int32Array(64 * WORDS)
  #bitsUsed = 0
  readonly #freeBitmaps: number[] = []

  constructor(options: ReplayWindowsOptions) {
    this.#max = options.maxWindows
    this.#guard = options.guard
    this.#guardTime = options.startedAt
  }

  /**
   * Windows held: the live ones, and expired ones not dropped yet (each new window drops up to
   * DEAD_HEADS_PER_CALL of those, the verifier's minute timer sweeps the rest).
   */
  get size(): number {
    return this.#count
  }

  /** Authenticators made before this time cannot open a fresh window (see the file comment). */
  get guardTime(): number {
    return this.#guardTime
  }

  /** The floor a window created now would get: the guard time, or 0 with the guard off. */
  get freshFloor(): number {
    return this.#guard ? this.#guardTime : 0
  }

  /** How many live windows were dropped because the table was full. */
  get evictedLive(): number {
    return this.#evictedLive
  }

  /**
   * The window of the ticket whose 16-byte id is the words `id[at, at + 4)`, creating it if
   * needed. A fresh window refuses an authenticator made before the guard time with
   * ERR_AP_REPLAY. Called only after every other check passed.
   */
  windowFor(id: Int32Array, at: number, expiresAt: number, ctime: number, now: number): number {
    const found = this.peek(id, at)
    if (found >= 0) return found
    // The guard as it stands before this window evicts anyone: what the ticket may have lost is
    // covered by it; a window evicted to make room here belongs to another ticket.
    const floor = this.freshFloor
    if (ctime < floor) throw new BrokerError('ERR_AP_REPLAY', { status: 'BEFORE_GUARD' })
    this.#makeRoom(now)
    const w = this.#newRecord()
    const o = w * TICKET_ID_WORDS
    const key = id[at] as number
    const ids = this.#ids
    ids[o] = key
    ids[o + 1] = id[at + 1] as number
    ids[o + 2] = id[at + 2] as number
    ids[o + 3] = id[at + 3] as number
    this.#expires[w] = expiresAt
    this.#floor[w] = floor
    this.#top[w] = -1
    this.#maxCtime[w] = -1
    this.#bitmap[w] = -1
    this.#stamp[w] = this.#nextStamp++
    this.#index.insert(key, w)
    this.#ring[(this.#head + this.#count) % this.#ring.length] = w
    this.#count++
    return w
  }

  /** The window of the ticket id `id[at, at + 4)` if one is held, or -1. */
  peek(id: Int32Array, at: number): number {
    const index = this.#index
    const ids = this.#ids
    const key = id[at] as number
    for (let s = index.first(key); s >= 0; s = index.next(s, key)) {
      const w = index.value(s)
      const o = w * TICKET_ID_WORDS
      if (ids[o + 1] === id[at + 1] && ids[o + 2] === id[at + 2] && ids[o + 3] === id[at + 3]) {
        return w
      }
    }
    return -1
  }

  /** The stamp of window `w` now: remember it with `w` and check it with {@link holds}. */
  stampOf(w: number): number {
    return this.#stamp[w] as number
  }

  /** True while window `w` is the one whose stamp was `stamp` (it was not dropped since). */
  holds(w: number, stamp: number): boolean {
    return w >= 0 && w < this.#used && this.#stamp[w] === stamp
  }

  /** The highest counter window `w` accepted, or -1. */
  top(w: number): number {
    return this.#top[w] as number
  }

  /**
   * The guard time when window `w` was created: it refuses authenticators made before it, which it
   * cannot prove unseen (see the file comment).
   */
  floor(w: number): number {
    return this.#floor[w] as number
  }

  /** The largest ctime window `w` accepted, or -1: what the guard time must cover if it is lost. */
  maxCtime(w: number): number {
    return this.#maxCtime[w] as number
  }

  /**
   * Accept `counter` (of an authenticator made at `ctime`) in window `w` and remember it, or
   * return false when it was seen already, is older than the window, or was made before the
   * window's {@link floor}. Counters are uint32; any jump forward is accepted (it only slides the
   * window).
   */
  accept(w: number, counter: number, ctime: number): boolean {
    if (!this.wouldAccept(w, counter, ctime)) return false
    this.#record(w, counter)
    if (ctime > (this.#maxCtime[w] as number)) this.#maxCtime[w] = ctime
    return true
  }

  /**
   * Whether {@link accept}(w, counter, ctime) would succeed, without recording anything: for a
   * check made before a request's body is read (the verifier's precheck), which must not spend
   * the counter.
   */
  wouldAccept(w: number, counter: number, ctime: number): boolean {
    if (ctime < (this.#floor[w] as number)) return false
    const top = this.#top[w] as number
    if (top < 0 || counter > top) return true
    if (top - counter >= REPLAY_WINDOW_COUNTERS) return false
    const b = this.#bitmap[w] as number
    if (b < 0) return counter !== top
    const pos = counter & WINDOW_MASK
    return ((this.#bits[b + (pos >>> 5)] as number) & (1 << (pos & 31))) === 0
  }

  /** Drop the windows of every dead ticket. O(n): for a timer, not for each request. */
  sweep(now: number): void {
    const ring = this.#ring
    const cap = ring.length
    const count = this.#count
    let kept = 0
    for (let i = 0; i < count; i++) {
      const w = ring[(this.#head + i) % cap] as number
      if ((this.#expires[w] as number) < now) {
        this.#drop(w)
        continue
      }
      // Compact in place: the write position never passes the read position.
      ring[(this.#head + kept) % cap] = w
      kept++
    }
    this.#count = kept
  }

  /** Record `counter` in window `w`, which {@link wouldAccept} accepts. */
  #record(w: number, counter: number): void {
    const top = this.#top[w] as number
    if (top < 0) {
      this.#top[w] = counter
      return
    }
    let b = this.#bitmap[w] as number
    if (b < 0) {
      // The window's second counter: its bitmap, holding the first one.
      b = this.#newBitmap()
      this.#bitmap[w] = b
      const topPos = top & WINDOW_MASK
      this.#bits[b + (topPos >>> 5)] = 1 << (topPos & 31)
    }
    const bits = this.#bits
    if (counter > top) {
      if (counter - top >= REPLAY_WINDOW_COUNTERS) {
        bits.fill(0, b, b + WORDS)
      } else {
        // Clear the ring positions of the counters we skip over (top+1 .. counter-1) and of
        // counter itself; whole words at a time once aligned.
        let c = top + 1
        while (c <= counter) {
          const pos = c & WINDOW_MASK
          if ((pos & 31) === 0 && counter - c >= 31) {
            bits[b + (pos >>> 5)] = 0
            c += 32
          } else {
            bits[b + (pos >>> 5)] = (bits[b + (pos >>> 5)] as number) & ~(1 << (pos & 31))
            c++
          }
        }
      }
      this.#top[w] = counter
    }
    const pos = counter & WINDOW_MASK
    bits[b + (pos >>> 5)] = (bits[b + (pos >>> 5)] as number) | (1 << (pos & 31))
  }

  #makeRoom(now: number): void {
    this.#popDeadHeads(now, DEAD_HEADS_PER_CALL)
    if (this.#count < this.#max) return
    if (now - this.#lastFullSweep >= 1) {
      this.#lastFullSweep = now
      this.sweep(now)
    }
    while (this.#count >= this.#max && this.#count > 0) {
      const w = this.#shift()
      if ((this.#expires[w] as number) >= now) {
        this.#evictedLive++
        // Every authenticator this window accepted must now be refused by the guard, including
        // one accepted in this very second and one whose ctime ran ahead of our clock (up to the
        // skew): the guard passes the largest ctime the window accepted, not just "now".
        const guard = Math.max(now, (this.#maxCtime[w] as number) + 1)
        if (guard > this.#guardTime) this.#guardTime = guard
      }
      this.#drop(w)
    }
  }

  /** Drop up to `most` expired windows at the head of the creation ring. */
  #popDeadHeads(now: number, most: number): void {
    for (let n = 0; n < most && this.#count > 0; n++) {
      if ((this.#expires[this.#ring[this.#head] as number] as number) >= now) return
      this.#drop(this.#shift())
    }
  }

  /** Take the head of the creation ring (the caller drops it). */
  #shift(): number {
    const w = this.#ring[this.#head] as number
    this.#head = (this.#head + 1) % this.#ring.length
    this.#count--
    return w
  }

  /**
   * Forget window `w`: out of the index, bitmap back to the pool, record free. The caller takes it
   * out of the creation ring.
   */
  #drop(w: number): void {
    const key = this.#ids[w * TICKET_ID_WORDS] as number
    this.#index.removeAt(this.#index.find(key, w))
    const b = this.#bitmap[w] as number
    if (b >= 0) this.#freeBitmaps.push(b)
    this.#stamp[w] = 0
    this.#freeRecords[this.#freeCount++] = w
  }

  #newRecord(): number {
    if (this.#freeCount > 0) return this.#freeRecords[--this.#freeCount] as number
    if (this.#used === this.#capacity) this.#growRecords()
    return this.#used++
  }

  /** A zeroed bitmap from the pool. */
  #newBitmap(): number {
    const reused = this.#freeBitmaps.pop()
    if (reused !== undefined) {
      this.#bits.fill(0, reused, reused + WORDS)
      return reused
    }
    if (this.#bitsUsed + WORDS > this.#bits.length) {
      this.#bits = grown(this.#bits, this.#bits.length * 2)
    }
    const b = this.#bitsUsed
    this.#bitsUsed += WORDS
    return b
  }

  /** Double the record arrays and the ring (the ring is laid out from 0 again). */
  #growRecords(): void {
    const cap = this.#capacity * 2
    this.#ids = grown(this.#ids, cap * TICKET_ID_WORDS)
    this.#expires = grown(this.#expires, cap)
    this.#floor = grown(this.#floor, cap)
    this.#top = grown(this.#top, cap)
    this.#maxCtime = grown(this.#maxCtime, cap)
    this.#bitmap = grown(this.#bitmap, cap)
    this.#stamp = grown(this.#stamp, cap)
    this.#freeRecords = grown(this.#freeRecords, cap)
    const old = this.#ring
    const ring = new Int32Array(cap)
    for (let i = 0; i < this.#count; i++) {
      ring[i] = old[(this.#head + i) % old.length] as number
    }
    this.#ring = ring
    this.#head = 0
    this.#capacity = cap
  }
}

function grown<T extends Int32Array | Float64Array>(a: T, length: number): T {
  const b = new (a.constructor as new (n: number) => T)(length)
  b.set(a)
  return b
}
