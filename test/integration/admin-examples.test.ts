/**
 * The README walkthrough as a test: a real KDC, the compiled tessera-admin
 * registering orders and payments and applying docs/examples/policy.yaml, then the two example
 * services (docs/examples/, Express and Fastify) started as they are documented. An allowed call
 * succeeds; a call outside policy is refused; a key rotation needs no restart.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot, startKdcRealm, type KdcRealm } from '../helpers/kdc-harness.js'

const ROOT = repoRoot()
let kdc: KdcRealm
let dir: string
const children: ChildProcess[] = []
let ordersUrl = ''
let paymentsUrl = ''
const ordersLog: string[] = []

function admin(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'dist', 'kdc', 'admin', 'cli.js'), ...args],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          TESSERA_KDC: kdc.url,
          TESSERA_KEYTAB: kdc.adminKeytabPath,
        },
        timeout: 20_000,
      },
      (err, stdout, stderr) => {
        resolve({
          code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1,
          stdout,
          stderr,
        })
      },
    )
  })
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      srv.close(() => {
        resolve(port)
      })
    })
  })
}

/** Start an example service and wait for its "listening" line. */
function startExample(
  script: string,
  env: Record<string, string>,
  log: string[],
): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(ROOT, 'docs', 'examples', script)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${script} did not start:\n${log.join('')}`))
    }, 15_000)
    child.stderr.on('data', (d: Buffer) => log.push(d.toString()))
    child.stdout.on('data', (d: Buffer) => {
      log.push(d.toString())
      if (log.join('').includes('listening on')) {
        clearTimeout(timer)
        resolve(child)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${script} exited with ${String(code)}:\n${log.join('')}`))
    })
  })
}

beforeAll(async () => {
  kdc = await startKdcRealm({ realm: 'TESSERA.LOCAL' })
  dir = await mkdtemp(join(tmpdir(), 'tessera-examples-'))
  const ordersKeytab = join(dir, 'orders.keytab')
  const paymentsKeytab = join(dir, 'payments.keytab')
  expect((await admin(['principal', 'add', 'orders', '--out', ordersKeytab])).code).toBe(0)
  expect((await admin(['principal', 'add', 'payments', '--out', paymentsKeytab])).code).toBe(0)
  const applied = await admin(['policy', 'apply', join(ROOT, 'docs', 'examples', 'policy.yaml')])
  expect(applied.stderr).toBe('')
  const [ordersPort, paymentsPort] = [await freePort(), await freePort()]
  ordersUrl = `http://127.0.0.1:${ordersPort}`
  paymentsUrl = `http://127.0.0.1:${paymentsPort}`
  await startExample(
    'orders/server.mjs',
    { ORDERS_KEYTAB: ordersKeytab, PORT: String(ordersPort) },
    ordersLog,
  )
  await startExample(
    'payments/server.mjs',
    {
      PAYMENTS_KEYTAB: paymentsKeytab,
      PORT: String(paymentsPort),
      ORDERS_URL: ordersUrl,
      TESSERA_KDC: kdc.url,
    },
    [],
  )
}, 60_000)

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null) child.kill('SIGTERM')
  }
  await kdc.cleanup()
  await rm(dir, { recursive: true, force: true })
})

describe('the walkthrough', () => {
  it('an allowed call succeeds: payments reads an order with orders:read', async () => {
    const res = await fetch(`${paymentsUrl}/demo/charge/7`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      charged: 2450,
      order: { id: '7', servedTo: 'payments' },
    })
  })

  it('a call outside policy is refused by the KDC (ERR_KDC_POLICY)', async () => {
    const res = await fetch(`${paymentsUrl}/demo/refund/7`, { method: 'POST' })
    expect(res.status).toBe(403)
    expect(await res.json()).toMatchObject({ error: 'ERR_KDC_POLICY' })
  })

  it('a request without a ticket is refused by orders (401 ERR_AP_NO_CREDENTIALS)', async () => {
    const res = await fetch(`${ordersUrl}/orders/7`)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Tessera error="ERR_AP_NO_CREDENTIALS"')
  })

  it("payments' own API requires a ticket too (Fastify middleware)", async () => {
    const res = await fetch(`${paymentsUrl}/api/charge`, { method: 'POST' })
    expect(res.status).toBe(401)
  })

  it('a key rotation needs no restart: orders reloads its keytab', async () => {
    const r = await admin(['key', 'rotate', 'orders', '--out', join(dir, 'orders.keytab')])
    expect(r.code).toBe(0)
    const deadline = Date.now() + 10_000
    while (!ordersLog.join('').includes('kvnos 1, 2') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(ordersLog.join('')).toContain('keytab reloaded, kvnos 1, 2')
    const res = await fetch(`${paymentsUrl}/demo/charge/8`)
    expect(res.status).toBe(200)
  })
})
