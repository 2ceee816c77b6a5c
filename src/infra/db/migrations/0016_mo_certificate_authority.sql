-- Our Mobility Operator certificate authority (ISO 15118-2): the CA chain with its OCSP signers,
-- the contract certificates it issues for Plug&Charge keys, their lifecycle events, and the CRLs.

-- MO Root -> Sub-CA 1 -> Sub-CA 2, and one delegated OCSP-signing certificate per CA. Rows are
-- never removed: a retired CA stays to answer OCSP for what it issued.
CREATE TABLE pki_authorities (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  role text NOT NULL CHECK (role IN ('root', 'sub_ca_1', 'sub_ca_2', 'ocsp_signer')),
  -- null for a self-signed root (or the top of an imported chain)
  issuer_id uuid REFERENCES pki_authorities (id),
  certificate bytea NOT NULL CHECK (length(certificate) BETWEEN 100 AND 4096),
  serial_number text NOT NULL CHECK (serial_number ~ '^[0-9a-f]{1,40}$'),
  subject text NOT NULL,
  subject_key_id text NOT NULL CHECK (subject_key_id ~ '^[0-9a-f]{2,64}$'),
  -- the private key, encrypted with the platform's secret key (SecretBox, bound to subject_key_id);
  -- null when we do not hold it (an imported root whose key stays offline)
  private_key_sealed text,
  not_before timestamptz NOT NULL,
  not_after timestamptz NOT NULL CHECK (not_after > not_before),
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- One active CA per role, one active OCSP signer per CA: issuance never has to choose.
CREATE UNIQUE INDEX pki_authorities_active_role ON pki_authorities (role) WHERE active AND role <> 'ocsp_signer';
CREATE UNIQUE INDEX pki_authorities_active_signer ON pki_authorities (issuer_id) WHERE active AND role = 'ocsp_signer';
-- A CA imported again (after --replace) is a new row with the same key: retired rows keep theirs.
CREATE UNIQUE INDEX pki_authorities_subject_key_id ON pki_authorities (subject_key_id) WHERE active AND role <> 'ocsp_signer';

-- Contract certificates, one row each; a renewal is a new row that supersedes the old one.
CREATE TABLE contract_certificates (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  organization_id uuid NOT NULL REFERENCES organizations (id),
  key_id uuid NOT NULL REFERENCES charging_keys (id),
  -- the subject CN: the EMAID upper case, without separators, with its check character
  emaid text NOT NULL CHECK (emaid ~ '^[A-Z]{2}[A-Z0-9]{13}$'),
  emaid_identity text NOT NULL CHECK (emaid_identity ~ '^[A-Z]{2}[A-Z0-9]{12}$' AND emaid_identity = left(emaid, 14)),
  pcid text NOT NULL CHECK (pcid ~ '^[A-Z0-9]{17,18}$'),
  issuer_id uuid NOT NULL REFERENCES pki_authorities (id),
  serial_number text NOT NULL CHECK (serial_number ~ '^[0-9a-f]{1,40}$'),
  certificate bytea NOT NULL CHECK (length(certificate) BETWEEN 100 AND 800),
  not_before timestamptz NOT NULL,
  not_after timestamptz NOT NULL CHECK (not_after > not_before),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'superseded', 'revoked', 'expired')),
  -- the certificate this one renewed, and who asked: the partner, or the scheduled renewal
  renewal_of uuid REFERENCES contract_certificates (id),
  issued_by text NOT NULL DEFAULT 'partner' CHECK (issued_by IN ('partner', 'schedule')),
  -- whose key the contract's private key was encrypted for: the vehicle's OEM provisioning key
  -- (an installation) or the previous contract key (an ISO 15118-2 CertificateUpdate)
  ecdh_peer text NOT NULL CHECK (ecdh_peer IN ('oem', 'contract')),
  -- the vehicle's provisioning certificate last seen for this contract with its chain (PEM), for
  -- renewals for the OEM key
  provisioning_certificate text,
  -- the contract data a charger installs (certificates and the encrypted private key), encrypted
  -- with the platform's secret key: it is kept so it can be shown and published again
  contract_data_sealed text NOT NULL,
  revoked_at timestamptz,
  revocation_reason text CHECK (revocation_reason IN ('unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged',
    'superseded', 'cessationOfOperation', 'certificateHold', 'privilegeWithdrawn', 'aACompromise')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'revoked') = (revoked_at IS NOT NULL)),
  -- An EMAID is bound to one vehicle (PCID) for as long as one of its certificates is not revoked.
  CONSTRAINT contract_certificates_emaid_other_pcid EXCLUDE USING gist (emaid_identity WITH =, pcid WITH <>) WHERE (status <> 'revoked')
);
-- Serial numbers are unique per issuer (RFC 5280): the OCSP and CRL lookup.
CREATE UNIQUE INDEX contract_certificates_issuer_serial_key ON contract_certificates (issuer_id, serial_number);
-- A key has at most one current certificate.
CREATE UNIQUE INDEX contract_certificates_active_key ON contract_certificates (key_id) WHERE status = 'active';
CREATE INDEX contract_certificates_key_idx ON contract_certificates (key_id, seq DESC);
-- The renewal and expiry jobs walk active certificates by end of validity.
CREATE INDEX contract_certificates_active_not_after_idx ON contract_certificates (not_after) WHERE status = 'active';
CREATE INDEX contract_certificates_revoked_idx ON contract_certificates (issuer_id) WHERE status = 'revoked';

-- Lifecycle events of contract certificates, written by a trigger in the transaction that made the
-- change (as key_events are): what partner webhooks and the ecosystem publication read.
CREATE TABLE contract_certificate_events (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
  certificate_id uuid NOT NULL REFERENCES contract_certificates (id),
  organization_id uuid NOT NULL REFERENCES organizations (id),
  key_id uuid NOT NULL REFERENCES charging_keys (id),
  type text NOT NULL CHECK (type IN ('issued', 'renewed', 'revoked', 'expired')),
  -- who caused it ('partner', 'schedule'), the revocation reason, the EMAID and validity
  details jsonb NOT NULL,
  occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contract_certificate_events_certificate_idx ON contract_certificate_events (certificate_id);

CREATE FUNCTION record_contract_certificate_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  event_type text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    event_type := CASE WHEN NEW.renewal_of IS NULL THEN 'issued' ELSE 'renewed' END;
  ELSIF NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('revoked', 'expired') THEN
    event_type := NEW.status;
  ELSE
    RETURN NULL;
  END IF;
  INSERT INTO contract_certificate_events (certificate_id, organization_id, key_id, type, details)
    VALUES (NEW.id, NEW.organization_id, NEW.key_id, event_type, jsonb_build_object(
      'emaid', NEW.emaid, 'pcid', NEW.pcid, 'serialNumber', NEW.serial_number, 'notBefore', NEW.not_before,
      'notAfter', NEW.not_after, 'issuedBy', NEW.issued_by, 'renewalOf', NEW.renewal_of,
      'revocationReason', NEW.revocation_reason));
  RETURN NULL;
END
$$;
CREATE TRIGGER contract_certificate_events AFTER INSERT OR UPDATE ON contract_certificates
  FOR EACH ROW EXECUTE FUNCTION record_contract_certificate_event();

-- Deleting a key (or its user) ends its contract: every certificate of it that is still valid is
-- revoked in the same transaction, whoever deleted it.
CREATE FUNCTION revoke_certificates_of_deleted_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE contract_certificates
    SET status = 'revoked', revoked_at = NEW.deleted_at, revocation_reason = 'cessationOfOperation', updated_at = now()
    WHERE key_id = NEW.id AND status IN ('active', 'superseded');
  RETURN NULL;
END
$$;
CREATE TRIGGER charging_key_deleted_revokes_certificates AFTER UPDATE OF deleted_at ON charging_keys
  FOR EACH ROW WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL)
  EXECUTE FUNCTION revoke_certificates_of_deleted_key();

-- The latest CRL of each issuing CA, regenerated on every revocation and at least daily.
CREATE TABLE pki_crls (
  issuer_id uuid PRIMARY KEY REFERENCES pki_authorities (id),
  crl_number bigint NOT NULL CHECK (crl_number >= 1),
  crl bytea NOT NULL,
  this_update timestamptz NOT NULL,
  next_update timestamptz NOT NULL
);

-- A Plug&Charge key's validTo follows its contract certificate's notAfter until the partner sets
-- one of its own (PATCH validTo); then the partner's date bounds every renewal.
ALTER TABLE charging_keys ADD COLUMN valid_to_from_certificate boolean NOT NULL DEFAULT false;
