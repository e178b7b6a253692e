/** What the KDC's per-address connection cap counts (kdc/server/listener.ts clientAddress). */
import { describe, expect, it } from 'vitest'
import { clientAddress } from '../../../../kdc/server/listener.js'

describe('clientAddress', () => {
  it('counts an IPv4 address as itself, also when IPv4-mapped', () => {
    expect(clientAddress('127.0.0.1')).toBe('127.0.0.1')
    expect(clientAddress('::ffff:10.1.2.3')).toBe('10.1.2.3')
  })

  it('counts IPv6 addresses by their /64 prefix, however written', () => {
    const a = clientAddress('2001:db8:1:2:aaaa:bbbb:cccc:dddd')
    expect(a).toBe('2001:db8:1:2::/64')
    expect(clientAddress('2001:db8:1:2::1')).toBe(a)
    expect(clientAddress('2001:0db8:0001:0002:0:0:0:ffff')).toBe(a)
    expect(clientAddress('2001:db8:1:3::1')).not.toBe(a)
    expect(clientAddress('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
    expect(clientAddress('::1')).toBe('0:0:0:0::/64')
    expect(clientAddress('2001:db8::')).toBe('2001:db8:0:0::/64')
  })

  it('never throws on an address it cannot read', () => {
    expect(clientAddress(undefined)).toBe('?')
    expect(typeof clientAddress('::')).toBe('string')
    expect(typeof clientAddress('zz::zz')).toBe('string')
  })
})
