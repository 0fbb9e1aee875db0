#!/bin/bash
# payments.sh - the payments service behind nginx with the fake bank:
# charges that succeed, each decline code, the processing error, a bank
# token; local validation (Luhn, expiry, cvc, currency, amounts, card or
# bank token, unknown members) that never reaches the bank; replays byte
# for byte and 422 for another body; 50 concurrent requests with one key
# charging once; the slow card; the hang card (202, then reconcile, or a
# lookup by key, settles it with one charge); a bank outage (503; a
# lookup by key long after leaves it pending; then the same key charges
# once); payments workers killed with SIGKILL during a bank call, then the
# client's retry charging once; refunds (full, partial, over-refund,
# concurrent refunds never exceeding the charge, replays); reconcile
# leaving pending a payment sent to the bank again while it asked; a
# lowered BH_PAYMENT_MAX_AMOUNT holding up no retry and no refund; the
# append-only audit trail; no card number in the database dump or any
# log; another client's payments 404; 401 and 403; payments refusing to
# start without a client secret or with BH_BANK_TIMEOUT over 25 s.
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/mail.sh
. "$BH_SRCDIR/t/lib/mail.sh"

# The hang card must time out quickly (the slow card, 1.5 s, must not);
# the stack's reconcile loop stays out of the way: the test runs
# `bellhop-payments reconcile` itself when it wants a round.
export BH_BANK_TIMEOUT=3000
export BH_STACK_RECONCILE_EVERY=3600
export BH_STACK_SERVICES="auth notifications payments"

FUTURE=$(($(date -u +%Y) + 3))
# Every card number used here, for the search of the dump and the logs.
CARDS="4242424242424242 5555555555554444 378282246310005 4000000000000002
	4000000000009995 4000000000000069 4000000000000127 4000000000000119
	4000000000007718 4000000000008880 6011111111111117 4242424242424241"

bearer() {
	printf 'Authorization: Bearer %s' "$1"
}

pay_psql() {
	bh_pg_psql "$VAR/pg" bellhop_payments -tA "$@"
}

# card NUMBER [CVC [MONTH YEAR]]: a card object.
card() {
	jq -cn --arg n "$1" --arg c "${2:-123}" --argjson m "${3:-12}" \
		--argjson y "${4:-$FUTURE}" \
		'{number: $n, exp_month: $m, exp_year: $y, cvc: $c, holder: "Zoë Łukasz"}'
}

# body AMOUNT CARD_JSON [REFERENCE]: a payment request.
body() {
	jq -cn --argjson a "$1" --argjson c "$2" --arg r "${3:-booking-$RANDOM}" \
		'{amount: $a, currency: "EUR", card: $c, reference: $r}'
}

# pay NAME STATUS KEY JSON [TOKEN]: POST /payments/payments.
pay() {
	local name=$1 status=$2 key=$3 json=$4 token=${5:-$CHARGER}
	local -a hdr=()
	[ "$key" != - ] && hdr=(-H "Idempotency-Key: $key")
	expect_status "$name" "$status" POST /payments/payments -H "$(bearer "$token")" \
		-H 'Content-Type: application/json' "${hdr[@]}" --data-binary "$json"
}

# bad NAME STATUS SLUG PARAM KEY JSON: a POST answered by a problem naming
# PARAM ("-" for none).
bad() {
	local name=$1 status=$2 slug=$3 param=$4 key=$5 json=$6
	local -a hdr=()
	[ "$key" != - ] && hdr=(-H "Idempotency-Key: $key")
	expect_problem "$name" "$status" "$slug" POST /payments/payments \
		-H "$(bearer "$CHARGER")" -H 'Content-Type: application/json' \
		"${hdr[@]}" --data-binary "$json" || return 1
	if [ "$param" != - ]; then
		expect_jq "... param is $param" '.param == $p' --arg p "$param"
	fi
}

# refund NAME STATUS PAYMENT KEY JSON [TOKEN]
refund() {
	local name=$1 status=$2 id=$3 key=$4 json=$5 token=${6:-$CHARGER}
	expect_status "$name" "$status" POST "/payments/payments/$id/refunds" \
		-H "$(bearer "$token")" -H 'Content-Type: application/json' \
		-H "Idempotency-Key: $key" --data-binary "$json"
}

# bank_count charges|refunds: how many succeeded at the bank.
bank_count() {
	curl -sS -m 5 "$BANK_URL/admin/stats" | jq -r ".$1.count"
}

bank_amount() {
	curl -sS -m 5 "$BANK_URL/admin/stats" | jq -r ".$1.amount"
}

# bank_charges_with_key KEY: the number of charges the bank made with
# Idempotency-Key KEY.
bank_charges_with_key() {
	curl -sS -m 5 -H "Authorization: Bearer $(head -n 1 "$VAR/secrets/bank.secret")" \
		"$BANK_URL/v1/charges?idempotency_key=$1" | jq -r '.data | length'
}

bank_outage() {
	curl -sS -m 5 -o /dev/null -H 'Content-Type: application/json' \
		--data "{\"unavailable\": $1}" "$BANK_URL/admin/outage"
}

payment_status() {
	pay_psql -c "SELECT status FROM payments WHERE id = '$1'"
}

status_is_now() {
	[ "$(payment_status "$1")" = "$2" ]
}

# reconcile_settles ID: one reconcile round, then payment ID is settled.
reconcile_settles() {
	service_run payments reconcile >>"$BH_SCRATCH/reconcile.log" 2>&1
	[ "$(payment_status "$1")" != pending ]
}

# The id in the last response body.
last_id() {
	jq -r '.id // .payment_id // empty' "$RESP_BODY_FILE"
}

# call_over ID: payment ID's last bank call is older than BH_BANK_TIMEOUT
# plus a second (with a margin): a lookup or reconcile may ask about it.
call_over() {
	[ "$(pay_psql -c "SELECT bank_called_at < now() - interval '4500 milliseconds'
		FROM payments WHERE id = '$1'")" = t ]
}

# payments_refuses NAME PATTERN SED: `bellhop-payments reconcile` with the
# stack's settings for payments edited by the sed script SED exits 2
# before doing anything, saying PATTERN (an extended regex).
payments_refuses() {
	local name=$1 pattern=$2 edit=$3 out=$BH_SCRATCH/refuses.out rc v
	local -a lines unset=()
	mapfile -t lines < <(stack_env payments | sed -e "$edit")
	for v in $(compgen -e); do
		[[ $v == BH_* ]] && unset+=(-u "$v")
	done
	env "${unset[@]}" "${lines[@]}" "$BH_BUILDDIR/handlers/payments/bellhop-payments" \
		reconcile >"$out" 2>&1
	rc=$?
	check "$name: exit 2 ($rc)" test "$rc" = 2
	check "... saying why" grep -qE -- "$pattern" "$out"
	check "... before any round" bash -c "! grep -q '^reconcile:' '$out'"
}

stack_up nginx || bail "the stack did not come up"

CHARGER=$(client_token reservations "payments:charge payments:refund") ||
	bail "no token for client reservations"
CHARGE_ONLY=$(client_token reservations "payments:charge") ||
	bail "no charge-only token"
OTHER=$(service_run auth client add pay-other --scopes "payments:charge payments:refund" \
	--audiences payments --replace 2>>"$BH_SCRATCH/auth-cmd.log") &&
	OTHER=$(curl -sS -m 10 -u "pay-other:$OTHER" -d grant_type=client_credentials \
		"$BASE_URL/auth/oauth/token" | jq -r '.access_token // empty')
NO_SCOPE=$(client_token reservations "reports:render") || bail "no token without the scope"
WRONG_AUD=$(client_token catalog-admin) || bail "no token for catalog-admin"
check "a second client got a token" test -n "$OTHER"

# ------------------------------------------------------------- settings

# The stored request fingerprints are HMACs keyed with the client secret:
# never plain SHA-256 of a body holding a card number.
payments_refuses "payments without a client secret" \
	'BH_CLIENT_SECRET or BH_CLIENT_SECRET_FILE is required' '/^BH_CLIENT_SECRET/d'
# The front ends give up after 30 s: a bank call must end well before.
payments_refuses "payments with BH_BANK_TIMEOUT=30000" 'BH_BANK_TIMEOUT' \
	'/^BH_BANK_TIMEOUT=/d; $a BH_BANK_TIMEOUT=30000'

# ---------------------------------------------------------------- success

CHARGES0=$(bank_count charges)
B1=$(jq -cn --argjson c "$(card 4242424242424242)" \
	'{amount: 35100, currency: "EUR", card: $c, reference: "res-1",
	  description: "Hôtel Zürich, 3 nights", receipt_email: "Guest@Example.com"}')
pay "a visa charge is 201" 201 pay-ok-1 "$B1"
expect_content_type "... application/json" application/json
expect_jq "... succeeded, amount, currency, visa 4242, a bank reference" \
	'.status == "succeeded" and .amount == 35100 and .currency == "EUR"
	 and .card == {brand: "visa", last4: "4242"} and (.bank_reference | test("^ch_"))
	 and .refunded_amount == 0 and .reference == "res-1"
	 and (.id | test("^[0-9a-f-]{36}$")) and (.created_at | test("Z$"))
	 and (has("pending_reason") | not)'
P1=$(last_id)
expect_header "... Location is the payment" Location "/payments/payments/$P1"
cp "$RESP_BODY_FILE" "$BH_SCRATCH/p1.first"
check "... the bank made one charge" test "$(bank_count charges)" = $((CHARGES0 + 1))

pay "the same key and body again is 201" 201 pay-ok-1 "$B1"
check "... byte for byte the first answer" cmp "$BH_SCRATCH/p1.first" "$RESP_BODY_FILE"
expect_header "... Idempotent-Replayed: true" Idempotent-Replayed true
expect_header "... with the same Location" Location "/payments/payments/$P1"
check "... and no second charge" test "$(bank_count charges)" = $((CHARGES0 + 1))

bad "the same key with another body is 422" 422 idempotency-key-reused Idempotency-Key \
	pay-ok-1 "$(jq -c '.amount = 35101' <<<"$B1")"
check "... and charges nothing" test "$(bank_count charges)" = $((CHARGES0 + 1))

expect_status "GET /payments/{id} is 200" 200 GET "/payments/payments/$P1" -H "$(bearer "$CHARGER")"
expect_jq "... the payment with no refunds" '.id == $id and .status == "succeeded"
	and .refunds == []' --arg id "$P1"
expect_status "GET /payments?idempotency_key= is 200" 200 GET \
	"/payments/payments?idempotency_key=pay-ok-1" -H "$(bearer "$CHARGER")"
expect_jq "... the same payment" '.id == $id and .status == "succeeded"' --arg id "$P1"
expect_problem "an unknown idempotency key is 404" 404 not-found GET \
	"/payments/payments?idempotency_key=never-used" -H "$(bearer "$CHARGER")"

MAIL=$(mail_wait guest@example.com 15)
check "the payment receipt email came" test -n "$MAIL"
if [ -n "$MAIL" ]; then
	check "... with the amount, the card's last four digits and the bank reference" \
		jq -e --arg ref "$(jq -r .bank_reference "$BH_SCRATCH/p1.first")" \
		'(.subject | test("351.00 EUR")) and (.text | test("visa ending in 4242"))
		 and (.text | contains($ref))' "$MAIL"
fi
check "... its state is sent, in the audit trail too" test \
	"$(pay_psql -c "SELECT receipt_state || ' ' || (SELECT count(*) FROM payment_events
		WHERE payment_id = '$P1' AND event = 'receipt.sent') FROM payments WHERE id = '$P1'")" = "sent 1"

pay "a mastercard charge is 201" 201 pay-ok-mc "$(body 1250 "$(card 5555555555554444)")"
expect_jq "... mastercard 4444" '.card == {brand: "mastercard", last4: "4444"}'
pay "an amex charge (4-digit cvc) is 201" 201 pay-ok-amex "$(body 999 "$(card 378282246310005 1234)")"
expect_jq "... amex 0005" '.card == {brand: "amex", last4: "0005"}'
pay "a JPY charge (no minor unit) is 201" 201 pay-ok-jpy \
	"$(jq -cn --argjson c "$(card 6011111111111117)" '{amount: 15000, currency: "JPY", card: $c, reference: "jpy"}')"
expect_jq "... discover 1117, 15000 JPY" '.card.brand == "discover" and .amount == 15000 and .currency == "JPY"'
pay "a bank token charge is 201" 201 pay-tok \
	'{"amount": 700, "currency": "EUR", "bank_token": "tok_visa", "reference": "tok"}'
expect_jq "... brand and last4 from the bank" '.card == {brand: "visa", last4: "4242"} and .status == "succeeded"'

# --------------------------------------------------------------- declines

for spec in 4000000000000002:card_declined 4000000000009995:insufficient_funds \
	4000000000000069:expired_card 4000000000000127:incorrect_cvc \
	4000000000000119:processing_error; do
	number=${spec%%:*}
	code=${spec#*:}
	before=$(bank_count charges)
	BD=$(body 5000 "$(card "$number")")
	bad "card $number is declined: 402 payment-declined" 402 payment-declined - \
		"decline-$code" "$BD"
	expect_jq "... decline_code $code and the payment's id" \
		'.decline_code == $c and (.payment_id | test("^[0-9a-f-]{36}$"))' --arg c "$code"
	PD=$(jq -r .payment_id "$RESP_BODY_FILE")
	cp "$RESP_BODY_FILE" "$BH_SCRATCH/decline.first"
	check "... the payment is failed, nothing charged" test \
		"$(payment_status "$PD") $(bank_count charges)" = "failed $before"
	pay "... the same key again: 402 again" 402 "decline-$code" "$BD"
	check "... byte for byte" cmp "$BH_SCRATCH/decline.first" "$RESP_BODY_FILE"
done
expect_status "a declined payment reads as failed" 200 GET "/payments/payments/$PD" -H "$(bearer "$CHARGER")"
expect_jq "... with its decline code" '.status == "failed" and .decline_code == "processing_error"'
bad "a declined bank token is 402" 402 payment-declined - decline-token \
	'{"amount": 700, "currency": "EUR", "bank_token": "tok_chargeDeclinedInsufficientFunds", "reference": "tok"}'
expect_jq "... insufficient_funds" '.decline_code == "insufficient_funds"'
bad "a token the bank does not know is 400 naming bank_token" 400 invalid-parameter bank_token \
	unknown-token '{"amount": 700, "currency": "EUR", "bank_token": "tok_nosuchtoken", "reference": "tok"}'

# ------------------------------------------------------------- validation

BEFORE=$(bank_count charges)
BEFORE_ROWS=$(pay_psql -c "SELECT count(*) FROM payments")
GOOD=$(card 4242424242424242)
bad "Luhn failure: 400 card.number" 400 invalid-parameter card.number v1 \
	"$(body 100 "$(card 4242424242424241)")"
check "... the detail does not quote the number" bash -c "! grep -q 4242424242424241 '$RESP_BODY_FILE'"
bad "spaces in the number: 400 card.number" 400 invalid-parameter card.number v2 \
	"$(body 100 "$(card '4242 4242 4242 4242')")"
bad "an unknown brand: 400 card.number" 400 invalid-parameter card.number v3 \
	"$(body 100 "$(card 9999999999999995)")"
bad "11 digits: 400 card.number" 400 invalid-parameter card.number v4 \
	"$(body 100 "$(card 42424242424)")"
bad "an expired card: 400" 400 invalid-parameter 'card.exp_year' v5 \
	"$(body 100 "$(card 4242424242424242 123 1 2021)")"
bad "month 13: 400 card.exp_month" 400 invalid-parameter card.exp_month v6 \
	"$(body 100 "$(card 4242424242424242 123 13 "$FUTURE")")"
bad "a 4-digit cvc on a visa: 400 card.cvc" 400 invalid-parameter card.cvc v7 \
	"$(body 100 "$(card 4242424242424242 1234)")"
bad "a 3-digit cvc on an amex: 400 card.cvc" 400 invalid-parameter card.cvc v8 \
	"$(body 100 "$(card 378282246310005 123)")"
bad "letters in the cvc: 400 card.cvc" 400 invalid-parameter card.cvc v9 \
	"$(body 100 "$(card 4242424242424242 12a)")"
bad "an unknown currency: 400 currency" 400 invalid-parameter currency v10 \
	"$(body 100 "$GOOD" | jq -c '.currency = "XXY"')"
bad "a lower-case currency: 400 currency" 400 invalid-parameter currency v11 \
	"$(body 100 "$GOOD" | jq -c '.currency = "eur"')"
bad "amount 0: 400 amount" 400 invalid-parameter amount v12 "$(body 0 "$GOOD")"
bad "a negative amount: 400 amount" 400 invalid-parameter amount v13 "$(body -500 "$GOOD")"
bad "a huge amount: 400 amount" 400 invalid-parameter amount v14 "$(body 100000001 "$GOOD")"
bad "an amount past int64: 400 amount" 400 invalid-parameter amount v15 \
	"$(body 100 "$GOOD" | sed 's/"amount":100/"amount":99999999999999999999999/')"
bad "a float amount: 400 amount" 400 invalid-parameter amount v16 "$(body 10.5 "$GOOD")"
bad "a string amount: 400 amount" 400 invalid-parameter amount v17 \
	"$(body 100 "$GOOD" | jq -c '.amount = "100"')"
bad "neither card nor bank_token: 400" 400 invalid-parameter card v18 \
	'{"amount": 100, "currency": "EUR", "reference": "x"}'
bad "both card and bank_token: 400" 400 invalid-parameter card v19 \
	"$(body 100 "$GOOD" | jq -c '.bank_token = "tok_visa"')"
bad "a malformed bank token: 400 bank_token" 400 invalid-parameter bank_token v20 \
	'{"amount": 100, "currency": "EUR", "bank_token": "visa card", "reference": "x"}'
bad "an unknown member: 400 naming it" 400 invalid-parameter price v21 \
	"$(body 100 "$GOOD" | jq -c '.price = 1')"
bad "an unknown member of card: 400 naming it" 400 invalid-parameter card.pin v22 \
	"$(body 100 "$GOOD" | jq -c '.card.pin = "0000"')"
bad "card without holder: 400 card.holder" 400 invalid-parameter card.holder v23 \
	"$(body 100 "$GOOD" | jq -c 'del(.card.holder)')"
bad "card as a string: 400 card" 400 invalid-parameter card v24 \
	"$(body 100 "$GOOD" | jq -c '.card = "4242424242424242"')"
bad "no reference: 400 reference" 400 invalid-parameter reference v25 \
	"$(body 100 "$GOOD" | jq -c 'del(.reference)')"
bad "a bad receipt_email: 400 receipt_email" 400 invalid-parameter receipt_email v26 \
	"$(body 100 "$GOOD" | jq -c '.receipt_email = "not an address"')"
bad "no Idempotency-Key: 400 naming it" 400 invalid-parameter Idempotency-Key - "$(body 100 "$GOOD")"
bad "an Idempotency-Key of 300 characters: 400" 400 invalid-parameter Idempotency-Key \
	"$(head -c 300 /dev/zero | tr '\0' k)" "$(body 100 "$GOOD")"
bad "a body that is not JSON: 400" 400 'malformed-body|bad-request' - v27 '{"amount": 1,'
bad "a JSON array body: 400" 400 'bad-request|malformed-body' - v28 '[1, 2]'
expect_problem "a form body: 415" 415 unsupported-media-type POST /payments/payments \
	-H "$(bearer "$CHARGER")" -H 'Idempotency-Key: v29' \
	--data 'amount=100&currency=EUR&bank_token=tok_visa&reference=x'
check "none of these reached the bank" test "$(bank_count charges)" = "$BEFORE"
check "... nor the database" test "$(pay_psql -c "SELECT count(*) FROM payments")" = "$BEFORE_ROWS"

# --------------------------------------------------------- who may call

expect_problem "no token: 401" 401 unauthorized POST /payments/payments \
	-H 'Content-Type: application/json' -H 'Idempotency-Key: t1' --data-binary "$(body 100 "$GOOD")"
expect_problem "a token without payments:charge: 403" 403 insufficient-scope POST \
	/payments/payments -H "$(bearer "$NO_SCOPE")" -H 'Content-Type: application/json' \
	-H 'Idempotency-Key: t2' --data-binary "$(body 100 "$GOOD")"
expect_problem "a token for another audience: 401" 401 unauthorized POST /payments/payments \
	-H "$(bearer "$WRONG_AUD")" -H 'Content-Type: application/json' \
	-H 'Idempotency-Key: t3' --data-binary "$(body 100 "$GOOD")"
expect_problem "another client's payment: 404" 404 not-found GET "/payments/payments/$P1" \
	-H "$(bearer "$OTHER")"
expect_problem "another client's idempotency key: 404" 404 not-found GET \
	"/payments/payments?idempotency_key=pay-ok-1" -H "$(bearer "$OTHER")"
expect_problem "refunding another client's payment: 404" 404 not-found POST \
	"/payments/payments/$P1/refunds" -H "$(bearer "$OTHER")" -H 'Idempotency-Key: o1'
expect_problem "a payment id that is not a uuid: 404" 404 not-found GET \
	"/payments/payments/not-a-uuid" -H "$(bearer "$CHARGER")"
expect_problem "an unknown payment id: 404" 404 not-found GET \
	"/payments/payments/00000000-0000-4000-8000-000000000000" -H "$(bearer "$CHARGER")"
expect_problem "a refund without payments:refund: 403" 403 insufficient-scope POST \
	"/payments/payments/$P1/refunds" -H "$(bearer "$CHARGE_ONLY")" -H 'Idempotency-Key: o2'
pay "the other client may use the same key for its own payment" 201 pay-ok-1 \
	"$(body 100 "$GOOD")" "$OTHER"
check "... a payment of its own" test "$(last_id)" != "$P1"

# ------------------------------------------------------------ concurrency

BEFORE=$(bank_count charges)
BC=$(body 4200 "$GOOD" same-key)
CONC=$BH_SCRATCH/conc
mkdir -p "$CONC"
for i in $(seq 1 50); do
	curl -sS -m 20 -o "$CONC/$i.body" -w '%{http_code}\n' -H "$(bearer "$CHARGER")" \
		-H 'Content-Type: application/json' -H 'Idempotency-Key: same-key-50' \
		--data-binary "$BC" "$BASE_URL/payments/payments" >"$CONC/$i.code" 2>/dev/null &
done
wait
codes=$(cat "$CONC"/*.code | sort | uniq -c | tr '\n' ' ')
check "50 concurrent requests with one key: all 201 or 409 ($codes)" \
	bash -c "! cat '$CONC'/*.code | grep -vqE '^(201|409)$' && cat '$CONC'/*.code | grep -q 201"
check "... every 201 is the same body" bash -c \
	"test \$(for f in '$CONC'/*.code; do [ \"\$(cat \$f)\" = 201 ] && sha256sum < \"\${f%.code}.body\"; done | sort -u | wc -l) = 1"
check "... one charge at the bank" test "$(bank_count charges)" = $((BEFORE + 1))
check "... one payment in the database" test \
	"$(pay_psql -c "SELECT count(*) FROM payments WHERE idempotency_key = 'same-key-50'")" = 1

# ------------------------------------------------------------- slow, hang

pay "the slow card is 201" 201 slow-1 "$(body 1800 "$(card 4000000000007718)")"
check "... after the bank's delay" awk -v t="$RESP_TIME" 'BEGIN { exit !(t >= 1.4) }'

BEFORE=$(bank_count charges)
BH=$(body 2500 "$(card 4000000000008880)")
pay "the hang card: 202 once the bank timeout passes" 202 hang-1 "$BH"
expect_jq "... a pending payment, its outcome unknown" '.status == "pending" and .bank_reference == null
	and .pending_reason == "outcome_unknown"'
PH=$(last_id)
check "... the bank charged (the answer was lost)" test "$(bank_count charges)" = $((BEFORE + 1))
check "reconcile settles it as succeeded" wait_until 20 reconcile_settles "$PH"
check "... succeeded, with the bank's reference" test \
	"$(pay_psql -c "SELECT status || ' ' || (bank_charge_id LIKE 'ch_%') FROM payments WHERE id = '$PH'")" = "succeeded true"
check "... still one charge" test "$(bank_count charges)" = $((BEFORE + 1))
check "... one charge with the payment's bank key" test "$(bank_charges_with_key "pay_$PH")" = 1
pay "the client's retry with the same key is 201 now" 201 hang-1 "$BH"
expect_jq "... the same payment, succeeded" '.id == $id and .status == "succeeded"' --arg id "$PH"
check "... and no new charge" test "$(bank_count charges)" = $((BEFORE + 1))
grep -h '^reconcile:' "$BH_SCRATCH/reconcile.log" | tail -n 1 | sed -e 's/^/# /'

# the lookup by key settles a pending payment too
BEFORE=$(bank_count charges)
BH2=$(body 2600 "$(card 4000000000008880)")
pay "another hang: 202" 202 hang-2 "$BH2"
PH2=$(last_id)
sleep 1.2
expect_status "GET ?idempotency_key= once the bank timeout is over" 200 GET \
	"/payments/payments?idempotency_key=hang-2" -H "$(bearer "$CHARGER")"
expect_jq "... asked the bank: succeeded" '.id == $id and .status == "succeeded"' --arg id "$PH2"
check "... one charge" test "$(bank_count charges)" = $((BEFORE + 1))

# --------------------------------------------------------------- outage

BEFORE=$(bank_count charges)
bank_outage true
BO=$(body 3300 "$GOOD" outage)
bad "the bank unavailable: 503 upstream-unavailable" 503 upstream-unavailable - outage-1 "$BO"
expect_header "... with Retry-After" Retry-After '[0-9]+'
PO=$(pay_psql -c "SELECT id FROM payments WHERE idempotency_key = 'outage-1'")
check "... the payment is pending and known not to have reached the bank" test \
	"$(pay_psql -c "SELECT status || ' ' || maybe_charged FROM payments WHERE id = '$PO'")" = "pending false"
service_run payments reconcile >>"$BH_SCRATCH/reconcile.log" 2>&1
check "... reconcile leaves it for the client to retry" status_is_now "$PO" pending
bank_outage false
# Long after, a lookup by key must not settle it as failed (the bank
# never got it): the retry below would get a stored 402 instead of a
# charge.
check "... its bank call is over (BH_BANK_TIMEOUT and a second ago)" wait_until 10 call_over "$PO"
expect_status "a lookup by key of the payment the bank never got: 200" 200 GET \
	"/payments/payments?idempotency_key=outage-1" -H "$(bearer "$CHARGER")"
expect_jq "... shown as it is: pending (the bank unavailable), not failed" \
	'.id == $id and .status == "pending" and .decline_code == null
	 and .pending_reason == "bank_unavailable"' --arg id "$PO"
check "... and left so" test \
	"$(pay_psql -c "SELECT status || ' ' || maybe_charged FROM payments WHERE id = '$PO'")" = "pending false"
# a worker's circuit breaker may stay open for 10 s after the failures
retry_outage() {
	http POST /payments/payments -H "$(bearer "$CHARGER")" -H 'Content-Type: application/json' \
		-H 'Idempotency-Key: outage-1' --data-binary "$BO"
	status_is 201
}
check "the same key after the outage: 201" wait_until 25 retry_outage
check "... the same payment" test "$(last_id)" = "$PO"
check "... charged once" test "$(bank_count charges)" = $((BEFORE + 1))

# the bank's process down: connections refused, nothing sent
BEFORE=$(bank_count charges)
"$BH_STACK" bank stop --var "$VAR" >>"$BH_SCRATCH/bank-cmd.log" 2>&1
BN=$(body 3400 "$GOOD" down)
bad "the bank down (connection refused): 503 upstream-unavailable" 503 upstream-unavailable - \
	down-1 "$BN"
check "... the payment is pending, known not to have reached the bank" test \
	"$(pay_psql -c "SELECT status || ' ' || maybe_charged FROM payments
		WHERE idempotency_key = 'down-1'")" = "pending false"
"$BH_STACK" bank start --var "$VAR" >>"$BH_SCRATCH/bank-cmd.log" 2>&1
retry_down() {
	http POST /payments/payments -H "$(bearer "$CHARGER")" -H 'Content-Type: application/json' \
		-H 'Idempotency-Key: down-1' --data-binary "$BN"
	status_is 201
}
check "the same key with the bank back: 201" wait_until 25 retry_down
check "... charged once (the bank's state survived its restart)" \
	test "$(bank_count charges)" = $((BEFORE + 1))

# ------------------------------------------------------------ SIGKILL

BEFORE=$(bank_count charges)
BK=$(body 4400 "$(card 4000000000008880)" killed)
curl -sS -m 30 -o "$BH_SCRATCH/killed.body" -w '%{http_code}\n' -H "$(bearer "$CHARGER")" \
	-H 'Content-Type: application/json' -H 'Idempotency-Key: killed-1' \
	--data-binary "$BK" "$BASE_URL/payments/payments" >"$BH_SCRATCH/killed.code" 2>/dev/null &
KILLED_CURL=$!
track "$KILLED_CURL"
charged_once_more() { [ "$(bank_count charges)" = $((BEFORE + 1)) ]; }
check "a hang-card charge reached the bank" wait_until 10 charged_once_more
WORKERS=$(worker_pids payments)
kill -KILL $WORKERS 2>/dev/null
check "payments workers killed with SIGKILL during the bank call ($WORKERS)" test -n "$WORKERS"
wait_pid "$KILLED_CURL" 20
check "... the client got no answer from payments ($(cat "$BH_SCRATCH/killed.code"))" \
	bash -c "grep -qvE '^(201|202)$' '$BH_SCRATCH/killed.code'"
workers_back() { [ "$(worker_count payments)" -ge 1 ]; }
check "... the pool respawned its workers" wait_until 10 workers_back
PK=$(pay_psql -c "SELECT id FROM payments WHERE idempotency_key = 'killed-1'")
check "... the payment was stored before the bank call" test -n "$PK"
retry_killed() {
	http POST /payments/payments -H "$(bearer "$CHARGER")" -H 'Content-Type: application/json' \
		-H 'Idempotency-Key: killed-1' --data-binary "$BK"
	status_is '201|202'
}
check "the client's retry with the same key is answered (201 or 202)" wait_until 15 retry_killed
note "retry answered $RESP_STATUS"
if [ "$RESP_STATUS" = 202 ]; then
	check "... reconcile settles it" wait_until 20 reconcile_settles "$PK"
fi
check "... succeeded" wait_until 10 status_is_now "$PK" succeeded
check "... one charge at the bank" test "$(bank_count charges)" = $((BEFORE + 1))
check "... one charge with the payment's bank key" test "$(bank_charges_with_key "pay_$PK")" = 1

# ---------------------------------------------------------------- refunds

REFUNDS0=$(bank_count refunds)
pay "a payment to refund in full" 201 r-pay-1 "$(body 10000 "$GOOD")"
PR1=$(last_id)
refund "a full refund (no amount) is 201" 201 "$PR1" r-1 '{"reason": "cancelled"}'
expect_jq "... succeeded, all of it" '.status == "succeeded" and .amount == 10000
	and .payment_id == $p and (.bank_reference | test("^re_")) and .reason == "cancelled"' --arg p "$PR1"
cp "$RESP_BODY_FILE" "$BH_SCRATCH/r1.first"
refund "the same refund key again is 201" 201 "$PR1" r-1 '{"reason": "cancelled"}'
check "... byte for byte" cmp "$BH_SCRATCH/r1.first" "$RESP_BODY_FILE"
expect_header "... Idempotent-Replayed: true" Idempotent-Replayed true
refund "the same refund key with another body is 422" 422 "$PR1" r-1 '{"reason": "other"}'
refund "another refund of a refunded payment is 409" 409 "$PR1" r-2 '{}'
check "... one refund at the bank" test "$(bank_count refunds)" = $((REFUNDS0 + 1))
expect_status "the payment shows the refund" 200 GET "/payments/payments/$PR1" -H "$(bearer "$CHARGER")"
expect_jq "... refunded_amount 10000, one refund" '.refunded_amount == 10000
	and (.refunds | length) == 1 and .refunds[0].status == "succeeded"'

pay "a payment to refund in parts" 201 r-pay-2 "$(body 10000 "$GOOD")"
PR2=$(last_id)
refund "a partial refund of 3000 is 201" 201 "$PR2" r-3 '{"amount": 3000}'
expect_jq "... 3000" '.amount == 3000 and .status == "succeeded"'
refund "8000 more (over what is left) is 409" 409 "$PR2" r-4 '{"amount": 8000}'
refund "7000 more is 201" 201 "$PR2" r-5 '{"amount": 7000}'
refund "1 more is 409" 409 "$PR2" r-6 '{"amount": 1}'
refund "amount 0 is 400" 400 "$PR2" r-7 '{"amount": 0}'
refund "a string amount is 400" 400 "$PR2" r-8 '{"amount": "5"}'
refund "a refund of a declined payment is 409" 409 "$PD" r-9 '{}'
refund "a refund of an unknown payment is 404" 404 00000000-0000-4000-8000-000000000000 r-10 '{}'
expect_problem "a refund without Idempotency-Key is 400" 400 invalid-parameter POST \
	"/payments/payments/$PR2/refunds" -H "$(bearer "$CHARGER")"

pay "a payment for concurrent refunds" 201 r-pay-3 "$(body 10000 "$GOOD")"
PR3=$(last_id)
BEFORE_AMOUNT=$(bank_amount refunds)
for i in $(seq 1 10); do
	curl -sS -m 20 -o "$CONC/r$i.body" -w '%{http_code}\n' -H "$(bearer "$CHARGER")" \
		-H 'Content-Type: application/json' -H "Idempotency-Key: conc-refund-$i" \
		--data '{"amount": 3000}' "$BASE_URL/payments/payments/$PR3/refunds" \
		>"$CONC/r$i.code" 2>/dev/null &
done
wait
rcodes=$(cat "$CONC"/r*.code | sort | uniq -c | tr '\n' ' ')
check "10 concurrent refunds of 3000 of a 10000 payment: 201 or 409 ($rcodes)" \
	bash -c "! cat '$CONC'/r*.code | grep -vqE '^(201|409)$'"
check "... exactly three succeeded" test "$(grep -l '^201$' "$CONC"/r*.code | wc -l)" = 3
check "... the bank refunded 9000 of it" test "$(bank_amount refunds)" = $((BEFORE_AMOUNT + 9000))
check "... the database agrees" test "$(pay_psql -c "SELECT refunded_amount || ' ' || refund_reserved
	FROM payments WHERE id = '$PR3'")" = "9000 9000"

# a refund the bank never got gives its amount back; the same key then
# refunds once
pay "a payment to refund during an outage" 201 r-pay-4 "$(body 5000 "$GOOD")"
PR4=$(last_id)
BEFORE=$(bank_count refunds)
bank_outage true
expect_problem "a refund while the bank is unavailable: 503" 503 upstream-unavailable POST \
	"/payments/payments/$PR4/refunds" -H "$(bearer "$CHARGER")" -H 'Idempotency-Key: r-out' \
	-H 'Content-Type: application/json' --data '{"amount": 2000}'
check "... its amount is free again, nothing refunded" test "$(pay_psql -c "SELECT refund_reserved
	|| ' ' || refunded_amount FROM payments WHERE id = '$PR4'") $(bank_count refunds)" = "0 0 $BEFORE"
bank_outage false
retry_refund() {
	http POST "/payments/payments/$PR4/refunds" -H "$(bearer "$CHARGER")" \
		-H 'Idempotency-Key: r-out' -H 'Content-Type: application/json' --data '{"amount": 2000}'
	status_is 201
}
check "the same refund key after the outage: 201" wait_until 25 retry_refund
expect_jq "... succeeded, 2000" '.status == "succeeded" and .amount == 2000'
check "... one refund at the bank, 2000 refunded" test "$(bank_count refunds) $(pay_psql -c \
	"SELECT refunded_amount FROM payments WHERE id = '$PR4'")" = "$((BEFORE + 1)) 2000"

# what reconcile finds at the bank decides a pending refund: one the bank
# made succeeds, one it never got fails and frees its amount (rows made
# here as a worker dying after the commit and before the answer leaves
# them)
CH4=$(pay_psql -c "SELECT bank_charge_id FROM payments WHERE id = '$PR4'")
RX1=$(cat /proc/sys/kernel/random/uuid)
RX2=$(cat /proc/sys/kernel/random/uuid)
pay_psql -c "BEGIN;
	INSERT INTO refunds (id, payment_id, client_id, idempotency_key, request_hash, amount,
		currency, maybe_sent, bank_called_at)
	VALUES ('$RX1', '$PR4', 'reservations', 'lost-1', 'x', 1000, 'EUR', true, now() - interval '1 hour'),
		('$RX2', '$PR4', 'reservations', 'lost-2', 'x', 500, 'EUR', true, now() - interval '1 hour');
	UPDATE payments SET refund_reserved = refund_reserved + 1500 WHERE id = '$PR4';
	COMMIT" >/dev/null
curl -sS -m 5 -o /dev/null -H "Authorization: Bearer $(head -n 1 "$VAR/secrets/bank.secret")" \
	-H "Idempotency-Key: refund_$RX1" -H 'Content-Type: application/json' \
	--data "{\"charge\": \"$CH4\", \"amount\": 1000}" "$BANK_URL/v1/refunds"
service_run payments reconcile >>"$BH_SCRATCH/reconcile.log" 2>&1
check "reconcile: the refund the bank made succeeded, the other failed" test \
	"$(pay_psql -c "SELECT string_agg(status || coalesce(':' || left(bank_refund_id, 3), ''), ' '
		ORDER BY amount DESC) FROM refunds WHERE id IN ('$RX1', '$RX2')")" = "succeeded:re_ failed"
check "... the payment: 3000 refunded, 3000 reserved" test \
	"$(pay_psql -c "SELECT refunded_amount || ' ' || refund_reserved FROM payments WHERE id = '$PR4'")" = "3000 3000"

# a pending payment the bank never heard of fails, nothing charged
PX=$(cat /proc/sys/kernel/random/uuid)
pay_psql -c "INSERT INTO payments (id, client_id, idempotency_key, request_hash, amount, currency,
	reference, method, maybe_charged, bank_called_at)
	VALUES ('$PX', 'reservations', 'lost-pay', 'x', 800, 'EUR', 'lost', 'card', true,
		now() - interval '1 hour')" >/dev/null
check "reconcile: a pending payment unknown to the bank becomes failed" \
	wait_until 10 reconcile_settles "$PX"
expect_status "... it reads as failed, not received by the bank" 200 GET \
	"/payments/payments?idempotency_key=lost-pay" -H "$(bearer "$CHARGER")"
expect_jq "... status failed, decline_code not_received" \
	'.status == "failed" and .decline_code == "not_received" and .bank_reference == null'

# A payment sent to the bank again (a client's retry) while reconcile was
# asking the bank about it stays pending: "absent" said nothing about the
# new call, which a real bank may still be working on.  The bank is
# stopped (SIGSTOP) so that reconcile's question waits for it; meanwhile
# the row changes as a retry's first transaction changes it.
PY=$(cat /proc/sys/kernel/random/uuid)
pay_psql -c "INSERT INTO payments (id, client_id, idempotency_key, request_hash, amount, currency,
	reference, method, maybe_charged, bank_called_at)
	VALUES ('$PY', 'reservations', 'lost-pay-2', 'x', 900, 'EUR', 'lost', 'card', true,
		now() - interval '1 hour')" >/dev/null
BANK_PID=$(cat "$VAR/run/bank.pid")
kill -STOP "$BANK_PID"
service_run payments reconcile >"$BH_SCRATCH/reconcile-race.log" 2>&1 &
RACE=$!
track "$RACE"
# its question is on a connection to the bank, waiting for an answer
asking_bank() {
	local pid
	pid=$(pgrep -P "$RACE") &&
		ss -Htnp state established "( dport = :$BANK_PORT )" | grep -q "pid=$pid,"
}
check "reconcile is asking the stopped bank about a pending payment" wait_until 10 asking_bank
pay_psql -c "UPDATE payments SET bank_calls = bank_calls + 1, bank_called_at = now(),
	updated_at = now() WHERE id = '$PY'" >/dev/null
kill -CONT "$BANK_PID"
wait_pid "$RACE" 20
check "... sent again meanwhile: left pending, not failed" status_is_now "$PY" pending
check "... counted as still pending" grep -q 'payments 0 settled, 1 still pending' \
	"$BH_SCRATCH/reconcile-race.log"
pay_psql -c "UPDATE payments SET bank_called_at = now() - interval '1 hour' WHERE id = '$PY'" >/dev/null
check "... once that call is over too, a round settles it" reconcile_settles "$PY"

# ------------------------------------------------------- receipt emails

# notifications frozen: the receipt cannot be queued within its time
# budget; the payment is answered all the same, and reconcile sends it
NOTIF=$(master_pid notifications) && NOTIF="$NOTIF $(worker_pids notifications)"
kill -STOP $NOTIF
pay "a payment while notifications does not answer is 201" 201 receipt-late \
	"$(body 1500 "$GOOD" | jq -c '.receipt_email = "late@example.com"')"
kill -CONT $NOTIF
PL=$(last_id)
check "... its receipt email is due" test "$(pay_psql -c "SELECT receipt_state FROM payments WHERE id = '$PL'")" = due
service_run payments reconcile >>"$BH_SCRATCH/reconcile.log" 2>&1
check "reconcile sends it" test "$(pay_psql -c "SELECT receipt_state FROM payments WHERE id = '$PL'")" = sent
check "... it arrives" test -n "$(mail_wait late@example.com 15)"
sleep 1
check "... once" test "$(mail_count late@example.com)" = 1

# ------------------------------------------------------------- audit trail

check "the audit trail of a refunded payment: each state change in order" test \
	"$(pay_psql -c "SELECT string_agg(event, ',' ORDER BY id) FROM payment_events WHERE payment_id = '$PR1'")" = \
	"payment.pending,payment.succeeded,refund.pending,refund.succeeded"
check "... of a declined one" test \
	"$(pay_psql -c "SELECT string_agg(event || ':' || coalesce(detail, ''), ',' ORDER BY id)
		FROM payment_events WHERE payment_id = '$PD'")" = "payment.pending:,payment.failed:processing_error"
no_update() { ! pay_psql -c "UPDATE payment_events SET status = 'x' WHERE payment_id = '$PR1'"; }
no_delete() { ! pay_psql -c "DELETE FROM payment_events WHERE payment_id = '$PR1'"; }
no_truncate() { ! pay_psql -c "TRUNCATE payment_events CASCADE"; }
no_payment_delete() { ! pay_psql -c "DELETE FROM payments WHERE id = '$PR1'"; }
check "UPDATE of payment_events is refused" no_update
check "DELETE of payment_events is refused" no_delete
check "TRUNCATE of payment_events is refused" no_truncate
check "DELETE of a payment is refused" no_payment_delete
check "... the rows are all still there" test \
	"$(pay_psql -c "SELECT count(*) FROM payment_events WHERE payment_id = '$PR1'")" = 4

# ------------------------------------------------ a ceiling lowered since

# A payment made, and one left pending by an outage, both over the ceiling
# about to be set; payments restarted with BH_PAYMENT_MAX_AMOUNT=1000:
# their retries get the stored answer and the charge (the ceiling and the
# expiry are checked for new payments only), and a refund of more than
# the new ceiling goes through; only a new payment over it is refused.
C1=$(body 5000 "$GOOD" ceiling-1)
pay "a payment of 5000" 201 ceil-1 "$C1"
PC1=$(last_id)
cp "$RESP_BODY_FILE" "$BH_SCRATCH/ceil-1.first"
bank_outage true
C2=$(body 6000 "$GOOD" ceiling-2)
bad "one of 6000 while the bank is unavailable: 503" 503 upstream-unavailable - ceil-2 "$C2"
bank_outage false
export BH_PAYMENT_MAX_AMOUNT=1000
stack_up nginx || bail "the stack did not come back with BH_PAYMENT_MAX_AMOUNT=1000"
CHARGER=$(client_token reservations "payments:charge payments:refund") ||
	bail "no token for client reservations after the restart"
pay "with the ceiling lowered to 1000, the retry of the 5000 payment: 201" 201 ceil-1 "$C1"
check "... byte for byte the first answer" cmp "$BH_SCRATCH/ceil-1.first" "$RESP_BODY_FILE"
BEFORE=$(bank_count charges)
pay "... the retry of the pending 6000 one goes to the bank: 201" 201 ceil-2 "$C2"
check "... charged once" test "$(bank_count charges)" = $((BEFORE + 1))
bad "... a new payment of 5000: 400 naming amount" 400 invalid-parameter amount ceil-3 \
	"$(body 5000 "$GOOD")"
check "... charging nothing" test "$(bank_count charges)" = $((BEFORE + 1))
refund "... a refund of 3000 of the 5000 payment: 201" 201 "$PC1" ceil-r-1 '{"amount": 3000}'

# -------------------------------------------------------- no card numbers

DUMP=$BH_SCRATCH/payments.dump
"$(bh_pg_bindir)/pg_dump" -h "$VAR/pg/sock" -U postgres bellhop_payments >"$DUMP" 2>&1
check "pg_dump of the payments database worked" grep -q 'CREATE TABLE public.payments' "$DUMP"
found=
for n in $CARDS; do
	grep -q "$n" "$DUMP" && found="$found $n"
done
check "no card number in the database dump${found:+ (found:$found)}" test -z "$found"
check "... nor a cvc column" bash -c "! grep -qiw 'cvc' '$DUMP'"
found=
for n in $CARDS; do
	grep -rqs "$n" "$VAR/log" "$VAR/front" "$VAR/pg/postgres.log" && found="$found $n"
done
check "no card number in any log${found:+ (found:$found)}" test -z "$found"

finish
