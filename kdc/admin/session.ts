/**
 * The real AdminChannel: the client SDK's low-level KdcSession logs in with the admin keytab (AS),
 * gets a ticket for kadmin (TGS) and seals each admin payload (client/session.ts adminCall). The
 * CLI never opens the store (house style B1).
 */
import { KdcSession } from '../../client/index.js'
import type { AdminChannel } from './context.js'

/** Open an admin channel; the login happens on the first call. */
export function connectAdmin(
  kdcUrls: readonly string[],
  keytabPath: string,
): Promise<AdminChannel> {
  return KdcSession.fromKeytab({ keytab: keytabPath, kdc: kdcUrls, refresh: false }).then(
    (session) => ({
      principal: session.principal,
      call: (request) => session.adminCall(request),
      close: () => {
        session.close()
        return Promise.resolve()
      },
    }),
  )
}
