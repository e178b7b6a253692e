// The orders service: Express, protected by Tessera (tessera/service).
//
//   ORDERS_KEYTAB  keytab of principal "orders" (default var/orders.keytab), written by
//                  `tessera-admin principal add orders --out var/orders.keytab`
//   PORT           default 3001
//
// Every request must carry `Authorization: Tessera ...` with a ticket for "orders"; tickets are
// verified offline with the keytab (no KDC call per request), and each route requires a scope.
// The keytab is watched: after `tessera-admin key rotate orders` + `keytab export`, no restart.
import express from 'express'
import { TicketVerifier, requireScope, tesseraExpress } from 'tessera/service'

const keytab = process.env.ORDERS_KEYTAB ?? 'var/orders.keytab'
const port = Number(process.env.PORT ?? 3001)

const verifier = await TicketVerifier.fromKeytab({
  keytab,
  onReload: (kvnos) => console.log(`orders: keytab reloaded, kvnos ${kvnos.join(', ')}`),
})

const orders = new Map([
  ['7', { id: '7', item: 'espresso beans, 1 kg', amountCents: 2450, currency: 'EUR' }],
  ['8', { id: '8', item: 'grinder burrs', amountCents: 3900, currency: 'EUR' }],
])

const app = express()
// Mount before any body parser: the middleware hashes the body (the authenticator is bound to it)
// and parses JSON itself.
app.use(tesseraExpress(verifier))

app.get('/orders/:id', requireScope('orders:read'), (req, res) => {
  const order = orders.get(req.params.id)
  if (order === undefined) return res.status(404).json({ error: 'no such order' })
  console.log(
    `orders: ${req.tessera.caller} read order ${order.id} (policy v${req.tessera.policyVersion})`,
  )
  res.json({ ...order, servedTo: req.tessera.caller })
})

app.post('/orders', requireScope('orders:write'), (req, res) => {
  const id = String(orders.size + 7)
  orders.set(id, { id, ...req.body })
  res.status(201).json(orders.get(id))
})

const server = app.listen(port, '127.0.0.1', () => {
  console.log(`orders listening on http://127.0.0.1:${port} (keytab ${keytab})`)
})

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.close()
    verifier.close()
  })
}
