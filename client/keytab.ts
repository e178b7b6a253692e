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
  MAX_KEYTAB_FILE_BYTES,
  warnIfKeytabExposed,
  parseKeytab,
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
    return parseKeytab(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength))
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

/**
 * The bytes of the keytab at `path`: a regular file of at most MAX_KEYTAB_FILE_BYTES, opened without
 * blocking (a FIFO at the path would otherwise hang the read and hold a libuv thread) and read no
 * further than that limit (a device or a huge file is refused without reading it). The same reader
 * is in service-sdk/keytab.ts (the SDKs may not import each other).
 */
async function readKeytabBytes(path: string): Promise<Buffer> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
  try {
    const info = await handle.stat()
    if (!info.isFile()) {
      throw new BrokerError('ERR_CLIENT_KEYTAB', {
        status: 'NOT_A_FILE',
        message: `the keytab ${path} is not a regular file; point TESSERA_KEYTAB at the file that 'tessera-admin principal add' or 'keytab export' wrote`,
      })
    }
    warnIfKeytabExposed(path, info.mode)
    const bytes = Buffer.alloc(MAX_KEYTAB_FILE_BYTES + 1)
    let n = 0
    if (info.size <= MAX_KEYTAB_FILE_BYTES) {
      for (;;) {
        const { bytesRead } = await handle.read(bytes, n, bytes.length - n, n)
        if (bytesRead === 0) break
        n += bytesRead
        if (n === bytes.length) break
      }
    }
    if (info.size > MAX_KEYTAB_FILE_BYTES || n > MAX_KEYTAB_FILE_BYTES) {
      bytes.fill(0)
      throw new BrokerError('ERR_CLIENT_KEYTAB', {
        status: 'SIZE',
        message: `the keytab ${path} is larger than ${String(MAX_KEYTAB_FILE_BYTES)} bytes; is it a Tessera keytab?`,
      })
    }
    return bytes.subarray(0, n)
  } finally {
    await handle.close()
  }
}
