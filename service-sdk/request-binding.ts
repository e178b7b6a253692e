/**
 * Request binding (docs/protocol.md §6.2): the authenticator carries
 * BLAKE2b-256(msgpack(["tessera/v1/http", METHOD, authority, target, SHA-256(body)])), and the verifier
 * recomputes it from the request it actually received.
 *
 * `RequestHasher` produces exactly the bytes of kdc/protocol's httpRequestHash (a unit test holds
 * the two together) but encodes into a reused buffer instead of building an array for msgpackr,
 * since it runs on every request. `BodyHasher` hashes a body as it streams in, with a size cap.
 */
import { createHash, type Hash } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import {
  BrokerError,
  bodyHash,
  canonicalAuthority,
  HASH_BYTES,
  REQUEST_HASH_DOMAINS,
} from '../kdc/protocol/index.js'

import { verifierHeap, type Heap } from './heap.js'

const encoder = new TextEncoder()

/** SHA-256 of the empty body. */
export const EMPTY_BODY_HASH: Uint8Array = bodyHash(new Uint8Array(0))

/**
 * Builds the canonical request form in a reused block of the verifier heap and hashes it there.
 * Not re-entrant.
 */
export class RequestHasher {
  readonly #heap: Heap
  /** Block of #size bytes: the 32-byte hash, then the canonical form, whose fixed start is written once. */
  #block: number
  #size = 512
  readonly #prefixLength: number
  #pos = 0
  #lastHost = ''
  #lastAuthority = ''

  constructor(heap: Heap = verifierHeap()) {
    this.#heap = heap
    this.#block = heap.alloc(this.#size)
    this.#prefixLength = this.#writePrefix()
  }

  /**
   * The request hash of (method, authority, target, bodyHash): the address in the heap of its 32
   * bytes, valid until the next call. `authority` is canonical already (see
   * {@link RequestHasher.authority}).
   */
  hash(method: string, authority: string, target: string, body: Uint8Array): number {
    const need =
      HASH_BYTES +
      this.#prefixLength +
      3 * (method.length + authority.length + target.length) +
      15 +
      2 +
      HASH_BYTES
    const heap = this.#heap
    heap.sync() // hashing the body (or anything else) may have grown the memory
    if (need > this.#size) this.#grow(need)
    const form = this.#block + HASH_BYTES
    this.#pos = form + this.#prefixLength
    this.#str(method)
    this.#str(authority)
    this.#str(target)
    const buf = heap.u8
    let p = this.#pos
    buf[p++] = 0xc4
    buf[p++] = HASH_BYTES
    buf.set(body, p)
    p += HASH_BYTES
    heap.blake2b256(form, p - form, this.#block)
    return this.#block
  }

  /** {@link RequestHasher.hash}, copied out (tests and cold paths). */
  digest(method: string, authority: string, target: string, body: Uint8Array): Uint8Array {
    const at = this.hash(method, authority, target, body)
    return this.#heap.u8.slice(at, at + HASH_BYTES)
  }

  /** canonicalAuthority(host), remembered for the last host seen (a service sees few). */
  authority(host: string | undefined): string {
    if (host === undefined) return ''
    if (host !== this.#lastHost) {
      this.#lastAuthority = canonicalAuthority(host)
      this.#lastHost = host
    }
    return this.#lastAuthority
  }

  /** Free the block (a hasher is not used after this). */
  dispose(): void {
    this.#heap.free(this.#block, this.#size)
    this.#block = 0
    this.#size = 0
  }

  #grow(need: number): void {
    const size = Math.max(need, this.#size * 2)
    const block = this.#heap.alloc(size)
    this.#heap.free(this.#block, this.#size)
    this.#block = block
    this.#size = size
    this.#writePrefix()
  }

  #writePrefix(): number {
    const buf = this.#heap.u8
    const at = this.#block + HASH_BYTES
    const domain = REQUEST_HASH_DOMAINS.http // ASCII, < 32 bytes
    buf[at] = 0x95
    buf[at + 1] = 0xa0 | domain.length
    for (let i = 0; i < domain.length; i++) buf[at + 2 + i] = domain.charCodeAt(i)
    return 2 + domain.length
  }

  /** A msgpack str with the minimal header, as msgpackr writes it. */
  #str(s: string): void {
    const buf = this.#heap.u8
    const len = s.length
    // Optimistically ASCII: write the bytes after a header sized for `len`, then fix up.
    let p = this.#pos
    const head = len < 32 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5
    let high = 0
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i)
      high |= c
      buf[p + head + i] = c
    }
    let n = len
    let bytes: Uint8Array | undefined
    if (high > 0x7f) {
      bytes = encoder.encode(s)
      n = bytes.length
    }
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
    if (bytes !== undefined) buf.set(bytes, p)
    this.#pos = p + n
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

/** An http(s) URL: scheme, authority, then path and query as sent (the fragment is dropped). */
const ABSOLUTE_URL = /^https?:\/\/([^/?#]*)([^#]*)/i
/**
 * A URL authority that names a server: a host (a registered name or IPv4 address, or an IPv6
 * literal in brackets) and an optional numeric port. No userinfo, no empty host or port.
 */
const SERVER_AUTHORITY = /^(?:\[[0-9a-f:.]+\]|[a-z0-9._~!$&'()*+,;=%-]+)(?::[0-9]{1,5})?$/i

/** True when `a` matches SERVER_AUTHORITY and its port, if any, is at most 65535. */
function serverAuthority(a: string): boolean {
  if (!SERVER_AUTHORITY.test(a)) return false
  const colon = a.lastIndexOf(':')
  // A registered name has no ':'; an IPv6 literal's own colons are inside its brackets.
  return colon <= a.lastIndexOf(']') || Number(a.slice(colon + 1)) <= 65_535
}

function badTarget(status: string): BrokerError {
  return new BrokerError('ERR_AP_REQUEST_MISMATCH', { status })
}

/**
 * Split what callers pass as `url`: a request target ("/p?q" or "*", used as is) or an absolute
 * http(s) URL, whose path and query become the target and whose authority the request's (RFC 9112
 * §3.2.2). The URL comes from the network, so a target that names no server (an empty or invalid
 * host, a port that is not a number, userinfo, another scheme, an authority-form CONNECT target)
 * cannot be bound: ERR_AP_REQUEST_MISMATCH, never a guess (a handler parsing it differently would
 * otherwise act on another request than the one verified).
 */
export function splitUrl(url: string): { target: string; host: string | undefined } {
  if (url.charCodeAt(0) === 0x2f /* / */ || url === '*') return { target: url, host: undefined }
  const m = ABSOLUTE_URL.exec(url)
  if (m === null) throw badTarget('TARGET_FORM')
  const host = m[1] ?? ''
  const rest = m[2] ?? ''
  if (!serverAuthority(host)) throw badTarget('TARGET_AUTHORITY')
  return { target: rest === '' || rest.startsWith('?') ? `/${rest}` : rest, host }
}

/**
 * The authority of a node request: HTTP/2's `:authority`, else the Host header. When both are
 * present they must name the same server (canonically): a request whose pseudo-header and Host
 * header disagree is refused rather than bound to one while the application reads the other.
 */
export function requestAuthority(headers: IncomingHttpHeaders): string | undefined {
  const pseudo = headers[':authority']
  const host = headers.host
  if (typeof pseudo !== 'string' || pseudo === '') return host
  if (host !== undefined && canonicalAuthority(host) !== canonicalAuthority(pseudo)) {
    throw badTarget('AUTHORITY_VS_HOST')
  }
  return pseudo
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
