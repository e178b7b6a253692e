/**
 * The master key sources (design brief §3): the 0600 stash, TESSERA_MASTER_KEY, and rolling.
 */
import {
  chmodSync,
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
import { encode, toHex } from '../../../../kdc/protocol/index.js'
import { writeSecretFile } from '../../../../kdc/store/keytab-file.js'
import {
  MasterKeyring,
  encodeStash,
  generateMasterKeyring,
  loadMasterKeys,
  masterKeyFromHex,
  readStash,
  rollMasterKey,
  stashPath,
  writeStash,
} from '../../../../kdc/store/master-key.js'
import { initRealm, openStore } from '../../../../kdc/store/realm.js'
import { expectCode } from './conformance.js'

const root = mkdtempSync(join(tmpdir(), 'tessera-mk-'))
let counter = 0
const freshDir = (): string => mkdtempSync(join(root, `d${counter++}-`))
afterAll(() => {
  rmSync(root, { recursive: true, force: true })
})

const mode = (path: string): number => statSync(path).mode & 0o777

describe('master key stash', () => {
  it('is written atomically with mode 0600 and reads back the same versions', async () => {
    const dir = freshDir()
    const ring = generateMasterKeyring().withNewVersion()
    await writeStash(dir, ring)
    expect(mode(stashPath(dir))).toBe(0o600)
    expect(readdirSync(dir)).toEqual(['master.key']) // no temp file left behind
    const back = await readStash(dir)
    expect(back.versions()).toEqual(ring.versions())
    expect(back.current.kvno).toBe(2)
    expect(back.source).toEqual({ kind: 'stash', path: stashPath(dir) })
  })

  it('refuses a stash group or others can reach, and says to chmod 600', async () => {
    const dir = freshDir()
    await writeStash(dir, generateMasterKeyring())
    for (const bad of [0o644, 0o640, 0o604, 0o660]) {
      chmodSync(stashPath(dir), bad)
      const err = await expectCode(readStash(dir), 'ERR_KDC_INTERNAL', 'MASTER_KEY_STASH_MODE')
      expect(err.message).toContain(`chmod 600 ${stashPath(dir)}`)
    }
    chmodSync(stashPath(dir), 0o400)
    await readStash(dir)
  })

  it('refuses a missing or malformed stash with a clear code', async () => {
    const dir = freshDir()
    await expectCode(readStash(dir), 'ERR_KDC_INTERNAL', 'MASTER_KEY_MISSING')
    for (const bytes of [
      new Uint8Array([0xc1]),
      encode(['other-magic', 1, [[1, new Uint8Array(32)]]]),
      encode(['tessera-master-key', 2, [[1, new Uint8Array(32)]]]),
      encode(['tessera-master-key', 1, []]),
      encode(['tessera-master-key', 1, [[1, new Uint8Array(31)]]]),
      encode([
        'tessera-master-key',
        1,
        [
          [2, new Uint8Array(32)],
          [1, new Uint8Array(32)],
        ],
      ]),
    ]) {
      writeFileSync(stashPath(dir), bytes, { mode: 0o600 })
      await expectCode(readStash(dir), 'ERR_KDC_INTERNAL', 'MASTER_KEY_STASH_INVALID')
    }
  })

  it('writeSecretFile replaces a world-readable file with a 0600 one', async () => {
    const dir = freshDir()
    const path = join(dir, 'secret')
    writeFileSync(path, 'old', { mode: 0o644 })
    await writeSecretFile(path, new Uint8Array([1, 2, 3]))
    expect(mode(path)).toBe(0o600)
    expect([...readFileSync(path)]).toEqual([1, 2, 3])
    expect(readdirSync(dir)).toEqual(['secret'])
  })
})

describe('TESSERA_MASTER_KEY', () => {
  it('gives master kvno 1 from 64 hex chars', async () => {
    const key = new Uint8Array(32).map((_, i) => i)
    const ring = await loadMasterKeys({
      dataDir: freshDir(),
      env: { TESSERA_MASTER_KEY: toHex(key) },
    })
    expect(ring.current).toEqual({ kvno: 1, key })
    expect(ring.source).toEqual({ kind: 'env' })
  })

  it('refuses anything but 64 hex chars', async () => {
    for (const bad of ['abc', 'zz'.repeat(32), '00'.repeat(33)]) {
      await expectCode(() => masterKeyFromHex(bad), 'ERR_KDC_INTERNAL', 'MASTER_KEY_ENV')
    }
  })

  it('refuses to choose when both the variable and a stash exist', async () => {
    const dir = freshDir()
    await writeStash(dir, generateMasterKeyring())
    await expectCode(
      loadMasterKeys({ dataDir: dir, env: { TESSERA_MASTER_KEY: '11'.repeat(32) } }),
      'ERR_KDC_INTERNAL',
      'MASTER_KEY_AMBIGUOUS',
    )
  })

  it('an empty variable counts as unset', async () => {
    const dir = freshDir()
    await writeStash(dir, generateMasterKeyring())
    const ring = await loadMasterKeys({ dataDir: dir, env: { TESSERA_MASTER_KEY: '' } })
    expect(ring.source.kind).toBe('stash')
  })
})

describe('rollMasterKey', () => {
  it('adds a master kvno to the stash, re-seals every key, and keys stay readable', async () => {
    const dataDir = join(freshDir(), 'data')
    await initRealm({ dataDir, realm: 'TESSERA.LOCAL', env: {} })
    const store = await openStore({ dataDir, env: {} })
    const before = store.listPrincipals()
    const serial = store.lastSerial()
    expect(await rollMasterKey({ dataDir, store, env: {} })).toBe(2)
    expect(store.masterKvno()).toBe(2)
    expect(store.lastSerial()).toBe(serial + 1)
    expect(store.listPrincipals()).toEqual(before)
    await store.close()

    // Nothing is sealed under version 1 any more, so the stash no longer holds it.
    const stash = await readStash(dataDir)
    expect(stash.versions().map((v) => v.kvno)).toEqual([2])
    expect(mode(stashPath(dataDir))).toBe(0o600)
    const again = await openStore({ dataDir, env: {} })
    expect(again.listPrincipals()).toEqual(before)
    expect(again.masterKvno()).toBe(2)
    await again.close()
  })

  it('a full stash (16 versions, e.g. from interrupted rolls) is emptied first, then rolls', async () => {
    const dataDir = join(freshDir(), 'data')
    await initRealm({ dataDir, realm: 'TESSERA.LOCAL', env: {} })
    let full = await readStash(dataDir)
    while (full.versions().length < 16) full = full.withNewVersion()
    await writeStash(dataDir, full)
    const store = await openStore({ dataDir, env: {} })
    const before = store.listPrincipals()
    expect(await rollMasterKey({ dataDir, store, env: {} })).toBe(17)
    expect(store.listPrincipals()).toEqual(before)
    await store.close()
    expect((await readStash(dataDir)).versions().map((v) => v.kvno)).toEqual([17])
    const again = await openStore({ dataDir, env: {} })
    expect(again.listPrincipals()).toEqual(before)
    expect((await again.readLog(0, 10)).map((e) => e.serial)).toEqual([again.lastSerial()])
    await again.close()
  })

  it('refuses when the master key comes from TESSERA_MASTER_KEY', async () => {
    const store = { resealKeys: (): Promise<number> => Promise.resolve(0) }
    await expectCode(
      rollMasterKey({ dataDir: freshDir(), store, env: { TESSERA_MASTER_KEY: '22'.repeat(32) } }),
      'ERR_KDC_INTERNAL',
      'MASTER_KEY_ENV',
    )
  })

  it('keyrings copy their input and refuse bad versions (caller misuse: RangeError)', () => {
    const key = new Uint8Array(32).fill(3)
    const ring = new MasterKeyring([{ kvno: 1, key }])
    key.fill(0)
    expect(ring.current.key).toEqual(new Uint8Array(32).fill(3))
    expect(() => new MasterKeyring([])).toThrow(RangeError)
    expect(() => new MasterKeyring([{ kvno: 0, key }])).toThrow(RangeError)
    expect(() => new MasterKeyring([{ kvno: 1, key: new Uint8Array(16) }])).toThrow(RangeError)
    expect(encodeStash(ring)).toBeInstanceOf(Uint8Array)
  })
})
