import { createHash } from 'node:crypto'
import { blake2b } from '@noble/hashes/blake2.js'
import { describe, it, expect } from 'vitest'
import {
  adminRequestHash,
  bodyHash,
  canonicalAuthority,
  deriveKey,
  encode,
  httpRequestHash,
  LABELS,
  MSG,
  openApRepPart,
  openAuthenticator,
  REQUEST_HASH_DOMAINS,
  sealApRepPart,
  sealAuthenticator,
  tgsRequestHash,
  toHex,
  type Authenticator,
} from '../../../../kdc/protocol/index.js'
import { buildAad, OBJ } from '../../../../kdc/protocol/aead.js'
import { sealPart } from '../../../../kdc/protocol/sealed-part.js'
import { detBytes } from '../../../helpers/det-rng.js'
import { expectCode, expectMisuse } from './expect-code.js'
import { apContext, authSubkey, fixedNonce, sessionKey, T0 } from './fixtures.js'

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
/** BLAKE2b-256 from @noble/hashes directly, not through the backend under test. */
const b2 = (b: Uint8Array): string => toHex(blake2b(b, { dkLen: 32 }))
const auth: Authenticator = { ctime: T0, counter: 7, requestHash: detBytes('auth/rh', 32) }

describe('authenticators (docs/protocol.md §6.1)', () => {
  it('seals [ctime, counter, requestHash] and opens it back', () => {
    const sealed = sealAuthenticator(authSubkey, apContext, auth, fixedNonce)
    // plaintext: 93 ce(5) 07 c420(34) = 41 bytes
    expect(sealed.length).toBe(24 + 41 + 16)
    expect(openAuthenticator(authSubkey, apContext, sealed)).toEqual(auth)
  })

  it('binds [realm, client, service, msgType]: an AP authenticator is useless for TGS or admin', () => {
    const sealed = sealAuthenticator(authSubkey, apContext, auth)
    for (const ctx of [
      { ...apContext, msgType: MSG.TGS_REQ },
      { ...apContext, msgType: MSG.ADMIN_REQ },
      { ...apContext, realm: 'OTHER' },
      { ...apContext, client: 'mallory' },
      { ...apContext, service: 'billing' },
    ]) {
      expectCode(() => openAuthenticator(authSubkey, ctx, sealed), 'ERR_AP_BAD_INTEGRITY', 'TAG')
    }
  })

  it('opens only with the authenticator subkey of the session key', () => {
    const sealed = sealAuthenticator(authSubkey, apContext, auth)
    expectCode(() => openAuthenticator(sessionKey, apContext, sealed), 'ERR_AP_BAD_INTEGRITY')
    expectCode(
      () => openAuthenticator(deriveKey(sessionKey, LABELS.apRep), apContext, sealed),
      'ERR_AP_BAD_INTEGRITY',
    )
  })

  it('refuses an authentic seal of a malformed plaintext with ERR_AP_BAD_INTEGRITY', () => {
    const aad = buildAad(OBJ.AUTHENTICATOR, ['TESSERA.LOCAL', 'payments', 'orders', MSG.AP_REQ])
    for (const pt of [
      [T0, 7],
      [T0, 7, new Uint8Array(31)],
      [T0, 'x', new Uint8Array(32)],
      [T0, 7, new Uint8Array(32), 0],
    ]) {
      const sealed = sealPart(authSubkey, aad, pt, fixedNonce)
      expectCode(
        () => openAuthenticator(authSubkey, apContext, sealed),
        'ERR_AP_BAD_INTEGRITY',
        'PLAINTEXT',
      )
    }
  })

  it('refuses to seal an out-of-range counter or a short request hash (caller misuse)', () => {
    expectMisuse(
      () => sealAuthenticator(authSubkey, apContext, { ...auth, counter: 2 ** 32 }),
      RangeError,
    )
    expectMisuse(
      () => sealAuthenticator(authSubkey, apContext, { ...auth, requestHash: new Uint8Array(31) }),
      RangeError,
    )
  })
})

describe('request hashes (docs/protocol.md §6.2)', () => {
  it('has the three domain strings', () => {
    expect(REQUEST_HASH_DOMAINS).toEqual({
      http: 'tessera/v1/http',
      tgs: 'tessera/v1/tgs-req',
      admin: 'tessera/v1/admin-req',
    })
  })

  it.each([
    ['Orders.Example.COM', 'orders.example.com'],
    ['orders.example.com:443', 'orders.example.com'],
    ['orders.example.com:80', 'orders.example.com'],
    ['orders.example.com:8443', 'orders.example.com:8443'],
    ['127.0.0.1:8080', '127.0.0.1:8080'],
    ['[::1]:443', '[::1]'],
    ['[::1]:4430', '[::1]:4430'],
    ['x:0443', 'x:0443'],
    ['Example.COM.:443', 'example.com.'],
    // Only ASCII letters are lower-cased (§6.2 step 1): Unicode case tables differ between languages.
    ['ÀB.Example:443', 'Àb.example'],
    ['İ.example', 'İ.example'],
  ])('normalises the authority %j to %j', (input, expected) => {
    expect(canonicalAuthority(input)).toBe(expected)
  })

  it('body hash = SHA-256(body), of the empty string when there is no body', () => {
    expect(toHex(bodyHash(new Uint8Array(0)))).toBe(sha256(new Uint8Array(0)))
    expect(toHex(bodyHash(new Uint8Array([1, 2, 3])))).toBe(sha256(new Uint8Array([1, 2, 3])))
  })

  it('http hash = BLAKE2b-256(msgpack(["tessera/v1/http", method, authority, target, bodyHash]))', () => {
    const form = {
      method: 'POST',
      authority: 'orders.example.com',
      target: '/orders?id=7',
      bodyHash: bodyHash(new TextEncoder().encode('{"qty":1}')),
    }
    const preimage = encode([
      'tessera/v1/http',
      'POST',
      'orders.example.com',
      '/orders?id=7',
      form.bodyHash,
    ])
    expect(toHex(httpRequestHash(form))).toBe(b2(preimage))
    expect(toHex(httpRequestHash({ ...form, target: '/orders?id=8' }))).not.toBe(b2(preimage))
    expect(toHex(httpRequestHash({ ...form, method: 'PUT' }))).not.toBe(b2(preimage))
  })

  it('tgs hash = BLAKE2b-256(msgpack(["tessera/v1/tgs-req", target, scopes, lifetime, nonce]))', () => {
    const nonce = detBytes('auth/tgs-nonce', 16)
    const preimage = encode(['tessera/v1/tgs-req', 'orders', ['orders:read'], 900, nonce])
    expect(toHex(tgsRequestHash('orders', ['orders:read'], 900, nonce))).toBe(b2(preimage))
    expect(toHex(tgsRequestHash('orders', [], 900, nonce))).not.toBe(b2(preimage))
  })

  it('admin hash = BLAKE2b-256(msgpack(["tessera/v1/admin-req", frameId, payload]))', () => {
    const payload = detBytes('auth/admin-payload', 60)
    const preimage = encode(['tessera/v1/admin-req', 12, payload])
    expect(toHex(adminRequestHash(12, payload))).toBe(b2(preimage))
    expect(toHex(adminRequestHash(13, payload))).not.toBe(b2(preimage))
  })
})

describe('AP-REP part (docs/protocol.md §5.5)', () => {
  const ctx = { realm: 'TESSERA.LOCAL', client: 'payments', service: 'orders' }
  const subkey = deriveKey(sessionKey, LABELS.apRep)

  it('seals [ctime, counter] and opens it back', () => {
    const sealed = sealApRepPart(subkey, ctx, { ctime: T0, counter: 7 }, fixedNonce)
    expect(openApRepPart(subkey, ctx, sealed)).toEqual({ ctime: T0, counter: 7 })
  })

  it('binds [realm, client, service] and refuses the authenticator subkey', () => {
    const sealed = sealApRepPart(subkey, ctx, { ctime: T0, counter: 7 })
    expectCode(
      () => openApRepPart(subkey, { ...ctx, client: 'other' }, sealed),
      'ERR_AP_BAD_INTEGRITY',
    )
    expectCode(() => openApRepPart(authSubkey, ctx, sealed), 'ERR_AP_BAD_INTEGRITY')
  })

  it('cannot be confused with an authenticator sealed under the same session key', () => {
    const sealed = sealAuthenticator(authSubkey, apContext, auth)
    expectCode(() => openApRepPart(authSubkey, ctx, sealed), 'ERR_AP_BAD_INTEGRITY')
  })
})
