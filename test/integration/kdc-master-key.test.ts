/**
 * Master-key roll (design brief §3, docs/operations.md): `tessera-kdc roll-master-key` re-seals every
 * stored key under a new master kvno; the KDC then starts and serves the same principals. Refused,
 * with a hint, while a KDC holds the store.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decode } from '../../kdc/protocol/index.js'
import {
  KdcWire,
  kdcMainPath,
  login,
  startKdcRealm,
  type KdcRealm,
} from '../helpers/kdc-harness.js'

let realm: KdcRealm

beforeAll(async () => {
  realm = await startKdcRealm({ principals: [{ name: 'payments' }] })
})
afterAll(async () => {
  await realm.cleanup()
})

function roll(): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    [kdcMainPath(), 'roll-master-key', '--data', realm.dataDir],
    {
      encoding: 'utf8',
      timeout: 20_000,
    },
  )
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function stashVersions(): number[] {
  const stash = decode(readFileSync(join(realm.dataDir, 'master.key'))) as unknown[]
  return (stash[2] as [number, Uint8Array][]).map(([kvno]) => kvno)
}

describe('tessera-kdc roll-master-key', () => {
  it('is refused while the KDC runs, and says to stop it', () => {
    const r = roll()
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/another KDC process holds/)
    expect(r.stderr).toMatch(/hint: stop the KDC/)
    expect(stashVersions()).toEqual([1])
  })

  it('re-seals every key; the restarted KDC logs the same principals in', async () => {
    expect(await realm.stop()).toBe(0)
    const r = roll()
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/master key rolled to version 2/)
    expect(r.status).toBe(0)
    expect(stashVersions()).toEqual([2]) // version 1 retired: nothing is sealed under it any more
    await realm.restart()
    const wire = await KdcWire.connect(realm.url)
    try {
      const creds = await login(wire, {
        realm: realm.realm,
        client: 'payments',
        key: realm.key('payments'),
      })
      expect(creds.tgt.service).toBe('krbtgt')
    } finally {
      wire.close()
    }
  })
})
