import { describe, expect, it } from 'vitest'
import { formatTime, renderFields, renderTable } from '../../../../kdc/admin/table.js'

describe('renderTable', () => {
  it('pads columns to the widest cell and separates them by two spaces', () => {
    const out = renderTable(
      ['NAME', 'ENABLED', 'GROUPS'],
      [
        ['orders', 'yes', '-'],
        ['payments-api', 'no', 'admins,ops'],
      ],
    )
    expect(out).toBe(
      'NAME          ENABLED  GROUPS\n' +
        'orders        yes      -\n' +
        'payments-api  no       admins,ops\n',
    )
  })

  it('leaves no trailing spaces when the last cell is empty', () => {
    const out = renderTable(['A', 'B'], [['x', '']])
    for (const line of out.split('\n')) expect(line).toBe(line.trimEnd())
  })

  it('renders a header alone for no rows', () => {
    expect(renderTable(['NAME', 'KVNO'], [])).toBe('NAME  KVNO\n')
  })

  it('keeps a row on one line when a cell holds a newline', () => {
    const out = renderTable(['A', 'B'], [['x\ny', 'z']])
    expect(out.split('\n')).toHaveLength(3)
  })
})

describe('renderFields', () => {
  it('aligns values after the longest key', () => {
    expect(
      renderFields([
        ['name', 'orders'],
        ['policy version', '3'],
      ]),
    ).toBe('name:            orders\npolicy version:  3\n')
  })
})

describe('formatTime', () => {
  it('prints ISO-8601 UTC without milliseconds', () => {
    expect(formatTime(0)).toBe('1970-01-01T00:00:00Z')
    expect(formatTime(1_700_000_000)).toBe('2023-11-14T22:13:20Z')
  })
})
