import { createHash } from 'node:crypto'
import { isJsonObject } from '../json.ts'
import { FieldRuleError } from '../errors.ts'

/**
 * OPCP messages as openpnc reads and writes them (spec/opcp/1.0.0). Pure: shapes in, shapes out.
 */

/** The vehicle's provisioning certificate as the PCP hands it out: DER, with the chain below its root. */
export interface PcpProvisioningCertificate {
  certificate: Buffer
  /** Sub-CA 2 (when the OEM has one), then Sub-CA 1 */
  chain: Buffer[]
  /** the root named by the PCP (informative) */
  rootIssuerDistinguishedName?: string
}

function base64Der(value: unknown, field: string): Buffer {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(value.replace(/\s+/g, ''))) {
    throw new FieldRuleError(field, 'must be a certificate in base64-encoded DER')
  }
  return Buffer.from(value.replace(/\s+/g, ''), 'base64')
}

/**
 * Reads a PCP answer (GetProvisioningCertificateResponse). Erratum pcp-field-renames: the fields
 * are being renamed (vehicleCertificate -> provisioningCertificate, subCA1Certificate ->
 * subCa1Certificate, subCA2Certificate -> subCa2Certificate); both spellings are read, the new
 * name winning where both are present.
 */
export function readPcpAnswer(answer: unknown): PcpProvisioningCertificate {
  const message = isJsonObject(answer) ? answer.OEMMessage : undefined
  if (!isJsonObject(message)) throw new FieldRuleError('OEMMessage', 'is required (the PCP answer carries the certificate in it)')
  const pick = (renamed: string, deprecated: string) => message[renamed] ?? message[deprecated]
  const leaf = pick('provisioningCertificate', 'vehicleCertificate')
  if (leaf === undefined) throw new FieldRuleError('OEMMessage.vehicleCertificate', 'is required')
  const subCa1 = pick('subCa1Certificate', 'subCA1Certificate')
  if (subCa1 === undefined) throw new FieldRuleError('OEMMessage.subCA1Certificate', 'is required')
  const subCa2 = pick('subCa2Certificate', 'subCA2Certificate')
  const chain = [
    ...(subCa2 === undefined || subCa2 === null || subCa2 === '' ? [] : [base64Der(subCa2, 'OEMMessage.subCA2Certificate')]),
    base64Der(subCa1, 'OEMMessage.subCA1Certificate'),
  ]
  return {
    certificate: base64Der(leaf, 'OEMMessage.vehicleCertificate'),
    chain,
    ...(typeof message.rootIssuerDistinguishedName === 'string' && { rootIssuerDistinguishedName: message.rootIssuerDistinguishedName }),
  }
}

/** A root of the Root Certificate Pool. */
export interface PoolRoot {
  rootType: 'V2G' | 'OEM' | 'MO' | 'PE'
  certificate: Buffer
  /** SHA-256 of the DER, lower-case hex: what identifies a root here */
  fingerprint: string
  rootCertificateId?: string
  distinguishedName?: string
}

/** Reads a GetAllRootCertsResponseV1; a root without a usable certificate is skipped (and counted). */
export function readRootCertificates(answer: unknown): { roots: PoolRoot[]; skipped: number } {
  const collection = isJsonObject(answer) ? answer.RootCertificateCollection : undefined
  const list = isJsonObject(collection) && Array.isArray(collection.rootCertificates) ? collection.rootCertificates : null
  if (list === null) throw new FieldRuleError('RootCertificateCollection.rootCertificates', 'is required (a list of roots)')
  const roots: PoolRoot[] = []
  let skipped = 0
  for (const item of list) {
    if (!isJsonObject(item) || typeof item.rootType !== 'string' || !['V2G', 'OEM', 'MO', 'PE'].includes(item.rootType.toUpperCase())) {
      skipped++
      continue
    }
    let certificate: Buffer
    try {
      certificate = base64Der(item.caCertificate, 'caCertificate')
    } catch {
      skipped++
      continue
    }
    roots.push({
      rootType: item.rootType.toUpperCase() as PoolRoot['rootType'],
      certificate,
      fingerprint: createHash('sha256').update(certificate).digest('hex'),
      ...(typeof item.rootCertificateId === 'string' && { rootCertificateId: item.rootCertificateId }),
      ...(typeof item.distinguishedName === 'string' && { distinguishedName: item.distinguishedName }),
    })
  }
  return { roots, skipped }
}

/** The contract data of an issued contract (OPCP ContractData names; every field base64). */
export interface OpcpContractData {
  contractCertificate: string
  contractSubCa2Certificate: string
  contractSubCa1Certificate: string
  contractSignatureEncryptedPrivateKey: string
  dHpublickey: string
}

/**
 * The CPS request (SignedContractDataRequest) for a contract: with the PCID, so the CPS stores the
 * signed data in the CCP. Erratum contract-data-sub-ca-required: both Sub-CAs always travel.
 */
export function signContractDataRequest(contractData: OpcpContractData, pcid: string, namespace: string) {
  return {
    contractData: {
      contractCertificate: contractData.contractCertificate,
      contractSubCa2Certificate: contractData.contractSubCa2Certificate,
      contractSubCa1Certificate: contractData.contractSubCa1Certificate,
      contractSignatureEncryptedPrivateKey: contractData.contractSignatureEncryptedPrivateKey,
      dHpublickey: contractData.dHpublickey,
    },
    pcid,
    xsdMsgDefNamespace: namespace,
  }
}

/** What we keep of the CPS answer: the signed data (opaque base64 XML) and the V2G root it was signed under. */
export interface SignedContractData {
  signedData: string
  rootFingerprint: string | null
  rootDistinguishedName: string | null
}

export function readSignedContractData(answer: unknown): SignedContractData {
  if (!isJsonObject(answer) || typeof answer.signedData !== 'string' || answer.signedData === '') {
    throw new FieldRuleError('signedData', 'is required (the CPS answer carries the signed contract data)')
  }
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null)
  return {
    signedData: answer.signedData,
    rootFingerprint: text(answer.cpsV2GRootCertificateFingerprint),
    rootDistinguishedName: text(answer.cpsRootDistinguishedName),
  }
}

/** A webhook event as Hubject sends it (webhook.payload.v1.json). */
export interface OpcpWebhookEvent {
  eventId: string
  eventType: string
  timestamp: string | null
  emaid: string | null
  pcid: string | null
  payload: Record<string, unknown>
}

const UUID = /^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$/

/** Reads a webhook body; names the field that is wrong. */
export function readWebhookEvent(body: unknown): OpcpWebhookEvent {
  if (!isJsonObject(body)) throw new FieldRuleError('body', 'must be a JSON object')
  if (typeof body.eventId !== 'string' || !UUID.test(body.eventId)) throw new FieldRuleError('eventId', 'must be a UUID')
  if (typeof body.eventType !== 'string' || body.eventType === '' || body.eventType.length > 100) {
    throw new FieldRuleError('eventType', 'must be a non-empty string')
  }
  const payload = isJsonObject(body.payload) ? body.payload : {}
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null)
  return {
    eventId: body.eventId.toLowerCase(),
    eventType: body.eventType,
    timestamp: text(body.timestamp),
    emaid: text(payload.emaid)?.replace(/-/g, '').toUpperCase() ?? null,
    pcid: text(payload.pcid)?.toUpperCase() ?? null,
    payload,
  }
}
