/**
 * Assemble a running KDC from a configuration and an open store: the context (clock, caches,
 * limiter, audit, metrics), the listener, and an orderly stop (drain, then close the store).
 * main.ts adds argv, bootstrap and signals; tests may call startKdc directly with a memory store.
 */
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import type { DestinationStream, Logger } from 'pino'
import { offsetClock, systemClock, type Clock } from '../protocol/index.js'
import type { KdcStore } from '../store/store.js'
import { createAuditSink, createLogger } from './audit.js'
import type { KdcConfig } from './config.js'
import type { KdcContext } from './context.js'
import { startListener, type Listener } from './listener.js'
import { createMetrics } from './metrics.js'
import { KeyedRateLimiter } from './rate-limit.js'
import { ReplayCache } from './replay.js'

export interface RunningKdc {
  readonly url: string
  readonly port: number
  readonly ctx: KdcContext
  /** Stop accepting, drain (bounded by drainTimeoutMs), close every connection and the store. */
  stop(): Promise<{ drained: boolean }>
}

export interface StartKdcOptions {
  readonly config: KdcConfig
  readonly store: KdcStore
  /** Defaults to the system clock shifted by config.clockOffsetS. */
  readonly clock?: Clock
  /** Log destination; defaults to stdout. */
  readonly logDestination?: DestinationStream
  readonly logger?: Logger
}

/** The software version from package.json ('0.0.0' when it cannot be read). */
export function softwareVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: unknown
        version?: unknown
      }
      if (pkg.name === 'tessera' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // try the next location
    }
  }
  return '0.0.0'
}

/** The clock a KDC process uses: the system clock plus the (test-only) offset. */
export function kdcClock(config: KdcConfig): Clock {
  const offset = config.clockOffsetS
  return offset === 0 ? systemClock : offsetClock(systemClock, () => offset)
}

/** Build the per-process context (no I/O): caches, limiter, audit, metrics. */
export function createContext(options: StartKdcOptions): KdcContext {
  const { config, store } = options
  const clock = options.clock ?? kdcClock(config)
  const log = options.logger ?? createLogger(options.logDestination)
  // A timestamp accepted at t may be as late as t + skew and stays acceptable through
  // t + 2·skew inclusive (|ctime − now| ≤ skew); the cache must still hold it at that second.
  const ttl = 2 * config.skewS + 1
  return {
    store,
    clock,
    config,
    preauthReplay: new ReplayCache({
      maxEntries: config.limits.replayCacheEntries,
      ttlSeconds: ttl,
      clock,
    }),
    authenticatorReplay: new ReplayCache({
      maxEntries: config.limits.replayCacheEntries,
      ttlSeconds: ttl,
      clock,
    }),
    adminReplay: new ReplayCache({
      maxEntries: config.limits.replayCacheEntries,
      ttlSeconds: ttl,
      clock,
    }),
    principalLimiter: new KeyedRateLimiter({
      ratePerSecond: config.limits.principalRatePerSecond,
      burst: config.limits.principalBurst,
      maxKeys: 100_000,
      nowMs: () => performance.now(),
    }),
    audit: createAuditSink(log),
    log,
    metrics: createMetrics({
      principals: () => store.principalCount(),
      policyVersion: () => store.getPolicy().version,
    }),
    startedAt: clock.nowSeconds(),
    version: softwareVersion(),
  }
}

/** Build the context and start listening. */
export async function startKdc(options: StartKdcOptions): Promise<RunningKdc> {
  const { store } = options
  const ctx = createContext(options)
  const listener: Listener = await startListener(ctx)
  let stopping: Promise<{ drained: boolean }> | undefined
  return {
    url: listener.url,
    port: listener.port,
    ctx,
    stop() {
      stopping ??= (async () => {
        const result = await listener.shutdown()
        await store.close()
        return result
      })()
      return stopping
    },
  }
}
