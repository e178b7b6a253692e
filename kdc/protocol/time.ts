/**
 * Time (docs/protocol.md §6): every wire time is whole seconds since the Unix epoch, a uint32.
 * Time is always read through an injected Clock so tests can move it.
 */
import { BrokerError } from './errors.js'
import { MAX_CLOCK_SKEW_S, MAX_UINT32 } from './limits.js'

/** A source of the current time in whole seconds. */
export interface Clock {
  nowSeconds(): number
}

/** The system clock. */
export const systemClock: Clock = Object.freeze({
  nowSeconds(): number {
    return Math.floor(Date.now() / 1000)
  },
})

/** A clock shifted by `offsetSeconds` (the client SDK applies the KDC offset this way). */
export function offsetClock(base: Clock, offset: () => number): Clock {
  return { nowSeconds: () => base.nowSeconds() + offset() }
}

/**
 * Refuse a timestamp outside [now - skew, now + skew] with ERR_AP_SKEW. The message names both
 * times, so the operator sees which clock is off; neither is secret.
 */
export function checkSkew(timestamp: number, now: number, skewSeconds = MAX_CLOCK_SKEW_S): void {
  if (Math.abs(timestamp - now) > skewSeconds) {
    throw new BrokerError('ERR_AP_SKEW', {
      status: 'SKEW',
      message: `clock skew too large: peer time ${isoTime(timestamp)}, local time ${isoTime(now)}, allowed ±${skewSeconds}s; synchronise the clocks (NTP)`,
    })
  }
}

/** The ISO-8601 form of a wire time, for messages. */
export function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z')
}

/** Clamp to the uint32 range of wire times. */
export function clampWireTime(seconds: number): number {
  return Math.min(Math.max(Math.floor(seconds), 0), MAX_UINT32)
}
