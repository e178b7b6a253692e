import { createServer, type AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocketServer } from 'ws'
import {
  encodeFrame,
  isBrokerError,
  MSG,
  parseFrame,
  type Keytab,
} from '../../../kdc/protocol/index.js'
import { buildAsReq } from '../../../client/as.js'
import { KdcTransport, type RequestSpec } from '../../../client/transport.js'
import type { AsAttemptState } from '../../../client/as.js'
import { FakeKdc } from './fake-kdc.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function kdcServer(): Promise<{
  kdc: FakeKdc
  url: string
  keytab: Keytab
  stop: () => Promise<void>
}> {
  const kdc = new FakeKdc()
  const keytab = kdc.addPrincipal('payments')
  const { url, close } = await kdc.listen()
  cleanups.push(close)
  return { kdc, url, keytab, stop: close }
}

/** A port nothing listens on. */
async function deadUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve()
    }),
  )
  return `ws://127.0.0.1:${port}/v1`
}

/** A WebSocket server that accepts connections and never answers. */
async function silentUrl(): Promise<{ url: string; received: () => number }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/v1' })
  await new Promise<void>((resolve) => server.once('listening', resolve))
  let received = 0
  server.on('connection', (ws) => ws.on('message', () => received++))
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const c of server.clients) c.terminate()
        server.close(() => {
          resolve()
        })
      }),
  )
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    received: () => received,
  }
}

function transport(
  kdc: string[],
  extra: Partial<ConstructorParameters<typeof KdcTransport>[0]> = {},
): KdcTransport {
  const t = new KdcTransport({ kdc, deadlineMs: 300, connectTimeoutMs: 500, ...extra })
  cleanups.push(() => {
    t.close()
  })
  return t
}

function asSpec(keytab: Keytab, idempotent = true): RequestSpec<AsAttemptState> {
  return {
    build: (id) => {
      const { body, state } = buildAsReq(keytab, Math.floor(Date.now() / 1000), 0)
      return { frame: { type: MSG.AS_REQ, id, body }, state }
    },
    expect: MSG.AS_REP,
    idempotent,
  }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'OK'
  } catch (err) {
    if (isBrokerError(err)) return err.code
    throw err
  }
}

describe('KdcTransport: failover', () => {
  it('answers from the first endpoint and keeps a connection to every endpoint', async () => {
    const a = await kdcServer()
    const b = await kdcServer()
    b.kdc.principals.set('payments', a.kdc.principals.get('payments') ?? [])
    const t = transport([a.url, b.url])
    const out = await t.request(asSpec(a.keytab))
    expect(out.endpoint).toBe(a.url)
    expect(out.reply.type).toBe(MSG.AS_REP)
    await new Promise((r) => setTimeout(r, 50))
    expect(t.connected.sort()).toEqual([a.url, b.url].sort())
  })

  it('fails over when the first endpoint is down', async () => {
    const b = await kdcServer()
    const t = transport([await deadUrl(), b.url])
    const out = await t.request(asSpec(b.keytab))
    expect(out.endpoint).toBe(b.url)
  })

  it('tries the next endpoint when the first hangs past the deadline', async () => {
    const silent = await silentUrl()
    const b = await kdcServer()
    const t = transport([silent.url, b.url], { deadlineMs: 200 })
    const started = Date.now()
    const out = await t.request(asSpec(b.keytab))
    expect(out.endpoint).toBe(b.url)
    expect(Date.now() - started).toBeGreaterThanOrEqual(190)
    expect(silent.received()).toBe(1)
  })

  it('prefers the healthy endpoint for the next request after a timeout', async () => {
    const silent = await silentUrl()
    const b = await kdcServer()
    const t = transport([silent.url, b.url], { deadlineMs: 200 })
    await t.request(asSpec(b.keytab))
    const started = Date.now()
    const out = await t.request(asSpec(b.keytab))
    expect(out.endpoint).toBe(b.url)
    expect(Date.now() - started).toBeLessThan(190)
    expect(silent.received()).toBe(1)
  })

  it('is ERR_CLIENT_UNREACHABLE, naming the endpoints, when none can be reached', async () => {
    const urls = [await deadUrl(), await deadUrl()]
    const t = transport(urls, { maxAttempts: 2 })
    const err: unknown = await t
      .request(asSpec({ realm: 'R', principal: 'p', keys: [] }))
      .catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_CLIENT_UNREACHABLE')).toBe(true)
    expect((err as Error).message).toContain(urls[0])
    expect((err as Error).message).toContain(urls[1])
  })

  it('is ERR_CLIENT_TIMEOUT after the bounded number of attempts when every endpoint hangs', async () => {
    const a = await silentUrl()
    const b = await silentUrl()
    const kdc = new FakeKdc()
    const keytab = kdc.addPrincipal('payments')
    const t = transport([a.url, b.url], { deadlineMs: 100, maxAttempts: 3 })
    expect(await codeOf(t.request(asSpec(keytab)))).toBe('ERR_CLIENT_TIMEOUT')
    expect(a.received() + b.received()).toBe(3)
  })

  it('reconnects after the KDC drops the connection', async () => {
    const a = await kdcServer()
    const t = transport([a.url])
    await t.request(asSpec(a.keytab))
    await a.stop()
    const again = await a.kdc.listen() // a new port: point a second transport at it
    cleanups.push(again.close)
    const t2 = transport([again.url])
    await t2.request(asSpec(a.keytab))
    for (const ws of again.server.clients) ws.terminate()
    await new Promise((r) => setTimeout(r, 20))
    expect((await t2.request(asSpec(a.keytab))).reply.type).toBe(MSG.AS_REP)
  })
})

describe('KdcTransport: idle close', () => {
  it('does not redial after the KDC closes an idle connection, and redials on the next request', async () => {
    const kdc = new FakeKdc()
    const keytab = kdc.addPrincipal('payments')
    const served = await kdc.listen()
    cleanups.push(served.close)
    let connections = 0
    served.server.on('connection', () => connections++)
    // random 0: the first reconnect backoff is its minimum, 125 ms.
    const t = transport([served.url], { random: () => 0 })
    await t.request(asSpec(keytab))
    expect(connections).toBe(1)
    for (const ws of served.server.clients) ws.close(1001, 'idle timeout')
    await new Promise((r) => setTimeout(r, 400)) // past the 125 ms reconnect backoff
    expect(connections).toBe(1)
    expect((await t.request(asSpec(keytab))).reply.type).toBe(MSG.AS_REP)
    expect(connections).toBe(2)
  })
})

describe('KdcTransport: replies', () => {
  it('turns an ERROR frame into the catalogue BrokerError and does not retry it', async () => {
    const a = await kdcServer()
    const b = await kdcServer()
    a.kdc.script.push({ kind: 'error', code: 'ERR_KDC_PREAUTH_FAILED' })
    const t = transport([a.url, b.url])
    const err: unknown = await t.request(asSpec(a.keytab)).catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_KDC_PREAUTH_FAILED')).toBe(true)
    expect((err as Error).message).toMatch(/export a fresh keytab/)
    expect(b.kdc.seen.length).toBe(0)
  })

  it('an ERR_AP_SKEW answer names both clocks', async () => {
    const a = await kdcServer()
    a.kdc.now = () => Math.floor(Date.now() / 1000) + 1_000
    a.kdc.script.push({ kind: 'error', code: 'ERR_AP_SKEW' })
    const t = transport([a.url])
    const err: unknown = await t.request(asSpec(a.keytab)).catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_AP_SKEW')).toBe(true)
    expect((err as Error).message).toMatch(
      /its clock reads .*Z, this host's .*Z \((999|1000|1001) s apart\)/,
    )
  })

  it('retries a retryable ERROR (ERR_KDC_RATE_LIMITED) on the next endpoint', async () => {
    const a = await kdcServer()
    const b = await kdcServer()
    b.kdc.principals.set('payments', a.kdc.principals.get('payments') ?? [])
    a.kdc.script.push({ kind: 'error', code: 'ERR_KDC_RATE_LIMITED' })
    const t = transport([a.url, b.url])
    const out = await t.request(asSpec(a.keytab))
    expect(out.endpoint).toBe(b.url)
  })

  it('a reply with an id nobody asked for is ERR_CLIENT_REPLY_MISMATCH', async () => {
    const a = await kdcServer()
    a.kdc.script.push({ kind: 'wrong-id' })
    const t = transport([a.url])
    expect(await codeOf(t.request(asSpec(a.keytab)))).toBe('ERR_CLIENT_REPLY_MISMATCH')
  })

  it('a reply of the wrong type is ERR_CLIENT_REPLY_MISMATCH', async () => {
    const a = await kdcServer()
    a.kdc.script.push({ kind: 'wrong-type' })
    const t = transport([a.url])
    expect(await codeOf(t.request(asSpec(a.keytab)))).toBe('ERR_CLIENT_REPLY_MISMATCH')
  })

  it('a text frame or garbage from the KDC is ERR_PROTO_MALFORMED', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/v1' })
    await new Promise<void>((resolve) => server.once('listening', resolve))
    let n = 0
    server.on('connection', (ws) =>
      ws.on('message', () => {
        if (n++ === 0) ws.send('hello')
        else ws.send(new Uint8Array([0xc1]), { binary: true })
      }),
    )
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => {
            resolve()
          })
        }),
    )
    const kdc = new FakeKdc()
    const keytab = kdc.addPrincipal('payments')
    const t = transport([`ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1`])
    expect(await codeOf(t.request(asSpec(keytab)))).toBe('ERR_PROTO_MALFORMED')
    expect(await codeOf(t.request(asSpec(keytab)))).toBe('ERR_PROTO_MALFORMED')
    for (const c of server.clients) c.terminate()
  })

  it('drops a late reply to a request that timed out, and keeps the connection', async () => {
    const kdc = new FakeKdc()
    const keytab = kdc.addPrincipal('payments')
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/v1' })
    await new Promise<void>((resolve) => server.once('listening', resolve))
    let n = 0
    server.on('connection', (ws) =>
      ws.on('message', (data: Buffer) => {
        const reply = kdc.handle(parseFrame(new Uint8Array(data)))
        if (reply === undefined) return
        const delay = n++ === 0 ? 300 : 0
        setTimeout(() => {
          ws.send(encodeFrame(reply), { binary: true })
        }, delay)
      }),
    )
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const c of server.clients) c.terminate()
          server.close(() => {
            resolve()
          })
        }),
    )
    const t = transport([`ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1`], {
      deadlineMs: 150,
      maxAttempts: 2,
    })
    expect((await t.request(asSpec(keytab))).reply.type).toBe(MSG.AS_REP)
    await new Promise((r) => setTimeout(r, 250)) // the late reply arrives meanwhile
    expect((await t.request(asSpec(keytab))).reply.type).toBe(MSG.AS_REP)
    expect(server.clients.size).toBe(1)
  })
})

describe('KdcTransport: non-idempotent requests', () => {
  it('are not resent to another endpoint after a timeout (ERR_CLIENT_TIMEOUT)', async () => {
    const silent = await silentUrl()
    const b = await kdcServer()
    const t = transport([silent.url, b.url], { deadlineMs: 150 })
    expect(await codeOf(t.request(asSpec(b.keytab, false)))).toBe('ERR_CLIENT_TIMEOUT')
    expect(silent.received()).toBe(1)
    expect(b.kdc.seen.length).toBe(0)
  })

  it('move to the next endpoint when the first cannot be reached', async () => {
    const b = await kdcServer()
    const t = transport([await deadUrl(), b.url])
    expect((await t.request(asSpec(b.keytab, false))).endpoint).toBe(b.url)
  })

  it('move to the next endpoint on ERR_ADMIN_NOT_WRITER, not on other refusals', async () => {
    const a = await kdcServer()
    const b = await kdcServer()
    b.kdc.principals.set('payments', a.kdc.principals.get('payments') ?? [])
    a.kdc.script.push({ kind: 'error', code: 'ERR_ADMIN_NOT_WRITER' })
    const t = transport([a.url, b.url])
    expect((await t.request(asSpec(a.keytab, false))).endpoint).toBe(b.url)
    a.kdc.script.push({ kind: 'error', code: 'ERR_KDC_UNAVAILABLE' })
    const seenB = b.kdc.seen.length
    expect(await codeOf(t.request(asSpec(a.keytab, false)))).toBe('ERR_KDC_UNAVAILABLE')
    expect(b.kdc.seen.length).toBe(seenB)
  })
})

describe('KdcTransport: close and options', () => {
  it('close() fails requests in flight with ERR_CLIENT_CLOSED; later requests are a TypeError', async () => {
    const silent = await silentUrl()
    const kdc = new FakeKdc()
    const keytab = kdc.addPrincipal('payments')
    const t = transport([silent.url], { deadlineMs: 5_000 })
    const pending = codeOf(t.request(asSpec(keytab)))
    await new Promise((r) => setTimeout(r, 100))
    t.close()
    expect(await pending).toBe('ERR_CLIENT_CLOSED')
    await expect(t.request(asSpec(keytab))).rejects.toThrow(TypeError)
  })

  it('validates its options with TypeError and RangeError', () => {
    expect(() => new KdcTransport({ kdc: ['http://a/v1'] })).toThrow(TypeError)
    expect(() => new KdcTransport({ kdc: ['not a url'] })).toThrow(TypeError)
    expect(() => new KdcTransport({ kdc: [] })).toThrow(TypeError)
    expect(() => new KdcTransport({ kdc: 42 as never })).toThrow(TypeError)
    expect(() => new KdcTransport({ kdc: ['ws://a/v1'], deadlineMs: 0 })).toThrow(RangeError)
    expect(() => new KdcTransport({ kdc: ['ws://a/v1'], deadlineMs: 1.5 })).toThrow(TypeError)
    expect(() => new KdcTransport({ kdc: ['ws://a/v1'], maxAttempts: 100 })).toThrow(RangeError)
  })

  it('reads $TESSERA_KDC (comma-separated) when kdc is not given, and de-duplicates', () => {
    const saved = process.env.TESSERA_KDC
    try {
      process.env.TESSERA_KDC = 'ws://a:7088/v1, ws://b:7088/v1,ws://a:7088/v1'
      const t = new KdcTransport()
      expect(t.endpoints).toEqual(['ws://a:7088/v1', 'ws://b:7088/v1'])
      t.close()
      delete process.env.TESSERA_KDC
      expect(() => new KdcTransport()).toThrow(/TESSERA_KDC/)
    } finally {
      if (saved === undefined) delete process.env.TESSERA_KDC
      else process.env.TESSERA_KDC = saved
    }
  })
})
