/**
 * Valid inputs made with the real encoders and seal functions of kdc/protocol, the starting points
 * of every mutation. Keys, names and nonces come from the target's seeded stream, so a run's corpus
 * is reproducible from its seed.
 */
import {
  ADMIN_OPS,
  bodyHash,
  buildAdminReply,
  buildAdminRequest,
  deriveKey,
  encodeApRep,
  encodeApReq,
  encodeFrame,
  encodeKeytab,
  httpRequestHash,
  LABELS,
  MAX_PRINCIPAL_BYTES,
  MAX_REALM_BYTES,
  MAX_SCOPE_BYTES,
  MSG,
  OBJ,
  sealAdminPayload,
  sealApRepPart,
  sealAsRepPart,
  sealAuthenticator,
  sealPreauth,
  sealTgsRepPart,
  sealTicket,
  type AdminOp,
  type AdminRequest,
  type AdminResults,
  type EncTicketPart,
  type Frame,
  type Keytab,
  type PolicyRule,
  type PrincipalInfo,
  type Ticket,
  type WireValue,
} from '../../kdc/protocol/index.js'
import type { Rng } from './rng.js'

export const REALM = 'TESSERA.LOCAL'
export const SERVICE = 'orders'
export const CLIENT = 'payments'
/** The fake "now" of every target: 2027-01-15. */
export const T0 = 1_800_000_000

const LOWER = 'abcdefghijklmnopqrstuvwxyz'
const NAME_REST = LOWER + '0123456789._-'
const REALM_REST = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-'
const SCOPE_FIRST = LOWER + 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
const SCOPE_REST = SCOPE_FIRST + ':._/*-'

function text(rng: Rng, first: string, rest: string, length: number): string {
  let s = first[rng.int(first.length)] as string
  for (let i = 1; i < length; i++) s += rest[rng.int(rest.length)] as string
  return s
}

/** A length for a name of at most `max` bytes: short mostly, sometimes 31/32 (header change) or max. */
function nameLength(rng: Rng, max: number): number {
  return rng.chance(0.8) ? rng.range(1, 12) : rng.pick([1, 31, 32, max - 1, max])
}

export function validPrincipal(rng: Rng): string {
  return text(rng, LOWER, NAME_REST, nameLength(rng, MAX_PRINCIPAL_BYTES))
}
export function validRealm(rng: Rng): string {
  return text(rng, REALM_REST.slice(0, 36), REALM_REST, nameLength(rng, MAX_REALM_BYTES))
}
export function validScope(rng: Rng): string {
  return text(rng, SCOPE_FIRST, SCOPE_REST, nameLength(rng, MAX_SCOPE_BYTES))
}
/** A sorted, distinct scope list of up to `max` scopes (more than 15 sometimes: array16). */
export function validScopes(rng: Rng, max = 32): string[] {
  const n = rng.chance(0.85) ? rng.int(6) : rng.range(0, max)
  const set = new Set<string>()
  for (let i = 0; i < n; i++) set.add(validScope(rng))
  return [...set].sort()
}

/** A uint32 that is sometimes at a msgpack width boundary. */
export function validUint(rng: Rng): number {
  return rng.chance(0.5)
    ? rng.pick([0, 1, 127, 128, 255, 256, 65535, 65536, 0xffff_ffff])
    : rng.int(rng.pick([128, 256, 65536, 0x1_0000_0000]))
}

export function randomEncTicketPart(rng: Rng, o: Partial<EncTicketPart> = {}): EncTicketPart {
  return {
    flags: rng.chance(0.7) ? rng.int(2) : validUint(rng),
    sessionKey: rng.bytes(32),
    client: validPrincipal(rng),
    authTime: T0 - rng.int(4000),
    startTime: T0 - rng.int(200),
    endTime: T0 + rng.range(60, 86_400),
    scopes: validScopes(rng),
    policyVersion: validUint(rng),
    ticketId: rng.bytes(16),
    kdcCheck: rng.chance(0.8) ? new Uint8Array(0) : rng.bytes(rng.range(0, 64)),
    ...o,
  }
}

/** The wire form of an EncTicketPart (kdc/protocol/ticket.ts keeps its toWire private). */
export function encTicketPartWire(p: EncTicketPart): WireValue[] {
  return [
    p.flags,
    p.sessionKey,
    p.client,
    p.authTime,
    p.startTime,
    p.endTime,
    [...p.scopes],
    p.policyVersion,
    p.ticketId,
    p.kdcCheck,
  ]
}

/** A ticket sealed as the KDC seals it, with its session key. */
export interface Minted {
  readonly ticket: Ticket
  readonly part: EncTicketPart
}

export function mintTicket(
  rng: Rng,
  serviceKey: Uint8Array,
  header: { realm: string; service: string; kvno: number },
  part: EncTicketPart = randomEncTicketPart(rng),
): Minted {
  const ticket = sealTicket(deriveKey(serviceKey, LABELS.ticket), header, part, rng.bytes(24))
  return { ticket, part }
}

export const REQUEST = { method: 'GET', url: '/orders?id=7', host: 'orders.internal' } as const
/** The request hash of {@link REQUEST} (no body). */
export const REQUEST_HASH = httpRequestHash({
  method: REQUEST.method,
  authority: REQUEST.host,
  target: REQUEST.url,
  bodyHash: bodyHash(new Uint8Array(0)),
})

/** An authenticator for `m`'s session key. */
export function mintAuthenticator(
  rng: Rng,
  m: Minted,
  o: { ctime: number; counter: number; requestHash?: Uint8Array; msgType?: number },
): Uint8Array {
  return sealAuthenticator(
    deriveKey(m.part.sessionKey, LABELS.authenticator),
    {
      realm: m.ticket.realm,
      client: m.part.client,
      service: m.ticket.service,
      msgType: (o.msgType ?? MSG.AP_REQ) as typeof MSG.AP_REQ,
    },
    { ctime: o.ctime, counter: o.counter, requestHash: o.requestHash ?? rng.bytes(32) },
    rng.bytes(24),
  )
}

// ---- admin payloads ----------------------------------------------------------------------------

function validGroups(rng: Rng): string[] {
  const set = new Set<string>()
  const n = rng.chance(0.8) ? rng.int(3) : rng.int(33)
  for (let i = 0; i < n; i++) set.add(validPrincipal(rng))
  return [...set].sort()
}

function validSelector(rng: Rng): string {
  return rng.chance(0.3) ? `group:${validPrincipal(rng).slice(0, 57)}` : validPrincipal(rng)
}

export function validRule(rng: Rng, id: string): PolicyRule {
  return {
    id,
    caller: validSelector(rng),
    target: validSelector(rng),
    scopes: validScopes(rng),
    maxLifetime: rng.pick([0, 60, 900, 86_400]),
  }
}

function validRules(rng: Rng): PolicyRule[] {
  const n = rng.chance(0.9) ? rng.int(4) : rng.int(40)
  return Array.from({ length: n }, (_, i) => validRule(rng, `r${i}-${rng.int(1000)}`))
}

/** A valid admin request of a random op. */
export function validAdminRequest(rng: Rng, op: AdminOp = rng.pick(ADMIN_OPS)): AdminRequest {
  const name = rng.chance(0.2) ? 'kadmin' : validPrincipal(rng)
  const writable = validPrincipal(rng)
  const w = writable === 'krbtgt' || writable === 'kadmin' ? 'orders' : writable
  switch (op) {
    case 'principal.add':
      return { op, name: w, groups: validGroups(rng) }
    case 'principal.list':
      return {
        op,
        group: rng.chance(0.5) ? undefined : validPrincipal(rng),
        after: rng.chance(0.5) ? '' : validPrincipal(rng),
        limit: rng.range(1, 256),
      }
    case 'principal.show':
    case 'keytab.export':
      return { op, name }
    case 'principal.disable':
    case 'principal.enable':
    case 'principal.delete':
      return { op, name: w }
    case 'key.rotate':
      return { op, name, withKeys: rng.chance(0.5), keep: rng.int(17) }
    case 'policy.apply':
      return { op, rules: validRules(rng) }
    case 'policy.show':
    case 'status':
      return { op }
    case 'policy.check':
      return {
        op,
        caller: validPrincipal(rng),
        target: validPrincipal(rng),
        scopes: validScopes(rng),
      }
  }
}

function hex32(rng: Rng): string {
  return Buffer.from(rng.bytes(16)).toString('hex')
}

function validInfo(rng: Rng): PrincipalInfo {
  const kvnos = [...new Set(Array.from({ length: rng.range(0, 4) }, () => validUint(rng)))].sort(
    (a, b) => a - b,
  )
  return {
    name: validPrincipal(rng),
    id: hex32(rng),
    enabled: rng.chance(0.5),
    groups: validGroups(rng),
    kvnos,
    createdAt: T0 - rng.int(1000),
    updatedAt: T0,
  }
}

export function validKeytab(rng: Rng, names?: { realm: string; principal: string }): Keytab {
  const n = rng.chance(0.8) ? rng.range(1, 3) : rng.range(1, 16)
  const kvnos = new Set<number>()
  while (kvnos.size < n) kvnos.add(rng.chance(0.7) ? rng.range(1, 20) : validUint(rng))
  return {
    realm: names?.realm ?? validRealm(rng),
    principal: names?.principal ?? validPrincipal(rng),
    keys: [...kvnos]
      .sort((a, b) => a - b)
      .map((kvno) => ({ kvno, key: rng.bytes(32), createdAt: validUint(rng) })),
  }
}

/** A valid admin reply plaintext for `op`. */
export function validAdminReply(rng: Rng, op: AdminOp): WireValue {
  const results: { [O in AdminOp]: () => AdminResults[O] } = {
    'principal.add': () => ({ principal: validInfo(rng), keytab: validKeytab(rng) }),
    'principal.list': () => ({
      principals: Array.from({ length: rng.int(4) }, () => validInfo(rng)),
      next: rng.chance(0.5) ? '' : validPrincipal(rng),
    }),
    'principal.show': () => validInfo(rng),
    'principal.disable': () => validInfo(rng),
    'principal.enable': () => validInfo(rng),
    'principal.delete': () => ({ name: validPrincipal(rng) }),
    'keytab.export': () => validKeytab(rng),
    'key.rotate': () => ({
      principal: validInfo(rng),
      keytab: rng.chance(0.5) ? undefined : validKeytab(rng),
    }),
    'policy.apply': () => ({ version: validUint(rng) }),
    'policy.show': () => ({ version: validUint(rng), rules: validRules(rng) }),
    'policy.check': () => {
      const allowed = rng.chance(0.5)
      return {
        allowed,
        ruleIds: Array.from({ length: rng.int(3) }, (_, i) => `r${i}`),
        grantedScopes: validScopes(rng),
        policyVersion: validUint(rng),
        maxLifetime: rng.pick([0, 60, 86_400]),
        reason: allowed ? '' : rng.pick(['NO_RULE', 'SCOPE_NOT_GRANTED'] as const),
      }
    },
    status: () => ({
      realm: validRealm(rng),
      version: '0.1.0',
      role: 'writer',
      principals: validUint(rng),
      policyVersion: validUint(rng),
      uptimeSeconds: validUint(rng),
      node: 'kdc-1',
    }),
  }
  const make = results[op] as () => AdminResults[AdminOp]
  return buildAdminReply(op, make())
}

// ---- frames and AP messages ----------------------------------------------------------------------

/** One valid frame of each type, with random content. */
export function validFrames(rng: Rng): Uint8Array[] {
  const key = rng.bytes(32)
  const realm = rng.chance(0.7) ? REALM : validRealm(rng)
  const client = validPrincipal(rng)
  const id = validUint(rng)
  const lifetime = rng.pick([0, 60, 3600, 86_400])
  const nonce = rng.bytes(16)
  const m = mintTicket(rng, key, {
    realm,
    service: rng.chance(0.5) ? 'krbtgt' : validPrincipal(rng),
    kvno: validUint(rng),
  })
  const sealed = (n: number): Uint8Array => rng.bytes(n)
  const frames: Frame[] = [
    {
      type: MSG.AS_REQ,
      id,
      body: {
        realm,
        client,
        kvno: validUint(rng),
        nonce,
        lifetime,
        preauth: sealPreauth(
          key,
          { realm, client, kvno: 1, lifetime },
          { ctime: T0, nonce },
          rng.bytes(24),
        ),
      },
    },
    {
      type: MSG.AS_REP,
      id,
      body: {
        kdcTime: T0,
        tgt: m.ticket,
        kvno: validUint(rng),
        encPart: sealAsRepPart(
          key,
          { realm, client, kvno: 1 },
          {
            sessionKey: rng.bytes(32),
            nonce,
            authTime: T0,
            startTime: T0,
            endTime: T0 + 3600,
            flags: 1,
          },
          rng.bytes(24),
        ),
      },
    },
    {
      type: MSG.TGS_REQ,
      id,
      body: {
        tgt: m.ticket,
        authenticator: mintAuthenticator(rng, m, { ctime: T0, counter: 1, msgType: MSG.TGS_REQ }),
        target: validPrincipal(rng),
        scopes: validScopes(rng),
        lifetime,
        nonce,
      },
    },
    {
      type: MSG.TGS_REP,
      id,
      body: {
        kdcTime: T0,
        target: validPrincipal(rng),
        ticket: m.ticket,
        encPart: sealTgsRepPart(
          key,
          { realm, client, target: 'orders' },
          {
            sessionKey: rng.bytes(32),
            nonce,
            authTime: T0,
            startTime: T0,
            endTime: T0 + 900,
            scopes: validScopes(rng),
            policyVersion: validUint(rng),
            ticketId: rng.bytes(16),
            flags: 0,
          },
          rng.bytes(24),
        ),
      },
    },
    {
      type: MSG.ERROR,
      id,
      body: { kdcTime: T0, wire: rng.pick([100, 101, 202, 300, 500, 0xffff]) },
    },
    {
      type: MSG.ADMIN_REQ,
      id,
      body: {
        ticket: m.ticket,
        authenticator: mintAuthenticator(rng, m, { ctime: T0, counter: 2, msgType: MSG.ADMIN_REQ }),
        payload: sealAdminPayload(
          key,
          OBJ.ADMIN_REQ_ENC,
          { realm, client, id },
          buildAdminRequest(validAdminRequest(rng)),
          rng.bytes(24),
        ),
      },
    },
    { type: MSG.ADMIN_REP, id, body: { kdcTime: T0, payload: sealed(rng.range(41, 300)) } },
    { type: MSG.REPL_REQ, id, body: { node: 'kdc-a', payload: sealed(rng.range(41, 300)) } },
    { type: MSG.REPL_REP, id, body: { node: 'Kdc_2.b', payload: sealed(41) } },
  ]
  return frames.map(encodeFrame)
}

/** Valid AP-REQs and AP-REPs with random names and sizes. */
export function validApMessages(rng: Rng): Uint8Array[] {
  const key = rng.bytes(32)
  const realm = rng.chance(0.5) ? REALM : validRealm(rng)
  const service = rng.chance(0.5) ? SERVICE : validPrincipal(rng)
  const m = mintTicket(rng, key, { realm, service, kvno: validUint(rng) })
  const apReq = encodeApReq({
    ticket: m.ticket,
    authenticator: mintAuthenticator(rng, m, { ctime: T0, counter: validUint(rng) }),
  })
  const apRep = encodeApRep({
    encPart: sealApRepPart(
      key,
      { realm, client: CLIENT, service },
      { ctime: T0, counter: validUint(rng) },
      rng.bytes(24),
    ),
  })
  return [apReq, apRep]
}

export function validKeytabBytes(rng: Rng): Uint8Array {
  return encodeKeytab(validKeytab(rng))
}
