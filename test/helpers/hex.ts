/**
 * Hex helpers for tests and vectors: a whitespace-tolerant `hex` tag for readable fixtures, and the
 * protocol's own strict toHex/fromHex re-exported so tests and generator agree on one encoding.
 */
import { fromHex, toHex } from '../../kdc/protocol/index.js'

export { fromHex, toHex }

/**
 * Bytes from hex written across lines or with spaces, e.g. hex`de ad be ef`. Throws TypeError on
 * odd length or a non-hex digit.
 */
export function hex(strings: TemplateStringsArray | string, ...values: unknown[]): Uint8Array {
  const text =
    typeof strings === 'string'
      ? strings
      : strings.reduce((acc, s, i) => acc + s + (i < values.length ? String(values[i]) : ''), '')
  return fromHex(text.replace(/\s+/g, ''))
}

/** The bytes of an ASCII/UTF-8 string as lower-case hex (vector inputs that are names). */
export function utf8Hex(text: string): string {
  return toHex(new TextEncoder().encode(text))
}
