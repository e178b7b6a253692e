/**
 * Seal/open benchmark of one ticket (a 167-byte EncTicketPart) with each AEAD backend
 * (docs/protocol.md §3.1). Build, then run: `npm run build && node dist/bench/seal-open.js`.
 *
 * For each backend and operation: a warm-up, then RUNS timed runs of about RUN_MS each; the table
 * shows the median run's ops/s and µs/op, and the ratio to the noble (pure JS) reference. Bounded:
 * 3 backends × 2 operations × (warm-up + RUNS) × RUN_MS ≈ 6 s.
 */
import {
  availableBackends,
  deriveKey,
  encode,
  LABELS,
  openTicket,
  sealTicket,
  ticketAad,
  useBackend,
  type EncTicketPart,
  type Ticket,
} from '../kdc/protocol/index.js'

const RUNS = 7
const RUN_MS = 120

const pattern = (start: number, n: number): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff)

const T0 = 1_767_225_600
const part: EncTicketPart = {
  flags: 1,
  sessionKey: pattern(0xe0, 32),
  client: 'payments',
  authTime: T0,
  startTime: T0,
  endTime: T0 + 900,
  scopes: [
    'inventory:reserve',
    'orders:read',
    'orders:refund',
    'orders:write',
    'payments:callback',
    'reports:*',
  ],
  policyVersion: 42,
  ticketId: pattern(0x10, 16),
  kdcCheck: new Uint8Array(0),
}
const header = { realm: 'TESSERA.LOCAL', service: 'orders', kvno: 3 }
const subkey = deriveKey(pattern(0x40, 32), LABELS.ticket)

const plaintextBytes = encode([
  part.flags,
  part.sessionKey,
  part.client,
  part.authTime,
  part.startTime,
  part.endTime,
  [...part.scopes],
  part.policyVersion,
  part.ticketId,
  part.kdcCheck,
]).length
if (plaintextBytes !== 167)
  throw new Error(`ticket plaintext is ${String(plaintextBytes)} bytes, expected 167`)

let sink = 0

/** Operations per second of one run of about RUN_MS. */
function run(op: () => void): number {
  let n = 0
  let batch = 64
  const start = performance.now()
  let elapsed = 0
  while (elapsed < RUN_MS) {
    for (let i = 0; i < batch; i++) op()
    n += batch
    elapsed = performance.now() - start
    if (elapsed < RUN_MS / 4) batch *= 2
  }
  return (n * 1000) / elapsed
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

function measure(op: () => void): number {
  run(op) // warm-up
  return median(Array.from({ length: RUNS }, () => run(op)))
}

interface Row {
  readonly backend: string
  /** sealTicket / openTicket: AAD, encoding or strict parse, and the AEAD. */
  readonly seal: number
  readonly open: number
  /** The backend's XChaCha20-Poly1305 alone on the same bytes. */
  readonly rawSeal: number
  readonly rawOpen: number
}

const rows: Row[] = []
for (const backend of availableBackends()) {
  useBackend(backend.name)
  const ticket: Ticket = sealTicket(subkey, header, part)
  // Every backend opens every other backend's output: a cheap sanity check before timing.
  for (const other of availableBackends()) {
    useBackend(other.name)
    openTicket(ticket, subkey)
  }
  useBackend(backend.name)
  const seal = measure(() => {
    sink += sealTicket(subkey, header, part).sealed.length
  })
  const open = measure(() => {
    sink += openTicket(ticket, subkey).endTime
  })
  const nonce = ticket.sealed.subarray(0, 24)
  const body = ticket.sealed.subarray(24)
  const aad = ticketAad(header)
  const plaintext = backend.open(subkey, nonce, aad, body)
  if (plaintext === undefined) throw new Error(`${backend.name}: raw open failed`)
  const rawSeal = measure(() => {
    sink += backend.seal(subkey, nonce, aad, plaintext).length
  })
  const rawOpen = measure(() => {
    sink += backend.open(subkey, nonce, aad, body)?.length ?? 0
  })
  rows.push({ backend: backend.name, seal, open, rawSeal, rawOpen })
}

const noble = rows.find((r) => r.backend === 'noble') ?? rows[0]
const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const lines = [
  `seal/open of one ticket (${String(plaintextBytes)}-byte plaintext, ${String(24 + plaintextBytes + 16)}-byte sealed part), median of ${String(RUNS)} runs of ~${String(RUN_MS)} ms; node ${process.version}`,
  '',
  '| backend | AEAD seal µs | AEAD open µs | sealTicket µs | openTicket µs | open ops/s | AEAD open × noble | openTicket × noble |',
  '|---|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.backend} | ${fmt(1e6 / r.rawSeal, 2)} | ${fmt(1e6 / r.rawOpen, 2)} | ${fmt(1e6 / r.seal, 2)} | ${fmt(1e6 / r.open, 2)} | ${fmt(r.open)} | ${fmt(r.rawOpen / (noble?.rawOpen ?? r.rawOpen), 2)} | ${fmt(r.open / (noble?.open ?? r.open), 2)} |`,
  ),
  '',
  "AEAD: the backend's XChaCha20-Poly1305 alone. sealTicket/openTicket add the AAD, the msgpack encoding or strict parse of EncTicketPart.",
]
process.stdout.write(`${lines.join('\n')}\n`)
if (sink === 0) process.stdout.write('\n')
