/**
 * Authenticators and request binding (docs/protocol.md §6). An authenticator proves possession of a
 * ticket's session key for ONE request: [ctime, counter, requestHash], sealed under
 * deriveKey(sessionKey, tessera/v1/authenticator) with AAD context [realm, client, service, msgType].
 * The request hash binds it to the HTTP request (AP), the TGS request, or the admin payload.
 */
import { buildAad, OBJ } from './aead.js'
import { cryptoBackend } from './backend.js'
import { encodeTrusted, type WireValue } from './codec.js'
import { HASH_BYTES, MAX_UINT32 } from './limits.js'
import type { MessageType } from './messages.js'
import { tuple, uint, bytesExact } from './schema.js'
import { openPart, sealPart } from './sealed-part.js'

export interface Authenticator {
  readonly ctime: number
  readonly counter: number
  readonly requestHash: Uint8Array
}

export interface AuthenticatorContext {
  readonly realm: string
  readonly client: string
  readonly service: string
  /** MSG.TGS_REQ, MSG.AP_REQ or MSG.ADMIN_REQ: an authenticator made for one exchange is useless in another. */
  readonly msgType: MessageType
}

/** Authenticator plaintext is at most 5 + 5 + 34 + 1 bytes. */
const MAX_PLAINTEXT = 64

export function authenticatorAad(c: AuthenticatorContext): Uint8Array {
  return buildAad(OBJ.AUTHENTICATOR, [c.realm, c.client, c.service, c.msgType])
}

function parseAuthenticator(value: WireValue): Authenticator {
  const f = tuple(value, 3, 'authenticator')
  return {
    ctime: uint(f[0], 'ctime'),
    counter: uint(f[1], 'counter'),
    requestHash: bytesExact(f[2], HASH_BYTES, 'request_hash'),
  }
}

/** Seal an authenticator with deriveKey(sessionKey, LABELS.authenticator). */
export function sealAuthenticator(
  subkey: Uint8Array,
  context: AuthenticatorContext,
  auth: Authenticator,
  nonce?: Uint8Array,
): Uint8Array {
  return sealAuthenticatorWithAad(subkey, authenticatorAad(context), auth, nonce)
}

/**
 * {@link sealAuthenticator} with the AAD already encoded (`authenticatorAad(context)`, copied): for
 * a caller that seals every authenticator of a ticket in one context.
 */
export function sealAuthenticatorWithAad(
  subkey: Uint8Array,
  aad: Uint8Array,
  auth: Authenticator,
  nonce?: Uint8Array,
): Uint8Array {
  if (auth.counter > MAX_UINT32 || auth.requestHash.length !== HASH_BYTES) {
    throw new RangeError('authenticator counter or request hash out of range')
  }
  return sealPart(subkey, aad, [auth.ctime, auth.counter, auth.requestHash], nonce)
}

export function openAuthenticator(
  subkey: Uint8Array,
  context: AuthenticatorContext,
  sealed: Uint8Array,
): Authenticator {
  return openPart(subkey, authenticatorAad(context), sealed, MAX_PLAINTEXT, parseAuthenticator)
}

/** Domain strings of the request hashes (docs/protocol.md §6.2). */
export const REQUEST_HASH_DOMAINS = Object.freeze({
  http: 'tessera/v1/http',
  tgs: 'tessera/v1/tgs-req',
  admin: 'tessera/v1/admin-req',
} as const)

/** The canonical HTTP request the AP authenticator binds to. */
export interface HttpRequestForm {
  /** Upper-case method token, e.g. "GET". */
  readonly method: string
  /** Lower-case host[:port], without a default port (:80, :443). */
  readonly authority: string
  /** Path and query exactly as in the request target, e.g. "/orders?id=7". */
  readonly target: string
  /** SHA-256 of the body bytes (of the empty string when there is no body). */
  readonly bodyHash: Uint8Array
}

const ASCII_UPPER = /[A-Z]/g

/**
 * Normalise an authority (docs/protocol.md §6.2): ASCII letters lower-cased (only those: any other
 * implementation gets the same string whatever its Unicode tables), then a trailing ":80" or ":443"
 * removed.
 */
export function canonicalAuthority(host: string): string {
  const lower = host.replace(ASCII_UPPER, (c) => String.fromCharCode(c.charCodeAt(0) | 0x20))
  if (lower.endsWith(':80')) return lower.slice(0, -3)
  if (lower.endsWith(':443')) return lower.slice(0, -4)
  return lower
}

/** BLAKE2b-256(msgpack(["tessera/v1/http", method, authority, target, bodyHash])). */
export function httpRequestHash(form: HttpRequestForm): Uint8Array {
  return cryptoBackend().blake2b256(
    encodeTrusted([
      REQUEST_HASH_DOMAINS.http,
      form.method,
      form.authority,
      form.target,
      form.bodyHash,
    ]),
  )
}

/** BLAKE2b-256(msgpack(["tessera/v1/tgs-req", target, scopes, lifetime, nonce])). */
export function tgsRequestHash(
  target: string,
  scopes: readonly string[],
  lifetime: number,
  nonce: Uint8Array,
): Uint8Array {
  return cryptoBackend().blake2b256(
    encodeTrusted([REQUEST_HASH_DOMAINS.tgs, target, [...scopes], lifetime, nonce]),
  )
}

/** BLAKE2b-256(msgpack(["tessera/v1/admin-req", frameId, payload])). */
export function adminRequestHash(frameId: number, payload: Uint8Array): Uint8Array {
  return cryptoBackend().blake2b256(encodeTrusted([REQUEST_HASH_DOMAINS.admin, frameId, payload]))
}

/** SHA-256 of a body. */
export function bodyHash(body: Uint8Array): Uint8Array {
  return cryptoBackend().sha256(body)
}

// ---- AP-REP: mutual authentication ----------------------------------------------------------

export interface ApRepPart {
  readonly ctime: number
  readonly counter: number
}

export interface ApRepContext {
  readonly realm: string
  readonly client: string
  readonly service: string
}

function apRepAad(c: ApRepContext): Uint8Array {
  return buildAad(OBJ.AP_REP_ENC, [c.realm, c.client, c.service])
}

/** Seal the AP-REP part (echoing the authenticator's ctime and counter) with deriveKey(sessionKey, LABELS.apRep). */
export function sealApRepPart(
  subkey: Uint8Array,
  context: ApRepContext,
  part: ApRepPart,
  nonce?: Uint8Array,
): Uint8Array {
  return sealPart(subkey, apRepAad(context), [part.ctime, part.counter], nonce)
}

export function openApRepPart(
  subkey: Uint8Array,
  context: ApRepContext,
  sealed: Uint8Array,
): ApRepPart {
  return openPart(subkey, apRepAad(context), sealed, 16, (v) => {
    const f = tuple(v, 2, 'ap_rep_part')
    return { ctime: uint(f[0], 'ctime'), counter: uint(f[1], 'counter') }
  })
}
