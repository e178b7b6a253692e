/**
 * Realm creation and opening, offline (`tessera-kdc init` / `start`; house style: "init creates a
 * realm offline"). A data directory holds `db/` (LevelDB), `master.key` (the stash, 0600, unless
 * TESSERA_MASTER_KEY is set) and `admin.keytab` (the bootstrap admin's keytab, 0600); see
 * docs/internals.md "Fixed conventions".
 */
import { existsSync, readdirSync } from 'node:fs'
import { chmod, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { ADMIN_PRINCIPAL, TGS_PRINCIPAL, assertRealmName, type Clock } from '../protocol/index.js'
import { writeKeytabFile } from './keytab-file.js'
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

type Env = Readonly<Record<string, string | undefined>>

/** True when `dataDir` already holds a realm (a database or a stash). */
export function realmExists(dataDir: string): boolean {
  const db = dbPath(dataDir)
  const dbNonEmpty = existsSync(db) && readdirSync(db).length > 0
  return dbNonEmpty || existsSync(stashPath(dataDir))
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
 * Create a realm in `dataDir` (created with mode 0700 if missing): the master key, the store with
 * `krbtgt`, `kadmin` and the bootstrap `admin` (group `admins`), an empty policy (version 1), and
 * `<data>/admin.keytab`. Refuses with ERR_ADMIN_EXISTS (status REALM_EXISTS) if a realm is there.
 * The store is closed again; start the KDC with openStore.
 */
export async function initRealm(options: InitRealmOptions): Promise<InitRealmResult> {
  const realm = assertRealmName(options.realm)
  const { dataDir } = options
  const env = options.env ?? process.env
  if (realmExists(dataDir)) throw realmExistsError(dataDir)
  if (!existsSync(dataDir)) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    await chmod(dataDir, 0o700)
  }
  const fromEnv = hasEnvMasterKey(env)
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
  const adminKeytabPath = join(dataDir, ADMIN_KEYTAB_FILE)
  try {
    await store.addPrincipal({ name: TGS_PRINCIPAL })
    await store.addPrincipal({ name: ADMIN_PRINCIPAL })
    const admin = await store.addPrincipal({ name: BOOTSTRAP_ADMIN, groups: [ADMINS_GROUP] })
    await store.setPolicy([])
    await writeKeytabFile(adminKeytabPath, { realm, principal: admin.name, keys: admin.keys })
  } finally {
    await store.close()
  }
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
 * then the LevelDB store (level-store.ts), loaded into memory.
 */
export async function openStore(options: OpenStoreOptions): Promise<LoggedStore> {
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
