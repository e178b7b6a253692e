/**
 * Frames and messages (docs/protocol.md §5). A KDC frame is the msgpack array
 * [version, type, id, body]; each body is a fixed-arity positional array. AP-REQ and AP-REP travel
 * in HTTP headers as [version, type, ...fields] without an id. One parse/build pair per message.
 */
import { decode, encode, type WireValue } from './codec.js'
import { BrokerError } from './errors.js'
import {
  MAX_ADMIN_SEALED_BYTES,
  MAX_SEALED_BYTES,
  MAX_UINT32,
  PROTOCOL_VERSION,
  REQUEST_NONCE_BYTES,
} from './limits.js'
import { bad, bytesExact, bytesMax, principal, realm, scopes, tuple, uint } from './schema.js'

/** Message types: frame type numbers, also bound into authenticator AAD. */
export const MSG = Object.freeze({
  AS_REQ: 1,
  AS_REP: 2,
  TGS_REQ: 3,
  TGS_REP: 4,
  AP_REQ: 5,
  AP_REP: 6,
  ERROR: 7,
  ADMIN_REQ: 8,
  ADMIN_REP: 9,
  REPL_REQ: 10,
  REPL_REP: 11,
} as const)

export type MessageType = (typeof MSG)[keyof typeof MSG]

/** A ticket on the wire: the clear header that selects the key, and the sealed EncTicketPart. */
export interface Ticket {
  readonly realm: string
  readonly service: string
  readonly kvno: number
  readonly sealed: Uint8Array
}

export interface AsReq {
  readonly realm: string
  readonly client: string
  /** kvno of the client key that sealed the pre-auth. */
  readonly kvno: number
  readonly nonce: Uint8Array
  /** Requested TGT lifetime in seconds; 0 asks for the default. */
  readonly lifetime: number
  readonly preauth: Uint8Array
}

export interface AsRep {
  readonly kdcTime: number
  readonly tgt: Ticket
  /** kvno of the client key that sealed encPart (the same as in the request). */
  readonly kvno: number
  readonly encPart: Uint8Array
}

export interface TgsReq {
  readonly tgt: Ticket
  readonly authenticator: Uint8Array
  readonly target: string
  /** Requested scopes, sorted and distinct; empty asks for everything policy grants. */
  readonly scopes: readonly string[]
  readonly lifetime: number
  readonly nonce: Uint8Array
}

export interface TgsRep {
  readonly kdcTime: number
  readonly target: string
  readonly ticket: Ticket
  readonly encPart: Uint8Array
}

export interface ErrorRep {
  readonly kdcTime: number
  /** Wire number from the catalogue (codes.ts). */
  readonly wire: number
}

export interface ApReq {
  readonly ticket: Ticket
  readonly authenticator: Uint8Array
}

export interface ApRep {
  readonly encPart: Uint8Array
}

export interface AdminReq {
  readonly ticket: Ticket
  readonly authenticator: Uint8Array
  readonly payload: Uint8Array
}

export interface AdminRep {
  readonly kdcTime: number
  readonly payload: Uint8Array
}

/**
 * KDC node names (docs/protocol.md §5.7, `node: str(1..63)`): [A-Za-z0-9] [A-Za-z0-9._-]{0,62},
 * ASCII, so 1..63 characters are 1..63 bytes. The KDC configuration applies the same grammar.
 */
export const NODE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/

export function isNodeName(value: unknown): value is string {
  return typeof value === 'string' && NODE_NAME_PATTERN.test(value)
}

function nodeName(value: WireValue | undefined): string {
  if (!isNodeName(value)) throw bad('node')
  return value
}

/** Replication between the two KDC nodes: the sender's node id and a payload sealed with the replication key. */
export interface ReplMsg {
  readonly node: string
  readonly payload: Uint8Array
}

export interface BodyByType {
  [MSG.AS_REQ]: AsReq
  [MSG.AS_REP]: AsRep
  [MSG.TGS_REQ]: TgsReq
  [MSG.TGS_REP]: TgsRep
  [MSG.ERROR]: ErrorRep
  [MSG.ADMIN_REQ]: AdminReq
  [MSG.ADMIN_REP]: AdminRep
  [MSG.REPL_REQ]: ReplMsg
  [MSG.REPL_REP]: ReplMsg
}

export type FrameType = keyof BodyByType

export type Frame = {
  [T in FrameType]: { readonly type: T; readonly id: number; readonly body: BodyByType[T] }
}[FrameType]

// ---- ticket -------------------------------------------------------------------------------

export function ticketToWire(t: Ticket): WireValue[] {
  return [t.realm, t.service, t.kvno, t.sealed]
}

export function parseTicket(value: WireValue | undefined): Ticket {
  if (value === undefined) throw bad('ticket')
  const f = tuple(value, 4, 'ticket')
  return {
    realm: realm(f[0]),
    service: principal(f[1], 'ticket_service'),
    kvno: uint(f[2], 'ticket_kvno'),
    sealed: bytesMax(f[3], MAX_SEALED_BYTES, 'ticket_sealed', 41),
  }
}

// ---- bodies ---------------------------------------------------------------------------------

function bodyToWire(frame: Frame): WireValue[] {
  switch (frame.type) {
    case MSG.AS_REQ: {
      const b = frame.body
      return [b.realm, b.client, b.kvno, b.nonce, b.lifetime, b.preauth]
    }
    case MSG.AS_REP: {
      const b = frame.body
      return [b.kdcTime, ticketToWire(b.tgt), b.kvno, b.encPart]
    }
    case MSG.TGS_REQ: {
      const b = frame.body
      return [ticketToWire(b.tgt), b.authenticator, b.target, [...b.scopes], b.lifetime, b.nonce]
    }
    case MSG.TGS_REP: {
      const b = frame.body
      return [b.kdcTime, b.target, ticketToWire(b.ticket), b.encPart]
    }
    case MSG.ERROR:
      return [frame.body.kdcTime, frame.body.wire]
    case MSG.ADMIN_REQ: {
      const b = frame.body
      return [ticketToWire(b.ticket), b.authenticator, b.payload]
    }
    case MSG.ADMIN_REP:
      return [frame.body.kdcTime, frame.body.payload]
    case MSG.REPL_REQ:
    case MSG.REPL_REP:
      return [frame.body.node, frame.body.payload]
  }
}

function parseBody(type: number, value: WireValue): BodyByType[FrameType] {
  switch (type) {
    case MSG.AS_REQ: {
      const f = tuple(value, 6, 'as_req')
      return {
        realm: realm(f[0]),
        client: principal(f[1], 'client'),
        kvno: uint(f[2], 'kvno'),
        nonce: bytesExact(f[3], REQUEST_NONCE_BYTES, 'nonce'),
        lifetime: uint(f[4], 'lifetime'),
        preauth: bytesMax(f[5], MAX_SEALED_BYTES, 'preauth', 41),
      } satisfies AsReq
    }
    case MSG.AS_REP: {
      const f = tuple(value, 4, 'as_rep')
      return {
        kdcTime: uint(f[0], 'kdc_time'),
        tgt: parseTicket(f[1]),
        kvno: uint(f[2], 'kvno'),
        encPart: bytesMax(f[3], MAX_SEALED_BYTES, 'enc_part', 41),
      } satisfies AsRep
    }
    case MSG.TGS_REQ: {
      const f = tuple(value, 6, 'tgs_req')
      return {
        tgt: parseTicket(f[0]),
        authenticator: bytesMax(f[1], MAX_SEALED_BYTES, 'authenticator', 41),
        target: principal(f[2], 'target'),
        scopes: scopes(f[3], 'scopes'),
        lifetime: uint(f[4], 'lifetime'),
        nonce: bytesExact(f[5], REQUEST_NONCE_BYTES, 'nonce'),
      } satisfies TgsReq
    }
    case MSG.TGS_REP: {
      const f = tuple(value, 4, 'tgs_rep')
      return {
        kdcTime: uint(f[0], 'kdc_time'),
        target: principal(f[1], 'target'),
        ticket: parseTicket(f[2]),
        encPart: bytesMax(f[3], MAX_SEALED_BYTES, 'enc_part', 41),
      } satisfies TgsRep
    }
    case MSG.ERROR: {
      const f = tuple(value, 2, 'error')
      return {
        kdcTime: uint(f[0], 'kdc_time'),
        wire: uint(f[1], 'error_code', 0xffff),
      } satisfies ErrorRep
    }
    case MSG.ADMIN_REQ: {
      const f = tuple(value, 3, 'admin_req')
      return {
        ticket: parseTicket(f[0]),
        authenticator: bytesMax(f[1], MAX_SEALED_BYTES, 'authenticator', 41),
        payload: bytesMax(f[2], MAX_ADMIN_SEALED_BYTES, 'payload', 41),
      } satisfies AdminReq
    }
    case MSG.ADMIN_REP: {
      const f = tuple(value, 2, 'admin_rep')
      return {
        kdcTime: uint(f[0], 'kdc_time'),
        payload: bytesMax(f[1], MAX_ADMIN_SEALED_BYTES, 'payload', 41),
      } satisfies AdminRep
    }
    case MSG.REPL_REQ:
    case MSG.REPL_REP: {
      const f = tuple(value, 2, 'repl')
      return {
        node: nodeName(f[0]),
        payload: bytesMax(f[1], MAX_ADMIN_SEALED_BYTES, 'payload', 41),
      } satisfies ReplMsg
    }
    default:
      throw new BrokerError('ERR_PROTO_MALFORMED', { status: 'UNKNOWN_TYPE' })
  }
}

/** Build the bytes of a frame [version, type, id, body]. */
export function encodeFrame(frame: Frame): Uint8Array {
  if (!Number.isInteger(frame.id) || frame.id < 0 || frame.id > MAX_UINT32) {
    throw new RangeError('frame ids are uint32')
  }
  return encode([PROTOCOL_VERSION, frame.type, frame.id, bodyToWire(frame)])
}

/**
 * The version, type and id of a frame whose body failed to parse, so the receiver can still answer
 * the request id with an ERROR frame. Returns undefined when even those are unreadable.
 */
export interface FrameHead {
  readonly version: number
  readonly type: number
  readonly id: number
}

/** Parse a frame: codec limits, then [version, type, id, body] with the body's exact schema. */
/**
 * A message whose first item is a version other than ours is ERR_PROTO_VERSION whatever its shape,
 * so a future version may change the layout and still be told apart from garbage.
 */
function checkVersion(value: WireValue): void {
  if (Array.isArray(value) && value.length > 0) {
    const version: unknown = value[0]
    if (typeof version === 'number' && version !== PROTOCOL_VERSION) {
      throw new BrokerError('ERR_PROTO_VERSION', { status: 'VERSION' })
    }
  }
}

export function parseFrame(bytes: Uint8Array): Frame {
  const value = decode(bytes)
  checkVersion(value)
  const f = tuple(value, 4, 'frame')
  uint(f[0], 'version')
  const type = uint(f[1], 'type')
  const id = uint(f[2], 'id')
  const body = parseBody(type, f[3] as WireValue)
  return { type, id, body } as Frame
}

/** Best-effort read of the head of a frame, for addressing an ERROR reply; never throws. */
export function peekFrameHead(bytes: Uint8Array): FrameHead | undefined {
  try {
    const value = decode(bytes)
    if (!Array.isArray(value) || value.length < 3) return undefined
    const [version, type, id] = value as WireValue[]
    if (typeof version !== 'number' || typeof type !== 'number' || typeof id !== 'number')
      return undefined
    return { version, type, id }
  } catch {
    return undefined
  }
}

// ---- AP-REQ / AP-REP (HTTP headers) ---------------------------------------------------------

/** AP-REQ bytes: [version, AP_REQ, ticket, authenticator]. */
export function encodeApReq(req: ApReq): Uint8Array {
  return encode([PROTOCOL_VERSION, MSG.AP_REQ, ticketToWire(req.ticket), req.authenticator])
}

export function parseApReq(bytes: Uint8Array): ApReq {
  const value = decode(bytes)
  checkVersion(value)
  const f = tuple(value, 4, 'ap_req')
  uint(f[0], 'version')
  if (f[1] !== MSG.AP_REQ) throw new BrokerError('ERR_PROTO_UNEXPECTED', { status: 'NOT_AP_REQ' })
  return {
    ticket: parseTicket(f[2]),
    authenticator: bytesMax(f[3], MAX_SEALED_BYTES, 'authenticator', 41),
  }
}

/** AP-REP bytes: [version, AP_REP, encPart]. */
export function encodeApRep(rep: ApRep): Uint8Array {
  return encode([PROTOCOL_VERSION, MSG.AP_REP, rep.encPart])
}

export function parseApRep(bytes: Uint8Array): ApRep {
  const value = decode(bytes)
  checkVersion(value)
  const f = tuple(value, 3, 'ap_rep')
  uint(f[0], 'version')
  if (f[1] !== MSG.AP_REP) throw new BrokerError('ERR_PROTO_UNEXPECTED', { status: 'NOT_AP_REP' })
  return { encPart: bytesMax(f[2], MAX_SEALED_BYTES, 'enc_part', 41) }
}
