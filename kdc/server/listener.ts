/**
 * One process, one port (docs/internals.md): a node:http server with a ws WebSocketServer in
 * noServer mode. The upgrade is accepted only on path /v1, only while the connection count is below
 * the cap (HTTP 503 otherwise) and not while draining. GET /healthz answers JSON (503 while
 * draining); GET /metrics answers Prometheus text. ws options follow house style B5:
 * maxPayload = MAX_FRAME_BYTES (checked at the length prefix, before buffering; close 1009),
 * perMessageDeflate off. Slow or silent handshakes are cut by the http server's header timeout.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { MAX_FRAME_BYTES } from '../protocol/index.js'
import { adminDeps, kdcStatus } from './admin-exchange.js'
import { InflightTracker, serveConnection, CLOSE } from './connection.js'
import type { KdcContext } from './context.js'
import { Dispatcher } from './dispatch.js'

export const WS_PATH = '/v1'

export interface Listener {
  /** ws://HOST:PORT/v1 with the real port. */
  readonly url: string
  readonly port: number
  /** Stop accepting, drain in-flight requests (bounded), close every connection. */
  shutdown(): Promise<{ drained: boolean }>
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length}\r\n\r\n${reason}`,
  )
  socket.destroy()
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

/** Start listening; resolves once the port is bound. */
export async function startListener(ctx: KdcContext): Promise<Listener> {
  const limits = ctx.config.limits
  let draining = false
  let nextConn = 1
  const inflight = new InflightTracker()
  const dispatcher = new Dispatcher(ctx, adminDeps(ctx))
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FRAME_BYTES,
    perMessageDeflate: false,
    clientTracking: true,
  })

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res
        .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' })
        .end('method not allowed\n')
      return
    }
    if (path === '/healthz') {
      const status = kdcStatus(ctx)
      const body = JSON.stringify({
        status: draining ? 'draining' : 'ok',
        realm: status.realm,
        version: status.version,
        role: status.role,
        node: status.node,
        policyVersion: status.policyVersion,
        uptimeSeconds: status.uptimeSeconds,
        connections: wss.clients.size,
      })
      res
        .writeHead(draining ? 503 : 200, {
          'content-type': 'application/json',
          'cache-control': 'no-store',
        })
        .end(body)
      return
    }
    if (path === '/metrics') {
      ctx.metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType }).end(text)
        },
        (err: unknown) => {
          ctx.log.error({ err: String(err) }, 'metrics collection failed')
          res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n')
        },
      )
      return
    }
    res
      .writeHead(404, { 'content-type': 'text/plain' })
      .end(`not found; the KDC speaks WebSocket at ${WS_PATH}\n`)
  }

  const server: Server = createServer(
    {
      headersTimeout: limits.handshakeTimeoutMs,
      requestTimeout: limits.handshakeTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, limits.handshakeTimeoutMs),
      keepAliveTimeout: 5_000,
    },
    onRequest,
  )
  // A hard backstop on raw sockets (upgrades are capped precisely below).
  server.maxConnections = limits.maxConnections * 2 + 64
  /** Open WebSocket connections per client address (entries leave at 0). */
  const perAddress = new Map<string, number>()

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {
      socket.destroy()
    })
    const path = (req.url ?? '').split('?')[0]
    if (path !== WS_PATH) {
      refuseUpgrade(socket, 404, 'Not Found')
      return
    }
    if (draining) {
      ctx.metrics.rejectedConnections.inc({ reason: 'draining' })
      refuseUpgrade(socket, 503, 'Service Unavailable')
      return
    }
    // handleUpgrade completes synchronously (no verifyClient), so clients.size is exact here.
    if (wss.clients.size >= limits.maxConnections) {
      ctx.metrics.rejectedConnections.inc({ reason: 'connection_cap' })
      refuseUpgrade(socket, 503, 'Service Unavailable')
      return
    }
    const address = clientAddress(req.socket.remoteAddress)
    const fromAddress = perAddress.get(address) ?? 0
    if (fromAddress >= limits.maxConnectionsPerAddress) {
      ctx.metrics.rejectedConnections.inc({ reason: 'address_cap' })
      refuseUpgrade(socket, 503, 'Service Unavailable')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const conn = nextConn++
      const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? 0}`
      perAddress.set(address, (perAddress.get(address) ?? 0) + 1)
      ws.once('close', () => {
        const left = (perAddress.get(address) ?? 1) - 1
        if (left > 0) perAddress.set(address, left)
        else perAddress.delete(address)
      })
      ctx.metrics.connections.inc()
      serveConnection({ ctx, dispatcher, inflight, draining: () => draining }, ws, { conn, remote })
    })
  })
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')
    socket.destroy()
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(ctx.config.port, ctx.config.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  const url = `ws://${formatHost(ctx.config.host)}:${port}${WS_PATH}`

  return {
    url,
    port,
    async shutdown() {
      // Keep listening while draining: /healthz answers 503 (load balancers and probes see the
      // drain rather than a refused connection), /metrics still answers, and new WebSocket
      // upgrades are refused with 503. The port closes once the drain is over.
      draining = true
      const drained = await inflight.idle(limits.drainTimeoutMs)
      for (const ws of wss.clients) ws.close(CLOSE.GOING_AWAY, 'KDC shutting down')
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          for (const ws of wss.clients) ws.terminate()
          resolve()
        }, 1_000)
        wss.close(() => {
          clearTimeout(timer)
          resolve()
        })
      })
      // Bounded: a socket that ignores the close must not hold the process up.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2_000)
        timer.unref()
        server.close(() => {
          clearTimeout(timer)
          resolve()
        })
        server.closeAllConnections()
      })
      return { drained }
    },
  }
}

/**
 * What the per-address connection cap counts: an IPv4 address (an IPv4-mapped IPv6 address is its
 * IPv4 address), or the /64 prefix of an IPv6 address, since one IPv6 host usually holds a whole
 * /64 and could otherwise open connections from as many addresses as it likes.
 */
export function clientAddress(remote: string | undefined): string {
  if (remote === undefined) return '?'
  if (remote.startsWith('::ffff:') && remote.includes('.')) return remote.slice(7)
  if (!remote.includes(':')) return remote
  const address = remote.split('%')[0] as string // no zone id
  const [head = '', tail] = address.split('::')
  const front = head === '' ? [] : head.split(':')
  const back = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups =
    tail === undefined
      ? front
      : [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back]
  const prefix = groups.slice(0, 4).map((g) => (Number.parseInt(g, 16) || 0).toString(16))
  return `${prefix.join(':')}::/64`
}
