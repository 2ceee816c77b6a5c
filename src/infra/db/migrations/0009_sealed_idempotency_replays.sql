-- An answer that carries a secret shown once (an API key, an OCPI Token A) is kept for its
-- Idempotency-Key replay only encrypted (AES-256-GCM with the platform's secret key, bound to the
-- caller and the key): `response_sealed` says so.
ALTER TABLE idempotency_records ADD COLUMN response_sealed boolean NOT NULL DEFAULT false;

-- Replays stored in clear before this version may hold such a secret: drop the answer, keep the
-- record, so a repeat learns that the request was carried out but its secret is not kept.
UPDATE idempotency_records SET response_body = NULL, response_sealed = true
 WHERE response_body LIKE '%"apiKey":"%' OR response_body LIKE '%"tokenA":"%';
