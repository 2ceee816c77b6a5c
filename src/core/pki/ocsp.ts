import { type KeyObject, createHash, sign, type webcrypto } from 'node:crypto'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import { FieldRuleError } from '../errors.ts'
import { REVOCATION_REASONS, type RevocationReason, revocationReasonCode } from './revocation-reasons.ts'
import { serialHexOfInteger, signingKeyOf, wholeSeconds } from './values.ts'

/**
 * OCSP (RFC 6960) for the Mobility Operator CA: reads a request, says which issuer each CertID
 * names, and writes the signed BasicOCSPResponse. Looking the serials up is the caller's work.
 *
 * The hot path reads and writes asn1js blocks directly instead of through pkijs's OCSP classes:
 * pkijs rebuilds its whole schema tree (a Certificate schema included, for the optional request
 * signature) on every parse and re-parses what it signed on every encode, about seven times the
 * work of the same asn1js objects used directly.
 */

const OID = {
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  nonce: '1.3.6.1.5.5.7.48.1.2',
  basicResponse: '1.3.6.1.5.5.7.48.1.1',
} as const

/** RFC 9654: a nonce of 1 to 128 octets; 0 or more than 128 is a malformed request. */
const MAX_NONCE_OCTETS = 128

/**
 * Deep enough for any request (a signed one carrying certificates nests about 14 levels), shallow
 * enough to stop a bomb early. The input is not copied: everything kept is copied out of it.
 */
const PARSE_LIMITS: asn1js.FromBerOptions = { maxDepth: 32, maxNodes: 10_000, parseEmbedded: false, copyInput: false }

export class MalformedOcspRequestError extends FieldRuleError {}

/**
 * DER encoded once (by asn1js, pkijs or the client) and placed as it is inside a block being built.
 * asn1js's own RawData drops its bytes when it sits inside a constructed block (4.0.0 ignores the
 * writer it is given); this writes them.
 */
class Encoded extends asn1js.RawData {
  constructor(der: Uint8Array) {
    super({ data: der })
  }

  override toBER(sizeOnly?: boolean, writer?: asn1js.ViewWriter): ArrayBuffer {
    if (!writer) return super.toBER(sizeOnly)
    const view = this.dataView
    // The writer copies a view on the spot but takes a whole ArrayBuffer as it is (its final() copies it anyway).
    writer.write(view.byteOffset === 0 && view.byteLength === view.buffer.byteLength ? (view.buffer as ArrayBuffer) : view)
    return new ArrayBuffer(0)
  }
}
// A block list takes BaseBlocks; Encoded behaves as one where it matters (toBER), which is all a build uses.
const embed = (der: Uint8Array) => new Encoded(der) as unknown as asn1js.BaseBlock

// ---------------------------------------------------------------------------------------------
// Reading a request

export type CertIdHashAlgorithm = 'sha1' | 'sha256' | 'unsupported'

export interface OcspCertRequest {
  /** The CertID's DER as the client sent it, echoed byte for byte in the answer. */
  certId: Buffer
  hashAlgorithm: CertIdHashAlgorithm
  issuerNameHash: Buffer
  issuerKeyHash: Buffer
  /** Lower-case hex without the sign byte (see values.ts). */
  serialNumber: string
}

export interface ParsedOcspRequest {
  requests: OcspCertRequest[]
  /** The Nonce extension's value (extnValue) as the client sent it, echoed byte for byte. */
  nonce?: Buffer
}

const copy = (view: Uint8Array) => Buffer.from(view)
const isContext = (block: asn1js.BaseBlock, tagNumber: number) => block.idBlock.tagClass === 3 && block.idBlock.tagNumber === tagNumber

/** The elements of a constructed block of the expected kind, else a malformed request naming the field. */
function elementsOf(block: asn1js.BaseBlock | undefined, field: string, kind: 'SEQUENCE' | 'explicit tag'): asn1js.BaseBlock[] {
  const ok = kind === 'SEQUENCE' ? block instanceof asn1js.Sequence : block instanceof asn1js.Constructed && block.idBlock.tagClass === 3
  if (!ok) throw new MalformedOcspRequestError(field, `must be a ${kind}`)
  return (block as asn1js.Constructed).valueBlock.value
}

/** The only element of an EXPLICIT [n] block. */
function explicitInner(block: asn1js.BaseBlock, field: string): asn1js.BaseBlock {
  const inner = elementsOf(block, field, 'explicit tag')
  if (inner.length !== 1) throw new MalformedOcspRequestError(field, 'must hold exactly one element')
  return inner[0]!
}

function octetsOf(block: asn1js.BaseBlock | undefined, field: string): Uint8Array {
  if (!(block instanceof asn1js.OctetString) || block.idBlock.isConstructed)
    throw new MalformedOcspRequestError(field, 'must be an OCTET STRING')
  return block.valueBlock.valueHexView
}

interface RequestExtension {
  id: string
  critical: boolean
  value: Uint8Array
}

/** Extensions ::= SEQUENCE OF Extension; Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } */
function extensionsOf(block: asn1js.BaseBlock, field: string): RequestExtension[] {
  return elementsOf(explicitInner(block, field), field, 'SEQUENCE').map((item, i) => {
    const at = `${field}[${i}]`
    const parts = elementsOf(item, at, 'SEQUENCE')
    const [id, second, third] = parts
    const critical = second instanceof asn1js.Boolean
    if (!(id instanceof asn1js.ObjectIdentifier) || parts.length !== (critical ? 3 : 2)) {
      throw new MalformedOcspRequestError(at, 'must be an Extension (extnID, critical, extnValue)')
    }
    return {
      id: id.valueBlock.toString(),
      critical: critical && second.valueBlock.value,
      value: octetsOf(critical ? third : second, `${at}.extnValue`),
    }
  })
}

/** RFC 6960 4.4: an extension marked critical that we do not understand may not be ignored. */
function refuseUnknownCritical(extensions: RequestExtension[], field: string) {
  const unknown = extensions.find((extension) => extension.critical && extension.id !== OID.nonce)
  if (unknown) throw new MalformedOcspRequestError(field, `critical extension ${unknown.id} is not supported`)
}

function hashAlgorithmOf(oid: string): CertIdHashAlgorithm {
  return oid === OID.sha1 ? 'sha1' : oid === OID.sha256 ? 'sha256' : 'unsupported'
}

/** Request ::= SEQUENCE { reqCert CertID, singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL } */
function certRequestOf(block: asn1js.BaseBlock, field: string): OcspCertRequest {
  const parts = elementsOf(block, field, 'SEQUENCE')
  const [certIdBlock, extensions] = parts
  if (parts.length > 2 || (extensions && !isContext(extensions, 0)))
    throw new MalformedOcspRequestError(field, 'must be a Request (reqCert, singleRequestExtensions)')
  if (extensions) refuseUnknownCritical(extensionsOf(extensions, `${field}.singleRequestExtensions`), `${field}.singleRequestExtensions`)
  // CertID ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, issuerNameHash OCTET STRING, issuerKeyHash OCTET STRING, serialNumber INTEGER }
  const certIdField = `${field}.reqCert`
  const certId = elementsOf(certIdBlock, certIdField, 'SEQUENCE')
  const [algorithm, nameHash, keyHash, serial] = certId
  const algorithmParts = certId.length === 4 ? elementsOf(algorithm, `${certIdField}.hashAlgorithm`, 'SEQUENCE') : []
  if (!(algorithmParts[0] instanceof asn1js.ObjectIdentifier) || algorithmParts.length > 2) {
    throw new MalformedOcspRequestError(certIdField, 'must be a CertID (hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber)')
  }
  if (!(serial instanceof asn1js.Integer) || serial.valueBlock.valueHexView.length === 0) {
    throw new MalformedOcspRequestError(`${certIdField}.serialNumber`, 'must be an INTEGER')
  }
  return {
    certId: copy(certIdBlock!.valueBeforeDecodeView),
    hashAlgorithm: hashAlgorithmOf(algorithmParts[0].valueBlock.toString()),
    issuerNameHash: copy(octetsOf(nameHash, `${certIdField}.issuerNameHash`)),
    issuerKeyHash: copy(octetsOf(keyHash, `${certIdField}.issuerKeyHash`)),
    serialNumber: serialHexOfInteger(serial.valueBlock.valueHexView),
  }
}

/** The nonce's own length: RFC 9654 clients wrap it in an OCTET STRING, older ones may send it bare. */
function nonceOctets(value: Uint8Array): number {
  const inner = asn1js.fromBER(value, PARSE_LIMITS)
  const wrapped = inner.offset === value.length && inner.result instanceof asn1js.OctetString && !inner.result.idBlock.isConstructed
  return wrapped ? (inner.result as asn1js.OctetString).valueBlock.valueHexView.length : value.length
}

/**
 * Reads a DER OCSPRequest; anything that is not one throws MalformedOcspRequestError (answer
 * malformedRequest). A request signature, when present, is not checked: the answers are public.
 */
export function parseOcspRequest(der: Uint8Array): ParsedOcspRequest {
  if (!(der instanceof Uint8Array) || der.length === 0) throw new MalformedOcspRequestError('OCSPRequest', 'is empty')
  const asn1 = asn1js.fromBER(der, PARSE_LIMITS)
  if (asn1.offset === -1) throw new MalformedOcspRequestError('OCSPRequest', `is not DER: ${asn1.result.error}`)
  if (asn1.offset !== der.length) throw new MalformedOcspRequestError('OCSPRequest', 'has bytes after its end')
  // OCSPRequest ::= SEQUENCE { tbsRequest TBSRequest, optionalSignature [0] EXPLICIT Signature OPTIONAL }
  const outer = elementsOf(asn1.result, 'OCSPRequest', 'SEQUENCE')
  if (outer.length === 0 || outer.length > 2 || (outer[1] && !isContext(outer[1], 0))) {
    throw new MalformedOcspRequestError('OCSPRequest', 'must be a tbsRequest and an optional signature')
  }
  // TBSRequest ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1, requestorName [1] EXPLICIT OPTIONAL, requestList SEQUENCE OF Request, requestExtensions [2] EXPLICIT OPTIONAL }
  const tbs = elementsOf(outer[0], 'tbsRequest', 'SEQUENCE')
  let at = 0
  if (tbs[at] && isContext(tbs[at]!, 0)) {
    const version = explicitInner(tbs[at]!, 'tbsRequest.version')
    if (!(version instanceof asn1js.Integer) || version.valueBlock.valueDec !== 0)
      throw new MalformedOcspRequestError('tbsRequest.version', 'must be v1 (0)')
    at++
  }
  if (tbs[at] && isContext(tbs[at]!, 1)) at++
  const requestList = elementsOf(tbs[at++], 'tbsRequest.requestList', 'SEQUENCE')
  const extensionsBlock = tbs[at] && isContext(tbs[at]!, 2) ? tbs[at++] : undefined
  if (at !== tbs.length) throw new MalformedOcspRequestError('tbsRequest', 'has elements RFC 6960 does not define')
  if (requestList.length === 0) throw new MalformedOcspRequestError('tbsRequest.requestList', 'is empty')
  const requests = requestList.map((item, i) => certRequestOf(item, `tbsRequest.requestList[${i}]`))

  const extensions = extensionsBlock ? extensionsOf(extensionsBlock, 'tbsRequest.requestExtensions') : []
  refuseUnknownCritical(extensions, 'tbsRequest.requestExtensions')
  const nonceExtension = extensions.find((extension) => extension.id === OID.nonce)
  if (!nonceExtension) return { requests }
  const octets = nonceOctets(nonceExtension.value)
  if (octets === 0 || octets > MAX_NONCE_OCTETS) {
    throw new MalformedOcspRequestError('tbsRequest.requestExtensions.nonce', `must be 1 to ${MAX_NONCE_OCTETS} octets, got ${octets}`)
  }
  return { requests, nonce: copy(nonceExtension.value) }
}

// ---------------------------------------------------------------------------------------------
// Matching a CertID to our CA

export interface IssuerHashPair {
  nameHash: Buffer
  keyHash: Buffer
}

export interface IssuerHashes {
  sha1: IssuerHashPair
  sha256: IssuerHashPair
}

function parseCertificate(der: Uint8Array, field: string): pkijs.Certificate {
  try {
    return pkijs.Certificate.fromBER(der)
  } catch (error) {
    throw new FieldRuleError(field, `is not a DER X.509 certificate: ${(error as Error).message}`)
  }
}

/** What CertIDs hash (RFC 6960 4.1.1): the subject Name's DER as it stands in the certificate, and the subjectPublicKey BIT STRING's value. */
function hashedParts(certificate: pkijs.Certificate) {
  return {
    name: new Uint8Array(certificate.subject.valueBeforeDecode),
    key: certificate.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView,
  }
}

/** What a CertID naming this CA carries, under each hash a client may use; compute once per CA. */
export function issuerHashes(caCertificateDer: Uint8Array): IssuerHashes {
  const { name, key } = hashedParts(parseCertificate(caCertificateDer, 'caCertificateDer'))
  const pair = (algorithm: 'sha1' | 'sha256') => ({
    nameHash: createHash(algorithm).update(name).digest(),
    keyHash: createHash(algorithm).update(key).digest(),
  })
  return { sha1: pair('sha1'), sha256: pair('sha256') }
}

/** True when the CertID names the CA `hashes` were computed for; a hash we do not support never matches. */
export function certIdMatchesIssuer(request: OcspCertRequest, hashes: IssuerHashes): boolean {
  if (request.hashAlgorithm === 'unsupported') return false
  const expected = hashes[request.hashAlgorithm]
  return request.issuerNameHash.equals(expected.nameHash) && request.issuerKeyHash.equals(expected.keyHash)
}

// ---------------------------------------------------------------------------------------------
// Writing the answer

/** The responder, prepared once: its key and the parts of every answer that never change, encoded. */
export interface OcspSigner {
  readonly certificateDer: Buffer
  /** SHA-1 of the signer's subjectPublicKey: the ResponderID byKey (RFC 6960 4.2.1). */
  readonly responderKeyHash: Buffer
  readonly signingKey: KeyObject
  /** DER of `[2] EXPLICIT KeyHash`, `AlgorithmIdentifier ecdsa-with-SHA256` and `[0] EXPLICIT SEQUENCE OF Certificate`. */
  readonly encoded: { responderId: Buffer; signatureAlgorithm: Buffer; certs: Buffer }
}

const der = (block: { toBER(): ArrayBuffer }) => Buffer.from(block.toBER())
const contextTag = (tagNumber: number) => ({ tagClass: 3, tagNumber })
const explicit = (tagNumber: number, value: asn1js.BaseBlock) => new asn1js.Constructed({ idBlock: contextTag(tagNumber), value: [value] })

/**
 * Prepares a signer from its certificate and its WebCrypto ECDSA P-256 private key. Refuses a key
 * that is not the certificate's: every answer it signed would fail at the client.
 */
export function prepareOcspSigner(signerCertificateDer: Uint8Array, privateKey: webcrypto.CryptoKey): OcspSigner {
  const certificate = parseCertificate(signerCertificateDer, 'signerCertificateDer')
  const certificateDer = Buffer.from(signerCertificateDer)
  // node:crypto signs synchronously with DER output; WebCrypto would add a thread-pool hop and a signature conversion per answer.
  const signingKey = signingKeyOf(privateKey, certificateDer, 'privateKey')
  const responderKeyHash = createHash('sha1').update(hashedParts(certificate).key).digest()
  return {
    certificateDer,
    responderKeyHash,
    signingKey,
    encoded: {
      responderId: der(explicit(2, new asn1js.OctetString({ valueHex: responderKeyHash }))),
      // RFC 5758: ecdsa-with-SHA256 has no parameters.
      signatureAlgorithm: der(new pkijs.AlgorithmIdentifier({ algorithmId: OID.ecdsaWithSha256 }).toSchema()),
      certs: der(explicit(0, new asn1js.Sequence({ value: [embed(certificateDer)] }))),
    },
  }
}

export type OcspCertStatus = { kind: 'good' } | { kind: 'revoked'; revokedAt: Date; reason?: RevocationReason } | { kind: 'unknown' }

export interface OcspSingleAnswer {
  request: OcspCertRequest
  status: OcspCertStatus
  thisUpdate: Date
  nextUpdate: Date
}

/**
 * Blocks that never change, encoded once: asn1js takes some 20 µs to encode an OBJECT IDENTIFIER,
 * as long as the rest of an answer. good [0] and unknown [2] are IMPLICIT NULLs.
 */
const GOOD = der(new asn1js.Primitive({ idBlock: contextTag(0) }))
const UNKNOWN = der(new asn1js.Primitive({ idBlock: contextTag(2) }))
const NONCE_OID = der(new asn1js.ObjectIdentifier({ value: OID.nonce }))
const BASIC_RESPONSE_OID = der(new asn1js.ObjectIdentifier({ value: OID.basicResponse }))
const SUCCESSFUL = der(new asn1js.Enumerated({ value: 0 }))
/** revocationReason [0] EXPLICIT CRLReason, for each reason. */
const REASONS = new Map(
  REVOCATION_REASONS.map((reason) => [reason, der(explicit(0, new asn1js.Enumerated({ value: revocationReasonCode(reason) })))]),
)

/**
 * Encoded GeneralizedTimes of the last few seconds: an answer's producedAt and thisUpdate are
 * mostly "now", shared by every answer of that second, and asn1js takes microseconds for each.
 */
const recentTimes = new Map<number, Buffer>()
function generalizedTime(date: Date, field: string): asn1js.BaseBlock {
  return generalizedTimeAt(wholeSeconds(date, field).getTime())
}
function generalizedTimeAt(time: number): asn1js.BaseBlock {
  let encoded = recentTimes.get(time)
  if (!encoded) {
    encoded = der(new asn1js.GeneralizedTime({ valueDate: new Date(time) }))
    if (recentTimes.size >= 16) recentTimes.delete(recentTimes.keys().next().value!)
    recentTimes.set(time, encoded)
  }
  return embed(encoded)
}

/** CertStatus ::= CHOICE { good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo, unknown [2] IMPLICIT NULL } */
function certStatusOf(status: OcspCertStatus, field: string): asn1js.BaseBlock {
  switch (status?.kind) {
    case 'good':
      return embed(GOOD)
    case 'unknown':
      return embed(UNKNOWN)
    case 'revoked': {
      if (status.reason === 'removeFromCRL') throw new FieldRuleError(`${field}.reason`, 'removeFromCRL is not a reason to be revoked')
      // RevokedInfo ::= SEQUENCE { revocationTime GeneralizedTime, revocationReason [0] EXPLICIT CRLReason OPTIONAL }
      const value = [generalizedTime(status.revokedAt, `${field}.revokedAt`)]
      if (status.reason !== undefined) {
        const reason = REASONS.get(status.reason)
        if (!reason) throw new FieldRuleError(`${field}.reason`, 'must be an RFC 5280 CRLReason')
        value.push(embed(reason))
      }
      return new asn1js.Constructed({ idBlock: contextTag(1), value })
    }
    default:
      throw new FieldRuleError(field, 'must be good, revoked or unknown')
  }
}

/** SingleResponse ::= SEQUENCE { certID, certStatus, thisUpdate, nextUpdate [0] EXPLICIT OPTIONAL, singleExtensions [1] OPTIONAL } */
function singleResponseOf(answer: OcspSingleAnswer, i: number): asn1js.BaseBlock {
  const field = `responses[${i}]`
  const thisUpdate = wholeSeconds(answer.thisUpdate, `${field}.thisUpdate`).getTime()
  const nextUpdate = wholeSeconds(answer.nextUpdate, `${field}.nextUpdate`).getTime()
  if (nextUpdate <= thisUpdate) throw new FieldRuleError(`${field}.nextUpdate`, 'must be after thisUpdate')
  return new asn1js.Sequence({
    value: [
      embed(answer.request.certId),
      certStatusOf(answer.status, `${field}.status`),
      generalizedTimeAt(thisUpdate),
      explicit(0, generalizedTimeAt(nextUpdate)),
    ],
  })
}

/**
 * A successful OCSPResponse: a BasicOCSPResponse signed ecdsa-with-SHA256 by `signer`, with its
 * certificate in `certs`, each CertID echoed as the client sent it, and the nonce when given.
 */
export async function buildOcspResponse(input: {
  signer: OcspSigner
  responses: OcspSingleAnswer[]
  nonce?: Buffer
  producedAt: Date
}): Promise<Buffer> {
  const { signer, nonce } = input
  if (input.responses.length === 0) throw new FieldRuleError('responses', 'must hold at least one answer')
  // ResponseData ::= SEQUENCE { version [0] DEFAULT v1 (left out), responderID, producedAt, responses, responseExtensions [1] OPTIONAL }
  const tbsValue = [
    embed(signer.encoded.responderId),
    generalizedTime(input.producedAt, 'producedAt'),
    new asn1js.Sequence({ value: input.responses.map(singleResponseOf) }),
  ]
  if (nonce !== undefined) {
    const echo = new asn1js.Sequence({ value: [embed(NONCE_OID), new asn1js.OctetString({ valueHex: nonce })] })
    tbsValue.push(explicit(1, new asn1js.Sequence({ value: [echo] })))
  }
  const tbs = der(new asn1js.Sequence({ value: tbsValue }))
  // BasicOCSPResponse ::= SEQUENCE { tbsResponseData, signatureAlgorithm, signature BIT STRING, certs [0] EXPLICIT OPTIONAL }
  const basic = new asn1js.Sequence({
    value: [
      embed(tbs),
      embed(signer.encoded.signatureAlgorithm),
      new asn1js.BitString({ valueHex: sign('sha256', tbs, { key: signer.signingKey, dsaEncoding: 'der' }) }),
      embed(signer.encoded.certs),
    ],
  })
  return successful(der(basic))
}

/** OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT ResponseBytes OPTIONAL } */
function successful(basicResponse: Buffer): Buffer {
  const responseBytes = new asn1js.Sequence({
    value: [embed(BASIC_RESPONSE_OID), new asn1js.OctetString({ valueHex: basicResponse })],
  })
  return der(new asn1js.Sequence({ value: [embed(SUCCESSFUL), explicit(0, responseBytes)] }))
}

export type OcspErrorStatus = 'malformedRequest' | 'internalError' | 'tryLater' | 'unauthorized'

const ERROR_STATUS_CODES: Record<OcspErrorStatus, number> = { malformedRequest: 1, internalError: 2, tryLater: 3, unauthorized: 6 }

/** An unsuccessful OCSPResponse: the status alone, unsigned, as RFC 6960 4.2.1 has it. */
export function ocspErrorResponse(status: OcspErrorStatus): Buffer {
  const code = ERROR_STATUS_CODES[status]
  if (code === undefined) throw new FieldRuleError('status', 'must be malformedRequest, internalError, tryLater or unauthorized')
  return der(new pkijs.OCSPResponse({ responseStatus: new asn1js.Enumerated({ value: code }) }).toSchema())
}
