/**
 * Sealed objects (docs/protocol.md §3.3): sealed = nonce(24) ‖ ciphertext ‖ tag(16), with
 * XChaCha20-Poly1305 under a derived subkey and a fresh random nonce per seal. The associated data
 * is the canonical msgpack encoding of [label, version, objectType, ...context], so a sealed blob
 * cannot be cut out of one context and pasted into another. The receiver picks exactly one key from
 * the header (principal, kvno) and never tries keys in turn.
 *
 * Every open failure — wrong length, bad tag, or a plaintext that fails to decode or validate —
 * is the same ERR_AP_BAD_INTEGRITY (house style B4.5).
 */
import { randomBytes } from './random.js'
import { cryptoBackend } from './backend.js'
import { encodeTrusted, type WireValue } from './codec.js'
import { BrokerError } from './errors.js'
import { LABELS, type Label } from './kdf.js'
import { NONCE_BYTES, PROTOCOL_VERSION, TAG_BYTES, KEY_BYTES } from './limits.js'

/** Object types of sealed parts; they appear in the associated data (docs/protocol.md §3.3). */
export const OBJ = Object.freeze({
  TICKET: 32,
  PREAUTH: 33,
  AS_REP_ENC: 34,
  TGS_REP_ENC: 35,
  AUTHENTICATOR: 36,
  AP_REP_ENC: 37,
  ADMIN_REQ_ENC: 38,
  ADMIN_REP_ENC: 39,
  DB_KEY: 40,
  REPL_ENC: 41,
} as const)

export type ObjectType = (typeof OBJ)[keyof typeof OBJ]

/** The label bound to each object type, in the AAD and in the subkey derivation. */
export const OBJECT_LABEL: Readonly<Record<ObjectType, Label>> = Object.freeze({
  [OBJ.TICKET]: LABELS.ticket,
  [OBJ.PREAUTH]: LABELS.preauth,
  [OBJ.AS_REP_ENC]: LABELS.asRep,
  [OBJ.TGS_REP_ENC]: LABELS.tgsRep,
  [OBJ.AUTHENTICATOR]: LABELS.authenticator,
  [OBJ.AP_REP_ENC]: LABELS.apRep,
  [OBJ.ADMIN_REQ_ENC]: LABELS.admin,
  [OBJ.ADMIN_REP_ENC]: LABELS.admin,
  [OBJ.DB_KEY]: LABELS.db,
  [OBJ.REPL_ENC]: LABELS.replication,
})

/** AAD = msgpack([label, PROTOCOL_VERSION, objectType, ...context]). */
export function buildAad(type: ObjectType, context: readonly WireValue[]): Uint8Array {
  return encodeTrusted([OBJECT_LABEL[type], PROTOCOL_VERSION, type, ...context])
}

/** A fresh random 24-byte nonce from the platform CSPRNG. */
export function randomNonce(): Uint8Array {
  return randomBytes(NONCE_BYTES)
}

/**
 * Seal `plaintext` under `subkey` (already derived for this object's label) with associated data
 * `aad`. `nonce` is for test vectors only; production callers omit it and get a fresh random one.
 */
export function sealBytes(
  subkey: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  nonce: Uint8Array = randomNonce(),
): Uint8Array {
  if (subkey.length !== KEY_BYTES) throw new RangeError('subkeys are 32 bytes')
  if (nonce.length !== NONCE_BYTES) throw new RangeError('nonces are 24 bytes')
  const body = cryptoBackend().seal(subkey, nonce, aad, plaintext)
  const out = new Uint8Array(NONCE_BYTES + body.length)
  out.set(nonce, 0)
  out.set(body, NONCE_BYTES)
  return out
}

/**
 * Open a sealed blob. The length is checked against [min, max] plaintext bytes before any
 * cryptography runs (docs/protocol.md §9); any failure is ERR_AP_BAD_INTEGRITY with a status tag
 * for the audit log only.
 */
export function openBytes(
  subkey: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
  maxPlaintextBytes: number,
): Uint8Array {
  const overhead = NONCE_BYTES + TAG_BYTES
  if (sealed.length < overhead + 1 || sealed.length > overhead + maxPlaintextBytes) {
    throw new BrokerError('ERR_AP_BAD_INTEGRITY', { status: 'SEALED_LENGTH' })
  }
  const plaintext = cryptoBackend().open(
    subkey,
    sealed.subarray(0, NONCE_BYTES),
    aad,
    sealed.subarray(NONCE_BYTES),
  )
  if (plaintext === undefined) throw new BrokerError('ERR_AP_BAD_INTEGRITY', { status: 'TAG' })
  return plaintext
}
