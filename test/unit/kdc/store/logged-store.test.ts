/**
 * The commit path under faults (design brief §8): the view changes only after the batch is
 * durable, a failed write leaves the view and the serial untouched and stops further writes, and
 * the principal cap holds. Uses the memory backend with fault injection instead of a real crash.
 */
import { describe, expect, it } from 'vitest'
import { LoggedStore } from '../../../../kdc/store/logged-store.js'
import { generateMasterKeyring } from '../../../../kdc/store/master-key.js'
import { MemoryBackend } from '../../../../kdc/store/memory-store.js'
import { planAddPrincipal } from '../../../../kdc/store/mutations.js'
import { MAX_PRINCIPALS } from '../../../../kdc/store/records.js'
import type { StoreOp } from '../../../../kdc/store/store.js'
import type { PrincipalState } from '../../../../kdc/store/view.js'
import { FakeClock, REALM, expectCode } from './conformance.js'

/** A memory backend whose next write can be held open or made to fail. */
class FaultyBackend extends MemoryBackend {
  hold: Promise<void> | undefined
  failNext = false
  batches: (readonly StoreOp[])[] = []

  override async write(ops: readonly StoreOp[]): Promise<void> {
    if (this.hold !== undefined) await this.hold
    if (this.failNext) {
      this.failNext = false
      throw new Error('EIO: simulated disk failure')
    }
    this.batches.push(ops)
    return super.write(ops)
  }
}

async function open(): Promise<{ store: LoggedStore; backend: FaultyBackend }> {
  const backend = new FaultyBackend(new Map())
  const store = await LoggedStore.open({
    backend,
    masterKeys: generateMasterKeyring(),
    clock: new FakeClock(),
    createRealm: REALM,
  })
  return { store, backend }
}

describe('LoggedStore commit path', () => {
  it('writes the change, the log entry and the new serial in one batch', async () => {
    const { store, backend } = await open()
    backend.batches = []
    await store.addPrincipal({ name: 'orders' })
    expect(backend.batches).toHaveLength(1)
    expect(backend.batches[0]?.map((op) => op.key)).toEqual([
      'p/orders',
      'k/orders/0000000001',
      'l/0000000001',
      'meta',
    ])
    await store.close()
  })

  it('shows a change only once its batch is durable', async () => {
    const { store, backend } = await open()
    let release!: () => void
    backend.hold = new Promise((resolve) => (release = resolve))
    const adding = store.addPrincipal({ name: 'orders' })
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(store.getPrincipal('orders')).toBeUndefined()
    expect(store.lastSerial()).toBe(0)
    backend.hold = undefined
    release()
    await adding
    expect(store.getPrincipal('orders')).toBeDefined()
    expect(store.lastSerial()).toBe(1)
    await store.close()
  })

  it('after a failed write: view and serial unchanged, later writes refused', async () => {
    const { store, backend } = await open()
    await store.addPrincipal({ name: 'orders' })
    backend.failNext = true
    await expectCode(
      store.addPrincipal({ name: 'payments' }),
      'ERR_KDC_UNAVAILABLE',
      'STORE_WRITE_FAILED',
    )
    expect(store.getPrincipal('payments')).toBeUndefined()
    expect(store.lastSerial()).toBe(1)
    await expectCode(store.setPolicy([]), 'ERR_KDC_UNAVAILABLE', 'STORE_FAILED')
    // Reads still work: the KDC keeps issuing tickets from the view.
    expect(store.getPrincipal('orders')?.name).toBe('orders')
    await store.close()
  })

  it('refuses a principal beyond MAX_PRINCIPALS', () => {
    const principals = new Map<string, PrincipalState>()
    const filler = {} as PrincipalState
    for (let i = 0; i < MAX_PRINCIPALS; i++) principals.set(`p${i}`, filler)
    const ctx = { principals, realm: REALM, ring: generateMasterKeyring(), now: 0 }
    return expectCode(
      () => planAddPrincipal(ctx, { name: 'one-more' }),
      'ERR_ADMIN_INVALID',
      'PRINCIPAL_CAP',
    )
  })
})
