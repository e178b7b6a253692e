/**
 * Runs every committed vector through kdc/protocol, recomputing its outputs from its inputs; the
 * vector's `expect` is the oracle (age's CCTV). Also checks that the generator is a no-op against
 * the committed files and that docs/protocol.md's worked examples are exactly the vectors.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, it, expect } from 'vitest'
import {
  adminRequestHash,
  availableBackends,
  bodyHash,
  BrokerError,
  buildAad,
  canonicalAuthority,
  cryptoBackend,
  decode,
  deriveKey,
  encode,
  encodeApRep,
  encodeApReq,
  encodeFrame,
  encodeKeytab,
  fromBase64Url,
  fromHex,
  httpRequestHash,
  isErrorCode,
  LABELS,
  MSG,
  OBJ,
  openAdminPayload,
  openApRepPart,
  openAsRepPart,
  openAuthenticator,
  openBytes,
  openPreauth,
  openTgsRepPart,
  openTicket,
  parseApRep,
  parseApReq,
  parseFrame,
  parseKeytab,
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
  useBackend,
  type Label,
  type MessageType,
  type ObjectType,
  type WireValue,
} from '../../kdc/protocol/index.js'
import { buildVectors, DOC_BEGIN, DOC_END, renderWorkedExamples } from './generate.js'

interface Vector {
  name: string
  expect: string
  inputs: Record<string, string>
  outputs: Record<string, string>
}

const DIR = fileURLToPath(new URL('./', import.meta.url))
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json') && f !== 'error-codes.json')
  .sort()
const committed = new Map<string, { description: string; vectors: Vector[] }>(
  files.map((f) => [
    f,
    JSON.parse(readFileSync(DIR + f, 'utf8')) as { description: string; vectors: Vector[] },
  ]),
)
const all: Vector[] = [...committed.values()].flatMap((f) => f.vectors)

const initialBackend = cryptoBackend().name
afterAll(() => {
  useBackend(initialBackend)
})

const h = (v: Vector, side: 'inputs' | 'outputs', key: string): Uint8Array => {
  const value = v[side][key]
  if (value === undefined) throw new Error(`${v.name}: missing ${side}.${key}`)
  return fromHex(value)
}
const arr = (v: WireValue): readonly WireValue[] => v as readonly WireValue[]
const num = (v: WireValue | undefined): number => v as number
const str = (v: WireValue | undefined): string => v as string
const bin = (v: WireValue | undefined): Uint8Array => v as Uint8Array
const strs = (v: WireValue | undefined): string[] => [...(v as readonly string[])]

/** Run `fn` and return "ok" or the BrokerError code (anything else is rethrown: a bug). */
function outcome(fn: () => unknown): string {
  try {
    fn()
    return 'ok'
  } catch (err) {
    if (err instanceof BrokerError) return err.code as string
    throw err
  }
}

// ---- sealed objects: one independent description of each layout -----------------------------------

interface SealedKind {
  readonly label: Label
  readonly type: ObjectType
  /** Typed seal from the decoded context and plaintext fields. */
  readonly seal?: (
    subkey: Uint8Array,
    ctx: readonly WireValue[],
    pt: WireValue,
    nonce: Uint8Array,
  ) => Uint8Array
  /** Typed open, returning the plaintext fields in wire order. */
  readonly open: (subkey: Uint8Array, ctx: readonly WireValue[], sealed: Uint8Array) => WireValue
}

const SEALED: Record<string, SealedKind> = {
  ticket: {
    label: LABELS.ticket,
    type: OBJ.TICKET,
    seal: (k, c, pt, n) => {
      const f = arr(pt)
      return sealTicket(
        k,
        { realm: str(c[0]), service: str(c[1]), kvno: num(c[2]) },
        {
          flags: num(f[0]),
          sessionKey: bin(f[1]),
          client: str(f[2]),
          authTime: num(f[3]),
          startTime: num(f[4]),
          endTime: num(f[5]),
          scopes: strs(f[6]),
          policyVersion: num(f[7]),
          ticketId: bin(f[8]),
          kdcCheck: bin(f[9]),
        },
        n,
      ).sealed
    },
    open: (k, c, s) => {
      const p = openTicket({ realm: str(c[0]), service: str(c[1]), kvno: num(c[2]), sealed: s }, k)
      return [
        p.flags,
        p.sessionKey,
        p.client,
        p.authTime,
        p.startTime,
        p.endTime,
        [...p.scopes],
        p.policyVersion,
        p.ticketId,
        p.kdcCheck,
      ]
    },
  },
  preauth: {
    label: LABELS.preauth,
    type: OBJ.PREAUTH,
    seal: (k, c, pt, n) =>
      sealPreauth(
        k,
        { realm: str(c[0]), client: str(c[1]), kvno: num(c[2]), lifetime: num(c[3]) },
        { ctime: num(arr(pt)[0]), nonce: bin(arr(pt)[1]) },
        n,
      ),
    open: (k, c, s) => {
      const p = openPreauth(
        k,
        { realm: str(c[0]), client: str(c[1]), kvno: num(c[2]), lifetime: num(c[3]) },
        s,
      )
      return [p.ctime, p.nonce]
    },
  },
  'as-rep-part': {
    label: LABELS.asRep,
    type: OBJ.AS_REP_ENC,
    seal: (k, c, pt, n) => {
      const f = arr(pt)
      return sealAsRepPart(
        k,
        { realm: str(c[0]), client: str(c[1]), kvno: num(c[2]) },
        {
          sessionKey: bin(f[0]),
          nonce: bin(f[1]),
          authTime: num(f[2]),
          startTime: num(f[3]),
          endTime: num(f[4]),
          flags: num(f[5]),
        },
        n,
      )
    },
    open: (k, c, s) => {
      const p = openAsRepPart(k, { realm: str(c[0]), client: str(c[1]), kvno: num(c[2]) }, s)
      return [p.sessionKey, p.nonce, p.authTime, p.startTime, p.endTime, p.flags]
    },
  },
  'tgs-rep-part': {
    label: LABELS.tgsRep,
    type: OBJ.TGS_REP_ENC,
    seal: (k, c, pt, n) => {
      const f = arr(pt)
      return sealTgsRepPart(
        k,
        { realm: str(c[0]), client: str(c[1]), target: str(c[2]) },
        {
          sessionKey: bin(f[0]),
          nonce: bin(f[1]),
          authTime: num(f[2]),
          startTime: num(f[3]),
          endTime: num(f[4]),
          scopes: strs(f[5]),
          policyVersion: num(f[6]),
          ticketId: bin(f[7]),
          flags: num(f[8]),
        },
        n,
      )
    },
    open: (k, c, s) => {
      const p = openTgsRepPart(k, { realm: str(c[0]), client: str(c[1]), target: str(c[2]) }, s)
      return [
        p.sessionKey,
        p.nonce,
        p.authTime,
        p.startTime,
        p.endTime,
        [...p.scopes],
        p.policyVersion,
        p.ticketId,
        p.flags,
      ]
    },
  },
  authenticator: {
    label: LABELS.authenticator,
    type: OBJ.AUTHENTICATOR,
    seal: (k, c, pt, n) =>
      sealAuthenticator(
        k,
        {
          realm: str(c[0]),
          client: str(c[1]),
          service: str(c[2]),
          msgType: num(c[3]) as MessageType,
        },
        { ctime: num(arr(pt)[0]), counter: num(arr(pt)[1]), requestHash: bin(arr(pt)[2]) },
        n,
      ),
    open: (k, c, s) => {
      const a = openAuthenticator(
        k,
        {
          realm: str(c[0]),
          client: str(c[1]),
          service: str(c[2]),
          msgType: num(c[3]) as MessageType,
        },
        s,
      )
      return [a.ctime, a.counter, a.requestHash]
    },
  },
  'ap-rep-part': {
    label: LABELS.apRep,
    type: OBJ.AP_REP_ENC,
    seal: (k, c, pt, n) =>
      sealApRepPart(
        k,
        { realm: str(c[0]), client: str(c[1]), service: str(c[2]) },
        { ctime: num(arr(pt)[0]), counter: num(arr(pt)[1]) },
        n,
      ),
    open: (k, c, s) => {
      const p = openApRepPart(k, { realm: str(c[0]), client: str(c[1]), service: str(c[2]) }, s)
      return [p.ctime, p.counter]
    },
  },
  'admin-request': {
    label: LABELS.admin,
    type: OBJ.ADMIN_REQ_ENC,
    seal: (k, c, pt, n) =>
      sealAdminPayload(
        k,
        OBJ.ADMIN_REQ_ENC,
        { realm: str(c[0]), client: str(c[1]), id: num(c[2]) },
        pt,
        n,
      ),
    open: (k, c, s) =>
      openAdminPayload(
        k,
        OBJ.ADMIN_REQ_ENC,
        { realm: str(c[0]), client: str(c[1]), id: num(c[2]) },
        s,
      ),
  },
  'admin-reply': {
    label: LABELS.admin,
    type: OBJ.ADMIN_REP_ENC,
    seal: (k, c, pt, n) =>
      sealAdminPayload(
        k,
        OBJ.ADMIN_REP_ENC,
        { realm: str(c[0]), client: str(c[1]), id: num(c[2]) },
        pt,
        n,
      ),
    open: (k, c, s) =>
      openAdminPayload(
        k,
        OBJ.ADMIN_REP_ENC,
        { realm: str(c[0]), client: str(c[1]), id: num(c[2]) },
        s,
      ),
  },
  // docs/protocol.md §8.3: the plaintext is the 32 raw key bytes (no msgpack), so no typed seal.
  'db-key': {
    label: LABELS.db,
    type: OBJ.DB_KEY,
    open: (k, c, s) => openBytes(k, buildAad(OBJ.DB_KEY, c), s, 32),
  },
}

function runSealed(v: Vector, kind: SealedKind): void {
  const key = h(v, 'inputs', 'key')
  const ctx = arr(decode(h(v, 'inputs', 'context')))
  const subkey = deriveKey(key, kind.label)
  if (v.expect !== 'ok') {
    expect(outcome(() => kind.open(subkey, ctx, h(v, 'inputs', 'sealed')))).toBe(v.expect)
    return
  }
  const nonce = h(v, 'inputs', 'nonce')
  const plaintext = h(v, 'inputs', 'plaintext')
  expect(toHex(subkey)).toBe(v.outputs.subkey)
  const aad = buildAad(kind.type, ctx)
  expect(toHex(aad)).toBe(v.outputs.aad)
  // The generic construction, on every backend.
  for (const b of availableBackends()) {
    useBackend(b.name)
    expect(toHex(sealBytes(subkey, aad, plaintext, nonce)), b.name).toBe(v.outputs.sealed)
  }
  useBackend(initialBackend)
  const sealed = h(v, 'outputs', 'sealed')
  expect(toHex(sealed.subarray(0, 24))).toBe(v.inputs.nonce)
  // The typed API: seal from the decoded fields, open back to the same canonical plaintext.
  if (kind.seal !== undefined) {
    expect(toHex(kind.seal(subkey, ctx, decode(plaintext), nonce))).toBe(v.outputs.sealed)
    expect(toHex(encode(kind.open(subkey, ctx, sealed)))).toBe(v.inputs.plaintext)
  } else {
    expect(toHex(kind.open(subkey, ctx, sealed) as Uint8Array)).toBe(v.inputs.plaintext)
  }
}

// ---- everything else ------------------------------------------------------------------------------

function runOther(v: Vector, kind: string): void {
  const ok = v.expect === 'ok'
  switch (kind) {
    case 'codec': {
      const bytes = h(v, 'inputs', 'bytes')
      expect(outcome(() => decode(bytes))).toBe(v.expect)
      if (ok) expect(toHex(encode(decode(bytes)))).toBe(v.outputs.bytes)
      return
    }
    case 'frame': {
      const bytes = h(v, 'inputs', 'bytes')
      expect(outcome(() => parseFrame(bytes))).toBe(v.expect)
      if (ok) expect(toHex(encodeFrame(parseFrame(bytes)))).toBe(v.outputs.bytes)
      return
    }
    case 'ap-req': {
      const bytes = h(v, 'inputs', 'bytes')
      expect(outcome(() => parseApReq(bytes))).toBe(v.expect)
      if (!ok) return
      expect(toHex(encodeApReq(parseApReq(bytes)))).toBe(v.outputs.bytes)
      const header = new TextDecoder().decode(h(v, 'outputs', 'authorization'))
      expect(header).toBe(`Tessera ${toBase64Url(bytes)}`)
      expect(toHex(fromBase64Url(header.slice('Tessera '.length)) ?? new Uint8Array(0))).toBe(
        v.inputs.bytes,
      )
      return
    }
    case 'ap-rep': {
      const bytes = h(v, 'inputs', 'bytes')
      expect(outcome(() => parseApRep(bytes))).toBe(v.expect)
      if (!ok) return
      expect(toHex(encodeApRep(parseApRep(bytes)))).toBe(v.outputs.bytes)
      expect(new TextDecoder().decode(h(v, 'outputs', 'header'))).toBe(toBase64Url(bytes))
      return
    }
    case 'keytab': {
      const bytes = h(v, 'inputs', 'bytes')
      expect(outcome(() => parseKeytab(bytes))).toBe(v.expect)
      if (ok) expect(toHex(encodeKeytab(parseKeytab(bytes)))).toBe(v.outputs.bytes)
      return
    }
    case 'kdf': {
      const info = new TextDecoder().decode(h(v, 'inputs', 'info'))
      expect(Object.values(LABELS)).toContain(info)
      expect(toHex(deriveKey(h(v, 'inputs', 'key'), info as Label))).toBe(v.outputs.subkey)
      return
    }
    case 'request-hash': {
      const f = arr(decode(h(v, 'inputs', 'fields')))
      const b2 = (b: Uint8Array): string => toHex(cryptoBackend().blake2b256(b))
      expect(b2(h(v, 'outputs', 'preimage'))).toBe(v.outputs.hash)
      if (v.name.startsWith('request-hash/http-')) {
        const authority = canonicalAuthority(str(f[1]))
        expect(toHex(new TextEncoder().encode(authority))).toBe(v.outputs.authority)
        const bh = bodyHash(h(v, 'inputs', 'body'))
        expect(toHex(bh)).toBe(v.outputs.bodyHash)
        const form = { method: str(f[0]), authority, target: str(f[2]), bodyHash: bh }
        expect(toHex(encode(['tessera/v1/http', form.method, authority, form.target, bh]))).toBe(
          v.outputs.preimage,
        )
        expect(toHex(httpRequestHash(form))).toBe(v.outputs.hash)
      } else if (v.name === 'request-hash/tgs') {
        expect(toHex(encode(['tessera/v1/tgs-req', ...f]))).toBe(v.outputs.preimage)
        expect(toHex(tgsRequestHash(str(f[0]), strs(f[1]), num(f[2]), bin(f[3])))).toBe(
          v.outputs.hash,
        )
      } else if (v.name === 'request-hash/admin') {
        expect(toHex(encode(['tessera/v1/admin-req', ...f]))).toBe(v.outputs.preimage)
        expect(toHex(adminRequestHash(num(f[0]), bin(f[1])))).toBe(v.outputs.hash)
      } else {
        throw new Error(`unknown request-hash vector ${v.name}`)
      }
      return
    }
    default:
      throw new Error(`no runner for vector kind ${kind} (${v.name})`)
  }
}

describe('vectors: files', () => {
  it('has every vector file the generator writes, and no stray ones', () => {
    expect(files).toEqual(Object.keys(buildVectors()).sort())
  })

  it('re-running the generator is a no-op (committed files are exactly its output)', () => {
    for (const [file, content] of Object.entries(buildVectors())) {
      expect(readFileSync(DIR + file, 'utf8'), file).toBe(`${JSON.stringify(content, null, 2)}\n`)
    }
  })

  it('every vector is well-formed: unique name, known expect, lower-case hex only', () => {
    const names = new Set<string>()
    for (const v of all) {
      expect(names.has(v.name), v.name).toBe(false)
      names.add(v.name)
      expect(v.expect === 'ok' || isErrorCode(v.expect), v.name).toBe(true)
      for (const value of [...Object.values(v.inputs), ...Object.values(v.outputs)]) {
        expect(value, v.name).toMatch(/^(?:[0-9a-f]{2})*$/)
      }
      if (v.expect !== 'ok') expect(v.outputs, v.name).toEqual({})
    }
  })

  it('covers one worked example per sealed object, every frame type and every KDF label', () => {
    for (const kind of Object.keys(SEALED)) {
      expect(
        all.some((v) => v.name.startsWith(`${kind}/`) && v.expect === 'ok'),
        kind,
      ).toBe(true)
      expect(
        all.some((v) => v.name.startsWith(`${kind}/`) && v.expect !== 'ok'),
        kind,
      ).toBe(true)
    }
    const frameTypes = new Set(
      all
        .filter((v) => v.name.startsWith('frame/') && v.expect === 'ok')
        .map((v) => parseFrame(h(v, 'inputs', 'bytes')).type),
    )
    for (const t of Object.values(MSG)) {
      if (t === MSG.AP_REQ || t === MSG.AP_REP) continue
      expect(frameTypes.has(t as never), `frame type ${String(t)}`).toBe(true)
    }
    expect(all.filter((v) => v.name.startsWith('kdf/')).length).toBe(Object.values(LABELS).length)
  })
})

describe('vectors: every vector recomputes from its inputs', () => {
  it.each(all.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const kind = v.name.split('/')[0] as string
    const sealed = SEALED[kind]
    if (sealed !== undefined) runSealed(v, sealed)
    else runOther(v, kind)
  })
})

describe('vectors: docs/protocol.md §11 worked examples', () => {
  const doc = readFileSync(ROOT + 'docs/protocol.md', 'utf8')
  const begin = doc.indexOf(DOC_BEGIN)
  const end = doc.indexOf(DOC_END)

  it('are exactly what the generator renders', () => {
    expect(begin).toBeGreaterThan(0)
    expect(doc.slice(begin, end + DOC_END.length)).toBe(renderWorkedExamples())
  })

  it('every hex value shown appears in the committed vectors', () => {
    const known = new Set(
      all.flatMap((v) => [...Object.values(v.inputs), ...Object.values(v.outputs)]),
    )
    const section = doc.slice(begin, end)
    let count = 0
    for (const block of section.matchAll(/```text\n([\s\S]*?)```/g)) {
      let current: string | undefined
      const values: string[] = []
      for (const line of (block[1] as string).split('\n')) {
        if (line.startsWith('#') || line.trim() === '') continue
        const m = /^(\S+)\s+([0-9a-f]+|\(empty\))$/.exec(line)
        if (m !== null) {
          if (current !== undefined) values.push(current)
          current = m[2] === '(empty)' ? '' : m[2]
        } else {
          current = (current ?? '') + line.trim()
        }
      }
      if (current !== undefined) values.push(current)
      expect(values.length).toBe(6) // key, subkey, nonce, aad, plaintext, sealed
      for (const value of values) {
        expect(known.has(value), value.slice(0, 32)).toBe(true)
        count++
      }
    }
    expect(count).toBeGreaterThanOrEqual(6 * 8)
  })
})
