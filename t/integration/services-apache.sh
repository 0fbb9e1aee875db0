#!/bin/bash
# services-apache.sh - the whole system (auth, users, notifications,
# search, reports, payments, reservations, the SMTP sink, the delivery
# worker, the fake bank and the reconcile loops) behind apache-fcgid, then
# behind apache-proxy: the Authorization header reaches the services (a
# service token is judged: 403 for a missing scope, 202 for a mail sent
# with one), a request without a token gets the service's own 401
# problem with its WWW-Authenticate, auth's HTML sign-in page comes with
# its headers and cookie, its own error and 429 pages pass through
# (ErrorDocument replaces only Apache's errors), and a person signs up,
# gets the verification mail in the sink and verifies (user_signup), signs
# in with the authorization-code flow (user_login; both t/lib/oauth.sh)
# and reads /users/me; then books: holds a room, pays with a test card
# (the bank charges once), downloads the PDF receipt (application/pdf
# through the front end, its text naming the guest and the card's last
# four digits) and finds the recap mail with the receipt attached.
. "$(dirname "$0")/../lib/harness.sh"
. "$BH_SRCDIR/t/lib/oauth.sh"
. "$BH_SRCDIR/t/lib/mail.sh"

# A low per-account sign-in limit, so that a 429 is quick to reach.
export BH_SIGNIN_LIMIT_ACCOUNT=2

PASSWORD='correct horse battery staple'

# json_of KEY VALUE ...: a JSON object of string members.
json_of() {
	jq -nc '[$ARGS.positional | _nwise(2) | {(.[0]): .[1]}] | add' --args "$@"
}

# signin_post EMAIL PASSWORD: the sign-in form posted with the page's CSRF
# cookie and field (oauth_authorize_page first); the response is RESP_*.
signin_post() {
	oauth_params
	http POST /auth/oauth/authorize -b "$OAUTH_JAR" \
		--data-urlencode "email=$1" --data-urlencode "password=$2" \
		--data-urlencode "csrf_token=$OAUTH_CSRF" "${OAUTH_PARAMS[@]}"
}

system_checks() {
	local front=$1 token email i

	stack_up "$front" || bail "the system did not come up behind $front"
	check "$front: scripts/stack status: everything runs" "$BH_STACK" status --var "$VAR"
	expect_status "$front: / is 200" 200 GET /
	expect_jq "$front: / lists the seven services" \
		'[.services[].name] | sort == ["auth", "notifications", "payments", "reports", "reservations", "search", "users"]'

	# --- the Authorization header reaches the services ------------------
	expect_problem "$front: GET /users/me without a token is the service's 401 problem" \
		401 unauthorized GET /users/me
	expect_header "$front: ... with WWW-Authenticate: Bearer" WWW-Authenticate 'Bearer( .*)?'
	expect_problem "$front: a token that is no JWT is a 401 problem" 401 unauthorized \
		GET /users/me -H 'Authorization: Bearer not-a-jwt'
	expect_header "$front: ... with WWW-Authenticate error=\"invalid_token\"" \
		WWW-Authenticate 'Bearer .*error="invalid_token".*'
	if token=$(client_token auth); then
		pass "$front: client auth gets a service token (client_credentials)"
		expect_problem "$front: auth's token on GET /users/me (no profile scope) is a 403 problem" \
			403 insufficient-scope GET /users/me -H "Authorization: Bearer $token"
	else
		fail "$front: client auth gets a service token (client_credentials)"
	fi
	if token=$(client_token users notifications:send); then
		pass "$front: client users gets a notifications:send token"
		expect_status "$front: POST /notifications/emails with it is 202" 202 \
			POST /notifications/emails -H "Authorization: Bearer $token" \
			-H "Idempotency-Key: services-apache-$front" -H 'Content-Type: application/json' \
			--data-binary "$(json_of to "ops-$front@example.com" subject "Hello from $front" \
				text "A mail through $front.")"
		check "$front: the mail reaches the SMTP sink" mail_wait "ops-$front@example.com" 20
	else
		fail "$front: client users gets a notifications:send token"
	fi

	# --- auth's own HTML pages -------------------------------------------
	pkce_new
	oauth_params
	expect_status "$front: the sign-in page is 200" 200 \
		GET /auth/oauth/authorize -G "${OAUTH_PARAMS[@]}"
	expect_content_type "$front: ... text/html" text/html
	check "$front: ... sets a cookie (CSRF)" resp_header Set-Cookie
	check "$front: ... holds the form and its csrf_token field" \
		grep -q 'name="csrf_token"' "$RESP_BODY_FILE"

	email=nobody-$front@example.com
	oauth_authorize_page || fail "$front: the sign-in page has its form"
	# (auth's status for it, 400 or 401, is auth's business: the point
	# here is that its page, not Apache's error document, comes back)
	signin_post "$email" 'wrong password'
	if status_is '400|401' && [ "$(resp_header Content-Type | cut -d';' -f1)" = text/html ] &&
		grep -q 'name="csrf_token"' "$RESP_BODY_FILE"; then
		pass "$front: a wrong password gets auth's own error page (the form again)"
	else
		fail "$front: a wrong password gets auth's own error page (the form again)" "$(resp_summary)"
	fi
	for ((i = 0; i < 3; i++)); do
		oauth_authorize_page || break
		signin_post "$email" 'wrong password'
		status_is 429 && break
	done
	if status_is 429 && [ "$(resp_header Content-Type | cut -d';' -f1)" = text/html ]; then
		pass "$front: past the account's limit, auth's own 429 page"
	else
		fail "$front: past the account's limit, auth's own 429 page" "$(resp_summary)"
	fi
	expect_header "$front: ... with its Retry-After" Retry-After '[1-9][0-9]*'

	# --- a person: sign up, verify, sign in, /users/me -------------------
	# (sign-in wants a verified email)
	email=guest-$front@example.com
	check "$front: sign-up, the verification mail through the sink, verification (user_signup)" \
		user_signup "$email" "$PASSWORD" Guest
	if token=$(user_login "$email" "$PASSWORD"); then
		pass "$front: sign-in with the authorization-code flow and PKCE"
		expect_status "$front: GET /users/me with the person's token is 200" 200 \
			GET /users/me -H "Authorization: Bearer $token"
		expect_jq "$front: ... their own, verified account" \
			'.email == $e and .email_verified == true' --arg e "$email"
		booking_checks "$front" "$token" "$email"
	else
		fail "$front: sign-in with the authorization-code flow and PKCE"
	fi
}

# recap_with_pdf ADDR: a mail to ADDR carries a PDF attachment.
recap_with_pdf() {
	local f
	for f in $(mail_list "$1"); do
		jq -e '[.attachments[]? | select(.content_type == "application/pdf")] | length > 0' \
			"$f" >/dev/null && return 0
	done
	return 1
}

# booking_checks FRONT TOKEN EMAIL: the person of TOKEN (Guest, EMAIL)
# books a room through FRONT: hold, pay, receipt, recap mail.  The stays
# differ per front end (one stack, one database).
booking_checks() {
	local front=$1 token=$2 email=$3 hotel room_type checkin checkout id charges body days
	local -a auth=(-H "Authorization: Bearer $token")

	case $front in
	apache-fcgid) days=40 ;;
	*) days=50 ;;
	esac
	checkin=$(date -u -d "+$days days" +%F)
	checkout=$(date -u -d "+$((days + 2)) days" +%F)
	expect_status "$front: a hotel in Lisbon for two" 200 GET "/search/hotels?city=Lisbon&guests=2&per_page=1"
	hotel=$(jq -r '.hotels[0].id // empty' "$RESP_BODY_FILE")
	expect_status "$front: its room types" 200 GET "/search/hotels/${hotel:-0}"
	room_type=$(jq -r '[.room_types[] | select(.capacity >= 2)][0].id // empty' "$RESP_BODY_FILE")
	charges=$(bank_stats | jq -r '.charges.count // empty')

	body=$(jq -nc --argjson h "${hotel:-0}" --argjson t "${room_type:-0}" \
		--arg i "$checkin" --arg o "$checkout" \
		'{hotel_id: $h, room_type_id: $t, checkin: $i, checkout: $o, guests: 2}')
	expect_status "$front: POST /reservations/reservations holds a room (201)" 201 \
		POST /reservations/reservations "${auth[@]}" -H 'Content-Type: application/json' \
		-H "Idempotency-Key: services-apache-hold-$front" --data-binary "$body"
	expect_jq "$front: ... held, 2 nights, priced from the catalogue" \
		'.status == "held" and .nights == 2 and .total == 2 * .nightly_rate and .total > 0'
	id=$(jq -r '.id // empty' "$RESP_BODY_FILE")

	expect_status "$front: paying with 4242424242424242 confirms it (200)" 200 \
		POST "/reservations/reservations/${id:-none}/payment" "${auth[@]}" \
		-H 'Content-Type: application/json' --data-binary \
		'{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2034,"cvc":"123","holder":"Guest"}}'
	expect_jq "$front: ... confirmed, paid by visa 4242" \
		'.status == "confirmed" and .payment.brand == "visa" and .payment.last4 == "4242"'
	check "$front: ... the card number is nowhere in the answer" \
		bash -c '! grep -q 4242424242424242 "$1"' _ "$RESP_BODY_FILE"
	check "$front: the bank made exactly one more charge" \
		test "$(bank_stats | jq -r '.charges.count')" = "$((${charges:-0} + 1))"

	expect_status "$front: GET the receipt (200)" 200 \
		GET "/reservations/reservations/${id:-none}/receipt" "${auth[@]}"
	expect_content_type "$front: ... application/pdf" application/pdf
	check "$front: ... a PDF whose text names the guest and the card's last four digits" \
		bash -c 'head -c 5 "$1" | grep -q "%PDF-" && pdftotext "$1" - | grep -q Guest &&
			pdftotext "$1" - | grep -q 4242' _ "$RESP_BODY_FILE"
	check "$front: the recap mail with the PDF receipt reaches the sink" \
		wait_until 30 recap_with_pdf "$email"
}

system_checks apache-fcgid
check "apache-fcgid: Apache runs the services (no pool pid file)" test ! -e "$VAR/run/users.pid"
system_checks apache-proxy
check "apache-proxy: the services run their own pools" test -S "$VAR/run/users.sock"
finish
