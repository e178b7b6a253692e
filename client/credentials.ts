/**
 * The credential manager: the TGT and a bounded cache of service tickets, kept fresh in the
 * background so that a warm call never waits for the KDC.
 *
 * - Concurrent requests for the same ticket share one KDC round trip (single flight).
 * - A ticket in use is refreshed at a random point between 50 % and 66 % of its life; one nobody
 *   used since it was issued is not refreshed, but kept until it expires (a use after the refresh
 *   point starts a background refresh and still gets the current ticket).
 * - A failed refresh keeps the current ticket and retries with exponential backoff (capped at 5 min)
 *   while it is valid.
 * - An expired or rejected TGT (ERR_AP_TKT_EXPIRED, ERR_AP_BAD_KVNO, ERR_AP_BAD_INTEGRITY from the
 *   KDC, or ERR_KDC_CLIENT_REVOKED: our principal was deleted or registered again since the TGT was
 *   issued) means a fresh login, with the keytab as it is now, and one retry; ERR_AP_SKEW means
 *   one retry on the clock the refusal hinted (KdcClock.retryWithHint).
 */
import {
  BrokerError,
  isBrokerError,
  MSG,
  type ErrorCode,
  type Keytab,
} from '../kdc/protocol/index.js'
import { AS_EXPECT, buildAsReq, readAsRep } from './as.js'
import { AuthenticatorBuilder } from './authenticator.js'
import { TicketCache } from './cache.js'
import { backoffDelay, type ClientClock, type KdcClock, type TimerHandle } from './clock.js'
import { expiryMargin, isUsable, type Credential } from './credential.js'
import { buildTgsReq, readTgsRep } from './tgs.js'
import type { KdcTransport } from './transport.js'

/** A cached credential with its authenticator builder and refresh state. */
export interface CacheEntry {
  readonly credential: Credential
  readonly builder: AuthenticatorBuilder
  /** KDC time (seconds, fractional) after which the entry should be replaced. */
  readonly refreshAt: number
  used: boolean
  /** The refresh point passed while the entry was idle: the next use starts a refresh. */
  due: boolean
  refreshing: boolean
  /** Background refreshes of this entry that failed in a row (grows the retry delay). */
  failedRefreshes: number
  evicted: boolean
  timer: TimerHandle | undefined
}

export interface CredentialsOptions {
  readonly transport: Pick<KdcTransport, 'request'>
  readonly kdcClock: KdcClock
  readonly clock: ClientClock
  readonly random: () => number
  readonly realm: string
  readonly principal: string
  /** Returns the current keytab (re-read at every login so that a rotated keytab is picked up). */
  readonly loadKeytab: () => Promise<Keytab>
  readonly maxTickets: number
  readonly tgtLifetime: number
  readonly ticketLifetime: number
  readonly refresh: boolean
  readonly onBackgroundError: (err: unknown) => void
}

/** KDC answers to a TGS request that mean the TGT is no good any more: log in again. */
const TGT_REJECTED: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ERR_KDC_CLIENT_REVOKED',
  'ERR_AP_TKT_EXPIRED',
  'ERR_AP_BAD_KVNO',
  'ERR_AP_BAD_INTEGRITY',
])

/** Fraction of a ticket's life at which it is refreshed: uniformly in [0.50, 0.66]. */
const REFRESH_FROM = 0.5
const REFRESH_SPREAD = 0.16
/** An evicted entry's keys are wiped this long after eviction (a call may still hold it). */
const WIPE_GRACE_MS = 60_000

/**
 * TGT and service-ticket cache with single-flight fetches and background refresh.
 *
 * @example
 * ```ts
 * const creds = new Credentials({ transport, kdcClock, clock, random: Math.random, ... })
 * const entry = creds.cached('orders', []) ?? (await creds.ticket('orders', []))
 * ```
 */
export class Credentials {
  readonly #o: CredentialsOptions
  readonly #cache: TicketCache<CacheEntry>
  readonly #flights = new Map<string, Promise<CacheEntry>>()
  readonly #wipes = new Set<TimerHandle>()
  #tgt: CacheEntry | undefined
  #closed = false
  constructor(options: CredentialsOptions) {
    this.#o = options
    this.#cache = new TicketCache<CacheEntry>(options.maxTickets, (_key, entry) => {
      this.#evict(entry)
    })
  }

  /** Service tickets currently cached. */
  get size(): number {
    return this.#cache.size
  }

  /** The current TGT entry, if any (used or not). */
  get tgtEntry(): CacheEntry | undefined {
    return this.#tgt
  }

  /**
   * A cached, usable service ticket for (target, scopes), synchronously; undefined when the KDC
   * must be asked. Marks the entry used, and starts a background refresh when one is due.
   */
  cached(target: string, scopes: readonly string[]): CacheEntry | undefined {
    const key = cacheKey(target, scopes)
    const entry = this.#cache.get(key)
    if (entry === undefined) return undefined
    if (!isUsable(entry.credential, this.#o.kdcClock.nowSeconds()) || entry.builder.exhausted) {
      this.#cache.delete(key, entry)
      return undefined
    }
    this.#touch(entry, () => this.#refreshTicket(key, entry, target, scopes))
    return entry
  }

  /** A usable service ticket for (target, scopes): from the cache, or from the KDC. */
  async ticket(target: string, scopes: readonly string[], fresh = false): Promise<CacheEntry> {
    this.#assertOpen()
    if (!fresh) {
      const hit = this.cached(target, scopes)
      if (hit !== undefined) return hit
    }
    const key = cacheKey(target, scopes)
    const entry = await this.#flight(key, () => this.#fetchTicket(key, target, scopes))
    entry.used = true
    return entry
  }

  /** A usable TGT: cached, or from a fresh login. */
  async tgt(): Promise<CacheEntry> {
    this.#assertOpen()
    const t = this.#tgt
    if (t !== undefined && isUsable(t.credential, this.#o.kdcClock.nowSeconds())) {
      this.#touch(t, () => this.#refreshTgt(t))
      if (!t.builder.exhausted) return t
    }
    return this.login()
  }

  /** Log in now (AS exchange), replacing the TGT; concurrent calls share one exchange. */
  login(): Promise<CacheEntry> {
    this.#assertOpen()
    return this.#flight(TGT_KEY, () => this.#login())
  }

  /** Forget a service ticket (e.g. after a service refused it). */
  forget(target: string, scopes: readonly string[]): void {
    this.#cache.delete(cacheKey(target, scopes))
  }

  /** Forget one specific entry, if it is still the cached one. */
  drop(entry: CacheEntry): void {
    if (entry === this.#tgt) {
      this.#tgt = undefined
      this.#evict(entry)
      return
    }
    for (const key of this.#cache.keys()) {
      if (this.#cache.peek(key) === entry) this.#cache.delete(key, entry)
    }
  }

  /** Stop every timer and wipe every key. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#cache.clear()
    if (this.#tgt !== undefined) this.#evict(this.#tgt)
    this.#tgt = undefined
    for (const handle of this.#wipes) this.#o.clock.clearTimeout(handle)
    this.#wipes.clear()
    for (const entry of this.#evictedPending) this.#wipe(entry)
    this.#evictedPending.clear()
  }

  // ---- fetching ---------------------------------------------------------------------------

  #flight(key: string, run: () => Promise<CacheEntry>): Promise<CacheEntry> {
    const existing = this.#flights.get(key)
    if (existing !== undefined) return existing
    const p = run().finally(() => {
      if (this.#flights.get(key) === p) this.#flights.delete(key)
    })
    this.#flights.set(key, p)
    return p
  }

  async #login(): Promise<CacheEntry> {
    const keytab = await this.#o.loadKeytab()
    if (keytab.realm !== this.#o.realm || keytab.principal !== this.#o.principal) {
      throw new BrokerError('ERR_CLIENT_KEYTAB', {
        status: 'PRINCIPAL_CHANGED',
        message: `the keytab now holds ${keytab.principal}@${keytab.realm}, but this client is ${this.#o.principal}@${this.#o.realm}; restart it with the right keytab`,
      })
    }
    const credential = await this.#withClockRetry(async () => {
      const { reply, state } = await this.#o.transport.request({
        build: (id) => {
          const { body, state } = buildAsReq(
            keytab,
            this.#o.kdcClock.nowSeconds(),
            this.#o.tgtLifetime,
          )
          return { frame: { type: MSG.AS_REQ, id, body }, state }
        },
        expect: AS_EXPECT,
        idempotent: true,
      })
      if (reply.type !== MSG.AS_REP) throw unexpected()
      const tgt = readAsRep(keytab, reply.body, state)
      // The KDC's clock, authenticated: the TGT starts when the KDC issued it.
      this.#o.kdcClock.observe(tgt.startTime)
      return tgt
    })
    this.#assertOpenAfter(credential)
    const entry = this.#entry(credential)
    const old = this.#tgt
    this.#tgt = entry
    if (old !== undefined) this.#evict(old)
    this.#schedule(entry, () => this.#refreshTgt(entry))
    return entry
  }

  async #fetchTicket(key: string, target: string, scopes: readonly string[]): Promise<CacheEntry> {
    let tgt = await this.tgt()
    tgt.used = true
    let credential: Credential
    try {
      credential = await this.#withClockRetry(() => this.#tgs(tgt, target, scopes))
    } catch (err) {
      if (!isKdcReply(err) || !TGT_REJECTED.has(err.code)) throw err
      // The KDC no longer accepts this TGT (expired by its clock, its key changed, or our principal
      // record was re-created): log in again.
      this.drop(tgt)
      tgt = await this.login()
      credential = await this.#withClockRetry(() => this.#tgs(tgt, target, scopes))
    }
    this.#assertOpenAfter(credential)
    const entry = this.#entry(credential)
    this.#cache.set(key, entry)
    this.#schedule(entry, () => this.#refreshTicket(key, entry, target, scopes))
    return entry
  }

  async #tgs(tgt: CacheEntry, target: string, scopes: readonly string[]): Promise<Credential> {
    const { reply, state } = await this.#o.transport.request({
      build: (id) => {
        const now = this.#o.kdcClock.nowSeconds()
        const { body, state } = buildTgsReq(
          tgt.builder,
          target,
          scopes,
          this.#o.ticketLifetime,
          now,
        )
        return { frame: { type: MSG.TGS_REQ, id, body }, state }
      },
      expect: MSG.TGS_REP,
      idempotent: true,
    })
    if (reply.type !== MSG.TGS_REP) throw unexpected()
    const ticket = readTgsRep(tgt.builder, reply.body, state)
    // The KDC's clock, authenticated: the ticket starts when the KDC issued it.
    this.#o.kdcClock.observe(ticket.startTime)
    return ticket
  }

  /**
   * Run an exchange; when the KDC answered ERR_AP_SKEW, run it once more, on the KDC's clock when
   * the refusal hinted another one (docs/protocol.md §6.3). The refusal's kdcTime is
   * unauthenticated, so it is adopted for that retry only and undone if the retry fails too
   * (KdcClock.retryWithHint); a retry that succeeds confirms it with the issued ticket's
   * authenticated start time. Nothing else is retried: a KDC answers a stale or early timestamp
   * with ERR_AP_SKEW, never with the deliberately vague ERR_KDC_PREAUTH_FAILED.
   */
  async #withClockRetry<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (err) {
      if (!isKdcReply(err) || err.code !== 'ERR_AP_SKEW') throw err
      return this.#o.kdcClock.retryWithHint(true, run)
    }
  }

  // ---- cache entries and refresh ------------------------------------------------------------

  #entry(credential: Credential): CacheEntry {
    const life = credential.endTime - credential.startTime
    return {
      credential,
      builder: new AuthenticatorBuilder(credential),
      refreshAt: credential.startTime + life * (REFRESH_FROM + this.#o.random() * REFRESH_SPREAD),
      used: false,
      due: false,
      refreshing: false,
      failedRefreshes: 0,
      evicted: false,
      timer: undefined,
    }
  }

  #touch(entry: CacheEntry, refresh: () => Promise<void>): void {
    entry.used = true
    if (entry.due && !entry.refreshing && this.#o.refresh) {
      entry.due = false
      void refresh()
    }
  }

  /** Arm the entry's timer for its refresh point. */
  #schedule(entry: CacheEntry, refresh: () => Promise<void>): void {
    if (!this.#o.refresh) return
    this.#arm(entry, entry.refreshAt, () => {
      if (entry.used) {
        void refresh()
      } else {
        // Idle since it was issued: do not bother the KDC; expire it unless someone uses it.
        entry.due = true
        this.#armExpiry(entry)
      }
    })
  }

  #armExpiry(entry: CacheEntry): void {
    const c = entry.credential
    this.#arm(entry, c.endTime - expiryMargin(c), () => {
      if (entry === this.#tgt) {
        this.#tgt = undefined
        this.#evict(entry)
      } else {
        this.drop(entry)
      }
    })
  }

  #arm(entry: CacheEntry, atKdcSeconds: number, fire: () => void): void {
    if (entry.timer !== undefined) this.#o.clock.clearTimeout(entry.timer)
    const delayMs = Math.max(0, Math.ceil((atKdcSeconds - this.#o.kdcClock.nowSeconds()) * 1000))
    entry.timer = this.#o.clock.setTimeout(() => {
      entry.timer = undefined
      if (!entry.evicted && !this.#closed) fire()
    }, delayMs)
  }

  async #refreshTgt(entry: CacheEntry): Promise<void> {
    await this.#refresh(entry, () => this.login())
  }

  async #refreshTicket(
    key: string,
    entry: CacheEntry,
    target: string,
    scopes: readonly string[],
  ): Promise<void> {
    await this.#refresh(entry, () =>
      this.#flight(key, () => this.#fetchTicket(key, target, scopes)),
    )
  }

  async #refresh(entry: CacheEntry, fetch: () => Promise<CacheEntry>): Promise<void> {
    if (entry.refreshing || entry.evicted || this.#closed) return
    entry.refreshing = true
    try {
      await fetch()
    } catch (err) {
      if (this.#isClosed()) return
      this.#o.onBackgroundError(err)
      entry.refreshing = false
      if (isEvicted(entry)) return
      // Keep serving the current ticket; try again later while it is still valid.
      const c = entry.credential
      const remaining = c.endTime - expiryMargin(c) - this.#o.kdcClock.nowSeconds()
      if (remaining <= 1) {
        this.#armExpiry(entry)
        return
      }
      // Exponential (4 s, 8 s, … up to 5 min, with jitter), so that a KDC in trouble is not
      // hammered by every cached ticket at a fixed pace.
      const attempt = 2 + entry.failedRefreshes++
      const delayMs = backoffDelay(attempt, 1_000, 300_000, this.#o.random)
      const waitS = Math.min(remaining / 2, delayMs / 1000)
      this.#arm(entry, this.#o.kdcClock.nowSeconds() + waitS, () => {
        void this.#refresh(entry, fetch)
      })
    }
  }

  readonly #evictedPending = new Set<CacheEntry>()

  #evict(entry: CacheEntry): void {
    if (entry.evicted) return
    entry.evicted = true
    if (entry.timer !== undefined) this.#o.clock.clearTimeout(entry.timer)
    entry.timer = undefined
    if (this.#closed) {
      this.#wipe(entry)
      return
    }
    // A call that fetched this entry a moment ago may still be building with it: wipe later.
    this.#evictedPending.add(entry)
    const handle = this.#o.clock.setTimeout(() => {
      this.#wipes.delete(handle)
      this.#evictedPending.delete(entry)
      this.#wipe(entry)
    }, WIPE_GRACE_MS)
    this.#wipes.add(handle)
  }

  #wipe(entry: CacheEntry): void {
    entry.builder.wipe()
    entry.credential.sessionKey.fill(0)
  }

  #isClosed(): boolean {
    return this.#closed
  }

  #assertOpen(): void {
    if (this.#closed) throw new TypeError('this Tessera client is closed; create a new one')
  }

  /** A reply that arrives after close() is not cached: its key is wiped and the caller told. */
  #assertOpenAfter(credential: Credential): void {
    if (!this.#closed) return
    credential.sessionKey.fill(0)
    throw new BrokerError('ERR_CLIENT_CLOSED', {
      status: 'CLIENT_CLOSED',
      message: 'the Tessera client was closed while a ticket was being fetched',
    })
  }
}

const TGT_KEY = '\u0000tgt'

/** The cache key of (target, canonical scopes). */
export function cacheKey(target: string, scopes: readonly string[]): string {
  return scopes.length === 0 ? target : `${target} ${scopes.join(' ')}`
}

/** Read through a call: the entry may have been evicted while a refresh was awaited. */
function isEvicted(entry: CacheEntry): boolean {
  return entry.evicted
}

function isKdcReply(err: unknown): err is BrokerError {
  return isBrokerError(err) && err.status === 'KDC_REPLY'
}

function unexpected(): BrokerError<'ERR_CLIENT_REPLY_MISMATCH'> {
  return new BrokerError('ERR_CLIENT_REPLY_MISMATCH', { status: 'TYPE' })
}
