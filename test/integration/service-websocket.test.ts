/**
 * The WebSocket helper on a real node:http server: the upgrade request is verified before the
 * handshake is accepted; a refused upgrade gets a 401 with the code on the raw socket.
 */
import { createServer, request as httpRequest } from 'node:http'
import { closeServer, listenLoopback } from '../helpers/http-server.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rejectUpgrade, TicketVerifier, verifyUpgrade } from '../../service-sdk/index.js'
import { authHeader, keyOf, makeKeytab, mintTicket } from '../unit/service-sdk/fixtures.js'

const keytab = makeKeytab([1])
const verifier = new TicketVerifier(keytab)
const server = createServer()
let port = 0

beforeAll(async () => {
  server.on('upgrade', (req, socket) => {
    try {
      const who = verifyUpgrade(verifier, req)
      socket.end(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Caller: ${who.caller}\r\n\r\n`,
      )
    } catch (err) {
      rejectUpgrade(socket, err)
    }
  })
  port = await listenLoopback(server)
})

afterAll(async () => {
  verifier.close()
  await closeServer(server)
})

function upgrade(
  authorization?: string,
): Promise<{ status: number; caller?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { connection: 'Upgrade', upgrade: 'websocket' }
    if (authorization !== undefined) headers.authorization = authorization
    const req = httpRequest({ host: '127.0.0.1', port, path: '/stream?x=1', headers })
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve({ status: res.statusCode ?? 0, caller: res.headers['x-caller'] as string, body: '' })
    })
    req.on('response', (res) => {
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString()))
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body })
      })
    })
    req.on('error', reject)
    req.end()
  })
}

describe('verifyUpgrade', () => {
  const now = (): number => Math.floor(Date.now() / 1000)
  const mint = () =>
    mintTicket({
      serviceKey: keyOf(keytab, 1),
      kvno: 1,
      startTime: now() - 5,
      endTime: now() + 600,
    })

  it('accepts an upgrade bound to GET, host and target', async () => {
    const h = authHeader(mint(), { url: '/stream?x=1', host: `127.0.0.1:${port}`, ctime: now() })
    const res = await upgrade(h)
    expect(res.status).toBe(101)
    expect(res.caller).toBe('payments')
  })

  it('refuses a missing header and a header made for another path, with the code', async () => {
    expect(await upgrade()).toMatchObject({ status: 401, body: 'ERR_AP_NO_CREDENTIALS' })
    const h = authHeader(mint(), { url: '/other', host: `127.0.0.1:${port}`, ctime: now() })
    expect(await upgrade(h)).toMatchObject({ status: 401, body: 'ERR_AP_REQUEST_MISMATCH' })
  })
})
