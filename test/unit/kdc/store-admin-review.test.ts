/**
 * Security and reliability review of the KDC store (kdc/store/) and the admin side (kdc/server/admin*.ts,
 * kdc/admin/). Tests named "found in review: …" assert the CORRECT behaviour and fail today; the
 * comment above each says what happens today. The other tests probe attacks that turned out to be
 * handled. Real LevelDB directories under os.tmpdir(), removed afterwards.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { afterAll, describe, expect, it } from 'vitest'
import {
  decode,
  encode,
  isBrokerError,
  toHex,
  type WireValue,
} from '../../../kdc/protocol/index.js'
import { runCli } from '../../../kdc/admin/cli.js'
import { parsePolicyFile, PolicyFileError } from '../../../kdc/admin/policy-file.js'
import { policyToYaml } from '../../../kdc/admin/policy-view.js'
import { executeAdminOp } from '../../../kdc/server/admin.js'
import type { AdminDeps } from '../../../kdc/server/admin-types.js'
import { writeSecretFile } from '../../../kdc/store/keytab-file.js'
import { dbPath, openLevelStore } from '../../../kdc/store/level-store.js'
import type { LoggedStore } from '../../../kdc/store/logged-store.js'
import {
  generateMasterKeyring,
  readStash,
  rollMasterKey,
  stashPath,
  type MasterKeyring,
} from '../../../kdc/store/master-key.js'
import { initRealm, openStore, realmExists } from '../../../kdc/store/realm.js'
import {
  decodeKeyRecord,
  decodeLogEntry,
  encodeKeyRecord,
  encodeMeta,
  decodeMeta,
  parseStoreKey,
} from '../../../kdc/store/records.js'
import { FakeClock, expectCode } from './store/conformance.js'

const root = mkdtempSync(join(tmpdir(), 'tessera-review-'))
let counter = 0
const freshDir = (): string => join(root, `d${counter++}`)
afterAll(() => {
  rmSync(root, { recursive: true, force: true })
})
const mode = (path: string): number => statSync(path).mode & 0o777
const REALM = 'REVIEW.TEST'

/** Raw access to a (closed) store's LevelDB, behind the store's back. */
async function withRaw<T>(
  dataDir: string,
  fn: (db: Level<string, Uint8Array>) => Promise<T>,
): Promise<T> {
  const db = new Level<string, Uint8Array>(dbPath(dataDir), {
    keyEncoding: 'utf8',
    valueEncoding: 'view',
  })
  await db.open()
  try {
    return await fn(db)
  } finally {
    await db.close()
  }
}

async function newLevelStore(
  masterKeys: MasterKeyring,
  clock = new FakeClock(),
): Promise<{ dataDir: string; store: LoggedStore }> {
  const dataDir = freshDir()
  const store = await openLevelStore({ dataDir, masterKeys, clock, createRealm: REALM })
  return { dataDir, store }
}

function adminDepsFor(store: LoggedStore, audit: Record<string, unknown>[] = []): AdminDeps {
  return {
    store,
    clock: { nowSeconds: () => 1_700_000_000 },
    audit: (e) => audit.push(e),
    status: () => ({
      realm: store.realm,
      version: 'test',
      role: 'writer',
      principals: store.principalCount(),
      policyVersion: store.getPolicy().version,
      uptimeSeconds: 0,
      node: 'n',
    }),
  }
}

/** Run an admin request as `caller`, re-reading the caller from the store as the exchange does. */
function adminAs(deps: AdminDeps, caller: string, request: WireValue): Promise<WireValue> {
  const entry = deps.store.getPrincipal(caller)
  if (entry === undefined) throw new Error(`no principal ${caller}`)
  return executeAdminOp(deps, entry, decode(encode(request)))
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'OK'
  } catch (err) {
    return isBrokerError(err) ? err.code : `THROWN ${String(err)}`
  }
}

// ------------------------------------------------------------------------------------------------
describe('store: key records at rest (AAD binding) on LevelDB', () => {
  it('a sealed key record copied to another principal, kvno, master kvno or realm does not open', async () => {
    const ring = generateMasterKeyring().withNewVersion() // master kvnos 1 and 2, current 2
    const { dataDir, store } = await newLevelStore(ring)
    await store.addPrincipal({ name: 'orders' })
    await store.addPrincipal({ name: 'payments' })
    await store.rotateKey('orders')
    await store.close()
    const original = await withRaw(dataDir, async (db) => ({
      orders1: (await db.get('k/orders/0000000001')).slice(),
      orders2: (await db.get('k/orders/0000000002')).slice(),
      payments1: (await db.get('k/payments/0000000001')).slice(),
      meta: (await db.get('meta')).slice(),
    }))
    const reopenFails = async (): Promise<void> => {
      await expectCode(
        openLevelStore({ dataDir, masterKeys: ring }),
        'ERR_KDC_INTERNAL',
        'MASTER_KEY_MISMATCH',
      )
    }
    // orders' kvno 1 pasted over payments' kvno 1 (another principal, same kvno)
    await withRaw(dataDir, (db) => db.put('k/payments/0000000001', original.orders1))
    await reopenFails()
    await withRaw(dataDir, (db) => db.put('k/payments/0000000001', original.payments1))
    // orders' kvno 1 pasted over orders' kvno 2 (same principal, another kvno)
    await withRaw(dataDir, (db) => db.put('k/orders/0000000002', original.orders1))
    await reopenFails()
    await withRaw(dataDir, (db) => db.put('k/orders/0000000002', original.orders2))
    // the record relabelled as sealed under master kvno 1 (a version the ring holds)
    const rec = decodeKeyRecord('k/orders/0000000001', original.orders1)
    expect(rec.masterKvno).toBe(2)
    await withRaw(dataDir, (db) =>
      db.put(
        'k/orders/0000000001',
        encodeKeyRecord('k/orders/0000000001', { ...rec, masterKvno: 1 }),
      ),
    )
    await reopenFails()
    await withRaw(dataDir, (db) => db.put('k/orders/0000000001', original.orders1))
    // the whole database moved to another realm
    const meta = decodeMeta(original.meta)
    await withRaw(dataDir, (db) => db.put('meta', encodeMeta({ ...meta, realm: 'OTHER.REALM' })))
    await reopenFails()
    await withRaw(dataDir, (db) => db.put('meta', original.meta))
    const back = await openLevelStore({ dataDir, masterKeys: ring })
    expect(back.getPrincipal('orders')?.keys.map((k) => k.kvno)).toEqual([1, 2])
    await back.close()
  })

  it('the LevelDB directory is 0700 and holds no key in the clear', async () => {
    const ring = generateMasterKeyring()
    const { dataDir, store } = await newLevelStore(ring)
    const key = new Uint8Array(32).fill(0x5a)
    await store.addPrincipal({ name: 'orders', key })
    await store.close()
    expect(mode(dbPath(dataDir))).toBe(0o700)
    const needle = Buffer.from(key)
    for (const f of readdirSync(dbPath(dataDir))) {
      const bytes = readFileSync(join(dbPath(dataDir), f))
      expect(bytes.includes(needle)).toBe(false)
      expect(bytes.includes(Buffer.from(ring.current.key))).toBe(false)
    }
  })
})

// ------------------------------------------------------------------------------------------------
describe('master-key roll', () => {
  // Today: resealKeys re-seals the k/ records, but every earlier update-log entry (l/…) still
  // holds the same long-term keys sealed under master kvno 1, and the log is never trimmed. Anyone
  // holding the old master key (e.g. an old backup of master.key, the reason to roll) plus a copy of
  // today's db/ recovers every key that was not rotated since, including krbtgt's.
  it('found in review: after a master-key roll nothing in the store is still sealed under the old master key', async () => {
    const dataDir = freshDir()
    await initRealm({ dataDir, realm: REALM, env: {} })
    const store = await openStore({ dataDir, env: {} })
    expect(await rollMasterKey({ dataDir, store, env: {} })).toBe(2)
    await store.close()
    const sealedUnderOld: string[] = []
    await withRaw(dataDir, async (db) => {
      for await (const [key, value] of db.iterator()) {
        const parsed = parseStoreKey(key)
        if (parsed?.kind === 'key') {
          if (decodeKeyRecord(key, value).masterKvno === 1) sealedUnderOld.push(key)
        } else if (parsed?.kind === 'log') {
          for (const op of decodeLogEntry(key, value).ops) {
            if (op.kind !== 'put' || parseStoreKey(op.key)?.kind !== 'key') continue
            if (decodeKeyRecord(op.key, op.value).masterKvno === 1) {
              sealedUnderOld.push(`${key} → ${op.key}`)
            }
          }
        }
      }
    })
    expect(sealedUnderOld).toEqual([])
  })

  // Today: the stash holds at most 16 versions and rollMasterKey never drops one, so the 16th
  // roll throws a bare RangeError from the MasterKeyring constructor ("a master keyring holds
  // 1..16 versions"), with no MASTER_KEY_* status and no hint; the realm can never roll again.
  it('found in review: the 16th master-key roll fails with a bare RangeError instead of a typed error (or succeeding)', async () => {
    const dataDir = freshDir()
    await initRealm({ dataDir, realm: REALM, env: {} })
    const store = await openStore({ dataDir, env: {} })
    try {
      for (let i = 2; i <= 16; i++) expect(await rollMasterKey({ dataDir, store, env: {} })).toBe(i)
      const outcome = await rollMasterKey({ dataDir, store, env: {} }).then(
        () => 'rolled',
        (err: unknown) => err,
      )
      if (outcome !== 'rolled') {
        expect(isBrokerError(outcome, 'ERR_KDC_INTERNAL'), String(outcome)).toBe(true)
      }
      // Whatever happened, the stash is intact and still opens the store.
      const ring = await readStash(dataDir)
      expect(ring.current.kvno).toBeGreaterThanOrEqual(16)
    } finally {
      await store.close()
    }
    await (await openStore({ dataDir, env: {} })).close()
  }, 30_000)

  it('an interrupted roll (stash written, store not re-sealed) loses nothing', async () => {
    const dataDir = freshDir()
    await initRealm({ dataDir, realm: REALM, env: {} })
    const before = await openStore({ dataDir, env: {} })
    const principals = before.listPrincipals()
    // Crash right after the new stash is durable: the re-seal never runs.
    const crashing = { resealKeys: (): Promise<number> => Promise.reject(new Error('crash')) }
    await expect(rollMasterKey({ dataDir, store: crashing, env: {} })).rejects.toThrow('crash')
    await before.close()
    expect((await readStash(dataDir)).versions().map((v) => v.kvno)).toEqual([1, 2])
    const after = await openStore({ dataDir, env: {} })
    expect(after.listPrincipals()).toEqual(principals)
    // …and a second roll completes the job.
    expect(await rollMasterKey({ dataDir, store: after, env: {} })).toBe(3)
    await after.close()
    const again = await openStore({ dataDir, env: {} })
    expect(again.listPrincipals()).toEqual(principals)
    await again.close()
  })
})

// ------------------------------------------------------------------------------------------------
describe('realm bootstrap and secret files', () => {
  // Today: initRealm writes the stash, then commits krbtgt, kadmin, admin and the policy as four
  // separate batches, and only then writes admin.keytab. If anything fails in between (here the
  // keytab write; equally a crash or a full disk), the directory already "holds a realm": a retry
  // is refused with ERR_ADMIN_EXISTS / REALM_EXISTS, and the only admin's key was never written
  // anywhere, so the realm can never be administered.
  it('found in review: an initRealm that fails part-way can be retried (no half-created realm without an admin keytab)', async () => {
    const dataDir = freshDir()
    mkdirSync(join(dataDir, 'admin.keytab', 'obstacle'), { recursive: true, mode: 0o700 })
    chmodSync(dataDir, 0o700)
    await expect(initRealm({ dataDir, realm: REALM, env: {} })).rejects.toMatchObject({
      code: 'EISDIR',
    })
    rmSync(join(dataDir, 'admin.keytab'), { recursive: true, force: true })
    const retry = await initRealm({ dataDir, realm: REALM, env: {} }).then(
      () => 'ok',
      (err: unknown) => (isBrokerError(err) ? `${err.code}/${err.status ?? ''}` : String(err)),
    )
    expect(retry).toBe('ok')
    expect(existsSync(join(dataDir, 'admin.keytab'))).toBe(true)
  })

  // Today: initRealm only chmods a directory it creates; an existing data directory that group or
  // others can write (here 0777) is used as is, so another local user can delete or replace
  // master.key, admin.keytab or db/ (e.g. swap the admin keytab before the operator picks it up).
  it('found in review: initRealm refuses (or tightens) an existing data directory that others can write', async () => {
    const dataDir = freshDir()
    mkdirSync(dataDir)
    chmodSync(dataDir, 0o777)
    const outcome = await initRealm({ dataDir, realm: REALM, env: {} }).then(
      () => 'created',
      () => 'refused',
    )
    if (outcome === 'created') expect(mode(dataDir) & 0o022).toBe(0)
    else expect(realmExists(dataDir)).toBe(false)
  })

  it('writeSecretFile replaces a planted symlink instead of writing through it', async () => {
    const dir = freshDir()
    mkdirSync(dir, { mode: 0o700 })
    const victim = join(dir, 'victim')
    writeFileSync(victim, 'untouched', { mode: 0o644 })
    const target = join(dir, 'admin.keytab')
    symlinkSync(victim, target)
    await writeSecretFile(target, new Uint8Array([1, 2, 3]))
    expect(readFileSync(victim, 'utf8')).toBe('untouched')
    expect(mode(victim)).toBe(0o644)
    expect(statSync(target).isSymbolicLink()).toBe(false)
    expect([...readFileSync(target)]).toEqual([1, 2, 3])
    expect(mode(target)).toBe(0o600)
  })

  it('readStash refuses a stash that group or others can read', async () => {
    const dataDir = freshDir()
    await initRealm({ dataDir, realm: REALM, env: {} })
    chmodSync(stashPath(dataDir), 0o640)
    await expectCode(openStore({ dataDir, env: {} }), 'ERR_KDC_INTERNAL', 'MASTER_KEY_STASH_MODE')
    chmodSync(stashPath(dataDir), 0o600)
    await (await openStore({ dataDir, env: {} })).close()
  })
})

// ------------------------------------------------------------------------------------------------
describe('admin operations over a LevelDB store', () => {
  async function adminRealm(): Promise<{
    store: LoggedStore
    deps: AdminDeps
    audit: Record<string, unknown>[]
  }> {
    const { store } = await newLevelStore(generateMasterKeyring())
    for (const name of ['krbtgt', 'kadmin']) await store.addPrincipal({ name })
    await store.addPrincipal({ name: 'alice', groups: ['admins'] })
    await store.addPrincipal({ name: 'bob', groups: ['admins'] })
    await store.addPrincipal({ name: 'reader', groups: ['admin-readers'] })
    await store.addPrincipal({ name: 'orders' })
    const audit: Record<string, unknown>[] = []
    return { store, deps: adminDepsFor(store, audit), audit }
  }

  // Today: the ACL (caller enabled and in `admins`) and the "not yourself" rule are checked when
  // the request arrives, against the view; the mutation runs later from the store's queue. Two
  // admins that disable (or delete) each other at the same moment both pass the checks, and both
  // writes commit: the realm is left with no enabled admin, recoverable only offline. The same gap
  // lets a request of an admin who is being disabled commit after the disable.
  it('found in review: two admins disabling each other concurrently cannot leave the realm without an enabled admin', async () => {
    const { store, deps } = await adminRealm()
    try {
      const results = await Promise.all([
        codeOf(adminAs(deps, 'alice', ['principal.disable', ['bob']])),
        codeOf(adminAs(deps, 'bob', ['principal.disable', ['alice']])),
      ])
      const enabledAdmins = store
        .listPrincipals({ group: 'admins' })
        .filter((p) => p.enabled)
        .map((p) => p.name)
      expect({ results, enabledAdmins: enabledAdmins.length > 0 }).toMatchObject({
        enabledAdmins: true,
      })
    } finally {
      await store.close()
    }
  })

  it('refuses to disable, enable, delete or export krbtgt and kadmin, or rotate them with keys', async () => {
    const { store, deps } = await adminRealm()
    try {
      for (const name of ['krbtgt', 'kadmin']) {
        for (const op of [
          'principal.disable',
          'principal.enable',
          'principal.delete',
          'keytab.export',
        ]) {
          expect(await codeOf(adminAs(deps, 'alice', [op, [name]]))).toBe('ERR_ADMIN_INVALID')
        }
        expect(await codeOf(adminAs(deps, 'alice', ['key.rotate', [name, 1, 0]]))).toBe(
          'ERR_ADMIN_INVALID',
        )
        expect(await codeOf(adminAs(deps, 'alice', ['principal.add', [name, []]]))).toBe(
          'ERR_ADMIN_INVALID',
        )
        expect(store.getPrincipal(name)?.enabled).toBe(true)
      }
      // rotating without handing out keys is allowed and keeps the key inside the KDC
      const reply = (await adminAs(deps, 'alice', ['key.rotate', ['krbtgt', 0, 0]])) as WireValue[]
      expect(
        JSON.stringify(reply, (_k, v: unknown) => (v instanceof Uint8Array ? 'BYTES' : v)),
      ).not.toContain('BYTES')
      expect(store.getPrincipal('krbtgt')?.keys.map((k) => k.kvno)).toEqual([1, 2])
    } finally {
      await store.close()
    }
  })

  it('refuses self-disable and self-delete, out-of-range keep, bad names and group lists', async () => {
    const { store, deps } = await adminRealm()
    try {
      expect(await codeOf(adminAs(deps, 'alice', ['principal.disable', ['alice']]))).toBe(
        'ERR_ADMIN_INVALID',
      )
      expect(await codeOf(adminAs(deps, 'alice', ['principal.delete', ['alice']]))).toBe(
        'ERR_ADMIN_INVALID',
      )
      expect(await codeOf(adminAs(deps, 'alice', ['key.rotate', ['orders', 0, 17]]))).toBe(
        'ERR_PROTO_MALFORMED',
      )
      expect(await codeOf(adminAs(deps, 'alice', ['key.rotate', ['orders', 2, 0]]))).toBe(
        'ERR_PROTO_MALFORMED',
      )
      expect(await codeOf(adminAs(deps, 'alice', ['principal.add', ['Bad/Name', []]]))).toBe(
        'ERR_ADMIN_INVALID',
      )
      expect(await codeOf(adminAs(deps, 'alice', ['principal.add', ['x'.repeat(64), []]]))).toBe(
        'ERR_ADMIN_INVALID',
      )
      expect(await codeOf(adminAs(deps, 'alice', ['principal.add', ['x1', ['b', 'a']]]))).toBe(
        'ERR_PROTO_MALFORMED',
      )
      const tooMany = Array.from({ length: 33 }, (_, i) => `g${String(i).padStart(2, '0')}`)
      expect(await codeOf(adminAs(deps, 'alice', ['principal.add', ['x1', tooMany]]))).toBe(
        'ERR_PROTO_MALFORMED',
      )
      expect(store.getPrincipal('x1')).toBeUndefined()
      // an admin-reader cannot export keys; a disabled admin can do nothing
      expect(await codeOf(adminAs(deps, 'reader', ['keytab.export', ['orders']]))).toBe(
        'ERR_ADMIN_FORBIDDEN',
      )
      await adminAs(deps, 'alice', ['principal.disable', ['bob']])
      expect(await codeOf(adminAs(deps, 'bob', ['status', []]))).toBe('ERR_ADMIN_FORBIDDEN')
    } finally {
      await store.close()
    }
  })

  it('audit records carry no key bytes, also for failing key operations', async () => {
    const { store, deps, audit } = await adminRealm()
    try {
      await adminAs(deps, 'alice', ['principal.add', ['billing', []]])
      await adminAs(deps, 'alice', ['keytab.export', ['billing']])
      await adminAs(deps, 'alice', ['key.rotate', ['billing', 1, 1]])
      await codeOf(adminAs(deps, 'alice', ['keytab.export', ['krbtgt']]))
      const hexes = ['billing', 'krbtgt', 'kadmin'].flatMap(
        (n) => store.getPrincipal(n)?.keys.map((k) => toHex(k.key)) ?? [],
      )
      const text = JSON.stringify(audit, (_k, v: unknown) =>
        v instanceof Uint8Array ? toHex(v) : v,
      )
      for (const h of hexes) expect(text).not.toContain(h)
      expect(audit).toHaveLength(4)
    } finally {
      await store.close()
    }
  })
})

// ------------------------------------------------------------------------------------------------
describe('tessera-admin: keytab files and output', () => {
  async function cliRealm(): Promise<{
    store: LoggedStore
    run: (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>
  }> {
    const { store } = await newLevelStore(generateMasterKeyring())
    for (const name of ['krbtgt', 'kadmin']) await store.addPrincipal({ name })
    await store.addPrincipal({ name: 'admin', groups: ['admins'] })
    const deps = adminDepsFor(store)
    const run = async (
      args: string[],
    ): Promise<{ code: number; stdout: string; stderr: string }> => {
      let stdout = ''
      let stderr = ''
      const code = await runCli(args, {
        io: { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), env: {} },
        connect: () =>
          Promise.resolve({
            principal: 'admin',
            call: (request: WireValue) => adminAs(deps, 'admin', request),
            close: () => Promise.resolve(),
          }),
      })
      return { code, stdout, stderr }
    }
    return { store, run }
  }

  // Today: `--out` may name a file in a directory group or others can write (here 0777, not
  // sticky); the keytab is written there. Its 0600 mode keeps it from being read, but any local
  // user can replace it with a keytab of a key they know before the service loads it, and then
  // mint tickets that service accepts. checkWritable already inspects the directory first.
  it('found in review: principal add refuses to write a keytab into a directory others can write', async () => {
    const { store, run } = await cliRealm()
    try {
      const shared = freshDir()
      mkdirSync(shared)
      chmodSync(shared, 0o777)
      const out = join(shared, 'billing.keytab')
      const r = await run(['principal', 'add', 'billing', '--out', out])
      expect(r.code).not.toBe(0)
      expect(existsSync(out)).toBe(false)
      expect(store.getPrincipal('billing')).toBeUndefined() // refused before anything was created
    } finally {
      await store.close()
    }
  })

  it('principal add, keytab export and key rotate --json never print key bytes; keytabs are 0600', async () => {
    const { store, run } = await cliRealm()
    try {
      const dir = freshDir()
      const out = join(dir, 'sub', 'billing.keytab')
      const results = [
        await run(['--json', 'principal', 'add', 'billing', '--out', out]),
        await run(['--json', 'keytab', 'export', 'billing', '--out', out]),
        await run(['--json', 'key', 'rotate', 'billing', '--keep', '2', '--out', out]),
        await run(['--json', 'keytab', 'export', 'krbtgt', '--out', join(dir, 'tgs.keytab')]),
      ]
      expect(results.map((r) => r.code)).toEqual([0, 0, 0, 2])
      expect(mode(out)).toBe(0o600)
      expect(mode(join(dir, 'sub'))).toBe(0o700)
      expect(existsSync(join(dir, 'tgs.keytab'))).toBe(false)
      const secrets = ['billing', 'krbtgt', 'admin'].flatMap(
        (n) => store.getPrincipal(n)?.keys.map((k) => k.key) ?? [],
      )
      const text = results.map((r) => r.stdout + r.stderr).join('\n')
      for (const k of secrets) {
        expect(text).not.toContain(toHex(k))
        expect(text).not.toContain(Buffer.from(k).toString('base64'))
      }
      expect(readdirSync(join(dir, 'sub'))).toEqual(['billing.keytab']) // no temp files left
    } finally {
      await store.close()
    }
  })
})

// ------------------------------------------------------------------------------------------------
describe('policy files (YAML)', () => {
  const ruleYaml = (fields: string): string =>
    `rules:\n  - id: r1\n    caller: payments\n    target: orders\n${fields}`

  // Today: scalarText() turns any safe-integer YAML scalar into its decimal text, so unquoted
  // values that YAML 1.2 resolves as numbers are silently rewritten: `id: 0x1F` becomes rule id
  // "31", `scopes: [0x10, 007, 1e3, 2.0]` grants scopes "16", "7", "1000" and "2". The operator
  // wrote one thing and the KDC enforces another; a string field should refuse a non-string scalar
  // (or keep the source text).
  it('found in review: a policy file does not silently rewrite unquoted numeric ids and scopes', () => {
    let rules
    try {
      rules = parsePolicyFile(
        'rules:\n  - id: 0x1F\n    caller: payments\n    target: orders\n    scopes: [0x10, 007, 1e3, 2.0]\n',
        'p.yaml',
      )
    } catch (err) {
      expect(err).toBeInstanceOf(PolicyFileError) // refusing is correct
      return
    }
    expect(rules[0]?.id).toBe('0x1F')
    expect(rules[0]?.scopes).toEqual(['007', '0x10', '1e3', '2.0'])
  })

  it('refuses aliases, merge keys, duplicate keys, multiple documents, tags and non-text scalars', () => {
    const refused = [
      'base: &b {caller: payments, target: orders}\nrules:\n  - id: r1\n    <<: *b\n    scopes: []\n',
      'rules:\n  - id: r1\n    caller: &c payments\n    target: orders\n    scopes: []\n  - id: r2\n    caller: *c\n    target: orders\n    scopes: []\n',
      'rules:\n  - id: r1\n    caller: payments\n    target: orders\n    scopes: &s [a:read]\n  - id: r2\n    caller: payments\n    target: x\n    scopes: *s\n',
      ruleYaml('    scopes: []\n    "caller": admin\n'),
      ruleYaml('    scopes: []\n    id: r2\n'),
      'rules: []\n---\nrules: []\n',
      ruleYaml('    scopes: [true]\n'),
      ruleYaml('    scopes: [null]\n'),
      ruleYaml('    scopes: [!!binary aGVsbG8=]\n'),
      ruleYaml('    scopes: [orders: read]\n'),
      ruleYaml('    scopes: orders:read\n'),
      ruleYaml('    scopes: []\n    maxLifetime: -5\n'),
      ruleYaml('    scopes: []\n    maxLifetime: 1e9\n'),
      'rules: ' + '['.repeat(5000) + ']'.repeat(5000) + '\n',
    ]
    for (const text of refused) {
      expect(() => parsePolicyFile(text, 'p.yaml'), text.slice(0, 80)).toThrow(PolicyFileError)
    }
  })

  it('an alias bomb is not expanded (refused quickly)', () => {
    let bomb = 'a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n'
    let prev = 'a'
    for (let i = 0; i < 12; i++) {
      const n = `b${i}`
      bomb += `${n}: &${n} [${Array.from({ length: 9 }, () => `*${prev}`).join(', ')}]\n`
      prev = n
    }
    const started = Date.now()
    expect(() =>
      parsePolicyFile(
        `${bomb}rules:\n  - id: r1\n    caller: payments\n    target: orders\n    scopes: *${prev}\n`,
        'p.yaml',
      ),
    ).toThrow(PolicyFileError)
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('policy show output reads back unchanged, including ids and scopes that look like numbers', () => {
    const policy = {
      version: 3,
      rules: [
        {
          id: '007',
          caller: 'payments',
          target: 'orders',
          scopes: ['0x10', '1e3', '2024'],
          maxLifetime: 5400,
        },
        { id: 'r:2', caller: 'group:payers', target: 'orders', scopes: [], maxLifetime: 0 },
      ],
    }
    expect(parsePolicyFile(policyToYaml(policy), 'show.yaml')).toEqual(policy.rules)
  })
})
