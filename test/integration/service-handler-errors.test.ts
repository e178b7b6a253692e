/**
 * An error thrown by the application's handler, after the request was verified, is not a
 * verification outcome: node:http must answer 500 (ERR_KDC_INTERNAL), never 401/403 with the
 * handler's code. A BrokerError from a downstream call (e.g. ERR_AP_TKT_EXPIRED from the KDC) sent
 * back as `401 Tessera error="ERR_AP_TKT_EXPIRED"` would tell the caller its own ticket was refused
 * before anything ran, and the client SDK then re-sends the request with a fresh ticket: a second
 * execution of a handler that already ran.
 */
import { createServer, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { BrokerError } from '../../kdc/protocol/index.js'
import { tesseraHandler, TicketVerifier } from '../../service-sdk/index.js'
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
let runs = 0
let counter = 0

beforeAll(async () => {
  verifier = new TicketVerifier(keytab)
  server = createServer(
    tesseraHandler(verifier, (req) => {
      runs++
      const downstream = new BrokerError('ERR_AP_TKT_EXPIRED', { status: 'KDC_REPLY' })
      if (req.url === '/sync') throw downstream
      return Promise.reject(downstream)
    }),
  )
  base = `http://127.0.0.1:${String(await listenLoopback(server))}`
})

afterAll(async () => {
  await closeServer(server)
  verifier.close()
})

async function post(path: string): Promise<Response> {
  const body = '{"sku":1}'
  const authorization = authHeader(m, {
    method: 'POST',
    url: path,
    host: new URL(base).host,
    body,
    ctime: now(),
    counter: ++counter,
  })
  return fetch(base + path, { method: 'POST', headers: { authorization }, body })
}

describe('node:http handler errors', () => {
  it.each(['/sync', '/async'])(
    '%s: a BrokerError from the handler is a 500, not a 401',
    async (path) => {
      const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined)
      try {
        const before = runs
        const res = await post(path)
        expect(runs).toBe(before + 1)
        expect(res.status).toBe(500)
        expect(res.headers.get('www-authenticate')).toBeNull()
        expect(await res.text()).toBe('ERR_KDC_INTERNAL')
        expect(warn).toHaveBeenCalled()
      } finally {
        warn.mockRestore()
      }
    },
  )
})
