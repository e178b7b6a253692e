/**
 * Service-side verification throughput (`npm run bench`), one process, side by side with the JWT
 * libraries a service would otherwise use (jose HS256 and EdDSA, jsonwebtoken HS256 with a
 * KeyObject secret), verifying equivalent claims (sub, aud, exp, iat, scope).
 *
 * Scenarios, for each crypto backend of kdc/protocol (noble, native, sodium when installed, wasm):
 * - verify, first sight: every op presents a ticket the verifier has never seen (a pool of distinct
 *   tickets and authenticators is minted beforehand, so minting is not measured). Measured in a
 *   service's steady state: before the timed batches, each verifier has already verified as many
 *   other tickets as it will be shown, and those have since expired (callers renew their tickets),
 *   so its code is optimized and its ticket cache and replay table have their working size. Without
 *   that warm-up the batches would time the JIT and the tables' growth, which a long-running service
 *   pays once (set BENCH_COLD=1 to see it);
 * - verify, repeat caller: the same ticket, a fresh authenticator each op (pre-built);
 * - client header: building the Authorization header as the client SDK does per request
 *   (request hash, authenticator seal, AP-REQ encoding, base64url) with client/'s builder.
 *
 * Phases. Each backend runs in its own phase, the default backend (the fastest available) first,
 * then the others, with jsonwebtoken (the fastest peer, against which the goals are judged) in
 * every phase; jose, slow and only informational, runs in a phase of its own at the end, so that
 * its garbage does not land in the other phases' batches. A service runs one backend, while here
 * the same verifier functions end up calling four crypto implementations: so the default backend
 * is measured before any other has run, and once more after all of them, which the report prints
 * for comparison.
 *
 * Each figure is the median of several timed batches after a warm-up batch. The goals are judged
 * on paired ratios: in each round every scenario of the phase runs one batch, so the round's
 * Tessera rate over the same round's jsonwebtoken rate cancels the drift of a shared virtual
 * machine (whose speed moves by ±20% within a minute); the median of those per-round ratios is
 * reported with its range. The whole run is bounded (about a minute on a 2-core machine). Options:
 * BENCH_BATCHES (default 11), BENCH_COLD=1.
 */
import { createSecretKey, webcrypto } from 'node:crypto'
import * as jose from 'jose'
import jwt from 'jsonwebtoken'
import { AuthenticatorBuilder, requestHashOf } from '../client/authenticator.js'
import type { Credential } from '../client/credential.js'
import {
  availableBackends,
  bodyHash,
  canonicalAuthority,
  deriveKey,
  encodeApReq,
  generateKey,
  httpRequestHash,
  LABELS,
  MSG,
  sealAuthenticator,
  sealTicket,
  toBase64Url,
  useBackend,
  type BackendName,
  type Keytab,
  type Ticket,
} from '../kdc/protocol/index.js'
import { TicketVerifier } from '../service-sdk/index.js'

const BATCHES = Math.max(3, Number(process.env.BENCH_BATCHES ?? '11'))
const FIRST_SIGHT_OPS = 4_000
const REPEAT_OPS = 10_000
const CLIENT_OPS = 10_000
const JWT_OPS = 10_000
const DEADLINE_MS = 55_000

const REALM = 'TESSERA.LOCAL'
const SERVICE = 'orders'
const CLIENT = 'payments'
const SCOPES = ['orders:read', 'orders:write']
const NOW = Math.floor(Date.now() / 1000)
/** When the warm-up tickets were issued: expired (beyond the skew) long before NOW. */
const WARM_AT = NOW - 3_000
const COLD = process.env.BENCH_COLD === '1'
let clockNow = NOW
const clock = { nowSeconds: (): number => clockNow }
const REQUEST = { method: 'GET', url: '/orders?id=7', host: 'orders.internal' } as const
const URL_ = new URL('http://orders.internal/orders?id=7')
const started = Date.now()

interface Row {
  operation: string
  backend: string
  opsPerSec: number
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}

/** One measured operation: `run(b)` performs `ops` operations using batch index b (0 = warm-up). */
interface Scenario {
  readonly operation: string
  readonly backend: BackendName | '-'
  readonly ops: number
  readonly run: (batch: number) => void | Promise<void>
  readonly rates: number[]
  /** The phase it runs in (see runPhase). */
  readonly phase: number
}

const scenarios: Scenario[] = []
let currentPhase = 0

function scenario(
  operation: string,
  backend: BackendName | '-',
  ops: number,
  run: (batch: number) => void | Promise<void>,
): void {
  scenarios.push({ operation, backend, ops, run, rates: [], phase: currentPhase })
}

/**
 * Run the scenarios of the current phase: batches round-robin over them (warm-up round first), so
 * that load from other processes on a shared machine hits every scenario alike and the ratios stay
 * meaningful.
 */
async function runPhase(): Promise<void> {
  const mine = scenarios.filter((sc) => sc.phase === currentPhase)
  for (let b = 0; b <= BATCHES; b++) {
    for (const sc of mine) {
      if (sc.backend !== '-') useBackend(sc.backend)
      const t0 = process.hrtime.bigint()
      const r = sc.run(b)
      if (r instanceof Promise) await r
      const ns = Number(process.hrtime.bigint() - t0)
      if (b > 0) sc.rates.push((sc.ops * 1e9) / ns)
    }
    if (Date.now() - started > DEADLINE_MS) break
  }
  currentPhase++
}

// ---- fixtures (minted once, with the fastest backend; the bytes are the same for all) ---------

const serviceKey = generateKey()
const keytab: Keytab = {
  realm: REALM,
  principal: SERVICE,
  keys: [{ kvno: 1, key: serviceKey, createdAt: NOW - 3600 }],
}
const ticketSubkey = deriveKey(serviceKey, LABELS.ticket)

function mint(at = NOW): { ticket: Ticket; sessionKey: Uint8Array } {
  const sessionKey = generateKey()
  const ticket = sealTicket(
    ticketSubkey,
    { realm: REALM, service: SERVICE, kvno: 1 },
    {
      flags: 0,
      sessionKey,
      client: CLIENT,
      authTime: at - 60,
      startTime: at - 60,
      endTime: at + 900,
      scopes: SCOPES,
      policyVersion: 1,
      ticketId: generateKey().subarray(0, 16),
      kdcCheck: new Uint8Array(0),
    },
  )
  return { ticket, sessionKey }
}

const requestHash = httpRequestHash({
  method: REQUEST.method,
  authority: canonicalAuthority(REQUEST.host),
  target: REQUEST.url,
  bodyHash: bodyHash(new Uint8Array(0)),
})

/**
 * A header as node's HTTP parser hands it over: one flat string. (A string built by concatenation
 * is a rope that V8 flattens, with a copy, on first character access; that is not what a server
 * sees, so the pools are flattened up front.)
 */
function flat(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1')
}

function header(t: { ticket: Ticket; sessionKey: Uint8Array }, counter: number, at = NOW): string {
  const authenticator = sealAuthenticator(
    deriveKey(t.sessionKey, LABELS.authenticator),
    { realm: REALM, client: CLIENT, service: SERVICE, msgType: MSG.AP_REQ },
    { ctime: at, counter, requestHash },
  )
  return flat(`Tessera ${toBase64Url(encodeApReq({ ticket: t.ticket, authenticator }))}`)
}

const fastest = availableBackends().at(-1)?.name ?? 'noble'
useBackend(fastest)
const firstSightPool: string[] = []
for (let i = 0; i < FIRST_SIGHT_OPS * (BATCHES + 1); i++) firstSightPool.push(header(mint(), 1))
const warmPool: string[] = []
const warmCount = COLD ? 0 : firstSightPool.length
while (warmPool.length < warmCount) warmPool.push(header(mint(WARM_AT), 1, WARM_AT))

const repeatTicket = mint()
const repeatCredential: Credential = {
  realm: REALM,
  client: CLIENT,
  service: SERVICE,
  ticket: repeatTicket.ticket,
  sessionKey: repeatTicket.sessionKey,
  authTime: NOW - 60,
  startTime: NOW - 60,
  endTime: NOW + 900,
  flags: 0,
  scopes: SCOPES,
  policyVersion: 1,
}
const repeatBuilder = new AuthenticatorBuilder(repeatCredential)
const repeatPool: string[] = []
for (let i = 0; i < REPEAT_OPS * (BATCHES + 1) + 1; i++) {
  repeatPool.push(flat(repeatBuilder.apReq(NOW, requestHash).authorization))
}

// ---- Tessera, per backend ---------------------------------------------------------------------

let sink = 0
const AFTER_OTHERS = 'verify, first sight, after the other backends'

/** The first-sight scenario: a verifier in its steady state (see the file comment). */
function firstSight(name: BackendName, operation = 'verify, first sight'): void {
  useBackend(name)
  // The verifier starts when the warm-up tickets were fresh and verifies them; then its clock
  // moves on, so that they have all expired when timing starts.
  clockNow = COLD ? NOW : WARM_AT
  const fresh = new TicketVerifier(keytab, { clock, maxReplayWindows: firstSightPool.length + 10 })
  for (const h of warmPool) sink += fresh.verify(h, REQUEST).expiresAt
  clockNow = NOW
  scenario(operation, name, FIRST_SIGHT_OPS, (b) => {
    const base = b * FIRST_SIGHT_OPS
    for (let i = 0; i < FIRST_SIGHT_OPS; i++) {
      sink += fresh.verify(firstSightPool[base + i], REQUEST).expiresAt
    }
  })
}

function tessera(name: BackendName): void {
  firstSight(name)
  useBackend(name)
  const repeat = new TicketVerifier(keytab, { clock })
  repeat.verify(repeatPool[0], REQUEST) // the ticket is now cached
  scenario('verify, repeat caller', name, REPEAT_OPS, (b) => {
    const base = 1 + b * REPEAT_OPS
    for (let i = 0; i < REPEAT_OPS; i++) {
      sink += repeat.verify(repeatPool[base + i], REQUEST).expiresAt
    }
  })

  const builder = new AuthenticatorBuilder(repeatCredential)
  scenario('client: build Authorization header', name, CLIENT_OPS, () => {
    for (let i = 0; i < CLIENT_OPS; i++) {
      sink += builder.apReq(NOW, requestHashOf('GET', URL_, undefined)).authorization.length
    }
  })
}

// ---- JWT peers ------------------------------------------------------------------------------

const claims = { sub: CLIENT, aud: SERVICE, iat: NOW, exp: NOW + 900, scope: SCOPES.join(' ') }
const secret = generateKey()
const hsKey = await webcrypto.subtle.importKey(
  'raw',
  secret,
  { name: 'HMAC', hash: 'SHA-256' },
  false,
  ['sign', 'verify'],
)
const hsToken = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(hsKey)
const ed = await jose.generateKeyPair('EdDSA')
const edToken = await new jose.SignJWT(claims)
  .setProtectedHeader({ alg: 'EdDSA' })
  .sign(ed.privateKey)
const secretObject = createSecretKey(secret)
const jwtToken = jwt.sign(claims, secretObject, { algorithm: 'HS256', noTimestamp: true })
const JSONWEBTOKEN = 'jsonwebtoken HS256 verify (KeyObject)'

/** jsonwebtoken, the fastest peer, in every phase; jose (slow, informational) in its own phase. */
function peers(withJose: boolean): void {
  if (withJose) {
    scenario('jose HS256 jwtVerify', '-', JWT_OPS / 2, async () => {
      for (let i = 0; i < JWT_OPS / 2; i++) {
        const r = await jose.jwtVerify(hsToken, hsKey, { audience: SERVICE, algorithms: ['HS256'] })
        sink += r.payload.exp ?? 0
      }
    })
    scenario('jose EdDSA jwtVerify', '-', JWT_OPS / 5, async () => {
      for (let i = 0; i < JWT_OPS / 5; i++) {
        const r = await jose.jwtVerify(edToken, ed.publicKey, {
          audience: SERVICE,
          algorithms: ['EdDSA'],
        })
        sink += r.payload.exp ?? 0
      }
    })
  }
  scenario(JSONWEBTOKEN, '-', JWT_OPS, () => {
    for (let i = 0; i < JWT_OPS; i++) {
      const p = jwt.verify(jwtToken, secretObject, { algorithms: ['HS256'], audience: SERVICE })
      sink += typeof p === 'string' ? 0 : (p.exp ?? 0)
    }
  })
}

// ---- phases ---------------------------------------------------------------------------------

// The default backend (the fastest available) first, then the others, each paired with
// jsonwebtoken rounds of its own phase; then the default backend's first sight again; last, jose.
const order = [
  fastest,
  ...availableBackends()
    .map((b) => b.name)
    .filter((n) => n !== fastest),
]
for (const name of order) {
  tessera(name)
  peers(false)
  await runPhase()
}
firstSight(fastest, AFTER_OTHERS)
peers(false)
await runPhase()
peers(true)
await runPhase()
const josePhase = currentPhase - 1

const rows: Row[] = scenarios
  .filter(
    (sc) =>
      sc.operation !== AFTER_OTHERS &&
      (sc.backend !== '-' ||
        sc.phase === 0 ||
        (sc.phase === josePhase && sc.operation !== JSONWEBTOKEN)),
  )
  .map((sc) => ({ operation: sc.operation, backend: sc.backend, opsPerSec: median(sc.rates) }))

// ---- report ---------------------------------------------------------------------------------

const jwtRows = rows.filter((r) => r.backend === '-')
const bestJwt = jwtRows.reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a))
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
const lines = [
  `| operation | backend | ops/s | µs/op | × ${bestJwt.operation} |`,
  '|---|---|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.operation} | ${r.backend} | ${fmt(r.opsPerSec)} | ${(1e6 / r.opsPerSec).toFixed(2)} | ${(r.opsPerSec / bestJwt.opsPerSec).toFixed(2)} |`,
  ),
]
console.log(
  `\nTessera verify vs JWT (Node ${process.version}, ${String(BATCHES)} timed batches, medians)\n`,
)
console.log(lines.join('\n'))
const best = (op: string): Row =>
  rows.filter((r) => r.operation === op).reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a))
const scenarioOf = (row: Row): Scenario =>
  scenarios.find((sc) => sc.operation === row.operation && sc.backend === row.backend) as Scenario
/** Median and range of the per-round ratios of `sc` over jsonwebtoken in the same phase. */
function paired(sc: Scenario): string {
  const mine = sc.rates
  const peer = (
    scenarios.find((p) => p.operation === JSONWEBTOKEN && p.phase === sc.phase) as Scenario
  ).rates
  const n = Math.min(mine.length, peer.length)
  const ratios = Array.from({ length: n }, (_, i) => (mine[i] as number) / (peer[i] as number))
  return `${median(ratios).toFixed(2)}× (rounds ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`
}
const first = best('verify, first sight')
const rep = best('verify, repeat caller')
const after = scenarios.find((sc) => sc.operation === AFTER_OTHERS) as Scenario
console.log(
  `\ngoals, fastest backend vs ${bestJwt.operation}, median of per-round ratios:\n` +
    `  verify, first sight:   ${paired(scenarioOf(first))}, goal ≥ 2× (${first.backend})\n` +
    `  verify, repeat caller: ${paired(scenarioOf(rep))}, goal ≥ 3× (${rep.backend})\n` +
    `for comparison, ${fastest} first sight measured again after the other backends ran in this ` +
    `process: ${(1e6 / median(after.rates)).toFixed(2)} µs, ${paired(after)}`,
)
console.log(`total ${((Date.now() - started) / 1000).toFixed(1)} s${sink === 0.5 ? ' ' : ''}`)
