-- 002_limits_strays.sql - what the payment limits, the stray-charge sweep
-- and reconcile's backoff keep (docs/reservations.md).

-- Attempts that certainly charged nothing: payments or the bank refused
-- service before the bank could charge (503 upstream-unavailable, or the
-- call never left), or payments refused the card (4xx).  They do not count
-- towards BH_PAY_ATTEMPTS, and the stray sweep does not ask about them.
ALTER TABLE reservations
	ADD COLUMN uncharged_attempts integer[] NOT NULL DEFAULT '{}',
	-- attempts 1..strays_checked were asked about by the stray sweep
	ADD COLUMN strays_checked integer NOT NULL DEFAULT 0,
	-- reconcile: a row whose step failed waits until reconcile_next_at,
	-- longer after each failure, so that it never holds up the others
	ADD COLUMN reconcile_tries integer NOT NULL DEFAULT 0,
	ADD COLUMN reconcile_next_at timestamptz;

-- A refund payments refuses for good (its 409: nothing left to refund, the
-- payment did not succeed) is 'failed': logged, never sent again.
ALTER TABLE reservations DROP CONSTRAINT reservations_refund_status_check,
	ADD CONSTRAINT reservations_refund_status_check CHECK (refund_status IN
		('none', 'pending', 'succeeded', 'failed'));

-- what the stray sweep looks for
CREATE INDEX reservations_unswept ON reservations (payment_started_at)
	WHERE payment_attempts > strays_checked;

-- A payment attempt that charged although the reservation did not take
-- it (a late request, an attempt settled as failed before it arrived):
-- refunded whole with Idempotency-Key reservation-<id>-stray-<attempt>.
CREATE TABLE stray_payments (
	reservation_id uuid NOT NULL REFERENCES reservations (id),
	attempt integer NOT NULL CHECK (attempt > 0),
	payment_id uuid NOT NULL,
	amount bigint,
	currency text,
	refund_status text NOT NULL DEFAULT 'pending' CHECK (refund_status IN
		('pending', 'succeeded', 'failed')),
	refund_id text,
	found_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (reservation_id, attempt)
);
CREATE INDEX stray_payments_pending ON stray_payments (found_at)
	WHERE refund_status = 'pending';
