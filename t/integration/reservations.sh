#!/bin/bash
# reservations.sh - the reservations service through nginx with the whole
# stack (auth, users, search, payments, the fake bank, reports,
# notifications and the SMTP sink): hold, pay, confirm, the receipt PDF
# (its text, never the card number), the recap with the receipt attached
# and the hotel's notice in the sink, list, cancel with exactly one
# refund, a late cancellation's policy; a declined card and the bank down
# keep the hold; Idempotency-Key replays; client-sent price and status
# ignored; a bad-input matrix that never gets a 500; another guest's
# reservation 404 for view, pay, cancel and receipt; no token 401, wrong
# scope 403; the internal availability endpoint; paid_at is the
# payment's own time; the cancellation grace period (a booking for
# tonight cancelled at once is refunded in full); a total above what
# payments accepts refused at hold time; at most BH_MAX_LIVE_HOLDS live
# holds per guest and BH_PAY_ATTEMPTS attempts per reservation; a hold
# run out but not marked cannot be cancelled (marked expired); a stray
# charge (an attempt that reached payments after it was settled as
# failed) refunded by reconcile, once; reconcile's backoff and the
# hotel's notice sent while the receipt cannot be made; GET .../receipt
# sends no mail; no overlapping live reservations in the database.
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/oauth.sh
. "$BH_SRCDIR/t/lib/oauth.sh"

stack_up nginx || bail "the stack did not come up behind nginx"

R=/reservations/reservations
RUN=$RANDOM$RANDOM
JSON=(-H 'Content-Type: application/json')

resv_psql() {
	bh_pg_psql "$VAR/pg" bellhop_reservations -tA "$@"
}

bearer() {
	printf 'Authorization: Bearer %s' "$1"
}

day() {
	date -u -d "+$1 days" +%F
}

# The fake bank's admin API (no auth), from the settings payments gets.
BANK_URL=$(stack_env payments | sed -n 's/^BH_BANK_URL=//p')
bank_stat() {
	curl -sS -m "$BH_CURL_TIMEOUT" "$BANK_URL/admin/stats" | jq -r "$1"
}
bank_outage() {
	curl -sS -m "$BH_CURL_TIMEOUT" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "{\"unavailable\":$1}" "$BANK_URL/admin/outage" | grep -q '^2'
}

# --------------------------------------------------------------- fixtures

ADMIN=$(client_token catalog-admin) || bail "no catalog-admin token"
SEARCH_TOKEN=$(client_token search) || bail "no token for the search client"
LISBON=$(curl -sS -m "$BH_CURL_TIMEOUT" "$BASE_URL/search/cities?prefix=Lisbon" |
	jq '[.cities[] | select(.name == "Lisbon")][0].id')
HOTEL_EMAIL=front-desk.$RUN@hotel.example.com
HOTEL_JSON=$(jq -nc --argjson city "$LISBON" --arg email "$HOTEL_EMAIL" '{
	name: "Hôtel Zürich Test", city_id: $city, address: "Rua Augusta 100",
	email: $email, stars: 4, description: "A test hotel.", currency: "EUR",
	lat: 38.71, lon: -9.13,
	room_types: [
		{ name: "Double", capacity: 2, nightly_rate: 11700, room_numbers: ["101", "102"] },
		{ name: "Single", capacity: 1, nightly_rate: 9300, room_numbers: ["201"] }
	] }')
expect_status "fixture: a test hotel with 2 Double rooms and 1 Single" 201 POST /search/hotels \
	-H "$(bearer "$ADMIN")" "${JSON[@]}" --data-binary "$HOTEL_JSON" ||
	bail "no test hotel"
HOTEL=$(jq -r .id "$RESP_BODY_FILE")
DOUBLE=$(jq -r '.room_types[] | select(.name == "Double") | .id' "$RESP_BODY_FILE")
SINGLE=$(jq -r '.room_types[] | select(.name == "Single") | .id' "$RESP_BODY_FILE")
ROOMS_JSON=$(curl -sS -m "$BH_CURL_TIMEOUT" -H "$(bearer "$ADMIN")" "$BASE_URL/search/hotels/$HOTEL/rooms")
DOUBLE_ROOMS=$(jq -c --argjson t "$DOUBLE" '[.rooms[] | select(.room_type_id == $t) | .id]' <<<"$ROOMS_JSON")
SINGLE_ROOMS=$(jq -c --argjson t "$SINGLE" '[.rooms[] | select(.room_type_id == $t) | .id]' <<<"$ROOMS_JSON")
check "fixture: the hotel's rooms are listed (2 Double, 1 Single)" \
	test "$(jq length <<<"$DOUBLE_ROOMS") $(jq length <<<"$SINGLE_ROOMS")" = "2 1"

ALICE=alice.$RUN@example.com
BOB=bob.$RUN@example.com
user_signup "$ALICE" 'alice password 1' 'Alice Kraków' >/dev/null || bail "sign-up of Alice"
user_signup "$BOB" 'bob password 1' 'Bob' >/dev/null || bail "sign-up of Bob"
TA=$(user_login "$ALICE" 'alice password 1') || bail "sign-in of Alice"
TB=$(user_login "$BOB" 'bob password 1') || bail "sign-in of Bob"
pass "fixture: Alice and Bob signed up and signed in (scope bookings)"

IN=$(day 10)
OUT=$(day 13)

# hold NAME STATUS TOKEN JSON [CURL ARGS...]: POST /reservations.
hold() {
	local name=$1 status=$2 token=$3 body=$4
	shift 4
	expect_status "$name" "$status" POST $R -H "$(bearer "$token")" "${JSON[@]}" \
		--data-binary "$body" "$@"
}

# bad NAME STATUS SLUG PARAM METHOD URL TOKEN JSON [CURL ARGS...]: a
# problem naming PARAM ("-" for none).
bad() {
	local name=$1 status=$2 slug=$3 param=$4 method=$5 url=$6 token=$7 body=$8
	shift 8
	expect_problem "$name" "$status" "$slug" "$method" "$url" -H "$(bearer "$token")" \
		"${JSON[@]}" --data-binary "$body" "$@"
	[ "$param" = - ] && return 0
	jq -e --arg p "$param" '.param == $p' "$RESP_BODY_FILE" >/dev/null ||
		fail "$name: names $param" "$(resp_summary)"
}

body() {
	jq -nc --argjson h "$HOTEL" --argjson t "${2:-$DOUBLE}" --arg i "${3:-$IN}" \
		--arg o "${4:-$OUT}" --argjson g "${1:-2}" \
		'{hotel_id: $h, room_type_id: $t, checkin: $i, checkout: $o, guests: $g}'
}

# ------------------------------------------------------------------ access

expect_problem "POST /reservations without a token: 401" 401 unauthorized POST $R \
	"${JSON[@]}" --data-binary "$(body)"
expect_header "... with WWW-Authenticate: Bearer" WWW-Authenticate 'Bearer.*'
expect_problem "GET /reservations without a token: 401" 401 unauthorized GET $R
expect_problem "a token for another audience (catalog-admin, search): 401" 401 unauthorized \
	GET $R -H "$(bearer "$ADMIN")"
expect_problem "a service token without the scope bookings: 403" 403 insufficient-scope \
	POST $R -H "$(bearer "$SEARCH_TOKEN")" "${JSON[@]}" --data-binary "$(body)"
expect_problem "a guest's token on the internal availability route: 403" 403 insufficient-scope \
	POST /reservations/internal/availability -H "$(bearer "$TA")" "${JSON[@]}" \
	--data-binary "{\"checkin\":\"$IN\",\"checkout\":\"$OUT\",\"hotels\":[]}"

# ------------------------------------------------------------- validation

bad "checkout before checkin: 400 naming checkout" 400 invalid-parameter checkout POST $R "$TA" \
	"$(body 2 "$DOUBLE" "$OUT" "$IN")"
bad "checkout equal to checkin: 400 naming checkout" 400 invalid-parameter checkout POST $R "$TA" \
	"$(body 2 "$DOUBLE" "$IN" "$IN")"
bad "checkin in the past: 400 naming checkin" 400 invalid-parameter checkin POST $R "$TA" \
	"$(body 2 "$DOUBLE" "$(date -u -d '-1 day' +%F)" "$OUT")"
bad "more than 30 nights: 400 naming checkout" 400 invalid-parameter checkout POST $R "$TA" \
	"$(body 2 "$DOUBLE" "$IN" "$(day 41)")"
bad "more than 730 days ahead: 400 naming checkin" 400 invalid-parameter checkin POST $R "$TA" \
	"$(body 2 "$DOUBLE" "$(day 800)" "$(day 802)")"
bad "3 guests in a Double (capacity 2): 400 naming guests" 400 invalid-parameter guests POST $R "$TA" \
	"$(body 3)"
bad "0 guests: 400 naming guests" 400 invalid-parameter guests POST $R "$TA" "$(body 0)"
bad "21 guests: 400 naming guests" 400 invalid-parameter guests POST $R "$TA" "$(body 21)"
bad "February 30th: 400 naming checkin" 400 invalid-parameter checkin POST $R "$TA" \
	"$(jq -c '.checkin = "2027-02-30"' <<<"$(body)")"
bad "a date with a time: 400 naming checkout" 400 invalid-parameter checkout POST $R "$TA" \
	"$(jq -c '.checkout += "T00:00:00Z"' <<<"$(body)")"
bad "hotel_id as a string: 400 naming hotel_id" 400 invalid-parameter hotel_id POST $R "$TA" \
	"$(jq -c '.hotel_id |= tostring' <<<"$(body)")"
bad "a huge hotel_id: 400" 400 invalid-parameter hotel_id POST $R "$TA" \
	"$(body | sed 's/"hotel_id":[0-9]*/"hotel_id":99999999999999999999999/')"
bad "guests 2.5: 400 naming guests" 400 invalid-parameter guests POST $R "$TA" \
	"$(jq -c '.guests = 2.5' <<<"$(body)")"
bad "an unknown member: 400 naming it" 400 invalid-parameter room POST $R "$TA" \
	"$(jq -c '.room = 101' <<<"$(body)")"
bad "a missing member: 400 naming it" 400 invalid-parameter checkout POST $R "$TA" \
	"$(jq -c 'del(.checkout)' <<<"$(body)")"
bad "malformed JSON: 400" 400 malformed-body - POST $R "$TA" '{"hotel_id": 1,'
bad "a member given twice: 400" 400 malformed-body - POST $R "$TA" \
	"{\"hotel_id\":$HOTEL,\"hotel_id\":$HOTEL}"
bad "a JSON array body: 400" 400 "bad-request|malformed-body|invalid-parameter" - POST $R "$TA" '[1,2]'
expect_problem "bad UTF-8 in the body: 400" 400 "malformed-body|invalid-parameter" POST $R \
	-H "$(bearer "$TA")" "${JSON[@]}" --data-binary $'{"hotel_id":1,"x":"\xc3\x28"}'
expect_problem "a form body: refused (400/415)" "400|415" "invalid-parameter|unsupported-media-type" \
	POST $R -H "$(bearer "$TA")" \
	--data-urlencode "hotel_id=$HOTEL"
bad "a hotel that does not exist: 404" 404 not-found hotel_id POST $R "$TA" \
	"$(jq -c '.hotel_id = 2147483000' <<<"$(body)")"
bad "a room type of another hotel: 404" 404 not-found room_type_id POST $R "$TA" \
	"$(jq -c '.room_type_id = 2147483000' <<<"$(body)")"
bad "an Idempotency-Key too long: 400" 400 invalid-parameter Idempotency-Key POST $R "$TA" "$(body)" \
	-H "Idempotency-Key: $(head -c 300 /dev/zero | tr '\0' k)"
check "no validation failure reached the database" test "$(resv_psql -c 'SELECT count(*) FROM reservations')" = 0

# -------------------------------------------------------------------- hold

IGNORED=$(jq -c '. + {price: 1, total: 1, nightly_rate: 1, status: "confirmed", currency: "JPY"}' <<<"$(body)")
hold "hold a Double for 3 nights (price and status sent by the client): 201" 201 "$TA" "$IGNORED" \
	-H "Idempotency-Key: hold-$RUN"
A1=$(jq -r .id "$RESP_BODY_FILE")
HOLD1=$(cat "$RESP_BODY_FILE")
expect_jq "... held, priced from the catalogue: 3 x 117.00 EUR = 351.00 EUR" \
	'.status == "held" and .nightly_rate == 11700 and .total == 35100 and .currency == "EUR"
	 and .nights == 3 and .guests == 2 and .checkin == $i and .checkout == $o'  --arg i "$IN" --arg o "$OUT"
expect_jq "... with the hotel, the room type, a hold expiry, no payment, refund or receipt yet" \
	'.hotel.id == $h and .hotel.name == "Hôtel Zürich Test" and .room_type.name == "Double"
	 and (.hold_expires_at | test("^[0-9-]{10}T[0-9:]{8}Z$")) and .payment == null
	 and .refund == null and .receipt_url == null and (.id | test("^[0-9a-f-]{36}$"))' \
	--argjson h "$HOTEL"
expect_header "... Location is the reservation" Location "$R/$A1"
hold "the same Idempotency-Key and body again: 201 replayed" 201 "$TA" "$IGNORED" \
	-H "Idempotency-Key: hold-$RUN"
check "... byte for byte, the same reservation" test "$(cat "$RESP_BODY_FILE")" = "$HOLD1"
expect_header "... marked Idempotent-Replayed" Idempotent-Replayed true
bad "the same Idempotency-Key with another body: 422" 422 idempotency-key-reused Idempotency-Key \
	POST $R "$TA" "$(body 1)" -H "Idempotency-Key: hold-$RUN"
hold "Bob holds the other Double for the same nights: 201" 201 "$TB" "$(body)"
B1=$(jq -r .id "$RESP_BODY_FILE")
bad "a third Double for those nights: 409, no room free" 409 conflict - POST $R "$TA" "$(body 1)"
hold "a Double from the day the others leave (check-in on a check-out day): 201" 201 "$TA" \
	"$(body 2 "$DOUBLE" "$OUT" "$(day 15)")"
A2=$(jq -r .id "$RESP_BODY_FILE")
check "the database keeps one live reservation per room and night (no overlaps)" \
	test "$(resv_psql -c "SELECT count(*) FROM reservations a JOIN reservations b
		ON a.room_id = b.room_id AND a.id < b.id AND a.stay && b.stay
		WHERE a.status IN ('held','payment_pending','confirmed')
		  AND b.status IN ('held','payment_pending','confirmed')")" = 0

# ---------------------------------------------------------- availability

AV=/reservations/internal/availability
avail_body() {
	jq -nc --arg i "$1" --arg o "$2" --argjson h "$HOTEL" --argjson d "$DOUBLE_ROOMS" \
		--argjson s "$SINGLE_ROOMS" '{checkin: $i, checkout: $o,
		hotels: [{hotel_id: $h, room_ids: ($d + $s)}, {hotel_id: 7, room_ids: [2147483000]}]}'
}
expect_status "availability for the held nights (search's token): 200" 200 POST $AV \
	-H "$(bearer "$SEARCH_TOKEN")" "${JSON[@]}" --data-binary "$(avail_body "$IN" "$OUT")"
expect_jq "... only the Single is free at the test hotel; the other hotel's room is free" \
	'.checkin == $i and .hotels[0].hotel_id == $h and .hotels[0].free_room_ids == $s
	 and .hotels[1] == {hotel_id: 7, free_room_ids: [2147483000]}' \
	--arg i "$IN" --argjson h "$HOTEL" --argjson s "$SINGLE_ROOMS"
expect_status "availability for later nights: 200" 200 POST $AV -H "$(bearer "$SEARCH_TOKEN")" \
	"${JSON[@]}" --data-binary "$(avail_body "$(day 20)" "$(day 22)")"
expect_jq "... every room free" '.hotels[0].free_room_ids == ($d + $s)' \
	--argjson d "$DOUBLE_ROOMS" --argjson s "$SINGLE_ROOMS"
bad "availability: hotels not an array: 400" 400 invalid-parameter hotels POST $AV "$SEARCH_TOKEN" \
	"{\"checkin\":\"$IN\",\"checkout\":\"$OUT\",\"hotels\":{}}"
bad "availability: a room id that is a string: 400 naming it" 400 invalid-parameter \
	'hotels[0].room_ids[1]' POST $AV "$SEARCH_TOKEN" \
	"{\"checkin\":\"$IN\",\"checkout\":\"$OUT\",\"hotels\":[{\"hotel_id\":1,\"room_ids\":[1,\"2\"]}]}"
bad "availability: 501 hotels: 400" 400 invalid-parameter hotels POST $AV "$SEARCH_TOKEN" \
	"$(jq -nc --arg i "$IN" --arg o "$OUT" '{checkin: $i, checkout: $o,
		hotels: [range(501) | {hotel_id: (. + 1), room_ids: [1]}]}')"
bad "availability: 20001 rooms: 400" 400 invalid-parameter hotels POST $AV "$SEARCH_TOKEN" \
	"$(jq -nc --arg i "$IN" --arg o "$OUT" '{checkin: $i, checkout: $o,
		hotels: [{hotel_id: 1, room_ids: [range(1; 20002)]}]}')"
bad "availability: checkout before checkin: 400" 400 invalid-parameter checkout POST $AV \
	"$SEARCH_TOKEN" "$(avail_body "$OUT" "$IN")"

# ---------------------------------------------------------- view and list

expect_status "Alice views her reservation: 200" 200 GET "$R/$A1" -H "$(bearer "$TA")"
expect_jq "... the same reservation" '.id == $id and .status == "held"' --arg id "$A1"
for what in "GET $R/$A1" "GET $R/$A1/receipt"; do
	expect_problem "Bob: $what (Alice's) is a 404" 404 not-found ${what% *} "${what#* }" \
		-H "$(bearer "$TB")"
done
expect_problem "Bob: POST $R/$A1/cancel (Alice's) is a 404" 404 not-found POST "$R/$A1/cancel" \
	-H "$(bearer "$TB")"
expect_problem "Bob: POST $R/$A1/payment (Alice's) is a 404" 404 not-found POST "$R/$A1/payment" \
	-H "$(bearer "$TB")" "${JSON[@]}" --data-binary '{"bank_token":"tok_visa"}'
expect_problem "a reservation id that is not a uuid: 404" 404 not-found GET "$R/12345" -H "$(bearer "$TA")"
expect_problem "a uuid no reservation has: 404" 404 not-found GET "$R/00000000-0000-4000-8000-000000000000" \
	-H "$(bearer "$TA")"
check "Bob's attempts changed nothing of Alice's reservation" \
	test "$(resv_psql -c "SELECT status || payment_attempts FROM reservations WHERE id = '$A1'")" = held0
expect_status "Alice's list: 200" 200 GET "$R?per_page=1" -H "$(bearer "$TA")"
expect_jq "... 2 in all, one a page, newest first" \
	'.total == 2 and .page == 1 and .per_page == 1 and (.reservations | length) == 1
	 and .reservations[0].id == $id' --arg id "$A2"
expect_status "Alice's list, page 2: 200" 200 GET "$R?per_page=1&page=2" -H "$(bearer "$TA")"
expect_jq "... the older one" '.reservations[0].id == $id' --arg id "$A1"
expect_problem "per_page=1000: 400" 400 invalid-parameter GET "$R?per_page=1000" -H "$(bearer "$TA")"
expect_problem "page=abc: 400" 400 invalid-parameter GET "$R?page=abc" -H "$(bearer "$TA")"
expect_problem "the receipt before payment: 409" 409 conflict GET "$R/$A1/receipt" -H "$(bearer "$TA")"

# --------------------------------------------------------- pay validation

pay() {
	local name=$1 status=$2 token=$3 id=$4 body=$5
	expect_status "$name" "$status" POST "$R/$id/payment" -H "$(bearer "$token")" "${JSON[@]}" \
		--data-binary "$body"
}
card() {
	jq -nc --arg n "$1" --argjson y "$(($(date -u +%Y) + 2))" --arg c "${2:-123}" \
		'{card: {number: $n, exp_month: 12, exp_year: $y, cvc: $c, holder: "Alice Kraków"}}'
}
bad "pay with neither card nor bank_token: 400" 400 invalid-parameter card POST "$R/$A1/payment" "$TA" '{}'
bad "pay with both: 400" 400 invalid-parameter card POST "$R/$A1/payment" "$TA" \
	"$(jq -c '.bank_token = "tok_visa"' <<<"$(card 4242424242424242)")"
bad "a card number with letters: 400 naming card.number" 400 invalid-parameter card.number \
	POST "$R/$A1/payment" "$TA" "$(card 42424242424242ab)"
bad "exp_month 13: 400 naming card.exp_month" 400 invalid-parameter card.exp_month \
	POST "$R/$A1/payment" "$TA" "$(jq -c '.card.exp_month = 13' <<<"$(card 4242424242424242)")"
bad "an unknown member in card: 400" 400 invalid-parameter card.pin \
	POST "$R/$A1/payment" "$TA" "$(jq -c '.card.pin = "1234"' <<<"$(card 4242424242424242)")"
bad "card as a string: 400 naming card" 400 invalid-parameter card \
	POST "$R/$A1/payment" "$TA" '{"card":"4242424242424242"}'
bad "a number failing the Luhn check: 400 naming card.number" 400 invalid-parameter card.number \
	POST "$R/$A1/payment" "$TA" "$(card 4242424242424241)"
check "... the hold is kept after the refused payments" \
	test "$(resv_psql -c "SELECT status FROM reservations WHERE id = '$A1'")" = held

# ---------------------------------------------------------- declined, down

CHARGES0=$(bank_stat .charges.count)
AMOUNT0=$(bank_stat .charges.amount)
bad "a declined card (insufficient funds): 402" 402 payment-declined - POST "$R/$A1/payment" "$TA" \
	"$(card 4000000000009995)"
expect_jq "... with the decline code and the payment's id" \
	'.decline_code == "insufficient_funds" and (.payment_id | type) == "string"'
expect_status "... the reservation is still held" 200 GET "$R/$A1" -H "$(bearer "$TA")"
expect_jq "... with its hold expiry unchanged" '.status == "held" and .hold_expires_at == $e' \
	--arg e "$(jq -r .hold_expires_at <<<"$HOLD1")"
check "the bank is made unavailable" bank_outage true
bad "paying while the bank is down: 503" 503 upstream-unavailable - POST "$R/$A1/payment" "$TA" \
	"$(card 4242424242424242)"
check "the bank is back" bank_outage false
check "... still held, and the bank charged nothing" \
	test "$(resv_psql -c "SELECT status FROM reservations WHERE id = '$A1'") $(bank_stat .charges.count)" = "held $CHARGES0"

# ------------------------------------------------------ pay and confirm

pay "pay with a good card: 200" 200 "$TA" "$A1" "$(card 4242424242424242)"
expect_jq "... confirmed, visa ending in 4242, with a receipt URL" \
	'.status == "confirmed" and .payment.brand == "visa" and .payment.last4 == "4242"
	 and (.payment.id | type) == "string" and .hold_expires_at == null
	 and .receipt_url == $u' --arg u "$R/$A1/receipt"
SVC=$(client_token reservations) || bail "no token for the client reservations"
PAID_AT=$(jq -r .payment.paid_at "$RESP_BODY_FILE")
PAYMENT_CREATED=$(curl -sS -m "$BH_CURL_TIMEOUT" -H "$(bearer "$SVC")" \
	"$BASE_URL/payments/payments/$(jq -r .payment.id "$RESP_BODY_FILE")" | jq -r .created_at)
check "... paid_at is the payment's created_at at payments ($PAID_AT)" \
	test -n "$PAID_AT" -a "$PAID_AT" = "$PAYMENT_CREATED"
check "the bank has exactly one more charge, of 351.00" \
	test "$(bank_stat .charges.count) $(bank_stat .charges.amount)" = "$((CHARGES0 + 1)) $((AMOUNT0 + 35100))"
pay "paying the confirmed reservation again: 200" 200 "$TA" "$A1" "$(card 5555555555554444)"
expect_jq "... unchanged" '.status == "confirmed" and .payment.last4 == "4242"'
check "... and nothing more was charged" test "$(bank_stat .charges.count)" = $((CHARGES0 + 1))
check "no card number or cvc in the reservations database" \
	test "$(resv_psql -c "SELECT count(*) FROM reservations WHERE row_to_json(reservations)::text LIKE '%4242424242424242%'")" = 0
check "no card number in any service log" bash -c "! grep -rl 4242424242424242 '$VAR/log'"

expect_status "the receipt: 200" 200 GET "$R/$A1/receipt" -H "$(bearer "$TA")"
expect_content_type "... application/pdf" application/pdf
cp "$RESP_BODY_FILE" "$SCRATCH/receipt.pdf"
check "... a PDF that opens (pdfinfo)" pdfinfo "$SCRATCH/receipt.pdf"
pdftotext -layout "$SCRATCH/receipt.pdf" "$SCRATCH/receipt.txt" 2>/dev/null
receipt_has() {
	grep -qF -- "$1" "$SCRATCH/receipt.txt"
}
for want in "Alice Kraków" "Hôtel Zürich Test" "$IN" "$OUT" "night of $(day 11)" "night of $(day 12)" \
	"351.00 EUR" "4242"; do
	check "the receipt shows $want" receipt_has "$want"
done
check "the receipt shows the card brand" grep -qi visa "$SCRATCH/receipt.txt"
check "the receipt shows 3 nights" grep -qE '(^|[^0-9])3([^0-9]|$)' "$SCRATCH/receipt.txt"
check "the receipt never shows the card number" bash -c "! grep -q 4242424242424242 '$SCRATCH/receipt.txt'"
SUM1=$(sha256sum <"$SCRATCH/receipt.pdf")
expect_status "the receipt again: 200" 200 GET "$R/$A1/receipt" -H "$(bearer "$TA")"
check "... the same bytes (stored once)" test "$(sha256sum <"$RESP_BODY_FILE")" = "$SUM1"

# mail_about ADDR REGEX: the first message to ADDR whose subject matches.
mail_about() {
	local f
	for f in $(mail_list "$1"); do
		jq -e --arg re "$2" '.subject | test($re)' "$f" >/dev/null 2>&1 && {
			printf '%s\n' "$f"
			return 0
		}
	done
	return 1
}
wait_until 20 mail_about "$ALICE" "is confirmed"
RECAP=$(mail_about "$ALICE" "is confirmed")
check "the recap reached Alice in the SMTP sink" test -n "$RECAP"
check "... with the receipt PDF attached" \
	jq -e '[.attachments[]? | select(.content_type == "application/pdf" or (.filename // "" | endswith(".pdf")))] | length == 1' "$RECAP"
NOTICE=$(mail_wait "$HOTEL_EMAIL" 20)
check "the hotel's notice reached $HOTEL_EMAIL" test -n "$NOTICE"
check "... naming the guest and the dates" \
	jq -e --arg i "$IN" '(.text | contains("Alice Kraków")) and (.text | contains($i))' "$NOTICE"
check "the receipt and both mails are marked done" \
	test "$(resv_psql -c "SELECT receipt IS NOT NULL AND recap_sent_at IS NOT NULL
		AND hotel_notice_sent_at IS NOT NULL FROM reservations WHERE id = '$A1'")" = t

# ------------------------------------------------------------------ cancel

REFUNDS0=$(bank_stat .refunds.count)
expect_status "cancel the confirmed stay 10 days ahead: 200" 200 POST "$R/$A1/cancel" -H "$(bearer "$TA")"
expect_jq "... cancelled with a full refund" \
	'.status == "cancelled" and .refund.amount == 35100 and .refund.status == "succeeded"'
check "the bank made exactly one refund" test "$(bank_stat .refunds.count)" = $((REFUNDS0 + 1))
expect_status "a second cancel: 200" 200 POST "$R/$A1/cancel" -H "$(bearer "$TA")"
expect_jq "... unchanged" '.status == "cancelled" and .refund.amount == 35100'
check "... and no second refund" test "$(bank_stat .refunds.count)" = $((REFUNDS0 + 1))
check "the cancellation mail reached Alice" wait_until 20 mail_about "$ALICE" "is cancelled"
expect_status "the cancelled stay's receipt is still there: 200" 200 GET "$R/$A1/receipt" -H "$(bearer "$TA")"
check "... unchanged" test "$(sha256sum <"$RESP_BODY_FILE")" = "$SUM1"
hold "the cancelled stay's room can be held again: 201" 201 "$TA" "$(body 1)"
A3=$(jq -r .id "$RESP_BODY_FILE")
expect_status "cancelling a held (unpaid) reservation: 200" 200 POST "$R/$A3/cancel" -H "$(bearer "$TA")"
expect_jq "... cancelled, nothing to refund" '.status == "cancelled" and .refund == null and .payment == null'
expect_problem "paying a cancelled reservation: 409" 409 conflict POST "$R/$A3/payment" \
	-H "$(bearer "$TA")" "${JSON[@]}" --data-binary "$(card 4242424242424242)"

# Late: check-in tomorrow, within BH_CANCEL_FREE_HOURS (48): all but the
# first night is refunded.
hold "a Single from tomorrow for 2 nights: 201" 201 "$TB" "$(body 1 "$SINGLE" "$(day 1)" "$(day 3)")"
B2=$(jq -r .id "$RESP_BODY_FILE")
pay "Bob pays it: 200" 200 "$TB" "$B2" "$(card 378282246310005 1234)"
expect_jq "... confirmed with an amex" '.status == "confirmed" and .payment.brand == "amex" and .payment.last4 == "0005"'
# past the grace period after payment (BH_CANCEL_GRACE_MINUTES, 60)
resv_psql -c "UPDATE reservations SET confirmed_at = now() - interval '2 hours' WHERE id = '$B2'" >/dev/null
expect_status "Bob cancels it late: 200" 200 POST "$R/$B2/cancel" -H "$(bearer "$TB")"
expect_jq "... refunded all but the first night (186.00 - 93.00)" \
	'.status == "cancelled" and .refund.amount == 9300 and .refund.status == "succeeded"'

# A booking for tonight: cancelled at once it is refunded in full (the
# grace period); two hours after its payment, on its check-in day, never.
hold "a Single for tonight: 201" 201 "$TB" "$(body 1 "$SINGLE" "$(day 0)" "$(day 1)")"
B3=$(jq -r .id "$RESP_BODY_FILE")
pay "Bob pays it: 200" 200 "$TB" "$B3" "$(card 4242424242424242)"
expect_status "Bob cancels it at once: 200" 200 POST "$R/$B3/cancel" -H "$(bearer "$TB")"
expect_jq "... refunded in full within the grace period, on the check-in day" \
	'.status == "cancelled" and .refund.amount == 9300 and .refund.status == "succeeded"'
hold "tonight's Single again: 201" 201 "$TB" "$(body 1 "$SINGLE" "$(day 0)" "$(day 1)")"
B4=$(jq -r .id "$RESP_BODY_FILE")
pay "Bob pays it: 200" 200 "$TB" "$B4" "$(card 4242424242424242)"
resv_psql -c "UPDATE reservations SET confirmed_at = now() - interval '2 hours' WHERE id = '$B4'" >/dev/null
expect_problem "cancelling it two hours after payment on its check-in day: 409" 409 conflict \
	POST "$R/$B4/cancel" -H "$(bearer "$TB")"
expect_status "... it stays confirmed" 200 GET "$R/$B4" -H "$(bearer "$TB")"
expect_jq "... confirmed, no refund" '.status == "confirmed" and .refund == null'
expect_status "Bob's Double is still held" 200 GET "$R/$B1" -H "$(bearer "$TB")"
expect_jq "... held" '.status == "held"'

# ------------------------------------------- expiry, pending, reconcile

# A hold whose time is up blocks nobody: Alice's later Double (A2) is
# made to have expired.
resv_psql -c "UPDATE reservations SET hold_expires_at = now() - interval '1 second' WHERE id = '$A2'" >/dev/null
expect_status "availability: the room of an expired hold is free" 200 POST $AV \
	-H "$(bearer "$SEARCH_TOKEN")" "${JSON[@]}" --data-binary "$(avail_body "$OUT" "$(day 15)")"
expect_jq "... both Doubles free" '.hotels[0].free_room_ids == ($d + $s)' \
	--argjson d "$DOUBLE_ROOMS" --argjson s "$SINGLE_ROOMS"
expect_problem "paying an expired hold: 409" 409 conflict POST "$R/$A2/payment" \
	-H "$(bearer "$TA")" "${JSON[@]}" --data-binary "$(card 4242424242424242)"
expect_status "... which is now expired" 200 GET "$R/$A2" -H "$(bearer "$TA")"
expect_jq "... status expired, no hold expiry shown" '.status == "expired" and .hold_expires_at == null'
expect_problem "cancelling an expired hold: 409" 409 conflict POST "$R/$A2/cancel" -H "$(bearer "$TA")"
hold "Bob holds both Doubles for those nights: the first 201" 201 "$TB" "$(body 2 "$DOUBLE" "$OUT" "$(day 15)")"
hold "... the second 201" 201 "$TB" "$(body 2 "$DOUBLE" "$OUT" "$(day 15)")"

# From here on only this test's reconcile commands settle anything: the
# stack's loop is stopped.
RECONCILE_PID=$(cat "$VAR/run/reservations-reconcile.pid" 2>/dev/null)
[ -n "$RECONCILE_PID" ] && kill -TERM "$RECONCILE_PID" 2>/dev/null
check "the stack's reservations reconcile loop is stopped" wait_until 40 bh_pid_gone "${RECONCILE_PID:-0}"
reconcile() {
	service_run reservations reconcile >"$SCRATCH/reconcile.out" 2>"$SCRATCH/reconcile.err"
}

# An attempt payments never heard of, made just now, may still be in
# flight: paying again is a 409, and nothing is charged.
resv_psql -c "UPDATE reservations SET status = 'payment_pending', payment_attempts = payment_attempts + 1,
	payment_started_at = now() WHERE id = '$B1'" >/dev/null
CHARGES1=$(bank_stat .charges.count)
expect_problem "paying while an attempt may be in flight: 409" 409 conflict POST "$R/$B1/payment" \
	-H "$(bearer "$TB")" "${JSON[@]}" --data-binary "$(card 4242424242424242)"
expect_problem "cancelling while a payment is in progress: 409" 409 conflict POST "$R/$B1/cancel" \
	-H "$(bearer "$TB")"
# ... once its call must have ended, reconcile finds payments never had
# it and puts the room back on hold.
resv_psql -c "UPDATE reservations SET payment_started_at = now() - interval '1 hour' WHERE id = '$B1'" >/dev/null
reconcile
check "reconcile exits 0" test $? = 0
check "... and says it released one payment attempt" \
	grep -q '^reconcile: 1 payments settled (0 confirmed, 1 released)' "$SCRATCH/reconcile.out"
expect_status "Bob's Double is held again" 200 GET "$R/$B1" -H "$(bearer "$TB")"
expect_jq "... held" '.status == "held" and .payment == null'
pay "Bob pays it now: 200" 200 "$TB" "$B1" "$(card 5555555555554444)"
expect_jq "... confirmed with a mastercard" '.status == "confirmed" and .payment.brand == "mastercard"'
check "... with one charge at the bank" test "$(bank_stat .charges.count)" = $((CHARGES1 + 1))
expect_status "Bob's list has his 6 reservations" 200 GET "$R" -H "$(bearer "$TB")"
expect_jq "... all his" '.total == 6 and ([.reservations[].id] | index($a) == null)' --arg a "$A1"

# -------------------------------------------------------- hostile bodies

# never a 5xx, whatever the body: each answer a 4xx problem
hostile_ok() {
	local url=$1 token=$2 body bad=0
	while IFS= read -r body; do
		http POST "$url" -H "$(bearer "$token")" "${JSON[@]}" --data-binary "$body"
		if ! status_is '4[0-9][0-9]' || [ "$(resp_header Content-Type)" != application/problem+json ]; then
			echo "$RESP_STATUS for body: ${body:0:200}"
			bad=1
		fi
	done <"$SCRATCH/hostile.txt"
	return $bad
}
{
	printf '%s\n' '' 'null' '"x"' '1e999' '[]' '{}' '{"hotel_id":1e400}' '{"hotel_id":-1}' \
		'{"hotel_id":null,"room_type_id":null,"checkin":null,"checkout":null,"guests":null}' \
		'{"checkin":"0000-00-00"}' '{"checkin":"9999-12-31","checkout":"10000-01-01"}' \
		'{"card":{"number":null}}' '{"card":[]}' '{"card":{"number":"4242424242424242","exp_month":"12"}}' \
		'{"bank_token":""}' '{"bank_token":"\u0000"}' '{"hotels":[[]]}' '{"hotels":[{"hotel_id":1}]}' \
		'{"\ud800":1}' '{"guests":18446744073709551616}'
	printf '%0.s[' $(seq 200); printf '\n'
	printf '{"hotel_id":"%s"}\n' "$(head -c 100000 /dev/zero | tr '\0' a)"
} >"$SCRATCH/hostile.txt"
check "hostile bodies to POST /reservations: only 4xx problems" hostile_ok $R "$TA"
check "... to POST /reservations/{id}/payment: only 4xx problems" hostile_ok "$R/$B1/payment" "$TB"
check "... to POST /reservations/internal/availability: only 4xx problems" hostile_ok $AV "$SEARCH_TOKEN"
expect_status "Bob's confirmed reservation is untouched by them" 200 GET "$R/$B1" -H "$(bearer "$TB")"
expect_jq "... confirmed" '.status == "confirmed"'

# ------------------------------------------------- a total too large

PALACE_JSON=$(jq -nc --argjson city "$LISBON" '{
	name: "Palace Test", city_id: $city, address: "Praça do Comércio 1",
	email: "palace@hotel.example.com", stars: 5, description: "Dear.", currency: "EUR",
	lat: 38.70, lon: -9.13,
	room_types: [
		{ name: "Royal", capacity: 2, nightly_rate: 60000000, room_numbers: ["1"] },
		{ name: "Crown", capacity: 2, nightly_rate: 150000000, room_numbers: ["2"] }
	] }')
expect_status "fixture: a hotel at 600,000.00 and 1,500,000.00 EUR a night" 201 POST /search/hotels \
	-H "$(bearer "$ADMIN")" "${JSON[@]}" --data-binary "$PALACE_JSON"
PALACE=$(jq -r .id "$RESP_BODY_FILE")
ROYAL=$(jq -r '.room_types[] | select(.name == "Royal") | .id' "$RESP_BODY_FILE")
CROWN=$(jq -r '.room_types[] | select(.name == "Crown") | .id' "$RESP_BODY_FILE")
palace_body() {
	jq -nc --argjson h "$PALACE" --argjson t "$1" --arg i "$(day 30)" --arg o "$(day "$2")" \
		'{hotel_id: $h, room_type_id: $t, checkin: $i, checkout: $o, guests: 1}'
}
bad "2 nights of 600,000.00 (above payments' 1,000,000.00): 400 naming checkout" 400 \
	invalid-parameter checkout POST $R "$TA" "$(palace_body "$ROYAL" 32)"
expect_jq "... saying one night can be paid at once" '.detail | test("at most 1 night")'
bad "1 night of 1,500,000.00: 409" 409 conflict - POST $R "$TA" "$(palace_body "$CROWN" 31)"
check "... neither reached the database" test \
	"$(resv_psql -c "SELECT count(*) FROM reservations WHERE hotel_id = $PALACE")" = 0

# ------------------------------------------------------------- limits

CAROL=carol.$RUN@example.com
user_signup "$CAROL" 'carol password 1' 'Carol' >/dev/null || bail "sign-up of Carol"
TC=$(user_login "$CAROL" 'carol password 1') || bail "sign-in of Carol"
C=()
for n in 0 1 2 3 4; do
	hold "Carol's hold $((n + 1)) of 5: 201" 201 "$TC" "$(body 1 "$DOUBLE" "$(day $((100 + 2 * n)))" \
		"$(day $((101 + 2 * n)))")"
	C[n]=$(jq -r .id "$RESP_BODY_FILE")
done
bad "a sixth live hold: 409" 409 conflict - POST $R "$TC" "$(body 1 "$DOUBLE" "$(day 110)" "$(day 111)")"
expect_jq "... saying why" '.detail | test("the most at once")'
resv_psql -c "UPDATE reservations SET hold_expires_at = now() - interval '1 second' WHERE id = '${C[4]}'" >/dev/null
hold "once one hold has run out, the sixth: 201" 201 "$TC" "$(body 1 "$DOUBLE" "$(day 110)" "$(day 111)")"
expect_problem "cancelling the hold that ran out (not yet marked): 409" 409 conflict \
	POST "$R/${C[4]}/cancel" -H "$(bearer "$TC")"
expect_status "... which is now expired" 200 GET "$R/${C[4]}" -H "$(bearer "$TC")"
expect_jq "... status expired" '.status == "expired"'

CHARGES2=$(bank_stat .charges.count)
bad "a card payments refuses before the bank (Luhn): 400, not counted as an attempt" 400 \
	invalid-parameter card.number POST "$R/${C[0]}/payment" "$TC" "$(card 4242424242424241)"
for n in 1 2 3 4 5; do
	bad "declined attempt $n of 5: 402" 402 payment-declined - POST "$R/${C[0]}/payment" "$TC" \
		"$(card 4000000000000002)"
done
expect_jq "... saying the room stays held" '.detail | test("stays held until")'
bad "a sixth attempt: 409" 409 conflict - POST "$R/${C[0]}/payment" "$TC" "$(card 4242424242424242)"
expect_jq "... saying the attempts are used up" '.detail | test("payment attempts")'
check "... nothing charged" test "$(bank_stat .charges.count)" = "$CHARGES2"

# ------------------------------------------------------- a stray charge

# Attempt 1 of C[1] was made long ago and payments never heard of it:
# reconcile releases it.  Then the request arrives after all (it sat in
# a queue) and charges; the guest pays with attempt 2.  The stray charge
# is found once the attempts are over, and refunded, once.
resv_psql -c "UPDATE reservations SET status = 'payment_pending', payment_attempts = 1,
	payment_started_at = now() - interval '1 hour' WHERE id = '${C[1]}'" >/dev/null
reconcile
check "reconcile releases the attempt payments never heard of" \
	grep -q '^reconcile: 1 payments settled (0 confirmed, 1 released)' "$SCRATCH/reconcile.out"
LATE=$(jq -nc --argjson c "$(card 4242424242424242 | jq .card)" --arg r "reservation-${C[1]}" \
	'{amount: 11700, currency: "EUR", card: $c, reference: $r, description: "a late request"}')
REFUNDS1=$(bank_stat .refunds.count)
REFUNDED1=$(bank_stat .refunds.amount)
expect_status "the late request of attempt 1 reaches payments and charges: 201" 201 POST /payments/payments \
	-H "$(bearer "$SVC")" -H "Idempotency-Key: reservation-${C[1]}-1" "${JSON[@]}" --data-binary "$LATE"
STRAY=$(jq -r .id "$RESP_BODY_FILE")
pay "Carol pays the reservation (attempt 2): 200" 200 "$TC" "${C[1]}" "$(card 5555555555554444)"
OWN=$(jq -r .payment.id "$RESP_BODY_FILE")
check "... by another payment than the stray one" test -n "$OWN" -a "$OWN" != "$STRAY"
reconcile
check "reconcile leaves attempts that may still be in flight alone" \
	grep -q '; 0 stray payments found, 0 refunded, 0 unfinished;' "$SCRATCH/reconcile.out"
resv_psql -c "UPDATE reservations SET payment_started_at = now() - interval '1 hour',
	updated_at = now() - interval '1 hour' WHERE id = '${C[1]}'" >/dev/null
reconcile
check "once they are over, reconcile finds the stray payment and refunds it" \
	grep -q '; 1 stray payments found, 1 refunded, 0 unfinished;' "$SCRATCH/reconcile.out"
check "... the bank made one refund of 117.00" test \
	"$(bank_stat .refunds.count) $(bank_stat .refunds.amount)" = "$((REFUNDS1 + 1)) $((REFUNDED1 + 11700))"
check "... recorded: attempt 1, that payment, refunded" test "$(resv_psql -c "SELECT attempt || ' ' ||
	payment_id || ' ' || refund_status FROM stray_payments WHERE reservation_id = '${C[1]}'")" = "1 $STRAY succeeded"
expect_status "... Carol's reservation is still confirmed by its own payment" 200 GET "$R/${C[1]}" -H "$(bearer "$TC")"
expect_jq "... confirmed, paid by the mastercard" '.status == "confirmed" and .payment.id == $p' --arg p "$OWN"
reconcile
check "reconcile again: nothing more to find" \
	grep -q '; 0 stray payments found, 0 refunded, 0 unfinished;' "$SCRATCH/reconcile.out"
check "... and no second refund" test "$(bank_stat .refunds.count)" = "$((REFUNDS1 + 1))"

# --------------------------------------------- a refund refused for good

# An operator refunds C[1]'s payment in full at payments; Carol's cancel
# then finds nothing left to refund (payments' 409): the refund is marked
# failed and logged, never sent again.
REFUNDS2=$(bank_stat .refunds.count)
expect_status "an operator refunds C[1]'s payment in full at payments: 201" 201 \
	POST "/payments/payments/$OWN/refunds" -H "$(bearer "$SVC")" -H "Idempotency-Key: operator-$RUN" \
	"${JSON[@]}" --data-binary '{"reason":"by hand"}'
expect_status "Carol cancels C[1]: 200" 200 POST "$R/${C[1]}/cancel" -H "$(bearer "$TC")"
expect_jq "... cancelled, the refund failed (nothing was left to refund)" \
	'.status == "cancelled" and .refund.amount == 11700 and .refund.status == "failed"'
check "... logged as an error" grep -q "payments refuses the refund of payment $OWN for good" \
	"$VAR/log/reservations.log"
reconcile
check "reconcile does not send it again" \
	grep -q '; 0 cancellations finished, 0 unfinished;' "$SCRATCH/reconcile.out"
check "... one refund at the bank, the operator's" test "$(bank_stat .refunds.count)" = "$((REFUNDS2 + 1))"

# --------------------------------------- reconcile's backoff, the receipt

# C[2] is made confirmed (as if paid) in a way reports refuses to render
# (no confirmation time for "issued_at"): the hotel's notice goes all the
# same, the recap waits for the receipt, and the row waits before the
# next try.
resv_psql -c "UPDATE reservations SET status = 'confirmed', payment_id = gen_random_uuid(),
	payment_brand = 'visa', payment_last4 = '4242', payment_reference = 'ch_test',
	paid_at = now(), confirmed_at = NULL WHERE id = '${C[2]}'" >/dev/null
reconcile
check "reconcile: the confirmation stays unfinished" \
	grep -q '; 0 confirmations finished, 1 unfinished;' "$SCRATCH/reconcile.out"
check "... the hotel's notice went without the receipt, the recap did not" test "$(resv_psql -c "SELECT
	receipt IS NULL, hotel_notice_sent_at IS NOT NULL, recap_sent_at IS NULL FROM reservations
	WHERE id = '${C[2]}'")" = "t|t|t"
check "... and the row waits before the next try" test "$(resv_psql -c "SELECT reconcile_tries,
	reconcile_next_at > now() FROM reservations WHERE id = '${C[2]}'")" = "1|t"
reconcile
check "reconcile at once again leaves it alone" \
	grep -q '; 0 confirmations finished, 0 unfinished;' "$SCRATCH/reconcile.out"
resv_psql -c "UPDATE reservations SET confirmed_at = now() WHERE id = '${C[2]}'" >/dev/null
expect_status "GET .../receipt renders and stores it: 200" 200 GET "$R/${C[2]}/receipt" -H "$(bearer "$TC")"
expect_content_type "... application/pdf" application/pdf
check "... and sends no mail: the recap is still to send" test "$(resv_psql -c "SELECT
	receipt IS NOT NULL, recap_sent_at IS NULL FROM reservations WHERE id = '${C[2]}'")" = "t|t"
resv_psql -c "UPDATE reservations SET reconcile_next_at = now() WHERE id = '${C[2]}'" >/dev/null
reconcile
check "reconcile when the row is due: finished" \
	grep -q '; 1 confirmations finished, 0 unfinished;' "$SCRATCH/reconcile.out"
check "... the recap sent, the backoff cleared" test "$(resv_psql -c "SELECT recap_sent_at IS NOT NULL,
	reconcile_tries, reconcile_next_at IS NULL FROM reservations WHERE id = '${C[2]}'")" = "t|0|t"
check "... and it reached Carol" wait_until 20 mail_about "$CAROL" "is confirmed"

check "no overlapping live reservations at the end" \
	test "$(resv_psql -c "SELECT count(*) FROM reservations a JOIN reservations b
		ON a.room_id = b.room_id AND a.id < b.id AND a.stay && b.stay
		WHERE a.status IN ('held','payment_pending','confirmed')
		  AND b.status IN ('held','payment_pending','confirmed')")" = 0
check "no 500 in the reservations log" bash -c "! grep -q '\"status\":500' '$VAR/log/reservations.log'"
finish
