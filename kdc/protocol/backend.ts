/**
 * The crypto backend: XChaCha20-Poly1305 seal/open, keyed BLAKE2b (the KDF), BLAKE2b-256 (request
 * hashes) and SHA-256 (body hashes) behind one interface
 * (docs/protocol.md §3). Four implementations produce identical bytes:
 *
 * - `noble`: @noble/ciphers and @noble/hashes, pure JS, the reference, always available;
 * - `native`: HChaCha20 from @noble/ciphers, then IETF ChaCha20-Poly1305 from node:crypto;
 * - `sodium`: libsodium through the optional `sodium-native` package;
 * - `wasm`: libsodium compiled to WebAssembly (`libsodium-sumo`), no native addon; the fastest on
 *   this protocol's short messages, so the default (backend-wasm.ts).
 *
 * At load time the fastest available one is chosen, unless TESSERA_AEAD=noble|native|sodium|wasm forces
 * one (an unavailable forced backend is a startup error, never a silent fallback). The node-only
 * backends live in backend-node.ts and are loaded with a dynamic import, so this module stays free
 * of node: imports and runs in any JS runtime.
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { blake2b } from '@noble/hashes/blake2.js'
import { sha256 } from '@noble/hashes/sha2.js'
import type { WasmBackend, WasmSodium } from './backend-wasm.js'
import { KEY_BYTES, NONCE_BYTES, TAG_BYTES } from './limits.js'

export type BackendName = 'noble' | 'native' | 'sodium' | 'wasm'

/** What every backend provides. Byte-identical across implementations (test/unit/.../backend.test.ts). */
export interface CryptoBackend {
  readonly name: BackendName
  /** XChaCha20-Poly1305 encrypt: returns ciphertext ‖ tag (plaintext length + 16). */
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array
  /** XChaCha20-Poly1305 decrypt of ciphertext ‖ tag; undefined when the tag does not verify. */
  open(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    sealed: Uint8Array,
  ): Uint8Array | undefined
  /** Keyed BLAKE2b (RFC 7693) with a 32-byte output: MAC(key, label), the subkey derivation. */
  kdf(key: Uint8Array, label: Uint8Array): Uint8Array
  /** SHA-256. */
  sha256(data: Uint8Array): Uint8Array
  /** BLAKE2b with a 32-byte output and no key (RFC 7693): the request hashes (docs/protocol.md §6.2). */
  blake2b256(data: Uint8Array): Uint8Array
  /**
   * {@link CryptoBackend.open} into a caller's buffer of exactly `sealed.length - 16` bytes, for
   * hot paths that reuse their output (a fresh array handed to native code costs more than the
   * cipher on short inputs). False when the tag does not verify; `out` is then unspecified.
   */
  openInto(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    sealed: Uint8Array,
    out: Uint8Array,
  ): boolean
  /** {@link CryptoBackend.sha256} into a caller's 32-byte buffer. */
  sha256Into(data: Uint8Array, out: Uint8Array): void
  /** {@link CryptoBackend.blake2b256} into a caller's 32-byte buffer. */
  blake2b256Into(data: Uint8Array, out: Uint8Array): void
  /** {@link CryptoBackend.kdf} into a caller's 32-byte buffer. */
  kdfInto(key: Uint8Array, label: Uint8Array, out: Uint8Array): void
}

/** The pure-JS reference backend. */
export const nobleBackend: CryptoBackend = Object.freeze({
  name: 'noble' as const,
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    return xchacha20poly1305(key, nonce, aad).encrypt(plaintext)
  },
  open(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    sealed: Uint8Array,
  ): Uint8Array | undefined {
    if (sealed.length < TAG_BYTES) return undefined
    try {
      return xchacha20poly1305(key, nonce, aad).decrypt(sealed)
    } catch {
      return undefined
    }
  },
  kdf(key: Uint8Array, label: Uint8Array): Uint8Array {
    return blake2b(label, { key, dkLen: KEY_BYTES })
  },
  sha256(data: Uint8Array): Uint8Array {
    return sha256(data)
  },
  blake2b256(data: Uint8Array): Uint8Array {
    return blake2b(data, { dkLen: 32 })
  },
  openInto(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    sealed: Uint8Array,
    out: Uint8Array,
  ): boolean {
    if (sealed.length < TAG_BYTES || out.length !== sealed.length - TAG_BYTES) return false
    try {
      // noble checks the tag before it decrypts, so a forgery writes nothing into `out`.
      xchacha20poly1305(key, nonce, aad).decrypt(sealed, out)
      return true
    } catch {
      return false
    }
  },
  sha256Into(data: Uint8Array, out: Uint8Array): void {
    out.set(sha256(data))
  },
  blake2b256Into(data: Uint8Array, out: Uint8Array): void {
    out.set(blake2b(data, { dkLen: 32 }))
  },
  kdfInto(key: Uint8Array, label: Uint8Array, out: Uint8Array): void {
    out.set(blake2b(label, { key, dkLen: KEY_BYTES }))
  },
})

interface WasmModule {
  loadWasm(): Promise<WasmBackend | undefined>
}

interface NodeBackends {
  loadNative(): CryptoBackend | undefined
  loadSodium(): Promise<CryptoBackend | undefined>
}

// A non-literal specifier keeps the type checker of this runtime-agnostic module away from the
// node-only file (kdc/protocol is checked with "types": []).
const nodeModule = './backend-node.js' as string
const wasmModule = './backend-wasm.js'

async function loadNodeBackends(): Promise<NodeBackends | undefined> {
  try {
    return (await import(nodeModule)) as NodeBackends
  } catch {
    return undefined
  }
}

const available = new Map<BackendName, CryptoBackend>([['noble', nobleBackend]])
{
  const node = await loadNodeBackends()
  const native = node?.loadNative()
  if (native !== undefined) available.set('native', native)
  const sodium = await node?.loadSodium()
  if (sodium !== undefined) available.set('sodium', sodium)
  const wasm = await loadWasmBackend()
  if (wasm !== undefined) available.set('wasm', wasm)
}

async function loadWasmBackend(): Promise<WasmBackend | undefined> {
  try {
    return await ((await import(wasmModule)) as WasmModule).loadWasm()
  } catch {
    return undefined
  }
}

function readForcedBackend(): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
  const value = proc?.env?.TESSERA_AEAD
  return value === undefined || value === '' ? undefined : value
}

function chooseBackend(): CryptoBackend {
  const forced = readForcedBackend()
  if (forced !== undefined) {
    const chosen = available.get(forced as BackendName)
    if (chosen === undefined) {
      throw new Error(
        `TESSERA_AEAD=${forced} is not available here (available: ${[...available.keys()].join(', ')}); unset it or install sodium-native`,
      )
    }
    return chosen
  }
  return available.get('wasm') ?? available.get('sodium') ?? available.get('native') ?? nobleBackend
}

let active: CryptoBackend = chooseBackend()

/** The backend in use. */
export function cryptoBackend(): CryptoBackend {
  return active
}

/**
 * The `wasm` backend, whichever backend is active (hot paths keep their buffers in its memory and
 * call it by address), or undefined when it did not load.
 */
export function wasmBackend(): WasmBackend | undefined {
  return available.get('wasm') as WasmBackend | undefined
}

/** The raw WebAssembly libsodium of {@link wasmBackend}. */
export function wasmSodium(): WasmSodium | undefined {
  return wasmBackend()?.sodium
}

/** Every backend that loaded in this runtime (for tests and benchmarks). */
export function availableBackends(): readonly CryptoBackend[] {
  return [...available.values()]
}

/** Switch the backend in use (tests and benchmarks); throws RangeError when it is unavailable. */
export function useBackend(name: BackendName): CryptoBackend {
  const chosen = available.get(name)
  if (chosen === undefined) throw new RangeError(`crypto backend ${name} is not available`)
  active = chosen
  return chosen
}

/** Sizes, re-exported for the backends. */
export const AEAD_SIZES = Object.freeze({ key: KEY_BYTES, nonce: NONCE_BYTES, tag: TAG_BYTES })
