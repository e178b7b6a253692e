import { describe, it, expect } from 'vitest'
import {
  deriveKey,
  LABELS,
  MAX_ADMIN_SEALED_BYTES,
  OBJ,
  openAdminPayload,
  openAsRepPart,
  openPreauth,
  openTgsRepPart,
  sealAdminPayload,
  sealAsRepPart,
  sealPreauth,
  sealTgsRepPart,
  type AsRepPart,
  type TgsRepPart,
} from '../../../../kdc/protocol/index.js'
import { detBytes } from '../../../helpers/det-rng.js'
import { expectCode } from './expect-code.js'
import { clientKey, fixedNonce, requestNonce, sessionKey, T0, ticketId } from './fixtures.js'

const clientCtx = { realm: 'TESSERA.LOCAL', client: 'payments', kvno: 2 }
const preauthCtx = { ...clientCtx, lifetime: 3600 }

describe('pre-authentication (docs/protocol.md §5.3)', () => {
  const subkey = deriveKey(clientKey, LABELS.preauth)

  it('seals [ctime, nonce] and opens it back', () => {
    const sealed = sealPreauth(subkey, preauthCtx, { ctime: T0, nonce: requestNonce }, fixedNonce)
    expect(sealed.length).toBe(24 + 24 + 16) // 92 ce(5) c410(18)
    expect(openPreauth(subkey, preauthCtx, sealed)).toEqual({ ctime: T0, nonce: requestNonce })
  })

  it('binds [realm, client, kvno, lifetime]', () => {
    const sealed = sealPreauth(subkey, preauthCtx, { ctime: T0, nonce: requestNonce })
    for (const ctx of [
      { ...preauthCtx, kvno: 3 },
      { ...preauthCtx, client: 'orders' },
      { ...preauthCtx, realm: 'X' },
      { ...preauthCtx, lifetime: 60 },
    ]) {
      expectCode(() => openPreauth(subkey, ctx, sealed), 'ERR_AP_BAD_INTEGRITY', 'TAG')
    }
  })

  it('refuses a wrong-size request nonce inside an authentic seal', () => {
    const sealed = sealPreauth(subkey, preauthCtx, { ctime: T0, nonce: new Uint8Array(8) })
    expectCode(() => openPreauth(subkey, preauthCtx, sealed), 'ERR_AP_BAD_INTEGRITY', 'PLAINTEXT')
  })
})

describe('AS-REP part (docs/protocol.md §5.3)', () => {
  const subkey = deriveKey(clientKey, LABELS.asRep)
  const part: AsRepPart = {
    sessionKey,
    nonce: requestNonce,
    authTime: T0,
    startTime: T0,
    endTime: T0 + 3600,
    flags: 1,
  }

  it('round-trips and binds [realm, client, kvno]', () => {
    const sealed = sealAsRepPart(subkey, clientCtx, part, fixedNonce)
    expect(openAsRepPart(subkey, clientCtx, sealed)).toEqual(part)
    expectCode(
      () => openAsRepPart(subkey, { ...clientCtx, kvno: 1 }, sealed),
      'ERR_AP_BAD_INTEGRITY',
    )
  })

  it('cannot be opened as pre-auth even under the same client key', () => {
    const sealed = sealAsRepPart(subkey, clientCtx, part)
    expectCode(
      () => openPreauth(deriveKey(clientKey, LABELS.preauth), preauthCtx, sealed),
      'ERR_AP_BAD_INTEGRITY',
      'SEALED_LENGTH',
    )
    expectCode(() => openPreauth(subkey, preauthCtx, sealed), 'ERR_AP_BAD_INTEGRITY')
  })
})

describe('TGS-REP part (docs/protocol.md §5.4)', () => {
  const subkey = deriveKey(sessionKey, LABELS.tgsRep)
  const ctx = { realm: 'TESSERA.LOCAL', client: 'payments', target: 'orders' }
  const part: TgsRepPart = {
    sessionKey: detBytes('parts/s2', 32),
    nonce: requestNonce,
    authTime: T0,
    startTime: T0 + 10,
    endTime: T0 + 910,
    scopes: ['orders:read', 'orders:write'],
    policyVersion: 9,
    ticketId,
    flags: 0,
  }

  it('round-trips and binds [realm, client, target]', () => {
    const sealed = sealTgsRepPart(subkey, ctx, part, fixedNonce)
    expect(openTgsRepPart(subkey, ctx, sealed)).toEqual(part)
    expectCode(
      () => openTgsRepPart(subkey, { ...ctx, target: 'billing' }, sealed),
      'ERR_AP_BAD_INTEGRITY',
    )
  })

  it('refuses unsorted scopes inside an authentic seal', () => {
    const sealed = sealTgsRepPart(subkey, ctx, { ...part, scopes: ['z', 'a'] })
    expectCode(() => openTgsRepPart(subkey, ctx, sealed), 'ERR_AP_BAD_INTEGRITY', 'PLAINTEXT')
  })
})

describe('admin payloads (docs/protocol.md §5.6)', () => {
  const subkey = deriveKey(sessionKey, LABELS.admin)
  const ctx = { realm: 'TESSERA.LOCAL', client: 'admin', id: 5 }

  it('round-trips any wire value', () => {
    const payload = ['status', []]
    const sealed = sealAdminPayload(subkey, OBJ.ADMIN_REQ_ENC, ctx, payload, fixedNonce)
    expect(openAdminPayload(subkey, OBJ.ADMIN_REQ_ENC, ctx, sealed)).toEqual(payload)
  })

  it('binds the direction and the frame id: a request cannot be replayed as a reply', () => {
    const sealed = sealAdminPayload(subkey, OBJ.ADMIN_REQ_ENC, ctx, ['status', []])
    expectCode(
      () => openAdminPayload(subkey, OBJ.ADMIN_REP_ENC, ctx, sealed),
      'ERR_AP_BAD_INTEGRITY',
      'TAG',
    )
    expectCode(
      () => openAdminPayload(subkey, OBJ.ADMIN_REQ_ENC, { ...ctx, id: 6 }, sealed),
      'ERR_AP_BAD_INTEGRITY',
      'TAG',
    )
  })

  it('accepts up to MAX_ADMIN_SEALED_BYTES and refuses one more byte before opening', () => {
    const big = new Uint8Array(MAX_ADMIN_SEALED_BYTES - 24 - 16 - 3) // bin16 header
    const sealed = sealAdminPayload(subkey, OBJ.ADMIN_REP_ENC, ctx, big)
    expect(sealed.length).toBe(MAX_ADMIN_SEALED_BYTES)
    expect((openAdminPayload(subkey, OBJ.ADMIN_REP_ENC, ctx, sealed) as Uint8Array).length).toBe(
      big.length,
    )
    const over = new Uint8Array(MAX_ADMIN_SEALED_BYTES + 1)
    expectCode(
      () => openAdminPayload(subkey, OBJ.ADMIN_REP_ENC, ctx, over),
      'ERR_AP_BAD_INTEGRITY',
      'SEALED_LENGTH',
    )
  })
})
