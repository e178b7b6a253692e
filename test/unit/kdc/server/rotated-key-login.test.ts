/**
 * Key rotation is the answer to a stolen keytab (docs/operations.md §5: "the stolen key no longer
 * logs in"). The KDC keeps the previous key versions so that service tickets sealed with them still
 * verify at the service, but a LOGIN (AS pre-auth) must use the principal's current key: a
 * pre-auth sealed with a superseded kvno is refused like any failed pre-auth
 * (ERR_KDC_PREAUTH_FAILED, vague on the wire; status KVNO_NOT_CURRENT in the audit log).
 */
import { Writable } from 'node:stream'
import { beforeEach, describe, expect, it } from 'vitest'
import {
  deriveKey,
  isBrokerError,
  LABELS,
  sealPreauth,
  type AsReq,
  type KeyVersion,
} from '../../../../kdc/protocol/index.js'
import { handleAsReq } from '../../../../kdc/server/as.js'
import { buildConfig } from '../../../../kdc/server/config.js'
import type { KdcContext } from '../../../../kdc/server/context.js'
import { createContext } from '../../../../kdc/server/kdc.js'
import { createMemoryStore } from '../../../../kdc/store/memory-store.js'
import type { KdcStore } from '../../../../kdc/store/store.js'

const REALM = 'UNIT.TEST'
const now = 1_800_000_000
const clock = { nowSeconds: () => now }
let store: KdcStore
let ctx: KdcContext

function asReq(client: string, k: KeyVersion): AsReq {
  const n = crypto.getRandomValues(new Uint8Array(16))
  return {
    realm: REALM,
    client,
    kvno: k.kvno,
    nonce: n,
    lifetime: 0,
    preauth: sealPreauth(
      deriveKey(k.key, LABELS.preauth),
      { realm: REALM, client, kvno: k.kvno, lifetime: 0 },
      { ctime: now, nonce: n },
    ),
  }
}

function outcome(req: AsReq): string {
  try {
    handleAsReq(ctx, req, {})
    return 'OK'
  } catch (err) {
    if (isBrokerError(err)) return `${err.code}/${err.status ?? ''}`
    throw err
  }
}

beforeEach(async () => {
  store = await createMemoryStore({ realm: REALM, clock })
  for (const name of ['krbtgt', 'kadmin', 'payments']) await store.addPrincipal({ name })
  ctx = createContext({
    config: buildConfig({ dataDir: '/nonexistent' }),
    store,
    clock,
    logDestination: new Writable({
      write(_c: Buffer, _e, cb) {
        cb()
      },
    }),
  })
})

describe('AS pre-auth after a key rotation', () => {
  it('refuses the superseded key, accepts the current one', async () => {
    const stolen = store.getPrincipal('payments')!.keys.at(-1)!
    expect(outcome(asReq('payments', stolen))).toBe('OK')
    await store.rotateKey('payments')
    const current = store.getPrincipal('payments')!.keys.at(-1)!
    expect(current.kvno).toBe(stolen.kvno + 1)
    // The old version is still held (for tickets in flight) …
    expect(store.getPrincipal('payments')!.keys.map((k) => k.kvno)).toContain(stolen.kvno)
    // … but it no longer logs in.
    expect(outcome(asReq('payments', stolen))).toBe('ERR_KDC_PREAUTH_FAILED/KVNO_NOT_CURRENT')
    expect(outcome(asReq('payments', current))).toBe('OK')
  })
})
