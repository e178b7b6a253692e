/**
 * Prometheus metrics (prom-client), served at GET /metrics: requests by exchange and outcome code,
 * request duration, open connections, principals and the policy version. One registry per KDC
 * instance, so tests can run several in one process.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Exchange } from './audit.js'

export interface KdcMetrics {
  readonly registry: Registry
  /** Count one request outcome and its duration. */
  observe(exchange: Exchange, outcome: string, durationMs: number): void
  readonly connections: Gauge
  readonly rejectedConnections: Counter<'reason'>
}

export function createMetrics(sources: {
  readonly principals: () => number
  readonly policyVersion: () => number
}): KdcMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'tessera_kdc_process_' })
  const requests = new Counter({
    name: 'tessera_kdc_requests_total',
    help: 'KDC requests by exchange and outcome code (OK or the wire error code)',
    labelNames: ['exchange', 'outcome'] as const,
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'tessera_kdc_request_duration_seconds',
    help: 'Time from frame received to reply sent',
    labelNames: ['exchange'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  })
  const connections = new Gauge({
    name: 'tessera_kdc_open_connections',
    help: 'Open WebSocket connections',
    registers: [registry],
  })
  const rejectedConnections = new Counter({
    name: 'tessera_kdc_rejected_connections_total',
    help: 'Connections refused or closed by a limit',
    labelNames: ['reason'] as const,
    registers: [registry],
  })
  new Gauge({
    name: 'tessera_kdc_principals',
    help: 'Registered principals (including krbtgt and kadmin)',
    registers: [registry],
    collect() {
      this.set(sources.principals())
    },
  })
  new Gauge({
    name: 'tessera_kdc_policy_version',
    help: 'Version of the policy in force',
    registers: [registry],
    collect() {
      this.set(sources.policyVersion())
    },
  })
  return {
    registry,
    connections,
    rejectedConnections,
    observe(exchange, outcome, durationMs) {
      requests.inc({ exchange, outcome })
      duration.observe({ exchange }, durationMs / 1000)
    },
  }
}
