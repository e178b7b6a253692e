import { beforeEach, describe, expect, it } from 'vitest'
import {
  buildAdminRequest,
  isBrokerError,
  parseAdminReply,
  type AdminOp,
  type AdminRequest,
  type AdminResults,
  type WireValue,
} from '../../../../kdc/protocol/index.js'
import { memoryRealm, type Realm } from './fixture.js'

let realm: Realm

beforeEach(async () => {
  realm = await memoryRealm()
})

async function call<O extends AdminOp>(
  caller: string,
  req: AdminRequest & { op: O },
): Promise<AdminResults[O]> {
  return parseAdminReply<O>(req.op, await realm.run(caller, buildAdminRequest(req)))
}

async function codeOf(caller: string, request: WireValue): Promise<string> {
  try {
    await realm.run(caller, request)
    return 'OK'
  } catch (err) {
    if (isBrokerError(err)) return err.code
    throw err
  }
}

const req = (r: AdminRequest): WireValue => buildAdminRequest(r)

describe('executeAdminOp', () => {
  it('adds a principal and hands out its keytab, once', async () => {
    const r = await call('admin', { op: 'principal.add', name: 'billing', groups: ['x'] })
    expect(r.principal).toMatchObject({ name: 'billing', enabled: true, groups: ['x'], kvnos: [1] })
    expect(r.keytab.realm).toBe('TESSERA.LOCAL')
    expect(r.keytab.keys.map((k) => k.kvno)).toEqual([1])
    expect(r.keytab.keys[0]?.key).toEqual(realm.store.getPrincipal('billing')?.keys[0]?.key)
    expect(await codeOf('admin', req({ op: 'principal.add', name: 'billing', groups: [] }))).toBe(
      'ERR_ADMIN_EXISTS',
    )
  })

  it('lists principals in name order, filtered by group, in pages', async () => {
    const all = await call('admin', {
      op: 'principal.list',
      group: undefined,
      after: '',
      limit: 256,
    })
    expect(all.principals.map((p) => p.name)).toEqual([
      'admin',
      'kadmin',
      'krbtgt',
      'orders',
      'payments',
      'reader',
    ])
    expect(all.next).toBe('')
    const page = await call('admin', {
      op: 'principal.list',
      group: undefined,
      after: '',
      limit: 2,
    })
    expect(page.principals.map((p) => p.name)).toEqual(['admin', 'kadmin'])
    expect(page.next).toBe('kadmin')
    const rest = await call('admin', {
      op: 'principal.list',
      group: undefined,
      after: 'kadmin',
      limit: 256,
    })
    expect(rest.principals[0]?.name).toBe('krbtgt')
    const payers = await call('admin', {
      op: 'principal.list',
      group: 'payers',
      after: '',
      limit: 9,
    })
    expect(payers.principals.map((p) => p.name)).toEqual(['payments'])
  })

  it('shows, disables, enables and deletes', async () => {
    expect((await call('admin', { op: 'principal.show', name: 'orders' })).enabled).toBe(true)
    expect((await call('admin', { op: 'principal.disable', name: 'orders' })).enabled).toBe(false)
    expect(realm.store.getPrincipal('orders')?.enabled).toBe(false)
    expect((await call('admin', { op: 'principal.enable', name: 'orders' })).enabled).toBe(true)
    expect(await call('admin', { op: 'principal.delete', name: 'orders' })).toEqual({
      name: 'orders',
    })
    expect(realm.store.getPrincipal('orders')).toBeUndefined()
  })

  it.each<[string, AdminRequest]>([
    ['show', { op: 'principal.show', name: 'ghost' }],
    ['disable', { op: 'principal.disable', name: 'ghost' }],
    ['enable', { op: 'principal.enable', name: 'ghost' }],
    ['delete', { op: 'principal.delete', name: 'ghost' }],
    ['export', { op: 'keytab.export', name: 'ghost' }],
    ['rotate', { op: 'key.rotate', name: 'ghost', withKeys: false, keep: 0 }],
    ['check caller', { op: 'policy.check', caller: 'ghost', target: 'orders', scopes: [] }],
    ['check target', { op: 'policy.check', caller: 'orders', target: 'ghost', scopes: [] }],
  ])('answers ERR_ADMIN_NOT_FOUND for an unknown principal (%s)', async (_what, r) => {
    expect(await codeOf('admin', req(r))).toBe('ERR_ADMIN_NOT_FOUND')
  })

  it('exports every live key version and rotates keys', async () => {
    const rotated = await call('admin', {
      op: 'key.rotate',
      name: 'orders',
      withKeys: false,
      keep: 0,
    })
    expect(rotated.principal.kvnos).toEqual([1, 2])
    expect(rotated.keytab).toBeUndefined()
    const withKeys = await call('admin', {
      op: 'key.rotate',
      name: 'orders',
      withKeys: true,
      keep: 0,
    })
    expect(withKeys.keytab?.keys.map((k) => k.kvno)).toEqual([1, 2, 3])
    const exported = await call('admin', { op: 'keytab.export', name: 'orders' })
    expect(exported.keys.map((k) => k.kvno)).toEqual([1, 2, 3])
  })

  it('key.rotate with keep 1 retires every older key version at once (a stolen key)', async () => {
    await call('admin', { op: 'key.rotate', name: 'orders', withKeys: false, keep: 0 })
    const only = await call('admin', { op: 'key.rotate', name: 'orders', withKeys: true, keep: 1 })
    expect(only.principal.kvnos).toEqual([3])
    expect(only.keytab?.keys.map((k) => k.kvno)).toEqual([3])
    const exported = await call('admin', { op: 'keytab.export', name: 'orders' })
    expect(exported.keys.map((k) => k.kvno)).toEqual([3])
  })

  it('never hands out the krbtgt or kadmin keys', async () => {
    expect(await codeOf('admin', req({ op: 'keytab.export', name: 'krbtgt' }))).toBe(
      'ERR_ADMIN_INVALID',
    )
    expect(await codeOf('admin', ['key.rotate', ['kadmin', 1, 0]])).toBe('ERR_ADMIN_INVALID')
    // Rotating the TGS key without taking it is allowed (design brief §7).
    expect(
      await codeOf('admin', req({ op: 'key.rotate', name: 'krbtgt', withKeys: false, keep: 0 })),
    ).toBe('OK')
  })

  it.each<[string, WireValue]>([
    ['add krbtgt', ['principal.add', ['krbtgt', []]]],
    ['delete kadmin', ['principal.delete', ['kadmin']]],
    ['disable krbtgt', ['principal.disable', ['krbtgt']]],
    ['bad name', ['principal.add', ['Bad Name', []]]],
    ['disable self', ['principal.disable', ['admin']]],
    ['delete self', ['principal.delete', ['admin']]],
  ])('answers ERR_ADMIN_INVALID for %s', async (_what, r) => {
    expect(await codeOf('admin', r)).toBe('ERR_ADMIN_INVALID')
  })

  it('applies and shows policy; versions increase', async () => {
    const before = (await call('admin', { op: 'policy.show' })).version
    const applied = await call('admin', {
      op: 'policy.apply',
      rules: [{ id: 'r', caller: 'group:payers', target: 'orders', scopes: ['a'], maxLifetime: 0 }],
    })
    expect(applied.version).toBe(before + 1)
    const shown = await call('admin', { op: 'policy.show' })
    expect(shown.rules.map((r) => r.id)).toEqual(['r'])
  })

  it('checks policy with the TGS decision function, naming the rule', async () => {
    const yes = await call('admin', {
      op: 'policy.check',
      caller: 'payments',
      target: 'orders',
      scopes: ['orders:read'],
    })
    expect(yes).toMatchObject({
      allowed: true,
      ruleIds: ['payments-reads-orders'],
      grantedScopes: ['orders:read'],
      maxLifetime: 900,
      reason: '',
    })
    const noRule = await call('admin', {
      op: 'policy.check',
      caller: 'orders',
      target: 'payments',
      scopes: [],
    })
    expect(noRule).toMatchObject({ allowed: false, ruleIds: [], reason: 'NO_RULE' })
    const noScope = await call('admin', {
      op: 'policy.check',
      caller: 'payments',
      target: 'orders',
      scopes: ['orders:write'],
    })
    expect(noScope).toMatchObject({
      allowed: false,
      ruleIds: ['payments-reads-orders'],
      grantedScopes: ['orders:read'],
      reason: 'SCOPE_NOT_GRANTED',
    })
  })

  it('reports status', async () => {
    const s = await call('reader', { op: 'status' })
    expect(s).toMatchObject({
      realm: 'TESSERA.LOCAL',
      role: 'writer',
      principals: 6,
      node: 'test-node',
    })
  })
})

describe('admin ACL', () => {
  const reads: AdminRequest[] = [
    { op: 'principal.list', group: undefined, after: '', limit: 10 },
    { op: 'principal.show', name: 'orders' },
    { op: 'policy.show' },
    { op: 'policy.check', caller: 'payments', target: 'orders', scopes: [] },
    { op: 'status' },
  ]
  const writes: AdminRequest[] = [
    { op: 'principal.add', name: 'x', groups: [] },
    { op: 'principal.disable', name: 'orders' },
    { op: 'principal.enable', name: 'orders' },
    { op: 'principal.delete', name: 'orders' },
    { op: 'keytab.export', name: 'orders' },
    { op: 'key.rotate', name: 'orders', withKeys: false, keep: 0 },
    { op: 'policy.apply', rules: [] },
  ]

  it.each(reads.map((r) => [r.op, r] as const))('admin-readers may %s', async (_op, r) => {
    expect(await codeOf('reader', req(r))).toBe('OK')
  })

  it.each(writes.map((r) => [r.op, r] as const))(
    'admin-readers may not %s (ERR_ADMIN_FORBIDDEN)',
    async (_op, r) => {
      expect(await codeOf('reader', req(r))).toBe('ERR_ADMIN_FORBIDDEN')
    },
  )

  it.each([...reads, ...writes].map((r) => [r.op, r] as const))(
    'anyone else may not %s (ERR_ADMIN_FORBIDDEN)',
    async (_op, r) => {
      expect(await codeOf('orders', req(r))).toBe('ERR_ADMIN_FORBIDDEN')
    },
  )

  it('refuses outsiders before parsing: a malformed request is still FORBIDDEN', async () => {
    expect(await codeOf('orders', ['no.such.op', 'garbage'])).toBe('ERR_ADMIN_FORBIDDEN')
  })

  it('re-checks the caller when the write commits: concurrent admins cannot lock each other out', async () => {
    await realm.store.addPrincipal({ name: 'admin2', groups: ['admins'] })
    // All three pass the checks on arrival; the store runs them in order.
    const results = await Promise.all([
      codeOf('admin', req({ op: 'principal.disable', name: 'admin2' })),
      codeOf('admin2', req({ op: 'principal.disable', name: 'admin' })),
      codeOf('admin2', req({ op: 'principal.add', name: 'late', groups: [] })),
    ])
    expect(results).toEqual(['OK', 'ERR_ADMIN_FORBIDDEN', 'ERR_ADMIN_FORBIDDEN'])
    expect(realm.store.getPrincipal('admin')?.enabled).toBe(true)
    expect(realm.store.getPrincipal('late')).toBeUndefined()
    expect(realm.audit.map((e) => e.status)).toEqual([
      undefined,
      'CALLER_DISABLED',
      'CALLER_DISABLED',
    ])
  })

  it('a deleted admin cannot commit a request it sent before the delete', async () => {
    await realm.store.addPrincipal({ name: 'admin2', groups: ['admins'] })
    const results = await Promise.all([
      codeOf('admin', req({ op: 'principal.delete', name: 'admin2' })),
      codeOf('admin2', req({ op: 'principal.delete', name: 'admin' })),
      codeOf('admin2', req({ op: 'policy.apply', rules: [] })),
    ])
    expect(results).toEqual(['OK', 'ERR_ADMIN_FORBIDDEN', 'ERR_ADMIN_FORBIDDEN'])
    expect(realm.store.getPrincipal('admin')?.enabled).toBe(true)
    expect(realm.store.getPolicy().version).toBe(1)
  })

  it('leaves the store untouched on refusal', async () => {
    await codeOf('reader', req({ op: 'principal.delete', name: 'orders' }))
    expect(realm.store.getPrincipal('orders')).toBeDefined()
  })
})

describe('admin audit', () => {
  it('records who, op, target and outcome for successes and failures', async () => {
    await call('admin', { op: 'principal.add', name: 'billing', groups: [] })
    await codeOf('reader', req({ op: 'principal.delete', name: 'orders' }))
    await codeOf('admin', req({ op: 'principal.show', name: 'ghost' }))
    expect(realm.audit).toEqual([
      expect.objectContaining({
        event: 'admin',
        caller: 'admin',
        op: 'principal.add',
        target: 'billing',
        outcome: 'OK',
      }),
      expect.objectContaining({
        caller: 'reader',
        op: 'principal.delete',
        target: 'orders',
        outcome: 'ERR_ADMIN_FORBIDDEN',
      }),
      expect.objectContaining({
        caller: 'admin',
        op: 'principal.show',
        target: 'ghost',
        outcome: 'ERR_ADMIN_NOT_FOUND',
      }),
    ])
    for (const e of realm.audit) expect(typeof e.policyVersion).toBe('number')
  })

  it('never records key material', async () => {
    await call('admin', { op: 'principal.add', name: 'billing', groups: [] })
    await call('admin', { op: 'keytab.export', name: 'billing' })
    await call('admin', { op: 'key.rotate', name: 'billing', withKeys: true, keep: 0 })
    const key = Buffer.from(realm.store.getPrincipal('billing')?.keys[0]?.key ?? []).toString('hex')
    const text = JSON.stringify(realm.audit, (_k, v: unknown) =>
      v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
    )
    expect(text).not.toContain(key)
    for (const e of realm.audit) {
      for (const v of Object.values(e)) expect(v instanceof Uint8Array).toBe(false)
    }
  })
})
