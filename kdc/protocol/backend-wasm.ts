/**
 * The `wasm` crypto backend: libsodium compiled to WebAssembly (the `libsodium-sumo` package of
 * libsodium.js, the libsodium authors' own build). It needs no native addon, so it runs wherever
 * WebAssembly does, and it is the fastest backend on the short messages of this protocol: a call
 * into WebAssembly costs a few nanoseconds, where a N-API call with typed-array arguments costs
 * a few hundred (docs/internals.md, "The verifier's hot path").
 *
 * Two faces:
 * - {@link WasmBackend}, the {@link CryptoBackend} of every other backend: arguments are copied into
 *   the module's memory, the result is copied out, and the copies are wiped;
 * - {@link WasmCalls}, the same primitives by address, over {@link WasmSodium}'s memory and
 *   allocator, for hot paths that keep their buffers inside the module's memory (the service SDK's
 *   verifier).
 *
 * The module's memory grows when its allocator needs room, and growing detaches every view of the
 * old memory: read {@link WasmSodium.HEAPU8} again after any call that may allocate.
 */
import type { BackendName, CryptoBackend } from './backend.js'
import { KEY_BYTES, NONCE_BYTES, TAG_BYTES } from './limits.js'
import { randomBytes } from './random.js'

/**
 * The raw libsodium exports this project uses. 64-bit lengths (`unsigned long long`) are passed as
 * two 32-bit halves, low first; the high half is always 0 here (every length is below 2^32).
 */
export interface WasmSodium {
  /** The module's whole memory as bytes; replaced when the memory grows. */
  readonly HEAPU8: Uint8Array
  _malloc(size: number): number
  _free(ptr: number): void
  _sodium_init(): number
  _crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: number,
    clenP: number,
    m: number,
    mlenLo: number,
    mlenHi: number,
    ad: number,
    adlenLo: number,
    adlenHi: number,
    nsec: number,
    npub: number,
    k: number,
  ): number
  _crypto_aead_xchacha20poly1305_ietf_decrypt(
    m: number,
    mlenP: number,
    nsec: number,
    c: number,
    clenLo: number,
    clenHi: number,
    ad: number,
    adlenLo: number,
    adlenHi: number,
    npub: number,
    k: number,
  ): number
  _crypto_generichash(
    out: number,
    outlen: number,
    input: number,
    inlenLo: number,
    inlenHi: number,
    key: number,
    keylen: number,
  ): number
  _crypto_hash_sha256(out: number, input: number, inlenLo: number, inlenHi: number): number
}

/**
 * The backend's primitives by address in the module's memory: what the copying CryptoBackend
 * methods below run on, and what hot paths that keep their buffers in that memory call directly.
 * Lengths are those of the blocks at each address (keys 32, nonces 24 bytes).
 */
export interface WasmCalls {
  /** Open `sealedLength` bytes (ciphertext ‖ tag) into `out`; false when the tag does not verify. */
  open(
    key: number,
    nonce: number,
    aad: number,
    aadLength: number,
    sealed: number,
    sealedLength: number,
    out: number,
  ): boolean
  /** Seal `length` bytes of plaintext into `out` (length + 16 bytes). */
  seal(
    key: number,
    nonce: number,
    aad: number,
    aadLength: number,
    plaintext: number,
    length: number,
    out: number,
  ): void
  /** The KDF (keyed BLAKE2b-256) of the label at `label` under the key at `key`, into `out`. */
  kdf(key: number, label: number, labelLength: number, out: number): void
  /** SHA-256 of `length` bytes at `data`, into the 32 bytes at `out`. */
  sha256(data: number, length: number, out: number): void
  /** BLAKE2b-256 (no key) of `length` bytes at `data`, into the 32 bytes at `out`. */
  blake2b256(data: number, length: number, out: number): void
}

/** The CryptoBackend over WebAssembly libsodium, the module itself, and its calls by address. */
export interface WasmBackend extends CryptoBackend {
  readonly name: BackendName
  readonly sodium: WasmSodium
  readonly at: WasmCalls
}

type Factory = (options: { getRandomValue: () => number }) => Promise<WasmSodium>

/** Arguments up to this size go through one region reserved at load time. */
const SCRATCH_BYTES = 16_384

/** The wasm backend, or undefined when libsodium-sumo or WebAssembly is missing. */
export async function loadWasm(): Promise<WasmBackend | undefined> {
  let sodium: WasmSodium
  try {
    // A non-literal specifier: libsodium-sumo ships no type declarations; WasmSodium above says
    // what we use of it.
    const specifier = 'libsodium-sumo'
    const mod = (await import(specifier)) as { default: Factory }
    sodium = await mod.default({
      // libsodium's own randombytes is never used (nonces and keys come from random.ts), but
      // sodium_init() insists on a source.
      getRandomValue: () => {
        const b = randomBytes(4)
        return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true)
      },
    })
    if (sodium._sodium_init() < 0) return undefined
  } catch {
    return undefined
  }
  return wasmBackend(sodium)
}

function wasmCalls(sodium: WasmSodium): WasmCalls {
  return Object.freeze({
    open(
      key: number,
      nonce: number,
      aad: number,
      aadLength: number,
      sealed: number,
      sealedLength: number,
      out: number,
    ): boolean {
      return (
        sealedLength >= TAG_BYTES &&
        sodium._crypto_aead_xchacha20poly1305_ietf_decrypt(
          out,
          0,
          0,
          sealed,
          sealedLength,
          0,
          aad,
          aadLength,
          0,
          nonce,
          key,
        ) === 0
      )
    },
    seal(
      key: number,
      nonce: number,
      aad: number,
      aadLength: number,
      plaintext: number,
      length: number,
      out: number,
    ): void {
      sodium._crypto_aead_xchacha20poly1305_ietf_encrypt(
        out,
        0,
        plaintext,
        length,
        0,
        aad,
        aadLength,
        0,
        0,
        nonce,
        key,
      )
    },
    kdf(key: number, label: number, labelLength: number, out: number): void {
      sodium._crypto_generichash(out, KEY_BYTES, label, labelLength, 0, key, KEY_BYTES)
    },
    sha256(data: number, length: number, out: number): void {
      sodium._crypto_hash_sha256(out, data, length, 0)
    },
    blake2b256(data: number, length: number, out: number): void {
      sodium._crypto_generichash(out, 32, data, length, 0, 0, 0)
    },
  })
}

function wasmBackend(sodium: WasmSodium): WasmBackend {
  const calls = wasmCalls(sodium)
  const scratch = sodium._malloc(SCRATCH_BYTES)
  if (scratch === 0) throw new Error('libsodium (wasm): out of memory reserving scratch')

  /**
   * Run `body` with `size` bytes of module memory at its argument (the scratch region, or a fresh
   * block when larger), then wipe and release them.
   */
  function withRegion<T>(size: number, body: (at: number) => T): T {
    const at = size <= SCRATCH_BYTES ? scratch : sodium._malloc(size)
    if (at === 0) throw new RangeError('libsodium (wasm): out of memory')
    try {
      return body(at)
    } finally {
      sodium.HEAPU8.fill(0, at, at + size)
      if (at !== scratch) sodium._free(at)
    }
  }

  function put(bytes: Uint8Array, at: number): void {
    sodium.HEAPU8.set(bytes, at)
  }

  function open(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    sealed: Uint8Array,
    out: Uint8Array | undefined,
  ): Uint8Array | undefined {
    if (sealed.length < TAG_BYTES) return undefined
    if (key.length !== KEY_BYTES || nonce.length !== NONCE_BYTES) {
      throw new RangeError('xchacha20poly1305: key must be 32 bytes and nonce 24')
    }
    const n = sealed.length - TAG_BYTES
    if (out !== undefined && out.length !== n) return undefined
    // key | nonce | aad | sealed | plaintext
    const aadAt = KEY_BYTES + NONCE_BYTES
    const sealedAt = aadAt + aad.length
    const plainAt = sealedAt + sealed.length
    return withRegion(plainAt + n, (at) => {
      put(key, at)
      put(nonce, at + KEY_BYTES)
      put(aad, at + aadAt)
      put(sealed, at + sealedAt)
      const ok = calls.open(
        at,
        at + KEY_BYTES,
        at + aadAt,
        aad.length,
        at + sealedAt,
        sealed.length,
        at + plainAt,
      )
      if (!ok) return undefined
      const plain = sodium.HEAPU8.subarray(at + plainAt, at + plainAt + n)
      if (out === undefined) return plain.slice()
      out.set(plain)
      return out
    })
  }

  function kdfInto(key: Uint8Array, label: Uint8Array, out: Uint8Array): void {
    if (key.length !== KEY_BYTES) throw new RangeError('kdf: key must be 32 bytes')
    withRegion(KEY_BYTES * 2 + label.length, (at) => {
      put(key, at)
      put(label, at + KEY_BYTES * 2)
      calls.kdf(at, at + KEY_BYTES * 2, label.length, at + KEY_BYTES)
      out.set(sodium.HEAPU8.subarray(at + KEY_BYTES, at + KEY_BYTES * 2))
    })
  }

  function sha256Into(data: Uint8Array, out: Uint8Array): void {
    withRegion(32 + data.length, (at) => {
      put(data, at + 32)
      calls.sha256(at + 32, data.length, at)
      out.set(sodium.HEAPU8.subarray(at, at + 32))
    })
  }

  function blake2b256Into(data: Uint8Array, out: Uint8Array): void {
    withRegion(32 + data.length, (at) => {
      put(data, at + 32)
      calls.blake2b256(at + 32, data.length, at)
      out.set(sodium.HEAPU8.subarray(at, at + 32))
    })
  }

  return Object.freeze({
    name: 'wasm' as const,
    sodium,
    at: calls,
    seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
      if (key.length !== KEY_BYTES || nonce.length !== NONCE_BYTES) {
        throw new RangeError('xchacha20poly1305: key must be 32 bytes and nonce 24')
      }
      // key | nonce | aad | plaintext | sealed
      const aadAt = KEY_BYTES + NONCE_BYTES
      const plainAt = aadAt + aad.length
      const sealedAt = plainAt + plaintext.length
      const n = plaintext.length + TAG_BYTES
      return withRegion(sealedAt + n, (at) => {
        put(key, at)
        put(nonce, at + KEY_BYTES)
        put(aad, at + aadAt)
        put(plaintext, at + plainAt)
        calls.seal(
          at,
          at + KEY_BYTES,
          at + aadAt,
          aad.length,
          at + plainAt,
          plaintext.length,
          at + sealedAt,
        )
        return sodium.HEAPU8.slice(at + sealedAt, at + sealedAt + n)
      })
    },
    open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array) {
      return open(key, nonce, aad, sealed, undefined)
    },
    kdf(key: Uint8Array, label: Uint8Array): Uint8Array {
      const out = new Uint8Array(KEY_BYTES)
      kdfInto(key, label, out)
      return out
    },
    sha256(data: Uint8Array): Uint8Array {
      const out = new Uint8Array(32)
      sha256Into(data, out)
      return out
    },
    blake2b256(data: Uint8Array): Uint8Array {
      const out = new Uint8Array(32)
      blake2b256Into(data, out)
      return out
    },
    openInto(
      key: Uint8Array,
      nonce: Uint8Array,
      aad: Uint8Array,
      sealed: Uint8Array,
      out: Uint8Array,
    ): boolean {
      return open(key, nonce, aad, sealed, out) !== undefined
    },
    sha256Into,
    blake2b256Into,
    kdfInto,
  })
}
