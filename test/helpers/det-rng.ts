/**
 * A deterministic byte source for test vectors and fixtures (house style B7): output block i of
 * stream `label` is SHA-256("tessera-test-rng/" ‖ label ‖ 0x00 ‖ u32be(i)). The same label always
 * gives the same bytes, on every machine, so test/vectors/generate.ts is reproducible. Never use it
 * for anything but tests: it is a public function of its label.
 */
import { sha256 } from '@noble/hashes/sha2.js'

const encoder = new TextEncoder()

/** `length` deterministic bytes for `label`. */
export function detBytes(label: string, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0) throw new RangeError('length must be >= 0')
  const prefix = encoder.encode(`tessera-test-rng/${label}\u0000`)
  const out = new Uint8Array(length)
  const input = new Uint8Array(prefix.length + 4)
  input.set(prefix, 0)
  const view = new DataView(input.buffer)
  for (let block = 0, offset = 0; offset < length; block++, offset += 32) {
    view.setUint32(prefix.length, block)
    const digest = sha256(input)
    out.set(digest.subarray(0, Math.min(32, length - offset)), offset)
  }
  return out
}

/** A deterministic generator of fresh streams: next(n) never repeats an earlier output. */
export class DetRng {
  private counter = 0
  private readonly label: string

  constructor(label: string) {
    this.label = label
  }

  next(length: number): Uint8Array {
    return detBytes(`${this.label}/${String(this.counter++)}`, length)
  }
}
