/**
 * Realm creation and opening, offline (`tessera-kdc init` / `start`; house style: "init creates a
 * realm offline"). A data directory holds `db/` (LevelDB), `master.key` (the stash, 0600, unless
 * TESSERA_MASTER_KEY is set) and `admin.keytab` (the bootstrap admin's keytab, 0600); see
 * docs/internals.md "Fixed conventions".
 */
import { existsSync, readdirSync } from 'node:fs'
import { chmod, mkdir, rm, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import {
  ADMIN_PRINCIPAL,
  BrokerError,
  TGS_PRINCIPAL,
  assertRealmName,
  type Clock,
} from '../protocol/index.js'
import { syncDirectory, writeKeytabFile, writeSecretFile } from './keytab-file.js'
import { dbPath, openLevelStore } from './level-store.js'
import { realmExistsError, type LoggedStore } from './logged-store.js'
import {
  STASH_FILE,
  generateMasterKeyring,
  hasEnvMasterKey,
  loadMasterKeys,
  masterKeyFromHex,
  stashPath,
  writeStash,
  MASTER_KEY_ENV,
} from './master-key.js'

/** The bootstrap admin principal and its group (docs/internals.md). */
export const BOOTSTRAP_ADMIN = 'admin'
export const ADMINS_GROUP = 'admins'
export const ADMIN_KEYTAB_FILE = 'admin.keytab'
/**
 * Present while initRealm creates a realm, removed as its very last step: a data directory that
 * still holds it is an unfinished realm (a failure or crash part-way), which nobody can have used,
 * and which the next initRealm discards and creates again.
 */
export const INIT_MARKER_FILE = 'init.incomplete'

type Env = Readonly<Record<string, string | undefined>>

function initMarkerPath(dataDir: string): string {
  return join(dataDir, INIT_MARKER_FILE)
}

/** True when `dataDir` already holds a realm (a database or a stash) that initRealm finished. */
export function realmExists(dataDir: string): boolean {
  const db = dbPath(dataDir)
  const dbNonEmpty = existsSync(db) && readdirSync(db).length > 0
  return (dbNonEmpty || existsSync(stashPath(dataDir))) && !existsSync(initMarkerPath(dataDir))
}

function dataDirError(status: string, message: string): BrokerError {
  return new BrokerError('ERR_KDC_INTERNAL', { status, message })
}

/**
 * Make sure `dataDir` is a directory only we can write (docs/internals.md: 0700), since whoever can
 * write it can replace master.key, admin.keytab or db/. A missing one is created 0700; an existing
 * one of ours is tightened to 0700; one of another user that group or others can write is refused.
 */
async function prepareDataDir(dataDir: string): Promise<void> {
  let info
  try {
    info = await stat(dataDir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    await chmod(dataDir, 0o700)
    return
  }
  if (!info.isDirectory()) {
    throw dataDirError(
      'DATA_DIR_NOT_DIRECTORY',
      `the data directory ${dataDir} is not a directory; choose another --data directory`,
    )
  }
  if ((info.mode & 0o077) === 0) return
  const uid = process.getuid?.()
  if (uid === undefined || info.uid === uid) {
    await chmod(dataDir, 0o700)
    return
  }
  if ((info.mode & 0o022) !== 0) {
    throw dataDirError(
      'DATA_DIR_MODE',
      `the data directory ${dataDir} belongs to another user (uid ${info.uid}) and group or others can write it (mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}), so they could replace the master key or the admin keytab; use a directory of your own (mkdir -m 700 DIR), or have its owner run: chmod 700 ${dataDir}`,
    )
  }
}

/** Remove what an unfinished initRealm left (the store and the stash); the marker stays. */
async function discardUnfinished(dataDir: string): Promise<void> {
  await rm(dbPath(dataDir), { recursive: true, force: true })
  await rm(stashPath(dataDir), { force: true })
}

/** Options of initRealm. */
export interface InitRealmOptions {
  readonly dataDir: string
  readonly realm: string
  /** Defaults to process.env; when it holds TESSERA_MASTER_KEY, no stash is written. */
  readonly env?: Env
  readonly clock?: Clock
}

/** What initRealm created. */
export interface InitRealmResult {
  readonly realm: string
  readonly dataDir: string
  readonly adminKeytabPath: string
  /** 'stash' (`<data>/master.key` written) or 'env' (TESSERA_MASTER_KEY used). */
  readonly masterKeySource: 'stash' | 'env'
}

/**
 * Create a realm in `dataDir` (created with mode 0700 if missing, tightened to 0700 if ours): the
 * master key, the store with `krbtgt`, `kadmin` and the bootstrap `admin` (group `admins`), an
 * empty policy (version 1), and `<data>/admin.keytab`. Refuses with ERR_ADMIN_EXISTS (status
 * REALM_EXISTS) if a realm is there. All or nothing: a marker file is written first and removed
 * last, so a failure or crash part-way leaves no realm, and running initRealm again discards the
 * unfinished one and starts over. The store is closed again; start the KDC with openStore.
 */
export async function initRealm(options: InitRealmOptions): Promise<InitRealmResult> {
  const realm = assertRealmName(options.realm)
  const { dataDir } = options
  const env = options.env ?? process.env
  const marker = initMarkerPath(dataDir)
  const unfinished = existsSync(marker)
  if (!unfinished && realmExists(dataDir)) throw realmExistsError(dataDir)
  await prepareDataDir(dataDir)
  // The marker is durable before anything of the realm is, and goes only once all of it is.
  if (unfinished) await discardUnfinished(dataDir)
  else await writeSecretFile(marker, new TextEncoder().encode('tessera-kdc init in progress\n'))
  const fromEnv = hasEnvMasterKey(env)
  const adminKeytabPath = join(dataDir, ADMIN_KEYTAB_FILE)
  try {
    const masterKeys = fromEnv
      ? masterKeyFromHex(env[MASTER_KEY_ENV] as string)
      : generateMasterKeyring({ kind: 'stash', path: join(dataDir, STASH_FILE) })
    // The stash is durable before any record is sealed with it, so a crash never strands keys.
    if (!fromEnv) await writeStash(dataDir, masterKeys)
    const store = await openLevelStore({
      dataDir,
      masterKeys,
      createRealm: realm,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    })
    try {
      await store.addPrincipal({ name: TGS_PRINCIPAL })
      await store.addPrincipal({ name: ADMIN_PRINCIPAL })
      const admin = await store.addPrincipal({ name: BOOTSTRAP_ADMIN, groups: [ADMINS_GROUP] })
      await store.setPolicy([])
      await writeKeytabFile(adminKeytabPath, { realm, principal: admin.name, keys: admin.keys })
    } finally {
      await store.close()
    }
  } catch (err) {
    // Best effort: put the directory back as it was. If that fails too, the marker stays and the
    // next initRealm finishes the clean-up.
    await discardUnfinished(dataDir)
      .then(() => unlink(marker))
      .catch(() => undefined)
    throw err
  }
  await unlink(marker)
  await syncDirectory(dataDir)
  return { realm, dataDir, adminKeytabPath, masterKeySource: fromEnv ? 'env' : 'stash' }
}

/** Options of openStore. */
export interface OpenStoreOptions {
  readonly dataDir: string
  /** Defaults to process.env (TESSERA_MASTER_KEY). */
  readonly env?: Env
  readonly clock?: Clock
}

/**
 * Open the realm in `dataDir`: master key from TESSERA_MASTER_KEY or the stash (master-key.ts),
 * then the LevelDB store (level-store.ts), loaded into memory. A realm initRealm did not finish is
 * ERR_KDC_UNAVAILABLE (REALM_UNFINISHED).
 */
export async function openStore(options: OpenStoreOptions): Promise<LoggedStore> {
  if (existsSync(initMarkerPath(options.dataDir))) {
    throw new BrokerError('ERR_KDC_UNAVAILABLE', {
      status: 'REALM_UNFINISHED',
      message: `the realm in ${options.dataDir} was never finished (an earlier \`tessera-kdc init\` stopped part-way); run \`tessera-kdc init --data ${options.dataDir}\` again`,
    })
  }
  const masterKeys = await loadMasterKeys({
    dataDir: options.dataDir,
    ...(options.env === undefined ? {} : { env: options.env }),
  })
  return openLevelStore({
    dataDir: options.dataDir,
    masterKeys,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  })
}
