-- Partner-decided authorization: an organization may name an HTTPS endpoint that has the last word
-- on its own keys after our decision says ALLOWED (a session pre-authorization, e.g. a credit check).
-- One endpoint per organization; its signing secret is sealed (SecretBox), never stored in clear.
CREATE TABLE authorization_endpoints (
  organization_id uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
  url text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
  timeout_ms integer NOT NULL DEFAULT 3000 CHECK (timeout_ms BETWEEN 1 AND 5000),
  -- what the driver gets when the partner does not answer in time, fails, or its breaker is open
  on_timeout text NOT NULL DEFAULT 'deny' CHECK (on_timeout IN ('allow', 'deny')),
  secret_sealed text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The partner's part of a decision. `allowed` stays our own decision; when the partner was asked:
-- how the call ended, its answer (only when it answered), how long it took (not when the breaker
-- kept us from calling), and the answer the station got when it differs from ours.
ALTER TABLE authorization_decisions
  ADD COLUMN partner_outcome text CHECK (partner_outcome IN ('answered', 'timeout', 'error', 'breaker_open')),
  ADD COLUMN partner_allowed text CHECK (partner_allowed IN ('ALLOWED', 'BLOCKED', 'EXPIRED', 'NO_CREDIT', 'NOT_ALLOWED')),
  ADD COLUMN partner_latency_us integer CHECK (partner_latency_us >= 0),
  -- a short reason for a timeout or error (never the partner's body)
  ADD COLUMN partner_error text CHECK (length(partner_error) <= 300),
  ADD COLUMN final_allowed text CHECK (final_allowed IN ('ALLOWED', 'BLOCKED', 'EXPIRED', 'NO_CREDIT', 'NOT_ALLOWED')),
  ADD CONSTRAINT authorization_decisions_partner_check CHECK (
    (partner_outcome IS NULL AND partner_allowed IS NULL AND partner_latency_us IS NULL AND partner_error IS NULL AND final_allowed IS NULL)
    OR (partner_outcome = 'answered' AND partner_allowed IS NOT NULL AND partner_latency_us IS NOT NULL AND partner_error IS NULL)
    OR (partner_outcome IN ('timeout', 'error') AND partner_allowed IS NULL AND partner_latency_us IS NOT NULL)
    OR (partner_outcome = 'breaker_open' AND partner_allowed IS NULL AND partner_latency_us IS NULL)
  ),
  ADD CONSTRAINT authorization_decisions_final_check CHECK (final_allowed IS DISTINCT FROM allowed);
