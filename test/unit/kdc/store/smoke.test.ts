import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { it, expect } from 'vitest'
import { initRealm, openStore } from '../../../../kdc/store/realm.js'

it('smoke', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'tessera-')), 'data')
  await initRealm({ dataDir: dir, realm: 'TESSERA.LOCAL', env: {} })
  const s = await openStore({ dataDir: dir, env: {} })
  expect(s.listPrincipals().map((p) => p.name)).toEqual(['admin', 'kadmin', 'krbtgt'])
  expect(s.lastSerial()).toBe(4)
  expect(s.getPolicy()).toEqual({ version: 1, rules: [] })
  const log = await s.readLog(0, 10)
  expect(log.map((e) => e.serial)).toEqual([1, 2, 3, 4])
  await s.close()
})
