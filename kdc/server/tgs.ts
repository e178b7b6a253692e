/**
 * The TGS exchange (design brief §4, docs/protocol.md §5.5; cf. krb5 do_tgs_req.c
 * process_tgs_req()), as a pipeline:
 *
 *   gather   TGT + authenticator (ticket-auth.ts), caller and target records, the policy — re-read
 *            from the store's view on EVERY request, so a disable or a policy change applies to the
 *            very next request without a restart;
 *   check    principals enabled, rate, policy (default deny; the request may only narrow);
 *   compute  times = min(request or 15 min, rule cap, realm max, TGT end);
 *   issue    service ticket sealed with the target's CURRENT key, TGS-REP part sealed with
 *            deriveKey(tgtSessionKey, tessera/v1/tgs-rep).
 */
import {
  ADMIN_PRINCIPAL,
  BrokerError,
  clampWireTime,
  DEFAULT_SERVICE_TICKET_LIFETIME_S,
  deriveKey,
  KEY_BYTES,
  LABELS,
  MSG,
  sealTgsRepPart,
  sealTicket,
  TGS_PRINCIPAL,
  TICKET_ID_BYTES,
  tgsRequestHash,
  toHex,
  type TgsRep,
  type TgsReq,
} from '../protocol/index.js'
import {
  currentKey,
  ticketSubkey,
  randomBytes,
  takePrincipalToken,
  type AuditNote,
  type KdcContext,
} from './context.js'
import { computeTicketTimes } from './lifetimes.js'
import { grantFor } from './policy.js'
import {
  authenticateTicketRequest,
  commitReplay,
  currentCaller,
  principalIdBytes,
} from './ticket-auth.js'

/** Flags of service tickets: none in v1 (INITIAL marks only AS-issued TGTs). */
export const SERVICE_TICKET_FLAGS = 0

/** Handle one TGS-REQ; throws BrokerError on refusal. */
export function handleTgsReq(ctx: KdcContext, req: TgsReq, note: AuditNote): TgsRep {
  const now = ctx.clock.nowSeconds()
  const realm = ctx.store.realm
  note.target = req.target

  // gather + check: the TGT and the authenticator.
  const auth = authenticateTicketRequest(
    ctx,
    {
      ticket: req.tgt,
      authenticator: req.authenticator,
      service: TGS_PRINCIPAL,
      msgType: MSG.TGS_REQ,
      requestHash: tgsRequestHash(req.target, req.scopes, req.lifetime, req.nonce),
      requireInitial: true,
      replay: ctx.authenticatorReplay,
    },
    now,
    note,
  )
  const tgt = auth.part

  // gather + check: the principals as the store holds them NOW.
  const caller = currentCaller(ctx, tgt)
  takePrincipalToken(ctx, caller.name)
  const target = ctx.store.getPrincipal(req.target)
  if (target === undefined) {
    throw new BrokerError('ERR_KDC_PRINCIPAL_UNKNOWN', { status: 'TARGET_NOT_FOUND' })
  }
  if (!target.enabled) {
    throw new BrokerError('ERR_KDC_PRINCIPAL_DISABLED', { status: 'TARGET_DISABLED' })
  }
  const grant = grantFor(ctx.store.getPolicy(), caller, target, req.scopes)
  note.policyVersion = grant.policyVersion
  note.rules = grant.ruleIds
  note.scopes = grant.scopes

  // compute
  const times = computeTicketTimes(req.lifetime, now, {
    defaultS: DEFAULT_SERVICE_TICKET_LIFETIME_S,
    realmMaxS: ctx.config.limits.maxTicketLifetimeS,
    ruleMaxS: grant.maxLifetime,
    notAfter: tgt.endTime,
  })
  const targetKey = currentKey(target)
  note.kvno = targetKey.kvno

  // issue
  commitReplay(auth)
  const startTime = clampWireTime(times.startTime)
  const endTime = clampWireTime(times.endTime)
  const sessionKey = randomBytes(KEY_BYTES)
  const ticketId = randomBytes(TICKET_ID_BYTES)
  const repSubkey = deriveKey(tgt.sessionKey, LABELS.tgsRep)
  try {
    const ticket = sealTicket(
      ticketSubkey(targetKey),
      { realm, service: target.name, kvno: targetKey.kvno },
      {
        flags: SERVICE_TICKET_FLAGS,
        sessionKey,
        client: caller.name,
        authTime: tgt.authTime,
        startTime,
        endTime,
        scopes: grant.scopes,
        policyVersion: grant.policyVersion,
        ticketId,
        // A kadmin ticket is sealed under a key only the KDC holds, and the admin exchange checks
        // the caller's record id in it (§5.2.1); a service ticket's stays empty in v1.
        kdcCheck: target.name === ADMIN_PRINCIPAL ? principalIdBytes(caller) : new Uint8Array(0),
      },
    )
    const encPart = sealTgsRepPart(
      repSubkey,
      { realm, client: caller.name, target: target.name },
      {
        sessionKey,
        nonce: req.nonce,
        authTime: tgt.authTime,
        startTime,
        endTime,
        scopes: grant.scopes,
        policyVersion: grant.policyVersion,
        ticketId,
        flags: SERVICE_TICKET_FLAGS,
      },
    )
    note.ticketId = toHex(ticketId)
    return { kdcTime: clampWireTime(ctx.clock.nowSeconds()), target: target.name, ticket, encPart }
  } finally {
    sessionKey.fill(0)
    repSubkey.fill(0)
    tgt.sessionKey.fill(0)
  }
}
