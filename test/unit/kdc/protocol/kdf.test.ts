import { createRequire } from 'node:module'
import { blake2b } from '@noble/hashes/blake2.js'
import { describe, it, expect } from 'vitest'
import { availableBackends, deriveKey, LABELS } from '../../../../kdc/protocol/index.js'
import { hex, toHex } from '../../../helpers/hex.js'
import { expectMisuse } from './expect-code.js'

const key = hex`000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f`

describe('kdf: keyed BLAKE2b-256 subkeys (docs/protocol.md §3.2)', () => {
  it('has exactly the documented labels', () => {
    expect(Object.values(LABELS).sort()).toEqual(
      [
        'tessera/v1/admin',
        'tessera/v1/ap-rep',
        'tessera/v1/as-rep',
        'tessera/v1/authenticator',
        'tessera/v1/db',
        'tessera/v1/preauth',
        'tessera/v1/replication',
        'tessera/v1/ticket',
        'tessera/v1/tgs-rep',
      ].sort(),
    )
  })

  it('derives BLAKE2b(key = key, message = label, 32 bytes) on every backend', () => {
    for (const backend of availableBackends()) {
      for (const label of Object.values(LABELS)) {
        const expected = blake2b(new TextEncoder().encode(label), { key, dkLen: 32 })
        expect(toHex(backend.kdf(key, new TextEncoder().encode(label))), backend.name).toBe(
          toHex(expected),
        )
      }
    }
    // A fixed value, so a change of construction cannot pass unnoticed.
    expect(toHex(deriveKey(key, LABELS.ticket))).toBe(
      'e7a9317265867245a9989653d5b7631715e479b7cfd659431f64fd2899cf7e03',
    )
  })

  it('the reference BLAKE2b matches the BLAKE2 KAT (keyed, empty input) and libsodium', () => {
    // blake2b-kat.txt, first keyed entry: key = 00..3f, in = empty.
    const katKey = Uint8Array.from({ length: 64 }, (_, i) => i)
    const kat =
      '10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786' +
      'b5e996e8f0f4eb981fc214b005f42d2ff4233499391653df7aefcbc13fc51568'
    expect(toHex(blake2b(new Uint8Array(0), { key: katKey, dkLen: 64 }))).toBe(kat)
    let sodium:
      { crypto_generichash(o: Uint8Array, m: Uint8Array, k: Uint8Array): void } | undefined
    try {
      sodium = createRequire(import.meta.url)('sodium-native') as typeof sodium
    } catch {
      sodium = undefined // optional dependency not installed: the backend tests cover the rest
    }
    if (sodium !== undefined) {
      const out = new Uint8Array(64)
      sodium.crypto_generichash(out, new Uint8Array(0), katKey)
      expect(toHex(out)).toBe(kat)
    }
  })

  it('gives every label a distinct subkey, none equal to the key', () => {
    const subkeys = Object.values(LABELS).map((l) => toHex(deriveKey(key, l)))
    expect(new Set(subkeys).size).toBe(subkeys.length)
    expect(subkeys).not.toContain(toHex(key))
  })

  it('refuses keys that are not 32 bytes (caller misuse)', () => {
    expectMisuse(() => deriveKey(new Uint8Array(31), LABELS.ticket), RangeError)
    expectMisuse(() => deriveKey(new Uint8Array(33), LABELS.ticket), RangeError)
  })
})
