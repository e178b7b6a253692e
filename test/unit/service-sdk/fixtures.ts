/**
 * Real tickets and authenticators for the service SDK tests, minted with kdc/protocol's own seal
 * functions (no mocks): the verifier must open what the KDC and the client SDK would produce.
 */
import {
  bodyHash,
  canonicalAuthority,
  deriveKey,
  encodeApReq,
  generateKey,
  httpRequestHash,
  LABELS,
  MSG,
  sealAuthenticator,
  sealTicket,
  toBase64Url,
  type Clock,
  type Keytab,
  type Ticket,
} from '../../../kdc/protocol/index.js'

export const REALM = 'TESSERA.LOCAL'
export const SERVICE = 'orders'
export const CLIENT = 'payments'
export const T0 = 1_800_000_000

/** A clock the test moves by hand. */
export class FakeClock implements Clock {
  now: number
  constructor(now = T0) {
    this.now = now
  }
  nowSeconds(): number {
    return this.now
  }
}

/** A keytab with one fresh key per kvno. */
export function makeKeytab(kvnos: number[], names = { realm: REALM, principal: SERVICE }): Keytab {
  return {
    realm: names.realm,
    principal: names.principal,
    keys: kvnos.map((kvno) => ({ kvno, key: generateKey(), createdAt: T0 - 1000 })),
  }
}

/** The key of `kvno` in a keytab. */
export function keyOf(keytab: Keytab, kvno: number): Uint8Array {
  const k = keytab.keys.find((e) => e.kvno === kvno)
  if (k === undefined) throw new Error(`no kvno ${kvno}`)
  return k.key
}

export interface MintOptions {
  serviceKey: Uint8Array
  kvno: number
  realm?: string
  service?: string
  client?: string
  startTime?: number
  endTime?: number
  scopes?: string[]
  policyVersion?: number
  ticketId?: Uint8Array
}

export interface Minted {
  ticket: Ticket
  sessionKey: Uint8Array
  client: string
  realm: string
  service: string
}

let idCounter = 0

/** A service ticket sealed as the KDC seals it. */
export function mintTicket(o: MintOptions): Minted {
  const sessionKey = generateKey()
  const realm = o.realm ?? REALM
  const service = o.service ?? SERVICE
  const client = o.client ?? CLIENT
  const ticketId = o.ticketId ?? new Uint8Array(16)
  if (o.ticketId === undefined) {
    new DataView(ticketId.buffer).setUint32(0, ++idCounter)
    ticketId.set(generateKey().subarray(0, 12), 4)
  }
  const ticket = sealTicket(
    deriveKey(o.serviceKey, LABELS.ticket),
    { realm, service, kvno: o.kvno },
    {
      flags: 0,
      sessionKey,
      client,
      authTime: o.startTime ?? T0 - 10,
      startTime: o.startTime ?? T0 - 10,
      endTime: o.endTime ?? T0 + 900,
      scopes: o.scopes ?? ['orders:read', 'orders:write'],
      policyVersion: o.policyVersion ?? 7,
      ticketId,
      kdcCheck: new Uint8Array(0),
    },
  )
  return { ticket, sessionKey, client, realm, service }
}

export interface RequestSpec {
  method?: string
  url?: string
  host?: string
  body?: Uint8Array | string
}

export interface AuthOptions extends RequestSpec {
  ctime?: number
  counter?: number
  /** Seal the authenticator for this client name instead of the ticket's. */
  asClient?: string
}

/** The AP-REQ bytes for one request, as the client SDK builds them. */
export function apReqBytes(m: Minted, o: AuthOptions = {}): Uint8Array {
  const body =
    o.body === undefined
      ? new Uint8Array(0)
      : typeof o.body === 'string'
        ? new TextEncoder().encode(o.body)
        : o.body
  const requestHash = httpRequestHash({
    method: (o.method ?? 'GET').toUpperCase(),
    authority: canonicalAuthority(o.host ?? 'orders.internal'),
    target: o.url ?? '/orders?id=7',
    bodyHash: bodyHash(body),
  })
  const authenticator = sealAuthenticator(
    deriveKey(m.sessionKey, LABELS.authenticator),
    { realm: m.realm, client: o.asClient ?? m.client, service: m.service, msgType: MSG.AP_REQ },
    { ctime: o.ctime ?? T0, counter: o.counter ?? 1, requestHash },
  )
  return encodeApReq({ ticket: m.ticket, authenticator })
}

/** The Authorization header value for one request. */
export function authHeader(m: Minted, o: AuthOptions = {}): string {
  return `Tessera ${toBase64Url(apReqBytes(m, o))}`
}

/** The VerifyRequest matching the defaults of authHeader. */
export function request(o: RequestSpec = {}): {
  method: string
  url: string
  host: string
  body?: Uint8Array | string
} {
  const r = {
    method: o.method ?? 'GET',
    url: o.url ?? '/orders?id=7',
    host: o.host ?? 'orders.internal',
  }
  return o.body === undefined ? r : { ...r, body: o.body }
}
