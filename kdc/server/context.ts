/**
 * What every exchange handler needs, built once per KDC process: the store (read through its
 * in-memory view on every request, so admin changes apply to the next request), the clock, the
 * configuration, the replay caches, the per-principal rate limiter, audit and metrics.
 */
import type { Logger } from 'pino'
import { BrokerError, deriveKey, LABELS, type Clock, type KeyVersion } from '../protocol/index.js'
import type { KdcStore, PrincipalEntry } from '../store/store.js'
import type { AuditSink } from './audit.js'
import type { KdcConfig } from './config.js'
import type { KdcMetrics } from './metrics.js'
import type { KeyedRateLimiter } from './rate-limit.js'
import type { ReplayCache } from './replay.js'

export interface KdcContext {
  readonly store: KdcStore
  readonly clock: Clock
  readonly config: KdcConfig
  /** Pre-auth (client, nonce) pairs seen by the AS. */
  readonly preauthReplay: ReplayCache
  /** Authenticators seen by the TGS (bounded; evicts the oldest when full). */
  readonly authenticatorReplay: ReplayCache
  /**
   * Authenticators seen by the admin exchange. Separate, and never evicting a live entry: a
   * replayed admin write would run again, so a full cache refuses new admin requests instead.
   */
  readonly adminReplay: ReplayCache
  readonly principalLimiter: KeyedRateLimiter
  readonly audit: AuditSink
  readonly log: Logger
  readonly metrics: KdcMetrics
  /** Seconds since the epoch at start (for status). */
  readonly startedAt: number
  readonly version: string
}

/**
 * The mutable note an exchange fills in as it learns things, so the audit record of a failure says
 * how far the request got. Only names, numbers and hex: never key material.
 */
export interface AuditNote {
  caller?: string
  target?: string
  scopes?: readonly string[]
  ticketId?: string
  kvno?: number
  policyVersion?: number
  rules?: readonly string[]
  op?: string
}

/** Fresh CSPRNG bytes (session keys, ticket ids), from the protocol core's pooled CSPRNG. */
export { randomBytes } from '../protocol/index.js'

/** The key version `kvno` of `entry`, or undefined. Selection by kvno only: no trial decryption. */
export function keyByKvno(entry: PrincipalEntry, kvno: number): KeyVersion | undefined {
  return entry.keys.find((k) => k.kvno === kvno)
}

/** The current (highest) key of a principal the KDC itself needs (krbtgt, a target). */
export function currentKey(entry: PrincipalEntry): KeyVersion {
  const key = entry.keys[entry.keys.length - 1]
  if (key === undefined) {
    // A principal with no key is a broken store, not peer data: the dispatcher logs it.
    throw new Error(`principal ${entry.name} has no key`)
  }
  return key
}

const ticketSubkeys = new WeakMap<Uint8Array, Uint8Array>()

/**
 * deriveKey(key, tessera/v1/ticket) of a long-term key, cached per key object: the store's view
 * keeps one Uint8Array per key version until the record changes, so the cache follows rotation and
 * deletion by itself (a WeakMap entry dies with its key). The TGS seals and opens a ticket on every
 * request; deriving afresh each time was two HMACs per seal. Callers must not wipe the result.
 * (Pre-auth subkeys are deliberately not cached: an unknown principal's decoy derivation must cost
 * the same as a real one.)
 */
export function ticketSubkey(key: KeyVersion): Uint8Array {
  let subkey = ticketSubkeys.get(key.key)
  if (subkey === undefined) {
    subkey = deriveKey(key.key, LABELS.ticket)
    ticketSubkeys.set(key.key, subkey)
  }
  return subkey
}

/** A principal record the KDC needs for itself (krbtgt, kadmin); missing means a broken realm. */
export function servicePrincipal(ctx: KdcContext, name: string): PrincipalEntry {
  const entry = ctx.store.getPrincipal(name)
  if (entry === undefined) {
    throw new BrokerError('ERR_KDC_UNAVAILABLE', {
      status: 'REALM_INCOMPLETE',
      message: `the realm has no ${name} principal; the store is damaged`,
    })
  }
  return entry
}

/** Take a per-principal token, or refuse with ERR_KDC_RATE_LIMITED. */
export function takePrincipalToken(ctx: KdcContext, principal: string): void {
  if (!ctx.principalLimiter.take(principal)) {
    throw new BrokerError('ERR_KDC_RATE_LIMITED', { status: 'PRINCIPAL_RATE' })
  }
}
