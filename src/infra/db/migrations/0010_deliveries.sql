-- One durable delivery engine for every protocol: one row per destination and subject (e.g.
-- 'ocpi:<partnerId>' and 'token:<keyId>'), its kind naming the sender. The subject's current
-- state is sent, so after an outage only the newest state travels, never an older one.
CREATE TABLE deliveries (
  destination text NOT NULL CHECK (length(destination) BETWEEN 1 AND 200),
  subject text NOT NULL CHECK (length(subject) BETWEEN 1 AND 200),
  kind text NOT NULL CHECK (length(kind) BETWEEN 1 AND 50),
  -- the newest change to deliver, and the one the last successful send covered (0: none; the
  -- destination gets the subject afresh)
  version bigint NOT NULL CHECK (version > 0),
  delivered_version bigint NOT NULL DEFAULT 0,
  -- bumped by every re-arm: a send marks its row delivered only if no change came meanwhile
  generation bigint NOT NULL DEFAULT 1,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  -- a worker holds the row until then, so one subject is never sent twice at once; only the
  -- holder of lease_id records the outcome
  lease_until timestamptz,
  lease_id uuid,
  -- parked after a permanent failure (a dead letter) until replayed or re-armed by a newer change
  dead_at timestamptz,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (destination, subject)
);
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE version > delivered_version AND dead_at IS NULL;
CREATE INDEX deliveries_dead_idx ON deliveries (dead_at) WHERE dead_at IS NOT NULL;

-- The OCPI token deliveries move over as they stand: what was delivered stays delivered, what
-- was waiting keeps waiting (with its attempts and backoff).
INSERT INTO deliveries (destination, subject, kind, version, delivered_version, attempts, next_attempt_at, last_error, updated_at)
SELECT 'ocpi:' || partner_id, 'token:' || key_id, 'ocpi-token', pending_seq, delivered_seq, attempts, next_attempt_at, last_error, updated_at
  FROM ocpi_token_deliveries;
DROP TABLE ocpi_token_deliveries;

-- The old table's shape, read-only, for operators' queries written against it.
CREATE VIEW ocpi_token_deliveries AS
SELECT CASE WHEN kind = 'ocpi-token' THEN substr(destination, 6)::uuid END AS partner_id,
       CASE WHEN kind = 'ocpi-token' THEN substr(subject, 7)::uuid END AS key_id,
       version AS pending_seq, delivered_version AS delivered_seq, attempts, next_attempt_at,
       lease_until AS leased_until, last_error, dead_at, updated_at
  FROM deliveries
 WHERE kind = 'ocpi-token';
