#!/bin/sh
# cli.sh - the command line and process model of a service program:
# --help, --version, refused options and settings (exit 2 with a message
# naming them), no socket on fd 0, and the supervised pool on its own unix
# socket: mode, workers, respawn, SIGHUP reload, SIGTERM stop, stale socket.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${BH_SRCDIR:=$(cd "$here/../.." && pwd)}"
: "${BH_BUILDDIR:=$BH_SRCDIR/build}"
prog="$BH_BUILDDIR/handlers/search/bellhop-search"

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $1"; }
check() { # check NAME COMMAND...: passes when COMMAND succeeds
	name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# The caller's settings must not change what we test.
for v in BH_DATABASE_URL BH_SQL_DIR BH_LOG_LEVEL BH_BASE_PATH BH_MAX_BODY \
    BH_JSON_MAX_DEPTH BH_DB_CONNECT_TIMEOUT BH_DB_STATEMENT_TIMEOUT \
    BH_RETRY_AFTER BH_LISTEN BH_WORKERS BH_MAX_REQUESTS BH_SOCKET_MODE \
    LISTEN_PID LISTEN_FDS; do
	unset "$v"
done

tmp=$(mktemp -d /tmp/bellhop-cli.XXXXXX)
master=
cleanup() {
	if [ -n "$master" ] && kill -0 "$master" 2>/dev/null; then
		kill -KILL "$master" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ ! -x "$prog" ]; then
	not_ok "program built at $prog"
	echo "0 passed, 1 failed"
	exit 1
fi

# run ARGS...: runs the program (stdin from /dev/null, 10 s at most),
# output in $tmp/out and $tmp/err, exit status in $rc.
run() {
	timeout 10 "$prog" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	cat "$tmp/err" >>"$tmp/all-err.log"
}
# run_env VAR=VALUE ARGS...: the same with one more variable set.
run_env() {
	setting=$1
	shift
	timeout 10 env "$setting" "$prog" "$@" </dev/null >"$tmp/out" \
	    2>"$tmp/err"
	rc=$?
	cat "$tmp/err" >>"$tmp/all-err.log"
}
out_has() { grep -q -e "$1" "$tmp/out"; }
err_has() { grep -q -e "$1" "$tmp/err"; }
# The refusal is one line on stderr.
one_line_err() { [ "$(wc -l <"$tmp/err")" -eq 1 ]; }

# --- help and version --------------------------------------------------
run --help
check "--help exits 0" [ "$rc" -eq 0 ]
check "--help lists --listen" out_has '--listen'
check "--help lists --workers, --max-requests, --socket-mode" \
    sh -c "grep -q -e --workers '$tmp/out' && grep -q -e --max-requests '$tmp/out' && grep -q -e --socket-mode '$tmp/out'"
check "--help lists the migrate command" out_has 'migrate'
check "--help lists BH_DATABASE_URL" out_has 'BH_DATABASE_URL'
check "--help prints nothing on stderr" [ ! -s "$tmp/err" ]

run --version
check "--version exits 0" [ "$rc" -eq 0 ]
check "--version prints bellhop-search VERSION" \
    grep -Eqx 'bellhop-search [0-9]+\.[0-9]+\.[0-9]+.*' "$tmp/out"

# --- refused command lines ---------------------------------------------
run --bogus
check "unknown option exits 2" [ "$rc" -eq 2 ]
check "unknown option is named, with a pointer to --help" \
    sh -c "grep -q -e \"unknown option '--bogus'\" '$tmp/err' && grep -q -e '--help' '$tmp/err'"
check "unknown option: one line on stderr" one_line_err

run frobnicate
check "unknown command exits 2 naming it" \
    sh -c "[ $rc -eq 2 ] && grep -q frobnicate '$tmp/err'"

run --listen
check "option without its value exits 2" \
    sh -c "[ $rc -eq 2 ] && grep -q -e 'missing value' '$tmp/err'"

for bad in abc 0 99999 -1 ""; do
	run --workers "$bad"
	check "--workers '$bad' exits 2 naming --workers" \
	    sh -c "[ $rc -eq 2 ] && grep -q -e '--workers' '$tmp/err'"
done
run --workers=abc
check "--workers=abc exits 2 naming --workers" \
    sh -c "[ $rc -eq 2 ] && grep -q -e '--workers' '$tmp/err'"
run --max-requests lots
check "--max-requests lots exits 2" [ "$rc" -eq 2 ]
run --socket-mode 0999
check "--socket-mode 0999 exits 2" [ "$rc" -eq 2 ]
run --listen /tmp/no-scheme.sock
check "--listen without unix: or a port exits 2" [ "$rc" -eq 2 ]
run --listen 127.0.0.1:70000
check "--listen with port 70000 exits 2" [ "$rc" -eq 2 ]
run migrate --workers 2
check "migrate with a serve option exits 2" [ "$rc" -eq 2 ]

# --- refused settings ----------------------------------------------------
run_env BH_WORKERS=abc
check "BH_WORKERS=abc exits 2 naming the variable" \
    sh -c "[ $rc -eq 2 ] && grep -q BH_WORKERS '$tmp/err'"
check "BH_WORKERS=abc: the message says what is accepted" err_has '1 to 256'
run_env BH_LOG_LEVEL=loud
check "BH_LOG_LEVEL=loud exits 2 naming the variable" \
    sh -c "[ $rc -eq 2 ] && grep -q BH_LOG_LEVEL '$tmp/err'"
check "BH_LOG_LEVEL=loud: the message lists the levels" \
    err_has 'debug, info, warn, error'
run_env BH_MAX_BODY=10
check "BH_MAX_BODY=10 exits 2 naming the variable" \
    sh -c "[ $rc -eq 2 ] && grep -q BH_MAX_BODY '$tmp/err'"
run_env BH_BASE_PATH=/search/
check "BH_BASE_PATH=/search/ exits 2 naming the variable" \
    sh -c "[ $rc -eq 2 ] && grep -q BH_BASE_PATH '$tmp/err'"
run_env BH_WORKERS=abc --workers 3
check "a bad variable is refused even when a flag overrides it" [ "$rc" -eq 2 ]

# --- no FastCGI socket ---------------------------------------------------
start=$(date +%s)
run
end=$(date +%s)
check "no socket on fd 0 exits 2" [ "$rc" -eq 2 ]
check "no socket on fd 0 says so and how to fix it" \
    sh -c "grep -q 'no FastCGI socket on fd 0' '$tmp/err' && grep -q -e '--listen' '$tmp/err'"
check "no socket on fd 0 fails at once" [ $((end - start)) -le 2 ]
run serve
check "'serve' with no socket exits 2 too" [ "$rc" -eq 2 ]

# --- the pool on its own unix socket --------------------------------------
sock="$tmp/search.sock"

# waits up to 10 s for COMMAND to succeed
wait_for() {
	i=0
	while [ $i -lt 100 ]; do
		if "$@"; then return 0; fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
# the master's children, from /proc (procps may not be installed)
workers() {
	for f in /proc/[0-9]*/stat; do
		{ read -r line <"$f"; } 2>/dev/null || continue
		rest=${line##*) }
		set -- $rest
		[ "$2" = "$master" ] && echo "${line%% *}"
	done | sort
}
nworkers_is() { [ "$(workers | wc -l)" -eq "$1" ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }

"$prog" --listen "unix:$sock" --socket-mode 0600 --workers 3 \
    </dev/null >/dev/null 2>"$tmp/pool1.log" &
master=$!
check "--listen unix: creates the socket" wait_for test -S "$sock"
check "the socket has mode 0600 (--socket-mode)" \
    [ "$(stat -c %a "$sock" 2>/dev/null)" = 600 ]
check "--workers 3 runs 3 worker children" wait_for nworkers_is 3
check "the start is logged as JSON" \
    grep -q '"msg":"listening on unix:' "$tmp/pool1.log"

before=$(workers)
victim=$(echo "$before" | head -n 1)
kill -KILL "$victim"
respawned() { nworkers_is 3 && ! workers | grep -qx "$victim"; }
check "a killed worker is replaced" wait_for respawned
check "the crash is logged" wait_for grep -q "worker $victim crashed" "$tmp/pool1.log"

before=$(workers)
kill -HUP "$master"
all_new() {
	nworkers_is 3 || return 1
	for p in $before; do
		if workers | grep -qx "$p"; then return 1; fi
	done
}
check "SIGHUP replaces every worker" wait_for all_new
check "the master survives SIGHUP" kill -0 "$master"

last=$(workers)
kill -TERM "$master"
check "SIGTERM stops the master" wait_for gone "$master"
wait "$master"
rc=$?
check "SIGTERM: exit status 0" [ "$rc" -eq 0 ]
check "SIGTERM: the workers are gone" \
    sh -c "for p in $(echo $last); do kill -0 \$p 2>/dev/null && exit 1; done; exit 0"
check "SIGTERM: the socket is removed" [ ! -e "$sock" ]
master=

# A master killed outright leaves its socket file; its workers follow it
# (PR_SET_PDEATHSIG); the next start replaces the stale file.
BH_LISTEN="unix:$sock" BH_WORKERS=2 "$prog" </dev/null >/dev/null \
    2>"$tmp/pool2.log" &
master=$!
wait_for nworkers_is 2
kids=$(workers)
kill -KILL "$master"
wait "$master" 2>/dev/null
master=
check "a killed master leaves a stale socket file" [ -S "$sock" ]
kids_gone() {
	for p in $kids; do kill -0 "$p" 2>/dev/null && return 1; done
	return 0
}
check "the workers of a killed master exit" wait_for kids_gone

BH_LISTEN="unix:$sock" BH_WORKERS=2 "$prog" </dev/null >/dev/null \
    2>"$tmp/pool3.log" &
master=$!
check "a stale socket is replaced (BH_LISTEN, BH_WORKERS)" \
    wait_for nworkers_is 2
check "the replacement is logged" grep -q 'removed stale socket' "$tmp/pool3.log"
check "the replaced socket has the default mode 0660" \
    [ "$(stat -c %a "$sock" 2>/dev/null)" = 660 ]

# A second server on a live socket refuses and leaves it alone.
run --listen "unix:$sock"
check "a socket in use is refused (exit 1)" [ "$rc" -eq 1 ]
check "the running server keeps its socket" [ -S "$sock" ]
kill -TERM "$master"
wait "$master"
master=

# Never remove what is not a socket.
echo keep >"$tmp/file.sock"
run --listen "unix:$tmp/file.sock"
check "a regular file at the socket path is refused (exit 1)" \
    [ "$rc" -eq 1 ]
check "the regular file is left as it was" \
    [ "$(cat "$tmp/file.sock")" = keep ]

# With --enable-sanitizers every run above was checked too.
check "no sanitizer report in any stderr" \
    sh -c "! grep -q -e 'Sanitizer' -e 'runtime error:' '$tmp'/*.log"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
