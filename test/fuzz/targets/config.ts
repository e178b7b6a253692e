/**
 * kdc/server/config.ts buildConfig, parseListen, parseIntegerOption and checkLimit: they return a
 * valid, frozen value or throw the TypeError/RangeError they use for bad input, with their own
 * message; an engine TypeError ("Cannot read properties of…", "… is not a function") is a crash, not
 * validation.
 */
import {
  buildConfig,
  checkLimit,
  LIMIT_BOUNDS,
  parseIntegerOption,
  parseListen,
  type LimitName,
} from '../../../kdc/server/config.js'
import { describeError, FuzzFailure, type Target } from '../harness.js'
import { mutateText } from '../mutate.js'
import type { Rng } from '../rng.js'

/** Messages of errors the engine throws by itself: a crash, not validation. */
const ENGINE_ERROR =
  /^Cannot (read|set) propert|^Cannot convert|is not a function|is not iterable|is not a constructor|^Cannot destructure|Invalid array length|Maximum call stack|Do not know how to serialize|Cannot mix BigInt|Cannot create property|Invalid regular expression/

const LIMIT_NAMES = Object.keys(LIMIT_BOUNDS) as LimitName[]

/** JSON-compatible values (config comes from argv, env and JSON), near and beyond the bounds. */
function randomJsonValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 1 ? 8 : 10)) {
    case 0:
      return rng.pick([
        0,
        -0,
        1,
        -1,
        0.5,
        1e21,
        2 ** 53,
        -(2 ** 53),
        65_535,
        65_536,
        100,
        99,
        1e308,
      ])
    case 1:
      return rng.pick([
        '',
        ' ',
        '0',
        '1',
        '1e3',
        '0x10',
        '007',
        '-1',
        '+1',
        '1.0',
        ' 5',
        '5 ',
        '١٢',
        'NaN',
        'Infinity',
      ])
    case 2:
      return rng.pick([null, true, false])
    case 3:
      return rng.u32()
    case 4:
      return rng.pick([
        '127.0.0.1:7088',
        '[::1]:7088',
        'localhost:0',
        ':7088',
        '127.0.0.1:',
        '[::1]',
        '[]:1',
        'a:65536',
        'a:99999',
        'host:00',
        '[::1]:7088:1',
        'a'.repeat(300) + ':1',
      ])
    case 5:
      return rng.pick([
        'TESSERA.LOCAL',
        'tessera.local',
        'A'.repeat(63),
        'A'.repeat(64),
        '-A',
        'Ä',
        '',
      ])
    case 6:
      return rng.pick(['kdc-1', 'k'.repeat(63), 'k'.repeat(64), '.x', 'a b', '\u0000'])
    case 7:
      return rng.pick(['/tmp/x', '', '.', '\u0000'])
    case 8:
      return Array.from({ length: rng.int(3) }, () => randomJsonValue(rng, depth + 1))
    default: {
      const o: Record<string, unknown> = {}
      for (let i = rng.int(4); i > 0; i--) {
        // No own toString/valueOf: String(value) in the error messages would then throw the
        // engine's "Cannot convert object to primitive value" (still a TypeError, as documented).
        o[rng.chance(0.7) ? rng.pick(LIMIT_NAMES) : rng.pick(['constructor', 'x', ''])] =
          randomJsonValue(rng, depth + 1)
      }
      return o
    }
  }
}

function validConfigInput(rng: Rng): Record<string, unknown> {
  const input: Record<string, unknown> = { dataDir: '/var/lib/tessera' }
  if (rng.chance(0.5)) input.listen = rng.pick(['127.0.0.1:7088', '[::1]:0', 'kdc.example:443'])
  if (rng.chance(0.5)) input.realm = 'TESSERA.LOCAL'
  input.node = 'kdc-1'
  if (rng.chance(0.3)) input.clockOffsetS = rng.pick([0, 3600, -3600])
  const limits: Record<string, unknown> = {}
  for (const name of LIMIT_NAMES) {
    if (rng.chance(0.3)) {
      const b = LIMIT_BOUNDS[name]
      limits[name] = rng.pick([b.min, b.max, b.default])
    }
  }
  input.limits = limits
  return input
}

function mutateConfig(rng: Rng, input: Record<string, unknown>): Record<string, unknown> {
  const out = structuredClone(input)
  const limits = (
    typeof out.limits === 'object' && out.limits !== null ? out.limits : {}
  ) as Record<string, unknown>
  for (let k = rng.small(3); k > 0; k--) {
    if (rng.chance(0.5)) {
      const name = rng.pick(LIMIT_NAMES)
      const b = LIMIT_BOUNDS[name]
      limits[name] = rng.chance(0.6)
        ? rng.pick([b.min - 1, b.max + 1, b.min, b.max, b.min + 0.5, -b.max])
        : randomJsonValue(rng)
    } else {
      const key = rng.pick([
        'dataDir',
        'listen',
        'realm',
        'node',
        'clockOffsetS',
        'limits',
        'extra',
      ])
      if (rng.chance(0.2)) Reflect.deleteProperty(out, key)
      else out[key] = randomJsonValue(rng)
    }
  }
  if (typeof out.limits === 'object' && out.limits !== null && !Array.isArray(out.limits))
    out.limits = limits
  return out
}

interface ConfigCall {
  readonly fn: 'buildConfig' | 'parseListen' | 'parseIntegerOption' | 'checkLimit'
  readonly arg: unknown
  readonly name?: string
}

function isDeepFrozen(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return true
  return Object.isFrozen(v) && Object.values(v).every(isDeepFrozen)
}

function checkConfigResult(call: ConfigCall, value: unknown): void {
  switch (call.fn) {
    case 'buildConfig': {
      const c = value as ReturnType<typeof buildConfig>
      if (!isDeepFrozen(c))
        throw new FuzzFailure('buildConfig returned a config that is not deep-frozen')
      for (const name of LIMIT_NAMES) {
        const v = c.limits[name]
        const b = LIMIT_BOUNDS[name]
        if (!Number.isInteger(v) || v < b.min || v > b.max)
          throw new FuzzFailure(`buildConfig let ${name}=${String(v)} through`)
      }
      if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65_535)
        throw new FuzzFailure(`port ${c.port}`)
      return
    }
    case 'parseListen': {
      const l = value as ReturnType<typeof parseListen>
      if (l.host === '' || !Number.isInteger(l.port) || l.port < 0 || l.port > 65_535) {
        throw new FuzzFailure(`parseListen returned ${JSON.stringify(l)}`)
      }
      return
    }
    case 'parseIntegerOption': {
      const n = value as number
      if (!Number.isSafeInteger(n) || n < 0 || String(n) !== call.arg) {
        throw new FuzzFailure(`parseIntegerOption(${JSON.stringify(call.arg)}) returned ${n}`)
      }
      return
    }
    case 'checkLimit': {
      const b = LIMIT_BOUNDS[call.name as LimitName]
      const n = value as number
      if (!Number.isInteger(n) || n < b.min || n > b.max)
        throw new FuzzFailure(`checkLimit returned ${n}`)
    }
  }
}

export const configTarget: Target = {
  name: 'config',
  summary:
    'kdc/server/config.ts buildConfig / parseListen / parseIntegerOption / checkLimit: TypeError/RangeError of their own, or a valid frozen value',
  setup(rng) {
    const bases = Array.from({ length: 30 }, () => validConfigInput(rng))
    const strings = [
      '127.0.0.1:7088',
      '[::1]:7088',
      '0',
      '65535',
      '900',
      '1000000',
      '123456789012345',
    ]
    return {
      next(r) {
        let call: ConfigCall
        switch (r.int(4)) {
          case 0:
          case 1:
            call = {
              fn: 'buildConfig',
              arg: r.chance(0.1) ? r.pick(bases) : mutateConfig(r, r.pick(bases)),
            }
            break
          case 2: {
            const fn = r.chance(0.5) ? 'parseListen' : 'parseIntegerOption'
            const arg = r.chance(0.5) ? mutateText(r, r.pick(strings), strings) : randomJsonValue(r)
            call = { fn, arg: typeof arg === 'string' ? arg : String(arg) }
            break
          }
          default: {
            const name = r.pick(LIMIT_NAMES)
            const b = LIMIT_BOUNDS[name]
            call = {
              fn: 'checkLimit',
              name,
              arg: r.chance(0.5)
                ? r.pick([b.min - 1, b.min, b.max, b.max + 1, b.default, 1.5])
                : randomJsonValue(r),
            }
          }
        }
        return { input: JSON.stringify(call), origin: call.fn }
      },
      run(c) {
        const call = JSON.parse(c.input as string) as ConfigCall
        let value: unknown
        try {
          switch (call.fn) {
            case 'buildConfig':
              value = buildConfig(call.arg as Parameters<typeof buildConfig>[0])
              break
            case 'parseListen':
              value = parseListen(call.arg as string)
              break
            case 'parseIntegerOption':
              value = parseIntegerOption('--limit', call.arg as string)
              break
            case 'checkLimit':
              value = checkLimit(call.name as LimitName, call.arg)
          }
        } catch (err) {
          if (!(err instanceof TypeError || err instanceof RangeError)) {
            throw new FuzzFailure(
              `${call.fn} threw ${err instanceof Error ? err.name : typeof err}, not TypeError/RangeError`,
              describeError(err),
            )
          }
          if (ENGINE_ERROR.test(err.message)) {
            throw new FuzzFailure(
              `${call.fn} crashed with an engine ${err.name} instead of validating`,
              describeError(err),
            )
          }
          return `${call.fn}:${err.name}`
        }
        checkConfigResult(call, value)
        return `${call.fn}:OK`
      },
    }
  },
}
