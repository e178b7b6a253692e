/**
 * The verified-ticket cache: a repeat caller costs one authenticator open instead of a ticket open
 * plus a key derivation. Bounded by entry count and by ticket expiry; eviction is O(1).
 *
 * Keyed by the first 30 bits of the ticket's sealed nonce (24 random bytes chosen by the KDC), a
 * small integer, through an {@link OpenIndex} (flat typed arrays, no Map), so the lookup allocates
 * nothing and costs one probe sequence. The key only finds a candidate: a hit also needs
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
import { OpenIndex } from './open-index.js'
import type { TesseraIdentity } from './types.js'

/**
 * A ticket that opened under our key, with everything a repeat request needs. Its bytes and keys
 * live in one block of the verifier heap (service-sdk/heap.ts), addressed by offsets:
 * `[ticket copy, padded to 4][authKey 32][sessionKey 32][ticketId 16][authAad]`.
 */
export interface CachedTicket {
  /** The block's address (8-aligned; the ticket copy starts it) and size. */
  readonly block: number
  readonly blockSize: number
  /**
   * Length in bytes of the ticket's encoding inside the AP-REQ (the msgpack array [realm, service,
   * kvno, sealed]), copied at `block`.
   */
  readonly ticketLength: number
  readonly identity: TesseraIdentity
  readonly startTime: number
  readonly endTime: number
  /** Address of deriveKey(sessionKey, LABELS.authenticator). */
  readonly authKey: number
  /** Address of the session key, kept to derive the AP-REP subkey on a mutual-auth request. */
  readonly sessionKey: number
  /** Address of the 16-byte ticket id (4-aligned): the replay window's key. */
  readonly ticketId: number
  /** Address and length of the authenticator AAD for [realm, client, service, AP_REQ]. */
  readonly authAad: number
  readonly authAadLength: number
  apRepKey: Uint8Array | undefined
  /**
   * The replay window of this ticket id (see ReplayWindows), attached after the first accepted
   * request, or -1; used only while the table still holds it with `windowStamp`.
   */
  window: number
  windowStamp: number
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

/**
 * Constant-time equality of `length` bytes at `a` and `b` of one memory (no early exit), four
 * bytes a step where both are 4-aligned.
 */
export function sameTicket(
  u8: Uint8Array,
  i32: Int32Array,
  a: number,
  b: number,
  length: number,
): boolean {
  let diff = 0
  let i = 0
  if (((a | b) & 3) === 0) {
    const wa = a >>> 2
    const wb = b >>> 2
    const words = length >>> 2
    for (; i < words; i++) diff |= (i32[wa + i] as number) ^ (i32[wb + i] as number)
    i <<= 2
  }
  for (; i < length; i++) diff |= (u8[a + i] as number) ^ (u8[b + i] as number)
  return diff === 0
}

/** Bounded CLOCK cache of verified tickets. */
export class TicketCache {
  /** Cache key → ring slot. */
  readonly #index: OpenIndex
  readonly #slots: (CachedTicket | undefined)[] = []
  readonly #free: number[] = []
  readonly #max: number
  #hand = 0
  readonly #release: (entry: CachedTicket) => void

  /** `release` wipes and frees the block of an entry that leaves the cache. */
  constructor(maxEntries: number, release: (entry: CachedTicket) => void) {
    this.#max = maxEntries
    this.#release = release
    this.#index = new OpenIndex(Math.min(maxEntries, 1024))
  }

  get size(): number {
    return this.#index.size
  }

  /**
   * The entry whose ticket equals the `length` bytes at `at` (in the memory of `u8`/`i32`, where
   * the entries' blocks live), found by `key`, or undefined; marks it hit. Compares every byte with
   * no early exit ({@link sameTicket}) and allocates nothing.
   */
  get(
    key: number,
    u8: Uint8Array,
    i32: Int32Array,
    at: number,
    length: number,
  ): CachedTicket | undefined {
    const s = this.#index.first(key)
    if (s < 0) return undefined
    const entry = this.#slots[this.#index.value(s)]
    if (entry?.ticketLength !== length) return undefined
    if (!sameTicket(u8, i32, entry.block, at, length)) return undefined
    entry.hit = true
    return entry
  }

  set(key: number, entry: CachedTicket, now: number): void {
    const s = this.#index.first(key)
    if (s >= 0) this.#remove(this.#slots[this.#index.value(s)] as CachedTicket)
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
    this.#index.insert(key, slot)
  }

  /** Forget one entry (an expired ticket seen on a hit). */
  delete(key: number, entry: CachedTicket): void {
    if (entry.key === key && entry.slot >= 0 && this.#slots[entry.slot] === entry) {
      this.#remove(entry)
    }
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
    this.#index.removeAt(this.#index.find(e.key, e.slot))
    this.#slots[e.slot] = undefined
    this.#free.push(e.slot)
    this.#release(e)
  }
}
