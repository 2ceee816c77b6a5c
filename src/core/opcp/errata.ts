/**
 * Errata in Hubject's OPCP 1.0.0 reference (spec/opcp/1.0.0/*.v1.json), in one list: where the
 * published files say something that real traffic (and Hubject's own examples) contradicts, and
 * how openpnc reads around it. The schema loader applies the schema-level ones in memory (the
 * files stay verbatim); the client, the webhook receiver and the simulator cite the others by ID.
 */
export interface OpcpErratum {
  id: OpcpErratumId
  /** the file and place in the reference */
  where: string
  /** what the reference says */
  says: string
  /** what openpnc does instead, and why */
  handling: string
}

export type OpcpErratumId =
  | 'certificate-max-length'
  | 'contract-data-sub-ca-required'
  | 'pcp-field-renames'
  | 'webhook-signature-headers'
  | 'unicode-pattern-escapes'
  | 'fingerprint-patterns'
  | 'root-cert-property-count'
  | 'factory-reset-event-name'
  | 'contract-cert-pattern-prose'

export const OPCP_ERRATA: readonly OpcpErratum[] = [
  {
    id: 'certificate-max-length',
    where:
      'cps.v1.json ContractData.*Certificate, contract-data; ccp.v1.json LookupContractResponse contractCertificate; rcp.v1.json RootCertV2.caCertificate',
    says: 'maxLength: 800 on the base64 string of a certificate',
    handling:
      "ISO 15118-2 limits the DER to 800 bytes, which is 1,068 base64 characters; Hubject's own examples exceed 800 characters. The limit is read as 1,068 characters (800 bytes of DER).",
  },
  {
    id: 'contract-data-sub-ca-required',
    where: 'cps.v1.json ContractData.required',
    says: 'contractSubCa1Certificate is required, contractSubCa2Certificate optional',
    handling:
      'A contract certificate is issued by MO Sub-CA 2, so a charger cannot build the chain without it: we always send both Sub-CAs, and the simulator requires both.',
  },
  {
    id: 'pcp-field-renames',
    where: 'pcp.v1.json ProvisioningCertificateData',
    says: 'vehicleCertificate, subCA1Certificate, subCA2Certificate are deprecated, to be renamed provisioningCertificate, subCa1Certificate, subCa2Certificate',
    handling: 'Both spellings are accepted in PCP answers; where both are present, the new name wins.',
  },
  {
    id: 'webhook-signature-headers',
    where: 'webhook.payload.v1.json header parameters; the OPCP webhook documentation',
    says: 'the HMAC-SHA256 signature is carried as payload-signature (required), X-Hubject-Signature, or X-Operator-Signature',
    handling:
      'All three headers are accepted, the value as hex or base64, with or without a "sha256=" prefix. Any one that verifies against an endpoint secret accepts the event.',
  },
  {
    id: 'unicode-pattern-escapes',
    where: 'every schema with a pattern like ^[0-9a-fA-F]{8}\\-([0-9a-fA-F]{4}\\-){3}...',
    says: '"\\-" outside a character class',
    handling:
      'JSON Schema validators compile patterns as Unicode regular expressions, where "\\-" outside a class is a syntax error. The backslash is dropped (an identity escape: same meaning).',
  },
  {
    id: 'fingerprint-patterns',
    where:
      'cps.v1.json cpsV2GRootCertificateFingerprint; ccp.v1.json lookupContract parameter and LookupContractResponse cpsRootCertificateDN / cpsV2GRootCertificateFingerprint',
    says: 'a SHA-256 fingerprint must match a UUID pattern; in the lookup answer the DN and fingerprint patterns are swapped',
    handling:
      'A SHA-256 fingerprint is 64 hex digits (optionally colon-separated) and a DN is a DN: those patterns replace the published ones.',
  },
  {
    id: 'root-cert-property-count',
    where: 'rcp.v1.json RootCertV2',
    says: 'minProperties 1 and maxProperties 1, while rootType and caCertificate are both required',
    handling: 'No root could satisfy both: the property count limits are dropped.',
  },
  {
    id: 'factory-reset-event-name',
    where: 'webhooks.v1.json Event enum versus webhook.payload.v1.json eventType enum',
    says: 'the factory reset event is "mo.prov.cert.updated.factory.reset" in one file and "mo.prov.cert.factory.reset" in the other',
    handling: 'Both names are the same event.',
  },
  {
    id: 'contract-cert-pattern-prose',
    where: 'webhook.payload.v1.json payload.contractCert.pattern, cpsSignerRootFingerprint.pattern',
    says: 'the pattern is a sentence ("Contract Certificate in base64 encoded DER form") or empty',
    handling: 'Read as a description: the pattern is dropped.',
  },
]

export function erratum(id: OpcpErratumId): OpcpErratum {
  return OPCP_ERRATA.find((e) => e.id === id)!
}

/** Base64 characters of the largest certificate ISO 15118-2 allows (800 bytes of DER). */
export const MAX_CERTIFICATE_BASE64 = Math.ceil(800 / 3) * 4
