/**
 * A keytab its group or other users can read is a key they hold: both SDKs warn, once per file, with
 * the fix (docs/protocol.md §8.2). They warn rather than refuse, since container secret volumes are
 * often mounted 0644.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { encodeKeytab, generateKey, keytabModeProblem } from '../../kdc/protocol/index.js'
import { readKeytabFile } from '../../client/keytab.js'
import { TicketVerifier } from '../../service-sdk/index.js'

let dir!: string
let seen: Error[] = []
const onWarning = (w: Error): void => {
  seen.push(w)
}

async function keytabFile(name: string, mode: number): Promise<string> {
  const path = join(dir, `${name}.keytab`)
  const keys = [{ kvno: 1, key: generateKey(), createdAt: 1_767_225_600 }]
  await writeFile(path, encodeKeytab({ realm: 'TESSERA.LOCAL', principal: 'orders', keys }))
  await chmod(path, mode)
  return path
}

/** Warnings are delivered on a later tick. */
async function warnings(): Promise<{ code: unknown; message: string }[]> {
  await new Promise((resolve) => setImmediate(resolve))
  return seen
    .filter((w) => (w as { code?: unknown }).code === 'TESSERA_KEYTAB_MODE')
    .map((w) => ({ code: (w as { code?: unknown }).code, message: w.message }))
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-keytab-mode-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})
beforeEach(() => {
  seen = []
  process.on('warning', onWarning)
})
afterEach(() => {
  process.off('warning', onWarning)
})

describe('keytabModeProblem', () => {
  it('accepts owner-only modes', () => {
    expect(keytabModeProblem('/k', 0o100600)).toBeUndefined()
    expect(keytabModeProblem('/k', 0o100400)).toBeUndefined()
    expect(keytabModeProblem('/k', 0o100700)).toBeUndefined()
  })

  it('names the mode and the fix for any group or other access', () => {
    for (const mode of [0o640, 0o644, 0o604, 0o660, 0o602, 0o100666]) {
      const problem = keytabModeProblem('/etc/tessera/orders.keytab', mode)
      expect(problem).toContain('/etc/tessera/orders.keytab')
      expect(problem).toContain(`mode 0${(mode & 0o777).toString(8)}`)
      expect(problem).toContain('chmod 600')
    }
  })
})

describe.skipIf(process.platform === 'win32')('reading a keytab', () => {
  it('the client SDK warns once per file about a group- or world-readable keytab', async () => {
    const path = await keytabFile('client-0644', 0o644)
    await readKeytabFile(path)
    await readKeytabFile(path) // a re-read at the next login does not warn again
    const got = await warnings()
    expect(got).toHaveLength(1)
    expect(got[0]?.message).toContain(`the keytab ${path} has mode 0644`)
  })

  it('the client SDK says nothing about a 0600 or 0400 keytab', async () => {
    await readKeytabFile(await keytabFile('client-0600', 0o600))
    await readKeytabFile(await keytabFile('client-0400', 0o400))
    expect(await warnings()).toEqual([])
  })

  it('the service SDK warns about a group-readable keytab and still verifies with it', async () => {
    const path = await keytabFile('service-0640', 0o640)
    const verifier = await TicketVerifier.fromKeytab({ keytab: path })
    try {
      expect(verifier.kvnos).toEqual([1])
      const got = await warnings()
      expect(got).toHaveLength(1)
      expect(got[0]?.message).toContain('mode 0640')
      expect(got[0]?.message).not.toMatch(/[0-9a-f]{64}/) // never key bytes
    } finally {
      verifier.close()
    }
  })

  it('the service SDK says nothing about a 0600 keytab', async () => {
    const verifier = await TicketVerifier.fromKeytab({ keytab: await keytabFile('s-0600', 0o600) })
    verifier.close()
    expect(await warnings()).toEqual([])
  })
})
