/**
 * The admin exchange past authentication: admin requests with a real admin ticket and fresh
 * authenticators whose sealed plaintext is mutated (and policies at the payload size limit), so
 * kdc/server/admin.ts executeAdminOp and the store see them. Oracle: never ERR_KDC_INTERNAL; every
 * ADMIN-REP opens and parses as tessera-admin parses it, including policy.show after the largest
 * policy.apply the KDC accepts.
 */
import {
  buildAdminRequest,
  deriveKey,
  LABELS,
  MSG,
  OBJ,
  openAdminPayload,
  ruleToWire,
  parseAdminReply,
  ADMIN_OPS,
  MAX_ADMIN_PLAINTEXT_BYTES,
  type AdminOp,
  type AdminRequest,
  type AdminResults,
  type PolicyRule,
  type Frame,
  type WireValue,
} from '../../../kdc/protocol/index.js'
import { REALM, validAdminRequest } from '../corpus.js'
import { attempt, FuzzFailure, hexOf, type Case, type Target } from '../harness.js'
import { encodeTree, mutateTree, toTree, type Tree } from '../msgpack-gen.js'
import type { Rng } from '../rng.js'
import { checkReplyId, outcomeOf, World, type Credential } from './kdc-world.js'

interface AdminCase extends Case {
  readonly id: number
  /** A policy.apply near the payload limit: send policy.show after it, whose reply must parse too. */
  readonly thenShow: boolean
}

/** Principals every world has; admin requests name them often, so ops find their target. */
const KNOWN_NAMES = ['payments', 'orders', 'root', 'reader', 'kadmin', 'krbtgt']

/** Point the names of a valid request at principals that exist (most of the time). */
function aimAtKnown(rng: Rng, req: AdminRequest, names: readonly string[]): AdminRequest {
  if (!rng.chance(0.6)) return req
  const pick = (): string => rng.pick(names)
  switch (req.op) {
    case 'principal.show':
    case 'keytab.export':
    case 'key.rotate':
    case 'principal.disable':
    case 'principal.enable':
    case 'principal.delete':
      return { ...req, name: pick() }
    case 'principal.list':
      return { ...req, group: rng.pick([undefined, 'admins', 'admin-readers']) }
    case 'policy.check':
      return { ...req, caller: pick(), target: pick() }
    case 'principal.add':
    case 'policy.apply':
    case 'policy.show':
    case 'status':
      return req
  }
}

/**
 * The wire form of a request, as buildAdminRequest lays it out but without its validation: the KDC
 * must refuse a reserved name itself (buildAdminRequest refuses it on the client side first).
 */
function requestWire(req: AdminRequest): WireValue {
  switch (req.op) {
    case 'principal.show':
    case 'principal.disable':
    case 'principal.enable':
    case 'principal.delete':
    case 'keytab.export':
      return [req.op, [req.name]]
    case 'key.rotate':
      return [req.op, [req.name, req.withKeys ? 1 : 0, req.keep]]
    case 'principal.add':
    case 'principal.list':
    case 'policy.apply':
    case 'policy.show':
    case 'policy.check':
    case 'status':
      return buildAdminRequest(req)
  }
}

/**
 * A policy.apply whose plaintext is exactly `size` bytes when it can be (at most 512 rules of up
 * to two 64-byte scopes, then one rule sized to fill the rest).
 */
export function policyApplyOfSize(rng: Rng, size: number): Uint8Array {
  const rules: PolicyRule[] = []
  const sizeOf = (rs: PolicyRule[]): number =>
    encodeTree(buildAdminRequest({ op: 'policy.apply', rules: rs })).length
  let current = sizeOf(rules)
  while (rules.length < 511) {
    rules.push({
      id: `r${rules.length}`,
      caller: 'payments',
      target: rng.chance(0.5) ? 'orders' : 'group:g',
      scopes: [`a${'x'.repeat(rng.range(40, 63))}`, `b${'y'.repeat(rng.range(40, 63))}`],
      maxLifetime: 0,
    })
    current += 140
    // The estimate runs ahead of the real size; measure once near the target.
    if (current >= size - 300) {
      current = sizeOf(rules)
      if (current >= size - 100) break
    }
  }
  while (rules.length > 16 && sizeOf(rules) > size - 100) rules.pop()
  // With 16+ rules the list is an array16 either way, so one more rule adds exactly its own size.
  const gap = size - sizeOf(rules)
  const filler = (idLen: number, a: number, b: number, e: number): PolicyRule => ({
    id: 'z'.repeat(idLen),
    caller: 'payments',
    target: 'orders',
    scopes: [a, b, e].flatMap((n, k) => (n === 0 ? [] : ['cde'.charAt(k).repeat(n)])),
    maxLifetime: 0,
  })
  const ruleSize = (r: PolicyRule): number => encodeTree(ruleToWire(r)).length
  for (const e of [0, 64]) {
    for (let a = 0; a <= 64; a++) {
      for (let b = 0; b <= 64; b++) {
        const slack = gap - ruleSize(filler(1, a, b, e))
        if (slack < 0 || slack > 64) continue
        for (let idLen = 1; idLen <= 64; idLen++) {
          const r = filler(idLen, a, b, e)
          if (ruleSize(r) === gap) {
            return encodeTree(buildAdminRequest({ op: 'policy.apply', rules: [...rules, r] }))
          }
        }
      }
    }
  }
  return encodeTree(buildAdminRequest({ op: 'policy.apply', rules }))
}

export const kdcAdminTarget: Target = {
  name: 'kdc-admin',
  summary:
    'kdc/server admin exchange + executeAdminOp on authenticated admin requests with mutated plaintexts and at the size limit: never ERR_KDC_INTERNAL; replies parse',
  async setup(rng) {
    let world: World
    let kadmin: Credential
    let uses = 0
    const names = [...KNOWN_NAMES]
    const fresh = async (): Promise<void> => {
      // A realm whose policy has changed a few hundred times (its version no longer fits a fixint).
      world = await World.create(rng.pick([0, 200]))
      const rootTgt = await world.login(rng, 'root')
      kadmin = await world.serviceTicket(rng, rootTgt, 'kadmin')
      uses = 0
      names.length = KNOWN_NAMES.length
    }
    await fresh()
    const donors: Tree[] = ADMIN_OPS.map((op) =>
      toTree(buildAdminRequest(validAdminRequest(rng, op))),
    )
    const subkey = (): Uint8Array => deriveKey(kadmin.sessionKey, LABELS.admin)

    /** Open and parse an ADMIN-REP as the CLI would; returns the op it answers. */
    const checkReply = (id: number, reply: Frame): string => {
      if (reply.type !== MSG.ADMIN_REP) return outcomeOf(reply)
      const value = attempt('open ADMIN-REP', () =>
        openAdminPayload(
          subkey(),
          OBJ.ADMIN_REP_ENC,
          { realm: REALM, client: kadmin.client, id },
          reply.body.payload,
        ),
      )
      if (!value.ok)
        throw new FuzzFailure(`the KDC's ADMIN-REP does not open (${value.error.code})`)
      const v = value.value
      const op = Array.isArray(v) ? (v as readonly WireValue[])[0] : undefined
      if (typeof op !== 'string' || !(ADMIN_OPS as readonly string[]).includes(op)) {
        throw new FuzzFailure('the ADMIN-REP names no known op')
      }
      const parsed = attempt('parseAdminReply', () => parseAdminReply(op as AdminOp, v))
      if (!parsed.ok) {
        throw new FuzzFailure(
          `the KDC sent a ${op} reply its own client refuses (${parsed.error.code} / ${parsed.error.status ?? ''})`,
        )
      }
      if (op === 'principal.add' && names.length < 64) {
        names.push((parsed.value as AdminResults['principal.add']).principal.name)
      }
      return `${op}:OK`
    }

    return {
      next(r): AdminCase {
        if (r.chance(0.01)) {
          const pt = policyApplyOfSize(r, MAX_ADMIN_PLAINTEXT_BYTES - r.pick([0, 0, 1, 2, 4, 5]))
          const { id, bytes } = world.adminFrame(kadmin, pt, r)
          return {
            input: bytes,
            origin: `policy.apply of ${pt.length} plaintext bytes, then policy.show`,
            id,
            thenShow: true,
          }
        }
        const op = r.pick(ADMIN_OPS)
        const base = toTree(requestWire(aimAtKnown(r, validAdminRequest(r, op), names)))
        let t = base
        const roll = r.int(100)
        if (roll >= 30) t = mutateTree(r, base, donors)
        if (roll >= 75) t = mutateTree(r, t, donors)
        let pt = encodeTree(t, r, r.chance(0.1) ? 0.1 : 0)
        // Past the sealed-payload limit the frame never parses: nothing of the admin path runs.
        if (pt.length > 50_000) pt = encodeTree(base)
        const { id, bytes } = world.adminFrame(kadmin, pt, r)
        const shown = pt.length <= 2_048 ? hexOf(pt) : `${hexOf(pt.subarray(0, 2_048))}…`
        return { input: bytes, origin: `admin plaintext ${shown}`, id, thenShow: false }
      },
      async run(cs) {
        const c = cs as AdminCase
        const bytes = c.input as Uint8Array
        try {
          const reply = await world.handle(bytes)
          checkReplyId(bytes, reply)
          const out = [checkReply(c.id, reply)]
          if (c.thenShow && reply.type === MSG.ADMIN_REP) {
            const show = world.adminFrame(
              kadmin,
              encodeTree(buildAdminRequest({ op: 'policy.show' })),
              rng,
            )
            let showReply: Frame
            try {
              showReply = await world.handle(show.bytes)
            } catch (err) {
              if (err instanceof FuzzFailure) {
                throw new FuzzFailure(
                  `policy.show after an accepted policy.apply: ${err.message}`,
                  err.detail,
                )
              }
              throw err
            }
            out.push(`then ${checkReply(show.id, showReply)}`)
          }
          return out
        } finally {
          // A store reset every few hundred requests, and after a policy at the size limit (which
          // slows every later request), done after this input so the next one is built for the
          // new realm: mutated ops disable, delete and rotate freely.
          if (++uses > 300 || c.thenShow) await fresh()
        }
      },
    }
  },
}
