import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { ADMIN_KEY, backends, startTestPlatform, type TestPlatform } from './support.ts'

/** Sends raw bytes on a fresh connection and collects what the server answers until it closes. */
function exchange(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    let received = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk) => (received += chunk))
    socket.on('error', reject)
    socket.on('close', () => resolve(received))
    socket.write(bytes)
  })
}

const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))

for (const backend of backends()) {
  describe(`slow and malformed clients (${backend})`, () => {
    let t: TestPlatform

    before(async () => {
      // Tiny deadlines so a stalled request ends quickly; the test waits for "ended", not for a time.
      t = await startTestPlatform(backend, { OPENPNC_REQUEST_TIMEOUT_MS: '300', OPENPNC_HEADERS_TIMEOUT_MS: '200' }, { listen: true })
    })
    after(() => t.close())

    test('a request whose body stalls halfway is answered 408 in our envelope and its connection closed', async () => {
      const answer = await exchange(
        t.url,
        `POST /admin/v1/organizations HTTP/1.1\r\nHost: x\r\nX-API-Key: ${ADMIN_KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"name": "sl`,
      )
      assert.match(answer, /^HTTP\/1\.1 408 /)
      assert.equal(bodyOf(answer).error.code, 'request_timeout')
    })

    test('a stalled body after an early answer (no API key) ends the connection without a second answer', async () => {
      const answer = await exchange(
        t.url,
        'POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id": "sl',
      )
      assert.match(answer, /^HTTP\/1\.1 401 /)
      assert.equal(answer.match(/HTTP\/1\.1/g)?.length, 1)
    })

    test('headers that never finish are answered 408 as well', async () => {
      const answer = await exchange(t.url, 'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: still')
      assert.match(answer, /^HTTP\/1\.1 408 /)
    })

    test("a request that is not HTTP is a 400 in our envelope; under /ocpi in OCPI's", async () => {
      const rest = await exchange(t.url, 'GET /v1/users HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n')
      assert.match(rest, /^HTTP\/1\.1 400 /)
      assert.equal(bodyOf(rest).error.code, 'malformed_request')
      const ocpi = await exchange(t.url, 'GET /ocpi/emsp/versions HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n')
      assert.match(ocpi, /^HTTP\/1\.1 400 /)
      assert.equal(bodyOf(ocpi).status_code, 2001)
    })

    test('a request arriving whole in time is served as usual', async () => {
      const answer = await exchange(t.url, 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
      assert.match(answer, /^HTTP\/1\.1 200 /)
    })
  })
}
