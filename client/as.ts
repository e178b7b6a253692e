/**
 * The AS exchange, client side (docs/protocol.md §5.3): prove possession of the long-term key with
 * a sealed, fresh timestamp bound to a random nonce, and open the TGT's session key from the reply.
 */
import { randomBytes } from 'node:crypto'
import {
  BrokerError,
  constantTimeEqual,
  deriveKey,
  LABELS,
  MSG,
  openAsRepPart,
  REQUEST_NONCE_BYTES,
  sealPreauth,
  TGS_PRINCIPAL,
  type AsRep,
  type AsReq,
  type Keytab,
} from '../kdc/protocol/index.js'
import type { Credential } from './credential.js'

/** What one AS attempt must remember to check its reply. */
export interface AsAttemptState {
  readonly nonce: Uint8Array
  /** The key version that sealed the pre-auth: the reply must echo it (§5.3). */
  readonly kvno: number
}

/** Build an AS-REQ sealed with the current (highest kvno) key of the keytab. */
export function buildAsReq(
  keytab: Keytab,
  kdcNow: number,
  lifetime: number,
): { body: AsReq; state: AsAttemptState } {
  const current = keytab.keys[keytab.keys.length - 1]
  if (current === undefined) throw new BrokerError('ERR_CLIENT_KEYTAB', { status: 'EMPTY' })
  const nonce = new Uint8Array(randomBytes(REQUEST_NONCE_BYTES))
  const context = { realm: keytab.realm, client: keytab.principal, kvno: current.kvno }
  const subkey = deriveKey(current.key, LABELS.preauth)
  try {
    const preauth = sealPreauth(subkey, { ...context, lifetime }, { ctime: kdcNow, nonce })
    return {
      body: { ...context, nonce, lifetime, preauth },
      state: { nonce, kvno: current.kvno },
    }
  } finally {
    subkey.fill(0)
  }
}

/**
 * Check an AS-REP against its request and open the TGT session key. The reply must name the key
 * version the request used (selected by kvno, never by trial), echo the nonce (compared in constant
 * time) and carry a TGT for krbtgt in our realm; anything else is ERR_CLIENT_REPLY_MISMATCH.
 */
export function readAsRep(keytab: Keytab, rep: AsRep, state: AsAttemptState): Credential {
  // The reply echoes the version that sealed our pre-auth. Any other version is not an answer to
  // this request, and could be one an attacker holds: a version retired after a compromise.
  if (rep.kvno !== state.kvno) {
    throw mismatch(
      'KVNO',
      `the KDC answered with key version ${rep.kvno}, but the request used version ${state.kvno}`,
    )
  }
  const key = keytab.keys.find((k) => k.kvno === rep.kvno)
  if (key === undefined)
    throw mismatch(
      'KVNO',
      `the KDC answered with key version ${rep.kvno}, which the keytab does not hold; export a fresh keytab`,
    )
  if (rep.tgt.realm !== keytab.realm || rep.tgt.service !== TGS_PRINCIPAL) {
    throw mismatch(
      'TGT_NAMES',
      `the KDC issued a TGT for ${rep.tgt.service}@${rep.tgt.realm}, expected ${TGS_PRINCIPAL}@${keytab.realm}`,
    )
  }
  const subkey = deriveKey(key.key, LABELS.asRep)
  let part
  try {
    part = openAsRepPart(
      subkey,
      { realm: keytab.realm, client: keytab.principal, kvno: rep.kvno },
      rep.encPart,
    )
  } finally {
    subkey.fill(0)
  }
  if (!constantTimeEqual(part.nonce, state.nonce)) {
    part.sessionKey.fill(0)
    throw mismatch('NONCE', 'the AS reply does not answer this request (nonce differs)')
  }
  if (part.endTime <= part.startTime) {
    part.sessionKey.fill(0)
    throw mismatch('TIMES', 'the KDC issued a TGT that ends before it starts')
  }
  const sessionKey = part.sessionKey.slice()
  part.sessionKey.fill(0)
  return {
    realm: keytab.realm,
    client: keytab.principal,
    service: TGS_PRINCIPAL,
    // Own the bytes: the reply's view would pin the whole received frame.
    ticket: { ...rep.tgt, sealed: rep.tgt.sealed.slice() },
    sessionKey,
    authTime: part.authTime,
    startTime: part.startTime,
    endTime: part.endTime,
    flags: part.flags,
    scopes: [],
    policyVersion: 0,
  }
}

/** The reply type an AS-REQ expects. */
export const AS_EXPECT = MSG.AS_REP

function mismatch(status: string, message: string): BrokerError<'ERR_CLIENT_REPLY_MISMATCH'> {
  return new BrokerError('ERR_CLIENT_REPLY_MISMATCH', { status, message })
}
