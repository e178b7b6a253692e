/**
 * What the fuzzing harness (test/fuzz/main.ts, `npm run fuzz`) found in the KDC's policy limits,
 * as minimal reproductions; each failed before its fix.
 */
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import {
  buildAdminRequest,
  decode,
  deriveKey,
  encode,
  encodeFrame,
  isBrokerError,
  LABELS,
  MAX_ADMIN_PLAINTEXT_BYTES,
  MAX_SCOPES,
  MSG,
  OBJ,
  openAsRepPart,
  openTgsRepPart,
  openTicket,
  parseAdminReply,
  parseFrame,
  policyPlaintextBytes,
  ruleToWire,
  sealAdminPayload,
  sealAuthenticator,
  sealPreauth,
  tgsRequestHash,
  type PolicyRule,
} from '../../../kdc/protocol/index.js'
import { executeAdminOp } from '../../../kdc/server/admin.js'
import { adminDeps } from '../../../kdc/server/admin-exchange.js'
import { handleAsReq } from '../../../kdc/server/as.js'
import { buildConfig } from '../../../kdc/server/config.js'
import type { KdcContext } from '../../../kdc/server/context.js'
import { createContext } from '../../../kdc/server/kdc.js'
import { handleTgsReq } from '../../../kdc/server/tgs.js'
import { createMemoryStore } from '../../../kdc/store/memory-store.js'
import type { KdcStore } from '../../../kdc/store/store.js'

const REALM = 'FUZZ.TEST'
const NOW = 1_800_000_000
const clock = { nowSeconds: () => NOW }

async function kdc(
  rules: PolicyRule[],
  policyChanges = 0,
): Promise<{ store: KdcStore; ctx: KdcContext }> {
  const store = await createMemoryStore({ realm: REALM, clock })
  for (const name of ['krbtgt', 'kadmin']) await store.addPrincipal({ name })
  await store.addPrincipal({ name: 'payments', groups: ['buyers'] })
  await store.addPrincipal({ name: 'orders' })
  await store.addPrincipal({ name: 'root', groups: ['admins'] })
  for (let i = 0; i <= policyChanges; i++) await store.setPolicy(rules)
  const ctx = createContext({
    config: buildConfig({ dataDir: '/nonexistent', node: 'fuzz' }),
    store,
    clock,
    logDestination: new Writable({
      write(_chunk: Buffer, _enc, cb) {
        cb()
      },
    }),
  })
  return { store, ctx }
}

/** 'OK' or the BrokerError code (anything else is rethrown). */
function codeOf(fn: () => unknown): string {
  try {
    fn()
    return 'OK'
  } catch (err) {
    if (isBrokerError(err)) return err.code
    throw err
  }
}

const scopes = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}:${String(i).padStart(2, '0')}`)

// found in review: kdc/server/policy.ts decidePolicy (used by tgs.ts handleTgsReq and admin.ts
// policyCheck) returns the union of the scopes of every matching rule, and nothing bounds that union
// by MAX_SCOPES: each rule is limited to 32 scopes, but a direct rule plus a group rule for the same
// caller and target grant 34 here. The TGS then seals a ticket and a TGS-REP part with 34 scopes,
// which kdc/protocol's own parsers refuse (schema.ts scopes(): at most MAX_SCOPES): the client's
// openTgsRepPart and the service's openTicket / verifier throw ERR_AP_BAD_INTEGRITY (cause
// BAD_SCOPES), so the caller gets a ticket nobody can use, reported as a decryption failure. The
// policy.check dry run sends the same 34 scopes and tessera-admin's parseAdminReply refuses its reply
// (ERR_PROTO_MALFORMED / BAD_GRANTED_SCOPES).
describe('found in review: matching rules that together grant more than MAX_SCOPES scopes', () => {
  const rules: PolicyRule[] = [
    { id: 'direct', caller: 'payments', target: 'orders', scopes: scopes('a', 17), maxLifetime: 0 },
    {
      id: 'group',
      caller: 'group:buyers',
      target: 'orders',
      scopes: scopes('b', 17),
      maxLifetime: 0,
    },
  ]

  it('the TGS either refuses with a BrokerError or issues a ticket the client and the service can open', async () => {
    const { store, ctx } = await kdc(rules)
    const client = store.getPrincipal('payments')!.keys.at(-1)!
    const nonce = new Uint8Array(16).fill(1)
    const asRep = handleAsReq(
      ctx,
      {
        realm: REALM,
        client: 'payments',
        kvno: client.kvno,
        nonce,
        lifetime: 0,
        preauth: sealPreauth(
          deriveKey(client.key, LABELS.preauth),
          { realm: REALM, client: 'payments', kvno: client.kvno, lifetime: 0 },
          { ctime: NOW, nonce },
        ),
      },
      {},
    )
    const tgtSession = openAsRepPart(
      deriveKey(client.key, LABELS.asRep),
      { realm: REALM, client: 'payments', kvno: asRep.kvno },
      asRep.encPart,
    ).sessionKey
    const tgsNonce = new Uint8Array(16).fill(2)
    let rep: ReturnType<typeof handleTgsReq>
    try {
      rep = handleTgsReq(
        ctx,
        {
          tgt: asRep.tgt,
          authenticator: sealAuthenticator(
            deriveKey(tgtSession, LABELS.authenticator),
            { realm: REALM, client: 'payments', service: 'krbtgt', msgType: MSG.TGS_REQ },
            { ctime: NOW, counter: 1, requestHash: tgsRequestHash('orders', [], 0, tgsNonce) },
          ),
          target: 'orders',
          scopes: [], // everything policy grants
          lifetime: 0,
          nonce: tgsNonce,
        },
        {},
      )
    } catch (err) {
      // The fix: a clean refusal, since no ticket can carry 34 scopes.
      expect(isBrokerError(err, 'ERR_KDC_POLICY')).toBe(true)
      expect((err as { status?: string }).status).toBe('TOO_MANY_SCOPES')
      return
    }
    const orders = store.getPrincipal('orders')!.keys.at(-1)!
    // Today: ERR_AP_BAD_INTEGRITY for both (34 > MAX_SCOPES scopes inside).
    expect(
      codeOf(() =>
        openTgsRepPart(
          deriveKey(tgtSession, LABELS.tgsRep),
          { realm: REALM, client: 'payments', target: 'orders' },
          rep.encPart,
        ),
      ),
    ).toBe('OK')
    expect(codeOf(() => openTicket(rep.ticket, deriveKey(orders.key, LABELS.ticket)))).toBe('OK')
  })

  it('the policy.check dry run sends a reply tessera-admin can parse', async () => {
    const { store, ctx } = await kdc(rules)
    const reply = await executeAdminOp(
      adminDeps(ctx),
      store.getPrincipal('root')!,
      buildAdminRequest({
        op: 'policy.check',
        caller: 'payments',
        target: 'orders',
        scopes: ['zzz'],
      }),
    )
    // Was ERR_PROTO_MALFORMED (BAD_GRANTED_SCOPES): the reply listed all 34 granted scopes.
    const d = parseAdminReply('policy.check', decode(encode(reply)))
    expect(d).toMatchObject({ allowed: false, reason: 'SCOPE_NOT_GRANTED', grantedScopes: [] })
    expect(d.ruleIds).toEqual(['direct', 'group'])
  })

  it('policy.check for all scopes says TOO_MANY_SCOPES, and naming scopes is allowed', async () => {
    const { store, ctx } = await kdc(rules)
    const check = async (asked: string[]) =>
      parseAdminReply(
        'policy.check',
        decode(
          encode(
            await executeAdminOp(
              adminDeps(ctx),
              store.getPrincipal('root')!,
              buildAdminRequest({
                op: 'policy.check',
                caller: 'payments',
                target: 'orders',
                scopes: asked,
              }),
            ),
          ),
        ),
      )
    expect(await check([])).toMatchObject({
      allowed: false,
      reason: 'TOO_MANY_SCOPES',
      grantedScopes: [],
    })
    expect(await check(['a:03', 'b:16'])).toMatchObject({
      allowed: true,
      grantedScopes: ['a:03', 'b:16'],
      ruleIds: ['direct', 'group'],
    })
    expect(MAX_SCOPES).toBe(32)
  })
})

/**
 * A policy.apply request whose plaintext is exactly `size` bytes: 16+ rules (so the list is an
 * array16 whatever is added), then one rule sized to fill the rest.
 */
function policyOfSize(size: number): PolicyRule[] {
  const sizeOf = (rs: PolicyRule[]): number =>
    encode(buildAdminRequest({ op: 'policy.apply', rules: rs })).length
  const rule = (id: string, a: number, b: number): PolicyRule => ({
    id,
    caller: 'payments',
    target: 'orders',
    scopes: [`a${'x'.repeat(a)}`, `b${'y'.repeat(b)}`],
    maxLifetime: 0,
  })
  const rules: PolicyRule[] = []
  while (sizeOf(rules) < size - 300) rules.push(rule(`r${rules.length}`, 63, 63))
  while (sizeOf(rules) > size - 100) rules.pop()
  const gap = size - sizeOf(rules)
  for (let id = 1; id <= 64; id++) {
    for (let a = 0; a <= 63; a++) {
      for (let b = 0; b <= 63; b++) {
        const r = rule('z'.repeat(id), a, b)
        if (encode(ruleToWire(r)).length === gap) return [...rules, r]
      }
    }
  }
  throw new Error('no filler rule of that size')
}

// found in review: kdc/server/admin.ts executeAdminOp accepts a policy.apply whose request plaintext
// is up to MAX_ADMIN_PLAINTEXT_BYTES, but the policy.show reply carrying that policy back,
// ['policy.show', [version, rules]], is one byte longer than the request once the policy version
// is 128 or more (two to four bytes from 256 and 65 536), and nothing checks it: the KDC seals and
// sends an ADMIN-REP whose payload is 60 001 bytes, over MAX_ADMIN_SEALED_BYTES, which the client's
// parseFrame refuses (ERR_PROTO_MALFORMED, BAD_PAYLOAD). From then on `tessera-admin policy show`
// fails with a "protocol skew" hint until the policy is replaced.
describe('found in review: a policy that policy.apply accepts can be too large for policy.show', () => {
  it('policy.show of an accepted policy fits the admin payload limit', async () => {
    const { store, ctx } = await kdc([], 130) // a realm whose policy changed 130 times
    const root = store.getPrincipal('root')!
    const deps = adminDeps(ctx)
    const rules = policyOfSize(MAX_ADMIN_PLAINTEXT_BYTES)
    const apply = buildAdminRequest({ op: 'policy.apply', rules })
    expect(encode(apply).length).toBe(MAX_ADMIN_PLAINTEXT_BYTES)
    // Was accepted (the request fits), and policy.show then answered 59 961 bytes. Now refused.
    const err: unknown = await executeAdminOp(deps, root, apply).catch((e: unknown) => e)
    expect(isBrokerError(err, 'ERR_ADMIN_INVALID')).toBe(true)
    expect((err as { status?: string }).status).toBe('POLICY_TOO_LARGE')
    expect(policyPlaintextBytes(rules)).toBeGreaterThan(MAX_ADMIN_PLAINTEXT_BYTES)
    // The largest policy it does accept comes back whole through policy.show.
    const fits = rules.slice(0, -1)
    expect(policyPlaintextBytes(fits)).toBeLessThanOrEqual(MAX_ADMIN_PLAINTEXT_BYTES)
    await executeAdminOp(deps, root, buildAdminRequest({ op: 'policy.apply', rules: fits }))
    const show = await executeAdminOp(deps, root, buildAdminRequest({ op: 'policy.show' }))
    expect(encode(show).length).toBeLessThanOrEqual(MAX_ADMIN_PLAINTEXT_BYTES)
    // What the client does with it: the frame the KDC would send must parse.
    const payload = sealAdminPayload(
      new Uint8Array(32),
      OBJ.ADMIN_REP_ENC,
      { realm: REALM, client: 'root', id: 7 },
      show,
    )
    const frame = encodeFrame({ type: MSG.ADMIN_REP, id: 7, body: { kdcTime: NOW, payload } })
    expect(codeOf(() => parseFrame(frame))).toBe('OK')
  })
})
