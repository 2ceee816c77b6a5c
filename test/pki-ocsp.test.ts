// OCSP for the Mobility Operator CA: requests made by `openssl ocsp` (and by pkijs) are read,
// answered and the answers verified by `openssl ocsp` as a relying party would. Pure: no platform.
import { strict as assert } from 'node:assert'
import { createHash, verify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import { FieldRuleError } from '../src/core/errors.ts'
import {
  MalformedOcspRequestError,
  type OcspErrorStatus,
  type OcspSigner,
  type ParsedOcspRequest,
  buildOcspResponse,
  certIdMatchesIssuer,
  issuerHashes,
  ocspErrorResponse,
  parseOcspRequest,
  prepareOcspSigner,
} from '../src/core/pki/ocsp.ts'
import { type Party, type RevocationPki, Scratch, makeRevocationPki, opensslMissing } from './revocation-pki.ts'

const NO_OPENSSL = opensslMissing()
const NONCE_OID = '1.3.6.1.5.5.7.48.1.2'
const REVOKED_AT = new Date('2024-01-02T03:04:05.678Z')
const HOUR = 3600_000

let pki: RevocationPki
let signer: OcspSigner
let scratch: Scratch

before(async () => {
  pki = await makeRevocationPki()
  signer = prepareOcspSigner(pki.ocspSigner.der, pki.ocspSigner.keys.privateKey)
  scratch = new Scratch()
  scratch.writePem('ca.pem', pki.ca)
  scratch.writePem('leaf1.pem', pki.leaf1)
  scratch.writePem('leaf2.pem', pki.leaf2)
})

after(() => scratch?.remove())

/** A request made with pkijs, for the tests that need no `openssl`. */
async function pkijsRequest(leaves: Party[], hashAlgorithm: string, nonce?: Uint8Array): Promise<Buffer> {
  const issuerCertificate = pkijs.Certificate.fromBER(pki.ca.der)
  const request = new pkijs.OCSPRequest()
  for (const leaf of leaves) {
    const reqCert = await pkijs.CertID.create(pkijs.Certificate.fromBER(leaf.der), { hashAlgorithm, issuerCertificate })
    request.tbsRequest.requestList.push(new pkijs.Request({ reqCert }))
  }
  if (nonce) {
    request.tbsRequest.requestExtensions = [
      new pkijs.Extension({ extnID: NONCE_OID, extnValue: new asn1js.OctetString({ valueHex: nonce }).toBER() }),
    ]
  }
  return Buffer.from(request.toSchema(true).toBER())
}

/** An hour's answers, one status per request, produced now. */
function answer(request: ParsedOcspRequest, statuses: Parameters<typeof buildOcspResponse>[0]['responses'][number]['status'][]) {
  const now = new Date()
  return buildOcspResponse({
    signer,
    producedAt: now,
    nonce: request.nonce,
    responses: request.requests.map((item, i) => ({
      request: item,
      status: statuses[i]!,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + HOUR),
    })),
  })
}

function basicResponseOf(der: Buffer): pkijs.BasicOCSPResponse {
  const response = pkijs.OCSPResponse.fromBER(der)
  assert.equal(response.responseStatus.valueBlock.valueDec, 0)
  assert.equal(response.responseBytes?.responseType, '1.3.6.1.5.5.7.48.1.1')
  return pkijs.BasicOCSPResponse.fromBER(response.responseBytes.response.valueBlock.valueHexView)
}

describe('OCSP answers verified by openssl', { skip: NO_OPENSSL }, () => {
  it('answers good, and revoked with the time and the reason, for SHA-1 CertIDs, echoing the nonce', async () => {
    assert.equal(scratch.openssl('ocsp', '-issuer', 'ca.pem', '-cert', 'leaf1.pem', '-cert', 'leaf2.pem', '-reqout', 'sha1.req').status, 0)
    const request = parseOcspRequest(readFileSync(scratch.path('sha1.req')))
    assert.deepEqual(
      request.requests.map((item) => [item.hashAlgorithm, item.serialNumber]),
      [
        ['sha1', pki.leaf1.cert.serialNumber],
        ['sha1', pki.leaf2.cert.serialNumber],
      ],
    )
    assert.ok(request.nonce, 'openssl sends a nonce by default')
    scratch.write(
      'sha1.resp',
      await answer(request, [{ kind: 'good' }, { kind: 'revoked', revokedAt: REVOKED_AT, reason: 'keyCompromise' }]),
    )

    // -no_nonce: otherwise openssl would compare the answer with a fresh request of its own, with a nonce of its own.
    const verdict = scratch.openssl(
      'ocsp',
      '-respin',
      'sha1.resp',
      '-issuer',
      'ca.pem',
      '-CAfile',
      'ca.pem',
      '-no_nonce',
      '-cert',
      'leaf1.pem',
      '-cert',
      'leaf2.pem',
    )
    assert.equal(verdict.status, 0, verdict.output)
    assert.match(verdict.output, /Response verify OK/)
    assert.match(verdict.output, /leaf1\.pem: good/)
    assert.match(verdict.output, /leaf2\.pem: revoked/)
    assert.match(verdict.output, /Reason: keyCompromise/)
    assert.match(verdict.output, /Revocation Time: Jan {2}2 03:04:05 2024 GMT/)

    // Against the request it sent, openssl checks the nonce came back.
    const nonceCheck = scratch.openssl('ocsp', '-reqin', 'sha1.req', '-respin', 'sha1.resp', '-CAfile', 'ca.pem')
    assert.equal(nonceCheck.status, 0, nonceCheck.output)
    assert.match(nonceCheck.output, /Response verify OK/)
    assert.doesNotMatch(nonceCheck.output, /Nonce Verify error|no nonce/i)
  })

  it('answers unknown and good for SHA-256 CertIDs without a nonce', async () => {
    const made = scratch.openssl(
      'ocsp',
      '-issuer',
      'ca.pem',
      '-sha256',
      '-cert',
      'leaf1.pem',
      '-cert',
      'leaf2.pem',
      '-no_nonce',
      '-reqout',
      'sha256.req',
    )
    assert.equal(made.status, 0, made.output)
    const request = parseOcspRequest(readFileSync(scratch.path('sha256.req')))
    assert.deepEqual(
      request.requests.map((item) => item.hashAlgorithm),
      ['sha256', 'sha256'],
    )
    assert.equal(request.nonce, undefined)
    const der = await answer(request, [{ kind: 'unknown' }, { kind: 'good' }])
    assert.equal(basicResponseOf(der).tbsResponseData.responseExtensions, undefined, 'no nonce asked, none sent')
    scratch.write('sha256.resp', der)

    const verdict = scratch.openssl(
      'ocsp',
      '-respin',
      'sha256.resp',
      '-issuer',
      'ca.pem',
      '-CAfile',
      'ca.pem',
      '-no_nonce',
      '-sha256',
      '-cert',
      'leaf1.pem',
      '-cert',
      'leaf2.pem',
    )
    assert.equal(verdict.status, 0, verdict.output)
    assert.match(verdict.output, /Response verify OK/)
    assert.match(verdict.output, /leaf1\.pem: unknown/)
    assert.match(verdict.output, /leaf2\.pem: good/)
  })

  it('answers revoked without a reason when none is given, and openssl reads it', async () => {
    assert.equal(scratch.openssl('ocsp', '-issuer', 'ca.pem', '-cert', 'leaf2.pem', '-no_nonce', '-reqout', 'plain.req').status, 0)
    const request = parseOcspRequest(readFileSync(scratch.path('plain.req')))
    scratch.write('plain.resp', await answer(request, [{ kind: 'revoked', revokedAt: REVOKED_AT }]))
    const verdict = scratch.openssl(
      'ocsp',
      '-respin',
      'plain.resp',
      '-issuer',
      'ca.pem',
      '-CAfile',
      'ca.pem',
      '-no_nonce',
      '-cert',
      'leaf2.pem',
    )
    assert.equal(verdict.status, 0, verdict.output)
    assert.match(verdict.output, /Response verify OK/)
    assert.match(verdict.output, /leaf2\.pem: revoked/)
    assert.doesNotMatch(verdict.output, /Reason:/)
  })

  it('writes an unsuccessful answer openssl reads as such', () => {
    scratch.write('error.resp', ocspErrorResponse('tryLater'))
    const verdict = scratch.openssl('ocsp', '-respin', 'error.resp', '-resp_text', '-noverify')
    assert.match(verdict.output, /Responder Error: trylater \(3\)/)
  })
})

describe('OCSP answers', () => {
  it('echoes each CertID exactly as the client sent it, SHA-1 and SHA-256', async () => {
    for (const hash of ['SHA-1', 'SHA-256']) {
      const der = await pkijsRequest([pki.leaf1, pki.leaf2], hash)
      const sent = pkijs.OCSPRequest.fromBER(der).tbsRequest.requestList.map((item) => Buffer.from(item.reqCert.toSchema().toBER()))
      const request = parseOcspRequest(der)
      assert.deepEqual(
        request.requests.map((item) => item.certId),
        sent,
      )
      const answered = basicResponseOf(await answer(request, [{ kind: 'good' }, { kind: 'unknown' }])).tbsResponseData.responses
      assert.deepEqual(
        answered.map((single) => Buffer.from(single.certID.toSchema().toBER())),
        sent,
        hash,
      )
    }
  })

  it('signs ecdsa-with-SHA256, names the responder by its key hash and sends its certificate', async () => {
    const basic = basicResponseOf(await answer(parseOcspRequest(await pkijsRequest([pki.leaf1], 'SHA-1')), [{ kind: 'good' }]))
    assert.equal(basic.signatureAlgorithm.algorithmId, '1.2.840.10045.4.3.2')
    assert.equal(basic.signatureAlgorithm.algorithmParams, undefined)
    const signerKey = pkijs.Certificate.fromBER(pki.ocspSigner.der).subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView
    const responderId = basic.tbsResponseData.responderID as asn1js.OctetString
    assert.ok(responderId instanceof asn1js.OctetString, 'ResponderID byKey')
    assert.deepEqual(Buffer.from(responderId.valueBlock.valueHexView), createHash('sha1').update(signerKey).digest())
    assert.deepEqual(
      basic.certs?.map((cert) => Buffer.from(cert.toSchema().toBER())),
      [pki.ocspSigner.der],
    )
    const signature = Buffer.from(basic.signature.valueBlock.valueHexView)
    assert.ok(verify('sha256', basic.tbsResponseData.tbsView, pki.ocspSigner.cert.publicKey.toString('pem'), signature))
  })

  it('echoes the nonce byte for byte', async () => {
    const nonce = Buffer.from('0123456789abcdef0123456789abcdef', 'hex')
    const request = parseOcspRequest(await pkijsRequest([pki.leaf1], 'SHA-256', nonce))
    assert.deepEqual(request.nonce, Buffer.from(new asn1js.OctetString({ valueHex: nonce }).toBER()))
    const extensions = basicResponseOf(await answer(request, [{ kind: 'good' }])).tbsResponseData.responseExtensions
    assert.equal(extensions?.length, 1)
    assert.equal(extensions[0]!.extnID, NONCE_OID)
    assert.deepEqual(Buffer.from(extensions[0]!.extnValue.valueBlock.valueHexView), request.nonce)
  })

  it('writes times in whole seconds, revocation time included', async () => {
    const request = parseOcspRequest(await pkijsRequest([pki.leaf1], 'SHA-1'))
    const basic = basicResponseOf(await answer(request, [{ kind: 'revoked', revokedAt: REVOKED_AT, reason: 'superseded' }]))
    const single = basic.tbsResponseData.responses[0]!
    assert.equal(basic.tbsResponseData.producedAt.getUTCMilliseconds(), 0)
    assert.equal(single.thisUpdate.getUTCMilliseconds(), 0)
    const [revocationTime, reason] = (single.certStatus as asn1js.Constructed).valueBlock.value
    assert.equal((revocationTime as asn1js.GeneralizedTime).toDate().toISOString(), '2024-01-02T03:04:05.000Z')
    assert.equal(((reason as asn1js.Constructed).valueBlock.value[0] as asn1js.Enumerated).valueBlock.valueDec, 4)
  })

  it('says a CertID names our CA, and not another CA of the same name', async () => {
    const ours = issuerHashes(pki.ca.der)
    const theirs = issuerHashes(pki.otherCa.der)
    assert.deepEqual(ours.sha1.nameHash, theirs.sha1.nameHash, 'same name')
    for (const hash of ['SHA-1', 'SHA-256']) {
      const [request] = parseOcspRequest(await pkijsRequest([pki.leaf1], hash)).requests
      assert.equal(certIdMatchesIssuer(request!, ours), true, hash)
      assert.equal(certIdMatchesIssuer(request!, theirs), false, hash)
    }
  })

  it('reads a hash algorithm it does not support as unsupported, which names no CA', async () => {
    const [request] = parseOcspRequest(await pkijsRequest([pki.leaf1], 'SHA-384')).requests
    assert.equal(request!.hashAlgorithm, 'unsupported')
    assert.equal(certIdMatchesIssuer(request!, issuerHashes(pki.ca.der)), false)
  })

  it('reads serial numbers as lower-case hex without the sign byte', async () => {
    const { requests } = parseOcspRequest(await pkijsRequest([pki.leaf1, pki.leaf2], 'SHA-1'))
    assert.deepEqual(
      requests.map((item) => item.serialNumber),
      ['1001', 'c0ffee0102030405'],
    )
  })

  it('refuses a malformed request with MalformedOcspRequestError', async () => {
    const good = await pkijsRequest([pki.leaf1], 'SHA-1')
    const emptyList = Buffer.from(new pkijs.OCSPRequest().toSchema(true).toBER())
    const criticalUnknown = pkijs.OCSPRequest.fromBER(good)
    criticalUnknown.tbsRequest.requestExtensions = [
      new pkijs.Extension({ extnID: '1.2.3.4', critical: true, extnValue: new asn1js.Null().toBER() }),
    ]
    const cases: Record<string, Uint8Array> = {
      'no bytes': Buffer.alloc(0),
      text: Buffer.from('this is not an OCSP request'),
      'a truncated request': good.subarray(0, good.length - 1),
      'bytes after the request': Buffer.concat([good, Buffer.of(0)]),
      'a certificate': pki.leaf1.der,
      'an empty request list': emptyList,
      'an unknown critical extension': Buffer.from(criticalUnknown.toSchema(true).toBER()),
      'a nonce of no octets': await pkijsRequest([pki.leaf1], 'SHA-1', new Uint8Array(0)),
      'a nonce of 129 octets': await pkijsRequest([pki.leaf1], 'SHA-1', new Uint8Array(129)),
    }
    for (const [name, der] of Object.entries(cases)) {
      assert.throws(() => parseOcspRequest(der), MalformedOcspRequestError, name)
    }
    assert.ok(new MalformedOcspRequestError('OCSPRequest', 'is empty') instanceof FieldRuleError)
    const longest = await pkijsRequest([pki.leaf1], 'SHA-1', new Uint8Array(128))
    assert.equal(parseOcspRequest(longest).nonce?.length, 131, 'a 128-octet nonce is accepted')
  })

  it('writes unsuccessful answers with the status alone', () => {
    const codes: Record<OcspErrorStatus, number> = { malformedRequest: 1, internalError: 2, tryLater: 3, unauthorized: 6 }
    for (const [status, code] of Object.entries(codes) as [OcspErrorStatus, number][]) {
      const response = pkijs.OCSPResponse.fromBER(ocspErrorResponse(status))
      assert.equal(response.responseStatus.valueBlock.valueDec, code, status)
      assert.equal(response.responseBytes, undefined, status)
    }
  })

  it("refuses a private key that is not the signer certificate's", () => {
    assert.throws(
      () => prepareOcspSigner(pki.ocspSigner.der, pki.ca.keys.privateKey),
      /privateKey: is not the private key of the certificate/,
    )
  })

  it('refuses removeFromCRL as a reason, and a nextUpdate not after thisUpdate', async () => {
    const request = parseOcspRequest(await pkijsRequest([pki.leaf1], 'SHA-1'))
    await assert.rejects(answer(request, [{ kind: 'revoked', revokedAt: REVOKED_AT, reason: 'removeFromCRL' }]), FieldRuleError)
    const now = new Date()
    await assert.rejects(
      buildOcspResponse({
        signer,
        producedAt: now,
        responses: [{ request: request.requests[0]!, status: { kind: 'good' }, thisUpdate: now, nextUpdate: now }],
      }),
      /nextUpdate: must be after thisUpdate/,
    )
  })
})
