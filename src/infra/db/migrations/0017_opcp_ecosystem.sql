-- Hubject's Plug&Charge ecosystem over OPCP: which keys' contracts we publish (CPS -> CCP) and how
-- far that is, the roots of the Root Certificate Pool, our webhook endpoints and every webhook
-- event Hubject sent us.

-- One row per Plug&Charge key whose contract goes through the ecosystem (certificate source "pcp").
-- `wanted` is what the ecosystem should hold: the key's active contract, or nothing. The delivery
-- engine (kind 'opcp-contract') brings the ecosystem there; `state` says how far it got.
CREATE TABLE opcp_contracts (
  key_id uuid PRIMARY KEY REFERENCES charging_keys (id),
  organization_id uuid NOT NULL REFERENCES organizations (id),
  pcid text NOT NULL CHECK (pcid ~ '^[A-Z0-9]{17,18}$'),
  -- the EMAID as in the certificate: upper case, no separators, with the check character
  emaid text NOT NULL CHECK (emaid ~ '^[A-Z]{2}[A-Z0-9]{13}$'),
  wanted text NOT NULL DEFAULT 'published' CHECK (wanted IN ('published', 'withdrawn')),
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'published', 'failed', 'withdrawn')),
  -- while pending: fetching the provisioning certificate (PCP), having the contract signed and
  -- stored (CPS), or removing it from the CCP
  step text CHECK (step IN ('provisioning', 'signing', 'withdrawing')),
  -- a contract is to be issued from the PCP's provisioning certificate (the key has none, or the
  -- partner asked again after a revocation); consumed by the issuing transaction, so a revocation
  -- racing a round can never be answered with a new certificate
  issue_requested boolean NOT NULL DEFAULT false,
  -- mo.prov.cert.updated: the vehicle has a new provisioning key, the contract is issued again for it
  reissue_requested boolean NOT NULL DEFAULT false,
  published_certificate_id uuid REFERENCES contract_certificates (id),
  -- the CPS answer: signed contract data (base64 XML, kept opaque) and the V2G root it was signed under
  signed_data text,
  cps_root_fingerprint text,
  cps_root_dn text,
  published_at timestamptz,
  withdrawn_at timestamptz,
  -- a failure that retrying cannot cure (state failed), with Hubject's trace ID
  failure_reason text,
  failure_trace_id text,
  -- the last failed attempt of a pending step (an outage): it is retried
  last_error text,
  -- what Hubject's webhooks said of the delivery to the vehicle's OEM backend
  oem_status text CHECK (oem_status IN ('queued', 'sent', 'delivered', 'rejected', 'deleted')),
  oem_status_at timestamptz,
  -- orders the deliveries of this row: every change that needs a call takes a new value
  version bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((state = 'pending') = (step IS NOT NULL)),
  CHECK (state <> 'failed' OR failure_reason IS NOT NULL)
);
CREATE SEQUENCE opcp_contract_versions;
CREATE INDEX opcp_contracts_emaid_idx ON opcp_contracts (emaid);
CREATE INDEX opcp_contracts_pcid_idx ON opcp_contracts (pcid);

-- A certificate may now also be issued because the ecosystem asked (mo.prov.cert.updated).
ALTER TABLE contract_certificates DROP CONSTRAINT contract_certificates_issued_by_check;
ALTER TABLE contract_certificates ADD CONSTRAINT contract_certificates_issued_by_check
  CHECK (issued_by IN ('partner', 'schedule', 'ecosystem'));

-- The roots of Hubject's Root Certificate Pool, refreshed periodically: V2G and OEM roots are
-- trust anchors of vehicles' provisioning certificates. A root that leaves the pool is kept, marked.
CREATE TABLE opcp_roots (
  fingerprint text PRIMARY KEY CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
  root_type text NOT NULL CHECK (root_type IN ('V2G', 'OEM', 'MO', 'PE')),
  certificate bytea NOT NULL,
  distinguished_name text,
  root_certificate_id text,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  removed_at timestamptz
);

-- Our webhook endpoints registered with Hubject; the signing secret encrypted with the platform's key.
CREATE TABLE opcp_webhook_endpoints (
  id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
  url text NOT NULL,
  events text[] NOT NULL,
  secret_sealed text NOT NULL,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Every webhook event Hubject sent (once per eventId: a repeat is acknowledged and changes nothing),
-- with what we did about it.
CREATE TABLE opcp_webhook_events (
  event_id uuid PRIMARY KEY,
  event_type text NOT NULL,
  emaid text,
  pcid text,
  key_id uuid REFERENCES charging_keys (id),
  body jsonb NOT NULL,
  -- applied, no_contract (no key of ours), recorded (nothing to do), unknown_type
  outcome text NOT NULL,
  detail text,
  signature_header text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX opcp_webhook_events_received_idx ON opcp_webhook_events (received_at DESC);
CREATE INDEX opcp_webhook_events_key_idx ON opcp_webhook_events (key_id) WHERE key_id IS NOT NULL;
