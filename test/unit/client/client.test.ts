import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  bodyHash,
  canonicalAuthority,
  deriveKey,
  encodeApRep,
  encodeKeytab,
  fromBase64Url,
  httpRequestHash,
  isBrokerError,
  LABELS,
  MSG,
  openAuthenticator,
  parseApReq,
  sealApRepPart,
  toBase64Url,
  type Keytab,
} from '../../../kdc/protocol/index.js'
import { KdcSession, TesseraClient } from '../../../client/index.js'
import { FakeKdc } from './fake-kdc.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

interface Seen {
  counter: number
  ctime: number
  method: string
  ok: boolean
  mutual: string | undefined
}

/** A service that verifies AP-REQs the way the service SDK does, and can answer with an AP-REP. */
async function orderService(
  kdc: FakeKdc,
  mutual: 'good' | 'bad' | 'none' = 'good',
  refuseFirst?: string,
): Promise<{ base: string; seen: Seen[] }> {
  const seen: Seen[] = []
  let refuse = refuseFirst
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const header = req.headers.authorization ?? ''
      const m = /^Tessera ([A-Za-z0-9_-]+)$/.exec(header)
      if (m === null) {
        res.writeHead(401).end()
        return
      }
      const apReq = parseApReq(fromBase64Url(m[1] as string) as Uint8Array)
      const part = kdc.openServiceTicket(apReq.ticket)
      const auth = openAuthenticator(
        deriveKey(part.sessionKey, LABELS.authenticator),
        {
          realm: apReq.ticket.realm,
          client: part.client,
          service: apReq.ticket.service,
          msgType: MSG.AP_REQ,
        },
        apReq.authenticator,
      )
      const expected = httpRequestHash({
        method: req.method ?? '',
        authority: canonicalAuthority(req.headers.host ?? ''),
        target: req.url ?? '',
        bodyHash: bodyHash(new Uint8Array(Buffer.concat(chunks))),
      })
      const ok = Buffer.compare(Buffer.from(expected), Buffer.from(auth.requestHash)) === 0
      const mutualHeader = req.headers['tessera-mutual']
      seen.push({
        counter: auth.counter,
        ctime: auth.ctime,
        method: req.method ?? '',
        ok,
        mutual: typeof mutualHeader === 'string' ? mutualHeader : undefined,
      })
      if (refuse !== undefined) {
        res.writeHead(401, { 'www-authenticate': `Tessera error="${refuse}"` }).end(refuse)
        refuse = undefined
        return
      }
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (mutual !== 'none') {
        const key = mutual === 'good' ? part.sessionKey : new Uint8Array(32).fill(1)
        headers['tessera-ap-rep'] = toBase64Url(
          encodeApRep({
            encPart: sealApRepPart(
              deriveKey(key, LABELS.apRep),
              { realm: apReq.ticket.realm, client: part.client, service: apReq.ticket.service },
              { ctime: auth.ctime, counter: auth.counter },
            ),
          }),
        )
      }
      res.writeHead(ok ? 200 : 403, headers).end(JSON.stringify({ caller: part.client, ok }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(
    () =>
      new Promise<void>((resolve) =>
        server.close(() => {
          resolve()
        }),
      ),
  )
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
}

async function world(): Promise<{ kdc: FakeKdc; url: string; keytab: Keytab }> {
  const kdc = new FakeKdc()
  const keytab = kdc.addPrincipal('payments')
  kdc.addPrincipal('orders')
  const { url, close } = await kdc.listen()
  cleanups.push(close)
  return { kdc, url, keytab }
}

function client(keytab: Keytab, kdc: string[], options: { mutual?: boolean } = {}): TesseraClient {
  const c = new TesseraClient(new KdcSession(keytab, { kdc, deadlineMs: 500 }), options)
  cleanups.push(() => {
    c.close()
  })
  return c
}

describe('TesseraClient.fetch', () => {
  it('calls a service with a verifiable Authorization header; counters go 1, 2, 3', async () => {
    const { kdc, url, keytab } = await world()
    const svc = await orderService(kdc)
    const c = client(keytab, [url])
    for (let i = 0; i < 3; i++) {
      const res = await c.fetch('orders', `${svc.base}/orders?id=${i}`)
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ caller: 'payments', ok: true })
    }
    expect(svc.seen.map((s) => s.counter)).toEqual([1, 2, 3])
    expect(kdc.count(MSG.AS_REQ)).toBe(1)
    expect(kdc.count(MSG.TGS_REQ)).toBe(1)
  })

  it('binds the body and sends the method upper-cased, exactly as hashed', async () => {
    const { kdc, url, keytab } = await world()
    const svc = await orderService(kdc)
    const c = client(keytab, [url])
    const res = await c.fetch('orders', `${svc.base}/orders`, {
      method: 'patch',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sku: 7, note: 'ünïcode' }),
    })
    expect(res.status).toBe(200)
    expect(svc.seen[0]?.method).toBe('PATCH')
    const res2 = await c.fetch('orders', `${svc.base}/orders`, {
      method: 'POST',
      body: new Uint8Array([1, 2, 3]),
    })
    expect(res2.status).toBe(200)
  })

  it('checks the AP-REP with mutual: true', async () => {
    const { kdc, url, keytab } = await world()
    const svc = await orderService(kdc, 'good')
    const c = client(keytab, [url])
    expect((await c.fetch('orders', `${svc.base}/x`, { mutual: true })).status).toBe(200)
    expect(svc.seen[0]?.mutual).toBe('1')
    expect((await c.fetch('orders', `${svc.base}/x`)).status).toBe(200)
    expect(svc.seen[1]?.mutual).toBeUndefined()
  })

  it('retries an idempotent call once with a fresh ticket after 401 ERR_AP_TKT_EXPIRED', async () => {
    const { kdc, url, keytab } = await world()
    const svc = await orderService(kdc, 'good', 'ERR_AP_TKT_EXPIRED')
    const c = client(keytab, [url])
    const res = await c.fetch('orders', `${svc.base}/x`, { method: 'PUT', body: 'abc' })
    expect(res.status).toBe(200)
    expect(svc.seen.map((s) => s.ok)).toEqual([true, true])
    expect(kdc.count(MSG.TGS_REQ)).toBe(2)
  })

  it('never resends a POST on an (unauthenticated) 401; the next call gets a fresh ticket', async () => {
    const { kdc, url, keytab } = await world()
    const svc = await orderService(kdc, 'good', 'ERR_AP_TKT_EXPIRED')
    const c = client(keytab, [url])
    const res = await c.fetch('orders', `${svc.base}/x`, { method: 'POST', body: 'abc' })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Tessera error="ERR_AP_TKT_EXPIRED"')
    expect(svc.seen.length).toBe(1)
    expect((await c.fetch('orders', `${svc.base}/x`, { method: 'POST', body: 'abc' })).status).toBe(
      200,
    )
    expect(kdc.count(MSG.TGS_REQ)).toBe(2)
  })

  it('with mutual auth, a Tessera refusal is returned with its real code, not MUTUAL_FAILED', async () => {
    const { kdc, url, keytab } = await world()
    const svc = await orderService(kdc, 'good', 'ERR_AP_REPLAY')
    const c = client(keytab, [url], { mutual: true })
    const res = await c.fetch('orders', `${svc.base}/x`)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Tessera error="ERR_AP_REPLAY"')
  })

  it('does not retry other refusals (401 ERR_AP_REPLAY is returned as is)', async () => {
    const { kdc, url, keytab } = await world()
    const svc = await orderService(kdc, 'good', 'ERR_AP_REPLAY')
    const c = client(keytab, [url])
    const res = await c.fetch('orders', `${svc.base}/x`)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Tessera error="ERR_AP_REPLAY"')
    expect(svc.seen.length).toBe(1)
  })

  it('fails with ERR_CLIENT_MUTUAL_FAILED when the AP-REP is wrong or missing', async () => {
    const { kdc, url, keytab } = await world()
    const bad = await orderService(kdc, 'bad')
    const none = await orderService(kdc, 'none')
    const c = client(keytab, [url], { mutual: true })
    const e1: unknown = await c.fetch('orders', `${bad.base}/x`).catch((e: unknown) => e)
    expect(isBrokerError(e1, 'ERR_CLIENT_MUTUAL_FAILED')).toBe(true)
    const e2: unknown = await c.fetch('orders', `${none.base}/x`).catch((e: unknown) => e)
    expect(isBrokerError(e2, 'ERR_CLIENT_MUTUAL_FAILED')).toBe(true)
    expect((e2 as Error).message).toMatch(/Tessera-AP-REP/)
    // mutual: false on the call overrides the client option
    expect((await c.fetch('orders', `${none.base}/x`, { mutual: false })).status).toBe(200)
  })

  it('refuses streamed bodies and Request objects with a TypeError, before any KDC traffic', async () => {
    const { kdc, url, keytab } = await world()
    const c = client(keytab, [url])
    await expect(
      c.fetch('orders', 'http://127.0.0.1:1/x', {
        method: 'POST',
        body: new ReadableStream() as never,
      }),
    ).rejects.toThrow(/buffered/)
    await expect(c.fetch('orders', new Request('http://h/') as never)).rejects.toThrow(TypeError)
    await expect(c.fetch('Not A Name', 'http://h/')).rejects.toThrow(TypeError)
    expect(kdc.seen.length).toBe(0)
  })

  it('reports KDC refusals with their code (ERR_KDC_PRINCIPAL_UNKNOWN for an unknown target)', async () => {
    const { url, keytab } = await world()
    const c = client(keytab, [url])
    const err: unknown = await c.fetch('nosuch', 'http://127.0.0.1:1/x').catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_KDC_PRINCIPAL_UNKNOWN')).toBe(true)
  })
})

describe('TesseraClient.authorization / authorize', () => {
  it('returns "Tessera <base64url>" for any HTTP client; each call a new counter', async () => {
    const { kdc, url, keytab } = await world()
    const c = client(keytab, [url])
    const h1 = await c.authorization('orders', { method: 'GET', url: 'https://orders.internal/a' })
    const h2 = await c.authorization('orders', { method: 'GET', url: 'https://orders.internal/a' })
    expect(h1).toMatch(/^Tessera [A-Za-z0-9_-]+$/)
    expect(h2).not.toBe(h1)
    const a = await c.authorize('orders', {
      url: 'https://orders.internal/a',
      body: 'x',
      mutual: true,
    })
    expect(a.counter).toBe(3)
    expect(a.headers).toEqual({ authorization: a.authorization, 'tessera-mutual': '1' })
    expect(a.target).toBe('orders')
    expect(kdc.count(MSG.TGS_REQ)).toBe(1)
  })

  it('a warm call does not wait for the KDC even when the KDC is gone', async () => {
    const kdc = new FakeKdc()
    const keytab = kdc.addPrincipal('payments')
    kdc.addPrincipal('orders')
    const { url, close } = await kdc.listen()
    const c = client(keytab, [url])
    await c.authorization('orders', { url: 'https://orders.internal/a' })
    await close()
    const started = Date.now()
    await c.authorization('orders', { url: 'https://orders.internal/b' })
    expect(Date.now() - started).toBeLessThan(50)
  })

  it('validates its arguments with TypeError', async () => {
    const { url, keytab } = await world()
    const c = client(keytab, [url])
    await expect(c.authorization('orders', null as never)).rejects.toThrow(TypeError)
    await expect(c.authorization('orders', { url: '/relative' })).rejects.toThrow(TypeError)
    await expect(
      c.authorization('orders', { url: 'http://h/', method: 'BAD METHOD' }),
    ).rejects.toThrow(TypeError)
    await expect(
      c.authorization('orders', { url: 'http://h/', scopes: ['bad scope'] }),
    ).rejects.toThrow(TypeError)
    expect(() => new TesseraClient({} as never)).toThrow(TypeError)
    expect(() => new TesseraClient(c.session, { mutual: 'yes' as never })).toThrow(TypeError)
  })

  it('throws TypeError after close()', async () => {
    const { url, keytab } = await world()
    const c = client(keytab, [url])
    c.close()
    await expect(c.authorization('orders', { url: 'http://h/' })).rejects.toThrow(TypeError)
  })
})

describe('KdcSession', () => {
  it('login() and serviceTicket() give times, scopes and a copy of the session key', async () => {
    const { kdc, url, keytab } = await world()
    const s = new KdcSession(keytab, { kdc: [url] })
    cleanups.push(() => {
      s.close()
    })
    const tgt = await s.login()
    expect(tgt.client).toBe('payments')
    expect(tgt.endTime - tgt.startTime).toBe(3_600)
    const t = await s.serviceTicket('orders', { scopes: ['write', 'read'] })
    expect(t.service).toBe('orders')
    expect(t.scopes).toEqual(['read', 'write'])
    const opened = kdc.openServiceTicket(t.ticket)
    expect(new Uint8Array(opened.sessionKey)).toEqual(new Uint8Array(t.sessionKey))
    t.sessionKey.fill(0) // the caller's copy: wiping it does not break the cache
    const again = await s.serviceTicket('orders', { scopes: ['read', 'write'] })
    expect(again.sessionKey.some((b) => b !== 0)).toBe(true)
    expect(kdc.count(MSG.TGS_REQ)).toBe(1)
  })

  it('login() does not retry ERR_KDC_PREAUTH_FAILED, even when the ERROR shows a clock an hour off', async () => {
    const { kdc, url, keytab } = await world()
    kdc.now = () => Math.floor(Date.now() / 1000) + 3_600
    kdc.script.push({ kind: 'error', code: 'ERR_KDC_PREAUTH_FAILED' })
    const s = new KdcSession(keytab, { kdc: [url] })
    cleanups.push(() => {
      s.close()
    })
    const err: unknown = await s.login().catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_KDC_PREAUTH_FAILED')).toBe(true)
    expect(kdc.count(MSG.AS_REQ)).toBe(1)
    expect(s.kdcOffsetSeconds).toBe(0)
    // An ERR_AP_SKEW is retried once on the ERROR's clock, and the ticket confirms it.
    kdc.script.push({ kind: 'error', code: 'ERR_AP_SKEW' })
    await s.login()
    expect(kdc.count(MSG.AS_REQ)).toBe(3)
    expect(Math.abs(s.kdcOffsetSeconds - 3_600)).toBeLessThanOrEqual(1)
  })

  it('adminCall seals the payload, binds the frame id, and opens the reply', async () => {
    const { kdc, url, keytab } = await world()
    const s = new KdcSession(keytab, { kdc: [url] })
    cleanups.push(() => {
      s.close()
    })
    expect(await s.adminCall(['status', []])).toEqual(['echo', ['status', []], 1])
    expect(await s.adminCall(['principal.show', ['orders']])).toEqual([
      'echo',
      ['principal.show', ['orders']],
      2,
    ])
    expect(kdc.count(MSG.ADMIN_REQ)).toBe(2)
  })

  it('adminCall passes admin refusals through with their code, without resending', async () => {
    const { kdc, url, keytab } = await world()
    const s = new KdcSession(keytab, { kdc: [url] })
    cleanups.push(() => {
      s.close()
    })
    await s.serviceTicket('kadmin')
    kdc.script.push({ kind: 'error', code: 'ERR_ADMIN_FORBIDDEN' })
    const err: unknown = await s.adminCall(['status', []]).catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_ADMIN_FORBIDDEN')).toBe(true)
    expect(kdc.count(MSG.ADMIN_REQ)).toBe(1)
  })

  it('adminCall gets a new kadmin ticket once when the KDC says it expired', async () => {
    const { kdc, url, keytab } = await world()
    const s = new KdcSession(keytab, { kdc: [url] })
    cleanups.push(() => {
      s.close()
    })
    await s.serviceTicket('kadmin')
    kdc.script.push({ kind: 'error', code: 'ERR_AP_TKT_EXPIRED' })
    expect(await s.adminCall(['status', []])).toEqual(['echo', ['status', []], 1])
    expect(kdc.count(MSG.TGS_REQ)).toBe(2)
  })

  it('validates its options', () => {
    const kdc = new FakeKdc()
    const keytab = kdc.addPrincipal('payments')
    expect(() => new KdcSession(keytab, { kdc: ['ws://a/v1'], maxTickets: 0 })).toThrow(RangeError)
    expect(() => new KdcSession(keytab, { kdc: ['ws://a/v1'], refresh: 1 as never })).toThrow(
      TypeError,
    )
    expect(() => new KdcSession(keytab, { kdc: ['ws://a/v1'], tgtLifetime: -1 })).toThrow(
      RangeError,
    )
    expect(() => new KdcSession({} as never, { kdc: ['ws://a/v1'] })).toThrow(TypeError)
    expect(() => new KdcSession({ ...keytab, keys: [] }, { kdc: ['ws://a/v1'] })).toThrow(TypeError)
  })
})

describe('fromKeytab', () => {
  async function keytabFile(keytab: Keytab): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-client-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    const path = join(dir, 'payments.keytab')
    await writeFile(path, encodeKeytab(keytab), { mode: 0o600 })
    return path
  }

  it('reads the principal and realm from the keytab file', async () => {
    const { kdc, url, keytab } = await world()
    const svc = await orderService(kdc)
    const c = await TesseraClient.fromKeytab({ keytab: await keytabFile(keytab), kdc: [url] })
    cleanups.push(() => {
      c.close()
    })
    expect(c.principal).toBe('payments')
    expect(c.realm).toBe(kdc.realm)
    expect((await c.fetch('orders', `${svc.base}/`)).status).toBe(200)
  })

  it('falls back to $TESSERA_KEYTAB and $TESSERA_KDC', async () => {
    const { url, keytab } = await world()
    const path = await keytabFile(keytab)
    const saved = { k: process.env.TESSERA_KEYTAB, d: process.env.TESSERA_KDC }
    try {
      process.env.TESSERA_KEYTAB = path
      process.env.TESSERA_KDC = url
      const c = await TesseraClient.fromKeytab()
      cleanups.push(() => {
        c.close()
      })
      expect(c.session.endpoints).toEqual([url])
      await c.session.login()
      delete process.env.TESSERA_KEYTAB
      await expect(TesseraClient.fromKeytab()).rejects.toThrow(/TESSERA_KEYTAB/)
    } finally {
      if (saved.k === undefined) delete process.env.TESSERA_KEYTAB
      else process.env.TESSERA_KEYTAB = saved.k
      if (saved.d === undefined) delete process.env.TESSERA_KDC
      else process.env.TESSERA_KDC = saved.d
    }
  })

  it('a missing or corrupt keytab is ERR_CLIENT_KEYTAB naming the path', async () => {
    const e1: unknown = await TesseraClient.fromKeytab({
      keytab: '/nonexistent/x.keytab',
      kdc: ['ws://a/v1'],
    }).catch((e: unknown) => e)
    expect(isBrokerError(e1, 'ERR_CLIENT_KEYTAB')).toBe(true)
    expect((e1 as Error).message).toContain('/nonexistent/x.keytab')
    const dir = await mkdtemp(join(tmpdir(), 'tessera-client-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    await writeFile(join(dir, 'bad.keytab'), 'not a keytab')
    const e2: unknown = await TesseraClient.fromKeytab({
      keytab: join(dir, 'bad.keytab'),
      kdc: ['ws://a/v1'],
    }).catch((e: unknown) => e)
    expect(isBrokerError(e2, 'ERR_CLIENT_KEYTAB')).toBe(true)
  })

  it('picks up a rotated keytab at the next login', async () => {
    const { kdc, url, keytab } = await world()
    const path = await keytabFile(keytab)
    const s = await KdcSession.fromKeytab({ keytab: path, kdc: [url] })
    cleanups.push(() => {
      s.close()
    })
    await s.login()
    // Rotate: the KDC now knows only kvno 2, and the file holds it.
    const k2 = { kvno: 2, key: new Uint8Array(32).fill(9), createdAt: 1 }
    kdc.principals.set('payments', [k2])
    await writeFile(path, encodeKeytab({ ...keytab, keys: [...keytab.keys, k2] }))
    await s.login()
    const kvnos = kdc.seen.flatMap((f) => (f.type === MSG.AS_REQ ? [f.body.kvno] : []))
    expect(kvnos).toEqual([1, 2])
  })
})
