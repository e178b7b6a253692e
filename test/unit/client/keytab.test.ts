import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readKeytabFile } from '../../../client/keytab.js'
import { encodeKeytab, isBrokerError, MAX_KEYTAB_FILE_BYTES } from '../../../kdc/protocol/index.js'
import { makeKeytab } from '../service-sdk/fixtures.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-client-keytab-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function statusOf(path: string): Promise<string> {
  try {
    await readKeytabFile(path)
    return 'ok'
  } catch (err) {
    return isBrokerError(err, 'ERR_CLIENT_KEYTAB') ? (err.status ?? '') : String(err)
  }
}

describe('client readKeytabFile: what it refuses before reading', () => {
  it('reads a keytab', async () => {
    const path = join(dir, 'payments.keytab')
    await writeFile(path, encodeKeytab(makeKeytab([1, 2])), { mode: 0o600 })
    const keytab = await readKeytabFile(path)
    expect(keytab.keys.map((k) => k.kvno)).toEqual([1, 2])
  })

  it('refuses a FIFO at once instead of blocking on it (NOT_A_FILE)', async () => {
    const path = join(dir, 'fifo')
    execFileSync('mkfifo', [path])
    expect(await statusOf(path)).toBe('NOT_A_FILE')
  })

  it('refuses a directory (NOT_A_FILE) and a missing file (READ)', async () => {
    await mkdir(join(dir, 'd'))
    expect(await statusOf(join(dir, 'd'))).toBe('NOT_A_FILE')
    expect(await statusOf(join(dir, 'missing'))).toBe('READ')
  })

  it('refuses a file over the limit without reading it (SIZE), and one exactly at it is parsed', async () => {
    const big = join(dir, 'big')
    await writeFile(big, encodeKeytab(makeKeytab([1])))
    await truncate(big, 64 << 20) // sparse
    expect(await statusOf(big)).toBe('SIZE')
    const edge = join(dir, 'edge')
    await writeFile(edge, Buffer.alloc(MAX_KEYTAB_FILE_BYTES))
    expect(await statusOf(edge)).not.toBe('SIZE') // read whole, refused by the parser instead
  })
})
