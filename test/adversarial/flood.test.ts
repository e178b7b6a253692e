/**
 * Floods and slow clients (house style B7 flood.test.ts), loopback only, bounded loops: the
 * connection cap refuses with HTTP 503 and recovers, a burst far above the in-flight cap is answered
 * frame by frame, silent and half-sent connections are cut by the handshake and idle timeouts, and
 * many concurrent clients are all served.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeFrame, MSG, type PolicyRule } from '../../kdc/protocol/index.js'
import {
  buildAsReq,
  errorCode,
  getServiceTicket,
  KdcWire,
  login,
  RawWs,
  startKdcRealm,
  type KdcRealm,
} from '../helpers/kdc-harness.js'

const RULES: PolicyRule[] = [
  { id: 'a-b', caller: 'alpha', target: 'bravo', scopes: ['x'], maxLifetime: 0 },
]
const MAX_CONN = 6
const INFLIGHT = 8

describe('a KDC with small caps and short timeouts', () => {
  let kdc!: KdcRealm
  beforeAll(async () => {
    kdc = await startKdcRealm({
      principals: [{ name: 'alpha' }, { name: 'bravo' }],
      rules: RULES,
      args: [
        '--max-connections',
        String(MAX_CONN),
        '--max-inflight-per-connection',
        String(INFLIGHT),
        '--handshake-timeout-ms',
        '500',
        '--idle-timeout-ms',
        '800',
      ],
    })
  })
  afterAll(async () => {
    await (kdc as KdcRealm | undefined)?.cleanup()
  })

  it(`accepts ${MAX_CONN} connections, refuses the next with HTTP 503, and recovers when one closes`, async () => {
    const conns: KdcWire[] = []
    for (let i = 0; i < MAX_CONN; i++) conns.push(await KdcWire.connect(kdc.url))
    await expect(KdcWire.connect(kdc.url)).rejects.toThrow(/HTTP 503/)
    // Plain HTTP still answers while the WebSocket cap is reached.
    expect((await fetch(`http://127.0.0.1:${kdc.port}/healthz`)).status).toBe(200)
    const first = conns.shift()!
    first.close()
    await first.closed
    await new Promise((r) => setTimeout(r, 50))
    const again = await KdcWire.connect(kdc.url)
    await login(again, { realm: kdc.realm, client: 'alpha', key: kdc.key('alpha') })
    for (const c of [...conns, again]) c.close()
    await Promise.all([...conns, again].map((c) => c.closed))
    const metrics = await (await fetch(`http://127.0.0.1:${kdc.port}/metrics`)).text()
    expect(metrics).toMatch(
      /tessera_kdc_rejected_connections_total\{reason="connection_cap"\} [1-9]/,
    )
  })

  it('answers every frame of a 200-frame burst (served or ERR_KDC_RATE_LIMITED) and keeps serving', async () => {
    const raw = await RawWs.connect(kdc.url)
    const N = 200
    const frames = Array.from({ length: N }, (_, i) =>
      RawWs.frame(
        encodeFrame(
          buildAsReq({ realm: kdc.realm, client: 'alpha', key: kdc.key('alpha'), id: 1 + i }).frame,
        ),
      ),
    )
    raw.write(Buffer.concat(frames))
    await raw.waitFor(N)
    const replies = raw.frames()
    expect(replies).toHaveLength(N)
    expect(new Set(replies.map((r) => r.id)).size).toBe(N)
    const served = replies.filter((r) => r.type === MSG.AS_REP).length
    const limited = replies.filter(
      (r) => r.type === MSG.ERROR && errorCode(r) === 'ERR_KDC_RATE_LIMITED',
    ).length
    expect(served + limited).toBe(N)
    expect(served).toBeGreaterThanOrEqual(INFLIGHT)
    expect(limited).toBeGreaterThan(0)
    raw.destroy()
    const wire = await KdcWire.connect(kdc.url)
    const creds = await login(wire, { realm: kdc.realm, client: 'alpha', key: kdc.key('alpha') })
    await getServiceTicket(wire, { creds, target: 'bravo' })
    wire.close()
  })

  it('cuts a TCP connection that never sends a request (handshake timeout)', async () => {
    const raw = await RawWs.connect(kdc.url, false)
    const started = Date.now()
    await Promise.race([raw.ended, new Promise((r) => setTimeout(r, 5_000))])
    expect(raw.socket.closed).toBe(true)
    expect(Date.now() - started).toBeLessThan(4_000)
  })

  it('cuts a handshake whose headers never finish', async () => {
    const raw = await RawWs.connect(kdc.url, false)
    raw.write(Buffer.from('GET /v1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'))
    await Promise.race([raw.ended, new Promise((r) => setTimeout(r, 5_000))])
    expect(raw.socket.closed).toBe(true)
  })

  it('closes an idle WebSocket with 1001', async () => {
    const wire = await KdcWire.connect(kdc.url)
    const { code } = await wire.closed
    expect(code).toBe(1001)
  })

  it('closes a WebSocket stuck in the middle of a frame (idle timeout)', async () => {
    const raw = await RawWs.connect(kdc.url)
    const frame = RawWs.frame(new Uint8Array(1000))
    raw.write(frame.subarray(0, 10))
    const started = Date.now()
    // The close frame comes first; a peer that never answers it is cut a second later.
    await Promise.race([raw.ended, new Promise((r) => setTimeout(r, 5_000))])
    expect(raw.closeCode()).toBe(1001)
    expect(raw.socket.closed).toBe(true)
    expect(Date.now() - started).toBeLessThan(3_500)
  })
})

describe('many concurrent clients', () => {
  let kdc!: KdcRealm
  beforeAll(async () => {
    kdc = await startKdcRealm({ principals: [{ name: 'alpha' }, { name: 'bravo' }], rules: RULES })
  })
  afterAll(async () => {
    await (kdc as KdcRealm | undefined)?.cleanup()
  })

  it('serves 20 clients doing AS + TGS concurrently, and a malformed neighbour changes nothing', async () => {
    const noisy = await KdcWire.connect(kdc.url)
    const noise = setInterval(() => {
      noisy.sendRaw(new Uint8Array([0xc1, 0xff, 0x00]))
    }, 2)
    const clients = await Promise.all(Array.from({ length: 20 }, () => KdcWire.connect(kdc.url)))
    const results = await Promise.all(
      clients.map(async (wire) => {
        for (let i = 0; i < 5; i++) {
          const creds = await login(wire, {
            realm: kdc.realm,
            client: 'alpha',
            key: kdc.key('alpha'),
          })
          const st = await getServiceTicket(wire, { creds, target: 'bravo' })
          expect(st.part.scopes).toEqual(['x'])
        }
        wire.close()
        return true
      }),
    )
    clearInterval(noise)
    noisy.close()
    expect(results.every(Boolean)).toBe(true)
  })
})

describe('a KDC with a per-address connection cap', () => {
  const PER_ADDRESS = 3
  let kdc!: KdcRealm
  beforeAll(async () => {
    kdc = await startKdcRealm({
      principals: [{ name: 'alpha' }, { name: 'bravo' }],
      rules: RULES,
      args: ['--max-connections-per-address', String(PER_ADDRESS)],
    })
  })
  afterAll(async () => {
    await (kdc as KdcRealm | undefined)?.cleanup()
  })

  it(`one address gets ${PER_ADDRESS} connections, then HTTP 503; another address is still served`, async () => {
    // 127.0.0.2 is loopback too (all of 127/8 is), so Linux lets us connect from it.
    const from = (address: string): Promise<KdcWire> =>
      KdcWire.connect(kdc.url, { localAddress: address })
    const flood: KdcWire[] = []
    for (let i = 0; i < PER_ADDRESS; i++) flood.push(await from('127.0.0.1'))
    await expect(from('127.0.0.1')).rejects.toThrow(/HTTP 503/)
    const other = await from('127.0.0.2')
    await login(other, { realm: kdc.realm, client: 'alpha', key: kdc.key('alpha') })
    // A slot comes back when one of the address's connections closes.
    const first = flood.shift()!
    first.close()
    await first.closed
    await new Promise((r) => setTimeout(r, 50))
    const again = await from('127.0.0.1')
    await login(again, { realm: kdc.realm, client: 'alpha', key: kdc.key('alpha') })
    for (const c of [...flood, other, again]) c.close()
    await Promise.all([...flood, other, again].map((c) => c.closed))
    const metrics = await (await fetch(`http://127.0.0.1:${kdc.port}/metrics`)).text()
    expect(metrics).toMatch(/tessera_kdc_rejected_connections_total\{reason="address_cap"\} 1\b/)
  })
})
