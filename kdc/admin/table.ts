/**
 * Plain-text tables for human output: a header row, columns padded to their widest cell, two
 * spaces between columns, no trailing spaces. Machine consumers use --json instead.
 */

/**
 * Render rows under a header. Cells are shown as given; newlines in cells are replaced by spaces
 * so a row stays one line.
 *
 * @example renderTable(['NAME', 'KVNO'], [['orders', '1']]) // 'NAME    KVNO\norders  1\n'
 */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const clean = (s: string): string => s.replace(/[\r\n\t]+/g, ' ')
  const all = [header.map(clean), ...rows.map((r) => r.map(clean))]
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)))
  const lines = all.map((r) =>
    header
      .map((_, i) => {
        const cell = r[i] ?? ''
        return i === header.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)
      })
      .join('  ')
      .trimEnd(),
  )
  return lines.join('\n') + '\n'
}

/** Key/value lines ("name:     orders"), the single-record counterpart of renderTable. */
export function renderFields(fields: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...fields.map(([k]) => k.length + 1))
  return fields.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${v}`.trimEnd()).join('\n') + '\n'
}

/** A wire time (seconds) as ISO-8601 UTC without milliseconds. */
export function formatTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z')
}
