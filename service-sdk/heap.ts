/**
 * The verifier's memory: blocks inside the WebAssembly memory of libsodium (kdc/protocol's `wasm`
 * backend), addressed by integer offsets, with the crypto of the active backend run on them.
 *
 * Why: a first-sight verify makes four crypto calls on short inputs (two opens, a subkey
 * derivation, the BLAKE2b-256 request hash). With the `wasm` backend, each is a direct call with
 * addresses, and nothing on the verify path allocates a typed array. With another backend (`sodium`, `native`,
 * `noble`), the same addresses are turned into views of the same memory, kept per (address,
 * length), so a repeat caller allocates none either.
 *
 * Secrets held here (ticket keys, authenticator subkeys, session keys, ticket plaintexts) are
 * wiped before their block is freed. The memory grows when the allocator needs room, which
 * detaches every view of the old memory: the views are re-read in {@link Heap.alloc}, the only
 * call on the verify path that can grow it, and callers take `u8`/`i32` after allocating.
 */
import {
  cryptoBackend,
  HASH_BYTES,
  KEY_BYTES,
  NONCE_BYTES,
  TAG_BYTES,
  wasmBackend,
  type WasmCalls,
  type WasmSodium,
} from '../kdc/protocol/index.js'

/** Most cached views (non-wasm backends); the cache is dropped whole past this. */
const MAX_VIEWS = 4_096

export class Heap {
  readonly #sodium: WasmSodium
  readonly #calls: WasmCalls
  /** The whole memory, as bytes, as 32-bit words, and as a Buffer (base64 and hex codecs). */
  u8: Uint8Array
  i32: Int32Array
  buf: Buffer
  readonly #views = new Map<number, Uint8Array>()

  constructor() {
    const wasm = wasmBackend()
    if (wasm === undefined) {
      throw new Error(
        'tessera: the WebAssembly libsodium (package libsodium-sumo) did not load; reinstall dependencies (npm ci)',
      )
    }
    this.#sodium = wasm.sodium
    this.#calls = wasm.at
    this.u8 = wasm.sodium.HEAPU8
    this.i32 = new Int32Array(this.u8.buffer)
    this.buf = Buffer.from(this.u8.buffer)
  }

  /**
   * `size` bytes, 8-aligned, zeroed unless `zero` is false (for a caller that writes every byte it
   * reads; freed blocks were wiped anyway). Re-reads the views when the memory grew.
   */
  alloc(size: number, zero = true): number {
    const p = this.#sodium._malloc(size)
    if (p === 0) throw new RangeError('tessera: out of memory in the verifier heap')
    this.sync()
    if (zero) this.u8.fill(0, p, p + size)
    return p
  }

  /** Wipe `size` bytes at `p` and free the block. */
  free(p: number, size: number): void {
    this.sync() // a timer or a cleanup path may run after someone else grew the memory
    this.u8.fill(0, p, p + size)
    this.#sodium._free(p)
  }

  /** A view of [p, p + length), reused while the memory is unchanged. Not for hot paths of the wasm backend. */
  view(p: number, length: number): Uint8Array {
    this.sync()
    if (length < 0 || length >= 65_536) return this.u8.subarray(p, p + Math.max(0, length))
    const k = p * 65_536 + length
    let v = this.#views.get(k)
    if (v === undefined) {
      if (this.#views.size >= MAX_VIEWS) this.#views.clear()
      v = this.u8.subarray(p, p + length)
      this.#views.set(k, v)
    }
    return v
  }

  /** XChaCha20-Poly1305 open of `sealedLength` bytes at `sealed` into `out`; false on a bad tag. */
  open(
    key: number,
    nonce: number,
    aad: number,
    aadLength: number,
    sealed: number,
    sealedLength: number,
    out: number,
  ): boolean {
    if (sealedLength < TAG_BYTES) return false
    const backend = cryptoBackend()
    if (backend.name === 'wasm') {
      return this.#calls.open(key, nonce, aad, aadLength, sealed, sealedLength, out)
    }
    return backend.openInto(
      this.view(key, KEY_BYTES),
      this.view(nonce, NONCE_BYTES),
      this.view(aad, aadLength),
      this.view(sealed, sealedLength),
      this.view(out, sealedLength - TAG_BYTES),
    )
  }

  /** The KDF (keyed BLAKE2b-256) of the label at `label` under the key at `key`, into `out`. */
  kdf(key: number, label: number, labelLength: number, out: number): void {
    const backend = cryptoBackend()
    if (backend.name === 'wasm') {
      this.#calls.kdf(key, label, labelLength, out)
    } else {
      backend.kdfInto(
        this.view(key, KEY_BYTES),
        this.view(label, labelLength),
        this.view(out, KEY_BYTES),
      )
    }
  }

  /** BLAKE2b-256 (no key) of `length` bytes at `data`, into the 32 bytes at `out`. */
  blake2b256(data: number, length: number, out: number): void {
    const backend = cryptoBackend()
    if (backend.name === 'wasm') {
      this.#calls.blake2b256(data, length, out)
    } else {
      backend.blake2b256Into(this.view(data, length), this.view(out, HASH_BYTES))
    }
  }

  /**
   * Re-read the views if the memory grew since (any user of the wasm backend in this process may
   * grow it): call before using `u8`, `i32` or `buf` in a new call.
   */
  sync(): void {
    if (this.#sodium.HEAPU8 !== this.u8) this.#refresh()
  }

  #refresh(): void {
    this.u8 = this.#sodium.HEAPU8
    this.i32 = new Int32Array(this.u8.buffer)
    this.buf = Buffer.from(this.u8.buffer)
    this.#views.clear()
  }
}

/** The process's one verifier heap (every verifier shares the WebAssembly memory). */
let shared: Heap | undefined

export function verifierHeap(): Heap {
  shared ??= new Heap()
  return shared
}
