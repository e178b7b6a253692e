import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterEach, describe, it, expect, vi } from 'vitest'
import {
  availableBackends,
  cryptoBackend,
  nobleBackend,
  useBackend,
  wasmSodium,
  type BackendName,
  type CryptoBackend,
} from '../../../../kdc/protocol/index.js'
import type { WasmBackend } from '../../../../kdc/protocol/backend-wasm.js'
import { detBytes } from '../../../helpers/det-rng.js'
import { hex, toHex } from '../../../helpers/hex.js'

const run = promisify(execFile)
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url))
const distBackend = `${repoRoot}dist/kdc/protocol/backend.js`

const initial = cryptoBackend().name
afterEach(() => {
  useBackend(initial)
  vi.unstubAllEnvs()
})

const backends = availableBackends()
const names = backends.map((b) => b.name)

// draft-irtf-cfrg-xchacha-03, appendix A.3.1.
const XC = {
  key: hex`808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f`,
  nonce: hex`404142434445464748494a4b4c4d4e4f5051525354555657`,
  aad: hex`50515253c0c1c2c3c4c5c6c7`,
  plaintext: new TextEncoder().encode(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  ),
  ciphertext:
    'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb' +
    '731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452' +
    '2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9' +
    '21f9664c97637da9768812f615c68b13b52e',
  tag: 'c0875924c1c7987947deafd8780acf49',
}

describe('backends (docs/protocol.md §3.1)', () => {
  it('always has noble; native and sodium load with sodium-native installed, wasm with libsodium-sumo', () => {
    expect(names).toContain('noble')
    expect(names).toContain('native')
    expect(names).toContain('sodium')
    expect(names).toContain('wasm')
    expect(backends.find((b) => b.name === 'noble')).toBe(nobleBackend)
    // The raw module behind the wasm backend is the one hot paths use (service-sdk/heap.ts).
    expect(wasmSodium()).toBe((backends.find((b) => b.name === 'wasm') as WasmBackend).sodium)
  })

  it('prefers wasm, then sodium, then native, then noble, when TESSERA_AEAD is not set', () => {
    if (process.env.TESSERA_AEAD === undefined || process.env.TESSERA_AEAD === '') {
      expect(initial).toBe('wasm')
    }
  })

  it.each(names)('%s matches the XChaCha20-Poly1305 draft vector (A.3.1)', (name) => {
    const b = backends.find((x) => x.name === name) as CryptoBackend
    const sealed = b.seal(XC.key, XC.nonce, XC.aad, XC.plaintext)
    expect(toHex(sealed)).toBe(XC.ciphertext + XC.tag)
    const opened = b.open(XC.key, XC.nonce, XC.aad, sealed)
    expect(opened && new TextDecoder().decode(opened)).toBe(new TextDecoder().decode(XC.plaintext))
  })

  it('produce identical bytes and open each other’s output, for lengths 0..300', () => {
    for (let len = 0; len <= 300; len += len < 40 ? 1 : 37) {
      const key = detBytes(`backend/key/${len}`, 32)
      const nonce = detBytes(`backend/nonce/${len}`, 24)
      const aad = detBytes(`backend/aad/${len}`, len % 50)
      const plaintext = detBytes(`backend/pt/${len}`, len)
      const outputs = backends.map((b) => toHex(b.seal(key, nonce, aad, plaintext)))
      expect(new Set(outputs).size, `length ${len}`).toBe(1)
      const sealed = hex(outputs[0] as string)
      for (const b of backends) {
        const opened = b.open(key, nonce, aad, sealed)
        expect(opened && toHex(opened), `${b.name} length ${len}`).toBe(toHex(plaintext))
      }
    }
  })

  it('all return undefined (never throw) for a bad tag, wrong AAD, wrong key or short input', () => {
    const key = detBytes('backend/k', 32)
    const nonce = detBytes('backend/n', 24)
    const aad = detBytes('backend/a', 10)
    const sealed = nobleBackend.seal(key, nonce, aad, detBytes('backend/p', 40))
    const badTag = sealed.slice()
    badTag[badTag.length - 1] = (badTag[badTag.length - 1] as number) ^ 0x80
    const badCt = sealed.slice()
    badCt[0] = (badCt[0] as number) ^ 1
    for (const b of backends) {
      expect(b.open(key, nonce, aad, badTag), b.name).toBeUndefined()
      expect(b.open(key, nonce, aad, badCt), b.name).toBeUndefined()
      expect(b.open(key, nonce, detBytes('backend/a2', 10), sealed), b.name).toBeUndefined()
      expect(b.open(detBytes('backend/k2', 32), nonce, aad, sealed), b.name).toBeUndefined()
      expect(b.open(key, nonce, aad, sealed.subarray(0, 15)), b.name).toBeUndefined()
      expect(b.open(key, nonce, aad, sealed.subarray(0, 16)), b.name).toBeUndefined()
    }
  })

  it('open an empty-plaintext seal (tag only) identically', () => {
    const key = detBytes('backend/e', 32)
    const nonce = detBytes('backend/en', 24)
    const sealed = nobleBackend.seal(key, nonce, new Uint8Array(0), new Uint8Array(0))
    expect(sealed.length).toBe(16)
    for (const b of backends) expect(b.open(key, nonce, new Uint8Array(0), sealed)?.length).toBe(0)
  })

  it('agree on the KDF (keyed BLAKE2b) and SHA-256', () => {
    const ikm = detBytes('backend/ikm', 32)
    const info = new TextEncoder().encode('tessera/v1/ticket')
    const hk = new Set(backends.map((b) => toHex(b.kdf(ikm, info))))
    expect(hk.size).toBe(1)
    for (const b of backends) {
      expect(toHex(b.sha256(new Uint8Array(0)))).toBe(
        'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      )
      expect(toHex(b.sha256(new TextEncoder().encode('abc')))).toBe(
        'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      )
    }
  })

  it('useBackend switches the active backend and refuses an unknown one', () => {
    for (const name of names) {
      expect(useBackend(name).name).toBe(name)
      expect(cryptoBackend().name).toBe(name)
    }
    expect(() => useBackend('openssl' as BackendName)).toThrow(RangeError)
  })
})

describe('TESSERA_AEAD forces the backend at load time', () => {
  it.each(['noble', 'native', 'sodium', 'wasm'] as const)(
    'TESSERA_AEAD=%s (fresh module graph)',
    async (name) => {
      vi.stubEnv('TESSERA_AEAD', name)
      vi.resetModules()
      const mod = (await import('../../../../kdc/protocol/backend.js')) as {
        cryptoBackend(): CryptoBackend
      }
      expect(mod.cryptoBackend().name).toBe(name)
    },
  )

  it('an unavailable forced backend is a startup error, never a silent fallback', async () => {
    vi.stubEnv('TESSERA_AEAD', 'openssl')
    vi.resetModules()
    await expect(import('../../../../kdc/protocol/backend.js')).rejects.toThrow(
      /TESSERA_AEAD=openssl is not available/,
    )
  })

  it.skipIf(!existsSync(distBackend))(
    'in a real child process against dist/ (built by npm test)',
    async () => {
      const script = `import(${JSON.stringify(distBackend)}).then((m) => console.log(m.cryptoBackend().name))`
      for (const name of ['noble', 'native', 'sodium', 'wasm']) {
        const { stdout } = await run(process.execPath, ['-e', script], {
          env: { ...process.env, TESSERA_AEAD: name },
        })
        expect(stdout.trim()).toBe(name)
      }
      const failed = await run(process.execPath, ['-e', script], {
        env: { ...process.env, TESSERA_AEAD: 'bogus' },
      }).then(
        () => undefined,
        (err: unknown) => err as { code: number; stderr: string },
      )
      expect(failed?.code).not.toBe(0)
      expect(failed?.stderr).toContain('TESSERA_AEAD=bogus is not available')
    },
    20_000,
  )
})

describe('the default backend: the first of wasm, sodium, native, noble that loads', () => {
  it.each([
    [['wasm'], 'sodium'],
    [['wasm', 'sodium'], 'native'],
    [['wasm', 'sodium', 'native'], 'noble'],
    [['sodium', 'native'], 'wasm'],
  ] as const)(
    'without %j loaded, the default is %s (fresh module graph)',
    async (missing, want) => {
      const gone = new Set<string>(missing)
      vi.stubEnv('TESSERA_AEAD', '')
      vi.resetModules()
      const node = await vi.importActual<Record<string, unknown>>(
        '../../../../kdc/protocol/backend-node.js',
      )
      vi.doMock('../../../../kdc/protocol/backend-node.js', () => ({
        ...node,
        ...(gone.has('native') ? { loadNative: () => undefined } : {}),
        ...(gone.has('sodium') ? { loadSodium: () => Promise.resolve(undefined) } : {}),
      }))
      if (gone.has('wasm')) {
        vi.doMock('../../../../kdc/protocol/backend-wasm.js', () => ({
          loadWasm: () => Promise.resolve(undefined),
        }))
      }
      try {
        const mod = (await import('../../../../kdc/protocol/backend.js')) as {
          cryptoBackend(): CryptoBackend
          availableBackends(): readonly CryptoBackend[]
        }
        const loaded = mod.availableBackends().map((b) => b.name)
        expect(loaded.filter((name) => gone.has(name))).toEqual([])
        expect(mod.cryptoBackend().name).toBe(want)
      } finally {
        vi.doUnmock('../../../../kdc/protocol/backend-node.js')
        vi.doUnmock('../../../../kdc/protocol/backend-wasm.js')
      }
    },
  )
})
