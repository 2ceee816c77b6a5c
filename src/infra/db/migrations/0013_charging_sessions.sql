-- Charging sessions and their charge detail records, whatever protocol told us of them (OICP
-- today, OCPI's Sessions and CDRs modules next): one store, read by the Drive API.

CREATE TABLE charging_sessions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations (id),
  user_id uuid NOT NULL REFERENCES users (id),
  -- Keys and users are tombstoned, never removed (migration 0001), so a session keeps its key for
  -- good: a session of a deleted key still shows which key charged.
  key_id uuid NOT NULL REFERENCES charging_keys (id),
  protocol text NOT NULL CHECK (protocol IN ('oicp', 'ocpi')),
  -- Who names the session: '' where the protocol's session IDs are global (Hubject's SessionID),
  -- the CPO's party where they are unique per party only (OCPI).
  issuer text NOT NULL DEFAULT '' CHECK (length(issuer) <= 100),
  -- the protocol's session ID
  external_id text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 100),
  -- the authorization decision that let it start (authorization_decisions), when we made one
  authorization_reference text,
  evse_id text CHECK (length(evse_id) <= 100),
  operator_id text CHECK (length(operator_id) <= 100),
  -- what the driver presented: the protocol's identification option and the identifier as sent
  identification_method text CHECK (length(identification_method) <= 100),
  identification text CHECK (length(identification) <= 255),
  -- only moves forward: AUTHORIZED -> ACTIVE (charging) -> STOPPED (stop authorized) -> COMPLETED (CDR)
  status text NOT NULL CHECK (status IN ('AUTHORIZED', 'ACTIVE', 'STOPPED', 'COMPLETED')),
  -- when the session began as best known (the authorization, then the CDR's session start); the listing's order
  started_at timestamptz NOT NULL,
  ended_at timestamptz,
  charging_started_at timestamptz,
  charging_ended_at timestamptz,
  -- the CDR's energy, or the latest the notifications told before it
  energy_kwh numeric CHECK (energy_kwh >= 0),
  authorized_at timestamptz,
  stopped_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- A protocol's session is one row, however often and however concurrently it is reported.
CREATE UNIQUE INDEX charging_sessions_external_key ON charging_sessions (protocol, issuer, external_id);
-- The Drive API's listing: a user's sessions newest first, optionally of one key.
CREATE INDEX charging_sessions_user_started_idx ON charging_sessions (user_id, started_at DESC, id DESC);
CREATE INDEX charging_sessions_key_started_idx ON charging_sessions (key_id, started_at DESC, id DESC);
CREATE INDEX charging_sessions_organization_idx ON charging_sessions (organization_id);

-- One charge detail record per session, kept as received; the content hash tells a repeat of it
-- (acknowledged, not stored again) from a different record for the same session (refused).
CREATE TABLE charge_detail_records (
  session_id uuid PRIMARY KEY REFERENCES charging_sessions (id),
  record jsonb NOT NULL,
  content_sha256 text NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
  session_start timestamptz,
  session_end timestamptz,
  charging_start timestamptz,
  charging_end timestamptz,
  energy_kwh numeric CHECK (energy_kwh >= 0),
  evse_id text,
  operator_id text,
  received_at timestamptz NOT NULL DEFAULT now()
);

-- What the CPO told while the session ran (start of charging, progress, end of charging, errors).
CREATE TABLE session_notifications (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id uuid NOT NULL REFERENCES charging_sessions (id),
  type text NOT NULL CHECK (type IN ('start', 'progress', 'end', 'error')),
  body jsonb NOT NULL,
  content_sha256 text NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{64}$'),
  -- when it happened, as the notification says
  occurred_at timestamptz,
  received_at timestamptz NOT NULL DEFAULT now()
);
-- A notification sent again is the same notification.
CREATE UNIQUE INDEX session_notifications_content_key ON session_notifications (session_id, content_sha256);
CREATE INDEX session_notifications_session_idx ON session_notifications (session_id, received_at);
