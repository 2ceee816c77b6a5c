import { Type, type Static } from '@sinclair/typebox'
import { EMAID_PATTERN, PCID_PATTERN, RFID_UID_PATTERN, RFID_UID_RULE } from '../../core/identifiers/index.ts'
import type { ChargingKey } from '../../services/keys/charging-key.ts'
import type { ContractCertificate, ContractData as ContractDataModel } from '../../services/ca/contract-certificates.ts'
import { REVOCATION_REASONS } from '../../core/pki/revocation-reasons.ts'
import type { User } from '../../services/users/users.ts'
import type { Publication } from '../opcp/publication.ts'
import { invalid } from '../../core/errors.ts'
import type { SessionCost, SessionDetail, SessionListEntry, SessionStatus } from '../../services/sessions/sessions.ts'

const DateTime = (description: string) => Type.String({ format: 'date-time', description })

/** Partner user IDs: printable, no slashes (they travel in paths). */
export const UserId = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[A-Za-z0-9._:@+-]+$',
  description: "the partner's own user ID",
  'x-error-message': 'must be 1-128 characters of letters, digits and . _ : @ + -',
})

export const UserParams = Type.Object({ userId: UserId })
export const KeyParams = Type.Object({
  userId: UserId,
  keyIdOrContractId: Type.String({
    minLength: 1,
    maxLength: 64,
    description: 'key ID or contract ID, any separator and case form',
  }),
})

export const Email = Type.String({ format: 'email', maxLength: 254 })

export const CreateUserBody = Type.Object({ id: UserId, email: Type.Optional(Type.Union([Email, Type.Null()])) })
export const UpdateUserBody = Type.Object({ email: Type.Optional(Type.Union([Email, Type.Null()])) })

export const UserResponse = Type.Object(
  {
    id: Type.String(),
    email: Type.Union([Type.String(), Type.Null()]),
    created: DateTime('when the user was created'),
    updated: DateTime('when the user last changed'),
  },
  { title: 'User' },
)

export const Pcid = Type.String({
  pattern: PCID_PATTERN.source,
  description: 'Provisioning Certificate Identifier of the vehicle: 17-18 letters or digits, stored upper-case',
  examples: ['WDBRF61J21F123456'],
  'x-error-code': 'invalid_pcid',
  'x-error-message': 'must be 17-18 letters or digits',
})

export const ContractId = Type.String({
  pattern: EMAID_PATTERN.source,
  description:
    'EMAID (eMI3 / ISO 15118-2): country, provider ID, instance, optional check character, optional "-" separators. Must start with one of the organization\'s contract-ID prefixes.',
  examples: ['DE-8PS-C0AD21B13-P'],
  'x-error-code': 'invalid_contract_id',
  'x-error-message':
    'must be an EMAID such as DE-8PS-C0AD21B13-P: country (2 letters), provider ID (3), instance (9), optional check character',
})

/** A certificate as partners send it: base64 of the DER, or PEM. */
const CertificateText = (description: string) => Type.String({ minLength: 1, maxLength: 16_384, description })

export const ProvisioningCertificateInput = Type.Object(
  {
    source: Type.Optional(
      Type.Union([Type.Literal('request'), Type.Literal('pcp')], {
        default: 'request',
        description:
          "request: the provisioning certificate is in this request; pcp: openpnc fetches it from Hubject's Provisioning Certificate Pool by the PCID, and the contract is signed by Hubject's CPS and stored in its Contract Certificate Pool (see `publication`)",
      }),
    ),
    oemProvisioningCertificate: Type.Optional(
      CertificateText(
        "the vehicle's OEM provisioning certificate (base64 DER or PEM; a PEM may carry its chain after it). Its CN must be the PCID and its chain must lead to a trusted OEM or V2G root. Required unless source is pcp.",
      ),
    ),
    chain: Type.Optional(
      Type.Array(CertificateText('an intermediate certificate (base64 DER or PEM)'), {
        maxItems: 16,
        description: 'the intermediate certificates up to the trusted root, if not in the PEM',
      }),
    ),
  },
  { title: 'ProvisioningCertificate' },
)

/** The provisioning input of a request, after its rule: a certificate in the request, or the PCP (and then nothing else). */
export function provisioningSource(
  input: Static<typeof ProvisioningCertificateInput>,
): { source: 'pcp' } | { source: 'request'; oemProvisioningCertificate: string; chain?: string[] } {
  if (input.source === 'pcp') {
    if (input.oemProvisioningCertificate !== undefined || input.chain !== undefined) {
      throw invalid(
        'validation_error',
        'certificate.oemProvisioningCertificate: must be absent when source is "pcp" (the PCP provides it)',
        {
          field: 'certificate.oemProvisioningCertificate',
        },
      )
    }
    return { source: 'pcp' }
  }
  if (input.oemProvisioningCertificate === undefined) {
    throw invalid('validation_error', 'certificate.oemProvisioningCertificate: is required unless source is "pcp"', {
      field: 'certificate.oemProvisioningCertificate',
    })
  }
  return { source: 'request', oemProvisioningCertificate: input.oemProvisioningCertificate, ...(input.chain && { chain: input.chain }) }
}

const NullableTime = (description: string) => Type.Union([DateTime(description), Type.Null()])

export const PublicationResponse = Type.Object(
  {
    state: Type.Union([Type.Literal('pending'), Type.Literal('published'), Type.Literal('failed'), Type.Literal('withdrawn')], {
      description:
        "pending: on its way (see step; Hubject's outages only delay it); published: signed by the CPS and in the Contract Certificate Pool; failed: refused for good (see reason), retry after fixing it; withdrawn: removed from the pool (revoked, expired or deleted)",
    }),
    step: Type.Union([Type.Literal('provisioning'), Type.Literal('signing'), Type.Literal('withdrawing'), Type.Null()], {
      description:
        "while pending: fetching the vehicle's provisioning certificate (PCP), signing and storing (CPS, CCP), or removing it (CCP)",
    }),
    emaid: Type.String({ description: 'the EMAID in the pool: upper case, no separators, with the check character' }),
    pcid: Type.String(),
    publishedAt: NullableTime('when the current contract was stored in the pool'),
    withdrawnAt: NullableTime('when it was removed from the pool'),
    reason: Type.Union([Type.String(), Type.Null()], { description: "state failed: why, in Hubject's words where it gave them" }),
    traceId: Type.Union([Type.String(), Type.Null()], { description: "Hubject's trace ID of the refusal, for Hubject's support" }),
    lastError: Type.Union([Type.String(), Type.Null()], { description: 'state pending: the last failed attempt; it is being retried' }),
    cpsRootFingerprint: Type.Union([Type.String(), Type.Null()], {
      description: 'SHA-256 fingerprint of the V2G root the CPS signed under',
    }),
    cpsRootDistinguishedName: Type.Union([Type.String(), Type.Null()]),
    signedData: Type.Union([Type.String({ contentEncoding: 'base64' }), Type.Null()], {
      description:
        "the CPS's signed contract data of the published contract: base64 of the ISO 15118-2 CertificateInstallationRes XML, as Hubject stores it",
    }),
    oemStatus: Type.Union(
      [
        Type.Literal('queued'),
        Type.Literal('sent'),
        Type.Literal('delivered'),
        Type.Literal('rejected'),
        Type.Literal('deleted'),
        Type.Null(),
      ],
      { description: "what Hubject reported of the delivery to the vehicle's OEM backend (mo.contract.* events)" },
    ),
    oemStatusAt: NullableTime('when Hubject reported it'),
    updated: DateTime('last change'),
  },
  { title: 'ContractPublication', description: "a contract's way through Hubject's Plug&Charge ecosystem (OPCP)" },
)

const NullableText = Type.Union([Type.String(), Type.Null()])
export const PoolLookupResponse = Type.Object(
  {
    emaid: Type.String(),
    inPool: Type.Boolean({ description: 'the pool holds a contract for this EMAID' }),
    current: Type.Boolean({ description: 'one of them is our current contract certificate' }),
    contracts: Type.Array(
      Type.Object({
        pcid: NullableText,
        defaultContract: Type.Union([Type.Boolean(), Type.Null()]),
        validFrom: NullableText,
        validTo: NullableText,
        ours: Type.Boolean({ description: 'this is our current contract certificate' }),
      }),
    ),
  },
  { title: 'ContractPoolLookup' },
)

export function presentPublication(p: Publication): Static<typeof PublicationResponse> {
  const iso = (d: Date | null) => (d === null ? null : d.toISOString())
  return {
    state: p.state,
    step: p.step,
    emaid: p.emaid,
    pcid: p.pcid,
    publishedAt: iso(p.publishedAt),
    withdrawnAt: iso(p.withdrawnAt),
    reason: p.reason,
    traceId: p.traceId,
    lastError: p.lastError,
    cpsRootFingerprint: p.cpsRootFingerprint,
    cpsRootDistinguishedName: p.cpsRootDistinguishedName,
    signedData: p.signedData,
    oemStatus: p.oemStatus,
    oemStatusAt: iso(p.oemStatusAt),
    updated: p.updated.toISOString(),
  }
}

export const CreatePlugAndChargeKeyBody = Type.Object({
  pcid: Pcid,
  contractId: Type.Optional(ContractId),
  validTo: Type.Optional(DateTime('end of validity (with a certificate: the certificate ends then at the latest)')),
  certificate: Type.Optional(ProvisioningCertificateInput),
})

const Base64 = (description: string) => Type.String({ contentEncoding: 'base64', description })

export const ContractData = Type.Object(
  {
    emaid: Type.String({ description: 'the EMAID as in the certificate: upper case, no separators, with the check character' }),
    contractCertificate: Base64('the contract certificate, DER'),
    contractSubCa2Certificate: Base64('MO Sub-CA 2, DER'),
    contractSubCa1Certificate: Base64('MO Sub-CA 1, DER'),
    contractSignatureEncryptedPrivateKey: Base64(
      "the contract private key for the car: IV (16 bytes) and AES-128-CBC of the 32-byte scalar, 48 bytes (ISO 15118-2 ContractSignatureEncryptedPrivateKey), keyed by ECDH with the vehicle's key",
    ),
    dHpublickey: Base64('the ephemeral ECDH public key, 65 bytes uncompressed (ISO 15118-2 DHpublickey)'),
  },
  {
    title: 'ContractData',
    description: 'what a charging station installs in the car (CertificateInstallationRes), named as Hubject OPCP names it',
  },
)

export const ContractCertificateStatus = Type.Union(
  [Type.Literal('active'), Type.Literal('superseded'), Type.Literal('revoked'), Type.Literal('expired')],
  { description: 'active: the current one; superseded: renewed (still valid until it ends); revoked; expired' },
)

const ContractCertificateStateFields = {
  emaid: Type.String({ description: 'subject CN' }),
  pcid: Type.String(),
  serialNumber: Type.String({ description: 'hexadecimal' }),
  status: ContractCertificateStatus,
  validFrom: DateTime('notBefore'),
  validTo: DateTime('notAfter'),
  issuedBy: Type.Union([Type.Literal('partner'), Type.Literal('schedule'), Type.Literal('ecosystem')], {
    description:
      "partner: an API call; schedule: the scheduled renewal ahead of expiry; ecosystem: Hubject's ecosystem asked (the vehicle got a new provisioning key)",
  }),
  ecdhPeer: Type.Union([Type.Literal('oem'), Type.Literal('contract')], {
    description: "whose key the private key was encrypted for: the vehicle's OEM provisioning key, or its previous contract key",
  }),
  renewed: Type.Boolean({ description: 'true: this certificate renewed an earlier one' }),
  revoked: Type.Optional(DateTime('when it was revoked')),
  revocationReason: Type.Optional(Type.String({ description: 'RFC 5280 reason, e.g. keyCompromise' })),
  created: DateTime('when it was issued'),
}

export const ContractCertificateState = Type.Object(ContractCertificateStateFields, { title: 'ContractCertificateState' })

export const ContractCertificateResponse = Type.Object(
  {
    ...ContractCertificateStateFields,
    certificate: Base64('the contract certificate, DER'),
    contractData: ContractData,
    publication: Type.Optional(PublicationResponse),
  },
  { title: 'ContractCertificate' },
)

export const RevocationReasonSchema = Type.Union(
  REVOCATION_REASONS.filter((r) => r !== 'removeFromCRL').map((r) => Type.Literal(r)),
  { description: 'RFC 5280 CRLReason' },
)

export const RenewContractBody = Type.Object({
  peer: Type.Optional(
    Type.Union([Type.Literal('contract'), Type.Literal('oem')], {
      default: 'contract',
      description:
        "contract: encrypt the new private key for the car's current contract key (ISO 15118-2 CertificateUpdate); oem: for its OEM provisioning key (a new installation; the stored provisioning certificate unless `certificate` gives one)",
    }),
  ),
  certificate: Type.Optional(ProvisioningCertificateInput),
})

export const RevokeContractBody = Type.Object({ reason: RevocationReasonSchema })

export const PlugAndChargeKeyCreated = Type.Object(
  {
    contractId: Type.String({ examples: ['DE-8PS-C0AD21B13-P'] }),
    pcid: Type.String(),
    keyId: Type.String({ description: 'equals contractId' }),
    validTo: Type.Optional(Type.Union([DateTime('end of validity'), Type.Null()])),
    contractCertificate: Type.Optional(ContractCertificateState),
    contractData: Type.Optional(ContractData),
    publication: Type.Optional(PublicationResponse),
  },
  { title: 'PlugAndChargeKeyCreated' },
)

export const CreateRfidKeyBody = Type.Object({
  keyIdentifier: Type.String({
    pattern: RFID_UID_PATTERN.source,
    description: 'RFID UID in hex: 8, 14 or 20 characters (4, 7 or 10 bytes)',
    'x-error-code': 'invalid_key_identifier',
    'x-error-message': `must be ${RFID_UID_RULE}`,
  }),
  contractId: ContractId,
  visualNumber: Type.String({ minLength: 1, maxLength: 64, description: 'the number printed on the card' }),
  name: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Null()])),
  enabled: Type.Optional(Type.Boolean({ default: true })),
})

export const UpdateKeyBody = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean()),
    name: Type.Optional(Type.Union([Type.String({ maxLength: 100 }), Type.Null()])),
    validTo: Type.Optional(Type.Union([DateTime('end of validity; null: open-ended'), Type.Null()])),
  },
  { description: 'only the given fields change' },
)

export const KeyType = Type.Union([Type.Literal('plug_and_charge'), Type.Literal('rfid'), Type.Literal('virtual')])

export const ChargingKeyResponse = Type.Object(
  {
    keyId: Type.String({ description: 'Plug&Charge and virtual keys: the contract ID; RFID: the card UID' }),
    type: KeyType,
    contractId: Type.String(),
    pcid: Type.Optional(Type.String({ description: 'Plug&Charge keys' })),
    keyIdentifier: Type.Optional(Type.String({ description: 'RFID keys: the card UID' })),
    visualNumber: Type.Optional(Type.String({ description: 'RFID keys' })),
    enabled: Type.Boolean(),
    name: Type.Union([Type.String(), Type.Null()]),
    validFrom: DateTime('start of validity'),
    validTo: Type.Union([DateTime('end of validity'), Type.Null()]),
    contractCertificate: Type.Optional(
      Type.Object(
        { status: ContractCertificateStatus, validTo: DateTime("the certificate's notAfter") },
        { description: 'Plug&Charge keys with a contract certificate from our CA: the latest one' },
      ),
    ),
    contractPublication: Type.Optional(
      Type.Union([Type.Literal('pending'), Type.Literal('published'), Type.Literal('failed'), Type.Literal('withdrawn')], {
        description:
          "keys whose contract goes through Hubject's ecosystem: how far it got there (details at .../contract-certificate/publication)",
      }),
    ),
    created: DateTime('when the key was created'),
    updated: DateTime('when the key last changed'),
  },
  { title: 'ChargingKey' },
)

export const ChargingKeyList = Type.Object({ keys: Type.Array(ChargingKeyResponse) })

export function presentUser(user: User): Static<typeof UserResponse> {
  return { id: user.id, email: user.email, created: user.createdAt.toISOString(), updated: user.updatedAt.toISOString() }
}

export function presentKey(key: ChargingKey): Static<typeof ChargingKeyResponse> {
  return {
    keyId: key.keyId,
    type: key.type,
    contractId: key.contractId,
    ...(key.pcid !== null && { pcid: key.pcid }),
    ...(key.keyIdentifier !== null && { keyIdentifier: key.keyIdentifier }),
    ...(key.visualNumber !== null && { visualNumber: key.visualNumber }),
    enabled: key.enabled,
    name: key.name,
    validFrom: key.validFrom.toISOString(),
    validTo: key.validTo?.toISOString() ?? null,
    ...(key.contractCertificate && {
      contractCertificate: { status: key.contractCertificate.status, validTo: key.contractCertificate.notAfter.toISOString() },
    }),
    ...(key.contractPublication && { contractPublication: key.contractPublication }),
    created: key.createdAt.toISOString(),
    updated: key.updatedAt.toISOString(),
  }
}

export const SessionParams = Type.Object({
  userId: UserId,
  sessionId: Type.String({ minLength: 1, maxLength: 64, description: 'the session ID (a UUID) from the listing' }),
})

export const MAX_SESSIONS_PAGE = 100
const STATUS_NAMES = ['authorized', 'active', 'stopped', 'completed', 'invalid'] as const

export const SessionListQuery = Type.Object({
  keyId: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 64,
      description: "only this key's sessions: key ID or contract ID, any separator and case form",
    }),
  ),
  from: Type.Optional(DateTime('only sessions that started at or after this time')),
  to: Type.Optional(DateTime('only sessions that started before this time')),
  status: Type.Optional(
    Type.Array(
      Type.String({
        pattern: `^(${STATUS_NAMES.join('|')})(,(${STATUS_NAMES.join('|')}))*$`,
        'x-error-message': `must be one or more of ${STATUS_NAMES.join(', ')} (repeated or comma-separated)`,
      }),
      {
        maxItems: STATUS_NAMES.length,
        description: `only sessions in one of these statuses: repeat the parameter or separate them by commas (status=active,stopped). Any of ${STATUS_NAMES.join(', ')}`,
      },
    ),
  ),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_SESSIONS_PAGE, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 200, description: 'from the previous answer, for the next page; with the same filters' })),
})

/** The organization's sessions: the same filters, and optionally one user's. */
export const OrganizationSessionListQuery = Type.Object({
  userId: Type.Optional({ ...UserId, description: "only this user's sessions (the partner's own user ID)" }),
  ...SessionListQuery.properties,
})

export const OrganizationSessionParams = Type.Object({
  sessionId: Type.String({ minLength: 1, maxLength: 64, description: 'the session ID (a UUID) from the listing' }),
})

/** The status filter's values, as the store names them. */
export function statusesOf(filter: readonly string[] | undefined): SessionStatus[] | undefined {
  if (filter === undefined) return undefined
  return [...new Set(filter.flatMap((f) => f.split(',')))].map((s) => s.toUpperCase() as SessionStatus)
}

/** What both session listings share of their query: status, time window and page, as the store takes them. */
export function sessionWindow(query: Static<typeof SessionListQuery>) {
  return {
    statuses: statusesOf(query.status),
    from: query.from === undefined ? undefined : new Date(query.from),
    to: query.to === undefined ? undefined : new Date(query.to),
    limit: query.limit ?? 50,
    cursor: query.cursor,
  }
}

const NullableDateTime = (description: string) => Type.Union([DateTime(description), Type.Null()])

const Cost = (description: string) =>
  Type.Union(
    [
      Type.Object({
        currency: Type.String({ description: 'ISO 4217 code' }),
        totalExclVat: Type.Number(),
        totalInclVat: Type.Union([Type.Number(), Type.Null()], { description: 'null: the operator did not state it' }),
      }),
      Type.Null(),
    ],
    { description },
  )

const SessionFields = {
  id: Type.String({ description: "openpnc's ID of the session" }),
  status: Type.Union(
    STATUS_NAMES.map((s) => Type.Literal(s)),
    {
      description:
        'authorized: allowed to start; active: charging (the operator said so); stopped: ended, the charge detail record is to follow; completed: the charge detail record is in; invalid: the operator declined it (OCPI INVALID), no record follows. Never moves back; completed and invalid are final.',
    },
  ),
  protocol: Type.Union([Type.Literal('oicp'), Type.Literal('ocpi')], { description: 'the roaming protocol the operator reached us by' }),
  protocolSessionId: Type.String({ description: "the session's ID in that protocol (Hubject's SessionID for OICP)" }),
  key: Type.Object({ keyId: Type.String(), type: KeyType }, { description: 'the charging key the session charged under' }),
  identification: Type.Union(
    [Type.Object({ method: Type.String({ description: "the protocol's identification option" }), value: Type.String() }), Type.Null()],
    { description: 'what the vehicle or driver presented' },
  ),
  locationId: Type.Union([Type.String(), Type.Null()], {
    description: "the operator's location ID (OCPI location_id); null where the protocol does not say",
  }),
  evseId: Type.Union([Type.String(), Type.Null()], { description: 'the EVSE ID (OCPI: from the CDR)' }),
  evseUid: Type.Union([Type.String(), Type.Null()], { description: "the operator's EVSE UID (OCPI evse_uid)" }),
  connectorId: Type.Union([Type.String(), Type.Null()], { description: "the operator's connector ID (OCPI connector_id)" }),
  operatorId: Type.Union([Type.String(), Type.Null()], {
    description: 'the charge point operator: its operator ID (OICP) or its party as country code*party ID (OCPI)',
  }),
  started: DateTime('when the session began (the authorization, or the start the charge detail record gives)'),
  ended: NullableDateTime('when the session ended, from the charge detail record'),
  chargingStarted: NullableDateTime('when energy began to flow'),
  chargingEnded: NullableDateTime('when energy stopped flowing'),
  energyKwh: Type.Union([Type.Number(), Type.Null()], {
    description: 'energy charged: the charge detail record, or the latest the operator reported before it',
  }),
  cost: Cost('what the operator charges: the charge detail record, or the latest the operator reported before it; null: not told'),
  authorized: NullableDateTime('when we authorized it (null: the operator authorized it without asking us)'),
  stopped: NullableDateTime('when we authorized its stop'),
  created: DateTime('when we first heard of it'),
  updated: DateTime('when it last changed'),
}

export const SessionSummary = Type.Object(SessionFields, { title: 'ChargingSession' })

export const SessionList = Type.Object({
  sessions: Type.Array(SessionSummary),
  cursor: Type.Optional(Type.String({ description: 'present when there are more: pass it for the next page' })),
})

export const SessionDetailResponse = Type.Object(
  {
    ...SessionFields,
    cdr: Type.Union(
      [
        Type.Object({
          id: Type.String({ description: "openpnc's ID of the record" }),
          protocolCdrId: Type.Union([Type.String(), Type.Null()], {
            description: "the record's ID in its protocol (OCPI CDR id); null where records have none (OICP)",
          }),
          cost: Cost('the total cost the record states'),
          received: DateTime('when it reached us'),
          sessionStart: NullableDateTime('session start'),
          sessionEnd: NullableDateTime('session end'),
          chargingStart: NullableDateTime('charging start'),
          chargingEnd: NullableDateTime('charging end'),
          energyKwh: Type.Union([Type.Number(), Type.Null()]),
          evseId: Type.Union([Type.String(), Type.Null()]),
          operatorId: Type.Union([Type.String(), Type.Null()]),
          record: Type.Object(
            {},
            {
              additionalProperties: true,
              description:
                "the charge detail record as the protocol delivered it (OICP: Hubject's eRoamingChargeDetailRecord; OCPI: the CDR object)",
            },
          ),
        }),
        Type.Null(),
      ],
      { description: 'the charge detail record; null until it arrives' },
    ),
    notifications: Type.Array(
      Type.Object({
        type: Type.Union([Type.Literal('start'), Type.Literal('progress'), Type.Literal('end'), Type.Literal('error')]),
        occurred: NullableDateTime('when it happened, as the operator says'),
        received: DateTime('when it reached us'),
        body: Type.Object({}, { additionalProperties: true, description: 'the notification as the protocol delivered it' }),
      }),
      { description: 'what the operator reported while the session ran, oldest first' },
    ),
  },
  { title: 'ChargingSessionDetail' },
)

const iso = (date: Date | null) => date?.toISOString() ?? null
const presentCost = (cost: SessionCost | null) =>
  cost && { currency: cost.currency, totalExclVat: cost.exclVat, totalInclVat: cost.inclVat }

/**
 * The one presenter of a session (the Drive API and partner webhooks alike): the store's session
 * with its key (services/sessions: sessionFromRow, toListEntry) as partners read it.
 */
/** A page of sessions as both listings answer it. */
export function sessionPage(page: { sessions: SessionListEntry[]; cursor?: string }): Static<typeof SessionList> {
  return { sessions: page.sessions.map(presentSession), ...(page.cursor !== undefined && { cursor: page.cursor }) }
}

export function presentSession(session: SessionListEntry): Static<typeof SessionSummary> {
  return {
    id: session.id,
    status: session.status.toLowerCase() as Static<typeof SessionSummary>['status'],
    protocol: session.protocol,
    protocolSessionId: session.externalId,
    key: { keyId: session.key.keyId, type: session.key.type as Static<typeof KeyType> },
    identification: session.identification,
    locationId: session.locationId,
    evseId: session.evseId,
    evseUid: session.evseUid,
    connectorId: session.connectorId,
    operatorId: session.operatorId,
    started: session.startedAt.toISOString(),
    ended: iso(session.endedAt),
    chargingStarted: iso(session.chargingStartedAt),
    chargingEnded: iso(session.chargingEndedAt),
    energyKwh: session.energyKwh,
    cost: presentCost(session.cost),
    authorized: iso(session.authorizedAt),
    stopped: iso(session.stoppedAt),
    created: session.createdAt.toISOString(),
    updated: session.updatedAt.toISOString(),
  }
}

export function presentSessionDetail(session: SessionDetail): Static<typeof SessionDetailResponse> {
  const cdr = session.cdr
  return {
    ...presentSession(session),
    cdr: cdr && {
      id: cdr.id,
      protocolCdrId: cdr.externalId,
      cost: presentCost(cdr.cost),
      received: cdr.receivedAt.toISOString(),
      sessionStart: iso(cdr.sessionStart),
      sessionEnd: iso(cdr.sessionEnd),
      chargingStart: iso(cdr.chargingStart),
      chargingEnd: iso(cdr.chargingEnd),
      energyKwh: cdr.energyKwh,
      evseId: cdr.evseId,
      operatorId: cdr.operatorId,
      record: cdr.record,
    },
    notifications: session.notifications.map((n) => ({
      type: n.type,
      occurred: iso(n.occurredAt),
      received: n.receivedAt.toISOString(),
      body: n.body,
    })),
  }
}

export function presentContractCertificate(
  certificate: ContractCertificate,
  contractData: ContractDataModel,
): Static<typeof ContractCertificateResponse> {
  return { ...presentContractState(certificate), certificate: certificate.certificateDer.toString('base64'), contractData }
}

export function presentContractState(certificate: ContractCertificate): Static<typeof ContractCertificateState> {
  return {
    emaid: certificate.emaid,
    pcid: certificate.pcid,
    serialNumber: certificate.serialNumber,
    status: certificate.status,
    validFrom: certificate.notBefore.toISOString(),
    validTo: certificate.notAfter.toISOString(),
    issuedBy: certificate.issuedBy,
    ecdhPeer: certificate.ecdhPeer,
    renewed: certificate.renewalOf !== null,
    ...(certificate.revokedAt && { revoked: certificate.revokedAt.toISOString() }),
    ...(certificate.revocationReason && { revocationReason: certificate.revocationReason }),
    created: certificate.created.toISOString(),
  }
}

// ---------- the authorization endpoint (partner-decided authorization)

export const AuthorizationEndpointBody = Type.Object({
  url: Type.String({
    minLength: 1,
    maxLength: 2000,
    description: 'where we POST each authorization our decision allowed: https (http only in the sandbox)',
  }),
  timeoutMs: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 5000, default: 3000, description: 'how long the station waits for your answer (ms)' }),
  ),
  onTimeout: Type.Optional(
    Type.Union([Type.Literal('allow'), Type.Literal('deny')], {
      default: 'deny',
      description:
        'the answer when you do not answer in time, answer wrongly, or are cut off by the circuit breaker; deny (the default) fails closed',
    }),
  ),
})

const AuthorizationEndpointFields = {
  url: Type.String(),
  timeoutMs: Type.Integer(),
  onTimeout: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
  created: DateTime('when the endpoint was set first'),
  updated: DateTime('when it last changed'),
}

export const AuthorizationEndpointSet = Type.Object({
  ...AuthorizationEndpointFields,
  secret: Type.Optional(
    Type.String({
      pattern: '^whsec_',
      description: 'the signing secret (Standard Webhooks), shown only when this call created it or rotated it',
    }),
  ),
})

export const AuthorizationEndpointResponse = Type.Object({
  ...AuthorizationEndpointFields,
  status: Type.Object(
    {
      breaker: Type.Union([Type.Literal('closed'), Type.Literal('open'), Type.Literal('half_open')]),
      consecutiveFailures: Type.Integer(),
      counts: Type.Object({ answered: Type.Integer(), timeout: Type.Integer(), error: Type.Integer(), breaker_open: Type.Integer() }),
      lastLatencyMs: Type.Union([Type.Number(), Type.Null()]),
    },
    { description: "this instance's circuit breaker and calls since it started (or since the URL changed)" },
  ),
})

export function presentAuthorizationEndpoint(endpoint: {
  url: string
  timeoutMs: number
  onTimeout: 'allow' | 'deny'
  createdAt: Date
  updatedAt: Date
}): Static<typeof AuthorizationEndpointSet> {
  return {
    url: endpoint.url,
    timeoutMs: endpoint.timeoutMs,
    onTimeout: endpoint.onTimeout,
    created: endpoint.createdAt.toISOString(),
    updated: endpoint.updatedAt.toISOString(),
  }
}
