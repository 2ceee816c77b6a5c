-- OCPI's CiString identifiers (country_code, party_id, location_id, ...) are compared without
-- regard to case: a location pushed as DE/CPO/LOC1 and pulled as de/cpo/loc1 is one location.
-- The Location and its columns keep the CPO's spelling as received; the key below is what is unique.

-- Copies that only differ in case are one location: the most recently written one stays.
DELETE FROM locations l
 USING locations newer
 WHERE upper(newer.country_code) = upper(l.country_code)
   AND upper(newer.party_id) = upper(l.party_id)
   AND upper(newer.location_id) = upper(l.location_id)
   AND (newer.updated_at, newer.id) > (l.updated_at, l.id);

-- An array, so no separator can make two different keys equal.
ALTER TABLE locations
  ADD COLUMN location_key text[] GENERATED ALWAYS AS (ARRAY[upper(country_code), upper(party_id), upper(location_id)]) STORED;
CREATE UNIQUE INDEX locations_key_idx ON locations (location_key);
ALTER TABLE locations DROP CONSTRAINT locations_country_code_party_id_location_id_key;

-- The parties (country_code, party_id) a partner may act for: granted by the platform admin, or,
-- where none were, fixed by the partner's first registration. Stored upper-case, so the primary
-- key gives one party to one partner regardless of case.
CREATE TABLE ocpi_partner_parties (
  country_code text NOT NULL CHECK (country_code ~ '^[A-Z]{2}$'),
  party_id text NOT NULL CHECK (party_id ~ '^[A-Z0-9]{3}$'),
  partner_id uuid NOT NULL REFERENCES ocpi_partners (id) ON DELETE CASCADE,
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (country_code, party_id)
);
CREATE INDEX ocpi_partner_parties_partner_idx ON ocpi_partner_parties (partner_id);

-- Partners registered before: the parties of their credentials, the first to register keeping a
-- party two of them named.
INSERT INTO ocpi_partner_parties (country_code, party_id, partner_id)
SELECT DISTINCT ON (upper(r ->> 'country_code'), upper(r ->> 'party_id'))
       upper(r ->> 'country_code'), upper(r ->> 'party_id'), p.id
  FROM ocpi_partners p CROSS JOIN jsonb_array_elements(p.roles) r
 WHERE upper(r ->> 'country_code') ~ '^[A-Z]{2}$' AND upper(r ->> 'party_id') ~ '^[A-Z0-9]{3}$'
 ORDER BY upper(r ->> 'country_code'), upper(r ->> 'party_id'), p.registered_at NULLS LAST, p.created_at, p.id;
