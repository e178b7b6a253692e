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
 * hit: a hit sets a flag; eviction takes the oldest insertion, and an entry whose flag is set is
 * moved to the back once instead of being dropped.
 */
import type { ReplayWindow } from './replay-window.js'
import type { TesseraIdentity } from './types.js'

/** A ticket that opened under our key, with everything a repeat request needs. */
export interface CachedTicket {
  /** The ticket's encoding inside the AP-REQ (the msgpack array [realm, service, kvno, sealed]). */
  readonly ticketBytes: Uint8Array
  readonly identity: TesseraIdentity
  readonly startTime: number
  readonly endTime: number
  /** deriveKey(sessionKey, LABELS.authenticator). */
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

/** Bounded CLOCK cache of verified tickets. */
export class TicketCache {
  readonly #entries = new Map<number, CachedTicket>()
  readonly #max: number

  constructor(maxEntries: number) {
    this.#max = maxEntries
  }

  get size(): number {
    return this.#entries.size
  }

  /**
   * The cached ticket whose bytes equal `bytes[start, end)`, or undefined. Allocates nothing.
   */
  get(key: number, bytes: Uint8Array, start: number, end: number): CachedTicket | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    const cached = entry.ticketBytes
    const length = end - start
    if (cached.length !== length) return undefined
    let diff = 0
    for (let i = 0; i < length; i++) diff |= (cached[i] as number) ^ (bytes[start + i] as number)
    if (diff !== 0) return undefined
    entry.hit = true
    return entry
  }

  /** Insert (or replace the slot of) a verified ticket, evicting dead or cold entries first. */
  set(key: number, entry: CachedTicket, now: number): void {
    const entries = this.#entries
    const previous = entries.get(key)
    if (previous !== undefined) {
      entries.delete(key)
      wipe(previous)
    }
    let budget = entries.size + 1
    while (entries.size >= this.#max && budget-- > 0) {
      const head = entries.entries().next()
      if (head.done === true) break
      const [k, e] = head.value
      entries.delete(k)
      if (e.hit && e.endTime >= now) {
        e.hit = false
        entries.set(k, e)
      } else {
        wipe(e)
      }
    }
    // Every entry had its second chance: drop the oldest outright.
    while (entries.size >= this.#max) {
      const head = entries.entries().next()
      if (head.done === true) break
      entries.delete(head.value[0])
      wipe(head.value[1])
    }
    entries.set(key, entry)
  }

  /** Forget one entry (an expired ticket seen on a hit). */
  delete(key: number, entry: CachedTicket): void {
    if (this.#entries.get(key) === entry) {
      this.#entries.delete(key)
      wipe(entry)
    }
  }

  /** Drop every entry whose ticket ended before `before`. O(n); run from a timer, not per request. */
  sweep(before: number): void {
    for (const [k, e] of this.#entries) {
      if (e.endTime < before) {
        this.#entries.delete(k)
        wipe(e)
      }
    }
  }

  /** Drop everything (key rotation away from a kvno, close()). */
  clear(): void {
    for (const e of this.#entries.values()) wipe(e)
    this.#entries.clear()
  }
}

function wipe(e: CachedTicket): void {
  e.authKey.fill(0)
  e.sessionKey.fill(0)
  e.apRepKey?.fill(0)
}
