/**
 * Authenticating a request that presents a KDC-issued ticket plus an authenticator: the TGS
 * exchange (a TGT, service krbtgt) and the admin exchange (a service ticket for kadmin). Cheap
 * before expensive (house style B5 "semantics"): header names → kvno → open ticket → flags → open
 * authenticator → skew → request hash → ticket times → replay lookup. The replay entry is inserted
 * by the caller with commitReplay() once every later check has passed ("insert last").
 */
import {
  BrokerError,
  checkSkew,
  constantTimeEqual,
  deriveKey,
  fromHex,
  LABELS,
  NONCE_BYTES,
  openAuthenticator,
  openTicket,
  TICKET_FLAGS,
  toHex,
  type Authenticator,
  type EncTicketPart,
  type MessageType,
  type Ticket,
} from '../protocol/index.js'
import type { PrincipalEntry } from '../store/store.js'
import {
  keyByKvno,
  servicePrincipal,
  ticketSubkey,
  type AuditNote,
  type KdcContext,
} from './context.js'
import type { ReplayCache } from './replay.js'

export interface TicketRequest {
  readonly ticket: Ticket
  readonly authenticator: Uint8Array
  /** The service the ticket must be for: krbtgt (TGS) or kadmin (admin). */
  readonly service: string
  readonly msgType: MessageType
  /** What the authenticator's requestHash must equal. */
  readonly requestHash: Uint8Array
  /** TGTs carry INITIAL; service tickets do not. */
  readonly requireInitial: boolean
  /** The replay cache of this exchange (ctx.authenticatorReplay or ctx.adminReplay). */
  readonly replay: ReplayCache
}

export interface AuthenticatedRequest {
  readonly part: EncTicketPart
  readonly authenticator: Authenticator
  readonly replayKey: string
  readonly replay: ReplayCache
}

const KNOWN_FLAGS = TICKET_FLAGS.INITIAL

/** Authenticate a ticket + authenticator; throws BrokerError with the specific ERR_AP_* code. */
export function authenticateTicketRequest(
  ctx: KdcContext,
  req: TicketRequest,
  now: number,
  note: AuditNote,
): AuthenticatedRequest {
  const realm = ctx.store.realm
  const { ticket } = req
  if (ticket.realm !== realm) throw new BrokerError('ERR_AP_NOT_US', { status: 'WRONG_REALM' })
  if (ticket.service !== req.service) {
    throw new BrokerError('ERR_AP_NOT_US', { status: 'WRONG_SERVICE' })
  }
  const service = servicePrincipal(ctx, req.service)
  const key = keyByKvno(service, ticket.kvno)
  if (key === undefined) throw new BrokerError('ERR_AP_BAD_KVNO', { status: 'TICKET_KVNO_UNKNOWN' })

  const part: EncTicketPart = openTicket(ticket, ticketSubkey(key))
  note.caller = part.client
  if ((part.flags & ~KNOWN_FLAGS) !== 0) {
    throw new BrokerError('ERR_AP_NOT_US', { status: 'UNKNOWN_TICKET_FLAGS' })
  }
  const initial = (part.flags & TICKET_FLAGS.INITIAL) !== 0
  if (initial !== req.requireInitial) {
    throw new BrokerError('ERR_AP_NOT_US', {
      status: req.requireInitial ? 'NOT_INITIAL' : 'UNEXPECTED_INITIAL',
    })
  }

  const authSubkey = deriveKey(part.sessionKey, LABELS.authenticator)
  let authenticator: Authenticator
  try {
    authenticator = openAuthenticator(
      authSubkey,
      { realm, client: part.client, service: req.service, msgType: req.msgType },
      req.authenticator,
    )
  } finally {
    authSubkey.fill(0)
  }
  checkSkew(authenticator.ctime, now, ctx.config.skewS)
  if (!constantTimeEqual(authenticator.requestHash, req.requestHash)) {
    throw new BrokerError('ERR_AP_REQUEST_MISMATCH', { status: 'REQUEST_HASH' })
  }
  if (now >= part.endTime) throw new BrokerError('ERR_AP_TKT_EXPIRED', { status: 'TICKET_EXPIRED' })
  if (part.startTime > now + ctx.config.skewS) {
    throw new BrokerError('ERR_AP_TKT_NOT_YET_VALID', { status: 'TICKET_NOT_YET_VALID' })
  }
  // The sealed authenticator's random nonce identifies it: replaying the exact bytes repeats it,
  // and nobody without the session key can make another authenticator for this ticket.
  const replayKey = `${toHex(part.ticketId)}:${toHex(req.authenticator.subarray(0, NONCE_BYTES))}`
  if (req.replay.has(replayKey)) {
    throw new BrokerError('ERR_AP_REPLAY', { status: 'AUTHENTICATOR_REPLAY' })
  }
  return { part, authenticator, replayKey, replay: req.replay }
}

/** Remember the authenticator; call once every check of the exchange has passed. */
export function commitReplay(auth: AuthenticatedRequest): void {
  auth.replay.add(auth.replayKey)
}

/**
 * Remember the authenticator without ever forgetting a live one (the admin exchange): a cache full
 * of live entries refuses the request with ERR_KDC_RATE_LIMITED.
 */
export function commitReplayStrict(auth: AuthenticatedRequest): void {
  if (!auth.replay.tryAdd(auth.replayKey)) {
    throw new BrokerError('ERR_KDC_RATE_LIMITED', { status: 'REPLAY_CACHE_FULL' })
  }
}

/** The 16 bytes of a principal's immutable id: the kdcCheck of the KDC-only tickets issued to it. */
export function principalIdBytes(principal: PrincipalEntry): Uint8Array {
  return fromHex(principal.id)
}

/**
 * The principal a ticket names, as the store holds it NOW: it must exist, be enabled, and be the
 * same principal the ticket was issued to. A name that was deleted and registered again is a new
 * principal (new id, key and groups): a ticket whose kdcCheck is not the record's id, or whose
 * authTime predates the record's creation, belongs to the old principal and is refused.
 */
export function currentCaller(ctx: KdcContext, part: EncTicketPart): PrincipalEntry {
  const caller = ctx.store.getPrincipal(part.client)
  if (caller === undefined) {
    throw new BrokerError('ERR_KDC_CLIENT_REVOKED', { status: 'CALLER_NOT_FOUND' })
  }
  // The ticket (a TGT or kadmin ticket: sealed under a key only the KDC holds) names the record it
  // was issued to by its id (docs/protocol.md §5.2.1). The issue time alone cannot tell a record
  // re-created in the same second from the old one, whose tickets would then act as the new one.
  if (
    part.authTime < caller.createdAt ||
    !constantTimeEqual(part.kdcCheck, principalIdBytes(caller))
  ) {
    throw new BrokerError('ERR_KDC_CLIENT_REVOKED', { status: 'CALLER_REISSUED' })
  }
  if (!caller.enabled) {
    throw new BrokerError('ERR_KDC_PRINCIPAL_DISABLED', { status: 'CALLER_DISABLED' })
  }
  return caller
}
