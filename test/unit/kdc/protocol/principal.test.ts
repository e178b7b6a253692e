import { describe, it, expect } from 'vitest'
import {
  assertPrincipalName,
  assertRealmName,
  isGroupName,
  isPrincipalName,
  isRealmName,
  isReservedPrincipal,
  isScope,
  parsePrincipal,
  parseRealm,
  RESERVED_PRINCIPALS,
} from '../../../../kdc/protocol/index.js'
import { expectCode, expectMisuse } from './expect-code.js'

describe('names: principals (docs/protocol.md §4)', () => {
  it.each(['a', 'payments', 'orders-v2', 'svc.eu_1', 'a'.repeat(63), 'krbtgt'])(
    'accepts %j',
    (name) => {
      expect(isPrincipalName(name)).toBe(true)
      expect(parsePrincipal(name)).toBe(name)
      expect(assertPrincipalName(name)).toBe(name)
    },
  )

  it.each(['', 'A', 'Payments', '1svc', '-svc', 'svc/x', 'svc x', 'é', 'a'.repeat(64), 'svc\n'])(
    'refuses %j',
    (name) => {
      expect(isPrincipalName(name)).toBe(false)
      expectCode(() => parsePrincipal(name), 'ERR_PROTO_MALFORMED', 'BAD_PRINCIPAL')
      expectMisuse(() => assertPrincipalName(name), TypeError)
    },
  )

  it('refuses non-strings', () => {
    expect(isPrincipalName(1)).toBe(false)
    expectCode(() => parsePrincipal(undefined, 'client'), 'ERR_PROTO_MALFORMED', 'BAD_CLIENT')
  })

  it('reserves krbtgt and kadmin', () => {
    expect([...RESERVED_PRINCIPALS]).toEqual(['krbtgt', 'kadmin'])
    expect(isReservedPrincipal('krbtgt')).toBe(true)
    expect(isReservedPrincipal('kadmin')).toBe(true)
    expect(isReservedPrincipal('payments')).toBe(false)
  })

  it('groups follow the principal grammar', () => {
    expect(isGroupName('admins')).toBe(true)
    expect(isGroupName('Admins')).toBe(false)
  })
})

describe('names: realms', () => {
  it.each(['TESSERA.LOCAL', 'A', '9', 'EXAMPLE-1.COM', 'R'.repeat(63)])('accepts %j', (r) => {
    expect(isRealmName(r)).toBe(true)
    expect(parseRealm(r)).toBe(r)
    expect(assertRealmName(r)).toBe(r)
  })

  it.each(['', 'tessera.local', '.LOCAL', '-R', 'R_1', 'R'.repeat(64)])('refuses %j', (r) => {
    expect(isRealmName(r)).toBe(false)
    expectCode(() => parseRealm(r), 'ERR_PROTO_MALFORMED', 'BAD_REALM')
    expectMisuse(() => assertRealmName(r), TypeError)
  })
})

describe('names: scopes', () => {
  it.each(['orders:read', 'a', 'Reports/*', 'x.y_z-1', 's'.repeat(64)])('accepts %j', (s) => {
    expect(isScope(s)).toBe(true)
  })

  it.each(['', ':read', '*', 'orders read', 'é', 's'.repeat(65)])('refuses %j', (s) => {
    expect(isScope(s)).toBe(false)
  })
})
