/**
 * The compiled `tessera-admin` (node dist/kdc/admin/cli.js) against a real KDC process (issue #5):
 * every command in both output modes, and the failures an operator meets: unknown principal,
 * duplicate, bad policy file (the line is named), a non-admin trying an admin operation, a
 * read-only admin trying a write, an unreachable KDC. Every failure asserts the exit code and the
 * code or hint text.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseKeytab, toHex } from '../../kdc/protocol/index.js'
import { repoRoot, startKdcRealm, type KdcRealm } from '../helpers/kdc-harness.js'

let kdc: KdcRealm
let dir: string
const CLI = join(repoRoot(), 'dist', 'kdc', 'admin', 'cli.js')

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

function admin(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? '',
          TESSERA_KDC: kdc.url,
          TESSERA_KEYTAB: kdc.adminKeytabPath,
          ...env,
        },
        timeout: 20_000,
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
        resolve({ code, stdout, stderr })
      },
    )
  })
}

function json(r: Run): Record<string, unknown> {
  expect(r.stderr).toBe('')
  return JSON.parse(r.stdout) as Record<string, unknown>
}

beforeAll(async () => {
  kdc = await startKdcRealm({
    realm: 'TESSERA.LOCAL',
    principals: [{ name: 'auditor', groups: ['admin-readers'] }, { name: 'inventory' }],
  })
  dir = await mkdtemp(join(tmpdir(), 'tessera-admin-it-'))
})

afterAll(async () => {
  await kdc.cleanup()
  await rm(dir, { recursive: true, force: true })
})

describe('tessera-admin against a real KDC', () => {
  it('status (table and JSON)', async () => {
    const t = await admin(['status'])
    expect(t.code).toBe(0)
    expect(t.stdout).toMatch(/^realm:\s+TESSERA\.LOCAL$/m)
    expect(t.stdout).toMatch(/^role:\s+writer$/m)
    const j = json(await admin(['status', '--json']))
    expect(j).toMatchObject({ realm: 'TESSERA.LOCAL', role: 'writer', kdc: [kdc.url] })
  })

  it('principal add writes a 0600 keytab the KDC accepts, default ./NAME.keytab', async () => {
    const r = await admin(['principal', 'add', 'orders'])
    expect(r.code).toBe(0)
    const path = join(dir, 'orders.keytab')
    expect(r.stdout).toBe(
      `added principal orders (groups: -, kvno 1)\nkeytab written to ${path} (mode 0600)\n`,
    )
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    const keytab = parseKeytab(new Uint8Array(await readFile(path)))
    expect(keytab).toMatchObject({ realm: 'TESSERA.LOCAL', principal: 'orders' })
    // The key itself appears nowhere in the output.
    expect(r.stdout + r.stderr).not.toContain(toHex(keytab.keys[0]?.key ?? new Uint8Array()))
  })

  it('principal add --json with groups and --out', async () => {
    const out = join(dir, 'keys', 'payments.keytab')
    const r = await admin([
      'principal',
      'add',
      'payments',
      '--group',
      'payers',
      '--out',
      out,
      '--json',
    ])
    expect(r.code).toBe(0)
    const j = json(r)
    expect(j).toMatchObject({
      principal: { name: 'payments', groups: ['payers'], enabled: true, kvnos: [1] },
      keytab: { path: out, kvnos: [1] },
    })
    const key = parseKeytab(new Uint8Array(await readFile(out))).keys[0]?.key ?? new Uint8Array()
    expect(r.stdout).not.toContain(toHex(key))
    expect(r.stdout).not.toContain(Buffer.from(key).toString('base64'))
  })

  it('a duplicate principal: exit 1, ERR_ADMIN_EXISTS and a hint', async () => {
    const r = await admin(['principal', 'add', 'orders', '--out', join(dir, 'dup.keytab')])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toBe(
      "tessera-admin: error: principal 'orders' already exists (ERR_ADMIN_EXISTS)\n" +
        "hint: 'orders' is already registered; see `tessera-admin principal show orders`, or get its keys with `tessera-admin keytab export orders --out FILE`\n",
    )
    const j = await admin([
      'principal',
      'add',
      'orders',
      '--out',
      join(dir, 'dup.keytab'),
      '--json',
    ])
    expect(j.code).toBe(1)
    expect(JSON.parse(j.stdout)).toMatchObject({ error: { code: 'ERR_ADMIN_EXISTS', exitCode: 1 } })
  })

  it('reserved names are refused locally (exit 2); self-disable/delete by the KDC (ERR_ADMIN_INVALID)', async () => {
    for (const args of [
      ['keytab', 'export', 'krbtgt', '--out', join(dir, 'krbtgt.keytab')],
      ['keytab', 'export', 'kadmin', '--out', join(dir, 'kadmin.keytab')],
      ['principal', 'delete', 'krbtgt'],
      ['principal', 'add', 'kadmin', '--out', join(dir, 'kadmin.keytab')],
    ]) {
      const r = await admin([...args, '--json'])
      expect(r.code, args.join(' ')).toBe(2)
      expect(JSON.parse(r.stdout), args.join(' ')).toMatchObject({
        error: { code: 'ERR_CLI_USAGE', exitCode: 2 },
      })
    }
    for (const args of [
      ['principal', 'disable', 'admin'],
      ['principal', 'delete', 'admin'],
    ]) {
      const r = await admin([...args, '--json'])
      expect(r.code, args.join(' ')).toBe(1)
      expect(JSON.parse(r.stdout), args.join(' ')).toMatchObject({
        error: { code: 'ERR_ADMIN_INVALID', exitCode: 1 },
      })
    }
    const show = await admin(['principal', 'show', 'admin', '--json'])
    expect(JSON.parse(show.stdout)).toMatchObject({ name: 'admin', enabled: true })
  })

  it('principal list (table, --group, JSON)', async () => {
    const t = await admin(['principal', 'list'])
    expect(t.code).toBe(0)
    const names = t.stdout
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s+/)[0])
    expect(names).toEqual([
      'admin',
      'auditor',
      'inventory',
      'kadmin',
      'krbtgt',
      'orders',
      'payments',
    ])
    const g = await admin(['principal', 'list', '--group', 'payers'])
    expect(g.stdout).toMatch(
      /^NAME\s+ENABLED\s+KVNO\s+GROUPS\s+CREATED\npayments\s+yes\s+1\s+payers\s+/,
    )
    const j = json(await admin(['principal', 'list', '--json']))
    expect((j.principals as { name: string }[]).map((p) => p.name)).toEqual(names)
  })

  it('principal show (fields and JSON), and an unknown principal', async () => {
    const t = await admin(['principal', 'show', 'orders'])
    expect(t.code).toBe(0)
    expect(t.stdout).toMatch(/^name:\s+orders\nid:\s+[0-9a-f]{32}\nenabled:\s+yes\n/)
    expect(json(await admin(['principal', 'show', 'orders', '--json']))).toMatchObject({
      name: 'orders',
      kvnos: [1],
    })
    const missing = await admin(['principal', 'show', 'ghost'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe(
      "tessera-admin: error: no principal named 'ghost' (ERR_ADMIN_NOT_FOUND)\n" +
        "hint: 'ghost' is not registered; see `tessera-admin principal list`, or register it with `tessera-admin principal add ghost`\n",
    )
    const mj = await admin(['principal', 'show', 'ghost', '--json'])
    expect(mj.code).toBe(1)
    expect(JSON.parse(mj.stdout)).toMatchObject({ error: { code: 'ERR_ADMIN_NOT_FOUND' } })
  })

  it('key rotate, then keytab export holds every live kvno', async () => {
    const r = await admin(['key', 'rotate', 'orders'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('rotated orders: new kvno 2 (live kvnos 1, 2)')
    const out = join(dir, 'rotated.keytab')
    const j = json(await admin(['key', 'rotate', 'orders', '--out', out, '--json']))
    expect(j).toMatchObject({ kvno: 3, keytab: { path: out, kvnos: [1, 2, 3] } })
    const exported = join(dir, 'exported.keytab')
    const e = await admin(['keytab', 'export', 'orders', '--out', exported])
    expect(e.code).toBe(0)
    expect(e.stdout).toBe(`keytab for orders written to ${exported} (mode 0600, kvnos 1, 2, 3)\n`)
    expect((await stat(exported)).mode & 0o777).toBe(0o600)
    const ej = json(await admin(['keytab', 'export', 'orders', '--out', exported, '--json']))
    expect(ej).toMatchObject({ principal: 'orders', keytab: { kvnos: [1, 2, 3] } })
    const missing = await admin(['keytab', 'export', 'ghost', '--out', join(dir, 'g.keytab')])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('(ERR_ADMIN_NOT_FOUND)')
  })

  it('principal disable / enable / delete (both modes)', async () => {
    const d = await admin(['principal', 'disable', 'inventory'])
    expect(d.code).toBe(0)
    expect(d.stdout).toMatch(/^principal inventory disabled/)
    expect(json(await admin(['principal', 'enable', 'inventory', '--json']))).toMatchObject({
      name: 'inventory',
      enabled: true,
    })
    expect(json(await admin(['principal', 'disable', 'inventory', '--json']))).toMatchObject({
      enabled: false,
    })
    expect((await admin(['principal', 'enable', 'inventory'])).stdout).toBe(
      'principal inventory enabled\n',
    )
    expect((await admin(['principal', 'delete', 'inventory'])).stdout).toBe(
      'principal inventory deleted\n',
    )
    const again = await admin(['principal', 'delete', 'inventory', '--json'])
    expect(again.code).toBe(1)
    expect(JSON.parse(again.stdout)).toMatchObject({ error: { code: 'ERR_ADMIN_NOT_FOUND' } })
    await admin(['principal', 'add', 'scratch', '--out', join(dir, 'scratch.keytab')])
    expect(json(await admin(['principal', 'delete', 'scratch', '--json']))).toEqual({
      deleted: 'scratch',
    })
  })

  it('policy apply / show / diff / check (both modes)', async () => {
    const file = join(dir, 'policy.yaml')
    await writeFile(
      file,
      `rules:
  - id: payments-reads-orders
    caller: payments            # a principal, or group:NAME
    target: orders              # a principal, or group:NAME
    scopes: [orders:read]
    maxLifetime: 15m            # optional
`,
    )
    const diff = await admin(['policy', 'diff', file])
    expect(diff.code).toBe(0)
    expect(diff.stdout).toMatch(
      /^\+ payments-reads-orders: payments -> orders \[orders:read\], maxLifetime 15m\n1 added/,
    )
    const applied = await admin(['policy', 'apply', file])
    expect(applied.code).toBe(0)
    expect(applied.stdout).toMatch(/^policy applied: version (\d+), 1 rule\(s\)\n$/)
    const version = Number(/version (\d+)/.exec(applied.stdout)?.[1])
    const again = json(await admin(['policy', 'apply', file, '--json']))
    expect(again).toEqual({ policyVersion: version + 1, rules: 1 })
    const shown = await admin(['policy', 'show'])
    expect(shown.stdout).toContain(`# Tessera policy version ${version + 1}`)
    expect(shown.stdout).toContain('    scopes: [orders:read]\n    maxLifetime: 15m\n')
    expect(json(await admin(['policy', 'show', '--json']))).toEqual({
      version: version + 1,
      rules: [
        {
          id: 'payments-reads-orders',
          caller: 'payments',
          target: 'orders',
          scopes: ['orders:read'],
          maxLifetime: 900,
        },
      ],
    })
    const same = json(await admin(['policy', 'diff', file, '--json']))
    expect(same).toMatchObject({ added: [], removed: [], changed: [], unchanged: 1 })

    const allowed = await admin(['policy', 'check', 'payments', 'orders', 'orders:read'])
    expect(allowed.code).toBe(0)
    expect(allowed.stdout).toContain(
      "allowed: payments -> orders with scopes [orders:read] by rule 'payments-reads-orders'",
    )
    const denied = await admin(['policy', 'check', 'orders', 'payments'])
    expect(denied.code).toBe(3)
    expect(denied.stdout).toContain('denied: no rule allows orders -> payments')
    const deniedJson = await admin([
      'policy',
      'check',
      'payments',
      'orders',
      'orders:write',
      '--json',
    ])
    expect(deniedJson.code).toBe(3)
    expect(JSON.parse(deniedJson.stdout)).toMatchObject({
      allowed: false,
      reason: 'SCOPE_NOT_GRANTED',
      ruleIds: ['payments-reads-orders'],
    })
    const allowedJson = await admin(['policy', 'check', 'payments', 'orders', '--json'])
    expect(allowedJson.code).toBe(0)
    expect(JSON.parse(allowedJson.stdout)).toMatchObject({ allowed: true, maxLifetime: 900 })
  })

  it('a bad policy file: exit 2, the line is named, nothing is sent', async () => {
    const before = json(await admin(['policy', 'show', '--json'])).version
    const file = join(dir, 'bad.yaml')
    await writeFile(
      file,
      `rules:
  - id: ok
    caller: payments
    target: orders
    scopes: [orders:read]
  - id: x
    caller: payments
    target: orders
    scopes: ["orders read"]
`,
    )
    const r = await admin(['policy', 'apply', file])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(
      new RegExp(
        `^tessera-admin: error: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:9: rule 'x': unknown scope syntax "orders read"`,
      ),
    )
    expect(r.stderr).toContain('\nhint: fix the policy file')
    const j = await admin(['policy', 'diff', file, '--json'])
    expect(j.code).toBe(2)
    expect(JSON.parse(j.stdout)).toMatchObject({
      error: { code: 'ERR_CLI_POLICY_FILE', exitCode: 2 },
    })
    expect(json(await admin(['policy', 'show', '--json'])).version).toBe(before)
  })

  it('a non-admin principal: exit 1, ERR_ADMIN_FORBIDDEN, and the hint names the groups', async () => {
    // orders' keys were rotated above: only its current key logs in, so take a fresh keytab.
    const keytab = join(dir, 'orders-current.keytab')
    expect((await admin(['keytab', 'export', 'orders', '--out', keytab])).code).toBe(0)
    const r = await admin(['--keytab', keytab, 'principal', 'list'])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      'tessera-admin: error: orders may not perform this admin operation (ERR_ADMIN_FORBIDDEN)\n' +
        "hint: orders is not in group 'admins' (members of 'admin-readers' may only list, show, check and read status); use an admin's keytab with --keytab or TESSERA_KEYTAB\n",
    )
    const j = await admin(
      ['principal', 'add', 'evil', '--out', join(dir, 'evil.keytab'), '--json'],
      {
        TESSERA_KEYTAB: keytab,
      },
    )
    expect(j.code).toBe(1)
    expect(JSON.parse(j.stdout)).toMatchObject({ error: { code: 'ERR_ADMIN_FORBIDDEN' } })
  })

  it('an admin-reader may read but not write', async () => {
    const keytab = join(dir, 'auditor.keytab')
    expect((await admin(['keytab', 'export', 'auditor', '--out', keytab])).code).toBe(0)
    expect((await admin(['--keytab', keytab, 'principal', 'list'])).code).toBe(0)
    expect((await admin(['--keytab', keytab, 'policy', 'check', 'payments', 'orders'])).code).toBe(
      0,
    )
    const w = await admin(['--keytab', keytab, 'principal', 'disable', 'orders'])
    expect(w.code).toBe(1)
    expect(w.stderr).toContain('auditor may not perform this admin operation (ERR_ADMIN_FORBIDDEN)')
  })

  it('an unreachable KDC: exit 4, the URLs tried and how to start a KDC', async () => {
    const urls = ['ws://127.0.0.1:9/v1', 'ws://127.0.0.1:10/v1']
    const r = await admin(['--kdc', urls[0] as string, '--kdc', urls[1] as string, 'status'])
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(
      /^tessera-admin: error: cannot reach a KDC at ws:\/\/127\.0\.0\.1:9\/v1, ws:\/\/127\.0\.0\.1:10\/v1 \(ERR_CLIENT_(UNREACHABLE|TIMEOUT|CLOSED)\)\n/,
    )
    expect(r.stderr).toContain(
      'hint: tried ws://127.0.0.1:9/v1, ws://127.0.0.1:10/v1; start one with `npm start`',
    )
    const j = await admin(['status', '--json'], { TESSERA_KDC: urls.join(',') })
    expect(j.code).toBe(4)
    expect(JSON.parse(j.stdout)).toMatchObject({ error: { exitCode: 4 } })
  })

  it('a missing admin keytab: exit 1, ERR_CLIENT_KEYTAB, how to point at one', async () => {
    const r = await admin(['status'], { TESSERA_KEYTAB: join(dir, 'nope.keytab') })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('(ERR_CLIENT_KEYTAB)')
    expect(r.stderr).toContain('hint: cannot use the admin keytab')
    expect(r.stderr).toContain('--keytab FILE or set TESSERA_KEYTAB')
  })

  it('usage errors: exit 2 with a usage hint', async () => {
    const r = await admin(['principal', 'add'])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      "tessera-admin: error: missing required argument 'name'\nhint: run `tessera-admin principal add --help` for usage\n",
    )
    const k = await admin(['principal', 'add', 'kadmin'])
    expect(k.code).toBe(2)
    expect(k.stderr).toContain('cannot add kadmin: the name is reserved')
  })

  it('audits every admin action without key material', async () => {
    const records = kdc.auditRecords().filter((r) => r.event === 'admin')
    expect(records.some((r) => r.op === 'principal.add' && r.outcome === 'OK')).toBe(true)
    expect(records.some((r) => r.outcome === 'ERR_ADMIN_FORBIDDEN' && r.caller === 'orders')).toBe(
      true,
    )
    const logs = kdc.logs.stdout.join('\n') + kdc.logs.stderr.join('\n')
    for (const file of ['exported.keytab', join('keys', 'payments.keytab'), 'auditor.keytab']) {
      const keytab = parseKeytab(new Uint8Array(await readFile(join(dir, file))))
      for (const k of keytab.keys) {
        expect(logs).not.toContain(toHex(k.key))
        expect(logs).not.toContain(Buffer.from(k.key).toString('base64'))
      }
    }
  })
})
