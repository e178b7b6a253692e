/**
 * Test-vector generator (house style B7; age's CCTV and typage's testkit are the model).
 *
 * Deterministic: fixed keys, fixed nonces (through the optional `nonce` parameter of every seal
 * function), fixed times. It writes test/vectors/*.json and the generated "worked examples" section
 * of docs/protocol.md; re-running it must change nothing (vectors.test.ts checks that the committed
 * files equal what buildVectors() returns). Run with `npm run vectors:generate`.
 *
 * Every vector is { name, expect, inputs, outputs }: `expect` is "ok" or the error code a correct
 * implementation must produce; every input and output is lower-case hex. Structured inputs (the AAD
 * context, request-hash fields) are given as their canonical msgpack encoding (docs/protocol.md §2).
 * The name's first segment says how to recompute it (see vectors.test.ts and docs/protocol.md §11).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import {
  adminRequestHash,
  bodyHash,
  buildAad,
  canonicalAuthority,
  concatBytes,
  deriveKey,
  encode,
  encodeApRep,
  encodeApReq,
  encodeFrame,
  encodeKeytab,
  fromHex as fromHexStrict,
  httpRequestHash,
  LABELS,
  MSG,
  OBJ,
  sealAdminPayload,
  sealApRepPart,
  sealAsRepPart,
  sealAuthenticator,
  sealBytes,
  sealPreauth,
  sealTgsRepPart,
  sealTicket,
  tgsRequestHash,
  toBase64Url,
  toHex,
  utf8Encode,
  type Frame,
  type Label,
  type ObjectType,
  type Ticket,
  type WireValue,
} from '../../kdc/protocol/index.js'
import { detBytes } from '../helpers/det-rng.js'

export interface Vector {
  readonly name: string
  readonly expect: string
  readonly inputs: Readonly<Record<string, string>>
  readonly outputs: Readonly<Record<string, string>>
}

export interface VectorFile {
  readonly description: string
  readonly vectors: readonly Vector[]
}

const hex = toHex
const mp = (v: WireValue): string => toHex(encode(v))
const utf8 = (s: string): string => toHex(utf8Encode(s))

/** A 32-byte key whose bytes count up from `start`: easy to recognise in a hex dump. */
function patternKey(start: number): Uint8Array {
  return Uint8Array.from({ length: 32 }, (_, i) => (start + i) & 0xff)
}
const nonceFor = (name: string): Uint8Array => detBytes(`vectors/nonce/${name}`, 24)

// ---- the scenario (docs/protocol.md §11) --------------------------------------------------------

const REALM = 'TESSERA.LOCAL'
const T0 = 1_767_225_600 // 2026-01-01T00:00:00Z
const POLICY_VERSION = 42

const K = {
  payments: { kvno: 2, key: patternKey(0x00) },
  krbtgt: { kvno: 1, key: patternKey(0x20) },
  orders: { kvno: 3, key: patternKey(0x40) },
  admin: { kvno: 1, key: patternKey(0x60) },
  kadmin: { kvno: 1, key: patternKey(0x80) },
  master: { kvno: 1, key: patternKey(0xa0) },
}
const S1 = patternKey(0xc0) // TGT session key (payments ↔ TGS)
const S2 = patternKey(0xe0) // service session key (payments ↔ orders)
const S3 = detBytes('vectors/admin-session-key', 32) // admin ticket session key
const AS_NONCE = detBytes('vectors/as-nonce', 16)
const TGS_NONCE = detBytes('vectors/tgs-nonce', 16)
const TGT_ID = detBytes('vectors/tgt-id', 16)
/** The immutable id of the principal `payments`: the TGT's kdcCheck (§5.2.1). */
const PAYMENTS_ID = detBytes('vectors/payments-principal-id', 16)
const ST_ID = detBytes('vectors/service-ticket-id', 16)
const ADMIN_ID = detBytes('vectors/admin-ticket-id', 16)
const EMPTY = new Uint8Array(0)

interface SealedSpec {
  readonly kind: string
  readonly name: string
  readonly key: Uint8Array
  readonly label: Label
  readonly type: ObjectType
  readonly context: WireValue[]
  readonly plaintext: WireValue | Uint8Array
  /** Raw plaintext bytes instead of msgpack (the db key). */
  readonly raw?: boolean
  readonly sealed: Uint8Array
  readonly nonce: Uint8Array
  readonly about: string
}

const worked: SealedSpec[] = []

/** Record a sealed object made by the typed API and check it against the generic construction. */
function sealed(spec: SealedSpec): Uint8Array {
  const subkey = deriveKey(spec.key, spec.label)
  const pt = spec.raw === true ? (spec.plaintext as Uint8Array) : encode(spec.plaintext)
  const generic = sealBytes(subkey, buildAad(spec.type, spec.context), pt, spec.nonce)
  if (hex(generic) !== hex(spec.sealed)) {
    throw new Error(`${spec.kind}/${spec.name}: typed seal differs from the generic construction`)
  }
  worked.push(spec)
  return spec.sealed
}

function sealedVector(spec: SealedSpec): Vector {
  const subkey = deriveKey(spec.key, spec.label)
  const pt = spec.raw === true ? (spec.plaintext as Uint8Array) : encode(spec.plaintext)
  return {
    name: `${spec.kind}/${spec.name}`,
    expect: 'ok',
    inputs: {
      key: hex(spec.key),
      nonce: hex(spec.nonce),
      context: mp(spec.context),
      plaintext: hex(pt),
    },
    outputs: {
      subkey: hex(subkey),
      aad: hex(buildAad(spec.type, spec.context)),
      sealed: hex(spec.sealed),
    },
  }
}

// --- AS exchange: payments logs in -----------------------------------------------------------------

const AS_LIFETIME = 3600
const clientCtx = { realm: REALM, client: 'payments', kvno: K.payments.kvno }
const preauthCtx = { ...clientCtx, lifetime: AS_LIFETIME }
const preauthPlain = { ctime: T0, nonce: AS_NONCE }
const preauth = sealed({
  kind: 'preauth',
  name: 'payments',
  about:
    'PA-ENC-TIMESTAMP of the AS-REQ: [ctime, nonce], sealed with the client key; the AAD context binds the requested lifetime (§5.3)',
  key: K.payments.key,
  label: LABELS.preauth,
  type: OBJ.PREAUTH,
  context: [REALM, 'payments', K.payments.kvno, AS_LIFETIME],
  plaintext: [T0, AS_NONCE],
  nonce: nonceFor('preauth'),
  sealed: sealPreauth(
    deriveKey(K.payments.key, LABELS.preauth),
    preauthCtx,
    preauthPlain,
    nonceFor('preauth'),
  ),
})

const tgtPart = {
  flags: 1,
  sessionKey: S1,
  client: 'payments',
  authTime: T0,
  startTime: T0,
  endTime: T0 + 3600,
  scopes: [] as string[],
  policyVersion: POLICY_VERSION,
  ticketId: TGT_ID,
  kdcCheck: PAYMENTS_ID,
}
const tgtHeader = { realm: REALM, service: 'krbtgt', kvno: K.krbtgt.kvno }
const tgt: Ticket = sealTicket(
  deriveKey(K.krbtgt.key, LABELS.ticket),
  tgtHeader,
  tgtPart,
  nonceFor('tgt'),
)
sealed({
  kind: 'ticket',
  name: 'tgt',
  about:
    "the TGT: EncTicketPart sealed with the krbtgt key, kvno 1; kdcCheck is payments' principal id (§5.2, §5.2.1)",
  key: K.krbtgt.key,
  label: LABELS.ticket,
  type: OBJ.TICKET,
  context: [REALM, 'krbtgt', K.krbtgt.kvno],
  plaintext: [1, S1, 'payments', T0, T0, T0 + 3600, [], POLICY_VERSION, TGT_ID, PAYMENTS_ID],
  nonce: nonceFor('tgt'),
  sealed: tgt.sealed,
})

const asRepPlain = {
  sessionKey: S1,
  nonce: AS_NONCE,
  authTime: T0,
  startTime: T0,
  endTime: T0 + 3600,
  flags: 1,
}
const asRepEnc = sealed({
  kind: 'as-rep-part',
  name: 'payments',
  about: 'the AS-REP encrypted part: the TGT session key for the client (§5.3)',
  key: K.payments.key,
  label: LABELS.asRep,
  type: OBJ.AS_REP_ENC,
  context: [REALM, 'payments', K.payments.kvno],
  plaintext: [S1, AS_NONCE, T0, T0, T0 + 3600, 1],
  nonce: nonceFor('as-rep'),
  sealed: sealAsRepPart(
    deriveKey(K.payments.key, LABELS.asRep),
    clientCtx,
    asRepPlain,
    nonceFor('as-rep'),
  ),
})

// --- TGS exchange: payments asks for orders --------------------------------------------------------

const tgsHash = tgsRequestHash('orders', ['orders:read'], 900, TGS_NONCE)
const tgsAuthCtx = { realm: REALM, client: 'payments', service: 'krbtgt', msgType: MSG.TGS_REQ }
const tgsAuth = sealed({
  kind: 'authenticator',
  name: 'tgs-req',
  about:
    'the TGS-REQ authenticator: [ctime, counter, tgsRequestHash], sealed with the TGT session key (§6.1)',
  key: S1,
  label: LABELS.authenticator,
  type: OBJ.AUTHENTICATOR,
  context: [REALM, 'payments', 'krbtgt', MSG.TGS_REQ],
  plaintext: [T0 + 10, 1, tgsHash],
  nonce: nonceFor('tgs-authenticator'),
  sealed: sealAuthenticator(
    deriveKey(S1, LABELS.authenticator),
    tgsAuthCtx,
    { ctime: T0 + 10, counter: 1, requestHash: tgsHash },
    nonceFor('tgs-authenticator'),
  ),
})

const stPart = {
  flags: 0,
  sessionKey: S2,
  client: 'payments',
  authTime: T0,
  startTime: T0 + 10,
  endTime: T0 + 910,
  scopes: ['orders:read'],
  policyVersion: POLICY_VERSION,
  ticketId: ST_ID,
  kdcCheck: EMPTY,
}
const serviceTicket = sealTicket(
  deriveKey(K.orders.key, LABELS.ticket),
  { realm: REALM, service: 'orders', kvno: K.orders.kvno },
  stPart,
  nonceFor('service-ticket'),
)
sealed({
  kind: 'ticket',
  name: 'service-ticket',
  about: 'a service ticket for orders, sealed with the orders key, kvno 3 (§5.2)',
  key: K.orders.key,
  label: LABELS.ticket,
  type: OBJ.TICKET,
  context: [REALM, 'orders', K.orders.kvno],
  plaintext: [
    0,
    S2,
    'payments',
    T0,
    T0 + 10,
    T0 + 910,
    ['orders:read'],
    POLICY_VERSION,
    ST_ID,
    EMPTY,
  ],
  nonce: nonceFor('service-ticket'),
  sealed: serviceTicket.sealed,
})

const tgsRepCtx = { realm: REALM, client: 'payments', target: 'orders' }
const tgsRepPlain = {
  sessionKey: S2,
  nonce: TGS_NONCE,
  authTime: T0,
  startTime: T0 + 10,
  endTime: T0 + 910,
  scopes: ['orders:read'],
  policyVersion: POLICY_VERSION,
  ticketId: ST_ID,
  flags: 0,
}
const tgsRepEnc = sealed({
  kind: 'tgs-rep-part',
  name: 'orders',
  about: 'the TGS-REP encrypted part, sealed with the TGT session key (§5.4)',
  key: S1,
  label: LABELS.tgsRep,
  type: OBJ.TGS_REP_ENC,
  context: [REALM, 'payments', 'orders'],
  plaintext: [S2, TGS_NONCE, T0, T0 + 10, T0 + 910, ['orders:read'], POLICY_VERSION, ST_ID, 0],
  nonce: nonceFor('tgs-rep'),
  sealed: sealTgsRepPart(deriveKey(S1, LABELS.tgsRep), tgsRepCtx, tgsRepPlain, nonceFor('tgs-rep')),
})

// --- AP exchange: payments calls orders over HTTP ---------------------------------------------------

const httpBody = utf8Encode('{"sku":"A-1","qty":2}')
const httpForm = {
  method: 'POST',
  authority: canonicalAuthority('Orders.Example.COM:443'),
  target: '/orders?tenant=7',
  bodyHash: bodyHash(httpBody),
}
const httpHash = httpRequestHash(httpForm)
const apAuthCtx = { realm: REALM, client: 'payments', service: 'orders', msgType: MSG.AP_REQ }
const apAuth = sealed({
  kind: 'authenticator',
  name: 'ap-req',
  about:
    'the AP-REQ authenticator bound to POST https://orders.example.com/orders?tenant=7 (§6.1, §6.2)',
  key: S2,
  label: LABELS.authenticator,
  type: OBJ.AUTHENTICATOR,
  context: [REALM, 'payments', 'orders', MSG.AP_REQ],
  plaintext: [T0 + 20, 1, httpHash],
  nonce: nonceFor('ap-authenticator'),
  sealed: sealAuthenticator(
    deriveKey(S2, LABELS.authenticator),
    apAuthCtx,
    { ctime: T0 + 20, counter: 1, requestHash: httpHash },
    nonceFor('ap-authenticator'),
  ),
})
const apRepCtx = { realm: REALM, client: 'payments', service: 'orders' }
const apRepEnc = sealed({
  kind: 'ap-rep-part',
  name: 'orders',
  about: 'the AP-REP encrypted part (mutual authentication): [ctime, counter] echoed (§5.5)',
  key: S2,
  label: LABELS.apRep,
  type: OBJ.AP_REP_ENC,
  context: [REALM, 'payments', 'orders'],
  plaintext: [T0 + 20, 1],
  nonce: nonceFor('ap-rep'),
  sealed: sealApRepPart(
    deriveKey(S2, LABELS.apRep),
    apRepCtx,
    { ctime: T0 + 20, counter: 1 },
    nonceFor('ap-rep'),
  ),
})

// --- admin exchange: admin asks for the KDC status ---------------------------------------------------

const adminTicket = sealTicket(
  deriveKey(K.kadmin.key, LABELS.ticket),
  { realm: REALM, service: 'kadmin', kvno: K.kadmin.kvno },
  { ...stPart, sessionKey: S3, client: 'admin', scopes: [], ticketId: ADMIN_ID },
  nonceFor('admin-ticket'),
)
const ADMIN_FRAME_ID = 3
const adminCtx = { realm: REALM, client: 'admin', id: ADMIN_FRAME_ID }
const adminReqPayload: WireValue = ['status', []]
const adminRepPayload: WireValue = [
  'status',
  [REALM, '0.1.0', 'writer', 4, POLICY_VERSION, 30, 'kdc-a'],
]
const adminReqEnc = sealed({
  kind: 'admin-request',
  name: 'status',
  about: 'an admin request payload ["status", []], sealed with the admin ticket session key (§5.6)',
  key: S3,
  label: LABELS.admin,
  type: OBJ.ADMIN_REQ_ENC,
  context: [REALM, 'admin', ADMIN_FRAME_ID],
  plaintext: adminReqPayload,
  nonce: nonceFor('admin-req'),
  sealed: sealAdminPayload(
    deriveKey(S3, LABELS.admin),
    OBJ.ADMIN_REQ_ENC,
    adminCtx,
    adminReqPayload,
    nonceFor('admin-req'),
  ),
})
const adminRepEnc = sealed({
  kind: 'admin-reply',
  name: 'status',
  about: 'the admin reply payload, same key, object type 39 (§5.6)',
  key: S3,
  label: LABELS.admin,
  type: OBJ.ADMIN_REP_ENC,
  context: [REALM, 'admin', ADMIN_FRAME_ID],
  plaintext: adminRepPayload,
  nonce: nonceFor('admin-rep'),
  sealed: sealAdminPayload(
    deriveKey(S3, LABELS.admin),
    OBJ.ADMIN_REP_ENC,
    adminCtx,
    adminRepPayload,
    nonceFor('admin-rep'),
  ),
})
const adminAuthHash = adminRequestHash(ADMIN_FRAME_ID, adminReqEnc)
const adminAuth = sealAuthenticator(
  deriveKey(S3, LABELS.authenticator),
  { realm: REALM, client: 'admin', service: 'kadmin', msgType: MSG.ADMIN_REQ },
  { ctime: T0 + 30, counter: 1, requestHash: adminAuthHash },
  nonceFor('admin-authenticator'),
)

// --- a long-term key at rest in the KDC store ------------------------------------------------------

const dbKey = sealed({
  kind: 'db-key',
  name: 'orders-kvno-3',
  about:
    'the orders key (kvno 3) at rest, sealed with the master key (kvno 1); plaintext = the 32 raw key bytes (§8.3)',
  key: K.master.key,
  label: LABELS.db,
  type: OBJ.DB_KEY,
  context: [REALM, 'orders', K.orders.kvno, K.master.kvno],
  plaintext: K.orders.key,
  raw: true,
  nonce: nonceFor('db-key'),
  sealed: sealBytes(
    deriveKey(K.master.key, LABELS.db),
    buildAad(OBJ.DB_KEY, [REALM, 'orders', K.orders.kvno, K.master.kvno]),
    K.orders.key,
    nonceFor('db-key'),
  ),
})

// ---- sealed.json --------------------------------------------------------------------------------

function flip(bytes: Uint8Array, index: number, mask = 0x01): Uint8Array {
  const out = bytes.slice()
  const i = index < 0 ? out.length + index : index
  out[i] = (out[i] as number) ^ mask
  return out
}

function negative(
  name: string,
  key: Uint8Array,
  context: WireValue[],
  sealedBytes: Uint8Array,
  code = 'ERR_AP_BAD_INTEGRITY',
): Vector {
  return {
    name,
    expect: code,
    inputs: { key: hex(key), context: mp(context), sealed: hex(sealedBytes) },
    outputs: {},
  }
}

/** Seal an arbitrary plaintext byte string authentically (a buggy or hostile sender). */
function authenticSeal(
  key: Uint8Array,
  label: Label,
  type: ObjectType,
  context: WireValue[],
  plaintext: Uint8Array,
  nonceName: string,
): Uint8Array {
  return sealBytes(deriveKey(key, label), buildAad(type, context), plaintext, nonceFor(nonceName))
}

function sealedFile(): VectorFile {
  const ticketCtx: WireValue[] = [REALM, 'orders', K.orders.kvno]
  const st = serviceTicket.sealed
  const tgtWire: WireValue[] = [
    1,
    S1,
    'payments',
    T0,
    T0,
    T0 + 3600,
    [],
    POLICY_VERSION,
    TGT_ID,
    EMPTY,
  ]
  // flags 0 written as cc00 instead of 00: valid msgpack, not canonical.
  const nonCanonicalTicket = concatBytes(
    new Uint8Array([0x9a, 0xcc, 0x00]),
    encode(tgtWire).subarray(2),
  )
  const vectors: Vector[] = [
    ...worked.map(sealedVector),
    negative('ticket/tampered-tag', K.orders.key, ticketCtx, flip(st, -1)),
    negative('ticket/tampered-ciphertext', K.orders.key, ticketCtx, flip(st, 24 + 5, 0x80)),
    negative('ticket/tampered-nonce', K.orders.key, ticketCtx, flip(st, 0)),
    negative('ticket/truncated', K.orders.key, ticketCtx, st.subarray(0, st.length - 1)),
    negative('ticket/too-short', K.orders.key, ticketCtx, st.subarray(0, 40)),
    negative('ticket/wrong-aad-kvno', K.orders.key, [REALM, 'orders', 4], st),
    negative('ticket/wrong-aad-service', K.orders.key, [REALM, 'billing', K.orders.kvno], st),
    negative('ticket/wrong-aad-realm', K.orders.key, ['OTHER.REALM', 'orders', K.orders.kvno], st),
    negative('ticket/wrong-key', K.krbtgt.key, ticketCtx, st),
    negative(
      'ticket/authentic-non-canonical-plaintext',
      K.krbtgt.key,
      [REALM, 'krbtgt', 1],
      authenticSeal(
        K.krbtgt.key,
        LABELS.ticket,
        OBJ.TICKET,
        [REALM, 'krbtgt', 1],
        nonCanonicalTicket,
        'neg/nc-ticket',
      ),
    ),
    negative(
      'ticket/authentic-nine-fields',
      K.krbtgt.key,
      [REALM, 'krbtgt', 1],
      authenticSeal(
        K.krbtgt.key,
        LABELS.ticket,
        OBJ.TICKET,
        [REALM, 'krbtgt', 1],
        encode(tgtWire.slice(0, 9)),
        'neg/9-ticket',
      ),
    ),
    negative(
      'ticket/authentic-unsorted-scopes',
      K.krbtgt.key,
      [REALM, 'krbtgt', 1],
      authenticSeal(
        K.krbtgt.key,
        LABELS.ticket,
        OBJ.TICKET,
        [REALM, 'krbtgt', 1],
        encode([...tgtWire.slice(0, 6), ['orders:write', 'orders:read'], ...tgtWire.slice(7)]),
        'neg/unsorted-ticket',
      ),
    ),
    negative('preauth/wrong-client', K.payments.key, [REALM, 'orders', K.payments.kvno], preauth),
    negative('preauth/wrong-kvno', K.payments.key, [REALM, 'payments', 1], preauth),
    negative(
      'as-rep-part/tampered-tag',
      K.payments.key,
      [REALM, 'payments', K.payments.kvno],
      flip(asRepEnc, -16),
    ),
    negative('tgs-rep-part/wrong-target', S1, [REALM, 'payments', 'billing'], tgsRepEnc),
    negative(
      'authenticator/wrong-message-type',
      S2,
      [REALM, 'payments', 'orders', MSG.TGS_REQ],
      apAuth,
    ),
    negative('authenticator/wrong-client', S2, [REALM, 'mallory', 'orders', MSG.AP_REQ], apAuth),
    negative(
      'authenticator/tgs-authenticator-replayed-at-service',
      S1,
      [REALM, 'payments', 'orders', MSG.AP_REQ],
      tgsAuth,
    ),
    negative('ap-rep-part/authenticator-reflected', S2, [REALM, 'payments', 'orders'], apAuth),
    negative(
      'admin-reply/request-replayed-as-reply',
      S3,
      [REALM, 'admin', ADMIN_FRAME_ID],
      adminReqEnc,
    ),
    negative('admin-request/other-frame-id', S3, [REALM, 'admin', ADMIN_FRAME_ID + 1], adminReqEnc),
    negative('admin-request/tampered', S3, [REALM, 'admin', ADMIN_FRAME_ID], flip(adminReqEnc, 30)),
    negative(
      'db-key/wrong-principal',
      K.master.key,
      [REALM, 'billing', K.orders.kvno, K.master.kvno],
      dbKey,
    ),
    negative('db-key/wrong-master-kvno', K.master.key, [REALM, 'orders', K.orders.kvno, 2], dbKey),
  ]
  return {
    description:
      'Sealed objects (docs/protocol.md §3.3, §11). ok: subkey = BLAKE2b-256(key, label), aad = msgpack([label, 1, objectType, ...context]), sealed = nonce ‖ XChaCha20-Poly1305(subkey, nonce, aad, plaintext). Negative vectors: opening inputs.sealed with inputs.key and inputs.context must fail with expect.',
    vectors,
  }
}

// ---- frames.json ----------------------------------------------------------------------------------

const transcript: { name: string; frame: Frame }[] = [
  {
    name: 'as-req',
    frame: {
      type: MSG.AS_REQ,
      id: 1,
      body: {
        realm: REALM,
        client: 'payments',
        kvno: K.payments.kvno,
        nonce: AS_NONCE,
        lifetime: AS_LIFETIME,
        preauth,
      },
    },
  },
  {
    name: 'as-rep',
    frame: {
      type: MSG.AS_REP,
      id: 1,
      body: { kdcTime: T0, tgt, kvno: K.payments.kvno, encPart: asRepEnc },
    },
  },
  {
    name: 'tgs-req',
    frame: {
      type: MSG.TGS_REQ,
      id: 2,
      body: {
        tgt,
        authenticator: tgsAuth,
        target: 'orders',
        scopes: ['orders:read'],
        lifetime: 900,
        nonce: TGS_NONCE,
      },
    },
  },
  {
    name: 'tgs-rep',
    frame: {
      type: MSG.TGS_REP,
      id: 2,
      body: { kdcTime: T0 + 10, target: 'orders', ticket: serviceTicket, encPart: tgsRepEnc },
    },
  },
  { name: 'error', frame: { type: MSG.ERROR, id: 2, body: { kdcTime: T0 + 10, wire: 203 } } },
  {
    name: 'admin-req',
    frame: {
      type: MSG.ADMIN_REQ,
      id: ADMIN_FRAME_ID,
      body: { ticket: adminTicket, authenticator: adminAuth, payload: adminReqEnc },
    },
  },
  {
    name: 'admin-rep',
    frame: {
      type: MSG.ADMIN_REP,
      id: ADMIN_FRAME_ID,
      body: { kdcTime: T0 + 30, payload: adminRepEnc },
    },
  },
  {
    name: 'repl-req',
    frame: {
      type: MSG.REPL_REQ,
      id: 4,
      body: { node: 'kdc-b', payload: detBytes('vectors/repl-req', 48) },
    },
  },
  {
    name: 'repl-rep',
    frame: {
      type: MSG.REPL_REP,
      id: 4,
      body: { node: 'kdc-a', payload: detBytes('vectors/repl-rep', 48) },
    },
  },
]

function framesFile(): VectorFile {
  const ok = (
    kind: string,
    name: string,
    bytes: Uint8Array,
    extra: Record<string, string> = {},
  ): Vector => ({
    name: `${kind}/${name}`,
    expect: 'ok',
    inputs: { bytes: hex(bytes) },
    outputs: { bytes: hex(bytes), ...extra },
  })
  const bad = (kind: string, name: string, bytes: Uint8Array | string, code: string): Vector => ({
    name: `${kind}/${name}`,
    expect: code,
    inputs: { bytes: typeof bytes === 'string' ? bytes : hex(bytes) },
    outputs: {},
  })
  const asReq = encodeFrame(transcript[0]!.frame)
  const asReqHex = hex(asReq)
  const apReq = encodeApReq({ ticket: serviceTicket, authenticator: apAuth })
  const apRep = encodeApRep({ encPart: apRepEnc })
  const tgtWire = [tgt.realm, tgt.service, tgt.kvno, tgt.sealed]
  const tgsBody = (scopes: WireValue): WireValue => [
    tgtWire,
    tgsAuth,
    'orders',
    scopes,
    900,
    TGS_NONCE,
  ]
  // AS-REQ lifetime 3600 is cd0e10; the same value as a uint32 is valid msgpack but not canonical.
  if (!asReqHex.includes('cd0e10')) throw new Error('as-req layout changed')
  const vectors: Vector[] = [
    ...transcript.map((t) => ok('frame', t.name, encodeFrame(t.frame))),
    ok('ap-req', 'orders', apReq, { authorization: utf8(`Tessera ${toBase64Url(apReq)}`) }),
    ok('ap-rep', 'orders', apRep, { header: utf8(toBase64Url(apRep)) }),
    bad('frame', 'version-2', encode([2, MSG.AS_REQ, 1, []]), 'ERR_PROTO_VERSION'),
    bad('frame', 'version-0', encode([0, MSG.ERROR, 1, [T0, 100]]), 'ERR_PROTO_VERSION'),
    bad('frame', 'unknown-type-12', encode([1, 12, 1, []]), 'ERR_PROTO_MALFORMED'),
    bad('frame', 'ap-req-type-in-a-frame', encode([1, MSG.AP_REQ, 1, []]), 'ERR_PROTO_MALFORMED'),
    bad('frame', 'three-items', encode([1, MSG.ERROR, 1]), 'ERR_PROTO_MALFORMED'),
    bad('frame', 'trailing-byte', asReqHex + '00', 'ERR_PROTO_MALFORMED'),
    bad('frame', 'map-body', '94010101' + '80', 'ERR_PROTO_MALFORMED'),
    bad('frame', 'map-frame', '84' + '01010202030304' + '90', 'ERR_PROTO_MALFORMED'),
    bad(
      'frame',
      'non-canonical-lifetime',
      asReqHex.replace('cd0e10', 'ce00000e10'),
      'ERR_PROTO_NON_CANONICAL',
    ),
    bad(
      'frame',
      'float-lifetime',
      asReqHex.replace('cd0e10', 'cb40ac200000000000'),
      'ERR_PROTO_MALFORMED',
    ),
    bad('frame', 'negative-id', '9401 07 ff 92 00 00'.replace(/ /g, ''), 'ERR_PROTO_MALFORMED'),
    bad(
      'frame',
      'uint64-id',
      '9401 07 cf0000000100000000 92 00 00'.replace(/ /g, ''),
      'ERR_PROTO_TOO_LARGE',
    ),
    bad('frame', 'nil-body', '94010701c0', 'ERR_PROTO_MALFORMED'),
    bad('frame', 'ext-type-timestamp', '94010701' + 'd6ff00000000', 'ERR_PROTO_MALFORMED'),
    bad('frame', 'invalid-utf8-realm', '94010101' + '96' + 'a2c328', 'ERR_PROTO_MALFORMED'),
    bad(
      'frame',
      'array32-length-2^32-1',
      'dd' + 'ffffffff' + '00'.repeat(15),
      'ERR_PROTO_TOO_LARGE',
    ),
    bad('frame', 'too-deep', '91'.repeat(9) + '00', 'ERR_PROTO_TOO_LARGE'),
    bad(
      'frame',
      'as-req-short-nonce',
      encode([1, MSG.AS_REQ, 1, [REALM, 'payments', 2, AS_NONCE.subarray(1), 3600, preauth]]),
      'ERR_PROTO_MALFORMED',
    ),
    bad(
      'frame',
      'as-req-lower-case-realm',
      encode([1, MSG.AS_REQ, 1, ['tessera.local', 'payments', 2, AS_NONCE, 3600, preauth]]),
      'ERR_PROTO_MALFORMED',
    ),
    bad(
      'frame',
      'tgs-req-unsorted-scopes',
      encode([1, MSG.TGS_REQ, 2, tgsBody(['orders:write', 'orders:read'])]),
      'ERR_PROTO_MALFORMED',
    ),
    bad(
      'frame',
      'tgs-req-duplicate-scopes',
      encode([1, MSG.TGS_REQ, 2, tgsBody(['orders:read', 'orders:read'])]),
      'ERR_PROTO_MALFORMED',
    ),
    bad(
      'frame',
      'error-code-over-uint16',
      encode([1, MSG.ERROR, 2, [T0, 0x10000]]),
      'ERR_PROTO_MALFORMED',
    ),
    bad('ap-req', 'ap-rep-type', encode([1, MSG.AP_REP, tgtWire, apAuth]), 'ERR_PROTO_UNEXPECTED'),
    bad('ap-req', 'ap-rep-bytes', apRep, 'ERR_PROTO_MALFORMED'),
    bad('ap-req', 'version-2', encode([2, MSG.AP_REQ, tgtWire, apAuth]), 'ERR_PROTO_VERSION'),
    bad(
      'ap-req',
      'short-authenticator',
      encode([1, MSG.AP_REQ, tgtWire, apAuth.subarray(0, 40)]),
      'ERR_PROTO_MALFORMED',
    ),
    bad('ap-rep', 'ap-req-bytes', encode([1, MSG.AP_REQ, apRepEnc]), 'ERR_PROTO_UNEXPECTED'),
  ]
  return {
    description:
      'Frames [version, type, id, body] and the AP-REQ/AP-REP header messages (docs/protocol.md §5). ok: parsing inputs.bytes succeeds and re-encoding gives outputs.bytes (the one canonical encoding); authorization/header are the HTTP header values (UTF-8). Negative: parsing must fail with expect. The ok frames are one coherent transcript: their sealed parts are the vectors of sealed.json.',
    vectors,
  }
}

// ---- codec.json -----------------------------------------------------------------------------------

function codecFile(): VectorFile {
  const ok = (name: string, bytes: string): Vector => ({
    name: `codec/${name}`,
    expect: 'ok',
    inputs: { bytes },
    outputs: { bytes },
  })
  const bad = (name: string, bytes: string, code: string): Vector => ({
    name: `codec/${name}`,
    expect: code,
    inputs: { bytes },
    outputs: {},
  })
  return {
    description:
      'The msgpack subset and its canonical encoding (docs/protocol.md §2). ok: inputs.bytes decodes and re-encodes to outputs.bytes. Negative: decoding with the protocol limits (§9) must fail with expect.',
    vectors: [
      ok('fixint-0', '00'),
      ok('fixint-127', '7f'),
      ok('uint8-128', 'cc80'),
      ok('uint16-256', 'cd0100'),
      ok('uint32-65536', 'ce00010000'),
      ok('uint32-max', 'ceffffffff'),
      ok('fixstr-empty', 'a0'),
      ok('str8-32-bytes', 'd920' + '61'.repeat(32)),
      ok('fixstr-utf8', 'a2c3a9'),
      ok('bin8-empty', 'c400'),
      ok('bin16-256-bytes', 'c50100' + '00'.repeat(256)),
      ok('fixarray-empty', '90'),
      ok('array16-16-items', 'dc0010' + '00'.repeat(16)),
      ok('nesting-depth-8', '91'.repeat(8) + '00'),
      bad('uint8-not-minimal', 'cc05', 'ERR_PROTO_NON_CANONICAL'),
      bad('uint16-not-minimal', 'cd00ff', 'ERR_PROTO_NON_CANONICAL'),
      bad('uint32-not-minimal', 'ce00000001', 'ERR_PROTO_NON_CANONICAL'),
      bad('str8-not-minimal', 'd90161', 'ERR_PROTO_NON_CANONICAL'),
      bad('bin16-not-minimal', 'c5000101', 'ERR_PROTO_NON_CANONICAL'),
      bad('array16-not-minimal', 'dc000101', 'ERR_PROTO_NON_CANONICAL'),
      bad('uint64', 'cf0000000000000001', 'ERR_PROTO_TOO_LARGE'),
      bad('negative-fixint', 'ff', 'ERR_PROTO_MALFORMED'),
      bad('int8', 'd001', 'ERR_PROTO_MALFORMED'),
      bad('float32', 'ca3f800000', 'ERR_PROTO_MALFORMED'),
      bad('float64', 'cb3ff0000000000000', 'ERR_PROTO_MALFORMED'),
      bad('nil', 'c0', 'ERR_PROTO_MALFORMED'),
      bad('true', 'c3', 'ERR_PROTO_MALFORMED'),
      bad('reserved-c1', 'c1', 'ERR_PROTO_MALFORMED'),
      bad('fixmap', '81a16101', 'ERR_PROTO_MALFORMED'),
      bad('map16-empty', 'de0000', 'ERR_PROTO_MALFORMED'),
      bad('ext-timestamp', 'd6ff00000000', 'ERR_PROTO_MALFORMED'),
      bad('ext8', 'c7010100', 'ERR_PROTO_MALFORMED'),
      bad('invalid-utf8', 'a2c328', 'ERR_PROTO_MALFORMED'),
      bad('utf8-surrogate', 'a3eda080', 'ERR_PROTO_MALFORMED'),
      bad('utf8-overlong', 'a2c0af', 'ERR_PROTO_MALFORMED'),
      bad('trailing-bytes', '0102', 'ERR_PROTO_MALFORMED'),
      bad('empty', '', 'ERR_PROTO_MALFORMED'),
      bad('truncated-array', '930102', 'ERR_PROTO_MALFORMED'),
      bad('array-length-beyond-input', 'dc1000' + '00'.repeat(7), 'ERR_PROTO_MALFORMED'),
      bad('nesting-depth-9', '91'.repeat(9) + '00', 'ERR_PROTO_TOO_LARGE'),
      bad('array32-length-2^32-1', 'dd' + 'ffffffff' + '00'.repeat(15), 'ERR_PROTO_TOO_LARGE'),
      bad('str32-length-2^32-1', 'db' + 'ffffffff' + '00'.repeat(15), 'ERR_PROTO_TOO_LARGE'),
      bad('bin32-length-2^32-1', 'c6' + 'ffffffff' + '00'.repeat(15), 'ERR_PROTO_TOO_LARGE'),
      bad('str-4097-bytes', 'da1001' + '61'.repeat(4097), 'ERR_PROTO_TOO_LARGE'),
      bad('array-4097-items', 'dc1001' + '00'.repeat(4097), 'ERR_PROTO_TOO_LARGE'),
    ],
  }
}

// ---- kdf.json and request-hash.json -----------------------------------------------------------------

function kdfFile(): VectorFile {
  const key = patternKey(0x00)
  return {
    description:
      'Subkey derivation (docs/protocol.md §3.2): outputs.subkey = BLAKE2b(key = inputs.key, message = inputs.info, 32-byte output), keyed BLAKE2b per RFC 7693.',
    vectors: Object.values(LABELS).map((label) => ({
      name: `kdf/${label.slice('tessera/v1/'.length)}`,
      expect: 'ok',
      inputs: { key: hex(key), info: utf8(label) },
      outputs: { subkey: hex(deriveKey(key, label)) },
    })),
  }
}

function requestHashFile(): VectorFile {
  const httpVector = (
    name: string,
    method: string,
    rawAuthority: string,
    target: string,
    body: Uint8Array,
  ): Vector => {
    const authority = canonicalAuthority(rawAuthority)
    const bh = bodyHash(body)
    const preimage = encode(['tessera/v1/http', method, authority, target, bh])
    const hash = httpRequestHash({ method, authority, target, bodyHash: bh })
    return {
      name: `request-hash/http-${name}`,
      expect: 'ok',
      inputs: { fields: mp([method, rawAuthority, target]), body: hex(body) },
      outputs: {
        authority: utf8(authority),
        bodyHash: hex(bh),
        preimage: hex(preimage),
        hash: hex(hash),
      },
    }
  }
  return {
    description:
      'Request hashes (docs/protocol.md §6.2). http: inputs.fields = msgpack([method, authority as received, target]); outputs.authority is the canonical authority, preimage = msgpack(["tessera/v1/http", method, authority, target, SHA-256(body)]), hash = BLAKE2b-256(preimage). tgs: fields = msgpack([target, scopes, lifetime, nonce]). admin: fields = msgpack([frameId, sealedPayload]).',
    vectors: [
      httpVector(
        'post-with-body',
        httpForm.method,
        'Orders.Example.COM:443',
        httpForm.target,
        httpBody,
      ),
      httpVector('get-no-body', 'GET', 'orders.example.com', '/orders/7', EMPTY),
      httpVector('explicit-port', 'DELETE', '127.0.0.1:8080', '/orders/7?force=1', EMPTY),
      httpVector('default-http-port', 'PUT', 'ORDERS:80', '/', utf8Encode('x')),
      {
        name: 'request-hash/tgs',
        expect: 'ok',
        inputs: { fields: mp(['orders', ['orders:read'], 900, TGS_NONCE]) },
        outputs: {
          preimage: mp(['tessera/v1/tgs-req', 'orders', ['orders:read'], 900, TGS_NONCE]),
          hash: hex(tgsHash),
        },
      },
      {
        name: 'request-hash/admin',
        expect: 'ok',
        inputs: { fields: mp([ADMIN_FRAME_ID, adminReqEnc]) },
        outputs: {
          preimage: mp(['tessera/v1/admin-req', ADMIN_FRAME_ID, adminReqEnc]),
          hash: hex(adminAuthHash),
        },
      },
    ],
  }
}

// ---- keytab.json ----------------------------------------------------------------------------------

function keytabFile(): VectorFile {
  const keytab = encodeKeytab({
    realm: REALM,
    principal: 'orders',
    keys: [
      { kvno: 2, key: patternKey(0x10), createdAt: T0 - 86_400 },
      { kvno: 3, key: K.orders.key, createdAt: T0 },
    ],
  })
  const entries = [
    [2, patternKey(0x10), T0 - 86_400],
    [3, K.orders.key, T0],
  ]
  // kvno 2 as cc02 instead of 02: valid msgpack, not canonical.
  const keytabHex = hex(keytab)
  if (!keytabHex.includes('9302c420')) throw new Error('keytab layout changed')
  const nonCanonicalKvno = fromHexStrict(keytabHex.replace('9302c420', '93cc02c420'))
  const bad = (name: string, value: WireValue | Uint8Array): Vector => ({
    name: `keytab/${name}`,
    expect: 'ERR_CLIENT_KEYTAB',
    inputs: { bytes: hex(value instanceof Uint8Array ? value : encode(value)) },
    outputs: {},
  })
  return {
    description:
      'Keytab files (docs/protocol.md §8.2): msgpack(["tessera-keytab", 1, realm, principal, [[kvno, key, createdAt], ...]]), kvnos strictly ascending. ok: parses and re-encodes to outputs.bytes. Negative: must be refused with expect.',
    vectors: [
      {
        name: 'keytab/orders',
        expect: 'ok',
        inputs: { bytes: hex(keytab) },
        outputs: { bytes: hex(keytab) },
      },
      bad('wrong-magic', ['tessera-keytab2', 1, REALM, 'orders', entries]),
      bad('version-2', ['tessera-keytab', 2, REALM, 'orders', entries]),
      bad('descending-kvno', ['tessera-keytab', 1, REALM, 'orders', [...entries].reverse()]),
      bad('short-key', ['tessera-keytab', 1, REALM, 'orders', [[3, K.orders.key.subarray(1), T0]]]),
      bad('no-keys', ['tessera-keytab', 1, REALM, 'orders', []]),
      bad('non-canonical-kvno', nonCanonicalKvno),
      bad(
        'uint64-created-at',
        concatBytes(
          keytab.subarray(0, keytab.length - 5),
          new Uint8Array([0xcf, 0, 0, 0, 0]),
          keytab.subarray(keytab.length - 4),
        ),
      ),
    ],
  }
}

// ---- output -------------------------------------------------------------------------------------

/** Every vector file, by file name. Pure and deterministic. */
export function buildVectors(): Record<string, VectorFile> {
  return {
    'sealed.json': sealedFile(),
    'frames.json': framesFile(),
    'codec.json': codecFile(),
    'kdf.json': kdfFile(),
    'request-hash.json': requestHashFile(),
    'keytab.json': keytabFile(),
  }
}

export const DOC_BEGIN =
  '<!-- BEGIN worked-examples (generated by test/vectors/generate.ts; do not edit) -->'
export const DOC_END = '<!-- END worked-examples -->'

function wrapHex(label: string, value: string): string {
  const pad = ' '.repeat(12)
  if (value === '') return `${label.padEnd(12)}(empty)`
  const lines = value.match(/.{1,64}/g) ?? []
  return lines.map((l, i) => (i === 0 ? label.padEnd(12) : pad) + l).join('\n')
}

function describeValue(v: WireValue | Uint8Array): string {
  if (typeof v === 'number') return String(v)
  if (typeof v === 'string') return JSON.stringify(v)
  if (v instanceof Uint8Array) return v.length === 0 ? 'h""' : `h"${hex(v)}"`
  return `[${v.map(describeValue).join(', ')}]`
}

/** The generated section of docs/protocol.md: one worked example per sealed object. */
export function renderWorkedExamples(): string {
  const blocks = worked.map((spec) => {
    const v = sealedVector(spec)
    const body = [
      `# ${spec.about}`,
      `# label = "${spec.label}", objectType = ${String(spec.type)}`,
      `# context = ${describeValue(spec.context)}`,
      `# plaintext = ${spec.raw === true ? '(32 raw key bytes)' : describeValue(spec.plaintext)}`,
      wrapHex('key', v.inputs.key ?? ''),
      wrapHex('subkey', v.outputs.subkey ?? ''),
      wrapHex('nonce', v.inputs.nonce ?? ''),
      wrapHex('aad', v.outputs.aad ?? ''),
      wrapHex('plaintext', v.inputs.plaintext ?? ''),
      wrapHex('sealed', v.outputs.sealed ?? ''),
    ].join('\n')
    return `#### ${v.name}\n\n\`\`\`text\n${body}\n\`\`\``
  })
  return [DOC_BEGIN, '', ...blocks.flatMap((b) => [b, '']), DOC_END].join('\n')
}

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'kdc', 'protocol')))
      return dir
    const up = dirname(dir)
    if (up === dir) throw new Error('repository root not found')
    dir = up
  }
}

function writeIfChanged(path: string, text: string): boolean {
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return false
  writeFileSync(path, text)
  return true
}

function main(): void {
  const root = repoRoot()
  const changed: string[] = []
  for (const [file, content] of Object.entries(buildVectors())) {
    const path = join(root, 'test', 'vectors', file)
    if (writeIfChanged(path, `${JSON.stringify(content, null, 2)}\n`))
      changed.push(`test/vectors/${file}`)
  }
  const docPath = join(root, 'docs', 'protocol.md')
  const doc = readFileSync(docPath, 'utf8')
  const begin = doc.indexOf(DOC_BEGIN)
  const end = doc.indexOf(DOC_END)
  if (begin < 0 || end < begin)
    throw new Error('docs/protocol.md lacks the worked-examples markers')
  const next = doc.slice(0, begin) + renderWorkedExamples() + doc.slice(end + DOC_END.length)
  if (writeIfChanged(docPath, next)) changed.push('docs/protocol.md')
  process.stdout.write(
    changed.length === 0 ? 'vectors: no change\n' : `vectors: wrote ${changed.join(', ')}\n`,
  )
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main()
