/**
 * The verified-ticket cache: a repeat caller costs one authenticator open instead of a ticket open
 * plus a key derivation. Bounded by entry count and by ticket expiry; eviction is O(1).
 *
 * Keyed by the first 30 bits of the ticket's sealed nonce (24 random bytes chosen by the KDC), a
 * small integer, so the lookup allocates nothing. The key only finds a candidate: a hit also needs
 * the full ticket bytes to equal the cached copy, compared in constant time (no early exit). Two live tickets whose
 * keys collide simply take turns in the slot (each miss re-opens the ticket); no one can aim a
 * collision, since only the KDC chooses nonces and an unopenable ticket is never inserted.
 *
 * Replacement is CLOCK (second chance), an O(1) approximation of LRU that needs no reordering on a
 * hit: entries sit in a fixed ring of slots; a hit sets a flag; to make room, the clock hand sweeps
 * the ring, clearing flags, and takes the first slot that is free, expired or not hit since the
 * last sweep. (Not Map iteration order: a Map that is deleted from at the head keeps the holes
 * until it rehashes, and iterating from the head would cost O(holes) per eviction.)
 */
import type { ReplayWindow } from './replay-window.js'
import type { TesseraIdentity } from './types.js'

/** A ticket that opened under our key, with everything a repeat request needs. */
export interface CachedTicket {
  /**
   * The ticket's encoding inside the AP-REQ (the msgpack array [realm, service, kvno, sealed]) as
   * {@link ticketWords}: a plain array lives on the JS heap, with no ArrayBuffer to track, and is
   * compared four bytes a step.
   */
  readonly ticketWords: readonly number[]
  /** Its length in bytes. */
  readonly ticketLength: number
  readonly identity: TesseraIdentity
  readonly startTime: number
  readonly endTime: number
  /** deriveKey(sessionKey, LABELS.authenticator); released (wiped) when the entry leaves. */
  readonly authKey: Uint8Array
  /** The authenticator AAD for [realm, client, service, AP_REQ], encoded once. */
  readonly authAad: Uint8Array
  /** The session key, kept to derive the AP-REP subkey on the first mutual-auth request. */
  readonly sessionKey: Uint8Array
  apRepKey: Uint8Array | undefined
  /** The replay window of this ticket id; attached after the first accepted request. */
  window: ReplayWindow | undefined
  /** CLOCK reference bit. */
  hit: boolean
  /** Cache key and ring slot, set by the cache. */
  key: number
  slot: number
}

/** The cache key of a ticket: 30 bits of its sealed nonce, starting at `offset` in `bytes`. */
export function ticketCacheKey(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset] as number) |
      ((bytes[offset + 1] as number) << 8) |
      ((bytes[offset + 2] as number) << 16) |
      (((bytes[offset + 3] as number) & 0x3f) << 24)) >>>
    0
  )
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/** The little-endian int32 at bytes[p, p+4), zero-padded past `end`. */
function wordAt(bytes: Uint8Array, p: number, end: number): number {
  let w = 0
  for (let i = 3; i >= 0; i--) w = (w << 8) | (p + i < end ? (bytes[p + i] as number) : 0)
  return w
}

/** bytes[start, end) as little-endian int32 words, the last one zero-padded. */
export function ticketWords(bytes: Uint8Array, start: number, end: number): number[] {
  const out: number[] = []
  for (let p = start; p < end; p += 4) out.push(wordAt(bytes, p, end))
  return out
}

/** Bounded CLOCK cache of verified tickets. */
export class TicketCache {
  readonly #entries = new Map<number, CachedTicket>()
  readonly #slots: (CachedTicket | undefined)[] = []
  readonly #free: number[] = []
  readonly #max: number
  #hand = 0
  /** An int32 view of the last buffer compared, for aligned word reads. */
  #words: Int32Array = new Int32Array(0)

  readonly #release: (entry: CachedTicket) => void

  /** `release` wipes (and may recycle) the keys of an entry that leaves the cache. */
  constructor(maxEntries: number, release: (entry: CachedTicket) => void = wipe) {
    this.#max = maxEntries
    this.#release = release
  }

  get size(): number {
    return this.#entries.size
  }

  /**
   * The cached ticket whose bytes equal `bytes[start, end)`, or undefined. Compares every byte, with
   * no early exit; allocates nothing (once per buffer for the aligned view).
   */
  get(key: number, bytes: Uint8Array, start: number, end: number): CachedTicket | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    const length = end - start
    if (entry.ticketLength !== length) return undefined
    const cached = entry.ticketWords
    const full = length >>> 2
    let diff = 0
    const at = bytes.byteOffset + start
    if (LITTLE_ENDIAN && (at & 3) === 0) {
      let words = this.#words
      if (words.buffer !== bytes.buffer) {
        words = new Int32Array(bytes.buffer, 0, bytes.buffer.byteLength >>> 2)
        this.#words = words
      }
      const w0 = at >>> 2
      for (let i = 0; i < full; i++) diff |= (cached[i] as number) ^ (words[w0 + i] as number)
    } else {
      for (let i = 0; i < full; i++) {
        diff |= (cached[i] as number) ^ wordAt(bytes, start + 4 * i, end)
      }
    }
    if (full < cached.length) {
      diff |= (cached[full] as number) ^ wordAt(bytes, start + 4 * full, end)
    }
    if (diff !== 0) return undefined
    entry.hit = true
    return entry
  }

  /** Insert (or replace the slot of) a verified ticket, evicting a dead or cold entry if full. */
  set(key: number, entry: CachedTicket, now: number): void {
    const previous = this.#entries.get(key)
    if (previous !== undefined) this.#remove(previous)
    let slot = this.#free.pop()
    if (slot === undefined) {
      if (this.#slots.length < this.#max) {
        slot = this.#slots.length
        this.#slots.push(undefined)
      } else {
        slot = this.#victim(now)
      }
    }
    entry.key = key
    entry.slot = slot
    entry.hit = false
    this.#slots[slot] = entry
    this.#entries.set(key, entry)
  }

  /** Forget one entry (an expired ticket seen on a hit). */
  delete(key: number, entry: CachedTicket): void {
    if (this.#entries.get(key) === entry) this.#remove(entry)
  }

  /** Drop every entry whose ticket ended before `before`. O(n); run from a timer, not per request. */
  sweep(before: number): void {
    for (const e of this.#slots) if (e !== undefined && e.endTime < before) this.#remove(e)
  }

  /** Drop everything (key rotation away from a kvno, close()). */
  clear(): void {
    for (const e of this.#slots) if (e !== undefined) this.#remove(e)
  }

  /** Sweep the clock hand to a slot to reuse; evicts its entry. Ends within two turns. */
  #victim(now: number): number {
    const slots = this.#slots
    for (;;) {
      const slot = this.#hand
      this.#hand = slot + 1 === slots.length ? 0 : slot + 1
      const e = slots[slot]
      if (e === undefined) {
        // Unreachable while free slots are all on the free list (it was empty); stay consistent.
        const i = this.#free.indexOf(slot)
        if (i >= 0) this.#free.splice(i, 1)
        return slot
      }
      if (e.hit && e.endTime >= now) {
        e.hit = false
        continue
      }
      this.#remove(e)
      this.#free.pop() // the slot #remove just freed: we take it
      return slot
    }
  }

  #remove(e: CachedTicket): void {
    this.#entries.delete(e.key)
    this.#slots[e.slot] = undefined
    this.#free.push(e.slot)
    this.#release(e)
  }
}

/** Wipe an entry's keys. */
export function wipe(e: CachedTicket): void {
  e.authKey.fill(0)
  e.sessionKey.fill(0)
  e.apRepKey?.fill(0)
}
