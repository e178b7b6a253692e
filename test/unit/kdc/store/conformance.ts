/**
 * One conformance suite for every KdcStore implementation (house style B7, after abstract-level's
 * test/index.js): memory-store.test.ts and level-store.test.ts run it against their backend.
 * Every failure assertion checks the error code (and the status tag where it tells cases apart).
 */
import { describe, expect, it } from 'vitest'
import {
  isBrokerError,
  type Clock,
  type ErrorCode,
  type PolicyRule,
} from '../../../../kdc/protocol/index.js'
import type { LoggedStore } from '../../../../kdc/store/logged-store.js'
import {
  MasterKeyring,
  generateMasterKeyring,
  type MasterKey,
} from '../../../../kdc/store/master-key.js'
import type {
  MutationOptions,
  PrincipalEntry,
  UpdateLogEntry,
} from '../../../../kdc/store/store.js'

export const REALM = 'TEST.REALM'

/** How the suite creates, reopens and tampers with one implementation's stores. */
export interface StoreHarness {
  /** A fresh, empty store for realm REALM; remembered as "the last store" for reopen/writeRaw. */
  create(options: { clock: Clock; masterKeys: MasterKeyring }): Promise<LoggedStore>
  /** Open the last created store again (it must be closed first). */
  reopen(options: { clock: Clock; masterKeys: MasterKeyring }): Promise<LoggedStore>
  /** Write raw bytes under `key` into the last store (closed) behind the store's back. */
  writeRaw(key: string, value: Uint8Array): Promise<void>
}

/** A clock the test moves by hand (house style C6: time is always injected). */
export class FakeClock implements Clock {
  now: number
  constructor(now = 1_700_000_000) {
    this.now = now
  }
  nowSeconds(): number {
    return this.now
  }
}

/** Await `promise` and return the BrokerError it rejects with, asserting code (and status). */
export async function expectCode(
  promise: Promise<unknown> | (() => unknown),
  code: ErrorCode,
  status?: string,
): Promise<Error> {
  let error: unknown
  try {
    await (typeof promise === 'function' ? promise() : promise)
  } catch (err) {
    error = err
  }
  expect(error, `expected ${code}`).toBeDefined()
  if (!isBrokerError(error, code)) {
    throw new Error(`expected ${code}, got ${String(error)}`, { cause: error })
  }
  if (status !== undefined) expect(error.status).toBe(status)
  return error
}

const key32 = (fill: number): Uint8Array => new Uint8Array(32).fill(fill)

function rule(id: string, caller: string, target: string, scopes: string[]): PolicyRule {
  return { id, caller, target, scopes, maxLifetime: 0 }
}

/** Everything observable about a store, for before/after comparisons. */
async function snapshot(store: LoggedStore): Promise<{
  principals: readonly PrincipalEntry[]
  policy: unknown
  serial: number
  epoch: number
  log: readonly UpdateLogEntry[]
}> {
  return {
    principals: store.listPrincipals(),
    policy: store.getPolicy(),
    serial: store.lastSerial(),
    epoch: store.epoch(),
    log: await store.readLog(0, 1000),
  }
}

export function runConformance(name: string, harness: StoreHarness): void {
  const setup = async (): Promise<{
    store: LoggedStore
    clock: FakeClock
    masterKeys: MasterKeyring
  }> => {
    const clock = new FakeClock()
    const masterKeys = generateMasterKeyring()
    return { store: await harness.create({ clock, masterKeys }), clock, masterKeys }
  }

  describe(`${name}: KdcStore conformance`, () => {
    it('starts empty: realm, no principals, policy version 0, serial 0, epoch 1', async () => {
      const { store } = await setup()
      expect(store.realm).toBe(REALM)
      expect(store.principalCount()).toBe(0)
      expect(store.listPrincipals()).toEqual([])
      expect(store.getPolicy()).toEqual({ version: 0, rules: [] })
      expect(store.lastSerial()).toBe(0)
      expect(store.epoch()).toBe(1)
      expect(await store.readLog(0, 10)).toEqual([])
      await store.close()
    })

    it('adds a principal with an id, canonical groups and key version 1', async () => {
      const { store, clock } = await setup()
      const p = await store.addPrincipal({ name: 'orders', groups: ['web', 'api', 'web'] })
      expect(p.name).toBe('orders')
      expect(p.id).toMatch(/^[0-9a-f]{32}$/)
      expect(p.enabled).toBe(true)
      expect(p.groups).toEqual(['api', 'web'])
      expect(p.keys).toHaveLength(1)
      expect(p.keys[0]?.kvno).toBe(1)
      expect(p.keys[0]?.key).toHaveLength(32)
      expect(p.keys[0]?.createdAt).toBe(clock.now)
      expect(p.createdAt).toBe(clock.now)
      expect(p.updatedAt).toBe(clock.now)
      expect(store.getPrincipal('orders')).toBe(p)
      expect(store.getPrincipal('nobody')).toBeUndefined()
      expect(store.lastSerial()).toBe(1)
      const other = await store.addPrincipal({ name: 'payments', enabled: false })
      expect(other.enabled).toBe(false)
      expect(other.id).not.toBe(p.id)
      await store.close()
    })

    it('copies a given key: changing the caller buffer later changes nothing', async () => {
      const { store } = await setup()
      const key = key32(7)
      await store.addPrincipal({ name: 'orders', key })
      key.fill(0)
      expect(store.getPrincipal('orders')?.keys[0]?.key).toEqual(key32(7))
      await store.close()
    })

    it('refuses bad input with ERR_ADMIN_* and consumes no serial', async () => {
      const { store } = await setup()
      await store.addPrincipal({ name: 'orders' })
      await expectCode(store.addPrincipal({ name: 'orders' }), 'ERR_ADMIN_EXISTS')
      await expectCode(store.addPrincipal({ name: 'Bad Name' }), 'ERR_ADMIN_INVALID', 'BAD_NAME')
      await expectCode(
        store.addPrincipal({ name: 'short', key: new Uint8Array(31) }),
        'ERR_ADMIN_INVALID',
        'BAD_KEY',
      )
      await expectCode(
        store.addPrincipal({ name: 'grp', groups: ['NOT OK'] }),
        'ERR_ADMIN_INVALID',
        'BAD_GROUPS',
      )
      await expectCode(store.setEnabled('nobody', false), 'ERR_ADMIN_NOT_FOUND')
      await expectCode(store.setGroups('nobody', []), 'ERR_ADMIN_NOT_FOUND')
      await expectCode(store.rotateKey('nobody'), 'ERR_ADMIN_NOT_FOUND')
      await expectCode(store.deletePrincipal('nobody'), 'ERR_ADMIN_NOT_FOUND')
      expect(store.lastSerial()).toBe(1)
      expect((await store.readLog(0, 10)).map((e) => e.serial)).toEqual([1])
      await store.close()
    })

    it('enables, disables and regroups, moving updatedAt only', async () => {
      const { store, clock } = await setup()
      const created = await store.addPrincipal({ name: 'orders', groups: ['a'] })
      clock.now += 10
      const disabled = await store.setEnabled('orders', false)
      expect(disabled.enabled).toBe(false)
      expect(disabled.updatedAt).toBe(clock.now)
      expect(disabled.createdAt).toBe(created.createdAt)
      expect(disabled.id).toBe(created.id)
      const regrouped = await store.setGroups('orders', ['z', 'b', 'b'])
      expect(regrouped.groups).toEqual(['b', 'z'])
      expect(regrouped.enabled).toBe(false)
      expect((await store.setEnabled('orders', true)).enabled).toBe(true)
      expect(regrouped.keys).toEqual(created.keys)
      await store.close()
    })

    it('rotates keys: kvno + 1, keeps the newest `keep` versions (default 3)', async () => {
      const { store, clock } = await setup()
      const first = await store.addPrincipal({ name: 'orders' })
      clock.now += 5
      const second = await store.rotateKey('orders', { key: key32(2) })
      expect(second.keys.map((k) => k.kvno)).toEqual([1, 2])
      expect(second.keys[0]?.key).toEqual(first.keys[0]?.key)
      expect(second.keys[1]?.key).toEqual(key32(2))
      expect(second.keys[1]?.createdAt).toBe(clock.now)
      await store.rotateKey('orders')
      const fourth = await store.rotateKey('orders')
      expect(fourth.keys.map((k) => k.kvno)).toEqual([2, 3, 4])
      const only = await store.rotateKey('orders', { keep: 1 })
      expect(only.keys.map((k) => k.kvno)).toEqual([5])
      await expectCode(store.rotateKey('orders', { keep: 0 }), 'ERR_ADMIN_INVALID', 'BAD_KEEP')
      await expectCode(store.rotateKey('orders', { keep: 17 }), 'ERR_ADMIN_INVALID', 'BAD_KEEP')
      await store.close()
    })

    it('deletes a principal and its keys; reserved names cannot be deleted', async () => {
      const { store } = await setup()
      const first = await store.addPrincipal({ name: 'orders' })
      await store.rotateKey('orders')
      await store.addPrincipal({ name: 'krbtgt' })
      await store.deletePrincipal('orders')
      expect(store.getPrincipal('orders')).toBeUndefined()
      expect(store.principalCount()).toBe(1)
      const again = await store.addPrincipal({ name: 'orders' })
      expect(again.id).not.toBe(first.id)
      expect(again.keys.map((k) => k.kvno)).toEqual([1])
      await expectCode(store.deletePrincipal('krbtgt'), 'ERR_ADMIN_INVALID', 'RESERVED')
      await store.close()
    })

    it('lists principals sorted by name, optionally by group', async () => {
      const { store } = await setup()
      await store.addPrincipal({ name: 'zeta', groups: ['admins'] })
      await store.addPrincipal({ name: 'alpha' })
      await store.addPrincipal({ name: 'mid', groups: ['admins', 'ops'] })
      expect(store.listPrincipals().map((p) => p.name)).toEqual(['alpha', 'mid', 'zeta'])
      expect(store.listPrincipals({ group: 'admins' }).map((p) => p.name)).toEqual(['mid', 'zeta'])
      expect(store.listPrincipals({ group: 'none' })).toEqual([])
      expect(store.principalCount()).toBe(3)
      await store.close()
    })

    it('replaces the policy with version + 1 and canonical scopes; refuses a bad one', async () => {
      const { store } = await setup()
      const v1 = await store.setPolicy([])
      expect(v1).toEqual({ version: 1, rules: [] })
      const v2 = await store.setPolicy([rule('r1', 'payments', 'orders', ['w', 'r', 'r'])])
      expect(v2.version).toBe(2)
      expect(v2.rules[0]?.scopes).toEqual(['r', 'w'])
      expect(store.getPolicy()).toEqual(v2)
      await expectCode(
        store.setPolicy([rule('dup', 'a', 'b', []), rule('dup', 'c', 'd', [])]),
        'ERR_ADMIN_INVALID',
        'BAD_POLICY',
      )
      await expectCode(
        store.setPolicy([rule('r1', 'NOT VALID', 'orders', [])]),
        'ERR_ADMIN_INVALID',
        'BAD_POLICY',
      )
      expect(store.getPolicy()).toEqual(v2)
      expect(store.lastSerial()).toBe(2)
      await store.close()
    })

    it('gives concurrent mutations gap-free serials, one log entry each', async () => {
      const { store } = await setup()
      const names = Array.from({ length: 20 }, (_, i) => `svc${i}`)
      const results = await Promise.allSettled([
        ...names.map((n) => store.addPrincipal({ name: n })),
        store.addPrincipal({ name: 'svc0' }), // queued after the first svc0: fails, exists
        store.setPolicy([]),
      ])
      expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1)
      expect(store.lastSerial()).toBe(21)
      const log = await store.readLog(0, 100)
      expect(log.map((e) => e.serial)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1))
      for (const entry of log) {
        expect(entry.epoch).toBe(1)
        expect(entry.ops.length).toBeGreaterThan(0)
      }
      // An add writes the principal record and its first key record, nothing else.
      expect(log[0]?.ops.map((o) => o.key)).toEqual(['p/svc0', 'k/svc0/0000000001'])
      expect(log[20]?.ops.map((o) => `${o.kind} ${o.key}`)).toEqual(['put policy'])
      // Paging.
      expect((await store.readLog(5, 3)).map((e) => e.serial)).toEqual([6, 7, 8])
      expect(await store.readLog(21, 10)).toEqual([])
      await store.close()
    })

    it('logs a deletion as deletes of the principal and every key record', async () => {
      const { store } = await setup()
      await store.addPrincipal({ name: 'orders' })
      await store.rotateKey('orders')
      await store.deletePrincipal('orders')
      const [entry] = await store.readLog(2, 1)
      expect(entry?.ops).toEqual([
        { kind: 'del', key: 'p/orders' },
        { kind: 'del', key: 'k/orders/0000000001' },
        { kind: 'del', key: 'k/orders/0000000002' },
      ])
      await store.close()
    })

    it('persists everything across close and reopen', async () => {
      const { store, clock, masterKeys } = await setup()
      await store.addPrincipal({ name: 'orders', groups: ['api'] })
      await store.addPrincipal({ name: 'payments', enabled: false })
      await store.rotateKey('orders')
      await store.setPolicy([rule('r1', 'payments', 'orders', ['read'])])
      await store.setEpoch(3)
      const before = await snapshot(store)
      await store.close()
      const again = await harness.reopen({ clock, masterKeys })
      expect(await snapshot(again)).toEqual(before)
      expect(again.epoch()).toBe(3)
      // And it keeps counting from where it stopped.
      await again.addPrincipal({ name: 'later' })
      expect(again.lastSerial()).toBe(before.serial + 1)
      expect((await again.readLog(before.serial, 10))[0]?.epoch).toBe(3)
      await again.close()
    })

    it('runs a precondition inside the queue, against the view the write applies to', async () => {
      const { store } = await setup()
      await store.addPrincipal({ name: 'orders' })
      const seen: boolean[] = []
      const refuseIfDisabled: MutationOptions = {
        precondition: (view) => {
          const enabled = view.getPrincipal('orders')?.enabled ?? false
          seen.push(enabled)
          if (!enabled) throw new Error('orders is disabled')
        },
      }
      // Queued after the disable: the precondition sees it, although it was called before.
      const disabling = store.setEnabled('orders', false)
      const adding = store.addPrincipal({ name: 'late' }, refuseIfDisabled)
      await disabling
      await expect(adding).rejects.toThrow('orders is disabled')
      expect(seen).toEqual([false])
      expect(store.getPrincipal('late')).toBeUndefined()
      expect(store.lastSerial()).toBe(2)
      await store.setEnabled('orders', true)
      await store.rotateKey('orders', { keep: 1, ...refuseIfDisabled })
      expect(store.getPrincipal('orders')?.keys.map((k) => k.kvno)).toEqual([2])
      await store.close()
    })

    it('refuses mutations after close with ERR_KDC_UNAVAILABLE', async () => {
      const { store } = await setup()
      await store.close()
      await expectCode(store.addPrincipal({ name: 'late' }), 'ERR_KDC_UNAVAILABLE', 'STORE_CLOSED')
    })

    it('applyLogEntry on a second store reproduces the first exactly', async () => {
      const { store: writer, clock, masterKeys } = await setup()
      await writer.addPrincipal({ name: 'krbtgt' })
      await writer.addPrincipal({ name: 'orders', groups: ['api'] })
      await writer.addPrincipal({ name: 'payments' })
      await writer.rotateKey('orders')
      await writer.setEnabled('payments', false)
      await writer.setGroups('orders', ['api', 'web'])
      await writer.setPolicy([rule('r1', 'payments', 'orders', ['read'])])
      await writer.deletePrincipal('payments')
      const log = await writer.readLog(0, 100)
      const expected = await snapshot(writer)
      await writer.close()

      const replica = await harness.create({ clock, masterKeys })
      await expectCode(replica.applyLogEntry(log[1]!), 'ERR_ADMIN_INVALID', 'LOG_GAP')
      for (const entry of log) await replica.applyLogEntry(entry)
      expect(await snapshot(replica)).toEqual(expected)
      await expectCode(replica.applyLogEntry(log[0]!), 'ERR_ADMIN_INVALID', 'LOG_ALREADY_APPLIED')
      await replica.close()
    })

    it('applyLogEntry refuses an older epoch and adopts a newer one', async () => {
      const { store, clock } = await setup()
      await store.setEpoch(2)
      const entry = { serial: 1, epoch: 1, time: clock.now, ops: [] }
      await expectCode(store.applyLogEntry(entry), 'ERR_ADMIN_NOT_WRITER', 'STALE_EPOCH')
      await store.applyLogEntry({ ...entry, epoch: 4 })
      expect(store.epoch()).toBe(4)
      expect(store.lastSerial()).toBe(1)
      // Moving the epoch backwards is caller misuse, not peer data: a RangeError with no code.
      await expect(store.setEpoch(3)).rejects.toThrow(RangeError)
      await store.close()
    })

    it('applyLogEntry refuses an entry with a corrupt or foreign op and changes nothing', async () => {
      const { store, clock } = await setup()
      await store.addPrincipal({ name: 'orders' })
      const before = await snapshot(store)
      const bad = (ops: UpdateLogEntry['ops']): UpdateLogEntry => ({
        serial: 2,
        epoch: 1,
        time: clock.now,
        ops,
      })
      const value = new Uint8Array([0x91, 0x01])
      for (const ops of [
        [{ kind: 'put', key: 'meta', value }],
        [{ kind: 'put', key: 'l/0000000009', value }],
        [{ kind: 'put', key: 'x/unknown', value }],
        [{ kind: 'put', key: 'p/orders', value }],
        [{ kind: 'put', key: 'k/orders/0000000002', value }],
        [{ kind: 'del', key: 'k/orders/0000000001' }], // would leave a principal without keys
        [{ kind: 'del', key: 'policy' }],
      ] as const) {
        await expectCode(store.applyLogEntry(bad(ops)), 'ERR_KDC_INTERNAL', 'STORE_CORRUPT')
      }
      expect(await snapshot(store)).toEqual(before)
      await store.close()
    })

    it('a sealed key moved to another principal or kvno does not open (AAD binds both)', async () => {
      const { store, clock } = await setup()
      await store.addPrincipal({ name: 'orders' })
      await store.addPrincipal({ name: 'payments' })
      const [add] = await store.readLog(0, 1)
      const sealed = add!.ops[1]!
      expect(sealed.key).toBe('k/orders/0000000001')
      if (sealed.kind !== 'put') throw new Error('expected a put')
      for (const key of ['k/payments/0000000002', 'k/orders/0000000002']) {
        await expectCode(
          store.applyLogEntry({
            serial: 3,
            epoch: 1,
            time: clock.now,
            ops: [{ kind: 'put', key, value: sealed.value }],
          }),
          'ERR_KDC_INTERNAL',
          'MASTER_KEY_MISMATCH',
        )
      }
      expect(store.lastSerial()).toBe(2)
      await store.close()
    })

    it('applyLogEntry refuses a malformed entry object with STORE_CORRUPT', async () => {
      const { store, clock } = await setup()
      const entry = {
        serial: 1,
        epoch: 1,
        time: clock.now,
        ops: [{ kind: 'put', key: 'policy', value: 'not bytes' }],
      } as unknown as UpdateLogEntry
      await expectCode(store.applyLogEntry(entry), 'ERR_KDC_INTERNAL', 'STORE_CORRUPT')
      const noOps = { serial: 1, epoch: 1, time: clock.now } as unknown as UpdateLogEntry
      await expectCode(store.applyLogEntry(noOps), 'ERR_KDC_INTERNAL', 'STORE_CORRUPT')
      expect(store.lastSerial()).toBe(0)
      await store.close()
    })

    it('finishes mutations queued before close', async () => {
      const { store } = await setup()
      const adding = store.addPrincipal({ name: 'orders' })
      const closing = store.close()
      await expect(adding).resolves.toMatchObject({ name: 'orders' })
      await closing
      await expectCode(store.readLog(0, 1), 'ERR_KDC_UNAVAILABLE', 'STORE_CLOSED')
    })

    it('refuses a policy whose record exceeds the size cap', async () => {
      const { store } = await setup()
      const scopes = Array.from({ length: 32 }, (_, i) =>
        `scope-${String(i).padStart(2, '0')}`.padEnd(64, 'x'),
      )
      const rules = Array.from({ length: 200 }, (_, i) => rule(`r${i}`, 'caller', 'target', scopes))
      await expectCode(store.setPolicy(rules), 'ERR_ADMIN_INVALID', 'RECORD_TOO_LARGE')
      expect(store.lastSerial()).toBe(0)
      await store.close()
    })

    it('re-seals every key under a new master kvno and stays readable', async () => {
      const { store, clock, masterKeys } = await setup()
      await store.addPrincipal({ name: 'orders' })
      await store.rotateKey('orders')
      await store.addPrincipal({ name: 'payments' })
      const before = store.listPrincipals()
      const rolled = masterKeys.withNewVersion()
      expect(await store.resealKeys(rolled)).toBe(3)
      expect(store.masterKvno()).toBe(2)
      expect(store.listPrincipals()).toEqual(before)
      // The log now starts at the roll: the entries before it carried keys sealed under kvno 1.
      const log = await store.readLog(0, 100)
      expect(log.map((e) => e.serial)).toEqual([4])
      const [entry] = log
      expect(entry?.ops.map((o) => o.key).sort()).toEqual([
        'k/orders/0000000001',
        'k/orders/0000000002',
        'k/payments/0000000001',
      ])
      await store.close()

      const again = await harness.reopen({ clock, masterKeys: rolled })
      expect(again.listPrincipals()).toEqual(before)
      expect(again.masterKvno()).toBe(2)
      await again.close()
      // Only the new version is needed now; the old one alone cannot open the records.
      const onlyNew = new MasterKeyring([rolled.current])
      await (await harness.reopen({ clock, masterKeys: onlyNew })).close()
      await expectCode(
        harness.reopen({ clock, masterKeys }),
        'ERR_KDC_INTERNAL',
        'MASTER_KEY_UNKNOWN_KVNO',
      )
    })

    it('refuses to open with a wrong master key, naming the record', async () => {
      const { store, clock, masterKeys } = await setup()
      await store.addPrincipal({ name: 'orders' })
      await store.close()
      const wrong: MasterKey = { kvno: masterKeys.current.kvno, key: new Uint8Array(32).fill(9) }
      const err = await expectCode(
        harness.reopen({ clock, masterKeys: new MasterKeyring([wrong]) }),
        'ERR_KDC_INTERNAL',
        'MASTER_KEY_MISMATCH',
      )
      expect(err.message).toContain('k/orders/0000000001')
    })

    it('refuses to open over a corrupt record, naming its key', async () => {
      const { store, clock, masterKeys } = await setup()
      await store.addPrincipal({ name: 'orders' })
      await store.close()
      // [key written, bytes, key the error must name]
      for (const [key, value, named] of [
        ['p/orders', new Uint8Array([0xc1]), 'p/orders'], // not msgpack
        ['p/orders', new Uint8Array([0x91, 0x02]), 'p/orders'], // wrong shape
        ['policy', new Uint8Array([0x92, 0x01, 0x90]), 'policy'], // rules not [version, rules]
        ['zzz', new Uint8Array([0x01]), 'zzz'], // a key outside the layout
        ['meta', new Uint8Array([0x90]), 'meta'],
        ['l/0000000009', new Uint8Array([0x90]), 'meta'], // log beyond the last serial
      ] as const) {
        await harness.writeRaw(key, value)
        const err = await expectCode(
          harness.reopen({ clock, masterKeys }),
          'ERR_KDC_INTERNAL',
          'STORE_CORRUPT',
        )
        expect(err.message).toContain(`"${named}"`)
        // Repair by recreating the store for the next case.
        await (await harness.create({ clock, masterKeys })).close()
      }
    })
  })
}
