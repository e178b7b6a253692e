import { describe, expect, it } from 'vitest'
import { BrokerError, CODES, type ErrorCode } from '../../../../kdc/protocol/index.js'
import { CliError, EXIT, HINTS, toCliError } from '../../../../kdc/admin/errors.js'

const ctx = {
  kdcUrls: ['ws://127.0.0.1:1/v1', 'ws://127.0.0.1:2/v1'],
  keytabPath: '/tmp/admin.keytab',
  name: 'orders',
  admin: 'alice',
}

describe('hints', () => {
  it('has a non-empty hint for every catalogue code', () => {
    for (const code of Object.keys(CODES) as ErrorCode[]) {
      const hint = HINTS[code](ctx)
      expect(hint.length, code).toBeGreaterThan(20)
      expect(hint, code).not.toMatch(/undefined/)
    }
  })

  it('says which URLs were tried and how to start a KDC when none is reachable', () => {
    for (const code of [
      'ERR_CLIENT_UNREACHABLE',
      'ERR_CLIENT_TIMEOUT',
      'ERR_CLIENT_CLOSED',
    ] as const) {
      const e = toCliError(new BrokerError(code), ctx)
      expect(e.exitCode).toBe(EXIT.UNAVAILABLE)
      expect(e.message).toBe(
        `cannot reach a KDC at ws://127.0.0.1:1/v1, ws://127.0.0.1:2/v1 (${code})`,
      )
      expect(e.hint).toContain('tried ws://127.0.0.1:1/v1, ws://127.0.0.1:2/v1')
      expect(e.hint).toContain('npm start')
    }
  })

  it('names the principal for NOT_FOUND and EXISTS', () => {
    const nf = toCliError(new BrokerError('ERR_ADMIN_NOT_FOUND'), ctx)
    expect(nf.message).toBe("no principal named 'orders' (ERR_ADMIN_NOT_FOUND)")
    expect(nf.hint).toContain('tessera-admin principal list')
    expect(nf.exitCode).toBe(EXIT.FAILED)
    const ex = toCliError(new BrokerError('ERR_ADMIN_EXISTS'), ctx)
    expect(ex.message).toBe("principal 'orders' already exists (ERR_ADMIN_EXISTS)")
    expect(ex.hint).toContain('keytab export')
  })

  it('names the admin principal and the groups for FORBIDDEN', () => {
    const e = toCliError(new BrokerError('ERR_ADMIN_FORBIDDEN'), ctx)
    expect(e.message).toBe('alice may not perform this admin operation (ERR_ADMIN_FORBIDDEN)')
    expect(e.hint).toContain("'admins'")
    expect(e.hint).toContain("'admin-readers'")
  })

  it('points at the keytab for login failures', () => {
    for (const code of ['ERR_KDC_PREAUTH_FAILED', 'ERR_CLIENT_KEYTAB'] as const) {
      const e = toCliError(new BrokerError(code), ctx)
      expect(e.hint).toContain('/tmp/admin.keytab')
      expect(e.hint).toContain('TESSERA_KEYTAB')
    }
  })

  it('keeps CliErrors and wraps anything else as a bug', () => {
    const mine = new CliError('ERR_CLI_USAGE', 'x', 'y', EXIT.USAGE)
    expect(toCliError(mine, ctx)).toBe(mine)
    const other = toCliError(new Error('boom'), ctx)
    expect(other.code).toBe('ERR_CLI_IO')
    expect(other.exitCode).toBe(EXIT.FAILED)
  })
})
