-- OCPI's Sessions and CDRs modules feed the session store (migration 0013) beside OICP.

-- OCPI INVALID: the CPO declined the session, no CDR follows. Terminal, as COMPLETED is.
ALTER TABLE charging_sessions DROP CONSTRAINT charging_sessions_status_check;
ALTER TABLE charging_sessions ADD CONSTRAINT charging_sessions_status_check
  CHECK (status IN ('AUTHORIZED', 'ACTIVE', 'STOPPED', 'COMPLETED', 'INVALID'));

-- What OCPI tells of the place and the price, which a partner wants to see without reading records.
ALTER TABLE charging_sessions
  ADD COLUMN location_id text CHECK (length(location_id) <= 36),
  ADD COLUMN evse_uid text CHECK (length(evse_uid) <= 36),
  ADD COLUMN connector_id text CHECK (length(connector_id) <= 36),
  ADD COLUMN currency text CHECK (currency ~ '^[A-Z]{3}$'),
  -- OCPI's Price: excl. VAT always, incl. VAT when the CPO states it
  ADD COLUMN total_cost_excl_vat numeric CHECK (total_cost_excl_vat >= 0),
  ADD COLUMN total_cost_incl_vat numeric CHECK (total_cost_incl_vat >= 0),
  -- the session as the protocol last described it (OCPI's Session object, PATCHes merged), for GET
  ADD COLUMN record jsonb;

-- A CDR names itself in OCPI (its id, unique per CPO party), not only by its session.
ALTER TABLE charge_detail_records
  ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid(),
  ADD COLUMN protocol text,
  ADD COLUMN issuer text NOT NULL DEFAULT '' CHECK (length(issuer) <= 100),
  ADD COLUMN external_id text CHECK (length(external_id) BETWEEN 1 AND 100),
  ADD COLUMN currency text CHECK (currency ~ '^[A-Z]{3}$'),
  ADD COLUMN total_cost_excl_vat numeric CHECK (total_cost_excl_vat >= 0),
  ADD COLUMN total_cost_incl_vat numeric CHECK (total_cost_incl_vat >= 0);
UPDATE charge_detail_records c SET protocol = s.protocol FROM charging_sessions s WHERE s.id = c.session_id;
ALTER TABLE charge_detail_records ALTER COLUMN protocol SET NOT NULL;
ALTER TABLE charge_detail_records ADD CONSTRAINT charge_detail_records_protocol_check CHECK (protocol IN ('oicp', 'ocpi'));
-- Our own ID of a record: the URL a CPO is given to read it back (OCPI's Location header).
CREATE UNIQUE INDEX charge_detail_records_id_key ON charge_detail_records (id);
-- A CDR is stored once per party and ID, however often and however concurrently it is sent; the
-- content hash tells a repeat (acknowledged) from another record under the same ID (refused).
CREATE UNIQUE INDEX charge_detail_records_external_key ON charge_detail_records (protocol, issuer, external_id);
