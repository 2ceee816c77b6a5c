-- Hubject OICP 2.3: the EVSE data we pull (PullEvseData v2.3) and its statuses (PullEvseStatus).
-- One row per EVSE as Hubject sent it; the charging locations (protocol 'oicp') are derived from
-- these, one per operator and charging pool (or station), so a delta that moves, changes or
-- deletes one EVSE rebuilds just the locations it touched.
CREATE TABLE oicp_evse_records (
  -- EvseIDs are compared without case and separators' spelling kept as sent in `record`
  evse_key text PRIMARY KEY CHECK (length(evse_key) BETWEEN 1 AND 60),
  operator_id text NOT NULL,
  location_id text NOT NULL CHECK (length(location_id) BETWEEN 1 AND 60),
  record jsonb NOT NULL,
  -- Hubject's EvseStatus from the last status pull; null: none seen yet
  status text,
  -- the full pull that last listed it: a full pull removes what it did not list
  full_pull_id bigint,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oicp_evse_records_location_idx ON oicp_evse_records (operator_id, location_id);

-- The pull's own state, one row: the time of the last pull to give Hubject as LastCall, what the
-- last pulls did, and a lease so that of several instances one pulls at a time.
CREATE TABLE oicp_evse_pull (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  last_call timestamptz,
  full_pull_seq bigint NOT NULL DEFAULT 0,
  last_full_at timestamptz,
  last_full_result jsonb,
  last_delta_at timestamptz,
  last_delta_result jsonb,
  last_status_at timestamptz,
  last_status_result jsonb,
  last_error text,
  last_error_at timestamptz,
  leased_until timestamptz
);
INSERT INTO oicp_evse_pull DEFAULT VALUES;
