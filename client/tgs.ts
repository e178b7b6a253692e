/**
 * The TGS exchange, client side (docs/protocol.md §5.4): present the TGT with an authenticator
 * sealed under the TGT session key and bound to this request (target, scopes, lifetime, nonce),
 * then open the service ticket's session key from the reply.
 */
import { randomBytes } from 'node:crypto'
import {
  BrokerError,
  constantTimeEqual,
  LABELS,
  MSG,
  openTgsRepPart,
  REQUEST_NONCE_BYTES,
  tgsRequestHash,
  type TgsRep,
  type TgsReq,
} from '../kdc/protocol/index.js'
import type { AuthenticatorBuilder } from './authenticator.js'
import type { Credential } from './credential.js'

/** What one TGS attempt must remember to check its reply. */
export interface TgsAttemptState {
  readonly nonce: Uint8Array
  readonly target: string
  /** The scopes asked for (empty: everything policy grants). */
  readonly scopes: readonly string[]
}

/** Build a TGS-REQ for `target`, with the next authenticator of the TGT's builder. */
export function buildTgsReq(
  tgt: AuthenticatorBuilder,
  target: string,
  scopes: readonly string[],
  lifetime: number,
  kdcNow: number,
): { body: TgsReq; state: TgsAttemptState } {
  const nonce = new Uint8Array(randomBytes(REQUEST_NONCE_BYTES))
  const { sealed } = tgt.seal(MSG.TGS_REQ, kdcNow, tgsRequestHash(target, scopes, lifetime, nonce))
  return {
    body: { tgt: tgt.credential.ticket, authenticator: sealed, target, scopes, lifetime, nonce },
    state: { nonce, target, scopes },
  }
}

/**
 * Check a TGS-REP against its request and open the service ticket's session key: the reply must
 * name the requested target (in the message and the ticket header) and echo the nonce (constant
 * time); anything else is ERR_CLIENT_REPLY_MISMATCH.
 */
export function readTgsRep(
  tgtBuilder: AuthenticatorBuilder,
  rep: TgsRep,
  state: TgsAttemptState,
): Credential {
  const tgt = tgtBuilder.credential
  if (rep.target !== state.target || rep.ticket.service !== state.target) {
    throw mismatch(
      'TARGET',
      `asked for a ticket for ${state.target}, the KDC issued one for ${rep.ticket.service}`,
    )
  }
  if (rep.ticket.realm !== tgt.realm) {
    throw mismatch(
      'REALM',
      `the KDC issued a ticket in realm ${rep.ticket.realm}, expected ${tgt.realm}`,
    )
  }
  const part = openTgsRepPart(
    tgtBuilder.subkey(LABELS.tgsRep),
    { realm: tgt.realm, client: tgt.client, target: state.target },
    rep.encPart,
  )
  const sessionKey = part.sessionKey.slice()
  part.sessionKey.fill(0)
  if (!constantTimeEqual(part.nonce, state.nonce)) {
    sessionKey.fill(0)
    throw mismatch('NONCE', 'the TGS reply does not answer this request (nonce differs)')
  }
  if (part.endTime <= part.startTime) {
    sessionKey.fill(0)
    throw mismatch('TIMES', 'the KDC issued a ticket that ends before it starts')
  }
  // The KDC narrows the grant to the scopes asked for (§7): a wider grant answers another request.
  if (state.scopes.length > 0 && part.scopes.some((scope) => !state.scopes.includes(scope))) {
    sessionKey.fill(0)
    throw mismatch('SCOPES', 'the KDC granted scopes this request did not ask for')
  }
  return {
    realm: tgt.realm,
    client: tgt.client,
    service: state.target,
    // Own the bytes: the reply's view would pin the whole received frame.
    ticket: { ...rep.ticket, sealed: rep.ticket.sealed.slice() },
    sessionKey,
    authTime: part.authTime,
    startTime: part.startTime,
    endTime: part.endTime,
    flags: part.flags,
    scopes: part.scopes,
    policyVersion: part.policyVersion,
  }
}

function mismatch(status: string, message: string): BrokerError<'ERR_CLIENT_REPLY_MISMATCH'> {
  return new BrokerError('ERR_CLIENT_REPLY_MISMATCH', { status, message })
}
