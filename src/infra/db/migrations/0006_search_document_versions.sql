-- Servers keep search documents in memory, by version: a search reads only which locations it
-- found, and at which version, and fetches the documents it does not hold yet. Every write of a
-- row takes a new version from one sequence, so a version names one document, for ever, and a
-- held copy can never be stale.
CREATE SEQUENCE location_document_versions;
-- The default numbers the rows that are already here; the trigger every write that follows,
-- whatever the writer sets.
ALTER TABLE locations ADD COLUMN document_version bigint NOT NULL DEFAULT nextval('location_document_versions');

CREATE FUNCTION locations_next_document_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.document_version := nextval('location_document_versions');
  RETURN NEW;
END
$$;

CREATE TRIGGER locations_document_version BEFORE INSERT OR UPDATE ON locations
  FOR EACH ROW EXECUTE FUNCTION locations_next_document_version();

-- With the documents cached, the search's walk reads only narrow columns of the rows it finds.
-- Every wide value (the OCPI Location and both documents) goes to the TOAST table, so the heap
-- is a few hundred bytes a row and the rows a walk visits stay in shared buffers. Rows stored
-- before this migration narrow when they are next written.
ALTER TABLE locations ALTER COLUMN search_document_pnc SET STORAGE EXTENDED;
ALTER TABLE locations SET (toast_tuple_target = 128);
