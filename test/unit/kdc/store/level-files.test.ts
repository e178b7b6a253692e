/**
 * LevelDB-specific guarantees: key material never reaches the database files in the clear, and a
 * second opener of a locked database gets ERR_KDC_UNAVAILABLE (design brief §3; house style B4).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { generateKey } from '../../../../kdc/protocol/index.js'
import { dbPath, openLevelStore } from '../../../../kdc/store/level-store.js'
import { generateMasterKeyring } from '../../../../kdc/store/master-key.js'
import { REALM, expectCode } from './conformance.js'

const root = mkdtempSync(join(tmpdir(), 'tessera-level-files-'))
afterAll(() => {
  rmSync(root, { recursive: true, force: true })
})

function allBytes(dir: string): Buffer {
  return Buffer.concat(readdirSync(dir).map((f) => readFileSync(join(dir, f))))
}

describe('level-store files', () => {
  it('never stores a long-term key or the master key in the clear', async () => {
    const dataDir = join(root, 'sealed')
    const masterKeys = generateMasterKeyring()
    const store = await openLevelStore({ dataDir, masterKeys, createRealm: REALM })
    const keys = [generateKey(), generateKey(), generateKey()]
    const p = await store.addPrincipal({ name: 'orders', key: keys[0]! })
    await store.rotateKey('orders', { key: keys[1]! })
    await store.addPrincipal({ name: 'payments', key: keys[2]! })
    // Positive control: the scan sees record contents (the principal id is stored in clear). Taken
    // before the roll compacts the files: table blocks are Snappy-compressed, and a hex id can then
    // be split by a back-reference to an earlier 4-byte match (random key bytes practically never).
    expect(allBytes(dbPath(dataDir)).includes(Buffer.from(p.id))).toBe(true)
    await store.resealKeys(masterKeys.withNewVersion())
    await store.close()

    const files = allBytes(dbPath(dataDir))
    for (const key of keys) {
      expect(files.includes(Buffer.from(key))).toBe(false)
      expect(files.includes(Buffer.from(key.subarray(0, 8)))).toBe(false)
    }
    expect(files.includes(Buffer.from(masterKeys.current.key))).toBe(false)
  })

  it('after a master-key roll, no value sealed under the old version is left in the files', async () => {
    const dataDir = join(root, 'rolled')
    const masterKeys = generateMasterKeyring()
    const store = await openLevelStore({ dataDir, masterKeys, createRealm: REALM })
    await store.addPrincipal({ name: 'orders' })
    await store.rotateKey('orders')
    await store.addPrincipal({ name: 'payments' })
    await store.deletePrincipal('payments')
    const oldSealed = (await store.readLog(0, 100))
      .flatMap((e) => e.ops)
      .flatMap((op) => (op.kind === 'put' && op.key.startsWith('k/') ? [op.value] : []))
    expect(oldSealed).toHaveLength(3)
    expect(allBytes(dbPath(dataDir)).includes(Buffer.from(oldSealed[0]!))).toBe(true) // control
    await store.resealKeys(masterKeys.withNewVersion())
    expect((await store.readLog(0, 100)).map((e) => e.serial)).toEqual([5])
    await store.close()
    const files = allBytes(dbPath(dataDir))
    for (const value of oldSealed) expect(files.includes(Buffer.from(value))).toBe(false)
  })

  it('a second opener of the same directory gets ERR_KDC_UNAVAILABLE naming it', async () => {
    const dataDir = join(root, 'locked')
    const masterKeys = generateMasterKeyring()
    const first = await openLevelStore({ dataDir, masterKeys, createRealm: REALM })
    const err = await expectCode(
      openLevelStore({ dataDir, masterKeys }),
      'ERR_KDC_UNAVAILABLE',
      'DB_LOCKED',
    )
    expect(err.message).toContain(`another KDC process holds ${dataDir}`)
    expect(err.message).toContain('stop it')
    await first.close()
    // Once released, it opens.
    await (await openLevelStore({ dataDir, masterKeys })).close()
  })

  it('opening a directory with no database is ERR_KDC_UNAVAILABLE NO_REALM', async () => {
    const err = await expectCode(
      openLevelStore({ dataDir: join(root, 'nothing'), masterKeys: generateMasterKeyring() }),
      'ERR_KDC_UNAVAILABLE',
      'NO_REALM',
    )
    expect(err.message).toContain('tessera-kdc init')
  })

  it('creating over an existing realm is ERR_ADMIN_EXISTS', async () => {
    const dataDir = join(root, 'twice')
    const masterKeys = generateMasterKeyring()
    await (await openLevelStore({ dataDir, masterKeys, createRealm: REALM })).close()
    await expectCode(
      openLevelStore({ dataDir, masterKeys, createRealm: REALM }),
      'ERR_ADMIN_EXISTS',
      'REALM_EXISTS',
    )
  })
})
