/**
 * Differential: service-sdk/ap-req-view.ts ApReqView.scan against kdc/protocol parseApReq, the
 * single source of truth. scan must accept exactly the AP-REQs parseApReq accepts whose ticket names
 * the view's realm and service, with the same kvno and offsets (the verifier's fast path relies on
 * it, and falls back to parseApReq only for what scan declines).
 */
import {
  decode,
  encode,
  encodeApReq,
  parseApReq,
  ticketToWire,
  type ErrorCode,
} from '../../../kdc/protocol/index.js'
import { ApReqView, apReqPrefix } from '../../../service-sdk/ap-req-view.js'
import {
  mintAuthenticator,
  mintTicket,
  randomEncTicketPart,
  REALM,
  SERVICE,
  T0,
  validPrincipal,
  validRealm,
  validUint,
} from '../corpus.js'
import { attempt, expectSameBytes, FuzzFailure, label, type Case, type Target } from '../harness.js'
import { encodeTree, mutateTree, toTree, type Tree } from '../msgpack-gen.js'
import { mutateBytes } from '../mutate.js'

const AP_CODES: readonly ErrorCode[] = [
  'ERR_PROTO_MALFORMED',
  'ERR_PROTO_TOO_LARGE',
  'ERR_PROTO_NON_CANONICAL',
  'ERR_PROTO_VERSION',
  'ERR_PROTO_UNEXPECTED',
]

interface Named {
  readonly realm: string
  readonly service: string
  readonly view: ApReqView
}

function named(realm: string, service: string): Named {
  return { realm, service, view: new ApReqView(apReqPrefix(realm, service)) }
}

interface ViewCase extends Case {
  readonly names: Named
}

export const apReqViewTarget: Target = {
  name: 'ap-req-view',
  summary: 'service-sdk ApReqView.scan vs kdc/protocol parseApReq (acceptance, kvno, offsets)',
  setup(rng) {
    const views = [
      named(REALM, SERVICE),
      named('R'.repeat(31), 'a'.repeat(32)),
      named(`R${'0'.repeat(62)}`, `s${'1'.repeat(62)}`),
    ]
    const corpus: { names: Named; bytes: Uint8Array }[] = []
    for (let i = 0; i < 300; i++) {
      const names = i % 5 === 4 ? named(validRealm(rng), validPrincipal(rng)) : rng.pick(views)
      const part = randomEncTicketPart(rng)
      const m = mintTicket(
        rng,
        rng.bytes(32),
        { realm: names.realm, service: names.service, kvno: validUint(rng) },
        part,
      )
      // Real authenticators are ~85 bytes (bin8); the parser allows 41..8192 (bin16 too).
      const authenticator = rng.chance(0.6)
        ? mintAuthenticator(rng, m, { ctime: T0, counter: validUint(rng) })
        : rng.bytes(rng.pick([41, 42, 255, 256, 1000, 8192, 8193]))
      const bytes = attempt('encodeApReq', () => encodeApReq({ ticket: m.ticket, authenticator }))
      if (bytes.ok) corpus.push({ names, bytes: bytes.value })
    }
    const donors = corpus.map((c) => c.bytes)
    const trees = donors.map((b) => toTree(decode(b)))
    return {
      next(r): ViewCase {
        const i = r.int(corpus.length)
        const base = corpus[i] as { names: Named; bytes: Uint8Array }
        // Mostly scan with the names the message was made for; sometimes with others.
        const names = r.chance(0.85) ? base.names : r.pick(views)
        const roll = r.int(100)
        if (roll < 10) return { input: base.bytes, origin: `corpus #${i}`, names }
        if (roll < 65)
          return {
            input: mutateBytes(r, base.bytes, donors),
            origin: `byte mutation of #${i}`,
            names,
          }
        const t = mutateTree(r, trees[i] as Tree, trees)
        return {
          input: encodeTree(t, r, r.chance(0.2) ? 0.1 : 0),
          origin: `tree mutation of #${i}`,
          names,
        }
      },
      run(cs) {
        const c = cs as ViewCase
        const bytes = c.input as Uint8Array
        const v = c.names.view
        let accepted: boolean
        try {
          accepted = v.scan(bytes)
        } catch (err) {
          throw new FuzzFailure(`ApReqView.scan threw: ${String(err)}`)
        }
        const core = attempt('parseApReq', () => parseApReq(bytes), AP_CODES)
        const ours =
          core.ok &&
          core.value.ticket.realm === c.names.realm &&
          core.value.ticket.service === c.names.service
        if (accepted) {
          if (!core.ok) {
            throw new FuzzFailure(
              `ApReqView.scan accepts an AP-REQ that parseApReq refuses (${core.error.code} / ${core.error.status ?? ''})`,
            )
          }
          const t = core.value.ticket
          if (!ours)
            throw new FuzzFailure('ApReqView.scan accepts an AP-REQ for another realm/service')
          if (v.kvno !== t.kvno)
            throw new FuzzFailure(`scan kvno ${v.kvno} ≠ parseApReq kvno ${t.kvno}`)
          expectSameBytes(
            'scan sealed-ticket offsets differ from parseApReq',
            bytes.subarray(v.sealedStart, v.ticketEnd),
            t.sealed,
          )
          expectSameBytes(
            'scan authenticator offset differs from parseApReq',
            bytes.subarray(v.authStart),
            core.value.authenticator,
          )
          expectSameBytes(
            'scan ticket span differs from the ticket encoding',
            bytes.subarray(v.ticketStart, v.ticketEnd),
            encode(ticketToWire(t)),
          )
          return 'scan:OK'
        }
        if (ours) {
          throw new FuzzFailure(
            'ApReqView.scan refuses a well-formed AP-REQ for its own realm and service',
          )
        }
        return `scan:no/core:${label(core)}`
      },
    }
  },
}
