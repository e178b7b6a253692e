/**
 * Key separation (docs/protocol.md §3.2): a key is never used directly. Each use derives its own
 * subkey = BLAKE2b-256(key = key, message = label): keyed BLAKE2b (RFC 7693) used as a PRF, which
 * is sound for 32 uniformly random key bytes and costs one compression (one libsodium call) where
 * HKDF-SHA256 costs four SHA-256 compressions; the verifier derives one subkey per new ticket.
 * Every label is listed here; the same label also opens the associated data of the object it seals
 * (aead.ts).
 */
import { utf8Encode } from './bytes.js'
import { cryptoBackend } from './backend.js'
import { KEY_BYTES } from './limits.js'

export const LABELS = Object.freeze({
  ticket: 'tessera/v1/ticket',
  preauth: 'tessera/v1/preauth',
  asRep: 'tessera/v1/as-rep',
  tgsRep: 'tessera/v1/tgs-rep',
  authenticator: 'tessera/v1/authenticator',
  apRep: 'tessera/v1/ap-rep',
  admin: 'tessera/v1/admin',
  replication: 'tessera/v1/replication',
  db: 'tessera/v1/db',
} as const)

export type Label = (typeof LABELS)[keyof typeof LABELS]

const labelBytes = new Map<string, Uint8Array>()
for (const label of Object.values(LABELS)) labelBytes.set(label, utf8Encode(label))

/** Derive the 32-byte subkey of `key` for `label`. Throws RangeError for a key of the wrong size. */
export function deriveKey(key: Uint8Array, label: Label): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw new RangeError(`keys are ${KEY_BYTES} bytes`)
  }
  return cryptoBackend().kdf(key, labelBytes.get(label) as Uint8Array)
}
