#!/bin/bash
# bank.sh - the fake bank (t/fakes/bank.py) on its own, driven with curl:
# secret-key authentication; each test card (success per brand, the five
# declines, an expiry in the past, the slow card); bad bodies refused and
# nothing charged; idempotent replay byte for byte (a 201 and a 402), the
# same key with other parameters refused, a refused body not stored; 50
# concurrent requests with one key charge once; tokens; refunds and their
# limits (partial, the rest, over the rest, twice, of a declined charge,
# concurrent); lookups by id, idempotency key and reference; the outage
# switch; the state and the keys across a restart; the hang card (the
# client times out, the charge exists, a retry with the key replays it);
# SIGTERM stops it at once, even with a hanging connection; no card number
# in its log.  Needs no stack: it starts the bank on a port of its own.
BH_HARNESS_MODE=light
. "$(dirname "$0")/../lib/harness.sh"

BANK=$BH_SRCDIR/t/fakes/bank.py
PYTHON=/usr/bin/python3
BANK_DIR=$BH_SCRATCH/bank
BANK_LOG=$BH_SCRATCH/bank.log
SECRET=sk_test_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
SLOW_MS=800
printf '%s\n' "$SECRET" >"$BH_SCRATCH/secret"

BANK_PORT=$(pick_port) || bail "no free port"
BASE_URL=http://127.0.0.1:$BANK_PORT
BANK_PID=

bank_healthy() {
	curl -sf -m 1 "$BASE_URL/health" >/dev/null
}

# bank_start [ARGS...]: the bank on BANK_PORT with the state in BANK_DIR.
bank_start() {
	"$PYTHON" "$BANK" --listen "127.0.0.1:$BANK_PORT" --dir "$BANK_DIR" \
		--secret-file "$BH_SCRATCH/secret" --slow-ms "$SLOW_MS" "$@" \
		>>"$BANK_LOG" 2>&1 &
	BANK_PID=$!
	track "$BANK_PID"
	wait_until 10 bank_healthy
}

# bank_stop: SIGTERM; true when it exited 0 within 3 s.
bank_stop() {
	local rc
	kill -TERM "$BANK_PID" 2>/dev/null
	wait_pid "$BANK_PID" 3
	rc=$?
	[ $rc = 124 ] && kill -KILL "$BANK_PID" 2>/dev/null
	return $rc
}

auth() {
	printf 'Authorization: Bearer %s' "$SECRET"
}

# card NUMBER [CVC [EXP_YEAR [EXP_MONTH]]]: a card object.
card() {
	jq -nc --arg n "$1" --arg c "${2:-123}" --argjson y "${3:-2031}" \
		--argjson m "${4:-12}" \
		'{number: $n, exp_month: $m, exp_year: $y, cvc: $c, name: "Zoë Test"}'
}

# charge_body AMOUNT CARD_JSON [REFERENCE]
charge_body() {
	jq -nc --argjson a "$1" --argjson card "$2" --arg r "${3:-ref-$1}" \
		'{amount: $a, currency: "EUR", card: $card, reference: $r,
		  description: "bank.sh"}'
}

# post PATH KEY BODY [CURL ARGS...]: an authenticated POST (KEY "-": no
# Idempotency-Key).
post() {
	local path=$1 key=$2 body=$3
	shift 3
	local -a hdr=()
	[ "$key" != - ] && hdr=(-H "Idempotency-Key: $key")
	http POST "$path" -H "$(auth)" -H 'Content-Type: application/json' \
		"${hdr[@]}" --data-binary "$body" "$@"
}

# expect_post NAME STATUS PATH KEY BODY [CURL ARGS...]
expect_post() {
	local name=$1 status=$2
	shift 2
	post "$@"
	if status_is "$status"; then
		pass "$name"
		return 0
	fi
	fail "$name" "expected status $status" "$(resp_summary)"
	return 1
}

# stat FILTER: a number from /admin/stats.
stat() {
	curl -sS -m 5 "$BASE_URL/admin/stats" | jq -r "$1"
}

charge_count() {
	stat .charges.count
}

# ------------------------------------------------------------ start

bank_start || bail "the bank answers /health on 127.0.0.1:$BANK_PORT"
pass "the bank answers /health on 127.0.0.1:$BANK_PORT"
expect_status "health is 200" 200 GET /health
expect_jq "health says ok and available" '.status == "ok" and .unavailable == false'
http GET /admin/stats
expect_jq "stats start at zero" \
	'.charges == {count: 0, amount: 0} and .refunds == {count: 0, amount: 0}'

# ------------------------------------------------------------- auth

VISA=$(card 4242424242424242)
expect_status "no Authorization: 401" 401 POST /v1/charges \
	-H 'Content-Type: application/json' --data-binary "$(charge_body 1000 "$VISA")"
expect_jq "... an authentication_error" '.error.type == "authentication_error"'
expect_status "a wrong secret: 401" 401 GET /v1/charges -H "Authorization: Bearer ${SECRET}x"
expect_status "the secret as Basic: 401" 401 GET /v1/charges -H "Authorization: Basic $SECRET"
expect_status "a prefix of the secret: 401" 401 GET /v1/charges \
	-H "Authorization: Bearer ${SECRET:0:10}"
check "nothing was charged without the secret" test "$(charge_count)" = 0
expect_status "the secret: 200" 200 GET /v1/charges -H "$(auth)"
expect_jq "... an empty list" '.object == "list" and .data == []'
expect_status "an unknown path: 404" 404 GET /v2/charges

# ------------------------------------------------------------ cards

expect_post "visa 4242...: 201" 201 /v1/charges visa-1 "$(charge_body 1000 "$VISA" order-1)"
expect_jq "... a succeeded visa charge, last4 4242, no number" \
	'.object == "charge" and (.id | test("^ch_")) and .status == "succeeded"
	 and .amount == 1000 and .currency == "EUR" and .reference == "order-1"
	 and .card.brand == "visa" and .card.last4 == "4242" and .card.exp_month == 12
	 and .card.exp_year == 2031 and .refunded_amount == 0 and .idempotency_key == "visa-1"
	 and (.created | type) == "number" and (.card | has("number") | not)
	 and (.card | has("cvc") | not)'
VISA_CHARGE=$(jq -r .id "$RESP_BODY_FILE")
cp "$RESP_BODY_FILE" "$BH_SCRATCH/visa-1.body"
check "... the body has no card number or cvc" \
	bash -c "! grep -q '4242424242424242\|\"123\"' '$RESP_BODY_FILE'"
expect_header "... Content-Type application/json" Content-Type 'application/json'

expect_post "mastercard 5555...: 201" 201 /v1/charges mc-1 \
	"$(charge_body 2000 "$(card 5555555555554444)")"
expect_jq "... brand mastercard, last4 4444" '.card.brand == "mastercard" and .card.last4 == "4444"'
expect_post "amex 3782... with a 4-digit cvc: 201" 201 /v1/charges amex-1 \
	"$(charge_body 3000 "$(card 378282246310005 1234)")"
expect_jq "... brand amex, last4 0005" '.card.brand == "amex" and .card.last4 == "0005"'
expect_post "another Luhn-valid number (discover 6011...): 201" 201 /v1/charges disc-1 \
	"$(charge_body 400 "$(card 6011111111111117)")"
expect_jq "... brand discover" '.card.brand == "discover" and .status == "succeeded"'
check "four charges counted" test "$(charge_count)" = 4
check "... for 6400 EUR minor units" test "$(stat .by_currency.EUR.charges.amount)" = 6400

for spec in 4000000000000002:card_declined 4000000000009995:insufficient_funds \
	4000000000000069:expired_card 4000000000000127:incorrect_cvc \
	4000000000000119:processing_error; do
	number=${spec%%:*}
	code=${spec#*:}
	expect_post "$number: 402 $code" 402 /v1/charges "decl-$number" \
		"$(charge_body 700 "$(card "$number")")"
	expect_jq "... card_error card_declined, decline_code $code, with the charge" \
		'.error.type == "card_error" and .error.code == "card_declined"
		 and .error.decline_code == $c and (.error.charge | test("^ch_"))
		 and (.error.message | length) > 0' --arg c "$code"
	id=$(jq -r .error.charge "$RESP_BODY_FILE")
	expect_status "... the declined charge is stored, status failed" 200 GET "/v1/charges/$id" \
		-H "$(auth)"
	expect_jq "... with its decline code" \
		'.status == "failed" and .decline_code == $c and .amount == 700' --arg c "$code"
done
DECLINED_CHARGE=$id
expect_post "visa with an expiry last year: 402 expired_card" 402 /v1/charges exp-1 \
	"$(charge_body 700 "$(card 4242424242424242 123 $(($(date -u +%Y) - 1)))")"
expect_jq "... decline_code expired_card" '.error.decline_code == "expired_card"'
check "declines charge nothing" test "$(charge_count)" = 4
check "six declines counted apart" test "$(stat .declined.count)" = 6

expect_post "the slow card 4000000000007718: 201" 201 /v1/charges slow-1 \
	"$(charge_body 500 "$(card 4000000000007718)")"
check "... after --slow-ms ($SLOW_MS ms)" \
	awk -v t="$RESP_TIME" -v l="$SLOW_MS" 'BEGIN { exit !(t * 1000 >= l) }'
check "five charges counted" test "$(charge_count)" = 5

# -------------------------------------------------------- bad bodies

bad_charge() {
	local name=$1 param=$2 body=$3
	expect_post "$name: 400" 400 /v1/charges - "$body"
	if [ -n "$param" ]; then
		expect_jq "... invalid_request_error, param $param" \
			'.error.type == "invalid_request_error" and .error.param == $p' --arg p "$param"
	else
		expect_jq "... invalid_request_error" '.error.type == "invalid_request_error"'
	fi
}
bad_charge "a number failing the Luhn check" card.number \
	"$(charge_body 100 "$(card 4242424242424241)")"
bad_charge "a number with a space" card.number "$(charge_body 100 "$(card '4242 4242 4242 4242')")"
bad_charge "an 11-digit number" card.number "$(charge_body 100 "$(card 42424242424)")"
bad_charge "visa with a 4-digit cvc" card.cvc "$(charge_body 100 "$(card 4242424242424242 1234)")"
bad_charge "amex with a 3-digit cvc" card.cvc "$(charge_body 100 "$(card 378282246310005 123)")"
bad_charge "exp_month 13" card.exp_month "$(charge_body 100 "$(card 4242424242424242 123 2031 13)")"
bad_charge "amount 0" amount "$(charge_body 0 "$VISA")"
bad_charge "amount -5" amount "$(charge_body -5 "$VISA")"
bad_charge "amount 10.5" amount "$(charge_body 10.5 "$VISA")"
bad_charge "amount as a string" amount "$(charge_body '"100"' "$VISA")"
bad_charge "currency EURO" currency \
	"$(jq -nc --argjson c "$VISA" '{amount: 100, currency: "EURO", card: $c}')"
bad_charge "no card and no source" card '{"amount":100,"currency":"EUR"}'
bad_charge "an unknown parameter" price \
	"$(jq -nc --argjson c "$VISA" '{amount: 100, currency: "EUR", card: $c, price: 1}')"
bad_charge "card.number as a number" card.number \
	'{"amount":100,"currency":"EUR","card":{"number":4242424242424242,"exp_month":1,"exp_year":2031,"cvc":"123"}}'
bad_charge "not JSON" "" '{"amount":'
bad_charge "a JSON array" "" '[1,2]'
bad_charge "a duplicated member" "" \
	"{\"amount\":100,\"amount\":200,\"currency\":\"EUR\",\"card\":$VISA}"
head -c 70000 /dev/zero | tr '\0' 'a' >"$BH_SCRATCH/big"
expect_status "a 70 kB body: 413" 413 POST /v1/charges -H "$(auth)" --data-binary "@$BH_SCRATCH/big"
check "bad bodies charge nothing" test "$(charge_count)" = 5

# ------------------------------------------------------- idempotency

expect_post "visa-1 again, same key and body: 201" 201 /v1/charges visa-1 \
	"$(charge_body 1000 "$VISA" order-1)"
check "... the stored answer byte for byte" cmp "$BH_SCRATCH/visa-1.body" "$RESP_BODY_FILE"
expect_header "... Idempotent-Replayed: true" Idempotent-Replayed true
check "... and no second charge" test "$(charge_count)" = 5
expect_post "same key, same members in another order and spacing: replayed" 201 /v1/charges \
	visa-1 "$(charge_body 1000 "$VISA" order-1 | jq -S .)"
check "... byte for byte" cmp "$BH_SCRATCH/visa-1.body" "$RESP_BODY_FILE"
expect_post "same key, another amount: 400" 400 /v1/charges visa-1 \
	"$(charge_body 1001 "$VISA" order-1)"
expect_jq "... idempotency_key_reused" \
	'.error.type == "invalid_request_error" and .error.code == "idempotency_key_reused"'
expect_post "same key on another endpoint (refunds): 400 idempotency_key_reused" 400 \
	/v1/refunds visa-1 "{\"charge\":\"$VISA_CHARGE\"}"
expect_jq "... idempotency_key_reused" '.error.code == "idempotency_key_reused"'
check "... no refund made" test "$(stat .refunds.count)" = 0

post /v1/charges decl-4000000000000002 "$(charge_body 700 "$(card 4000000000000002)")"
check "a declined charge replays its 402 (same charge id)" \
	jq -e '.error.decline_code == "card_declined"' "$RESP_BODY_FILE"
check "six declines still" test "$(stat .declined.count)" = 6

expect_post "a refused body with key fix-1: 400" 400 /v1/charges fix-1 "$(charge_body 0 "$VISA")"
expect_post "... is not stored: the corrected body with fix-1 is 201" 201 /v1/charges fix-1 \
	"$(charge_body 100 "$VISA")"
expect_post "an Idempotency-Key with a space: 400" 400 /v1/charges 'a b' "$(charge_body 100 "$VISA")"
long=$(head -c 256 /dev/zero | tr '\0' k)
expect_post "a 256-character Idempotency-Key: 400" 400 /v1/charges "$long" "$(charge_body 100 "$VISA")"
check "six charges counted" test "$(charge_count)" = 6

# concurrent_same_key KEY NUMBER N: N parallel charges with one key.
concurrent_same_key() {
	local key=$1 number=$2 n=$3 i body pids=()
	body=$(charge_body 900 "$(card "$number")" "conc-$key")
	mkdir -p "$BH_SCRATCH/conc-$key"
	for ((i = 0; i < n; i++)); do
		curl -sS -m 20 -o "$BH_SCRATCH/conc-$key/$i.body" -w '%{http_code}\n' \
			-H "$(auth)" -H "Idempotency-Key: $key" -H 'Content-Type: application/json' \
			--data-binary "$body" "$BASE_URL/v1/charges" >"$BH_SCRATCH/conc-$key/$i.code" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
	cat "$BH_SCRATCH/conc-$key"/*.code | sort | uniq -c | sed -e 's/^ *//' >"$BH_SCRATCH/conc-$key.hist"
}

# conc_ok KEY N: only 201s and 409s, at least one 201, every 201 body the same.
conc_ok() {
	local key=$1 n=$2 dir=$BH_SCRATCH/conc-$1 i first=
	cat "$BH_SCRATCH/conc-$key.hist"
	[ "$(grep -cE '^(201|409)$' "$dir"/*.code | awk -F: '{ s += $2 } END { print s }')" = "$n" ] ||
		return 1
	for ((i = 0; i < n; i++)); do
		[ "$(cat "$dir/$i.code")" = 201 ] || continue
		if [ -z "$first" ]; then
			first=$dir/$i.body
		else
			cmp "$first" "$dir/$i.body" || return 1
		fi
	done
	[ -n "$first" ]
}

before=$(charge_count)
concurrent_same_key conc-slow 4000000000007718 50
check "50 concurrent requests, one key, slow card: only 201 and 409, 201s identical" \
	conc_ok conc-slow 50
conflicts=$(grep -lx 409 "$BH_SCRATCH"/conc-conc-slow/*.code | wc -l)
check "... 409s while the first was in flight ($conflicts)" test "$conflicts" -gt 0
check "... each 409 an idempotency_error" \
	bash -c "cat '$BH_SCRATCH'/conc-conc-slow/*.body | jq -s -e 'map(select(.error)) | length == $conflicts and all(.error.type == \"idempotency_error\")'"
check "... one charge at the bank" test "$(charge_count)" = $((before + 1))
concurrent_same_key conc-fast 4242424242424242 50
check "50 concurrent requests, one key, visa: only 201 and 409, 201s identical" \
	conc_ok conc-fast 50
check "... one charge at the bank" test "$(charge_count)" = $((before + 2))
http GET "/v1/charges?idempotency_key=conc-fast" -H "$(auth)"
expect_jq "... found by idempotency key: exactly one" '.data | length == 1'

# ------------------------------------------------------------- tokens

expect_post "a token for a mastercard: 201" 201 /v1/tokens tok-1 \
	"{\"card\":$(card 5555555555554444)}"
expect_jq "... tok_ with brand and last4, no number" \
	'(.id | test("^tok_")) and .card.brand == "mastercard" and .card.last4 == "4444"
	 and (.card | has("number") | not)'
TOKEN=$(jq -r .id "$RESP_BODY_FILE")
expect_post "a charge with the token as source: 201" 201 /v1/charges tok-ch-1 \
	"{\"amount\":250,\"currency\":\"EUR\",\"source\":\"$TOKEN\"}"
expect_jq "... a mastercard 4444 charge" '.card.brand == "mastercard" and .card.last4 == "4444"'
expect_post "tok_chargeDeclinedInsufficientFunds: 402" 402 /v1/charges - \
	'{"amount":250,"currency":"EUR","source":"tok_chargeDeclinedInsufficientFunds"}'
expect_jq "... insufficient_funds" '.error.decline_code == "insufficient_funds"'
expect_post "an unknown token: 400" 400 /v1/charges - \
	'{"amount":250,"currency":"EUR","source":"tok_nosuchtoken"}'
expect_jq "... param source" '.error.param == "source"'
expect_post "card and source together: 400" 400 /v1/charges - \
	"{\"amount\":250,\"currency\":\"EUR\",\"source\":\"tok_visa\",\"card\":$VISA}"

# ------------------------------------------------------------ refunds

expect_post "a 1000 charge to refund: 201" 201 /v1/charges rf-ch "$(charge_body 1000 "$VISA" rf)"
RF=$(jq -r .id "$RESP_BODY_FILE")
expect_post "refund 400 of it: 201" 201 /v1/refunds rf-1 "{\"charge\":\"$RF\",\"amount\":400}"
expect_jq "... a succeeded refund of 400 EUR" \
	'.object == "refund" and (.id | test("^re_")) and .charge == $c and .amount == 400
	 and .currency == "EUR" and .status == "succeeded"' --arg c "$RF"
cp "$RESP_BODY_FILE" "$BH_SCRATCH/rf-1.body"
expect_post "refund rf-1 again: replayed" 201 /v1/refunds rf-1 "{\"charge\":\"$RF\",\"amount\":400}"
check "... byte for byte" cmp "$BH_SCRATCH/rf-1.body" "$RESP_BODY_FILE"
expect_header "... Idempotent-Replayed: true" Idempotent-Replayed true
expect_post "refund 700 (600 left): 400" 400 /v1/refunds rf-2 "{\"charge\":\"$RF\",\"amount\":700}"
expect_jq "... amount_too_large" '.error.code == "amount_too_large" and .error.param == "amount"'
expect_post "refund the rest (no amount): 201" 201 /v1/refunds rf-3 "{\"charge\":\"$RF\"}"
expect_jq "... of 600" '.amount == 600'
expect_post "refund once more: 400" 400 /v1/refunds rf-4 "{\"charge\":\"$RF\",\"amount\":1}"
expect_jq "... charge_already_refunded" '.error.code == "charge_already_refunded"'
expect_status "the charge shows 1000 refunded" 200 GET "/v1/charges/$RF" -H "$(auth)"
expect_jq "... refunded_amount 1000, refunded true" '.refunded_amount == 1000 and .refunded == true'
expect_status "its refunds listed" 200 GET "/v1/refunds?charge=$RF" -H "$(auth)"
expect_jq "... two, 600 then 400" '.object == "list" and ([.data[].amount] == [600, 400])'
expect_post "refund of a declined charge: 400" 400 /v1/refunds - "{\"charge\":\"$DECLINED_CHARGE\"}"
expect_jq "... charge_not_refundable" '.error.code == "charge_not_refundable"'
expect_post "refund of an unknown charge: 400" 400 /v1/refunds - '{"charge":"ch_nosuchcharge"}'
expect_jq "... resource_missing" '.error.code == "resource_missing"'
expect_post "refund amount 0: 400" 400 /v1/refunds - "{\"charge\":\"$VISA_CHARGE\",\"amount\":0}"
expect_post "refund without a charge: 400" 400 /v1/refunds - '{"amount":5}'
check "refunds counted: 2 for 1000" test "$(stat '"\(.refunds.count) \(.refunds.amount)"')" = "2 1000"

expect_post "a 500 charge for concurrent refunds: 201" 201 /v1/charges rfc-ch \
	"$(charge_body 500 "$VISA" rfc)"
RFC=$(jq -r .id "$RESP_BODY_FILE")
pids=()
for ((i = 0; i < 12; i++)); do
	curl -sS -m 20 -o /dev/null -w '%{http_code}\n' -H "$(auth)" -H "Idempotency-Key: rfc-$i" \
		--data-binary "{\"charge\":\"$RFC\",\"amount\":100}" "$BASE_URL/v1/refunds" \
		>"$BH_SCRATCH/rfc-$i.code" 2>&1 &
	pids+=($!)
done
wait "${pids[@]}"
check "12 concurrent refunds of 100 on 500: five 201, seven 400" \
	test "$(cat "$BH_SCRATCH"/rfc-*.code | sort | uniq -c | sed -e 's/^ *//' | tr '\n' ' ')" = \
	"5 201 7 400 "
expect_status "... the charge's refunded_amount is 500" 200 GET "/v1/charges/$RFC" -H "$(auth)"
expect_jq "... 500" '.refunded_amount == 500'

# ------------------------------------------------------------ lookups

expect_status "GET a charge by id" 200 GET "/v1/charges/$VISA_CHARGE" -H "$(auth)"
expect_jq "... the visa-1 charge" '.id == $id and .amount == 1000' --arg id "$VISA_CHARGE"
expect_status "GET an unknown charge: 404" 404 GET /v1/charges/ch_nosuch -H "$(auth)"
expect_jq "... resource_missing" '.error.code == "resource_missing"'
expect_status "find by reference" 200 GET "/v1/charges?reference=order-1" -H "$(auth)"
expect_jq "... the one visa-1 charge" '.data | length == 1 and .[0].id == $id' --arg id "$VISA_CHARGE"
expect_status "find by idempotency key" 200 GET "/v1/charges?idempotency_key=visa-1" -H "$(auth)"
expect_jq "... the one visa-1 charge" '.data | length == 1 and .[0].id == $id' --arg id "$VISA_CHARGE"
expect_status "find by an unknown key: an empty list" 200 GET "/v1/charges?idempotency_key=nope" \
	-H "$(auth)"
expect_jq "... empty" '.data == []'
expect_status "DELETE a charge: 405" 405 DELETE "/v1/charges/$VISA_CHARGE" -H "$(auth)"

# ------------------------------------------------------------- outage

before=$(charge_count)
expect_status "outage on" 200 POST /admin/outage --data-binary '{"unavailable":true}'
expect_post "a charge during the outage: 503" 503 /v1/charges out-1 "$(charge_body 100 "$VISA")"
expect_jq "... api_error service_unavailable" \
	'.error.type == "api_error" and .error.code == "service_unavailable"'
expect_status "a lookup during the outage: 503" 503 GET "/v1/charges/$VISA_CHARGE" -H "$(auth)"
expect_post "a replay during the outage: 503" 503 /v1/charges visa-1 \
	"$(charge_body 1000 "$VISA" order-1)"
expect_status "health during the outage: 200, unavailable" 200 GET /health
expect_jq "... unavailable true" '.unavailable == true'
check "nothing charged during the outage" test "$(charge_count)" = "$before"
expect_status "outage off" 200 POST /admin/outage --data-binary '{"unavailable":false}'
expect_post "the same key after the outage: 201 (the 503 was not stored)" 201 /v1/charges out-1 \
	"$(charge_body 100 "$VISA")"
check "... one charge" test "$(charge_count)" = $((before + 1))
expect_status "outage with a bad body: 400" 400 POST /admin/outage --data-binary '{"unavailable":1}'

# ----------------------------------------------------------- restart

stats_before=$(curl -sS -m 5 "$BASE_URL/admin/stats" | jq -cS .)
check "SIGTERM: the bank exits 0 within 3 s" bank_stop
check "... and its port is closed" bash -c "! curl -s -m 1 '$BASE_URL/health'"
bank_start --hang-seconds 30
check "restarted on the same directory" bank_healthy
check "... the stats are the same" test "$(curl -sS -m 5 "$BASE_URL/admin/stats" | jq -cS .)" = \
	"$stats_before"
expect_status "... the visa-1 charge is still there" 200 GET "/v1/charges/$VISA_CHARGE" -H "$(auth)"
expect_post "... and its key still replays byte for byte" 201 /v1/charges visa-1 \
	"$(charge_body 1000 "$VISA" order-1)"
check "... (cmp)" cmp "$BH_SCRATCH/visa-1.body" "$RESP_BODY_FILE"
expect_post "... and the outage switch is off again" 201 /v1/charges after-restart \
	"$(charge_body 100 "$VISA")"

# --------------------------------------------------------------- hang

before=$(charge_count)
post /v1/charges hang-1 "$(charge_body 1234 "$(card 4000000000008880)" hang-ref)" -m 2
check "the hang card: no answer, curl times out (exit 28)" test "$RESP_CURL_RC" = 28
check "... the charge exists at the bank" test "$(charge_count)" = $((before + 1))
expect_status "... found by its idempotency key" 200 GET "/v1/charges?idempotency_key=hang-1" -H "$(auth)"
expect_jq "... one succeeded charge of 1234" \
	'.data | length == 1 and .[0].status == "succeeded" and .[0].amount == 1234'
expect_post "... a retry with the same key: 201 at once" 201 /v1/charges hang-1 \
	"$(charge_body 1234 "$(card 4000000000008880)" hang-ref)"
expect_header "... replayed" Idempotent-Replayed true
expect_faster "... (in under a second)" 1
check "... still one charge" test "$(charge_count)" = $((before + 1))

# a hang in progress does not hold up a stop
post /v1/charges hang-2 "$(charge_body 99 "$(card 4000000000008880)")" -m 1
curl -sS -m 40 -H "$(auth)" -H 'Idempotency-Key: hang-3' \
	--data-binary "$(charge_body 98 "$(card 4000000000008880)")" \
	"$BASE_URL/v1/charges" >/dev/null 2>&1 &
hang_curl=$!
track "$hang_curl"
hangs_seen() {
	[ "$(grep -c ' POST /v1/charges hang ' "$BANK_LOG")" -ge "$1" ]
}
check "... the third hang is held" wait_until 5 hangs_seen 3
check "SIGTERM with a connection held by the hang card: exits 0 within 3 s" bank_stop
wait "$hang_curl"
rc=$?
check "... the held client sees the connection closed with no answer (curl exit $rc)" \
	test "$rc" = 52

# ---------------------------------------------------------------- log

check "the log has one line per request" grep -q ' POST /v1/charges 201 ' "$BANK_LOG"
no_card_number_in_log() {
	local n
	for n in 4242424242424242 5555555555554444 378282246310005 6011111111111117 \
		4000000000000002 4000000000009995 4000000000000069 4000000000000127 \
		4000000000000119 4000000000007718 4000000000008880 4242424242424241; do
		grep -F "$n" "$BANK_LOG" && return 1
	done
	return 0
}
check "the log has none of the card numbers used" no_card_number_in_log
check "the log has no secret" bash -c "! grep -qF '$SECRET' '$BANK_LOG'"
check "the state file is where --dir says" test -s "$BANK_DIR/bank.sqlite3"

# a light harness shows no logs: the bank's, when something failed
if [ "$BH_FAILED" -gt 0 ]; then
	note "----- $BANK_LOG (last lines)"
	tail -n 40 "$BANK_LOG" | sed -e 's/^/#   /'
fi
finish
