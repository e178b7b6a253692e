/**
 * kdc/server/dispatch.ts Dispatcher.handle, the function that turns one WebSocket binary message into
 * a reply (connection.ts hands it every message), on mutated AS-REQ, TGS-REQ and ADMIN-REQ frames,
 * every other frame type, and random bodies. It never rejects: a handler that throws anything but a
 * BrokerError becomes ERR_KDC_INTERNAL, which is what this target hunts for. Oracle: the reply is a
 * frame parseFrame accepts, addressed to the request's id (or replyIdFor's), never ERR_KDC_INTERNAL,
 * and whatever it issues, its recipient can open (kdc-world.ts checkIssued).
 */
import {
  buildAdminRequest,
  decode,
  encodeFrame,
  MSG,
  type AdminOp,
  type Frame,
} from '../../../kdc/protocol/index.js'
import { T0, validAdminRequest, validScopes } from '../corpus.js'
import type { Case, Target } from '../harness.js'
import { encodeTree, mutateTree, randomTree, toTree, type Tree } from '../msgpack-gen.js'
import { mutateBytes } from '../mutate.js'
import type { Rng } from '../rng.js'
import { checkIssued, checkReplyId, outcomeOf, World } from './kdc-world.js'

export const kdcFramesTarget: Target = {
  name: 'kdc-frames',
  summary:
    'kdc/server Dispatcher.handle (dispatch.ts; AS, TGS, admin handlers) on mutated frames: a well-formed reply, never ERR_KDC_INTERNAL',
  async setup(rng) {
    const world = await World.create()
    const tgt = await world.login(rng, 'payments')
    const rootTgt = await world.login(rng, 'root')
    const kadmin = await world.serviceTicket(rng, rootTgt, 'kadmin')
    const corpus: Uint8Array[] = []
    const fresh = (r: Rng): Uint8Array => {
      switch (r.int(5)) {
        case 0:
          return world.asReqFrame(
            r,
            r.pick(['payments', 'orders', 'root']),
            r.pick([0, 60, 3600, 86_400]),
          )
        case 1:
          // [] asks for everything the matching rules grant.
          return world.tgsReqFrame(
            r,
            tgt,
            'orders',
            r.pick([[], ['read'], ['orders:s03', 'read'], ['shop:s19']]),
          )
        case 2:
          return world.tgsReqFrame(
            r,
            rootTgt,
            r.pick(['kadmin', 'orders', 'krbtgt', 'nobody']),
            validScopes(r, 3),
          )
        default: {
          const op: AdminOp = r.pick([
            'status',
            'policy.show',
            'principal.list',
            'principal.show',
            'policy.check',
          ])
          const req = buildAdminRequest(validAdminRequest(r, op))
          return world.adminFrame(kadmin, encodeTree(req), r).bytes
        }
      }
    }
    for (let i = 0; i < 60; i++) corpus.push(fresh(rng))
    // The other frame types, from the protocol corpus (replies, ERROR, replication).
    const others: Frame[] = [
      { type: MSG.ERROR, id: 9, body: { kdcTime: T0, wire: 100 } },
      { type: MSG.ADMIN_REP, id: 10, body: { kdcTime: T0, payload: rng.bytes(60) } },
      { type: MSG.REPL_REQ, id: 11, body: { node: 'kdc-b', payload: rng.bytes(60) } },
    ]
    corpus.push(...others.map(encodeFrame))
    const trees = corpus.map((b) => toTree(decode(b)))
    return {
      next(r) {
        const roll = r.int(100)
        if (roll < 8) {
          const b = fresh(r)
          corpus[r.int(corpus.length)] = b
          return { input: b, origin: 'fresh valid frame' }
        }
        const i = r.int(corpus.length)
        if (roll < 12) return { input: corpus[i] as Uint8Array, origin: `corpus #${i} (replayed)` }
        if (roll < 60)
          return {
            input: mutateBytes(r, corpus[i] as Uint8Array, corpus),
            origin: `byte mutation of #${i}`,
          }
        if (roll < 95) {
          const t = mutateTree(r, (trees[i] ?? trees[0]) as Tree, trees)
          return {
            input: encodeTree(t, r, r.chance(0.1) ? 0.1 : 0),
            origin: `tree mutation of #${i}`,
          }
        }
        return {
          input: encodeTree([1, r.range(0, 12), r.u32(), randomTree(r)]),
          origin: 'random body',
        }
      },
      async run(c: Case) {
        const bytes = c.input as Uint8Array
        const reply = await world.handle(bytes)
        checkReplyId(bytes, reply)
        checkIssued(world, bytes, reply)
        return outcomeOf(reply)
      },
    }
  },
}
