-- Hubject OICP 2.3, we as an offline EMP: what PushAuthenticationData has given Hubject.
-- One row per authentication data record Hubject acknowledged and holds (as far as its answers
-- told us), named like its delivery subject: 'evco:<EMAID identity>' or 'uid:<RFID UID>'. A push
-- compares a record's wanted state with this to choose insert, delete or nothing, since Hubject
-- refuses to insert a record it holds; a fullLoad replaces it all.
CREATE TABLE oicp_auth_records (
  record text PRIMARY KEY CHECK (length(record) BETWEEN 1 AND 100),
  identification jsonb NOT NULL,
  pushed_at timestamptz NOT NULL DEFAULT now()
);

-- The push's own state, one row: how far key validity (valid_from / valid_to passing without a
-- key event) has been looked at, and what the last pushes did.
CREATE TABLE oicp_auth_push (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  validity_checked_until timestamptz NOT NULL DEFAULT now(),
  last_push_at timestamptz,
  last_push_action text,
  last_push_records integer,
  last_full_load_at timestamptz,
  last_full_load_records integer
);
INSERT INTO oicp_auth_push DEFAULT VALUES;

-- A key's validity ending or beginning by the clock withdraws or adds its record: the push looks
-- for those keys every minute, through these instead of every key.
CREATE INDEX charging_keys_valid_to_idx ON charging_keys (valid_to) WHERE valid_to IS NOT NULL;
CREATE INDEX charging_keys_later_start_idx ON charging_keys (valid_from) WHERE valid_from > created_at;
