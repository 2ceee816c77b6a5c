-- Which roaming protocol sent a location, and so what `data` holds: the OCPI Location exactly as
-- the CPO sent it, or OICP EVSE data from Hubject. Every row so far came over OCPI. One location
-- per protocol and key: an operator's location arriving over both keeps both records, and neither
-- protocol overwrites the other's.
ALTER TABLE locations ADD COLUMN protocol text NOT NULL DEFAULT 'ocpi' CHECK (protocol IN ('ocpi', 'oicp'));
DROP INDEX locations_key_idx;
CREATE UNIQUE INDEX locations_key_idx ON locations (protocol, location_key);
