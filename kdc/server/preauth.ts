/**
 * Encrypted-timestamp pre-authentication (docs/protocol.md §5.3; cf. krb5 PA-ENC-TIMESTAMP), in the
 * first AS-REQ: one round trip. The client names its key version; the KDC selects exactly that key
 * (never tries keys), opens the pre-auth with deriveKey(clientKey, tessera/v1/preauth) and checks
 * it echoes the request nonce.
 *
 * Only the principal's CURRENT key logs in: older versions are kept for tickets in flight, not for
 * logins, so rotating a stolen key locks its holder out (docs/operations.md §5).
 *
 * Until the open succeeds the peer is unauthenticated, so every failure here — unknown principal,
 * unknown or superseded kvno, bad tag, wrong nonce — is the same ERR_KDC_PREAUTH_FAILED on the wire (house style
 * C5); the audit log gets the precise status. Freshness (skew, replay) and the enabled flag are
 * checked by the caller after this succeeds, and may then be specific.
 */
import {
  BrokerError,
  constantTimeEqual,
  deriveKey,
  isBrokerError,
  LABELS,
  openPreauth,
  type AsReq,
  type KeyVersion,
  type PreauthPart,
} from '../protocol/index.js'
import type { PrincipalEntry } from '../store/store.js'
import { keyByKvno, randomBytes } from './context.js'

/** Status tags of pre-auth failures (audit only). */
export const PREAUTH_STATUS = Object.freeze({
  CLIENT_NOT_FOUND: 'CLIENT_NOT_FOUND',
  CLIENT_RESERVED: 'CLIENT_RESERVED',
  WRONG_REALM: 'WRONG_REALM',
  KVNO_UNKNOWN: 'KVNO_UNKNOWN',
  KVNO_NOT_CURRENT: 'KVNO_NOT_CURRENT',
  PREAUTH_BAD_INTEGRITY: 'PREAUTH_BAD_INTEGRITY',
  PREAUTH_NONCE_MISMATCH: 'PREAUTH_NONCE_MISMATCH',
} as const)

function failed(status: string, cause?: unknown): BrokerError<'ERR_KDC_PREAUTH_FAILED'> {
  return new BrokerError('ERR_KDC_PREAUTH_FAILED', { status, cause })
}

/** A throwaway key, so a request for an unknown principal costs the same derivation + open. */
const DECOY_KEY = randomBytes(32)

export interface VerifiedPreauth {
  readonly client: PrincipalEntry
  readonly key: KeyVersion
  readonly preauth: PreauthPart
}

function open(key: Uint8Array, req: AsReq): PreauthPart {
  const subkey = deriveKey(key, LABELS.preauth)
  try {
    return openPreauth(
      subkey,
      { realm: req.realm, client: req.client, kvno: req.kvno, lifetime: req.lifetime },
      req.preauth,
    )
  } finally {
    subkey.fill(0)
  }
}

/**
 * Authenticate an AS-REQ. `client` is the store's record (undefined when unknown); `realm` the
 * KDC's realm; `reserved` whether the name is one the KDC keeps for itself (krbtgt, kadmin), whose
 * keys nobody outside the KDC holds, so a login as them is refused like any failed pre-auth.
 */
export function verifyPreauth(
  req: AsReq,
  realm: string,
  client: PrincipalEntry | undefined,
  reserved: boolean,
): VerifiedPreauth {
  let status: string | undefined
  let key: KeyVersion | undefined
  if (req.realm !== realm) status = PREAUTH_STATUS.WRONG_REALM
  else if (client === undefined) status = PREAUTH_STATUS.CLIENT_NOT_FOUND
  else if (reserved) status = PREAUTH_STATUS.CLIENT_RESERVED
  else {
    key = keyByKvno(client, req.kvno)
    if (key === undefined) status = PREAUTH_STATUS.KVNO_UNKNOWN
    else if (key !== client.keys[client.keys.length - 1]) {
      // Older versions stay in the store only so that tickets sealed with them still verify; a
      // login must use the current key, so that rotating a stolen key locks its holder out.
      status = PREAUTH_STATUS.KVNO_NOT_CURRENT
      key = undefined
    }
  }
  if (status !== undefined || key === undefined || client === undefined) {
    // Same work as a real attempt, then the same answer.
    try {
      open(DECOY_KEY, req)
    } catch {
      // expected
    }
    throw failed(status ?? PREAUTH_STATUS.CLIENT_NOT_FOUND)
  }
  let preauth: PreauthPart
  try {
    preauth = open(key.key, req)
  } catch (err) {
    if (isBrokerError(err)) throw failed(PREAUTH_STATUS.PREAUTH_BAD_INTEGRITY, err)
    throw err
  }
  if (!constantTimeEqual(preauth.nonce, req.nonce)) {
    throw failed(PREAUTH_STATUS.PREAUTH_NONCE_MISMATCH)
  }
  return { client, key, preauth }
}
