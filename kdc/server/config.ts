/**
 * KDC configuration (house style B5; cf. fastify's option schema): every operational limit has a
 * default and bounds, every value is validated strictly (0, negatives, Infinity, NaN, fractions and
 * out-of-range values are refused with a message that says what to do, never coerced), and the
 * result is deep-frozen. Wire-format constants live in kdc/protocol/limits.ts and are not
 * configurable; the limits here may only tighten them.
 */
import { hostname } from 'node:os'
import {
  assertRealmName,
  isNodeName,
  MAX_CLOCK_SKEW_S,
  MAX_TICKET_LIFETIME_S,
  MIN_TICKET_LIFETIME_S,
} from '../protocol/index.js'

export interface KdcLimits {
  /** Open WebSocket connections; the next upgrade is refused with HTTP 503. */
  readonly maxConnections: number
  /**
   * Open WebSocket connections from one IP address; the next upgrade from it is refused with HTTP
   * 503, so that one host cannot take every slot of maxConnections.
   */
  readonly maxConnectionsPerAddress: number
  /** Requests being processed per connection; more get ERR_KDC_RATE_LIMITED. */
  readonly maxInflightPerConnection: number
  /** Time allowed from TCP accept to a completed HTTP request / upgrade, in ms. */
  readonly handshakeTimeoutMs: number
  /** A connection with no request for this long is closed, in ms. */
  readonly idleTimeoutMs: number
  /** Per-connection token bucket. */
  readonly connectionRatePerSecond: number
  readonly connectionBurst: number
  /** Per-principal token bucket (applied once the principal is authenticated). */
  readonly principalRatePerSecond: number
  readonly principalBurst: number
  /** Bounded wait for in-flight requests at shutdown, in ms. */
  readonly drainTimeoutMs: number
  /** Realm maximum ticket lifetime, in seconds. */
  readonly maxTicketLifetimeS: number
  /** Entries per replay cache. */
  readonly replayCacheEntries: number
  /** Unsent reply bytes a connection may hold before it is closed as a slow reader. */
  readonly maxBufferedBytes: number
}

export interface KdcConfig {
  readonly dataDir: string
  readonly host: string
  readonly port: number
  /** Realm to create when the data directory is empty; ignored otherwise (must then match). */
  readonly realm: string | undefined
  /** Node name reported by status (design brief §8: the HA pair names its nodes). */
  readonly node: string
  /**
   * Test-only clock offset in seconds (TESSERA_KDC_TEST_CLOCK_OFFSET_S), added to the system
   * clock so integration tests can age tickets without waiting. Announced on stderr when non-zero.
   */
  readonly clockOffsetS: number
  /** Allowed clock skew in seconds (protocol constant; not configurable, kept here for wiring). */
  readonly skewS: number
  readonly limits: KdcLimits
}

interface Bound {
  readonly min: number
  readonly max: number
  readonly default: number
}

/** Bounds of every limit. */
export const LIMIT_BOUNDS: Readonly<Record<keyof KdcLimits, Bound>> = Object.freeze({
  maxConnections: { min: 1, max: 100_000, default: 1_024 },
  maxConnectionsPerAddress: { min: 1, max: 100_000, default: 256 },
  maxInflightPerConnection: { min: 1, max: 1_024, default: 32 },
  handshakeTimeoutMs: { min: 100, max: 120_000, default: 10_000 },
  idleTimeoutMs: { min: 100, max: 3_600_000, default: 120_000 },
  connectionRatePerSecond: { min: 1, max: 1_000_000, default: 2_000 },
  connectionBurst: { min: 1, max: 1_000_000, default: 4_000 },
  principalRatePerSecond: { min: 1, max: 1_000_000, default: 500 },
  principalBurst: { min: 1, max: 1_000_000, default: 1_000 },
  drainTimeoutMs: { min: 1, max: 600_000, default: 10_000 },
  maxTicketLifetimeS: {
    min: MIN_TICKET_LIFETIME_S,
    max: MAX_TICKET_LIFETIME_S,
    default: MAX_TICKET_LIFETIME_S,
  },
  replayCacheEntries: { min: 16, max: 10_000_000, default: 200_000 },
  maxBufferedBytes: { min: 65_536, max: 256 * 1024 * 1024, default: 4 * 1024 * 1024 },
})

export type LimitName = keyof KdcLimits

/** What the caller supplies; everything but dataDir has a default. */
export interface KdcConfigInput {
  readonly dataDir: string
  readonly listen?: string
  readonly realm?: string | undefined
  readonly node?: string
  readonly clockOffsetS?: number
  readonly limits?: Partial<Record<LimitName, unknown>>
}

export const DEFAULT_LISTEN = '127.0.0.1:7088'

/** Validate one limit: an integer in [min, max]. Anything else is a TypeError/RangeError. */
export function checkLimit(name: LimitName, value: unknown): number {
  const b = LIMIT_BOUNDS[name]
  if (typeof value !== 'number' || !Number.isFinite(value) || !Number.isInteger(value)) {
    throw new TypeError(
      `${name} must be an integer between ${b.min} and ${b.max}, got ${String(value)}`,
    )
  }
  if (value < b.min || value > b.max) {
    throw new RangeError(`${name} must be between ${b.min} and ${b.max}, got ${value}`)
  }
  return value
}

/** Parse a decimal integer from argv/env strictly: digits only, no sign, no exponent, no spaces. */
export function parseIntegerOption(name: string, text: string): number {
  if (!/^(0|[1-9][0-9]{0,14})$/.test(text)) {
    throw new TypeError(`${name} must be a whole number, got ${JSON.stringify(text)}`)
  }
  return Number(text)
}

/** Parse "HOST:PORT" (IPv6 as "[::1]:PORT"). Port 0 asks the OS for a free port. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(0|[1-9][0-9]{0,4})$/.exec(text)
  if (m === null) {
    throw new TypeError(
      `--listen must be HOST:PORT (e.g. 127.0.0.1:7088 or [::1]:7088), got ${JSON.stringify(text)}`,
    )
  }
  const host = (m[1] as string).replace(/^\[(.*)\]$/, '$1')
  const port = Number(m[2])
  if (port > 65_535) throw new RangeError(`--listen port must be 0..65535, got ${port}`)
  return { host, port }
}

/** Recursively freeze plain objects and arrays. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}

/** Build the validated, frozen configuration. Throws TypeError/RangeError on any bad value. */
export function buildConfig(input: KdcConfigInput): KdcConfig {
  if (typeof input.dataDir !== 'string' || input.dataDir === '') {
    throw new TypeError('--data must name a directory')
  }
  const { host, port } = parseListen(input.listen ?? DEFAULT_LISTEN)
  const realm = input.realm === undefined ? undefined : assertRealmName(input.realm)
  const node = input.node ?? hostname()
  if (!isNodeName(node)) {
    throw new TypeError(
      `node name ${JSON.stringify(node)} is invalid: use 1-63 of A-Z a-z 0-9 . _ -`,
    )
  }
  const clockOffsetS = input.clockOffsetS ?? 0
  if (!Number.isSafeInteger(clockOffsetS) || Math.abs(clockOffsetS) > 10 * 365 * 86_400) {
    throw new RangeError('the test clock offset must be a whole number of seconds within ±10 years')
  }
  const supplied = input.limits ?? {}
  for (const key of Object.keys(supplied)) {
    if (!Object.hasOwn(LIMIT_BOUNDS, key)) throw new TypeError(`unknown limit ${key}`)
  }
  const limits = {} as Record<LimitName, number>
  for (const name of Object.keys(LIMIT_BOUNDS) as LimitName[]) {
    const v = supplied[name]
    limits[name] = v === undefined ? LIMIT_BOUNDS[name].default : checkLimit(name, v)
  }
  return deepFreeze({
    dataDir: input.dataDir,
    host,
    port,
    realm,
    node,
    clockOffsetS,
    skewS: MAX_CLOCK_SKEW_S,
    limits,
  })
}
