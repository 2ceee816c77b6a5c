-- Charging locations from CPOs, searchable by distance (cube + earthdistance: in PostgreSQL and PGlite).

CREATE EXTENSION IF NOT EXISTS cube;
CREATE EXTENSION IF NOT EXISTS earthdistance;

CREATE TABLE locations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- the CPO that sent it; null: loaded in bulk (sandbox, simulator)
  partner_id uuid REFERENCES ocpi_partners (id) ON DELETE CASCADE,
  country_code text NOT NULL,
  party_id text NOT NULL,
  location_id text NOT NULL,
  -- the OCPI Location as received, EVSEs and connectors inside
  data jsonb NOT NULL,
  latitude double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
  longitude double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
  -- derived in src/locations (the one place): published with a visible EVSE; a visible P&C EVSE
  searchable boolean NOT NULL,
  plug_and_charge boolean NOT NULL,
  last_updated timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (country_code, party_id, location_id)
);

-- Nearest-first scans of what can be found; the second serves the Plug&Charge filter, the common case.
CREATE INDEX locations_earth_idx ON locations USING gist (ll_to_earth(latitude, longitude)) WHERE searchable;
CREATE INDEX locations_earth_pnc_idx ON locations USING gist (ll_to_earth(latitude, longitude)) WHERE searchable AND plug_and_charge;
CREATE INDEX locations_partner_idx ON locations (partner_id);

-- When we last pulled a CPO's locations (the next delta pull asks for changes since then).
ALTER TABLE ocpi_partners ADD COLUMN locations_pulled_at timestamptz;
