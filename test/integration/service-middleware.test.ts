/**
 * The service SDK's middleware on real servers (node:http, Express 5, Fastify 5) on 127.0.0.1:0,
 * driven with fetch and Authorization headers built with kdc/protocol's seal functions.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  deriveKey,
  fromBase64Url,
  LABELS,
  openApRepPart,
  parseApRep,
} from '../../kdc/protocol/index.js'
import { tesseraFastify } from '../../service-sdk/fastify-types.js'
import {
  requireScope,
  tesseraExpress,
  tesseraHandler,
  TicketVerifier,
  type TesseraExpressRequest,
  type TesseraIdentity,
} from '../../service-sdk/index.js'
import {
  authHeader,
  keyOf,
  makeKeytab,
  mintTicket,
  type Minted,
} from '../unit/service-sdk/fixtures.js'

const keytab = makeKeytab([1])
const mint = (scopes = ['orders:read']): Minted =>
  mintTicket({
    serviceKey: keyOf(keytab, 1),
    kvno: 1,
    scopes,
    startTime: Math.floor(Date.now() / 1000) - 5,
    endTime: Math.floor(Date.now() / 1000) + 600,
  })

interface Target {
  name: string
  base: string
  close: () => Promise<void>
}

let counter = 0

/** fetch with a fresh authenticator bound to exactly this request. */
async function call(
  t: Target,
  m: Minted | undefined,
  path: string,
  init: {
    method?: string
    body?: string
    headers?: Record<string, string>
    signFor?: { path?: string; body?: string }
  } = {},
): Promise<Response> {
  const method = init.method ?? 'GET'
  const host = new URL(t.base).host
  const headers: Record<string, string> = { ...init.headers }
  if (m !== undefined) {
    headers.authorization = authHeader(m, {
      method,
      url: init.signFor?.path ?? path,
      host,
      ...((init.signFor?.body ?? init.body) === undefined
        ? {}
        : { body: init.signFor?.body ?? init.body }),
      ctime: Math.floor(Date.now() / 1000),
      counter: ++counter,
    })
  }
  if (init.body !== undefined) headers['content-type'] ??= 'application/json'
  return fetch(t.base + path, {
    method,
    headers,
    ...(init.body === undefined ? {} : { body: init.body }),
  })
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
    })
  })
}

const targets: Target[] = []
let verifier: TicketVerifier

beforeAll(async () => {
  verifier = new TicketVerifier(keytab, { maxReplayWindows: 1000 })

  // node:http
  const plain = createServer(
    tesseraHandler(
      verifier,
      (req, res) => {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify({ who: req.tessera, body: req.rawBody.toString('utf8') }))
      },
      { requireScope: 'orders:read', maxBodyBytes: 1024 },
    ),
  )
  targets.push({ name: 'node:http', base: await listen(plain), close: () => closeServer(plain) })

  // Express
  const app = express()
  app.use(tesseraExpress(verifier, { maxBodyBytes: 1024 }))
  app.use(express.json())
  const handler = (req: express.Request, res: express.Response): void => {
    // req.tessera is typed by the SDK's Express.Request augmentation: no cast.
    const who: TesseraIdentity = req.tessera
    const { rawBody } = req as TesseraExpressRequest
    res.json({ who, body: rawBody?.toString('utf8'), parsed: req.body as unknown })
  }
  app.get('/orders', requireScope('orders:read'), handler)
  app.post('/orders', requireScope('orders:read'), handler)
  app.post('/admin', requireScope('orders:admin'), handler)
  const expressServer = createServer(app)
  targets.push({
    name: 'express',
    base: await listen(expressServer),
    close: () => closeServer(expressServer),
  })

  // Fastify
  const fastify: FastifyInstance = Fastify({ bodyLimit: 1024 })
  await fastify.register(tesseraFastify, { verifier, maxBodyBytes: 1024 })
  // request.tessera is typed by tessera/service/fastify's FastifyRequest augmentation.
  const reply = (request: FastifyRequest) => ({ who: request.tessera, parsed: request.body })
  fastify.get('/orders', { preHandler: requireScope('orders:read') }, (request) =>
    Promise.resolve(reply(request)),
  )
  fastify.post('/orders', { preHandler: requireScope('orders:read') }, (request) =>
    Promise.resolve(reply(request)),
  )
  fastify.post('/admin', { preHandler: requireScope('orders:admin') }, (request) =>
    Promise.resolve(reply(request)),
  )
  const fastifyBase = await fastify.listen({ port: 0, host: '127.0.0.1' })
  targets.push({ name: 'fastify', base: fastifyBase, close: () => fastify.close() })
})

afterAll(async () => {
  for (const t of targets) await t.close()
  verifier.close()
})

function closeServer(s: Server): Promise<void> {
  return new Promise((resolve) => {
    s.closeAllConnections()
    s.close(() => {
      resolve()
    })
  })
}

async function expectRefusal(res: Response, status: number, code: string): Promise<void> {
  expect(res.status).toBe(status)
  if (status !== 413) expect(res.headers.get('www-authenticate')).toBe(`Tessera error="${code}"`)
  expect(await res.text()).toBe(code)
}

describe.each(['node:http', 'express', 'fastify'])('%s middleware', (name) => {
  const t = (): Target => targets.find((x) => x.name === name) as Target

  it('serves a verified GET with the identity attached', async () => {
    const m = mint()
    const res = await call(t(), m, '/orders?id=7')
    expect(res.status).toBe(200)
    const json = (await res.json()) as { who: TesseraIdentity }
    expect(json.who.caller).toBe('payments')
    expect(json.who.scopes).toEqual(['orders:read'])
  })

  it('serves a verified POST whose body is bound and still readable', async () => {
    const m = mint()
    const res = await call(t(), m, '/orders', { method: 'POST', body: '{"item":42}' })
    expect(res.status).toBe(200)
    const json = (await res.json()) as { body?: string; parsed?: unknown }
    if (name === 'node:http') expect(json.body).toBe('{"item":42}')
    else expect(json.parsed).toEqual({ item: 42 })
  })

  it('401 ERR_AP_NO_CREDENTIALS without a header', async () => {
    await expectRefusal(await call(t(), undefined, '/orders'), 401, 'ERR_AP_NO_CREDENTIALS')
  })

  it('401 ERR_AP_REQUEST_MISMATCH when path, query or body differ from what was signed', async () => {
    const m = mint()
    await expectRefusal(
      await call(t(), m, '/orders?id=8', { signFor: { path: '/orders?id=7' } }),
      401,
      'ERR_AP_REQUEST_MISMATCH',
    )
    await expectRefusal(
      await call(t(), m, '/orders', {
        method: 'POST',
        body: '{"item":1}',
        signFor: { body: '{"item":2}' },
      }),
      401,
      'ERR_AP_REQUEST_MISMATCH',
    )
  })

  it('401 ERR_AP_REPLAY when the same header is sent twice', async () => {
    const m = mint()
    const host = new URL(t().base).host
    const authorization = authHeader(m, {
      url: '/orders',
      host,
      ctime: Math.floor(Date.now() / 1000),
      counter: 1,
    })
    expect((await fetch(`${t().base}/orders`, { headers: { authorization } })).status).toBe(200)
    await expectRefusal(
      await fetch(`${t().base}/orders`, { headers: { authorization } }),
      401,
      'ERR_AP_REPLAY',
    )
  })

  it('401 ERR_AP_NOT_US for a ticket of another service', async () => {
    const other = mintTicket({ serviceKey: keyOf(keytab, 1), kvno: 1, service: 'billing' })
    await expectRefusal(await call(t(), other, '/orders'), 401, 'ERR_AP_NOT_US')
  })

  it('403 ERR_AP_SCOPE when the route needs a scope the ticket lacks', async () => {
    const path = name === 'node:http' ? '/orders' : '/admin'
    const m = name === 'node:http' ? mint(['orders:write']) : mint()
    const init = name === 'node:http' ? {} : { method: 'POST', body: '{}' }
    await expectRefusal(await call(t(), m, path, init), 403, 'ERR_AP_SCOPE')
  })

  it('413 for a body over the cap', async () => {
    const m = mint()
    const big = JSON.stringify({ pad: 'x'.repeat(5000) })
    const res = await call(t(), m, '/orders', { method: 'POST', body: big })
    expect(res.status).toBe(413)
  })

  it('mutual authentication: Tessera-Mutual: 1 gets an AP-REP the client opens', async () => {
    const m = mint()
    const res = await call(t(), m, '/orders', { headers: { 'tessera-mutual': '1' } })
    expect(res.status).toBe(200)
    const header = res.headers.get('tessera-ap-rep')
    expect(header).not.toBeNull()
    const part = openApRepPart(
      deriveKey(m.sessionKey, LABELS.apRep),
      { realm: m.realm, client: m.client, service: m.service },
      parseApRep(fromBase64Url(header ?? '') ?? new Uint8Array(0)).encPart,
    )
    expect(part.counter).toBe(counter)
  })
})

describe('precheck before reading the body', () => {
  it('refuses a bad ticket on a large body without reading it (node:http)', async () => {
    const t = targets.find((x) => x.name === 'node:http') as Target
    const other = mintTicket({ serviceKey: keyOf(keytab, 1), kvno: 1, service: 'billing' })
    const res = await call(t, other, '/orders', { method: 'POST', body: 'x'.repeat(800) })
    await expectRefusal(res, 401, 'ERR_AP_NOT_US')
  })
})
