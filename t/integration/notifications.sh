#!/bin/bash
# notifications.sh - the notifications service behind nginx with the SMTP
# sink and delivery workers: a message with text, HTML and an attachment
# delivered intact; idempotency (same key and body once, another body 422,
# 20 concurrent identical requests one row and one mail); who may send and
# read (401, 403, another client's message 404); a bad-input matrix that
# never gets a 500; bodies cleared once sent; a permanent failure (550 to
# RCPT TO) and temporary ones (451; 5xx to the greeting, EHLO or MAIL FROM)
# retried and counted until they give up; the SMTP server down: attempts
# not counted, retried until it is back or BH_DELIVERY_MAX_AGE; delivery
# workers killed with SIGKILL mid-batch losing and duplicating nothing;
# STARTTLS; requeue; failed bodies cleared after BH_FAILED_BODY_RETENTION;
# purge.
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/mail.sh
. "$BH_SRCDIR/t/lib/mail.sh"

# Retries come quickly here; the stack passes BH_* settings on.
export BH_DELIVERY_POLL_MS=200

bearer() {
	printf 'Authorization: Bearer %s' "$1"
}

notif_psql() {
	bh_pg_psql "$VAR/pg" bellhop_notifications -tA "$@"
}

# send NAME STATUS KEY JSON [CURL ARGS...]: POST /notifications/emails with
# the sender's token and Idempotency-Key KEY ("-" for none).
send() {
	local name=$1 status=$2 key=$3 body=$4
	shift 4
	local -a hdr=()
	[ "$key" != - ] && hdr=(-H "Idempotency-Key: $key")
	expect_status "$name" "$status" POST /notifications/emails \
		-H "$(bearer "$SENDER")" -H 'Content-Type: application/json' \
		"${hdr[@]}" --data-binary "$body" "$@"
}

# bad NAME STATUS SLUG KEY JSON [CURL ARGS...]: a POST answered by a problem.
bad() {
	local name=$1 status=$2 slug=$3 key=$4 body=$5
	shift 5
	local -a hdr=()
	[ "$key" != - ] && hdr=(-H "Idempotency-Key: $key")
	expect_problem "$name" "$status" "$slug" POST /notifications/emails \
		-H "$(bearer "$SENDER")" -H 'Content-Type: application/json' \
		"${hdr[@]}" --data-binary "$body" "$@"
}

# email_get ID NAME: GET /emails/ID by the sender is 200.
email_get() {
	expect_status "$2" 200 GET "/notifications/emails/$1" -H "$(bearer "$SENDER")"
}

# email_status ID: "status attempts" of a message in the database.
email_status() {
	notif_psql -c "SELECT status || ' ' || attempts FROM emails WHERE id = $1"
}

# status_is_now ID STATUS: a predicate for wait_until.
email_status_is() {
	[ "$(notif_psql -c "SELECT status FROM emails WHERE id = $1")" = "$2" ]
}

# body_gone ID: the message's text, HTML and attachments are cleared.
body_gone() {
	[ "$(notif_psql -c "SELECT (body_text IS NULL AND body_html IS NULL
		AND NOT body_retained)::text || ' ' || (SELECT count(*)
		FROM email_attachments WHERE email_id = $1) FROM emails WHERE id = $1")" = "true 0" ]
}

attempts_at_least() {
	[ "$(notif_psql -c "SELECT attempts FROM emails WHERE id = $1")" -ge "$2" ]
}

# A token for a client registered here (bellhop-auth client add).
register_client() {
	local name=$1 scopes=$2 audiences=$3 secret
	secret=$(service_run auth client add "$name" --scopes "$scopes" \
		--audiences "$audiences" --replace 2>>"$BH_SCRATCH/auth-cmd.log") || return 1
	curl -sS -m "$BH_CURL_TIMEOUT" -u "$name:$secret" -d grant_type=client_credentials \
		"$BASE_URL/auth/oauth/token" | jq -r '.access_token // empty'
}

stop_stack_worker() {
	local pid
	pid=$(cat "$VAR/run/deliver.pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null
	wait_until 40 bh_pid_gone "$pid"
}

# deliver_once [NAME=VALUE...]: `bellhop-notifications deliver --once` with
# the stack's settings, then these.
deliver_once() {
	local -a envs
	mapfile -t envs < <(stack_env notifications)
	env "${envs[@]}" "$@" "$BH_BUILDDIR/handlers/notifications/bellhop-notifications" \
		deliver --once >>"$BH_SCRATCH/workers.log" 2>&1
}

# due_now ID: the message's next attempt now (skipping the retry wait).
due_now() {
	notif_psql -c "UPDATE emails SET next_attempt_at = now() WHERE id = $1" >/dev/null
}

# requeue ARGS...: `bellhop-notifications requeue ARGS`; its stdout in
# REQUEUE_OUT, stderr in REQUEUE_ERR, exit status in REQUEUE_RC.
requeue() {
	service_run notifications requeue "$@" >"$BH_SCRATCH/requeue.out" \
		2>"$BH_SCRATCH/requeue.err"
	REQUEUE_RC=$?
	REQUEUE_OUT=$(cat "$BH_SCRATCH/requeue.out")
	REQUEUE_ERR=$(cat "$BH_SCRATCH/requeue.err")
}

# start_worker: one delivery worker of our own (tracked), with the stack's
# settings and whatever BH_DELIVERY_* the caller exported.  Started as a
# simple command so that its pid is the worker's own (SIGKILL must hit it).
WORKERS=()
start_worker() {
	local -a envs
	mapfile -t envs < <(stack_env notifications)
	env "${envs[@]}" "$BH_BUILDDIR/handlers/notifications/bellhop-notifications" deliver \
		>>"$BH_SCRATCH/workers.log" 2>&1 &
	track $!
	WORKERS+=($!)
}

stop_workers() {
	local pid
	for pid in "${WORKERS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${WORKERS[@]}"; do
		wait_pid "$pid" 40 >/dev/null 2>&1
	done
	WORKERS=()
}

stack_up nginx || bail "the stack did not come up behind nginx"

SENDER=$(client_token users) || bail "no token for client users"
OTHER_SENDER=$(register_client mailer-two notifications:send notifications)
NO_SCOPE=$(register_client mail-reader "" notifications)
WRONG_AUD=$(client_token catalog-admin) || bail "no token for client catalog-admin"
check "a second sending client and a client without the scope got tokens" \
	test -n "$OTHER_SENDER" -a -n "$NO_SCOPE"

# ------------------------------------------------------------ delivery

PDF=$BH_SCRATCH/receipt.pdf
{ printf '%%PDF-1.4\n'; head -c 20000 /dev/urandom; printf '\n%%%%EOF\n'; } >"$PDF"
PDF_SHA=$(sha256sum "$PDF" | cut -d' ' -f1)
BODY=$(jq -cn --rawfile text /dev/stdin --arg pdf "$(base64 -w0 "$PDF")" '{
	to: "alice@example.com",
	subject: "Your booking — Hôtel Ünïcode",
	text: $text,
	html: "<p>Thank you, <b>Alice</b>.</p>",
	attachments: [{filename: "receipt.pdf", content_type: "application/pdf", content: $pdf}]
}' <<'EOF'
Dear Alice,
.
A line with a lone dot above (SMTP dot-stuffing) and a long one below:
Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.
EOF
)
send "POST /emails with text, HTML and a PDF is 202" 202 booking-1 "$BODY"
expect_jq "... status queued, id, to, subject, created_at" \
	'(.id | type) == "number" and .status == "queued" and .to == "alice@example.com"
	and .subject == "Your booking — Hôtel Ünïcode" and (.created_at | test("^[0-9-]{10}T"))'
ID1=$(jq -r .id "$RESP_BODY_FILE")
expect_header "... Location points at it" Location "/notifications/emails/$ID1"

MAIL=$(mail_wait alice@example.com 20)
check "the stack's delivery worker delivered it to the sink" test -n "$MAIL"
if [ -n "$MAIL" ]; then
	check "... the subject arrived decoded as sent" \
		jq -e '.subject == "Your booking — Hôtel Ünïcode"' "$MAIL"
	check "... the text arrived intact, lone dot line included" \
		jq -e --arg t "$(jq -r .text <<<"$BODY")" \
		'(.text | gsub("\r\n"; "\n") | rtrimstr("\n")) == ($t | rtrimstr("\n"))' "$MAIL"
	check "... the HTML arrived" jq -e '.html | contains("<b>Alice</b>")' "$MAIL"
	check "... the attachment arrived byte for byte (sha256)" \
		jq -e --arg s "$PDF_SHA" '.attachments | length == 1 and .[0].sha256 == $s
		and .[0].filename == "receipt.pdf" and .[0].content_type == "application/pdf"' "$MAIL"
	check "... the envelope sender is the configured From" \
		jq -e '.mail_from == "noreply@bellhop.invalid"' "$MAIL"
	check "... its Message-ID is <bellhop.ID.CREATED@domain>" \
		jq -e --arg id "$ID1" '.message_id | test("^<bellhop\\." + $id + "\\.[0-9]+@")' "$MAIL"
	EML=${MAIL%.json}.eml
	check "... the raw message has CRLF line endings only" \
		test "$(grep -c -v $'\r$' "$EML")" = 0
	check "... and no line longer than 998 octets" \
		awk 'length > 999 { bad = 1 } END { exit bad }' "$EML"
fi
wait_until 10 email_status_is "$ID1" sent
expect_status "GET /emails/ID shows it sent" 200 GET "/notifications/emails/$ID1" \
	-H "$(bearer "$SENDER")"
expect_jq "... status sent, 1 attempt, its history" \
	'.status == "sent" and .attempts == 1 and (.sent_at | type) == "string"
	and .history[0].result == "sent" and .history[0].smtp_code == 250 and .attachments == 1'
expect_jq "... body_retained false: the body went once sent" '.body_retained == false'
check "... its text, HTML and attachment are cleared in the database" body_gone "$ID1"
check "... while its envelope, subject and idempotent answer stay" test "$(notif_psql -c "
	SELECT to_address = 'alice@example.com' AND subject <> '' AND response_body IS NOT NULL
	AND request_sha256 <> '' FROM emails WHERE id = $ID1")" = t

# ------------------------------------------------------------ idempotency

send "the same key and body again is 202" 202 booking-1 "$BODY"
expect_jq "... with the same id" '.id == ($id | tonumber)' --arg id "$ID1"
expect_header "... marked Idempotent-Replayed" Idempotent-Replayed true
sleep 1.5
check "... and no second mail" test "$(mail_count alice@example.com)" = 1
check "... nor a second row" test "$(notif_psql -c "SELECT count(*) FROM emails WHERE idempotency_key = 'booking-1'")" = 1
bad "the same key with another body is 422" 422 idempotency-key-reused booking-1 \
	'{"to":"alice@example.com","subject":"Other","text":"other"}'

# the same key from another client is another message
expect_status "another client may use the same key for its own message" 202 \
	POST /notifications/emails -H "$(bearer "$OTHER_SENDER")" \
	-H 'Content-Type: application/json' -H 'Idempotency-Key: booking-1' \
	--data-binary '{"to":"carol@example.com","subject":"Hi","text":"hi"}'
ID_OTHER=$(jq -r .id "$RESP_BODY_FILE")
check "... and gets another id" test "$ID_OTHER" != "$ID1"

# 20 identical requests at once
CONC='{"to":"dave@example.com","subject":"Concurrent","text":"once"}'
for i in $(seq 1 20); do
	curl -sS -m 20 -o "$BH_SCRATCH/conc.$i.body" -w '%{http_code}\n' \
		-H "$(bearer "$SENDER")" -H 'Content-Type: application/json' \
		-H 'Idempotency-Key: concurrent-1' --data-binary "$CONC" \
		"$BASE_URL/notifications/emails" >"$BH_SCRATCH/conc.$i.code" 2>&1 &
	track $!
done
wait
check "20 concurrent identical requests all got 202" \
	test "$(cat "$BH_SCRATCH"/conc.*.code | sort -u)" = 202
check "... all with the same id" \
	test "$(cat "$BH_SCRATCH"/conc.*.body | jq -r .id | sort -u | wc -l)" = 1
check "... one row" \
	test "$(notif_psql -c "SELECT count(*) FROM emails WHERE idempotency_key = 'concurrent-1'")" = 1
mail_wait dave@example.com 20 >/dev/null
sleep 1
check "... one mail" test "$(mail_count dave@example.com)" = 1

# ------------------------------------------------------------ who may

expect_problem "POST without a token is 401" 401 unauthorized POST /notifications/emails \
	-H 'Content-Type: application/json' -H 'Idempotency-Key: k' --data-binary "$CONC"
expect_header "... with WWW-Authenticate: Bearer" WWW-Authenticate 'Bearer.*'
expect_problem "a token for another audience is 401" 401 unauthorized POST /notifications/emails \
	-H "$(bearer "$WRONG_AUD")" -H 'Content-Type: application/json' -H 'Idempotency-Key: k' \
	--data-binary "$CONC"
expect_problem "a token without notifications:send is 403" 403 insufficient-scope \
	POST /notifications/emails -H "$(bearer "$NO_SCOPE")" -H 'Content-Type: application/json' \
	-H 'Idempotency-Key: k' --data-binary "$CONC"
expect_problem "... GET /emails/ID too" 403 insufficient-scope GET "/notifications/emails/$ID1" \
	-H "$(bearer "$NO_SCOPE")"
expect_problem "GET /emails/ID without a token is 401" 401 unauthorized \
	GET "/notifications/emails/$ID1"
expect_problem "another client's message is 404" 404 not-found GET "/notifications/emails/$ID1" \
	-H "$(bearer "$OTHER_SENDER")"
expect_status "... while its own is 200" 200 GET "/notifications/emails/$ID_OTHER" \
	-H "$(bearer "$OTHER_SENDER")"
expect_problem "an unknown id is 404" 404 not-found GET /notifications/emails/987654 \
	-H "$(bearer "$SENDER")"
expect_problem "id 0 is 400" 400 invalid-parameter GET /notifications/emails/0 \
	-H "$(bearer "$SENDER")"
expect_problem "id abc is 400" 400 invalid-parameter GET /notifications/emails/abc \
	-H "$(bearer "$SENDER")"
expect_problem "an id beyond int32 is 400" 400 invalid-parameter \
	GET /notifications/emails/99999999999999999999 -H "$(bearer "$SENDER")"

# ------------------------------------------------------------ bad input

OK='"subject":"s","text":"t"'
bad "no Idempotency-Key is 400" 400 invalid-parameter - "{\"to\":\"a@b.co\",$OK}"
expect_jq "... naming it" '.param == "Idempotency-Key"'
bad "an Idempotency-Key of 256 characters is 400" 400 invalid-parameter \
	"$(head -c 256 /dev/zero | tr '\0' k)" "{\"to\":\"a@b.co\",$OK}"
bad "a non-ASCII Idempotency-Key is 400" 400 invalid-parameter "clé" "{\"to\":\"a@b.co\",$OK}"
expect_problem "a text/plain body is 415" 415 unsupported-media-type POST /notifications/emails \
	-H "$(bearer "$SENDER")" -H 'Content-Type: text/plain' -H 'Idempotency-Key: m1' \
	--data-binary "{\"to\":\"a@b.co\",$OK}"
expect_problem "an empty body is 400 malformed-body (as the runtime's)" 400 malformed-body \
	POST /notifications/emails -H "$(bearer "$SENDER")" -H 'Content-Type: application/json' \
	-H 'Idempotency-Key: m2'
bad "malformed JSON is 400" 400 malformed-body m3 '{"to":'
bad "a JSON array is 400 bad-request (as the runtime's)" 400 bad-request m4 '[1,2]'
bad "JSON null is 400 bad-request" 400 bad-request m4b 'null'
bad "a JSON string is 400 bad-request" 400 bad-request m4c '"to"'
bad "an unknown member is 400" 400 invalid-parameter m5 "{\"to\":\"a@b.co\",$OK,\"bcc\":\"x@y.z\"}"
expect_jq "... naming it" '.param == "bcc"'
bad "to given twice is 400 (json-c would keep the last)" 400 malformed-body m5b \
	"{\"to\":\"a@b.co\",\"to\":\"x@y.z\",$OK}"
expect_jq "... naming it" '.param == "to"'
bad "to missing is 400" 400 invalid-parameter m6 "{$OK}"
bad "to a number is 400" 400 invalid-parameter m7 "{\"to\":42,$OK}"
bad "to with CRLF and a header is 400" 400 invalid-parameter m8 \
	"{\"to\":\"a@b.co\\r\\nBcc: victim@example.com\",$OK}"
bad "two addresses in to are 400" 400 invalid-parameter m9 "{\"to\":\"a@b.co, c@d.co\",$OK}"
bad "to with angle brackets is 400" 400 invalid-parameter m10 "{\"to\":\"A <a@b.co>\",$OK}"
bad "to without a domain is 400" 400 invalid-parameter m11 "{\"to\":\"alice@\",$OK}"
bad "to of 300 octets is 400" 400 invalid-parameter m12 \
	"{\"to\":\"$(head -c 290 /dev/zero | tr '\0' a)@b.co\",$OK}"
bad "to with a NUL is 400" 400 'invalid-parameter|malformed-body' m13 "{\"to\":\"a\\u0000@b.co\",$OK}"
bad "subject with CRLF is 400" 400 invalid-parameter m14 \
	'{"to":"a@b.co","subject":"hi\r\nBcc: victim@example.com","text":"t"}'
expect_jq "... naming subject" '.param == "subject"'
bad "an empty subject is 400" 400 invalid-parameter m15 '{"to":"a@b.co","subject":"","text":"t"}'
bad "a subject of 999 octets is 400" 400 invalid-parameter m16 \
	"{\"to\":\"a@b.co\",\"subject\":\"$(head -c 999 /dev/zero | tr '\0' s)\",\"text\":\"t\"}"
bad "text missing is 400" 400 invalid-parameter m17 '{"to":"a@b.co","subject":"s"}'
bad "text null is 400" 400 invalid-parameter m18 '{"to":"a@b.co","subject":"s","text":null}'
bad "text an object is 400" 400 invalid-parameter m19 '{"to":"a@b.co","subject":"s","text":{}}'
bad "html a number is 400" 400 invalid-parameter m20 "{\"to\":\"a@b.co\",$OK,\"html\":1}"
bad "attachments an object is 400" 400 invalid-parameter m21 "{\"to\":\"a@b.co\",$OK,\"attachments\":{}}"
ATT='{"filename":"a.txt","content_type":"text/plain","content":"aGk="}'
bad "11 attachments are 400" 400 invalid-parameter m22 \
	"{\"to\":\"a@b.co\",$OK,\"attachments\":[$(printf "$ATT,%.0s" $(seq 1 10))$ATT]}"
bad "bad base64 is 400" 400 invalid-parameter m23 \
	"{\"to\":\"a@b.co\",$OK,\"attachments\":[{\"filename\":\"a\",\"content_type\":\"text/plain\",\"content\":\"a!==\"}]}"
expect_jq "... naming the attachment" '.param == "attachments[0].content"'
bad "base64 with a line break is 400" 400 invalid-parameter m24 \
	"{\"to\":\"a@b.co\",$OK,\"attachments\":[{\"filename\":\"a\",\"content_type\":\"text/plain\",\"content\":\"aGVs\\nbG8=\"}]}"
bad "base64 without padding is 400" 400 invalid-parameter m25 \
	"{\"to\":\"a@b.co\",$OK,\"attachments\":[{\"filename\":\"a\",\"content_type\":\"text/plain\",\"content\":\"aGk\"}]}"
bad "a content type without subtype is 400" 400 invalid-parameter m26 \
	"{\"to\":\"a@b.co\",$OK,\"attachments\":[{\"filename\":\"a\",\"content_type\":\"pdf\",\"content\":\"aGk=\"}]}"
bad "a content type with a header injected is 400" 400 invalid-parameter m27 \
	"{\"to\":\"a@b.co\",$OK,\"attachments\":[{\"filename\":\"a\",\"content_type\":\"text/plain\\r\\nX: y\",\"content\":\"aGk=\"}]}"
bad "a file name that is only a path is 400" 400 invalid-parameter m28 \
	"{\"to\":\"a@b.co\",$OK,\"attachments\":[{\"filename\":\"../../\",\"content_type\":\"text/plain\",\"content\":\"aGk=\"}]}"
expect_jq "... saying nothing is left of it once cleaned" \
	'.param == "attachments[0].filename" and (.detail | test("nothing left"))'
bad "a file name of dots and spaces is 400" 400 invalid-parameter m28b \
	"{\"to\":\"a@b.co\",$OK,\"attachments\":[{\"filename\":\" ... \",\"content_type\":\"text/plain\",\"content\":\"aGk=\"}]}"
expect_jq "... with the same message" '.detail | test("nothing left")'
bad "an unknown attachment member is 400" 400 invalid-parameter m29 \
	"{\"to\":\"a@b.co\",$OK,\"attachments\":[{\"filename\":\"a\",\"content_type\":\"text/plain\",\"content\":\"aGk=\",\"x\":1}]}"
bad "an attachment that is a string is 400" 400 invalid-parameter m30 \
	"{\"to\":\"a@b.co\",$OK,\"attachments\":[\"x\"]}"
BIG=$BH_SCRATCH/big.json
{ printf '{"to":"a@b.co","subject":"s","text":"'; head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' a; printf '"}'; } >"$BIG"
bad "a 2 MiB body is 413" 413 payload-too-large m31 "@$BIG"
bad "deep nesting is 400" 400 'malformed-body|invalid-parameter' m32 \
	"$(printf '{"to":%.0s' $(seq 1 100))1$(printf '}%.0s' $(seq 1 100))"
bad "a number for subject is 400" 400 invalid-parameter m33 '{"to":"a@b.co","subject":1,"text":"t"}'
check "no bad request made a row" \
	test "$(notif_psql -c "SELECT count(*) FROM emails WHERE idempotency_key ~ '^m[0-9]+[a-z]?$'")" = 0

# a file name with a path and quotes is cleaned, not refused
send "a file name with a path and quotes is accepted" 202 clean-1 \
	'{"to":"erin@example.com","subject":"s","text":"t","attachments":[{"filename":"../../etc/\"evil\".txt","content_type":"text/plain","content":"aGk="}]}'
MAIL=$(mail_wait erin@example.com 20)
check "... and arrives as _evil_.txt" jq -e '.attachments[0].filename == "_evil_.txt"' "$MAIL"

# ------------------------------------------------------------ failures

send "a recipient the server refuses (550)" 202 reject-1 \
	'{"to":"frank+reject@example.com","subject":"s","text":"t"}'
ID_REJ=$(jq -r .id "$RESP_BODY_FILE")
wait_until 15 email_status_is "$ID_REJ" failed
expect_status "... GET shows it failed" 200 GET "/notifications/emails/$ID_REJ" -H "$(bearer "$SENDER")"
expect_jq "... after one attempt, SMTP 550 to RCPT TO, not retried" \
	'.status == "failed" and .attempts == 1 and (.history | length) == 1
	and .history[0].result == "permanent" and .history[0].smtp_code == 550
	and .history[0].step == "rcpt"
	and .next_attempt_at == null and (.failed_at | type) == "string"'
expect_jq "... its body kept for a requeue (BH_FAILED_BODY_RETENTION)" '.body_retained == true'

# Our own workers from here on, with quick retries.
stop_stack_worker
check "the stack's delivery worker stopped on SIGTERM" \
	bh_pid_gone "$(cat "$VAR/run/deliver.pid")"
export BH_DELIVERY_RETRY_BASE=1 BH_DELIVERY_MAX_ATTEMPTS=3
start_worker

send "a recipient the server defers (451)" 202 tempfail-1 \
	'{"to":"gina+tempfail@example.com","subject":"s","text":"t"}'
ID_TMP=$(jq -r .id "$RESP_BODY_FILE")
wait_until 30 email_status_is "$ID_TMP" failed
expect_status "... GET shows it" 200 GET "/notifications/emails/$ID_TMP" -H "$(bearer "$SENDER")"
expect_jq "... failed after 3 temporary attempts (BH_DELIVERY_MAX_ATTEMPTS)" \
	'.status == "failed" and .attempts == 3 and ([.history[].result] == ["temporary","temporary","temporary"])
	and ([.history[].smtp_code] == [451,451,451]) and ([.history[].step] == ["rcpt","rcpt","rcpt"])'
check "... with a growing wait between attempts" test "$(notif_psql -c "
	SELECT bool_and(gap >= interval '400 ms') FROM (
		SELECT attempted_at - lag(attempted_at) OVER (ORDER BY attempt) AS gap
		FROM email_attempts WHERE email_id = $ID_TMP) g WHERE gap IS NOT NULL")" = t
stop_workers

# The SMTP server down: attempts recorded but not counted toward
# BH_DELIVERY_MAX_ATTEMPTS; the message gives up only after
# BH_DELIVERY_MAX_AGE, or is delivered once when the server is back.
smtp_stop >/dev/null 2>&1
check "the SMTP sink is down" bash -c '! kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null' _ "$VAR/run/smtp.pid"
export BH_DELIVERY_MAX_AGE=3 BH_DELIVERY_RETRY_MAX=1
start_worker
send "a message while the SMTP server is down, BH_DELIVERY_MAX_AGE=3" 202 down-age-1 \
	'{"to":"olga@example.com","subject":"too old","text":"t"}'
ID_AGE=$(jq -r .id "$RESP_BODY_FILE")
wait_until 20 email_status_is "$ID_AGE" failed
email_get "$ID_AGE" "... GET shows it"
expect_jq "... failed once queued 3 s, after more attempts than BH_DELIVERY_MAX_ATTEMPTS (3), none counted" \
	'.status == "failed" and .attempts > 3 and ([.history[].result] | unique) == ["temporary"]
	and ([.history[].smtp_code] | unique) == [null]'
check "... its last attempt came at the age limit (3 s after it was queued)" test "$(notif_psql -c "
	SELECT max(a.attempted_at) - e.queued_at BETWEEN interval '2.9 s' AND interval '4 s'
	FROM email_attempts a JOIN emails e ON e.id = a.email_id WHERE e.id = $ID_AGE GROUP BY e.queued_at")" = t
stop_workers
unset BH_DELIVERY_MAX_AGE BH_DELIVERY_RETRY_MAX

export BH_DELIVERY_RETRY_MAX=2
start_worker
send "a message while the SMTP server is down is 202" 202 down-1 \
	'{"to":"hank@example.com","subject":"while down","text":"t"}'
ID_DOWN=$(jq -r .id "$RESP_BODY_FILE")
wait_until 20 attempts_at_least "$ID_DOWN" 4
email_get "$ID_DOWN" "... GET shows it still queued with failed attempts"
expect_jq "... still queued after 4 attempts with BH_DELIVERY_MAX_ATTEMPTS=3: no reply, not counted" \
	'.status == "queued" and .attempts >= 4 and .history[0].result == "temporary"
	and .history[0].smtp_code == null and .history[0].step == "greeting"
	and (.history[0].error | length) > 0 and (.next_attempt_at | type) == "string"'
check "... the database counted no refusal" test "$(notif_psql -c "SELECT refusals FROM emails WHERE id = $ID_DOWN")" = 0
check "... nothing reached the sink" test "$(mail_count hank@example.com)" = 0
smtp_start >/dev/null 2>&1
check "the SMTP sink is back" bash -c 'kill -0 "$(cat "$1")"' _ "$VAR/run/smtp.pid"
MAIL=$(mail_wait hank@example.com 30)
check "... the message is delivered after the server came back" test -n "$MAIL"
wait_until 10 email_status_is "$ID_DOWN" sent
check "... the database says sent" test "$(email_status "$ID_DOWN" | cut -d' ' -f1)" = sent
sleep 1
check "... exactly once" test "$(mail_count hank@example.com)" = 1
stop_workers
unset BH_DELIVERY_RETRY_MAX
export BH_DELIVERY_MAX_ATTEMPTS=8

# The outage over, the operator requeues what gave up meanwhile.
requeue --id "$ID_AGE"
check "requeue --id puts a message failed by age back in the queue (prints 1)" \
	test "$REQUEUE_RC/$REQUEUE_OUT" = 0/1
check "... queued again, its attempts back to 0" test "$(email_status "$ID_AGE")" = "queued 0"
deliver_once
check "... and it is delivered" test "$(email_status "$ID_AGE")" = "sent 1"
check "... to the sink, once" test "$(mail_count olga@example.com)" = 1
email_get "$ID_AGE" "... GET shows it"
expect_jq "... sent, requeued_at set, the history kept with attempts numbered on" \
	'.status == "sent" and .attempts == 1 and (.requeued_at | type) == "string"
	and ([.history[].attempt] == [range(1; (.history | length) + 1)])
	and .history[-1].result == "sent" and (.history | length) > 4 and .body_retained == false'

# 5xx to MAIL FROM is the server's or our configuration's trouble: retried
# and counted, not a permanent failure.
send "a message sent with a From the server refuses" 202 mailfrom-1 \
	'{"to":"paul@example.com","subject":"s","text":"t"}'
ID_FROM=$(jq -r .id "$RESP_BODY_FILE")
REFUSED_FROM=BH_MAIL_FROM=noreply+rejectfrom@bellhop.invalid
deliver_once "$REFUSED_FROM" BH_DELIVERY_MAX_ATTEMPTS=2
email_get "$ID_FROM" "... GET after one attempt"
expect_jq "... 550 to MAIL FROM is temporary: queued for another attempt" \
	'.status == "queued" and .attempts == 1 and .history[0].result == "temporary"
	and .history[0].smtp_code == 550 and .history[0].step == "mail"'
due_now "$ID_FROM"
deliver_once "$REFUSED_FROM" BH_DELIVERY_MAX_ATTEMPTS=2
check "... counted: failed after BH_DELIVERY_MAX_ATTEMPTS (2) refusals" \
	test "$(email_status "$ID_FROM")" = "failed 2"

# 5xx to the greeting and to EHLO/HELO: the same.
cat >"$BH_SCRATCH/refusing-smtp.py" <<'PY'
import socket, sys
port, mode = int(sys.argv[1]), sys.argv[2]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(8)
print("listening", flush=True)
while True:
    conn, _ = srv.accept()
    with conn:
        if mode == "greeting":
            conn.sendall(b"554 5.3.2 No service here\r\n")
            continue
        conn.sendall(b"220 refusing\r\n")
        for line in conn.makefile("rb"):
            verb = line[:4].upper()
            if verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                break
            conn.sendall(b"550 5.7.0 Not you\r\n" if verb in (b"EHLO", b"HELO")
                         else b"503 5.5.1 Bad sequence\r\n")
PY
for mode in greeting ehlo; do
	port=$(pick_port)
	/usr/bin/python3 "$BH_SCRATCH/refusing-smtp.py" "$port" "$mode" >"$BH_SCRATCH/refusing-$mode.out" 2>&1 &
	track $!
	wait_until 10 grep -q listening "$BH_SCRATCH/refusing-$mode.out"
	send "a message for a server refusing the $mode with 5xx" 202 "refuse-$mode-1" \
		"{\"to\":\"$mode@example.com\",\"subject\":\"s\",\"text\":\"t\"}"
	mid=$(jq -r .id "$RESP_BODY_FILE")
	[ $mode = greeting ] && ID_GREET=$mid
	deliver_once "BH_SMTP_URL=smtp://127.0.0.1:$port" BH_DELIVERY_MAX_ATTEMPTS=2
	email_get "$mid" "... GET after one attempt"
	expect_jq "... 5xx to the $mode is temporary: queued for another attempt" \
		'.status == "queued" and .history[0].result == "temporary"
		and .history[0].smtp_code >= 500 and .history[0].step == "'"$mode"'"'
	due_now "$mid"
	deliver_once "BH_SMTP_URL=smtp://127.0.0.1:$port" BH_DELIVERY_MAX_ATTEMPTS=2
	check "... counted: failed after 2 refusals" test "$(email_status "$mid")" = "failed 2"
done

# ------------------------------------------------------------ SIGKILL

# 30 messages to "+slow" recipients (the sink answers the end of DATA after
# 3 s and stores nothing if the client is gone by then), 3 workers, two of
# them killed with SIGKILL while sending, replacements started.
N=30
: >"$BH_SCRATCH/batch.ids"
for i in $(seq 1 $N); do
	curl -sS -m 10 -H "$(bearer "$SENDER")" -H 'Content-Type: application/json' \
		-H "Idempotency-Key: batch-$i" \
		--data-binary "{\"to\":\"batch$i+slow@example.com\",\"subject\":\"batch $i\",\"text\":\"t\"}" \
		"$BASE_URL/notifications/emails" | jq -r .id >>"$BH_SCRATCH/batch.ids"
done
check "$N messages queued for the batch" test "$(grep -c '^[0-9]' "$BH_SCRATCH/batch.ids")" = $N
BATCH_MIN=$(sort -n "$BH_SCRATCH/batch.ids" | head -n 1)

start_worker
start_worker
start_worker
sleep 4.5
# the workers are inside a 3 s send now
KILLED=0
for pid in "${WORKERS[0]}" "${WORKERS[1]}"; do
	kill -KILL "$pid" 2>/dev/null && KILLED=$((KILLED + 1))
	wait "$pid" 2>/dev/null
done
check "two delivery workers killed with SIGKILL mid-batch" test $KILLED = 2
WORKERS=("${WORKERS[2]}")
start_worker
sleep 2
kill -KILL "${WORKERS[0]}" 2>/dev/null
wait "${WORKERS[0]}" 2>/dev/null
WORKERS=("${WORKERS[1]}")
start_worker
start_worker

batch_done() {
	[ "$(notif_psql -c "SELECT count(*) FROM emails WHERE id >= $BATCH_MIN AND idempotency_key LIKE 'batch-%' AND status = 'sent'")" = $N ]
}
wait_until 120 batch_done
check "every message of the batch is sent in the database" batch_done
batch_ids() {
	mail_message_ids | grep -E "^<bellhop\\.[0-9]+\\." | while read -r mid; do
		id=${mid#<bellhop.}
		id=${id%%.*}
		[ "$id" -ge "$BATCH_MIN" ] && echo "$id"
	done
}
sleep 1
check "the sink holds exactly $N batch messages" test "$(batch_ids | wc -l)" = $N
check "... each Message-ID once (no duplicate)" test "$(batch_ids | sort -u | wc -l)" = $N
check "... and the database recorded one successful attempt per message" test "$(notif_psql -c "
	SELECT count(*) FROM email_attempts a JOIN emails e ON e.id = a.email_id
	WHERE e.idempotency_key LIKE 'batch-%' AND a.result = 'sent'")" = $N
check "the sink saw the killed workers' connections drop mid-message (nothing stored)" \
	test "$(grep -c 'message dropped' "$VAR/log/smtp.log")" -ge 2
check "... the killed workers' sends left no attempt behind (rolled back)" test "$(notif_psql -c "
	SELECT count(*) FROM email_attempts a JOIN emails e ON e.id = a.email_id
	WHERE e.idempotency_key LIKE 'batch-%' AND a.result <> 'sent'")" = 0

# SIGTERM finishes the message in hand
send "one more slow message" 202 term-1 '{"to":"ivan+slow@example.com","subject":"s","text":"t"}'
ID_TERM=$(jq -r .id "$RESP_BODY_FILE")
sleep 1.2
stop_workers
check "SIGTERM during a send: the message in hand was finished and recorded" \
	test "$(email_status "$ID_TERM")" = "sent 1"
check "... and delivered once" test "$(mail_count ivan+slow@example.com)" = 1

# ------------------------------------------------------------ STARTTLS

# A second sink offering STARTTLS with a self-signed certificate; the
# worker (deliver --once) upgrades the connection when it trusts the
# certificate (BH_SMTP_CA_FILE), and without it refuses to send in the
# clear or to an unverified server: a temporary failure.
TLS_PORT=$(pick_port)
TLS_DIR=$BH_SCRATCH/tls-mail
/usr/bin/python3 "$BH_SRCDIR/t/fakes/smtp.py" --listen "127.0.0.1:$TLS_PORT" --dir "$TLS_DIR" \
	--starttls >"$BH_SCRATCH/tls-sink.out" 2>&1 &
track $!
wait_until 15 grep -q '^listening on' "$BH_SCRATCH/tls-sink.out"
check "a sink offering STARTTLS runs" grep -q '^listening on' "$BH_SCRATCH/tls-sink.out"

deliver_once_tls() {
	local -a envs
	mapfile -t envs < <(stack_env notifications)
	env "${envs[@]}" "BH_SMTP_URL=smtp://127.0.0.1:$TLS_PORT" "$@" \
		"$BH_BUILDDIR/handlers/notifications/bellhop-notifications" deliver --once \
		>>"$BH_SCRATCH/workers.log" 2>&1
}

send "a message for the STARTTLS server" 202 tls-1 '{"to":"tls@example.com","subject":"s","text":"t"}'
ID_TLS=$(jq -r .id "$RESP_BODY_FILE")
deliver_once_tls
check "without the server's certificate trusted, nothing is sent (a temporary failure)" \
	test "$(email_status "$ID_TLS")" = "queued 1"
check "... the error names the certificate" \
	test "$(notif_psql -c "SELECT last_error ~* 'certificate' FROM emails WHERE id = $ID_TLS")" = t
check "... TLS trouble is no SMTP refusal: no code, not counted toward BH_DELIVERY_MAX_ATTEMPTS" \
	test "$(notif_psql -c "SELECT a.smtp_code IS NULL AND a.step = 'starttls' AND e.refusals = 0
		FROM emails e JOIN email_attempts a ON a.email_id = e.id WHERE e.id = $ID_TLS")" = t
notif_psql -c "UPDATE emails SET next_attempt_at = now() WHERE id = $ID_TLS" >/dev/null
deliver_once_tls "BH_SMTP_CA_FILE=$TLS_DIR/.tls/cert.pem"
check "with BH_SMTP_CA_FILE the message goes over STARTTLS" \
	test "$(email_status "$ID_TLS")" = "sent 2"
check "... and the sink received it over TLS" \
	bash -c 'BH_MAIL_DIR=$1; . "$2"; f=$(mail_first tls@example.com) && jq -e ".tls == true" "$f"' \
	_ "$TLS_DIR" "$BH_SRCDIR/t/lib/mail.sh"

# ------------------------------------------------------------ requeue

requeue --id x
check "requeue --id x is a usage error (exit 2)" test "$REQUEUE_RC" = 2
requeue --failed-since 0
check "requeue --failed-since 0 is a usage error (exit 2)" test "$REQUEUE_RC" = 2
requeue --id 1 --failed-since 60
check "requeue with both options is a usage error (exit 2)" test "$REQUEUE_RC" = 2
requeue --id "$ID1"
check "requeue --id of a sent message fails (exit 1), saying it is not failed" \
	bash -c '[ "$1" = 1 ] && grep -q "is sent, not failed" <<<"$2"' _ "$REQUEUE_RC" "$REQUEUE_ERR"
check "... and leaves it sent" test "$(email_status "$ID1")" = "sent 1"
requeue --id 987654
check "requeue --id of no message fails (exit 1)" \
	bash -c '[ "$1" = 1 ] && grep -q "no email" <<<"$2"' _ "$REQUEUE_RC" "$REQUEUE_ERR"

FAILED_RECENT=$(notif_psql -c "SELECT count(*) FROM emails WHERE status = 'failed' AND failed_at > now() - interval '1 hour'")
notif_psql -c "UPDATE emails SET failed_at = now() - interval '2 hours' WHERE id = $ID_REJ" >/dev/null
requeue --failed-since 3600
check "requeue --failed-since 3600 requeues the messages failed in the last hour ($((FAILED_RECENT - 1)))" \
	test "$REQUEUE_RC/$REQUEUE_OUT" = "0/$((FAILED_RECENT - 1))"
check "... not one that failed before" test "$(email_status "$ID_REJ" | cut -d' ' -f1)" = failed
check "... none of the others is failed any more" test "$(notif_psql -c "
	SELECT count(*) FROM emails WHERE status = 'failed' AND failed_at > now() - interval '1 hour'")" = 0
deliver_once BH_DELIVERY_MAX_ATTEMPTS=1
check "... delivered again: the one refused at the greeting goes through now" \
	test "$(email_status "$ID_GREET")" = "sent 1"
check "... those refused again are failed again" test "$(notif_psql -c "
	SELECT count(*) FROM emails WHERE status = 'queued'")" = 0

# Failed messages keep their bodies for BH_FAILED_BODY_RETENTION, then lose
# them, and cannot be requeued any more.
check "failed messages keep their bodies meanwhile" test "$(notif_psql -c "
	SELECT bool_and(body_retained) FROM emails WHERE status = 'failed'")" = t
sleep 1.1
deliver_once BH_FAILED_BODY_RETENTION=1
check "the delivery worker clears the bodies of messages failed BH_FAILED_BODY_RETENTION (1 s) ago" \
	test "$(notif_psql -c "SELECT count(*) FROM emails WHERE status = 'failed' AND body_retained")" = 0
check "... attachments included" test "$(notif_psql -c "
	SELECT count(*) FROM email_attachments a JOIN emails e ON e.id = a.email_id WHERE e.status = 'failed'")" = 0
email_get "$ID_REJ" "... GET shows it"
expect_jq "... body_retained false, the rest kept" \
	'.status == "failed" and .body_retained == false and .to == "frank+reject@example.com" and .attempts == 1'
requeue --id "$ID_REJ"
check "... requeue --id of it then fails (exit 1), saying its body was cleared" \
	bash -c '[ "$1" = 1 ] && grep -q "body was cleared" <<<"$2"' _ "$REQUEUE_RC" "$REQUEUE_ERR"
requeue
check "requeue (all) requeues none of them, saying why" \
	bash -c '[ "$1/$2" = 0/0 ] && grep -q "bodies were cleared" <<<"$3"' _ "$REQUEUE_RC" "$REQUEUE_OUT" "$REQUEUE_ERR"

# ------------------------------------------------------------ purge

service_run notifications purge --days 0 >"$BH_SCRATCH/purge.out" 2>&1
check "purge --days 0 deletes sent and failed messages" \
	test "$(notif_psql -c "SELECT count(*) FROM emails WHERE status <> 'queued'")" = 0
check "... their attachments and attempts too" \
	test "$(notif_psql -c "SELECT (SELECT count(*) FROM email_attachments) + (SELECT count(*) FROM email_attempts)")" = 0
service_run notifications purge --days x >/dev/null 2>&1
check "purge with a bad --days is a usage error (exit 2)" test $? = 2

# the workers started here log to the scratch directory, which the
# teardown's sanitizer scan does not read
check "no sanitizer report from this test's own delivery workers" \
	bash -c '! grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|SUMMARY: |runtime error: " "$1"' \
	_ "$BH_SCRATCH/workers.log"

finish
