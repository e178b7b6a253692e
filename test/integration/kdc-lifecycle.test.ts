/**
 * The KDC process over time: restart keeps principals and policy, a disable applies to a TGT issued
 * before it, tickets expire (test clock hook), a skewed KDC clock is refused, SIGTERM exits 0, and
 * the command line refuses what it should.
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type PolicyRule } from '../../kdc/protocol/index.js'
import {
  codeOf,
  getServiceTicket,
  KdcWire,
  kdcMainPath,
  login,
  nowSeconds,
  startKdcRealm,
  type KdcRealm,
} from '../helpers/kdc-harness.js'

const RULES: PolicyRule[] = [
  { id: 'a-b', caller: 'alpha', target: 'bravo', scopes: ['b:read'], maxLifetime: 0 },
]

describe('restart and offline changes', () => {
  let kdc!: KdcRealm

  beforeAll(async () => {
    kdc = await startKdcRealm({
      principals: [{ name: 'alpha' }, { name: 'bravo' }, { name: 'charlie' }],
      rules: RULES,
    })
  })
  afterAll(async () => {
    await (kdc as KdcRealm | undefined)?.cleanup()
  })

  it('keeps principals and policy across a restart, and exits 0 on SIGTERM', async () => {
    const before = await KdcWire.connect(kdc.url)
    const creds = await login(before, { realm: kdc.realm, client: 'alpha', key: kdc.key('alpha') })
    const st = await getServiceTicket(before, { creds, target: 'bravo' })
    before.close()
    expect(await kdc.stop()).toBe(0)
    await kdc.restart()
    const after = await KdcWire.connect(kdc.url)
    const creds2 = await login(after, { realm: kdc.realm, client: 'alpha', key: kdc.key('alpha') })
    const st2 = await getServiceTicket(after, { creds: creds2, target: 'bravo' })
    expect(st2.part.scopes).toEqual(['b:read'])
    expect(st2.part.policyVersion).toBe(st.part.policyVersion)
    // A TGT from before the restart is still good (krbtgt key persisted).
    const st3 = await getServiceTicket(after, { creds, target: 'bravo' })
    expect(st3.part.scopes).toEqual(['b:read'])
    after.close()
  })

  it('refuses a TGT issued before its client was disabled, and a target disabled since', async () => {
    let wire = await KdcWire.connect(kdc.url)
    const alpha = await login(wire, { realm: kdc.realm, client: 'alpha', key: kdc.key('alpha') })
    const charlie = await login(wire, {
      realm: kdc.realm,
      client: 'charlie',
      key: kdc.key('charlie'),
    })
    wire.close()
    await kdc.stop()
    await kdc.withStore(async (store) => {
      await store.setEnabled('charlie', false)
      await store.setEnabled('bravo', false)
      await store.setPolicy([
        ...RULES,
        { id: 'c-a', caller: 'charlie', target: 'alpha', scopes: [], maxLifetime: 0 },
      ])
    })
    await kdc.restart()
    wire = await KdcWire.connect(kdc.url)
    expect(await codeOf(getServiceTicket(wire, { creds: charlie, target: 'alpha' }))).toBe(
      'ERR_KDC_PRINCIPAL_DISABLED',
    )
    expect(await codeOf(getServiceTicket(wire, { creds: alpha, target: 'bravo' }))).toBe(
      'ERR_KDC_PRINCIPAL_DISABLED',
    )
    await kdc.waitAudit((r) => r.status === 'TARGET_DISABLED')
    const rec = kdc
      .auditRecords()
      .filter((r) => r.exchange === 'TGS')
      .slice(-2)
      .map((r) => r.status)
    expect(rec).toEqual(['CALLER_DISABLED', 'TARGET_DISABLED'])
    wire.close()
    await kdc.stop()
    await kdc.withStore(async (store) => {
      await store.setEnabled('charlie', true)
      await store.setEnabled('bravo', true)
    })
    await kdc.restart()
  })

  it('refuses an expired TGT (KDC clock moved past its end) with ERR_AP_TKT_EXPIRED', async () => {
    let wire = await KdcWire.connect(kdc.url)
    const creds = await login(wire, {
      realm: kdc.realm,
      client: 'alpha',
      key: kdc.key('alpha'),
      lifetime: 60,
    })
    wire.close()
    await kdc.restart({ clockOffsetS: 120 })
    expect(kdc.logs.stderr.join('\n')).toContain('TESSERA_KDC_TEST_CLOCK_OFFSET_S=120')
    wire = await KdcWire.connect(kdc.url)
    // The authenticator is fresh for the KDC's clock; only the ticket is old.
    expect(
      await codeOf(getServiceTicket(wire, { creds, target: 'bravo', ctime: nowSeconds() + 120 })),
    ).toBe('ERR_AP_TKT_EXPIRED')
    wire.close()
  })

  it('refuses a client whose clock is off from the KDC by more than the skew (KDC clock +1000 s)', async () => {
    await kdc.restart({ clockOffsetS: 1000 })
    const wire = await KdcWire.connect(kdc.url)
    expect(
      await codeOf(login(wire, { realm: kdc.realm, client: 'alpha', key: kdc.key('alpha') })),
    ).toBe('ERR_AP_SKEW')
    // A client that corrects its offset from kdcTime succeeds.
    const creds = await login(wire, {
      realm: kdc.realm,
      client: 'alpha',
      key: kdc.key('alpha'),
      ctime: nowSeconds() + 1000,
    })
    expect(Math.abs(creds.kdcTime - (nowSeconds() + 1000))).toBeLessThanOrEqual(2)
    wire.close()
    await kdc.restart({ clockOffsetS: 0 })
  })
  it('drains and exits 0 on SIGTERM while clients are connected; they see 1001', async () => {
    const idle = await KdcWire.connect(kdc.url)
    const busy = await KdcWire.connect(kdc.url)
    const pending = login(busy, { realm: kdc.realm, client: 'alpha', key: kdc.key('alpha') })
    const started = Date.now()
    const code = await kdc.stop()
    expect(code).toBe(0)
    expect(Date.now() - started).toBeLessThan(5_000)
    expect((await idle.closed).code).toBe(1001)
    expect(await codeOf(pending)).toBe('OK')
    await kdc.restart()
  })
})

describe('command line', () => {
  let dir!: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tessera-kdc-cli-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const run = (args: string[]) =>
    spawnSync(process.execPath, [kdcMainPath(), ...args], { encoding: 'utf8', timeout: 20_000 })

  it('init creates a realm with a 0600 admin keytab and refuses to overwrite it', async () => {
    const data = join(dir, 'realm1')
    const first = run(['init', '--realm', 'CLI.TEST', '--data', data])
    expect(first.status).toBe(0)
    expect(first.stderr).toContain('admin.keytab')
    expect((await stat(join(data, 'admin.keytab'))).mode & 0o777).toBe(0o600)
    const second = run(['init', '--realm', 'CLI.TEST', '--data', data])
    expect(second.status).toBe(1)
    expect(second.stderr).toMatch(/already holds a realm/)
    expect(second.stderr).toMatch(/hint:/)
  })

  it('rejects unknown options, bad realms and out-of-range limits with a message', () => {
    const unknown = run(['start', '--data', join(dir, 'x'), '--bogus'])
    expect(unknown.status).not.toBe(0)
    expect(unknown.stderr).toContain("unknown option '--bogus'")
    const realm = run(['init', '--realm', 'lower.case', '--data', join(dir, 'y')])
    expect(realm.status).toBe(1)
    expect(realm.stderr).toMatch(/realm .* is invalid/)
    for (const value of ['0', '-1', '1.5', 'Infinity', '1e3', '']) {
      const r = run(['start', '--data', join(dir, 'z'), '--max-connections', value])
      expect(r.status, value).not.toBe(0)
      expect(r.stderr, value).toMatch(/max-connections|maxConnections/)
    }
  })

  it('start on an empty directory bootstraps a realm and says what to run next', async () => {
    const kdcData = join(dir, 'boot')
    const { spawn } = await import('node:child_process')
    const child = spawn(
      process.execPath,
      [
        kdcMainPath(),
        'start',
        '--data',
        kdcData,
        '--listen',
        '127.0.0.1:0',
        '--realm',
        'BOOT.TEST',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    for (let i = 0; i < 200 && !stderr.includes('next:'); i++) {
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(stdout).toMatch(/^tessera-kdc listening on ws:\/\/127\.0\.0\.1:\d+\/v1\n/)
    expect(stderr).toContain('created realm BOOT.TEST')
    expect(stderr).toContain(join(kdcData, 'admin.keytab'))
    expect(stderr).toContain('tessera-admin')
    const port = /:(\d+)\/v1/.exec(stdout)![1]
    const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as {
      realm: string
    }
    expect(health.realm).toBe('BOOT.TEST')
    const exited = new Promise<number | null>((r) =>
      child.once('exit', (c) => {
        r(c)
      }),
    )
    child.kill('SIGINT')
    expect(await exited).toBe(0)
  })
})
