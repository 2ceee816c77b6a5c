import type { Selectable } from 'kysely'
import type { ChargingKeysTable, ChargingKeyType, ContractCertificateStatus, OpcpPublicationState } from '../../infra/db/schema.ts'

/** A charging key as the domain sees it: one model behind every protocol's view of it. */
export interface ChargingKey {
  id: string
  /** creation order */
  seq: string
  organizationId: string
  userId: string
  /** Plug&Charge and virtual keys: the contract ID; RFID keys: the card UID. */
  keyId: string
  type: ChargingKeyType
  contractId: string
  emaidIdentity: string
  pcid: string | null
  keyIdentifier: string | null
  visualNumber: string | null
  name: string | null
  enabled: boolean
  validFrom: Date
  validTo: Date | null
  createdAt: Date
  updatedAt: Date
  deletedAt: Date | null
  /** Plug&Charge keys with a contract certificate from our CA: the latest one's standing */
  contractCertificate?: { status: ContractCertificateStatus; notAfter: Date }
  /** Plug&Charge keys whose contract goes through Hubject's ecosystem: how far it got there */
  contractPublication?: OpcpPublicationState
}

export type ChargingKeyRow = Selectable<ChargingKeysTable>

export function toChargingKey(row: ChargingKeyRow): ChargingKey {
  return {
    id: row.id,
    seq: String(row.seq),
    organizationId: row.organization_id,
    userId: row.user_id,
    keyId: row.type === 'rfid' ? row.rfid_uid! : row.contract_id,
    type: row.type,
    contractId: row.contract_id,
    emaidIdentity: row.emaid_identity,
    pcid: row.pcid,
    keyIdentifier: row.rfid_uid,
    visualNumber: row.visual_number,
    name: row.name,
    enabled: row.enabled,
    validFrom: new Date(row.valid_from),
    validTo: row.valid_to === null ? null : new Date(row.valid_to),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    deletedAt: row.deleted_at === null ? null : new Date(row.deleted_at),
  }
}

export interface KeyChanges {
  enabled?: boolean
  name?: string | null
  validTo?: Date | null
}

/** Only the fields that differ from the key: an update that changes nothing writes nothing. */
export function effectiveChanges(key: ChargingKey, changes: KeyChanges): KeyChanges {
  const effective: KeyChanges = {}
  if (changes.enabled !== undefined && changes.enabled !== key.enabled) effective.enabled = changes.enabled
  if (changes.name !== undefined && changes.name !== key.name) effective.name = changes.name
  if (changes.validTo !== undefined && changes.validTo?.getTime() !== key.validTo?.getTime()) {
    effective.validTo = changes.validTo
  }
  return effective
}
