/**
 * Express strips a mount path from req.url inside the mounted middleware
 * (`app.use('/api', tesseraExpress(v))` sees '/orders' for a request to '/api/orders'). The request
 * binding (docs/protocol.md §6.2: the target exactly as sent) must use the target the client sent,
 * not the stripped one: otherwise a request signed for '/orders' is accepted at '/api/orders', and
 * a request correctly signed for '/api/orders' is refused.
 */
import { createServer, type Server } from 'node:http'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tesseraExpress, TicketVerifier } from '../../service-sdk/index.js'
import { closeServer, listenLoopback } from '../helpers/http-server.js'
import { authHeader, keyOf, makeKeytab, mintTicket } from '../unit/service-sdk/fixtures.js'

const keytab = makeKeytab([1])
const now = (): number => Math.floor(Date.now() / 1000)
const m = mintTicket({
  serviceKey: keyOf(keytab, 1),
  kvno: 1,
  startTime: now() - 5,
  endTime: now() + 600,
})
let verifier: TicketVerifier
let server: Server
let base = ''
let counter = 0

beforeAll(async () => {
  verifier = new TicketVerifier(keytab)
  const app = express()
  app.use('/api', tesseraExpress(verifier))
  app.get('/api/orders', (_req, res) => {
    res.json({ ok: true })
  })
  server = createServer(app)
  base = `http://127.0.0.1:${String(await listenLoopback(server))}`
})

afterAll(async () => {
  await closeServer(server)
  verifier.close()
})

function get(path: string, signedPath: string): Promise<Response> {
  const authorization = authHeader(m, {
    method: 'GET',
    url: signedPath,
    host: new URL(base).host,
    ctime: now(),
    counter: ++counter,
  })
  return fetch(base + path, { headers: { authorization } })
}

describe('Express middleware mounted under a path', () => {
  it('accepts a request signed for the full target it was sent to', async () => {
    const res = await get('/api/orders?id=7', '/api/orders?id=7')
    expect(res.status).toBe(200)
  })

  it('refuses (ERR_AP_REQUEST_MISMATCH) a request signed for the path without the mount prefix', async () => {
    const res = await get('/api/orders?id=7', '/orders?id=7')
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Tessera error="ERR_AP_REQUEST_MISMATCH"')
    expect(await res.text()).toBe('ERR_AP_REQUEST_MISMATCH')
  })
})
