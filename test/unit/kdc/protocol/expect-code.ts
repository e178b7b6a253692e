/**
 * Failure assertions for the protocol tests (house style B7): every failure is checked by its CODE,
 * its kind and, where the test is about a specific cause, its status tag; never only "it threw".
 */
import { expect } from 'vitest'
import { BrokerError, CODES, type ErrorCode } from '../../../../kdc/protocol/index.js'

/** Run `fn`, require a BrokerError with `code` (and `status` when given), and return it. */
export function expectCode(fn: () => unknown, code: ErrorCode, status?: string): BrokerError {
  let caught: unknown
  try {
    fn()
  } catch (err) {
    caught = err
  }
  expect(caught, `expected ${code}, nothing was thrown`).toBeInstanceOf(BrokerError)
  const err = caught as BrokerError
  expect(err.code).toBe(code)
  expect(err.kind).toBe(CODES[code].kind)
  expect(err.wire).toBe(CODES[code].wire)
  if (status !== undefined) expect(err.status).toBe(status)
  return err
}

/** Run `fn` and require a plain TypeError or RangeError (caller misuse, house style B4.3). */
export function expectMisuse(fn: () => unknown, type: typeof TypeError | typeof RangeError): void {
  let caught: unknown
  try {
    fn()
  } catch (err) {
    caught = err
  }
  expect(caught).toBeInstanceOf(type)
  expect(caught).not.toBeInstanceOf(BrokerError)
  expect((caught as { code?: unknown }).code).toBeUndefined()
}
