/**
 * Ticket lifetimes in policy files: "15m", "1h", "900s", "1h30m", "1d", or plain seconds ("900").
 * Parsing is strict (no spaces, no fractions, units in descending order, each at most once) so a
 * typo is an error rather than a different lifetime.
 */

const UNIT_SECONDS = { d: 86_400, h: 3_600, m: 60, s: 1 } as const
const DURATION_PATTERN = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/

/**
 * Seconds for a duration string or a non-negative integer, or undefined when the text is not a
 * duration. Range checks are the caller's.
 *
 * @example parseDuration('1h30m') // 5400
 */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  }
  if (/^\d{1,10}$/.test(value)) return Number(value)
  if (value === '') return undefined
  const m = DURATION_PATTERN.exec(value)
  if (m === null) return undefined
  const [, d, h, min, s] = m
  let total = 0
  for (const [part, unit] of [
    [d, UNIT_SECONDS.d],
    [h, UNIT_SECONDS.h],
    [min, UNIT_SECONDS.m],
    [s, UNIT_SECONDS.s],
  ] as const) {
    if (part !== undefined) {
      if (part.length > 10) return undefined
      total += Number(part) * unit
    }
  }
  return Number.isSafeInteger(total) ? total : undefined
}

/**
 * The shortest duration string for `seconds`: 900 → "15m", 5400 → "1h30m", 0 → "0s".
 *
 * @example formatDuration(3600) // '1h'
 */
export function formatDuration(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new RangeError('a duration is a non-negative integer number of seconds')
  }
  if (seconds === 0) return '0s'
  let rest = seconds
  let out = ''
  for (const [unit, size] of Object.entries(UNIT_SECONDS)) {
    const n = Math.floor(rest / size)
    if (n > 0) {
      out += `${n}${unit}`
      rest -= n * size
    }
  }
  return out
}
