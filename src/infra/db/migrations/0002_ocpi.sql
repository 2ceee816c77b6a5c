-- OCPI roaming: partners (CPOs), their credentials, token delivery, authorization decisions.

CREATE TABLE ocpi_partners (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  -- created: has a Token A, nothing exchanged; registered: credentials exchanged; unregistered
  status text NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'registered', 'unregistered')),
  -- the token the partner uses to call us (A before registration, then C or B), as SHA-256
  token_a_sha256 bytea UNIQUE,
  incoming_token_sha256 bytea UNIQUE,
  -- the token we use to call the partner, encrypted (AES-256-GCM)
  outgoing_token_encrypted text,
  versions_url text,
  version text CHECK (version IN ('2.2.1', '2.3.0')),
  -- [{identifier, role, url}] of the negotiated version
  endpoints jsonb NOT NULL DEFAULT '[]',
  -- [{role, party_id, country_code, business_details}] as the partner stated them
  roles jsonb NOT NULL DEFAULT '[]',
  -- how we send our token: OCPI 2.2+ says base64, some partners want it raw
  authorization_style text NOT NULL DEFAULT 'base64' CHECK (authorization_style IN ('base64', 'raw')),
  -- Token.type of Plug&Charge keys towards this partner; null: OTHER on 2.2.1, EMAID on 2.3.0
  emaid_token_type text CHECK (emaid_token_type IN ('OTHER', 'EMAID')),
  registered_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Where the outbox publisher has read up to: every event of a transaction below this xid is
-- handed on (events are read by transaction, so a late commit with a lower seq is never skipped).
CREATE TABLE outbox_cursors (
  name text PRIMARY KEY,
  next_tx_id xid8 NOT NULL
);
CREATE INDEX key_events_tx_idx ON key_events (tx_id);

-- One row per partner and key: the newest event to deliver and the newest delivered. The key's
-- current state is sent, so after an outage only the newest state travels, never an older one.
CREATE TABLE ocpi_token_deliveries (
  partner_id uuid NOT NULL REFERENCES ocpi_partners (id) ON DELETE CASCADE,
  key_id uuid NOT NULL REFERENCES charging_keys (id),
  pending_seq bigint NOT NULL,
  delivered_seq bigint NOT NULL DEFAULT 0,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  -- a worker holds the row until then, so one token is never sent twice at once
  leased_until timestamptz,
  last_error text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (partner_id, key_id)
);
CREATE INDEX ocpi_token_deliveries_due_idx ON ocpi_token_deliveries (next_attempt_at) WHERE pending_seq > delivered_seq;

-- Every real-time authorization decision.
CREATE TABLE authorization_decisions (
  authorization_reference text PRIMARY KEY,
  protocol text NOT NULL,
  partner_id uuid,
  token_uid text NOT NULL,
  token_type text,
  emaid_identity text,
  key_id uuid,
  organization_id uuid,
  allowed text NOT NULL,
  location jsonb,
  latency_us integer NOT NULL,
  decided_at timestamptz NOT NULL
);
CREATE INDEX authorization_decisions_key_idx ON authorization_decisions (key_id, decided_at);

-- The tokens list is paged by last change.
CREATE INDEX charging_keys_updated_idx ON charging_keys (updated_at, seq);
-- The authorization lookup of an RFID token.
CREATE INDEX charging_keys_rfid_uid_idx ON charging_keys (rfid_uid) WHERE rfid_uid IS NOT NULL;
