// The payments service: Fastify. It CALLS orders with tessera/client, and protects its own API
// with tessera/service.
//
//   PAYMENTS_KEYTAB  keytab of principal "payments" (default var/payments.keytab)
//   TESSERA_KDC      KDC URL(s), comma-separated (default ws://127.0.0.1:7088/v1)
//   ORDERS_URL       default http://127.0.0.1:3001
//   PORT             default 3002
//
// Demo routes (open, for the walkthrough; a real service would not expose these):
//   GET  /demo/charge/:id  reads order :id from orders (allowed by policy: orders:read)
//   POST /demo/refund/:id  asks for an orders:write ticket (NOT allowed: the KDC refuses it)
// Protected route (needs a Tessera ticket for "payments" with scope payments:charge):
//   POST /api/charge
import Fastify from 'fastify'
import { TesseraClient, isBrokerError } from 'tessera/client'
import { TicketVerifier, requireScope, tesseraFastify } from 'tessera/service'

const keytab = process.env.PAYMENTS_KEYTAB ?? 'var/payments.keytab'
const kdc = process.env.TESSERA_KDC ?? 'ws://127.0.0.1:7088/v1'
const ordersUrl = process.env.ORDERS_URL ?? 'http://127.0.0.1:3001'
const port = Number(process.env.PORT ?? 3002)

// One client per process: it logs in once, caches tickets and refreshes them before expiry.
const client = await TesseraClient.fromKeytab({ keytab, kdc })

/** Turn a Tessera failure into a JSON answer that says what happened. */
function refusal(reply, err) {
  if (!isBrokerError(err)) throw err
  const status = err.code === 'ERR_KDC_POLICY' ? 403 : 502
  return reply.code(status).send({ error: err.code, message: err.message })
}

const app = Fastify({ logger: false })

app.get('/demo/charge/:id', async (request, reply) => {
  try {
    // No scopes asked: the ticket carries what policy grants payments -> orders (orders:read).
    const res = await client.fetch('orders', `${ordersUrl}/orders/${request.params.id}`)
    const order = await res.json()
    if (!res.ok) return reply.code(res.status).send({ from: 'orders', ...order })
    return { charged: order.amountCents, currency: order.currency, order }
  } catch (err) {
    return refusal(reply, err)
  }
})

app.post('/demo/refund/:id', async (request, reply) => {
  try {
    // Creating orders needs orders:write, which no rule grants payments: the KDC refuses the ticket.
    const res = await client.fetch('orders', `${ordersUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ item: `refund of ${request.params.id}`, amountCents: -100 }),
      scopes: ['orders:write'],
    })
    return reply.code(res.status).send(await res.text())
  } catch (err) {
    return refusal(reply, err)
  }
})

// The protected part of payments: its own routes verified with its own keytab.
const verifier = await TicketVerifier.fromKeytab({ keytab })
await app.register(async (api) => {
  await api.register(tesseraFastify, { verifier })
  api.post('/api/charge', { preHandler: requireScope('payments:charge') }, async (request) => ({
    accepted: true,
    caller: request.tessera.caller,
  }))
})

await app.listen({ host: '127.0.0.1', port })
console.log(
  `payments listening on http://127.0.0.1:${port} (calls orders at ${ordersUrl}, KDC ${kdc})`,
)

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    client.close()
    verifier.close()
    void app.close()
  })
}
