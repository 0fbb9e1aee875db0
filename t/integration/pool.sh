#!/bin/bash
# pool.sh - the service's own supervised worker pool, behind nginx:
#   1. a worker killed with SIGKILL is respawned and nothing fails after;
#   2. --max-requests recycles workers without failing a request;
#   3. SIGHUP replaces every worker while requests keep succeeding;
#   4. SIGTERM lets the request in flight finish, then the master exits,
#      removes its socket, and nginx answers for it (502, as a problem).
. "$(dirname "$0")/../lib/harness.sh"

CITY=/search/hotels?city=lisbon

# replaced_by_two OLD_PIDS: two workers run and none of OLD_PIDS is one.
replaced_by_two() {
	local old=" $1 " now w
	now=$(worker_pids) || return 1
	set -- $now
	[ $# -eq 2 ] || return 1
	for w; do
		case $old in *" $w "*) return 1 ;; esac
	done
}

# some_replaced OLD_PIDS: two workers run and at least one is new.
some_replaced() {
	local old=$1 now
	now=$(worker_pids) || return 1
	set -- $now
	[ $# -eq 2 ] && [ "$now" != "$old" ]
}

two_workers() {
	[ "$(worker_count)" = 2 ]
}

all_gone() {
	local pid
	for pid in $1; do
		bh_pid_gone "$pid" || return 1
	done
}

# a session holds ACCESS EXCLUSIVE on hotels
hotels_locked() {
	[ "$(bh_pg_psql "$VAR/pg" bellhop_search -tA -c "SELECT count(*) FROM pg_locks l
		JOIN pg_class c ON c.oid = l.relation
		WHERE c.relname = 'hotels' AND l.mode = 'AccessExclusiveLock' AND l.granted")" = 1 ]
}

# the service's connection waits for a lock
service_waits_on_lock() {
	[ "$(bh_pg_psql "$VAR/pg" bellhop_search -tA -c "SELECT count(*) FROM pg_stat_activity
		WHERE usename = 'bellhop_search' AND wait_event_type = 'Lock'")" -ge 1 ]
}

stack_up nginx --workers 2 || bail "the stack did not come up"
master=$(master_pid)
check "VAR/run/search.pid names a running master" test -n "$master"
check "the master has 2 workers" wait_until 5 two_workers
note "master $master, workers $(worker_pids)"

# --- 1. a crashed worker is respawned ----------------------------------
before=$(worker_pids)
victim=${before%% *}
kill -KILL "$victim"
check "SIGKILLed worker $victim is replaced: 2 workers again within 5 s" \
	wait_until 5 some_replaced "$before"
note "workers now $(worker_pids)"
check "the master survived its worker's death" test "$(master_pid)" = "$master"
expect_burst "50 requests in a row after the respawn all 200" 50 200 "$CITY"

# --- 2. recycling after --max-requests ---------------------------------
stack_up nginx --workers 2 --max-requests 20 || bail "the stack did not restart"
check "2 workers with --max-requests 20" wait_until 5 two_workers
master=$(master_pid)
before=$(worker_pids)
note "master $master, workers $before"
# two at a time, so that both workers serve well over 20 each
expect_burst "200 requests with --max-requests 20 all 200" 200 200 "$CITY" -Z --parallel-max 2
check "every worker was recycled (new pids, 2 workers) within 5 s" \
	wait_until 5 replaced_by_two "$before"
note "workers now $(worker_pids)"
check "recycling kept the same master" test "$(master_pid)" = "$master"

# --- 3. SIGHUP: rolling restart -----------------------------------------
stack_up nginx --workers 2 || bail "the stack did not restart"
check "2 workers again without --max-requests" wait_until 5 two_workers
master=$(master_pid)
before=$(worker_pids)
note "master $master, workers $before"
# 50 requests over 2.5 s; the SIGHUP lands in the middle of them
http_burst 50 "$CITY" --rate 20/s &
load=$!
track "$load"
sleep 0.5
kill -HUP "$master"
wait_pid "$load" 60
check "50 requests during and after SIGHUP all 200 (no 5xx)" burst_all_are 200 50 ||
	note "statuses (count status): $(tr '\n' ' ' <"$BH_SCRATCH/burst.hist")"
check "SIGHUP replaced both workers (new pids) within 10 s" \
	wait_until 10 replaced_by_two "$before"
note "workers now $(worker_pids)"
check "SIGHUP kept the same master" test "$(master_pid)" = "$master"
expect_burst "50 requests after the rolling restart all 200" 50 200 "$CITY"

# --- 4. SIGTERM with a request in flight --------------------------------
master=$(master_pid)
workers=$(worker_pids)
bh_pg_psql "$VAR/pg" bellhop_search \
	-c "BEGIN; LOCK TABLE hotels IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT;" \
	>"$BH_SCRATCH/lock.out" 2>&1 &
locker=$!
track "$locker"
check "a session holds an exclusive lock on hotels" wait_until 3 hotels_locked
curl -sS -m 20 -o "$BH_SCRATCH/inflight.body" -w '%{http_code}' "$BASE_URL$CITY" \
	>"$BH_SCRATCH/inflight.code" 2>"$BH_SCRATCH/inflight.err" &
inflight=$!
track "$inflight"
check "a search blocks on the lock inside a worker" wait_until 3 service_waits_on_lock
kill -TERM "$master"
sent=$(date +%s)
wait_pid "$inflight" 20
code=$(cat "$BH_SCRATCH/inflight.code" 2>/dev/null)
if [ "$code" = 200 ]; then
	pass "the request in flight at SIGTERM completed with 200"
else
	fail "the request in flight at SIGTERM completed with 200" "got '$code'" \
		"$(cat "$BH_SCRATCH/inflight.err" "$BH_SCRATCH/inflight.body" 2>/dev/null | head -c 600)"
fi
check "the master exits within 10 s of SIGTERM" wait_until 10 bh_pid_gone "$master"
note "the master took about $(($(date +%s) - sent)) s to exit"
check "its workers exited too" wait_until 5 all_gone "$workers"
check "the socket VAR/run/search.sock is removed" test ! -e "$VAR/run/search.sock"
# nginx cannot connect: a 502 (or a 503 if it maps it), as a problem whose
# "status" is the HTTP status, never an HTML page
expect_problem "a new request is refused by nginx: 502/503 problem+json" 502\|503 \
	service-unavailable GET "$CITY"
wait_pid "$locker" 10
locked_rc=$?
check "the locking session ended cleanly" test "$locked_rc" = 0

# up again after a stop, so that down finds a whole stack
stack_up nginx --workers 2 || bail "the stack did not come up again after SIGTERM"
expect_status "the search answers 200 again after up" 200 GET "$CITY"

finish
