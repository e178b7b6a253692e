/**
 * Writing keytabs (docs/internals.md, "Fixed conventions"): mode 0600, atomically: a temp file
 * created 0600 in the same directory, written, fsynced, renamed over the target, and the directory
 * fsynced. A reader (the service SDK's hot reload) therefore sees the old file or the new one, never
 * a torn one, and the key bytes never sit in a file anyone else can read. A directory that group or
 * others can write (and that is not sticky) is refused: another user could swap the file there.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { encodeKeytab, type Keytab } from '../protocol/index.js'
import { CliError, EXIT } from './errors.js'

/**
 * Refuse a directory that group or others can write: any local user could replace the keytab there
 * with one of a key they know before the service loads it, and then mint tickets the service
 * accepts; the file's own 0600 mode cannot prevent that. A sticky directory owned by us or root
 * (like /tmp) is fine: there, only the file's owner can rename or remove it.
 */
async function checkDirectory(file: string, dir: string): Promise<void> {
  const { mode, uid } = await stat(dir)
  const sticky = (mode & 0o1000) !== 0 && (uid === 0 || uid === process.getuid?.())
  if ((mode & 0o022) !== 0 && !sticky) {
    throw ioError(
      file,
      `${dir} can be written by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}), so another user could replace the keytab before it is used`,
      `write it into a directory only you can write: chmod go-w ${dir}, or choose another --out FILE`,
    )
  }
}

/** Fail early, before the KDC creates anything, when `file` cannot be written safely. */
export async function checkWritable(file: string): Promise<void> {
  const path = resolve(file)
  try {
    const s = await stat(path)
    if (s.isDirectory())
      throw ioError(file, 'it is a directory', 'name a file, e.g. DIR/NAME.keytab')
  } catch (err) {
    if (err instanceof CliError) throw err
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(file, errText(err))
  }
  const dir = dirname(path)
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await checkDirectory(file, dir)
    const probe = join(dir, `.${basename(path)}.probe-${randomBytes(6).toString('hex')}`)
    const fh = await open(probe, 'wx', 0o600)
    await fh.close()
    await rm(probe, { force: true })
  } catch (err) {
    if (err instanceof CliError) throw err
    throw ioError(file, `cannot write in ${dir}: ${errText(err)}`)
  }
}

/** Write the keytab to `file` (mode 0600, atomic replace). Returns the absolute path. */
export async function writeKeytabFile(file: string, keytab: Keytab): Promise<string> {
  const path = resolve(file)
  const dir = dirname(path)
  const bytes = encodeKeytab(keytab)
  const temp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`)
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await checkDirectory(file, dir)
    const fh = await open(temp, 'wx', 0o600)
    try {
      await fh.writeFile(bytes)
      await fh.chmod(0o600) // the umask cannot widen it, but be explicit about intent
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(temp, path)
    const d = await open(dir, 'r')
    try {
      await d.sync()
    } catch {
      // Some file systems refuse fsync on a directory; the rename is still atomic.
    } finally {
      await d.close()
    }
    return path
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined)
    if (err instanceof CliError) throw err
    throw ioError(file, errText(err))
  } finally {
    bytes.fill(0)
  }
}

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  return e.code === undefined ? e.message : `${e.code}: ${e.message}`
}

function ioError(file: string, what: string, hint?: string): CliError {
  return new CliError(
    'ERR_CLI_IO',
    `cannot write keytab ${file}: ${what}`,
    hint ?? 'choose a writable path with --out FILE',
    EXIT.FAILED,
  )
}
