/**
 * Writing files that hold keys (keytabs, the master-key stash): atomically and with mode 0600
 * (docs/internals.md "Fixed conventions"). The bytes go to a temporary file created 0600 in the
 * same directory, are fsynced, and the file is renamed over the target, so a reader sees either
 * the old file or the new one, never a torn or briefly world-readable one.
 *
 * This module imports only node: modules and kdc/protocol, never the store or `level`, so the
 * server and any other writer of keytabs can share it.
 */
import { randomBytes } from 'node:crypto'
import { open, rename, unlink, chmod } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { encodeKeytab, type Keytab } from '../protocol/index.js'

/** The mode of every file that holds a key: owner read/write only. */
export const SECRET_FILE_MODE = 0o600

/**
 * Write `bytes` to `path` atomically with mode 0600: temp file (0600, exclusive create) in the
 * same directory, write, fsync, rename, then fsync the directory so the rename itself is durable.
 * On any failure the temp file is removed and the target is left as it was.
 */
export async function writeSecretFile(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path)
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const handle = await open(temp, 'wx', SECRET_FILE_MODE)
  let renamed = false
  try {
    // The umask can only remove bits from 0600, but a chmod makes the intent independent of it.
    await handle.chmod(SECRET_FILE_MODE)
    await handle.writeFile(bytes)
    await handle.sync()
    await handle.close()
    await rename(temp, path)
    renamed = true
    await chmod(path, SECRET_FILE_MODE)
    await syncDirectory(dir)
  } finally {
    if (!renamed) {
      await handle.close().catch(() => undefined)
      await unlink(temp).catch(() => undefined)
    }
  }
}

/** fsync a directory so a rename in it survives a crash; ignored where the platform refuses. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle
  try {
    handle = await open(dir, 'r')
    await handle.sync()
  } catch {
    // Some platforms cannot open or fsync directories; the rename is still atomic there.
  } finally {
    await handle?.close()
  }
}

/**
 * Write a keytab file (docs/protocol.md §8 format, kdc/protocol keys.ts) atomically with mode 0600.
 */
export async function writeKeytabFile(path: string, keytab: Keytab): Promise<void> {
  await writeSecretFile(path, encodeKeytab(keytab))
}
