/**
 * How tessera-admin fails: one CliError type with an exit code, a stable code and a hint, printed
 * as `tessera-admin: error: <what>` and `hint: <what to do>` on stderr (house style B5, CLI row).
 * The KDC's ERROR frames carry only a wire code, so the hint is made here from the code and what
 * the CLI knows (the URLs tried, the keytab used, the principal named).
 */
import { isBrokerError, type ErrorCode } from '../protocol/index.js'

/** Exit codes (docs/cli.md). */
export const EXIT = Object.freeze({
  /** Done. For `policy check`: the call is allowed. */
  OK: 0,
  /** The KDC refused the operation, or a local step (writing a file) failed. */
  FAILED: 1,
  /** Bad command line or bad input file; nothing was sent. */
  USAGE: 2,
  /** `policy check`: the policy denies the call. */
  DENIED: 3,
  /** No KDC could be reached (refused, timed out, closed). */
  UNAVAILABLE: 4,
} as const)

export type ExitCode = (typeof EXIT)[keyof typeof EXIT]

/** Codes of failures found by the CLI itself, next to the catalogue's. */
export type CliCode = 'ERR_CLI_USAGE' | 'ERR_CLI_POLICY_FILE' | 'ERR_CLI_IO'

/** What the CLI knows when it explains a failure. */
export interface HintContext {
  readonly kdcUrls: readonly string[]
  readonly keytabPath: string
  /** The principal the command is about, if any. */
  readonly name?: string | undefined
  /** The admin principal (from the keytab), once known. */
  readonly admin?: string | undefined
}

export class CliError extends Error {
  override readonly name = 'CliError'
  readonly code: ErrorCode | CliCode
  readonly hint: string
  readonly exitCode: ExitCode

  constructor(
    code: ErrorCode | CliCode,
    message: string,
    hint: string,
    exitCode: ExitCode,
    cause?: unknown,
  ) {
    super(message, { cause })
    this.code = code
    this.hint = hint
    this.exitCode = exitCode
  }
}

const START_KDC =
  'start one with `npm start` (or `tessera-kdc start --data DIR --listen 127.0.0.1:7088`), or point --kdc / TESSERA_KDC at a running KDC'
const PROTOCOL_SKEW =
  'the KDC and this tessera-admin disagree on the protocol; run the same Tessera version on both'

function unreachable(ctx: HintContext): string {
  return `tried ${ctx.kdcUrls.join(', ')}; ${START_KDC}`
}

function adminKeytabRefused(ctx: HintContext): string {
  return `the KDC does not accept the admin keytab ${ctx.keytabPath} (unknown principal or outdated key); use the realm's current admin keytab (a new realm writes DATA/admin.keytab) via --keytab or TESSERA_KEYTAB`
}

/** One hint per catalogue code: the compiler makes sure none is missing. */
export const HINTS: Readonly<Record<ErrorCode, (ctx: HintContext) => string>> = Object.freeze({
  ERR_PROTO_MALFORMED: () => PROTOCOL_SKEW,
  ERR_PROTO_VERSION: () => PROTOCOL_SKEW,
  ERR_PROTO_TOO_LARGE: () =>
    'the request or reply exceeds a protocol limit; split a large policy or list with --group',
  ERR_PROTO_UNEXPECTED: () => PROTOCOL_SKEW,
  ERR_PROTO_NON_CANONICAL: () => PROTOCOL_SKEW,
  ERR_KDC_PRINCIPAL_UNKNOWN: adminKeytabRefused,
  ERR_KDC_PREAUTH_REQUIRED: adminKeytabRefused,
  ERR_KDC_PREAUTH_FAILED: adminKeytabRefused,
  ERR_KDC_POLICY: () =>
    'the KDC refused an admin ticket; admin tickets need no policy rule, so check the KDC version and log',
  ERR_KDC_BAD_LIFETIME: () => PROTOCOL_SKEW,
  ERR_KDC_RATE_LIMITED: () => 'the KDC is rate-limiting this principal; wait a moment and retry',
  ERR_KDC_PRINCIPAL_DISABLED: (ctx) =>
    `the admin principal${ctx.admin === undefined ? '' : ` ${ctx.admin}`} is disabled; another admin can run \`tessera-admin principal enable NAME\``,
  ERR_KDC_CLIENT_REVOKED: (ctx) =>
    `the admin principal${ctx.admin === undefined ? '' : ` ${ctx.admin}`} was deleted or registered again while this command ran; export its keytab again if it was re-created, then rerun`,
  ERR_AP_BAD_INTEGRITY: () =>
    'a sealed reply failed to open; check --kdc points at the realm the admin keytab belongs to',
  ERR_AP_TKT_EXPIRED: () => 'the admin ticket expired mid-command; run the command again',
  ERR_AP_TKT_NOT_YET_VALID: () => "synchronise this host's clock with the KDC's (NTP)",
  ERR_AP_SKEW: () => "synchronise this host's clock with the KDC's (NTP)",
  ERR_AP_REPLAY: () =>
    'run the command again; if it persists, check for a proxy that resends frames',
  ERR_AP_NOT_US: () => PROTOCOL_SKEW,
  ERR_AP_BAD_KVNO: () => 'the KDC rotated a key mid-command; run the command again',
  ERR_AP_BAD_MATCH: () => PROTOCOL_SKEW,
  ERR_AP_REQUEST_MISMATCH: () => PROTOCOL_SKEW,
  ERR_AP_SCOPE: () => PROTOCOL_SKEW,
  ERR_AP_NO_CREDENTIALS: () => PROTOCOL_SKEW,
  ERR_ADMIN_FORBIDDEN: (ctx) =>
    `${ctx.admin ?? 'the admin keytab principal'} is not in group 'admins' (members of 'admin-readers' may only list, show, check and read status); use an admin's keytab with --keytab or TESSERA_KEYTAB`,
  ERR_ADMIN_NOT_FOUND: (ctx) =>
    ctx.name === undefined
      ? 'see `tessera-admin principal list`, or register it with `tessera-admin principal add NAME`'
      : `'${ctx.name}' is not registered; see \`tessera-admin principal list\`, or register it with \`tessera-admin principal add ${ctx.name}\``,
  ERR_ADMIN_EXISTS: (ctx) =>
    ctx.name === undefined
      ? 'see `tessera-admin principal show NAME`, or get its keys with `tessera-admin keytab export NAME --out FILE`'
      : `'${ctx.name}' is already registered; see \`tessera-admin principal show ${ctx.name}\`, or get its keys with \`tessera-admin keytab export ${ctx.name} --out FILE\``,
  ERR_ADMIN_INVALID: () =>
    "the KDC refused the request: krbtgt and kadmin cannot be added, disabled, deleted or exported, an admin cannot disable or delete itself, and the last enabled member of 'admins' cannot be disabled or deleted",
  ERR_ADMIN_NOT_WRITER: () =>
    'this KDC node is not the writer; send admin writes to the writer with --kdc WRITER_URL',
  ERR_KDC_INTERNAL: () =>
    "the KDC failed internally; its log (JSON lines on the KDC's stdout) has the details",
  ERR_KDC_UNAVAILABLE: () =>
    'the KDC is starting, stopping, or its store is failing; retry shortly and check the KDC log',
  ERR_CLIENT_TIMEOUT: unreachable,
  ERR_CLIENT_CLOSED: unreachable,
  ERR_CLIENT_UNREACHABLE: unreachable,
  ERR_CLIENT_REPLY_MISMATCH: () =>
    'the reply does not answer this request; check --kdc points at a Tessera KDC and retry',
  ERR_CLIENT_MUTUAL_FAILED: () =>
    'the KDC failed to prove its identity; check --kdc points at the right KDC',
  ERR_CLIENT_KEYTAB: (ctx) =>
    `cannot use the admin keytab ${ctx.keytabPath}; pass --keytab FILE or set TESSERA_KEYTAB (\`npm start\` creates ./var/kdc/admin.keytab)`,
})

const UNAVAILABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ERR_CLIENT_TIMEOUT',
  'ERR_CLIENT_CLOSED',
  'ERR_CLIENT_UNREACHABLE',
])

/** The exit code for a catalogue error. */
export function exitCodeFor(code: ErrorCode): ExitCode {
  return UNAVAILABLE_CODES.has(code) ? EXIT.UNAVAILABLE : EXIT.FAILED
}

const SPECIFIC_MESSAGES: Partial<
  Record<ErrorCode, (ctx: HintContext, fallback: string) => string | undefined>
> = {
  ERR_CLIENT_TIMEOUT: (ctx) => `cannot reach a KDC at ${ctx.kdcUrls.join(', ')}`,
  ERR_CLIENT_CLOSED: (ctx) => `cannot reach a KDC at ${ctx.kdcUrls.join(', ')}`,
  ERR_CLIENT_UNREACHABLE: (ctx) => `cannot reach a KDC at ${ctx.kdcUrls.join(', ')}`,
  ERR_ADMIN_NOT_FOUND: (ctx) =>
    ctx.name === undefined ? undefined : `no principal named '${ctx.name}'`,
  ERR_ADMIN_EXISTS: (ctx) =>
    ctx.name === undefined ? undefined : `principal '${ctx.name}' already exists`,
  ERR_ADMIN_FORBIDDEN: (ctx) =>
    `${ctx.admin ?? 'this principal'} may not perform this admin operation`,
}

/**
 * Message for a catalogue error, made specific where the CLI knows more than the wire said; the
 * code is always named, so scripts and people can look it up (docs/errors.md).
 */
function messageFor(code: ErrorCode, fallback: string, ctx: HintContext): string {
  const specific = SPECIFIC_MESSAGES[code]?.(ctx, fallback)
  return `${specific ?? fallback} (${code})`
}

/** Turn anything thrown into a CliError with a hint. */
export function toCliError(err: unknown, ctx: HintContext): CliError {
  if (err instanceof CliError) return err
  if (isBrokerError(err)) {
    return new CliError(
      err.code,
      messageFor(err.code, err.message, ctx),
      HINTS[err.code](ctx),
      exitCodeFor(err.code),
      err,
    )
  }
  const message = err instanceof Error ? err.message : String(err)
  return new CliError(
    'ERR_CLI_IO',
    message,
    'this looks like a bug in tessera-admin; please report it with the command you ran',
    EXIT.FAILED,
    err,
  )
}

/** A usage error (bad argument): nothing was sent. */
export function usageError(message: string, hint: string): CliError {
  return new CliError('ERR_CLI_USAGE', message, hint, EXIT.USAGE)
}
