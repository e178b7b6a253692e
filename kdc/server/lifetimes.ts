/**
 * Ticket lifetimes (house style C6, cf. krb5 policy.c update_ticket_times()): pure functions of the
 * request, the caps that apply and the clock reading. Every cap can only shorten a ticket.
 */
import { BrokerError, MIN_TICKET_LIFETIME_S } from '../protocol/index.js'

/** The caps that bound one ticket; 0 in an optional cap means "no cap from this source". */
export interface LifetimeCaps {
  /** Lifetime when the request asks for 0 ("the default"). */
  readonly defaultS: number
  /** Realm maximum (config, never above MAX_TICKET_LIFETIME_S). */
  readonly realmMaxS: number
  /** Rule cap from policy (maxLifetime); 0 = none. */
  readonly ruleMaxS?: number
  /** Absolute end the ticket may not pass (the TGT's endTime for service tickets). */
  readonly notAfter?: number
}

export interface TicketTimes {
  readonly startTime: number
  readonly endTime: number
}

/**
 * startTime = now, endTime = now + min(request or default, rule max, realm max), never past
 * `notAfter`. A request for 1..MIN_TICKET_LIFETIME_S-1 seconds can never be valid:
 * ERR_KDC_BAD_LIFETIME. A request above the caps is shortened, as krb5 does.
 */
export function computeTicketTimes(
  requestedS: number,
  now: number,
  caps: LifetimeCaps,
): TicketTimes {
  if (requestedS !== 0 && requestedS < MIN_TICKET_LIFETIME_S) {
    throw new BrokerError('ERR_KDC_BAD_LIFETIME', { status: 'LIFETIME_TOO_SHORT' })
  }
  let lifetime = requestedS === 0 ? caps.defaultS : requestedS
  lifetime = Math.min(lifetime, caps.realmMaxS)
  if (caps.ruleMaxS !== undefined && caps.ruleMaxS > 0) lifetime = Math.min(lifetime, caps.ruleMaxS)
  let endTime = now + lifetime
  if (caps.notAfter !== undefined) endTime = Math.min(endTime, caps.notAfter)
  if (endTime <= now) {
    // Only reachable with notAfter <= now, which the caller has already refused as expired.
    throw new BrokerError('ERR_AP_TKT_EXPIRED', { status: 'NO_LIFETIME_LEFT' })
  }
  return { startTime: now, endTime }
}
