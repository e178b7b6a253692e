import { describe, expect, it } from 'vitest'
import {
  ADMIN_OPS,
  buildAdminReply,
  buildAdminRequest,
  decode,
  encode,
  isBrokerError,
  parseAdminReply,
  parseAdminRequest,
  type AdminRequest,
  type PrincipalInfo,
  type WireValue,
} from '../../../../kdc/protocol/index.js'

function codeOf(fn: () => unknown): string {
  try {
    fn()
    return 'OK'
  } catch (err) {
    if (isBrokerError(err)) return err.code
    throw err
  }
}

const REQUESTS: AdminRequest[] = [
  { op: 'principal.add', name: 'orders', groups: ['b', 'a'] },
  { op: 'principal.list', group: undefined, after: '', limit: 256 },
  { op: 'principal.list', group: 'admins', after: 'm', limit: 1 },
  { op: 'principal.show', name: 'orders' },
  { op: 'principal.disable', name: 'orders' },
  { op: 'principal.enable', name: 'orders' },
  { op: 'principal.delete', name: 'orders' },
  { op: 'keytab.export', name: 'orders' },
  { op: 'key.rotate', name: 'orders', withKeys: true, keep: 0 },
  { op: 'key.rotate', name: 'krbtgt', withKeys: false, keep: 1 },
  { op: 'key.rotate', name: 'orders', withKeys: false, keep: 16 },
  {
    op: 'policy.apply',
    rules: [{ id: 'r1', caller: 'a', target: 'group:g', scopes: ['x:y'], maxLifetime: 60 }],
  },
  { op: 'policy.show' },
  { op: 'policy.check', caller: 'a', target: 'b', scopes: ['z', 'y'] },
  { op: 'status' },
]

describe('admin requests', () => {
  it('covers every op', () => {
    expect(new Set(REQUESTS.map((r) => r.op))).toEqual(new Set(ADMIN_OPS))
  })

  it.each(REQUESTS.map((r) => [r.op, r] as const))(
    '%s round-trips through the codec',
    (_op, req) => {
      const wire = buildAdminRequest(req)
      const parsed = parseAdminRequest(decode(encode(wire)))
      expect(parsed.op).toBe(req.op)
      expect(buildAdminRequest(parsed)).toEqual(wire)
    },
  )

  it('has the documented layout', () => {
    expect(buildAdminRequest({ op: 'principal.add', name: 'orders', groups: ['b', 'a'] })).toEqual([
      'principal.add',
      ['orders', ['a', 'b']],
    ])
    expect(
      buildAdminRequest({ op: 'principal.list', group: undefined, after: '', limit: 5 }),
    ).toEqual(['principal.list', [[], '', 5]])
    expect(buildAdminRequest({ op: 'key.rotate', name: 'x', withKeys: false, keep: 0 })).toEqual([
      'key.rotate',
      ['x', 0, 0],
    ])
    expect(buildAdminRequest({ op: 'status' })).toEqual(['status', []])
    expect(encode(buildAdminRequest({ op: 'status' }))).toEqual(
      Uint8Array.from([0x92, 0xa6, ...Buffer.from('status'), 0x90]),
    )
  })

  it.each<[string, WireValue]>([
    ['not an array', 'status'],
    ['wrong arity', ['status']],
    ['args not an array', ['status', 'x']],
    ['op not a string', [1, []]],
    ['extra argument', ['status', [1]]],
    ['name not a string', ['principal.show', [1]]],
    ['unsorted groups', ['principal.add', ['x', ['b', 'a']]]],
    ['duplicate groups', ['principal.add', ['x', ['a', 'a']]]],
    ['limit 0', ['principal.list', [[], '', 0]]],
    ['limit too large', ['principal.list', [[], '', 257]]],
    ['optional with two items', ['principal.list', [['a', 'b'], '', 1]]],
    ['flag 2', ['key.rotate', ['x', 2, 0]]],
    ['key.rotate without keep', ['key.rotate', ['x', 0]]],
    ['keep 17', ['key.rotate', ['x', 0, 17]]],
    ['unsorted scopes', ['policy.check', ['a', 'b', ['z', 'a']]]],
    ['rule of wrong arity', ['policy.apply', [[['r', 'a', 'b', []]]]]],
    ['overlong op', ['x'.repeat(33), []]],
  ])('refuses %s with ERR_PROTO_MALFORMED', (_what, value) => {
    expect(codeOf(() => parseAdminRequest(value))).toBe('ERR_PROTO_MALFORMED')
  })

  it.each<[string, WireValue]>([
    ['unknown op', ['principal.rename', []]],
    ['bad principal name', ['principal.show', ['Orders']]],
    ['reserved name added', ['principal.add', ['krbtgt', []]]],
    ['reserved name deleted', ['principal.delete', ['kadmin']]],
    ['reserved name disabled', ['principal.disable', ['krbtgt']]],
    ['bad group', ['principal.add', ['x', ['Admins']]]],
    ['bad rule selector', ['policy.apply', [[['r', 'Bad', 'b', [], 0]]]]],
    [
      'duplicate rule id',
      [
        'policy.apply',
        [
          [
            ['r', 'a', 'b', [], 0],
            ['r', 'c', 'd', [], 0],
          ],
        ],
      ],
    ],
  ])('refuses %s with ERR_ADMIN_INVALID', (_what, value) => {
    expect(codeOf(() => parseAdminRequest(value))).toBe('ERR_ADMIN_INVALID')
  })

  it('builds no request it would refuse: misuse is a TypeError', () => {
    expect(() => buildAdminRequest({ op: 'principal.show', name: 'Bad Name' })).toThrow(TypeError)
  })
})

const INFO: PrincipalInfo = {
  name: 'orders',
  id: '0123456789abcdef0123456789abcdef',
  enabled: true,
  groups: ['a'],
  kvnos: [1, 2],
  createdAt: 1_700_000_000,
  updatedAt: 1_700_000_100,
}
const KEYTAB = {
  realm: 'TESSERA.LOCAL',
  principal: 'orders',
  keys: [{ kvno: 1, key: new Uint8Array(32).fill(7), createdAt: 1_700_000_000 }],
}

describe('admin replies', () => {
  it('round-trip for every op', () => {
    const cases = [
      buildAdminReply('principal.add', { principal: INFO, keytab: KEYTAB }),
      buildAdminReply('principal.list', { principals: [INFO, INFO], next: 'orders' }),
      buildAdminReply('principal.show', INFO),
      buildAdminReply('principal.disable', { ...INFO, enabled: false }),
      buildAdminReply('principal.enable', INFO),
      buildAdminReply('principal.delete', { name: 'orders' }),
      buildAdminReply('keytab.export', KEYTAB),
      buildAdminReply('key.rotate', { principal: INFO, keytab: undefined }),
      buildAdminReply('key.rotate', { principal: INFO, keytab: KEYTAB }),
      buildAdminReply('policy.apply', { version: 4 }),
      buildAdminReply('policy.show', {
        version: 4,
        rules: [{ id: 'r', caller: 'a', target: 'b', scopes: [], maxLifetime: 0 }],
      }),
      buildAdminReply('policy.check', {
        allowed: false,
        ruleIds: [],
        grantedScopes: [],
        policyVersion: 4,
        maxLifetime: 0,
        reason: 'NO_RULE',
      }),
      buildAdminReply('status', {
        realm: 'TESSERA.LOCAL',
        version: '0.1.0',
        role: 'writer',
        principals: 3,
        policyVersion: 1,
        uptimeSeconds: 5,
        node: 'host-a',
      }),
    ]
    for (const wire of cases) {
      const op = (wire as readonly WireValue[])[0] as (typeof ADMIN_OPS)[number]
      const bytes = encode(wire) // the subset check: no booleans or objects leaked into the wire
      const parsed = parseAdminReply(op, decode(bytes))
      expect(buildAdminReply(op, parsed)).toEqual(wire)
    }
  })

  it('encodes principal info as [name, id, enabled, groups, kvnos, createdAt, updatedAt]', () => {
    expect(buildAdminReply('principal.show', INFO)).toEqual([
      'principal.show',
      ['orders', INFO.id, 1, ['a'], [1, 2], 1_700_000_000, 1_700_000_100],
    ])
  })

  it('refuses a reply to another op', () => {
    const wire = buildAdminReply('policy.apply', { version: 1 })
    expect(codeOf(() => parseAdminReply('status', wire))).toBe('ERR_PROTO_MALFORMED')
  })

  it('refuses a check result whose reason contradicts allowed', () => {
    const wire: WireValue = ['policy.check', [1, [], [], 1, 0, 'NO_RULE']]
    expect(codeOf(() => parseAdminReply('policy.check', wire))).toBe('ERR_PROTO_MALFORMED')
  })

  it('refuses a keytab with keys out of order or of the wrong size', () => {
    const k = new Uint8Array(32)
    const outOfOrder: WireValue = [
      'keytab.export',
      [
        'R',
        'orders',
        [
          [2, k, 0],
          [1, k, 0],
        ],
      ],
    ]
    expect(codeOf(() => parseAdminReply('keytab.export', outOfOrder))).toBe('ERR_PROTO_MALFORMED')
    const short: WireValue = ['keytab.export', ['R', 'orders', [[1, k.subarray(1), 0]]]]
    expect(codeOf(() => parseAdminReply('keytab.export', short))).toBe('ERR_PROTO_MALFORMED')
  })
})
