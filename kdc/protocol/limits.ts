/**
 * Every wire limit and protocol constant, one named constant each, with its unit in the name
 * (house style B5). docs/protocol.md §9 lists the same values; test/unit/kdc/protocol/limits.test.ts
 * checks the two agree. Wire-format constants are not configurable; operational limits in
 * kdc/server/config.ts may only tighten the values here.
 */

/** The only protocol version. It fixes the cipher suite: there is no algorithm field anywhere. */
export const PROTOCOL_VERSION = 1

/** Largest frame (one WebSocket message, or one decoded AP-REQ) in bytes. */
export const MAX_FRAME_BYTES = 65_536
/** Largest msgpack str in bytes, anywhere. Message schemas set tighter per-field limits. */
export const MAX_STR_BYTES = 4_096
/** Largest msgpack bin in bytes, anywhere. */
export const MAX_BIN_BYTES = 65_536
/** Most items in one msgpack array. */
export const MAX_ARRAY_ITEMS = 4_096
/** Deepest array nesting; the outermost array is depth 1. */
export const MAX_NESTING_DEPTH = 8

/** Long-term keys, session keys and derived subkeys are 32 bytes. */
export const KEY_BYTES = 32
/** XChaCha20-Poly1305 nonce. */
export const NONCE_BYTES = 24
/** Poly1305 tag. */
export const TAG_BYTES = 16
/** Random request nonces (AS, TGS) and ticket ids. */
export const REQUEST_NONCE_BYTES = 16
export const TICKET_ID_BYTES = 16
/** Request hashes (BLAKE2b-256) and body hashes (SHA-256): 32 bytes each. */
export const HASH_BYTES = 32
/** Largest sealed object (nonce ‖ ciphertext ‖ tag) in an AS/TGS/AP message. */
export const MAX_SEALED_BYTES = 8_192
/** Largest sealed admin payload. */
export const MAX_ADMIN_SEALED_BYTES = 60_000

/** Principal names: 1..63 bytes, see principal.ts. */
export const MAX_PRINCIPAL_BYTES = 63
/** Realm names: 1..63 bytes. */
export const MAX_REALM_BYTES = 63
/** A scope: 1..64 bytes. */
export const MAX_SCOPE_BYTES = 64
/** Scopes in one ticket, rule or request. */
export const MAX_SCOPES = 32
/** Groups a principal may belong to. */
export const MAX_GROUPS = 32

/** Largest uint on the wire (times, counters, kvnos, ids): below 2^32. */
export const MAX_UINT32 = 0xffff_ffff

/** Allowed clock difference between a sender's timestamp and the receiver's clock. */
export const MAX_CLOCK_SKEW_S = 300
/** Realm maximum ticket lifetimes and defaults (docs/protocol.md §7). */
export const MAX_TICKET_LIFETIME_S = 86_400
export const DEFAULT_TGT_LIFETIME_S = 3_600
export const DEFAULT_SERVICE_TICKET_LIFETIME_S = 900
/** Shortest lifetime the KDC issues: anything shorter is ERR_KDC_BAD_LIFETIME. */
export const MIN_TICKET_LIFETIME_S = 60

/** Anti-replay sliding window per ticket, in counters (docs/protocol.md §6.4). */
export const REPLAY_WINDOW_COUNTERS = 1_024

/** Reserved principal names. */
export const TGS_PRINCIPAL = 'krbtgt'
export const ADMIN_PRINCIPAL = 'kadmin'
