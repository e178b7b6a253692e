/**
 * Tickets (docs/protocol.md §5.2): Ticket = [realm, service, kvno, sealed EncTicketPart], sealed
 * with the service's key version `kvno` under the label tessera/v1/ticket, AAD context
 * [realm, service, kvno]. A TGT is a ticket for the service `krbtgt`.
 */
import { buildAad, OBJ } from './aead.js'
import type { WireValue } from './codec.js'
import { KEY_BYTES, MAX_SEALED_BYTES, NONCE_BYTES, TAG_BYTES, TICKET_ID_BYTES } from './limits.js'
import type { Ticket } from './messages.js'
import { bytesExact, bytesMax, principal, scopes, tuple, uint } from './schema.js'
import { openPart, parsePlaintext, sealPart } from './sealed-part.js'

/** Ticket flags (a uint32 bit set). Unknown bits are refused by the KDC and ignored by services. */
export const TICKET_FLAGS = Object.freeze({
  /** Issued by the AS exchange from the long-term key: set on every TGT. */
  INITIAL: 1,
} as const)

/** The sealed content of a ticket. */
export interface EncTicketPart {
  readonly flags: number
  readonly sessionKey: Uint8Array
  readonly client: string
  readonly authTime: number
  readonly startTime: number
  readonly endTime: number
  readonly scopes: readonly string[]
  readonly policyVersion: number
  readonly ticketId: Uint8Array
  /**
   * Reserved KDC check (docs/protocol.md §5.2.1): empty in v1. A service can re-seal any ticket
   * sealed with its own key, so the KDC will only ever accept a service ticket as evidence when
   * this carries a MAC under a key only the KDC holds (the Bronze Bit lesson, CVE-2020-17049).
   */
  readonly kdcCheck: Uint8Array
}

export interface TicketHeader {
  readonly realm: string
  readonly service: string
  readonly kvno: number
}

const MAX_PLAINTEXT = MAX_SEALED_BYTES - NONCE_BYTES - TAG_BYTES

export function ticketAad(h: TicketHeader): Uint8Array {
  return buildAad(OBJ.TICKET, [h.realm, h.service, h.kvno])
}

function toWire(p: EncTicketPart): WireValue {
  return [
    p.flags,
    p.sessionKey,
    p.client,
    p.authTime,
    p.startTime,
    p.endTime,
    [...p.scopes],
    p.policyVersion,
    p.ticketId,
    p.kdcCheck,
  ]
}

function parseEncTicketPart(value: WireValue): EncTicketPart {
  const f = tuple(value, 10, 'enc_ticket_part')
  return {
    flags: uint(f[0], 'flags'),
    sessionKey: bytesExact(f[1], KEY_BYTES, 'session_key'),
    client: principal(f[2], 'client'),
    authTime: uint(f[3], 'auth_time'),
    startTime: uint(f[4], 'start_time'),
    endTime: uint(f[5], 'end_time'),
    scopes: scopes(f[6], 'scopes'),
    policyVersion: uint(f[7], 'policy_version'),
    ticketId: bytesExact(f[8], TICKET_ID_BYTES, 'ticket_id'),
    kdcCheck: bytesMax(f[9], 64, 'kdc_check'),
  }
}

/** Seal a ticket with the service's ticket subkey (deriveKey(serviceKey, LABELS.ticket)). */
export function sealTicket(
  ticketSubkey: Uint8Array,
  header: TicketHeader,
  part: EncTicketPart,
  nonce?: Uint8Array,
): Ticket {
  const sealed = sealPart(ticketSubkey, ticketAad(header), toWire(part), nonce)
  return { realm: header.realm, service: header.service, kvno: header.kvno, sealed }
}

/**
 * Open a ticket with the ticket subkey of the key version its header names. `aad` lets a verifier
 * pass ticketAad(header) encoded once per key version instead of on every call; it must be exactly
 * that value.
 */
export function openTicket(
  ticket: Ticket,
  ticketSubkey: Uint8Array,
  aad: Uint8Array = ticketAad(ticket),
): EncTicketPart {
  return openPart(ticketSubkey, aad, ticket.sealed, MAX_PLAINTEXT, parseEncTicketPart)
}

/**
 * Decode an EncTicketPart that a caller opened itself (the service verifier opens into a reused
 * buffer); every failure is ERR_AP_BAD_INTEGRITY, as from {@link openTicket}. The result's byte
 * fields are views into `plaintext`.
 */
export function parseTicketPlaintext(plaintext: Uint8Array): EncTicketPart {
  return parsePlaintext(plaintext, parseEncTicketPart)
}
