/**
 * The ticket verifier (docs/protocol.md §5.5, §6, design brief §4–§5): checks `Authorization: Tessera
 * <base64url(AP-REQ)>` offline with the service's keytab, no KDC call.
 *
 * Checks run cheap before expensive (house style B5): credentials present → size → shape and names
 * (ERR_AP_NOT_US before any cryptography) → kvno (one key, never a trial decryption) → open ticket
 * (skipped for a cached ticket) → open authenticator → ticket times → authenticator skew → request
 * binding → replay window, inserted LAST so that a refused request never consumes a counter.
 *
 * The authenticator's client need not be compared with the ticket's: the ticket's client is in the
 * authenticator's AAD, so an authenticator made for another client fails to open
 * (ERR_AP_BAD_INTEGRITY), which also covers ERR_AP_BAD_MATCH.
 */
import { EventEmitter } from 'node:events'
import {
  authenticatorAad,
  bodyHash,
  BrokerError,
  canonicalAuthority,
  checkSkew,
  constantTimeEqual,
  deriveKey,
  encodeApRep,
  KEY_BYTES,
  LABELS,
  MAX_CLOCK_SKEW_S,
  MAX_SEALED_BYTES,
  MSG,
  NONCE_BYTES,
  parseApReq,
  parseTicketPlaintext,
  sealApRepPart,
  systemClock,
  TAG_BYTES,
  TICKET_ID_BYTES,
  toHex,
  type Clock,
  type ErrorCode,
  type Keytab,
} from '../kdc/protocol/index.js'
import { ApReqView, apReqPrefix } from './ap-req-view.js'
import { decodeToken, MAX_AUTHORIZATION_CHARS, tokenStart } from './authorization-header.js'
import { KeyRing, KeytabWatcher, loadKeytabFile } from './keytab.js'
import { AuthenticatorView, hex16, TicketPartView } from './plaintext-reader.js'
import { ReplayWindows } from './replay-window.js'
import { verifierHeap, type Heap } from './heap.js'
import { canonicalMethod, EMPTY_BODY_HASH, RequestHasher, splitUrl } from './request-binding.js'
import { TicketCache, ticketCacheKey, type CachedTicket } from './ticket-cache.js'
import type {
  KeytabVerifierOptions,
  TesseraIdentity,
  VerifierOptions,
  VerifyRequest,
} from './types.js'

/** The largest authenticator plaintext: 1 + 5 + 5 + 2 + 32 bytes, rounded up. */
const MAX_AUTHENTICATOR_PLAINTEXT_BYTES = 64
const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES
/**
 * The verifier's work block in the heap (service-sdk/heap.ts), 8-aligned:
 * - the AP-REQ, decoded at offset 1: its ticket starts at byte 3 of the message, so at offset 4,
 *   and the ticket cache compares it a 4-byte word at a time;
 * - the ticket plaintext (wiped after each read), the authenticator plaintext, the KDF label.
 */
const DECODE_AT = 1
const DECODE_BYTES = ((MAX_AUTHORIZATION_CHARS - 8) * 3) >>> 2
const TICKET_PLAIN_AT = align8(DECODE_AT + DECODE_BYTES)
const AUTH_PLAIN_AT = align8(TICKET_PLAIN_AT + MAX_SEALED_BYTES - SEAL_OVERHEAD)
const LABEL_AT = AUTH_PLAIN_AT + MAX_AUTHENTICATOR_PLAINTEXT_BYTES
const WORK_BYTES = LABEL_AT + LABELS.authenticator.length

function align8(n: number): number {
  return (n + 7) & ~7
}

/**
 * Heap blocks a verifier owns besides its cache entries (which close() frees): freed by the
 * finalizer once the verifier is garbage-collected, since verification keeps working after
 * close(). Holds no reference to the verifier.
 */
interface Owned {
  readonly heap: Heap
  readonly work: number
  readonly keys: Map<object, HeapKey>
  readonly hasher: RequestHasher
  readonly cache: TicketCache
}

/** A ticket key and its AAD copied into the heap: `[ticketKey 32][ticketAad]`. */
interface HeapKey {
  readonly at: number
  readonly size: number
  readonly aadLength: number
}

function freeOwned(owned: Owned): void {
  owned.cache.clear()
  for (const k of owned.keys.values()) owned.heap.free(k.at, k.size)
  owned.keys.clear()
  owned.hasher.dispose()
  owned.heap.free(owned.work, WORK_BYTES)
}

const finalizer = new FinalizationRegistry(freeOwned)
const DEFAULT_MAX_CACHED_TICKETS = 10_000
const DEFAULT_MAX_REPLAY_WINDOWS = 100_000
const SWEEP_INTERVAL_MS = 60_000
/** Distinct callers whose authenticator AAD is kept (see #authAadFor). */
const MAX_CACHED_AADS = 4_096

function fail(code: ErrorCode, status: string): BrokerError {
  return new BrokerError(code, { status })
}

/** The refusal of an authenticator made at `ctime` that window `w` does not accept. */
function replayed(windows: ReplayWindows, w: number, ctime: number): BrokerError {
  return fail('ERR_AP_REPLAY', ctime < windows.floor(w) ? 'BEFORE_GUARD' : 'COUNTER_SEEN')
}

/** The result of {@link TicketVerifier.verifyMutual}. */
export interface MutualResult {
  readonly identity: TesseraIdentity
  /** Value for the `Tessera-AP-REP` response header: base64url(AP-REP). */
  readonly apRep: string
}

/**
 * Verifies Tessera AP-REQs for one service principal, offline.
 *
 * @example
 * ```ts
 * import { TicketVerifier } from 'tessera/service'
 *
 * const verifier = await TicketVerifier.fromKeytab({ keytab: '/etc/tessera/orders.keytab' })
 * const who = verifier.verify(req.headers.authorization, {
 *   method: req.method,
 *   url: req.url,
 *   host: req.headers.host,
 *   body, // the raw body bytes, or omit when there is none
 * })
 * if (!who.scopes.includes('orders:read')) throw new Error('forbidden')
 * ```
 */
export class TicketVerifier extends EventEmitter {
  #ring: KeyRing
  readonly #view: ApReqView
  readonly #auth = new AuthenticatorView()
  readonly #part = new TicketPartView()
  readonly #heap: Heap = verifierHeap()
  readonly #hasher = new RequestHasher(this.#heap)
  readonly #cache: TicketCache
  readonly #owned: Owned
  readonly #authAads = new Map<string, Uint8Array>()
  readonly #windows: ReplayWindows
  readonly #skew: number
  readonly #clock: Clock
  readonly #sweep: ReturnType<typeof setInterval>
  readonly #onError: ((err: Error) => void) | undefined
  readonly #onReload: ((kvnos: readonly number[]) => void) | undefined
  #watcher: KeytabWatcher | undefined
  #closed = false
  // Scratch state of the last #front() call (verify is synchronous, so it cannot interleave).
  #plaintext = 0
  #fresh = false
  #cacheKey = 0
  /** The work block (see WORK_BYTES). */
  readonly #work: number

  /**
   * A verifier over an already parsed keytab, without file watching (tests, embedded keys).
   * Prefer {@link TicketVerifier.fromKeytab}.
   */
  constructor(keytab: Keytab, options: VerifierOptions = {}) {
    super()
    this.#skew = checkInt(options.skew ?? MAX_CLOCK_SKEW_S, 0, 3600, 'skew')
    const maxTickets = checkInt(
      options.maxCachedTickets ?? DEFAULT_MAX_CACHED_TICKETS,
      1,
      10_000_000,
      'maxCachedTickets',
    )
    const maxWindows = checkInt(
      options.maxReplayWindows ?? DEFAULT_MAX_REPLAY_WINDOWS,
      1,
      10_000_000,
      'maxReplayWindows',
    )
    this.#clock = options.clock ?? systemClock
    if (typeof this.#clock.nowSeconds !== 'function') throw new TypeError('clock.nowSeconds()')
    this.#ring = KeyRing.fromKeytab(keytab)
    this.#view = new ApReqView(apReqPrefix(this.#ring.realm, this.#ring.service))
    const heap = this.#heap
    // The release callback must not hold the verifier (see Owned).
    this.#cache = new TicketCache(maxTickets, (entry) => {
      release(heap, entry)
    })
    this.#work = heap.alloc(WORK_BYTES)
    heap.buf.write(LABELS.authenticator, this.#work + LABEL_AT, 'latin1') // ASCII
    this.#owned = {
      heap,
      work: this.#work,
      keys: new Map(),
      hasher: this.#hasher,
      cache: this.#cache,
    }
    finalizer.register(this, this.#owned, this)
    this.#windows = new ReplayWindows({
      maxWindows,
      startedAt: this.#clock.nowSeconds(),
      guard: options.replayGuard ?? true,
    })
    const extra = options as Partial<KeytabVerifierOptions>
    this.#onError = extra.onError
    this.#onReload = extra.onReload
    this.#sweep = setInterval(() => {
      const now = this.#clock.nowSeconds()
      this.#cache.sweep(now - this.#skew)
      this.#windows.sweep(now)
    }, SWEEP_INTERVAL_MS)
    this.#sweep.unref()
  }

  /**
   * Load the service's keytab (service name and realm come from it) and, unless `watch: false`,
   * reload it whenever the file changes. A reload that fails keeps the old keys and is reported
   * through `onError` and the `'error'` event (only emitted when someone listens).
   *
   * @example
   * ```ts
   * const verifier = await TicketVerifier.fromKeytab({
   *   keytab: process.env.TESSERA_KEYTAB ?? '/etc/tessera/orders.keytab',
   *   onError: (err) => log.warn({ err }, 'keytab reload failed; keeping the old keys'),
   * })
   * ```
   */
  static async fromKeytab(options: KeytabVerifierOptions): Promise<TicketVerifier> {
    if (typeof options.keytab !== 'string' || options.keytab === '') {
      throw new TypeError('options.keytab must be the path of a keytab file')
    }
    const { keytab, digest } = await loadKeytabFile(options.keytab)
    let verifier: TicketVerifier
    try {
      verifier = new TicketVerifier(keytab, options)
    } finally {
      for (const k of keytab.keys) k.key.fill(0)
    }
    if (options.watch ?? true) {
      const watcher = new KeytabWatcher(
        options.keytab,
        {
          current: () => verifier.#ring,
          replace: (ring) => {
            verifier.#replaceRing(ring)
          },
          onError: (err) => {
            verifier.#reportError(err)
          },
        },
        {
          pollIntervalMs: checkInt(options.pollIntervalMs ?? 2000, 10, 3_600_000, 'pollIntervalMs'),
          debounceMs: checkInt(options.debounceMs ?? 100, 0, 60_000, 'debounceMs'),
          loadedDigest: digest,
        },
      )
      verifier.#watcher = watcher
      watcher.start()
      // A rotation that landed between our read and the start of watching raised no event: look
      // once more (the digest makes this a no-op when the file is unchanged).
      await watcher.reload()
    }
    return verifier
  }

  /** The service principal this verifier accepts tickets for. */
  get service(): string {
    return this.#ring.service
  }

  /** The realm. */
  get realm(): string {
    return this.#ring.realm
  }

  /** The key versions currently accepted, ascending. */
  get kvnos(): number[] {
    return this.#ring.kvnos
  }

  /**
   * Counters for metrics: cached tickets, replay windows held (expired ones included until they are
   * dropped), live windows dropped because the table was full.
   */
  get stats(): { cachedTickets: number; replayWindows: number; evictedLiveWindows: number } {
    return {
      cachedTickets: this.#cache.size,
      replayWindows: this.#windows.size,
      evictedLiveWindows: this.#windows.evictedLive,
    }
  }

  /**
   * Verify one request's Authorization header, synchronously and offline. Returns the caller's
   * identity, or throws a BrokerError whose `code` says why (ERR_AP_NO_CREDENTIALS,
   * ERR_PROTO_MALFORMED, ERR_PROTO_TOO_LARGE, ERR_AP_NOT_US, ERR_AP_BAD_KVNO,
   * ERR_AP_BAD_INTEGRITY, ERR_AP_TKT_EXPIRED, ERR_AP_TKT_NOT_YET_VALID, ERR_AP_SKEW,
   * ERR_AP_REQUEST_MISMATCH, ERR_AP_REPLAY). Each AP-REQ is accepted once.
   *
   * @example
   * ```ts
   * try {
   *   const { caller, scopes } = verifier.verify(req.headers.authorization, {
   *     method: req.method ?? 'GET',
   *     url: req.url ?? '/',
   *     host: req.headers.host,
   *   })
   * } catch (err) {
   *   if (isBrokerError(err)) res.writeHead(401, { 'WWW-Authenticate': `Tessera error="${err.code}"` })
   * }
   * ```
   */
  verify(authorization: string | undefined, request: VerifyRequest): TesseraIdentity {
    return this.#check(authorization, request).identity
  }

  /**
   * {@link TicketVerifier.verify}, plus the AP-REP that proves to the caller that this service
   * holds the key (mutual authentication): send it as the `Tessera-AP-REP` response header.
   *
   * @example
   * ```ts
   * const { identity, apRep } = verifier.verifyMutual(req.headers.authorization, { method, url, host })
   * res.setHeader('Tessera-AP-REP', apRep)
   * ```
   */
  verifyMutual(authorization: string | undefined, request: VerifyRequest): MutualResult {
    const entry = this.#check(authorization, request)
    entry.apRepKey ??= deriveKey(this.#heap.view(entry.sessionKey, KEY_BYTES), LABELS.apRep)
    const encPart = sealApRepPart(
      entry.apRepKey,
      { realm: this.#ring.realm, client: entry.identity.caller, service: this.#ring.service },
      { ctime: this.#auth.ctime, counter: this.#auth.counter },
    )
    const rep = encodeApRep({ encPart })
    return {
      identity: entry.identity,
      apRep: Buffer.from(rep.buffer, rep.byteOffset, rep.length).toString('base64url'),
    }
  }

  /**
   * Check everything that does not need the request itself: the header is well formed, the ticket
   * is ours, opens, and is valid now, and the authenticator opens and is fresh. Middleware calls
   * this before reading a request body, so that a caller without a valid ticket cannot make the
   * service buffer and hash its body. It neither checks the request binding nor consumes the
   * counter: `verify` must still be called, and is then served from the ticket cache.
   *
   * @example
   * ```ts
   * verifier.precheck(req.headers.authorization) // throws before we read a byte of the body
   * const body = await readBody(req)
   * const who = verifier.verify(req.headers.authorization, { method, url, host, body })
   * ```
   */
  precheck(authorization: string | undefined): TesseraIdentity {
    const now = this.#clock.nowSeconds()
    const entry = this.#front(authorization, now)
    if (this.#fresh) this.#cache.set(this.#cacheKey, entry, now)
    this.#assertNotReplayed(entry)
    return entry.identity
  }

  /**
   * Refuse (ERR_AP_REPLAY) an authenticator the replay window would refuse, without recording
   * anything: a header spent once must not make the service read and buffer another body.
   */
  #assertNotReplayed(entry: CachedTicket): void {
    const windows = this.#windows
    const auth = this.#auth
    let w = entry.window
    if (!windows.holds(w, entry.windowStamp)) {
      this.#heap.sync()
      w = windows.peek(this.#heap.i32, entry.ticketId >>> 2)
    }
    if (w >= 0) {
      if (!windows.wouldAccept(w, auth.counter, auth.ctime)) throw replayed(windows, w, auth.ctime)
    } else if (auth.ctime < windows.freshFloor) {
      throw fail('ERR_AP_REPLAY', 'BEFORE_GUARD')
    }
  }

  /** Re-read the keytab file now (also happens on its own when the file changes). */
  async reloadKeytab(): Promise<void> {
    if (this.#watcher === undefined) throw new TypeError('this verifier was not built from a file')
    await this.#watcher.reload()
  }

  /**
   * Stop watching the keytab and forget every cached ticket (their keys are wiped). Verification
   * keeps working, uncached tickets again filling the cache; calling close() again empties it again.
   * The verifier's own buffers and key copies are wiped and freed when it is garbage-collected.
   */
  close(): void {
    this.#cache.clear()
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#sweep)
    this.#watcher?.close()
  }

  #replaceRing(ring: KeyRing): void {
    const old = this.#ring
    this.#ring = ring
    // Heap copies of keys that left the ring go now (the others are found again by identity).
    const keys = this.#owned.keys
    for (const [source, copy] of keys) {
      if (!ring.kvnos.some((kvno) => ring.get(kvno) === source)) {
        keys.delete(source)
        this.#heap.free(copy.at, copy.size)
      }
    }
    // A kvno that left the ring, or whose key changed, must stop working for cached tickets too:
    // they were opened under a key this verifier no longer holds.
    for (const kvno of old.kvnos) {
      const before = old.get(kvno)
      const now = ring.get(kvno)
      if (
        now === undefined ||
        (now !== before &&
          (before === undefined || !constantTimeEqual(now.ticketKey, before.ticketKey)))
      ) {
        this.#cache.clear()
        break
      }
    }
    const kvnos = ring.kvnos
    this.#onReload?.(kvnos)
    this.emit('reload', kvnos)
  }

  #reportError(err: Error): void {
    let handled = false
    if (this.#onError !== undefined) {
      handled = true
      try {
        this.#onError(err)
      } catch {
        // A throwing callback must not stop the watcher.
      }
    }
    if (this.listenerCount('error') > 0) {
      handled = true
      this.emit('error', err)
    }
    if (!handled) process.emitWarning(`tessera: keytab reload failed (${err.message})`)
  }

  /**
   * Steps 1–6 of the pipeline (everything but request binding and replay); leaves the opened
   * authenticator in this.#auth and this.#plaintext, the cache state in this.#fresh/#cacheKey.
   */
  #front(authorization: string | undefined, now: number): CachedTicket {
    // 1. credentials present, size capped before decoding anything.
    if (typeof authorization !== 'string') throw fail('ERR_AP_NO_CREDENTIALS', 'NO_HEADER')
    const start = tokenStart(authorization)
    if (start < 0) throw fail('ERR_AP_NO_CREDENTIALS', 'NOT_TESSERA')
    if (authorization.length > MAX_AUTHORIZATION_CHARS) {
      throw fail('ERR_PROTO_TOO_LARGE', 'AUTHORIZATION_TOO_LARGE')
    }
    const heap = this.#heap
    heap.sync()
    const base = this.#work + DECODE_AT
    const n = decodeToken(authorization, start, heap.buf, base)
    const bytes = heap.view(base, n)
    const ring = this.#ring

    // 2. shape and names, without copying: a well-formed AP-REQ for us, or the precise refusal.
    const view = this.#view
    let kvno: number
    let sealedStart: number
    let ticketEnd: number
    let authStart: number
    if (view.scan(bytes)) {
      kvno = view.kvno
      sealedStart = view.sealedStart
      ticketEnd = view.ticketEnd
      authStart = view.authStart
    } else {
      const apReq = parseApReq(bytes)
      if (apReq.ticket.realm !== ring.realm || apReq.ticket.service !== ring.service) {
        throw fail('ERR_AP_NOT_US', 'OTHER_SERVICE')
      }
      // Unreachable while scan() accepts every well-formed AP-REQ for us; derive the offsets the
      // slow way rather than refuse a good request.
      const authLength = apReq.authenticator.length
      authStart = n - authLength
      ticketEnd = authStart - (authLength > 0xff ? 3 : 2)
      sealedStart = ticketEnd - apReq.ticket.sealed.length
      kvno = apReq.ticket.kvno
    }

    // 3. kvno, then 4. the ticket: from the cache, or opened with exactly one key.
    // (Opening may grow the heap, which detaches `bytes`: from here on, addresses only.)
    const key = ring.get(kvno)
    if (key === undefined) throw fail('ERR_AP_BAD_KVNO', 'UNKNOWN_KVNO')
    const cacheKey = ticketCacheKey(bytes, sealedStart)
    let entry = this.#cache.get(cacheKey, heap.u8, heap.i32, base + 3, ticketEnd - 3)
    const fresh = entry === undefined
    entry ??= this.#openTicket(base, sealedStart, ticketEnd, key)

    try {
      this.#plaintext = this.#openAuthenticator(
        entry,
        base + authStart,
        n - authStart,
        now,
        fresh,
        cacheKey,
      )
    } catch (err) {
      if (fresh) release(heap, entry) // opened for this call only: never cached
      throw err
    }
    this.#fresh = fresh
    this.#cacheKey = cacheKey
    return entry
  }

  /**
   * Steps 5 and 6: open the authenticator (`sealedLength` bytes at `at`: nonce, ciphertext, tag)
   * and check the times; returns the address of its plaintext.
   */
  #openAuthenticator(
    entry: CachedTicket,
    at: number,
    sealedLength: number,
    now: number,
    fresh: boolean,
    cacheKey: number,
  ): number {
    const skew = this.#skew
    // 5. the authenticator, under the subkey cached with the ticket.
    if (sealedLength > SEAL_OVERHEAD + MAX_AUTHENTICATOR_PLAINTEXT_BYTES) {
      throw fail('ERR_AP_BAD_INTEGRITY', 'SEALED_LENGTH')
    }
    const heap = this.#heap
    const out = this.#work + AUTH_PLAIN_AT
    if (
      !heap.open(
        entry.authKey,
        at,
        entry.authAad,
        entry.authAadLength,
        at + NONCE_BYTES,
        sealedLength - NONCE_BYTES,
        out,
      )
    ) {
      throw fail('ERR_AP_BAD_INTEGRITY', 'TAG')
    }
    const plaintext = heap.view(out, sealedLength - SEAL_OVERHEAD)
    const auth = this.#auth
    if (!auth.parse(plaintext)) throw fail('ERR_AP_BAD_INTEGRITY', 'PLAINTEXT')

    // 6. times: the ticket's validity, then the authenticator's freshness.
    if (now + skew < entry.startTime) throw fail('ERR_AP_TKT_NOT_YET_VALID', 'START_TIME')
    if (now - skew > entry.endTime) {
      if (!fresh) this.#cache.delete(cacheKey, entry)
      throw fail('ERR_AP_TKT_EXPIRED', 'END_TIME')
    }
    const ctime = auth.ctime
    if (ctime > now + skew || ctime < now - skew) checkSkew(ctime, now, skew)
    return out
  }

  /** The whole pipeline; returns the cache entry and leaves ctime/counter in this.#auth. */
  #check(authorization: string | undefined, request: VerifyRequest): CachedTicket {
    const now = this.#clock.nowSeconds()
    const entry = this.#front(authorization, now)
    try {
      this.#bindAndAccept(entry, request, now)
    } catch (err) {
      if (this.#fresh) release(this.#heap, entry) // opened for this call only: never cached
      throw err
    }
    if (this.#fresh) this.#cache.set(this.#cacheKey, entry, now)
    return entry
  }

  /** Steps 7 and 8: the request binding, then the replay window. */
  #bindAndAccept(entry: CachedTicket, request: VerifyRequest, now: number): void {
    const auth = this.#auth
    const plaintext = this.#plaintext

    // 7. request binding.
    let target = request.url
    let host = request.host
    if (target.charCodeAt(0) !== 0x2f) {
      const split = splitUrl(target)
      target = split.target
      if (split.host !== undefined) {
        // An absolute URL names the authority (RFC 9112 §3.2.2); a Host that names another server
        // is refused, not ignored, since the application may read either one.
        if (host !== undefined && canonicalAuthority(host) !== canonicalAuthority(split.host)) {
          throw fail('ERR_AP_REQUEST_MISMATCH', 'TARGET_VS_HOST')
        }
        host = split.host
      }
    }
    const expected = this.#hasher.hash(
      canonicalMethod(request.method),
      this.#hasher.authority(host),
      target,
      request.bodyHash ?? hashBody(request.body),
    )
    const u8 = this.#heap.u8
    const h = plaintext + auth.hashStart
    let diff = 0
    for (let i = 0; i < 32; i++) diff |= (u8[expected + i] as number) ^ (u8[h + i] as number)
    if (diff !== 0) throw fail('ERR_AP_REQUEST_MISMATCH', 'REQUEST_HASH')

    // 8. replay, last: only a request that passed everything else consumes its counter.
    // A window the table dropped (full, or expired) is not used through the cache: counters
    // accepted there would be forgotten, and a replay after the cache entry goes would pass.
    const windows = this.#windows
    let window = entry.window
    if (!windows.holds(window, entry.windowStamp)) {
      window = windows.windowFor(
        this.#heap.i32,
        entry.ticketId >>> 2,
        entry.endTime + this.#skew,
        auth.ctime,
        now,
      )
      entry.window = window
      entry.windowStamp = windows.stampOf(window)
    }
    if (!windows.accept(window, auth.counter, auth.ctime))
      throw replayed(windows, window, auth.ctime)
  }

  /**
   * The authenticator AAD for `client` (docs/protocol.md §6.1), cached per caller name: a service
   * has few distinct callers, and each new ticket would otherwise re-encode the same bytes. Bounded;
   * cleared whole when full (the realm and service are fixed per verifier, so a keytab reload for
   * the same principal leaves every entry valid).
   */
  #authAadFor(client: string): Uint8Array {
    let aad = this.#authAads.get(client)
    if (aad === undefined) {
      if (this.#authAads.size >= MAX_CACHED_AADS) this.#authAads.clear()
      // A copy: the encoder's result is a view into its shared output buffer.
      aad = copy(
        authenticatorAad({
          realm: this.#ring.realm,
          client,
          service: this.#ring.service,
          msgType: MSG.AP_REQ,
        }),
      )
      this.#authAads.set(client, aad)
    }
    return aad
  }

  /** The heap copy of a ticket key and its AAD, made on first use. */
  #heapKey(key: { ticketKey: Uint8Array; ticketAad: Uint8Array }): HeapKey {
    const keys = this.#owned.keys
    let copy = keys.get(key)
    if (copy === undefined) {
      const size = KEY_BYTES + key.ticketAad.length
      const at = this.#heap.alloc(size)
      this.#heap.u8.set(key.ticketKey, at)
      this.#heap.u8.set(key.ticketAad, at + KEY_BYTES)
      copy = { at, size, aadLength: key.ticketAad.length }
      keys.set(key, copy)
    }
    return copy
  }

  /** Step 4 for a ticket not in the cache: open it (AP-REQ at `base`) and build its entry. */
  #openTicket(
    base: number,
    sealedStart: number,
    ticketEnd: number,
    key: { ticketKey: Uint8Array; ticketAad: Uint8Array },
  ): CachedTicket {
    // scan() bounds the sealed ticket to [41, MAX_SEALED_BYTES] bytes.
    const heapKey = this.#heapKey(key)
    const heap = this.#heap
    const pt = this.#work + TICKET_PLAIN_AT
    const ptLength = ticketEnd - sealedStart - SEAL_OVERHEAD
    const nonce = base + sealedStart
    if (
      !heap.open(
        heapKey.at,
        nonce,
        heapKey.at + KEY_BYTES,
        heapKey.aadLength,
        nonce + NONCE_BYTES,
        ticketEnd - sealedStart - NONCE_BYTES,
        pt,
      )
    ) {
      throw fail('ERR_AP_BAD_INTEGRITY', 'TAG')
    }
    try {
      return this.#entryFrom(pt, ptLength, base + 3, ticketEnd - 3)
    } finally {
      heap.u8.fill(0, pt, pt + ptLength) // it held the session key
    }
  }

  /**
   * The cache entry for the ticket plaintext of `ptLength` bytes at `pt` (read fast, or by
   * kdc/protocol's decoder), whose ticket encoding is the `ticketLength` bytes at `ticketAt`.
   */
  #entryFrom(pt: number, ptLength: number, ticketAt: number, ticketLength: number): CachedTicket {
    const heap = this.#heap
    const part = this.#part
    let client: string
    let scopes: readonly string[]
    // The session key and ticket id: their addresses in the plaintext (fast reader), or JS copies
    // (decoder).
    let keyAt = -1
    let idAt = -1
    let keyCopy: Uint8Array | undefined
    let idCopy: Uint8Array | undefined
    let ticketId: string
    let startTime: number
    let endTime: number
    let policyVersion: number
    const plaintext = heap.view(pt, ptLength)
    if (part.parse(plaintext)) {
      client = part.client
      scopes = part.scopes
      keyAt = pt + part.keyStart
      idAt = pt + part.ticketIdStart
      ticketId = hex16(heap.u8, idAt)
      startTime = part.startTime
      endTime = part.endTime
      policyVersion = part.policyVersion
    } else {
      // Shapes the fast reader leaves alone (more than 15 scopes, say), or a bad plaintext, which
      // the protocol's decoder refuses with ERR_AP_BAD_INTEGRITY.
      const full = parseTicketPlaintext(plaintext)
      client = full.client
      scopes = Object.freeze(full.scopes.slice())
      keyCopy = copy(full.sessionKey) // KEY_BYTES long: the decoder checks it
      idCopy = full.ticketId // TICKET_ID_BYTES long: the decoder checks it
      ticketId = toHex(idCopy)
      startTime = full.startTime
      endTime = full.endTime
      policyVersion = full.policyVersion
    }
    const aad = this.#authAadFor(client)
    const identity: TesseraIdentity = Object.freeze({
      caller: client,
      realm: this.#ring.realm,
      scopes,
      ticketId,
      expiresAt: endTime,
      policyVersion,
    })
    // One block for the ticket copy, the keys and the AAD. Allocated last, so that nothing can
    // throw between taking it and handing the entry over; it may grow the heap (and detach the
    // views above), so everything after it goes by address.
    const pad = (ticketLength + 3) & ~3
    const blockSize = pad + 2 * KEY_BYTES + TICKET_ID_BYTES + aad.length
    const block = heap.alloc(blockSize, false) // every byte read later is written below
    const u8 = heap.u8
    u8.copyWithin(block, ticketAt, ticketAt + ticketLength)
    const authKey = block + pad
    const sessionAt = authKey + KEY_BYTES
    const ticketIdAt = sessionAt + KEY_BYTES // 4-aligned: block and pad are
    const aadAt = ticketIdAt + TICKET_ID_BYTES
    if (keyCopy === undefined) {
      u8.copyWithin(sessionAt, keyAt, keyAt + KEY_BYTES)
    } else {
      u8.set(keyCopy, sessionAt)
      keyCopy.fill(0)
    }
    if (idCopy === undefined) {
      u8.copyWithin(ticketIdAt, idAt, idAt + TICKET_ID_BYTES)
    } else {
      u8.set(idCopy, ticketIdAt)
    }
    u8.set(aad, aadAt)
    heap.kdf(sessionAt, this.#work + LABEL_AT, LABELS.authenticator.length, authKey)
    return {
      block,
      blockSize,
      ticketLength,
      identity,
      startTime,
      endTime,
      authKey,
      sessionKey: sessionAt,
      ticketId: ticketIdAt,
      authAad: aadAt,
      authAadLength: aad.length,
      apRepKey: undefined,
      window: -1,
      windowStamp: 0,
      hit: false,
      key: 0,
      slot: -1,
    }
  }
}

/** Wipe and free an entry's block, and wipe its AP-REP key; once per entry (the cache or a failed call). */
function release(heap: Heap, entry: CachedTicket): void {
  heap.free(entry.block, entry.blockSize)
  entry.apRepKey?.fill(0)
}

/** A real copy (Buffer#slice would be a view into the same memory). */
function copy(bytes: Uint8Array): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes)
}

function hashBody(body: Uint8Array | string | undefined): Uint8Array {
  if (body === undefined || body.length === 0) return EMPTY_BODY_HASH
  return bodyHash(typeof body === 'string' ? Buffer.from(body, 'utf8') : body)
}

function checkInt(value: number, min: number, max: number, name: string): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${String(value)}`)
  }
  return value
}
