/**
 * The protocol core's msgpack codec (kdc/protocol/codec.ts decode, decodeAuthenticated) and message
 * parsers (messages.ts parseFrame, peekFrameHead, parseApReq, parseApRep, parseTicket): each returns
 * or throws a BrokerError with one of its documented codes, and whatever parses re-encodes to
 * exactly the input bytes.
 */
import {
  decode,
  decodeAuthenticated,
  encode,
  encodeApRep,
  encodeApReq,
  encodeFrame,
  MAX_FRAME_BYTES,
  MAX_NESTING_DEPTH,
  parseApRep,
  parseApReq,
  parseFrame,
  parseTicket,
  peekFrameHead,
  ticketToWire,
  buildAdminRequest,
  type ErrorCode,
  type WireValue,
} from '../../../kdc/protocol/index.js'
import { validAdminRequest, validApMessages, validFrames, validKeytabBytes } from '../corpus.js'
import {
  attempt,
  expectSameBytes,
  FuzzFailure,
  label,
  sameBytes,
  type Case,
  type Target,
} from '../harness.js'
import { encodeTree, mutateTree, nested, randomTree, toTree, type Tree } from '../msgpack-gen.js'
import { mutateBytes } from '../mutate.js'
import type { Rng } from '../rng.js'

export const CODEC_CODES: readonly ErrorCode[] = [
  'ERR_PROTO_MALFORMED',
  'ERR_PROTO_TOO_LARGE',
  'ERR_PROTO_NON_CANONICAL',
]
const FRAME_CODES: readonly ErrorCode[] = [...CODEC_CODES, 'ERR_PROTO_VERSION']
const AP_CODES: readonly ErrorCode[] = [...FRAME_CODES, 'ERR_PROTO_UNEXPECTED']

/** Structural equality of decoded wire values. */
export function sameValue(a: WireValue, b: WireValue): boolean {
  if (a instanceof Uint8Array) return b instanceof Uint8Array && sameBytes(a, b)
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    const bb = b as readonly WireValue[]
    return (a as readonly WireValue[]).every((x, i) => sameValue(x, bb[i] as WireValue))
  }
  return a === b
}

/** Inputs built from valid encodings: byte mutations, tree mutations, random trees, limit probes. */
export class MsgpackInputs {
  readonly corpus: Uint8Array[]
  readonly trees: Tree[]

  constructor(corpus: Uint8Array[]) {
    this.corpus = corpus
    this.trees = corpus.map((b) => toTree(decode(b)))
  }

  next(rng: Rng): Case {
    const roll = rng.int(100)
    if (roll < 45) {
      const i = rng.int(this.corpus.length)
      return {
        input: mutateBytes(rng, this.corpus[i] as Uint8Array, this.corpus),
        origin: `byte mutation of corpus #${i}`,
      }
    }
    if (roll < 80) {
      const i = rng.int(this.trees.length)
      const t = mutateTree(rng, this.trees[i] as Tree, this.trees)
      const t2 = rng.chance(0.3) ? mutateTree(rng, t, this.trees) : t
      const wide = rng.chance(0.15) ? 0.1 : 0
      return { input: encodeTree(t2, rng, wide), origin: `tree mutation of corpus #${i}` }
    }
    if (roll < 85)
      return { input: this.corpus[rng.int(this.corpus.length)] as Uint8Array, origin: 'corpus' }
    if (roll < 93) {
      return {
        input: encodeTree(randomTree(rng), rng, rng.chance(0.2) ? 0.1 : 0),
        origin: 'random tree',
      }
    }
    if (roll < 96) return { input: rng.bytes(rng.int(64)), origin: 'random bytes' }
    return { input: limitProbe(rng), origin: 'limit probe' }
  }
}

/** Values at and one past the codec's limits. */
function limitProbe(rng: Rng): Uint8Array {
  switch (rng.int(5)) {
    case 0:
      return encodeTree(
        nested(rng.pick([MAX_NESTING_DEPTH, MAX_NESTING_DEPTH + 1, 64]), rng.pick([1, [], 'x'])),
      )
    case 1:
      // [bin16]: 1 + 3 + n bytes, exactly the frame limit or one byte over.
      return encodeTree([new Uint8Array(MAX_FRAME_BYTES - 4 + rng.pick([0, 1]))])
    case 2:
      return encodeTree(new Array<Tree>(rng.pick([4096, 4097])).fill(rng.pick([0, 'a'])))
    case 3:
      return encodeTree('y'.repeat(rng.pick([4096, 4097])))
    default: {
      // A length prefix that claims far more than follows (allocation before the bounds check?).
      const head = rng.pick([0xc6, 0xdb, 0xdd])
      return Uint8Array.of(0x91, head, 0x7f, 0xff, 0xff, 0xff, 0x00)
    }
  }
}

function corpusOf(rng: Rng): Uint8Array[] {
  const corpus: Uint8Array[] = []
  for (let i = 0; i < 24; i++) corpus.push(...validFrames(rng), ...validApMessages(rng))
  for (let i = 0; i < 8; i++) corpus.push(validKeytabBytes(rng))
  for (let i = 0; i < 16; i++) corpus.push(encode(buildAdminRequest(validAdminRequest(rng))))
  return corpus
}

// ---- codec ---------------------------------------------------------------------------------------

export const codecTarget: Target = {
  name: 'codec',
  summary:
    'kdc/protocol/codec.ts decode + decodeAuthenticated: BrokerError only; decoded ⇒ re-encodes to the input',
  setup(rng) {
    const inputs = new MsgpackInputs(corpusOf(rng))
    return {
      next: (r) => inputs.next(r),
      run(c) {
        const bytes = c.input as Uint8Array
        const full = attempt('decode', () => decode(bytes), CODEC_CODES)
        const authd = attempt('decodeAuthenticated', () => decodeAuthenticated(bytes), CODEC_CODES)
        if (full.ok) {
          if (!authd.ok) throw new FuzzFailure('decode accepts what decodeAuthenticated refuses')
          if (!sameValue(full.value, authd.value)) {
            throw new FuzzFailure('decode and decodeAuthenticated disagree on the value')
          }
          const again = attempt('encode(decode(x))', () => encode(full.value))
          if (!again.ok) throw new FuzzFailure('encode refuses a decoded value')
          expectSameBytes(
            'decode accepted bytes that encode() writes differently',
            again.value,
            bytes,
          )
        }
        if (authd.ok) {
          // Our own canonical writer: the bytes the reader accepted must be THE encoding.
          const canonical = encodeTree(authd.value)
          if (!sameBytes(canonical, bytes)) {
            throw new FuzzFailure(
              'decodeAuthenticated accepted a non-canonical encoding (the reader alone must refuse it)',
              `canonical: ${Buffer.from(canonical).toString('hex')}`,
            )
          }
          if (!full.ok) {
            throw new FuzzFailure(
              `decode refuses a canonical encoding that decodeAuthenticated accepts (${full.error.code} / ${full.error.status ?? ''})`,
            )
          }
        }
        return `decode:${label(full)}`
      },
    }
  },
}

// ---- frames and AP messages ------------------------------------------------------------------------

export const messagesTarget: Target = {
  name: 'messages',
  summary:
    'kdc/protocol/messages.ts parseFrame, peekFrameHead, parseApReq, parseApRep, parseTicket: BrokerError only; canonical round trip',
  setup(rng) {
    const corpus: Uint8Array[] = []
    for (let i = 0; i < 40; i++) corpus.push(...validFrames(rng), ...validApMessages(rng))
    const inputs = new MsgpackInputs(corpus)
    return {
      next: (r) => inputs.next(r),
      run(c) {
        const bytes = c.input as Uint8Array
        const out: string[] = []
        const frame = attempt('parseFrame', () => parseFrame(bytes), FRAME_CODES)
        out.push(`frame:${label(frame)}`)
        let head: ReturnType<typeof peekFrameHead>
        try {
          head = peekFrameHead(bytes)
        } catch (err) {
          throw new FuzzFailure(`peekFrameHead threw (it must never throw): ${String(err)}`)
        }
        if (frame.ok) {
          const f = frame.value
          const again = attempt('encodeFrame(parseFrame(x))', () => encodeFrame(f))
          if (!again.ok) throw new FuzzFailure('encodeFrame refuses a parsed frame')
          expectSameBytes(
            'parseFrame accepted a frame that re-encodes differently',
            again.value,
            bytes,
          )
          if (head?.id !== f.id || head.type !== f.type || head.version !== 1) {
            throw new FuzzFailure('peekFrameHead disagrees with parseFrame')
          }
        }
        const ap = attempt('parseApReq', () => parseApReq(bytes), AP_CODES)
        out.push(`ap-req:${label(ap)}`)
        if (ap.ok) {
          const again = attempt('encodeApReq', () => encodeApReq(ap.value))
          if (!again.ok) throw new FuzzFailure('encodeApReq refuses a parsed AP-REQ')
          expectSameBytes(
            'parseApReq accepted an AP-REQ that re-encodes differently',
            again.value,
            bytes,
          )
        }
        const rep = attempt('parseApRep', () => parseApRep(bytes), AP_CODES)
        out.push(`ap-rep:${label(rep)}`)
        if (rep.ok) {
          const again = attempt('encodeApRep', () => encodeApRep(rep.value))
          if (!again.ok) throw new FuzzFailure('encodeApRep refuses a parsed AP-REP')
          expectSameBytes(
            'parseApRep accepted an AP-REP that re-encodes differently',
            again.value,
            bytes,
          )
        }
        // A ticket is the third item of an AP-REQ and sits inside most frames: parse every
        // array item that decodes as a candidate.
        const value = attempt('decode', () => decode(bytes), CODEC_CODES)
        if (value.ok && Array.isArray(value.value)) {
          for (const item of value.value as readonly WireValue[]) {
            const t = attempt('parseTicket', () => parseTicket(item), ['ERR_PROTO_MALFORMED'])
            if (t.ok) {
              const again = encode(ticketToWire(t.value))
              expectSameBytes(
                'parseTicket accepted a ticket that re-encodes differently',
                again,
                encode(item),
              )
              out.push('ticket:OK')
            }
          }
        }
        return out
      },
    }
  },
}
