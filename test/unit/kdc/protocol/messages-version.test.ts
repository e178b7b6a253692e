import { describe, expect, it } from 'vitest'
import { encode } from '../../../../kdc/protocol/codec.js'
import { isBrokerError } from '../../../../kdc/protocol/errors.js'
import { parseApRep, parseApReq, parseFrame } from '../../../../kdc/protocol/messages.js'

function codeOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (isBrokerError(err)) return err.code
    throw err
  }
  throw new Error('expected a BrokerError')
}

describe('version before shape (docs/protocol.md §5.1)', () => {
  it('answers ERR_PROTO_VERSION for a future version of any arity', () => {
    for (const value of [[2], [2, 1, 7], [2, 1, 7, [], 'extra'], [9, 'anything']]) {
      const bytes = encode(value)
      expect(codeOf(() => parseFrame(bytes))).toBe('ERR_PROTO_VERSION')
      expect(codeOf(() => parseApReq(bytes))).toBe('ERR_PROTO_VERSION')
      expect(codeOf(() => parseApRep(bytes))).toBe('ERR_PROTO_VERSION')
    }
  })

  it('keeps ERR_PROTO_MALFORMED for non-integer versions and version 1 of the wrong shape', () => {
    for (const value of [['1', 1, 7, []], [1, 1, 7], [[1], 5, 0, []], []]) {
      const bytes = encode(value)
      expect(codeOf(() => parseFrame(bytes))).toBe('ERR_PROTO_MALFORMED')
    }
    expect(codeOf(() => parseApReq(encode(['1', 5, [], new Uint8Array(41)])))).toBe(
      'ERR_PROTO_MALFORMED',
    )
  })
})
