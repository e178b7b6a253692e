/**
 * The client SDK against a real KDC process (issue #4): login, service tickets and an
 * Authorization header that the real service SDK accepts (with mutual authentication); failover
 * when the first endpoint is dead; warm calls that make no KDC round trip; admin calls; adoption
 * of the KDC's clock. Every failure asserts its code.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  buildAdminRequest,
  deriveKey,
  encodeKeytab,
  fromBase64Url,
  isBrokerError,
  LABELS,
  openTicket,
  parseAdminReply,
  parseApReq,
  type PolicyRule,
} from '../../kdc/protocol/index.js'
import { KdcSession, TesseraClient } from '../../client/index.js'
import { TicketVerifier, tesseraHandler } from '../../service-sdk/index.js'
import { startKdcRealm, type KdcRealm } from '../helpers/kdc-harness.js'

const RULES: PolicyRule[] = [
  {
    id: 'payments-orders',
    caller: 'payments',
    target: 'orders',
    scopes: ['orders:read', 'orders:write'],
    maxLifetime: 0,
  },
  {
    id: 'reborn-orders',
    caller: 'group:reborn',
    target: 'orders',
    scopes: ['orders:read'],
    maxLifetime: 0,
  },
]

let kdc!: KdcRealm
let dir!: string
let paymentsKeytab!: string
let ordersKeytab!: string
let verifier!: TicketVerifier
let service!: Server
let serviceUrl!: string
const clients: { close(): void }[] = []

async function writeKeytab(name: string): Promise<string> {
  const path = join(dir, `${name}.keytab`)
  await writeFile(path, encodeKeytab({ realm: kdc.realm, principal: name, keys: kdc.keys(name) }), {
    mode: 0o600,
  })
  return path
}

async function deadUrl(): Promise<string> {
  const server = createNetServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve()
    }),
  )
  return `ws://127.0.0.1:${port}/v1`
}

function track<T extends { close(): void }>(c: T): T {
  clients.push(c)
  return c
}

/** KDC exchanges recorded so far (the audit log is read from the KDC's stdout). */
function exchanges(kind: 'AS' | 'TGS' | 'ADMIN'): number {
  return kdc.auditRecords().filter((r) => r.exchange === kind).length
}

async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 200))
}

beforeAll(async () => {
  kdc = await startKdcRealm({
    principals: [{ name: 'payments' }, { name: 'orders' }, { name: 'inventory' }],
    rules: RULES,
  })
  dir = await mkdtemp(join(tmpdir(), 'tessera-client-it-'))
  paymentsKeytab = await writeKeytab('payments')
  ordersKeytab = await writeKeytab('orders')
  verifier = await TicketVerifier.fromKeytab({ keytab: ordersKeytab, watch: false })
  service = createServer(
    tesseraHandler(verifier, (req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(
        JSON.stringify({
          caller: req.tessera.caller,
          scopes: req.tessera.scopes,
          body: req.rawBody.toString('utf8'),
        }),
      )
    }),
  )
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve))
  serviceUrl = `http://127.0.0.1:${(service.address() as AddressInfo).port}`
})

afterAll(async () => {
  for (const c of clients) c.close()
  verifier.close()
  await new Promise<void>((resolve) =>
    service.close(() => {
      resolve()
    }),
  )
  await kdc.cleanup()
  await rm(dir, { recursive: true, force: true })
})

describe('client ↔ KDC ↔ service', () => {
  it('logs in, gets a service ticket and calls the service (verified by the service SDK)', async () => {
    const client = track(await TesseraClient.fromKeytab({ keytab: paymentsKeytab, kdc: [kdc.url] }))
    expect(client.principal).toBe('payments')
    expect(client.realm).toBe(kdc.realm)

    const tgt = await client.session.login()
    expect(tgt.client).toBe('payments')
    expect(tgt.endTime).toBeGreaterThan(tgt.startTime)

    const ticket = await client.session.serviceTicket('orders')
    expect(ticket.service).toBe('orders')
    expect(ticket.scopes).toEqual(['orders:read', 'orders:write'])
    const part = openTicket(ticket.ticket, deriveKey(kdc.key('orders').key, LABELS.ticket))
    expect(part.client).toBe('payments')
    expect(new Uint8Array(part.sessionKey)).toEqual(new Uint8Array(ticket.sessionKey))

    const header = await client.authorization('orders', {
      method: 'GET',
      url: `${serviceUrl}/orders?id=1`,
    })
    expect(header).toMatch(/^Tessera [A-Za-z0-9_-]+$/)
    const apReq = parseApReq(fromBase64Url(header.slice('Tessera '.length)) as Uint8Array)
    expect(apReq.ticket.service).toBe('orders')

    const res = await client.fetch('orders', `${serviceUrl}/orders?id=7`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sku: 7 }),
      mutual: true,
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({
      caller: 'payments',
      scopes: ['orders:read', 'orders:write'],
      body: '{"sku":7}',
    })
  })

  it('a narrower scope request gets a narrower ticket', async () => {
    const client = track(await TesseraClient.fromKeytab({ keytab: paymentsKeytab, kdc: [kdc.url] }))
    const res = await client.fetch('orders', `${serviceUrl}/x`, { scopes: ['orders:read'] })
    expect(((await res.json()) as { scopes: string[] }).scopes).toEqual(['orders:read'])
  })

  it('reuses tickets: warm calls make no KDC round trip', async () => {
    const client = track(await TesseraClient.fromKeytab({ keytab: paymentsKeytab, kdc: [kdc.url] }))
    const first = await client.fetch('orders', `${serviceUrl}/warm`)
    expect(first.status).toBe(200)
    await settle()
    const as = exchanges('AS')
    const tgs = exchanges('TGS')
    for (let i = 0; i < 5; i++) {
      const res = await client.fetch('orders', `${serviceUrl}/warm?i=${i}`)
      expect(res.status).toBe(200)
    }
    await Promise.all(
      Array.from({ length: 5 }, () =>
        client.authorization('orders', { url: `${serviceUrl}/warm` }),
      ),
    )
    await settle()
    expect(exchanges('AS')).toBe(as)
    expect(exchanges('TGS')).toBe(tgs)
  })

  it('concurrent cold calls share one AS and one TGS exchange', async () => {
    await settle()
    const as = exchanges('AS')
    const tgs = exchanges('TGS')
    const client = track(await TesseraClient.fromKeytab({ keytab: paymentsKeytab, kdc: [kdc.url] }))
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => client.fetch('orders', `${serviceUrl}/c?i=${i}`)),
    )
    expect(results.every((r) => r.status === 200)).toBe(true)
    await settle()
    expect(exchanges('AS')).toBe(as + 1)
    expect(exchanges('TGS')).toBe(tgs + 1)
  })

  it('fails over when the first endpoint is dead', async () => {
    const client = track(
      await TesseraClient.fromKeytab({ keytab: paymentsKeytab, kdc: [await deadUrl(), kdc.url] }),
    )
    const res = await client.fetch('orders', `${serviceUrl}/failover`)
    expect(res.status).toBe(200)
  })

  it('is ERR_CLIENT_UNREACHABLE when no endpoint is up', async () => {
    const client = track(
      await TesseraClient.fromKeytab({
        keytab: paymentsKeytab,
        kdc: [await deadUrl(), await deadUrl()],
        maxAttempts: 2,
      }),
    )
    const err: unknown = await client.session.login().catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_CLIENT_UNREACHABLE')).toBe(true)
  })

  it('policy refusals are ERR_KDC_POLICY', async () => {
    const client = track(await TesseraClient.fromKeytab({ keytab: paymentsKeytab, kdc: [kdc.url] }))
    const err: unknown = await client
      .authorization('inventory', { url: `${serviceUrl}/x` })
      .catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_KDC_POLICY')).toBe(true)
    expect((err as Error).message).toMatch(/policy check/)
  })

  it('a keytab with the wrong key is ERR_KDC_PREAUTH_FAILED', async () => {
    const session = track(
      new KdcSession(
        {
          realm: kdc.realm,
          principal: 'payments',
          keys: [{ kvno: kdc.key('payments').kvno, key: new Uint8Array(32).fill(3), createdAt: 0 }],
        },
        { kdc: [kdc.url] },
      ),
    )
    const err: unknown = await session.login().catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_KDC_PREAUTH_FAILED')).toBe(true)
  })

  it('admin calls work with the bootstrap admin keytab', async () => {
    const session = track(
      await KdcSession.fromKeytab({ keytab: kdc.adminKeytabPath, kdc: [kdc.url] }),
    )
    const reply = await session.adminCall(buildAdminRequest({ op: 'status' }))
    const status = parseAdminReply('status', reply)
    expect(status.realm).toBe(kdc.realm)
  })

  it('logs in again by itself when its principal was deleted and registered again', async () => {
    const admin = track(
      await KdcSession.fromKeytab({ keytab: kdc.adminKeytabPath, kdc: [kdc.url] }),
    )
    const add = async (): Promise<void> => {
      const reply = await admin.adminCall(
        buildAdminRequest({ op: 'principal.add', name: 'reborn', groups: ['reborn'] }),
      )
      const { keytab } = parseAdminReply('principal.add', reply)
      await writeFile(join(dir, 'reborn.keytab'), encodeKeytab(keytab), { mode: 0o600 })
    }
    await add()
    const client = track(
      await TesseraClient.fromKeytab({ keytab: join(dir, 'reborn.keytab'), kdc: [kdc.url] }),
    )
    expect((await client.fetch('orders', `${serviceUrl}/first`)).status).toBe(200)

    // The operator re-creates the principal (new id, new key) and deploys its new keytab. The
    // client's TGT belongs to the old record: the KDC refuses it (ERR_KDC_CLIENT_REVOKED), and
    // the client logs in again with the keytab as it is now, without a restart.
    await admin.adminCall(buildAdminRequest({ op: 'principal.delete', name: 'reborn' }))
    await add()
    await settle()
    const as = exchanges('AS')
    const res = await client.fetch('orders', `${serviceUrl}/second`, { scopes: ['orders:read'] })
    expect(res.status).toBe(200)
    expect(((await res.json()) as { caller: string }).caller).toBe('reborn')
    await settle()
    expect(exchanges('AS')).toBe(as + 1)
    expect(
      kdc
        .auditRecords()
        .filter((r) => r.outcome === 'ERR_KDC_CLIENT_REVOKED' && r.caller === 'reborn')
        .map((r) => r.status),
    ).toEqual(['CALLER_REISSUED'])
  })

  it('admin calls by a non-admin are ERR_ADMIN_FORBIDDEN', async () => {
    const session = track(await KdcSession.fromKeytab({ keytab: paymentsKeytab, kdc: [kdc.url] }))
    const err: unknown = await session
      .adminCall(buildAdminRequest({ op: 'status' }))
      .catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_ADMIN_FORBIDDEN')).toBe(true)
  })
})

describe('client ↔ KDC with a skewed clock', () => {
  let skewed!: KdcRealm
  beforeAll(async () => {
    skewed = await startKdcRealm({
      principals: [{ name: 'payments' }, { name: 'orders' }],
      rules: RULES,
      clockOffsetS: 1_200,
    })
  })
  afterAll(async () => {
    await skewed.cleanup()
  })

  it('adopts the KDC clock after ERR_AP_SKEW and gets its tickets', async () => {
    const session = track(
      new KdcSession(
        { realm: skewed.realm, principal: 'payments', keys: skewed.keys('payments') },
        { kdc: [skewed.url] },
      ),
    )
    const tgt = await session.login()
    expect(session.kdcOffsetSeconds).toBeGreaterThanOrEqual(1_198)
    expect(session.kdcOffsetSeconds).toBeLessThanOrEqual(1_202)
    expect(tgt.startTime).toBeGreaterThan(Math.floor(Date.now() / 1000) + 1_100)
    const ticket = await session.serviceTicket('orders')
    expect(ticket.scopes).toEqual(['orders:read', 'orders:write'])
  })
})
