/**
 * The AP-REQ builder (docs/protocol.md §6): for every HTTP request, a fresh authenticator sealed
 * under the service ticket's session key, carrying the corrected time, the ticket's next counter
 * (the service keeps a sliding window of seen counters, design brief §5) and the hash that binds it
 * to this request: method, authority, path and query, body hash. Sent as
 * `Authorization: Tessera <base64url(AP-REQ)>`.
 *
 * Everything that does not change per call is computed once per ticket: the authenticator subkey,
 * the AAD context, and the encoded AP-REQ prefix (version, type and ticket). The per-call path
 * seals ~45 bytes, copies them behind the prefix and base64url-encodes the result.
 */
import {
  authenticatorAad,
  BrokerError,
  bodyHash,
  canonicalAuthority,
  deriveKey,
  encodeApReq,
  fromBase64Url,
  httpRequestHash,
  LABELS,
  MAX_UINT32,
  MSG,
  openApRepPart,
  parseApRep,
  sealAuthenticatorWithAad,
  utf8Encode,
  type Label,
} from '../kdc/protocol/index.js'
import type { Credential } from './credential.js'

/**
 * The HTTP authorization scheme name.
 *
 * @example
 * ```ts
 * header.startsWith(`${AUTH_SCHEME} `)
 * ```
 */
export const AUTH_SCHEME = 'Tessera'
/**
 * The response header that carries the AP-REP for mutual authentication.
 *
 * @example
 * ```ts
 * auth.verifyApRep(response.headers.get(AP_REP_HEADER))
 * ```
 */
export const AP_REP_HEADER = 'Tessera-AP-REP'
/**
 * The request header (value "1") that asks a service for an AP-REP.
 *
 * @example
 * ```ts
 * headers.set(MUTUAL_REQUEST_HEADER, '1')
 * ```
 */
export const MUTUAL_REQUEST_HEADER = 'Tessera-Mutual'
/**
 * The response header a service's Tessera middleware puts on its own refusals, with the error
 * code: such an answer carries no AP-REP (docs/protocol.md §5.5.3).
 */
export const ERROR_HEADER = 'Tessera-Error'

/**
 * A request body the authenticator can bind: it must be fully buffered, because its SHA-256 goes
 * into the authenticator before the request is sent.
 *
 * @example
 * ```ts
 * const body: BufferedBody = JSON.stringify({ sku: 7 })
 * ```
 */
export type BufferedBody = string | Uint8Array | ArrayBuffer | ArrayBufferView | URLSearchParams

/**
 * The HTTP request an authenticator is made for.
 *
 * @example
 * ```ts
 * const input: HttpRequestInput = { method: 'PUT', url: 'https://orders.internal/o/7', body: '{}' }
 * ```
 */
export interface HttpRequestInput {
  /** HTTP method, any case (it is upper-cased, and must be sent upper-case). */
  readonly method?: string
  /** Absolute URL of the request (http, https, ws or wss). */
  readonly url: string | URL
  /** The exact body bytes that will be sent; undefined or null for none. */
  readonly body?: BufferedBody | null | undefined
}

const EMPTY_BODY_HASH = bodyHash(new Uint8Array(0))
const METHOD_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const URL_PROTOCOLS = new Set(['http:', 'https:', 'ws:', 'wss:'])

/**
 * The bytes of a buffered body, without copying where a view will do. Streams, Blobs and FormData
 * are refused with a TypeError: their bytes are not known before sending.
 *
 * @example
 * ```ts
 * bodyBytes('{"id":7}') // UTF-8 bytes
 * bodyBytes(undefined) // undefined: no body
 * ```
 */
export function bodyBytes(body: unknown): Uint8Array | undefined {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string') return utf8Encode(body)
  if (body instanceof Uint8Array) return body
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  if (body instanceof URLSearchParams) return utf8Encode(body.toString())
  throw new TypeError(
    'Tessera binds the request body into the authenticator, so the body must be buffered: pass a ' +
      'string, Uint8Array, ArrayBuffer or URLSearchParams (for a stream or Blob, read it first, ' +
      'e.g. new Uint8Array(await blob.arrayBuffer()))',
  )
}

/**
 * The canonical form of an HTTP request and its hash, exactly as the service recomputes it:
 * upper-case method, canonicalAuthority(url.host), url.pathname + url.search, SHA-256 of the body.
 *
 * @example
 * ```ts
 * const hash = requestHashOf('post', new URL('https://orders.internal/orders?id=7'), bodyBytes('{}'))
 * ```
 */
export function requestHashOf(method: string, url: URL, body: Uint8Array | undefined): Uint8Array {
  return httpRequestHash({
    method,
    authority: canonicalAuthority(url.host),
    target: url.pathname + url.search,
    bodyHash: body === undefined || body.length === 0 ? EMPTY_BODY_HASH : bodyHash(body),
  })
}

/** Validate and upper-case an HTTP method token (default GET). */
export function normaliseMethod(method: unknown): string {
  if (method === undefined) return 'GET'
  if (typeof method !== 'string' || !METHOD_PATTERN.test(method)) {
    throw new TypeError(
      `method must be an HTTP method token such as "GET", got ${typeof method === 'string' ? JSON.stringify(method) : typeof method}`,
    )
  }
  return method.toUpperCase()
}

/** Parse an absolute http(s)/ws(s) URL. */
export function requestUrl(url: unknown): URL {
  let parsed: URL
  if (url instanceof URL) parsed = url
  else if (typeof url === 'string') {
    try {
      parsed = new URL(url)
    } catch {
      throw new TypeError(`url ${JSON.stringify(url)} is not an absolute URL`)
    }
  } else {
    throw new TypeError('url must be a string or a URL')
  }
  if (!URL_PROTOCOLS.has(parsed.protocol)) {
    throw new TypeError(`url must be http(s) or ws(s), got ${parsed.protocol}`)
  }
  return parsed
}

/** One built authorization: the header value and what a mutual-auth check needs. */
export interface ApReqOutput {
  /** `Tessera <base64url(AP-REQ)>`. */
  readonly authorization: string
  readonly ctime: number
  readonly counter: number
}

/** The exchanges an authenticator can be made for (bound into its AAD). */
export type AuthenticatorMsgType = typeof MSG.AP_REQ | typeof MSG.TGS_REQ | typeof MSG.ADMIN_REQ

/**
 * Builds authenticators for one ticket: AP-REQs for HTTP calls (and the TGS-REQ or ADMIN-REQ
 * authenticators when the ticket is a TGT or a kadmin ticket). The counter starts at 1 and
 * increases by one per authenticator; the subkeys derived from the session key are computed once.
 *
 * @example
 * ```ts
 * const builder = new AuthenticatorBuilder(serviceCredential)
 * const url = new URL('https://orders.internal/orders?id=7')
 * const { authorization } = builder.apReq(kdcClock.nowSeconds(), requestHashOf('GET', url, undefined))
 * ```
 */
export class AuthenticatorBuilder {
  readonly credential: Credential
  readonly #subkey: Uint8Array
  /** The authenticator AAD per message type, encoded once. */
  readonly #aads = new Map<AuthenticatorMsgType, Uint8Array>()
  readonly #derived = new Map<Label, Uint8Array>()
  #prefix: Uint8Array | undefined
  #counter = 0
  #wiped = false

  constructor(credential: Credential) {
    this.credential = credential
    this.#subkey = deriveKey(credential.sessionKey, LABELS.authenticator)
  }

  /** True once the counter reached 2^32 - 1: the ticket must be replaced. */
  get exhausted(): boolean {
    return this.#counter >= MAX_UINT32
  }

  /** The last counter used (0 before the first authenticator). */
  get counter(): number {
    return this.#counter
  }

  /**
   * A subkey of the session key for `label`, derived once and wiped with the builder. Throws once
   * the builder is wiped: the session key is zeroed by then, and a key derived from zeros is one
   * anybody can compute.
   */
  subkey(label: Label): Uint8Array {
    this.#assertLive()
    let key = this.#derived.get(label)
    if (key === undefined) {
      key = deriveKey(this.credential.sessionKey, label)
      this.#derived.set(label, key)
    }
    return key
  }

  /** Seal the next authenticator for `msgType` bound to `requestHash`. */
  seal(
    msgType: AuthenticatorMsgType,
    ctime: number,
    requestHash: Uint8Array,
  ): { sealed: Uint8Array; counter: number } {
    this.#assertLive()
    if (this.exhausted) throw new RangeError('authenticator counter exhausted; use a fresh ticket')
    let aad = this.#aads.get(msgType)
    if (aad === undefined) {
      const c = this.credential
      // A copy: the encoder's result is a view into its shared output buffer.
      aad = authenticatorAad({
        realm: c.realm,
        client: c.client,
        service: c.service,
        msgType,
      }).slice()
      this.#aads.set(msgType, aad)
    }
    const counter = ++this.#counter
    const sealed = sealAuthenticatorWithAad(this.#subkey, aad, { ctime, counter, requestHash })
    return { sealed, counter }
  }

  /** Seal the next AP-REQ authenticator for `requestHash` and return the Authorization value. */
  apReq(ctime: number, requestHash: Uint8Array): ApReqOutput {
    const { sealed, counter } = this.seal(MSG.AP_REQ, ctime, requestHash)
    const prefix = (this.#prefix ??= apReqPrefix(this.credential))
    const n = sealed.length
    const head = n < 0x100 ? 2 : 3
    const out = new Uint8Array(prefix.length + head + n)
    out.set(prefix, 0)
    let o = prefix.length
    if (head === 2) {
      out[o++] = 0xc4
      out[o++] = n
    } else {
      out[o++] = 0xc5
      out[o++] = n >>> 8
      out[o++] = n & 0xff
    }
    out.set(sealed, o)
    // Node's native base64url (unpadded, as protocol.md §5.5 asks): a tenth of the cost of the
    // portable encoder of kdc/protocol, and a flat string rather than a rope.
    const token = Buffer.from(out.buffer, out.byteOffset, out.length).toString('base64url')
    return { authorization: `${AUTH_SCHEME} ${token}`, ctime, counter }
  }

  /**
   * Check a service's AP-REP (mutual authentication): it must open under this ticket's session key
   * and echo the ctime and counter of the authenticator it answers. Throws ERR_CLIENT_MUTUAL_FAILED.
   */
  checkApRep(headerValue: string | null | undefined, ctime: number, counter: number): void {
    checkApRepWith(this.subkey(LABELS.apRep), this.credential, headerValue, ctime, counter)
  }

  /**
   * A one-shot {@link AuthenticatorBuilder.checkApRep} for the authenticator (ctime, counter), with
   * its own copy of the AP-REP key: the answer may arrive after this ticket was replaced and its keys
   * wiped, and must still be checked under the real key. The copy is wiped after the check.
   */
  apRepCheck(ctime: number, counter: number): (headerValue: string | null | undefined) => void {
    let key: Uint8Array | undefined = this.subkey(LABELS.apRep).slice()
    const names = this.credential
    return (headerValue) => {
      if (key === undefined) {
        throw mutualFailed('USED', 'this AP-REP check was already used; each response has its own')
      }
      try {
        checkApRepWith(key, names, headerValue, ctime, counter)
      } finally {
        key.fill(0)
        key = undefined
      }
    }
  }

  /**
   * Wipe the derived subkeys (the credential's session key is wiped by its owner); the builder
   * refuses every use after this.
   */
  wipe(): void {
    this.#wiped = true
    this.#subkey.fill(0)
    for (const key of this.#derived.values()) key.fill(0)
    this.#derived.clear()
  }

  #assertLive(): void {
    if (this.#wiped) {
      throw new BrokerError('ERR_CLIENT_CLOSED', {
        status: 'TICKET_WIPED',
        message: `the ticket for ${this.credential.service} was replaced and its keys wiped; retry the call`,
      })
    }
  }
}

/** The AP-REP check of {@link AuthenticatorBuilder.checkApRep}, under `apRepKey`. */
function checkApRepWith(
  apRepKey: Uint8Array,
  c: Pick<Credential, 'realm' | 'client' | 'service'>,
  headerValue: string | null | undefined,
  ctime: number,
  counter: number,
): void {
  if (headerValue === undefined || headerValue === null || headerValue === '') {
    throw mutualFailed(
      'MISSING',
      `${c.service} sent no ${AP_REP_HEADER} header, so it did not prove it holds its key; check the service answers with mutual authentication`,
    )
  }
  const bytes = fromBase64Url(headerValue.trim().replace(/^Tessera\s+/i, ''))
  if (bytes === undefined) {
    throw mutualFailed('BASE64', `the ${AP_REP_HEADER} header from ${c.service} is not base64url`)
  }
  let part
  try {
    part = openApRepPart(
      apRepKey,
      { realm: c.realm, client: c.client, service: c.service },
      parseApRep(bytes).encPart,
    )
  } catch (err) {
    throw mutualFailed(
      'OPEN',
      `the ${AP_REP_HEADER} header does not open under the session key of the ticket for ${c.service}: the responder is not ${c.service}`,
      err,
    )
  }
  if (part.ctime !== ctime || part.counter !== counter) {
    throw mutualFailed(
      'ECHO',
      `the ${AP_REP_HEADER} header from ${c.service} answers another request (ctime or counter differ)`,
    )
  }
}

/**
 * The AP-REQ bytes up to the authenticator: [version, AP_REQ, ticket, authenticator] encoded with
 * an empty authenticator ends in bin8 of length 0 (c4 00); everything before it is the same for
 * every request made with this ticket.
 */
function apReqPrefix(credential: Credential): Uint8Array {
  const empty = encodeApReq({ ticket: credential.ticket, authenticator: new Uint8Array(0) })
  if (empty[empty.length - 2] !== 0xc4 || empty[empty.length - 1] !== 0x00) {
    throw new Error('unexpected AP-REQ encoding') // our bug: the codec changed under us
  }
  return empty.subarray(0, empty.length - 2)
}

function mutualFailed(
  status: string,
  message: string,
  cause?: unknown,
): BrokerError<'ERR_CLIENT_MUTUAL_FAILED'> {
  return new BrokerError('ERR_CLIENT_MUTUAL_FAILED', { status, message, cause })
}
