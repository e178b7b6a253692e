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
 * `notAfter`. No ticket is shorter than MIN_TICKET_LIFETIME_S (docs/protocol.md §7, §9):
 * - a request for 1..MIN_TICKET_LIFETIME_S-1 seconds can never be valid: ERR_KDC_BAD_LIFETIME;
 * - a rule cap of 1..MIN_TICKET_LIFETIME_S-1 (only in policies stored before such caps were
 *   refused) can never be respected: ERR_KDC_POLICY. The cap is not raised to the minimum, as that
 *   would issue a ticket longer than the rule allows;
 * - when `notAfter` (the TGT's end) leaves less than MIN_TICKET_LIFETIME_S: ERR_AP_TKT_EXPIRED, so
 *   the client logs in again and asks with a fresh TGT.
 * A request above the caps is shortened, as krb5 does.
 */
export function computeTicketTimes(
  requestedS: number,
  now: number,
  caps: LifetimeCaps,
): TicketTimes {
  if (requestedS !== 0 && requestedS < MIN_TICKET_LIFETIME_S) {
    throw new BrokerError('ERR_KDC_BAD_LIFETIME', { status: 'LIFETIME_TOO_SHORT' })
  }
  const ruleMaxS = caps.ruleMaxS ?? 0
  if (ruleMaxS > 0 && ruleMaxS < MIN_TICKET_LIFETIME_S) {
    throw new BrokerError('ERR_KDC_POLICY', { status: 'RULE_CAP_TOO_SHORT' })
  }
  let lifetime = requestedS === 0 ? caps.defaultS : requestedS
  lifetime = Math.min(lifetime, caps.realmMaxS)
  if (ruleMaxS > 0) lifetime = Math.min(lifetime, ruleMaxS)
  let endTime = now + lifetime
  if (caps.notAfter !== undefined && caps.notAfter < endTime) {
    // The TGT's end is the binding cap (defaults, realm and rule caps are all ≥ the minimum).
    if (caps.notAfter - now < MIN_TICKET_LIFETIME_S) {
      throw new BrokerError('ERR_AP_TKT_EXPIRED', { status: 'TGT_ENDS_TOO_SOON' })
    }
    endTime = caps.notAfter
  }
  return { startTime: now, endTime }
}
