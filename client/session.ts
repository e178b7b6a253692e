/**
 * KdcSession: the low-level client of the KDC (issue #4). It logs in with a keytab (AS), obtains
 * service tickets (TGS) and performs admin calls (the admin exchange, docs/protocol.md §5.6) over
 * the failover transport, with the KDC clock offset applied to every timestamp it sends.
 * TesseraClient builds on it; the admin CLI uses it directly.
 */
import {
  ADMIN_PRINCIPAL,
  ADMIN_READ_OPS,
  adminRequestHash,
  BrokerError,
  isBrokerError,
  LABELS,
  MSG,
  OBJ,
  openAdminPayload,
  sealAdminPayload,
  type ErrorCode,
  type Keytab,
  type Ticket,
  type WireValue,
} from '../kdc/protocol/index.js'
import { KdcClock, systemClientClock, type ClientClock } from './clock.js'
import { Credentials, type CacheEntry } from './credentials.js'
import { keytabFileSource, memoryKeytab, readKeytabFile, type KeytabSource } from './keytab.js'
import {
  boolOption,
  fnOption,
  intOption,
  lifetimeOption,
  scopeList,
  targetName,
} from './options.js'
import { KdcTransport, type TransportOptions } from './transport.js'

/**
 * Options of {@link KdcSession}. Transport options (kdc, deadlines, attempts) are included.
 *
 * @example
 * ```ts
 * const options: KdcSessionOptions = {
 *   keytab: '/etc/tessera/payments.keytab',
 *   kdc: ['ws://kdc-a:7088/v1', 'ws://kdc-b:7088/v1'],
 * }
 * ```
 */
export interface KdcSessionOptions extends TransportOptions {
  /** Keytab file path; defaults to $TESSERA_KEYTAB. The principal and realm come from it. */
  readonly keytab?: string
  /** Requested TGT lifetime in seconds; 0 (default) takes the KDC's default. */
  readonly tgtLifetime?: number
  /** Requested service-ticket lifetime in seconds; 0 (default) takes the KDC's default. */
  readonly ticketLifetime?: number
  /** Most service tickets cached (default 256); the least recently used goes first. */
  readonly maxTickets?: number
  /** Refresh tickets in use in the background (default true). */
  readonly refresh?: boolean
  /** Called with errors of background refreshes (the current ticket stays in use meanwhile). */
  readonly onBackgroundError?: (err: unknown) => void
}

/**
 * What the KDC issued at login (times in seconds on the KDC's clock).
 *
 * @example
 * ```ts
 * const { client, realm, endTime } = await session.login()
 * ```
 */
export interface TgtInfo {
  readonly realm: string
  readonly client: string
  readonly authTime: number
  readonly startTime: number
  readonly endTime: number
}

/**
 * A service ticket with its session key, for callers that build their own authenticators. The
 * session key is a copy: wipe it with `sessionKey.fill(0)` when done.
 *
 * @example
 * ```ts
 * const t: ServiceTicket = await session.serviceTicket('orders')
 * console.log(t.scopes, new Date(t.endTime * 1000))
 * ```
 */
export interface ServiceTicket {
  readonly ticket: Ticket
  readonly sessionKey: Uint8Array
  readonly realm: string
  readonly client: string
  readonly service: string
  readonly authTime: number
  readonly startTime: number
  readonly endTime: number
  readonly scopes: readonly string[]
  readonly policyVersion: number
  readonly flags: number
}

/**
 * Options of {@link KdcSession.serviceTicket}.
 *
 * @example
 * ```ts
 * await session.serviceTicket('orders', { scopes: ['orders:read'], fresh: true })
 * ```
 */
export interface ServiceTicketOptions {
  /** Ask for at most these scopes; empty or undefined asks for everything policy grants. */
  readonly scopes?: readonly string[]
  /** Skip the cache and ask the KDC for a new ticket. */
  readonly fresh?: boolean
}

/**
 * Options of {@link KdcSession.adminCall}.
 *
 * @example
 * ```ts
 * await session.adminCall(['status', []], { deadlineMs: 30_000 })
 * ```
 */
export interface AdminCallOptions {
  /** Deadline for the reply in ms (default: the session's adminDeadlineMs). */
  readonly deadlineMs?: number
}

/** KDC answers to an admin request that mean "your kadmin ticket is no good": fetch one, retry once. */
const ADMIN_TICKET_REJECTED: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ERR_KDC_CLIENT_REVOKED',
  'ERR_AP_TKT_EXPIRED',
  'ERR_AP_BAD_KVNO',
  'ERR_AP_BAD_INTEGRITY',
  'ERR_AP_SKEW',
])

/** True for an admin request whose op only reads (resending it can change nothing). */
function isReadRequest(request: WireValue): boolean {
  const op = Array.isArray(request) ? (request as readonly WireValue[])[0] : undefined
  return typeof op === 'string' && (ADMIN_READ_OPS as ReadonlySet<string>).has(op)
}

interface SessionParts {
  readonly credentials: Credentials
  readonly kdcClock: KdcClock
}

const parts = new WeakMap<KdcSession, SessionParts>()

/** The internals TesseraClient builds on (not part of the public API). */
export function sessionParts(session: KdcSession): SessionParts {
  const p = parts.get(session)
  if (p === undefined) throw new TypeError('not a KdcSession')
  return p
}

/**
 * Test seams: a local clock with timers and a random source (for jitter).
 *
 * @example
 * ```ts
 * const session = new KdcSession(keytab, { kdc, clock: fakeClock, random: () => 0.5 })
 * ```
 */
export interface SessionTestHooks {
  readonly clock?: ClientClock
  readonly random?: () => number
}

/**
 * The low-level KDC client: login, service tickets, admin calls. Close it to end every timer and
 * socket.
 *
 * @example
 * ```ts
 * const session = await KdcSession.fromKeytab({ keytab: 'admin.keytab', kdc: ['ws://127.0.0.1:7088/v1'] })
 * try {
 *   const reply = await session.adminCall(['status', []])
 *   console.log(reply)
 * } finally {
 *   session.close()
 * }
 * ```
 */
export class KdcSession {
  /** The principal from the keytab. */
  readonly principal: string
  /** The realm from the keytab. */
  readonly realm: string
  readonly #transport: KdcTransport
  readonly #credentials: Credentials
  readonly #kdcClock: KdcClock
  readonly #keytab: KeytabSource
  #closed = false

  /**
   * Read the keytab (options.keytab or $TESSERA_KEYTAB) and create a session. Nothing is sent
   * until the first call; the keytab is re-read at every login, so rotation needs no restart.
   *
   * @example
   * ```ts
   * const session = await KdcSession.fromKeytab({ kdc: 'ws://kdc-a:7088/v1,ws://kdc-b:7088/v1' })
   * ```
   */
  static async fromKeytab(options: KdcSessionOptions = {}): Promise<KdcSession> {
    const path = keytabPath(options)
    const keytab = await readKeytabFile(path)
    return new KdcSession(keytab, options, keytabFileSource(path, keytab))
  }

  /**
   * Create a session from a parsed keytab (use {@link KdcSession.fromKeytab} for a file).
   *
   * @example
   * ```ts
   * const session = new KdcSession(parseKeytab(bytes), { kdc: ['ws://127.0.0.1:7088/v1'] })
   * ```
   */
  constructor(
    keytab: Keytab,
    options: KdcSessionOptions & SessionTestHooks = {},
    /** @internal fromKeytab() passes a source that re-reads the file at every login. */
    source?: KeytabSource,
  ) {
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new TypeError('options must be an object')
    }
    const maybeKeys: unknown = (keytab as Partial<Keytab> | null)?.keys
    if (!Array.isArray(maybeKeys)) {
      throw new TypeError('keytab must be a parsed Keytab (see parseKeytab), or use fromKeytab()')
    }
    if (keytab.keys.length === 0) throw new TypeError('the keytab holds no key')
    this.principal = keytab.principal
    this.realm = keytab.realm
    const clock = options.clock ?? systemClientClock
    const random = fnOption<() => number>(options.random, 'random') ?? Math.random
    const onBackgroundError =
      fnOption<(err: unknown) => void>(options.onBackgroundError, 'onBackgroundError') ??
      (() => undefined)
    const kdcClock = new KdcClock(clock)
    this.#keytab = source ?? memoryKeytab(keytab)
    const keytabSource = this.#keytab
    const credentialOptions = {
      kdcClock,
      clock,
      random,
      realm: keytab.realm,
      principal: keytab.principal,
      loadKeytab: () => keytabSource.load(),
      maxTickets: intOption(options.maxTickets, 'maxTickets', 1, 100_000, 256),
      tgtLifetime: lifetimeOption(options.tgtLifetime, 'tgtLifetime'),
      ticketLifetime: lifetimeOption(options.ticketLifetime, 'ticketLifetime'),
      refresh: boolOption(options.refresh, 'refresh', true),
      onBackgroundError,
    }
    this.#transport = new KdcTransport({ ...options, clock, random }, (t) => {
      kdcClock.hint(t)
    })
    this.#kdcClock = kdcClock
    this.#credentials = new Credentials({ ...credentialOptions, transport: this.#transport })
    parts.set(this, { credentials: this.#credentials, kdcClock })
  }

  /** The KDC endpoints, in order of preference. */
  get endpoints(): readonly string[] {
    return this.#transport.endpoints
  }

  /** Seconds the KDC's clock is ahead of ours (negative: behind), learnt from its replies. */
  get kdcOffsetSeconds(): number {
    return this.#kdcClock.offsetSeconds
  }

  /**
   * Log in now with the keytab (AS exchange) and cache the TGT. Other calls log in on demand; call
   * this at start-up to fail fast on a bad keytab or unreachable KDC.
   *
   * @example
   * ```ts
   * const tgt = await session.login()
   * console.log(`logged in as ${tgt.client}@${tgt.realm} until ${new Date(tgt.endTime * 1000)}`)
   * ```
   */
  async login(): Promise<TgtInfo> {
    this.#assertOpen()
    const { credential: c } = await this.#credentials.login()
    return {
      realm: c.realm,
      client: c.client,
      authTime: c.authTime,
      startTime: c.startTime,
      endTime: c.endTime,
    }
  }

  /**
   * A service ticket for `target` (cached until it nears expiry), with a copy of its session key.
   * It is the ticket this session's own calls to `target` use, and their authenticator counters
   * start at 1 as yours would: a service refuses the second authenticator with a given counter
   * (ERR_AP_REPLAY). Build authenticators for it yourself only if this session makes no other
   * calls to `target` with the same scopes.
   *
   * @example
   * ```ts
   * const t = await session.serviceTicket('orders', { scopes: ['orders:read'] })
   * console.log(t.service, t.scopes, t.endTime)
   * t.sessionKey.fill(0)
   * ```
   */
  async serviceTicket(target: string, options: ServiceTicketOptions = {}): Promise<ServiceTicket> {
    this.#assertOpen()
    const service = targetName(target)
    const scopes = scopeList(options.scopes)
    const fresh = boolOption(options.fresh, 'fresh', false)
    const { credential: c } = await this.#credentials.ticket(service, scopes, fresh)
    return {
      ticket: c.ticket,
      sessionKey: c.sessionKey.slice(),
      realm: c.realm,
      client: c.client,
      service: c.service,
      authTime: c.authTime,
      startTime: c.startTime,
      endTime: c.endTime,
      scopes: c.scopes,
      policyVersion: c.policyVersion,
      flags: c.flags,
    }
  }

  /**
   * Perform one admin operation: `request` is the plaintext of the sealed ADMIN_REQ payload
   * (see kdc/protocol/admin-ops.ts), the result the opened ADMIN_REP payload. Admin requests are
   * not idempotent: they move to the other endpoint only when they cannot have been executed
   * (connection never opened, ERR_ADMIN_NOT_WRITER, ERR_KDC_RATE_LIMITED). KDC refusals arrive as
   * BrokerErrors with their catalogue code (e.g. ERR_ADMIN_FORBIDDEN).
   *
   * @example
   * ```ts
   * const result = await session.adminCall(['principal.show', ['orders']])
   * ```
   */
  async adminCall(request: WireValue, options: AdminCallOptions = {}): Promise<WireValue> {
    this.#assertOpen()
    const deadlineMs = intOption(
      options.deadlineMs,
      'deadlineMs',
      10,
      600_000,
      this.#transport.adminDeadlineMs,
    )
    try {
      return await this.#adminAttempt(request, deadlineMs, false)
    } catch (err) {
      // Refused for the ticket or the clock: one more try, with a new ticket or the KDC's clock.
      // But an ERROR frame is not authenticated, and anyone on the path could have put it in place
      // of a reply to a request that ran: only a read is resent, never a write.
      if (
        !isBrokerError(err) ||
        err.status !== 'KDC_REPLY' ||
        !ADMIN_TICKET_REJECTED.has(err.code) ||
        !isReadRequest(request)
      ) {
        throw err
      }
      const skew = err.code === 'ERR_AP_SKEW'
      return this.#kdcClock.retryWithHint(skew, () =>
        this.#adminAttempt(request, deadlineMs, !skew),
      )
    }
  }

  async #adminAttempt(request: WireValue, deadlineMs: number, fresh: boolean): Promise<WireValue> {
    const entry: CacheEntry = await this.#credentials.ticket(ADMIN_PRINCIPAL, [], fresh)
    const c = entry.credential
    const subkey = entry.builder.subkey(LABELS.admin)
    const { reply, state } = await this.#transport.request({
      build: (id) => {
        const context = { realm: c.realm, client: c.client, id }
        const payload = sealAdminPayload(subkey, OBJ.ADMIN_REQ_ENC, context, request)
        const { sealed } = entry.builder.seal(
          MSG.ADMIN_REQ,
          this.#kdcClock.nowSeconds(),
          adminRequestHash(id, payload),
        )
        return {
          frame: {
            type: MSG.ADMIN_REQ,
            id,
            body: { ticket: c.ticket, authenticator: sealed, payload },
          },
          state: context,
        }
      },
      expect: MSG.ADMIN_REP,
      idempotent: false,
      deadlineMs,
    })
    if (reply.type !== MSG.ADMIN_REP) {
      throw new BrokerError('ERR_CLIENT_REPLY_MISMATCH', { status: 'TYPE' })
    }
    return openAdminPayload(subkey, OBJ.ADMIN_REP_ENC, state, reply.body.payload)
  }

  /** True after {@link KdcSession.close}. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * End every timer and socket and wipe every key. Calls in flight fail with ERR_CLIENT_CLOSED;
   * later calls throw TypeError.
   *
   * @example
   * ```ts
   * process.on('SIGTERM', () => session.close())
   * ```
   */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#transport.close()
    this.#credentials.close()
    this.#keytab.wipe()
  }

  #assertOpen(): void {
    if (this.#closed) throw new TypeError('this Tessera client is closed; create a new one')
  }
}

function keytabPath(options: KdcSessionOptions): string {
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new TypeError('options must be an object')
  }
  const path = options.keytab ?? process.env.TESSERA_KEYTAB
  if (path === undefined || path === '') {
    throw new TypeError('no keytab: pass keytab: "/path/to/service.keytab" or set TESSERA_KEYTAB')
  }
  if (typeof path !== 'string') throw new TypeError('keytab must be a file path (a string)')
  return path
}
