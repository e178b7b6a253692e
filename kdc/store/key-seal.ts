/**
 * Long-term keys at rest (design brief §3): each key version is sealed under the master key's db
 * subkey, deriveKey(masterKey, "tessera/v1/db"), with AAD = buildAad(DB_KEY, [realm, principal,
 * kvno, masterKvno]) and a fresh random nonce (docs/protocol.md §3.3). The AAD pins the record to
 * its place: a sealed key copied to another principal, kvno, realm or master kvno fails to open.
 */
import { BrokerError, OBJ, buildAad, openBytes, sealBytes } from '../protocol/index.js'
import type { MasterKeyring } from './master-key.js'
import type { KeyRecord } from './records.js'
import { KEY_BYTES } from '../protocol/index.js'

function aad(realm: string, principal: string, kvno: number, masterKvno: number): Uint8Array {
  return buildAad(OBJ.DB_KEY, [realm, principal, kvno, masterKvno])
}

/** Seal `key` under the ring's current master key version. */
export function sealKey(
  ring: MasterKeyring,
  realm: string,
  principal: string,
  kvno: number,
  key: Uint8Array,
  createdAt: number,
): KeyRecord {
  const masterKvno = ring.current.kvno
  const subkey = ring.dbSubkey(masterKvno) as Uint8Array
  return {
    masterKvno,
    createdAt,
    sealed: sealBytes(subkey, aad(realm, principal, kvno, masterKvno), key),
  }
}

/**
 * Open a stored key with exactly the master version the record names. An unknown master kvno or a
 * failed open is ERR_KDC_INTERNAL naming the record and the key source (never the key).
 */
export function openKey(
  ring: MasterKeyring,
  realm: string,
  principal: string,
  kvno: number,
  record: KeyRecord,
  storeKey: string,
): Uint8Array {
  const subkey = ring.dbSubkey(record.masterKvno)
  if (subkey === undefined) {
    throw new BrokerError('ERR_KDC_INTERNAL', {
      status: 'MASTER_KEY_UNKNOWN_KVNO',
      message: `store record "${storeKey}" is sealed with master kvno ${record.masterKvno}, which ${ring.describeSource()} does not hold; use the stash that belongs to this store`,
    })
  }
  try {
    return openBytes(
      subkey,
      aad(realm, principal, kvno, record.masterKvno),
      record.sealed,
      KEY_BYTES,
    )
  } catch (err) {
    throw new BrokerError('ERR_KDC_INTERNAL', {
      status: 'MASTER_KEY_MISMATCH',
      message: `cannot unseal store record "${storeKey}" with master kvno ${record.masterKvno} from ${ring.describeSource()}: the master key is wrong or the record is corrupt`,
      cause: err,
    })
  }
}
