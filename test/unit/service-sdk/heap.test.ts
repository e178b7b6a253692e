/**
 * The verifier heap (service-sdk/heap.ts): blocks in the WebAssembly memory of the `wasm` backend,
 * views that follow the memory when it grows, and crypto by address on every backend.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  availableBackends,
  cryptoBackend,
  nobleBackend,
  useBackend,
  wasmSodium,
  type CryptoBackend,
} from '../../../kdc/protocol/index.js'
import { Heap, verifierHeap } from '../../../service-sdk/heap.js'
import { detBytes } from '../../helpers/det-rng.js'
import { toHex } from '../../helpers/hex.js'

const sodium = wasmSodium()
if (sodium === undefined)
  throw new Error('libsodium-sumo is a dependency: the wasm backend must load')
const names = availableBackends().map((b) => b.name)
const initial = cryptoBackend().name

afterEach(() => {
  useBackend(initial)
  vi.restoreAllMocks()
})

/** `bytes` copied into a fresh block of `heap`; returns its address. */
function put(heap: Heap, bytes: Uint8Array): number {
  const at = heap.alloc(Math.max(1, bytes.length))
  heap.u8.set(bytes, at)
  return at
}

/** XOR the byte at `at` with `mask`. */
function flip(heap: Heap, at: number, mask: number): void {
  heap.u8[at] = (heap.u8[at] as number) ^ mask
}

/** The `length` bytes at `at`, as hex. */
function hexAt(heap: Heap, at: number, length: number): string {
  return toHex(heap.u8.subarray(at, at + length))
}

describe('Heap: blocks', () => {
  it('is one heap per process, over the memory of the wasm backend', () => {
    const heap = verifierHeap()
    expect(verifierHeap()).toBe(heap)
    heap.sync()
    expect(heap.u8).toBe(sodium.HEAPU8)
    expect(heap.i32.buffer).toBe(heap.u8.buffer)
    expect(heap.buf.buffer).toBe(heap.u8.buffer)
    expect(heap.buf.length).toBe(heap.u8.length)
  })

  it('alloc returns distinct 8-aligned blocks, zeroed even where the memory was dirty', () => {
    const heap = verifierHeap()
    for (const size of [1, 3, 8, 13, 32, 64, 100, 333, 4096, 70_000]) {
      // Dirty a region with the raw allocator, which neither wipes nor zeroes.
      const raw = sodium._malloc(size)
      sodium.HEAPU8.fill(0xa5, raw, raw + size)
      sodium._free(raw)
      const blocks = [heap.alloc(size), heap.alloc(size), heap.alloc(size)]
      expect(blocks).toContain(raw) // the allocator hands the dirty region back
      for (const [i, p] of blocks.entries()) {
        expect(p % 8, `size ${size}`).toBe(0)
        expect(
          heap.u8.subarray(p, p + size).every((b) => b === 0),
          `size ${size}`,
        ).toBe(true)
        heap.u8.fill(i + 1, p, p + size)
      }
      // No two blocks overlap: each still holds only its own writes.
      for (const [i, p] of blocks.entries()) {
        expect(heap.u8.subarray(p, p + size).every((b) => b === i + 1)).toBe(true)
      }
      for (const p of blocks) heap.free(p, size)
    }
  })

  it('free wipes the block before the allocator takes it back', () => {
    const heap = verifierHeap()
    for (const size of [8, 24, 40, 64, 100, 300, 5000, 300_000]) {
      const p = heap.alloc(size)
      const guard = heap.alloc(16) // keeps p from merging into the top of the memory
      heap.u8.set(detBytes(`heap/secret/${size}`, size), p)
      const atFree: boolean[] = []
      const original = sodium._free.bind(sodium)
      vi.spyOn(sodium, '_free').mockImplementation((q: number) => {
        if (q === p) atFree.push(sodium.HEAPU8.subarray(p, p + size).every((b) => b === 0))
        original(q)
      })
      heap.free(p, size)
      vi.restoreAllMocks()
      expect(atFree, `size ${size}`).toEqual([true])
      // Read back at once: all zero, save the allocator's own bookkeeping, which it writes into a
      // freed chunk after the wipe (dlmalloc: up to six link words at the start, a boundary tag at the end).
      const u8 = sodium.HEAPU8
      expect(
        u8.subarray(p + 24, p + size - 8).every((b) => b === 0),
        `size ${size}`,
      ).toBe(true)
      heap.free(guard, 16)
    }
  })

  it('view returns the same view for the same block while the memory is unchanged', () => {
    const heap = verifierHeap()
    const p = heap.alloc(32)
    const v = heap.view(p, 16)
    expect(heap.view(p, 16)).toBe(v)
    expect(heap.view(p, 17)).not.toBe(v)
    expect(heap.view(p + 1, 16)).not.toBe(v)
    expect(v.buffer).toBe(heap.u8.buffer)
    expect(v.byteOffset).toBe(p)
    expect(v.length).toBe(16)
    heap.u8[p] = 7 // a view, not a copy
    expect(v[0]).toBe(7)
    heap.free(p, 32)
  })
  it('view of any length is exactly [p, p + length), never another cached view', () => {
    const heap = verifierHeap()
    const size = 3 * 65_536
    const p = heap.alloc(size)
    // (p, 65536) and (p + 1, 0) would share the key p * 65536 + length.
    const cases: [number, number][] = [
      [p, 65_536],
      [p + 1, 0],
      [p, 65_537],
      [p + 1, 1],
      [p + 2, 0],
      [p, 2 * 65_536],
      [p + 7, 65_520],
      [p + 8, -16],
      [p + 8, 0],
    ]
    for (let round = 0; round < 2; round++) {
      for (const [at, length] of cases) {
        const v = heap.view(at, length)
        expect(v.byteOffset, `(${at - p}, ${length})`).toBe(at)
        expect(v.length, `(${at - p}, ${length})`).toBe(Math.max(0, length))
        expect(v.buffer).toBe(heap.u8.buffer)
      }
    }
    heap.free(p, size)
  })
})

describe('Heap: growth', () => {
  it('alloc past the end grows the memory and refreshes u8, i32, buf and the views', () => {
    const heap = verifierHeap()
    const p = heap.alloc(64)
    const marker = detBytes('heap/growth', 64)
    heap.u8.set(marker, p)
    const { u8, i32, buf } = heap
    const v = heap.view(p, 64)
    const big = u8.length + (1 << 20) // more than the whole memory: it must grow
    const q = heap.alloc(big)
    expect(u8.length, 'the old views are detached').toBe(0)
    expect(heap.u8 === u8).toBe(false)
    expect(heap.u8).toBe(sodium.HEAPU8)
    expect(heap.u8.length).toBeGreaterThan(big)
    expect(heap.i32 === i32).toBe(false)
    expect(heap.i32.buffer).toBe(heap.u8.buffer)
    expect(heap.i32.length).toBe(heap.u8.length >>> 2)
    expect(heap.buf === buf).toBe(false)
    expect(heap.buf.buffer).toBe(heap.u8.buffer)
    expect(heap.buf.length).toBe(heap.u8.length)
    // Contents survive; the new block is zeroed, aligned and inside the memory.
    expect(hexAt(heap, p, 64)).toBe(toHex(marker))
    expect(heap.buf.subarray(p, p + 64).equals(marker)).toBe(true)
    expect(q % 8).toBe(0)
    expect(q + big).toBeLessThanOrEqual(heap.u8.length)
    expect(heap.u8[q]).toBe(0)
    expect(heap.u8[q + big - 1]).toBe(0)
    // A view taken before the growth is never handed out again.
    const w = heap.view(p, 64)
    expect(w === v).toBe(false)
    expect(w.buffer).toBe(heap.u8.buffer)
    expect(toHex(w)).toBe(toHex(marker))
    heap.free(q, big)
    heap.free(p, 64)
  })

  it('sync() refreshes after the wasm backend grows the memory (a seal larger than it)', () => {
    const heap = verifierHeap()
    heap.sync()
    const p = heap.alloc(32)
    heap.u8.fill(0x5c, p, p + 32)
    const { u8 } = heap
    const v = heap.view(p, 32)
    const wasm = availableBackends().find((b) => b.name === 'wasm') as CryptoBackend
    const plaintext = new Uint8Array(u8.length) // its copy and its seal cannot fit as it is
    wasm.seal(new Uint8Array(32), new Uint8Array(24), new Uint8Array(0), plaintext)
    expect(sodium.HEAPU8 === u8).toBe(false)
    expect(heap.u8 === u8, 'not followed until sync()').toBe(true)
    heap.sync()
    expect(heap.u8).toBe(sodium.HEAPU8)
    expect(heap.i32.buffer).toBe(heap.u8.buffer)
    expect(heap.buf.buffer).toBe(heap.u8.buffer)
    expect(heap.u8.subarray(p, p + 32).every((b) => b === 0x5c)).toBe(true)
    const w = heap.view(p, 32)
    expect(w === v).toBe(false)
    expect(w.buffer).toBe(heap.u8.buffer)
    // Without growth, sync() keeps everything.
    const same = heap.u8
    heap.sync()
    expect(heap.u8).toBe(same)
    expect(heap.view(p, 32)).toBe(w)
    heap.free(p, 32)
  })

  it('sync() refreshes after another heap over the same memory grows it', () => {
    const heap = verifierHeap()
    heap.sync()
    const other = new Heap()
    const p = heap.alloc(16)
    heap.u8.fill(9, p, p + 16)
    const { u8, i32, buf } = heap
    const big = u8.length + (1 << 20)
    const q = other.alloc(big)
    expect(other.u8).toBe(sodium.HEAPU8)
    heap.sync()
    expect(heap.u8 === u8).toBe(false)
    expect(heap.i32 === i32).toBe(false)
    expect(heap.buf === buf).toBe(false)
    expect(heap.u8).toBe(other.u8)
    expect(heap.u8.subarray(p, p + 16).every((b) => b === 9)).toBe(true)
    other.free(q, big)
    heap.free(p, 16)
  })
})

describe.each(names)('Heap: crypto by address, %s backend', (name) => {
  const heap = verifierHeap()
  const key = detBytes('heap/key', 32)
  const nonce = detBytes('heap/nonce', 24)

  it('open gives the plaintext of nobleBackend.seal, and false on any damage', () => {
    useBackend(name)
    for (const length of [0, 1, 15, 16, 40, 300, 8000]) {
      const aad = detBytes(`heap/aad/${length}`, length % 50)
      const plaintext = detBytes(`heap/pt/${length}`, length)
      const sealed = nobleBackend.seal(key, nonce, aad, plaintext)
      const k = put(heap, key)
      const n = put(heap, nonce)
      const a = put(heap, aad)
      const s = put(heap, sealed)
      const out = heap.alloc(length + 1)
      heap.u8[out + length] = 0xee
      expect(heap.open(k, n, a, aad.length, s, sealed.length, out), `length ${length}`).toBe(true)
      expect(hexAt(heap, out, length)).toBe(toHex(plaintext))
      expect(heap.u8[out + length], 'writes nothing past the plaintext').toBe(0xee)
      // A tampered tag, a tampered ciphertext byte, the wrong AAD or key: false, never a throw.
      const last = s + sealed.length - 1
      flip(heap, last, 0x01)
      expect(heap.open(k, n, a, aad.length, s, sealed.length, out), 'tag').toBe(false)
      flip(heap, last, 0x01)
      if (length > 0) {
        flip(heap, s, 0x80)
        expect(heap.open(k, n, a, aad.length, s, sealed.length, out), 'ciphertext').toBe(false)
        flip(heap, s, 0x80)
      }
      flip(heap, k, 0x01)
      expect(heap.open(k, n, a, aad.length, s, sealed.length, out), 'key').toBe(false)
      flip(heap, k, 0x01)
      expect(heap.open(k, n, a, aad.length + 1, s, sealed.length, out), 'aad length').toBe(false)
      expect(heap.open(k, n, a, aad.length, s, sealed.length, out), 'still opens').toBe(true)
      for (const [p, size] of [
        [k, 32],
        [n, 24],
        [a, Math.max(1, aad.length)],
        [s, sealed.length],
        [out, length + 1],
      ] as const) {
        heap.free(p, size)
      }
    }
  })

  it('open of fewer than 16 sealed bytes (shorter than a tag) is false', () => {
    useBackend(name)
    const sealed = nobleBackend.seal(key, nonce, new Uint8Array(0), detBytes('heap/short', 8))
    const k = put(heap, key)
    const n = put(heap, nonce)
    const s = put(heap, sealed)
    const out = heap.alloc(32)
    for (const sealedLength of [0, 1, 8, 15]) {
      expect(heap.open(k, n, s, 0, s, sealedLength, out), `${sealedLength} bytes`).toBe(false)
    }
    expect(heap.open(k, n, s, 0, s, sealed.length, out)).toBe(true)
    heap.free(k, 32)
    heap.free(n, 24)
    heap.free(s, sealed.length)
    heap.free(out, 32)
  })

  it('kdf gives the bytes of nobleBackend.kdf', () => {
    useBackend(name)
    for (const labelLength of [1, 17, 32, 100]) {
      const ikm = detBytes(`heap/ikm/${labelLength}`, 32)
      const label = detBytes(`heap/label/${labelLength}`, labelLength)
      const k = put(heap, ikm)
      const l = put(heap, label)
      const out = heap.alloc(32)
      heap.kdf(k, l, label.length, out)
      expect(hexAt(heap, out, 32), `label ${labelLength}`).toBe(toHex(nobleBackend.kdf(ikm, label)))
      expect(hexAt(heap, k, 32), 'the key is left alone').toBe(toHex(ikm))
      heap.free(k, 32)
      heap.free(l, label.length)
      heap.free(out, 32)
    }
  })

  it('blake2b256 gives the bytes of nobleBackend.blake2b256', () => {
    useBackend(name)
    for (const length of [0, 3, 127, 128, 129, 1000]) {
      const data = detBytes(`heap/b2/${length}`, length)
      const d = put(heap, data)
      const out = heap.alloc(32)
      heap.blake2b256(d, length, out)
      expect(hexAt(heap, out, 32), `length ${length}`).toBe(toHex(nobleBackend.blake2b256(data)))
      heap.free(d, Math.max(1, length))
      heap.free(out, 32)
    }
  })
})
