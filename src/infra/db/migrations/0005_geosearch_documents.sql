-- Geosearch reads a slim search document instead of the OCPI Location, and walks an index on a
-- stored earth point instead of computing ll_to_earth() for every row it looks at.

-- Derived from `data` in src/locations/search-document.ts. text, not jsonb: it is only ever read
-- whole, and jsonb's output costs more than the search. NULL for rows stored before this
-- migration until the platform fills them at start-up (a SQL migration cannot run that code).
ALTER TABLE locations ADD COLUMN search_document text;
-- The same trimmed to its Plug&Charge connectors (null when it has none): what the common search reads.
ALTER TABLE locations ADD COLUMN search_document_pnc text;
-- Kept in the row and uncompressed where it fits (`data` and the full document are compressed
-- and moved out of line first), so that the common search neither decompresses it nor fetches it
-- from the TOAST table.
ALTER TABLE locations ALTER COLUMN search_document_pnc SET STORAGE MAIN;
CREATE INDEX locations_search_document_missing_idx ON locations (id) WHERE search_document IS NULL;

ALTER TABLE locations ADD COLUMN earth_point earth GENERATED ALWAYS AS (ll_to_earth(latitude, longitude)) STORED;
DROP INDEX locations_earth_idx;
DROP INDEX locations_earth_pnc_idx;
CREATE INDEX locations_earth_idx ON locations USING gist (earth_point) WHERE searchable;
CREATE INDEX locations_earth_pnc_idx ON locations USING gist (earth_point) WHERE searchable AND plug_and_charge;
