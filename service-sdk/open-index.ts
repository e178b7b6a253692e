/**
 * An open-addressing hash index from int32 keys to non-negative int32 values, for the verifier's
 * two large tables (the ticket cache and the replay windows), which it looks up once or twice per
 * request.
 *
 * Why not a Map: a Map of tens of thousands of entries is a chained hash table spread over the JS
 * heap, and a first-sight request then costs several cache misses in it (a lookup that misses, an
 * insert, and a delete for the entry it evicts): about 0.3 µs in the service SDK's bench. Here the
 * keys and values are two flat typed arrays, a lookup is one probe sequence over adjacent words,
 * and an entry costs 8 bytes and no object.
 *
 * Linear probing, load factor at most 1/2, deletion by backward shift (no tombstones, so a long-
 * lived table never degrades). A key may be held more than once: the caller walks the candidates
 * with {@link OpenIndex.first} / {@link OpenIndex.next} and tells them apart by their values.
 * Keys are mixed with a multiplicative hash before use, so keys that differ only in their high
 * bits (or small test keys) still spread.
 */

const EMPTY = -1
const MIN_CAPACITY = 16

export class OpenIndex {
  #keys: Int32Array
  #vals: Int32Array
  #mask: number
  #shift: number
  #size = 0

  /** An index for `expected` entries (it grows past that by doubling). */
  constructor(expected = 8) {
    let cap = MIN_CAPACITY
    while (cap < 2 * expected) cap *= 2
    this.#keys = new Int32Array(cap)
    this.#vals = new Int32Array(cap).fill(EMPTY)
    this.#mask = cap - 1
    this.#shift = 32 - Math.log2(cap)
  }

  /** Entries held. */
  get size(): number {
    return this.#size
  }

  /** The first slot holding `key`, or -1. */
  first(key: number): number {
    return this.#scan(key, this.#home(key))
  }

  /** The next slot after `slot` holding `key`, or -1. */
  next(slot: number, key: number): number {
    return this.#scan(key, (slot + 1) & this.#mask)
  }

  /** The value in `slot` (a slot that first() or next() returned). */
  value(slot: number): number {
    return this.#vals[slot] as number
  }

  /** The slot holding exactly (key, value), or -1. */
  find(key: number, value: number): number {
    for (let s = this.first(key); s >= 0; s = this.next(s, key)) {
      if (this.#vals[s] === value) return s
    }
    return -1
  }

  /** Add (key, value); value must be ≥ 0. Does not look for an existing entry. */
  insert(key: number, value: number): void {
    if (2 * (this.#size + 1) > this.#vals.length) this.#grow()
    const keys = this.#keys
    const vals = this.#vals
    const mask = this.#mask
    let s = this.#home(key)
    while (vals[s] !== EMPTY) s = (s + 1) & mask
    keys[s] = key
    vals[s] = value
    this.#size++
  }

  /** Remove the entry in `slot`, shifting later entries of its probe run back (no tombstones). */
  removeAt(slot: number): void {
    const keys = this.#keys
    const vals = this.#vals
    const mask = this.#mask
    // A slot that holds nothing is a caller's bug; counting it as removed would let the table fill
    // up with no empty slot left, and every later probe would spin.
    if (!(slot >= 0 && slot <= mask && vals[slot] !== EMPTY)) {
      throw new RangeError(`OpenIndex.removeAt: slot ${String(slot)} holds no entry`)
    }
    let hole = slot
    let s = slot
    for (;;) {
      s = (s + 1) & mask
      const v = vals[s] as number
      if (v === EMPTY) break
      // The entry at s may fill the hole when its home is not in (hole, s] (cyclically).
      const home = this.#home(keys[s] as number)
      if (hole <= s ? home <= hole || home > s : home <= hole && home > s) {
        keys[hole] = keys[s] as number
        vals[hole] = v
        hole = s
      }
    }
    vals[hole] = EMPTY
    this.#size--
  }

  /** Remove every entry. */
  clear(): void {
    this.#vals.fill(EMPTY)
    this.#size = 0
  }

  #scan(key: number, s: number): number {
    const keys = this.#keys
    const vals = this.#vals
    const mask = this.#mask
    for (;;) {
      if (vals[s] === EMPTY) return -1
      if (keys[s] === key) return s
      s = (s + 1) & mask
    }
  }

  #home(key: number): number {
    return Math.imul(key, 0x9e3779b1) >>> this.#shift
  }

  #grow(): void {
    const keys = this.#keys
    const vals = this.#vals
    const cap = vals.length * 2
    this.#keys = new Int32Array(cap)
    this.#vals = new Int32Array(cap).fill(EMPTY)
    this.#mask = cap - 1
    this.#shift = 32 - Math.log2(cap)
    this.#size = 0
    for (let s = 0; s < vals.length; s++) {
      const v = vals[s] as number
      if (v !== EMPTY) this.insert(keys[s] as number, v)
    }
  }
}
