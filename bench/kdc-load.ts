/**
 * KDC load on loopback (`npm run bench:kdc`): AS logins with pre-authentication and TGS requests
 * per second against a real spawned `tessera-kdc`, side by side with the MIT Kerberos figures of
 * ../shared/bench-anchors (measured on the same kind of 2-core machine, clients and KDC sharing the
 * cores as here). Every loop is bounded in time and count, and talks to 127.0.0.1 only.
 *
 * Options (environment): BENCH_SECONDS per scenario (default 4), BENCH_CONCURRENCY as a comma list
 * (default 1,4,16), BENCH_TARGETS distinct service principals (default 200).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  buildAsReq,
  buildTgsReq,
  KdcWire,
  login,
  openTgsRep,
  repoRoot,
  startKdcRealm,
  type Credentials,
  type KdcRealm,
} from '../test/helpers/kdc-harness.js'
import { MSG, deriveKey, LABELS, openAsRepPart, type Frame } from '../kdc/protocol/index.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? '4')
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,4,16').split(',').map(Number)
const TARGETS = Number(process.env.BENCH_TARGETS ?? '200')
/** Hard cap on requests per scenario, so a loop always ends even if the clock misbehaves. */
const MAX_REQUESTS = 2_000_000

/** Clock ticks per second of /proc/PID/stat times. */
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

/** User + system CPU seconds the process has used so far (Linux /proc), or NaN elsewhere. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
  } catch {
    return Number.NaN
  }
}

interface Result {
  readonly name: string
  readonly concurrency: number
  readonly ops: number
  readonly seconds: number
  readonly p50us: number
  readonly p99us: number
  readonly errors: number
  /** KDC CPU time per completed request, µs (what the MIT anchors call "KDC CPU µs per request"). */
  readonly kdcCpuUs: number
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number
}

/**
 * Run `concurrency` sequential request loops, each on its own WebSocket connection, for SECONDS.
 * `one(wire)` performs one complete operation (request, reply, client-side checks).
 */
async function drive(
  name: string,
  kdcPid: number,
  url: string,
  concurrency: number,
  one: (wire: KdcWire) => Promise<void>,
): Promise<Result> {
  const wires = await Promise.all(Array.from({ length: concurrency }, () => KdcWire.connect(url)))
  const latencies: number[] = []
  let errors = 0
  let issued = 0
  const deadline = performance.now() + SECONDS * 1000
  const started = performance.now()
  const cpuBefore = cpuSeconds(kdcPid)
  await Promise.all(
    wires.map(async (wire) => {
      while (performance.now() < deadline && issued < MAX_REQUESTS) {
        issued++
        const t0 = performance.now()
        try {
          await one(wire)
          latencies.push((performance.now() - t0) * 1000)
        } catch {
          errors++
        }
      }
    }),
  )
  const seconds = (performance.now() - started) / 1000
  const kdcCpu = cpuSeconds(kdcPid) - cpuBefore
  for (const w of wires) w.close()
  const sorted = Float64Array.from(latencies).sort()
  return {
    name,
    concurrency,
    ops: latencies.length,
    seconds,
    p50us: percentile(sorted, 0.5),
    p99us: percentile(sorted, 0.99),
    errors,
    kdcCpuUs: (kdcCpu / Math.max(1, latencies.length)) * 1e6,
  }
}

async function asLogin(realm: KdcRealm, wire: KdcWire): Promise<void> {
  const key = realm.key('bench-client')
  const { frame, nonce } = buildAsReq({
    realm: realm.realm,
    client: 'bench-client',
    key,
    id: wire.nextId(),
  })
  const reply: Frame = await wire.request(frame)
  if (reply.type !== MSG.AS_REP) throw new Error(`AS failed: ${String(reply.type)}`)
  const part = openAsRepPart(
    deriveKey(key.key, LABELS.asRep),
    { realm: realm.realm, client: 'bench-client', kvno: reply.body.kvno },
    reply.body.encPart,
  )
  if (Buffer.compare(part.nonce, nonce) !== 0) throw new Error('nonce mismatch')
}

function tgsRequest(creds: Credentials): (wire: KdcWire) => Promise<void> {
  let n = 0
  return async (wire) => {
    const target = `svc-${String(n++ % TARGETS).padStart(4, '0')}`
    const { frame } = buildTgsReq({ creds, target, id: wire.nextId() })
    openTgsRep(creds, await wire.request(frame), target)
  }
}

interface MitFigures {
  readonly opsPerS: number
  readonly cpuUsPerReq: number
}

/** MIT krb5 medians from the shared anchors, keyed by benchmark name. */
function mitAnchors(): Map<string, MitFigures> {
  const out = new Map<string, MitFigures>()
  const file = join(repoRoot(), '..', 'shared', 'bench-anchors', 'krb5', 'summary-2026-11-22.md')
  if (!existsSync(file)) return out
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const cells = line.split('|').map((c) => c.trim())
    const median = (cell: string | undefined): number =>
      Number(/\*\*([\d.]+)\*\*/.exec(cell ?? '')?.[1] ?? Number.NaN)
    const name = cells[1]
    // | name | procs | runs | ops/s | p50 | p99 | KDC CPU µs per KDC request | …
    if (name !== undefined && /^[a-z0-9_]+$/.test(name) && cells.length > 8) {
      out.set(name, { opsPerS: median(cells[4]), cpuUsPerReq: median(cells[7]) })
    }
  }
  return out
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

async function main(): Promise<void> {
  const targets = Array.from({ length: TARGETS }, (_, i) => ({
    name: `svc-${String(i).padStart(4, '0')}`,
    groups: ['bench-targets'],
  }))
  const unlimited = '1000000'
  const realm = await startKdcRealm({
    principals: [{ name: 'bench-client' }, ...targets],
    rules: [
      {
        id: 'bench',
        caller: 'bench-client',
        target: 'group:bench-targets',
        scopes: ['read'],
        maxLifetime: 0,
      },
    ],
    args: [
      '--principal-rate-per-second',
      unlimited,
      '--principal-burst',
      unlimited,
      '--connection-rate-per-second',
      unlimited,
      '--connection-burst',
      unlimited,
    ],
  })
  const results: Result[] = []
  try {
    const setup = await KdcWire.connect(realm.url)
    const creds = await login(setup, {
      realm: realm.realm,
      client: 'bench-client',
      key: realm.key('bench-client'),
    })
    setup.close()
    for (const c of CONCURRENCY) {
      results.push(await drive('as_preauth', realm.pid, realm.url, c, (w) => asLogin(realm, w)))
      results.push(await drive('tgs', realm.pid, realm.url, c, tgsRequest(creds)))
    }
  } finally {
    await realm.cleanup()
  }

  const mit = mitAnchors()
  const mitFor = (r: Result): MitFigures | undefined =>
    mit.get(`${r.name}_p${String(r.concurrency)}`) ??
    (r.concurrency > 4 ? mit.get(`${r.name}_p4`) : undefined)
  console.log(
    `Tessera KDC on loopback, ${String(SECONDS)} s per scenario, ${String(TARGETS)} targets; the load generator and the KDC share the machine's cores`,
  )
  console.log(
    '| exchange | clients | ops/s | p50 µs | p99 µs | errors | KDC CPU µs/req | MIT ops/s | MIT KDC CPU µs/req | ops/s ratio | CPU/req ratio (MIT ÷ ours) |',
  )
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const r of results) {
    const anchor = mitFor(r)
    const opsPerS = r.ops / r.seconds
    console.log(
      `| ${r.name} | ${String(r.concurrency)} | ${fmt(opsPerS)} | ${fmt(r.p50us)} | ${fmt(r.p99us)} | ${String(r.errors)} | ${fmt(r.kdcCpuUs)} | ${anchor === undefined ? '–' : fmt(anchor.opsPerS)} | ${anchor === undefined ? '–' : fmt(anchor.cpuUsPerReq)} | ${anchor === undefined ? '–' : `${fmt(opsPerS / anchor.opsPerS, 2)}×`} | ${anchor === undefined ? '–' : `${fmt(anchor.cpuUsPerReq / r.kdcCpuUs, 2)}×`} |`,
    )
  }
  console.log(
    'MIT anchors: ../shared/bench-anchors/krb5/summary-2026-11-22.md, medians (rows with 16 clients compare with MIT p4, its highest).',
  )
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
