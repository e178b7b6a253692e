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

/** Write atomically, as `tessera-admin keytab export` does: temp file, then rename. */
async function writeKeytab(path: string, keytab: Keytab): Promise<void> {
  const tmp = `${path}.tmp-${String(Math.random()).slice(2)}`
  await writeFile(tmp, encodeKeytab(keytab), { mode: 0o600 })
  await rename(tmp, path)
}

function until(pred: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (pred()) resolve()
      else if (Date.now() > deadline) reject(new Error('timed out'))
      else setTimeout(tick, 10)
    }
    tick()
  })
}

describe('keytab loading and hot reload', () => {
  it('takes service and realm from the keytab file', async () => {
    const path = join(dir, 'orders.keytab')
    const keytab = makeKeytab([1])
    await writeKeytab(path, keytab)
    const v = await TicketVerifier.fromKeytab({
      keytab: path,
      watch: false,
      clock: new FakeClock(),
    })
    expect([v.service, v.realm, v.kvnos]).toEqual(['orders', 'TESSERA.LOCAL', [1]])
    const m = mintTicket({ serviceKey: keyOf(keytab, 1), kvno: 1 })
    expect(v.verify(authHeader(m), request()).caller).toBe('payments')
    v.close()
  })

  it('refuses a missing or broken file with ERR_CLIENT_KEYTAB', async () => {
    await expect(TicketVerifier.fromKeytab({ keytab: join(dir, 'none') })).rejects.toSatisfy(
      (err) => isBrokerError(err, 'ERR_CLIENT_KEYTAB'),
    )
    const path = join(dir, 'bad.keytab')
    await writeFile(path, 'not a keytab')
    await expect(TicketVerifier.fromKeytab({ keytab: path })).rejects.toSatisfy((err) =>
      isBrokerError(err, 'ERR_CLIENT_KEYTAB'),
    )
  })

  it('picks up a new kvno when the file changes; the file is the whole truth', async () => {
    const path = join(dir, 'orders.keytab')
    const first = makeKeytab([1])
    await writeKeytab(path, first)
    const reloads: number[][] = []
    const v = await TicketVerifier.fromKeytab({
      keytab: path,
      clock: new FakeClock(),
      debounceMs: 20,
      pollIntervalMs: 50,
      onReload: (kvnos) => reloads.push([...kvnos]),
    })
    const newer = makeKeytab([2])
    const m2 = mintTicket({ serviceKey: keyOf(newer, 2), kvno: 2 })
    expect(() => v.verify(authHeader(m2), request())).toThrow(
      expect.objectContaining({ code: 'ERR_AP_BAD_KVNO' }),
    )
    // A rotation as the KDC exports it: the new kvno and the one before it, for tickets in flight.
    await writeKeytab(path, { ...first, keys: [...first.keys, ...newer.keys] })
    await until(() => v.kvnos.includes(2))
    expect(v.kvnos).toEqual([1, 2])
    expect(v.verify(authHeader(m2, { counter: 2 }), request()).caller).toBe('payments')
    const m1 = mintTicket({ serviceKey: keyOf(first, 1), kvno: 1 })
    expect(v.verify(authHeader(m1), request()).caller).toBe('payments')
    expect(reloads.at(-1)).toEqual([1, 2])
    // The next file no longer lists kvno 1: refused at once.
    await writeKeytab(path, { ...newer, keys: [...newer.keys, ...makeKeytab([3]).keys] })
    await until(() => v.kvnos.includes(3))
    expect(v.kvnos).toEqual([2, 3])
    expect(() => v.verify(authHeader(m1, { counter: 2 }), request())).toThrow(
      expect.objectContaining({ code: 'ERR_AP_BAD_KVNO' }),
    )
    v.close()
  })

  it('a second notification for the same bytes does not reload', async () => {
    const path = join(dir, 'orders.keytab')
    const first = makeKeytab([1])
    await writeKeytab(path, first)
    const reloads: number[][] = []
    const v = await TicketVerifier.fromKeytab({
      keytab: path,
      clock: new FakeClock(),
      debounceMs: 10,
      pollIntervalMs: 30,
      onReload: (kvnos) => reloads.push([...kvnos]),
    })
    const newer = { ...first, keys: [...first.keys, ...makeKeytab([2]).keys] }
    await writeKeytab(path, newer)
    await until(() => v.kvnos.includes(2))
    expect(v.kvnos).toEqual([1, 2])
    const count = reloads.length
    // The same bytes again (a watch event plus a stat-poll event, or an operator re-copying the
    // file): nothing to do, and no 'reload' event.
    await writeKeytab(path, newer)
    await new Promise((r) => setTimeout(r, 200))
    expect(v.kvnos).toEqual([1, 2])
    expect(reloads.length).toBe(count)
    const m1 = mintTicket({ serviceKey: keyOf(first, 1), kvno: 1 })
    expect(v.verify(authHeader(m1), request()).caller).toBe('payments')
    v.close()
  })

  it('keeps the old keys and reports the error when the new file is broken', async () => {
    const path = join(dir, 'orders.keytab')
    const keytab = makeKeytab([1])
    await writeKeytab(path, keytab)
    const errors: Error[] = []
    const v = await TicketVerifier.fromKeytab({
      keytab: path,
      clock: new FakeClock(),
      debounceMs: 10,
      pollIntervalMs: 50,
      onError: (err) => errors.push(err),
    })
    const events: Error[] = []
    v.on('error', (err: Error) => events.push(err))
    await writeFile(path, Uint8Array.from([0x95, 1, 2, 3]))
    await until(() => errors.length > 0)
    expect(isBrokerError(errors[0], 'ERR_CLIENT_KEYTAB')).toBe(true)
    expect(events.length).toBeGreaterThan(0)
    expect(v.kvnos).toEqual([1])
    const m = mintTicket({ serviceKey: keyOf(keytab, 1), kvno: 1 })
    expect(v.verify(authHeader(m), request()).caller).toBe('payments')
    // A keytab of another principal is refused the same way.
    await writeKeytab(path, makeKeytab([5], { realm: 'TESSERA.LOCAL', principal: 'billing' }))
    await until(() => errors.some((e) => isBrokerError(e) && e.status === 'OTHER_PRINCIPAL'))
    expect(v.kvnos).toEqual([1])
    // Deleting the file is an error too, not a crash; restoring it recovers.
    await rm(path)
    await v.reloadKeytab()
    expect(v.kvnos).toEqual([1])
    await writeKeytab(path, makeKeytab([1, 9]))
    await until(() => v.kvnos.includes(9))
    v.close()
  })

  it('reloads by stat polling when no watch event arrives', async () => {
    const path = join(dir, 'orders.keytab')
    await writeKeytab(path, makeKeytab([1]))
    const v = await TicketVerifier.fromKeytab({
      keytab: path,
      clock: new FakeClock(),
      debounceMs: 10,
      pollIntervalMs: 30,
    })
    // Simulate a filesystem without events: write in place (same inode), then rely on polling.
    await writeFile(path, encodeKeytab(makeKeytab([1, 4])))
    await until(() => v.kvnos.includes(4))
    v.close()
  })
})
