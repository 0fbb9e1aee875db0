#!/bin/bash
# database-down.sh - the search service behind nginx when PostgreSQL goes
# away: searches answer a quick 503 problem with Retry-After, /health stays
# 200, /ready turns 503, no worker dies; when PostgreSQL is back the service
# recovers by itself (stale connections re-opened), with no restart.
. "$(dirname "$0")/../lib/harness.sh"

CITY=/search/hotels?city=lisbon

ready_is() {
	http GET /search/ready && [ "$RESP_STATUS" = "$1" ]
}

# expect_unavailable NAME URL: a 503 service-unavailable problem with a
# Retry-After in whole seconds, answered within 5 s.
expect_unavailable() {
	local name=$1 url=$2
	expect_problem "$name: 503 service-unavailable problem" 503 service-unavailable \
		GET "$url" -H "X-Request-Id: h5b-db-down-$RANDOM"
	expect_header "$name: Retry-After in seconds" Retry-After '[1-9][0-9]{0,4}'
	expect_faster "$name: answered within 5 s" 5
	# nginx's own problems lack these: the service answered, not nginx
	check "$name: answered by the service (its security headers)" expect_security_headers
}

stack_up nginx --workers 2 || bail "the stack did not come up"
expect_status "search for lisbon is 200 with the database up" 200 GET "$CITY"
# a hotel that exists: the first id in the lisbon results (else 1)
hotel=$(jq -r '[.. | objects | select(has("id")) | .id | numbers][0] // 1' \
	"$RESP_BODY_FILE" 2>/dev/null)
[[ $hotel =~ ^[0-9]+$ ]] || hotel=1
HOTEL=/search/hotels/$hotel
expect_status "hotel $hotel is 200 with the database up" 200 GET "$HOTEL"
expect_status "/search/ready is 200 with the database up" 200 GET /search/ready
master=$(master_pid)
workers=$(worker_pids)
note "master $master, workers $workers"
# every worker should hold a connection: concurrent requests reach both
http_burst 20 "$CITY" -Z --parallel-max 4
note "connections of bellhop_search before the stop: $(bh_pg_psql "$VAR/pg" postgres -tA \
	-c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'bellhop_search'")"

# --- PostgreSQL down ----------------------------------------------------
bh_pg_stop "$VAR/pg" fast
check "PostgreSQL is stopped" test ! -e "$VAR/pg/data/postmaster.pid"
expect_unavailable "search with the database down" "$CITY"
expect_unavailable "hotel $hotel with the database down" "$HOTEL"
# each worker meets the dead connection: all of them must answer 503
expect_burst "10 more searches with the database down all 503" 10 503 "$CITY" -Z --parallel-max 2
expect_status "/search/health is still 200 with the database down" 200 GET /search/health
expect_problem "/search/ready is a 503 problem with the database down" 503 service-unavailable \
	GET /search/ready
expect_faster "/search/ready answered within 5 s" 5
check "no worker died while the database was down (same master and workers)" \
	test "$(master_pid) / $(worker_pids)" = "$master / $workers"

# --- PostgreSQL back ----------------------------------------------------
bh_pg_start "$VAR/pg"
check "PostgreSQL is started again" test -e "$VAR/pg/data/postmaster.pid"
check "/search/ready is 200 within 10 s of PostgreSQL's return" wait_until 10 ready_is 200
expect_status "search for lisbon is 200 again" 200 GET "$CITY"
expect_status "hotel $hotel is 200 again" 200 GET "$HOTEL"
expect_burst "20 searches after the return all 200" 20 200 "$CITY" -Z --parallel-max 2
check "nothing was restarted (same master and workers)" \
	test "$(master_pid) / $(worker_pids)" = "$master / $workers"

# --- PostgreSQL restarted under the running service ---------------------
# open connections in every worker, then pull them from under it
http_burst 20 "$CITY" -Z --parallel-max 4
note "connections of bellhop_search before the restart: $(bh_pg_psql "$VAR/pg" postgres -tA \
	-c "SELECT count(*) FROM pg_stat_activity WHERE usename = 'bellhop_search'")"
bh_pg_stop "$VAR/pg" fast
bh_pg_start "$VAR/pg"
check "PostgreSQL restarted" test -e "$VAR/pg/data/postmaster.pid"
expect_status "the first search after the restart is 200 (stale connection re-opened)" 200 GET "$CITY"
expect_burst "20 searches after the restart all 200" 20 200 "$CITY" -Z --parallel-max 2
expect_status "hotel $hotel after the restart is 200" 200 GET "$HOTEL"
expect_status "/search/ready after the restart is 200" 200 GET /search/ready
check "no worker died across the restart (same master and workers)" \
	test "$(master_pid) / $(worker_pids)" = "$master / $workers"

finish
