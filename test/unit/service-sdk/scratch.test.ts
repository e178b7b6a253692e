import { describe, expect, it } from 'vitest'
import { KeySlots, offHeap, ViewSlots } from '../../../service-sdk/scratch.js'

describe('ViewSlots', () => {
  it('returns the same view for the same bounds, a new one for other bounds, per slot', () => {
    const buf = offHeap(64)
    for (let i = 0; i < buf.length; i++) buf[i] = i
    const views = new ViewSlots(buf, 2)
    const a = views.get(0, 4, 10)
    expect(Array.from(a)).toEqual([4, 5, 6, 7, 8, 9])
    expect(views.get(0, 4, 10)).toBe(a)
    const b = views.get(1, 4, 10)
    expect(b).not.toBe(a) // slots are independent
    const c = views.get(0, 4, 11)
    expect(c).not.toBe(a)
    expect(Array.from(c)).toEqual([4, 5, 6, 7, 8, 9, 10])
    expect(Array.from(views.get(0, 0, 0))).toEqual([])
    // A view shares the buffer's memory: it always shows the current bytes.
    buf[4] = 99
    expect(views.get(0, 4, 5)[0]).toBe(99)
  })
})

describe('KeySlots', () => {
  it('hands out distinct zeroed 32-byte slots and wipes a slot given back', () => {
    const slots = new KeySlots(32)
    const taken = Array.from({ length: 600 }, () => slots.take()) // more than one chunk
    for (const s of taken) {
      expect(s.length).toBe(32)
      expect(s.every((b) => b === 0)).toBe(true)
      s.fill(0xaa)
    }
    // No two slots overlap: each still holds only its own writes.
    taken.forEach((s, i) => s.fill(i & 0xff))
    taken.forEach((s, i) => {
      expect(s.every((b) => b === (i & 0xff))).toBe(true)
    })
    const back = taken[5] as Uint8Array
    slots.give(back)
    expect(back.every((b) => b === 0)).toBe(true)
    expect(slots.take()).toBe(back)
  })
})
