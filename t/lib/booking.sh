# t/lib/booking.sh - helpers for the booking tests (bash): signed-in
# guests, a small test hotel made through the catalogue API, hold, pay and
# cancel wrapping curl, the fake bank's counters, the services' databases.
# shellcheck shell=bash
#
# Source it after t/lib/harness.sh (it sources t/lib/oauth.sh and
# t/lib/mail.sh when they are not loaded), bring the stack up, then:
#
#	booking_guest alice || bail "no guest"
#	booking_hotel "Race Hotel" '[{"name":"Single","capacity":1,
#		"nightly_rate":10000,"room_numbers":["1"]}]' || bail "no hotel"
#	res_hold alice "$HOTEL_ID" "${ROOM_TYPE[Single]}" "$(booking_date 30)" "$(booking_date 32)"
#	expect_last "the hold is a 201" 201
#	res_pay alice "$(resp_json .id)" "$CARD_OK"
#
# Guests are named by a key (alice): GUEST_TOKEN[key], GUEST_ID[key] (the
# account's uuid, the token's sub), GUEST_EMAIL[key].  The res_* helpers
# make one request with http (harness.sh), so RESP_STATUS and the expect_*
# helpers work on their answer.

if ! declare -F user_login >/dev/null; then
	# shellcheck source=oauth.sh
	. "$BH_SRCDIR/t/lib/oauth.sh"
fi

# Where the routes are: each service is mounted at /<svc>, and its routes
# are named like it.
RESV=/reservations/reservations
PAYMENTS=/payments/payments

# The bank's test cards (t/fakes/bank.py).
CARD_OK=4242424242424242
CARD_MASTERCARD=5555555555554444
CARD_DECLINED=4000000000000002
CARD_NO_FUNDS=4000000000009995
CARD_EXPIRED=4000000000000069
CARD_BAD_CVC=4000000000000127
CARD_PROCESSING=4000000000000119
CARD_SLOW=4000000000007718
CARD_HANG=4000000000008880

# A run's own addresses, so that a kept var dir never mixes two runs.
BOOKING_RUN=${BOOKING_RUN:-$RANDOM$RANDOM}
BOOKING_PASSWORD='booking test password'

declare -gA GUEST_TOKEN=() GUEST_ID=() GUEST_EMAIL=() ROOM_TYPE=()

# ------------------------------------------------------------------ values

# booking_date N: the UTC date N days from today, YYYY-MM-DD.
booking_date() {
	date -u -d "+$1 days" +%F
}

# card_json NUMBER [CVC] [HOLDER]: a card object as POST /payments and the
# payment of a reservation take it, expiring in three years.
card_json() {
	local number=$1 cvc=${2:-} holder=${3:-Test Guest}
	if [ -z "$cvc" ]; then
		# amex wants four digits
		case $number in
		34* | 37*) cvc=1234 ;;
		*) cvc=123 ;;
		esac
	fi
	jq -nc --arg n "$number" --arg c "$cvc" --arg h "$holder" \
		--argjson y "$(($(date -u +%Y) + 3))" \
		'{number: $n, exp_month: 12, exp_year: $y, cvc: $c, holder: $h}'
}

# resp_json FILTER: jq -r FILTER on the last response's body ("" on error).
resp_json() {
	jq -r "$1" "$RESP_BODY_FILE" 2>/dev/null
}

# expect_last NAME STATUS: the last request's status matches STATUS (an
# ERE, see status_is): one check line.
expect_last() {
	if status_is "$2"; then
		pass "$1"
		return 0
	fi
	fail "$1" "expected status $2" "$(resp_summary)"
	return 1
}

# expect_last_problem NAME STATUS SLUG: the last answer is a problem+json
# with that status and type urn:bellhop:problem:SLUG (an ERE).
expect_last_problem() {
	local ctype
	ctype=$(resp_header Content-Type)
	ctype=$(printf '%s' "${ctype%%;*}" | tr 'A-Z' 'a-z' | tr -d ' ')
	if status_is "$2" && [ "$ctype" = application/problem+json ] &&
		jq -e --arg re "^urn:bellhop:problem:($3)\$" '.type | test($re)' \
			"$RESP_BODY_FILE" >/dev/null 2>&1; then
		pass "$1"
		return 0
	fi
	fail "$1" "expected a $2 application/problem+json of type $3" "$(resp_summary)"
	return 1
}

# ------------------------------------------------------------------ people

# booking_guest KEY [NAME]: signs a new person up (verified through the
# mail sink) and in with scope "profile bookings"; sets GUEST_EMAIL[KEY],
# GUEST_ID[KEY] and GUEST_TOKEN[KEY].  Says why on stderr and returns 1
# on failure.
booking_guest() {
	local key=$1 name=${2:-}
	[ -n "$name" ] || name="$(tr 'a-z' 'A-Z' <<<"${key:0:1}")${key:1} Guest"
	local email="$key.$BOOKING_RUN@example.com" id token
	id=$(user_signup "$email" "$BOOKING_PASSWORD" "$name") || return 1
	token=$(user_login "$email" "$BOOKING_PASSWORD") || return 1
	GUEST_EMAIL[$key]=$email
	GUEST_ID[$key]=$id
	GUEST_TOKEN[$key]=$token
}

# booking_guests KEY...: booking_guest for each; one check line.
booking_guests() {
	local key err=$BH_SCRATCH/guests.err
	: >"$err"
	for key in "$@"; do
		booking_guest "$key" 2>>"$err" || {
			fail "guests $* signed up and in" "$(cat "$err")"
			return 1
		}
	done
	pass "guests $* signed up and in"
}

# admin_token: a catalog-admin token (cached for the test).
admin_token() {
	[ -n "${BOOKING_ADMIN_TOKEN:-}" ] || BOOKING_ADMIN_TOKEN=$(client_token catalog-admin) ||
		return 1
	printf '%s\n' "$BOOKING_ADMIN_TOKEN"
}

# booking_hotel NAME ROOM_TYPES_JSON: a hotel in Lisbon (from the demo
# catalogue) with those room types (objects of POST /search/hotels:
# name, capacity, nightly_rate, room_numbers), in EUR, with its own mail
# address.  Sets HOTEL_ID, HOTEL_NAME, HOTEL_EMAIL and ROOM_TYPE[name] =
# id for each type.  One check line.
booking_hotel() {
	local name=$1 types=$2 admin city body out status slug
	admin=$(admin_token) || { fail "a catalog-admin token for hotel $name"; return 1; }
	city=$(curl -sS -m "$BH_CURL_TIMEOUT" "$BASE_URL/search/cities?prefix=Lisbon" |
		jq '[.cities[] | select(.name == "Lisbon")][0].id // empty' 2>/dev/null)
	[ -n "$city" ] || { fail "hotel $name: the demo city Lisbon is there"; return 1; }
	slug=$(tr -c 'a-zA-Z0-9\n' - <<<"$name" | tr 'A-Z' 'a-z')
	HOTEL_EMAIL="frontdesk.$slug.$BOOKING_RUN@hotels.example.com"
	body=$(jq -nc --arg n "$name" --argjson c "$city" --arg e "$HOTEL_EMAIL" \
		--argjson t "$types" '{name: $n, city_id: $c, address: "Rua do Teste 1",
		email: $e, stars: 3, rating: 8.0, description: "A hotel of the booking tests.",
		currency: "EUR", lat: 38.71, lon: -9.14, room_types: $t}')
	out=$(curl -sS -m "$BH_CURL_TIMEOUT" -H "Authorization: Bearer $admin" \
		-H 'Content-Type: application/json' --data-binary "$body" \
		-w '\n%{http_code}' "$BASE_URL/search/hotels")
	status=${out##*$'\n'}
	out=${out%$'\n'*}
	if [ "$status" != 201 ]; then
		fail "hotel $name is made through POST /search/hotels" "status $status: $out"
		return 1
	fi
	HOTEL_ID=$(jq -r .id <<<"$out")
	HOTEL_NAME=$name
	while IFS=$'\t' read -r tname tid; do
		ROOM_TYPE[$tname]=$tid
	done < <(jq -r '.room_types[] | [.name, .id] | @tsv' <<<"$out")
	pass "hotel $name is made through POST /search/hotels (id $HOTEL_ID)"
}

# --------------------------------------------------------- reservations

# The Authorization header of guest KEY.
guest_auth() {
	printf 'Authorization: Bearer %s' "${GUEST_TOKEN[$1]}"
}

# hold_body HOTEL TYPE CHECKIN CHECKOUT [GUESTS]: the body of POST
# /reservations.
hold_body() {
	jq -nc --argjson h "$1" --argjson t "$2" --arg i "$3" --arg o "$4" \
		--argjson g "${5:-1}" \
		'{hotel_id: $h, room_type_id: $t, checkin: $i, checkout: $o, guests: $g}'
}

# res_hold KEY HOTEL TYPE CHECKIN CHECKOUT [GUESTS [CURL ARGS...]]: guest
# KEY holds a room.
res_hold() {
	local key=$1 body
	body=$(hold_body "$2" "$3" "$4" "$5" "${6:-1}")
	shift 5
	[ $# -gt 0 ] && shift
	http POST "$RESV" -H "$(guest_auth "$key")" \
		-H 'Content-Type: application/json' --data-binary "$body" "$@"
}

# res_pay KEY ID CARD_NUMBER [CURL ARGS...]: guest KEY pays reservation ID
# with that test card.
res_pay() {
	local key=$1 id=$2 card
	card=$(card_json "$3")
	shift 3
	http POST "$RESV/$id/payment" -H "$(guest_auth "$key")" \
		-H 'Content-Type: application/json' --data-binary "{\"card\":$card}" \
		-m 60 "$@"
}

# res_cancel KEY ID: guest KEY cancels reservation ID.
res_cancel() {
	http POST "$RESV/$2/cancel" -H "$(guest_auth "$1")"
}

# res_get KEY ID: guest KEY reads reservation ID.
res_get() {
	http GET "$RESV/$2" -H "$(guest_auth "$1")"
}

# res_status KEY ID: prints the status of reservation ID as KEY sees it.
res_status() {
	curl -sS -m "$BH_CURL_TIMEOUT" -H "$(guest_auth "$1")" \
		"$BASE_URL$RESV/$2" | jq -r '.status // empty' 2>/dev/null
}

# res_status_is KEY ID STATUS: a predicate for wait_until and check.
res_status_is() {
	local s
	s=$(res_status "$1" "$2")
	[ "$s" = "$3" ] || { echo "reservation $2 is '$s', not '$3'"; return 1; }
}

# --------------------------------------------------------------- parallel

# Many requests at once, from one curl (-Z): pcurl_new, then pcurl_add
# for each request, then pcurl_run.  Each request's body lands in
# PCURL_DIR/ID.body, and PCURL_DIR/codes holds "ID STATUS" lines.

# pcurl_new DIR: a new batch writing into DIR (made empty).
pcurl_new() {
	PCURL_DIR=$1
	rm -rf "$PCURL_DIR"
	mkdir -p "$PCURL_DIR"
	: >"$PCURL_DIR/curl.cfg"
}

# pcurl_add ID METHOD PATH [HEADER...] [-- BODY]: one request of the batch.
pcurl_add() {
	local id=$1 method=$2 path=$3 cfg=$PCURL_DIR/curl.cfg h
	shift 3
	{
		printf 'url = "%s%s"\n' "$BASE_URL" "$path"
		printf 'request = "%s"\n' "$method"
		printf 'output = "%s/%s.body"\n' "$PCURL_DIR" "$id"
		printf 'write-out = "%s %%{http_code}\\n"\n' "$id"
		printf 'max-time = 60\n'
		while [ $# -gt 0 ]; do
			h=$1
			shift
			if [ "$h" = -- ]; then
				printf '%s' "$1" >"$PCURL_DIR/$id.req"
				printf 'data-binary = "@%s/%s.req"\n' "$PCURL_DIR" "$id"
				printf 'header = "Content-Type: application/json"\n'
				shift
				continue
			fi
			printf 'header = "%s"\n' "$h"
		done
		printf 'next\n'
	} >>"$cfg"
}

# pcurl_run: runs the batch, all requests at once (up to 300), and waits
# (at most 120 s).  PCURL_DIR/hist: "COUNT STATUS" lines.
pcurl_run() {
	# the last "next" would start an empty request
	sed -i '$d' "$PCURL_DIR/curl.cfg"
	timeout -k 2 120 curl -sS --no-progress-meter -Z --parallel-immediate --parallel-max 300 \
		-K "$PCURL_DIR/curl.cfg" >"$PCURL_DIR/codes" 2>"$PCURL_DIR/curl.err"
	cut -d' ' -f2 "$PCURL_DIR/codes" | sort | uniq -c | sed -e 's/^ *//' >"$PCURL_DIR/hist"
}

# pcurl_count STATUS: how many answers of the last batch had STATUS.
pcurl_count() {
	awk -v s="$1" '$2 == s { n++ } END { print n + 0 }' "$PCURL_DIR/codes"
}

# pcurl_hist: the last batch's statuses, one line ("200 x3, 409 x47").
pcurl_hist() {
	awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " } END { print "" }' "$PCURL_DIR/hist"
}

# pcurl_ids STATUS: the ids of the requests answered with STATUS.
pcurl_ids() {
	awk -v s="$1" '$2 == s { print $1 }' "$PCURL_DIR/codes"
}

# ------------------------------------------------------------------- bank

# bank_url: where the stack runs the fake bank (payments' BH_BANK_URL).
bank_url() {
	[ -n "${BOOKING_BANK_URL:-}" ] ||
		BOOKING_BANK_URL=$(stack_env payments | sed -n 's/^BH_BANK_URL=//p')
	[ -n "$BOOKING_BANK_URL" ] || { echo "booking: no BH_BANK_URL for payments" >&2; return 1; }
	printf '%s\n' "$BOOKING_BANK_URL"
}

# bank_stats: the bank's /admin/stats JSON (succeeded charges and refunds).
bank_stats() {
	local url
	url=$(bank_url) || return 1
	curl -sS -m "$BH_CURL_TIMEOUT" "$url/admin/stats"
}

# bank_counts: "CHARGES CHARGED_AMOUNT REFUNDS REFUNDED_AMOUNT".
bank_counts() {
	bank_stats | jq -r '"\(.charges.count) \(.charges.amount) \(.refunds.count) \(.refunds.amount)"'
}

# bank_outage true|false: makes every /v1 call of the bank answer 503, or
# not.
bank_outage() {
	local url
	url=$(bank_url) || return 1
	curl -sS -m "$BH_CURL_TIMEOUT" -o /dev/null -w '%{http_code}' \
		-H 'Content-Type: application/json' --data-binary "{\"unavailable\":$1}" \
		"$url/admin/outage" | grep -q '^2'
}

# bank_get PATH: GET PATH (e.g. /v1/charges?reference=R) at the bank with
# the stack's secret key; prints the JSON.
bank_get() {
	local url secret
	url=$(bank_url) || return 1
	secret=$(head -n 1 "$VAR/secrets/bank.secret") || return 1
	curl -sS -m "$BH_CURL_TIMEOUT" -H "Authorization: Bearer $secret" "$url$1"
}

# ------------------------------------------------------------- databases

res_psql() {
	bh_pg_psql "$VAR/pg" bellhop_reservations -tA "$@"
}

pay_psql() {
	bh_pg_psql "$VAR/pg" bellhop_payments -tA "$@"
}

# The live statuses: those the exclusion constraint covers.
LIVE_STATUSES="'held', 'payment_pending', 'confirmed'"

# overlapping_reservations: the pairs of live reservations of one room
# whose stays overlap, one "ID ID ROOM STAY STAY" line each (none is right).
overlapping_reservations() {
	res_psql -F ' ' -c "SELECT a.id, b.id, a.room_id, a.stay, b.stay
		FROM reservations a JOIN reservations b
		  ON a.room_id = b.room_id AND a.id < b.id AND a.stay && b.stay
		WHERE a.status IN ($LIVE_STATUSES) AND b.status IN ($LIVE_STATUSES)"
}

# no_overlaps: a predicate for check (prints the overlaps it found).
no_overlaps() {
	local out
	out=$(overlapping_reservations) || { echo "the query failed"; return 1; }
	[ -z "$out" ] || { echo "overlapping live reservations:"; echo "$out"; return 1; }
	# the query ran against the table that holds them
	res_psql -c "SELECT count(*) FROM reservations" >/dev/null
}

# ------------------------------------------------------------------- mail

# mail_settles ADDR SECONDS: waits until ADDR's message count has not
# changed for SECONDS (at most 30 s in all); prints the count.
mail_settles() {
	local addr=$1 quiet=$2 last n same=0 i
	last=$(mail_count "$addr")
	for ((i = 0; i < 300 && same < quiet * 10; i++)); do
		sleep 0.1
		n=$(mail_count "$addr")
		if [ "$n" = "$last" ]; then
			same=$((same + 1))
		else
			same=0
			last=$n
		fi
	done
	printf '%s\n' "$last"
}

# mail_count_at_least ADDR N: a predicate for wait_until.
mail_count_at_least() {
	[ "$(mail_count "$1")" -ge "$2" ]
}

# ------------------------------------------------------------- processes

# reconcile_loops_stop: stops the stack's reconcile loops of payments and
# reservations (`reconcile --every 30`), so that only the test's own
# reconcile commands settle what is pending, at the moment it chooses.
# The next stack_up starts them again.
reconcile_loops_stop() {
	local svc pid
	for svc in payments reservations; do
		pid=$(cat "$VAR/run/$svc-reconcile.pid" 2>/dev/null) || continue
		[ -n "$pid" ] || continue
		kill -TERM "$pid" 2>/dev/null
		wait_until 40 bh_pid_gone "$pid" || return 1
	done
}
