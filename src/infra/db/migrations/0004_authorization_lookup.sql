-- The authorization lookup (an EMAID to its keys, live ones first, newest first) as one btree
-- walk: without it the planner may take the GiST exclusion index, about four times slower.
CREATE INDEX charging_keys_authorization_idx ON charging_keys (emaid_identity, (deleted_at IS NULL) DESC, seq DESC);
DROP INDEX charging_keys_emaid_identity_idx;
