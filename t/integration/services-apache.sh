#!/bin/bash
# services-apache.sh - the whole system (auth, users, notifications,
# search, the SMTP sink and the delivery worker) behind apache-fcgid, then
# behind apache-proxy: the Authorization header reaches the services (a
# service token is judged: 403 for a missing scope, 202 for a mail sent
# with one), a request without a token gets the service's own 401
# problem with its WWW-Authenticate, auth's HTML sign-in page comes with
# its headers and cookie, its own error and 429 pages pass through
# (ErrorDocument replaces only Apache's errors), and a person signs up,
# gets the verification mail in the sink and verifies (user_signup), signs
# in with the authorization-code flow (user_login; both t/lib/oauth.sh)
# and reads /users/me.
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
	expect_jq "$front: / lists the four services" \
		'[.services[].name] | sort == ["auth", "notifications", "search", "users"]'

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
	else
		fail "$front: sign-in with the authorization-code flow and PKCE"
	fi
}

system_checks apache-fcgid
check "apache-fcgid: Apache runs the services (no pool pid file)" test ! -e "$VAR/run/users.pid"
system_checks apache-proxy
check "apache-proxy: the services run their own pools" test -S "$VAR/run/users.sock"
finish
