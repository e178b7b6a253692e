/**
 * The output-buffer variants of the crypto backends (CryptoBackend.openInto / sha256Into), used by
 * the service verifier's hot path with reused, off-heap, offset views: for every backend that loads
 * here they must agree byte for byte with open / sha256, and refuse (false, never a throw) every
 * forgery or misuse of the output length.
 */
import { describe, expect, it } from 'vitest'
import { availableBackends, nobleBackend } from '../../../../kdc/protocol/index.js'
import { detBytes } from '../../../helpers/det-rng.js'
import { toHex } from '../../../helpers/hex.js'

const backends = availableBackends()
const names = backends.map((b) => b.name)
const byName = (name: string) => backends.find((b) => b.name === name) as (typeof backends)[number]

const LENGTHS = [0, 1, 2, 15, 16, 17, 31, 32, 33, 45, 63, 64, 65, 100, 255, 256, 1000, 8152]
const SENTINEL = 0xa5

/** `bytes` copied into a larger buffer at `offset`, surrounded by sentinel bytes. */
function embedded(bytes: Uint8Array, offset: number): { view: Uint8Array; outer: Uint8Array } {
  const outer = new Uint8Array(offset + bytes.length + 9).fill(SENTINEL)
  outer.set(bytes, offset)
  return { view: outer.subarray(offset, offset + bytes.length), outer }
}

function untouchedOutside(outer: Uint8Array, start: number, end: number): boolean {
  for (let i = 0; i < outer.length; i++) {
    if ((i < start || i >= end) && outer[i] !== SENTINEL) return false
  }
  return true
}

function vector(len: number) {
  const key = detBytes(`into/key/${len}`, 32)
  const nonce = detBytes(`into/nonce/${len}`, 24)
  const aad = detBytes(`into/aad/${len}`, len % 37)
  const plaintext = detBytes(`into/pt/${len}`, len)
  const sealed = nobleBackend.seal(key, nonce, aad, plaintext)
  return { key, nonce, aad, plaintext, sealed }
}

describe('openInto / sha256Into (every available backend)', () => {
  it('the usual backends are here (so the tests below cover them)', () => {
    expect(names).toContain('noble')
    expect(names.length).toBeGreaterThanOrEqual(2)
  })

  it.each(names)('%s: openInto writes exactly what open returns, for every length', (name) => {
    const b = byName(name)
    for (const len of LENGTHS) {
      const { key, nonce, aad, plaintext, sealed } = vector(len)
      const out = new Uint8Array(len).fill(SENTINEL)
      expect(b.openInto(key, nonce, aad, sealed, out), `length ${len}`).toBe(true)
      const opened = b.open(key, nonce, aad, sealed)
      expect(opened && toHex(opened), `length ${len}`).toBe(toHex(plaintext))
      expect(toHex(out), `length ${len}`).toBe(toHex(plaintext))
      // Its own seal, too.
      const own = b.seal(key, nonce, aad, plaintext)
      const out2 = new Uint8Array(len)
      expect(b.openInto(key, nonce, aad, own, out2)).toBe(true)
      expect(toHex(out2)).toBe(toHex(plaintext))
    }
  })

  it.each(names)('%s: sha256Into writes exactly what sha256 returns', (name) => {
    const b = byName(name)
    for (const len of [...LENGTHS, 55, 56, 57, 64 * 1024]) {
      const data = detBytes(`into/sha/${len}`, len)
      const out = new Uint8Array(32).fill(SENTINEL)
      b.sha256Into(data, out)
      expect(toHex(out), `length ${len}`).toBe(toHex(b.sha256(data)))
      expect(toHex(out), `length ${len}`).toBe(toHex(nobleBackend.sha256(data)))
    }
    const out = new Uint8Array(32)
    b.sha256Into(new Uint8Array(0), out)
    expect(toHex(out)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  })

  it.each(names)('%s: openInto into subarrays at non-zero offsets of a larger buffer', (name) => {
    const b = byName(name)
    for (const len of [0, 1, 33, 45, 100]) {
      const { key, nonce, aad, plaintext, sealed } = vector(len)
      for (const offset of [1, 3, 4, 7, 8, 13]) {
        const outer = new Uint8Array(offset + len + 11).fill(SENTINEL)
        const out = outer.subarray(offset, offset + len)
        expect(b.openInto(key, nonce, aad, sealed, out), `length ${len} offset ${offset}`).toBe(
          true,
        )
        expect(toHex(out)).toBe(toHex(plaintext))
        expect(untouchedOutside(outer, offset, offset + len), `offset ${offset}`).toBe(true)
        // An off-heap view (ArrayBuffer-backed, as service-sdk/scratch.ts makes them).
        const heap = new Uint8Array(new ArrayBuffer(offset + len + 11)).fill(SENTINEL)
        const view = heap.subarray(offset, offset + len)
        expect(b.openInto(key, nonce, aad, sealed, view)).toBe(true)
        expect(toHex(view)).toBe(toHex(plaintext))
        expect(untouchedOutside(heap, offset, offset + len)).toBe(true)
        // A Buffer slice.
        const buf = Buffer.alloc(offset + len + 11, SENTINEL)
        expect(b.openInto(key, nonce, aad, sealed, buf.subarray(offset, offset + len))).toBe(true)
        expect(toHex(buf.subarray(offset, offset + len))).toBe(toHex(plaintext))
        expect(untouchedOutside(buf, offset, offset + len)).toBe(true)
      }
    }
  })

  it.each(names)('%s: openInto reads inputs that are subarrays at odd offsets', (name) => {
    const b = byName(name)
    const { key, nonce, aad, plaintext, sealed } = vector(77)
    // One message laid out as the verifier sees it: nonce ‖ ciphertext ‖ tag inside a bigger buffer.
    const message = embedded(Uint8Array.from([...nonce, ...sealed]), 3).view
    const k = embedded(key, 5).view
    const a = embedded(aad, 1).view
    const out = embedded(new Uint8Array(77), 7)
    expect(b.openInto(k, message.subarray(0, 24), a, message.subarray(24), out.view)).toBe(true)
    expect(toHex(out.view)).toBe(toHex(plaintext))
  })

  it.each(names)('%s: sha256Into into and from subarrays at non-zero offsets', (name) => {
    const b = byName(name)
    for (const len of [0, 1, 64, 300]) {
      const data = detBytes(`into/sha-off/${len}`, len)
      for (const offset of [1, 3, 8]) {
        const outer = new Uint8Array(offset + 32 + 5).fill(SENTINEL)
        b.sha256Into(embedded(data, offset + 2).view, outer.subarray(offset, offset + 32))
        expect(toHex(outer.subarray(offset, offset + 32))).toBe(toHex(nobleBackend.sha256(data)))
        expect(untouchedOutside(outer, offset, offset + 32)).toBe(true)
      }
    }
  })

  it.each(names)('%s: openInto returns false, never throws, for every forgery', (name) => {
    const b = byName(name)
    const { key, nonce, aad, sealed } = vector(40)
    const check = (s: Uint8Array, k = key, n = nonce, a = aad, what = ''): void => {
      const out = new Uint8Array(Math.max(0, s.length - 16))
      let result: boolean | undefined
      expect(() => (result = b.openInto(k, n, a, s, out)), what).not.toThrow()
      expect(result, what).toBe(false)
      expect(b.open(k, n, a, s), what).toBeUndefined()
    }
    for (let i = 0; i < sealed.length; i += 7) {
      const bad = sealed.slice()
      bad[i] = (bad[i] as number) ^ 0x01
      check(bad, key, nonce, aad, `bit flip at ${i}`)
    }
    const badTag = sealed.slice()
    badTag[badTag.length - 1] = (badTag[badTag.length - 1] as number) ^ 0x80
    check(badTag, key, nonce, aad, 'bad tag')
    check(sealed, detBytes('into/other-key', 32), nonce, aad, 'wrong key')
    check(sealed, key, detBytes('into/other-nonce', 24), aad, 'wrong nonce')
    check(sealed, key, nonce, detBytes('into/other-aad', 3), 'wrong aad')
    check(sealed.subarray(0, sealed.length - 1), key, nonce, aad, 'last byte cut')
    check(new Uint8Array(16), key, nonce, aad, 'a zero tag on an empty plaintext')
  })

  it.each(names)('%s: openInto returns false for a sealed input shorter than 16 bytes', (name) => {
    const b = byName(name)
    const { key, nonce, aad, sealed } = vector(40)
    for (let n = 0; n < 16; n++) {
      const short = sealed.subarray(0, n)
      for (const outLength of [0, 1, 16]) {
        let result: boolean | undefined
        expect(
          () => (result = b.openInto(key, nonce, aad, short, new Uint8Array(outLength))),
          `${n}`,
        ).not.toThrow()
        expect(result, `sealed ${n} bytes, out ${outLength}`).toBe(false)
      }
    }
    // The shortest real seal (an empty plaintext: the tag alone) opens into an empty output.
    const empty = vector(0)
    expect(empty.sealed.length).toBe(16)
    expect(b.openInto(empty.key, empty.nonce, empty.aad, empty.sealed, new Uint8Array(0))).toBe(
      true,
    )
  })

  it.each(names)('%s: openInto returns false for an output of the wrong length', (name) => {
    const b = byName(name)
    for (const len of [0, 1, 40]) {
      const { key, nonce, aad, sealed } = vector(len)
      for (const outLength of [len - 1, len + 1, len + 16, 0, sealed.length]) {
        if (outLength < 0 || outLength === len) continue
        const out = new Uint8Array(outLength)
        let result: boolean | undefined
        expect(() => (result = b.openInto(key, nonce, aad, sealed, out))).not.toThrow()
        expect(result, `plaintext ${len}, out ${outLength}`).toBe(false)
      }
      // The same seal still opens into the right length afterwards.
      expect(b.openInto(key, nonce, aad, sealed, new Uint8Array(len))).toBe(true)
    }
  })

  it('all backends agree on openInto verdicts and outputs for the same inputs', () => {
    for (const len of [0, 5, 45, 200]) {
      const { key, nonce, aad, plaintext, sealed } = vector(len)
      const forged = sealed.slice()
      forged[0] = (forged[0] as number) ^ 4
      const good = backends.map((b) => {
        const out = new Uint8Array(len)
        return `${String(b.openInto(key, nonce, aad, sealed, out))}:${toHex(out)}`
      })
      expect(new Set(good)).toEqual(new Set([`true:${toHex(plaintext)}`]))
      const bad = backends.map((b) => b.openInto(key, nonce, aad, forged, new Uint8Array(len)))
      expect(new Set(bad)).toEqual(new Set([false]))
    }
  })
})
