-- Foundation: organizations and their API keys, users, charging keys and the key-event outbox.
-- Runs unchanged on PostgreSQL (15+) and PGlite.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE organizations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  enabled boolean NOT NULL DEFAULT true,
  plug_and_charge_enabled boolean NOT NULL DEFAULT false,
  -- normalized: upper-case, no separators
  contract_id_prefixes text[] NOT NULL DEFAULT '{}',
  -- country + provider for generated EMAIDs, normalized (DE8PS); null: the platform's
  emaid_prefix text CHECK (emaid_prefix ~ '^[A-Z]{2}[A-Z0-9]{3}$'),
  duplicate_contract_ids text NOT NULL DEFAULT 'reject' CHECK (duplicate_contract_ids IN ('reject', 'allow')),
  check_digit text NOT NULL DEFAULT 'lenient' CHECK (check_digit IN ('lenient', 'strict')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The secret part of a key is stored only as its SHA-256: keys are 190 random bits, so a slow hash
-- would add latency to every request without adding safety.
CREATE TABLE api_keys (
  id text PRIMARY KEY,
  -- null: a platform key (the admin key)
  organization_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
  secret_sha256 bytea NOT NULL,
  scopes text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX api_keys_organization_idx ON api_keys (organization_id);

CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations (id),
  -- the partner's own user ID
  external_id text NOT NULL,
  email text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- deleted users stay as tombstones so that their keys still answer "blocked"
  deleted_at timestamptz
);
CREATE UNIQUE INDEX users_external_id_key ON users (organization_id, external_id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX users_email_key ON users (organization_id, lower(email)) WHERE deleted_at IS NULL AND email IS NOT NULL;

CREATE TABLE charging_keys (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  organization_id uuid NOT NULL REFERENCES organizations (id),
  user_id uuid NOT NULL REFERENCES users (id),
  type text NOT NULL CHECK (type IN ('plug_and_charge', 'rfid', 'virtual')),
  -- as registered (upper-case, separators and check character as given)
  contract_id text NOT NULL,
  -- the EMAID's 14 identifying characters: the contract's identity
  emaid_identity text NOT NULL CHECK (emaid_identity ~ '^[A-Z]{2}[A-Z0-9]{12}$'),
  pcid text CHECK (pcid ~ '^[A-Z0-9]{17,18}$'),
  rfid_uid text CHECK (rfid_uid ~ '^([0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$'),
  visual_number text,
  name text,
  enabled boolean NOT NULL DEFAULT true,
  valid_from timestamptz NOT NULL DEFAULT now(),
  valid_to timestamptz,
  -- the organization's duplicate policy when the key was created
  duplicates_allowed boolean NOT NULL DEFAULT false,
  -- A key created under "reject" claims the whole range, a key created under "allow" only its own
  -- point, so the exclusion constraint below lets "allow" keys share an EMAID while any "reject"
  -- key conflicts with every other live key of that EMAID, whatever order they arrive in.
  emaid_claim int8range GENERATED ALWAYS AS (
    CASE WHEN duplicates_allowed THEN int8range(seq, seq, '[]') ELSE '(,)'::int8range END
  ) STORED,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  CHECK ((type = 'plug_and_charge') = (pcid IS NOT NULL)),
  CHECK ((type = 'rfid') = (rfid_uid IS NOT NULL)),
  -- Across organizations an EMAID is never shared, tombstones included.
  CONSTRAINT charging_keys_emaid_other_organization EXCLUDE USING gist (emaid_identity WITH =, organization_id WITH <>),
  -- Inside one organization, live keys follow the duplicate policy.
  CONSTRAINT charging_keys_emaid_duplicate EXCLUDE USING gist (emaid_identity WITH =, emaid_claim WITH &&) WHERE (deleted_at IS NULL)
);
-- One user never holds the same contract twice, so a key path by contract ID is unambiguous.
CREATE UNIQUE INDEX charging_keys_user_emaid_key ON charging_keys (user_id, emaid_identity) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX charging_keys_rfid_uid_key ON charging_keys (organization_id, rfid_uid) WHERE deleted_at IS NULL AND rfid_uid IS NOT NULL;
-- The authorization lookup: an EMAID to its keys.
CREATE INDEX charging_keys_emaid_identity_idx ON charging_keys (emaid_identity);
CREATE INDEX charging_keys_user_idx ON charging_keys (user_id);

-- Outbox: every change of a charging key, in the transaction that made it. `seq` is monotonic;
-- `tx_id` lets a reader skip events of transactions still in flight (a lower seq can commit later).
CREATE TABLE key_events (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
  key_id uuid NOT NULL REFERENCES charging_keys (id),
  organization_id uuid NOT NULL REFERENCES organizations (id),
  type text NOT NULL CHECK (type IN ('created', 'enabled', 'disabled', 'deleted', 'validity_changed', 'updated')),
  -- the key as it was after the change
  key jsonb NOT NULL,
  occurred_at timestamptz NOT NULL DEFAULT now()
);

-- A trigger, not application code, writes the events: nothing can change a key without its event.
CREATE FUNCTION record_charging_key_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  event_type text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    event_type := 'created';
  ELSIF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
    event_type := 'deleted';
  ELSIF NEW.enabled IS DISTINCT FROM OLD.enabled THEN
    event_type := CASE WHEN NEW.enabled THEN 'enabled' ELSE 'disabled' END;
  ELSIF (NEW.valid_from, NEW.valid_to) IS DISTINCT FROM (OLD.valid_from, OLD.valid_to) THEN
    event_type := 'validity_changed';
  ELSIF (NEW.name, NEW.visual_number, NEW.contract_id) IS DISTINCT FROM (OLD.name, OLD.visual_number, OLD.contract_id) THEN
    event_type := 'updated';
  ELSE
    RETURN NULL;
  END IF;
  INSERT INTO key_events (key_id, organization_id, type, key)
    VALUES (NEW.id, NEW.organization_id, event_type, to_jsonb(NEW) - 'emaid_claim' - 'seq');
  RETURN NULL;
END
$$;
CREATE TRIGGER charging_key_events AFTER INSERT OR UPDATE ON charging_keys
  FOR EACH ROW EXECUTE FUNCTION record_charging_key_event();

-- Keys are tombstoned, never removed: their history and their "blocked" answer must survive.
CREATE FUNCTION forbid_charging_key_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'charging keys are tombstoned (deleted_at), not deleted';
END
$$;
CREATE TRIGGER charging_keys_no_delete BEFORE DELETE ON charging_keys
  FOR EACH ROW EXECUTE FUNCTION forbid_charging_key_delete();

-- Idempotency-Key replays: the first response to a POST, per caller and key, for 24 hours.
CREATE TABLE idempotency_records (
  scope text NOT NULL,
  key text NOT NULL,
  request_fingerprint text NOT NULL,
  status_code integer,
  response_body text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_records_created_idx ON idempotency_records (created_at);
