import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import type { IncomingHttpHeaders } from 'node:http'
import { BlockList, isIP } from 'node:net'
import { Agent, buildConnector, request } from 'undici'

/**
 * The one policy for HTTP calls to URLs a partner gave us (OCPI versions, endpoints, token pushes,
 * location pulls; later Hubject calls and webhooks). Whoever holds a Token A chooses such a URL, so
 * a call must not become a way into our own network or a way to hold our resources:
 * - only http and https, and only public unicast addresses, checked on the addresses a name
 *   resolves to at connect time (so a name that re-resolves to 127.0.0.1 cannot slip through),
 *   unless private addresses are allowed (sandboxes, tests);
 * - one deadline for the whole call (headers and body), and a ceiling on the answer's size;
 * - no redirects: a 3xx is a failure that names it.
 * Errors name the failure, never the partner's body.
 */

// ---------- address classification (pure)

/** Why an address is not a public unicast address. */
export type AddressClass =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'carrier-grade NAT'
  | 'link-local'
  | 'unique-local'
  | 'site-local'
  | 'multicast'
  | 'documentation'
  | 'reserved'

const IPV4_RANGES: Array<[string, number, AddressClass]> = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'carrier-grade NAT'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  // includes the broadcast address 255.255.255.255
  ['240.0.0.0', 4, 'reserved'],
]

// IPv6 outside 2000::/3 (global unicast) is never public; these name the common cases.
const IPV6_RANGES: Array<[string, number, AddressClass]> = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'site-local'],
  ['ff00::', 8, 'multicast'],
  ['2001:db8::', 32, 'documentation'],
  // NAT64 for local use (RFC 8215)
  ['64:ff9b:1::', 48, 'private'],
]

function blockList(ranges: Array<[string, number, AddressClass]>, family: 'ipv4' | 'ipv6') {
  return ranges.map(([network, prefix, name]) => {
    const list = new BlockList()
    list.addSubnet(network, prefix, family)
    return { list, name }
  })
}

const IPV4_CLASSES = blockList(IPV4_RANGES, 'ipv4')
const IPV6_CLASSES = blockList(IPV6_RANGES, 'ipv6')
const GLOBAL_UNICAST_V6 = new BlockList()
GLOBAL_UNICAST_V6.addSubnet('2000::', 3, 'ipv6')

/** The eight 16-bit groups of a valid IPv6 address (zone removed, a trailing dotted quad folded). */
function ipv6Groups(address: string): number[] {
  const text = address
    .split('%')[0]!
    .replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) => `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`)
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined]
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : [])
  const first = parse(head)
  const last = parse(tail)
  return tail === undefined ? first : [...first, ...new Array(8 - first.length - last.length).fill(0), ...last]
}

/** The IPv4 address an IPv6 one stands for: IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96), 6to4 (2002::/16). */
function embeddedIpv4(groups: number[]): string | undefined {
  const quad = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`
  const zeros = (from: number, to: number) => groups.slice(from, to).every((g) => g === 0)
  if (zeros(0, 5) && groups[5] === 0xffff) return quad(groups[6]!, groups[7]!)
  if (groups[0] === 0x64 && groups[1] === 0xff9b && zeros(2, 6)) return quad(groups[6]!, groups[7]!)
  if (groups[0] === 0x2002) return quad(groups[1]!, groups[2]!)
  return undefined
}

/**
 * Why `address` (an IP literal) is not a public unicast address, or null when it is one.
 * An IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4) is judged by the IPv4 address.
 * Something that is not an IP address at all is 'reserved': never connect to what we cannot judge.
 */
export function nonPublicAddressClass(address: string): AddressClass | null {
  const plain = address.replace(/^\[|\]$/g, '')
  const family = isIP(plain)
  if (family === 4) return IPV4_CLASSES.find((c) => c.list.check(plain, 'ipv4'))?.name ?? null
  if (family !== 6) return 'reserved'
  const withoutZone = plain.split('%')[0]!
  const groups = ipv6Groups(withoutZone)
  const v4 = embeddedIpv4(groups)
  if (v4) return nonPublicAddressClass(v4)
  const named = IPV6_CLASSES.find((c) => c.list.check(withoutZone, 'ipv6'))?.name
  if (named) return named
  // IPv4-compatible (::a.b.c.d, deprecated), discard-only and the rest outside global unicast
  return GLOBAL_UNICAST_V6.check(withoutZone, 'ipv6') ? null : 'reserved'
}

// ---------- the HTTP client

export interface OutgoingPolicy {
  /** connect to loopback, private, link-local ... addresses too (sandboxes and tests only) */
  allowPrivateAddresses: boolean
  /** an answer's body may be at most this long */
  maxAnswerBytes: number
  /** the whole call, from connecting to the last byte of the answer */
  timeoutMs: number
  /**
   * TLS for https targets (PEM): our client certificate and key for mutual TLS, and the CA that
   * must have signed the server's certificate instead of Node's default roots (Hubject's).
   */
  tls?: { cert?: string | Buffer; key?: string | Buffer; ca?: string | Buffer }
}

/** What went wrong, as a class callers can act on without reading a message. */
export type OutgoingFailure =
  'invalid_url' | 'scheme_not_allowed' | 'address_not_allowed' | 'unreachable' | 'timeout' | 'too_large' | 'redirect'

export class OutgoingHttpError extends Error {
  constructor(
    readonly failure: OutgoingFailure,
    message: string,
  ) {
    super(message)
    this.name = 'OutgoingHttpError'
  }

  /** Refused by our policy before anything was sent: says nothing about the target. */
  get refusedByPolicy() {
    return this.failure === 'invalid_url' || this.failure === 'scheme_not_allowed' || this.failure === 'address_not_allowed'
  }
}

export interface OutgoingRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  headers?: Record<string, string>
  body?: string
  /** this call's deadline instead of the policy's */
  timeoutMs?: number
}

export interface OutgoingAnswer {
  statusCode: number
  headers: IncomingHttpHeaders
  body: Buffer
}

const notAllowed = (address: string, why: AddressClass) =>
  new OutgoingHttpError('address_not_allowed', `target address ${address} is not allowed (${why})`)

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

/** dns.lookup that drops non-public addresses, and fails naming one when nothing else is left. */
function publicOnlyLookup(hostname: string, options: LookupOptions, callback: LookupCallback) {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '')
    const allowed = addresses.filter((a) => nonPublicAddressClass(a.address) === null)
    if (allowed.length === 0) {
      const first = addresses[0]
      return callback(
        first ? notAllowed(first.address, nonPublicAddressClass(first.address)!) : new Error(`${hostname} has no address`),
        '',
      )
    }
    if (options.all) return callback(null, allowed)
    return callback(null, allowed[0]!.address, allowed[0]!.family)
  })
}

/** Stops reading an answer we will not use (its stream then errors, which nobody needs to hear). */
function discard(body: NodeJS.ReadableStream & { destroy(): void }) {
  body.on('error', () => {})
  body.destroy()
}

/** The failure a thrown error stands for (ours, or undici's and the socket's). */
function classify(error: unknown, timedOut: boolean, timeoutMs: number): OutgoingHttpError {
  for (let e = error as { cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e instanceof OutgoingHttpError) return e
  }
  if (timedOut) return new OutgoingHttpError('timeout', `no complete answer within ${timeoutMs} ms`)
  const code = (error as { code?: string }).code
  return new OutgoingHttpError('unreachable', `no answer (${code ?? (error as Error).message})`)
}

/**
 * An HTTP client bound to one outgoing policy. Connections are pooled per origin by its own
 * undici Agent; `close()` ends them.
 */
export class OutgoingHttp {
  private readonly agent: Agent

  constructor(readonly policy: OutgoingPolicy) {
    const allowAll = policy.allowPrivateAddresses
    const connect = buildConnector({
      ...(allowAll ? {} : { lookup: publicOnlyLookup }),
      ...(policy.tls ?? {}),
    } as buildConnector.BuildOptions)
    this.agent = new Agent({
      connect: (options, callback) => {
        // A literal IP address is connected to without a lookup: judge it here.
        const literal = isIP(options.hostname) ? options.hostname : undefined
        const why = !allowAll && literal ? nonPublicAddressClass(literal) : null
        if (why) {
          callback(notAllowed(literal!, why), null)
          return
        }
        connect(options, callback)
      },
    })
  }

  async request(url: string, call: OutgoingRequest): Promise<OutgoingAnswer> {
    let target: URL
    try {
      target = new URL(url)
    } catch {
      throw new OutgoingHttpError('invalid_url', 'not a valid URL')
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      throw new OutgoingHttpError('scheme_not_allowed', `scheme ${target.protocol.replace(/:$/, '')} is not allowed (http or https only)`)
    }
    const timeoutMs = call.timeoutMs ?? this.policy.timeoutMs
    const max = this.policy.maxAnswerBytes
    const deadline = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      deadline.abort()
    }, timeoutMs)
    try {
      const response = await request(target, {
        method: call.method,
        headers: call.headers,
        body: call.body,
        dispatcher: this.agent,
        signal: deadline.signal,
      })
      if (response.statusCode >= 300 && response.statusCode < 400) {
        discard(response.body)
        throw new OutgoingHttpError('redirect', `HTTP ${response.statusCode} redirect not followed`)
      }
      const tooLarge = () => new OutgoingHttpError('too_large', `answer larger than ${max} bytes`)
      const announced = Number(response.headers['content-length'])
      if (announced > max) {
        discard(response.body)
        throw tooLarge()
      }
      const chunks: Buffer[] = []
      let length = 0
      for await (const chunk of response.body) {
        length += (chunk as Buffer).length
        if (length > max) {
          discard(response.body)
          throw tooLarge()
        }
        chunks.push(chunk as Buffer)
      }
      return { statusCode: response.statusCode, headers: response.headers, body: Buffer.concat(chunks, length) }
    } catch (error) {
      throw classify(error, timedOut, timeoutMs)
    } finally {
      clearTimeout(timer)
    }
  }

  async close(): Promise<void> {
    await this.agent.close()
  }
}

// ---------- the rule for a URL a partner gives us (pure)

/**
 * Why a URL a partner gives us (a webhook, an authorization endpoint) is refused when it is
 * registered, or null when it is fine: https only (http too in the sandbox or with private
 * addresses allowed), and no literal loopback, link-local or private address unless allowed.
 * A name that resolves to such an address is caught when connecting (the Agent's lookup).
 */
export function partnerUrlProblem(url: string, rules: { allowHttp: boolean; allowPrivateAddresses: boolean }): string | null {
  let target: URL
  try {
    target = new URL(url)
  } catch {
    return 'must be an absolute URL'
  }
  if (target.protocol !== 'https:' && !(rules.allowHttp && target.protocol === 'http:')) {
    return rules.allowHttp ? 'must be an http or https URL' : 'must be an https URL (http only in the sandbox)'
  }
  if (target.username || target.password) return 'must not carry credentials (user:password@)'
  if (target.hash) return 'must not carry a fragment (#...)'
  if (rules.allowPrivateAddresses) return null
  const host = target.hostname.replace(/^\[|\]$/g, '')
  if (host === 'localhost' || host.endsWith('.localhost')) return 'must not name a loopback address (localhost)'
  if (isIP(host)) {
    const why = nonPublicAddressClass(host)
    if (why) return `must not name a ${why} address (${host})`
  }
  return null
}
