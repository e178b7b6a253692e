import { describe, it, expect } from 'vitest'
import {
  encode,
  encodeKeytab,
  generateKey,
  KEYTAB_MAGIC,
  KEYTAB_VERSION,
  MAX_KEYTAB_KEYS,
  parseKeytab,
  toHex,
  type Keytab,
  type WireValue,
} from '../../../../kdc/protocol/index.js'
import { detBytes } from '../../../helpers/det-rng.js'
import { hex } from '../../../helpers/hex.js'
import { expectCode, expectMisuse } from './expect-code.js'
import { T0 } from './fixtures.js'

const k1 = detBytes('keys/1', 32)
const k2 = detBytes('keys/2', 32)
const keytab: Keytab = {
  realm: 'TESSERA.LOCAL',
  principal: 'orders',
  keys: [
    { kvno: 1, key: k1, createdAt: T0 },
    { kvno: 2, key: k2, createdAt: T0 + 86_400 },
  ],
}
const entries: WireValue = [
  [1, k1, T0],
  [2, k2, T0 + 86_400],
]
const raw = (v: WireValue[]): Uint8Array => encode(v)

describe('keytab (docs/protocol.md §8)', () => {
  it('encodes ["tessera-keytab", 1, realm, principal, [[kvno, key, createdAt], ...]]', () => {
    expect(KEYTAB_MAGIC).toBe('tessera-keytab')
    expect(KEYTAB_VERSION).toBe(1)
    expect(toHex(encodeKeytab(keytab))).toBe(
      toHex(raw(['tessera-keytab', 1, 'TESSERA.LOCAL', 'orders', entries])),
    )
  })

  it('round-trips and returns key copies', () => {
    const bytes = encodeKeytab(keytab)
    const parsed = parseKeytab(bytes)
    expect(parsed).toEqual(keytab)
    expect(parsed.keys[0]?.key.buffer).not.toBe(bytes.buffer)
  })

  it('sorts entries by kvno when encoding', () => {
    const reversed = { ...keytab, keys: [...keytab.keys].reverse() }
    expect(toHex(encodeKeytab(reversed))).toBe(toHex(encodeKeytab(keytab)))
  })

  it('holds up to MAX_KEYTAB_KEYS keys', () => {
    const keys = Array.from({ length: MAX_KEYTAB_KEYS }, (_, i) => ({
      kvno: i + 1,
      key: k1,
      createdAt: T0,
    }))
    expect(parseKeytab(encodeKeytab({ ...keytab, keys })).keys.length).toBe(MAX_KEYTAB_KEYS)
    expectMisuse(
      () => encodeKeytab({ ...keytab, keys: [...keys, { kvno: 99, key: k1, createdAt: 0 }] }),
      RangeError,
    )
    expectMisuse(() => encodeKeytab({ ...keytab, keys: [] }), RangeError)
    expectMisuse(() => encodeKeytab({ ...keytab, principal: 'Orders' }), TypeError)
  })

  const head = ['tessera-keytab', 1, 'TESSERA.LOCAL', 'orders'] as WireValue[]
  it.each([
    ['garbage', hex`c1`, 'DECODE'],
    ['a map', hex`80`, 'DECODE'],
    ['more than 4096 bytes', encode(new Uint8Array(5000)), 'DECODE'],
    ['four fields', raw(head), 'SHAPE'],
    ['a wrong magic', raw(['tessera-keytaB', 1, 'TESSERA.LOCAL', 'orders', entries]), 'MAGIC'],
    ['version 2', raw(['tessera-keytab', 2, 'TESSERA.LOCAL', 'orders', entries]), 'VERSION'],
    ['a bad realm', raw(['tessera-keytab', 1, 'local', 'orders', entries]), 'NAMES'],
    ['a bad principal', raw(['tessera-keytab', 1, 'TESSERA.LOCAL', '9x', entries]), 'NAMES'],
    ['no entries', raw([...head, []]), 'ENTRIES'],
    ['17 entries', raw([...head, Array.from({ length: 17 }, (_, i) => [i, k1, T0])]), 'ENTRIES'],
    ['an entry of two fields', raw([...head, [[1, k1]]]), 'ENTRY'],
    [
      'duplicate kvnos',
      raw([
        ...head,
        [
          [1, k1, T0],
          [1, k2, T0],
        ],
      ]),
      'KVNO_ORDER',
    ],
    [
      'descending kvnos',
      raw([
        ...head,
        [
          [2, k1, T0],
          [1, k2, T0],
        ],
      ]),
      'KVNO_ORDER',
    ],
    ['a 31-byte key', raw([...head, [[1, k1.subarray(1), T0]]]), 'KEY_SIZE'],
    ['a string createdAt', raw([...head, [[1, k1, 'today']]]), 'CREATED_AT'],
  ])('refuses %s with ERR_CLIENT_KEYTAB', (_label, bytes, status) => {
    const err = expectCode(() => parseKeytab(bytes), 'ERR_CLIENT_KEYTAB', status)
    expect(err.message).not.toContain(toHex(k1))
  })

  it('a non-canonical keytab is refused (the decoder cause is kept for the log)', () => {
    const good = toHex(encodeKeytab(keytab))
    const bad = good.replace('92' + '93' + '01', '92' + '93' + 'cc01')
    const err = expectCode(() => parseKeytab(hex(bad)), 'ERR_CLIENT_KEYTAB', 'DECODE')
    expect((err.cause as { code?: string }).code).toBe('ERR_PROTO_NON_CANONICAL')
  })

  it('generates fresh 32-byte keys', () => {
    const a = generateKey()
    expect(a.length).toBe(32)
    expect(toHex(a)).not.toBe(toHex(generateKey()))
  })
})
