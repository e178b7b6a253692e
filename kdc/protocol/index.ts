/**
 * The shared protocol core: the ONLY module of kdc/ that client/ and service-sdk/ import
 * (house style B2). Normative reference: docs/protocol.md.
 */
export * from './limits.js'
export { CODES, codeFromWire, isErrorCode, type ErrorCode, type ErrorKind } from './codes.js'
export { BrokerError, isBrokerError, fromWire } from './errors.js'
export {
  utf8Encode,
  utf8DecodeStrict,
  concatBytes,
  constantTimeEqual,
  toHex,
  fromHex,
  toBase64Url,
  fromBase64Url,
} from './bytes.js'
export { encode, decode, decodeAuthenticated, type WireValue, type DecodeLimits } from './codec.js'
export {
  cryptoBackend,
  availableBackends,
  useBackend,
  nobleBackend,
  wasmBackend,
  wasmSodium,
  type BackendName,
  type CryptoBackend,
} from './backend.js'
export type { WasmBackend, WasmCalls, WasmSodium } from './backend-wasm.js'
export { LABELS, deriveKey, type Label } from './kdf.js'
export {
  OBJ,
  OBJECT_LABEL,
  buildAad,
  sealBytes,
  openBytes,
  randomNonce,
  type ObjectType,
} from './aead.js'
export * from './principal.js'
export { systemClock, offsetClock, checkSkew, isoTime, clampWireTime, type Clock } from './time.js'
export { canonicalScopes, isAscendingNameList } from './schema.js'
export * from './messages.js'
export * from './ticket.js'
export * from './authenticator.js'
export * from './kdc-parts.js'
export * from './keys.js'
export { randomBytes } from './random.js'
export * from './policy-rules.js'
export * from './admin-ops.js'
