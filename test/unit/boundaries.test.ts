/**
 * Import boundaries (house style B2), checked by scanning import specifiers with a regex: cheap and
 * impossible to forget (the fastify-style cross-check of the ESLint no-restricted-imports rules).
 *
 * - kdc/protocol/ imports nothing of ours outside itself; its packages are @noble/ciphers,
 *   @noble/hashes and msgpackr; no node: module (nor a bare builtin), except backend-node.ts,
 *   which may also load node:crypto and sodium-native.
 * - client/ and service-sdk/ import from kdc/ only kdc/protocol/index.js.
 * - service-sdk/ imports neither client/ nor ws nor level.
 * - kdc/admin/ never imports kdc/store/ nor level.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it, expect } from 'vitest'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

interface ImportRef {
  readonly file: string // repo-relative, forward slashes
  readonly line: number
  readonly specifier: string
}

// Static imports/exports (`import x from '…'`, `import '…'`, `export … from '…'`), dynamic
// `import('…')` with a literal, and `require('…')`.
const IMPORT_RE =
  /(?:\bimport\s+(?:type\s+)?(?:[\w*${}\s,]+?\s+from\s+)?|\bexport\s+(?:type\s+)?[\w*${}\s,]*?\s+from\s+|\bimport\s*\(\s*|\brequire\s*\(\s*)(['"])([^'"\n]+)\1/g

/** Blank out comments (keeping line numbers) so that examples in TSDoc are not imports. */
function stripComments(source: string): string {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' '))
    .replace(/(^|[^:'"`\\])\/\/[^\n]*/g, (m, p: string) => p + ' '.repeat(m.length - p.length))
}

function scanImports(file: string, source: string): ImportRef[] {
  const text = stripComments(source)
  const refs: ImportRef[] = []
  for (const m of text.matchAll(IMPORT_RE)) {
    const line = text.slice(0, m.index).split('\n').length
    refs.push({ file, line, specifier: m[2] as string })
  }
  return refs
}

function listTs(dir: string): string[] {
  const abs = join(ROOT, dir)
  let entries: string[]
  try {
    entries = readdirSync(abs)
  } catch {
    return []
  }
  const out: string[] = []
  for (const name of entries) {
    if (name === 'node_modules') continue
    const path = join(abs, name)
    if (statSync(path).isDirectory()) out.push(...listTs(join(dir, name)))
    else if (/\.(?:ts|mts|cts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) {
      out.push(relative(ROOT, path).split(sep).join('/'))
    }
  }
  return out
}

/** The repo-relative target of a relative specifier, with .js mapped to .ts. */
function target(ref: ImportRef): string | undefined {
  if (!ref.specifier.startsWith('.')) return undefined
  const abs = resolve(ROOT, dirname(ref.file), ref.specifier)
  return relative(ROOT, abs).split(sep).join('/').replace(/\.js$/, '.ts')
}

const isBuiltin = (s: string): boolean =>
  s.startsWith('node:') || builtinModules.includes(s.split('/')[0] as string)
const isPackage = (s: string, name: string): boolean => s === name || s.startsWith(`${name}/`)

/** Every violation in `refs`, as "file:line 'specifier': rule". */
function violations(refs: readonly ImportRef[]): string[] {
  const out: string[] = []
  const fail = (r: ImportRef, rule: string): void => {
    out.push(`${r.file}:${String(r.line)} '${r.specifier}': ${rule}`)
  }
  for (const r of refs) {
    const to = target(r)
    if (r.file.startsWith('kdc/protocol/')) {
      const nodeBackend = r.file === 'kdc/protocol/backend-node.ts'
      if (to !== undefined) {
        if (!to.startsWith('kdc/protocol/'))
          fail(r, 'kdc/protocol imports nothing of ours outside itself')
      } else if (isBuiltin(r.specifier)) {
        if (!(nodeBackend && r.specifier === 'node:crypto')) {
          fail(
            r,
            'kdc/protocol imports no node: module (only backend-node.ts may load node:crypto)',
          )
        }
      } else if (
        !isPackage(r.specifier, '@noble/ciphers') &&
        !isPackage(r.specifier, '@noble/hashes') &&
        !isPackage(r.specifier, 'msgpackr') &&
        !(nodeBackend && isPackage(r.specifier, 'sodium-native'))
      ) {
        fail(r, 'kdc/protocol depends only on @noble/ciphers, @noble/hashes and msgpackr')
      }
    }
    if (r.file.startsWith('client/') || r.file.startsWith('service-sdk/')) {
      if (to?.startsWith('kdc/') && to !== 'kdc/protocol/index.ts') {
        fail(r, 'client/ and service-sdk/ import from kdc/ only kdc/protocol/index.js')
      }
    }
    if (r.file.startsWith('service-sdk/')) {
      if (to?.startsWith('client/')) fail(r, 'service-sdk/ does not import client/')
      if (isPackage(r.specifier, 'ws')) fail(r, 'service-sdk/ does not import ws')
      if (isPackage(r.specifier, 'level') || r.specifier.endsWith('-level')) {
        fail(r, 'service-sdk/ does not import level')
      }
    }
    if (r.file.startsWith('kdc/admin/')) {
      if (to?.startsWith('kdc/store/')) fail(r, 'kdc/admin/ never imports kdc/store/ (B1)')
      if (isPackage(r.specifier, 'level') || r.specifier.endsWith('-level')) {
        fail(r, 'kdc/admin/ never imports level')
      }
    }
  }
  return out
}

const DIRS = ['kdc/protocol', 'kdc/admin', 'client', 'service-sdk']

describe('import boundaries (house style B2)', () => {
  it('finds the protocol core and its imports (the scan is not vacuous)', () => {
    const files = listTs('kdc/protocol')
    expect(files).toContain('kdc/protocol/index.ts')
    const refs = files.flatMap((f) => scanImports(f, readFileSync(join(ROOT, f), 'utf8')))
    expect(refs.some((r) => r.specifier === 'msgpackr')).toBe(true)
    expect(
      refs.some((r) => r.file === 'kdc/protocol/backend-node.ts' && r.specifier === 'node:crypto'),
    ).toBe(true)
  })

  it.each(DIRS)('%s/ has no boundary violations', (dir) => {
    const refs = listTs(dir).flatMap((f) => scanImports(f, readFileSync(join(ROOT, f), 'utf8')))
    expect(violations(refs)).toEqual([])
  })
})

describe('the boundary scanner itself', () => {
  const check = (file: string, source: string): string[] => violations(scanImports(file, source))

  it('sees static, type-only, re-export, side-effect, dynamic and require imports', () => {
    const src = [
      "import { a } from './a.js'",
      "import type { B } from '../b.js'",
      "import * as c from 'c'",
      "import 'd'",
      "export { e } from './e.js'",
      "export * from './f.js'",
      "const g = await import('./g.js')",
      "const h = require('h')",
      'import {',
      '  i,',
      "} from './i.js'",
    ].join('\n')
    expect(scanImports('x.ts', src).map((r) => r.specifier)).toEqual([
      './a.js',
      '../b.js',
      'c',
      'd',
      './e.js',
      './f.js',
      './g.js',
      'h',
      './i.js',
    ])
  })

  it('ignores imports inside comments but keeps URLs in strings', () => {
    const src =
      "// import x from '../server/x.js'\n/* import y from 'node:fs' */\nconst u = 'ws://h:1/v1'\n"
    expect(scanImports('kdc/protocol/a.ts', src)).toEqual([])
  })

  it('flags each kind of violation', () => {
    expect(check('kdc/protocol/a.ts', "import { x } from '../server/x.js'")).toHaveLength(1)
    expect(check('kdc/protocol/a.ts', "import { readFile } from 'node:fs'")).toHaveLength(1)
    expect(check('kdc/protocol/a.ts', "import { createHash } from 'crypto'")).toHaveLength(1)
    expect(check('kdc/protocol/a.ts', "import pino from 'pino'")).toHaveLength(1)
    expect(check('kdc/protocol/backend.ts', "import s from 'sodium-native'")).toHaveLength(1)
    expect(check('kdc/protocol/backend-node.ts', "import { x } from 'node:crypto'")).toEqual([])
    expect(check('kdc/protocol/backend-node.ts', "import s from 'sodium-native'")).toEqual([])
    expect(check('kdc/protocol/backend-node.ts', "import f from 'node:fs'")).toHaveLength(1)
    expect(check('client/a.ts', "import { x } from '../kdc/protocol/codec.js'")).toHaveLength(1)
    expect(check('client/a.ts', "import { x } from '../kdc/server/as.js'")).toHaveLength(1)
    expect(check('client/a.ts', "import { x } from '../kdc/protocol/index.js'")).toEqual([])
    expect(check('client/sub/a.ts', "import { x } from '../../kdc/protocol/index.js'")).toEqual([])
    expect(check('service-sdk/a.ts', "import { x } from '../client/index.js'")).toHaveLength(1)
    expect(check('service-sdk/a.ts', "import WebSocket from 'ws'")).toHaveLength(1)
    expect(check('service-sdk/a.ts', "import { Level } from 'level'")).toHaveLength(1)
    expect(check('service-sdk/a.ts', "import { x } from '../kdc/store/store.js'")).toHaveLength(1)
    expect(check('service-sdk/a.ts', "import { createServer } from 'node:http'")).toEqual([])
    expect(check('kdc/admin/cli.ts', "import { x } from '../store/store.js'")).toHaveLength(1)
    expect(check('kdc/admin/cli.ts', "import { Level } from 'level'")).toHaveLength(1)
    expect(check('kdc/admin/cli.ts', "import { x } from '../../client/index.js'")).toEqual([])
    expect(check('kdc/admin/cli.ts', "import { x } from '../protocol/index.js'")).toEqual([])
  })
})
