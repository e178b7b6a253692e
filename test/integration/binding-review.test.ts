/**
 * Adversarial review of the request binding (docs/protocol.md §5.5, §6.2) as the service SDK's
 * middleware applies it on real servers (node:http, Express 5, Fastify 5) on 127.0.0.1:0.
 *
 * The question every test asks: can a request that differs from the one the authenticator was made
 * for (method, authority, path, query, body) reach a handler, can a handler be reached without
 * verification, and can the middleware be made to crash, hang or buffer without bound?
 *
 * Requests are written byte for byte over node:net (fetch would normalise the targets this review
 * needs). Tests marked `found in review` exposed a defect, now fixed: an absolute-form target was
 * cut by a lax regex (empty host, non-numeric port) and bound to the Host header instead of its own
 * authority, and HTTP/2's :authority was ignored.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import {
  createServer as createH2Server,
  type Http2Server,
  type Http2ServerRequest,
} from 'node:http2'
import { connect, type AddressInfo } from 'node:net'
import express from 'express'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { BrokerError } from '../../kdc/protocol/index.js'
import { tesseraFastify } from '../../service-sdk/fastify-types.js'
import {
  requireScope,
  tesseraExpress,
  tesseraHandler,
  TicketVerifier,
  type TesseraExpressRequest,
} from '../../service-sdk/index.js'
import { closeServer, listenLoopback } from '../helpers/http-server.js'
import { h2Request, rawRequest, type RawResponse } from '../helpers/raw-http.js'
import {
  authHeader,
  keyOf,
  makeKeytab,
  mintTicket,
  type Minted,
} from '../unit/service-sdk/fixtures.js'

const HOST = 'orders.internal'
const MAX_BODY = 1024
const keytab = makeKeytab([1])
const now = (): number => Math.floor(Date.now() / 1000)
const mint = (scopes = ['orders:read']): Minted =>
  mintTicket({
    serviceKey: keyOf(keytab, 1),
    kvno: 1,
    scopes,
    startTime: now() - 5,
    endTime: now() + 600,
  })
const m = mint()
let counter = 0

/** What a handler saw: which app and route ran, and how it read the request. */
interface Hit {
  app: string
  route: string
  url: string
  /** node:http only: the target as a WHATWG URL parser (the usual node idiom) reads it. */
  pathname?: string | null
  host?: string | null
  body?: string
}
const hits: Hit[] = []

/** The Authorization value for the request the client meant to send. */
function sign(o: {
  method?: string
  target: string
  host?: string
  body?: string | Uint8Array
}): string {
  return authHeader(m, {
    method: o.method ?? 'GET',
    url: o.target,
    host: o.host ?? HOST,
    ...(o.body === undefined ? {} : { body: o.body }),
    ctime: now(),
    counter: ++counter,
  })
}

/** A GET (or `method`) of `target` with the given extra header lines; Connection: close. */
function head(method: string, target: string, lines: string[]): string {
  return [`${method} ${target} HTTP/1.1`, ...lines, 'Connection: close'].join('\r\n')
}

function expectRefused(res: RawResponse, status: number, code: string): void {
  expect(res.status).toBe(status)
  if (status === 401 || status === 403) {
    expect(res.headers['www-authenticate']).toBe(`Tessera error="${code}"`)
  }
  expect(res.body).toBe(code)
}

/** Run `fn` and return the hits it produced. */
async function hitsOf<T>(fn: () => Promise<T>): Promise<{ result: T; hits: Hit[] }> {
  const before = hits.length
  const result = await fn()
  return { result, hits: hits.slice(before) }
}

// ---------------------------------------------------------------------------------------------
// Servers

const servers: Server[] = []
const ports: Record<string, number> = {}
let verifier: TicketVerifier
let fastify: FastifyInstance
let fastifyH2: FastifyInstance<Http2Server>
let nodeH2: Http2Server

function nodeHandler(app: string) {
  return (req: IncomingMessage & { rawBody?: Buffer }, res: ServerResponse): void => {
    // The handler routes as node's documentation suggests: new URL(req.url, base).
    let pathname: string | null = null
    let host: string | null = null
    try {
      const u = new URL(req.url ?? '/', `http://${req.headers.host ?? 'invalid.invalid'}`)
      pathname = u.pathname
      host = u.host
    } catch {
      // not a URL this handler understands
    }
    hits.push({
      app,
      route: 'handler',
      url: req.url ?? '',
      pathname,
      host,
      body: req.rawBody?.toString('latin1') ?? '',
    })
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ pathname, host }))
  }
}

async function listen(name: string, server: Server): Promise<void> {
  servers.push(server)
  ports[name] = await listenLoopback(server)
}

beforeAll(async () => {
  verifier = new TicketVerifier(keytab, { maxReplayWindows: 1000 })

  // node:http
  await listen(
    'node',
    createServer(tesseraHandler(verifier, nodeHandler('node'), { maxBodyBytes: MAX_BODY })),
  )

  // Express, middleware on the whole app.
  const app = express()
  app.use(tesseraExpress(verifier, { maxBodyBytes: MAX_BODY }))
  const record =
    (route: string) =>
    (req: express.Request, res: express.Response): void => {
      const { rawBody } = req as TesseraExpressRequest
      hits.push({
        app: 'express',
        route,
        url: req.originalUrl,
        body: rawBody?.toString('latin1') ?? '',
        host: req.hostname,
      })
      res.json({ route, params: req.params as unknown })
    }
  app.get('/orders', record('GET /orders'))
  app.post('/orders', record('POST /orders'))
  app.delete('/orders', record('DELETE /orders'))
  app.get('/:tenant/orders', record('GET /:tenant/orders'))
  app.get('/boom', () => {
    throw new BrokerError('ERR_AP_TKT_EXPIRED', { status: 'DOWNSTREAM' })
  })
  await listen('express', createServer(app))

  // Express, middleware mounted on a router under /api; one uncovered route guarded by a scope.
  const mounted = express()
  const router = express.Router()
  router.use(tesseraExpress(verifier))
  router.get('/orders', record('GET /api/orders'))
  mounted.use('/api', router)
  mounted.get('/open', requireScope('orders:read'), record('GET /open'))
  await listen('mounted', createServer(mounted))

  // Fastify, with a URL rewrite (/v1/x → /x) and a prefixed child plugin.
  fastify = Fastify({
    bodyLimit: MAX_BODY,
    rewriteUrl: (req) =>
      req.url?.startsWith('/v1/') === true ? req.url.slice(3) : (req.url ?? '/'),
  })
  await fastify.register(tesseraFastify, { verifier, maxBodyBytes: MAX_BODY })
  const fhit = (route: string, url: string, body: unknown): Hit => {
    const hit: Hit = { app: 'fastify', route, url, body: JSON.stringify(body) }
    hits.push(hit)
    return hit
  }
  fastify.get('/orders', { preHandler: requireScope('orders:read') }, (request) =>
    Promise.resolve(fhit('GET /orders', request.url, request.body)),
  )
  fastify.post('/orders', { preHandler: requireScope('orders:read') }, (request) =>
    Promise.resolve(fhit('POST /orders', request.url, request.body)),
  )
  fastify.get('/admin', { preHandler: requireScope('orders:admin') }, (request) =>
    Promise.resolve(fhit('GET /admin', request.url, request.body)),
  )
  await fastify.register(
    (child, _opts, done) => {
      child.get('/orders', (request) =>
        Promise.resolve(fhit('GET /p/orders', request.url, request.body)),
      )
      done()
    },
    { prefix: '/p' },
  )
  await fastify.listen({ port: 0, host: '127.0.0.1' })
  ports.fastify = (fastify.server.address() as AddressInfo).port

  // HTTP/2 (cleartext): Fastify with http2: true, and tesseraHandler on node's http2 compat API.
  fastifyH2 = Fastify({ http2: true })
  await fastifyH2.register(tesseraFastify, { verifier })
  fastifyH2.get('/orders', (request) =>
    Promise.resolve(fhit('h2 GET /orders', request.url, request.body)),
  )
  await fastifyH2.listen({ port: 0, host: '127.0.0.1' })
  ports.fastifyH2 = (fastifyH2.server.address() as AddressInfo).port
  const h2Handler = tesseraHandler(verifier, (req, res) => {
    const authority = (req as unknown as Http2ServerRequest).authority
    hits.push({ app: 'node-h2', route: 'handler', url: req.url ?? '', host: authority })
    res.end(JSON.stringify({ authority }))
  })
  nodeH2 = createH2Server((req, res) => {
    h2Handler(req as unknown as IncomingMessage, res as unknown as ServerResponse)
  })
  await new Promise<void>((resolve) => {
    nodeH2.listen(0, '127.0.0.1', resolve)
  })
  ports.nodeH2 = (nodeH2.address() as AddressInfo).port
})

afterAll(async () => {
  for (const s of servers) await closeServer(s)
  await fastify.close()
  await fastifyH2.close()
  await new Promise<void>((resolve) => {
    nodeH2.close(() => {
      resolve()
    })
  })
  verifier.close()
})

const FRAMEWORKS = ['node', 'express', 'fastify'] as const
const port = (name: string): number => ports[name] as number

// ---------------------------------------------------------------------------------------------
// Path, query, method and host: anything but the exact signed request is refused.

describe.each(FRAMEWORKS)('%s: the target is bound exactly as sent', (name) => {
  it('control: the exact signed request is served', async () => {
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port(name),
        head('GET', '/orders', [`Host: ${HOST}`, `Authorization: ${sign({ target: '/orders' })}`]),
      ),
    )
    expect(result.status).toBe(200)
    expect(h).toHaveLength(1)
  })

  // Targets a framework might normalise onto /orders, each sent with an authenticator for /orders.
  it.each([
    '/orders/',
    '//orders',
    '/Orders',
    '/ORDERS',
    '/x/../orders',
    '/./orders',
    '/%2e/orders',
    '/%6frders',
    '/orders%2F',
    '/orders;x=1',
    '/orders?',
    '/orders#frag',
    '/orders?id=7',
    '/v1/orders',
    '/p/orders',
  ])('refuses %s signed as /orders (ERR_AP_REQUEST_MISMATCH), no handler runs', async (target) => {
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port(name),
        head('GET', target, [`Host: ${HOST}`, `Authorization: ${sign({ target: '/orders' })}`]),
      ),
    )
    expectRefused(result, 401, 'ERR_AP_REQUEST_MISMATCH')
    expect(h).toEqual([])
  })

  it.each([
    ['HEAD', 'GET'],
    ['POST', 'GET'],
    ['GET', 'HEAD'],
    ['DELETE', 'POST'],
  ])('refuses method %s signed as %s', async (sent, signed) => {
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port(name),
        head(sent, '/orders', [
          `Host: ${HOST}`,
          `Authorization: ${sign({ method: signed, target: '/orders' })}`,
          'Content-Length: 0',
        ]),
      ),
    )
    expect(result.status).toBe(401)
    expect(result.headers['www-authenticate']).toBe('Tessera error="ERR_AP_REQUEST_MISMATCH"')
    expect(h).toEqual([])
  })

  it.each([
    'orders.internal.',
    'orders.internal:8080',
    'orders.internal:',
    'orders.internal:0443',
    'other.internal',
    'orders.internal.evil',
    'xorders.internal',
  ])('refuses Host %s for an authenticator made for orders.internal', async (host) => {
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port(name),
        head('GET', '/orders', [`Host: ${host}`, `Authorization: ${sign({ target: '/orders' })}`]),
      ),
    )
    expectRefused(result, 401, 'ERR_AP_REQUEST_MISMATCH')
    expect(h).toEqual([])
  })

  // §6.2: lower case, default port removed, IPv6 brackets kept.
  it.each([
    ['ORDERS.Internal', HOST],
    ['orders.internal:80', HOST],
    ['orders.internal:443', HOST],
    ['[::1]:443', '[::1]'],
    ['[::1]:8443', '[::1]:8443'],
  ])(
    'accepts Host %s for an authenticator made for %s (canonical authority)',
    async (sent, signed) => {
      const res = await rawRequest(
        port(name),
        head('GET', '/orders', [
          `Host: ${sent}`,
          `Authorization: ${sign({ target: '/orders', host: signed })}`,
        ]),
      )
      expect(res.status).toBe(200)
    },
  )

  it('duplicate Host headers: the first one is bound, and it is the one the app sees', async () => {
    const auth = `Authorization: ${sign({ target: '/orders' })}`
    const bad = await rawRequest(
      port(name),
      head('GET', '/orders', ['Host: other.internal', `Host: ${HOST}`, auth]),
    )
    expectRefused(bad, 401, 'ERR_AP_REQUEST_MISMATCH')
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port(name),
        head('GET', '/orders', [
          `Host: ${HOST}`,
          'Host: other.internal',
          `Authorization: ${sign({ target: '/orders' })}`,
        ]),
      ),
    )
    expect(result.status).toBe(200)
    if (name !== 'fastify') expect(h[0]?.host).toBe(HOST)
  })

  it('duplicate Authorization headers: only the first counts', async () => {
    const res = await rawRequest(
      port(name),
      head('GET', '/orders', [
        `Host: ${HOST}`,
        'Authorization: Bearer x',
        `Authorization: ${sign({ target: '/orders' })}`,
      ]),
    )
    expectRefused(res, 401, 'ERR_AP_NO_CREDENTIALS')
  })

  it('a body on a GET signed without one is refused; signed with it, it is bound', async () => {
    const unsigned = await hitsOf(() =>
      rawRequest(
        port(name),
        head('GET', '/orders', [
          `Host: ${HOST}`,
          `Authorization: ${sign({ target: '/orders' })}`,
          'Content-Length: 5',
        ]),
        'hello',
      ),
    )
    expectRefused(unsigned.result, 401, 'ERR_AP_REQUEST_MISMATCH')
    expect(unsigned.hits).toEqual([])
    const signed = await rawRequest(
      port(name),
      head('GET', '/orders', [
        `Host: ${HOST}`,
        `Authorization: ${sign({ target: '/orders', body: 'hello' })}`,
        'Content-Length: 5',
      ]),
      'hello',
    )
    expect(signed.status).toBe(200)
  })

  it('a chunked body is hashed as its decoded bytes, and another body is refused', async () => {
    const body = '{"a":1}'
    const chunked = `3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n`
    const ok = await rawRequest(
      port(name),
      head('POST', '/orders', [
        `Host: ${HOST}`,
        `Authorization: ${sign({ method: 'POST', target: '/orders', body })}`,
        'Content-Type: application/json',
        'Transfer-Encoding: chunked',
      ]),
      chunked,
    )
    expect(ok.status).toBe(200)
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port(name),
        head('POST', '/orders', [
          `Host: ${HOST}`,
          `Authorization: ${sign({ method: 'POST', target: '/orders', body: '{"a":2}' })}`,
          'Content-Type: application/json',
          'Transfer-Encoding: chunked',
        ]),
        chunked,
      ),
    )
    expectRefused(result, 401, 'ERR_AP_REQUEST_MISMATCH')
    expect(h).toEqual([])
  })

  it('Content-Length together with Transfer-Encoding never reaches a handler', async () => {
    const body = '{"a":1}'
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port(name),
        head('POST', '/orders', [
          `Host: ${HOST}`,
          `Authorization: ${sign({ method: 'POST', target: '/orders', body })}`,
          'Content-Type: application/json',
          'Content-Length: 7',
          'Transfer-Encoding: chunked',
        ]),
        `7\r\n${body}\r\n0\r\n\r\n`,
      ),
    )
    expect(result.status).toBe(400) // node's parser refuses the request
    expect(h).toEqual([])
  })

  it('a body with Content-Encoding: gzip is bound as the bytes on the wire', async () => {
    // The signed body is the plain JSON; the attacker re-sends the same JSON gzip-compressed.
    const { gzipSync } = await import('node:zlib')
    const plain = '{"a":1}'
    const gz = gzipSync(plain)
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port(name),
        head('POST', '/orders', [
          `Host: ${HOST}`,
          `Authorization: ${sign({ method: 'POST', target: '/orders', body: plain })}`,
          'Content-Type: application/json',
          'Content-Encoding: gzip',
          `Content-Length: ${gz.length}`,
        ]),
        gz,
      ),
    )
    expectRefused(result, 401, 'ERR_AP_REQUEST_MISMATCH')
    expect(h).toEqual([])
  })

  it('a chunked body past maxBodyBytes is refused with 413 and the connection is closed', async () => {
    const chunk = 'x'.repeat(256)
    let body = ''
    for (let i = 0; i < 40; i++) body += `${chunk.length.toString(16)}\r\n${chunk}\r\n`
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port(name),
        head('POST', '/orders', [
          `Host: ${HOST}`,
          `Authorization: ${sign({ method: 'POST', target: '/orders', body: 'x' })}`,
          'Content-Type: application/json',
          'Transfer-Encoding: chunked',
        ]),
        body, // never terminated: the server must answer and close on its own
      ),
    )
    expect(result.status).toBe(413)
    expect(result.body).toBe('ERR_PROTO_TOO_LARGE')
    expect(h).toEqual([])
  })

  it('precheck: a bad ticket with a large announced body is refused before the body arrives', async () => {
    const other = mintTicket({ serviceKey: keyOf(keytab, 1), kvno: 1, service: 'billing' })
    const res = await rawRequest(
      port(name),
      head('POST', '/orders', [
        `Host: ${HOST}`,
        `Authorization: ${authHeader(other, { method: 'POST', url: '/orders', ctime: now(), counter: 1 })}`,
        'Content-Type: application/json',
        'Content-Length: 1000',
      ]),
      'x'.repeat(10), // 990 bytes short: nothing more is coming
    )
    expectRefused(res, 401, 'ERR_AP_NOT_US')
  })

  it('a declared Content-Length past the cap is refused at once (413)', async () => {
    const res = await rawRequest(
      port(name),
      head('POST', '/orders', [
        `Host: ${HOST}`,
        `Authorization: ${sign({ method: 'POST', target: '/orders', body: 'x' })}`,
        'Content-Type: application/json',
        `Content-Length: ${MAX_BODY * 1000}`,
      ]),
      'x',
    )
    expect(res.status).toBe(413)
    expect(res.body).toBe('ERR_PROTO_TOO_LARGE')
  })

  it('two requests with interleaved bodies are each bound to their own body', async () => {
    const a = '{"who":"a"}'
    const b = '{"who":"b"}'
    const open = (body: string): Promise<RawResponse> =>
      new Promise((resolve, reject) => {
        const socket = connect(port(name), '127.0.0.1')
        const chunks: Buffer[] = []
        const timer = setTimeout(() => {
          socket.destroy()
          reject(new Error('timeout'))
        }, 5000)
        socket.on('data', (c: Buffer) => chunks.push(c))
        socket.on('close', () => {
          clearTimeout(timer)
          const text = Buffer.concat(chunks).toString('latin1')
          resolve({ status: Number(text.split(' ')[1]), headers: {}, body: text })
        })
        socket.on('connect', () => {
          socket.write(
            `${head('POST', '/orders', [
              `Host: ${HOST}`,
              `Authorization: ${sign({ method: 'POST', target: '/orders', body })}`,
              'Content-Type: application/json',
              `Content-Length: ${body.length}`,
            ])}\r\n\r\n${body.slice(0, 3)}`,
          )
          setTimeout(() => socket.write(body.slice(3)), body === a ? 150 : 50)
        })
      })
    const [ra, rb] = await Promise.all([open(a), open(b)])
    expect(ra.status).toBe(200)
    expect(rb.status).toBe(200)
  })

  it('the same authenticator sent twice at once with a body: exactly one is served', async () => {
    const body = '{"n":1}'
    const auth = sign({ method: 'POST', target: '/orders', body })
    const send = (): Promise<RawResponse> =>
      rawRequest(
        port(name),
        head('POST', '/orders', [
          `Host: ${HOST}`,
          `Authorization: ${auth}`,
          'Content-Type: application/json',
          `Content-Length: ${body.length}`,
        ]),
        body,
      )
    const { result, hits: h } = await hitsOf(() => Promise.all([send(), send()]))
    expect(result.map((r) => r.status).sort()).toEqual([200, 401])
    const refused = result.find((r) => r.status === 401) as RawResponse
    expectRefused(refused, 401, 'ERR_AP_REPLAY')
    expect(h).toHaveLength(1)
  })
})

// ---------------------------------------------------------------------------------------------
// Absolute-form request targets (`GET http://host/path HTTP/1.1`).

describe('absolute-form request targets', () => {
  it.each(FRAMEWORKS)(
    '%s: an absolute target bound to its path and query is served (§6.2)',
    async (name) => {
      const res = await rawRequest(
        port(name),
        head('GET', `http://${HOST}/orders`, [
          `Host: ${HOST}`,
          `Authorization: ${sign({ target: '/orders' })}`,
        ]),
      )
      expect(res.status).toBe(200)
    },
  )

  it.each(FRAMEWORKS)(
    '%s: a path inside an absolute target is still bound (signed /orders, sent /admin)',
    async (name) => {
      const { result, hits: h } = await hitsOf(() =>
        rawRequest(
          port(name),
          head('GET', `http://${HOST}/admin`, [
            `Host: ${HOST}`,
            `Authorization: ${sign({ target: '/orders' })}`,
          ]),
        ),
      )
      expectRefused(result, 401, 'ERR_AP_REQUEST_MISMATCH')
      expect(h).toEqual([])
    },
  )

  it.each(FRAMEWORKS)(
    '%s: node refuses backslashes and fragments in the authority of an absolute target',
    async (name) => {
      for (const target of [`http://${HOST}\\admin`, `http://${HOST}#/admin`]) {
        const { result, hits: h } = await hitsOf(() =>
          rawRequest(
            port(name),
            head('GET', target, [`Host: ${HOST}`, `Authorization: ${sign({ target: '/' })}`]),
          ),
        )
        expect(result.status).toBe(400)
        expect(h).toEqual([])
      }
    },
  )

  it('fastify: refuses an empty or invalid authority before routing (no handler runs)', async () => {
    for (const target of ['http:///orders', `http://${HOST}:orders/x`]) {
      const { result, hits: h } = await hitsOf(() =>
        rawRequest(
          port('fastify'),
          head('GET', target, [
            `Host: ${HOST}`,
            `Authorization: ${sign({ target: target === 'http:///orders' ? '/orders' : '/x' })}`,
          ]),
        ),
      )
      expect(result.status).toBe(400)
      expect(h).toEqual([])
    }
  })

  // request-binding.ts splitUrl takes everything after "scheme://" up to the first "/" as the
  // authority and binds the rest as the path, without checking that the authority is valid. An
  // http URI with an empty host is invalid (RFC 9110 §4.2.1: the recipient MUST reject it), and the
  // WHATWG URL parser node handlers route with reads "http:///api/orders" as host "api", path
  // "/orders". So an authenticator for GET /api/orders is accepted for a request the handler sees as
  // GET /orders on host "api".
  it('found in review: node:http: an absolute target with an empty host ("http:///api/orders") is refused', async () => {
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port('node'),
        head('GET', 'http:///api/orders', [
          `Host: ${HOST}`,
          `Authorization: ${sign({ target: '/api/orders' })}`,
        ]),
      ),
    )
    // Today: 200, and the handler saw { pathname: '/orders', host: 'api' }.
    expectRefused(result, 401, 'ERR_AP_REQUEST_MISMATCH')
    expect(h).toEqual([])
  })

  // The same gap with a non-numeric "port": splitUrl binds "/orders", Express (parseurl → legacy
  // url.parse) routes "/:acme/orders", which a parameterised route matches.
  it('found in review: express: an absolute target whose port is not a number ("http://orders.internal:acme/orders") is refused', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined)
    try {
      const { result, hits: h } = await hitsOf(() =>
        rawRequest(
          port('express'),
          head('GET', `http://${HOST}:acme/orders`, [
            `Host: ${HOST}`,
            `Authorization: ${sign({ target: '/orders' })}`,
          ]),
        ),
      )
      // Today: 200 from 'GET /:tenant/orders' with tenant ':acme'.
      expectRefused(result, 401, 'ERR_AP_REQUEST_MISMATCH')
      expect(h).toEqual([])
    } finally {
      warn.mockRestore()
    }
  })

  // For an absolute-form target the request's authority is the target's, and the Host header is
  // ignored (RFC 9112 §3.2.2; protocol.md §6.2 "or the authority of the absolute URL"). The verifier
  // binds the Host header whenever there is one, so a request for admin.internal passes with an
  // authenticator made for orders.internal, and a handler that reads the authority from the URL
  // (virtual hosting) serves admin.internal.
  it('found in review: node:http: an absolute target naming another server than the Host header is refused', async () => {
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port('node'),
        head('GET', 'http://admin.internal/orders', [
          `Host: ${HOST}`,
          `Authorization: ${sign({ target: '/orders' })}`,
        ]),
      ),
    )
    // Today: 200, and the handler saw { host: 'admin.internal', pathname: '/orders' }.
    expectRefused(result, 401, 'ERR_AP_REQUEST_MISMATCH')
    expect(h).toEqual([])
  })
})

// ---------------------------------------------------------------------------------------------
// Express specifics

describe('express', () => {
  it('mounted router: bound to originalUrl (/api/orders), not the stripped /orders', async () => {
    const ok = await rawRequest(
      port('mounted'),
      head('GET', '/api/orders', [
        `Host: ${HOST}`,
        `Authorization: ${sign({ target: '/api/orders' })}`,
      ]),
    )
    expect(ok.status).toBe(200)
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port('mounted'),
        head('GET', '/api/orders', [
          `Host: ${HOST}`,
          `Authorization: ${sign({ target: '/orders' })}`,
        ]),
      ),
    )
    expectRefused(result, 401, 'ERR_AP_REQUEST_MISMATCH')
    expect(h).toEqual([])
  })

  it('mounted router: a case variant of the mount path still goes through verification', async () => {
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(port('mounted'), head('GET', '/API/orders', [`Host: ${HOST}`])),
    )
    expectRefused(result, 401, 'ERR_AP_NO_CREDENTIALS')
    expect(h).toEqual([])
    const ok = await rawRequest(
      port('mounted'),
      head('GET', '/API/orders', [
        `Host: ${HOST}`,
        `Authorization: ${sign({ target: '/API/orders' })}`,
      ]),
    )
    expect(ok.status).toBe(200)
  })

  it('requireScope on a route the middleware does not cover: 401, even with a valid header', async () => {
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port('mounted'),
        head('GET', '/open', [`Host: ${HOST}`, `Authorization: ${sign({ target: '/open' })}`]),
      ),
    )
    expectRefused(result, 401, 'ERR_AP_NO_CREDENTIALS')
    expect(h).toEqual([])
  })

  it('X-HTTP-Method-Override is not honoured: a signed POST stays a POST', async () => {
    const body = '{}'
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port('express'),
        head('POST', '/orders', [
          `Host: ${HOST}`,
          `Authorization: ${sign({ method: 'POST', target: '/orders', body })}`,
          'X-HTTP-Method-Override: DELETE',
          'Content-Type: application/json',
          `Content-Length: ${body.length}`,
        ]),
        body,
      ),
    )
    expect(result.status).toBe(200)
    expect(h.map((x) => x.route)).toEqual(['POST /orders'])
  })

  it('an error thrown by a handler after verification is a 500 without WWW-Authenticate', async () => {
    const res = await rawRequest(
      port('express'),
      head('GET', '/boom', [`Host: ${HOST}`, `Authorization: ${sign({ target: '/boom' })}`]),
    )
    expect(res.status).toBe(500)
    expect(res.headers['www-authenticate']).toBeUndefined()
  })

  it('a JSON body in another charset is bound as bytes; an undecodable one answers 400', async () => {
    const body = Buffer.from('{"a":"é"}', 'utf16le')
    const res = await rawRequest(
      port('express'),
      head('POST', '/orders', [
        `Host: ${HOST}`,
        `Authorization: ${sign({ method: 'POST', target: '/orders', body })}`,
        'Content-Type: application/json; charset=utf-16le',
        `Content-Length: ${body.length}`,
      ]),
      body,
    )
    expect(res.status).toBe(400)
    expect(res.body).toBe('invalid JSON body')
  })
})

// ---------------------------------------------------------------------------------------------
// Fastify specifics

describe('fastify', () => {
  it('rewriteUrl: bound to the target as sent (/v1/orders), routed to the rewritten /orders', async () => {
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port('fastify'),
        head('GET', '/v1/orders', [
          `Host: ${HOST}`,
          `Authorization: ${sign({ target: '/v1/orders' })}`,
        ]),
      ),
    )
    expect(result.status).toBe(200)
    expect(h.map((x) => x.route)).toEqual(['GET /orders'])
  })

  it('rewriteUrl: an authenticator for the rewritten target is refused', async () => {
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port('fastify'),
        head('GET', '/v1/orders', [
          `Host: ${HOST}`,
          `Authorization: ${sign({ target: '/orders' })}`,
        ]),
      ),
    )
    expectRefused(result, 401, 'ERR_AP_REQUEST_MISMATCH')
    expect(h).toEqual([])
  })

  it('a route of a prefixed child plugin is covered by the hook', async () => {
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(port('fastify'), head('GET', '/p/orders', [`Host: ${HOST}`])),
    )
    expectRefused(result, 401, 'ERR_AP_NO_CREDENTIALS')
    expect(h).toEqual([])
  })

  it('an unknown route still answers the verification failure, not the route', async () => {
    const res = await rawRequest(port('fastify'), head('GET', '/nothing', [`Host: ${HOST}`]))
    expectRefused(res, 401, 'ERR_AP_NO_CREDENTIALS')
  })

  it('requireScope: 403 ERR_AP_SCOPE for a scope the ticket lacks', async () => {
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port('fastify'),
        head('GET', '/admin', [`Host: ${HOST}`, `Authorization: ${sign({ target: '/admin' })}`]),
      ),
    )
    expectRefused(result, 403, 'ERR_AP_SCOPE')
    expect(h).toEqual([])
  })

  it('the parsed JSON body is the bound bytes', async () => {
    const body = '{"a":1,"a":2}'
    const { result, hits: h } = await hitsOf(() =>
      rawRequest(
        port('fastify'),
        head('POST', '/orders', [
          `Host: ${HOST}`,
          `Authorization: ${sign({ method: 'POST', target: '/orders', body })}`,
          'Content-Type: application/json',
          `Content-Length: ${body.length}`,
        ]),
        body,
      ),
    )
    expect(result.status).toBe(200)
    expect(h[0]?.body).toBe('{"a":2}')
  })
})

// ---------------------------------------------------------------------------------------------
// HTTP/2: the authority is the :authority pseudo-header (RFC 9113 §8.3.1; node's
// Http2ServerRequest.authority prefers it), which types.ts's VerifyRequest.host promises to take
// ("The Host header (or :authority)"). http.ts verifyNodeRequest reads only req.headers.host.

describe('HTTP/2', () => {
  it('a request with a Host header equal to :authority is served', async () => {
    const res = await h2Request(port('fastifyH2'), {
      ':path': '/orders',
      ':authority': HOST,
      host: HOST,
      authorization: sign({ target: '/orders' }),
    })
    expect(res.status).toBe(200)
  })

  // A refusal before the body is read closes an HTTP/1.x connection (connection: close). HTTP/2
  // forbids that header: node dropped it with an UnsupportedWarning on every such refusal.
  for (const app of ['fastifyH2', 'nodeH2'] as const) {
    it(`${app}: a refusal of an unfinished request sets no connection header over HTTP/2`, async () => {
      const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined)
      try {
        const res = await h2Request(
          port(app),
          {
            ':method': 'POST',
            ':path': '/orders',
            ':authority': HOST,
            'content-type': 'application/json',
          },
          { body: '{"partial":', unfinished: true },
        )
        expect(res.status).toBe(401)
        expect(res.body).toBe('ERR_AP_NO_CREDENTIALS')
        const texts = warn.mock.calls.map((c) => String(c[0]))
        expect(texts.filter((t) => /connection header/i.test(t))).toEqual([])
      } finally {
        warn.mockRestore()
      }
    })
  }

  // Clients send :authority and no Host header over HTTP/2: the verifier binds the authority ''
  // and refuses every correctly signed request (tesseraFastify is unusable with http2: true).
  it('found in review: fastify http2: a request with :authority and no Host is served', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined)
    try {
      const res = await h2Request(port('fastifyH2'), {
        ':path': '/orders',
        ':authority': HOST,
        authorization: sign({ target: '/orders' }),
      })
      // Today: 401 ERR_AP_REQUEST_MISMATCH.
      expect(res.status).toBe(200)
    } finally {
      warn.mockRestore()
    }
  })

  // With both present and different, the verifier binds Host while the request's authority (and
  // what node's Http2ServerRequest.authority reports to the handler) is :authority.
  it('found in review: node http2: an :authority naming another server than the Host header is refused', async () => {
    const { result, hits: h } = await hitsOf(() =>
      h2Request(port('nodeH2'), {
        ':path': '/orders',
        ':authority': 'admin.internal',
        host: HOST,
        authorization: sign({ target: '/orders' }),
      }),
    )
    // Today: 200, and the handler saw authority 'admin.internal'.
    expect(result.status).toBe(401)
    expect(result.body).toBe('ERR_AP_REQUEST_MISMATCH')
    expect(h).toEqual([])
  })
})
