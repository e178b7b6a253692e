import { blake2b } from '@noble/hashes/blake2.js'
import { describe, expect, it } from 'vitest'
import {
  availableBackends,
  cryptoBackend,
  deriveKey,
  generateKey,
  LABELS,
  nobleBackend,
  toHex,
  useBackend,
} from '../../../kdc/protocol/index.js'

// The verifier's speed depends on the node backends' KDF and SHA-256 shortcuts (backend-node.ts);
// they must give exactly the bytes of the reference.
describe('crypto backends agree with the reference', () => {
  it('keyed BLAKE2b KDF (every label, random keys) and SHA-256 (lengths 0..200)', () => {
    const before = cryptoBackend().name
    try {
      for (const backend of availableBackends()) {
        useBackend(backend.name)
        for (let i = 0; i < 50; i++) {
          const key = generateKey()
          for (const label of Object.values(LABELS)) {
            const want = blake2b(new TextEncoder().encode(label), { key, dkLen: 32 })
            expect(toHex(deriveKey(key, label)), `${backend.name} ${label}`).toBe(toHex(want))
          }
        }
        const data = generateKey()
        const long = new Uint8Array(200).map((_, i) => data[i % 32] ?? 0)
        for (let n = 0; n <= 200; n += 7) {
          expect(toHex(backend.sha256(long.subarray(0, n)))).toBe(
            toHex(nobleBackend.sha256(long.subarray(0, n))),
          )
          const want = toHex(blake2b(long.subarray(0, n), { dkLen: 32 }))
          expect(toHex(backend.blake2b256(long.subarray(0, n))), `${backend.name} ${n}`).toBe(want)
          const into = new Uint8Array(32)
          backend.blake2b256Into(long.subarray(0, n), into)
          expect(toHex(into)).toBe(want)
        }
      }
    } finally {
      useBackend(before)
    }
  })
})
