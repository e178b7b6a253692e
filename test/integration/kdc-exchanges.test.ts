/**
 * AS + TGS + admin authentication against a real KDC process (issue #3 "Done when"). Every refusal
 * asserts its wire code, and the audit log's precise status where the wire is vague.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  buildAdminRequest,
  deriveKey,
  parseFrame,
  encodeFrame,
  LABELS,
  MSG,
  openTicket,
  toHex,
  toBase64Url,
  type PolicyRule,
} from '../../kdc/protocol/index.js'
import {
  adminRequest,
  buildAsReq,
  buildTgsReq,
  codeOf,
  errorCode,
  getServiceTicket,
  KdcWire,
  login,
  nowSeconds,
  startKdcRealm,
  type Credentials,
  type KdcRealm,
} from '../helpers/kdc-harness.js'

const RULES: PolicyRule[] = [
  {
    id: 'payments-orders',
    caller: 'payments',
    target: 'orders',
    scopes: ['orders:read', 'orders:write'],
    maxLifetime: 600,
  },
  {
    id: 'front-inventory',
    caller: 'group:frontends',
    target: 'inventory',
    scopes: ['inv:read'],
    maxLifetime: 0,
  },
  { id: 'to-legacy', caller: 'payments', target: 'legacy', scopes: [], maxLifetime: 0 },
]

let kdc!: KdcRealm
let wire!: KdcWire

beforeAll(async () => {
  kdc = await startKdcRealm({
    principals: [
      { name: 'payments' },
      { name: 'orders' },
      { name: 'inventory' },
      { name: 'web', groups: ['frontends'] },
      { name: 'legacy', enabled: false },
      { name: 'frozen', enabled: false },
    ],
    rules: RULES,
  })
  wire = await KdcWire.connect(kdc.url)
})

afterAll(async () => {
  ;(wire as KdcWire | undefined)?.close()
  await (kdc as KdcRealm | undefined)?.cleanup()
})

function loginAs(name: string): Promise<Credentials> {
  return login(wire, { realm: kdc.realm, client: name, key: kdc.key(name) })
}

function lastAudit(
  pred: (r: Record<string, unknown>) => boolean,
): Record<string, unknown> | undefined {
  return kdc.auditRecords().filter(pred).at(-1)
}

async function waitAudit(
  pred: (r: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  for (let i = 0; i < 100; i++) {
    const r = lastAudit(pred)
    if (r !== undefined) return r
    await new Promise((res) => setTimeout(res, 20))
  }
  throw new Error('audit record not found')
}

describe('AS exchange', () => {
  it('issues a TGT sealed with krbtgt and a session key for the client', async () => {
    const creds = await loginAs('payments')
    expect(creds.tgt.service).toBe('krbtgt')
    expect(creds.tgt.realm).toBe(kdc.realm)
    const krbtgt = kdc.keys('krbtgt').find((k) => k.kvno === creds.tgt.kvno)!
    const part = openTicket(creds.tgt, deriveKey(krbtgt.key, LABELS.ticket))
    expect(part.client).toBe('payments')
    expect(part.flags & 1).toBe(1)
    expect(toHex(part.sessionKey)).toBe(toHex(creds.part.sessionKey))
    expect(part.endTime - part.startTime).toBe(3600)
    expect(Math.abs(creds.kdcTime - nowSeconds())).toBeLessThanOrEqual(2)
  })

  it('caps the requested lifetime at the realm maximum and refuses one below the minimum', async () => {
    const creds = await login(wire, {
      realm: kdc.realm,
      client: 'payments',
      key: kdc.key('payments'),
      lifetime: 10 * 86_400,
    })
    expect(creds.part.endTime - creds.part.startTime).toBe(86_400)
    expect(
      await codeOf(
        login(wire, {
          realm: kdc.realm,
          client: 'payments',
          key: kdc.key('payments'),
          lifetime: 59,
        }),
      ),
    ).toBe('ERR_KDC_BAD_LIFETIME')
  })

  it('answers an unknown principal like a failed pre-auth, with the precise status in the audit log', async () => {
    const code = await codeOf(
      login(wire, { realm: kdc.realm, client: 'nobody', key: kdc.key('payments') }),
    )
    expect(code).toBe('ERR_KDC_PREAUTH_FAILED')
    const rec = await waitAudit((r) => r.caller === 'nobody')
    expect(rec.outcome).toBe('ERR_KDC_PREAUTH_FAILED')
    expect(rec.status).toBe('CLIENT_NOT_FOUND')
  })

  it('refuses a pre-auth sealed with the wrong key', async () => {
    const code = await codeOf(
      login(wire, {
        realm: kdc.realm,
        client: 'orders',
        key: kdc.key('orders'),
        sealWith: kdc.key('payments').key,
      }),
    )
    expect(code).toBe('ERR_KDC_PREAUTH_FAILED')
    const rec = await waitAudit((r) => r.caller === 'orders' && r.outcome !== 'OK')
    expect(rec.status).toBe('PREAUTH_BAD_INTEGRITY')
  })

  it('refuses an unknown kvno without trying other keys', async () => {
    const key = { ...kdc.key('inventory'), kvno: 99 }
    expect(await codeOf(login(wire, { realm: kdc.realm, client: 'inventory', key }))).toBe(
      'ERR_KDC_PREAUTH_FAILED',
    )
    const rec = await waitAudit((r) => r.caller === 'inventory' && r.outcome !== 'OK')
    expect(rec.status).toBe('KVNO_UNKNOWN')
  })

  it('refuses a replayed pre-auth with ERR_AP_REPLAY', async () => {
    const { frame } = buildAsReq({
      realm: kdc.realm,
      client: 'payments',
      key: kdc.key('payments'),
      id: wire.nextId(),
    })
    const first = await wire.request(frame)
    expect(first.type).toBe(MSG.AS_REP)
    const again = await wire.request({ ...frame, id: wire.nextId() })
    expect(errorCode(again)).toBe('ERR_AP_REPLAY')
  })

  it('refuses a pre-auth timestamp outside the skew window with ERR_AP_SKEW', async () => {
    for (const ctime of [nowSeconds() - 400, nowSeconds() + 400]) {
      expect(
        await codeOf(
          login(wire, { realm: kdc.realm, client: 'payments', key: kdc.key('payments'), ctime }),
        ),
      ).toBe('ERR_AP_SKEW')
    }
  })

  it('refuses a disabled principal (after pre-auth) with ERR_KDC_PRINCIPAL_DISABLED', async () => {
    expect(await codeOf(loginAs('frozen'))).toBe('ERR_KDC_PRINCIPAL_DISABLED')
  })

  it('refuses logins as the reserved principals', async () => {
    expect(
      await codeOf(login(wire, { realm: kdc.realm, client: 'krbtgt', key: kdc.key('krbtgt') })),
    ).toBe('ERR_KDC_PREAUTH_FAILED')
  })
})

describe('TGS exchange', () => {
  it('issues a service ticket for an allowed pair, with every scope the rule grants', async () => {
    const creds = await loginAs('payments')
    const st = await getServiceTicket(wire, { creds, target: 'orders' })
    expect(st.part.scopes).toEqual(['orders:read', 'orders:write'])
    expect(st.ticket.service).toBe('orders')
    expect(st.ticket.kvno).toBe(kdc.key('orders').kvno)
    const part = openTicket(st.ticket, deriveKey(kdc.key('orders').key, LABELS.ticket))
    expect(part.client).toBe('payments')
    expect(part.scopes).toEqual(['orders:read', 'orders:write'])
    expect(part.flags).toBe(0)
    expect(part.kdcCheck.length).toBe(0)
    expect(part.policyVersion).toBe(st.part.policyVersion)
    expect(toHex(part.sessionKey)).toBe(toHex(st.part.sessionKey))
    expect(toHex(part.ticketId)).toBe(toHex(st.part.ticketId))
    // Default 15 min, capped by the rule's 600 s.
    expect(part.endTime - part.startTime).toBe(600)
    const rec = await waitAudit((r) => r.exchange === 'TGS' && r.ticketId === toHex(part.ticketId))
    expect(rec).toMatchObject({
      outcome: 'OK',
      caller: 'payments',
      target: 'orders',
      rules: ['payments-orders'],
      scopes: ['orders:read', 'orders:write'],
    })
    expect(typeof rec.policyVersion).toBe('number')
  })

  it('grants a requested subset of scopes', async () => {
    const creds = await loginAs('payments')
    const st = await getServiceTicket(wire, { creds, target: 'orders', scopes: ['orders:read'] })
    expect(st.part.scopes).toEqual(['orders:read'])
  })

  it('never grants a scope beyond the rule: ERR_KDC_POLICY', async () => {
    const creds = await loginAs('payments')
    expect(
      await codeOf(
        getServiceTicket(wire, {
          creds,
          target: 'orders',
          scopes: ['orders:admin', 'orders:read'],
        }),
      ),
    ).toBe('ERR_KDC_POLICY')
    const rec = await waitAudit((r) => r.exchange === 'TGS' && r.status === 'SCOPE_NOT_GRANTED')
    expect(rec.outcome).toBe('ERR_KDC_POLICY')
  })

  it('denies a pair no rule allows: ERR_KDC_POLICY', async () => {
    const creds = await loginAs('payments')
    expect(await codeOf(getServiceTicket(wire, { creds, target: 'inventory' }))).toBe(
      'ERR_KDC_POLICY',
    )
    const rec = await waitAudit((r) => r.exchange === 'TGS' && r.status === 'NO_RULE')
    expect(rec.target).toBe('inventory')
  })

  it('matches group selectors', async () => {
    const creds = await loginAs('web')
    const st = await getServiceTicket(wire, { creds, target: 'inventory' })
    expect(st.part.scopes).toEqual(['inv:read'])
    expect(await codeOf(getServiceTicket(wire, { creds, target: 'orders' }))).toBe('ERR_KDC_POLICY')
  })

  it('refuses an unknown target and a disabled target', async () => {
    const creds = await loginAs('payments')
    expect(await codeOf(getServiceTicket(wire, { creds, target: 'ghost' }))).toBe(
      'ERR_KDC_PRINCIPAL_UNKNOWN',
    )
    expect(await codeOf(getServiceTicket(wire, { creds, target: 'legacy' }))).toBe(
      'ERR_KDC_PRINCIPAL_DISABLED',
    )
  })

  it('refuses a replayed TGS-REQ with ERR_AP_REPLAY', async () => {
    const creds = await loginAs('payments')
    const { frame } = buildTgsReq({ creds, target: 'orders', id: wire.nextId() })
    expect((await wire.request(frame)).type).toBe(MSG.TGS_REP)
    const again = await wire.request({ ...frame, id: wire.nextId() })
    expect(errorCode(again)).toBe('ERR_AP_REPLAY')
  })

  it('refuses an authenticator bound to another request: ERR_AP_REQUEST_MISMATCH', async () => {
    const creds = await loginAs('payments')
    const { frame } = buildTgsReq({ creds, target: 'orders', id: wire.nextId() })
    if (frame.type !== MSG.TGS_REQ) throw new Error('unreachable')
    const widened = { ...frame, body: { ...frame.body, scopes: ['orders:write'] } }
    expect(errorCode(await wire.request(widened))).toBe('ERR_AP_REQUEST_MISMATCH')
  })

  it('refuses a skewed authenticator: ERR_AP_SKEW', async () => {
    const creds = await loginAs('payments')
    expect(
      await codeOf(getServiceTicket(wire, { creds, target: 'orders', ctime: nowSeconds() - 1000 })),
    ).toBe('ERR_AP_SKEW')
  })

  it('refuses lifetimes below the minimum and bounds by the TGT', async () => {
    const creds = await login(wire, {
      realm: kdc.realm,
      client: 'web',
      key: kdc.key('web'),
      lifetime: 120,
    })
    expect(await codeOf(getServiceTicket(wire, { creds, target: 'inventory', lifetime: 30 }))).toBe(
      'ERR_KDC_BAD_LIFETIME',
    )
    const st = await getServiceTicket(wire, { creds, target: 'inventory', lifetime: 3600 })
    expect(st.part.endTime).toBe(creds.part.endTime)
  })

  it('issues kadmin tickets without a policy rule, with no scopes, and the admin exchange works', async () => {
    const creds = await loginAs('admin')
    const kadmin = await getServiceTicket(wire, { creds, target: 'kadmin' })
    expect(kadmin.part.scopes).toEqual([])
    expect(await codeOf(getServiceTicket(wire, { creds, target: 'kadmin', scopes: ['x'] }))).toBe(
      'ERR_KDC_POLICY',
    )
    const reply = await adminRequest(wire, creds, kadmin, ['status', []])
    expect(JSON.stringify(reply)).toContain(kdc.realm)
  })

  it('refuses TGS for krbtgt itself', async () => {
    const creds = await loginAs('payments')
    expect(await codeOf(getServiceTicket(wire, { creds, target: 'krbtgt' }))).toBe('ERR_KDC_POLICY')
  })
})

describe('frames', () => {
  it('answers every wrong-type frame with ERR_PROTO_UNEXPECTED and keeps serving', async () => {
    const frame = { type: MSG.ERROR, id: 4242, body: { kdcTime: 1, wire: 100 } } as const
    wire.sendRaw(encodeFrame(frame))
    const reply = await wire.next((r) => r.frame.id === 4242)
    expect(errorCode(reply.frame)).toBe('ERR_PROTO_UNEXPECTED')
    const creds = await loginAs('payments')
    await getServiceTicket(wire, { creds, target: 'orders' })
  })
})

describe('http endpoints', () => {
  it('GET /healthz reports ok and the realm', async () => {
    const res = await fetch(`http://127.0.0.1:${kdc.port}/healthz`)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ status: 'ok', realm: kdc.realm })
  })

  it('GET /metrics exposes request counters and gauges', async () => {
    const text = await (await fetch(`http://127.0.0.1:${kdc.port}/metrics`)).text()
    expect(text).toContain('tessera_kdc_requests_total{exchange="AS",outcome="OK"}')
    expect(text).toContain('tessera_kdc_open_connections')
    expect(text).toMatch(/tessera_kdc_principals \d+/)
    expect(text).toMatch(/tessera_kdc_policy_version \d+/)
    expect(text).toContain('tessera_kdc_request_duration_seconds_bucket')
  })
})

describe('audit', () => {
  it('never writes key material', async () => {
    const creds = await loginAs('payments')
    const st = await getServiceTicket(wire, { creds, target: 'orders' })
    await new Promise((r) => setTimeout(r, 100))
    const out = kdc.logs.stdout.join('\n') + kdc.logs.stderr.join('\n')
    const secrets: Uint8Array[] = [creds.part.sessionKey, st.part.sessionKey]
    for (const name of ['payments', 'orders', 'krbtgt', 'kadmin', 'admin', 'web']) {
      for (const k of kdc.keys(name)) secrets.push(k.key)
    }
    for (const s of secrets) {
      expect(out).not.toContain(toHex(s))
      expect(out).not.toContain(toBase64Url(s))
      expect(out).not.toContain(Buffer.from(s).toString('base64'))
      expect(out).not.toContain(Array.from(s).join(','))
    }
    expect(kdc.auditRecords().length).toBeGreaterThan(10)
  })
})

describe('admin exchange', () => {
  it('applies an admin disable and a policy change to the very next TGS request, without a restart', async () => {
    const admin = await loginAs('admin')
    const kadmin = await getServiceTicket(wire, { creds: admin, target: 'kadmin' })
    const web = await loginAs('web')
    await getServiceTicket(wire, { creds: web, target: 'inventory' })

    await adminRequest(
      wire,
      admin,
      kadmin,
      buildAdminRequest({ op: 'principal.disable', name: 'web' }),
    )
    expect(await codeOf(getServiceTicket(wire, { creds: web, target: 'inventory' }))).toBe(
      'ERR_KDC_PRINCIPAL_DISABLED',
    )
    await adminRequest(
      wire,
      admin,
      kadmin,
      buildAdminRequest({ op: 'principal.enable', name: 'web' }),
    )
    await getServiceTicket(wire, { creds: web, target: 'inventory' })

    const tighter = RULES.filter((r) => r.id !== 'front-inventory')
    await adminRequest(
      wire,
      admin,
      kadmin,
      buildAdminRequest({ op: 'policy.apply', rules: tighter }),
    )
    expect(await codeOf(getServiceTicket(wire, { creds: web, target: 'inventory' }))).toBe(
      'ERR_KDC_POLICY',
    )
    await adminRequest(wire, admin, kadmin, buildAdminRequest({ op: 'policy.apply', rules: RULES }))
    const st = await getServiceTicket(wire, { creds: web, target: 'inventory' })
    expect(st.part.policyVersion).toBeGreaterThan(1)
  })

  it('passes the admin ACL verdict through: a non-admin gets ERR_ADMIN_FORBIDDEN', async () => {
    const creds = await loginAs('payments')
    const kadmin = await getServiceTicket(wire, { creds, target: 'kadmin' })
    expect(
      await codeOf(adminRequest(wire, creds, kadmin, buildAdminRequest({ op: 'status' }))),
    ).toBe('ERR_ADMIN_FORBIDDEN')
  })

  it('refuses a TGT in place of a kadmin ticket, a replayed and a re-bound admin request', async () => {
    const admin = await loginAs('admin')
    const kadmin = await getServiceTicket(wire, { creds: admin, target: 'kadmin' })
    const asTgt = {
      ticket: admin.tgt,
      part: { ...kadmin.part, sessionKey: admin.part.sessionKey },
      kdcTime: 0,
    }
    expect(
      await codeOf(adminRequest(wire, admin, asTgt, buildAdminRequest({ op: 'status' }))),
    ).toBe('ERR_AP_NOT_US')
    // Capture one ADMIN_REQ frame and send it again under a new id and as-is.
    const sent: Uint8Array[] = []
    const original = wire.ws.send.bind(wire.ws)
    wire.ws.send = ((data: Uint8Array, opts: unknown) => {
      sent.push(new Uint8Array(data))
      ;(original as (d: Uint8Array, o: unknown) => void)(data, opts)
    }) as typeof wire.ws.send
    await adminRequest(wire, admin, kadmin, buildAdminRequest({ op: 'status' }))
    wire.ws.send = original
    const frame = parseFrame(sent[0]!)
    expect(errorCode(await wire.request(frame))).toBe('ERR_AP_REPLAY')
    expect(errorCode(await wire.request({ ...frame, id: wire.nextId() }))).toBe(
      'ERR_AP_REQUEST_MISMATCH',
    )
  })
})
