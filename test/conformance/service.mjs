// A tiny node:http service protected by the real service SDK (dist/service-sdk), for the
// conformance run. Usage: node service.mjs DIST_DIR KEYTAB
// Prints "listening PORT" on stdout once bound to 127.0.0.1 (port chosen by the OS).
//   /write...  requires scope orders:write (the policy does not grant it: 403 ERR_AP_SCOPE)
//   anything else requires scope orders:read
// A request that passes answers 200 with JSON {caller, realm, scopes, method, url, bodyBytes}.
import http from 'node:http'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const [distDir, keytab] = process.argv.slice(2)
if (!distDir || !keytab) {
  console.error('usage: node service.mjs DIST_DIR KEYTAB')
  process.exit(2)
}
const sdk = await import(pathToFileURL(path.join(distDir, 'service-sdk', 'index.js')).href)
const verifier = await sdk.TicketVerifier.fromKeytab({ keytab })

const app = (req, res) => {
  const t = req.tessera
  const bodyBytes = req.rawBody ? req.rawBody.length : null
  res.setHeader('content-type', 'application/json')
  res.end(
    JSON.stringify({
      caller: t.caller,
      realm: t.realm,
      scopes: t.scopes,
      method: req.method,
      url: req.url,
      bodyBytes,
    }),
  )
}
const readRoute = sdk.tesseraHandler(verifier, app, { requireScope: 'orders:read' })
const writeRoute = sdk.tesseraHandler(verifier, app, { requireScope: 'orders:write' })

const server = http.createServer((req, res) =>
  req.url.startsWith('/write') ? writeRoute(req, res) : readRoute(req, res),
)
server.listen(0, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`)
})
const stop = () => {
  server.close()
  verifier.close?.()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
