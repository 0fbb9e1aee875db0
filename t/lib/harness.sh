# t/lib/harness.sh - shared helpers for the integration tests (bash).
#
# A test sources this file, brings a stack up, makes checks and ends with
# `finish`:
#
#	. "$(dirname "$0")/../lib/harness.sh"
#	stack_up nginx || bail "the stack did not come up"
#	expect_status "health answers" 200 GET /search/health
#	finish
#
# Sourcing it resolves BH_SRCDIR and BH_BUILDDIR (given by `make check`;
# for a manual run, the repository holding this file and $BH_SRCDIR/build),
# makes a private directory (VAR=$BH_TOP/var for scripts/stack, SCRATCH
# (also BH_SCRATCH) for the test's own files), picks free TCP ports (PORT
# for the front end, SMTP_PORT for the SMTP sink, BANK_PORT for the fake
# bank: BANK_URL), and sets a trap that always
# runs `scripts/stack down --var $VAR` and stops whatever else the test
# started, whether the test ends, fails, or is interrupted.  `finish` checks
# that down worked, left nothing running and found no sanitizer report,
# prints the log tails when something failed, then `N passed, N failed`.
#
# A script that only makes requests against a stack someone else runs (as
# t/integration/search-cases.sh BASE_URL) may set BH_HARNESS_MODE=light
# before sourcing: it then gets the check helpers and a scratch directory,
# with no var dir, no port, no stack teardown.
#
# Every request is bounded (curl -m), every wait has a limit: no test can
# hang.  Set BH_KEEP_VAR=1 to keep the directory after a passing run (a
# full run keeps it after a failing one; a light run never keeps it).

BH_PASSED=0
BH_FAILED=0
BH_FINISHED=
BH_TORN_DOWN=
BH_STACK_STARTED=
BH_TRACKED_PIDS=()
BH_CURL_TIMEOUT=${BH_CURL_TIMEOUT:-10}

if [ -z "${BH_SRCDIR:-}" ]; then
	BH_SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fi
BH_BUILDDIR=${BH_BUILDDIR:-$BH_SRCDIR/build}
BH_STACK=$BH_SRCDIR/scripts/stack
export BH_SRCDIR BH_BUILDDIR

# shellcheck source=../../scripts/pg.sh
. "$BH_SRCDIR/scripts/pg.sh"

# ------------------------------------------------------------------ checks

pass() {
	BH_PASSED=$((BH_PASSED + 1))
	printf 'ok - %s\n' "$1"
}

# fail NAME [DETAIL...]: one failed check; details are printed indented.
fail() {
	local name=$1
	shift
	BH_FAILED=$((BH_FAILED + 1))
	printf 'not ok - %s\n' "$name"
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" | cut -c1-500 | sed -e 's/^/#   /' | head -n 40
	fi
}

# check NAME CMD...: passes when CMD exits 0; its output is shown on failure.
# CMD runs in this shell, so it may be a function.
check() {
	local name=$1 out rc
	shift
	out=$BH_SCRATCH/check.out
	"$@" >"$out" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		pass "$name"
	else
		fail "$name" "command failed (exit $rc): $*" "$(head -c 3000 "$out")"
	fi
	return $rc
}

# note TEXT: a comment line in the output (not a check).
note() {
	printf '# %s\n' "$*"
}

# wait_until SECONDS CMD...: runs CMD every 0.1 s until it succeeds (0) or
# SECONDS pass (1).
wait_until() {
	local limit=$1 deadline
	shift
	deadline=$(($(date +%s%N) / 1000000 + limit * 1000))
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		[ $(($(date +%s%N) / 1000000)) -ge $deadline ] && return 1
		sleep 0.1
	done
}

# ------------------------------------------------------------------- HTTP

# A URL starting with "/" is relative to BASE_URL.
bh_url() {
	case $1 in
	/*) printf '%s%s' "$BASE_URL" "$1" ;;
	*) printf '%s' "$1" ;;
	esac
}

# http METHOD URL [CURL ARGS...]: one request.  Sets RESP_STATUS (000 when
# curl failed), RESP_TIME (seconds), RESP_CURL_RC, and the files
# RESP_BODY_FILE, RESP_HEADERS_FILE; RESP_DESC describes it for messages.
# Returns curl's exit status.
http() {
	local method=$1 url out
	shift
	url=$(bh_url "$1")
	shift
	RESP_BODY_FILE=$BH_SCRATCH/resp.body
	RESP_HEADERS_FILE=$BH_SCRATCH/resp.headers
	RESP_ERR_FILE=$BH_SCRATCH/resp.err
	RESP_DESC="$method $url"
	: >"$RESP_BODY_FILE"
	: >"$RESP_HEADERS_FILE"
	local methodargs=(-X "$method") body=$RESP_BODY_FILE
	# -X HEAD would make curl wait for a body that never comes; --head
	# writes the headers to -o: keep them out of the body file (curl reads
	# no body after a HEAD: see head_has_no_body for what is on the wire)
	[ "$method" = HEAD ] && methodargs=(--head) body=/dev/null
	[ "$method" = GET ] && methodargs=()
	out=$(curl -sS -m "$BH_CURL_TIMEOUT" "${methodargs[@]}" \
		-o "$body" -D "$RESP_HEADERS_FILE" \
		-w '%{http_code} %{time_total}' "$@" "$url" 2>"$RESP_ERR_FILE")
	RESP_CURL_RC=$?
	RESP_STATUS=${out%% *}
	RESP_TIME=${out#* }
	[ -n "$RESP_STATUS" ] || RESP_STATUS=000
	[ -n "$RESP_TIME" ] && [ "$RESP_TIME" != "$out" ] || RESP_TIME=0
	return $RESP_CURL_RC
}

# resp_header NAME: the value of header NAME in the last response (the last
# header block, after any 100 Continue), without the trailing CR.
resp_header() {
	awk -v want="$(printf '%s' "$1" | tr 'A-Z' 'a-z')" '
		{ sub(/\r$/, "") }
		/^HTTP\// { found = ""; have = 0; next }
		{
			i = index($0, ":")
			if (i == 0) next
			name = tolower(substr($0, 1, i - 1))
			if (name == want && !have) {
				v = substr($0, i + 1)
				sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v)
				found = v; have = 1
			}
		}
		END { if (have) print found; else exit 1 }
	' "$RESP_HEADERS_FILE"
}

# resp_header_count NAME: how many times header NAME is in the last block.
resp_header_count() {
	awk -v want="$(printf '%s' "$1" | tr 'A-Z' 'a-z')" '
		{ sub(/\r$/, "") }
		/^HTTP\// { n = 0; next }
		{ i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == want) n++ }
		END { print n + 0 }
	' "$RESP_HEADERS_FILE"
}

# The last response, summarised for a failure message.
resp_summary() {
	local desc=$RESP_DESC
	[ ${#desc} -gt 300 ] && desc="${desc:0:300}... (${#RESP_DESC} characters)"
	printf '%s -> status %s in %ss (curl exit %s)\n' "$desc" \
		"$RESP_STATUS" "$RESP_TIME" "$RESP_CURL_RC"
	[ -s "$RESP_ERR_FILE" ] && sed -e 's/^/curl: /' "$RESP_ERR_FILE" | head -n 3
	tr -d '\r' <"$RESP_HEADERS_FILE" | head -n 20
	printf 'body: %s\n' "$(head -c 600 "$RESP_BODY_FILE" | tr -d '\0')"
}

# status_is EXPECTED: the last status matches EXPECTED, an ERE such as
# "200" or "502|503" matched whole.
status_is() {
	[[ $RESP_STATUS =~ ^($1)$ ]]
}

# expect_status NAME EXPECTED METHOD URL [CURL ARGS...]: one request whose
# status must match EXPECTED (see status_is).  The response stays available
# to the expect_* helpers below.
expect_status() {
	local name=$1 expected=$2
	shift 2
	http "$@"
	if status_is "$expected"; then
		pass "$name"
		return 0
	fi
	fail "$name" "expected status $expected" "$(resp_summary)"
	return 1
}

# expect_header NAME HEADER ERE: the last response has HEADER once and its
# value matches ERE (whole value, case-sensitive).
expect_header() {
	local name=$1 header=$2 re=$3 value count
	count=$(resp_header_count "$header")
	value=$(resp_header "$header")
	if [ "$count" = 1 ] && [[ $value =~ ^($re)$ ]]; then
		pass "$name"
		return 0
	fi
	fail "$name" "expected exactly one $header matching /$re/, got $count: '$value'" "$(resp_summary)"
	return 1
}

# expect_content_type NAME MEDIA_TYPE: the media type of the last response,
# parameters (charset) ignored.
expect_content_type() {
	local name=$1 want=$2 value
	value=$(resp_header Content-Type)
	value=${value%%;*}
	value=$(printf '%s' "$value" | tr 'A-Z' 'a-z' | tr -d ' ')
	if [ "$value" = "$want" ]; then
		pass "$name"
		return 0
	fi
	fail "$name" "expected Content-Type $want, got '$(resp_header Content-Type)'" "$(resp_summary)"
	return 1
}

# expect_jq NAME FILTER [JQ ARGS...]: jq -e FILTER is true on the last body.
expect_jq() {
	local name=$1 filter=$2
	shift 2
	if jq -e "$@" "$filter" "$RESP_BODY_FILE" >/dev/null 2>&1; then
		pass "$name"
		return 0
	fi
	fail "$name" "jq -e '$filter' is not true on the body" "$(resp_summary)"
	return 1
}

# expect_faster NAME SECONDS: the last request took less than SECONDS.
expect_faster() {
	local name=$1 limit=$2
	if [ "$RESP_CURL_RC" = 0 ] && awk -v t="$RESP_TIME" -v l="$limit" 'BEGIN { exit !(t < l) }'; then
		pass "$name"
		return 0
	fi
	fail "$name" "expected an answer in less than ${limit}s" "$(resp_summary)"
	return 1
}

# expect_problem NAME STATUS SLUG METHOD URL [CURL ARGS...]: the answer is
# an RFC 9457 problem from the service: the status, Content-Type
# application/problem+json, "type" urn:bellhop:problem:SLUG (SLUG may be an
# ERE such as "a|b"), a matching "status" member, a title and a detail,
# and "request_id" equal to the X-Request-Id header.  One check line for
# the whole.
expect_problem() {
	local name=$1 status=$2 slug=$3 why=() ctype rid
	shift 3
	http "$@"
	status_is "$status" || why+=("expected status $status")
	ctype=$(resp_header Content-Type)
	ctype=$(printf '%s' "${ctype%%;*}" | tr 'A-Z' 'a-z' | tr -d ' ')
	[ "$ctype" = application/problem+json ] ||
		why+=("expected Content-Type application/problem+json")
	jq -e --arg re "^urn:bellhop:problem:($slug)\$" '.type | test($re)' \
		"$RESP_BODY_FILE" >/dev/null 2>&1 ||
		why+=("expected \"type\": \"urn:bellhop:problem:($slug)\"")
	jq -e --argjson s "$((10#$RESP_STATUS))" '.status == $s and (.title | type) == "string"
		and (.detail | type) == "string"' "$RESP_BODY_FILE" >/dev/null 2>&1 ||
		why+=("expected \"status\" equal to the HTTP status, a title and a detail")
	rid=$(resp_header X-Request-Id)
	[ -n "$rid" ] && jq -e --arg r "$rid" '.request_id == $r' "$RESP_BODY_FILE" >/dev/null 2>&1 ||
		why+=("expected \"request_id\" equal to the X-Request-Id header ('$rid')")
	if [ ${#why[@]} -eq 0 ]; then
		pass "$name"
		return 0
	fi
	fail "$name" "${why[@]}" "$(resp_summary)"
	return 1
}

# http_burst N URL [CURL ARGS...]: N GETs of URL with one curl (kept-alive
# connection; add -Z --parallel-max K for concurrency, --rate R/s to pace
# them).  Writes one status per line to $BH_SCRATCH/burst.codes and a
# histogram "COUNT STATUS" per line to $BH_SCRATCH/burst.hist.
http_burst() {
	local n=$1 url cfg i
	url=$(bh_url "$2")
	shift 2
	cfg=$BH_SCRATCH/burst.cfg
	: >"$cfg"
	for ((i = 0; i < n; i++)); do
		printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$cfg"
	done
	timeout -k 2 120 curl -sS -m "$BH_CURL_TIMEOUT" -K "$cfg" -w '%{http_code}\n' "$@" \
		>"$BH_SCRATCH/burst.codes" 2>"$BH_SCRATCH/burst.err"
	sort "$BH_SCRATCH/burst.codes" | uniq -c | sed -e 's/^ *//' >"$BH_SCRATCH/burst.hist"
}

# burst_all_are STATUS N: the last burst gave N answers, all STATUS.
burst_all_are() {
	[ "$(grep -c "^$1\$" "$BH_SCRATCH/burst.codes")" = "$2" ] &&
		[ "$(wc -l <"$BH_SCRATCH/burst.codes")" = "$2" ]
}

# expect_burst NAME N STATUS URL [CURL ARGS...]: N requests all give STATUS.
expect_burst() {
	local name=$1 n=$2 status=$3
	shift 3
	http_burst "$n" "$@"
	if burst_all_are "$status" "$n"; then
		pass "$name"
		return 0
	fi
	fail "$name" "expected $n x $status, got (count status):" "$(cat "$BH_SCRATCH/burst.hist")" \
		"$(head -n 5 "$BH_SCRATCH/burst.err")"
	return 1
}

# ---------------------------------------------------------- processes

# track PID...: processes this test started itself (background curl, psql,
# subshells); the teardown stops them and their children.
track() {
	BH_TRACKED_PIDS+=("$@")
}

# wait_pid PID SECONDS: waits for a background job of this shell to end;
# returns its exit status, or 124 (and leaves it running) on timeout.
wait_pid() {
	local pid=$1
	wait_until "$2" bh_pid_gone "$pid" || return 124
	wait "$pid" 2>/dev/null
}

bh_pid_gone() {
	! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]
}

# Kills PID and its descendants (children first found, then PID).
bh_kill_tree() {
	local sig=$1 pid=$2 child
	for child in $(pgrep -P "$pid" 2>/dev/null); do
		bh_kill_tree "$sig" "$child"
	done
	kill "-$sig" "$pid" 2>/dev/null
}

bh_kill_tracked() {
	local pid
	for pid in "${BH_TRACKED_PIDS[@]}"; do
		bh_pid_gone "$pid" || bh_kill_tree TERM "$pid"
	done
	for pid in "${BH_TRACKED_PIDS[@]}"; do
		wait_until 3 bh_pid_gone "$pid" || bh_kill_tree KILL "$pid"
		wait "$pid" 2>/dev/null
	done
	BH_TRACKED_PIDS=()
}

# The service's pool master (scripts/stack writes VAR/run/<svc>.pid).
master_pid() {
	local pid
	pid=$(cat "$VAR/run/${1:-search}.pid" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && printf '%s\n' "$pid"
}

# worker_pids [SVC]: the master's children, sorted, space-separated.
worker_pids() {
	local m
	m=$(master_pid "${1:-search}") || return 1
	pgrep -P "$m" | sort -n | tr '\n' ' ' | sed -e 's/ $//'
}

# worker_count [SVC]
worker_count() {
	local w
	w=$(worker_pids "${1:-search}") || { echo 0; return 1; }
	set -- $w
	echo $#
}

# Processes still referring to the var dir (command line or environment):
# what `down` must have stopped.  Read with bash alone, so that no helper
# process carries VAR in its own arguments.
bh_leftover_pids() {
	local p pid args=() env=()
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[ "$pid" = $$ ] && continue
		args=() env=()
		{ mapfile -d '' -t args <"$p/cmdline"; } 2>/dev/null
		{ mapfile -d '' -t env <"$p/environ"; } 2>/dev/null
		case "${args[*]} ${env[*]}" in
		*"$VAR/"*) printf '%s\n' "$pid" ;;
		esac
	done
}

# ----------------------------------------------------------------- stack

bh_port_free() {
	local p=$1
	if command -v ss >/dev/null 2>&1; then
		[ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] || return 1
	fi
	! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
}

# A free TCP port below the ephemeral range (32768-60999 on Linux), so that
# no outgoing connection takes it between the choice and the bind.
pick_port() {
	local i p
	for ((i = 0; i < 200; i++)); do
		p=$(((((RANDOM << 15) | RANDOM) + $$) % 22000 + 10000))
		if bh_port_free "$p"; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}

# stack_up FRONT [EXTRA ARGS...]: scripts/stack up in this test's var dir
# with the build in BH_BUILDDIR, the front end on PORT, the SMTP sink on
# SMTP_PORT and the fake bank on BANK_PORT; one check line.  Running it again restarts the services (with
# the new extra args).  Sets BH_FRONT and BASE_URL.  Every BH_* variable
# exported by the test reaches the services (export BH_SIGNIN_WINDOW=...
# before stack_up); BH_STACK_SERVICES limits which services run.
stack_up() {
	local front=$1 out rc try
	shift
	BH_FRONT=$front
	# a restart rotates the logs (one generation kept): look at them now
	[ -n "$BH_STACK_STARTED" ] && bh_sanitizer_reports >>"$BH_SCRATCH/sanitizer-earlier.txt"
	BH_STACK_STARTED=1
	for try in 1 2; do
		out=$BH_SCRATCH/stack-up.log
		BASE_URL=http://127.0.0.1:$PORT
		timeout -k 5 180 "$BH_STACK" up --var "$VAR" --port "$PORT" --front "$front" \
			--smtp-port "$SMTP_PORT" --bank-port "$BANK_PORT" \
			--builddir "$BH_BUILDDIR" "$@" >"$out" 2>&1
		rc=$?
		cat "$out" >>"$BH_SCRATCH/stack-up.all.log"
		# someone took the port between the choice and the bind: once more
		if [ $rc -ne 0 ] && [ $try = 1 ] && grep -qi 'address already in use' "$out" &&
			! bh_port_is_ours; then
			note "port $PORT, $SMTP_PORT or $BANK_PORT was taken meanwhile; trying others"
			"$BH_STACK" down --var "$VAR" >/dev/null 2>&1
			bh_pick_ports || break
			continue
		fi
		break
	done
	if [ $rc -eq 0 ]; then
		pass "stack up --front $front${*:+ $*}"
		return 0
	fi
	fail "stack up --front $front${*:+ $*} (exit $rc)" "$(tail -n 30 "$out")"
	return 1
}

# Chooses PORT (the front end), SMTP_PORT (the SMTP sink) and BANK_PORT
# (the fake bank), three different ports; exports BANK_PORT and BANK_URL.
bh_pick_ports() {
	PORT=$(pick_port) || return 1
	SMTP_PORT=$(pick_port) || return 1
	while [ "$SMTP_PORT" = "$PORT" ]; do
		SMTP_PORT=$(pick_port) || return 1
	done
	BANK_PORT=$(pick_port) || return 1
	while [ "$BANK_PORT" = "$PORT" ] || [ "$BANK_PORT" = "$SMTP_PORT" ]; do
		BANK_PORT=$(pick_port) || return 1
	done
	BASE_URL=http://127.0.0.1:$PORT
	BANK_URL=http://127.0.0.1:$BANK_PORT
	export BANK_PORT BANK_URL
}

# ------------------------------------------------ identity, mail, commands

# client_secret NAME: the secret of OAuth2 client NAME, which scripts/stack
# registered (VAR/secrets/NAME.secret).
client_secret() {
	local file=$VAR/secrets/$1.secret
	[ -s "$file" ] || { echo "harness: no secret for client $1 ($file)" >&2; return 1; }
	head -n 1 "$file"
}

# client_token NAME [SCOPE]: prints an access token for client NAME from
# the client_credentials grant (HTTP Basic client authentication), with
# SCOPE if given (else all the client's scopes); on failure prints the
# answer on stderr and returns 1.  Does not touch the RESP_* of http.
client_token() {
	local name=$1 scope=${2:-} secret out token
	local -a args=(-d grant_type=client_credentials)
	secret=$(client_secret "$name") || return 1
	[ -n "$scope" ] && args+=(--data-urlencode "scope=$scope")
	out=$(curl -sS -m "$BH_CURL_TIMEOUT" -u "$name:$secret" "${args[@]}" \
		"$BASE_URL/auth/oauth/token" 2>&1)
	token=$(jq -r '.access_token // empty' <<<"$out" 2>/dev/null)
	if [ -z "$token" ]; then
		echo "harness: no token for client $name${scope:+ (scope $scope)}: $out" >&2
		return 1
	fi
	printf '%s\n' "$token"
}

# stack_env SVC: the settings the stack gives service SVC, NAME=value
# lines (scripts/stack env).
stack_env() {
	"$BH_STACK" env "$1" --var "$VAR"
}

# service_run SVC ARGS...: runs bellhop-SVC ARGS... (a command such as
# `bellhop-auth key rotate`, or `bellhop-notifications deliver --once`)
# with the stack's settings for SVC, as the stack runs it: those and no
# other BH_* variable of the test's (an exported BH_CLIENT_SECRET would
# clash with the secret file).  Background it and `track` its pid for a
# long-running mode.
service_run() {
	local svc=$1 envs name
	shift
	envs=$(stack_env "$svc") || return 1
	local -a lines unset=()
	mapfile -t lines <<<"$envs"
	for name in $(compgen -e); do
		[[ $name == BH_* ]] && unset+=(-u "$name")
	done
	env "${unset[@]}" "${lines[@]}" "$BH_BUILDDIR/handlers/$svc/bellhop-$svc" "$@"
}

# smtp_stop / smtp_start: the SMTP sink down (as a mail server that is
# down: connections refused) and up again, on SMTP_PORT, with the same
# VAR/mail.
smtp_stop() {
	"$BH_STACK" smtp stop --var "$VAR"
}

smtp_start() {
	"$BH_STACK" smtp start --var "$VAR"
}

# ------------------------------------------------------------ the bank

# bank_stats: prints the fake bank's GET /admin/stats (JSON: succeeded
# charges and refunds, count and amount, and by_currency); returns 1 when
# it does not answer 200.  Does not touch the RESP_* of http.
bank_stats() {
	curl -sSf -m "$BH_CURL_TIMEOUT" "$BANK_URL/admin/stats"
}

# bank_outage on|off (or true|false): while on, every /v1 call of the
# fake bank answers 503 and does nothing (POST /admin/outage); returns 1
# when the bank did not take it.
bank_outage() {
	local unavailable
	case ${1:-} in
	on | true) unavailable=true ;;
	off | false) unavailable=false ;;
	*) echo "harness: bank_outage on|off" >&2; return 2 ;;
	esac
	curl -sSf -m "$BH_CURL_TIMEOUT" -o /dev/null -H 'Content-Type: application/json' \
		--data-binary "{\"unavailable\":$unavailable}" "$BANK_URL/admin/outage"
}

# bank_stop / bank_start: the fake bank down (connections refused) and up
# again on BANK_PORT, with its state and key.
bank_stop() {
	"$BH_STACK" bank stop --var "$VAR"
}

bank_start() {
	"$BH_STACK" bank start --var "$VAR"
}

# service_kill SVC: SIGKILL to every process serving requests for SVC,
# in the middle of whatever they do: behind nginx or mod_proxy_fcgi the
# workers of its pool (the master respawns them), under mod_fcgid the
# processes Apache runs (it starts new ones on demand, answering 503 for
# a second or so meanwhile: wait for the service again).  The delivery
# worker and the reconcile loops are left alone.  Prints how many it
# killed; returns 1 when it found none.
service_kill() {
	local svc=$1 bin pid n=0 helpers m
	local -a pids=()
	if m=$(master_pid "$svc"); then
		read -r -a pids <<<"$(pgrep -P "$m" | tr '\n' ' ')"
	else
		bin=$(readlink -f "$BH_BUILDDIR/handlers/$svc/bellhop-$svc")
		helpers=" $(cat "$VAR/run/deliver.pid" "$VAR/run/$svc-reconcile.pid" 2>/dev/null | tr '\n' ' ') "
		for pid in /proc/[0-9]*; do
			pid=${pid#/proc/}
			[[ $helpers == *" $pid "* ]] && continue
			[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$bin" ] || continue
			grep -qsxzF -- "BELLHOP_STACK_VAR=$VAR" "/proc/$pid/environ" || continue
			pids+=("$pid")
		done
	fi
	for pid in "${pids[@]}"; do
		kill -KILL "$pid" 2>/dev/null && n=$((n + 1))
	done
	echo "$n"
	[ "$n" -gt 0 ]
}

# True when what listens on PORT is our own front end (a restart).
bh_port_is_ours() {
	local pidfile pid
	for pidfile in "$VAR"/front/*.pid; do
		[ -f "$pidfile" ] || continue
		pid=$(cat "$pidfile" 2>/dev/null)
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && return 0
	done
	return 1
}

# Sanitizer reports in the logs of this var dir and in down's output.
bh_sanitizer_reports() {
	local f files=()
	while IFS= read -r f; do
		files+=("$f")
	done < <(find "$VAR/log" "$VAR/front" -type f 2>/dev/null)
	files+=("$BH_SCRATCH/stack-down.log")
	grep -HnE 'ERROR: (AddressSanitizer|LeakSanitizer)|SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)|runtime error: ' \
		"${files[@]}" 2>/dev/null | head -n 30
}

bh_print_log_tails() {
	local f
	note "----- logs (last lines) from $VAR"
	for f in "$VAR"/log/*.log "$VAR"/front/*log "$VAR"/front/*/*log "$VAR"/pg/postgres.log \
		"$BH_SCRATCH"/stack-up.all.log "$BH_SCRATCH"/stack-down.log; do
		[ -f "$f" ] && [ -s "$f" ] || continue
		note "== $f"
		tail -n 25 "$f" | sed -e 's/^/#   /'
	done
}

# Stops what the test started: tracked processes, then the stack; checks
# that down worked, found no sanitizer reports and left nothing running.
bh_teardown() {
	local rc leftovers reports pid
	[ -n "$BH_TORN_DOWN" ] && return 0
	BH_TORN_DOWN=1
	trap '' INT TERM
	bh_kill_tracked
	[ "$BH_HARNESS_MODE" = full ] && [ -n "$BH_STACK_STARTED" ] || return 0

	timeout -k 5 90 "$BH_STACK" down --var "$VAR" >"$BH_SCRATCH/stack-down.log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		pass "stack down"
	else
		fail "stack down (exit $rc)" "$(tail -n 20 "$BH_SCRATCH/stack-down.log")"
	fi

	reports=$(cat "$BH_SCRATCH/sanitizer-earlier.txt" 2>/dev/null; bh_sanitizer_reports)
	if [ -z "$reports" ]; then
		pass "no sanitizer reports in the logs"
	else
		fail "no sanitizer reports in the logs" "$reports"
	fi

	# what down missed is a failure, and is stopped here all the same
	wait_until 5 bh_no_leftovers
	leftovers=$(bh_leftover_pids | tr '\n' ' ')
	if [ -f "$VAR/pg/data/postmaster.pid" ]; then
		fail "down stopped PostgreSQL"
		bh_pg_stop "$VAR/pg" immediate
	fi
	if [ -z "$leftovers" ]; then
		pass "down left no process running from $VAR"
	else
		fail "down left no process running from $VAR" \
			"$(ps -o pid=,ppid=,user=,args= -p "${leftovers// /,}" 2>/dev/null)"
		for pid in $leftovers; do kill -TERM "$pid" 2>/dev/null; done
		sleep 1
		for pid in $(bh_leftover_pids); do kill -KILL "$pid" 2>/dev/null; done
	fi
}

bh_no_leftovers() {
	[ -z "$(bh_leftover_pids)" ]
}

bh_cleanup_dir() {
	# a light run's scratch files say nothing its output did not
	if [ "$BH_HARNESS_MODE" != full ] ||
		{ [ "$BH_FAILED" -eq 0 ] && [ -z "${BH_KEEP_VAR:-}" ]; }; then
		rm -rf "$BH_TOP"
	else
		note "kept $BH_TOP for inspection (rm -rf it when done)"
	fi
}

# finish: tears down, prints the summary, exits non-zero on any failure.
finish() {
	BH_FINISHED=1
	bh_teardown
	[ "$BH_FAILED" -gt 0 ] && [ "$BH_HARNESS_MODE" = full ] && bh_print_log_tails
	printf '%d passed, %d failed\n' "$BH_PASSED" "$BH_FAILED"
	bh_cleanup_dir
	[ "$BH_FAILED" -eq 0 ] && exit 0
	exit 1
}

# bail MESSAGE: a failure that makes going on pointless.
bail() {
	fail "$1"
	finish
}

bh_on_exit() {
	local rc=$?
	[ -n "$BH_FINISHED" ] && return
	BH_FINISHED=1
	fail "the test ended early (exit $rc${BH_SIGNAL:+, $BH_SIGNAL})"
	bh_teardown
	[ "$BH_HARNESS_MODE" = full ] && bh_print_log_tails
	printf '%d passed, %d failed\n' "$BH_PASSED" "$BH_FAILED"
	bh_cleanup_dir
	exit 1
}

bh_on_signal() {
	BH_SIGNAL=$1
	trap '' INT TERM
	exit "$2"
}

# --------------------------------------------------------- shared suites

# run_search_cases: t/integration/search-cases.sh against BASE_URL; its
# lines are shown indented and its counts added to this test's.
run_search_cases() {
	local script=$BH_SRCDIR/t/integration/search-cases.sh out rc summary p f
	out=$BH_SCRATCH/search-cases.out
	note "search-cases.sh $BASE_URL:"
	timeout -k 5 300 "$script" "$BASE_URL" >"$out" 2>&1
	rc=$?
	sed -e 's/^/    /' "$out"
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	if [ -z "$summary" ]; then
		fail "search-cases.sh ran to its summary line (exit $rc)"
		return 1
	fi
	p=${summary%% passed*}
	f=${summary#*, }
	f=${f%% failed}
	BH_PASSED=$((BH_PASSED + p))
	BH_FAILED=$((BH_FAILED + f))
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
		fail "search-cases.sh exit status (exit $rc with no failed check)"
	fi
	note "search-cases.sh: $summary (exit $rc)"
	[ $rc -eq 0 ]
}

# expect_security_headers: the runtime's default security headers are in
# the last response, each exactly once (a front end neither drops nor
# doubles them).  A predicate for check.
expect_security_headers() {
	local spec name re value count bad=0
	for spec in 'X-Content-Type-Options=nosniff' 'X-Frame-Options=DENY' \
		'Referrer-Policy=no-referrer' 'Cache-Control=no-store' \
		"Content-Security-Policy=.*default-src 'none'.*"; do
		name=${spec%%=*}
		re=${spec#*=}
		count=$(resp_header_count "$name")
		value=$(resp_header "$name")
		if [ "$count" != 1 ] || ! [[ $value =~ ^($re)$ ]]; then
			echo "$name: expected once matching /$re/, got $count: '$value'"
			bad=1
		fi
	done
	[ $bad = 0 ] || resp_summary
	return $bad
}

# json_body_file FILE SIZE: a valid JSON object of exactly SIZE bytes.
json_body_file() {
	{
		printf '{"pad":"'
		head -c $(($2 - 10)) /dev/zero | tr '\0' 'a'
		printf '"}'
	} >"$1"
}

# head_has_no_body PATH: a raw HEAD request (curl would not read a body it
# did not expect) gets a status line and headers, nothing after them.
head_has_no_body() {
	local raw=$BH_SCRATCH/head.raw
	timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "HEAD %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "$2" >&3
		cat <&3' head "$PORT" "$1" >"$raw" || { echo "no answer"; return 1; }
	head -n 1 "$raw"
	# everything after the first empty line is a body
	[ "$(sed -e '1,/^\r\{0,1\}$/d' "$raw" | wc -c)" = 0 ] || {
		echo "a body came after the headers:"
		tr -d '\r' <"$raw" | head -n 30
		return 1
	}
	head -n 1 "$raw" | grep -q '^HTTP/1\.1 200'
}

# frontend_checks FRONT: what a front end must pass through intact, checked
# the same way behind each of them.
frontend_checks() {
	local front=$1 rid big

	expect_status "$front: /search/health is 200" 200 GET /search/health
	expect_content_type "$front: /search/health is application/json" application/json
	expect_jq "$front: /search/health says status ok" '.status == "ok"'
	expect_header "$front: a response without a caller id gets an X-Request-Id" \
		X-Request-Id '[!-~]{8,200}'
	check "$front: the security headers, each once, on a 200" expect_security_headers
	expect_status "$front: /search/ready is 200" 200 GET /search/ready
	expect_content_type "$front: /search/ready is application/json" application/json

	rid=h5b-$front-0123456789abcdef
	expect_status "$front: health with a caller's X-Request-Id" 200 GET /search/health \
		-H "X-Request-Id: $rid"
	expect_header "$front: the caller's X-Request-Id is echoed" X-Request-Id "$rid"

	expect_status "$front: HEAD /search/health is 200" 200 HEAD /search/health
	check "$front: HEAD /search/health sends headers only, no body" head_has_no_body /search/health

	expect_problem "$front: unknown path is a 404 problem from the service" 404 not-found \
		GET /search/no-such-endpoint -H "X-Request-Id: $rid-404"
	expect_header "$front: X-Request-Id echoed on a problem" X-Request-Id "$rid-404"
	check "$front: the security headers, each once, on a problem" expect_security_headers

	expect_burst "$front: 20 requests on one kept-alive connection all 200" 20 200 \
		"/search/hotels?city=lisbon"

	# request bodies go through the front end to the service (to
	# /search/cities, a public GET-only route: POST /search/hotels is a
	# catalogue write, which wants a token before it looks at the body)
	expect_problem "$front: POST with a small JSON body to a GET route is a 405 problem" \
		405 method-not-allowed POST /search/cities -H 'Content-Type: application/json' \
		--data-binary '{"city":"lisbon"}'
	expect_header "$front: the 405 says Allow: GET" Allow '.*GET.*'

	big=$BH_SCRATCH/body-512k
	json_body_file "$big" $((512 * 1024))
	expect_problem "$front: a 512 KiB body (under BH_MAX_BODY) reaches the service" \
		405 method-not-allowed POST /search/cities \
		-H 'Content-Type: application/json' --data-binary "@$big"

	# BH_MAX_BODY is 1 MiB: the service itself must refuse 2 MiB, with a
	# problem, not an HTML page from the front end
	big=$BH_SCRATCH/body-2m
	json_body_file "$big" $((2 * 1024 * 1024))
	expect_problem "$front: a 2 MiB body is a 413 problem+json" 413 payload-too-large \
		POST /search/cities -H 'Content-Type: application/json' --data-binary "@$big"
	expect_problem "$front: a 2 MiB chunked body (no Content-Length) is a 413 problem+json" \
		413 payload-too-large POST /search/cities -H 'Content-Type: application/json' \
		-H 'Transfer-Encoding: chunked' --data-binary "@$big"

	# scripts/stack lets the front end take 4 x BH_MAX_BODY, so that the
	# service gives the 413 above; beyond that the front end refuses on
	# its own, and must say so as a problem too
	big=$BH_SCRATCH/body-5m
	json_body_file "$big" $((5 * 1024 * 1024))
	expect_status "$front: a 5 MiB body (over the front end's ceiling) is a 413" 413 \
		POST /search/cities -H 'Content-Type: application/json' --data-binary "@$big"
	expect_content_type "$front: ... as application/problem+json" application/problem+json
	expect_jq "$front: ... of type payload-too-large" \
		'.type == "urn:bellhop:problem:payload-too-large" and .status == 413'
	expect_jq "$front: ... with an X-Request-Id and the same request_id" \
		'.request_id == $rid and ($rid | length) > 0' --arg rid "$(resp_header X-Request-Id)"
	rm -f "$BH_SCRATCH"/body-*

	expect_status "$front: the service still answers after the big bodies" 200 \
		GET "/search/hotels?city=lisbon"
}

# ------------------------------------------------------------------ setup

bh_harness_init() {
	BH_HARNESS_MODE=${BH_HARNESS_MODE:-full}
	for tool in curl jq timeout pgrep; do
		command -v "$tool" >/dev/null 2>&1 || {
			echo "harness: $tool is needed (apt-get install curl jq procps coreutils)" >&2
			exit 99
		}
	done
	BH_TOP=$(mktemp -d "${BH_TEST_TMPDIR:-/tmp}/bh-test.XXXXXXXX") || exit 99
	# postgres and the front end's user must traverse it
	chmod 755 "$BH_TOP"
	BH_SCRATCH=$BH_TOP/scratch
	SCRATCH=$BH_SCRATCH
	mkdir -p "$BH_SCRATCH"
	trap bh_on_exit EXIT
	trap 'bh_on_signal SIGINT 130' INT
	trap 'bh_on_signal SIGTERM 143' TERM
	trap 'bh_on_signal SIGHUP 129' HUP
	if [ "$BH_HARNESS_MODE" = full ]; then
		VAR=$BH_TOP/var
		mkdir -p "$VAR"
		chmod 755 "$VAR"
		bh_pick_ports || { echo "harness: no free port found" >&2; exit 99; }
		if [ ! -x "$BH_BUILDDIR/handlers/search/bellhop-search" ]; then
			bail "the service is built in $BH_BUILDDIR (run make there, or set BH_BUILDDIR)"
		fi
	fi
}

bh_harness_init
