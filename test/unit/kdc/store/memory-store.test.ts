import { createMemoryStore } from '../../../../kdc/store/memory-store.js'
import { REALM, runConformance } from './conformance.js'

let data = new Map<string, Uint8Array>()

runConformance('memory-store', {
  create: ({ clock, masterKeys }) => {
    data = new Map()
    return createMemoryStore({ realm: REALM, clock, masterKeys, data })
  },
  reopen: ({ clock, masterKeys }) => createMemoryStore({ realm: REALM, clock, masterKeys, data }),
  writeRaw: (key, value) => {
    data.set(key, value)
    return Promise.resolve()
  },
})
