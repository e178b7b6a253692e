/**
 * Option validation for the client SDK (house style B4.3): misuse is a TypeError or RangeError
 * with no code, and the message says what to pass instead. No silent coercion.
 */
import { assertPrincipalName, canonicalScopes, MAX_UINT32 } from '../kdc/protocol/index.js'

/** Check an integer option within [min, max]; undefined gives the default. */
export function intOption(
  value: unknown,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`${name} must be an integer, got ${describe(value)}`)
  }
  if (value < min || value > max) {
    throw new RangeError(`${name} must be between ${min} and ${max}, got ${value}`)
  }
  return value
}

/** Check a boolean option. */
export function boolOption(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') {
    throw new TypeError(`${name} must be a boolean, got ${describe(value)}`)
  }
  return value
}

/** Check a function option. */
export function fnOption<F extends (...args: never[]) => unknown>(
  value: F | undefined,
  name: string,
): F | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'function') {
    throw new TypeError(`${name} must be a function, got ${describe(value)}`)
  }
  return value
}

/**
 * The KDC endpoints: an array or a comma-separated string of ws:// or wss:// URLs; undefined falls
 * back to $TESSERA_KDC. Duplicates are removed, order (= preference) is kept.
 */
export function kdcEndpoints(value: unknown, env: NodeJS.ProcessEnv = process.env): string[] {
  let list: unknown[]
  if (value === undefined) {
    const fromEnv = env.TESSERA_KDC
    if (fromEnv === undefined || fromEnv.trim() === '') {
      throw new TypeError(
        'no KDC endpoints: pass kdc: ["ws://host:7088/v1", ...] or set TESSERA_KDC (comma-separated)',
      )
    }
    list = fromEnv.split(',')
  } else if (typeof value === 'string') {
    list = value.split(',')
  } else if (Array.isArray(value)) {
    list = value
  } else {
    throw new TypeError(`kdc must be an array of ws:// URLs, got ${describe(value)}`)
  }
  const out: string[] = []
  for (const item of list) {
    if (typeof item !== 'string') {
      throw new TypeError(`kdc endpoints must be strings, got ${describe(item)}`)
    }
    const text = item.trim()
    let url: URL
    try {
      url = new URL(text)
    } catch {
      throw new TypeError(
        `KDC endpoint ${JSON.stringify(text)} is not a URL; use ws://host:7088/v1`,
      )
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      throw new TypeError(
        `KDC endpoint ${JSON.stringify(text)} must use ws:// or wss://, e.g. ws://host:7088/v1`,
      )
    }
    if (url.hash !== '' || url.username !== '' || url.password !== '') {
      throw new TypeError(
        `KDC endpoint ${JSON.stringify(text)} must not carry credentials or a #fragment`,
      )
    }
    if (!out.includes(url.href)) out.push(url.href)
  }
  if (out.length === 0) throw new TypeError('kdc must name at least one endpoint')
  if (out.length > 16) throw new RangeError('kdc may name at most 16 endpoints')
  return out
}

/** A target service name: the principal grammar. */
export function targetName(value: unknown): string {
  return assertPrincipalName(value, 'target')
}

/** Requested scopes: undefined or an array of scope names, returned in canonical wire order. */
export function scopeList(value: unknown): readonly string[] {
  if (value === undefined) return EMPTY
  if (!Array.isArray(value)) {
    throw new TypeError(`scopes must be an array of strings, got ${describe(value)}`)
  }
  for (const s of value) {
    if (typeof s !== 'string') throw new TypeError(`scopes must be strings, got ${describe(s)}`)
  }
  return canonicalScopes(value as string[])
}

/** A requested lifetime in seconds; 0 asks the KDC for its default. */
export function lifetimeOption(value: unknown, name: string): number {
  return intOption(value, name, 0, MAX_UINT32, 0)
}

const EMPTY: readonly string[] = Object.freeze([])

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return typeof value
}
