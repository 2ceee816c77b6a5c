-- A key's validity beginning (valid_from arrives) or ending (valid_to passes) is a key event of its
-- own, written when it happens, so every reader of key events (OCPI token pushes, Hubject's
-- authentication data, partner webhooks) learns of it as of any other change.

ALTER TABLE key_events DROP CONSTRAINT key_events_type_check;
ALTER TABLE key_events ADD CONSTRAINT key_events_type_check
  CHECK (type IN ('created', 'enabled', 'disabled', 'deleted', 'validity_changed', 'updated', 'activated', 'expired'));

-- How far the clock has been looked at: moments after it are still to be turned into events. One
-- row, locked by the instance that moves it, so several instances never write an event twice.
CREATE TABLE key_validity_clock (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  checked_until timestamptz NOT NULL DEFAULT now()
);
-- Hubject's push looked at validity itself until now; the clock takes over from where it got to.
INSERT INTO key_validity_clock (checked_until) SELECT validity_checked_until FROM oicp_auth_push;
INSERT INTO key_validity_clock DEFAULT VALUES ON CONFLICT DO NOTHING;
ALTER TABLE oicp_auth_push DROP COLUMN validity_checked_until;

