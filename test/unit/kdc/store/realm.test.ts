/**
 * Realm creation and opening (issue #3): initRealm lays out a data directory, refuses to overwrite
 * one, and openStore finds the master key in the stash or the environment.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseKeytab, toHex } from '../../../../kdc/protocol/index.js'
import { readStash, stashPath } from '../../../../kdc/store/master-key.js'
import { INIT_MARKER_FILE, initRealm, openStore, realmExists } from '../../../../kdc/store/realm.js'
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

  it('is all or nothing: a failure part-way leaves no realm, and a retry creates it', async () => {
    const dataDir = freshDir()
    mkdirSync(join(dataDir, 'admin.keytab', 'in-the-way'), { recursive: true })
    await expect(initRealm({ dataDir, realm: 'TESSERA.LOCAL', env: {} })).rejects.toMatchObject({
      code: 'EISDIR', // the admin keytab cannot be renamed over a directory
    })
    expect(realmExists(dataDir)).toBe(false)
    expect(readdirSync(dataDir)).toEqual(['admin.keytab']) // no stash, db/ or marker left
    rmSync(join(dataDir, 'admin.keytab'), { recursive: true })
    await initRealm({ dataDir, realm: 'TESSERA.LOCAL', env: {} })
    expect(realmExists(dataDir)).toBe(true)
    expect(existsSync(join(dataDir, INIT_MARKER_FILE))).toBe(false)
    await (await openStore({ dataDir, env: {} })).close()
  })

  it('a realm whose init was cut short (marker left) is not a realm: start refuses, init redoes it', async () => {
    const dataDir = freshDir()
    await initRealm({ dataDir, realm: 'TESSERA.LOCAL', env: {} })
    const firstStash = readFileSync(stashPath(dataDir))
    writeFileSync(join(dataDir, INIT_MARKER_FILE), '', { mode: 0o600 }) // as after a crash
    expect(realmExists(dataDir)).toBe(false)
    await expectCode(openStore({ dataDir, env: {} }), 'ERR_KDC_UNAVAILABLE', 'REALM_UNFINISHED')
    await initRealm({ dataDir, realm: 'OTHER.REALM', env: {} })
    expect(readFileSync(stashPath(dataDir))).not.toEqual(firstStash)
    const store = await openStore({ dataDir, env: {} })
    expect(store.realm).toBe('OTHER.REALM')
    expect(store.lastSerial()).toBe(4)
    await store.close()
  })

  it('tightens an existing data directory of ours to 0700', async () => {
    const dataDir = freshDir()
    mkdirSync(dataDir)
    chmodSync(dataDir, 0o775)
    await initRealm({ dataDir, realm: 'TESSERA.LOCAL', env: {} })
    expect(mode(dataDir)).toBe(0o700)
  })

  it('refuses a data directory that is a file', async () => {
    const dataDir = freshDir()
    writeFileSync(dataDir, '')
    await expectCode(
      initRealm({ dataDir, realm: 'TESSERA.LOCAL', env: {} }),
      'ERR_KDC_INTERNAL',
      'DATA_DIR_NOT_DIRECTORY',
    )
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
