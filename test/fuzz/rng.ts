/**
 * The fuzzer's randomness: a seeded stream from node:crypto, so that every run prints its seed and
 * `--seed N` replays it. Each target draws from its own stream, AES-256-CTR keyed with
 * SHA-256("tessera-fuzz/" ‖ seed ‖ "/" ‖ target), so a target run alone (`--target NAME`) sees the
 * same inputs as in a full run, only more of them.
 */
import { createCipheriv, createHash, randomInt } from 'node:crypto'

const BLOCK_BYTES = 64 * 1024
const ZEROS = new Uint8Array(BLOCK_BYTES)

/** A fresh seed for a run that was given none: 48 bits, printable as a plain decimal. */
export function freshSeed(): string {
  return String(randomInt(0, 2 ** 47) * 2 + randomInt(0, 2))
}

/** A deterministic random stream. */
export class Rng {
  readonly #cipher: ReturnType<typeof createCipheriv>
  #block: Uint8Array = new Uint8Array(0)
  #view = new DataView(new ArrayBuffer(0))
  #pos = 0

  constructor(seed: string, stream: string) {
    const key = createHash('sha256').update(`tessera-fuzz/${seed}/${stream}`).digest()
    this.#cipher = createCipheriv('aes-256-ctr', key, new Uint8Array(16))
  }

  #need(n: number): void {
    if (this.#pos + n <= this.#block.length) return
    const next = this.#cipher.update(ZEROS)
    this.#block = new Uint8Array(next.buffer, next.byteOffset, next.length)
    this.#view = new DataView(next.buffer, next.byteOffset, next.length)
    this.#pos = 0
  }

  /** A uniform uint32. */
  u32(): number {
    this.#need(4)
    const v = this.#view.getUint32(this.#pos)
    this.#pos += 4
    return v
  }

  /** A uniform integer in [0, n) for 0 < n ≤ 2^32 (modulo bias is irrelevant here). */
  int(n: number): number {
    if (n <= 1) return 0
    return this.u32() % n
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() < p * 0x1_0000_0000
  }

  /** A uniformly chosen item of a non-empty list. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T
  }

  /** `n` random bytes (a fresh array). */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    let off = 0
    while (off < n) {
      this.#need(1)
      const take = Math.min(n - off, this.#block.length - this.#pos)
      out.set(this.#block.subarray(this.#pos, this.#pos + take), off)
      this.#pos += take
      off += take
    }
    return out
  }

  /** A small count, skewed towards 1: 1 with p=1/2, 2 with 1/4, … at most `max`. */
  small(max: number): number {
    let n = 1
    while (n < max && this.chance(0.5)) n++
    return n
  }
}
