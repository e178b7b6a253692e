/**
 * Reading the client's keytab file (docs/protocol.md §8). The file is re-read at every login, so a
 * keytab rotated in place (written atomically by `tessera-admin keytab export`) is picked up without
 * a restart; if a re-read fails, the last good copy is used.
 */
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import {
  BrokerError,
  isBrokerError,
  parseKeytab,
  readKeytabHandle,
  type Keytab,
} from '../kdc/protocol/index.js'

/**
 * Read and parse a keytab file. Any failure is ERR_CLIENT_KEYTAB; the message names the path, never
 * key bytes.
 *
 * @example
 * ```ts
 * const keytab = await readKeytabFile('/etc/tessera/payments.keytab')
 * console.log(keytab.principal, keytab.realm)
 * ```
 */
export async function readKeytabFile(path: string): Promise<Keytab> {
  let bytes: Uint8Array
  try {
    bytes = await readKeytabBytes(path)
  } catch (err) {
    if (isBrokerError(err)) throw err
    const reason = (err as NodeJS.ErrnoException).code ?? 'read error'
    throw new BrokerError('ERR_CLIENT_KEYTAB', {
      status: 'READ',
      message: `cannot read the keytab ${path} (${reason}); check the path (TESSERA_KEYTAB) and its permissions`,
      cause: err,
    })
  }
  try {
    return parseKeytab(bytes)
  } catch (err) {
    if (!isBrokerError(err)) throw err
    throw new BrokerError('ERR_CLIENT_KEYTAB', {
      status: err.status ?? 'PARSE',
      message: `the keytab ${path} is not a valid Tessera keytab; export it again with \`tessera-admin keytab export\``,
      cause: err,
    })
  } finally {
    bytes.fill(0)
  }
}

/** Where a session gets its keytab at each login, and how it wipes what it holds. */
export interface KeytabSource {
  load(): Promise<Keytab>
  wipe(): void
}

/** A fixed, in-memory keytab (copied, so the caller's key bytes are not borrowed). */
export function memoryKeytab(keytab: Keytab): KeytabSource {
  const copy: Keytab = {
    realm: keytab.realm,
    principal: keytab.principal,
    keys: keytab.keys.map((k) => ({ ...k, key: k.key.slice() })),
  }
  return {
    load: () => Promise.resolve(copy),
    wipe: () => {
      for (const k of copy.keys) k.key.fill(0)
    },
  }
}

/** A source that re-reads `path` at every login and falls back to the last good keytab. */
export function keytabFileSource(path: string, initial: Keytab): KeytabSource {
  let last = initial
  return {
    async load() {
      try {
        const next = await readKeytabFile(path)
        if (next !== last) for (const k of last.keys) k.key.fill(0)
        last = next
      } catch {
        // Keep the last good copy: a keytab being replaced or briefly unreadable must not stop logins.
      }
      return last
    },
    wipe() {
      for (const k of last.keys) k.key.fill(0)
    },
  }
}

/** The bytes of the keytab at `path` (see readKeytabHandle). */
async function readKeytabBytes(path: string): Promise<Uint8Array> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
  try {
    return await readKeytabHandle(handle, path, 'TESSERA_KEYTAB')
  } finally {
    await handle.close()
  }
}
