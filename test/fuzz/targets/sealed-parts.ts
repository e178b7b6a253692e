/**
 * The parsers of every sealed plaintext (kdc/protocol ticket.ts, authenticator.ts, kdc-parts.ts):
 * mutated plaintexts are sealed properly and opened with the matching opener, and valid sealed parts
 * have their ciphertext mutated. Only ERR_AP_BAD_INTEGRITY may come out; what opens is the canonical
 * encoding of what the opener returns, and nothing but the original ciphertext opens.
 */
import {
  authenticatorAad,
  buildAad,
  deriveKey,
  LABELS,
  MSG,
  OBJ,
  openAdminPayload,
  openApRepPart,
  openAsRepPart,
  openAuthenticator,
  openPreauth,
  openTgsRepPart,
  openTicket,
  parseTicketPlaintext,
  sealBytes,
  ticketAad,
  buildAdminRequest,
  type WireValue,
} from '../../../kdc/protocol/index.js'
import {
  encTicketPartWire,
  randomEncTicketPart,
  REALM,
  SERVICE,
  CLIENT,
  T0,
  validAdminRequest,
  validScopes,
  validUint,
} from '../corpus.js'
import {
  attempt,
  expectSameBytes,
  FuzzFailure,
  label,
  sameBytes,
  type Case,
  type Runner,
  type Target,
} from '../harness.js'
import { encodeTree, mutateTree, toTree, type Tree } from '../msgpack-gen.js'
import { mutateBytes } from '../mutate.js'
import type { Rng } from '../rng.js'

interface PlainKind {
  readonly name: string
  /** A valid plaintext value. */
  make(rng: Rng): WireValue
  readonly aad: Uint8Array
  /** Open `sealed` (sealed under KEY with `aad`), returning the parsed value's wire form. */
  open(sealed: Uint8Array): WireValue
}

const KEY = deriveKey(new Uint8Array(32).fill(7), LABELS.ticket)
const TICKET_HEADER = { realm: REALM, service: SERVICE, kvno: 3 }
const AUTH_CONTEXT = { realm: REALM, client: CLIENT, service: SERVICE, msgType: MSG.AP_REQ }
const PREAUTH_CONTEXT = { realm: REALM, client: CLIENT, kvno: 2, lifetime: 3600 }
const ADMIN_CONTEXT = { realm: REALM, client: CLIENT, id: 77 }

const KINDS: readonly PlainKind[] = [
  {
    name: 'ticket',
    make: (rng) => encTicketPartWire(randomEncTicketPart(rng)),
    aad: ticketAad(TICKET_HEADER),
    open: (sealed) => encTicketPartWire(openTicket({ ...TICKET_HEADER, sealed }, KEY)),
  },
  {
    name: 'authenticator',
    make: (rng) => [rng.chance(0.5) ? T0 : validUint(rng), validUint(rng), rng.bytes(32)],
    aad: authenticatorAad(AUTH_CONTEXT),
    open: (sealed) => {
      const a = openAuthenticator(KEY, AUTH_CONTEXT, sealed)
      return [a.ctime, a.counter, a.requestHash]
    },
  },
  {
    name: 'preauth',
    make: (rng) => [validUint(rng), rng.bytes(16)],
    aad: buildAad(OBJ.PREAUTH, [REALM, CLIENT, 2, 3600]),
    open: (sealed) => {
      const p = openPreauth(KEY, PREAUTH_CONTEXT, sealed)
      return [p.ctime, p.nonce]
    },
  },
  {
    name: 'as-rep-part',
    make: (rng) => [rng.bytes(32), rng.bytes(16), T0, T0, T0 + 3600, validUint(rng)],
    aad: buildAad(OBJ.AS_REP_ENC, [REALM, CLIENT, 2]),
    open: (sealed) => {
      const p = openAsRepPart(KEY, { realm: REALM, client: CLIENT, kvno: 2 }, sealed)
      return [p.sessionKey, p.nonce, p.authTime, p.startTime, p.endTime, p.flags]
    },
  },
  {
    name: 'tgs-rep-part',
    make: (rng) => [
      rng.bytes(32),
      rng.bytes(16),
      T0,
      T0,
      T0 + 900,
      validScopes(rng),
      validUint(rng),
      rng.bytes(16),
      validUint(rng),
    ],
    aad: buildAad(OBJ.TGS_REP_ENC, [REALM, CLIENT, SERVICE]),
    open: (sealed) => {
      const p = openTgsRepPart(KEY, { realm: REALM, client: CLIENT, target: SERVICE }, sealed)
      return [
        p.sessionKey,
        p.nonce,
        p.authTime,
        p.startTime,
        p.endTime,
        [...p.scopes],
        p.policyVersion,
        p.ticketId,
        p.flags,
      ]
    },
  },
  {
    name: 'ap-rep-part',
    make: (rng) => [validUint(rng), validUint(rng)],
    aad: buildAad(OBJ.AP_REP_ENC, [REALM, CLIENT, SERVICE]),
    open: (sealed) => {
      const p = openApRepPart(KEY, { realm: REALM, client: CLIENT, service: SERVICE }, sealed)
      return [p.ctime, p.counter]
    },
  },
  {
    name: 'admin-payload',
    make: (rng) => buildAdminRequest(validAdminRequest(rng)),
    aad: buildAad(OBJ.ADMIN_REQ_ENC, [REALM, CLIENT, 77]),
    open: (sealed) => openAdminPayload(KEY, OBJ.ADMIN_REQ_ENC, ADMIN_CONTEXT, sealed),
  },
]

interface SealedCase extends Case {
  readonly kind: PlainKind
  /** The plaintext that was sealed (undefined for a ciphertext mutation). */
  readonly plaintext: Uint8Array | undefined
  /** For a ciphertext mutation: the untouched sealed bytes. */
  readonly original: Uint8Array | undefined
  readonly mutated: boolean
}

export const sealedPartsTarget: Target = {
  name: 'sealed-parts',
  summary:
    'ticket.ts / authenticator.ts / kdc-parts.ts openers and parseTicketPlaintext on mutated plaintexts and ciphertexts: ERR_AP_BAD_INTEGRITY only; canonical',
  setup(rng) {
    const plain = new Map<PlainKind, Tree[]>()
    for (const k of KINDS)
      plain.set(
        k,
        Array.from({ length: 30 }, () => toTree(k.make(rng))),
      )
    const donors = [...plain.values()].flat()
    const donorBytes = donors.map((t) => encodeTree(t))
    return {
      next(r): SealedCase {
        const kind = r.pick(KINDS)
        const base = r.pick(plain.get(kind) as Tree[])
        const roll = r.int(100)
        if (roll < 15) {
          // Mutate the ciphertext of a valid sealed part: nothing but the original may open.
          const original = sealBytes(KEY, kind.aad, encodeTree(base), r.bytes(24))
          const input = mutateBytes(r, original)
          return {
            input,
            origin: `ciphertext mutation (${kind.name})`,
            kind,
            plaintext: undefined,
            original,
            mutated: true,
          }
        }
        let pt: Uint8Array
        let origin: string
        if (roll < 25) {
          pt = encodeTree(base)
          origin = `valid ${kind.name}`
        } else if (roll < 60) {
          pt = mutateBytes(r, encodeTree(base), donorBytes)
          origin = `byte mutation (${kind.name})`
        } else {
          const t = mutateTree(r, base, donors)
          pt = encodeTree(t, r, r.chance(0.2) ? 0.1 : 0)
          origin = `tree mutation (${kind.name})`
        }
        const input = sealBytes(KEY, kind.aad, pt, r.bytes(24))
        return {
          input,
          origin: `${origin}; plaintext ${Buffer.from(pt).toString('hex')}`,
          kind,
          plaintext: pt,
          original: undefined,
          mutated: roll >= 25,
        }
      },
      run(cs) {
        const c = cs as SealedCase
        const sealed = c.input as Uint8Array
        const opened = attempt(`open ${c.kind.name}`, () => c.kind.open(sealed), [
          'ERR_AP_BAD_INTEGRITY',
        ])
        const out = [`${c.kind.name}:${label(opened)}`]
        if (c.original !== undefined) {
          if (opened.ok && !sameBytes(sealed, c.original)) {
            throw new FuzzFailure(`a mutated ${c.kind.name} ciphertext opened`)
          }
          return out
        }
        const pt = c.plaintext as Uint8Array
        if (!c.mutated && !opened.ok) {
          throw new FuzzFailure(
            `a valid ${c.kind.name} failed to open (${opened.error.status ?? ''})`,
          )
        }
        if (opened.ok) {
          expectSameBytes(
            `the ${c.kind.name} opener accepted a plaintext that is not the canonical encoding of what it returned`,
            encodeTree(opened.value),
            pt,
          )
        }
        if (c.kind.name === 'ticket') {
          const direct = attempt('parseTicketPlaintext', () => parseTicketPlaintext(pt), [
            'ERR_AP_BAD_INTEGRITY',
          ])
          if (direct.ok !== opened.ok) {
            throw new FuzzFailure(
              'parseTicketPlaintext and openTicket disagree on the same plaintext',
            )
          }
          out.push(`ticket-plaintext:${label(direct)}`)
        }
        return out
      },
    } satisfies Runner
  },
}
