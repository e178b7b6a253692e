import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { afterAll } from 'vitest'
import { dbPath, openLevelStore } from '../../../../kdc/store/level-store.js'
import { REALM, runConformance } from './conformance.js'

const root = mkdtempSync(join(tmpdir(), 'tessera-level-'))
let counter = 0
let dataDir = ''
afterAll(() => {
  rmSync(root, { recursive: true, force: true })
})

runConformance('level-store', {
  create: ({ clock, masterKeys }) => {
    dataDir = join(root, `d${counter++}`)
    return openLevelStore({ dataDir, clock, masterKeys, createRealm: REALM })
  },
  reopen: ({ clock, masterKeys }) => openLevelStore({ dataDir, clock, masterKeys }),
  writeRaw: async (key, value) => {
    const db = new Level<string, Uint8Array>(dbPath(dataDir), {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
    })
    await db.put(key, value)
    await db.close()
  },
})
