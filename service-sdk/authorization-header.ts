/**
 * The `Authorization: Tessera <token>` header (docs/protocol.md §5.5): scheme, size cap, and a
 * strict base64url decode of the token into the verifier's memory.
 */
import { BrokerError, MAX_SEALED_BYTES } from '../kdc/protocol/index.js'

/**
 * Longest Authorization header accepted, in characters: "Tessera " and the base64url of the
 * largest AP-REQ (two sealed parts of MAX_SEALED_BYTES, names of 63 bytes, a 5-byte kvno).
 */
export const MAX_AUTHORIZATION_CHARS =
  8 + Math.ceil(((4 + 64 + 64 + 5 + 3 + MAX_SEALED_BYTES + 3 + MAX_SEALED_BYTES) * 4) / 3)

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const SCHEME = 'tessera'

function fail(status: string): BrokerError {
  return new BrokerError('ERR_PROTO_MALFORMED', { status })
}

/** Where the token starts after "Tessera" and its spaces (scheme case-insensitive), or -1. */
export function tokenStart(h: string): number {
  if (h.length < SCHEME.length + 2) return -1
  for (let i = 0; i < SCHEME.length; i++) {
    if ((h.charCodeAt(i) | 0x20) !== SCHEME.charCodeAt(i)) return -1
  }
  let p = SCHEME.length
  if (h.charCodeAt(p) !== 0x20) return -1
  while (h.charCodeAt(p) === 0x20) p++
  return p
}

/**
 * Strict base64url without padding (RFC 4648 §5): only the 64 URL-safe characters, no length of 1
 * mod 4, zero trailing bits; so each AP-REQ has exactly one accepted spelling. Node's decoder does
 * the work: it skips characters outside both base64 alphabets and stops at "=", so a decoded length
 * short of 3/4 of the text means a bad character; it also accepts "+" and "/", and reads a
 * character above U+00FF as its low byte, so those are refused first (any non-ASCII character
 * makes the UTF-8 length differ from the length).
 * The bytes land in `buf` at offset `at`; returns their length. Nothing is allocated, and nothing
 * that outlives the call may point into `buf` there: the ticket cache copies what it keeps.
 */
export function decodeToken(h: string, start: number, buf: Buffer, at: number): number {
  const len = h.length - start
  if (
    len === 0 ||
    len % 4 === 1 ||
    h.includes('+', start) ||
    h.includes('/', start) ||
    // Node's decoder reads only the low byte of a character above U+00FF ('\u0141' as 'A').
    Buffer.byteLength(h, 'utf8') !== h.length
  ) {
    throw fail('BASE64')
  }
  const rest = len % 4
  if (rest !== 0) {
    const last = B64URL.indexOf(h.charAt(h.length - 1))
    if (last < 0 || (last & (rest === 2 ? 0x0f : 0x03)) !== 0) throw fail('BASE64')
  }
  const n = buf.write(h.slice(start), at, 'base64url')
  if (n !== (len * 3) >>> 2) throw fail('BASE64')
  return n
}
