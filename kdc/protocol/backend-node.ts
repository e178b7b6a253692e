/**
 * The node-only crypto backends (docs/protocol.md §3.1): `native` (HChaCha20 from @noble/ciphers,
 * then ChaCha20-Poly1305 from node:crypto) and `sodium` (libsodium via the optional sodium-native).
 * backend.ts loads this module dynamically; it is the one file of kdc/protocol that may use node:.
 */
import * as nodeCrypto from 'node:crypto'
import { createCipheriv, createDecipheriv, createHash } from 'node:crypto'
import { hchacha } from '@noble/ciphers/chacha.js'
import { blake2b } from '@noble/hashes/blake2.js'
import type { CryptoBackend } from './backend.js'

const TAG = 16
const EMPTY = new Uint8Array(0)
// "expand 32-byte k" as little-endian words.
const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574])
const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

function words(bytes: Uint8Array, count: number): Uint32Array {
  const out = new Uint32Array(count)
  for (let i = 0; i < count; i++) {
    const o = i * 4
    out[i] =
      ((bytes[o] as number) |
        ((bytes[o + 1] as number) << 8) |
        ((bytes[o + 2] as number) << 16) |
        ((bytes[o + 3] as number) << 24)) >>>
      0
  }
  return out
}

/** HChaCha20(key, nonce[0..16]) → the 32-byte ChaCha20 subkey of XChaCha20. */
function deriveSubkey(key: Uint8Array, nonce: Uint8Array): Buffer {
  const out = new Uint32Array(8)
  hchacha(SIGMA, words(key, 8), words(nonce, 4), out)
  if (littleEndian) return Buffer.from(out.buffer)
  const b = Buffer.alloc(32)
  for (let i = 0; i < 8; i++) b.writeUInt32LE(out[i] as number, i * 4)
  return b
}

/** The 12-byte IETF nonce of XChaCha20: four zero bytes ‖ nonce[16..24]. */
function ietfNonce(nonce: Uint8Array): Buffer {
  const n = Buffer.alloc(12)
  n.set(nonce.subarray(16, 24), 4)
  return n
}

// crypto.hash (Node >= 20.12) is a one-shot digest without the Hash object of createHash.
const oneShotHash = (
  nodeCrypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }
).hash

function nodeSha256(data: Uint8Array): Uint8Array {
  if (oneShotHash !== undefined) return oneShotHash('sha256', data, 'buffer')
  return createHash('sha256').update(data).digest()
}

/** The node:crypto backend, or undefined when this Node build lacks chacha20-poly1305. */
export function loadNative(): CryptoBackend | undefined {
  const backend: CryptoBackend = {
    name: 'native',
    seal(key, nonce, aad, plaintext) {
      const subkey = deriveSubkey(key, nonce)
      const cipher = createCipheriv('chacha20-poly1305', subkey, ietfNonce(nonce), {
        authTagLength: TAG,
      })
      subkey.fill(0)
      cipher.setAAD(aad, { plaintextLength: plaintext.length })
      const head = cipher.update(plaintext)
      const tail = cipher.final()
      const out = new Uint8Array(plaintext.length + TAG)
      out.set(head, 0)
      out.set(tail, head.length)
      out.set(cipher.getAuthTag(), plaintext.length)
      return out
    },
    open(key, nonce, aad, sealed) {
      if (sealed.length < TAG) return undefined
      const subkey = deriveSubkey(key, nonce)
      const body = sealed.subarray(0, sealed.length - TAG)
      try {
        const decipher = createDecipheriv('chacha20-poly1305', subkey, ietfNonce(nonce), {
          authTagLength: TAG,
        })
        decipher.setAAD(aad, { plaintextLength: body.length })
        decipher.setAuthTag(sealed.subarray(sealed.length - TAG))
        const head = decipher.update(body)
        const tail = decipher.final()
        if (tail.length === 0) return new Uint8Array(head.buffer, head.byteOffset, head.length)
        const out = new Uint8Array(body.length)
        out.set(head, 0)
        out.set(tail, head.length)
        return out
      } catch {
        return undefined
      } finally {
        subkey.fill(0)
      }
    },
    // node:crypto has no keyed BLAKE2b; the reference implementation serves. (Not imported from
    // backend.ts, which is still evaluating while it loads this module.)
    kdf: (key, label) => blake2b(label, { key, dkLen: 32 }),
    sha256: nodeSha256,
    // node:crypto's BLAKE2b has a fixed 64-byte output (a different function): the reference.
    blake2b256: (data) => blake2b(data, { dkLen: 32 }),
    openInto(key, nonce, aad, sealed, out) {
      if (out.length !== sealed.length - TAG) return false
      const plaintext = backend.open(key, nonce, aad, sealed)
      if (plaintext === undefined) return false
      out.set(plaintext)
      plaintext.fill(0)
      return true
    },
    sha256Into(data, out) {
      out.set(nodeSha256(data))
    },
    blake2b256Into(data, out) {
      out.set(blake2b(data, { dkLen: 32 }))
    },
    kdfInto(key, label, out) {
      out.set(blake2b(label, { key, dkLen: 32 }))
    },
  }
  try {
    // Probe once: some Node builds (e.g. FIPS) lack the cipher.
    const probe = backend.seal(new Uint8Array(32), new Uint8Array(24), EMPTY, EMPTY)
    return probe.length === TAG ? backend : undefined
  } catch {
    return undefined
  }
}

interface Sodium {
  crypto_generichash(out: Uint8Array, data: Uint8Array, key?: Uint8Array): void
  crypto_hash_sha256(out: Uint8Array, data: Uint8Array): void
  crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number
  crypto_aead_xchacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number
}

/** The libsodium backend, or undefined when the optional sodium-native is not installed. */
export async function loadSodium(): Promise<CryptoBackend | undefined> {
  let sodium: Sodium
  try {
    // A non-literal specifier: sodium-native is optional and ships no type declarations.
    const specifier = 'sodium-native'
    const mod = (await import(specifier)) as { default?: Sodium } & Sodium
    sodium = mod.default ?? mod
    if (
      typeof sodium.crypto_aead_xchacha20poly1305_ietf_encrypt !== 'function' ||
      typeof sodium.crypto_generichash !== 'function' ||
      typeof sodium.crypto_hash_sha256 !== 'function'
    )
      return undefined
  } catch {
    return undefined
  }
  return {
    name: 'sodium',
    seal(key, nonce, aad, plaintext) {
      const out = new Uint8Array(plaintext.length + TAG)
      sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, aad, null, nonce, key)
      return out
    },
    open(key, nonce, aad, sealed) {
      if (sealed.length < TAG) return undefined
      const out = new Uint8Array(sealed.length - TAG)
      try {
        sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, sealed, aad, nonce, key)
        return out
      } catch {
        return undefined
      }
    },
    kdf(key, label) {
      // crypto_generichash is keyed BLAKE2b: one native call per derivation.
      const out = new Uint8Array(32)
      sodium.crypto_generichash(out, label, key)
      return out
    },
    // libsodium's one-shot SHA-256 costs less than half of node's crypto.hash per call.
    sha256(data) {
      const out = new Uint8Array(32)
      sodium.crypto_hash_sha256(out, data)
      return out
    },
    blake2b256(data) {
      const out = new Uint8Array(32)
      sodium.crypto_generichash(out, data)
      return out
    },
    openInto(key, nonce, aad, sealed, out) {
      if (sealed.length < TAG || out.length !== sealed.length - TAG) return false
      try {
        sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, sealed, aad, nonce, key)
        return true
      } catch {
        return false
      }
    },
    sha256Into(data, out) {
      sodium.crypto_hash_sha256(out, data)
    },
    blake2b256Into(data, out) {
      sodium.crypto_generichash(out, data)
    },
    kdfInto(key, label, out) {
      sodium.crypto_generichash(out, label, key)
    },
  }
}
