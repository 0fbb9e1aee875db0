#!/bin/bash
# booking-race.sh - races behind nginx: 100 holds at once for the last
# free room of a type (one room): exactly one 201 and 99 409s, and the
# reservations database holds no two live reservations of one room whose
# stays overlap; a check-in on another guest's check-out day is fine, an
# overlap by one night is not; 40 holds at once for a type of two rooms
# get both rooms; a client-sent price or status is ignored; 50 payments
# of one reservation at once charge the bank once and all answer the
# same (or 409); 50 POST /payments at once with one Idempotency-Key
# (client reservations), with a slow card and a quick one, charge once
# each, and every answer is the same bytes or a 409.
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/booking.sh
. "$BH_SRCDIR/t/lib/booking.sh"

export BH_ACCESS_TOKEN_TTL=3600
stack_up nginx --workers 4 || bail "the stack did not come up"

booking_guests ana ben cai dee || bail "no guests: nothing else can be checked"
booking_hotel "Race Hotel" '[
	{"name": "Single", "capacity": 1, "nightly_rate": 9900, "room_numbers": ["7"]},
	{"name": "Double", "capacity": 2, "nightly_rate": 12000, "room_numbers": ["21", "22"]}
]' || bail "no hotel: nothing else can be checked"
SINGLE=${ROOM_TYPE[Single]}
DOUBLE=${ROOM_TYPE[Double]}
GUESTS=(ana ben cai dee)

IN=$(booking_date 40)
OUT=$(booking_date 42)

# ------------------------------------------------ 100 holds, one room

BODY=$(hold_body "$HOTEL_ID" "$SINGLE" "$IN" "$OUT" 1)
pcurl_new "$BH_SCRATCH/holds"
for ((i = 0; i < 100; i++)); do
	g=${GUESTS[i % 4]}
	pcurl_add "$i" POST "$RESV" "$(guest_auth "$g")" -- "$BODY"
done
pcurl_run
check "100 concurrent holds of the last free room: exactly one 201" \
	test "$(pcurl_count 201)" = 1
check "... and 99 answers 409 (no room free)" \
	bash -c '[ "$1" = 99 ] || { echo "statuses: $2"; cat "$3" | head -5; exit 1; }' _ \
	"$(pcurl_count 409)" "$(pcurl_hist)" "$PCURL_DIR/curl.err"
WIN=$(pcurl_ids 201 | head -n 1)
WINNER=${GUESTS[${WIN:-0} % 4]}
RES=$(jq -r '.id // empty' "$PCURL_DIR/$WIN.body" 2>/dev/null)
check "... the 201 is a hold of that room type and stay" jq -e \
	--argjson t "$SINGLE" --arg i "$IN" --arg o "$OUT" \
	'.status == "held" and .room_type.id == $t and .checkin == $i and .checkout == $o
	 and .nights == 2 and .total == 19800 and (.hold_expires_at | type) == "string"' \
	"$PCURL_DIR/${WIN:-0}.body"
LOSER=$(pcurl_ids 409 | head -n 1)
check "... a 409 is a problem+json conflict" jq -e \
	'.type == "urn:bellhop:problem:conflict" and .status == 409' "$PCURL_DIR/${LOSER:-0}.body"
check "... none is a 5xx" test "$(grep -c ' 5[0-9][0-9]$' "$PCURL_DIR/codes")" = 0
check "the database has no overlapping live reservations" no_overlaps
check "... and one live reservation of that room type for the stay" test \
	"$(res_psql -c "SELECT count(*) FROM reservations WHERE room_type_id = $SINGLE
		AND status IN ($LIVE_STATUSES)")" = 1

# --------------------------------------------- stays touching and not

res_hold ana "$HOTEL_ID" "$SINGLE" "$OUT" "$(booking_date 44)"
expect_last "check-in on the check-out day of another guest's hold: 201" 201
res_hold ben "$HOTEL_ID" "$SINGLE" "$(booking_date 38)" "$IN"
expect_last "check-out on the check-in day of another guest's hold: 201" 201
res_hold cai "$HOTEL_ID" "$SINGLE" "$(booking_date 41)" "$(booking_date 43)"
expect_last_problem "a stay overlapping the held nights by one: 409" 409 conflict
res_hold cai "$HOTEL_ID" "$SINGLE" "$(booking_date 37)" "$(booking_date 45)"
expect_last_problem "a stay covering all three holds: 409" 409 conflict
check "still no overlapping live reservations" no_overlaps

# What a client says about money and status is not taken.
http POST "$RESV" -H "$(guest_auth dee)" -H 'Content-Type: application/json' \
	--data-binary "$(hold_body "$HOTEL_ID" "$DOUBLE" "$(booking_date 50)" "$(booking_date 52)" 2 |
		jq -c '. + {price: 1, total: 1, nightly_rate: 1, status: "confirmed", currency: "USD"}')"
expect_last "a hold sending its own price, total, nightly_rate, status and currency: 201" 201
expect_jq "... held at the catalogue's price, in its currency" \
	'.status == "held" and .nightly_rate == 12000 and .total == 24000 and .currency == "EUR"
	 and .payment == null'

# Both doubles at once by two guests, 20 requests each: two rooms, two
# holds.
BODY=$(hold_body "$HOTEL_ID" "$DOUBLE" "$IN" "$OUT" 2)
pcurl_new "$BH_SCRATCH/doubles"
for ((i = 0; i < 40; i++)); do
	pcurl_add "$i" POST "$RESV" "$(guest_auth "${GUESTS[i % 2 + 2]}")" -- "$BODY"
done
pcurl_run
check "40 concurrent holds of a type with two rooms: two 201s, 38 409s" \
	bash -c '[ "$1 $2" = "2 38" ] || { echo "statuses: $3"; exit 1; }' _ \
	"$(pcurl_count 201)" "$(pcurl_count 409)" "$(pcurl_hist)"
check "... on two different rooms" test "$(res_psql -c "SELECT count(DISTINCT room_id)
	FROM reservations WHERE room_type_id = $DOUBLE AND status IN ($LIVE_STATUSES)")" = 2
check "no overlapping live reservations after the doubles" no_overlaps

# --------------------------------------- 50 payments of one reservation

read -r c0 a0 r0 ra0 <<<"$(bank_counts)"
check "the bank's counters are readable" test -n "$c0" -a "$c0" != null
PAY=$(jq -nc --argjson c "$(card_json "$CARD_OK")" '{card: $c}')
pcurl_new "$BH_SCRATCH/pays"
for ((i = 0; i < 50; i++)); do
	pcurl_add "$i" POST "$RESV/$RES/payment" "$(guest_auth "$WINNER")" -- "$PAY"
done
pcurl_run
check "50 concurrent payments of one reservation: only 200s and 409s, some 200" \
	bash -c '[ $(($1 + $2)) = 50 ] && [ "$1" -ge 1 ] || { echo "statuses: $3"; exit 1; }' _ \
	"$(pcurl_count 200)" "$(pcurl_count 409)" "$(pcurl_hist)"
# Every 200 tells the same: confirmed, by the same payment.
for id in $(pcurl_ids 200); do
	jq -c '{id, status, total, payment: (.payment | {id, brand, last4})}' "$PCURL_DIR/$id.body"
done | sort | uniq >"$BH_SCRATCH/pay-answers"
check "... every 200 is the same confirmed reservation, paid by one payment" \
	bash -c '[ "$(wc -l <"$1")" = 1 ] && jq -e --arg r "$2" ".id == \$r and .status == \"confirmed\"
		and .payment.last4 == \"4242\" and .total == 19800" "$1"' _ \
	"$BH_SCRATCH/pay-answers" "$RES"
read -r c1 a1 r1 ra1 <<<"$(bank_counts)"
check "... one charge at the bank, of the reservation's total" \
	test "$((c1 - c0)) $((a1 - a0))" = "1 19800"
check "... and one payment in payments' records, succeeded" test "$(pay_psql -c "SELECT
	string_agg(status, ' ') FROM payments WHERE reference = 'reservation-$RES'")" = succeeded
res_pay "$WINNER" "$RES" "$CARD_OK"
expect_last "paying the confirmed reservation again: 200" 200
expect_jq "... still confirmed by the same payment" '.status == "confirmed" and .payment.id == $p' \
	--arg p "$(jq -r .payment.id "$BH_SCRATCH/pay-answers")"
read -r c2 a2 r2 ra2 <<<"$(bank_counts)"
check "... and nothing more charged" test "$c2" = "$c1"

# ---------------------------- 50 POST /payments with one Idempotency-Key

SVC=$(client_token reservations) || bail "no token for client reservations"
pass "a token for client reservations"

# one_key_race NAME CARD AMOUNT: 50 POST /payments at once with one key.
one_key_race() {
	local name=$1 card=$2 amount=$3 key ref body n201 n409 c b ca ba
	key="race-$name-$BOOKING_RUN"
	ref="race-$name-ref-$BOOKING_RUN"
	body=$(jq -nc --argjson c "$(card_json "$card")" --argjson a "$amount" --arg r "$ref" \
		'{amount: $a, currency: "EUR", card: $c, reference: $r, description: "booking-race"}')
	read -r c b _ _ <<<"$(bank_counts)"
	pcurl_new "$BH_SCRATCH/key-$name"
	for ((i = 0; i < 50; i++)); do
		pcurl_add "$i" POST "$PAYMENTS" "Authorization: Bearer $SVC" \
			"Idempotency-Key: $key" -- "$body"
	done
	pcurl_run
	n201=$(pcurl_count 201)
	n409=$(pcurl_count 409)
	check "$name card: 50 POST /payments with one key: only 201s and 409s, some 201" \
		bash -c '[ $(($1 + $2)) = 50 ] && [ "$1" -ge 1 ] || { echo "statuses: $3"; exit 1; }' _ \
		"$n201" "$n409" "$(pcurl_hist)"
	for id in $(pcurl_ids 201); do sha256sum <"$PCURL_DIR/$id.body"; done | sort -u \
		>"$BH_SCRATCH/key-$name.sums"
	check "... every 201 is the same bytes" test "$(wc -l <"$BH_SCRATCH/key-$name.sums")" = 1
	id=$(pcurl_ids 201 | head -n 1)
	check "... a succeeded payment of that amount" jq -e --argjson a "$amount" --arg r "$ref" \
		'.status == "succeeded" and .amount == $a and .reference == $r and .currency == "EUR"' \
		"$PCURL_DIR/${id:-0}.body"
	id=$(pcurl_ids 409 | head -n 1)
	if [ -n "$id" ]; then
		check "... a 409 is a problem+json conflict" jq -e \
			'.type == "urn:bellhop:problem:conflict" and .status == 409' "$PCURL_DIR/$id.body"
	fi
	read -r ca ba _ _ <<<"$(bank_counts)"
	check "... one charge at the bank, of that amount" test "$((ca - c)) $((ba - b))" = "1 $amount"
	check "... the bank has one charge with that reference" test \
		"$(bank_get "/v1/charges?reference=$ref" | jq '[.data[] | select(.status == "succeeded")] | length')" = 1
	expect_status "... the same request once more: 201" 201 POST "$PAYMENTS" \
		-H "Authorization: Bearer $SVC" -H "Idempotency-Key: $key" \
		-H 'Content-Type: application/json' --data-binary "$body"
	check "... with the same bytes" test "$(sha256sum <"$RESP_BODY_FILE")" = \
		"$(head -n 1 "$BH_SCRATCH/key-$name.sums")"
	read -r ca ba _ _ <<<"$(bank_counts)"
	check "... and still one charge" test "$((ca - c))" = 1
}

one_key_race slow "$CARD_SLOW" 4321
one_key_race quick "$CARD_OK" 1234

check "no overlapping live reservations at the end" no_overlaps
finish
