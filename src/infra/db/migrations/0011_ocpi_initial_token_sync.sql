-- Many CPOs only accept pushed tokens: a newly registered CPO gets every existing token, unless
-- the admin turned that off for it.
ALTER TABLE ocpi_partners ADD COLUMN push_all_tokens boolean NOT NULL DEFAULT true;
-- Set in the transaction that registers the partner (when push_all_tokens); the token publisher
-- queues every token for it and clears this in one transaction, so it happens once.
ALTER TABLE ocpi_partners ADD COLUMN token_sync_requested_at timestamptz;
