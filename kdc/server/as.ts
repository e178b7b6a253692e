/**
 * The AS exchange (design brief §4, docs/protocol.md §5.3–5.4; cf. krb5 do_as_req.c), as a pipeline:
 * gather (store records) → check (pre-auth, skew, replay, enabled, rate) → compute (times) →
 * issue (TGT sealed with the current krbtgt key, AS-REP part sealed with the client's key).
 *
 * Nothing is sealed with the client's long-term key before its pre-auth opened (no AS-REP
 * "roasting"), and the replay entry is inserted last, only once every check passed.
 */
import {
  checkSkew,
  clampWireTime,
  DEFAULT_TGT_LIFETIME_S,
  deriveKey,
  isReservedPrincipal,
  KEY_BYTES,
  LABELS,
  BrokerError,
  sealAsRepPart,
  sealTicket,
  TGS_PRINCIPAL,
  TICKET_FLAGS,
  TICKET_ID_BYTES,
  toHex,
  type AsRep,
  type AsReq,
} from '../protocol/index.js'
import {
  currentKey,
  randomBytes,
  servicePrincipal,
  takePrincipalToken,
  ticketSubkey,
  type AuditNote,
  type KdcContext,
} from './context.js'
import { computeTicketTimes } from './lifetimes.js'
import { verifyPreauth } from './preauth.js'
import { principalIdBytes } from './ticket-auth.js'

/** The pre-auth replay cache key: the client and the request nonce it sealed. */
export function preauthReplayKey(client: string, nonce: Uint8Array): string {
  return `${client}:${toHex(nonce)}`
}

/** Handle one AS-REQ; throws BrokerError on refusal. */
export function handleAsReq(ctx: KdcContext, req: AsReq, note: AuditNote): AsRep {
  const now = ctx.clock.nowSeconds()
  note.caller = req.client
  note.target = TGS_PRINCIPAL
  note.kvno = req.kvno

  // gather
  const realm = ctx.store.realm
  const client = ctx.store.getPrincipal(req.client)

  // check: possession of the key first (vague failures), then freshness and state (specific).
  const {
    client: entry,
    key,
    preauth,
  } = verifyPreauth(req, realm, client, isReservedPrincipal(req.client))
  checkSkew(preauth.ctime, now, ctx.config.skewS)
  const replayKey = preauthReplayKey(entry.name, req.nonce)
  if (ctx.preauthReplay.has(replayKey)) {
    throw new BrokerError('ERR_AP_REPLAY', { status: 'PREAUTH_REPLAY' })
  }
  if (!entry.enabled) {
    throw new BrokerError('ERR_KDC_PRINCIPAL_DISABLED', { status: 'CLIENT_DISABLED' })
  }
  takePrincipalToken(ctx, entry.name)
  const tgs = servicePrincipal(ctx, TGS_PRINCIPAL)
  const tgsKey = currentKey(tgs)

  // compute
  const times = computeTicketTimes(req.lifetime, now, {
    defaultS: DEFAULT_TGT_LIFETIME_S,
    realmMaxS: ctx.config.limits.maxTicketLifetimeS,
  })
  const policyVersion = ctx.store.getPolicy().version

  // issue: replay entry last, then the seals.
  ctx.preauthReplay.add(replayKey)
  const startTime = clampWireTime(times.startTime)
  const endTime = clampWireTime(times.endTime)
  const sessionKey = randomBytes(KEY_BYTES)
  const ticketId = randomBytes(TICKET_ID_BYTES)
  const repSubkey = deriveKey(key.key, LABELS.asRep)
  try {
    const tgt = sealTicket(
      ticketSubkey(tgsKey),
      { realm, service: TGS_PRINCIPAL, kvno: tgsKey.kvno },
      {
        flags: TICKET_FLAGS.INITIAL,
        sessionKey,
        client: entry.name,
        authTime: clampWireTime(now),
        startTime,
        endTime,
        scopes: [],
        policyVersion,
        ticketId,
        // Sealed under the TGS key: binds the TGT to this principal record (§5.2.1).
        kdcCheck: principalIdBytes(entry),
      },
    )
    const encPart = sealAsRepPart(
      repSubkey,
      { realm, client: entry.name, kvno: key.kvno },
      {
        sessionKey,
        nonce: req.nonce,
        authTime: clampWireTime(now),
        startTime,
        endTime,
        flags: TICKET_FLAGS.INITIAL,
      },
    )
    note.ticketId = toHex(ticketId)
    note.policyVersion = policyVersion
    return { kdcTime: clampWireTime(ctx.clock.nowSeconds()), tgt, kvno: key.kvno, encPart }
  } finally {
    sessionKey.fill(0)
    repSubkey.fill(0)
  }
}
