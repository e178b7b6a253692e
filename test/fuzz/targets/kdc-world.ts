/**
 * A KDC in process for the kdc-frames and kdc-admin targets: kdc/server/dispatch.ts Dispatcher over a
 * memory store with a fixed clock, plus builders of valid frames and the oracles on its replies.
 */
import { Writable } from 'node:stream'
import {
  adminRequestHash,
  buildAad,
  codeFromWire,
  deriveKey,
  encodeFrame,
  LABELS,
  MSG,
  OBJ,
  openAdminPayload,
  openAsRepPart,
  openTgsRepPart,
  openTicket,
  parseAdminReply,
  parseFrame,
  sealAuthenticator,
  sealBytes,
  sealPreauth,
  tgsRequestHash,
  ADMIN_OPS,
  type AdminOp,
  type Frame,
  type Ticket,
  type WireValue,
} from '../../../kdc/protocol/index.js'
import { adminDeps } from '../../../kdc/server/admin-exchange.js'
import { buildConfig } from '../../../kdc/server/config.js'
import { Dispatcher, replyIdFor } from '../../../kdc/server/dispatch.js'
import { createContext } from '../../../kdc/server/kdc.js'
import { createMemoryStore } from '../../../kdc/store/memory-store.js'
import type { KdcStore } from '../../../kdc/store/store.js'
import { REALM, T0 } from '../corpus.js'
import { attempt, FuzzFailure, hexOf } from '../harness.js'
import type { Rng } from '../rng.js'

export interface Credential {
  readonly client: string
  readonly ticket: Ticket
  readonly sessionKey: Uint8Array
}

/** A KDC in process: memory store, fixed clock, silent log that keeps internal errors. */
export class World {
  readonly store: KdcStore
  readonly dispatcher: Dispatcher
  readonly internal: string[] = []
  nextId = 1
  counter = 1

  private constructor(store: KdcStore, dispatcher: Dispatcher, internal: string[]) {
    this.store = store
    this.dispatcher = dispatcher
    this.internal = internal
  }

  /** `policyChanges`: extra policy versions to start from (a realm with a history). */
  static async create(policyChanges = 0): Promise<World> {
    const clock = { nowSeconds: () => T0 }
    const store = await createMemoryStore({ realm: REALM, clock })
    for (const name of ['krbtgt', 'kadmin']) await store.addPrincipal({ name })
    await store.addPrincipal({ name: 'payments', groups: ['buyers'] })
    await store.addPrincipal({ name: 'orders', groups: ['shops'] })
    await store.addPrincipal({ name: 'root', groups: ['admins'] })
    await store.addPrincipal({ name: 'reader', groups: ['admin-readers'] })
    // Three rules match payments → orders (directly, by caller group, by target group); each
    // grants at most MAX_SCOPES scopes, as policy.apply requires.
    const many = (prefix: string): string[] =>
      Array.from({ length: 20 }, (_, i) => `${prefix}:s${String(i).padStart(2, '0')}`)
    const rules = [
      {
        id: 'p-o',
        caller: 'payments',
        target: 'orders',
        scopes: ['read', 'write'],
        maxLifetime: 0,
      },
      {
        id: 'b-o',
        caller: 'group:buyers',
        target: 'orders',
        scopes: many('orders'),
        maxLifetime: 0,
      },
      {
        id: 'p-s',
        caller: 'payments',
        target: 'group:shops',
        scopes: many('shop'),
        maxLifetime: 900,
      },
    ]
    for (let i = 0; i <= policyChanges; i++) await store.setPolicy(rules)
    const internal: string[] = []
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        const line = chunk.toString()
        if (line.includes('internal error')) internal.push(line)
        cb()
      },
    })
    const ctx = createContext({
      config: buildConfig({
        dataDir: '/nonexistent',
        node: 'fuzz',
        limits: {
          principalRatePerSecond: 1_000_000,
          principalBurst: 1_000_000,
          replayCacheEntries: 10_000_000,
        },
      }),
      store,
      clock,
      logDestination: sink,
    })
    return new World(store, new Dispatcher(ctx, adminDeps(ctx)), internal)
  }

  key(name: string): { kvno: number; key: Uint8Array } {
    const k = this.store.getPrincipal(name)?.keys.at(-1)
    if (k === undefined) throw new Error(`no key for ${name}`)
    return k
  }

  asReqFrame(rng: Rng, client: string, lifetime = 0): Uint8Array {
    const k = this.key(client)
    const nonce = rng.bytes(16)
    return encodeFrame({
      type: MSG.AS_REQ,
      id: this.nextId++,
      body: {
        realm: REALM,
        client,
        kvno: k.kvno,
        nonce,
        lifetime,
        preauth: sealPreauth(
          deriveKey(k.key, LABELS.preauth),
          { realm: REALM, client, kvno: k.kvno, lifetime },
          { ctime: T0, nonce },
        ),
      },
    })
  }

  tgsReqFrame(rng: Rng, tgt: Credential, target: string, scopes: string[] = []): Uint8Array {
    const nonce = rng.bytes(16)
    return encodeFrame({
      type: MSG.TGS_REQ,
      id: this.nextId++,
      body: {
        tgt: tgt.ticket,
        authenticator: sealAuthenticator(
          deriveKey(tgt.sessionKey, LABELS.authenticator),
          { realm: REALM, client: tgt.client, service: 'krbtgt', msgType: MSG.TGS_REQ },
          {
            ctime: T0,
            counter: this.counter++,
            requestHash: tgsRequestHash(target, scopes, 0, nonce),
          },
        ),
        target,
        scopes,
        lifetime: 0,
        nonce,
      },
    })
  }

  /** An ADMIN-REQ whose plaintext is exactly `plaintext` (possibly malformed), properly sealed. */
  adminFrame(
    kadmin: Credential,
    plaintext: Uint8Array,
    rng: Rng,
  ): { id: number; bytes: Uint8Array } {
    const id = this.nextId++
    const payload = sealBytes(
      deriveKey(kadmin.sessionKey, LABELS.admin),
      buildAad(OBJ.ADMIN_REQ_ENC, [REALM, kadmin.client, id]),
      plaintext,
      rng.bytes(24),
    )
    const authenticator = sealAuthenticator(
      deriveKey(kadmin.sessionKey, LABELS.authenticator),
      { realm: REALM, client: kadmin.client, service: 'kadmin', msgType: MSG.ADMIN_REQ },
      { ctime: T0, counter: this.counter++, requestHash: adminRequestHash(id, payload) },
    )
    return {
      id,
      bytes: encodeFrame({
        type: MSG.ADMIN_REQ,
        id,
        body: { ticket: kadmin.ticket, authenticator, payload },
      }),
    }
  }

  async handle(bytes: Uint8Array): Promise<Frame> {
    const before = this.internal.length
    const reply = await this.dispatcher.handle(bytes, { conn: 1, remote: '127.0.0.1' })
    const parsed = attempt('parseFrame(reply)', () => parseFrame(reply))
    if (!parsed.ok) {
      throw new FuzzFailure(
        `the KDC's reply does not parse (${parsed.error.code})`,
        `reply: ${hexOf(reply)}`,
      )
    }
    const frame = parsed.value
    if (frame.type === MSG.ERROR && codeFromWire(frame.body.wire) === 'ERR_KDC_INTERNAL') {
      throw new FuzzFailure(
        'the KDC answered ERR_KDC_INTERNAL: a handler threw something other than a BrokerError',
        this.internal.slice(before).join('\n').slice(0, 4_000),
      )
    }
    return frame
  }

  async login(rng: Rng, client: string): Promise<Credential> {
    const rep = await this.handle(this.asReqFrame(rng, client))
    if (rep.type !== MSG.AS_REP) throw new Error(`login ${client} failed`)
    const k = this.key(client)
    const part = openAsRepPart(
      deriveKey(k.key, LABELS.asRep),
      { realm: REALM, client, kvno: rep.body.kvno },
      rep.body.encPart,
    )
    return { client, ticket: rep.body.tgt, sessionKey: part.sessionKey }
  }

  async serviceTicket(rng: Rng, tgt: Credential, target: string): Promise<Credential> {
    const rep = await this.handle(this.tgsReqFrame(rng, tgt, target))
    if (rep.type !== MSG.TGS_REP) throw new Error(`TGS for ${target} failed`)
    const part = openTgsRepPart(
      deriveKey(tgt.sessionKey, LABELS.tgsRep),
      { realm: REALM, client: tgt.client, target },
      rep.body.encPart,
    )
    return { client: tgt.client, ticket: rep.body.ticket, sessionKey: part.sessionKey }
  }
}

/**
 * What the KDC issued must be usable by whoever it is for: an AS-REP opens under the client's key
 * and its TGT under krbtgt's; a TGS-REP opens under the TGT's session key and its ticket under the
 * target's key with the same scopes; an ADMIN-REP opens under the admin ticket's session key and
 * parses as the CLI parses it. Keys come from the store, so this holds for any request that got a
 * reply, mutated or not.
 */
export function checkIssued(world: World, request: Uint8Array, reply: Frame): void {
  if (reply.type !== MSG.AS_REP && reply.type !== MSG.TGS_REP && reply.type !== MSG.ADMIN_REP)
    return
  const req = parseFrame(request)
  const keyOf = (name: string, kvno: number): Uint8Array => {
    const k = world.store.getPrincipal(name)?.keys.find((v) => v.kvno === kvno)
    if (k === undefined)
      throw new FuzzFailure(
        `the KDC issued something under ${name} kvno ${kvno}, which it does not hold`,
      )
    return k.key
  }
  const open = <T>(what: string, fn: () => T): T => {
    const r = attempt(what, fn)
    if (!r.ok) {
      throw new FuzzFailure(
        `the KDC issued ${what} that its recipient cannot use (${r.error.code} / ${r.error.status ?? ''}, cause ${(r.error.cause as { status?: string } | undefined)?.status ?? '-'})`,
      )
    }
    return r.value
  }
  if (reply.type === MSG.AS_REP && req.type === MSG.AS_REQ) {
    const client = req.body.client
    open('an AS-REP part', () =>
      openAsRepPart(
        deriveKey(keyOf(client, reply.body.kvno), LABELS.asRep),
        { realm: REALM, client, kvno: reply.body.kvno },
        reply.body.encPart,
      ),
    )
    const tgt = reply.body.tgt
    open('a TGT', () => openTicket(tgt, deriveKey(keyOf('krbtgt', tgt.kvno), LABELS.ticket)))
    return
  }
  if (reply.type === MSG.TGS_REP && req.type === MSG.TGS_REQ) {
    const tgt = req.body.tgt
    const tgtPart = open('(re-opening the presented TGT)', () =>
      openTicket(tgt, deriveKey(keyOf('krbtgt', tgt.kvno), LABELS.ticket)),
    )
    const rep = reply.body
    const part = open('a TGS-REP part', () =>
      openTgsRepPart(
        deriveKey(tgtPart.sessionKey, LABELS.tgsRep),
        { realm: REALM, client: tgtPart.client, target: rep.target },
        rep.encPart,
      ),
    )
    const ticket = open('a service ticket', () =>
      openTicket(rep.ticket, deriveKey(keyOf(rep.target, rep.ticket.kvno), LABELS.ticket)),
    )
    if (ticket.scopes.join(' ') !== part.scopes.join(' ')) {
      throw new FuzzFailure('the service ticket and the TGS-REP part disagree on the scopes')
    }
    return
  }
  if (reply.type === MSG.ADMIN_REP && req.type === MSG.ADMIN_REQ) {
    const t = req.body.ticket
    const tp = open('(re-opening the admin ticket)', () =>
      openTicket(t, deriveKey(keyOf('kadmin', t.kvno), LABELS.ticket)),
    )
    const v = open('an ADMIN-REP payload', () =>
      openAdminPayload(
        deriveKey(tp.sessionKey, LABELS.admin),
        OBJ.ADMIN_REP_ENC,
        { realm: REALM, client: tp.client, id: req.id },
        reply.body.payload,
      ),
    )
    const op = Array.isArray(v) ? (v as readonly WireValue[])[0] : undefined
    if (typeof op !== 'string' || !(ADMIN_OPS as readonly string[]).includes(op))
      throw new FuzzFailure('the ADMIN-REP names no known op')
    open(`a ${op} reply`, () => parseAdminReply(op as AdminOp, v))
  }
}

/** Check the reply's id: the request's own when it parses, else replyIdFor's. */
export function checkReplyId(input: Uint8Array, reply: Frame): void {
  let expected: number
  try {
    expected = replyIdFor(input)
  } catch (err) {
    throw new FuzzFailure(`replyIdFor threw (it must never throw): ${String(err)}`)
  }
  if (reply.id !== expected) {
    throw new FuzzFailure(`the reply is addressed to id ${reply.id}, expected ${expected}`)
  }
}

export function outcomeOf(f: Frame): string {
  return f.type === MSG.ERROR ? codeFromWire(f.body.wire) : `type${f.type}`
}
