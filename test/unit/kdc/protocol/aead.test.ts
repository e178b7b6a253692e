import { describe, it, expect } from 'vitest'
import {
  buildAad,
  encode,
  LABELS,
  NONCE_BYTES,
  OBJ,
  OBJECT_LABEL,
  openBytes,
  PROTOCOL_VERSION,
  randomNonce,
  sealBytes,
  TAG_BYTES,
  toHex,
} from '../../../../kdc/protocol/index.js'
import { detBytes } from '../../../helpers/det-rng.js'
import { expectCode, expectMisuse } from './expect-code.js'

const subkey = detBytes('aead/subkey', 32)
const nonce = detBytes('aead/nonce', 24)
const aad = buildAad(OBJ.TICKET, ['TESSERA.LOCAL', 'orders', 3])
const plaintext = new TextEncoder().encode('sealed plaintext')

describe('aead: object types and associated data (docs/protocol.md §3.3)', () => {
  it('numbers the sealed object types 32..41', () => {
    expect(OBJ).toEqual({
      TICKET: 32,
      PREAUTH: 33,
      AS_REP_ENC: 34,
      TGS_REP_ENC: 35,
      AUTHENTICATOR: 36,
      AP_REP_ENC: 37,
      ADMIN_REQ_ENC: 38,
      ADMIN_REP_ENC: 39,
      DB_KEY: 40,
      REPL_ENC: 41,
    })
  })

  it('binds each object type to its label', () => {
    expect(OBJECT_LABEL[OBJ.TICKET]).toBe(LABELS.ticket)
    expect(OBJECT_LABEL[OBJ.PREAUTH]).toBe(LABELS.preauth)
    expect(OBJECT_LABEL[OBJ.AS_REP_ENC]).toBe(LABELS.asRep)
    expect(OBJECT_LABEL[OBJ.TGS_REP_ENC]).toBe(LABELS.tgsRep)
    expect(OBJECT_LABEL[OBJ.AUTHENTICATOR]).toBe(LABELS.authenticator)
    expect(OBJECT_LABEL[OBJ.AP_REP_ENC]).toBe(LABELS.apRep)
    expect(OBJECT_LABEL[OBJ.ADMIN_REQ_ENC]).toBe(LABELS.admin)
    expect(OBJECT_LABEL[OBJ.ADMIN_REP_ENC]).toBe(LABELS.admin)
    expect(OBJECT_LABEL[OBJ.DB_KEY]).toBe(LABELS.db)
    expect(OBJECT_LABEL[OBJ.REPL_ENC]).toBe(LABELS.replication)
  })

  it('builds AAD = msgpack([label, version, objectType, ...context])', () => {
    expect(toHex(aad)).toBe(
      toHex(encode(['tessera/v1/ticket', PROTOCOL_VERSION, 32, 'TESSERA.LOCAL', 'orders', 3])),
    )
    // 96 = fixarray(6), b1 = fixstr(17) "tessera/v1/ticket", 01, 20 = 32, ...
    expect(toHex(aad).slice(0, 4)).toBe('96b1')
    expect(toHex(aad).slice(38, 42)).toBe('0120')
  })
})

describe('aead: seal and open', () => {
  it('lays out sealed = nonce(24) ‖ ciphertext ‖ tag(16)', () => {
    const sealed = sealBytes(subkey, aad, plaintext, nonce)
    expect(sealed.length).toBe(NONCE_BYTES + plaintext.length + TAG_BYTES)
    expect(toHex(sealed.subarray(0, NONCE_BYTES))).toBe(toHex(nonce))
    expect(toHex(openBytes(subkey, aad, sealed, 64))).toBe(toHex(plaintext))
  })

  it('uses a fresh random nonce for every seal by default', () => {
    const a = sealBytes(subkey, aad, plaintext)
    const b = sealBytes(subkey, aad, plaintext)
    expect(toHex(a.subarray(0, 24))).not.toBe(toHex(b.subarray(0, 24)))
    expect(toHex(a)).not.toBe(toHex(b))
    expect(randomNonce().length).toBe(NONCE_BYTES)
  })

  it('refuses another key, another AAD, or a changed byte with ERR_AP_BAD_INTEGRITY (TAG)', () => {
    const sealed = sealBytes(subkey, aad, plaintext, nonce)
    expectCode(
      () => openBytes(detBytes('aead/other', 32), aad, sealed, 64),
      'ERR_AP_BAD_INTEGRITY',
      'TAG',
    )
    const otherAad = buildAad(OBJ.TICKET, ['TESSERA.LOCAL', 'orders', 4])
    expectCode(() => openBytes(subkey, otherAad, sealed, 64), 'ERR_AP_BAD_INTEGRITY', 'TAG')
    const typeSwap = buildAad(OBJ.PREAUTH, ['TESSERA.LOCAL', 'orders', 3])
    expectCode(() => openBytes(subkey, typeSwap, sealed, 64), 'ERR_AP_BAD_INTEGRITY', 'TAG')
    const flipped = sealed.slice()
    flipped[0] = (flipped[0] as number) ^ 1 // in the nonce
    expectCode(() => openBytes(subkey, aad, flipped, 64), 'ERR_AP_BAD_INTEGRITY', 'TAG')
  })

  it('checks the sealed length against [1, max] plaintext bytes before any cryptography', () => {
    const min = sealBytes(subkey, aad, new Uint8Array(1), nonce)
    expect(openBytes(subkey, aad, min, 1).length).toBe(1)
    const empty = sealBytes(subkey, aad, new Uint8Array(0), nonce)
    expectCode(() => openBytes(subkey, aad, empty, 64), 'ERR_AP_BAD_INTEGRITY', 'SEALED_LENGTH')
    const sealed = sealBytes(subkey, aad, plaintext, nonce)
    expect(openBytes(subkey, aad, sealed, plaintext.length).length).toBe(plaintext.length)
    expectCode(
      () => openBytes(subkey, aad, sealed, plaintext.length - 1),
      'ERR_AP_BAD_INTEGRITY',
      'SEALED_LENGTH',
    )
  })

  it('refuses a subkey or nonce of the wrong size (caller misuse)', () => {
    expectMisuse(() => sealBytes(new Uint8Array(31), aad, plaintext), RangeError)
    expectMisuse(() => sealBytes(subkey, aad, plaintext, new Uint8Array(12)), RangeError)
  })
})
