/**
 * KDC test harness (house style B7; cf. krb5 k5test.py K5Realm). Creates a realm in a temporary
 * directory with initRealm, seeds principals and policy directly through the store BEFORE the KDC
 * starts (the KDC process then owns the LevelDB lock), spawns the compiled KDC
 * (`node dist/kdc/server/main.js start --data DIR --listen 127.0.0.1:0`), waits for the
 * "tessera-kdc listening on ws://…/v1" line, and hands back the URL, the keys of every principal,
 * the captured output and stop()/restart().
 *
 * It also holds a tiny raw WebSocket client that speaks frames (KdcWire), request builders for the
 * AS, TGS and admin exchanges, and RawWs, a hand-rolled WebSocket over node:net for tests that must
 * control the bytes (bursts in one TCP write, text frames, partial frames). No vitest imports: the
 * file is also compiled into dist/ for the load bench.
 *
 * Test-only KDC hook: env TESSERA_KDC_TEST_CLOCK_OFFSET_S (signed seconds) shifts the KDC's clock;
 * pass `clockOffsetS` to startKdcRealm() or restart().
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect as netConnect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import {
  adminRequestHash,
  deriveKey,
  encodeFrame,
  isBrokerError,
  LABELS,
  MSG,
  OBJ,
  openAdminPayload,
  openAsRepPart,
  openTgsRepPart,
  parseFrame,
  sealAdminPayload,
  sealAuthenticator,
  sealPreauth,
  tgsRequestHash,
  codeFromWire,
  type AsRepPart,
  type ErrorCode,
  type Frame,
  type KeyVersion,
  type PolicyRule,
  type TgsRepPart,
  type Ticket,
  type WireValue,
} from '../../kdc/protocol/index.js'
import { initRealm, openStore } from '../../kdc/store/realm.js'
import type { KdcStore } from '../../kdc/store/store.js'

// ---- paths ----------------------------------------------------------------------------------

/** The repository root: the nearest ancestor with the tessera package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const pkg = join(dir, 'package.json')
    if (existsSync(pkg)) {
      const parsed = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }
      if (parsed.name === 'tessera') return dir
    }
    const parent = dirname(dir)
    if (parent === dir) throw new Error('kdc-harness: cannot find the repository root')
    dir = parent
  }
}

export function kdcMainPath(): string {
  const main = join(repoRoot(), 'dist', 'kdc', 'server', 'main.js')
  if (!existsSync(main)) throw new Error(`kdc-harness: ${main} is missing; run \`npm run build\``)
  return main
}

// ---- realm + process --------------------------------------------------------------------------

export interface SeedPrincipal {
  readonly name: string
  readonly groups?: readonly string[]
  readonly enabled?: boolean
}

export interface KdcRealmOptions {
  readonly realm?: string
  readonly principals?: readonly SeedPrincipal[]
  readonly rules?: readonly PolicyRule[]
  /** Extra `start` arguments, e.g. ['--max-connections', '4']. */
  readonly args?: readonly string[]
  /** Extra environment for the KDC process. */
  readonly env?: Readonly<Record<string, string>>
  /** TESSERA_KDC_TEST_CLOCK_OFFSET_S for the KDC process. */
  readonly clockOffsetS?: number
  /** ms to wait for the listening line (default 15 000). */
  readonly startTimeoutMs?: number
}

export interface RestartOptions {
  readonly args?: readonly string[]
  readonly env?: Readonly<Record<string, string>>
  readonly clockOffsetS?: number
}

export interface KdcLogs {
  /** Every stdout line so far (the listening line, then JSON audit/log lines). */
  readonly stdout: string[]
  readonly stderr: string[]
}

export interface KdcRealm {
  readonly realm: string
  readonly dataDir: string
  readonly adminKeytabPath: string
  /** ws://127.0.0.1:PORT/v1 of the running process (changes on restart). */
  readonly url: string
  readonly port: number
  /** Process id of the running KDC (for CPU accounting in benchmarks). */
  readonly pid: number
  readonly logs: KdcLogs
  /** Key versions of every principal as seeded (plus admin); refreshed by withStore(). */
  keys(name: string): readonly KeyVersion[]
  /** The current key of a principal. */
  key(name: string): KeyVersion
  /** Parsed JSON lines with audit: true. */
  auditRecords(): Record<string, unknown>[]
  /** The last audit record matching `pred`, waiting for it (stdout arrives asynchronously). */
  waitAudit(
    pred: (r: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>
  /** SIGTERM and wait for exit; resolves with the exit code (null if killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>
  /** Stop (if running) and start again on a new port, optionally with other args/env/clock. */
  restart(options?: RestartOptions): Promise<void>
  /** With the KDC stopped: open the store offline, run `fn`, close it, refresh keys(). */
  withStore<T>(fn: (store: KdcStore) => Promise<T>): Promise<T>
  /** Stop and delete the data directory. */
  cleanup(): Promise<void>
}

const LISTENING = /^tessera-kdc listening on (ws:\/\/[^\s]+)$/

interface Spawned {
  readonly child: ChildProcess
  readonly url: string
  readonly port: number
  readonly exited: Promise<number | null>
}

function spawnKdc(
  dataDir: string,
  logs: KdcLogs,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  clockOffsetS: number,
  timeoutMs: number,
): Promise<Spawned> {
  const childEnv: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && k !== 'TESSERA_MASTER_KEY') childEnv[k] = v
  }
  Object.assign(childEnv, env)
  if (clockOffsetS !== 0) childEnv.TESSERA_KDC_TEST_CLOCK_OFFSET_S = String(clockOffsetS)
  const child = spawn(
    process.execPath,
    [kdcMainPath(), 'start', '--data', dataDir, '--listen', '127.0.0.1:0', ...args],
    { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code)
    })
  })
  return new Promise((resolve, reject) => {
    let settled = false
    const timer = setTimeout(() => {
      if (settled) return
      settled = true
      child.kill('SIGKILL')
      reject(
        new Error(
          `KDC did not print its listening line in ${timeoutMs} ms:\n${logs.stderr.join('\n')}`,
        ),
      )
    }, timeoutMs)
    const lines = (
      stream: NodeJS.ReadableStream,
      sink: string[],
      onLine?: (l: string) => void,
    ): void => {
      let buf = ''
      stream.setEncoding('utf8')
      stream.on('data', (chunk: string) => {
        buf += chunk
        let i: number
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i)
          buf = buf.slice(i + 1)
          sink.push(line)
          onLine?.(line)
        }
      })
    }
    lines(child.stdout as NodeJS.ReadableStream, logs.stdout, (line) => {
      const m = LISTENING.exec(line)
      if (m === null || settled) return
      settled = true
      clearTimeout(timer)
      const url = m[1] as string
      resolve({ child, url, port: Number(new URL(url).port), exited })
    })
    lines(child.stderr as NodeJS.ReadableStream, logs.stderr)
    void exited.then((code) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(
        new Error(`KDC exited with ${String(code)} before listening:\n${logs.stderr.join('\n')}`),
      )
    })
  })
}

/** Create, seed and start a realm. */
export async function startKdcRealm(options: KdcRealmOptions = {}): Promise<KdcRealm> {
  const realm = options.realm ?? 'TEST.REALM'
  const dataDir = await mkdtemp(join(tmpdir(), 'tessera-kdc-'))
  const noEnvMaster = {}
  const created = await initRealm({ dataDir, realm, env: noEnvMaster })
  const keyMap = new Map<string, readonly KeyVersion[]>()
  const refreshKeys = (store: KdcStore): void => {
    for (const p of store.listPrincipals())
      keyMap.set(
        p.name,
        p.keys.map((k) => ({ ...k, key: k.key.slice() })),
      )
  }
  {
    const store = await openStore({ dataDir, env: noEnvMaster })
    try {
      for (const p of options.principals ?? []) {
        await store.addPrincipal({
          name: p.name,
          groups: p.groups ?? [],
          ...(p.enabled === undefined ? {} : { enabled: p.enabled }),
        })
      }
      if (options.rules !== undefined) await store.setPolicy(options.rules)
      refreshKeys(store)
    } finally {
      await store.close()
    }
  }

  const logs: KdcLogs = { stdout: [], stderr: [] }
  const timeout = options.startTimeoutMs ?? 15_000
  let args = options.args ?? []
  let env = options.env ?? {}
  let clockOffsetS = options.clockOffsetS ?? 0
  let current: Spawned | undefined = await spawnKdc(dataDir, logs, args, env, clockOffsetS, timeout)

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    const running = current
    if (running === undefined) return null
    current = undefined
    if (running.child.exitCode === null && running.child.signalCode === null)
      running.child.kill(signal)
    const killer = setTimeout(() => running.child.kill('SIGKILL'), 15_000)
    const code = await running.exited
    clearTimeout(killer)
    return code
  }

  const handle: KdcRealm = {
    realm,
    dataDir,
    adminKeytabPath: created.adminKeytabPath,
    get url() {
      if (current === undefined) throw new Error('the KDC is stopped')
      return current.url
    },
    get port() {
      if (current === undefined) throw new Error('the KDC is stopped')
      return current.port
    },
    get pid() {
      const pid = current?.child.pid
      if (pid === undefined) throw new Error('the KDC is stopped')
      return pid
    },
    logs,
    keys(name) {
      const k = keyMap.get(name)
      if (k === undefined) throw new Error(`no principal ${name} in the harness`)
      return k
    },
    key(name) {
      const k = handle.keys(name)
      return k[k.length - 1] as KeyVersion
    },
    auditRecords() {
      const out: Record<string, unknown>[] = []
      for (const line of logs.stdout) {
        if (!line.startsWith('{')) continue
        try {
          const rec = JSON.parse(line) as Record<string, unknown>
          if (rec.audit === true) out.push(rec)
        } catch {
          // not JSON
        }
      }
      return out
    },
    async waitAudit(pred, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = handle.auditRecords().filter(pred).at(-1)
        if (found !== undefined) return found
        if (Date.now() > deadline) throw new Error('kdc-harness: audit record not found in time')
        await new Promise((r) => setTimeout(r, 20))
      }
    },
    stop,
    async restart(opts = {}) {
      await stop()
      if (opts.args !== undefined) args = opts.args
      if (opts.env !== undefined) env = opts.env
      if (opts.clockOffsetS !== undefined) clockOffsetS = opts.clockOffsetS
      current = await spawnKdc(dataDir, logs, args, env, clockOffsetS, timeout)
    },
    async withStore(fn) {
      if (current !== undefined)
        throw new Error('withStore needs the KDC stopped (it holds the DB lock)')
      const store = await openStore({ dataDir, env: noEnvMaster })
      try {
        const result = await fn(store)
        refreshKeys(store)
        return result
      } finally {
        await store.close()
      }
    },
    async cleanup() {
      await stop()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
  return handle
}

// ---- frames over ws ---------------------------------------------------------------------------

/** A received frame, or the bytes when they do not parse. */
export interface Received {
  readonly frame: Frame
  readonly bytes: Uint8Array
}

/** The code of an ERROR frame (throws if the frame is not an ERROR). */
export function errorCode(frame: Frame): ErrorCode {
  if (frame.type !== MSG.ERROR) throw new Error(`expected an ERROR frame, got type ${frame.type}`)
  return codeFromWire(frame.body.wire)
}

/**
 * A minimal KDC client over ws: sends frames, and queues every reply; request() waits for the
 * reply with the same id. No retries, no caching: tests see exactly what the KDC sent.
 */
export class KdcWire {
  readonly ws: WebSocket
  readonly #queue: Received[] = []
  readonly #waiters: { match: (r: Received) => boolean; resolve: (r: Received) => void }[] = []
  #nextId = 1
  readonly closed: Promise<{ code: number; reason: string }>

  private constructor(ws: WebSocket) {
    this.ws = ws
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString() })
      })
    })
    ws.on('message', (data: Buffer) => {
      const bytes = new Uint8Array(data)
      const received: Received = { frame: parseFrame(bytes), bytes }
      const i = this.#waiters.findIndex((w) => w.match(received))
      if (i >= 0) {
        const [w] = this.#waiters.splice(i, 1)
        w?.resolve(received)
      } else this.#queue.push(received)
    })
    ws.on('error', () => {
      // surfaced through `closed`
    })
  }

  static async connect(url: string, options: WebSocket.ClientOptions = {}): Promise<KdcWire> {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...options })
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => {
        resolve()
      })
      ws.once('error', reject)
      ws.once('unexpected-response', (_req, res) => {
        reject(new Error(`upgrade refused: HTTP ${String(res.statusCode)}`))
      })
    })
    return new KdcWire(ws)
  }

  /** A fresh frame id. */
  nextId(): number {
    return this.#nextId++
  }

  /** Send raw bytes as one binary message. */
  sendRaw(bytes: Uint8Array | string): void {
    this.ws.send(bytes, { binary: typeof bytes !== 'string' })
  }

  /** The next received frame matching `match` (default: any), waiting up to `timeoutMs`. */
  async next(match: (r: Received) => boolean = () => true, timeoutMs = 10_000): Promise<Received> {
    const i = this.#queue.findIndex(match)
    if (i >= 0) return this.#queue.splice(i, 1)[0] as Received
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error('no reply in time'))
      }, timeoutMs)
      this.#waiters.push({
        match,
        resolve: (r) => {
          clearTimeout(timer)
          resolve(r)
        },
      })
    })
  }

  /** Send a frame and wait for the reply with its id. */
  async request(frame: Frame, timeoutMs = 10_000): Promise<Frame> {
    this.ws.send(encodeFrame(frame), { binary: true })
    return (await this.next((r) => r.frame.id === frame.id, timeoutMs)).frame
  }

  close(): void {
    this.ws.close()
  }
}

// ---- request builders and flows ---------------------------------------------------------------

export const nowSeconds = (): number => Math.floor(Date.now() / 1000)

export interface AsRequestOptions {
  readonly realm: string
  readonly client: string
  readonly key: KeyVersion
  readonly id: number
  readonly lifetime?: number
  /** Pre-auth timestamp (default: now). */
  readonly ctime?: number
  readonly nonce?: Uint8Array
  /** Key used to seal the pre-auth (default: key.key) — a wrong one tests failed pre-auth. */
  readonly sealWith?: Uint8Array
}

export function buildAsReq(o: AsRequestOptions): { frame: Frame; nonce: Uint8Array } {
  const nonce = o.nonce ?? new Uint8Array(randomBytes(16))
  const preauth = sealPreauth(
    deriveKey(o.sealWith ?? o.key.key, LABELS.preauth),
    { realm: o.realm, client: o.client, kvno: o.key.kvno, lifetime: o.lifetime ?? 0 },
    { ctime: o.ctime ?? nowSeconds(), nonce },
  )
  return {
    nonce,
    frame: {
      type: MSG.AS_REQ,
      id: o.id,
      body: {
        realm: o.realm,
        client: o.client,
        kvno: o.key.kvno,
        nonce,
        lifetime: o.lifetime ?? 0,
        preauth,
      },
    },
  }
}

export interface Credentials {
  readonly realm: string
  readonly client: string
  readonly tgt: Ticket
  readonly part: AsRepPart
  readonly kdcTime: number
}

/** AS exchange; throws a BrokerError-like Error with `.code` on an ERROR frame. */
export async function login(wire: KdcWire, o: Omit<AsRequestOptions, 'id'>): Promise<Credentials> {
  const { frame, nonce } = buildAsReq({ ...o, id: wire.nextId() })
  const reply = await wire.request(frame)
  if (reply.type !== MSG.AS_REP) throw new WireError(errorCode(reply))
  const part = openAsRepPart(
    deriveKey(o.key.key, LABELS.asRep),
    { realm: o.realm, client: o.client, kvno: reply.body.kvno },
    reply.body.encPart,
  )
  if (Buffer.compare(part.nonce, nonce) !== 0) throw new Error('AS-REP nonce mismatch')
  return {
    realm: o.realm,
    client: o.client,
    tgt: reply.body.tgt,
    part,
    kdcTime: reply.body.kdcTime,
  }
}

/** The code of an ERROR reply, as an Error for flows. */
export class WireError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode) {
    super(code)
    this.code = code
  }
}

export interface TgsRequestOptions {
  readonly creds: Credentials
  readonly target: string
  readonly scopes?: readonly string[]
  readonly lifetime?: number
  readonly id: number
  readonly ctime?: number
  readonly counter?: number
  readonly nonce?: Uint8Array
  /** Override the request hash (tests of ERR_AP_REQUEST_MISMATCH). */
  readonly requestHash?: Uint8Array
  /** Replace the TGT (tamper tests). */
  readonly tgt?: Ticket
}

export function buildTgsReq(o: TgsRequestOptions): {
  frame: Frame
  nonce: Uint8Array
  authenticator: Uint8Array
} {
  const nonce = o.nonce ?? new Uint8Array(randomBytes(16))
  const scopes = o.scopes ?? []
  const lifetime = o.lifetime ?? 0
  const authenticator = sealAuthenticator(
    deriveKey(o.creds.part.sessionKey, LABELS.authenticator),
    { realm: o.creds.realm, client: o.creds.client, service: 'krbtgt', msgType: MSG.TGS_REQ },
    {
      ctime: o.ctime ?? nowSeconds(),
      counter: o.counter ?? 0,
      requestHash: o.requestHash ?? tgsRequestHash(o.target, scopes, lifetime, nonce),
    },
  )
  return {
    nonce,
    authenticator,
    frame: {
      type: MSG.TGS_REQ,
      id: o.id,
      body: { tgt: o.tgt ?? o.creds.tgt, authenticator, target: o.target, scopes, lifetime, nonce },
    },
  }
}

export interface ServiceTicket {
  readonly ticket: Ticket
  readonly part: TgsRepPart
  readonly kdcTime: number
}

export function openTgsRep(creds: Credentials, frame: Frame, target: string): ServiceTicket {
  if (frame.type !== MSG.TGS_REP) throw new WireError(errorCode(frame))
  const part = openTgsRepPart(
    deriveKey(creds.part.sessionKey, LABELS.tgsRep),
    { realm: creds.realm, client: creds.client, target },
    frame.body.encPart,
  )
  return { ticket: frame.body.ticket, part, kdcTime: frame.body.kdcTime }
}

/** TGS exchange. */
export async function getServiceTicket(
  wire: KdcWire,
  o: Omit<TgsRequestOptions, 'id'>,
): Promise<ServiceTicket> {
  const { frame } = buildTgsReq({ ...o, id: wire.nextId() })
  return openTgsRep(o.creds, await wire.request(frame), o.target)
}

/** Admin exchange with a kadmin ticket: returns the opened reply payload. */
export async function adminRequest(
  wire: KdcWire,
  creds: Credentials,
  kadmin: ServiceTicket,
  request: WireValue,
  ctime = nowSeconds(),
): Promise<WireValue> {
  const id = wire.nextId()
  const subkey = deriveKey(kadmin.part.sessionKey, LABELS.admin)
  const ctx = { realm: creds.realm, client: creds.client, id }
  const payload = sealAdminPayload(subkey, OBJ.ADMIN_REQ_ENC, ctx, request)
  const authenticator = sealAuthenticator(
    deriveKey(kadmin.part.sessionKey, LABELS.authenticator),
    { realm: creds.realm, client: creds.client, service: 'kadmin', msgType: MSG.ADMIN_REQ },
    { ctime, counter: 0, requestHash: adminRequestHash(id, payload) },
  )
  const reply = await wire.request({
    type: MSG.ADMIN_REQ,
    id,
    body: { ticket: kadmin.ticket, authenticator, payload },
  })
  if (reply.type !== MSG.ADMIN_REP) throw new WireError(errorCode(reply))
  return openAdminPayload(subkey, OBJ.ADMIN_REP_ENC, ctx, reply.body.payload)
}

/** The wire code of a failed flow (WireError or BrokerError), or 'OK'. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'OK'
  } catch (err) {
    if (err instanceof WireError) return err.code
    if (isBrokerError(err)) return err.code
    throw err
  }
}

// ---- raw WebSocket over node:net -------------------------------------------------------------

/**
 * A hand-rolled WebSocket client (RFC 6455) for adversarial tests: writes any number of frames in
 * ONE TCP write, text frames, partial frames, or nothing at all. Reads unfragmented server frames.
 */
export class RawWs {
  readonly socket: Socket
  #buf = Buffer.alloc(0)
  readonly messages: { opcode: number; payload: Buffer }[] = []
  #notify: (() => void) | undefined
  readonly ended: Promise<void>

  private constructor(socket: Socket) {
    this.socket = socket
    this.ended = new Promise((resolve) => {
      socket.once('close', () => {
        resolve()
        this.#notify?.()
      })
    })
    socket.on('error', () => {
      // surfaced through `ended`
    })
  }

  /** Open a TCP connection; with `upgrade` (default) complete the WebSocket handshake. */
  static async connect(url: string, upgrade = true): Promise<RawWs> {
    const u = new URL(url)
    const socket = netConnect(Number(u.port), u.hostname)
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    const raw = new RawWs(socket)
    if (!upgrade) {
      socket.on('data', (d: Buffer) => {
        raw.#onData(d)
      })
      return raw
    }
    const key = randomBytes(16).toString('base64')
    socket.write(
      `GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    )
    let head = Buffer.alloc(0)
    await new Promise<void>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        head = Buffer.concat([head, d])
        const end = head.indexOf('\r\n\r\n')
        if (end < 0) return
        socket.off('data', onData)
        const status = head.subarray(0, end).toString('latin1').split('\r\n')[0] ?? ''
        if (!status.includes(' 101 ')) {
          reject(new Error(`upgrade refused: ${status}`))
          return
        }
        socket.on('data', (x: Buffer) => {
          raw.#onData(x)
        })
        const rest = head.subarray(end + 4)
        if (rest.length > 0) raw.#onData(rest)
        resolve()
      }
      socket.on('data', onData)
      socket.once('close', () => {
        reject(new Error('closed during handshake'))
      })
    })
    return raw
  }

  /** One client frame (masked). opcode 2 = binary, 1 = text, 8 = close; fin=false starts a fragment. */
  static frame(payload: Uint8Array, opcode = 2, fin = true): Buffer {
    const len = payload.length
    const header: number[] = [(fin ? 0x80 : 0) | opcode]
    if (len < 126) header.push(0x80 | len)
    else if (len < 65_536) header.push(0x80 | 126, len >> 8, len & 0xff)
    else {
      header.push(0x80 | 127, 0, 0, 0, 0)
      header.push((len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff)
    }
    const mask = randomBytes(4)
    const body = Buffer.from(payload)
    for (let i = 0; i < body.length; i++) body[i] = (body[i] as number) ^ (mask[i & 3] as number)
    return Buffer.concat([Buffer.from(header), mask, body])
  }

  /** Write bytes as they are. */
  write(bytes: Uint8Array): void {
    this.socket.write(bytes)
  }

  #onData(d: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, d])
    for (;;) {
      if (this.#buf.length < 2) break
      const b0 = this.#buf[0] as number
      const b1 = this.#buf[1] as number
      let len = b1 & 0x7f
      let off = 2
      if (len === 126) {
        if (this.#buf.length < 4) break
        len = this.#buf.readUInt16BE(2)
        off = 4
      } else if (len === 127) {
        if (this.#buf.length < 10) break
        len = Number(this.#buf.readBigUInt64BE(2))
        off = 10
      }
      if (this.#buf.length < off + len) break
      this.messages.push({ opcode: b0 & 0x0f, payload: this.#buf.subarray(off, off + len) })
      this.#buf = this.#buf.subarray(off + len)
    }
    this.#notify?.()
  }

  /** Wait until at least `count` messages arrived or the socket closed (or timeout). */
  async waitFor(count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.messages.length < count && !this.socket.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()))
        this.#notify = () => {
          clearTimeout(t)
          resolve()
        }
      })
    }
  }

  /** The binary messages received, parsed as frames. */
  frames(): Frame[] {
    return this.messages
      .filter((m) => m.opcode === 2)
      .map((m) => parseFrame(new Uint8Array(m.payload)))
  }

  /** The close code the server sent, if any. */
  closeCode(): number | undefined {
    const close = this.messages.find((m) => m.opcode === 8)
    return close === undefined || close.payload.length < 2
      ? undefined
      : close.payload.readUInt16BE(0)
  }

  destroy(): void {
    this.socket.destroy()
  }
}
