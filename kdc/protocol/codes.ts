/**
 * The error catalogue (house style B4): stable string codes, append-only wire numbers, a kind,
 * whether retrying can help, and a default message that says what to do. Messages may change at
 * any time; codes and wire numbers never do. test/vectors/error-codes.json only grows, and
 * test/unit/catalogue.test.ts cross-checks this table against it and against docs/errors.md.
 */

export type ErrorKind = 'proto' | 'kdc' | 'ap' | 'internal' | 'client' | 'admin'

interface CodeEntry {
  readonly wire: number | null
  readonly kind: ErrorKind
  readonly retry: boolean
  readonly message: string
}

export const CODES = Object.freeze({
  ERR_PROTO_MALFORMED: {
    wire: 100,
    kind: 'proto',
    retry: false,
    message: 'the message is not well-formed; check the sender implements docs/protocol.md',
  },
  ERR_PROTO_VERSION: {
    wire: 101,
    kind: 'proto',
    retry: false,
    message: 'unsupported protocol version; upgrade the older side',
  },
  ERR_PROTO_TOO_LARGE: {
    wire: 102,
    kind: 'proto',
    retry: false,
    message: 'a frame, field or nesting depth exceeds its limit (docs/protocol.md §9)',
  },
  ERR_PROTO_UNEXPECTED: {
    wire: 103,
    kind: 'proto',
    retry: false,
    message: 'a valid message of the wrong type was sent at this point',
  },
  ERR_PROTO_NON_CANONICAL: {
    wire: 104,
    kind: 'proto',
    retry: false,
    message: 'the encoding is not canonical msgpack (docs/protocol.md §2); use minimal encodings',
  },
  ERR_KDC_PRINCIPAL_UNKNOWN: {
    wire: 200,
    kind: 'kdc',
    retry: false,
    message:
      'the named principal is not registered; register it with `tessera-admin principal add`',
  },
  ERR_KDC_PREAUTH_REQUIRED: {
    wire: 201,
    kind: 'kdc',
    retry: false,
    message: 'pre-authentication is required',
  },
  ERR_KDC_PREAUTH_FAILED: {
    wire: 202,
    kind: 'kdc',
    retry: false,
    message:
      'login failed: the principal is unknown or the keytab key is wrong or outdated; export a fresh keytab',
  },
  ERR_KDC_POLICY: {
    wire: 203,
    kind: 'kdc',
    retry: false,
    message:
      'policy does not allow this call or these scopes; check with `tessera-admin policy check CALLER TARGET`',
  },
  ERR_KDC_BAD_LIFETIME: {
    wire: 204,
    kind: 'kdc',
    retry: false,
    message: 'the requested ticket lifetime can never be valid',
  },
  ERR_KDC_RATE_LIMITED: {
    wire: 205,
    kind: 'kdc',
    retry: true,
    message: 'too many requests; back off and retry',
  },
  ERR_KDC_PRINCIPAL_DISABLED: {
    wire: 206,
    kind: 'kdc',
    retry: false,
    message:
      'the caller or the target is disabled; enable it with `tessera-admin principal enable`',
  },
  ERR_KDC_CLIENT_REVOKED: {
    wire: 207,
    kind: 'kdc',
    retry: false,
    message:
      'the ticket-granting ticket belongs to a principal that was deleted or registered again since it was issued; log in again with the current keytab (the client SDK does this by itself)',
  },
  ERR_AP_BAD_INTEGRITY: {
    wire: 300,
    kind: 'ap',
    retry: false,
    message: 'a sealed part failed to open: tampered, truncated, or sealed with another key',
  },
  ERR_AP_TKT_EXPIRED: {
    wire: 301,
    kind: 'ap',
    retry: true,
    message: 'the ticket has expired; the client fetches a new one',
  },
  ERR_AP_TKT_NOT_YET_VALID: {
    wire: 302,
    kind: 'ap',
    retry: false,
    message: 'the ticket is not valid yet; check the clocks of the KDC and this host',
  },
  ERR_AP_SKEW: {
    wire: 303,
    kind: 'ap',
    retry: true,
    message: 'the clocks differ by more than the allowed skew; synchronise them (NTP)',
  },
  ERR_AP_REPLAY: {
    wire: 304,
    kind: 'ap',
    retry: false,
    message: 'this authenticator was already used; every request needs a fresh one',
  },
  ERR_AP_NOT_US: {
    wire: 305,
    kind: 'ap',
    retry: false,
    message: 'the ticket was issued for another service',
  },
  ERR_AP_BAD_KVNO: {
    wire: 306,
    kind: 'ap',
    retry: true,
    message: 'no key with this version in the keytab; export a fresh keytab for the service',
  },
  ERR_AP_BAD_MATCH: {
    wire: 307,
    kind: 'ap',
    retry: false,
    message: 'the authenticator does not belong to this ticket',
  },
  ERR_AP_REQUEST_MISMATCH: {
    wire: 308,
    kind: 'ap',
    retry: false,
    message: 'the authenticator was made for another request (method, host, path or body differ)',
  },
  ERR_AP_SCOPE: {
    wire: 309,
    kind: 'ap',
    retry: false,
    message: 'the ticket lacks a scope this route requires; grant it in the policy',
  },
  ERR_AP_NO_CREDENTIALS: {
    wire: 310,
    kind: 'ap',
    retry: false,
    message: 'no Tessera credentials were presented',
  },
  ERR_ADMIN_FORBIDDEN: {
    wire: 400,
    kind: 'admin',
    retry: false,
    message: 'this principal may not perform this admin operation; check the admin ACL',
  },
  ERR_ADMIN_NOT_FOUND: {
    wire: 401,
    kind: 'admin',
    retry: false,
    message: 'no such principal; list them with `tessera-admin principal list`',
  },
  ERR_ADMIN_EXISTS: {
    wire: 402,
    kind: 'admin',
    retry: false,
    message: 'a principal with this name already exists',
  },
  ERR_ADMIN_INVALID: {
    wire: 403,
    kind: 'admin',
    retry: false,
    message: 'the admin request is invalid',
  },
  ERR_ADMIN_NOT_WRITER: {
    wire: 404,
    kind: 'admin',
    retry: true,
    message: 'this KDC node is not the writer; send admin writes to the writer',
  },
  ERR_KDC_INTERNAL: {
    wire: 500,
    kind: 'internal',
    retry: false,
    message: 'internal KDC error; the KDC log has the details',
  },
  ERR_KDC_UNAVAILABLE: {
    wire: 503,
    kind: 'internal',
    retry: true,
    message: 'the KDC is unavailable (starting, shutting down or its store is failing); retry',
  },
  ERR_CLIENT_TIMEOUT: {
    wire: null,
    kind: 'client',
    retry: true,
    message: 'no KDC answered in time; check the KDC endpoints and the network',
  },
  ERR_CLIENT_CLOSED: {
    wire: null,
    kind: 'client',
    retry: true,
    message: 'the connection closed before a reply arrived',
  },
  ERR_CLIENT_UNREACHABLE: {
    wire: null,
    kind: 'client',
    retry: true,
    message: 'no KDC endpoint could be reached; check --kdc / TESSERA_KDC and that a KDC runs',
  },
  ERR_CLIENT_REPLY_MISMATCH: {
    wire: null,
    kind: 'client',
    retry: false,
    message: 'the reply does not match the request (nonce, id or names differ)',
  },
  ERR_CLIENT_MUTUAL_FAILED: {
    wire: null,
    kind: 'client',
    retry: false,
    message: 'the service failed mutual authentication (bad or missing AP-REP)',
  },
  ERR_CLIENT_KEYTAB: {
    wire: null,
    kind: 'client',
    retry: false,
    message:
      'the keytab file is unreadable or invalid; export it again with `tessera-admin keytab export`',
  },
} as const satisfies Record<string, CodeEntry>)

export type ErrorCode = keyof typeof CODES

const byWire = new Map<number, ErrorCode>()
for (const [code, entry] of Object.entries(CODES) as [ErrorCode, CodeEntry][]) {
  if (entry.wire !== null) byWire.set(entry.wire, code)
}

/** The code for a received wire number; an unknown number is ERR_PROTO_MALFORMED (house style B4). */
export function codeFromWire(wire: number): ErrorCode {
  return byWire.get(wire) ?? 'ERR_PROTO_MALFORMED'
}

/** True when the argument is a code in the catalogue. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(CODES, value)
}
