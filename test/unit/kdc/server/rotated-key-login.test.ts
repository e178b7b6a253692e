/**
 * Key rotation is the answer to a stolen keytab (docs/operations.md §5: "the stolen key no longer
 * logs in"). The KDC keeps the previous key versions so that service tickets sealed with them still
 * verify at the service, but a LOGIN (AS pre-auth) must use the principal's current key: a
 * pre-auth sealed with a superseded kvno is refused like any failed pre-auth
 * (ERR_KDC_PREAUTH_FAILED, vague on the wire; status KVNO_NOT_CURRENT in the audit log).
 */
import { beforeEach, describe, expect, it } from 'vitest'
import { isBrokerError, type AsReq } from '../../../../kdc/protocol/index.js'
import { handleAsReq } from '../../../../kdc/server/as.js'
import { UnitKdc } from './in-process-kdc.js'

let kdc: UnitKdc

/** 'OK', or code/status of the refusal (the status says which pre-auth check failed). */
function outcome(req: AsReq): string {
  try {
    handleAsReq(kdc.ctx, req, {})
    return 'OK'
  } catch (err) {
    if (isBrokerError(err)) return `${err.code}/${err.status ?? ''}`
    throw err
  }
}

beforeEach(async () => {
  kdc = await UnitKdc.create({ principals: [{ name: 'payments' }] })
})

describe('AS pre-auth after a key rotation', () => {
  it('refuses the superseded key, accepts the current one', async () => {
    const stolen = kdc.store.getPrincipal('payments')!.keys.at(-1)!
    expect(outcome(kdc.asReq('payments', { key: stolen }))).toBe('OK')
    await kdc.store.rotateKey('payments')
    const current = kdc.store.getPrincipal('payments')!.keys.at(-1)!
    expect(current.kvno).toBe(stolen.kvno + 1)
    // The old version is still held (for tickets in flight) …
    expect(kdc.store.getPrincipal('payments')!.keys.map((k) => k.kvno)).toContain(stolen.kvno)
    // … but it no longer logs in.
    expect(outcome(kdc.asReq('payments', { key: stolen }))).toBe(
      'ERR_KDC_PREAUTH_FAILED/KVNO_NOT_CURRENT',
    )
    expect(outcome(kdc.asReq('payments', { key: current }))).toBe('OK')
  })
})
