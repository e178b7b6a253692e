/**
 * Token buckets (house style B5 "per connection" and design brief §10 "rate limits per principal").
 * A bucket holds up to `burst` tokens and refills at `ratePerSecond`; each request takes one. The
 * keyed limiter holds at most `maxKeys` buckets: the least recently used is dropped first (a dropped
 * bucket comes back full, which errs on the side of serving).
 */

export interface TokenBucketOptions {
  readonly ratePerSecond: number
  readonly burst: number
  /** Milliseconds from a monotonic source (performance.now in production). */
  readonly nowMs: () => number
}

interface Bucket {
  tokens: number
  updatedMs: number
}

function refill(bucket: Bucket, options: TokenBucketOptions, now: number): void {
  const elapsed = Math.max(0, now - bucket.updatedMs)
  bucket.tokens = Math.min(options.burst, bucket.tokens + (elapsed * options.ratePerSecond) / 1000)
  bucket.updatedMs = now
}

/** One bucket (per connection). */
export class TokenBucket {
  readonly #options: TokenBucketOptions
  readonly #bucket: Bucket

  constructor(options: TokenBucketOptions) {
    this.#options = options
    this.#bucket = { tokens: options.burst, updatedMs: options.nowMs() }
  }

  /** Take one token; false when the bucket is empty. */
  take(): boolean {
    refill(this.#bucket, this.#options, this.#options.nowMs())
    if (this.#bucket.tokens < 1) return false
    this.#bucket.tokens -= 1
    return true
  }
}

/** Buckets by key (per principal), bounded. */
export class KeyedRateLimiter {
  readonly #options: TokenBucketOptions
  readonly #maxKeys: number
  readonly #buckets = new Map<string, Bucket>()

  constructor(options: TokenBucketOptions & { readonly maxKeys: number }) {
    if (!Number.isSafeInteger(options.maxKeys) || options.maxKeys < 1) {
      throw new RangeError('maxKeys must be a positive integer')
    }
    this.#options = options
    this.#maxKeys = options.maxKeys
  }

  /** Take one token from `key`'s bucket; false when it is empty. */
  take(key: string): boolean {
    const now = this.#options.nowMs()
    let bucket = this.#buckets.get(key)
    if (bucket === undefined) {
      bucket = { tokens: this.#options.burst, updatedMs: now }
      if (this.#buckets.size >= this.#maxKeys) {
        const lru = this.#buckets.keys().next()
        if (lru.done !== true) this.#buckets.delete(lru.value)
      }
    } else {
      this.#buckets.delete(key)
      refill(bucket, this.#options, now)
    }
    this.#buckets.set(key, bucket)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  get size(): number {
    return this.#buckets.size
  }
}
