/**
 * A keytab reload that replaces the key of a kvno (the principal re-created, a key re-issued under
 * the same version) must also stop the tickets the old key opened: the verified-ticket cache must
 * not keep answering for a key the verifier no longer holds.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { encodeKeytab, isBrokerError, type Keytab } from '../../../kdc/protocol/index.js'
import { TicketVerifier } from '../../../service-sdk/index.js'
import { authHeader, FakeClock, keyOf, makeKeytab, mintTicket, request } from './fixtures.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-keytab-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function writeKeytab(path: string, keytab: Keytab): Promise<void> {
  const tmp = `${path}.tmp-${String(Math.random()).slice(2)}`
  await writeFile(tmp, encodeKeytab(keytab), { mode: 0o600 })
  await rename(tmp, path)
}

function codeOf(fn: () => unknown): string {
  try {
    fn()
    return 'no error'
  } catch (err) {
    return isBrokerError(err) ? err.code : 'not a BrokerError'
  }
}

describe('keytab reload that replaces the key of a kvno', () => {
  it('refuses tickets sealed under the replaced key, even when they were cached', async () => {
    const path = join(dir, 'orders.keytab')
    const before = makeKeytab([1])
    await writeKeytab(path, before)
    const v = await TicketVerifier.fromKeytab({ keytab: path, clock: new FakeClock() })
    try {
      const old = mintTicket({ serviceKey: keyOf(before, 1), kvno: 1 })
      expect(codeOf(() => v.verify(authHeader(old, { counter: 1 }), request()))).toBe('no error')

      const after = makeKeytab([1]) // same kvno, a different key
      await writeKeytab(path, after)
      await v.reloadKeytab()
      expect(v.kvnos).toEqual([1])

      expect(codeOf(() => v.verify(authHeader(old, { counter: 2 }), request()))).toBe(
        'ERR_AP_BAD_INTEGRITY',
      )
      expect(codeOf(() => v.precheck(authHeader(old, { counter: 3 })))).toBe('ERR_AP_BAD_INTEGRITY')
      const fresh = mintTicket({ serviceKey: keyOf(after, 1), kvno: 1 })
      expect(codeOf(() => v.verify(authHeader(fresh, { counter: 1 }), request()))).toBe('no error')
    } finally {
      v.close()
    }
  })
})
