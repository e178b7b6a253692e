/**
 * An in-process KDC for unit tests of kdc/server: a memory store, a context with a movable clock and
 * a silent log, and builders for AS, TGS and admin requests that go straight to the exchange
 * handlers (no sockets). Tests that need a real process use test/helpers/kdc-harness.ts instead.
 */
import { Writable } from 'node:stream'
import {
  adminRequestHash,
  deriveKey,
  isBrokerError,
  LABELS,
  MSG,
  OBJ,
  openAsRepPart,
  openTgsRepPart,
  sealAdminPayload,
  sealAuthenticator,
  sealPreauth,
  tgsRequestHash,
  type AsReq,
  type Clock,
  type KeyVersion,
  type PolicyRule,
  type TgsReq,
  type Ticket,
  type WireValue,
} from '../../../../kdc/protocol/index.js'
import { adminDeps, handleAdminReq } from '../../../../kdc/server/admin-exchange.js'
import { handleAsReq } from '../../../../kdc/server/as.js'
import { buildConfig, type LimitName } from '../../../../kdc/server/config.js'
import type { KdcContext } from '../../../../kdc/server/context.js'
import { createContext } from '../../../../kdc/server/kdc.js'
import { handleTgsReq } from '../../../../kdc/server/tgs.js'
import { createMemoryStore } from '../../../../kdc/store/memory-store.js'
import type { AddPrincipalInput, KdcStore } from '../../../../kdc/store/store.js'

export const REALM = 'UNIT.TEST'
export const T0 = 1_800_000_000

export interface Tgt {
  readonly client: string
  readonly ticket: Ticket
  readonly sessionKey: Uint8Array
}

export interface ServiceCredential {
  readonly ticket: Ticket
  readonly sessionKey: Uint8Array
}

export interface AdminCall {
  readonly id: number
  readonly body: { ticket: Ticket; authenticator: Uint8Array; payload: Uint8Array }
}

export interface UnitKdcOptions {
  /** Registered after krbtgt and kadmin. */
  readonly principals?: readonly AddPrincipalInput[]
  readonly rules?: readonly PolicyRule[]
  readonly limits?: Partial<Record<LimitName, number>>
}

function nonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(16))
}

/** The KDC under test; move `now` to move its clock. */
export class UnitKdc {
  now = T0
  readonly clock: Clock = { nowSeconds: () => this.now }
  store!: KdcStore
  ctx!: KdcContext

  static async create(options: UnitKdcOptions = {}): Promise<UnitKdc> {
    const kdc = new UnitKdc()
    kdc.store = await createMemoryStore({ realm: REALM, clock: kdc.clock })
    for (const name of ['krbtgt', 'kadmin']) await kdc.store.addPrincipal({ name })
    for (const p of options.principals ?? []) await kdc.store.addPrincipal(p)
    if (options.rules !== undefined) await kdc.store.setPolicy(options.rules)
    kdc.#limits = options.limits ?? {}
    kdc.restart()
    return kdc
  }

  #limits: Partial<Record<LimitName, number>> = {}

  /**
   * A new KDC process over the same store, started now: everything in memory (replay caches, rate
   * limits) is new; principals, keys and policy are kept.
   */
  restart(): void {
    this.ctx = createContext({
      config: buildConfig({ dataDir: '/nonexistent', limits: this.#limits }),
      store: this.store,
      clock: this.clock,
      logDestination: new Writable({
        write(_chunk: Buffer, _enc, cb) {
          cb()
        },
      }),
    })
  }

  /** The current key of a principal. */
  key(name: string): KeyVersion {
    return this.store.getPrincipal(name)!.keys.at(-1)!
  }

  /**
   * An AS-REQ whose pre-auth is sealed with `o.key` (default: the current key), stamped `o.ctime`
   * (default: now), asking for `o.lifetime` seconds (default 0: the KDC's default).
   */
  asReq(client: string, o: { key?: KeyVersion; ctime?: number; lifetime?: number } = {}): AsReq {
    const k = o.key ?? this.key(client)
    const lifetime = o.lifetime ?? 0
    const n = nonce()
    return {
      realm: REALM,
      client,
      kvno: k.kvno,
      nonce: n,
      lifetime,
      preauth: sealPreauth(
        deriveKey(k.key, LABELS.preauth),
        { realm: REALM, client, kvno: k.kvno, lifetime },
        { ctime: o.ctime ?? this.now, nonce: n },
      ),
    }
  }

  /** AS exchange with the current key. */
  login(client: string, o: { lifetime?: number } = {}): Tgt {
    const k = this.key(client)
    const rep = handleAsReq(this.ctx, this.asReq(client, { key: k, ...o }), {})
    const part = openAsRepPart(
      deriveKey(k.key, LABELS.asRep),
      { realm: REALM, client, kvno: rep.kvno },
      rep.encPart,
    )
    return { client, ticket: rep.tgt, sessionKey: part.sessionKey }
  }

  /** A TGS-REQ for `target` whose authenticator is stamped `o.ctime` (default: now). */
  tgsReq(tgt: Tgt, target: string, o: { ctime?: number } = {}): TgsReq {
    const n = nonce()
    return {
      tgt: tgt.ticket,
      authenticator: sealAuthenticator(
        deriveKey(tgt.sessionKey, LABELS.authenticator),
        { realm: REALM, client: tgt.client, service: 'krbtgt', msgType: MSG.TGS_REQ },
        { ctime: o.ctime ?? this.now, counter: 1, requestHash: tgsRequestHash(target, [], 0, n) },
      ),
      target,
      scopes: [],
      lifetime: 0,
      nonce: n,
    }
  }

  /** TGS exchange for `kadmin`: the admin ticket and its session key. */
  kadminTicket(tgt: Tgt): ServiceCredential {
    const rep = handleTgsReq(this.ctx, this.tgsReq(tgt, 'kadmin'), {})
    const part = openTgsRepPart(
      deriveKey(tgt.sessionKey, LABELS.tgsRep),
      { realm: REALM, client: tgt.client, target: 'kadmin' },
      rep.encPart,
    )
    return { ticket: rep.ticket, sessionKey: part.sessionKey }
  }

  /** An admin request `request` with frame id `id`, sealed for `client`'s admin ticket. */
  adminCall(client: string, kadmin: ServiceCredential, request: WireValue, id: number): AdminCall {
    const payload = sealAdminPayload(
      deriveKey(kadmin.sessionKey, LABELS.admin),
      OBJ.ADMIN_REQ_ENC,
      { realm: REALM, client, id },
      request,
    )
    const authenticator = sealAuthenticator(
      deriveKey(kadmin.sessionKey, LABELS.authenticator),
      { realm: REALM, client, service: 'kadmin', msgType: MSG.ADMIN_REQ },
      { ctime: this.now, counter: id, requestHash: adminRequestHash(id, payload) },
    )
    return { id, body: { ticket: kadmin.ticket, authenticator, payload } }
  }

  async sendAdmin(call: AdminCall): Promise<void> {
    await handleAdminReq(this.ctx, adminDeps(this.ctx), call.id, call.body, {})
  }
}

/** 'OK', or the code of the BrokerError `fn` throws (anything else is rethrown). */
export function codeOf(fn: () => unknown): string {
  try {
    fn()
    return 'OK'
  } catch (err) {
    if (isBrokerError(err)) return err.code
    throw err
  }
}

/** 'OK', or the code of the BrokerError `p` rejects with (anything else is rethrown). */
export async function codeOfAsync(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'OK'
  } catch (err) {
    if (isBrokerError(err)) return err.code
    throw err
  }
}
