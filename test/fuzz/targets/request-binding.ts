/**
 * Differential: service-sdk/request-binding.ts RequestHasher, the verifier's in-heap request hash,
 * against kdc/protocol httpRequestHash, which the client SDK uses: any difference refuses a valid
 * request. Also splitUrl (BrokerError only), canonicalMethod, and authority() vs canonicalAuthority.
 */
import { canonicalAuthority, httpRequestHash } from '../../../kdc/protocol/index.js'
import { canonicalMethod, RequestHasher, splitUrl } from '../../../service-sdk/request-binding.js'
import { attempt, describeError, FuzzFailure, label, sameBytes, type Target } from '../harness.js'
import type { Rng } from '../rng.js'

/** Pieces of methods, hosts and targets: ASCII, Latin-1 (what node hands over for raw bytes), BMP, astral. */
const URL_PIECES = [
  '/',
  'orders',
  '?id=7',
  '&x=',
  '%20',
  '%ZZ',
  '#frag',
  ' ',
  '\t',
  '*',
  '..',
  '//',
  'é',
  'ÿ',
  '\u0080',
  '\u00a0',
  'Ω',
  '日本',
  '😀',
  '\u0000',
  '\u007f',
  'http://',
  'https://',
  'HTTP://',
  'orders.internal',
  'orders.internal:8443',
  '[::1]',
  ':80',
  ':443',
  ':99999',
  '@',
]
const METHODS = [
  'GET',
  'get',
  'Post',
  'DELETE',
  'PATCH',
  'M-SEARCH',
  'ß',
  'ǆ',
  'ﬀ',
  'i̇',
  'GET ',
  '',
]
const HOSTS = [
  'orders.internal',
  'ORDERS.Internal:80',
  'orders.internal:443',
  'orders.internal:8443',
  '[::1]:80',
  'İ.example',
  'ß.example',
  '',
]

function piecewise(rng: Rng, max: number): string {
  let s = ''
  for (let n = rng.int(max + 1); n > 0; n--) s += rng.pick(URL_PIECES)
  return s
}

/**
 * A string of about `length` UTF-16 units drawn from one class, around the msgpack str header
 * widths. Whole code points only: a lone surrogate cannot arrive in a request (node hands over
 * Latin-1, a URL is percent-encoded), and msgpackr itself encodes one inconsistently (CESU-8 in
 * strings under 64 characters, U+FFFD above).
 */
function longString(rng: Rng): string {
  const length = rng.pick([31, 32, 63, 64, 255, 256, 1000, 65_535, 65_536])
  const unit = rng.pick(['a', 'é', '日', '😀'])
  return unit.repeat(Math.max(1, Math.floor(length / unit.length)))
}

interface BindingCall {
  readonly method: string
  readonly host: string
  readonly url: string
  readonly body: string
}

export const requestBindingTarget: Target = {
  name: 'request-binding',
  summary:
    "service-sdk RequestHasher (the verifier's in-heap request hash) vs kdc/protocol httpRequestHash; splitUrl, canonicalMethod, authority() vs canonicalAuthority",
  setup() {
    const hasher = new RequestHasher()
    return {
      next(r) {
        const call: BindingCall = {
          method: r.chance(0.8) ? r.pick(METHODS) : piecewise(r, 3),
          host: r.chance(0.7) ? r.pick(HOSTS) : piecewise(r, 3),
          url: (r.chance(0.5) ? '/' : '') + (r.chance(0.1) ? longString(r) : piecewise(r, 8)),
          body: Buffer.from(r.bytes(32)).toString('hex'),
        }
        return { input: JSON.stringify(call), origin: 'request fields' }
      },
      run(c) {
        const call = JSON.parse(c.input as string) as BindingCall
        const bodyHashBytes = new Uint8Array(Buffer.from(call.body, 'hex'))
        let method: string
        try {
          method = canonicalMethod(call.method)
        } catch (err) {
          throw new FuzzFailure('canonicalMethod threw', describeError(err))
        }
        const authority = hasher.authority(call.host)
        if (authority !== canonicalAuthority(call.host)) {
          throw new FuzzFailure('RequestHasher.authority differs from canonicalAuthority')
        }
        const split = attempt('splitUrl', () => splitUrl(call.url), ['ERR_AP_REQUEST_MISMATCH'])
        const target = split.ok ? split.value.target : call.url
        const form = { method, authority, target, bodyHash: bodyHashBytes }
        const want = httpRequestHash(form)
        const got = hasher.digest(method, authority, target, bodyHashBytes)
        if (!sameBytes(got, want)) {
          throw new FuzzFailure(
            "the verifier's request hash differs from the client's httpRequestHash for the same request (a valid request would be refused)",
            `method ${JSON.stringify(method)}, authority ${JSON.stringify(authority)}, target ${JSON.stringify(target.slice(0, 200))} (${target.length} chars)`,
          )
        }
        return `splitUrl:${label(split)}`
      },
    }
  },
}
