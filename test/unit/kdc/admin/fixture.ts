/**
 * An in-memory realm for admin unit tests: the real LoggedStore over a Map, the real
 * executeAdminOp, and an AdminChannel that behaves like the wire (requests and replies go through
 * the codec; errors arrive as the bare wire code, as from an ERROR frame).
 */
import {
  decode,
  encode,
  fromWire,
  isBrokerError,
  type Clock,
  type WireValue,
} from '../../../../kdc/protocol/index.js'
import type { AdminChannel } from '../../../../kdc/admin/context.js'
import { executeAdminOp } from '../../../../kdc/server/admin.js'
import type { AdminDeps } from '../../../../kdc/server/admin-types.js'
import { createMemoryStore } from '../../../../kdc/store/memory-store.js'
import type { KdcStore } from '../../../../kdc/store/store.js'

export interface Realm {
  readonly store: KdcStore
  readonly deps: AdminDeps
  readonly audit: Record<string, unknown>[]
  /** Run a request as `caller`, through the codec both ways. */
  run(caller: string, request: WireValue): Promise<WireValue>
  /** An AdminChannel for `caller` that reports errors as wire codes only. */
  channel(caller: string): AdminChannel
}

export async function memoryRealm(): Promise<Realm> {
  let now = 1_700_000_000
  const clock: Clock = { nowSeconds: () => now++ }
  const store = await createMemoryStore({ realm: 'TESSERA.LOCAL', clock })
  await store.addPrincipal({ name: 'krbtgt' })
  await store.addPrincipal({ name: 'kadmin' })
  await store.addPrincipal({ name: 'admin', groups: ['admins'] })
  await store.addPrincipal({ name: 'reader', groups: ['admin-readers'] })
  await store.addPrincipal({ name: 'orders' })
  await store.addPrincipal({ name: 'payments', groups: ['payers'] })
  await store.setPolicy([
    {
      id: 'payments-reads-orders',
      caller: 'payments',
      target: 'orders',
      scopes: ['orders:read'],
      maxLifetime: 900,
    },
  ])
  const audit: Record<string, unknown>[] = []
  const deps: AdminDeps = {
    store,
    clock,
    audit: (e) => audit.push(e),
    status: () => ({
      realm: store.realm,
      version: '0.1.0',
      role: 'writer',
      principals: store.principalCount(),
      policyVersion: store.getPolicy().version,
      uptimeSeconds: 42,
      node: 'test-node',
    }),
  }
  const run = async (caller: string, request: WireValue): Promise<WireValue> => {
    const entry = store.getPrincipal(caller)
    if (entry === undefined) throw new Error(`no ${caller}`)
    const reply = await executeAdminOp(deps, entry, decode(encode(request)))
    return decode(encode(reply))
  }
  return {
    store,
    deps,
    audit,
    run,
    channel: (caller) => ({
      principal: caller,
      call: async (request) => {
        try {
          return await run(caller, request)
        } catch (err) {
          if (isBrokerError(err) && err.wire !== null) throw fromWire(err.wire)
          throw err
        }
      },
      close: () => Promise.resolve(),
    }),
  }
}
