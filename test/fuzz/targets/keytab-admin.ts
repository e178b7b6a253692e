/**
 * Keytabs and admin payloads: kdc/protocol/keys.ts parseKeytab (what service-sdk/keytab.ts and
 * client/keytab.ts load, then KeyRing.fromKeytab and the TicketVerifier constructor), and
 * kdc/protocol/admin-ops.ts / policy-rules.ts parseAdminRequest, parseAdminReply, parsePolicy.
 * BrokerError or success only; what parses rebuilds to the same bytes.
 */
import {
  ADMIN_OPS,
  buildAdminReply,
  buildAdminRequest,
  decode,
  encode,
  encodeKeytab,
  parseAdminReply,
  parseAdminRequest,
  parseKeytab,
  parsePolicy,
  policyToWire,
  type AdminOp,
  type WireValue,
} from '../../../kdc/protocol/index.js'
import { KeyRing } from '../../../service-sdk/keytab.js'
import { TicketVerifier } from '../../../service-sdk/verifier.js'
import {
  REALM,
  SERVICE,
  T0,
  validAdminReply,
  validAdminRequest,
  validKeytab,
  validRule,
} from '../corpus.js'
import {
  attempt,
  describeError,
  expectSameBytes,
  FuzzFailure,
  label,
  type Case,
  type Target,
} from '../harness.js'
import { encodeTree, mutateTree, toTree, type Tree } from '../msgpack-gen.js'
import { mutateBytes } from '../mutate.js'
import { CODEC_CODES } from './codec.js'

export const keytabTarget: Target = {
  name: 'keytab',
  summary:
    'kdc/protocol parseKeytab (+ service-sdk KeyRing.fromKeytab, TicketVerifier constructor): ERR_CLIENT_KEYTAB or success; canonical',
  setup(rng) {
    const keytabs = Array.from({ length: 60 }, (_, i) =>
      encodeKeytab(
        validKeytab(rng, i % 3 === 0 ? { realm: REALM, principal: SERVICE } : undefined),
      ),
    )
    const trees = keytabs.map((b) => toTree(decode(b)))
    let verifiers = 0
    return {
      next(r) {
        const i = r.int(keytabs.length)
        const roll = r.int(100)
        if (roll < 10) return { input: keytabs[i] as Uint8Array, origin: `valid keytab #${i}` }
        if (roll < 55)
          return {
            input: mutateBytes(r, keytabs[i] as Uint8Array, keytabs),
            origin: `byte mutation of #${i}`,
          }
        const t = mutateTree(r, trees[i] as Tree, trees)
        return {
          input: encodeTree(t, r, r.chance(0.2) ? 0.1 : 0),
          origin: `tree mutation of #${i}`,
        }
      },
      run(c) {
        const bytes = c.input as Uint8Array
        const parsed = attempt('parseKeytab', () => parseKeytab(bytes), ['ERR_CLIENT_KEYTAB'])
        if (!parsed.ok) return `keytab:${label(parsed)}/${parsed.error.status ?? ''}`
        const k = parsed.value
        let again: Uint8Array
        try {
          again = encodeKeytab(k)
        } catch (err) {
          throw new FuzzFailure(
            'parseKeytab accepted a keytab that encodeKeytab refuses',
            describeError(err),
          )
        }
        expectSameBytes('parseKeytab accepted a keytab that re-encodes differently', again, bytes)
        try {
          KeyRing.fromKeytab(k)
          // A verifier allocates a heap: build one now and then, not for every valid keytab.
          if (verifiers++ % 64 === 0)
            new TicketVerifier(k, { clock: { nowSeconds: () => T0 } }).close()
        } catch (err) {
          throw new FuzzFailure(
            'a keytab parseKeytab accepts breaks KeyRing/TicketVerifier',
            describeError(err),
          )
        }
        return 'keytab:OK'
      },
    }
  },
}

interface AdminCase extends Case {
  readonly kind: 'request' | 'reply' | 'policy'
  readonly op: AdminOp
}

export const adminOpsTarget: Target = {
  name: 'admin-ops',
  summary:
    'kdc/protocol admin-ops.ts parseAdminRequest / parseAdminReply (every op) and policy-rules.ts parsePolicy: BrokerError or success; rebuilds to the same bytes',
  setup(rng) {
    const requests = new Map<AdminOp, Tree[]>()
    const replies = new Map<AdminOp, Tree[]>()
    for (const op of ADMIN_OPS) {
      requests.set(
        op,
        Array.from({ length: 8 }, () => toTree(buildAdminRequest(validAdminRequest(rng, op)))),
      )
      replies.set(
        op,
        Array.from({ length: 8 }, () => toTree(validAdminReply(rng, op))),
      )
    }
    const policies = Array.from({ length: 20 }, () =>
      toTree(
        policyToWire({
          version: rng.int(1000),
          rules: Array.from({ length: rng.int(6) }, (_, i) => validRule(rng, `rule-${i}`)),
        }),
      ),
    )
    const donors = [...[...requests.values()].flat(), ...[...replies.values()].flat(), ...policies]
    return {
      next(r): AdminCase {
        const op = r.pick(ADMIN_OPS)
        const roll = r.int(10)
        const kind = roll < 4 ? 'request' : roll < 8 ? 'reply' : 'policy'
        const pool =
          kind === 'request'
            ? (requests.get(op) as Tree[])
            : kind === 'reply'
              ? (replies.get(op) as Tree[])
              : policies
        const base = r.pick(pool)
        let t = base
        if (r.chance(0.9)) t = mutateTree(r, t, donors)
        if (r.chance(0.3)) t = mutateTree(r, t, donors)
        return { input: encodeTree(t), origin: `${kind} ${kind === 'policy' ? '' : op}`, kind, op }
      },
      run(cs) {
        const c = cs as AdminCase
        const bytes = c.input as Uint8Array
        const decoded = attempt('decode', () => decode(bytes), CODEC_CODES)
        if (!decoded.ok) return `decode:${decoded.error.code}`
        const v: WireValue = decoded.value
        const codes = ['ERR_PROTO_MALFORMED', 'ERR_ADMIN_INVALID'] as const
        if (c.kind === 'request') {
          const req = attempt('parseAdminRequest', () => parseAdminRequest(v), codes)
          if (req.ok) {
            let rebuilt: WireValue
            try {
              rebuilt = buildAdminRequest(req.value)
            } catch (err) {
              throw new FuzzFailure(
                'buildAdminRequest refuses what parseAdminRequest accepted',
                describeError(err),
              )
            }
            expectSameBytes(
              'an accepted admin request rebuilds differently',
              encode(rebuilt),
              bytes,
            )
          }
          return `request:${label(req)}`
        }
        if (c.kind === 'reply') {
          const rep = attempt(`parseAdminReply(${c.op})`, () => parseAdminReply(c.op, v), codes)
          if (rep.ok) {
            let rebuilt: WireValue
            try {
              rebuilt = buildAdminReply(c.op, rep.value)
            } catch (err) {
              throw new FuzzFailure(
                `buildAdminReply(${c.op}) refuses what parseAdminReply accepted`,
                describeError(err),
              )
            }
            expectSameBytes(
              `an accepted ${c.op} reply rebuilds differently`,
              encode(rebuilt),
              bytes,
            )
          }
          return `reply:${label(rep)}`
        }
        const p = attempt('parsePolicy', () => parsePolicy(v), ['ERR_PROTO_MALFORMED'])
        if (p.ok)
          expectSameBytes(
            'an accepted policy rebuilds differently',
            encode(policyToWire(p.value)),
            bytes,
          )
        return `policy:${label(p)}`
      },
    }
  },
}
