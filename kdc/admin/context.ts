/**
 * What every command shares: the global options resolved (flag, then environment, then default),
 * the output mode, one admin session per run (opened on first use), and typed admin calls built
 * and checked with the protocol's own schemas (kdc/protocol/admin-ops.ts).
 */
import {
  buildAdminRequest,
  parseAdminReply,
  type AdminOp,
  type AdminRequest,
  type AdminRequestOf,
  type AdminResults,
  type WireValue,
} from '../protocol/index.js'
import { kdcEndpoints } from '../../client/options.js'
import { CliError, toCliError, usageError, type HintContext } from './errors.js'

/** The default KDC endpoint when neither --kdc nor TESSERA_KDC is given. */
export const DEFAULT_KDC_URL = 'ws://127.0.0.1:7088/v1'
/** The default admin keytab: where `npm start` (tessera-kdc start --data ./var/kdc) puts it. */
export const DEFAULT_ADMIN_KEYTAB = './var/kdc/admin.keytab'

/** An authenticated channel to the admin service of a KDC. */
export interface AdminChannel {
  /** The admin principal (from the keytab). */
  readonly principal: string
  /** Send one request payload; resolves with the reply payload, rejects with BrokerError. */
  call(request: WireValue): Promise<WireValue>
  close(): Promise<void>
}

/** Opens an AdminChannel; the real one logs in through client/ (session.ts). */
export type Connect = (kdcUrls: readonly string[], keytabPath: string) => Promise<AdminChannel>

/** Global options as commander hands them over. */
export interface GlobalOptions {
  readonly kdc?: readonly string[]
  readonly keytab?: string
  readonly json?: boolean
}

/** Where output goes; tests substitute buffers. */
export interface Io {
  readonly stdout: (text: string) => void
  readonly stderr: (text: string) => void
  readonly env: Readonly<Record<string, string | undefined>>
}

/** Resolve the KDC URLs: --kdc (repeatable, comma lists allowed), else TESSERA_KDC, else default. */
export function resolveKdcUrls(
  flags: readonly string[] | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  const split = (s: string): string[] =>
    s
      .split(',')
      .map((u) => u.trim())
      .filter((u) => u !== '')
  const fromFlags = (flags ?? []).flatMap(split)
  if (fromFlags.length > 0) return fromFlags
  const fromEnv = split(env.TESSERA_KDC ?? '')
  return fromEnv.length > 0 ? fromEnv : [DEFAULT_KDC_URL]
}

/** Resolve the admin keytab path: --keytab, else TESSERA_KEYTAB, else the default. */
export function resolveKeytabPath(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string {
  if (flag !== undefined && flag !== '') return flag
  const fromEnv = env.TESSERA_KEYTAB
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_ADMIN_KEYTAB
}

export class CommandContext {
  readonly json: boolean
  readonly kdcUrls: readonly string[]
  readonly keytabPath: string
  readonly io: Io
  /** The principal the current command is about, for messages and hints. */
  subject: string | undefined
  #channel: AdminChannel | undefined
  readonly #connect: Connect

  constructor(options: GlobalOptions, io: Io, connect: Connect) {
    this.json = options.json === true
    this.kdcUrls = resolveKdcUrls(options.kdc, io.env)
    this.keytabPath = resolveKeytabPath(options.keytab, io.env)
    this.io = io
    this.#connect = connect
  }

  hintContext(): HintContext {
    return {
      kdcUrls: this.kdcUrls,
      keytabPath: this.keytabPath,
      name: this.subject,
      admin: this.#channel?.principal,
    }
  }

  /** Run one admin operation; every failure becomes a CliError with a hint. */
  async call<O extends AdminOp>(request: AdminRequestOf<O>): Promise<AdminResults[O]> {
    try {
      this.#channel ??= await this.#connect(this.#checkedUrls(), this.keytabPath)
      // AdminRequestOf<O> is one member of AdminRequest; TypeScript cannot see that for a generic O.
      const reply = await this.#channel.call(buildAdminRequest(request as AdminRequest))
      return parseAdminReply<O>(request.op, reply)
    } catch (err) {
      throw err instanceof CliError ? err : toCliError(err, this.hintContext())
    }
  }

  /** The KDC URLs, checked as the client SDK will: a malformed one is a usage error (exit 2). */
  #checkedUrls(): string[] {
    try {
      return kdcEndpoints([...this.kdcUrls])
    } catch (err) {
      throw usageError(
        err instanceof Error ? err.message : String(err),
        'give the KDC as ws://HOST:PORT/v1 (or wss://) in --kdc or TESSERA_KDC',
      )
    }
  }

  /** Print a JSON document (one line) on stdout. */
  printJson(value: unknown): void {
    this.io.stdout(`${JSON.stringify(value)}\n`)
  }

  print(text: string): void {
    this.io.stdout(text.endsWith('\n') ? text : `${text}\n`)
  }

  async close(): Promise<void> {
    const ch = this.#channel
    this.#channel = undefined
    if (ch !== undefined) await ch.close().catch(() => undefined)
  }
}
