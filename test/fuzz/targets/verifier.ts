/**
 * The service verifier end to end (service-sdk/verifier.ts): `new TicketVerifier(keytab, { clock })`
 * fed Authorization headers derived from valid ones. Oracle:
 *
 * - a valid header whose AP-REQ was never accepted is accepted, with the ticket's identity;
 * - anything else (a mutation, a replay) throws a BrokerError with a catalogue code, never a
 *   TypeError/RangeError, and is never accepted. "The same request" is judged on the decoded AP-REQ
 *   bytes: "TESSERA  <token>" is the same request as "Tessera <token>", and a splice that rebuilds
 *   another pool entry exactly is that entry.
 */
import {
  deriveKey,
  encodeApReq,
  LABELS,
  parseApReq,
  sealTicket,
  ticketToWire,
  type ErrorCode,
  type Keytab,
} from '../../../kdc/protocol/index.js'
import { MAX_AUTHORIZATION_CHARS } from '../../../service-sdk/authorization-header.js'
import { TicketVerifier } from '../../../service-sdk/verifier.js'
import {
  mintAuthenticator,
  randomEncTicketPart,
  REALM,
  REQUEST,
  REQUEST_HASH,
  SERVICE,
  T0,
  validScopes,
  type Minted,
} from '../corpus.js'
import { attempt, FuzzFailure, hexOf, label, type Case, type Target } from '../harness.js'
import { encodeTree, mutateTree, toTree, type Tree } from '../msgpack-gen.js'
import { mutateBytes } from '../mutate.js'
import type { Rng } from '../rng.js'
import { mutateHeader, refDecode, refTokenStart } from './authorization-header.js'

/** The codes TicketVerifier.verify documents, plus the protocol codes parseApReq may raise. */
const VERIFY_CODES: readonly ErrorCode[] = [
  'ERR_AP_NO_CREDENTIALS',
  'ERR_PROTO_MALFORMED',
  'ERR_PROTO_TOO_LARGE',
  'ERR_PROTO_NON_CANONICAL',
  'ERR_PROTO_VERSION',
  'ERR_PROTO_UNEXPECTED',
  'ERR_AP_NOT_US',
  'ERR_AP_BAD_KVNO',
  'ERR_AP_BAD_INTEGRITY',
  'ERR_AP_TKT_EXPIRED',
  'ERR_AP_TKT_NOT_YET_VALID',
  'ERR_AP_SKEW',
  'ERR_AP_REQUEST_MISMATCH',
  'ERR_AP_REPLAY',
]

const KVNOS = [1, 2, 300, 70_000]

interface PoolEntry {
  readonly header: string
  readonly apReq: Uint8Array
  readonly minted: Minted
  readonly ctime: number
  used: boolean
}

const SKEW_S = 300

interface VerifyCase extends Case {
  readonly mode: 'verify' | 'precheck' | 'mutual'
}

function toHeader(apReq: Uint8Array): string {
  return `Tessera ${Buffer.from(apReq.buffer, apReq.byteOffset, apReq.length).toString('base64url')}`
}

/** The AP-REQ bytes the verifier would decode from `h`, by the reference decoder (hex), or ''. */
function decodedKey(h: string): string {
  const start = refTokenStart(h)
  if (start < 0) return ''
  const b = refDecode(h.slice(start))
  return b === undefined ? '' : b.toString('hex')
}

/** Whether an unused pool entry is valid at `now` (ticket times, authenticator skew, replay guard). */
function validAt(e: PoolEntry, now: number, guard: number): boolean {
  const p = e.minted.part
  return (
    now + SKEW_S >= p.startTime &&
    now - SKEW_S <= p.endTime &&
    e.ctime <= now + SKEW_S &&
    e.ctime >= now - SKEW_S &&
    e.ctime >= guard
  )
}

/**
 * The verifier target, with a ticket cache of `maxCachedTickets` entries. With a tiny cache, a
 * fifth of the tickets share the first nonce bytes (the cache key) with another, so entries collide,
 * take turns and are evicted constantly.
 */
function verifierTargetWith(name: string, maxCachedTickets: number | undefined): Target {
  return {
    name,
    summary:
      maxCachedTickets === undefined
        ? 'service-sdk TicketVerifier.verify/precheck/verifyMutual on mutated Authorization headers, moving clock: accept exactly the unused AP-REQs valid now; BrokerError otherwise'
        : `the same with a ${maxCachedTickets}-entry ticket cache and colliding cache keys (eviction, take-turns, re-open)`,
    setup(rng) {
      const keytab: Keytab = {
        realm: REALM,
        principal: SERVICE,
        keys: KVNOS.map((kvno) => ({ kvno, key: rng.bytes(32), createdAt: T0 - 86_400 })),
      }
      const keys = new Map(keytab.keys.map((k) => [k.kvno, k.key.slice()]))
      let now = T0
      const verifier = new TicketVerifier(keytab, {
        clock: { nowSeconds: () => now },
        maxReplayWindows: 1_000_000,
        ...(maxCachedTickets === undefined ? {} : { maxCachedTickets }),
      })
      const guard = T0
      let lastPrefix = rng.bytes(4)
      const pool = new Map<string, PoolEntry>()
      let unused: PoolEntry[] = []
      let all: PoolEntry[] = []
      /** Nothing that can be accepted again is forgotten: a used or expired entry never can. */
      const prune = (): void => {
        const dead = (e: PoolEntry): boolean =>
          e.used || now - SKEW_S > e.minted.part.endTime || e.ctime < now - SKEW_S
        const recent = new Set(all.slice(-2_000))
        all = all.filter((e) => recent.has(e) || !dead(e))
        unused = unused.filter((e) => !dead(e))
        const kept = new Set(all)
        for (const [k, e] of pool) if (!kept.has(e)) pool.delete(k)
      }

      const mint = (r: Rng, tickets: number): void => {
        for (let t = 0; t < tickets; t++) {
          const kvno = r.pick(KVNOS)
          // Mostly valid now; some not yet valid, expired, or at the edges of the skew.
          const part = randomEncTicketPart(r, {
            startTime: now + (r.chance(0.9) ? -r.int(400) : r.range(-10, 700)),
            endTime: now + (r.chance(0.9) ? r.range(1, 86_400) : r.range(-700, 10)),
            scopes: validScopes(r, 32),
          })
          const nonce = r.bytes(24)
          if (maxCachedTickets !== undefined && r.chance(0.2)) nonce.set(lastPrefix)
          lastPrefix = nonce.subarray(0, 4).slice()
          const minted = {
            ticket: sealTicket(
              deriveKey(keys.get(kvno) as Uint8Array, LABELS.ticket),
              { realm: REALM, service: SERVICE, kvno },
              part,
              nonce,
            ),
            part,
          }
          const counters = new Set<number>()
          const n = r.range(1, 4)
          while (counters.size < n) counters.add(r.range(0, 1000))
          for (const counter of counters) {
            const ctime = now + (r.chance(0.9) ? r.range(-250, 250) : r.range(-320, 320))
            const authenticator = mintAuthenticator(r, minted, {
              ctime,
              counter,
              requestHash: REQUEST_HASH,
            })
            const apReq = encodeApReq({ ticket: minted.ticket, authenticator })
            const entry: PoolEntry = { header: toHeader(apReq), apReq, minted, ctime, used: false }
            pool.set(hexOf(apReq), entry)
            unused.push(entry)
            all.push(entry)
          }
        }
      }
      mint(rng, 300)
      const recentHeaders = (): string[] => all.slice(-64).map((e) => e.header)

      return {
        next(r): VerifyCase {
          // The clock moves now and then: tickets expire, authenticators leave the skew window.
          if (r.chance(0.002)) {
            now += r.range(1, 120)
            // Entries minted long ago are now mostly invalid: keep the pool fresh.
            if (r.chance(0.2)) mint(r, 50)
          }
          if (unused.length < 200) mint(r, 100)
          if (all.length > 20_000) prune()
          const roll = r.int(100)
          if (roll < 8) {
            // An unused valid header (swap-remove keeps this O(1)).
            const i = r.int(unused.length)
            const e = unused[i] as PoolEntry
            unused[i] = unused[unused.length - 1] as PoolEntry
            unused.pop()
            return {
              input: e.header,
              origin: 'valid header',
              mode: r.chance(0.3) ? 'mutual' : 'verify',
            }
          }
          const mode = r.chance(0.15) ? 'precheck' : 'verify'
          // Mostly a recent entry: old ones have left the skew window.
          const base = r.chance(0.8)
            ? (all[all.length - 1 - r.int(Math.min(all.length, 500))] as PoolEntry)
            : r.pick(all)
          if (roll < 10) return { input: base.header, origin: 'valid header again', mode }
          if (roll < 45) {
            const donors = [r.pick(all).apReq, r.pick(all).apReq]
            return {
              input: toHeader(mutateBytes(r, base.apReq, donors)),
              origin: 'AP-REQ byte mutation',
              mode,
            }
          }
          if (roll < 60) {
            const tree = decodeTree(base.apReq)
            const donor = decodeTree(r.pick(all).apReq)
            const t = mutateTree(r, tree, [donor])
            return {
              input: toHeader(encodeTree(t, r, r.chance(0.2) ? 0.1 : 0)),
              origin: 'AP-REQ tree mutation',
              mode,
            }
          }
          if (roll < 80) {
            let h = base.header
            for (let k = r.small(3); k > 0; k--) h = mutateHeader(r, h, recentHeaders())
            return { input: h, origin: 'header mutation', mode }
          }
          if (roll < 92) {
            // Splice: the ticket of one AP-REQ with the authenticator of another (of the same ticket
            // sometimes, which is a pool entry exactly when that pairing was minted).
            const other = r.chance(0.5)
              ? r.pick(all.filter((e) => e.minted === base.minted).slice(0, 8))
              : r.pick(all)
            const a = parseApReq(base.apReq)
            const b = parseApReq(other.apReq)
            const apReq = encodeApReq({ ticket: a.ticket, authenticator: b.authenticator })
            return { input: toHeader(apReq), origin: 'ticket/authenticator splice', mode }
          }
          // Huge lengths: at and past the header cap, and length prefixes that claim too much.
          switch (r.int(3)) {
            case 0: {
              const h =
                base.header +
                'A'.repeat(
                  Math.max(
                    0,
                    MAX_AUTHORIZATION_CHARS - base.header.length + r.pick([-1, 0, 1, 2, 4]),
                  ),
                )
              return { input: h, origin: 'header at the size cap', mode }
            }
            case 1:
              return {
                input: 'Tessera ' + base.header.slice(8).repeat(r.range(2, 80)),
                origin: 'repeated token',
                mode,
              }
            default: {
              const b = base.apReq.slice()
              const at = r.int(b.length - 2)
              b[at] = r.pick([0xc5, 0xc6, 0xdb, 0xdd])
              b[at + 1] = 0xff
              b[at + 2] = 0xff
              return { input: toHeader(b), origin: 'length prefix claiming 64 KiB+', mode }
            }
          }
        },
        run(cs) {
          const c = cs as VerifyCase
          const h = c.input as string
          const key = decodedKey(h)
          const entry = key === '' ? undefined : pool.get(key)
          const fn =
            c.mode === 'precheck'
              ? () => verifier.precheck(h)
              : c.mode === 'mutual'
                ? () => verifier.verifyMutual(h, REQUEST).identity
                : () => verifier.verify(h, REQUEST)
          const result = attempt(`TicketVerifier.${c.mode}`, fn, VERIFY_CODES)
          const legit = entry !== undefined && !entry.used && validAt(entry, now, guard)
          if (result.ok) {
            if (entry === undefined) {
              throw new FuzzFailure(
                `${c.mode} accepted a header that is not a minted AP-REQ still valid (a mutation, or an old replay)`,
              )
            }
            if (entry.used)
              throw new FuzzFailure(`${c.mode} accepted an AP-REQ already accepted once (replay)`)
            if (!legit) {
              const p = entry.minted.part
              throw new FuzzFailure(
                `${c.mode} accepted an AP-REQ that is not valid now (now ${now}, start ${p.startTime}, end ${p.endTime}, ctime ${entry.ctime}, skew ${SKEW_S})`,
              )
            }
            const id = result.value
            const p = entry.minted.part
            if (
              id.caller !== p.client ||
              id.realm !== REALM ||
              id.expiresAt !== p.endTime ||
              id.policyVersion !== p.policyVersion ||
              id.ticketId !== hexOf(p.ticketId) ||
              id.scopes.join(' ') !== p.scopes.join(' ')
            ) {
              throw new FuzzFailure(
                `${c.mode} returned an identity that is not the ticket's: ${JSON.stringify(id)}`,
              )
            }
            if (c.mode !== 'precheck') entry.used = true
            return `${c.mode}:OK`
          }
          if (legit && !(c.mode === 'precheck' && result.error.code === 'ERR_AP_REPLAY')) {
            throw new FuzzFailure(
              `${c.mode} refused a valid, unused AP-REQ with ${result.error.code} / ${result.error.status ?? ''}`,
            )
          }
          return `${c.mode}:${label(result)}`
        },
      }
    },
  }
}

export const verifierTarget = verifierTargetWith('verifier', undefined)
export const verifierTinyCacheTarget = verifierTargetWith('verifier-tiny-cache', 3)

function decodeTree(apReq: Uint8Array): Tree {
  const r = parseApReq(apReq)
  return [1, 5, toTree(ticketToWire(r.ticket)), r.authenticator.slice()]
}
