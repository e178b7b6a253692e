/**
 * End to end (issue #4): a real KDC process, two real HTTP services in their own processes — one
 * Express (orders), one Fastify (inventory) — each with its own keytab, and the client SDK. Allowed
 * calls succeed with the right caller and scopes; a pair outside policy is refused at the KDC; and
 * each attack on the AP exchange is refused by the service with its code: a replayed request, a
 * tampered header, a ticket for one service sent to the other, an expired ticket, a skewed
 * authenticator, and requests whose method, path or body differ from the ones bound.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TesseraClient, isBrokerError } from '../../client/index.js'
import { encodeKeytab, fromBase64Url, toBase64Url } from '../../kdc/protocol/index.js'
import { repoRoot, startKdcRealm, type KdcRealm } from '../helpers/kdc-harness.js'

interface Service {
  readonly url: string
  readonly child: ChildProcess
}

let realm: KdcRealm
let payments: TesseraClient
let ordersClient: TesseraClient
const services: Record<string, Service> = {}

async function writeKeytab(name: string): Promise<string> {
  const path = join(realm.dataDir, `${name}.keytab`)
  const bytes = encodeKeytab({ realm: realm.realm, principal: name, keys: realm.keys(name) })
  await writeFile(path, bytes, { mode: 0o600 })
  return path
}

async function startService(
  framework: 'express' | 'fastify',
  keytab: string,
  scope: string,
  clockOffsetS = 0,
): Promise<Service> {
  const child = spawn(
    process.execPath,
    [join(repoRoot(), 'test', 'fixtures', 'e2e-service.mjs'), framework, keytab, scope],
    {
      cwd: repoRoot(),
      env: { ...process.env, TESSERA_TEST_CLOCK_OFFSET_S: String(clockOffsetS) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`service did not start: ${stderr}`))
    }, 15_000)
    child.stdout.on('data', (d: Buffer) => {
      const m = /listening (\d+)/.exec(d.toString())
      if (m?.[1] !== undefined) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`service exited with ${String(code)}: ${stderr}`))
    })
  })
  return { url: `http://127.0.0.1:${String(port)}`, child }
}

/** Send `authorization` as is, with the given method, path and body. */
async function send(
  service: Service,
  authorization: string,
  method: 'GET' | 'POST',
  path: string,
  body?: string,
): Promise<{ status: number; error: string | undefined; json: unknown }> {
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: {
      authorization,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body }),
  })
  const text = await res.text()
  const challenge = res.headers.get('www-authenticate') ?? ''
  return {
    status: res.status,
    error: /error="([A-Z_]+)"/.exec(challenge)?.[1],
    json: res.headers.get('content-type')?.includes('json') === true ? JSON.parse(text) : text,
  }
}

/** A fresh Authorization header for `target`, bound to (method, service URL + path, body). */
function header(
  target: string,
  service: Service,
  method: 'GET' | 'POST',
  path: string,
  body?: string,
): Promise<string> {
  return payments.authorization(target, {
    method,
    url: `${service.url}${path}`,
    ...(body === undefined ? {} : { body }),
  })
}

beforeAll(async () => {
  realm = await startKdcRealm({
    principals: [{ name: 'payments' }, { name: 'orders' }, { name: 'inventory' }],
    rules: [
      {
        id: 'payments-orders',
        caller: 'payments',
        target: 'orders',
        scopes: ['orders:read'],
        maxLifetime: 0,
      },
      {
        id: 'payments-inventory',
        caller: 'payments',
        target: 'inventory',
        scopes: ['inventory:read'],
        maxLifetime: 0,
      },
    ],
  })
  const ordersKeytab = await writeKeytab('orders')
  const inventoryKeytab = await writeKeytab('inventory')
  const [orders, inventory, ordersLate, inventorySkewed, ordersEarly] = await Promise.all([
    startService('express', ordersKeytab, 'orders:read'),
    startService('fastify', inventoryKeytab, 'inventory:read'),
    // 1300 s ahead: past a 900 s ticket plus the 300 s skew allowance.
    startService('express', ordersKeytab, 'orders:read', 1_300),
    // 400 s ahead: the ticket is still valid, but a fresh authenticator is 400 s old.
    startService('fastify', inventoryKeytab, 'inventory:read', 400),
    // 400 s behind: the ticket starts more than the skew allowance in this service's future.
    startService('express', ordersKeytab, 'orders:read', -400),
  ])
  Object.assign(services, { orders, inventory, ordersLate, inventorySkewed, ordersEarly })
  payments = await TesseraClient.fromKeytab({
    keytab: await writeKeytab('payments'),
    kdc: [realm.url],
  })
  ordersClient = await TesseraClient.fromKeytab({ keytab: ordersKeytab, kdc: [realm.url] })
}, 60_000)

afterAll(async () => {
  payments.close()
  ordersClient.close()
  for (const s of Object.values(services)) s.child.kill('SIGTERM')
  await realm.cleanup()
})

const svc = (name: string): Service => services[name] as Service

describe('allowed calls', () => {
  it('payments reads orders (Express) with the caller and scopes policy granted', async () => {
    const res = await payments.fetch('orders', `${svc('orders').url}/whoami`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      framework: 'express',
      caller: 'payments',
      scopes: ['orders:read'],
    })
  })

  it('payments reads inventory (Fastify), with a JSON body bound to the request', async () => {
    const res = await payments.fetch('inventory', `${svc('inventory').url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sku: 'beans-1kg' }),
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      framework: 'fastify',
      caller: 'payments',
      scopes: ['inventory:read'],
      body: { sku: 'beans-1kg' },
    })
  })
})

describe('mutual authentication against the real services', () => {
  it("a mutual call succeeds on both; the middleware's own refusals come back with their real status", async () => {
    for (const name of ['orders', 'inventory'] as const) {
      const ok = await payments.fetch(name, `${svc(name).url}/whoami`, { mutual: true })
      expect(ok.status).toBe(200)
      // Over the 1 MiB body cap: a refusal by the middleware (no AP-REP, since nothing was
      // verified), marked Tessera-Error, returned as is instead of failing as MUTUAL_FAILED.
      const big = await payments.fetch(name, `${svc(name).url}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array(1024 * 1024 + 1),
        mutual: true,
      })
      expect(big.status).toBe(413)
      expect(big.headers.get('tessera-error')).toBe('ERR_PROTO_TOO_LARGE')
    }
    // Express's 400 for a body that is not JSON comes after verification, with the AP-REP.
    const bad = await payments.fetch('orders', `${svc('orders').url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{not json',
      mutual: true,
    })
    expect(bad.status).toBe(400)
    expect(bad.headers.get('tessera-ap-rep')).not.toBeNull()
  })
})

describe('a pair outside policy', () => {
  it('is refused at the KDC: no ticket, no request', async () => {
    const err: unknown = await ordersClient
      .fetch('inventory', `${svc('inventory').url}/whoami`)
      .catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_KDC_POLICY')).toBe(true)
  })
})

describe.each([
  ['orders', 'orders'],
  ['inventory', 'inventory'],
])('attacks on %s', (target, name) => {
  it('a replayed request: accepted once, then ERR_AP_REPLAY', async () => {
    const h = await header(target, svc(name), 'GET', '/whoami')
    expect((await send(svc(name), h, 'GET', '/whoami')).status).toBe(200)
    const again = await send(svc(name), h, 'GET', '/whoami')
    expect(again.status).toBe(401)
    expect(again.error).toBe('ERR_AP_REPLAY')
  })

  it('a tampered header (one bit of the ticket, or of the authenticator): ERR_AP_BAD_INTEGRITY', async () => {
    for (const where of ['ticket', 'authenticator'] as const) {
      const h = await header(target, svc(name), 'GET', '/whoami')
      const bytes = fromBase64Url(h.slice('Tessera '.length)) as Uint8Array
      // The authenticator is the last field; 60 bytes from the end is inside the sealed ticket.
      const i = where === 'authenticator' ? bytes.length - 1 : bytes.length - 60 - 40
      bytes[i] = (bytes[i] as number) ^ 0x01
      const res = await send(svc(name), `Tessera ${toBase64Url(bytes)}`, 'GET', '/whoami')
      expect(res.status, where).toBe(401)
      expect(res.error, where).toBe('ERR_AP_BAD_INTEGRITY')
    }
  })

  it('a request whose method, path or body differs from the bound one: ERR_AP_REQUEST_MISMATCH', async () => {
    const cases: [
      ['GET' | 'POST', string, string | undefined],
      ['GET' | 'POST', string, string | undefined],
    ][] = [
      [
        ['GET', '/whoami', undefined],
        ['GET', '/whoami?as=admin', undefined],
      ],
      [
        ['POST', '/echo', '{"n":1}'],
        ['POST', '/echo', '{"n":2}'],
      ],
      [
        ['GET', '/echo', undefined],
        ['POST', '/echo', '{}'],
      ],
    ]
    for (const [bound, sent] of cases) {
      const h = await header(target, svc(name), ...bound)
      const res = await send(svc(name), h, ...sent)
      expect(res.status, `${bound.join(' ')} → ${sent.join(' ')}`).toBe(401)
      expect(res.error).toBe('ERR_AP_REQUEST_MISMATCH')
    }
  })
})

describe('wrong service, wrong time', () => {
  it('a ticket for orders sent to inventory: ERR_AP_NOT_US', async () => {
    const h = await header('orders', svc('inventory'), 'GET', '/whoami')
    const res = await send(svc('inventory'), h, 'GET', '/whoami')
    expect(res.status).toBe(401)
    expect(res.error).toBe('ERR_AP_NOT_US')
  })

  it('an expired ticket (the service is past its end time plus skew): ERR_AP_TKT_EXPIRED', async () => {
    const h = await header('orders', svc('ordersLate'), 'GET', '/whoami')
    const res = await send(svc('ordersLate'), h, 'GET', '/whoami')
    expect(res.status).toBe(401)
    expect(res.error).toBe('ERR_AP_TKT_EXPIRED')
  })

  it('a ticket not valid yet (the service is 400 s behind): ERR_AP_TKT_NOT_YET_VALID', async () => {
    const h = await header('orders', svc('ordersEarly'), 'GET', '/whoami')
    const res = await send(svc('ordersEarly'), h, 'GET', '/whoami')
    expect(res.status).toBe(401)
    expect(res.error).toBe('ERR_AP_TKT_NOT_YET_VALID')
  })

  it('a skewed authenticator (400 s off, ticket still valid): ERR_AP_SKEW', async () => {
    const h = await header('inventory', svc('inventorySkewed'), 'GET', '/whoami')
    const res = await send(svc('inventorySkewed'), h, 'GET', '/whoami')
    expect(res.status).toBe(401)
    expect(res.error).toBe('ERR_AP_SKEW')
  })

  it('the failure body names only the code', async () => {
    const res = await send(svc('orders'), 'Tessera AAAA', 'GET', '/whoami')
    expect(res.status).toBe(401)
    expect(JSON.stringify(res.json)).not.toMatch(/stack|at |payments|orders:read/)
  })
})
