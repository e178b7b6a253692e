/**
 * Realm creation and opening (issue #3): initRealm lays out a data directory, refuses to overwrite
 * one, and openStore finds the master key in the stash or the environment.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseKeytab, toHex } from '../../../../kdc/protocol/index.js'
import { readStash, stashPath } from '../../../../kdc/store/master-key.js'
import { initRealm, openStore, realmExists } from '../../../../kdc/store/realm.js'
import { FakeClock, expectCode } from './conformance.js'

const root = mkdtempSync(join(tmpdir(), 'tessera-realm-'))
let counter = 0
const freshDir = (): string => join(root, `data${counter++}`)
afterAll(() => {
  rmSync(root, { recursive: true, force: true })
})

const mode = (path: string): number => statSync(path).mode & 0o777

describe('initRealm', () => {
  it('creates the directory, stash, store, bootstrap principals, policy and admin keytab', async () => {
    const dataDir = freshDir()
    expect(realmExists(dataDir)).toBe(false)
    const clock = new FakeClock()
    const result = await initRealm({ dataDir, realm: 'TESSERA.LOCAL', env: {}, clock })
    expect(result).toEqual({
      realm: 'TESSERA.LOCAL',
      dataDir,
      adminKeytabPath: join(dataDir, 'admin.keytab'),
      masterKeySource: 'stash',
    })
    expect(realmExists(dataDir)).toBe(true)
    expect(mode(dataDir)).toBe(0o700)
    expect(mode(join(dataDir, 'db'))).toBe(0o700)
    expect(mode(stashPath(dataDir))).toBe(0o600)
    expect(mode(result.adminKeytabPath)).toBe(0o600)
    expect((await readStash(dataDir)).current.kvno).toBe(1)

    const store = await openStore({ dataDir, env: {} })
    expect(store.realm).toBe('TESSERA.LOCAL')
    expect(store.listPrincipals().map((p) => [p.name, p.groups])).toEqual([
      ['admin', ['admins']],
      ['kadmin', []],
      ['krbtgt', []],
    ])
    expect(store.getPolicy()).toEqual({ version: 1, rules: [] })
    expect(store.lastSerial()).toBe(4)
    const keytab = parseKeytab(new Uint8Array(readFileSync(result.adminKeytabPath)))
    expect(keytab.realm).toBe('TESSERA.LOCAL')
    expect(keytab.principal).toBe('admin')
    expect(keytab.keys).toEqual(store.getPrincipal('admin')?.keys)
    expect(keytab.keys[0]?.createdAt).toBe(clock.now)
    await store.close()
  })

  it('accepts an existing empty directory', async () => {
    const dataDir = freshDir()
    mkdirSync(dataDir, { mode: 0o700 })
    await initRealm({ dataDir, realm: 'EMPTY.DIR', env: {} })
    expect(realmExists(dataDir)).toBe(true)
  })

  it('refuses to overwrite an existing realm, saying what to do', async () => {
    const dataDir = freshDir()
    await initRealm({ dataDir, realm: 'TESSERA.LOCAL', env: {} })
    const keytabBefore = readFileSync(join(dataDir, 'admin.keytab'))
    const err = await expectCode(
      initRealm({ dataDir, realm: 'OTHER.REALM', env: {} }),
      'ERR_ADMIN_EXISTS',
      'REALM_EXISTS',
    )
    expect(err.message).toBe(
      `a realm already exists in ${dataDir}; use \`tessera-kdc start --data ${dataDir}\`, or choose an empty directory`,
    )
    expect(readFileSync(join(dataDir, 'admin.keytab'))).toEqual(keytabBefore)
  })

  it('refuses an invalid realm name as caller misuse (TypeError)', async () => {
    await expect(initRealm({ dataDir: freshDir(), realm: 'lower.case', env: {} })).rejects.toThrow(
      TypeError,
    )
  })

  it('uses TESSERA_MASTER_KEY instead of writing a stash', async () => {
    const dataDir = freshDir()
    const env = { TESSERA_MASTER_KEY: toHex(new Uint8Array(32).fill(0x5a)) }
    const result = await initRealm({ dataDir, realm: 'ENV.REALM', env })
    expect(result.masterKeySource).toBe('env')
    expect(existsSync(stashPath(dataDir))).toBe(false)
    const store = await openStore({ dataDir, env })
    expect(store.principalCount()).toBe(3)
    await store.close()
    // Without the variable there is no key at all; with another key, the records do not open.
    await expectCode(openStore({ dataDir, env: {} }), 'ERR_KDC_INTERNAL', 'MASTER_KEY_MISSING')
    await expectCode(
      openStore({ dataDir, env: { TESSERA_MASTER_KEY: '00'.repeat(32) } }),
      'ERR_KDC_INTERNAL',
      'MASTER_KEY_MISMATCH',
    )
  })
})

describe('openStore', () => {
  it('refuses a second KDC on the same directory with ERR_KDC_UNAVAILABLE', async () => {
    const dataDir = freshDir()
    await initRealm({ dataDir, realm: 'TESSERA.LOCAL', env: {} })
    const first = await openStore({ dataDir, env: {} })
    const err = await expectCode(
      openStore({ dataDir, env: {} }),
      'ERR_KDC_UNAVAILABLE',
      'DB_LOCKED',
    )
    expect(err.message).toContain(dataDir)
    await first.close()
  })

  it('refuses a directory without a realm', async () => {
    const env = { TESSERA_MASTER_KEY: '11'.repeat(32) }
    await expectCode(openStore({ dataDir: freshDir(), env }), 'ERR_KDC_UNAVAILABLE', 'NO_REALM')
  })
})
