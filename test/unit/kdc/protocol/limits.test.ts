import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, it, expect } from 'vitest'
import * as limits from '../../../../kdc/protocol/limits.js'
import { buildAad, OBJ, toHex } from '../../../../kdc/protocol/index.js'

const doc = readFileSync(
  fileURLToPath(new URL('../../../../docs/protocol.md', import.meta.url)),
  'utf8',
)
const section9 = doc.slice(doc.indexOf('## 9. Limits'), doc.indexOf('## 10.'))

/** Rows `| \`NAME\` | value | … |` of the §9 table. */
const documented = new Map<string, string>()
for (const m of section9.matchAll(/^\|\s*`([A-Z0-9_]+)`\s*\|\s*([^|]+?)\s*\|/gm)) {
  documented.set(m[1] as string, (m[2] as string).replace(/`/g, ''))
}

describe('limits.ts ⇄ docs/protocol.md §9', () => {
  it('documents every constant of limits.ts with its exact value', () => {
    for (const [name, value] of Object.entries(limits)) {
      expect(documented.get(name), `${name} missing from §9`).toBe(String(value))
    }
  })

  it('documents no constant that limits.ts lacks', () => {
    expect(documented.size).toBeGreaterThan(20)
    for (const name of documented.keys()) expect(Object.hasOwn(limits, name), name).toBe(true)
  })

  it('keeps the sizes the suite fixes', () => {
    expect(limits.PROTOCOL_VERSION).toBe(1)
    expect(limits.KEY_BYTES).toBe(32)
    expect(limits.NONCE_BYTES).toBe(24)
    expect(limits.TAG_BYTES).toBe(16)
    expect(limits.MAX_UINT32).toBe(2 ** 32 - 1)
    // The replay bitmap is kept in 32-bit words (docs/protocol.md §6.4).
    expect(limits.REPLAY_WINDOW_COUNTERS % 32).toBe(0)
    expect(limits.MIN_TICKET_LIFETIME_S).toBeLessThan(limits.DEFAULT_SERVICE_TICKET_LIFETIME_S)
    expect(limits.DEFAULT_TGT_LIFETIME_S).toBeLessThanOrEqual(limits.MAX_TICKET_LIFETIME_S)
  })

  it('the AAD example of §3.3 is exact', () => {
    const m = /=\s+`(96 b1[0-9a-f ]+)`/.exec(doc)
    expect(m).not.toBeNull()
    expect((m?.[1] ?? '').replace(/ /g, '')).toBe(
      toHex(buildAad(OBJ.TICKET, ['TESSERA.LOCAL', 'orders', 3])),
    )
  })
})
