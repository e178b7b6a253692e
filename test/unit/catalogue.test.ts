/**
 * The error catalogue cross-check (house style B4.6, fastify's errors.test.js):
 * kdc/protocol/codes.ts ⇄ test/vectors/error-codes.json (append-only registry of wire numbers) ⇄
 * docs/errors.md (every code documented, every documented code exists).
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, it, expect } from 'vitest'
import { CODES, type ErrorCode } from '../../kdc/protocol/index.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const REGISTRY_PATH = 'test/vectors/error-codes.json'
const registry = JSON.parse(readFileSync(ROOT + REGISTRY_PATH, 'utf8')) as Record<string, number>
const docs = readFileSync(ROOT + 'docs/errors.md', 'utf8')
const entries = Object.entries(CODES) as [ErrorCode, (typeof CODES)[ErrorCode]][]

/** Rows of the docs tables: | `CODE` | wire or – | kind | retry | … */
const documented = new Map<string, { wire: number | null; kind: string; retry: boolean }>()
for (const m of docs.matchAll(
  /^\|\s*`(ERR_[A-Z0-9_]+)`\s*\|\s*([0-9]+|–|-)\s*\|\s*(\w+)\s*\|\s*(yes|no)\s*\|/gm,
)) {
  documented.set(m[1] as string, {
    wire: /^[0-9]+$/.test(m[2] as string) ? Number(m[2]) : null,
    kind: m[3] as string,
    retry: m[4] === 'yes',
  })
}

/** The registry as committed at HEAD, if git is available (the append-only check). */
function committedRegistry(): Record<string, number> | undefined {
  try {
    const text = execFileSync('git', ['show', `HEAD:${REGISTRY_PATH}`], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    return JSON.parse(text) as Record<string, number>
  } catch {
    return undefined
  }
}

describe('catalogue: codes.ts', () => {
  it('names every code ERR_<AREA>_<WHAT> with an area matching its kind', () => {
    const area: Record<string, string[]> = {
      proto: ['PROTO'],
      kdc: ['KDC'],
      ap: ['AP'],
      admin: ['ADMIN'],
      internal: ['KDC'],
      client: ['CLIENT'],
    }
    for (const [code, e] of entries) {
      expect(code).toMatch(/^ERR_(PROTO|KDC|AP|ADMIN|CLIENT)_[A-Z0-9_]+$/)
      expect(area[e.kind], code).toContain(code.split('_')[1])
    }
  })

  it('has unique uint16 wire numbers; only client codes are local-only', () => {
    const wires = entries.flatMap(([, e]) => (e.wire === null ? [] : [e.wire]))
    expect(new Set(wires).size).toBe(wires.length)
    for (const [code, e] of entries) {
      if (e.wire === null) expect(e.kind, code).toBe('client')
      else expect(e.wire >= 1 && e.wire <= 0xffff, code).toBe(true)
    }
  })

  it('gives every code a non-empty message', () => {
    for (const [code, e] of entries) expect(e.message.length, code).toBeGreaterThan(10)
  })
})

describe('catalogue ⇄ test/vectors/error-codes.json', () => {
  it('registers every wire code with its number', () => {
    for (const [code, e] of entries) {
      if (e.wire !== null) expect(registry[code], code).toBe(e.wire)
    }
  })

  it('never drops or renumbers a registered code', () => {
    for (const [code, wire] of Object.entries(registry)) {
      expect(Object.hasOwn(CODES, code), `${code} was removed from codes.ts`).toBe(true)
      expect(CODES[code as ErrorCode].wire, code).toBe(wire)
    }
  })

  it('has unique wire numbers', () => {
    const wires = Object.values(registry)
    expect(new Set(wires).size).toBe(wires.length)
  })

  it('only grows: every entry committed at HEAD is still there, unchanged', () => {
    const committed = committedRegistry()
    if (committed === undefined) return // not a git checkout, or the file is new
    for (const [code, wire] of Object.entries(committed)) expect(registry[code], code).toBe(wire)
  })
})

describe('catalogue ⇄ docs/errors.md', () => {
  it('documents every code with its wire number, kind and retry flag', () => {
    for (const [code, e] of entries) {
      const row = documented.get(code)
      expect(row, `${code} is missing from docs/errors.md`).toBeDefined()
      expect(row, code).toEqual({ wire: e.wire, kind: e.kind, retry: e.retry })
    }
  })

  it('documents no code that does not exist', () => {
    for (const code of documented.keys()) {
      expect(Object.hasOwn(CODES, code), `${code} is documented but not in codes.ts`).toBe(true)
    }
  })

  it('mentions no unknown ERR_ code anywhere in the text', () => {
    for (const m of docs.matchAll(/\bERR_[A-Z0-9_]+\b/g)) {
      expect(Object.hasOwn(CODES, m[0]), m[0]).toBe(true)
    }
  })
})
