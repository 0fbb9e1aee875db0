-- 002_catalogue_writes.sql - what the catalogue's write side
-- (handlers/search/catalog.c, scope catalog:write) needs: a contact email
-- per hotel, soft deletion of hotels, room types and rooms, and the
-- read-side functions and derived columns taught to skip what was deleted.
--
-- Deletion is soft (deleted_at is set, the row stays) because other
-- services will keep room and room type ids in their own databases
-- (reservations, receipts): an id must keep meaning the same room and is
-- never reused.  A deleted row is invisible to every read: a deleted
-- hotel's room types and rooms stay as they were and are hidden with it;
-- deleting a room type deletes its rooms too (catalog.c does both in one
-- transaction).  Names and room numbers must be unique among the rows
-- that are not deleted only, so a deleted room's number can be given again.

-- Where reservation notices for the hotel go.  NULL only for rows older
-- than this column: the API requires it, the demo data fills it.
ALTER TABLE hotels
	ADD COLUMN email text
		CHECK (char_length(email) BETWEEN 3 AND 254 AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
	ADD COLUMN deleted_at timestamptz;
ALTER TABLE room_types ADD COLUMN deleted_at timestamptz;
ALTER TABLE rooms ADD COLUMN deleted_at timestamptz;

ALTER TABLE room_types DROP CONSTRAINT room_types_hotel_id_name_key;
CREATE UNIQUE INDEX room_types_hotel_name_idx ON room_types (hotel_id, name)
	WHERE deleted_at IS NULL;
ALTER TABLE rooms DROP CONSTRAINT rooms_hotel_id_number_key;
CREATE UNIQUE INDEX rooms_hotel_number_idx ON rooms (hotel_id, number)
	WHERE deleted_at IS NULL;

-- hotels_in_city counts the live hotels of a city with an index-only scan:
-- the same index, holding only them.
DROP INDEX hotels_city_stars_idx;
CREATE INDEX hotels_city_stars_idx ON hotels (city_id, stars)
	INCLUDE (lowest_rates) WHERE deleted_at IS NULL;

-- ------------------------------------------------------------------------
-- Derived columns count live rows only.  A soft delete is an UPDATE, which
-- the update triggers of 001 already see.

CREATE OR REPLACE FUNCTION hotels_count_apply() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		UPDATE cities c SET hotel_count = c.hotel_count + d.n
		FROM (SELECT city_id, count(*) AS n FROM new_rows
			WHERE deleted_at IS NULL GROUP BY city_id) d
		WHERE c.id = d.city_id;
	ELSIF TG_OP = 'DELETE' THEN
		UPDATE cities c SET hotel_count = c.hotel_count - d.n
		FROM (SELECT city_id, count(*) AS n FROM old_rows
			WHERE deleted_at IS NULL GROUP BY city_id) d
		WHERE c.id = d.city_id;
	ELSE
		UPDATE cities c SET hotel_count = c.hotel_count + d.n
		FROM (SELECT city_id, sum(n) AS n FROM (
				SELECT city_id, 1 AS n FROM new_rows
				WHERE deleted_at IS NULL
				UNION ALL
				SELECT city_id, -1 FROM old_rows
				WHERE deleted_at IS NULL) x
			GROUP BY city_id HAVING sum(n) <> 0) d
		WHERE c.id = d.city_id;
	END IF;
	RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION hotels_refresh_lowest_rates(hotel_ids integer[])
	RETURNS void LANGUAGE sql AS $$
	UPDATE hotels h SET lowest_rates = coalesce((
		SELECT array_agg((SELECT min(rt.nightly_rate) FROM room_types rt
				WHERE rt.hotel_id = h.id AND rt.capacity >= g
				  AND rt.deleted_at IS NULL) ORDER BY g)
		FROM generate_series(1, (SELECT max(rt.capacity) FROM room_types rt
			WHERE rt.hotel_id = h.id AND rt.deleted_at IS NULL)) AS g), '{}')
	WHERE h.id = ANY (hotel_ids)
$$;

-- ------------------------------------------------------------------------
-- Read-side functions that see live rows only (same signatures as in 001,
-- except hotel_detail, which also returns the email).

CREATE OR REPLACE FUNCTION hotels_in_city(the_city integer, guests integer,
		min_stars integer, max_price integer, sort_by text,
		page integer, per_page integer)
	RETURNS TABLE (city_id integer, city_name text, city_country text,
		city_country_code text, total bigint,
		id integer, name text, address text, stars smallint,
		rating numeric, currency text, lowest_rate integer,
		lat double precision, lon double precision)
	LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT c.id, c.name, c.country, c.country_code::text, t.total,
		p.id, p.name, p.address, p.stars, p.rating, p.currency,
		p.lowest_rate, p.lat, p.lon
	FROM cities c
	CROSS JOIN LATERAL (
		SELECT count(*) AS total FROM hotels x
		WHERE x.city_id = c.id AND x.stars >= min_stars
		  AND x.lowest_rates[guests] <= coalesce(max_price, 2147483647)
		  AND x.deleted_at IS NULL
	) t
	LEFT JOIN LATERAL (
		SELECT x.id, x.name, x.address, x.stars, x.rating,
			x.currency::text AS currency,
			x.lowest_rates[guests] AS lowest_rate, x.lat, x.lon,
			x.sort_name
		FROM hotels x
		WHERE x.city_id = c.id AND x.stars >= min_stars
		  AND x.lowest_rates[guests] <= coalesce(max_price, 2147483647)
		  AND x.deleted_at IS NULL
		ORDER BY
			CASE WHEN sort_by = 'price' THEN x.lowest_rates[guests] END,
			CASE WHEN sort_by IN ('price', 'rating') THEN x.rating END
				DESC NULLS LAST,
			CASE WHEN sort_by = 'rating' THEN x.lowest_rates[guests] END,
			x.sort_name, x.id
		LIMIT per_page OFFSET (page - 1) * per_page
	) p ON true
	WHERE c.id = the_city
	-- the page's own order again: a join promises none
	ORDER BY
		CASE WHEN sort_by = 'price' THEN p.lowest_rate END,
		CASE WHEN sort_by IN ('price', 'rating') THEN p.rating END
			DESC NULLS LAST,
		CASE WHEN sort_by = 'rating' THEN p.lowest_rate END,
		p.sort_name, p.id
$$;

-- The return type changes (email), which CREATE OR REPLACE cannot do.
-- Nothing depends on it: SQL function bodies are not tracked.
DROP FUNCTION hotel_detail(integer);

-- GET /search/hotels/{id}: the live hotel with each of its live room types
-- (cheapest first) and how many live rooms that type has: one row per
-- room type, or one row with NULL room type columns when it has none; no
-- row for an unknown or deleted hotel.
CREATE FUNCTION hotel_detail(hotel_id integer)
	RETURNS TABLE (id integer, name text, city_id integer, city text,
		country text, country_code text, address text, stars smallint,
		rating numeric, description text, currency text,
		lat double precision, lon double precision,
		room_type_id integer, room_type text, capacity smallint,
		nightly_rate integer, rooms bigint, email text)
	LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT h.id, h.name, c.id, c.name, c.country, c.country_code::text,
		h.address, h.stars, h.rating, h.description, h.currency::text,
		h.lat, h.lon, rt.id, rt.name, rt.capacity, rt.nightly_rate,
		(SELECT count(*) FROM rooms r WHERE r.room_type_id = rt.id
			AND r.deleted_at IS NULL),
		h.email
	FROM hotels h
	JOIN cities c ON c.id = h.city_id
	LEFT JOIN room_types rt ON rt.hotel_id = h.id AND rt.deleted_at IS NULL
	WHERE h.id = hotel_detail.hotel_id AND h.deleted_at IS NULL
	ORDER BY rt.nightly_rate, rt.id
$$;

-- GET /search/hotels/{id}/room-types/{type_id}: one live room type of a
-- live hotel, with its hotel's currency and its number of live rooms; no
-- row otherwise.
CREATE FUNCTION room_type_detail(the_hotel integer, the_type integer)
	RETURNS TABLE (id integer, hotel_id integer, name text,
		capacity smallint, nightly_rate integer, currency text,
		rooms bigint)
	LANGUAGE sql STABLE PARALLEL SAFE AS $$
	SELECT rt.id, rt.hotel_id, rt.name, rt.capacity, rt.nightly_rate,
		h.currency::text,
		(SELECT count(*) FROM rooms r WHERE r.room_type_id = rt.id
			AND r.deleted_at IS NULL)
	FROM room_types rt
	JOIN hotels h ON h.id = rt.hotel_id
	WHERE rt.id = the_type AND rt.hotel_id = the_hotel
	  AND rt.deleted_at IS NULL AND h.deleted_at IS NULL
$$;
