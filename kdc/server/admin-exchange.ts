/**
 * The admin exchange's authentication (docs/protocol.md §5.6; cf. MIT kadmind): an ADMIN_REQ
 * presents a service ticket for `kadmin`, an authenticator bound to (frame id, sealed payload) and
 * the payload sealed with deriveKey(sessionKey, tessera/v1/admin). Once all of that checks out and
 * the caller is re-read from the store (it must still exist and be enabled), the operation itself
 * runs in kdc/server/admin.ts (executeAdminOp), behind the admin ACL. The reply is sealed the same
 * way, bound to the same frame id.
 */
import {
  ADMIN_PRINCIPAL,
  adminRequestHash,
  BrokerError,
  clampWireTime,
  deriveKey,
  LABELS,
  MSG,
  OBJ,
  openAdminPayload,
  sealAdminPayload,
  type AdminRep,
  type AdminReq,
  type WireValue,
} from '../protocol/index.js'
import type { PrincipalEntry } from '../store/store.js'
import { executeAdminOp, hasAdminAccess } from './admin.js'
import type { AdminDeps, KdcStatus } from './admin-types.js'
import { takePrincipalToken, type AuditNote, type KdcContext } from './context.js'
import { authenticateTicketRequest, commitReplayStrict, currentCaller } from './ticket-auth.js'

/** The KDC status the admin `status` operation reports. */
export function kdcStatus(ctx: KdcContext): KdcStatus {
  return {
    realm: ctx.store.realm,
    version: ctx.version,
    role: 'writer',
    principals: ctx.store.principalCount(),
    policyVersion: ctx.store.getPolicy().version,
    uptimeSeconds: Math.max(0, ctx.clock.nowSeconds() - ctx.startedAt),
    node: ctx.config.node,
  }
}

/** Replace byte strings by a marker: the audit log never carries key material. */
function scrub(value: unknown, depth = 0): unknown {
  if (value instanceof Uint8Array) return '[bytes]'
  if (depth > 4 || typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = scrub(v, depth + 1)
  return out
}

/** The dependencies handed to executeAdminOp. */
export function adminDeps(ctx: KdcContext): AdminDeps {
  const child = ctx.log.child({ audit: true, exchange: 'ADMIN_OP' })
  return {
    store: ctx.store,
    clock: ctx.clock,
    audit: (event) => {
      child.info(scrub(event) as Record<string, unknown>, 'audit')
    },
    status: () => kdcStatus(ctx),
  }
}

/** The operation name of an admin request, for the audit record, if it looks like one. */
function opName(request: WireValue): string | undefined {
  const head = Array.isArray(request) ? (request as readonly WireValue[])[0] : undefined
  return typeof head === 'string' && /^[a-z][a-z.-]{0,31}$/.test(head) ? head : undefined
}

/** Handle one ADMIN_REQ; throws BrokerError on refusal (including the operation's own errors). */
export async function handleAdminReq(
  ctx: KdcContext,
  deps: AdminDeps,
  frameId: number,
  req: AdminReq,
  note: AuditNote,
): Promise<AdminRep> {
  const now = ctx.clock.nowSeconds()
  const realm = ctx.store.realm
  note.target = ADMIN_PRINCIPAL
  const auth = authenticateTicketRequest(
    ctx,
    {
      ticket: req.ticket,
      authenticator: req.authenticator,
      service: ADMIN_PRINCIPAL,
      msgType: MSG.ADMIN_REQ,
      requestHash: adminRequestHash(frameId, req.payload),
      requireInitial: false,
      replay: ctx.adminReplay,
    },
    now,
    note,
  )
  // The replay cache is in memory: an admin request made before this process started may have run
  // on the previous one, and is still inside the skew window for up to skew seconds, so it is
  // refused rather than run twice. (AS and TGS replays need no such rule: their replies are sealed
  // for the legitimate client and change nothing.)
  if (auth.authenticator.ctime < ctx.startedAt) {
    throw new BrokerError('ERR_AP_REPLAY', { status: 'BEFORE_START' })
  }
  const client = auth.part.client
  const caller: PrincipalEntry = currentCaller(ctx, auth.part)
  takePrincipalToken(ctx, caller.name)
  const subkey = deriveKey(auth.part.sessionKey, LABELS.admin)
  auth.part.sessionKey.fill(0)
  try {
    const request = openAdminPayload(
      subkey,
      OBJ.ADMIN_REQ_ENC,
      { realm, client, id: frameId },
      req.payload,
    )
    // Insert before the (asynchronous) operation runs, so a concurrent replay is refused. Only
    // members of the admin ACL take a place in the (non-evicting) cache: anybody else's request
    // is refused as forbidden whatever it says, so a non-admin cannot fill it.
    if (hasAdminAccess(caller)) commitReplayStrict(auth)
    const op = opName(request)
    if (op !== undefined) note.op = op
    const reply = await executeAdminOp(deps, caller, request)
    const payload = sealAdminPayload(
      subkey,
      OBJ.ADMIN_REP_ENC,
      { realm, client, id: frameId },
      reply,
    )
    note.policyVersion = ctx.store.getPolicy().version
    return { kdcTime: clampWireTime(ctx.clock.nowSeconds()), payload }
  } finally {
    subkey.fill(0)
  }
}
