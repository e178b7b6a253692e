/**
 * Differential: service-sdk/plaintext-reader.ts TicketPartView / AuthenticatorView against
 * kdc/protocol parseTicketPlaintext / openAuthenticator. When a view accepts, the core accepts with
 * the same fields; when the core refuses, the view refuses. The ticket view may decline valid parts
 * with 16+ scopes (the verifier falls back to the core); the authenticator view has no fallback, so
 * it must accept every valid authenticator.
 */
import {
  authenticatorAad,
  MSG,
  openAuthenticator,
  parseTicketPlaintext,
  sealBytes,
} from '../../../kdc/protocol/index.js'
import { AuthenticatorView, TicketPartView } from '../../../service-sdk/plaintext-reader.js'
import {
  CLIENT,
  encTicketPartWire,
  randomEncTicketPart,
  REALM,
  SERVICE,
  T0,
  validPrincipal,
  validUint,
} from '../corpus.js'
import { attempt, FuzzFailure, sameBytes, type Case, type Target } from '../harness.js'
import { encodeTree, mutateTree, toTree, type Tree } from '../msgpack-gen.js'
import { mutateBytes } from '../mutate.js'

const AUTH_KEY = new Uint8Array(32).fill(9)
const AUTH_CONTEXT = { realm: REALM, client: CLIENT, service: SERVICE, msgType: MSG.AP_REQ }
const AUTH_AAD = authenticatorAad(AUTH_CONTEXT)

interface ReaderCase extends Case {
  readonly kind: 'ticket' | 'authenticator'
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

export const plaintextReadersTarget: Target = {
  name: 'plaintext-readers',
  summary:
    'service-sdk TicketPartView / AuthenticatorView vs parseTicketPlaintext / openAuthenticator (same fields; never accept what the core refuses)',
  setup(rng) {
    const tickets = Array.from({ length: 200 }, () =>
      toTree(encTicketPartWire(randomEncTicketPart(rng))),
    )
    // A few callers many times over, as a service sees them: exercises the interning tables.
    const clients = Array.from({ length: 5 }, () => validPrincipal(rng))
    for (let i = 0; i < 100; i++) {
      tickets.push(
        toTree(encTicketPartWire(randomEncTicketPart(rng, { client: rng.pick(clients) }))),
      )
    }
    const auths = Array.from({ length: 100 }, () =>
      toTree([rng.chance(0.5) ? T0 : validUint(rng), validUint(rng), rng.bytes(32)]),
    )
    const ticketBytes = tickets.map((t) => encodeTree(t))
    const authBytes = auths.map((t) => encodeTree(t))
    const ticketView = new TicketPartView()
    const authView = new AuthenticatorView()
    return {
      next(r): ReaderCase {
        const kind = r.chance(0.7) ? 'ticket' : 'authenticator'
        const trees = kind === 'ticket' ? tickets : auths
        const bytes = kind === 'ticket' ? ticketBytes : authBytes
        const i = r.int(trees.length)
        const roll = r.int(100)
        if (roll < 10) return { input: bytes[i] as Uint8Array, origin: `valid ${kind} #${i}`, kind }
        if (roll < 55)
          return {
            input: mutateBytes(r, bytes[i] as Uint8Array, bytes),
            origin: `byte mutation of ${kind} #${i}`,
            kind,
          }
        const t = mutateTree(r, trees[i] as Tree, trees)
        return {
          input: encodeTree(t, r, r.chance(0.2) ? 0.1 : 0),
          origin: `tree mutation of ${kind} #${i}`,
          kind,
        }
      },
      run(cs) {
        const c = cs as ReaderCase
        const pt = c.input as Uint8Array
        if (c.kind === 'ticket') {
          let fast: boolean
          try {
            fast = ticketView.parse(pt)
          } catch (err) {
            throw new FuzzFailure(`TicketPartView.parse threw: ${String(err)}`)
          }
          const core = attempt('parseTicketPlaintext', () => parseTicketPlaintext(pt), [
            'ERR_AP_BAD_INTEGRITY',
          ])
          if (fast) {
            if (!core.ok) {
              throw new FuzzFailure(
                `TicketPartView accepts a plaintext parseTicketPlaintext refuses (${core.error.status ?? ''} ${(core.error.cause as { status?: string } | undefined)?.status ?? ''})`,
              )
            }
            const p = core.value
            const v = ticketView
            const diffs: string[] = []
            if (v.flags !== p.flags) diffs.push('flags')
            if (!sameBytes(pt.subarray(v.keyStart, v.keyStart + 32), p.sessionKey))
              diffs.push('sessionKey')
            if (v.client !== p.client)
              diffs.push(`client ${JSON.stringify(v.client)} vs ${JSON.stringify(p.client)}`)
            if (v.authTime !== p.authTime) diffs.push('authTime')
            if (v.startTime !== p.startTime) diffs.push('startTime')
            if (v.endTime !== p.endTime) diffs.push('endTime')
            if (!sameList(v.scopes, p.scopes))
              diffs.push(`scopes ${JSON.stringify(v.scopes)} vs ${JSON.stringify(p.scopes)}`)
            if (v.policyVersion !== p.policyVersion) diffs.push('policyVersion')
            if (!sameBytes(pt.subarray(v.ticketIdStart, v.ticketIdStart + 16), p.ticketId))
              diffs.push('ticketId')
            if (diffs.length > 0)
              throw new FuzzFailure(
                `TicketPartView and parseTicketPlaintext disagree: ${diffs.join('; ')}`,
              )
            return 'ticket:both'
          }
          if (core.ok && core.value.scopes.length < 16) {
            throw new FuzzFailure(
              'TicketPartView declines a valid EncTicketPart with fewer than 16 scopes',
            )
          }
          return core.ok ? 'ticket:core-only(16+ scopes)' : 'ticket:neither'
        }
        let fast: boolean
        try {
          fast = authView.parse(pt)
        } catch (err) {
          throw new FuzzFailure(`AuthenticatorView.parse threw: ${String(err)}`)
        }
        const sealed = sealBytes(AUTH_KEY, AUTH_AAD, pt, new Uint8Array(24))
        const core = attempt(
          'openAuthenticator',
          () => openAuthenticator(AUTH_KEY, AUTH_CONTEXT, sealed),
          ['ERR_AP_BAD_INTEGRITY'],
        )
        if (fast) {
          if (!core.ok)
            throw new FuzzFailure('AuthenticatorView accepts a plaintext openAuthenticator refuses')
          const a = core.value
          if (
            authView.ctime !== a.ctime ||
            authView.counter !== a.counter ||
            !sameBytes(pt.subarray(authView.hashStart, authView.hashStart + 32), a.requestHash)
          ) {
            throw new FuzzFailure('AuthenticatorView and openAuthenticator disagree on a field')
          }
          return 'authenticator:both'
        }
        if (core.ok) {
          throw new FuzzFailure(
            'AuthenticatorView declines a valid authenticator (the verifier then refuses it: no fallback)',
          )
        }
        return 'authenticator:neither'
      },
    }
  },
}
