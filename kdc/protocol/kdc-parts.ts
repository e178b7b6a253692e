/**
 * The sealed parts of the AS and TGS exchanges and of the admin exchange (docs/protocol.md §5.3–5.6):
 * pre-authentication, the AS-REP and TGS-REP encrypted parts, and admin payloads.
 */
import { buildAad, OBJ } from './aead.js'
import type { WireValue } from './codec.js'
import {
  KEY_BYTES,
  MAX_ADMIN_SEALED_BYTES,
  NONCE_BYTES,
  REQUEST_NONCE_BYTES,
  TAG_BYTES,
  TICKET_ID_BYTES,
} from './limits.js'
import { bytesExact, scopes, tuple, uint } from './schema.js'
import { openPart, sealPart } from './sealed-part.js'

/** Names of the principal whose long-term key seals a part, and that key's version. */
export interface ClientKeyContext {
  readonly realm: string
  readonly client: string
  readonly kvno: number
}

// ---- pre-authentication ----------------------------------------------------------------------

/** PA-ENC-TIMESTAMP: [ctime, nonce], sealed with deriveKey(clientKey, tessera/v1/preauth). */
export interface PreauthPart {
  readonly ctime: number
  /** The AS-REQ nonce: binds the proof to this request. */
  readonly nonce: Uint8Array
}

/**
 * The pre-auth's context also binds the requested TGT lifetime, the one AS-REQ field the KDC acts on
 * that the nonce does not already bind: a man in the middle who changes it makes pre-auth fail.
 */
export interface PreauthContext extends ClientKeyContext {
  readonly lifetime: number
}

function preauthAad(c: PreauthContext): Uint8Array {
  return buildAad(OBJ.PREAUTH, [c.realm, c.client, c.kvno, c.lifetime])
}

export function sealPreauth(
  subkey: Uint8Array,
  c: PreauthContext,
  p: PreauthPart,
  nonce?: Uint8Array,
): Uint8Array {
  return sealPart(subkey, preauthAad(c), [p.ctime, p.nonce], nonce)
}

export function openPreauth(
  subkey: Uint8Array,
  c: PreauthContext,
  sealed: Uint8Array,
): PreauthPart {
  return openPart(subkey, preauthAad(c), sealed, 32, (v) => {
    const f = tuple(v, 2, 'preauth')
    return { ctime: uint(f[0], 'ctime'), nonce: bytesExact(f[1], REQUEST_NONCE_BYTES, 'nonce') }
  })
}

// ---- AS-REP encrypted part -------------------------------------------------------------------

/** [sessionKey, nonce, authTime, startTime, endTime, flags], sealed with deriveKey(clientKey, tessera/v1/as-rep). */
export interface AsRepPart {
  readonly sessionKey: Uint8Array
  readonly nonce: Uint8Array
  readonly authTime: number
  readonly startTime: number
  readonly endTime: number
  readonly flags: number
}

export function sealAsRepPart(
  subkey: Uint8Array,
  c: ClientKeyContext,
  p: AsRepPart,
  nonce?: Uint8Array,
): Uint8Array {
  return sealPart(
    subkey,
    buildAad(OBJ.AS_REP_ENC, [c.realm, c.client, c.kvno]),
    [p.sessionKey, p.nonce, p.authTime, p.startTime, p.endTime, p.flags],
    nonce,
  )
}

export function openAsRepPart(
  subkey: Uint8Array,
  c: ClientKeyContext,
  sealed: Uint8Array,
): AsRepPart {
  return openPart(
    subkey,
    buildAad(OBJ.AS_REP_ENC, [c.realm, c.client, c.kvno]),
    sealed,
    128,
    (v) => {
      const f = tuple(v, 6, 'as_rep_part')
      return {
        sessionKey: bytesExact(f[0], KEY_BYTES, 'session_key'),
        nonce: bytesExact(f[1], REQUEST_NONCE_BYTES, 'nonce'),
        authTime: uint(f[2], 'auth_time'),
        startTime: uint(f[3], 'start_time'),
        endTime: uint(f[4], 'end_time'),
        flags: uint(f[5], 'flags'),
      }
    },
  )
}

// ---- TGS-REP encrypted part ------------------------------------------------------------------

export interface TgsRepContext {
  readonly realm: string
  readonly client: string
  readonly target: string
}

/**
 * [sessionKey, nonce, authTime, startTime, endTime, scopes, policyVersion, ticketId, flags], sealed
 * with deriveKey(tgtSessionKey, tessera/v1/tgs-rep).
 */
export interface TgsRepPart {
  readonly sessionKey: Uint8Array
  readonly nonce: Uint8Array
  readonly authTime: number
  readonly startTime: number
  readonly endTime: number
  readonly scopes: readonly string[]
  readonly policyVersion: number
  readonly ticketId: Uint8Array
  readonly flags: number
}

function tgsRepAad(c: TgsRepContext): Uint8Array {
  return buildAad(OBJ.TGS_REP_ENC, [c.realm, c.client, c.target])
}

export function sealTgsRepPart(
  subkey: Uint8Array,
  c: TgsRepContext,
  p: TgsRepPart,
  nonce?: Uint8Array,
): Uint8Array {
  return sealPart(
    subkey,
    tgsRepAad(c),
    [
      p.sessionKey,
      p.nonce,
      p.authTime,
      p.startTime,
      p.endTime,
      [...p.scopes],
      p.policyVersion,
      p.ticketId,
      p.flags,
    ],
    nonce,
  )
}

export function openTgsRepPart(
  subkey: Uint8Array,
  c: TgsRepContext,
  sealed: Uint8Array,
): TgsRepPart {
  return openPart(subkey, tgsRepAad(c), sealed, 4096, (v) => {
    const f = tuple(v, 9, 'tgs_rep_part')
    return {
      sessionKey: bytesExact(f[0], KEY_BYTES, 'session_key'),
      nonce: bytesExact(f[1], REQUEST_NONCE_BYTES, 'nonce'),
      authTime: uint(f[2], 'auth_time'),
      startTime: uint(f[3], 'start_time'),
      endTime: uint(f[4], 'end_time'),
      scopes: scopes(f[5], 'scopes'),
      policyVersion: uint(f[6], 'policy_version'),
      ticketId: bytesExact(f[7], TICKET_ID_BYTES, 'ticket_id'),
      flags: uint(f[8], 'flags'),
    }
  })
}

// ---- admin payloads --------------------------------------------------------------------------

export interface AdminContext {
  readonly realm: string
  readonly client: string
  /** The frame id of the request (the reply echoes it), so a reply cannot answer another request. */
  readonly id: number
}

const MAX_ADMIN_PLAINTEXT = MAX_ADMIN_SEALED_BYTES - NONCE_BYTES - TAG_BYTES

/**
 * Seal an admin request (OBJ.ADMIN_REQ_ENC) or reply (OBJ.ADMIN_REP_ENC) payload with
 * deriveKey(sessionKey, tessera/v1/admin). The payload's shape is per operation (docs/protocol.md §5.6).
 */
export function sealAdminPayload(
  subkey: Uint8Array,
  direction: typeof OBJ.ADMIN_REQ_ENC | typeof OBJ.ADMIN_REP_ENC,
  c: AdminContext,
  payload: WireValue,
  nonce?: Uint8Array,
): Uint8Array {
  return sealPart(subkey, buildAad(direction, [c.realm, c.client, c.id]), payload, nonce)
}

export function openAdminPayload(
  subkey: Uint8Array,
  direction: typeof OBJ.ADMIN_REQ_ENC | typeof OBJ.ADMIN_REP_ENC,
  c: AdminContext,
  sealed: Uint8Array,
): WireValue {
  return openPart(
    subkey,
    buildAad(direction, [c.realm, c.client, c.id]),
    sealed,
    MAX_ADMIN_PLAINTEXT,
    (v) => v,
  )
}
