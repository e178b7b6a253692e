// The REAL TypeScript client SDK (dist/client) calling the independent Python service
// (tessera_verifier.py serve), for the conformance run.
//
//   node client.mjs DIST_DIR KDC_URL CLIENT_KEYTAB PY_SERVICE_URL [OTHER_TARGET]
//
// TARGET is "orders" (the Python service's principal; scope orders:read granted, orders:write not);
// OTHER_TARGET (default "inventory") is a second registered service the caller may get tickets for.
// The Python service must run with --test-hooks (the /hook/... routes misbehave on purpose).
// Prints one line per check ("PASS ..." / "FAIL ..."); exits 0 only when all pass.
import http from 'node:http'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const [distDir, kdcUrl, keytab, pyUrl, other = 'inventory'] = process.argv.slice(2)
if (!distDir || !kdcUrl || !keytab || !pyUrl) {
  console.error(
    'usage: node client.mjs DIST_DIR KDC_URL CLIENT_KEYTAB PY_SERVICE_URL [OTHER_TARGET]',
  )
  process.exit(2)
}
const TARGET = 'orders'
const SCOPE = 'orders:read'
const CALLER = 'payments'
const P = 'TS client -> Python service:'

const { TesseraClient } = await import(pathToFileURL(path.join(distDir, 'client', 'index.js')).href)

let failed = 0
const check = (name, ok, detail) => {
  console.log(`${ok ? 'PASS' : 'FAIL'} ${P} ${name}${!ok && detail ? `: ${detail}` : ''}`)
  if (!ok) failed++
  return ok
}
// a behaviour the spec leaves open: recorded, neither passed nor failed
const note = (name) => console.log(`NOTE ${P} ${name}`)
const codeOf = (res) =>
  /error="([A-Z0-9_]+)"/.exec(
    res.headers.get?.('www-authenticate') ?? res.headers['www-authenticate'] ?? '',
  )?.[1]
const errCode = async (p) => {
  try {
    const r = await p
    return { status: r.status, code: codeOf(r), res: r }
  } catch (e) {
    return { thrown: e?.code ?? String(e) }
  }
}

// Send exactly METHOD path with exactly these headers (Host included) over node:http.
const base = new URL(pyUrl)
const raw = ({ method = 'GET', target = '/', headers = {}, body } = {}) =>
  new Promise((resolve, reject) => {
    const h = { host: base.host, ...headers }
    if (body !== undefined) h['content-length'] = Buffer.byteLength(body)
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        method,
        path: target,
        headers: h,
        agent: false,
        timeout: 5000,
      },
      (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode,
            headers: res.headers,
            code: codeOf(res),
            body: Buffer.concat(chunks).toString(),
          }),
        )
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(body)
  })

// Offsets of the parts of an AP-REQ [1, 5, [realm, service, kvno, sealed], authenticator] (§5.5),
// for tampering: only the encodings a real AP-REQ uses (fixstr/str8, fixint/uint8-32, bin8/bin16).
function locate(buf) {
  let p = 0
  const need = (c) => {
    if (!c) throw new Error(`unexpected AP-REQ layout at ${p}`)
  }
  need(buf[p++] === 0x94 && buf[p++] === 0x01 && buf[p++] === 0x05 && buf[p++] === 0x94)
  const str = () => {
    const b = buf[p++]
    const n = (b & 0xe0) === 0xa0 ? b & 0x1f : b === 0xd9 ? buf[p++] : need(false)
    const at = p
    p += n
    return { at, n }
  }
  const uint = () => {
    const at = p
    const b = buf[p++]
    p += b <= 0x7f ? 0 : b === 0xcc ? 1 : b === 0xcd ? 2 : b === 0xce ? 4 : need(false)
    return { at }
  }
  const bin = () => {
    const b = buf[p++]
    let n
    if (b === 0xc4) n = buf[p++]
    else if (b === 0xc5) {
      n = buf.readUInt16BE(p)
      p += 2
    } else need(false)
    const at = p
    p += n
    return { at, n }
  }
  const realm = str()
  const service = str()
  const kvno = uint()
  const ticket = bin()
  const auth = bin()
  need(p === buf.length)
  return { realm, service, kvno, ticket, auth }
}
const tokenOf = (header) => Buffer.from(header.slice('Tessera '.length), 'base64url')
const headerOf = (buf) => `Tessera ${buf.toString('base64url')}`
const tamper = (header, fn) => {
  const buf = tokenOf(header)
  fn(buf, locate(buf))
  return headerOf(buf)
}

const client = await TesseraClient.fromKeytab({ keytab, kdc: [kdcUrl] })
const counters = []
try {
  // 1. an allowed GET through client.fetch
  {
    const r = await errCode(client.fetch(TARGET, `${pyUrl}/orders/7`))
    const j = r.status === 200 ? await r.res.json() : {}
    if (j.ap) counters.push(j.ap.counter)
    check(
      `GET /orders/7 via client.fetch accepted (HTTP ${r.status ?? r.thrown}) as ${JSON.stringify(j.caller)} ${JSON.stringify(j.scopes)}`,
      r.status === 200 &&
        j.caller === CALLER &&
        JSON.stringify(j.scopes) === JSON.stringify([SCOPE]),
      JSON.stringify(j),
    )
    const ap = j.ap ?? {}
    check(
      `what the TS client sent: ${ap.authorizationHeaders} Authorization header starting ${JSON.stringify(ap.authorizationPrefix)}, ` +
        `Tessera-Mutual ${JSON.stringify(ap.mutualHeaders)}; its ticket: kvno ${ap.kvno}, flags ${ap.flags}, ` +
        `kdcCheck ${ap.kdcCheckBytes} bytes, lifetime ${ap.lifetime} s`,
      ap.authorizationHeaders === 1 &&
        ap.authorizationPrefix === 'Tessera ' &&
        ap.mutualHeaders?.length === 0 &&
        ap.flags === 0 &&
        ap.kdcCheckBytes === 0 &&
        ap.apRepSent === false,
      JSON.stringify(ap),
    )
  }

  // 2. a POST with a JSON body
  {
    const body = JSON.stringify({ sku: 'A-1', qty: 2, note: 'ünïcødé' })
    const r = await errCode(
      client.fetch(TARGET, `${pyUrl}/orders?tenant=7`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
      }),
    )
    const j = r.status === 200 ? await r.res.json() : {}
    if (j.ap) counters.push(j.ap.counter)
    check(
      `POST /orders?tenant=7 with a JSON body via client.fetch accepted (HTTP ${r.status ?? r.thrown}) as ${JSON.stringify(j.caller)} ` +
        `${JSON.stringify(j.scopes)}, ${j.bodyBytes} body bytes bound`,
      r.status === 200 &&
        j.caller === CALLER &&
        JSON.stringify(j.scopes) === JSON.stringify([SCOPE]) &&
        j.bodyBytes === Buffer.byteLength(body) &&
        j.method === 'POST',
      JSON.stringify(j),
    )
    const bytes = new TextEncoder().encode('{"raw":true}')
    const r2 = await errCode(
      client.fetch(TARGET, `${pyUrl}/orders/bytes`, { method: 'PUT', body: bytes }),
    )
    const j2 = r2.status === 200 ? await r2.res.json() : {}
    if (j2.ap) counters.push(j2.ap.counter)
    check(
      `PUT with a Uint8Array body accepted (HTTP ${r2.status ?? r2.thrown})`,
      r2.status === 200 && j2.bodyBytes === bytes.length,
    )
  }

  // 3. URL forms: the target and authority the TS client binds must be what fetch sends
  for (const [label, url] of [
    [
      'path with dot segments, spaces and non-ASCII, query, fragment',
      `${pyUrl}/orders/a b/../c%2Fd?q=ä 1&x=/?#frag`,
    ],
    ['upper-case host name, empty path', pyUrl.replace('127.0.0.1', 'LOCALHOST')],
    ['query only', `${pyUrl}?only=query`],
  ]) {
    const r = await errCode(client.fetch(TARGET, url))
    const j = r.status === 200 ? await r.res.json() : {}
    if (j.ap) counters.push(j.ap.counter)
    check(
      `GET ${label} accepted (HTTP ${r.status ?? r.thrown}${r.code ? ' ' + r.code : ''}), bound target ${JSON.stringify(j.url)}`,
      r.status === 200,
    )
  }
  {
    // fetch does not upper-case "patch"; the spec binds the method in upper case (§6.2)
    const r = await errCode(
      client.fetch(TARGET, `${pyUrl}/orders/9`, { method: 'patch', body: 'x' }),
    )
    const j = r.status === 200 ? await r.res.json() : {}
    if (j.ap) counters.push(j.ap.counter)
    check(
      `method 'patch' (sent as ${JSON.stringify(j.method ?? '?')}) accepted (HTTP ${r.status ?? r.thrown}${r.code ? ' ' + r.code : ''})`,
      r.status === 200,
    )
  }

  // 4. mutual authentication: the TS client must accept the Python AP-REP, and refuse bad ones
  {
    const r = await errCode(client.fetch(TARGET, `${pyUrl}/orders/7`, { mutual: true }))
    const j = r.status === 200 ? await r.res.json() : {}
    if (j.ap) counters.push(j.ap.counter)
    check(
      `mutual (init.mutual): HTTP ${r.status ?? r.thrown}, the TS client sent Tessera-Mutual ${JSON.stringify(j.ap?.mutualHeaders)} ` +
        `and accepted the Python Tessera-AP-REP`,
      r.status === 200 &&
        j.ap?.apRepSent === true &&
        JSON.stringify(j.ap?.mutualHeaders) === '["1"]',
      JSON.stringify(r.thrown ?? j),
    )
    const mclient = await TesseraClient.fromKeytab({ keytab, kdc: [kdcUrl], mutual: true })
    try {
      const r2 = await errCode(
        mclient.fetch(TARGET, `${pyUrl}/orders/8`, { method: 'POST', body: '{"a":1}' }),
      )
      const j2 = r2.status === 200 ? await r2.res.json() : {}
      check(
        `mutual (fromKeytab({ mutual: true })): POST accepted (HTTP ${r2.status ?? r2.thrown}) with the Python AP-REP`,
        r2.status === 200 && j2.ap?.apRepSent === true,
        JSON.stringify(r2.thrown ?? j2),
      )
      for (const [hook, want, label] of [
        ['no-ap-rep', 'ERR_CLIENT_MUTUAL_FAILED', 'no AP-REP'],
        ['bad-ap-rep', 'ERR_CLIENT_MUTUAL_FAILED', 'an AP-REP echoing another counter'],
        ['wrong-key-ap-rep', 'ERR_CLIENT_MUTUAL_FAILED', 'an AP-REP sealed with another key'],
        ['prefixed-ap-rep', 200, "an AP-REP after a 'tEsSeRa ' prefix (§5.5: accepted)"],
        ['ap-rep-version-2', 'ERR_CLIENT_MUTUAL_FAILED', 'an AP-REP of version 2'],
        ['ap-rep-type-5', 'ERR_CLIENT_MUTUAL_FAILED', 'an AP-REP of type 5'],
        [
          'ap-rep-swapped-context',
          'ERR_CLIENT_MUTUAL_FAILED',
          'an AP-REP sealed with client and service swapped in its AAD',
        ],
        [
          'padded-ap-rep',
          null,
          "an AP-REP with '=' padding (§5.5 says 'base64url', strictness unspecified for the AP-REP)",
        ],
        ['two-ap-rep-headers', null, 'two identical Tessera-AP-REP headers (unspecified)'],
      ]) {
        const r3 = await errCode(mclient.fetch(TARGET, `${pyUrl}/hook/${hook}`))
        const got = r3.thrown ?? r3.status
        if (want === null) note(`mutual with ${label}: ${got}`)
        else check(`mutual with ${label}: ${got}`, got === want, `want ${want}`)
      }
      // a Tessera refusal needs no AP-REP: the 403 comes back with its own code
      const r4 = await errCode(mclient.fetch(TARGET, `${pyUrl}/write/1`))
      check(
        `mutual on a route needing orders:write: HTTP ${r4.status ?? r4.thrown} ${r4.code ?? ''} returned, not a mutual failure`,
        r4.status === 403 && r4.code === 'ERR_AP_SCOPE',
      )
    } finally {
      mclient.close()
    }
  }

  // 5. the scope the policy does not grant
  {
    const r = await errCode(client.fetch(TARGET, `${pyUrl}/write/1`))
    check(
      `route needing orders:write: HTTP ${r.status ?? r.thrown} ${r.code ?? ''}`,
      r.status === 403 && r.code === 'ERR_AP_SCOPE',
    )
  }

  // 6. raw headers from client.authorization(...)
  const authz = (method, url, body) => client.authorization(TARGET, { method, url, body })
  {
    const h = await authz('GET', `${pyUrl}/orders/11`)
    check(
      `client.authorization gives 'Tessera ', one space and strict base64url (${h.length} chars)`,
      /^Tessera [A-Za-z0-9_-]+$/.test(h) && (h.length - 8) % 4 !== 1 && headerOf(tokenOf(h)) === h,
    )
    const a = await raw({ target: '/orders/11', headers: { authorization: h } })
    const b = await raw({ target: '/orders/11', headers: { authorization: h } })
    check(
      `replayed header: first HTTP ${a.status}, again HTTP ${b.status} ${b.code}`,
      a.status === 200 && b.status === 401 && b.code === 'ERR_AP_REPLAY',
    )
  }
  for (const [label, make, send, want] of [
    [
      'another path',
      () => authz('GET', `${pyUrl}/orders/12`),
      { target: '/orders/13' },
      'ERR_AP_REQUEST_MISMATCH',
    ],
    [
      'another query',
      () => authz('GET', `${pyUrl}/orders?id=1`),
      { target: '/orders?id=2' },
      'ERR_AP_REQUEST_MISMATCH',
    ],
    [
      'another method',
      () => authz('GET', `${pyUrl}/orders/14`),
      { method: 'DELETE', target: '/orders/14' },
      'ERR_AP_REQUEST_MISMATCH',
    ],
    [
      'another body',
      () => authz('POST', `${pyUrl}/orders`, '{"qty":1}'),
      { method: 'POST', target: '/orders', body: '{"qty":2}' },
      'ERR_AP_REQUEST_MISMATCH',
    ],
    [
      'a body where none was bound',
      () => authz('POST', `${pyUrl}/orders`),
      { method: 'POST', target: '/orders', body: '{}' },
      'ERR_AP_REQUEST_MISMATCH',
    ],
    [
      'another authority (localhost vs 127.0.0.1)',
      () => authz('GET', `${pyUrl.replace('127.0.0.1', 'localhost')}/orders/15`),
      { target: '/orders/15' },
      'ERR_AP_REQUEST_MISMATCH',
    ],
    [
      'the same authority in upper case (canonical)',
      () => authz('GET', `${pyUrl}/orders/16`),
      { target: '/orders/16', headers: { host: base.host.toUpperCase() } },
      200,
    ],
    [
      'an absolute-form target',
      () => authz('GET', `${pyUrl}/orders/17`),
      { target: `${pyUrl}/orders/17` },
      200,
    ],
  ]) {
    const h = await make()
    const r = await raw({ ...send, headers: { authorization: h, ...(send.headers ?? {}) } })
    const got = r.status === 200 ? 200 : r.code
    check(
      `header bound to ${label} -> ${send.method ?? 'GET'} ${send.target}: HTTP ${r.status} ${r.code ?? ''}`.trimEnd(),
      got === want,
      `want ${want}`,
    )
  }
  {
    const h = await client.authorization(other, { method: 'GET', url: `${pyUrl}/orders/18` })
    const r = await raw({ target: '/orders/18', headers: { authorization: h } })
    check(
      `header for another service ('${other}'): HTTP ${r.status} ${r.code}`,
      r.status === 401 && r.code === 'ERR_AP_NOT_US',
    )
  }
  for (const [label, fn, want] of [
    [
      'a byte of the sealed ticket flipped',
      (b, l) => (b[l.ticket.at + 30] ^= 0x01),
      'ERR_AP_BAD_INTEGRITY',
    ],
    [
      'a byte of the ticket nonce flipped',
      (b, l) => (b[l.ticket.at] ^= 0x80),
      'ERR_AP_BAD_INTEGRITY',
    ],
    [
      'a byte of the authenticator flipped',
      (b, l) => (b[l.auth.at + 30] ^= 0x01),
      'ERR_AP_BAD_INTEGRITY',
    ],
    [
      'the authenticator tag flipped',
      (b, l) => (b[l.auth.at + l.auth.n - 1] ^= 0x80),
      'ERR_AP_BAD_INTEGRITY',
    ],
    [
      'the clear kvno changed',
      (b, l) => (b[l.kvno.at] = b[l.kvno.at] <= 0x7e ? b[l.kvno.at] + 1 : 0x00),
      'ERR_AP_BAD_KVNO',
    ],
    ['the clear realm changed', (b, l) => (b[l.realm.at + l.realm.n - 1] ^= 0x01), 'ERR_AP_NOT_US'],
    ['the clear service name changed', (b, l) => (b[l.service.at] = 0x70), 'ERR_AP_NOT_US'],
    ['the AP-REQ type changed to 6', (b) => (b[2] = 0x06), 'ERR_PROTO_UNEXPECTED'],
    ['the version changed to 2', (b) => (b[1] = 0x02), 'ERR_PROTO_VERSION'],
  ]) {
    const h = tamper(await authz('GET', `${pyUrl}/orders/19`), fn)
    const r = await raw({ target: '/orders/19', headers: { authorization: h } })
    check(
      `tampered header (${label}): HTTP ${r.status} ${r.code}`,
      r.status === 401 && r.code === want,
      `want ${want}`,
    )
  }
  for (const [label, headers, want] of [
    ['no Authorization header', {}, 'ERR_AP_NO_CREDENTIALS'],
    ['Authorization: Bearer …', { authorization: 'Bearer abc' }, 'ERR_AP_NO_CREDENTIALS'],
    ['Authorization: Tessera (no token)', { authorization: 'Tessera' }, 'ERR_AP_NO_CREDENTIALS'],
    ['a token that is not base64url', { authorization: 'Tessera ab+/' }, 'ERR_PROTO_MALFORMED'],
  ]) {
    const r = await raw({ target: '/orders/20', headers })
    check(
      `${label}: HTTP ${r.status} ${r.code}, body ${JSON.stringify(r.body)}`,
      r.status === 401 && r.code === want && r.body === want,
      `want ${want}`,
    )
  }

  // 7. concurrency: out-of-order counters arrive at the Python replay window
  {
    const rs = await Promise.all(
      Array.from({ length: 24 }, (_, i) => errCode(client.fetch(TARGET, `${pyUrl}/orders/c${i}`))),
    )
    const js = await Promise.all(rs.map((r) => (r.status === 200 ? r.res.json() : {})))
    const cs = js.map((j) => j.ap?.counter)
    check(
      `24 concurrent calls all accepted (counters ${Math.min(...cs)}..${Math.max(...cs)}, ${new Set(cs).size} distinct)`,
      rs.every((r) => r.status === 200) && new Set(cs).size === 24,
      JSON.stringify(rs.map((r) => r.status ?? r.thrown)),
    )
  }

  // 8. the TS client's documented reaction to ERR_AP_BAD_KVNO (docs/api.md): an idempotent call
  // is resent once with a fresh ticket, a POST returns the 401
  {
    const r = await errCode(client.fetch(TARGET, `${pyUrl}/hook/kvno-once/get`))
    check(
      `GET answered ERR_AP_BAD_KVNO once: resent with a fresh ticket, HTTP ${r.status ?? r.thrown}`,
      r.status === 200,
    )
    const p = await errCode(
      client.fetch(TARGET, `${pyUrl}/hook/kvno-once/post`, { method: 'POST', body: '{}' }),
    )
    check(
      `POST answered ERR_AP_BAD_KVNO: not resent, HTTP ${p.status ?? p.thrown} ${p.code ?? ''}`,
      p.status === 401 && p.code === 'ERR_AP_BAD_KVNO',
    )
  }

  console.log(
    `     note: counters the TS client used on its first service ticket, in order: ${counters.join(', ')}`,
  )
} catch (e) {
  check(`aborted: ${e?.code ?? ''} ${e?.stack ?? e}`, false)
} finally {
  client.close()
}
process.exit(failed ? 1 : 0)
