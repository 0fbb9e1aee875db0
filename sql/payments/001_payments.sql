-- 001_payments.sql - payments, refunds, and their append-only audit trail.
--
-- A payment row is written (and committed) before the bank is called, so
-- that whatever happens to the process during the call, the next request
-- with the same Idempotency-Key, the reconcile command or a lookup finds
-- it and settles it by asking the bank.  The bank's own idempotency key
-- is derived from the row's id ("pay_<id>", "refund_<id>").
--
-- Never stored: the card number and the security code.  A billing record
-- keeps the amount, currency, times, bank reference, brand, last four
-- digits, expiry and holder's name.  request_hash is SHA-256 of the row's
-- id, ':' and the request's fingerprint, itself HMAC-SHA-256 of method,
-- path and body keyed with the service's OAuth2 client secret
-- (BH_CLIENT_SECRET; bellhop-payments refuses to start without one): no
-- one without that secret can match it against a list of card numbers.
-- It only tells whether a retry is the same request: after the client
-- secret is rotated, the retry of a request made before gets 422.

CREATE TABLE payments (
	id uuid PRIMARY KEY,
	client_id text NOT NULL,
	idempotency_key text NOT NULL,
	request_hash text NOT NULL,
	-- pending: the outcome is not known yet (the bank is being called,
	-- did not answer, or could not be reached); succeeded and failed are
	-- final, and then response_* hold the answer replays get.
	status text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'succeeded', 'failed')),
	amount bigint NOT NULL CHECK (amount > 0),
	currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	reference text NOT NULL,
	description text,
	receipt_email text,
	method text NOT NULL CHECK (method IN ('card', 'bank_token')),
	card_brand text,
	card_last4 text CHECK (card_last4 ~ '^[0-9]{4}$'),
	card_exp_month integer CHECK (card_exp_month BETWEEN 1 AND 12),
	card_exp_year integer CHECK (card_exp_year BETWEEN 2000 AND 2100),
	card_holder text,
	bank_charge_id text,
	decline_code text,
	-- true once a charge request may have reached the bank: only then
	-- can a pending payment have charged, and only then does reconcile
	-- ask the bank about it
	maybe_charged boolean NOT NULL DEFAULT false,
	bank_called_at timestamptz,
	bank_calls integer NOT NULL DEFAULT 0,
	-- refunds: reserved (pending and succeeded) and done (succeeded)
	refund_reserved bigint NOT NULL DEFAULT 0,
	refunded_amount bigint NOT NULL DEFAULT 0,
	receipt_state text NOT NULL DEFAULT 'none'
		CHECK (receipt_state IN ('none', 'due', 'sent', 'failed')),
	response_status integer,
	response_type text,
	response_body text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	settled_at timestamptz,
	UNIQUE (client_id, idempotency_key),
	CHECK (refund_reserved BETWEEN 0 AND amount),
	CHECK (refunded_amount BETWEEN 0 AND refund_reserved),
	CHECK (refund_reserved = 0 OR status = 'succeeded'),
	CHECK ((status = 'pending') = (response_status IS NULL))
);

CREATE INDEX payments_pending ON payments (bank_called_at)
	WHERE status = 'pending';
CREATE INDEX payments_receipt_due ON payments (updated_at)
	WHERE receipt_state = 'due';
CREATE INDEX payments_reference ON payments (client_id, reference);

CREATE TABLE refunds (
	id uuid PRIMARY KEY,
	payment_id uuid NOT NULL REFERENCES payments (id),
	client_id text NOT NULL,
	idempotency_key text NOT NULL,
	request_hash text NOT NULL,
	-- pending: its amount is reserved on the payment, the bank call is
	-- under way or its outcome unknown; succeeded is final; failed
	-- releases the amount, and is final once response_* is set (the bank
	-- refused it) or may be tried again with the same key (the bank never
	-- got it)
	status text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'succeeded', 'failed')),
	amount bigint NOT NULL CHECK (amount > 0),
	currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	reason text,
	bank_refund_id text,
	maybe_sent boolean NOT NULL DEFAULT false,
	bank_called_at timestamptz,
	bank_calls integer NOT NULL DEFAULT 0,
	response_status integer,
	response_type text,
	response_body text,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	settled_at timestamptz,
	UNIQUE (client_id, idempotency_key)
);

CREATE INDEX refunds_payment ON refunds (payment_id, created_at);
CREATE INDEX refunds_pending ON refunds (bank_called_at)
	WHERE status = 'pending';

-- The audit trail: one row per state change of a payment, a refund or a
-- receipt email, written by the triggers below in the transaction that
-- makes the change, so that no change can happen without its row.
CREATE TABLE payment_events (
	id bigserial PRIMARY KEY,
	payment_id uuid NOT NULL REFERENCES payments (id),
	refund_id uuid REFERENCES refunds (id),
	event text NOT NULL,
	status text NOT NULL,
	amount bigint NOT NULL,
	currency text NOT NULL,
	bank_reference text,
	detail text,
	created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX payment_events_payment ON payment_events (payment_id, id);

CREATE FUNCTION payment_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'payment_events is append-only: % refused', TG_OP
		USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER payment_events_no_update BEFORE UPDATE OR DELETE
	ON payment_events FOR EACH ROW
	EXECUTE FUNCTION payment_events_append_only();
CREATE TRIGGER payment_events_no_truncate BEFORE TRUNCATE
	ON payment_events FOR EACH STATEMENT
	EXECUTE FUNCTION payment_events_append_only();

CREATE FUNCTION payments_audit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
		INSERT INTO payment_events (payment_id, event, status, amount,
			currency, bank_reference, detail)
		VALUES (NEW.id, 'payment.' || NEW.status, NEW.status,
			NEW.amount, NEW.currency, NEW.bank_charge_id,
			NEW.decline_code);
	END IF;
	IF TG_OP = 'UPDATE' AND NEW.receipt_state IS DISTINCT FROM
		OLD.receipt_state THEN
		INSERT INTO payment_events (payment_id, event, status, amount,
			currency, bank_reference, detail)
		VALUES (NEW.id, 'receipt.' || NEW.receipt_state, NEW.status,
			NEW.amount, NEW.currency, NEW.bank_charge_id, NULL);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER payments_audit AFTER INSERT OR UPDATE ON payments
	FOR EACH ROW EXECUTE FUNCTION payments_audit();

CREATE FUNCTION refunds_audit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
		INSERT INTO payment_events (payment_id, refund_id, event,
			status, amount, currency, bank_reference, detail)
		VALUES (NEW.payment_id, NEW.id, 'refund.' || NEW.status,
			NEW.status, NEW.amount, NEW.currency,
			NEW.bank_refund_id, NEW.reason);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER refunds_audit AFTER INSERT OR UPDATE ON refunds
	FOR EACH ROW EXECUTE FUNCTION refunds_audit();

-- Billing records are kept: neither a payment nor a refund is deleted
-- (the audit trail's foreign keys refuse it too).
CREATE FUNCTION payments_keep() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '% is a billing record: % refused', TG_TABLE_NAME,
		TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER payments_keep BEFORE DELETE ON payments
	FOR EACH ROW EXECUTE FUNCTION payments_keep();
CREATE TRIGGER refunds_keep BEFORE DELETE ON refunds
	FOR EACH ROW EXECUTE FUNCTION payments_keep();
