import { describe, expect, it } from 'vitest'
import {
  bodyHash,
  encode,
  httpRequestHash,
  isBrokerError,
  parseApReq,
  toHex,
} from '../../../kdc/protocol/index.js'
import { ApReqView, apReqPrefix } from '../../../service-sdk/ap-req-view.js'
import { verifierHeap } from '../../../service-sdk/heap.js'
import { AuthenticatorView } from '../../../service-sdk/plaintext-reader.js'
import { RequestHasher, splitUrl } from '../../../service-sdk/request-binding.js'
import { apReqBytes, keyOf, makeKeytab, mintTicket, REALM, SERVICE } from './fixtures.js'

describe('RequestHasher', () => {
  it('gives exactly the bytes of httpRequestHash for every string length class', () => {
    const heap = verifierHeap()
    const h = new RequestHasher(heap)
    const body = bodyHash(new Uint8Array([1, 2, 3]))
    /** digest() equals httpRequestHash, and hash() is the address of the same 32 bytes. */
    const check = (method: string, authority: string, target: string, label: string): void => {
      const want = toHex(httpRequestHash({ method, authority, target, bodyHash: body }))
      expect(toHex(h.digest(method, authority, target, body)), label).toBe(want)
      const at = h.hash(method, authority, target, body)
      expect(typeof at).toBe('number')
      heap.sync()
      expect(toHex(heap.u8.subarray(at, at + 32)), label).toBe(want)
    }
    const lengths = [0, 1, 31, 32, 33, 255, 256, 257, 65535, 65536, 70000]
    for (const n of lengths) {
      for (const target of ['/' + 'a'.repeat(Math.max(0, n - 1)), '/é' + 'x'.repeat(n)]) {
        check('GET', 'h', target, `target length ${n}`)
      }
      check('PATCH', 'a'.repeat(n), '/', `authority length ${n}`)
      check('X'.repeat(Math.max(1, n)), 'h', '/', `method length ${n}`)
    }
    // Back to short strings after growing: the prefix is rewritten in the new block.
    check('GET', 'h', '/', 'short after long')
    h.dispose()
  })

  it('digest() is a copy: a later hash() does not change it', () => {
    const h = new RequestHasher()
    const body = bodyHash(new Uint8Array(0))
    const first = h.digest('GET', 'h', '/a', body)
    const firstHex = toHex(first)
    h.hash('GET', 'h', '/b', body)
    expect(toHex(first)).toBe(firstHex)
    expect(first.buffer).not.toBe(verifierHeap().u8.buffer)
    h.dispose()
  })

  it('splits absolute URLs into target and host', () => {
    expect(splitUrl('https://Orders.internal:8443/a/b?c=1#frag')).toEqual({
      target: '/a/b?c=1',
      host: 'Orders.internal:8443',
    })
    expect(splitUrl('http://h?q')).toEqual({ target: '/?q', host: 'h' })
    // A target from the network that names no server cannot be bound: a refusal, not a guess.
    for (const bad of [
      'nonsense',
      'orders.internal:443', // CONNECT's authority-form
      'ftp://h/x',
      'http:///api/orders', // empty host
      'http://orders.internal:acme/orders', // port not a number
      'http://orders.internal:/orders', // empty port
      'http://orders.internal:65536/orders',
      'http://user@orders.internal/orders', // userinfo
      'http://[::1/orders',
    ]) {
      let code = 'no error'
      try {
        splitUrl(bad)
      } catch (err) {
        code = isBrokerError(err, 'ERR_AP_REQUEST_MISMATCH')
          ? 'ERR_AP_REQUEST_MISMATCH'
          : String(err)
      }
      expect(code, bad).toBe('ERR_AP_REQUEST_MISMATCH')
    }
    expect(splitUrl('http://[::1]:8443/x')).toEqual({ target: '/x', host: '[::1]:8443' })
    expect(splitUrl('HTTP://[::1]/x?y')).toEqual({ target: '/x?y', host: '[::1]' })
    expect(splitUrl('http://10.0.0.1:65535')).toEqual({ target: '/', host: '10.0.0.1:65535' })
  })
})

describe('ApReqView', () => {
  const keytab = makeKeytab([1, 200, 70000])
  const view = new ApReqView(apReqPrefix(REALM, SERVICE))

  it('reads offsets that agree with parseApReq for every kvno encoding', () => {
    for (const kvno of [1, 200, 70000]) {
      const m = mintTicket({ serviceKey: keyOf(keytab, kvno), kvno })
      const bytes = apReqBytes(m)
      expect(view.scan(bytes)).toBe(true)
      const parsed = parseApReq(bytes)
      expect(view.kvno).toBe(kvno)
      expect(toHex(bytes.subarray(view.sealedStart, view.ticketEnd))).toBe(
        toHex(parsed.ticket.sealed),
      )
      expect(toHex(bytes.subarray(view.authStart))).toBe(toHex(parsed.authenticator))
    }
  })

  it('accepts only what parseApReq accepts (random mutations)', () => {
    const m = mintTicket({ serviceKey: keyOf(keytab, 200), kvno: 200 })
    const good = apReqBytes(m)
    let seed = 7
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    for (let i = 0; i < 3000; i++) {
      let bytes: Uint8Array = good.slice()
      const op = rand(4)
      if (op === 0) bytes[rand(bytes.length)] = rand(256)
      else if (op === 1) bytes = bytes.slice(0, rand(bytes.length))
      else if (op === 2) bytes = Uint8Array.from([...bytes, rand(256)])
      else bytes[rand(12)] = rand(256) // the header region
      let parsedOk = false
      try {
        const p = parseApReq(bytes)
        parsedOk = p.ticket.realm === REALM && p.ticket.service === SERVICE
      } catch (err) {
        expect(isBrokerError(err)).toBe(true)
      }
      expect(view.scan(bytes), `mutation ${i}`).toBe(parsedOk)
    }
  })

  it('refuses non-canonical kvno encodings', () => {
    const m = mintTicket({ serviceKey: keyOf(keytab, 1), kvno: 1 })
    const good = apReqBytes(m)
    const p = apReqPrefix(REALM, SERVICE).length
    const bad = Uint8Array.from([...good.subarray(0, p), 0xcc, 0x01, ...good.subarray(p + 1)])
    expect(view.scan(bad)).toBe(false)
  })
})

describe('AuthenticatorView', () => {
  it('parses canonical plaintexts and refuses the rest', () => {
    const v = new AuthenticatorView()
    const hash = new Uint8Array(32).fill(5)
    for (const [ctime, counter] of [
      [0, 0],
      [127, 128],
      [255, 256],
      [65535, 65536],
      [0xffff_ffff, 0xffff_ffff],
    ] as const) {
      expect(v.parse(encode([ctime, counter, hash]))).toBe(true)
      expect([v.ctime, v.counter]).toEqual([ctime, counter])
    }
    expect(v.parse(Uint8Array.from([0x93, 0xcc, 0x05, 0x01, 0xc4, 32, ...hash]))).toBe(false)
    expect(v.parse(encode([1, 2, hash.subarray(0, 31)]))).toBe(false)
    expect(v.parse(Uint8Array.from([...encode([1, 2, hash]), 0]))).toBe(false)
    expect(v.parse(encode([1, 2]))).toBe(false)
    expect(v.parse(new Uint8Array(0))).toBe(false)
  })
})
