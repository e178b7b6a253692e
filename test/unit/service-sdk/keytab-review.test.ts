/**
 * Adversarial tests of keytab loading and hot reload (service-sdk/keytab.ts, verifier.ts
 * #replaceRing, heap.ts) and of the keytab writers (kdc/admin/keytab-file.ts,
 * kdc/store/keytab-file.ts), with real files in a temporary directory. Written as a review; the
 * tests marked `found in review` exposed bugs that are now fixed (a reload promise that settled
 * early, a FIFO at the path wedging the watcher, a rotation during startup never seen, parsed key
 * copies left unwiped on two paths).
 */
import { execFileSync } from 'node:child_process'
import { closeSync, constants, openSync, renameSync, writeFileSync } from 'node:fs'
import {
  chmod,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  BrokerError,
  deriveKey,
  encode,
  encodeKeytab,
  generateKey,
  isBrokerError,
  LABELS,
  parseKeytab,
  toHex,
  type Keytab,
} from '../../../kdc/protocol/index.js'
import { writeKeytabFile as adminWriteKeytab } from '../../../kdc/admin/keytab-file.js'
import { writeKeytabFile as storeWriteKeytab } from '../../../kdc/store/keytab-file.js'
import { TicketVerifier } from '../../../service-sdk/index.js'
import { verifierHeap } from '../../../service-sdk/heap.js'
import {
  authHeader,
  FakeClock,
  keyOf,
  makeKeytab,
  mintTicket,
  REALM,
  request,
  SERVICE,
  type Minted,
} from './fixtures.js'

/**
 * Pass-through wrappers with test hooks: `afterRead` runs when a file opened with node's
 * fs/promises `open` is closed, i.e. after the keytab reader has its bytes (to land a write in the
 * window before the watcher starts); every keytab parseKeytab returns is recorded (to check that
 * its key copies are wiped on every path).
 */
const hooks = vi.hoisted(() => ({
  afterRead: undefined as undefined | (() => Promise<void>),
  parsed: [] as { keys: readonly { key: Uint8Array }[] }[],
}))
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>()
  const open = (async (...args: Parameters<typeof actual.open>) => {
    const handle = await actual.open(...args)
    const close = handle.close.bind(handle)
    handle.close = async () => {
      await close()
      const hook = hooks.afterRead
      hooks.afterRead = undefined
      if (hook !== undefined) await hook()
    }
    return handle
  }) as typeof actual.open
  return { ...actual, open, default: { ...actual, open } }
})
vi.mock('../../../kdc/protocol/index.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../../kdc/protocol/index.js')>()
  return {
    ...actual,
    parseKeytab: (bytes: Uint8Array) => {
      const keytab = actual.parseKeytab(bytes)
      hooks.parsed.push(keytab)
      return keytab
    },
  }
})

let dir: string
let path: string
const open: TicketVerifier[] = []

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-keytab-review-'))
  path = join(dir, 'orders.keytab')
})
afterEach(async () => {
  hooks.afterRead = undefined
  hooks.parsed.length = 0
  for (const v of open.splice(0)) v.close()
  await rm(dir, { recursive: true, force: true })
})

/** Atomic replace (temp file + rename), as the admin CLI does. */
async function writeKeytab(p: string, keytab: Keytab): Promise<void> {
  await writeRaw(p, encodeKeytab(keytab))
}
async function writeRaw(p: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = `${p}.tmp-${String(Math.random()).slice(2)}`
  await writeFile(tmp, bytes, { mode: 0o600 })
  await rename(tmp, p)
}

/** A verifier whose reloads happen only through reloadKeytab() (watch events are debounced away). */
async function manual(
  extra: { onError?: (err: Error) => void; onReload?: (kvnos: readonly number[]) => void } = {},
): Promise<TicketVerifier> {
  const v = await TicketVerifier.fromKeytab({
    keytab: path,
    clock: new FakeClock(),
    debounceMs: 60_000,
    pollIntervalMs: 3_600_000,
    ...extra,
  })
  open.push(v)
  return v
}

/** A verifier that watches the file with short delays. */
async function watched(
  extra: {
    onError?: (err: Error) => void
    onReload?: (kvnos: readonly number[]) => void
    pollIntervalMs?: number
  } = {},
): Promise<TicketVerifier> {
  const v = await TicketVerifier.fromKeytab({
    keytab: path,
    clock: new FakeClock(),
    debounceMs: 10,
    pollIntervalMs: 30,
    ...extra,
  })
  open.push(v)
  return v
}

function until(pred: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (pred()) resolve()
      else if (Date.now() > deadline) reject(new Error('timed out'))
      else setTimeout(tick, 5)
    }
    tick()
  })
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The BrokerError code (or a marker) of calling `fn`. */
function codeOf(fn: () => unknown): string {
  try {
    fn()
    return 'ok'
  } catch (err) {
    return isBrokerError(err) ? err.code : `not a BrokerError: ${String(err)}`
  }
}

let counter = 0
/** verify() with a fresh counter (every AP-REQ is accepted once). */
function verifyCode(v: TicketVerifier, m: Minted): string {
  return codeOf(() => v.verify(authHeader(m, { counter: ++counter }), request()))
}

/** The error of a failed parse, for status checks. */
function parseError(bytes: Uint8Array): BrokerError {
  try {
    parseKeytab(bytes)
  } catch (err) {
    if (isBrokerError(err)) return err
    throw err
  }
  throw new Error('parsed')
}

/** Every way a secret of `keytab` could be spelled in a message. */
function secretSpellings(keytab: Keytab): string[] {
  return keytab.keys.flatMap((k) => {
    const b = Buffer.from(k.key)
    return [toHex(k.key), b.toString('base64'), b.toString('base64url'), b.toString('latin1')]
  })
}

function allText(err: unknown): string {
  const parts: string[] = []
  let e: unknown = err
  for (let i = 0; i < 5 && e instanceof Error; i++) {
    parts.push(e.message, e.stack ?? '', String((e as { status?: unknown }).status))
    e = e.cause
  }
  return parts.join('\n')
}

// ---------------------------------------------------------------------------------------------

describe('one key per kvno, never a trial decryption', () => {
  it('an unknown kvno is ERR_AP_BAD_KVNO; a ticket relabelled to another held kvno does not fall back', async () => {
    const kt = makeKeytab([1, 2])
    await writeKeytab(path, kt)
    const v = await manual()
    const k3 = mintTicket({ serviceKey: generateKey(), kvno: 3 })
    expect(verifyCode(v, k3)).toBe('ERR_AP_BAD_KVNO')
    // Sealed under kvno 1's key but naming kvno 2: opened with kvno 2's key only.
    const wrong = mintTicket({ serviceKey: keyOf(kt, 1), kvno: 2 })
    expect(verifyCode(v, wrong)).toBe('ERR_AP_BAD_INTEGRITY')
    expect(verifyCode(v, mintTicket({ serviceKey: keyOf(kt, 2), kvno: 2 }))).toBe('ok')
  })

  it('kvno 0 and kvno 2^32-1 are usable key versions', async () => {
    const kt = makeKeytab([0, 0xffff_ffff])
    await writeKeytab(path, kt)
    const v = await manual()
    expect(v.kvnos).toEqual([0, 0xffff_ffff])
    expect(verifyCode(v, mintTicket({ serviceKey: keyOf(kt, 0), kvno: 0 }))).toBe('ok')
    expect(
      verifyCode(v, mintTicket({ serviceKey: keyOf(kt, 0xffff_ffff), kvno: 0xffff_ffff })),
    ).toBe('ok')
  })
})

describe('a reload that changes or removes keys', () => {
  it('a kvno whose key changed refuses its cached tickets (verify and precheck), frees nothing still in use', async () => {
    const a = makeKeytab([1, 2])
    await writeKeytab(path, a)
    const v = await manual()
    const t1 = mintTicket({ serviceKey: keyOf(a, 1), kvno: 1 })
    const t2 = mintTicket({ serviceKey: keyOf(a, 2), kvno: 2 })
    expect(verifyCode(v, t1)).toBe('ok')
    expect(verifyCode(v, t2)).toBe('ok')
    expect(v.stats.cachedTickets).toBe(2)
    // kvno 1 re-keyed, kvno 2 unchanged.
    const b: Keytab = { ...a, keys: [{ ...a.keys[0]!, key: generateKey() }, a.keys[1]!] }
    await writeKeytab(path, b)
    await v.reloadKeytab()
    expect(v.kvnos).toEqual([1, 2])
    expect(v.stats.cachedTickets).toBe(0)
    expect(verifyCode(v, t1)).toBe('ERR_AP_BAD_INTEGRITY')
    expect(codeOf(() => v.precheck(authHeader(t1, { counter: ++counter })))).toBe(
      'ERR_AP_BAD_INTEGRITY',
    )
    expect(verifyCode(v, t2)).toBe('ok')
    expect(verifyCode(v, mintTicket({ serviceKey: keyOf(b, 1), kvno: 1 }))).toBe('ok')
  })

  it('a kvno re-keyed after it left the file refuses the tickets of its old key', async () => {
    const a = makeKeytab([1])
    await writeKeytab(path, a)
    const v = await manual()
    const t1 = mintTicket({ serviceKey: keyOf(a, 1), kvno: 1 })
    expect(verifyCode(v, t1)).toBe('ok')
    await writeKeytab(path, makeKeytab([2]))
    await v.reloadKeytab()
    expect(v.kvnos).toEqual([2])
    expect(verifyCode(v, t1)).toBe('ERR_AP_BAD_KVNO')
    const c = makeKeytab([1, 2]) // kvno 1 comes back with another key
    await writeKeytab(path, c)
    await v.reloadKeytab()
    expect(verifyCode(v, t1)).toBe('ERR_AP_BAD_INTEGRITY')
    expect(verifyCode(v, mintTicket({ serviceKey: keyOf(c, 1), kvno: 1 }))).toBe('ok')
  })

  it('a kvno removed from the file is refused at the first reload, cached tickets included', async () => {
    const a = makeKeytab([1, 2])
    await writeKeytab(path, a)
    const v = await manual()
    const t1 = mintTicket({ serviceKey: keyOf(a, 1), kvno: 1 })
    expect(verifyCode(v, t1)).toBe('ok')
    expect(v.stats.cachedTickets).toBe(1)
    // A stolen kvno 1, retired with `key rotate --keep 1`: the file now holds a new kvno only.
    const c = makeKeytab([3])
    await writeKeytab(path, c)
    await v.reloadKeytab()
    expect(v.kvnos).toEqual([3])
    expect(v.stats.cachedTickets).toBe(0)
    expect(verifyCode(v, t1)).toBe('ERR_AP_BAD_KVNO')
    expect(codeOf(() => v.precheck(authHeader(t1, { counter: ++counter })))).toBe('ERR_AP_BAD_KVNO')
    expect(verifyCode(v, mintTicket({ serviceKey: keyOf(c, 3), kvno: 3 }))).toBe('ok')
  })

  it('writing the retiring file again changes nothing (the digest dedup keeps the kvno out)', async () => {
    const a = makeKeytab([1, 2])
    await writeKeytab(path, a)
    const v = await manual()
    const t1 = mintTicket({ serviceKey: keyOf(a, 1), kvno: 1 })
    const without = encodeKeytab({ ...a, keys: [a.keys[1]!] })
    await writeRaw(path, without)
    await v.reloadKeytab()
    await writeRaw(path, without) // the operator "exports again"
    await v.reloadKeytab()
    expect(v.kvnos).toEqual([2])
    expect(verifyCode(v, t1)).toBe('ERR_AP_BAD_KVNO')
  })

  it('wipes the heap copy of a ticket key that left the ring', async () => {
    const a = makeKeytab([1])
    await writeKeytab(path, a)
    const v = await manual()
    const t1 = mintTicket({ serviceKey: keyOf(a, 1), kvno: 1 })
    expect(verifyCode(v, t1)).toBe('ok')
    const heap = verifierHeap()
    const tk = Buffer.from(deriveKey(keyOf(a, 1), LABELS.ticket))
    const find = (): number => {
      heap.sync()
      return Buffer.from(heap.u8.buffer).indexOf(tk)
    }
    const at = find()
    expect(at).toBeGreaterThanOrEqual(0)
    // Same kvno, new key: the old key leaves the ring at once.
    await writeKeytab(path, makeKeytab([1]))
    await v.reloadKeytab()
    expect(find()).toBe(-1) // nowhere in the WebAssembly memory, its old block included
  })

  it('wipes the heap copy of a kvno as soon as the file drops it', async () => {
    const a = makeKeytab([1])
    await writeKeytab(path, a)
    const v = await manual()
    expect(verifyCode(v, mintTicket({ serviceKey: keyOf(a, 1), kvno: 1 }))).toBe('ok')
    const heap = verifierHeap()
    const tk = Buffer.from(deriveKey(keyOf(a, 1), LABELS.ticket))
    const find = (): number => {
      heap.sync()
      return Buffer.from(heap.u8.buffer).indexOf(tk)
    }
    expect(find()).toBeGreaterThanOrEqual(0)
    await writeKeytab(path, makeKeytab([2]))
    await v.reloadKeytab()
    expect(v.kvnos).toEqual([2])
    expect(find()).toBe(-1)
  })
})

describe('a reload that fails keeps the old keys', () => {
  const kvno17 = Array.from({ length: 17 }, (_, i) => [i + 1, new Uint8Array(32), 1])
  const bad: [string, () => Uint8Array | string, string][] = [
    ['empty', () => new Uint8Array(0), 'DECODE'],
    ['garbage text', () => 'not a keytab at all', 'DECODE'],
    [
      'wrong magic',
      () => encode(['tessera-keytap', 1, REALM, SERVICE, [[1, new Uint8Array(32), 1]]]),
      'MAGIC',
    ],
    [
      'version 2',
      () => encode(['tessera-keytab', 2, REALM, SERVICE, [[1, new Uint8Array(32), 1]]]),
      'VERSION',
    ],
    ['no entries', () => encode(['tessera-keytab', 1, REALM, SERVICE, []]), 'ENTRIES'],
    ['17 entries', () => encode(['tessera-keytab', 1, REALM, SERVICE, kvno17]), 'ENTRIES'],
    [
      'duplicate kvno',
      () =>
        encode([
          'tessera-keytab',
          1,
          REALM,
          SERVICE,
          [
            [1, generateKey(), 1],
            [1, generateKey(), 1],
          ],
        ]),
      'KVNO_ORDER',
    ],
    [
      'descending kvnos',
      () =>
        encode([
          'tessera-keytab',
          1,
          REALM,
          SERVICE,
          [
            [2, generateKey(), 1],
            [1, generateKey(), 1],
          ],
        ]),
      'KVNO_ORDER',
    ],
    [
      '31-byte key',
      () => encode(['tessera-keytab', 1, REALM, SERVICE, [[1, new Uint8Array(31), 1]]]),
      'KEY_SIZE',
    ],
    [
      '33-byte key',
      () => encode(['tessera-keytab', 1, REALM, SERVICE, [[1, new Uint8Array(33), 1]]]),
      'KEY_SIZE',
    ],
    [
      'kvno as string',
      () => encode(['tessera-keytab', 1, REALM, SERVICE, [['1', new Uint8Array(32), 1]]]),
      'KVNO_ORDER',
    ],
    [
      'kvno 2^32 (uint64)',
      () => {
        const ok = encodeKeytab(makeKeytab([7]))
        // [.., [[7, key, t]]]: replace the positive fixint 7 by uint64 2^32.
        const i = Buffer.from(ok).indexOf(Buffer.from([0x91, 0x93, 0x07]))
        const out = new Uint8Array(ok.length + 8)
        out.set(ok.subarray(0, i + 2))
        out.set([0xcf, 0, 0, 0, 1, 0, 0, 0, 0], i + 2)
        out.set(ok.subarray(i + 3), i + 11)
        return out
      },
      'DECODE',
    ],
    [
      'bad realm name',
      () => encode(['tessera-keytab', 1, 'x y', SERVICE, [[1, new Uint8Array(32), 1]]]),
      'NAMES',
    ],
    [
      'trailing bytes',
      () => Buffer.concat([encodeKeytab(makeKeytab([1])), Buffer.from([0])]),
      'DECODE',
    ],
    [
      '5000 bytes',
      () => Buffer.concat([encodeKeytab(makeKeytab([1])), Buffer.alloc(5000)]),
      'SIZE',
    ],
  ]

  for (const [name, bytes, status] of bad) {
    it(`${name}: ERR_CLIENT_KEYTAB/${status}, old keys and cached tickets kept, no key bytes in the error`, async () => {
      const a = makeKeytab([1])
      await writeKeytab(path, a)
      const errors: Error[] = []
      const v = await manual({ onError: (e) => errors.push(e) })
      const t1 = mintTicket({ serviceKey: keyOf(a, 1), kvno: 1 })
      expect(verifyCode(v, t1)).toBe('ok')
      const content = bytes()
      await writeRaw(path, content)
      await v.reloadKeytab()
      expect(errors).toHaveLength(1)
      const err = errors[0]
      expect(isBrokerError(err, 'ERR_CLIENT_KEYTAB')).toBe(true)
      expect((err as BrokerError).status).toBe(status)
      expect(v.kvnos).toEqual([1])
      expect(v.stats.cachedTickets).toBe(1)
      expect(verifyCode(v, t1)).toBe('ok')
      const text = allText(err)
      for (const s of secretSpellings(a)) expect(text).not.toContain(s)
      // A fresh parse of the same bytes fails the same way (the parser, not the watcher, decides),
      // except for size: the file reader refuses an oversize file before reading it, and the
      // parser's own limit refuses the bytes as DECODE.
      expect(parseError(typeof content === 'string' ? Buffer.from(content) : content).status).toBe(
        status === 'SIZE' ? 'DECODE' : status,
      )
    })
  }

  it('a truncated (half-written, in place) file is refused; the complete file is then picked up', async () => {
    const a = makeKeytab([1])
    await writeKeytab(path, a)
    const errors: Error[] = []
    const v = await manual({ onError: (e) => errors.push(e) })
    const b = encodeKeytab(makeKeytab([1, 2]))
    for (const cut of [1, 10, b.length >> 1, b.length - 1]) {
      writeFileSync(path, b.subarray(0, cut)) // in place, as a non-atomic writer would
      await v.reloadKeytab()
      expect(v.kvnos).toEqual([1])
    }
    expect(errors.map((e) => (isBrokerError(e) ? e.code : e.message))).toEqual(
      Array(4).fill('ERR_CLIENT_KEYTAB'),
    )
    writeFileSync(path, b)
    await v.reloadKeytab()
    expect(v.kvnos).toEqual([1, 2])
  })

  it('a 16 MiB file is refused (ERR_CLIENT_KEYTAB) and the old keys kept', async () => {
    const a = makeKeytab([1])
    await writeKeytab(path, a)
    const errors: Error[] = []
    const v = await manual({ onError: (e) => errors.push(e) })
    const big = join(dir, 'big')
    await writeFile(big, encodeKeytab(makeKeytab([1, 2])))
    await truncate(big, 16 << 20) // sparse
    await rename(big, path)
    await v.reloadKeytab()
    expect(errors.map((e) => (isBrokerError(e) ? `${e.code}/${e.status}` : e.message))).toEqual([
      'ERR_CLIENT_KEYTAB/SIZE',
    ])
    expect(v.kvnos).toEqual([1])
  })

  it('a missing file (READ, with the errno) or a directory (NOT_A_FILE) at the path: old keys kept', async () => {
    await writeKeytab(path, makeKeytab([1]))
    const errors: Error[] = []
    const v = await manual({ onError: (e) => errors.push(e) })
    await rm(path)
    await v.reloadKeytab()
    await mkdir(path)
    await v.reloadKeytab()
    expect(errors.map((e) => (isBrokerError(e) ? `${e.code}/${e.status}` : e.message))).toEqual([
      'ERR_CLIENT_KEYTAB/READ',
      'ERR_CLIENT_KEYTAB/NOT_A_FILE',
    ])
    expect(errors[0]!.message).toContain('ENOENT')
    expect(errors[1]!.message).toContain('not a regular file')
    expect(v.kvnos).toEqual([1])
  })

  it('without onError or an error listener, a failed reload is a process warning, not a crash', async () => {
    await writeKeytab(path, makeKeytab([1]))
    const v = await manual()
    const warnings: string[] = []
    const onWarning = (w: Error): void => {
      warnings.push(w.message)
    }
    process.on('warning', onWarning)
    try {
      await writeRaw(path, 'garbage')
      await v.reloadKeytab()
      await sleep(20) // warnings are emitted on the next tick
      expect(warnings.some((w) => w.startsWith('tessera: keytab reload failed'))).toBe(true)
      expect(v.kvnos).toEqual([1])
    } finally {
      process.off('warning', onWarning)
    }
  })

  it('a throwing onError does not stop later reloads', async () => {
    await writeKeytab(path, makeKeytab([1]))
    const v = await manual({
      onError: () => {
        throw new Error('callback failure')
      },
    })
    await writeRaw(path, 'garbage')
    await v.reloadKeytab()
    await writeKeytab(path, makeKeytab([1, 2]))
    await v.reloadKeytab()
    expect(v.kvnos).toEqual([1, 2])
  })
})

describe('a keytab of another principal or realm', () => {
  for (const names of [
    { realm: REALM, principal: 'billing' },
    { realm: 'OTHER.REALM', principal: SERVICE },
  ]) {
    it(`${names.principal}@${names.realm}: refused with OTHER_PRINCIPAL, keeps accepting only ${SERVICE}@${REALM}`, async () => {
      const a = makeKeytab([1])
      await writeKeytab(path, a)
      const errors: Error[] = []
      const v = await manual({ onError: (e) => errors.push(e) })
      const other = makeKeytab([1, 5], names)
      await writeKeytab(path, other)
      await v.reloadKeytab()
      expect(errors.map((e) => (isBrokerError(e) ? `${e.code}/${e.status}` : e.message))).toEqual([
        'ERR_CLIENT_KEYTAB/OTHER_PRINCIPAL',
      ])
      for (const s of secretSpellings(other)) expect(allText(errors[0])).not.toContain(s)
      expect([v.service, v.realm, v.kvnos]).toEqual([SERVICE, REALM, [1]])
      // Tickets for the other principal, under its own key: not ours.
      const foreign = mintTicket({
        serviceKey: keyOf(other, 5),
        kvno: 5,
        realm: names.realm,
        service: names.principal,
      })
      expect(verifyCode(v, foreign)).toBe('ERR_AP_NOT_US')
      // A ticket naming us with kvno 1 sealed under the other principal's kvno 1 key: refused.
      expect(verifyCode(v, mintTicket({ serviceKey: keyOf(other, 1), kvno: 1 }))).toBe(
        'ERR_AP_BAD_INTEGRITY',
      )
      expect(verifyCode(v, mintTicket({ serviceKey: keyOf(a, 1), kvno: 1 }))).toBe('ok')
    })
  }
})

describe('file watching', () => {
  it('a Kubernetes-style ..data symlink swap is detected (by the stat poll) and the new keys used', async () => {
    // <dir>/orders.keytab -> ..data/orders.keytab, ..data -> ..v1; the update makes ..v2 and
    // renames a new symlink over ..data, then removes ..v1.
    const a = makeKeytab([1])
    await mkdir(join(dir, '..v1'))
    await writeFile(join(dir, '..v1', 'orders.keytab'), encodeKeytab(a), { mode: 0o600 })
    await symlink('..v1', join(dir, '..data'))
    await symlink(join('..data', 'orders.keytab'), path)
    const reloads: number[][] = []
    const v = await watched({ onReload: (k) => reloads.push([...k]) })
    const b = { ...a, keys: [...a.keys, ...makeKeytab([2]).keys] } // as the KDC exports a rotation
    await mkdir(join(dir, '..v2'))
    await writeFile(join(dir, '..v2', 'orders.keytab'), encodeKeytab(b), { mode: 0o600 })
    await symlink('..v2', join(dir, '..data_tmp'))
    await rename(join(dir, '..data_tmp'), join(dir, '..data'))
    await rm(join(dir, '..v1'), { recursive: true })
    await until(() => v.kvnos.includes(2))
    expect(v.kvnos).toEqual([1, 2])
    expect(reloads).toEqual([[1, 2]])
    expect(verifyCode(v, mintTicket({ serviceKey: keyOf(b, 2), kvno: 2 }))).toBe('ok')
  })

  it('rapid successive atomic writes settle on the last file, without errors', async () => {
    await writeKeytab(path, makeKeytab([1]))
    const errors: Error[] = []
    const v = await watched({ onError: (e) => errors.push(e) })
    let last = makeKeytab([1])
    for (let i = 2; i <= 20; i++) {
      last = makeKeytab([i - 1, i])
      await writeKeytab(path, last)
    }
    await until(() => v.kvnos.includes(20))
    await sleep(100)
    expect(errors).toEqual([])
    expect(v.kvnos.slice(-2)).toEqual([19, 20])
    expect(verifyCode(v, mintTicket({ serviceKey: keyOf(last, 19), kvno: 19 }))).toBe('ok')
    expect(verifyCode(v, mintTicket({ serviceKey: keyOf(last, 20), kvno: 20 }))).toBe('ok')
  })

  it('after close(), file changes are ignored and no callback runs', async () => {
    await writeKeytab(path, makeKeytab([1]))
    const events: string[] = []
    const v = await watched({
      onError: (e) => events.push(`error ${e.message}`),
      onReload: (k) => events.push(`reload ${k.join(',')}`),
    })
    v.close()
    await writeKeytab(path, makeKeytab([1, 2]))
    await writeRaw(path, 'garbage')
    await sleep(150)
    expect(events).toEqual([])
    expect(v.kvnos).toEqual([1])
  })

  it('close() while a reload is in flight drops it', async () => {
    await writeKeytab(path, makeKeytab([1]))
    const events: string[] = []
    const v = await manual({
      onError: (e) => events.push(`error ${e.message}`),
      onReload: (k) => events.push(`reload ${k.join(',')}`),
    })
    await writeKeytab(path, makeKeytab([1, 2]))
    const pending = v.reloadKeytab()
    v.close()
    await pending
    expect(events).toEqual([])
    expect(v.kvnos).toEqual([1])
  })

  it('a verify racing a reload sees either the old or the new ring, never a mix', async () => {
    const a = makeKeytab([1])
    await writeKeytab(path, a)
    const v = await manual()
    const t1 = mintTicket({ serviceKey: keyOf(a, 1), kvno: 1 })
    expect(verifyCode(v, t1)).toBe('ok')
    const b = makeKeytab([1])
    await writeKeytab(path, b)
    const pending = v.reloadKeytab()
    // The reload reads the file asynchronously: until it lands, the old key serves.
    expect(verifyCode(v, t1)).toBe('ok')
    await pending
    expect(verifyCode(v, t1)).toBe('ERR_AP_BAD_INTEGRITY')
    expect(verifyCode(v, mintTicket({ serviceKey: keyOf(b, 1), kvno: 1 }))).toBe('ok')
  })

  it('found in review: reloadKeytab() called during an in-flight reload resolves only once the file it was called for is loaded', async () => {
    await writeKeytab(path, makeKeytab([1]))
    const c = makeKeytab([1, 2, 3])
    let during: Promise<void> | undefined
    const v = await manual({
      onReload: () => {
        if (during !== undefined) return
        // The file changes while the first reload is finishing; the app asks for a reload.
        const tmp = `${path}.tmp-sync`
        writeFileSync(tmp, encodeKeytab(c), { mode: 0o600 })
        renameSync(tmp, path)
        during = v.reloadKeytab()
      },
    })
    await writeKeytab(path, makeKeytab([1, 2]))
    await v.reloadKeytab()
    expect(during).toBeDefined()
    await during
    // "Re-read the keytab file now" / "resolves when the ring is swapped": the caller must see
    // the file as it was when it called.
    expect(v.kvnos).toEqual([1, 2, 3])
  })

  it('found in review: a FIFO at the keytab path is refused at once (NOT_A_FILE) and later changes are loaded', async () => {
    await writeKeytab(path, makeKeytab([1]))
    const errors: Error[] = []
    const v = await manual({ onError: (e) => errors.push(e) })
    const fifo = join(dir, 'fifo')
    const keep = join(dir, 'fifo-link') // a second name, to release the blocked reader later
    execFileSync('mkfifo', [fifo])
    await link(fifo, keep)
    await rename(fifo, path)
    const first = v.reloadKeytab()
    const state = { settled: false }
    void first.then(() => (state.settled = true))
    try {
      await sleep(200)
      // A good file arrives; the watcher should load it (or at least have reported the FIFO).
      await writeKeytab(path, makeKeytab([1, 2]))
      void v.reloadKeytab()
      await sleep(200)
      expect(state.settled).toBe(true)
      expect(errors.map((e) => (isBrokerError(e) ? `${e.code}/${e.status}` : e.message))).toEqual([
        'ERR_CLIENT_KEYTAB/NOT_A_FILE',
      ])
      expect(v.kvnos).toEqual([1, 2])
    } finally {
      releaseFifo(keep)
      await first
    }
  })
})

/** Open the FIFO for writing without blocking (ENXIO when no reader waits) and close it. */
function releaseFifo(p: string): void {
  try {
    closeSync(openSync(p, constants.O_WRONLY | constants.O_NONBLOCK))
  } catch {
    // no reader was blocked
  }
}

describe('startup and secret hygiene', () => {
  it('found in review: a keytab replaced while fromKeytab() is loading it is picked up (one look after watching starts)', async () => {
    const a = makeKeytab([1])
    await writeKeytab(path, a)
    const b = makeKeytab([1, 2])
    // The rotation lands after fromKeytab read the file, before it starts watching.
    hooks.afterRead = () => writeKeytab(path, b)
    const v = await watched()
    await sleep(300) // 10 poll intervals, 30 debounce delays
    expect(v.kvnos).toEqual([1, 2])
  })

  it('the parsed key copies are wiped after a successful reload and after a same-bytes reload', async () => {
    await writeKeytab(path, makeKeytab([1]))
    const v = await manual()
    await writeKeytab(path, makeKeytab([1, 2]))
    await v.reloadKeytab()
    await v.reloadKeytab() // same bytes: the dedup path
    // fromKeytab's read, its look after watching starts (same bytes), the change, the same bytes.
    expect(hooks.parsed).toHaveLength(4)
    for (const kt of hooks.parsed) {
      for (const k of kt.keys) expect(k.key.every((b) => b === 0)).toBe(true)
    }
  })

  it('found in review: the key copies of a refused other-principal keytab are wiped', async () => {
    await writeKeytab(path, makeKeytab([1]))
    const v = await manual({ onError: () => undefined })
    hooks.parsed.length = 0
    await writeKeytab(path, makeKeytab([4], { realm: REALM, principal: 'billing' }))
    await v.reloadKeytab()
    expect(hooks.parsed).toHaveLength(1)
    expect(hooks.parsed[0]!.keys[0]!.key.every((b) => b === 0)).toBe(true)
  })

  it('found in review: the key copies of a reload dropped by close() are wiped', async () => {
    await writeKeytab(path, makeKeytab([1]))
    const v = await manual()
    hooks.parsed.length = 0
    await writeKeytab(path, makeKeytab([1, 2]))
    const pending = v.reloadKeytab()
    v.close()
    await pending
    expect(hooks.parsed).toHaveLength(1)
    for (const k of hooks.parsed[0]!.keys) expect(k.key.every((b) => b === 0)).toBe(true)
  })
})

describe('keytab file mode', () => {
  it('a world-readable keytab is loaded, with one TESSERA_KEYTAB_MODE warning', async () => {
    await writeKeytab(path, makeKeytab([1]))
    await chmod(path, 0o644)
    const warnings: string[] = []
    const onWarning = (w: Error): void => {
      warnings.push(w.message)
    }
    process.on('warning', onWarning)
    try {
      const v = await manual()
      await sleep(20)
      expect(v.kvnos).toEqual([1])
      expect(warnings).toEqual([expect.stringContaining(`the keytab ${path} has mode 0644`)])
    } finally {
      process.off('warning', onWarning)
    }
  })
})

describe('keytab writers: mode 0600, atomic', () => {
  for (const [name, write] of [
    ['admin CLI (kdc/admin/keytab-file.ts)', adminWriteKeytab],
    ['store (kdc/store/keytab-file.ts)', storeWriteKeytab],
  ] as const) {
    it(`${name}: replaces an existing 0644 file with a new 0600 inode, leaves no temp file`, async () => {
      await writeFile(path, 'old contents', { mode: 0o644 })
      await chmod(path, 0o644)
      const before = await stat(path)
      const kt = makeKeytab([1, 2])
      await write(path, kt)
      const after = await stat(path)
      expect(after.mode & 0o777).toBe(0o600)
      expect(after.ino).not.toBe(before.ino) // renamed over, not rewritten in place
      expect(parseKeytab(await readFile(path)).keys.map((k) => k.kvno)).toEqual([1, 2])
      expect(await readdir(dir)).toEqual(['orders.keytab'])
    })

    it(`${name}: under umask 0, the file is still 0600`, async () => {
      const old = process.umask(0)
      try {
        await write(path, makeKeytab([1]))
      } finally {
        process.umask(old)
      }
      expect((await stat(path)).mode & 0o777).toBe(0o600)
    })

    it(`${name}: a failed write leaves the target untouched and no temp file`, async () => {
      await mkdir(path) // the target is a directory: rename fails
      // The admin CLI reports it as its own I/O error; the store's writer passes node's on.
      await expect(write(path, makeKeytab([1]))).rejects.toMatchObject({
        code: name.startsWith('admin') ? 'ERR_CLI_IO' : 'EISDIR',
      })
      expect((await lstat(path)).isDirectory()).toBe(true)
      expect(await readdir(dir)).toEqual(['orders.keytab'])
    })

    it(`${name}: a watching verifier sees only complete files`, async () => {
      const a = makeKeytab([1])
      await write(path, a)
      const errors: Error[] = []
      const v = await watched({ onError: (e) => errors.push(e) })
      for (let i = 2; i <= 6; i++) await write(path, makeKeytab([i - 1, i]))
      await until(() => v.kvnos.includes(6))
      await sleep(80)
      expect(errors).toEqual([])
    })
  }
})
