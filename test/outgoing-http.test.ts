import assert from 'node:assert/strict'
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net'
import { createServer, type Server } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { loadConfig } from '../src/config.ts'
import { nonPublicAddressClass, OutgoingHttp, OutgoingHttpError, type OutgoingFailure } from '../src/infra/http/outgoing.ts'
import { ocpiCall, OcpiClientError } from '../src/protocols/ocpi/client.ts'

describe('address classification', () => {
  test('loopback, private, link-local, CGNAT, unspecified, multicast and reserved IPv4 addresses are not public', () => {
    const cases: Array<[string, string]> = [
      ['127.0.0.1', 'loopback'],
      ['127.255.0.9', 'loopback'],
      ['0.0.0.0', 'unspecified'],
      ['10.1.2.3', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'],
      ['100.64.0.1', 'carrier-grade NAT'],
      ['100.127.255.254', 'carrier-grade NAT'],
      ['169.254.169.254', 'link-local'],
      ['224.0.0.251', 'multicast'],
      ['239.255.255.250', 'multicast'],
      ['255.255.255.255', 'reserved'],
      ['240.0.0.1', 'reserved'],
      ['192.0.2.10', 'documentation'],
      ['198.18.0.1', 'reserved'],
    ]
    for (const [address, expected] of cases) assert.equal(nonPublicAddressClass(address), expected, address)
  })

  test('public IPv4 addresses next to those ranges are public', () => {
    for (const address of [
      '8.8.8.8',
      '1.1.1.1',
      '172.15.255.255',
      '172.32.0.1',
      '100.63.255.255',
      '100.128.0.1',
      '11.0.0.1',
      '193.0.2.1',
    ]) {
      assert.equal(nonPublicAddressClass(address), null, address)
    }
  })

  test('IPv6 loopback, unspecified, link-local, unique-local and multicast addresses are not public', () => {
    const cases: Array<[string, string]> = [
      ['::1', 'loopback'],
      ['[::1]', 'loopback'],
      ['::', 'unspecified'],
      ['fe80::1', 'link-local'],
      ['fe80::1%eth0', 'link-local'],
      ['fc00::1', 'unique-local'],
      ['fd12:3456:789a::1', 'unique-local'],
      ['ff02::1', 'multicast'],
      ['2001:db8::1', 'documentation'],
      ['::127.0.0.1', 'reserved'],
      ['100::1', 'reserved'],
    ]
    for (const [address, expected] of cases) assert.equal(nonPublicAddressClass(address), expected, address)
  })

  test('an IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4) is judged by the IPv4 address', () => {
    assert.equal(nonPublicAddressClass('::ffff:127.0.0.1'), 'loopback')
    assert.equal(nonPublicAddressClass('::ffff:7f00:1'), 'loopback')
    assert.equal(nonPublicAddressClass('::ffff:10.0.0.1'), 'private')
    assert.equal(nonPublicAddressClass('::ffff:a9fe:a9fe'), 'link-local')
    assert.equal(nonPublicAddressClass('64:ff9b::7f00:1'), 'loopback')
    assert.equal(nonPublicAddressClass('2002:c0a8:0101::1'), 'private')
    assert.equal(nonPublicAddressClass('::ffff:8.8.8.8'), null)
    assert.equal(nonPublicAddressClass('64:ff9b::808:808'), null)
  })

  test('global unicast IPv6 addresses are public', () => {
    for (const address of ['2a00:1450:4001:80b::200e', '2606:4700:4700::1111', '2001:4860:4860::8888']) {
      assert.equal(nonPublicAddressClass(address), null, address)
    }
  })

  test('what is not an IP address is never treated as public', () => {
    assert.equal(nonPublicAddressClass('localhost'), 'reserved')
    assert.equal(nonPublicAddressClass(''), 'reserved')
  })
})

describe('outgoing settings', () => {
  test('private partner URLs are refused unless configured, and the limits have defaults', () => {
    const config = loadConfig({})
    assert.equal(config.allowPrivatePartnerUrls, false)
    assert.equal(config.partnerAnswerMaxBytes, 8 * 1024 * 1024)
    assert.equal(config.partnerTimeoutMs, 10_000)
    assert.equal(loadConfig({ OPENPNC_ALLOW_PRIVATE_PARTNER_URLS: 'true' }).allowPrivatePartnerUrls, true)
  })

  test('a bad value stops the start naming the variable', () => {
    assert.throws(() => loadConfig({ OPENPNC_ALLOW_PRIVATE_PARTNER_URLS: 'sometimes' }), /OPENPNC_ALLOW_PRIVATE_PARTNER_URLS/)
    assert.throws(() => loadConfig({ OPENPNC_PARTNER_ANSWER_MAX_BYTES: '10' }), /OPENPNC_PARTNER_ANSWER_MAX_BYTES/)
    assert.throws(() => loadConfig({ OPENPNC_PARTNER_TIMEOUT_MS: 'soon' }), /OPENPNC_PARTNER_TIMEOUT_MS/)
  })
})

const SECRET = 'internal-service-secret-4711'

describe('the outgoing policy against listeners on 127.0.0.1', () => {
  let server: Server
  let base: string
  let hits = 0
  let silent: TcpServer
  let silentPort: number
  const silentSockets = new Set<Socket>()
  const open = new OutgoingHttp({ allowPrivateAddresses: true, maxAnswerBytes: 64 * 1024, timeoutMs: 1000 })
  const strict = new OutgoingHttp({ allowPrivateAddresses: false, maxAnswerBytes: 64 * 1024, timeoutMs: 1000 })

  before(async () => {
    server = createServer((request, response) => {
      hits++
      const path = request.url ?? '/'
      if (path === '/ok') return response.end(JSON.stringify({ data: { hello: 'world' }, status_code: 1000, timestamp: 'now' }))
      if (path === '/big-announced') {
        response.writeHead(200, { 'content-length': String(1024 * 1024) })
        return response.end(Buffer.alloc(1024 * 1024, 120))
      }
      if (path === '/big-streamed') {
        // no Content-Length: the size shows only while reading
        response.writeHead(200)
        let sent = 0
        const more = () => {
          while (sent < 64) {
            sent++
            if (!response.write(Buffer.alloc(16 * 1024, 120))) return response.once('drain', more)
          }
          response.end()
        }
        return more()
      }
      if (path === '/drip') {
        // headers at once, then a byte now and then, for ever
        response.writeHead(200)
        const timer = setInterval(() => response.write('x'), 20)
        return response.on('close', () => clearInterval(timer))
      }
      if (path === '/redirect') {
        response.writeHead(302, { location: `${base}/ok` })
        return response.end()
      }
      response.writeHead(502, { 'content-type': 'application/json' })
      response.end(JSON.stringify({ status_code: 3000, status_message: SECRET, timestamp: 'now' }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address() as { port: number }
    base = `http://127.0.0.1:${address.port}`
    // An open port that never speaks HTTP.
    silent = createTcpServer((socket) => {
      silentSockets.add(socket.on('error', () => {}))
    })
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    silentPort = (silent.address() as { port: number }).port
  })

  after(async () => {
    await open.close()
    await strict.close()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    for (const socket of silentSockets) socket.destroy()
    await new Promise((resolve) => silent.close(resolve))
  })

  const failure = async (http: OutgoingHttp, url: string): Promise<OutgoingHttpError> => {
    try {
      await http.request(url, { method: 'GET' })
    } catch (error) {
      assert.ok(error instanceof OutgoingHttpError, `an OutgoingHttpError, not ${error}`)
      return error
    }
    assert.fail(`${url} was answered`)
  }
  const refusedAs = async (http: OutgoingHttp, url: string, expected: OutgoingFailure, message: RegExp) => {
    const error = await failure(http, url)
    assert.equal(error.failure, expected)
    assert.match(error.message, message)
    assert.doesNotMatch(error.message, new RegExp(SECRET))
  }

  test('with private addresses allowed, a loopback partner is answered', async () => {
    const answer = await open.request(`${base}/ok`, { method: 'GET' })
    assert.equal(answer.statusCode, 200)
    assert.deepEqual(JSON.parse(answer.body.toString()).data, { hello: 'world' })
  })

  test('with private addresses refused, loopback is refused by address, by name and as IPv4-mapped IPv6, and nothing is sent', async () => {
    const before = hits
    const port = new URL(base).port
    await refusedAs(strict, `${base}/ok`, 'address_not_allowed', /^target address 127\.0\.0\.1 is not allowed \(loopback\)$/)
    // a name is judged by the addresses it resolves to, when connecting
    await refusedAs(strict, `http://localhost:${port}/ok`, 'address_not_allowed', /^target address (127\.0\.0\.1|::1) is not allowed/)
    await refusedAs(strict, `http://[::ffff:127.0.0.1]:${port}/ok`, 'address_not_allowed', /is not allowed \(loopback\)/)
    await refusedAs(strict, `http://0.0.0.0:${port}/ok`, 'address_not_allowed', /target address 0\.0\.0\.0 is not allowed \(unspecified\)/)
    await refusedAs(strict, `http://2130706433:${port}/ok`, 'address_not_allowed', /127\.0\.0\.1 is not allowed/)
    assert.equal(hits, before, 'the listener was never reached')
  })

  test('only http and https are spoken', async () => {
    await refusedAs(open, 'file:passwd', 'scheme_not_allowed', /scheme file is not allowed/)
    await refusedAs(open, 'ftp://127.0.0.1/x', 'scheme_not_allowed', /scheme ftp is not allowed/)
    await refusedAs(open, 'not a url', 'invalid_url', /not a valid URL/)
  })

  test('an answer over the size limit is abandoned, whether announced or streamed', async () => {
    await refusedAs(open, `${base}/big-announced`, 'too_large', /^answer larger than 65536 bytes$/)
    await refusedAs(open, `${base}/big-streamed`, 'too_large', /^answer larger than 65536 bytes$/)
  })

  test('an answer that drips holds the call no longer than the deadline', async () => {
    await refusedAs(open, `${base}/drip`, 'timeout', /^no complete answer within 1000 ms$/)
  })

  test('a redirect is not followed but named as the failure', async () => {
    const before = hits
    await refusedAs(open, `${base}/redirect`, 'redirect', /^HTTP 302 redirect not followed$/)
    assert.equal(hits, before + 1, 'the target of the redirect was not fetched')
  })

  test('a closed port and an open port that speaks no HTTP both fail as unreachable', async () => {
    const probe = createTcpServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const closedPort = (probe.address() as { port: number }).port
    await new Promise((resolve) => probe.close(resolve))
    await refusedAs(open, `http://127.0.0.1:${closedPort}/`, 'unreachable', /^no answer/)
    const silentFailure = await failure(open, `http://127.0.0.1:${silentPort}/`)
    assert.ok(['unreachable', 'timeout'].includes(silentFailure.failure), silentFailure.failure)
  })

  test("the OCPI client names an HTTP error without quoting the partner's answer", async () => {
    await assert.rejects(ocpiCall('GET', `${base}/fails`, { http: open, token: 'abc', style: 'base64' }), (error: unknown) => {
      assert.ok(error instanceof OcpiClientError)
      assert.equal(error.failure, 'http_status')
      assert.equal(error.httpStatus, 502)
      assert.equal(error.reason, 'HTTP 502 from partner (OCPI status 3000)')
      assert.doesNotMatch(error.message, new RegExp(SECRET))
      return true
    })
  })

  test('the OCPI client passes a refusal of the policy on as its failure class', async () => {
    await assert.rejects(ocpiCall('GET', `${base}/ok`, { http: strict, token: 'abc', style: 'base64' }), (error: unknown) => {
      assert.ok(error instanceof OcpiClientError)
      assert.equal(error.failure, 'address_not_allowed')
      assert.ok(error.refusedByPolicy)
      return true
    })
  })
})
