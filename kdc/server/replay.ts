/**
 * Bounded replay caches of the KDC (house style B5 "caches"; cf. krb5 LOOKASIDE_MAX_SIZE and
 * STALE_TIME): pre-auth (client, nonce) pairs seen by the AS, and authenticators seen by the TGS and
 * the admin exchange. Entries live for the skew window on both sides of the timestamp (anything
 * older is refused by the skew check anyway), and the cache holds at most `maxEntries`: inserting
 * into a full cache evicts the oldest entry. Every operation is O(1) amortised; nothing touches disk.
 */
import type { Clock } from '../protocol/index.js'

export interface ReplayCacheOptions {
  readonly maxEntries: number
  /** How long an entry is remembered, in seconds. */
  readonly ttlSeconds: number
  readonly clock: Clock
}

export class ReplayCache {
  readonly #max: number
  readonly #ttl: number
  readonly #clock: Clock
  /** key → expiry (seconds). Map iteration order is insertion order, so the head is the oldest. */
  readonly #entries = new Map<string, number>()
  #evictedLive = 0

  constructor(options: ReplayCacheOptions) {
    if (!Number.isSafeInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new RangeError('maxEntries must be a positive integer')
    }
    if (!Number.isSafeInteger(options.ttlSeconds) || options.ttlSeconds < 1) {
      throw new RangeError('ttlSeconds must be a positive integer')
    }
    this.#max = options.maxEntries
    this.#ttl = options.ttlSeconds
    this.#clock = options.clock
  }

  /** True when `key` was added and has not expired. */
  has(key: string): boolean {
    const expiry = this.#entries.get(key)
    return expiry !== undefined && expiry > this.#clock.nowSeconds()
  }

  /** Remember `key`. Call only after every other check passed ("replay insert last"). */
  add(key: string): void {
    const now = this.#clock.nowSeconds()
    this.#sweep(now)
    this.#entries.delete(key)
    while (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next()
      if (oldest.done === true) break
      this.#entries.delete(oldest.value)
      this.#evictedLive++
    }
    this.#entries.set(key, now + this.#ttl)
  }

  /**
   * Remember `key` unless that would evict a live entry: false when the cache is full of live
   * entries (the caller refuses the request instead of forgetting what it must still refuse).
   */
  tryAdd(key: string): boolean {
    const now = this.#clock.nowSeconds()
    this.#sweep(now)
    if (!this.#entries.has(key) && this.#entries.size >= this.#max) return false
    this.#entries.delete(key)
    this.#entries.set(key, now + this.#ttl)
    return true
  }

  /** Entries currently held (expired ones may linger until the next add). */
  get size(): number {
    return this.#entries.size
  }

  /** Live entries evicted because the cache was full (a metric worth watching). */
  get evictedLive(): number {
    return this.#evictedLive
  }

  /** Drop expired entries from the head; stops at the first live one. */
  #sweep(now: number): void {
    for (const [key, expiry] of this.#entries) {
      if (expiry > now) break
      this.#entries.delete(key)
    }
  }
}
