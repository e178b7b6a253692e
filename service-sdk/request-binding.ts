/**
 * Request binding (docs/protocol.md §6.2): the authenticator carries
 * SHA-256(msgpack(["tessera/v1/http", METHOD, authority, target, SHA-256(body)])), and the verifier
 * recomputes it from the request it actually received.
 *
 * `RequestHasher` produces exactly the bytes of kdc/protocol's httpRequestHash (a unit test holds
 * the two together) but encodes into a reused buffer instead of building an array for msgpackr,
 * since it runs on every request. `BodyHasher` hashes a body as it streams in, with a size cap.
 */
import { createHash, type Hash } from 'node:crypto'
import {
  BrokerError,
  bodyHash,
  canonicalAuthority,
  cryptoBackend,
  HASH_BYTES,
  REQUEST_HASH_DOMAINS,
} from '../kdc/protocol/index.js'

const encoder = new TextEncoder()

/** SHA-256 of the empty body. */
export const EMPTY_BODY_HASH: Uint8Array = bodyHash(new Uint8Array(0))

/** Builds the canonical request form in a reused buffer and hashes it. Not re-entrant. */
export class RequestHasher {
  #buf = new Uint8Array(512)
  #pos = 0

  /** The request hash of (method, host, url, bodyHash); see {@link canonicalTarget}. */
  hash(method: string, authority: string, target: string, body: Uint8Array): Uint8Array {
    const need =
      16 + 5 + 3 * (method.length + authority.length + target.length) + 2 + HASH_BYTES + 8
    if (need > this.#buf.length) this.#buf = new Uint8Array(need)
    const buf = this.#buf
    buf[0] = 0x95
    this.#pos = 1
    this.#ascii(REQUEST_HASH_DOMAINS.http)
    this.#str(method)
    this.#str(authority)
    this.#str(target)
    let p = this.#pos
    buf[p++] = 0xc4
    buf[p++] = HASH_BYTES
    buf.set(body, p)
    p += HASH_BYTES
    return cryptoBackend().sha256(buf.subarray(0, p))
  }

  #ascii(s: string): void {
    // Only for the fixed domain string (< 32 ASCII bytes).
    const buf = this.#buf
    let p = this.#pos
    buf[p++] = 0xa0 | s.length
    for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i)
    this.#pos = p
  }

  /** A msgpack str with the minimal header, as msgpackr writes it. */
  #str(s: string): void {
    const buf = this.#buf
    const len = s.length
    let ascii = true
    for (let i = 0; i < len; i++) {
      if (s.charCodeAt(i) > 0x7f) {
        ascii = false
        break
      }
    }
    let bytes: Uint8Array | undefined
    const n = ascii ? len : (bytes = encoder.encode(s)).length
    let p = this.#pos
    if (n < 32) {
      buf[p++] = 0xa0 | n
    } else if (n < 0x100) {
      buf[p++] = 0xd9
      buf[p++] = n
    } else if (n < 0x10000) {
      buf[p++] = 0xda
      buf[p++] = n >>> 8
      buf[p++] = n & 0xff
    } else {
      buf[p++] = 0xdb
      buf[p++] = n >>> 24
      buf[p++] = (n >>> 16) & 0xff
      buf[p++] = (n >>> 8) & 0xff
      buf[p++] = n & 0xff
    }
    if (bytes === undefined) {
      for (let i = 0; i < len; i++) buf[p++] = s.charCodeAt(i)
    } else {
      buf.set(bytes, p)
      p += n
    }
    this.#pos = p
  }
}

/** Upper-case a method token only when needed (node already hands out upper case). */
export function canonicalMethod(method: string): string {
  for (let i = 0; i < method.length; i++) {
    const c = method.charCodeAt(i)
    if (c >= 0x61 && c <= 0x7a) return method.toUpperCase()
  }
  return method
}

/**
 * Split what callers pass as `url`: a request target ("/p?q", used as is) or an absolute URL,
 * whose path and query become the target and whose host is the fallback authority.
 */
export function splitUrl(url: string): { target: string; host: string | undefined } {
  if (url.charCodeAt(0) === 0x2f /* / */ || url === '*') return { target: url, host: undefined }
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)([^#]*)/i.exec(url)
  if (m === null) throw new TypeError(`url must be a request target or an absolute URL: ${url}`)
  const host = m[1] ?? ''
  const rest = m[2] ?? ''
  return { target: rest === '' || rest.startsWith('?') ? `/${rest}` : rest, host }
}

/** The authority a request names, canonical (docs/protocol.md §6.2). */
export function requestAuthority(host: string | undefined): string {
  return host === undefined ? '' : canonicalAuthority(host)
}

/** The largest body the middleware reads by default (1 MiB). */
export const DEFAULT_MAX_BODY_BYTES = 1_048_576

/**
 * Hashes a body chunk by chunk and refuses one over `maxBytes` (ERR_PROTO_TOO_LARGE, 413) as
 * soon as the count passes the cap, before buffering more. Keeps the chunks for the handler.
 */
export class BodyHasher {
  readonly #hash: Hash = createHash('sha256')
  readonly #max: number
  readonly chunks: Buffer[] = []
  length = 0

  constructor(maxBytes: number) {
    this.#max = maxBytes
  }

  /** Add a chunk; throws ERR_PROTO_TOO_LARGE past the cap. */
  update(chunk: Buffer): void {
    this.length += chunk.length
    if (this.length > this.#max) {
      throw new BrokerError('ERR_PROTO_TOO_LARGE', { status: 'BODY_TOO_LARGE' })
    }
    this.#hash.update(chunk)
    this.chunks.push(chunk)
  }

  /** The SHA-256 of everything added, and the body as one Buffer. */
  finish(): { hash: Uint8Array; body: Buffer } {
    const hash = this.length === 0 ? EMPTY_BODY_HASH : this.#hash.digest()
    const body =
      this.chunks.length === 1
        ? (this.chunks[0] as Buffer)
        : Buffer.concat(this.chunks, this.length)
    return { hash, body }
  }
}
