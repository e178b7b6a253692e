/**
 * The ticket cache (house style B5, caches row): a bounded map from a key (target and scopes) to a
 * value, least recently used first out, with O(1) get, set and eviction (a Map keeps insertion
 * order; a hit re-inserts). Expiry is the owner's business: it knows the KDC clock and removes an
 * entry the moment it stops being usable. Every removal goes through `onEvict`, which wipes keys
 * and cancels the entry's timers.
 */

/**
 * A bounded LRU map with an eviction hook.
 *
 * @example
 * ```ts
 * const cache = new TicketCache<string>(2, (key) => console.log('evicted', key))
 * cache.set('a', '1'); cache.set('b', '2'); cache.get('a'); cache.set('c', '3') // evicts b
 * ```
 */
export class TicketCache<V> {
  readonly maxEntries: number
  readonly #map = new Map<string, V>()
  readonly #onEvict: (key: string, value: V) => void

  constructor(maxEntries: number, onEvict: (key: string, value: V) => void = () => undefined) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError('maxEntries must be a positive integer')
    }
    this.maxEntries = maxEntries
    this.#onEvict = onEvict
  }

  get size(): number {
    return this.#map.size
  }

  /** The value for `key`, marking it most recently used. */
  get(key: string): V | undefined {
    const value = this.#map.get(key)
    if (value === undefined) return undefined
    this.#map.delete(key)
    this.#map.set(key, value)
    return value
  }

  /** The value for `key` without touching its recency. */
  peek(key: string): V | undefined {
    return this.#map.get(key)
  }

  /** Insert or replace; the replaced value and, over the bound, the least recently used are evicted. */
  set(key: string, value: V): void {
    const old = this.#map.get(key)
    if (old !== undefined) {
      this.#map.delete(key)
      if (old !== value) this.#onEvict(key, old)
    }
    this.#map.set(key, value)
    while (this.#map.size > this.maxEntries) {
      const oldest = this.#map.entries().next()
      if (oldest.done === true) break
      this.#map.delete(oldest.value[0])
      this.#onEvict(oldest.value[0], oldest.value[1])
    }
  }

  /** Remove `key` if it still maps to `value` (or to anything, when `value` is omitted). */
  delete(key: string, value?: V): boolean {
    const current = this.#map.get(key)
    if (current === undefined || (value !== undefined && current !== value)) return false
    this.#map.delete(key)
    this.#onEvict(key, current)
    return true
  }

  /** Evict everything. */
  clear(): void {
    const entries = [...this.#map]
    this.#map.clear()
    for (const [k, v] of entries) this.#onEvict(k, v)
  }

  keys(): string[] {
    return [...this.#map.keys()]
  }
}
