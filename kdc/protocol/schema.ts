/**
 * Field validators for decoded wire values (house style B5, "message" row): exact arity, exact
 * types, integers in range, bytes of exact or bounded length, names matching their grammar. Each
 * failure is ERR_PROTO_MALFORMED with a status tag naming the field; callers that parse decrypted
 * plaintext map any failure to ERR_AP_BAD_INTEGRITY instead.
 */
import type { WireValue } from './codec.js'
import { BrokerError } from './errors.js'
import { MAX_SCOPES, MAX_UINT32 } from './limits.js'
import { isPrincipalName, isRealmName, isScope } from './principal.js'

export function bad(field: string): BrokerError<'ERR_PROTO_MALFORMED'> {
  return new BrokerError('ERR_PROTO_MALFORMED', { status: `BAD_${field.toUpperCase()}` })
}

/** An array of exactly `arity` items. */
export function tuple(value: WireValue, arity: number, field: string): readonly WireValue[] {
  if (!Array.isArray(value) || value.length !== arity) throw bad(field)
  return value as readonly WireValue[]
}

export function uint(value: WireValue | undefined, field: string, max = MAX_UINT32): number {
  if (typeof value !== 'number' || value > max) throw bad(field)
  return value
}

export function bytesExact(
  value: WireValue | undefined,
  length: number,
  field: string,
): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== length) throw bad(field)
  return value
}

export function bytesMax(
  value: WireValue | undefined,
  max: number,
  field: string,
  min = 0,
): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length > max || value.length < min) throw bad(field)
  return value
}

export function text(value: WireValue | undefined, max: number, field: string): string {
  if (typeof value !== 'string' || value.length > max) throw bad(field)
  return value
}

export function principal(value: WireValue | undefined, field: string): string {
  if (!isPrincipalName(value)) throw bad(field)
  return value
}

export function realm(value: WireValue | undefined): string {
  if (!isRealmName(value)) throw bad('realm')
  return value
}

/**
 * True for an array of at most `maxItems` names that each pass `isItem`, in strictly ascending
 * order: sorted and duplicate-free, so a set of names has exactly one encoding (scope lists on the
 * wire, group lists in the store).
 */
export function isAscendingNameList(
  value: unknown,
  isItem: (item: unknown) => item is string,
  maxItems: number,
): value is readonly string[] {
  if (!Array.isArray(value) || value.length > maxItems) return false
  const list = value as readonly unknown[]
  for (let i = 0; i < list.length; i++) {
    const item = list[i]
    if (!isItem(item)) return false
    if (i > 0 && !((list[i - 1] as string) < item)) return false
  }
  return true
}

/** A list of distinct scopes, at most MAX_SCOPES, each matching the scope grammar, sorted. */
export function scopes(value: WireValue | undefined, field: string): readonly string[] {
  if (!isAscendingNameList(value, isScope, MAX_SCOPES)) throw bad(field)
  return value
}

/** Sort and de-duplicate a scope list into its canonical wire form (caller side). */
export function canonicalScopes(list: Iterable<string>): string[] {
  const out = [...new Set(list)].sort()
  for (const s of out) if (!isScope(s)) throw new TypeError(`invalid scope ${JSON.stringify(s)}`)
  if (out.length > MAX_SCOPES) throw new RangeError(`at most ${MAX_SCOPES} scopes`)
  return out
}
