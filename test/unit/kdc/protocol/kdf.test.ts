import { hkdfSync } from 'node:crypto'
import { describe, it, expect } from 'vitest'
import { availableBackends, deriveKey, LABELS } from '../../../../kdc/protocol/index.js'
import { hex, toHex } from '../../../helpers/hex.js'
import { expectMisuse } from './expect-code.js'

const key = hex`000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f`

describe('kdf: HKDF-SHA256 subkeys (docs/protocol.md §3.2)', () => {
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

  it('derives HKDF-SHA256(ikm = key, salt = empty, info = label, L = 32)', () => {
    for (const label of Object.values(LABELS)) {
      const expected = new Uint8Array(hkdfSync('sha256', key, new Uint8Array(0), label, 32))
      expect(toHex(deriveKey(key, label))).toBe(toHex(expected))
    }
  })

  it('matches RFC 5869 test case 3 (empty salt and info), first 32 bytes, on every backend', () => {
    const ikm = new Uint8Array(22).fill(0x0b)
    for (const backend of availableBackends()) {
      expect(toHex(backend.hkdf(ikm, new Uint8Array(0))), backend.name).toBe(
        '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d',
      )
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
