import { describe, expect, it } from 'vitest'
import {
  bodyHash,
  deriveKey,
  encodeApRep,
  encodeApReq,
  fromBase64Url,
  httpRequestHash,
  isBrokerError,
  LABELS,
  MSG,
  openAuthenticator,
  parseApReq,
  sealApRepPart,
  toBase64Url,
  utf8Encode,
} from '../../../kdc/protocol/index.js'
import {
  AuthenticatorBuilder,
  bodyBytes,
  normaliseMethod,
  requestHashOf,
  requestUrl,
} from '../../../client/authenticator.js'
import type { Credential } from '../../../client/credential.js'
import { FakeKdc, FakeTransport } from './fake-kdc.js'
import { KdcClock, systemClientClock } from '../../../client/clock.js'
import { Credentials } from '../../../client/credentials.js'

async function serviceCredential(): Promise<{ kdc: FakeKdc; credential: Credential }> {
  const kdc = new FakeKdc()
  const keytab = kdc.addPrincipal('payments')
  kdc.addPrincipal('orders')
  const kdcClock = new KdcClock(systemClientClock)
  const creds = new Credentials({
    transport: new FakeTransport(kdc, (t) => kdcClock.observe(t)),
    kdcClock,
    clock: systemClientClock,
    random: Math.random,
    realm: keytab.realm,
    principal: keytab.principal,
    loadKeytab: () => Promise.resolve(keytab),
    maxTickets: 4,
    tgtLifetime: 0,
    ticketLifetime: 0,
    refresh: false,
    onBackgroundError: () => undefined,
  })
  const entry = await creds.ticket('orders', [])
  return { kdc, credential: entry.credential }
}

/** What the service recomputes from the request it received. */
function serviceSideHash(
  method: string,
  host: string,
  target: string,
  body: Uint8Array,
): Uint8Array {
  const authority = host.toLowerCase().replace(/:(80|443)$/, '')
  return httpRequestHash({ method, authority, target, bodyHash: bodyHash(body) })
}

describe('request hash inputs', () => {
  const empty = new Uint8Array(0)
  const cases: [string, string, string, string][] = [
    ['GET', 'https://Orders.Internal/orders?id=7', 'orders.internal', '/orders?id=7'],
    ['GET', 'https://orders.internal:443/a', 'orders.internal', '/a'],
    ['GET', 'http://orders.internal:80/a', 'orders.internal', '/a'],
    ['GET', 'http://orders.internal:8080/a/b/', 'orders.internal:8080', '/a/b/'],
    ['GET', 'http://127.0.0.1:3000', '127.0.0.1:3000', '/'],
    ['GET', 'http://[::1]:3000/x?y=1&z=2', '[::1]:3000', '/x?y=1&z=2'],
    ['GET', 'http://h/a b?q=ä', 'h', '/a%20b?q=%C3%A4'],
    ['GET', 'http://h/x?#frag', 'h', '/x'],
    ['DELETE', 'http://h/x#frag', 'h', '/x'],
  ]
  for (const [method, url, authority, target] of cases) {
    it(`${method} ${url} binds authority ${authority} and target ${target}`, () => {
      expect(requestHashOf(method, new URL(url), undefined)).toEqual(
        serviceSideHash(method, authority, target, empty),
      )
    })
  }

  it('hashes the body bytes, whatever buffered form they come in', () => {
    const url = new URL('https://orders.internal/orders')
    const text = '{"sku":7,"note":"ü"}'
    const bytes = utf8Encode(text)
    const expected = serviceSideHash('POST', 'orders.internal', '/orders', bytes)
    expect(requestHashOf('POST', url, bodyBytes(text))).toEqual(expected)
    expect(requestHashOf('POST', url, bodyBytes(bytes))).toEqual(expected)
    expect(requestHashOf('POST', url, bodyBytes(bytes.slice().buffer))).toEqual(expected)
    const padded = new Uint8Array(bytes.length + 4)
    padded.set(bytes, 2)
    expect(
      requestHashOf('POST', url, bodyBytes(new DataView(padded.buffer, 2, bytes.length))),
    ).toEqual(expected)
    expect(requestHashOf('POST', url, bodyBytes(Buffer.from(bytes)))).toEqual(expected)
    expect(bodyBytes(new URLSearchParams({ a: '1', b: 'x y' }))).toEqual(utf8Encode('a=1&b=x+y'))
  })

  it('an absent body hashes as the empty string, and differs from a non-empty one', () => {
    const url = new URL('http://h/')
    expect(requestHashOf('POST', url, bodyBytes(undefined))).toEqual(
      requestHashOf('POST', url, bodyBytes('')),
    )
    expect(requestHashOf('POST', url, bodyBytes(null))).toEqual(
      serviceSideHash('POST', 'h', '/', new Uint8Array(0)),
    )
    expect(requestHashOf('POST', url, bodyBytes('x'))).not.toEqual(
      requestHashOf('POST', url, undefined),
    )
  })

  it('refuses streamed bodies with a TypeError that says to buffer them', () => {
    expect(() => bodyBytes(new ReadableStream())).toThrow(/must be buffered/)
    expect(() => bodyBytes(new Blob(['x']))).toThrow(TypeError)
    expect(() => bodyBytes(new FormData())).toThrow(TypeError)
  })

  it('upper-cases methods and refuses non-tokens', () => {
    expect(normaliseMethod('patch')).toBe('PATCH')
    expect(normaliseMethod(undefined)).toBe('GET')
    expect(() => normaliseMethod('GE T')).toThrow(TypeError)
    expect(() => normaliseMethod(7)).toThrow(TypeError)
  })

  it('accepts absolute http(s) and ws(s) URLs only', () => {
    expect(requestUrl('wss://h/socket').host).toBe('h')
    expect(() => requestUrl('/relative')).toThrow(TypeError)
    expect(() => requestUrl('ftp://h/x')).toThrow(TypeError)
    expect(() => requestUrl(42)).toThrow(TypeError)
  })
})

describe('AuthenticatorBuilder', () => {
  it('builds "Tessera <base64url(AP-REQ)>" that the service can open, with counters 1, 2, 3', async () => {
    const { kdc, credential } = await serviceCredential()
    const builder = new AuthenticatorBuilder(credential)
    const url = new URL('https://orders.internal/orders?id=7')
    const hash = requestHashOf('GET', url, undefined)
    for (const expectedCounter of [1, 2, 3]) {
      const out = builder.apReq(1_800_000_000, hash)
      expect(out.authorization).toMatch(/^Tessera [A-Za-z0-9_-]+$/)
      const bytes = fromBase64Url(out.authorization.slice('Tessera '.length))
      expect(bytes).toBeDefined()
      const apReq = parseApReq(bytes as Uint8Array)
      expect(apReq.ticket).toEqual(credential.ticket)
      const part = kdc.openServiceTicket(apReq.ticket)
      const auth = openAuthenticator(
        deriveKey(part.sessionKey, LABELS.authenticator),
        { realm: credential.realm, client: 'payments', service: 'orders', msgType: MSG.AP_REQ },
        apReq.authenticator,
      )
      expect(auth.counter).toBe(expectedCounter)
      expect(out.counter).toBe(expectedCounter)
      expect(auth.ctime).toBe(1_800_000_000)
      expect(new Uint8Array(auth.requestHash)).toEqual(new Uint8Array(hash))
    }
    expect(builder.counter).toBe(3)
  })

  it('encodes exactly what encodeApReq encodes (precomputed prefix)', async () => {
    const { credential } = await serviceCredential()
    const builder = new AuthenticatorBuilder(credential)
    const out = builder.apReq(1, new Uint8Array(32))
    const bytes = fromBase64Url(out.authorization.slice(8)) as Uint8Array
    const apReq = parseApReq(bytes)
    expect(bytes).toEqual(encodeApReq(apReq))
    // The token is the protocol's unpadded base64url, character for character.
    expect(out.authorization).toBe(`Tessera ${toBase64Url(bytes)}`)
  })

  it('seals a fresh authenticator every call, even for the same request', async () => {
    const { credential } = await serviceCredential()
    const builder = new AuthenticatorBuilder(credential)
    const hash = new Uint8Array(32)
    expect(builder.apReq(5, hash).authorization).not.toBe(builder.apReq(5, hash).authorization)
  })

  it('caches derived subkeys and wipes them', async () => {
    const { credential } = await serviceCredential()
    const builder = new AuthenticatorBuilder(credential)
    const k = builder.subkey(LABELS.admin)
    expect(builder.subkey(LABELS.admin)).toBe(k)
    expect(k).toEqual(deriveKey(credential.sessionKey, LABELS.admin))
    builder.wipe()
    expect(k.every((b) => b === 0)).toBe(true)
  })
})

describe('mutual authentication (AP-REP)', () => {
  async function setupMutual(): Promise<{
    builder: AuthenticatorBuilder
    apRep: (ctime: number, counter: number, key?: Uint8Array) => string
    credential: Credential
  }> {
    const { kdc, credential } = await serviceCredential()
    const builder = new AuthenticatorBuilder(credential)
    const sessionKey = kdc.openServiceTicket(credential.ticket).sessionKey
    const apRep = (ctime: number, counter: number, key = sessionKey): string =>
      toBase64Url(
        encodeApRep({
          encPart: sealApRepPart(
            deriveKey(key, LABELS.apRep),
            { realm: credential.realm, client: 'payments', service: 'orders' },
            { ctime, counter },
          ),
        }),
      )
    return { builder, apRep, credential }
  }

  it('accepts an AP-REP that echoes ctime and counter', async () => {
    const { builder, apRep } = await setupMutual()
    const out = builder.apReq(100, new Uint8Array(32))
    expect(() => {
      builder.checkApRep(apRep(out.ctime, out.counter), out.ctime, out.counter)
    }).not.toThrow()
  })

  const failures: [
    string,
    (h: (c: number, n: number, k?: Uint8Array) => string) => string | null,
  ][] = [
    ['missing', () => null],
    ['empty', () => ''],
    ['not base64url', () => '***'],
    ['not an AP-REP', () => toBase64Url(new Uint8Array([1, 2, 3]))],
    ['another counter', (h) => h(100, 2)],
    ['another ctime', (h) => h(101, 1)],
    ['sealed with another key', (h) => h(100, 1, new Uint8Array(32).fill(7))],
  ]
  for (const [name, make] of failures) {
    it(`refuses an AP-REP header that is ${name} with ERR_CLIENT_MUTUAL_FAILED`, async () => {
      const { builder, apRep } = await setupMutual()
      builder.apReq(100, new Uint8Array(32))
      let caught: unknown
      try {
        builder.checkApRep(make(apRep), 100, 1)
      } catch (err) {
        caught = err
      }
      expect(isBrokerError(caught, 'ERR_CLIENT_MUTUAL_FAILED')).toBe(true)
    })
  }
})
