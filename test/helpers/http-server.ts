/**
 * Start and stop a node:http server on a loopback address for tests (loopback only: house rule).
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** Listen on 127.0.0.1 on any free port; resolves with the port. */
export async function listenLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve()
    })
  })
  return (server.address() as AddressInfo).port
}

/** Drop every open connection and close the server. */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve()
    })
  })
}
