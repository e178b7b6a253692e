/**
 * House style B4.6: every wire code is produced by at least one integration or adversarial test
 * (a real KDC process, real services). A code that cannot be produced end to end is listed below
 * with the reason, so a new code cannot slip in untested, and a listed code that becomes testable
 * shows up here when someone asserts it.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CODES, type ErrorCode } from '../../kdc/protocol/index.js'

const NOT_PRODUCED_END_TO_END: Partial<Record<ErrorCode, string>> = {
  ERR_KDC_PREAUTH_REQUIRED:
    'reserved: a v1 AS-REQ cannot omit pre-authentication (a missing field is ERR_PROTO_MALFORMED)',
  ERR_AP_BAD_MATCH:
    "reserved: the authenticator's AAD binds the ticket's client, so a mismatch is ERR_AP_BAD_INTEGRITY",
  ERR_ADMIN_NOT_WRITER: 'reserved for the HA pair (one writer); a single KDC is always the writer',
}

function testSources(dir: string): string {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n')
}

describe('every wire code is produced end to end (house style B4.6)', () => {
  const sources = testSources('test/integration') + testSources('test/adversarial')
  const wireCodes = (Object.keys(CODES) as ErrorCode[]).filter((c) => CODES[c].wire !== null)

  it.each(wireCodes)('%s', (code) => {
    const asserted = sources.includes(`'${code}'`)
    if (NOT_PRODUCED_END_TO_END[code] === undefined) {
      expect(asserted, `${code} is asserted by no integration or adversarial test`).toBe(true)
    } else {
      expect(asserted, `${code} is now asserted end to end: remove it from the list`).toBe(false)
    }
  })
})
