/**
 * Zero-copy reading of an AP-REQ addressed to us (docs/protocol.md §5.5), for the verifier's hot
 * path.
 *
 * An AP-REQ for this service is exactly
 *
 *     94 01 05 | 94 str(realm) str(service) uint(kvno) bin(sealed) | bin(authenticator)
 *
 * where realm and service are OUR names, so their canonical encoding is a fixed prefix. `scan`
 * accepts precisely the byte strings that kdc/protocol's parseApReq accepts AND whose ticket names
 * ours: canonical (minimal) integers and lengths, 41 ≤ |sealed|, |authenticator| ≤ MAX_SEALED_BYTES,
 * nothing after the authenticator. It allocates nothing and records offsets. Anything it does not
 * accept goes to parseApReq, which produces the precise error (or ERR_AP_NOT_US), so the strictness
 * of the protocol core stays the single source of truth for refusals.
 */
import { encode, MAX_SEALED_BYTES, MSG, PROTOCOL_VERSION } from '../kdc/protocol/index.js'
import { CanonicalReader } from './plaintext-reader.js'

/** The smallest sealed object: nonce(24) ‖ ≥1 byte ‖ tag(16). */
const MIN_SEALED_BYTES = 41

/** The fixed prefix of every AP-REQ whose ticket names `realm` and `service`. */
export function apReqPrefix(realm: string, service: string): Uint8Array {
  const names = encode([realm, service]) // 0x92 str str
  const out = new Uint8Array(4 + names.length - 1)
  out.set([0x94, PROTOCOL_VERSION, MSG.AP_REQ, 0x94], 0)
  out.set(names.subarray(1), 4)
  return out
}

/** Offsets into the last scanned AP-REQ. Reused across calls: read it before the next scan. */
export class ApReqView extends CanonicalReader {
  readonly #prefix: Uint8Array
  kvno = 0
  /** The ticket's encoding is bytes[3, ticketEnd). */
  readonly ticketStart = 3
  ticketEnd = 0
  sealedStart = 0
  authStart = 0

  constructor(prefix: Uint8Array) {
    super()
    this.#prefix = prefix
  }

  /** True when `bytes` is a well-formed AP-REQ with our names; fills the offsets. */
  scan(bytes: Uint8Array): boolean {
    const prefix = this.#prefix
    const n = bytes.length
    let p = prefix.length
    if (n < p + 1 + 2 + MIN_SEALED_BYTES + 2 + MIN_SEALED_BYTES) return false
    for (let i = 0; i < p; i++) if (bytes[i] !== prefix[i]) return false
    // kvno: a canonical uint32.
    p = this.uint(bytes, p)
    if (p < 0) return false
    this.kvno = this.value
    // sealed ticket part, then the authenticator, which must end the message.
    const sealedEnd = this.#bin(bytes, p)
    if (sealedEnd < 0) return false
    this.sealedStart = this.#binStart
    this.ticketEnd = sealedEnd
    const authEnd = this.#bin(bytes, sealedEnd)
    if (authEnd !== n) return false
    this.authStart = this.#binStart
    return true
  }

  #binStart = 0

  /** Read a canonical bin of 41..MAX_SEALED_BYTES at p; returns its end or -1. */
  #bin(bytes: Uint8Array, p: number): number {
    const h = bytes[p]
    let len: number
    if (h === 0xc4) {
      len = bytes[p + 1] ?? 0
      p += 2
    } else if (h === 0xc5) {
      len = ((bytes[p + 1] ?? 0) << 8) | (bytes[p + 2] ?? 0)
      if (len <= 0xff) return -1
      p += 3
    } else {
      return -1
    }
    if (len < MIN_SEALED_BYTES || len > MAX_SEALED_BYTES || p + len > bytes.length) return -1
    this.#binStart = p
    return p + len
  }
}
