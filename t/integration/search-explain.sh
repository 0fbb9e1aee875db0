#!/bin/bash
# search-explain.sh - the search service's SQL on a private PostgreSQL:
# `bellhop-search migrate` applies sql/search/, the demo catalogue loads
# (fast, the same rows each time), and the statements the service runs on
# its hot paths (the functions search_hotels, hotels_in_city, hotel_detail
# and search_cities, called as the handlers call them, prepared) are
# planned with index scans only: no Seq Scan on hotels, room_types or
# rooms, with custom and with generic plans.  Also checks that the derived
# columns the plans rely on (hotels.lowest_rates, cities.hotel_count)
# follow changes.
BH_HARNESS_MODE=light
. "$(dirname "$0")/../lib/harness.sh"

PGDIR=$BH_TOP/pg
SVC=$BH_BUILDDIR/handlers/search/bellhop-search
[ -x "$SVC" ] || bail "bellhop-search is built in $BH_BUILDDIR (run make there, or set BH_BUILDDIR)"

# PostgreSQL is a daemon, not a child: stop it whichever way the test ends.
trap 'rc=$?; bh_pg_stop "$PGDIR" immediate >/dev/null 2>&1; (exit $rc); bh_on_exit' EXIT

check "a private PostgreSQL cluster is created" bh_pg_init "$PGDIR"
check "it starts" bh_pg_start "$PGDIR" || bail "PostgreSQL did not start"
check "database and role bellhop_search are created" bh_pg_create_db "$PGDIR" bellhop_search
DB=$(bh_pg_conninfo "$PGDIR" bellhop_search)

# as_service SQL...: psql as the service's role, one value per line
as_service() {
	psql -X -q -v ON_ERROR_STOP=1 -tA "$DB" "$@"
}

check "bellhop-search migrate applies sql/search/" \
	env BH_DATABASE_URL="$DB" BH_SQL_DIR="$BH_SRCDIR/sql" "$SVC" migrate

load_demo() {
	local start=$SECONDS
	psql -X -q -v ON_ERROR_STOP=1 "$DB" -f "$BH_SRCDIR/sql/demo/search.sql" >/dev/null || return 1
	echo "loaded in $((SECONDS - start)) s"
	[ $((SECONDS - start)) -le 60 ]
}
check "the demo catalogue loads, in under a minute" load_demo

fingerprint() {
	as_service -c "SELECT md5(string_agg(t, '|' ORDER BY t)) FROM (
		SELECT c::text AS t FROM cities c UNION ALL SELECT n::text FROM city_names n
		UNION ALL SELECT h::text FROM hotels h UNION ALL SELECT r::text FROM room_types r
		UNION ALL SELECT m::text FROM rooms m) x"
}
first=$(fingerprint)
check "the demo catalogue loads a second time" load_demo
check "... and gives the very same rows and ids" test "$(fingerprint)" = "$first" -a -n "$first"

# value_is NAME SQL EXPECTED: one check that SQL's single value is EXPECTED.
value_is() {
	local name=$1 sql=$2 want=$3 got
	got=$(as_service -c "$sql" 2>&1)
	if [ "$got" = "$want" ]; then
		pass "$name"
	else
		fail "$name" "expected '$want', got '$got'" "$sql"
	fi
}

value_is "demo: at least 200 cities" "SELECT count(*) >= 200 FROM cities" t
value_is "demo: the non-ASCII cities are there" \
	"SELECT count(*) FROM cities WHERE name IN ('Zürich', 'São Paulo', 'Kraków', 'Malmö',
	 'Reykjavík', 'İstanbul', 'Málaga', 'Düsseldorf', 'Łódź', 'Göteborg', 'Montréal',
	 'Bogotá', 'Brașov', 'Αθήνα', 'Москва', '東京', 'Lisbon')" 17
value_is "demo: 5,000 hotels" "SELECT count(*) FROM hotels" 5000
value_is "demo: 2 to 5 room types per hotel" \
	"SELECT min(n) = 2 AND max(n) = 5 FROM (SELECT count(*) AS n FROM room_types GROUP BY hotel_id) x" t
value_is "demo: more than 50,000 rooms" "SELECT count(*) > 50000 FROM rooms" t
value_is "demo: hotel currencies are their country's, some hotel names non-ASCII" \
	"SELECT count(DISTINCT currency) > 20 AND bool_or(name ~ '[^ -~]') FROM hotels" t
value_is "demo: cities.hotel_count agrees with hotels" \
	"SELECT bool_and(c.hotel_count = (SELECT count(*) FROM hotels h WHERE h.city_id = c.id)) FROM cities c" t
value_is "demo: hotels.lowest_rates agrees with room_types" \
	"SELECT bool_and(h.lowest_rates = coalesce((SELECT array_agg((SELECT min(nightly_rate)
	 FROM room_types r WHERE r.hotel_id = h.id AND r.capacity >= g) ORDER BY g)
	 FROM generate_series(1, (SELECT max(capacity) FROM room_types r WHERE r.hotel_id = h.id)) g), '{}'))
	 FROM hotels h" t

# --------------------------------------------------------------- the plans

# plan_nodes FILE: "NodeType Relation" for each node of an EXPLAIN (FORMAT
# JSON) plan, subplans and init plans included.
plan_nodes() {
	jq -r '.. | objects | select(has("Node Type"))
		| "\(.["Node Type"]) \(.["Relation Name"] // "-")"' "$1"
}

# explain_ok NAME MODE PREPARE_SQL EXECUTE_ARGS NEEDS: the statement,
# prepared as bh_db_query prepares it (parameter types inferred) and run
# with EXECUTE_ARGS under plan_cache_mode MODE, has no Seq Scan on hotels,
# room_types or rooms, and uses an index on each table in NEEDS.
explain_ok() {
	local name=$1 mode=$2 sql=$3 args=$4 needs=$5 out=$BH_SCRATCH/plan.json bad t why=()
	if ! as_service >"$out" 2>&1 <<-EOF
		SET plan_cache_mode = $mode;
		PREPARE q AS $sql;
		EXPLAIN (ANALYZE, COSTS OFF, FORMAT JSON) EXECUTE q$args;
	EOF
	then
		fail "$name [$mode]" "EXPLAIN failed:" "$(head -c 2000 "$out")"
		return 1
	fi
	bad=$(plan_nodes "$out" | grep -E '^Seq Scan (hotels|room_types|rooms)$')
	[ -z "$bad" ] || why+=("sequential scans: $bad")
	for t in $needs; do
		plan_nodes "$out" | grep -qE "^(Index Scan|Index Only Scan|Bitmap Heap Scan) $t\$" ||
			why+=("no index scan on $t")
	done
	if [ ${#why[@]} -eq 0 ]; then
		pass "$name [$mode]: index scans only ($needs)"
		return 0
	fi
	fail "$name [$mode]" "${why[@]}" "$(plan_nodes "$out")"
	return 1
}

# The statements of handlers/search/hotels.c and cities.c (their column
# lists aside: the plan is the function's).
SEARCH='SELECT * FROM search_hotels($1, $2, $3, $4, $5, $6, $7)'
IN_CITY='SELECT * FROM hotels_in_city($1, $2, $3, $4, $5, $6, $7)'
DETAIL='SELECT * FROM hotel_detail($1)'
CITIES='SELECT * FROM search_cities($1, $2)'
lisbon=$(as_service -c "SELECT id FROM cities WHERE name = 'Lisbon'")
hotel=$(as_service -c "SELECT min(id) FROM hotels WHERE city_id = $lisbon")

for mode in force_custom_plan force_generic_plan; do
	explain_ok "search_hotels('Lisbon', 1, 1, NULL, 'price', 1, 20)" $mode "$SEARCH" \
		"('Lisbon', '1', '1', NULL, 'price', '1', '20')" "hotels city_names"
	explain_ok "search_hotels('lisbn', 2, 3, 15000, 'rating', 2, 10) (a typo)" $mode "$SEARCH" \
		"('lisbn', '2', '3', '15000', 'rating', '2', '10')" "hotels city_names"
	explain_ok "search_hotels('zurich', 4, 1, NULL, 'name', 1, 100)" $mode "$SEARCH" \
		"('zurich', '4', '1', NULL, 'name', '1', '100')" "hotels city_names"
	explain_ok "search_hotels('Qwxzvbnmkj', ...) (no such city)" $mode "$SEARCH" \
		"('Qwxzvbnmkj', '1', '1', NULL, 'price', '1', '20')" "city_names"
	explain_ok "hotels_in_city($lisbon, 2, 1, 20000, 'price', 3, 20)" $mode "$IN_CITY" \
		"('$lisbon', '2', '1', '20000', 'price', '3', '20')" "hotels"
	explain_ok "hotel_detail($hotel)" $mode "$DETAIL" "('$hotel')" "hotels room_types rooms"
	explain_ok "search_cities('m', 10)" $mode "$CITIES" "('m', '10')" "city_names cities"
	explain_ok "search_cities('sao', 50)" $mode "$CITIES" "('sao', '50')" "city_names cities"
done

# ------------------------------------------- derived columns follow changes

derived_follow() {
	as_service <<-EOF
		BEGIN;
		INSERT INTO cities (name, country, country_code, lat, lon)
			VALUES ('Atlantis', 'Nowhere', 'XA', 0, 0);
		INSERT INTO hotels (city_id, name, address, stars, currency, lat, lon)
			SELECT id, 'Test Hotel', 'Somewhere 1', 3, 'EUR', 0, 0 FROM cities WHERE name = 'Atlantis';
		INSERT INTO room_types (hotel_id, name, capacity, nightly_rate)
			SELECT id, n, c, r FROM hotels, (VALUES ('A', 2, 9000), ('B', 4, 15000), ('C', 1, 7000)) v(n, c, r)
			WHERE name = 'Test Hotel';
		SELECT 'after insert', lowest_rates::text FROM hotels WHERE name = 'Test Hotel';
		UPDATE room_types SET nightly_rate = 8000 WHERE name = 'B'
			AND hotel_id = (SELECT id FROM hotels WHERE name = 'Test Hotel');
		SELECT 'after update', lowest_rates::text FROM hotels WHERE name = 'Test Hotel';
		DELETE FROM room_types WHERE name = 'C'
			AND hotel_id = (SELECT id FROM hotels WHERE name = 'Test Hotel');
		SELECT 'after delete', lowest_rates::text FROM hotels WHERE name = 'Test Hotel';
		SELECT 'hotel_count', hotel_count FROM cities WHERE name = 'Atlantis';
		SELECT 'found', name FROM search_hotels('atlantis', 4, 1, NULL, 'price', 1, 20);
		DELETE FROM hotels WHERE name = 'Test Hotel';
		SELECT 'hotel_count after delete', hotel_count FROM cities WHERE name = 'Atlantis';
		ROLLBACK;
	EOF
}
expected='after insert|{7000,9000,15000,15000}
after update|{7000,8000,8000,8000}
after delete|{8000,8000,8000,8000}
hotel_count|1
found|Test Hotel
hotel_count after delete|0'
got=$(derived_follow 2>&1)
if [ "$got" = "$expected" ]; then
	pass "lowest_rates and hotel_count follow inserts, updates and deletes"
else
	fail "lowest_rates and hotel_count follow inserts, updates and deletes" \
		"expected:" "$expected" "got:" "$got"
fi

bh_pg_stop "$PGDIR" fast
check "PostgreSQL is stopped" test ! -e "$PGDIR/data/postmaster.pid"
finish
