/**
 * TesseraClient: authenticated HTTP calls to Tessera services (issue #4). Each call gets a fresh
 * AP-REQ bound to its method, authority, path and query and body, in `Authorization: Tessera …`;
 * tickets come from the session's cache, which keeps them fresh in the background.
 */
import { isErrorCode, type ErrorCode } from '../kdc/protocol/index.js'
import {
  AP_REP_HEADER,
  bodyBytes,
  ERROR_HEADER,
  MUTUAL_REQUEST_HEADER,
  normaliseMethod,
  requestHashOf,
  requestUrl,
  type BufferedBody,
  type HttpRequestInput,
} from './authenticator.js'
import { boolOption, fnOption, scopeList, targetName } from './options.js'
import { KdcSession, sessionParts, type KdcSessionOptions } from './session.js'

/**
 * Options of {@link TesseraClient}: the session's options plus HTTP behaviour.
 *
 * @example
 * ```ts
 * const options: TesseraClientOptions = {
 *   keytab: '/etc/tessera/payments.keytab',
 *   kdc: ['ws://kdc-a:7088/v1', 'ws://kdc-b:7088/v1'],
 *   mutual: true,
 * }
 * ```
 */
export interface TesseraClientOptions extends KdcSessionOptions {
  /** Require mutual authentication (a valid Tessera-AP-REP response header) on every fetch. */
  readonly mutual?: boolean
  /** The fetch implementation to wrap (default: the global fetch). */
  readonly fetch?: typeof globalThis.fetch
}

/**
 * The request an Authorization header is made for.
 *
 * @example
 * ```ts
 * const request: AuthorizationRequest = { method: 'POST', url: 'https://orders.internal/orders', body: '{"sku":7}' }
 * ```
 */
export interface AuthorizationRequest extends HttpRequestInput {
  /** Ask for a ticket with at most these scopes (default: everything policy grants). */
  readonly scopes?: readonly string[]
  /** Ask the service for an AP-REP: adds `Tessera-Mutual: 1` to {@link AuthorizedRequest.headers}. */
  readonly mutual?: boolean
}

/**
 * A prepared authorization for one request, with the mutual-authentication check for its reply.
 *
 * @example
 * ```ts
 * const auth = await client.authorize('orders', { method: 'GET', url })
 * const res = await undici.request(url, { headers: auth.headers })
 * auth.verifyApRep(res.headers['tessera-ap-rep'] as string | undefined)
 * ```
 */
export interface AuthorizedRequest {
  /** The Authorization header value, `Tessera <base64url(AP-REQ)>`. */
  readonly authorization: string
  /** The headers to add: `authorization`, and `tessera-mutual: 1` when mutual was asked for. */
  readonly headers: Readonly<Record<string, string>>
  readonly target: string
  /** The authenticator counter used (the service's replay window tracks it). */
  readonly counter: number
  /** Check the response's Tessera-AP-REP header; throws ERR_CLIENT_MUTUAL_FAILED. */
  verifyApRep(headerValue: string | null | undefined): void
}

/**
 * RequestInit plus Tessera options. The body must be buffered (string, bytes, URLSearchParams):
 * its hash is sealed into the authenticator.
 *
 * @example
 * ```ts
 * const init: TesseraFetchInit = { method: 'POST', body: JSON.stringify(order), mutual: true }
 * ```
 */
export interface TesseraFetchInit extends Omit<RequestInit, 'body' | 'method'> {
  readonly method?: string
  readonly body?: BufferedBody | null
  /** Check the service's Tessera-AP-REP header (overrides the client's `mutual` option). */
  readonly mutual?: boolean
  /** Ask for a ticket with at most these scopes. */
  readonly scopes?: readonly string[]
}

/**
 * Authenticated calls to Tessera services.
 *
 * @example
 * ```ts
 * const client = await TesseraClient.fromKeytab({
 *   keytab: '/etc/tessera/payments.keytab',
 *   kdc: ['ws://kdc-a:7088/v1', 'ws://kdc-b:7088/v1'],
 * })
 * const res = await client.fetch('orders', 'https://orders.internal/orders?id=7')
 * console.log(res.status, await res.json())
 * client.close()
 * ```
 */
export class TesseraClient {
  /** The underlying KDC session (login, service tickets, admin calls). */
  readonly session: KdcSession
  readonly #mutual: boolean
  readonly #fetch: typeof globalThis.fetch

  /**
   * Read the keytab (options.keytab or $TESSERA_KEYTAB; the principal and realm come from it) and
   * create a client for the KDC endpoints (options.kdc or $TESSERA_KDC). Nothing is sent yet.
   *
   * @example
   * ```ts
   * // TESSERA_KEYTAB=/etc/tessera/payments.keytab TESSERA_KDC=ws://kdc-a:7088/v1,ws://kdc-b:7088/v1
   * const client = await TesseraClient.fromKeytab()
   * ```
   */
  static async fromKeytab(options: TesseraClientOptions = {}): Promise<TesseraClient> {
    const { mutual, fetch, ...sessionOptions } = options
    checkClientOptions(mutual, fetch)
    const session = await KdcSession.fromKeytab(sessionOptions)
    return new TesseraClient(session, {
      ...(mutual === undefined ? {} : { mutual }),
      ...(fetch === undefined ? {} : { fetch }),
    })
  }

  /**
   * Wrap an existing session (e.g. one built from an in-memory keytab).
   *
   * @example
   * ```ts
   * const client = new TesseraClient(new KdcSession(keytab, { kdc: ['ws://127.0.0.1:7088/v1'] }))
   * ```
   */
  constructor(session: KdcSession, options: Pick<TesseraClientOptions, 'mutual' | 'fetch'> = {}) {
    if (!(session instanceof KdcSession)) {
      throw new TypeError('session must be a KdcSession; use TesseraClient.fromKeytab()')
    }
    checkClientOptions(options.mutual, options.fetch)
    this.session = session
    this.#mutual = options.mutual ?? false
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  }

  /** This client's principal (from the keytab). */
  get principal(): string {
    return this.session.principal
  }

  /** This client's realm (from the keytab). */
  get realm(): string {
    return this.session.realm
  }

  /**
   * Prepare the Authorization header for one request to `target` and the check of its AP-REP.
   * A warm call (ticket cached) never waits for the KDC. Each call uses a new counter: build one
   * per request, never reuse the header.
   *
   * @example
   * ```ts
   * const auth = await client.authorize('orders', { method: 'POST', url, body })
   * ```
   */
  async authorize(target: string, request: AuthorizationRequest): Promise<AuthorizedRequest> {
    if (typeof request !== 'object' || (request as unknown) === null) {
      throw new TypeError('request must be an object: { method, url, body? }')
    }
    const service = targetName(target)
    const method = normaliseMethod(request.method)
    const url = requestUrl(request.url)
    const hash = requestHashOf(method, url, bodyBytes(request.body))
    const scopes = scopeList(request.scopes)
    const mutual = boolOption(request.mutual, 'mutual', false)
    const { credentials, kdcClock } = sessionParts(this.session)
    const entry = credentials.cached(service, scopes) ?? (await credentials.ticket(service, scopes))
    const built = entry.builder.apReq(kdcClock.nowSeconds(), hash)
    const headers: Record<string, string> = { authorization: built.authorization }
    if (mutual) headers[MUTUAL_REQUEST_HEADER.toLowerCase()] = '1'
    return {
      authorization: built.authorization,
      headers,
      target: service,
      counter: built.counter,
      // With mutual, keyed now with its own copy of the AP-REP key: the answer may come after this
      // ticket was replaced and wiped, and must still be checked under the real key, never a
      // zeroed one. Without, a late check of a wiped ticket fails (ERR_CLIENT_CLOSED).
      verifyApRep: mutual
        ? entry.builder.apRepCheck(built.ctime, built.counter)
        : (headerValue) => {
            entry.builder.checkApRep(headerValue, built.ctime, built.counter)
          },
    }
  }

  /**
   * The `Authorization` header value for one request to `target`, for any HTTP client.
   *
   * @example
   * ```ts
   * const url = 'https://orders.internal/orders?id=7'
   * const authorization = await client.authorization('orders', { method: 'GET', url })
   * await axios.get(url, { headers: { authorization } })
   * ```
   */
  async authorization(target: string, request: AuthorizationRequest): Promise<string> {
    return (await this.authorize(target, request)).authorization
  }

  /**
   * `fetch` with `Authorization: Tessera …` for `target`. With `mutual` (here or on the client),
   * the request asks for an AP-REP (`Tessera-Mutual: 1`) and the response must carry a valid
   * `Tessera-AP-REP` header, or the call fails with ERR_CLIENT_MUTUAL_FAILED (and the response body
   * is discarded). When the service answers 401 because the ticket expired or names a key version
   * it no longer holds, the request is sent once more with a fresh ticket (the service refused it
   * before running any handler, and the body is buffered).
   *
   * @example
   * ```ts
   * const res = await client.fetch('orders', 'https://orders.internal/orders', {
   *   method: 'POST',
   *   headers: { 'content-type': 'application/json' },
   *   body: JSON.stringify({ sku: 7 }),
   *   mutual: true,
   * })
   * ```
   */
  async fetch(target: string, url: string | URL, init: TesseraFetchInit = {}): Promise<Response> {
    if (typeof init !== 'object' || (init as unknown) === null) {
      throw new TypeError('init must be an object')
    }
    if (!(typeof url === 'string' || url instanceof URL)) {
      throw new TypeError(
        'url must be a string or a URL (a Request object carries a stream body, which cannot be bound)',
      )
    }
    const { mutual, scopes, ...rest } = init
    const checkMutual = boolOption(mutual, 'mutual', this.#mutual)
    const method = normaliseMethod(rest.method)
    const request: AuthorizationRequest = {
      method,
      url,
      body: rest.body,
      mutual: checkMutual,
      ...(scopes === undefined ? {} : { scopes }),
    }
    let auth = await this.authorize(target, request)
    let response = await this.#send(url, rest, method, auth)
    const refused = ticketRefusal(response)
    if (refused !== undefined) {
      // The service refused the ticket itself: the next call gets a fresh one. This call is resent
      // only when its method is idempotent (RFC 9110 §9.2.2): nothing authenticates a 401, so a
      // forged one must not be able to make a POST run twice.
      sessionParts(this.session).credentials.forget(auth.target, scopeList(scopes))
      if (IDEMPOTENT_METHODS.has(method)) {
        await response.body?.cancel().catch(() => undefined)
        auth = await this.authorize(target, request)
        response = await this.#send(url, rest, method, auth)
      }
    }
    // A refusal (401/403 with a Tessera challenge) carries no AP-REP by design; it is returned as
    // is, so the caller sees the service's real code. Only an answer that claims success must prove
    // the service's identity.
    if (checkMutual && !isTesseraRefusal(response)) {
      try {
        auth.verifyApRep(response.headers.get(AP_REP_HEADER))
      } catch (err) {
        await response.body?.cancel().catch(() => undefined)
        throw err
      }
    }
    return response
  }

  #send(
    url: string | URL,
    init: Omit<TesseraFetchInit, 'mutual' | 'scopes'>,
    method: string,
    auth: AuthorizedRequest,
  ): Promise<Response> {
    const headers = new Headers(init.headers)
    for (const [name, value] of Object.entries(auth.headers)) headers.set(name, value)
    // The method is sent exactly as hashed: fetch itself upper-cases only a few methods.
    return this.#fetch(url, { ...init, method, headers } as RequestInit)
  }

  /**
   * End every timer and socket and wipe every key.
   *
   * @example
   * ```ts
   * process.on('SIGTERM', () => client.close())
   * ```
   */
  close(): void {
    this.session.close()
  }
}

/** Service answers (401, WWW-Authenticate: Tessera error="…") that a fresh ticket fixes. */
const RETRY_WITH_FRESH_TICKET: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ERR_AP_TKT_EXPIRED',
  'ERR_AP_BAD_KVNO',
])

/** Methods whose repetition has the effect of one request (RFC 9110 §9.2.2). */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'TRACE',
  'PUT',
  'DELETE',
])

/**
 * A refusal by the service's Tessera middleware, made before any handler ran: a 401 or 403 whose
 * WWW-Authenticate names a Tessera error code, or any error status carrying a `Tessera-Error` code
 * (413 for a body over the cap, say). It carries no AP-REP, since nothing was verified.
 */
function isTesseraRefusal(response: Response): boolean {
  const status = response.status
  if (status < 400) return false
  if (
    (status === 401 || status === 403) &&
    /^Tessera\s+error="[A-Z_]+"/i.test(response.headers.get('www-authenticate') ?? '')
  ) {
    return true
  }
  return isErrorCode(response.headers.get(ERROR_HEADER) ?? undefined)
}

/** The code of a 401 that a fresh ticket fixes, if this response is one. */
function ticketRefusal(response: Response): ErrorCode | undefined {
  if (response.status !== 401) return undefined
  const m = /^Tessera\s+error="([A-Z_]+)"/i.exec(response.headers.get('www-authenticate') ?? '')
  const code = m?.[1]
  return isErrorCode(code) && RETRY_WITH_FRESH_TICKET.has(code) ? code : undefined
}

function checkClientOptions(
  mutual: boolean | undefined,
  fetch: typeof globalThis.fetch | undefined,
): void {
  boolOption(mutual, 'mutual', false)
  fnOption(fetch, 'fetch')
}
