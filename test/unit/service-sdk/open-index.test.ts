import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { OpenIndex } from '../../../service-sdk/open-index.js'

/** Every (key, value) pair the index holds for `key`, via first()/next(). */
function valuesOf(index: OpenIndex, key: number): number[] {
  const out: number[] = []
  for (let s = index.first(key); s >= 0; s = index.next(s, key)) out.push(index.value(s))
  return out.sort((a, b) => a - b)
}

describe('OpenIndex', () => {
  it('finds what was inserted, and nothing else', () => {
    const index = new OpenIndex(4)
    index.insert(7, 1)
    index.insert(-7, 2)
    index.insert(0x7fff_ffff, 3)
    expect(valuesOf(index, 7)).toEqual([1])
    expect(valuesOf(index, -7)).toEqual([2])
    expect(valuesOf(index, 0x7fff_ffff)).toEqual([3])
    expect(index.first(8)).toBe(-1)
    expect(index.size).toBe(3)
  })

  it('holds a key several times and removes exactly the (key, value) asked for', () => {
    const index = new OpenIndex(4)
    for (let v = 0; v < 20; v++) index.insert(42, v)
    expect(valuesOf(index, 42)).toEqual(Array.from({ length: 20 }, (_, v) => v))
    index.removeAt(index.find(42, 7))
    expect(index.find(42, 7)).toBe(-1)
    expect(valuesOf(index, 42)).toHaveLength(19)
    expect(index.find(42, 8)).toBeGreaterThanOrEqual(0)
  })

  it('keeps probe runs that wrap past the last slot reachable through removals', () => {
    // Keys whose home slot in a 16-slot index is 14 or 15 (the multiplicative hash of open-index.ts):
    // their runs wrap around to slots 0, 1, 2...
    const home = (k: number): number => Math.imul(k, 0x9e3779b1) >>> 28
    const late: number[] = []
    for (let k = 1; late.length < 6; k++) if (home(k) >= 14) late.push(k)
    for (let removed = 0; removed < late.length; removed++) {
      const index = new OpenIndex(8) // 16 slots, 6 entries: no growth
      late.forEach((k, v) => {
        index.insert(k, v)
      })
      index.removeAt(index.find(late[removed] as number, removed))
      late.forEach((k, v) => {
        expect(index.find(k, v) >= 0, `key ${String(k)} after removing #${String(removed)}`).toBe(
          v !== removed,
        )
      })
    }
  })

  it('refuses to remove from a slot that holds nothing (a bug must not become a hang)', () => {
    const index = new OpenIndex(4)
    index.insert(1, 1)
    expect(() => {
      index.removeAt(index.find(1, 2)) // -1: no such entry
    }).toThrow(RangeError)
    const empty = index.first(1) === 0 ? 1 : 0
    expect(() => {
      index.removeAt(empty)
    }).toThrow(RangeError)
    expect(index.size).toBe(1)
  })

  it('grows past its expected size and keeps every entry', () => {
    const index = new OpenIndex(2)
    for (let k = 0; k < 5000; k++) index.insert(k * 7919, k)
    for (let k = 0; k < 5000; k += 2) index.removeAt(index.find(k * 7919, k))
    expect(index.size).toBe(2500)
    for (let k = 0; k < 5000; k++) expect(index.find(k * 7919, k) >= 0).toBe(k % 2 === 1)
  })

  it('clear() empties it', () => {
    const index = new OpenIndex(4)
    for (let k = 0; k < 100; k++) index.insert(k, k)
    index.clear()
    expect(index.size).toBe(0)
    for (let k = 0; k < 100; k++) expect(index.first(k)).toBe(-1)
  })

  it('matches a Map-of-sets model under random inserts and removes (collisions, wrap-around)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('insert' as const), key: fc.integer({ min: -8, max: 8 }) }),
      fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }),
      fc.record({
        kind: fc.constant('insertWide' as const),
        key: fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }),
      }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const index = new OpenIndex(2) // 16 slots: probe runs often wrap around the end
        const model: [number, number][] = []
        let nextValue = 0
        for (const o of ops) {
          // Stay at most half full, so that it never grows in this run and the runs stay dense.
          if (o.kind === 'remove' || model.length === 8) {
            if (model.length === 0) continue
            const pick = o.kind === 'remove' ? o.pick : nextValue
            const [k, v] = model.splice(pick % model.length, 1)[0] as [number, number]
            const s = index.find(k, v)
            if (s < 0) return false // lost an entry
            index.removeAt(s)
          } else {
            index.insert(o.key, nextValue)
            model.push([o.key, nextValue++])
          }
        }
        if (index.size !== model.length) return false
        const keys = new Set(model.map(([k]) => k))
        for (const k of keys) {
          const want = model.filter(([mk]) => mk === k).map(([, v]) => v)
          if (valuesOf(index, k).join() !== want.sort((a, b) => a - b).join()) return false
        }
        for (let k = -9; k <= 9; k++) if (!keys.has(k) && index.first(k) !== -1) return false
        return true
      }),
      { numRuns: 300 },
    )
  })
})
