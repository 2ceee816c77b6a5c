-- A platform admin may suspend an OCPI partner: its tokens are refused and nothing is sent to it
-- or pulled from it, while its registration, deliveries and locations wait for it to be resumed.
ALTER TABLE ocpi_partners ADD COLUMN suspended_at timestamptz;
