/**
 * tessera-admin end to end in one process: runCli with an AdminChannel that runs the real
 * executeAdminOp over a memory store and reports errors as wire codes only (fixture.ts). The
 * compiled binary against a real KDC is covered by test/integration/admin-cli.test.ts.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { parseKeytab, toHex } from '../../../../kdc/protocol/index.js'
import { runCli } from '../../../../kdc/admin/cli.js'
import { memoryRealm, type Realm } from './fixture.js'

let realm: Realm
let dir: string

beforeEach(async () => {
  realm = await memoryRealm()
  dir = await mkdtemp(join(tmpdir(), 'tessera-admin-unit-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

interface Result {
  code: number
  stdout: string
  stderr: string
}

async function cli(
  args: string[],
  as = 'admin',
  env: Record<string, string> = {},
): Promise<Result> {
  let stdout = ''
  let stderr = ''
  const code = await runCli(args, {
    io: { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env },
    connect: () => Promise.resolve(realm.channel(as)),
  })
  return { code, stdout, stderr }
}

describe('principal add', () => {
  it('writes the keytab with mode 0600 and never prints the key', async () => {
    const out = join(dir, 'sub', 'billing.keytab')
    const r = await cli([
      'principal',
      'add',
      'billing',
      '--group',
      'b',
      '--group',
      'a',
      '--out',
      out,
    ])
    expect(r).toMatchObject({ code: 0, stderr: '' })
    expect(r.stdout).toBe(
      `added principal billing (groups: a,b, kvno 1)\nkeytab written to ${out} (mode 0600)\n`,
    )
    expect((await stat(out)).mode & 0o777).toBe(0o600)
    const keytab = parseKeytab(new Uint8Array(await readFile(out)))
    expect(keytab).toMatchObject({ realm: 'TESSERA.LOCAL', principal: 'billing' })
    const key = keytab.keys[0]?.key ?? new Uint8Array()
    expect(key).toEqual(realm.store.getPrincipal('billing')?.keys[0]?.key)
    expect(r.stdout).not.toContain(toHex(key))
  })

  it('prints JSON with --json, still without key material', async () => {
    const out = join(dir, 'billing.keytab')
    const r = await cli(['principal', 'add', 'billing', '--out', out, '--json'])
    expect(r.code).toBe(0)
    const doc = JSON.parse(r.stdout) as Record<string, unknown>
    expect(doc).toMatchObject({
      principal: { name: 'billing', enabled: true, groups: [], kvnos: [1], currentKvno: 1 },
      keytab: { path: out, kvnos: [1] },
    })
    const key = toHex(realm.store.getPrincipal('billing')?.keys[0]?.key ?? new Uint8Array())
    expect(r.stdout).not.toContain(key)
    expect(r.stdout).not.toContain(Buffer.from(key, 'hex').toString('base64'))
  })

  it('refuses a duplicate with exit 1, the code and a hint', async () => {
    const r = await cli(['principal', 'add', 'orders', '--out', join(dir, 'o.keytab')])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      "tessera-admin: error: principal 'orders' already exists (ERR_ADMIN_EXISTS)\n" +
        "hint: 'orders' is already registered; see `tessera-admin principal show orders`, or get its keys with `tessera-admin keytab export orders --out FILE`\n",
    )
  })

  it('refuses reserved and invalid names locally with exit 2', async () => {
    const reserved = await cli(['principal', 'add', 'krbtgt'])
    expect(reserved.code).toBe(2)
    expect(reserved.stderr).toMatch(
      /^tessera-admin: error: cannot add krbtgt: the name is reserved/,
    )
    expect(reserved.stderr).toMatch(/\nhint: /)
    const bad = await cli(['principal', 'add', 'Orders'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('invalid principal name "Orders"')
  })

  it('emits a JSON error document on stdout with --json', async () => {
    const r = await cli(['principal', 'add', 'orders', '--out', join(dir, 'o.keytab'), '--json'])
    expect(r.code).toBe(1)
    const doc = JSON.parse(r.stdout) as { error: { code: string; exitCode: number; hint: string } }
    expect(doc.error.code).toBe('ERR_ADMIN_EXISTS')
    expect(doc.error.exitCode).toBe(1)
    expect(doc.error.hint).toContain('keytab export')
  })
})

describe('principal list/show/disable/enable/delete', () => {
  it('lists as a table and as JSON', async () => {
    const r = await cli(['principal', 'list'])
    expect(r.code).toBe(0)
    const lines = r.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^NAME\s+ENABLED\s+KVNO\s+GROUPS\s+CREATED$/)
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual([
      'admin',
      'kadmin',
      'krbtgt',
      'orders',
      'payments',
      'reader',
    ])
    const j = await cli(['principal', 'list', '--group', 'payers', '--json'])
    expect(JSON.parse(j.stdout)).toMatchObject({
      principals: [{ name: 'payments', groups: ['payers'] }],
    })
  })

  it('shows one principal', async () => {
    const r = await cli(['principal', 'show', 'payments'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(
      /^name:\s+payments\nid:\s+[0-9a-f]{32}\nenabled:\s+yes\ngroups:\s+payers\nkvnos:\s+1\n/,
    )
  })

  it('answers ERR_ADMIN_NOT_FOUND for an unknown principal', async () => {
    const r = await cli(['principal', 'show', 'ghost'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("no principal named 'ghost' (ERR_ADMIN_NOT_FOUND)")
    expect(r.stderr).toContain('hint: ')
  })

  it('disables, enables and deletes', async () => {
    expect((await cli(['principal', 'disable', 'orders'])).stdout).toMatch(
      /^principal orders disabled/,
    )
    expect(realm.store.getPrincipal('orders')?.enabled).toBe(false)
    const en = await cli(['principal', 'enable', 'orders', '--json'])
    expect(JSON.parse(en.stdout)).toMatchObject({ name: 'orders', enabled: true })
    const del = await cli(['principal', 'delete', 'orders', '--json'])
    expect(JSON.parse(del.stdout)).toEqual({ deleted: 'orders' })
  })

  it('refuses a read-only admin a write with ERR_ADMIN_FORBIDDEN', async () => {
    const r = await cli(['principal', 'delete', 'orders'], 'reader')
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('reader may not perform this admin operation (ERR_ADMIN_FORBIDDEN)')
    expect(r.stderr).toContain("hint: reader is not in group 'admins'")
  })
})

describe('keytab export and key rotate', () => {
  it('exports every live kvno', async () => {
    await cli(['key', 'rotate', 'orders'])
    const out = join(dir, 'orders.keytab')
    const r = await cli(['keytab', 'export', 'orders', '--out', out])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(`keytab for orders written to ${out} (mode 0600, kvnos 1, 2)\n`)
    expect(parseKeytab(new Uint8Array(await readFile(out))).keys.map((k) => k.kvno)).toEqual([1, 2])
  })

  it('requires --out for export', async () => {
    const r = await cli(['keytab', 'export', 'orders'])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      "tessera-admin: error: required option '--out <file>' not specified\nhint: run `tessera-admin keytab export --help` for usage\n",
    )
  })

  it('rotates and optionally writes the new keytab', async () => {
    const out = join(dir, 'o.keytab')
    const r = await cli(['key', 'rotate', 'orders', '--out', out, '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ kvno: 2, keytab: { path: out, kvnos: [1, 2] } })
    const plain = await cli(['key', 'rotate', 'orders'])
    expect(plain.stdout).toContain('rotated orders: new kvno 3 (live kvnos 1, 2, 3)')
    expect(plain.stdout).toContain('keytab export orders')
  })

  it('--keep 1 retires every older key version at once, in the KDC and in the keytab', async () => {
    await cli(['key', 'rotate', 'orders'])
    const out = join(dir, 'o.keytab')
    const r = await cli(['key', 'rotate', 'orders', '--keep', '1', '--out', out, '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({
      kvno: 3,
      principal: { kvnos: [3] },
      keytab: { path: out, kvnos: [3] },
    })
    expect(parseKeytab(new Uint8Array(await readFile(out))).keys.map((k) => k.kvno)).toEqual([3])
  })

  it.each(['0', '17', 'x', '1.5', '-1', ''])(
    'refuses --keep %j before asking the KDC (usage, exit 2)',
    async (keep) => {
      const r = await cli(['key', 'rotate', 'orders', '--keep', keep])
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('--keep must be a whole number from 1 to 16')
      const after = await cli(['principal', 'show', 'orders', '--json'])
      expect(JSON.parse(after.stdout)).toMatchObject({ kvnos: [1] })
    },
  )

  it('replaces an existing keytab atomically and keeps 0600', async () => {
    const out = join(dir, 'o.keytab')
    await writeFile(out, 'old', { mode: 0o644 })
    expect((await cli(['keytab', 'export', 'orders', '--out', out])).code).toBe(0)
    expect((await stat(out)).mode & 0o777).toBe(0o600)
  })

  it('refuses a directory group or others can write before asking the KDC; a sticky one of ours is fine', async () => {
    const shared = join(dir, 'shared')
    await mkdir(shared)
    await chmod(shared, 0o770)
    const out = join(shared, 'orders.keytab')
    const before = realm.store.getPrincipal('orders')?.keys.map((k) => k.kvno)
    const r = await cli(['key', 'rotate', 'orders', '--out', out])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(
      `tessera-admin: error: cannot write keytab ${out}: ${shared} can be written by group or others (mode 0770), so another user could replace the keytab before it is used\n` +
        `hint: write it into a directory only you can write: chmod go-w ${shared}, or choose another --out FILE\n`,
    )
    expect(realm.store.getPrincipal('orders')?.keys.map((k) => k.kvno)).toEqual(before)
    await chmod(shared, 0o1777)
    expect((await cli(['keytab', 'export', 'orders', '--out', out])).code).toBe(0)
  })

  it('refuses to export the krbtgt keys locally', async () => {
    const r = await cli(['keytab', 'export', 'krbtgt', '--out', join(dir, 'k')])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('cannot export the keys of krbtgt')
  })
})

describe('policy', () => {
  const good = `rules:
  - id: payments-reads-orders
    caller: payments
    target: orders
    scopes: [orders:read, orders:list]
    maxLifetime: 15m
`
  it('applies a file, shows it as YAML and as JSON', async () => {
    const file = join(dir, 'policy.yaml')
    await writeFile(file, good)
    const a = await cli(['policy', 'apply', file])
    expect(a).toMatchObject({ code: 0, stdout: 'policy applied: version 2, 1 rule(s)\n' })
    const s = await cli(['policy', 'show'])
    expect(s.stdout).toContain('scopes: [orders:list, orders:read]')
    expect(s.stdout).toContain('maxLifetime: 15m')
    const j = await cli(['policy', 'show', '--json'])
    expect(JSON.parse(j.stdout)).toEqual({
      version: 2,
      rules: [
        {
          id: 'payments-reads-orders',
          caller: 'payments',
          target: 'orders',
          scopes: ['orders:list', 'orders:read'],
          maxLifetime: 900,
        },
      ],
    })
  })

  it('refuses a bad file with its line, exit 2, and sends nothing', async () => {
    const file = join(dir, 'policy.yaml')
    await writeFile(
      file,
      good.replace('[orders:read, orders:list]', '[orders:read, "orders list"]'),
    )
    const r = await cli(['policy', 'apply', file])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      `tessera-admin: error: ${file}:5: rule 'payments-reads-orders': unknown scope syntax "orders list": a scope is 1-64 characters of A-Z a-z 0-9 : . _ / * -, starting with a letter or digit\n` +
        'hint: fix the policy file and run the command again; nothing was sent to the KDC\n',
    )
    expect(realm.audit).toEqual([])
  })

  it('says when the policy file cannot be read', async () => {
    const r = await cli(['policy', 'apply', join(dir, 'missing.yaml')])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('cannot read policy file')
    expect(r.stderr).toContain('ENOENT')
  })

  it('diffs a file against the KDC policy', async () => {
    const file = join(dir, 'policy.yaml')
    await writeFile(file, good)
    const r = await cli(['policy', 'diff', file])
    expect(r.code).toBe(0)
    expect(r.stdout).toBe(
      '~ payments-reads-orders:\n    scopes: [orders:read] -> [orders:list, orders:read]\n' +
        '0 added, 0 removed, 1 changed, 0 unchanged (KDC policy version 1)\n',
    )
    const j = await cli(['policy', 'diff', file, '--json'])
    expect(JSON.parse(j.stdout)).toMatchObject({
      kdcPolicyVersion: 1,
      added: [],
      removed: [],
      changed: [{ id: 'payments-reads-orders', fields: [{ field: 'scopes' }] }],
    })
  })

  it('checks: exit 0 naming the rule when allowed, 3 when denied', async () => {
    const yes = await cli(['policy', 'check', 'payments', 'orders', 'orders:read'])
    expect(yes.code).toBe(0)
    expect(yes.stdout).toBe(
      "allowed: payments -> orders with scopes [orders:read] by rule 'payments-reads-orders' (policy version 1, max lifetime 15m)\n",
    )
    const no = await cli(['policy', 'check', 'orders', 'payments'])
    expect(no.code).toBe(3)
    expect(no.stdout).toBe(
      'denied: no rule allows orders -> payments (policy version 1; default deny)\n',
    )
    const scope = await cli(['policy', 'check', 'payments', 'orders', 'orders:write', '--json'])
    expect(scope.code).toBe(3)
    expect(JSON.parse(scope.stdout)).toMatchObject({
      allowed: false,
      reason: 'SCOPE_NOT_GRANTED',
      ruleIds: ['payments-reads-orders'],
      grantedScopes: ['orders:read'],
    })
  })

  it('checks the reserved targets as the TGS decides them: kadmin needs no rule, krbtgt is never issued', async () => {
    const admin = await cli(['policy', 'check', 'payments', 'kadmin'])
    expect(admin.code).toBe(0)
    expect(admin.stdout).toBe(
      'allowed: payments -> kadmin: no rule needed, the admin ACL decides each operation (policy version 1)\n',
    )
    const tgs = await cli(['policy', 'check', 'payments', 'krbtgt'])
    expect(tgs.code).toBe(3)
    expect(tgs.stdout).toBe(
      'denied: no rule allows payments -> krbtgt (policy version 1; default deny)\n',
    )
  })

  it('check names both principals when one is unknown', async () => {
    const r = await cli(['policy', 'check', 'ghost', 'orders'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("no principal named 'ghost' or 'orders' is registered")
  })
})

describe('status and global behaviour', () => {
  it('prints status', async () => {
    const r = await cli(['status'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^realm:\s+TESSERA\.LOCAL\n/)
    const j = await cli(['status', '--json'])
    expect(JSON.parse(j.stdout)).toMatchObject({
      realm: 'TESSERA.LOCAL',
      node: 'test-node',
      uptimeSeconds: 42,
    })
  })

  it('rejects unknown options and commands with exit 2 and a usage hint', async () => {
    const r = await cli(['principal', 'list', '--bogus'])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      "tessera-admin: error: unknown option '--bogus'\nhint: run `tessera-admin principal list --help` for usage\n",
    )
    const c = await cli(['frobnicate'])
    expect(c.code).toBe(2)
    expect(c.stderr).toMatch(/^tessera-admin: error: unknown command 'frobnicate'/)
  })

  it('exits 0 for --help and --version', async () => {
    const h = await cli(['--help'])
    expect(h.code).toBe(0)
    expect(h.stdout).toContain('Exit codes:')
    const v = await cli(['--version'])
    expect(v.code).toBe(0)
    expect(v.stdout).toMatch(/^\d+\.\d+\.\d+\n$/)
  })
})

describe('policy check: rules that together grant more scopes than a ticket holds', () => {
  it('denies "all scopes" with TOO_MANY_SCOPES and what to do; named scopes are allowed', async () => {
    const many = (p: string): string[] => Array.from({ length: 17 }, (_, i) => `${p}:${String(i)}`)
    await realm.store.setPolicy([
      { id: 'direct', caller: 'payments', target: 'orders', scopes: many('a'), maxLifetime: 0 },
      { id: 'group', caller: 'group:payers', target: 'orders', scopes: many('b'), maxLifetime: 0 },
    ])
    const all = await cli(['policy', 'check', 'payments', 'orders'])
    expect(all.code).toBe(3)
    expect(all.stdout).toContain(
      "denied: payments -> orders matches 'direct', 'group', which together grant more than the 32 scopes a ticket holds; the caller must name the scopes it needs",
    )
    const json = await cli(['policy', 'check', 'payments', 'orders', '--json'])
    expect(JSON.parse(json.stdout)).toMatchObject({ allowed: false, reason: 'TOO_MANY_SCOPES' })
    const named = await cli(['policy', 'check', 'payments', 'orders', 'a:1', 'b:2'])
    expect(named.code).toBe(0)
  })
})

describe('policy check and disabled principals', () => {
  it('notes a disabled target although policy allows the call', async () => {
    await cli(['principal', 'disable', 'orders'])
    const r = await cli(['policy', 'check', 'payments', 'orders'])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('\nnote: orders is disabled: the TGS refuses tickets')
    const j = await cli(['policy', 'check', 'payments', 'orders', '--json'])
    expect(JSON.parse(j.stdout)).toMatchObject({ allowed: true, disabled: ['orders'] })
  })
})
