/**
 * Reused buffers for the verifier's native calls. A typed array of up to 64 bytes made with
 * `new Uint8Array(n)` lives on the JS heap, and V8 moves it off-heap the first time native code
 * asks for its memory; that move costs more than the cipher does on these sizes. A view of an
 * ArrayBuffer is off-heap from the start, and a plain Uint8Array's subarray is cheaper to make
 * than a Buffer's.
 */
export function offHeap(bytes: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(bytes))
}

const SLOTS_PER_CHUNK = 256

/**
 * 32-byte key slots carved from off-heap chunks, for the keys of cached tickets: a slot hands
 * native code its memory without a move, and a freed slot is wiped and reused. Memory follows the
 * peak number of live keys (32 bytes each), which the ticket cache bounds.
 */
export class KeySlots {
  readonly #free: Uint8Array[] = []
  readonly #size: number

  constructor(size: number) {
    this.#size = size
  }

  /** A zeroed slot. */
  take(): Uint8Array {
    const slot = this.#free.pop()
    if (slot !== undefined) return slot
    const chunk = offHeap(this.#size * SLOTS_PER_CHUNK)
    for (let i = SLOTS_PER_CHUNK - 1; i > 0; i--) {
      this.#free.push(chunk.subarray(i * this.#size, (i + 1) * this.#size))
    }
    return chunk.subarray(0, this.#size)
  }

  /** Wipe a slot from {@link KeySlots.take} and make it available again. Give each back once. */
  give(slot: Uint8Array): void {
    slot.fill(0)
    this.#free.push(slot)
  }
}

/**
 * Subarrays of one buffer, remembered per slot: a call with the bounds of the slot's previous call
 * returns the same view instead of making a new one. A repeat caller's requests have the same
 * geometry from one call to the next, so the verifier's hot path makes no views at all.
 */
export class ViewSlots {
  readonly #buffer: Uint8Array
  readonly #starts: number[]
  readonly #ends: number[]
  readonly #views: Uint8Array[]

  constructor(buffer: Uint8Array, slots: number) {
    this.#buffer = buffer
    this.#starts = new Array<number>(slots).fill(-1)
    this.#ends = new Array<number>(slots).fill(-1)
    this.#views = new Array<Uint8Array>(slots).fill(buffer)
  }

  /** buffer.subarray(start, end), made anew only when slot `slot` last had other bounds. */
  get(slot: number, start: number, end: number): Uint8Array {
    if (this.#starts[slot] !== start || this.#ends[slot] !== end) {
      this.#starts[slot] = start
      this.#ends[slot] = end
      this.#views[slot] = this.#buffer.subarray(start, end)
    }
    return this.#views[slot] as Uint8Array
  }
}
