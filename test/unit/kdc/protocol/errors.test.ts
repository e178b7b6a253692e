import { describe, it, expect } from 'vitest'
import {
  BrokerError,
  CODES,
  codeFromWire,
  fromWire,
  isBrokerError,
  isErrorCode,
  type ErrorCode,
} from '../../../../kdc/protocol/index.js'

describe('errors: BrokerError (house style B4)', () => {
  it('takes wire, kind, retry and the default message from the catalogue', () => {
    const err = new BrokerError('ERR_AP_REPLAY')
    expect(err).toBeInstanceOf(Error)
    expect(err.name).toBe('BrokerError')
    expect(err.code).toBe('ERR_AP_REPLAY')
    expect(err.wire).toBe(304)
    expect(err.kind).toBe('ap')
    expect(err.retry).toBe(false)
    expect(err.message).toBe(CODES.ERR_AP_REPLAY.message)
    expect(err.status).toBeUndefined()
  })

  it('keeps a status tag, a custom message and a cause', () => {
    const cause = new Error('inner')
    const err = new BrokerError('ERR_KDC_POLICY', { status: 'NO_RULE', message: 'm', cause })
    expect(err.status).toBe('NO_RULE')
    expect(err.message).toBe('m')
    expect(err.cause).toBe(cause)
  })

  it('gives local-only codes a null wire number', () => {
    expect(new BrokerError('ERR_CLIENT_TIMEOUT').wire).toBeNull()
  })

  it('isBrokerError narrows by code', () => {
    const err: unknown = new BrokerError('ERR_AP_SKEW')
    expect(isBrokerError(err)).toBe(true)
    expect(isBrokerError(err, 'ERR_AP_SKEW')).toBe(true)
    expect(isBrokerError(err, 'ERR_AP_REPLAY')).toBe(false)
    expect(isBrokerError(new Error('x'))).toBe(false)
    expect(isBrokerError({ code: 'ERR_AP_SKEW' })).toBe(false)
  })
})

describe('errors: wire numbers', () => {
  it('maps every wire number back to its code', () => {
    for (const [code, entry] of Object.entries(CODES) as [ErrorCode, { wire: number | null }][]) {
      if (entry.wire === null) continue
      expect(codeFromWire(entry.wire)).toBe(code)
      const err = fromWire(entry.wire, 'FROM_PEER')
      expect(err.code).toBe(code)
      expect(err.status).toBe('FROM_PEER')
    }
  })

  it('maps an unknown wire number to ERR_PROTO_MALFORMED', () => {
    expect(codeFromWire(999)).toBe('ERR_PROTO_MALFORMED')
    expect(fromWire(65_535).code).toBe('ERR_PROTO_MALFORMED')
    expect(fromWire(0).code).toBe('ERR_PROTO_MALFORMED')
  })

  it('isErrorCode accepts catalogue codes only', () => {
    expect(isErrorCode('ERR_AP_REPLAY')).toBe(true)
    expect(isErrorCode('ERR_NOPE')).toBe(false)
    expect(isErrorCode('toString')).toBe(false)
    expect(isErrorCode(300)).toBe(false)
  })

  it('freezes the catalogue', () => {
    expect(Object.isFrozen(CODES)).toBe(true)
  })
})
