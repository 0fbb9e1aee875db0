-- 001_reservations.sql - reservations, their receipts, and the answers
-- kept for POST /reservations idempotency keys.
--
-- No double booking, by construction: a room's live reservations (held,
-- payment_pending, confirmed) never overlap, whatever the code above does,
-- because the exclusion constraint below refuses the second.  A hold whose
-- time is up still counts until it is marked 'expired', which the
-- transaction that wants its room does first (reservation_hold).

-- btree_gist gives gist the = operator on integers; a trusted extension,
-- so the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE reservations (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	-- the guest: the token's sub, and name and address from users at
	-- hold time (the receipt and the mails use these)
	guest_sub text NOT NULL,
	guest_name text NOT NULL,
	guest_email text NOT NULL,
	-- the hotel and the room type as the catalogue said at hold time
	hotel_id integer NOT NULL CHECK (hotel_id > 0),
	hotel_name text NOT NULL,
	hotel_email text,
	hotel_address text NOT NULL,
	hotel_city text NOT NULL,
	hotel_country text NOT NULL,
	room_type_id integer NOT NULL CHECK (room_type_id > 0),
	room_type_name text NOT NULL,
	room_id integer NOT NULL CHECK (room_id > 0),
	-- [checkin, checkout): the guest leaves on the checkout day, when the
	-- next one may arrive
	stay daterange NOT NULL CHECK (NOT isempty(stay) AND lower_inc(stay)
		AND NOT upper_inc(stay) AND NOT lower_inf(stay)
		AND NOT upper_inf(stay)),
	guests integer NOT NULL CHECK (guests BETWEEN 1 AND 20),
	-- money in minor units of currency (ISO 4217), priced at hold time
	currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	nightly_rate bigint NOT NULL CHECK (nightly_rate > 0),
	total bigint NOT NULL CHECK (total > 0),
	status text NOT NULL DEFAULT 'held' CHECK (status IN ('held',
		'payment_pending', 'confirmed', 'cancelled', 'expired')),
	hold_expires_at timestamptz NOT NULL,
	-- payment attempts: attempt n calls payments with the idempotency
	-- key reservation-<id>-<n>
	payment_attempts integer NOT NULL DEFAULT 0,
	payment_started_at timestamptz,
	-- the payment that confirmed it (never a card number)
	payment_id uuid,
	payment_brand text,
	payment_last4 text,
	payment_reference text,
	paid_at timestamptz,
	confirmed_at timestamptz,
	-- the PDF receipt, written once (UPDATE ... WHERE receipt IS NULL)
	receipt bytea,
	recap_sent_at timestamptz,
	hotel_notice_sent_at timestamptz,
	-- cancellation and refund (key reservation-<id>-refund)
	cancelled_at timestamptz,
	refund_amount bigint CHECK (refund_amount >= 0),
	refund_status text CHECK (refund_status IN ('none', 'pending',
		'succeeded')),
	refund_id text,
	cancel_notice_sent_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	CHECK (status <> 'confirmed' OR payment_id IS NOT NULL),
	CONSTRAINT reservations_no_overlap EXCLUDE USING gist
		(room_id WITH =, stay WITH &&)
		WHERE (status IN ('held', 'payment_pending', 'confirmed'))
);

-- a guest's list, newest first
CREATE INDEX reservations_guest ON reservations (guest_sub, created_at DESC, id);
-- what reconcile looks for
CREATE INDEX reservations_pending ON reservations (payment_started_at)
	WHERE status = 'payment_pending';
CREATE INDEX reservations_unfinished ON reservations (updated_at)
	WHERE (status = 'confirmed' AND (receipt IS NULL OR recap_sent_at IS NULL
		OR (hotel_email IS NOT NULL AND hotel_notice_sent_at IS NULL)))
	   OR (status = 'cancelled' AND (refund_status = 'pending'
		OR cancel_notice_sent_at IS NULL));
CREATE INDEX reservations_held ON reservations (hold_expires_at)
	WHERE status = 'held';

-- POST /reservations with an Idempotency-Key: the key (per guest), the
-- request's fingerprint and the answer once there is one.  The row is
-- inserted first in the hold's transaction, so a second request with the
-- key waits for the first and then replays its answer; a hold that fails
-- rolls the row back, leaving the key free.
CREATE TABLE reservation_requests (
	guest_sub text NOT NULL,
	idempotency_key text NOT NULL,
	fingerprint text NOT NULL,
	reservation_id uuid REFERENCES reservations (id),
	status integer,
	body text,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (guest_sub, idempotency_key)
);

-- Holds the first free room of p_rooms (in order) for p_stay: marks the
-- holds on those rooms whose time is up as expired, then inserts the
-- reservation p describes (a JSON object of the columns) into the first
-- room where the exclusion constraint lets it.  Another transaction may
-- take a room between the look and the insert: the insert's
-- exclusion_violation then moves on to the next room.  Returns the new
-- id, or NULL when no room is free.
CREATE FUNCTION reservation_hold(p_rooms integer[], p_stay daterange,
	p_hold_seconds integer, p jsonb) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
	room integer;
	new_id uuid;
BEGIN
	UPDATE reservations SET status = 'expired', updated_at = now()
	 WHERE room_id = ANY (p_rooms) AND stay && p_stay
	   AND status = 'held' AND hold_expires_at <= now();
	FOREACH room IN ARRAY p_rooms LOOP
		CONTINUE WHEN EXISTS (SELECT 1 FROM reservations
			WHERE room_id = room AND stay && p_stay
			  AND status IN ('held', 'payment_pending', 'confirmed'));
		BEGIN
			INSERT INTO reservations (guest_sub, guest_name,
				guest_email, hotel_id, hotel_name, hotel_email,
				hotel_address, hotel_city, hotel_country,
				room_type_id, room_type_name, room_id, stay,
				guests, currency, nightly_rate, total,
				hold_expires_at)
			VALUES (p->>'guest_sub', p->>'guest_name',
				p->>'guest_email', (p->>'hotel_id')::integer,
				p->>'hotel_name', p->>'hotel_email',
				p->>'hotel_address', p->>'hotel_city',
				p->>'hotel_country',
				(p->>'room_type_id')::integer,
				p->>'room_type_name', room, p_stay,
				(p->>'guests')::integer, p->>'currency',
				(p->>'nightly_rate')::bigint,
				(p->>'nightly_rate')::bigint
				    * (upper(p_stay) - lower(p_stay)),
				now() + make_interval(secs => p_hold_seconds))
			RETURNING id INTO new_id;
			RETURN new_id;
		EXCEPTION WHEN exclusion_violation THEN
			-- taken meanwhile: the next room
		END;
	END LOOP;
	RETURN NULL;
END
$$;
