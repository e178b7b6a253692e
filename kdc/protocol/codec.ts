/**
 * The msgpack codec (docs/protocol.md §2). The wire uses a strict subset of msgpack: unsigned
 * integers below 2^32, UTF-8 strings, binary strings and arrays — no maps, no negative integers,
 * no floats, no nil or booleans, no extension types. Every value has exactly one encoding, the
 * minimal one, which is what msgpackr (and every mainstream msgpack library) emits.
 *
 * Encoding goes through msgpackr. Decoding is a bounded, validating reader: it checks each length
 * prefix against the limits AND against the bytes remaining before it allocates anything, tracks
 * nesting depth without recursion limits being reachable (depth is capped at MAX_NESTING_DEPTH),
 * rejects non-minimal encodings, and decodes strings with fatal UTF-8. As a second line of defence
 * the result is re-encoded with msgpackr and compared with the input (house style B5: "should
 * re-encode to the original bytes"). Every failure is a BrokerError with a code and a status tag;
 * no library exception, stack overflow or large allocation can escape.
 */
import { Packr } from 'msgpackr'
import { BrokerError } from './errors.js'
import { utf8DecodeStrict } from './bytes.js'
import {
  MAX_ARRAY_ITEMS,
  MAX_BIN_BYTES,
  MAX_FRAME_BYTES,
  MAX_NESTING_DEPTH,
  MAX_STR_BYTES,
  MAX_UINT32,
} from './limits.js'

/** A value of the wire subset. Decoded bin values are views into the input bytes (no copy). */
export type WireValue = number | string | Uint8Array | readonly WireValue[]

/** Options for decode; the defaults are the protocol limits of limits.ts. */
export interface DecodeLimits {
  readonly maxBytes?: number
  readonly maxStrBytes?: number
  readonly maxBinBytes?: number
  readonly maxArrayItems?: number
  readonly maxDepth?: number
}

const packr = new Packr({ useRecords: false, variableMapSize: true })
// msgpackr declares Buffer (a node type); kdc/protocol is checked without node types, so name the
// result by what it is everywhere: a Uint8Array.
const pack = (value: WireValue): Uint8Array => packr.pack(value) as Uint8Array

function malformed(status: string): BrokerError<'ERR_PROTO_MALFORMED'> {
  return new BrokerError('ERR_PROTO_MALFORMED', { status })
}
function tooLarge(status: string): BrokerError<'ERR_PROTO_TOO_LARGE'> {
  return new BrokerError('ERR_PROTO_TOO_LARGE', { status })
}
function nonCanonical(status: string): BrokerError<'ERR_PROTO_NON_CANONICAL'> {
  return new BrokerError('ERR_PROTO_NON_CANONICAL', { status })
}

// `depth` counts enclosing arrays as the decoder does (the outermost array is depth 1), so encode
// accepts exactly the nesting that decode accepts: scalars inside the deepest array are fine.
function assertEncodable(value: unknown, depth: number): asserts value is WireValue {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > MAX_UINT32) {
      throw new RangeError(`wire integers are unsigned and below 2^32, got ${String(value)}`)
    }
    return
  }
  if (typeof value === 'string' || value instanceof Uint8Array) return
  if (Array.isArray(value)) {
    if (depth + 1 > MAX_NESTING_DEPTH) {
      throw new RangeError('value nests deeper than MAX_NESTING_DEPTH')
    }
    for (const item of value) assertEncodable(item, depth + 1)
    return
  }
  throw new TypeError(`type not allowed on the wire: ${typeof value}`)
}

/**
 * Encode a wire value. Misuse (a negative or fractional number, an object, a bigint) throws
 * TypeError/RangeError: those are our bugs, never peer data. The result is a fresh copy.
 */
export function encode(value: WireValue): Uint8Array {
  assertEncodable(value, 0)
  // A real copy with its own ArrayBuffer: msgpackr returns a Buffer view into its shared output
  // buffer, and Buffer#slice is a view too, so `.slice()` would copy nothing.
  return new Uint8Array(pack(value))
}

/** Encode without the subset check; for hot paths whose inputs are built by our own code. */
export function encodeTrusted(value: WireValue): Uint8Array {
  return pack(value)
}

class Reader {
  pos = 0
  readonly bytes: Uint8Array
  readonly view: DataView
  readonly maxStr: number
  readonly maxBin: number
  readonly maxItems: number
  readonly maxDepth: number

  constructor(bytes: Uint8Array, limits: DecodeLimits) {
    this.bytes = bytes
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.maxStr = limits.maxStrBytes ?? MAX_STR_BYTES
    this.maxBin = limits.maxBinBytes ?? MAX_BIN_BYTES
    this.maxItems = limits.maxArrayItems ?? MAX_ARRAY_ITEMS
    this.maxDepth = limits.maxDepth ?? MAX_NESTING_DEPTH
  }

  need(n: number, what: string): void {
    if (n > this.bytes.length - this.pos) throw malformed(`TRUNCATED_${what}`)
  }

  u8(): number {
    this.need(1, 'HEADER')
    return this.bytes[this.pos++] as number
  }
  u16(): number {
    this.need(2, 'LENGTH')
    const v = this.view.getUint16(this.pos)
    this.pos += 2
    return v
  }
  u32(): number {
    this.need(4, 'LENGTH')
    const v = this.view.getUint32(this.pos)
    this.pos += 4
    return v
  }

  /** Read one value; arrays are read iteratively-per-level with an explicit depth bound. */
  value(depth: number): WireValue {
    const b = this.u8()
    if (b <= 0x7f) return b
    if (b >= 0x90 && b <= 0x9f) return this.array(b & 0x0f, depth)
    if (b >= 0xa0 && b <= 0xbf) return this.str(b & 0x1f)
    switch (b) {
      case 0xcc: {
        const v = this.u8()
        if (v <= 0x7f) throw nonCanonical('INT_NOT_MINIMAL')
        return v
      }
      case 0xcd: {
        const v = this.u16()
        if (v <= 0xff) throw nonCanonical('INT_NOT_MINIMAL')
        return v
      }
      case 0xce: {
        const v = this.u32()
        if (v <= 0xffff) throw nonCanonical('INT_NOT_MINIMAL')
        return v
      }
      case 0xcf:
        throw tooLarge('INT_OVER_UINT32')
      case 0xd9: {
        const n = this.u8()
        if (n < 32) throw nonCanonical('LENGTH_NOT_MINIMAL')
        return this.str(n)
      }
      case 0xda: {
        const n = this.u16()
        if (n <= 0xff) throw nonCanonical('LENGTH_NOT_MINIMAL')
        return this.str(n)
      }
      case 0xdb: {
        const n = this.u32()
        if (n <= 0xffff) throw nonCanonical('LENGTH_NOT_MINIMAL')
        return this.str(n)
      }
      case 0xc4:
        return this.bin(this.u8())
      case 0xc5: {
        const n = this.u16()
        if (n <= 0xff) throw nonCanonical('LENGTH_NOT_MINIMAL')
        return this.bin(n)
      }
      case 0xc6: {
        const n = this.u32()
        if (n <= 0xffff) throw nonCanonical('LENGTH_NOT_MINIMAL')
        return this.bin(n)
      }
      case 0xdc: {
        const n = this.u16()
        if (n <= 0x0f) throw nonCanonical('LENGTH_NOT_MINIMAL')
        return this.array(n, depth)
      }
      case 0xdd: {
        const n = this.u32()
        if (n <= 0xffff) throw nonCanonical('LENGTH_NOT_MINIMAL')
        return this.array(n, depth)
      }
      case 0xc0:
        throw malformed('NIL')
      case 0xc2:
      case 0xc3:
        throw malformed('BOOLEAN')
      case 0xca:
      case 0xcb:
        throw malformed('FLOAT')
      case 0xd0:
      case 0xd1:
      case 0xd2:
      case 0xd3:
        throw malformed('NEGATIVE_INT')
      case 0xde:
      case 0xdf:
        throw malformed('MAP')
      case 0xc7:
      case 0xc8:
      case 0xc9:
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8:
        throw malformed('EXTENSION')
      default:
        break
    }
    if (b >= 0x80 && b <= 0x8f) throw malformed('MAP')
    if (b >= 0xe0) throw malformed('NEGATIVE_INT')
    throw malformed('RESERVED_BYTE') // 0xc1
  }

  str(n: number): string {
    if (n > this.maxStr) throw tooLarge('STR_TOO_LONG')
    this.need(n, 'STR')
    const start = this.pos
    this.pos += n
    const slice = this.bytes.subarray(start, this.pos)
    let ascii = true
    for (let i = 0; i < n; i++) {
      if ((slice[i] as number) > 0x7f) {
        ascii = false
        break
      }
    }
    if (ascii && n <= 256) return String.fromCharCode.apply(null, slice as unknown as number[])
    const text = utf8DecodeStrict(slice)
    if (text === undefined) throw malformed('INVALID_UTF8')
    return text
  }

  bin(n: number): Uint8Array {
    if (n > this.maxBin) throw tooLarge('BIN_TOO_LONG')
    this.need(n, 'BIN')
    const start = this.pos
    this.pos += n
    return this.bytes.subarray(start, this.pos)
  }

  array(n: number, depth: number): WireValue[] {
    if (depth >= this.maxDepth) throw tooLarge('TOO_DEEP')
    if (n > this.maxItems) throw tooLarge('ARRAY_TOO_LONG')
    // Every item takes at least one byte: a length beyond the remaining bytes is a lie, refused
    // before allocating the array.
    this.need(n, 'ARRAY')
    const out = new Array<WireValue>(n)
    for (let i = 0; i < n; i++) out[i] = this.value(depth + 1)
    return out
  }
}

/**
 * Decode exactly one wire value from `bytes` with the protocol limits (or tighter ones), then
 * prove the encoding canonical by re-encoding with msgpackr and comparing. Throws only BrokerError:
 * ERR_PROTO_TOO_LARGE, ERR_PROTO_MALFORMED or ERR_PROTO_NON_CANONICAL, with a status tag.
 */
export function decode(bytes: Uint8Array, limits: DecodeLimits = {}): WireValue {
  const value = decodeAuthenticated(bytes, limits)
  const again = pack(value)
  if (again.length !== bytes.length) throw nonCanonical('REENCODE_DIFFERS')
  for (let i = 0; i < again.length; i++) {
    if (again[i] !== bytes[i]) throw nonCanonical('REENCODE_DIFFERS')
  }
  return value
}

/**
 * The validating reader alone, without the msgpackr re-encode comparison: for plaintext that just
 * passed an AEAD open, i.e. bytes only a key holder could have produced. The reader itself still
 * refuses every non-minimal integer and length, invalid UTF-8, every type outside the subset,
 * trailing bytes and every limit; the re-encode is the second line of defence kept for everything
 * unauthenticated. (It cost ~1 µs per ticket on the verifier's hot path.)
 */
export function decodeAuthenticated(bytes: Uint8Array, limits: DecodeLimits = {}): WireValue {
  if (bytes.length > (limits.maxBytes ?? MAX_FRAME_BYTES)) throw tooLarge('FRAME_TOO_LARGE')
  if (bytes.length === 0) throw malformed('EMPTY')
  const reader = new Reader(bytes, limits)
  const value = reader.value(0)
  if (reader.pos !== bytes.length) throw malformed('TRAILING_BYTES')
  return value
}
