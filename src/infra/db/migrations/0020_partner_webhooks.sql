-- Partner webhooks: an organization registers endpoints and receives signed events (README,
-- "Partner webhooks"). Events are written by triggers in the transaction that made the change,
-- so no change can happen without its event; one outbox consumer fans them out to endpoints.

CREATE TABLE webhook_endpoints (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations (id),
  url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
  -- event type names, or '*' for every one
  events text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 100),
  description text CHECK (length(description) <= 500),
  enabled boolean NOT NULL DEFAULT true,
  -- the signing secret (whsec_...), sealed with the platform's secret key, bound to the endpoint
  secret_sealed text NOT NULL,
  -- after a rotation the previous secret still signs until previous_secret_until (partners roll over)
  previous_secret_sealed text,
  previous_secret_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((previous_secret_sealed IS NULL) = (previous_secret_until IS NULL))
);
-- Also what the event triggers ask ("has this organization any endpoint?").
CREATE INDEX webhook_endpoints_organization_idx ON webhook_endpoints (organization_id);

-- What happened, as partners hear of it: the snapshot of the object at the event. Written only for
-- organizations with an endpoint, so the others pay one index probe per change.
CREATE TABLE partner_events (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- the stable ID partners dedupe by (webhook-id), the same on retries and replays
  id uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
  tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
  organization_id uuid NOT NULL REFERENCES organizations (id),
  type text NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
  data jsonb NOT NULL,
  occurred_at timestamptz NOT NULL DEFAULT now()
);
-- The outbox reader reads by transaction ID; a time-range replay by organization and time.
CREATE INDEX partner_events_tx_idx ON partner_events (tx_id);
CREATE INDEX partner_events_organization_occurred_idx ON partner_events (organization_id, occurred_at);

-- Where a delivery stands in its endpoint's queue: strictly increasing in fan-out order (a replay
-- takes a new one, so it goes after what is queued).
CREATE SEQUENCE webhook_delivery_positions;

-- One delivery per (endpoint, event), made at fan-out; sent per endpoint in position order.
CREATE TABLE webhook_deliveries (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  event_seq bigint NOT NULL REFERENCES partner_events (seq),
  position bigint NOT NULL UNIQUE DEFAULT nextval('webhook_delivery_positions'),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  first_attempt_at timestamptz,
  last_attempt_at timestamptz,
  last_status_code integer,
  -- our words for the failure, never the partner's answer beyond a short sanitized excerpt
  last_error text CHECK (length(last_error) <= 500),
  delivered_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (endpoint_id, event_seq),
  CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
-- The sender's queue: an endpoint's pending deliveries in order.
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (endpoint_id, position) WHERE status = 'pending';
-- The listing, newest first.
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, position DESC);

-- Each trigger below first asks whether the organization has an endpoint (one index probe), and
-- builds the snapshot only then.
CREATE FUNCTION write_partner_event(org uuid, event_type text, snapshot jsonb) RETURNS void LANGUAGE sql AS $$
  INSERT INTO partner_events (organization_id, type, data) VALUES (org, event_type, snapshot)
$$;

-- Charging keys: the key as it became, with its user and its contract certificate's standing (what
-- the Drive API's key listing shows). 'activated' and 'expired' are the validity clock's (0019).
CREATE FUNCTION partner_event_of_key_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE organization_id = NEW.organization_id) THEN
    RETURN NULL;
  END IF;
  PERFORM write_partner_event(NEW.organization_id,
    'charging_key.' || CASE WHEN NEW.type IN ('validity_changed', 'updated') THEN 'updated' ELSE NEW.type END,
    NEW.key || jsonb_build_object(
      'user_external_id', (SELECT u.external_id FROM users u WHERE u.id = (NEW.key ->> 'user_id')::uuid),
      'contract_certificate', (SELECT jsonb_build_object('status', c.status, 'not_after', c.not_after)
                                 FROM contract_certificates c WHERE c.key_id = NEW.key_id ORDER BY c.seq DESC LIMIT 1),
      'contract_publication', (SELECT o.state FROM opcp_contracts o WHERE o.key_id = NEW.key_id)));
  RETURN NULL;
END
$$;
CREATE TRIGGER partner_events_of_keys AFTER INSERT ON key_events
  FOR EACH ROW EXECUTE FUNCTION partner_event_of_key_event();

-- The snapshot of a contract certificate event: the certificate, its key and user, and the key's
-- publication in Hubject's ecosystem when its contract goes through it.
CREATE FUNCTION partner_contract_snapshot(certificate contract_certificates) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'user_external_id', u.external_id, 'key_type', k.type, 'key_contract_id', k.contract_id, 'key_rfid_uid', k.rfid_uid,
    'emaid', certificate.emaid, 'pcid', certificate.pcid, 'serial_number', certificate.serial_number,
    'not_before', certificate.not_before, 'not_after', certificate.not_after, 'status', certificate.status,
    'revocation_reason', certificate.revocation_reason, 'revoked_at', certificate.revoked_at,
    'issued_by', certificate.issued_by, 'renewed', certificate.renewal_of IS NOT NULL,
    'publication', (SELECT jsonb_build_object('state', o.state, 'reason', o.failure_reason, 'trace_id', o.failure_trace_id,
                                              'published_at', o.published_at)
                      FROM opcp_contracts o WHERE o.key_id = k.id))
  FROM charging_keys k JOIN users u ON u.id = k.user_id
  WHERE k.id = certificate.key_id
$$;

CREATE FUNCTION partner_event_of_certificate_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE organization_id = NEW.organization_id) THEN
    RETURN NULL;
  END IF;
  PERFORM write_partner_event(NEW.organization_id, 'contract_certificate.' || NEW.type,
    (SELECT partner_contract_snapshot(c) FROM contract_certificates c WHERE c.id = NEW.certificate_id));
  RETURN NULL;
END
$$;
CREATE TRIGGER partner_events_of_certificates AFTER INSERT ON contract_certificate_events
  FOR EACH ROW EXECUTE FUNCTION partner_event_of_certificate_event();

-- A contract reaching Hubject's pool, or refused for good: the certificate it is about is the
-- published one, else the key's latest.
CREATE FUNCTION partner_event_of_publication() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE organization_id = NEW.organization_id) THEN
    RETURN NULL;
  END IF;
  PERFORM write_partner_event(NEW.organization_id, 'contract_certificate.' || NEW.state,
    (SELECT partner_contract_snapshot(c) FROM contract_certificates c
      WHERE c.key_id = NEW.key_id ORDER BY (c.id = NEW.published_certificate_id) DESC, c.seq DESC LIMIT 1));
  RETURN NULL;
END
$$;
CREATE TRIGGER partner_events_of_publications AFTER UPDATE OF state ON opcp_contracts
  FOR EACH ROW WHEN (NEW.state IS DISTINCT FROM OLD.state AND NEW.state IN ('published', 'failed'))
  EXECUTE FUNCTION partner_event_of_publication();

-- A session as the Drive API presents it: the row with its key's identifiers and its user.
CREATE FUNCTION partner_session_snapshot(session charging_sessions) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT to_jsonb(session) || jsonb_build_object('key_type', k.type, 'key_contract_id', k.contract_id,
                                                 'key_rfid_uid', k.rfid_uid, 'user_external_id', u.external_id)
  FROM charging_keys k JOIN users u ON u.id = k.user_id
  WHERE k.id = session.key_id
$$;

CREATE FUNCTION partner_event_of_session() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  event_type text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE organization_id = NEW.organization_id) THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    event_type := 'started';
  ELSIF NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('STOPPED', 'INVALID') THEN
    event_type := 'stopped';
  ELSIF NEW.status IS DISTINCT FROM OLD.status AND NEW.status = 'COMPLETED' THEN
    event_type := 'completed';
  -- any other change a partner sees (status, energy, times, place, costs); the touch alone is none
  ELSIF to_jsonb(NEW) - 'updated_at' IS DISTINCT FROM to_jsonb(OLD) - 'updated_at' THEN
    event_type := 'updated';
  ELSE
    RETURN NULL;
  END IF;
  PERFORM write_partner_event(NEW.organization_id, 'session.' || event_type, partner_session_snapshot(NEW));
  RETURN NULL;
END
$$;
CREATE TRIGGER partner_events_of_sessions AFTER INSERT OR UPDATE ON charging_sessions
  FOR EACH ROW EXECUTE FUNCTION partner_event_of_session();

-- A charge detail record, with its session as it stands when the transaction commits: the record
-- is stored before the session takes its times and energy, so the event waits for the commit.
CREATE FUNCTION partner_event_of_cdr() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  session charging_sessions;
BEGIN
  SELECT * INTO session FROM charging_sessions WHERE id = NEW.session_id;
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE organization_id = session.organization_id) THEN
    RETURN NULL;
  END IF;
  PERFORM write_partner_event(session.organization_id, 'cdr.created',
    jsonb_build_object('session', partner_session_snapshot(session), 'cdr', to_jsonb(NEW) - 'content_sha256'));
  RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER partner_events_of_cdrs AFTER INSERT ON charge_detail_records
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION partner_event_of_cdr();
