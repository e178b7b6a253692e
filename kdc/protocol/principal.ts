/**
 * Names (docs/protocol.md §4): principals, realms, groups and scopes. The grammars are ASCII-only so
 * that equal names are equal bytes: no case folding, no Unicode normalisation.
 */
import { BrokerError } from './errors.js'
import {
  ADMIN_PRINCIPAL,
  MAX_PRINCIPAL_BYTES,
  MAX_REALM_BYTES,
  MAX_SCOPE_BYTES,
  TGS_PRINCIPAL,
} from './limits.js'

/** principal = [a-z] [a-z0-9._-]{0,62} — lower case, 1..63 bytes. */
export const PRINCIPAL_PATTERN = /^[a-z][a-z0-9._-]{0,62}$/
/** realm = [A-Z0-9] [A-Z0-9.-]{0,62} — upper case, 1..63 bytes. */
export const REALM_PATTERN = /^[A-Z0-9][A-Z0-9.-]{0,62}$/
/** group = the principal grammar. */
export const GROUP_PATTERN = PRINCIPAL_PATTERN
/** scope = [A-Za-z0-9] [A-Za-z0-9:._/*-]{0,63} — 1..64 bytes, e.g. "orders:read". */
export const SCOPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9:._/*-]{0,63}$/

/** Names the KDC reserves for itself; they cannot be registered. */
export const RESERVED_PRINCIPALS: readonly string[] = Object.freeze([
  TGS_PRINCIPAL,
  ADMIN_PRINCIPAL,
])

export function isPrincipalName(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length <= MAX_PRINCIPAL_BYTES &&
    PRINCIPAL_PATTERN.test(value)
  )
}
export function isRealmName(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_REALM_BYTES && REALM_PATTERN.test(value)
}
export function isGroupName(value: unknown): value is string {
  return isPrincipalName(value)
}
export function isScope(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_SCOPE_BYTES && SCOPE_PATTERN.test(value)
}
export function isReservedPrincipal(name: string): boolean {
  return RESERVED_PRINCIPALS.includes(name)
}

/** Validate a principal name from peer data: ERR_PROTO_MALFORMED when it breaks the grammar. */
export function parsePrincipal(value: unknown, field = 'principal'): string {
  if (!isPrincipalName(value))
    throw new BrokerError('ERR_PROTO_MALFORMED', { status: `BAD_${field.toUpperCase()}` })
  return value
}

/** Validate a realm name from peer data. */
export function parseRealm(value: unknown): string {
  if (!isRealmName(value)) throw new BrokerError('ERR_PROTO_MALFORMED', { status: 'BAD_REALM' })
  return value
}

/** Caller-side check (configuration, CLI input): TypeError with a message that says what to do. */
export function assertPrincipalName(value: unknown, label = 'principal name'): string {
  if (!isPrincipalName(value)) {
    throw new TypeError(
      `${label} ${JSON.stringify(value)} is invalid: use 1-63 characters a-z 0-9 . _ - starting with a letter`,
    )
  }
  return value
}

/** Caller-side check for realm names. */
export function assertRealmName(value: unknown): string {
  if (!isRealmName(value)) {
    throw new TypeError(
      `realm ${JSON.stringify(value)} is invalid: use 1-63 characters A-Z 0-9 . - (upper case)`,
    )
  }
  return value
}
