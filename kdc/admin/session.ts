/**
 * The real AdminChannel: log in with the admin keytab through the client SDK's low-level
 * KdcSession (AS, then a TGS for kadmin), then send sealed admin payloads (client/index.ts).
 */
import type { AdminChannel } from './context.js'

export async function connectAdmin(
  kdcUrls: readonly string[],
  keytabPath: string,
): Promise<AdminChannel> {
  await Promise.resolve()
  throw new Error(`client SDK not available yet (${kdcUrls.join(',')}, ${keytabPath})`)
}
