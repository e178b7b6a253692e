/**
 * HTTP clients for tests that must control the bytes: a raw HTTP/1.1 request over a socket, and an
 * HTTP/2 request over a fresh cleartext session. Loopback only, each bounded in time.
 */
import { connect as h2connect } from 'node:http2'
import { connect } from 'node:net'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
}

/**
 * Write `head` (request line and headers, without the blank line) and `body` on a fresh connection
 * to 127.0.0.1:`port` and read the response until the server closes it. Bounded by `timeoutMs`.
 */
export function rawRequest(
  port: number,
  head: string,
  body: Buffer | string = '',
  timeoutMs = 5000,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no complete response within ${timeoutMs} ms`))
    }, timeoutMs)
    const done = (): void => {
      clearTimeout(timer)
      try {
        resolve(parseRawResponse(Buffer.concat(chunks).toString('latin1')))
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)))
      }
    }
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', () => undefined) // a reset after the answer: keep what arrived
    socket.on('close', done)
    socket.on('connect', () => {
      socket.write(`${head}\r\n\r\n`)
      if (body.length > 0) socket.write(body)
    })
  })
}

/** Parse an HTTP/1.1 response read whole (latin1), de-chunking its body. */
export function parseRawResponse(text: string): RawResponse {
  const split = text.indexOf('\r\n\r\n')
  if (split < 0) throw new Error(`no response: ${JSON.stringify(text)}`)
  const lines = text.slice(0, split).split('\r\n')
  const status = Number((lines[0] ?? '').split(' ')[1])
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return { status, headers, body: decodeBody(text.slice(split + 4), headers) }
}

function decodeBody(text: string, headers: Record<string, string>): string {
  if (headers['transfer-encoding'] !== 'chunked') return text
  let out = ''
  let rest = text
  for (let i = 0; i < 1000; i++) {
    const eol = rest.indexOf('\r\n')
    if (eol < 0) break
    const size = parseInt(rest.slice(0, eol), 16)
    if (!(size > 0)) break
    out += rest.slice(eol + 2, eol + 2 + size)
    rest = rest.slice(eol + 4 + size)
  }
  return out
}

export interface H2RequestOptions {
  /** Sent as DATA frames. */
  readonly body?: string
  /** Leave the request stream open after `body` (a body that never ends). */
  readonly unfinished?: boolean
  readonly timeoutMs?: number
}

/**
 * One HTTP/2 request (`headers` include the pseudo-headers, ':method' defaulting to GET) over a
 * fresh cleartext session to 127.0.0.1:`port`; resolves with the status and body. Bounded.
 */
export function h2Request(
  port: number,
  headers: Record<string, string>,
  options: H2RequestOptions = {},
): Promise<{ status: number; body: string }> {
  const timeoutMs = options.timeoutMs ?? 5000
  return new Promise((resolve, reject) => {
    const session = h2connect(`http://127.0.0.1:${port}`)
    const timer = setTimeout(() => {
      session.destroy()
      reject(new Error(`no HTTP/2 response within ${timeoutMs} ms`))
    }, timeoutMs)
    session.on('error', (err: Error) => {
      clearTimeout(timer)
      reject(err)
    })
    const stream = session.request({ ':method': 'GET', ...headers })
    stream.on('error', () => undefined) // the server may reset an unread stream
    let status = 0
    let body = ''
    stream.setEncoding('utf8')
    stream.on('response', (h) => {
      status = Number(h[':status'])
    })
    stream.on('data', (d: string) => {
      body += d
    })
    stream.on('end', () => {
      clearTimeout(timer)
      if (options.unfinished === true) session.destroy()
      else session.close()
      resolve({ status, body })
    })
    if (options.unfinished === true) stream.write(options.body ?? '')
    else stream.end(options.body)
  })
}
