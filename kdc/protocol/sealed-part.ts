/**
 * The shared open/seal step of every sealed part: encode the plaintext, seal it; open, then decode
 * and validate the plaintext, mapping every failure to ERR_AP_BAD_INTEGRITY (house style B4.5).
 */
import { openBytes, sealBytes } from './aead.js'
import { decodeAuthenticated, encodeTrusted, type WireValue } from './codec.js'
import { BrokerError, isBrokerError } from './errors.js'

/** Seal a plaintext wire value; `nonce` only for deterministic vectors. */
export function sealPart(
  subkey: Uint8Array,
  aad: Uint8Array,
  plaintext: WireValue,
  nonce?: Uint8Array,
): Uint8Array {
  // encodeTrusted returns a view into msgpackr's shared output buffer; the plaintext may hold a
  // session key, so it is wiped there once sealed instead of lingering until overwritten.
  const bytes = encodeTrusted(plaintext)
  try {
    return nonce === undefined
      ? sealBytes(subkey, aad, bytes)
      : sealBytes(subkey, aad, bytes, nonce)
  } finally {
    bytes.fill(0)
  }
}

/** Open a sealed part and parse its plaintext with `parse`; every failure is ERR_AP_BAD_INTEGRITY. */
export function openPart<T>(
  subkey: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
  maxPlaintextBytes: number,
  parse: (value: WireValue) => T,
): T {
  return parsePlaintext(openBytes(subkey, aad, sealed, maxPlaintextBytes), parse)
}

/** Decode and validate an opened plaintext with `parse`; every failure is ERR_AP_BAD_INTEGRITY. */
export function parsePlaintext<T>(plaintext: Uint8Array, parse: (value: WireValue) => T): T {
  try {
    return parse(decodeAuthenticated(plaintext))
  } catch (err) {
    if (isBrokerError(err, 'ERR_AP_BAD_INTEGRITY')) throw err
    throw new BrokerError('ERR_AP_BAD_INTEGRITY', { status: 'PLAINTEXT', cause: err })
  }
}
