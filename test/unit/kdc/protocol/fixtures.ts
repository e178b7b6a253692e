/**
 * Fixed principals, keys and parts for the protocol unit tests. Keys come from the deterministic
 * test RNG, so failures reproduce exactly.
 */
import {
  deriveKey,
  LABELS,
  MSG,
  TICKET_FLAGS,
  type AuthenticatorContext,
  type Frame,
  type EncTicketPart,
  type TicketHeader,
} from '../../../../kdc/protocol/index.js'
import { detBytes } from '../../../helpers/det-rng.js'

export const REALM = 'TESSERA.LOCAL'
export const CLIENT = 'payments'
export const SERVICE = 'orders'

export const serviceKey = detBytes('unit/service-key', 32)
export const clientKey = detBytes('unit/client-key', 32)
export const sessionKey = detBytes('unit/session-key', 32)
export const otherKey = detBytes('unit/other-key', 32)
export const ticketId = detBytes('unit/ticket-id', 16)
export const requestNonce = detBytes('unit/request-nonce', 16)
export const fixedNonce = detBytes('unit/nonce', 24)

export const ticketSubkey = deriveKey(serviceKey, LABELS.ticket)
export const authSubkey = deriveKey(sessionKey, LABELS.authenticator)

export const T0 = 1_767_225_600 // 2026-01-01T00:00:00Z

export const ticketHeader: TicketHeader = { realm: REALM, service: SERVICE, kvno: 3 }

/** An EncTicketPart whose canonical plaintext is exactly 167 bytes (the bench's ticket). */
export const encTicketPart: EncTicketPart = {
  flags: TICKET_FLAGS.INITIAL,
  sessionKey,
  client: CLIENT,
  authTime: T0,
  startTime: T0,
  endTime: T0 + 900,
  scopes: [
    'inventory:reserve',
    'orders:read',
    'orders:refund',
    'orders:write',
    'payments:callback',
    'reports:*',
  ],
  policyVersion: 42,
  ticketId,
  kdcCheck: new Uint8Array(0),
}

export const apContext: AuthenticatorContext = {
  realm: REALM,
  client: CLIENT,
  service: SERVICE,
  msgType: MSG.AP_REQ,
}

const sealed = (label: string, n: number): Uint8Array => detBytes(`unit/sealed/${label}`, n)

/** A ticket as it appears on the wire (the sealed bytes are opaque here). */
export const wireTicket = {
  realm: REALM,
  service: 'krbtgt',
  kvno: 1,
  sealed: sealed('tgt', 207),
}

/** One valid frame of every frame type. */
export const sampleFrames: readonly Frame[] = [
  {
    type: MSG.AS_REQ,
    id: 1,
    body: {
      realm: REALM,
      client: CLIENT,
      kvno: 2,
      nonce: requestNonce,
      lifetime: 3600,
      preauth: sealed('preauth', 64),
    },
  },
  {
    type: MSG.AS_REP,
    id: 1,
    body: { kdcTime: T0, tgt: wireTicket, kvno: 2, encPart: sealed('as-rep', 120) },
  },
  {
    type: MSG.TGS_REQ,
    id: 2,
    body: {
      tgt: wireTicket,
      authenticator: sealed('auth', 81),
      target: SERVICE,
      scopes: ['orders:read'],
      lifetime: 900,
      nonce: requestNonce,
    },
  },
  {
    type: MSG.TGS_REP,
    id: 2,
    body: {
      kdcTime: T0,
      target: SERVICE,
      ticket: { ...wireTicket, service: SERVICE, kvno: 3 },
      encPart: sealed('tgs-rep', 160),
    },
  },
  { type: MSG.ERROR, id: 3, body: { kdcTime: T0, wire: 203 } },
  {
    type: MSG.ADMIN_REQ,
    id: 4,
    body: {
      ticket: { ...wireTicket, service: 'kadmin' },
      authenticator: sealed('admin-auth', 81),
      payload: sealed('admin-req', 60),
    },
  },
  { type: MSG.ADMIN_REP, id: 4, body: { kdcTime: T0, payload: sealed('admin-rep', 60) } },
  { type: MSG.REPL_REQ, id: 5, body: { node: 'kdc-a', payload: sealed('repl-req', 50) } },
  { type: MSG.REPL_REP, id: 5, body: { node: 'kdc-b', payload: sealed('repl-rep', 50) } },
]
