#!/bin/bash
# booking-faults.sh - a booking when things go wrong, behind nginx, with
# the fake bank, in this order: a declined card keeps the hold (same
# expiry) and another card then works; a cancellation refunds once, a
# second one refunds nothing more; the bank charging and then not
# answering (BH_BANK_TIMEOUT 2 s) gives 202 payment_pending, and after
# `bellhop-payments reconcile` and `bellhop-reservations reconcile` the
# reservation is confirmed with exactly one charge (the stack's reconcile
# loops are stopped, so that the commands are what settles it); payments'
# workers killed with SIGKILL while payments waits for the bank (slow
# card), then the guest pays again: one charge; ten cancels at once: one
# refund; another guest's reservation is a 404 to view, pay, cancel and
# download; a bank outage is a 503 that keeps the hold, and once the bank
# is back the guest's retries get 503s (circuit breakers) and then a 200,
# never a 202, with one charge; notifications down while a booking is
# confirmed: the confirmation still comes, and the emails arrive after it
# is back and the reconcile commands ran, each exactly once, the recap
# carrying the stored receipt; a short hold (BH_HOLD_SECONDS=4, the
# second stack_up) expires after a declined card and frees the room for
# someone else.
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/booking.sh
. "$BH_SRCDIR/t/lib/booking.sh"

# The bank's hanging card holds the connection far longer than this.
export BH_BANK_TIMEOUT=2000
export BH_ACCESS_TOKEN_TTL=3600
stack_up nginx --workers 3 || bail "the stack did not come up"
# Until the second stack_up, only this test's reconcile commands settle
# what is pending (the loops would do it at a moment of their choosing).
check "the stack's reconcile loops are stopped" reconcile_loops_stop

booking_guests alice bob nora || bail "no guests: nothing else can be checked"
booking_hotel "Faults Hotel" '[
	{"name": "Double", "capacity": 2, "nightly_rate": 11700,
	 "room_numbers": ["101", "102", "103", "104", "105", "106"]},
	{"name": "Single", "capacity": 1, "nightly_rate": 8000, "room_numbers": ["1"]}
]' || bail "no hotel: nothing else can be checked"
FAULTS_HOTEL=$HOTEL_ID
DOUBLE=${ROOM_TYPE[Double]}
SINGLE=${ROOM_TYPE[Single]}

# bank_delta NAME CHARGES AMOUNT [REFUNDS REFUNDED]: the bank's counters
# moved by that much since the last bank_mark.
bank_mark() {
	read -r B_C B_A B_R B_RA <<<"$(bank_counts)"
}
bank_delta() {
	local c a r ra want got
	read -r c a r ra <<<"$(bank_counts)"
	want="charges +$2 (amount +$3), refunds +${4:-0} (amount +${5:-0})"
	got="charges +$((c - B_C)) (amount +$((a - B_A))), refunds +$((r - B_R)) (amount +$((ra - B_RA)))"
	if [ "$want" = "$got" ]; then
		pass "$1"
		return 0
	fi
	fail "$1" "bank: expected $want, got $got"
	return 1
}

# reconcile_both: both reconcile commands, as an operator runs them.
reconcile_both() {
	service_run payments reconcile && service_run reservations reconcile
}

# payment_in_flight ID: payments has a payment of reservation ID waiting
# for the bank.
payment_in_flight() {
	[ "$(pay_psql -c "SELECT count(*) FROM payments WHERE status = 'pending'
		AND reference = 'reservation-$1' AND bank_called_at IS NOT NULL")" -ge 1 ]
}

# workers_replaced OLD: payments has workers again, none of OLD.
workers_replaced() {
	local now
	now=$(worker_pids payments) || return 1
	[ -n "$now" ] && [ "$now" != "$1" ]
}

# mails_at_least GUEST_N HOTEL_N: the guest and the hotel of the mail
# check got at least that many messages.
mails_at_least() {
	mail_count_at_least "$NORA" "$1" && mail_count_at_least "$MAIL_HOTEL_EMAIL" "$2"
}

# mail_with_attachment ADDR SHA256: a message to ADDR carries an
# attachment with that SHA-256.
mail_with_attachment() {
	local f
	for f in $(mail_list "$1"); do
		jq -e --arg s "$2" '[.attachments[] | select(.sha256 == $s)] | length == 1' \
			"$f" >/dev/null 2>&1 && return 0
	done
	echo "no message to $1 carries an attachment with SHA-256 $2"
	return 1
}

# hold_ok KEY NAME CHECKIN CHECKOUT [TYPE [HOTEL]]: a hold of a room of
# TYPE (default the doubles) at HOTEL (default Faults Hotel) that must be
# a 201; sets HELD (its id), HELD_TOTAL and HELD_EXPIRES.
hold_ok() {
	HELD="" HELD_TOTAL="" HELD_EXPIRES=""
	res_hold "$1" "${6:-$FAULTS_HOTEL}" "${5:-$DOUBLE}" "$(booking_date "$3")" "$(booking_date "$4")" 1
	expect_last "$2: hold is 201" 201 || return 1
	HELD=$(resp_json .id)
	HELD_TOTAL=$(resp_json .total)
	HELD_EXPIRES=$(resp_json .hold_expires_at)
}

bank_readable() {
	bank_counts | grep -Eq '^[0-9]+ [0-9]+ [0-9]+ [0-9]+$'
}
check "the bank's counters are readable" bank_readable

# ------------------------------------------------------ declined card

hold_ok alice "declined" 30 33 || bail "no hold"
R_DECLINED=$HELD
check "... 3 nights of the double: total 35100" test "$HELD_TOTAL" = 35100
bank_mark
res_pay alice "$HELD" "$CARD_DECLINED"
expect_last_problem "a declined card: 402 payment-declined" 402 payment-declined
res_pay alice "$HELD" "$CARD_NO_FUNDS"
expect_last_problem "insufficient funds: 402 payment-declined" 402 payment-declined
res_get alice "$HELD"
expect_jq "... the hold stays, with the same expiry, no payment" \
	'.status == "held" and .hold_expires_at == $e and .payment == null' --arg e "$HELD_EXPIRES"
res_pay alice "$HELD" "$CARD_MASTERCARD"
expect_last "another card then: 200" 200
expect_jq "... confirmed, paid by the mastercard" \
	'.status == "confirmed" and .payment.last4 == "4444" and .hold_expires_at == null'
bank_delta "... one charge of 35100 at the bank (declines charge nothing)" 1 35100

# ---------------------------------------------------------- cancel

bank_mark
res_cancel alice "$R_DECLINED"
expect_last "cancelling the confirmed reservation: 200" 200
expect_jq "... cancelled, the whole total refunded (check-in a month away)" \
	'.status == "cancelled" and .refund.amount == 35100 and .refund.status == "succeeded"'
cp "$RESP_BODY_FILE" "$BH_SCRATCH/cancel1.json"
bank_delta "... exactly one refund at the bank" 0 0 1 35100
res_cancel alice "$R_DECLINED"
expect_last "cancelling it again: 200" 200
check "... the same reservation, unchanged" jq -e --slurpfile a "$BH_SCRATCH/cancel1.json" \
	'{status, refund} == ($a[0] | {status, refund})' "$RESP_BODY_FILE"
bank_delta "... and no second refund" 0 0 1 35100
res_pay alice "$R_DECLINED" "$CARD_OK"
expect_last_problem "paying the cancelled reservation: 409" 409 conflict
bank_delta "... charges nothing" 0 0 1 35100
res_hold bob "$FAULTS_HOTEL" "$DOUBLE" "$(booking_date 30)" "$(booking_date 33)" 2
expect_last "the cancelled room's dates can be held again" 201

# ------------------------------------- the bank charges, then never answers

hold_ok alice "unknown outcome" 60 62 || bail "no hold"
R_HANG=$HELD
bank_mark
res_pay alice "$HELD" "$CARD_HANG"
expect_last "the bank charges and then does not answer: 202" 202
expect_jq "... the reservation is payment_pending" '.status == "payment_pending" and .id == $r' \
	--arg r "$R_HANG"
expect_faster "... answered within the bank timeout and some (< 15 s)" 15
bank_delta "... the bank did charge" 1 23400
res_get alice "$HELD"
expect_jq "GET says payment_pending too" '.status == "payment_pending"'
res_cancel alice "$HELD"
expect_last_problem "cancelling while the outcome is unknown: 409" 409 conflict
# reconcile settles what is older than the bank timeout
sleep 2.5
check "bellhop-payments reconcile exits 0" service_run payments reconcile
check "bellhop-reservations reconcile exits 0" service_run reservations reconcile
res_get alice "$HELD"
expect_jq "the reservation is confirmed after the reconciliation" \
	'.status == "confirmed" and .payment.last4 == "8880" and (.payment.id | type) == "string"'
bank_delta "... with exactly one charge" 1 23400
check "... one succeeded payment in payments' records for it" test "$(pay_psql -c \
	"SELECT count(*) FROM payments WHERE reference = 'reservation-$R_HANG' AND status = 'succeeded'")" = 1
check "running both again" reconcile_both
res_pay alice "$HELD" "$CARD_OK"
expect_last "paying it again: 200, as it is" 200
bank_delta "... still one charge" 1 23400

# ---------------------------------- payments killed during the bank call

hold_ok alice "killed payments" 70 72 || bail "no hold"
R_KILL=$HELD
KILL_TOTAL=$HELD_TOTAL
bank_mark
curl -sS -m 60 -o "$BH_SCRATCH/kill-pay.body" -w '%{http_code}' \
	-H "$(guest_auth alice)" -H 'Content-Type: application/json' \
	--data-binary "{\"card\":$(card_json "$CARD_SLOW")}" \
	"$BASE_URL$RESV/$R_KILL/payment" >"$BH_SCRATCH/kill-pay.status" 2>&1 &
PAY_PID=$!
track $PAY_PID
# the slow card answers after 1.5 s: kill while payments waits for it
check "payments is waiting for the bank's answer (slow card)" \
	wait_until 5 payment_in_flight "$R_KILL"
sleep 0.2
WORKERS=$(worker_pids payments)
for pid in $WORKERS; do kill -KILL "$pid" 2>/dev/null; done
check "payments' workers ($WORKERS) killed with SIGKILL during the bank call" \
	test -n "$WORKERS"
wait_pid $PAY_PID 65
# payments' pool takes the call again (200), or it ends unknown (202) or
# refused (503): never a 500, never a second charge
check "... the guest's request got an answer: 200, 202 or 503" \
	bash -c 'grep -Eq "^(200|202|503)$" "$1" || { cat "$1"; head -c 500 "$2"; exit 1; }' _ \
	"$BH_SCRATCH/kill-pay.status" "$BH_SCRATCH/kill-pay.body"
check "the pool replaced the killed workers" wait_until 10 workers_replaced "$WORKERS"
# the guest retries until it is settled, a bounded number of times
for ((try = 0; try < 20; try++)); do
	res_pay alice "$R_KILL" "$CARD_SLOW"
	status_is 200 && break
	sleep 1
done
expect_last "the guest pays again: 200 in the end" 200
expect_jq "... confirmed" '.status == "confirmed"'
bank_delta "... exactly one charge" 1 "$KILL_TOTAL"
check "... one succeeded payment in payments' records for it" test "$(pay_psql -c \
	"SELECT count(*) FROM payments WHERE reference = 'reservation-$R_KILL' AND status = 'succeeded'")" = 1

# ------------------------------------------------- ten cancels at once

bank_mark
pcurl_new "$BH_SCRATCH/cancels"
for ((i = 0; i < 10; i++)); do
	pcurl_add "$i" POST "$RESV/$R_HANG/cancel" "$(guest_auth alice)"
done
pcurl_run
check "10 concurrent cancels of a confirmed reservation: 200s (or 409s), some 200" \
	bash -c '[ $(($1 + $2)) = 10 ] && [ "$1" -ge 1 ] || { echo "statuses: $3"; exit 1; }' _ \
	"$(pcurl_count 200)" "$(pcurl_count 409)" "$(pcurl_hist)"
bank_delta "... exactly one refund" 0 0 1 23400
res_get alice "$R_HANG"
expect_jq "... cancelled, refunded" '.status == "cancelled" and .refund.amount == 23400'

# ---------------------------------------- another guest's reservation

for what in "$RESV/$R_KILL" "$RESV/$R_KILL/receipt"; do
	expect_problem "bob: GET $what of alice's reservation is a 404" 404 not-found \
		GET "$what" -H "$(guest_auth bob)"
done
expect_problem "bob: paying alice's reservation is a 404" 404 not-found \
	POST "$RESV/$R_KILL/payment" -H "$(guest_auth bob)" \
	-H 'Content-Type: application/json' --data-binary "{\"card\":$(card_json "$CARD_OK")}"
expect_problem "bob: cancelling alice's reservation is a 404" 404 not-found \
	POST "$RESV/$R_KILL/cancel" -H "$(guest_auth bob)"
res_get alice "$R_KILL"
expect_jq "... and it is still alice's, confirmed" '.status == "confirmed"'

# ------------------------------------------------------- bank outage

hold_ok alice "outage" 50 52 || bail "no hold"
R_OUTAGE=$HELD
check "the bank is made unavailable (POST /admin/outage)" bank_outage true
bank_mark
res_pay alice "$HELD" "$CARD_OK"
expect_last_problem "paying while the bank is down: 503" 503 'upstream-unavailable|service-unavailable'
# A guest who tries again and again meanwhile: each try charges nothing
# and says so (503), whatever circuit breakers open on the way.
: >"$BH_SCRATCH/outage-tries"
for ((try = 0; try < 4; try++)); do
	res_pay alice "$HELD" "$CARD_OK"
	printf '%s\n' "$RESP_STATUS" >>"$BH_SCRATCH/outage-tries"
done
check "... 4 more tries during the outage: all 503" \
	test "$(sort "$BH_SCRATCH/outage-tries" | uniq -c | sed -e 's/^ *//')" = "4 503"
res_get alice "$HELD"
expect_jq "... the hold stays, same expiry, no payment" \
	'.status == "held" and .hold_expires_at == $e and .payment == null' --arg e "$HELD_EXPIRES"
check "the bank is back" bank_outage false
# The guest retries, as Retry-After says, a bounded number of times: the
# circuit breakers that the outage opened (10 s) may refuse at first,
# with a 503 that charged nothing, never with an unknown outcome.
: >"$BH_SCRATCH/outage.statuses"
for ((try = 0; try < 30; try++)); do
	res_pay alice "$R_OUTAGE" "$CARD_OK"
	printf '%s\n' "$RESP_STATUS" >>"$BH_SCRATCH/outage.statuses"
	status_is 503 || break
	sleep 1
done
expect_last "paying after the outage: 200 in the end" 200
expect_jq "... confirmed" '.status == "confirmed" and .payment.last4 == "4242"'
check "... every answer before it was a 503 (nothing charged, the hold kept)" \
	test "$(sort -u "$BH_SCRATCH/outage.statuses" | tr '\n' ' ')" = "200 503 " -o \
	"$(sort -u "$BH_SCRATCH/outage.statuses" | tr '\n' ' ')" = "200 "
bank_delta "... one charge at the bank" 1 23400
# The circuit breakers the outage opened (per process, 10 s) must not
# change what the checks below see.
sleep 11

# ------------------------------- notifications down during confirmation

booking_hotel "Mail Hotel" '[{"name": "Twin", "capacity": 2, "nightly_rate": 9000,
	"room_numbers": ["1", "2"]}]' || bail "no hotel"
MAIL_HOTEL=$HOTEL_ID
MAIL_HOTEL_EMAIL=$HOTEL_EMAIL
TWIN=${ROOM_TYPE[Twin]}
NORA=${GUEST_EMAIL[nora]}
before_guest=$(mail_count "$NORA")
before_hotel=$(mail_count "$MAIL_HOTEL_EMAIL")

# A booking while all runs: how many mails one confirmation sends.
hold_ok nora "mail baseline" 80 81 "$TWIN" "$MAIL_HOTEL"
res_pay nora "$HELD" "$CARD_OK"
expect_last "mail baseline: paid, 200" 200
check "... the guest's and the hotel's mails come" wait_until 30 mails_at_least \
	$((before_guest + 1)) $((before_hotel + 1))
PER_GUEST=$(($(mail_settles "$NORA" 3) - before_guest))
PER_HOTEL=$(($(mail_settles "$MAIL_HOTEL_EMAIL" 1) - before_hotel))
note "one confirmation mails the guest $PER_GUEST and the hotel $PER_HOTEL message(s)"
check "... the hotel gets one reservation mail" test "$PER_HOTEL" = 1

hold_ok nora "notifications down" 84 86 "$TWIN" "$MAIL_HOTEL"
R_MAIL=$HELD
NOTIF_PID=$(master_pid notifications)
kill -TERM "$NOTIF_PID" 2>/dev/null
check "notifications is stopped" wait_until 40 bh_pid_gone "$NOTIF_PID"
res_pay nora "$R_MAIL" "$CARD_OK"
expect_last "paying while notifications is down: 200" 200
expect_jq "... confirmed" '.status == "confirmed"'
expect_faster "... without waiting long for the mail (< 10 s)" 10
http GET "$RESV/$R_MAIL/receipt" -H "$(guest_auth nora)"
expect_last "... its receipt is there: 200" 200
cp "$RESP_BODY_FILE" "$BH_SCRATCH/receipt.pdf"
sleep 2
check "... no mail came for it meanwhile" test \
	"$(mail_count "$NORA") $(mail_count "$MAIL_HOTEL_EMAIL")" = \
	"$((before_guest + PER_GUEST)) $((before_hotel + PER_HOTEL))"

# The second stack_up brings notifications back and makes holds short for
# the expiry check below.
export BH_HOLD_SECONDS=4
stack_up nginx --workers 3 || bail "the stack did not come up again"
check "bellhop-payments reconcile exits 0" service_run payments reconcile
check "bellhop-reservations reconcile exits 0" service_run reservations reconcile
check "the mails of the confirmation arrive after the reconciliation" wait_until 30 \
	mails_at_least $((before_guest + 2 * PER_GUEST)) $((before_hotel + 2 * PER_HOTEL))
check "running both reconcile commands again" reconcile_both
sleep 3
check "... each mail came exactly once" test \
	"$(mail_count "$NORA") $(mail_count "$MAIL_HOTEL_EMAIL")" = \
	"$((before_guest + 2 * PER_GUEST)) $((before_hotel + 2 * PER_HOTEL))"
RECEIPT_SHA=$(sha256sum <"$BH_SCRATCH/receipt.pdf" | cut -d' ' -f1)
check "... the guest's recap carries the stored receipt (same SHA-256)" \
	mail_with_attachment "$NORA" "$RECEIPT_SHA"

# ---------------------------------------------------------- hold expiry

hold_ok alice "short hold" 90 92 "$SINGLE"
R_SHORT=$HELD
bank_mark
res_pay alice "$R_SHORT" "$CARD_DECLINED"
expect_last_problem "a declined card on the short hold: 402" 402 payment-declined
res_hold bob "$FAULTS_HOTEL" "$SINGLE" "$(booking_date 90)" "$(booking_date 92)" 1
expect_last_problem "someone else, while it is held: 409" 409 conflict
sleep 5
res_hold bob "$FAULTS_HOTEL" "$SINGLE" "$(booking_date 91)" "$(booking_date 93)" 1
expect_last "after BH_HOLD_SECONDS the room is free for someone else: 201" 201
res_get alice "$R_SHORT"
expect_jq "... alice's hold is expired" '.status == "expired" and .hold_expires_at == null'
res_pay alice "$R_SHORT" "$CARD_OK"
expect_last_problem "paying the expired hold: 409" 409 conflict
bank_delta "... nothing charged" 0 0
check "no overlapping live reservations at the end" no_overlaps
finish
