#!/bin/bash
# users.sh - the users service behind nginx, with auth and notifications
# and the SMTP sink: sign-up, email verification and password reset end
# to end through the mail the sink received, the stored argon2id hash,
# duplicate addresses in another case, addresses beyond ASCII, who may
# call what (/me with its own account only, verify-password for auth's
# client only, an account by id for a users:read token only), sessions ended at auth by a password change, a reset, an
# email change and a deletion (and nothing changed while auth is down),
# the notices of those changes, account deletion, the mail that cannot be
# sent or is refused, the rate limits of the public routes, and a
# bad-input matrix that never gets a 500.  Responses must never hold a
# hash or a code.
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/mail.sh
. "$BH_SRCDIR/t/lib/mail.sh"
# shellcheck source=../lib/oauth.sh
. "$BH_SRCDIR/t/lib/oauth.sh"

# Every response body of the test, to look for hashes and codes at the end.
ALL_BODIES=$BH_SCRATCH/all-bodies
: >"$ALL_BODIES"
# The codes the mails carried.
CODES=()

keep_body() {
	cat "$RESP_BODY_FILE" >>"$ALL_BODIES"
	printf '\n' >>"$ALL_BODIES"
}

# req NAME STATUS METHOD PATH [JSON] [CURL ARGS...]: a request (with a
# JSON body unless the next argument is a curl option) whose status must
# match STATUS.
req() {
	local name=$1 status=$2 method=$3 path=$4 rc
	shift 4
	if [ $# -gt 0 ] && [[ $1 != -* ]]; then
		local body=$1
		shift
		expect_status "$name" "$status" "$method" "$path" \
			-H 'Content-Type: application/json' --data-binary "$body" "$@"
	else
		expect_status "$name" "$status" "$method" "$path" "$@"
	fi
	rc=$?
	keep_body
	return $rc
}

# problem NAME STATUS SLUG METHOD PATH [JSON] [CURL ARGS...]: a request
# (as for req) answered by a problem+json.
problem() {
	local name=$1 status=$2 slug=$3 method=$4 path=$5 rc
	shift 5
	if [ $# -gt 0 ] && [[ $1 != -* ]]; then
		local body=$1
		shift
		expect_problem "$name" "$status" "$slug" "$method" "$path" \
			-H 'Content-Type: application/json' --data-binary "$body" "$@"
	else
		expect_problem "$name" "$status" "$slug" "$method" "$path" "$@"
	fi
	rc=$?
	keep_body
	return $rc
}

bearer() {
	printf 'Authorization: Bearer %s' "$1"
}

users_psql() {
	bh_pg_psql "$VAR/pg" bellhop_users -tA "$@"
}

# mail_nth ADDR N [SECONDS]: the .json of the Nth message (1-based, in the
# order the sink received them) to ADDR, once it has come.
mail_nth() {
	wait_until "${3:-20}" mail_count_at_least "$1" "$2" || return 1
	mail_list "$1" | sed -n "${2}p"
}

mail_count_at_least() {
	[ "$(mail_count "$1")" -ge "$2" ]
}

# code_in FILE LABEL: the code on the line "LABEL: CODE" of a mail's text.
code_in() {
	jq -r '.text' "$1" | tr -d '\r' | sed -n "s/^$2: \([A-Za-z0-9_-]\{1,\}\)\$/\1/p" | head -n 1
}

# login_refused EMAIL PASSWORD: user_login gets no token.
login_refused() {
	local t
	t=$(user_login "$1" "$2" 2>/dev/null) && [ -n "$t" ] && return 1
	return 0
}

sha256_of() {
	printf '%s' "$1" | sha256sum | cut -d' ' -f1
}

# next_mail ADDR BEFORE [SECONDS]: the .json of the first message to ADDR
# after the BEFORE it had (mail_count before the request).
next_mail() {
	mail_nth "$1" $(($2 + 1)) "${3:-30}"
}

# refresh NAME STATUS REFRESH_TOKEN: the refresh_token grant at auth for
# the client booking-site, whose status must match STATUS; on a 200,
# NEW_REFRESH is the rotated refresh token.
refresh() {
	local name=$1 status=$2 token=$3 secret rc
	secret=$(client_secret booking-site)
	NEW_REFRESH=
	expect_status "$name" "$status" POST /auth/oauth/token -u "booking-site:$secret" \
		--data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$token"
	rc=$?
	[ "$RESP_STATUS" = 200 ] && NEW_REFRESH=$(jq -r '.refresh_token // empty' "$RESP_BODY_FILE")
	return $rc
}

# tokens_of USER_ID PURPOSE [CONDITION]: how many codes of PURPOSE the
# account has (matching the SQL CONDITION).
tokens_of() {
	users_psql -c "SELECT count(*) FROM email_tokens WHERE user_id = '$1' AND purpose = '$2' AND ${3:-true}"
}

stack_up nginx || bail "the stack did not come up behind nginx"

RUN=$RANDOM$RANDOM
ALICE=alice.$RUN@example.com
BOB=bob.$RUN@example.com
ALICE_PW='correct horse battery'
BOB_PW='bob password 1'

# ---------------------------------------------------------------- sign-up

req "sign-up at POST /users (the contract's path) is 201" 201 POST /users \
	"{\"email\":\"  Alice.$RUN@Example.COM \",\"name\":\"Alice\",\"password\":\"$ALICE_PW\"}"
expect_header "sign-up: Location is /users/me" Location /users/me
expect_jq "sign-up: the address is trimmed and lower-cased" '.email == $e' --arg e "$ALICE"
expect_jq "sign-up: an id (uuid), the name, not verified yet" \
	'(.id | test("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"))
	and .name == "Alice" and .email_verified == false'
expect_jq "sign-up: the verification mail was handed to notifications" \
	'.verification_email == "sent"'
expect_jq "sign-up: no password or hash in the answer" \
	'has("password") or has("password_hash") | not'
ALICE_ID=$(jq -r .id "$RESP_BODY_FILE")

req "sign-up of a second person (at /users/) is 201" 201 POST /users/ \
	"{\"email\":\"$BOB\",\"name\":\"Bob\",\"password\":\"$BOB_PW\"}"
BOB_ID=$(jq -r .id "$RESP_BODY_FILE")

problem "the same address in another case is a 409 email-taken" 409 email-taken POST /users/ \
	"{\"email\":\"ALICE.$RUN@EXAMPLE.com\",\"name\":\"Mallory\",\"password\":\"12345678\"}"
expect_jq "... naming email" '.param == "email"'

problem "an address beyond ASCII (alİce: İ lower-cases to two characters) is a 400" 400 \
	invalid-parameter POST /users/ \
	"{\"email\":\"al\u0130ce.$RUN@example.com\",\"name\":\"Mallory\",\"password\":\"12345678\"}"
expect_jq "... naming email, saying why" '.param == "email" and (.detail | test("ASCII"))'
problem "an internationalised domain in Unicode is a 400 too" 400 invalid-parameter POST /users/ \
	"{\"email\":\"carol.$RUN@b\u00fccher.example\",\"name\":\"Carol\",\"password\":\"12345678\"}"
check "no account was made for either" test \
	"$(users_psql -c "SELECT count(*) FROM users WHERE email !~ '^[ -~]+\$'")" = 0

check "the stored hash is argon2id with m=19456, t=2, p=1" \
	bash -c '[[ $1 == "\$argon2id\$v=19\$m=19456,t=2,p=1\$"* ]] || { echo "hash: $1"; exit 1; }' _ \
	"$(users_psql -c "SELECT password_hash FROM users WHERE id = '$ALICE_ID'")"
check "one account for the address, stored normalised" test \
	"$(users_psql -c "SELECT count(*) FROM users WHERE lower(email) = lower('$ALICE')")" = 1

# ---------------------------------------------------- verification by mail

MAIL=$(mail_wait "$ALICE" 30)
check "the verification mail reached the SMTP sink (mail_wait)" test -n "$MAIL"
[ -n "$MAIL" ] || bail "no verification mail: nothing else can be checked"
check "... with a subject about confirming the address" \
	jq -e '.subject | test("[Cc]onfirm")' "$MAIL"
CODE=$(code_in "$MAIL" "Your verification code")
CODES+=("$CODE")
check "... carrying a code on a line of its own" test -n "$CODE"
check "... and a curl line to POST it to /users/verify-email" \
	jq -e --arg u "$BASE_URL/users/verify-email" '.text | contains($u)' "$MAIL"
check "the code is stored only as its SHA-256" test \
	"$(users_psql -c "SELECT count(*) FROM email_tokens WHERE token_hash = '$(sha256_of "$CODE")'")
$(users_psql -c "SELECT count(*) FROM email_tokens WHERE token_hash = '$CODE' OR email = '$CODE'")" = "1
0"

problem "a wrong code is a 400 naming token" 400 invalid-parameter POST /users/verify-email \
	'{"token":"not-a-code"}'
expect_jq "... naming token" '.param == "token"'
req "the code from the mail verifies the address" 200 POST /users/verify-email \
	"{\"token\":\"$CODE\"}"
expect_jq "... the account now says email_verified" \
	'.email_verified == true and .id == $id' --arg id "$ALICE_ID"
problem "the same code a second time is a 400 (single use)" 400 invalid-parameter \
	POST /users/verify-email "{\"token\":\"$CODE\"}"

BOB_MAIL=$(mail_nth "$BOB" 1 30)
BOB_CODE=$(code_in "$BOB_MAIL" "Your verification code")
CODES+=("$BOB_CODE")
problem "Alice's used code does not verify Bob" 400 invalid-parameter \
	POST /users/verify-email "{\"token\":\"$CODE\"}"
req "Bob verifies with his own code" 200 POST /users/verify-email "{\"token\":\"$BOB_CODE\"}"

# ------------------------------------------------------------ tokens, /me

ALICE_TOKEN=$(user_login "$ALICE" "$ALICE_PW")
ALICE_REFRESH=$(user_refresh_token)
check "Alice signs in through auth's page (authorization code + PKCE)" test -n "$ALICE_TOKEN"
BOB_TOKEN=$(user_login "$BOB" "$BOB_PW")
check "Bob signs in too" test -n "$BOB_TOKEN"

problem "/me without a token is a 401" 401 unauthorized GET /users/me
expect_header "... with WWW-Authenticate: Bearer" WWW-Authenticate 'Bearer.*'
problem "/me with a garbage token is a 401" 401 unauthorized GET /users/me \
	-H "$(bearer abc.def.ghi)"
req "GET /me with Alice's token is 200" 200 GET /users/me -H "$(bearer "$ALICE_TOKEN")"
expect_jq "... and is Alice's account, verified" \
	'.id == $id and .email == $e and .email_verified == true and .name == "Alice"' \
	--arg id "$ALICE_ID" --arg e "$ALICE"
req "GET /me with Bob's token is 200" 200 GET /users/me -H "$(bearer "$BOB_TOKEN")"
expect_jq "... and is Bob's account only" '.id == $id and .email == $e' \
	--arg id "$BOB_ID" --arg e "$BOB"

AUTH_TOKEN=$(client_token auth)
USERS_TOKEN=$(client_token users)
ADMIN_TOKEN=$(client_token catalog-admin)
check "service tokens for clients auth, users, catalog-admin" \
	test -n "$AUTH_TOKEN" -a -n "$USERS_TOKEN" -a -n "$ADMIN_TOKEN"
problem "a token for users without the profile scope (auth's) gets 403 on /me" 403 \
	insufficient-scope GET /users/me -H "$(bearer "$AUTH_TOKEN")"
problem "the service token of client users is refused on /me" '401|403' \
	'unauthorized|insufficient-scope' GET /users/me -H "$(bearer "$USERS_TOKEN")"
problem "catalog-admin's token (another audience) is refused on /me" '401|403' \
	'unauthorized|insufficient-scope' GET /users/me -H "$(bearer "$ADMIN_TOKEN")"

# --------------------------------------------------------- verify-password

VP=/users/internal/verify-password
req "verify-password with auth's token and the right password" 200 POST $VP \
	"{\"email\":\"$ALICE\",\"password\":\"$ALICE_PW\"}" -H "$(bearer "$AUTH_TOKEN")"
expect_jq "... verified, with the user" \
	'.verified == true and .user.id == $id and .user.email == $e and .user.name == "Alice"
	and .user.email_verified == true' --arg id "$ALICE_ID" --arg e "$ALICE"
req "verify-password finds the address in any case" 200 POST $VP \
	"{\"email\":\"ALICE.$RUN@example.COM\",\"password\":\"$ALICE_PW\"}" -H "$(bearer "$AUTH_TOKEN")"
expect_jq "... verified" '.verified == true'
req "verify-password with a wrong password" 200 POST $VP \
	"{\"email\":\"$ALICE\",\"password\":\"wrong password\"}" -H "$(bearer "$AUTH_TOKEN")"
expect_jq "... is exactly {\"verified\": false}" '. == {"verified": false}'
req "verify-password for an unknown address" 200 POST $VP \
	"{\"email\":\"nobody.$RUN@example.com\",\"password\":\"$ALICE_PW\"}" -H "$(bearer "$AUTH_TOKEN")"
expect_jq "... is exactly {\"verified\": false}" '. == {"verified": false}'
req "verify-password for an address beyond ASCII" 200 POST $VP \
	"{\"email\":\"al\u0130ce.$RUN@example.com\",\"password\":\"$ALICE_PW\"}" -H "$(bearer "$AUTH_TOKEN")"
expect_jq "... is exactly {\"verified\": false}" '. == {"verified": false}'
req "verify-password for something that is no address" 200 POST $VP \
	'{"email":"no address","password":"whatever1"}' -H "$(bearer "$AUTH_TOKEN")"
expect_jq "... is exactly {\"verified\": false}" '. == {"verified": false}'
problem "verify-password without a token is a 401" 401 unauthorized POST $VP \
	"{\"email\":\"$ALICE\",\"password\":\"$ALICE_PW\"}"
problem "verify-password with Alice's own token is a 403" 403 insufficient-scope POST $VP \
	"{\"email\":\"$ALICE\",\"password\":\"$ALICE_PW\"}" -H "$(bearer "$ALICE_TOKEN")"
problem "verify-password with the users client's token is refused" '401|403' \
	'unauthorized|insufficient-scope' POST $VP \
	"{\"email\":\"$ALICE\",\"password\":\"$ALICE_PW\"}" -H "$(bearer "$USERS_TOKEN")"
problem "verify-password with catalog-admin's token is refused" '401|403' \
	'unauthorized|insufficient-scope' POST $VP \
	"{\"email\":\"$ALICE\",\"password\":\"$ALICE_PW\"}" -H "$(bearer "$ADMIN_TOKEN")"

# ----------------------------------------------- GET /internal/users/{id}

IU=/users/internal/users
RESERVATIONS_TOKEN=$(client_token reservations users:read)
check "a users:read token for client reservations" test -n "$RESERVATIONS_TOKEN"
req "internal GET of Alice with reservations' token is 200" 200 GET "$IU/$ALICE_ID" \
	-H "$(bearer "$RESERVATIONS_TOKEN")"
expect_jq "... exactly id, email, name, email_verified" \
	'. == {"id": $id, "email": $e, "name": "Alice", "email_verified": true}' \
	--arg id "$ALICE_ID" --arg e "$ALICE"
req "internal GET of Bob is Bob" 200 GET "$IU/$BOB_ID" -H "$(bearer "$RESERVATIONS_TOKEN")"
expect_jq "... his id and address" '.id == $id and .email == $e and .name == "Bob"' \
	--arg id "$BOB_ID" --arg e "$BOB"
problem "internal GET of an unknown uuid is a 404" 404 not-found \
	GET "$IU/00000000-0000-4000-8000-000000000000" -H "$(bearer "$RESERVATIONS_TOKEN")"
req "internal GET of Alice's id in capitals (the same uuid) is 200" 200 \
	GET "$IU/$(printf '%s' "$ALICE_ID" | tr 'a-f' 'A-F')" -H "$(bearer "$RESERVATIONS_TOKEN")"
expect_jq "... with the id as stored, in lower case" '.id == $id' --arg id "$ALICE_ID"
for bad in abc 12345 "$ALICE_ID-0" "${ALICE_ID:0:35}" "%27%20OR%201=1--" \
	"$(head -c 300 /dev/zero | tr '\0' a)"; do
	problem "internal GET of a non-uuid (${bad:0:40}) is a 404" 404 not-found \
		GET "$IU/$bad" -H "$(bearer "$RESERVATIONS_TOKEN")"
done
problem "internal GET with a control character in the id is a 400" 400 invalid-parameter \
	GET "$IU/ab%01cd" -H "$(bearer "$RESERVATIONS_TOKEN")"
problem "internal GET without a token is a 401" 401 unauthorized GET "$IU/$ALICE_ID"
problem "internal GET with Alice's own token is a 403" 403 insufficient-scope \
	GET "$IU/$ALICE_ID" -H "$(bearer "$ALICE_TOKEN")"
problem "internal GET with auth's token (users:verify, not users:read) is a 403" 403 \
	insufficient-scope GET "$IU/$ALICE_ID" -H "$(bearer "$AUTH_TOKEN")"
problem "internal GET with catalog-admin's token is refused" '401|403' \
	'unauthorized|insufficient-scope' GET "$IU/$ALICE_ID" -H "$(bearer "$ADMIN_TOKEN")"
problem "POST to an internal user is a 405" 405 method-not-allowed POST "$IU/$ALICE_ID" \
	'{}' -H "$(bearer "$RESERVATIONS_TOKEN")"

# ------------------------------------------------------------- PATCH /me

req "PATCH /me changes the name" 200 PATCH /users/me '{"name":"  Alice A. "}' \
	-H "$(bearer "$ALICE_TOKEN")"
expect_jq "... trimmed, address untouched" '.name == "Alice A." and .email == $e and .email_verified' \
	--arg e "$ALICE"
problem "PATCH /me with an unknown member is a 400 naming it" 400 invalid-parameter \
	PATCH /users/me '{"name":"A","email_verified":true}' -H "$(bearer "$ALICE_TOKEN")"
expect_jq "... email_verified" '.param == "email_verified"'
problem "PATCH /me giving name twice is a 400 (json-c would keep the last)" 400 malformed-body \
	PATCH /users/me '{"name":"A","name":"B"}' -H "$(bearer "$ALICE_TOKEN")"
expect_jq "... naming name" '.param == "name"'
problem "PATCH /me with nothing to change is a 400" 400 'bad-request|invalid-parameter' \
	PATCH /users/me '{}' -H "$(bearer "$ALICE_TOKEN")"
ALICE2=alice2.$RUN@example.com
problem "PATCH /me to a new address without current_password is a 400" 400 invalid-parameter \
	PATCH /users/me "{\"email\":\"Alice2.$RUN@example.com\"}" -H "$(bearer "$ALICE_TOKEN")"
expect_jq "... naming current_password" '.param == "current_password"'
problem "PATCH /me to a new address with a wrong current_password is a 403" 403 forbidden \
	PATCH /users/me "{\"email\":\"Alice2.$RUN@example.com\",\"current_password\":\"wrong one\"}" \
	-H "$(bearer "$ALICE_TOKEN")"
problem "PATCH /me to an address beyond ASCII is a 400" 400 invalid-parameter \
	PATCH /users/me "{\"email\":\"al\u0130ce.$RUN@example.com\",\"current_password\":\"$ALICE_PW\"}" \
	-H "$(bearer "$ALICE_TOKEN")"
problem "PATCH /me to Bob's address (another case) is a 409" 409 email-taken \
	PATCH /users/me "{\"email\":\"BOB.$RUN@example.com\",\"current_password\":\"$ALICE_PW\"}" \
	-H "$(bearer "$ALICE_TOKEN")"
check "none of these changed the address" test \
	"$(users_psql -c "SELECT email FROM users WHERE id = '$ALICE_ID'")" = "$ALICE"
refresh "before the email change, Alice's refresh token works (and rotates)" 200 "$ALICE_REFRESH"
ALICE_REFRESH=$NEW_REFRESH

# a reset code for the old address, to see that it dies with the change
before=$(mail_count "$ALICE")
req "a password reset for the old address is 202" 202 POST /users/password-reset \
	"{\"email\":\"$ALICE\"}"
OLD_RESET=$(code_in "$(next_mail "$ALICE" "$before")" "Your password reset code")
CODES+=("$OLD_RESET")
check "... and mails it a code" test -n "$OLD_RESET"

before=$(mail_count "$ALICE")
req "PATCH /me to a new address with the current password" 200 PATCH /users/me \
	"{\"email\":\"Alice2.$RUN@example.com\",\"current_password\":\"$ALICE_PW\"}" \
	-H "$(bearer "$ALICE_TOKEN")"
expect_jq "... which is unverified, and a verification mail went" \
	'.email == $e and .email_verified == false and .verification_email == "sent"' --arg e "$ALICE2"
NOTICE=$(next_mail "$ALICE" "$before")
check "the old address got a notice that the address was changed" \
	jq -e '.subject | test("email address .*was changed")' "$NOTICE"
check "... which does not tell the new address" \
	jq -e --arg e "$ALICE2" '.text | contains($e) | not' "$NOTICE"
refresh "Alice's refresh token from before the email change is refused" 400 "$ALICE_REFRESH"
expect_jq "... invalid_grant" '.error == "invalid_grant"'
check "signing in before the new address is verified is refused" \
	login_refused "$ALICE2" "$ALICE_PW"
check "the code mailed to the old address was spent by the change" test \
	"$(tokens_of "$ALICE_ID" reset "used_at IS NULL")" = 0
users_psql -c "UPDATE email_tokens SET used_at = NULL WHERE token_hash = '$(sha256_of "$OLD_RESET")'" >/dev/null
problem "... and made live again in the database, it still does not work: it is bound to the old address" \
	400 invalid-parameter POST /users/password-reset/confirm \
	"{\"token\":\"$OLD_RESET\",\"new_password\":\"taken over 1\"}"
users_psql -c "UPDATE email_tokens SET used_at = now() WHERE token_hash = '$(sha256_of "$OLD_RESET")'" >/dev/null

MAIL=$(mail_nth "$ALICE2" 1 30)
CODE=$(code_in "$MAIL" "Your verification code")
CODES+=("$CODE")
check "the new address got its verification code" test -n "$CODE"
req "POST /me/verification-email (the token still works for its lifetime) sends another" 202 \
	POST /users/me/verification-email -H "$(bearer "$ALICE_TOKEN")"
MAIL=$(mail_nth "$ALICE2" 2 30)
CODE2=$(code_in "$MAIL" "Your verification code")
CODES+=("$CODE2")
check "... a new code" test -n "$CODE2" -a "$CODE2" != "$CODE"
problem "the first code is spent by the second" 400 invalid-parameter POST /users/verify-email \
	"{\"token\":\"$CODE\"}"
req "the second code verifies the new address" 200 POST /users/verify-email "{\"token\":\"$CODE2\"}"
expect_jq "... verified" '.email == $e and .email_verified' --arg e "$ALICE2"
ALICE=$ALICE2
ALICE_TOKEN=$(user_login "$ALICE" "$ALICE_PW")
ALICE_REFRESH=$(user_refresh_token)
check "Alice signs in with the new address" test -n "$ALICE_TOKEN"

# ----------------------------------------------------- POST /me/password

problem "changing the password with a wrong current one is a 403" 403 forbidden \
	POST /users/me/password '{"current_password":"wrong one","new_password":"new password 1"}' \
	-H "$(bearer "$ALICE_TOKEN")"
problem "a new password of 7 characters is a 400" 400 invalid-parameter \
	POST /users/me/password "{\"current_password\":\"$ALICE_PW\",\"new_password\":\"short12\"}" \
	-H "$(bearer "$ALICE_TOKEN")"
refresh "before the password change, Alice's refresh token works" 200 "$ALICE_REFRESH"
ALICE_REFRESH=$NEW_REFRESH
before=$(mail_count "$ALICE")
req "changing the password with the right current one is 204" 204 POST /users/me/password \
	"{\"current_password\":\"$ALICE_PW\",\"new_password\":\"new password 1\"}" \
	-H "$(bearer "$ALICE_TOKEN")"
refresh "the refresh token from before the password change is refused" 400 "$ALICE_REFRESH"
expect_jq "... invalid_grant" '.error == "invalid_grant"'
NOTICE=$(next_mail "$ALICE" "$before")
check "a notice of the password change went to the account's address" \
	jq -e '.subject | test("password was changed")' "$NOTICE"
req "verify-password: the old password is refused now" 200 POST $VP \
	"{\"email\":\"$ALICE\",\"password\":\"$ALICE_PW\"}" -H "$(bearer "$AUTH_TOKEN")"
expect_jq "... verified false" '.verified == false'
ALICE_PW='new password 1'
req "verify-password: the new one works" 200 POST $VP \
	"{\"email\":\"$ALICE\",\"password\":\"$ALICE_PW\"}" -H "$(bearer "$AUTH_TOKEN")"
expect_jq "... verified true" '.verified == true'

# --------------------------------------------------------- password reset

ALICE_TOKEN=$(user_login "$ALICE" "$ALICE_PW")
ALICE_REFRESH=$(user_refresh_token)
check "Alice signs in with the new password" test -n "$ALICE_TOKEN"
NOBODY=nobody.$RUN@example.com
problem "password reset for an address beyond ASCII is a 400" 400 invalid-parameter \
	POST /users/password-reset "{\"email\":\"al\u0130ce.$RUN@example.com\"}"
req "password reset for an unknown address is 202" 202 POST /users/password-reset \
	"{\"email\":\"$NOBODY\"}"
cp "$RESP_BODY_FILE" "$BH_SCRATCH/reset-unknown.json"
before=$(mail_count "$ALICE")
req "password reset for Alice is 202" 202 POST /users/password-reset "{\"email\":\"$ALICE\"}"
check "... with the same body as for an unknown address" \
	cmp "$RESP_BODY_FILE" "$BH_SCRATCH/reset-unknown.json"
MAIL=$(next_mail "$ALICE" "$before")
FIRST_RESET=$(code_in "$MAIL" "Your password reset code")
CODES+=("$FIRST_RESET")
check "the reset mail reached Alice with a code" test -n "$FIRST_RESET"
before=$(mail_count "$ALICE")
req "a second reset request is 202 too" 202 POST /users/password-reset \
	"{\"email\":\"ALICE2.$RUN@example.com\"}"
MAIL=$(next_mail "$ALICE" "$before")
RESET=$(code_in "$MAIL" "Your password reset code")
CODES+=("$RESET")
check "... and brought a second, different code" test -n "$RESET" -a "$RESET" != "$FIRST_RESET"
check "no mail went to the unknown address" test "$(mail_count "$NOBODY")" = 0

problem "reset confirm with a made-up code is a 400" 400 invalid-parameter \
	POST /users/password-reset/confirm '{"token":"made-up","new_password":"whatever 123"}'
problem "reset confirm with a short new password is a 400" 400 invalid-parameter \
	POST /users/password-reset/confirm "{\"token\":\"$RESET\",\"new_password\":\"short\"}"
before=$(mail_count "$ALICE")
req "reset confirm with the code from the mail is 200" 200 POST /users/password-reset/confirm \
	"{\"token\":\"$RESET\",\"new_password\":\"reset password 2\"}"
refresh "the refresh token from before the reset is refused" 400 "$ALICE_REFRESH"
expect_jq "... invalid_grant" '.error == "invalid_grant"'
NOTICE=$(next_mail "$ALICE" "$before")
check "a notice of the password change went to the account's address" \
	jq -e '.subject | test("password was changed")' "$NOTICE"
problem "the same reset code again is a 400 (single use)" 400 invalid-parameter \
	POST /users/password-reset/confirm "{\"token\":\"$RESET\",\"new_password\":\"another one 3\"}"
problem "the earlier reset code is spent too" 400 invalid-parameter \
	POST /users/password-reset/confirm "{\"token\":\"$FIRST_RESET\",\"new_password\":\"another one 3\"}"
req "verify-password: the password before the reset is refused" 200 POST $VP \
	"{\"email\":\"$ALICE\",\"password\":\"$ALICE_PW\"}" -H "$(bearer "$AUTH_TOKEN")"
expect_jq "... verified false" '.verified == false'
ALICE_PW='reset password 2'
req "verify-password: the reset password works" 200 POST $VP \
	"{\"email\":\"$ALICE\",\"password\":\"$ALICE_PW\"}" -H "$(bearer "$AUTH_TOKEN")"
expect_jq "... verified true" '.verified == true'
check "no live reset code is left for Alice" test \
	"$(users_psql -c "SELECT count(*) FROM email_tokens WHERE user_id = '$ALICE_ID' AND purpose = 'reset' AND used_at IS NULL")" = 0

# ------------------------------------------------------- bad-input matrix

# bad NAME METHOD PATH BODY [CURL ARGS...]: a 4xx problem, never a 500.
bad() {
	local name=$1 method=$2 path=$3 body=$4
	shift 4
	problem "$name" '4[0-9][0-9]' '[a-z-]+' "$method" "$path" "$body" "$@"
}
LONG=$(head -c 5000 /dev/zero | tr '\0' 'a')
HUGE=$BH_SCRATCH/huge.json
json_body_file "$HUGE" $((2 * 1024 * 1024))
BADUTF=$BH_SCRATCH/bad-utf8.json
printf '{"email":"a\xff\xfe@example.com","name":"x","password":"12345678"}' >"$BADUTF"
AT="$(bearer "$BOB_TOKEN")"
for ep in "POST /users/" "PATCH /users/me" "DELETE /users/me" "POST /users/me/password" \
	"POST /users/verify-email" "POST /users/password-reset" \
	"POST /users/password-reset/confirm" "POST $VP"; do
	m=${ep%% *}
	p=${ep#* }
	auth=(-H "$AT")
	[ "$p" = "$VP" ] && auth=(-H "$(bearer "$AUTH_TOKEN")")
	bad "$ep: not JSON" "$m" "$p" '{"email":' "${auth[@]}"
	bad "$ep: a JSON array" "$m" "$p" '["email"]' "${auth[@]}"
	bad "$ep: a JSON string" "$m" "$p" '"email"' "${auth[@]}"
	bad "$ep: wrong member types" "$m" "$p" \
		'{"email":1,"name":[],"password":{},"token":true,"new_password":2,"current_password":null}' "${auth[@]}"
	bad "$ep: an unknown member" "$m" "$p" '{"zzz_unknown":"x"}' "${auth[@]}"
	bad "$ep: 5000-character strings" "$m" "$p" \
		"{\"email\":\"$LONG@example.com\",\"name\":\"$LONG\",\"password\":\"$LONG\",\"token\":\"$LONG\",\"new_password\":\"$LONG\",\"current_password\":\"$LONG\"}" "${auth[@]}"
	bad "$ep: bad UTF-8" "$m" "$p" "@$BADUTF" "${auth[@]}"
	bad "$ep: a 2 MiB body" "$m" "$p" "@$HUGE" "${auth[@]}"
	expect_problem "$ep: a text/plain body" '4[0-9][0-9]' '[a-z-]+' "$m" "$p" \
		-H 'Content-Type: text/plain' --data-binary 'email=x' "${auth[@]}"
	bad "$ep: control characters" "$m" "$p" \
		'{"email":"a\u0001b@example.com","name":"a\u001bb","password":"pass\nword1","token":"a\tb","new_password":"pass\rword1","current_password":"x\u0002"}' "${auth[@]}"
done
for e in 'plain' '@example.com' 'a@' 'a@b' 'a@@b.com' 'a b@example.com' 'a..b@example.com' \
	'a@exa_mple.com' 'a@-x.com' 'a@x..com' "$(head -c 65 /dev/zero | tr '\0' a)@example.com" \
	"a@$(head -c 250 /dev/zero | tr '\0' b).com" 'a<b>@example.com'; do
	problem "sign-up with the address '${e:0:40}' is a 400 naming email" 400 invalid-parameter \
		POST /users/ "{\"email\":\"$e\",\"name\":\"X\",\"password\":\"12345678\"}"
done
problem "sign-up without a password is a 400" 400 invalid-parameter POST /users/ \
	"{\"email\":\"carol.$RUN@example.com\",\"name\":\"Carol\"}"
expect_jq "... naming password" '.param == "password"'
problem "sign-up with a 129-character password is a 400" 400 invalid-parameter POST /users/ \
	"{\"email\":\"carol.$RUN@example.com\",\"name\":\"Carol\",\"password\":\"$(head -c 129 /dev/zero | tr '\0' p)\"}"
problem "sign-up with a 101-character name is a 400" 400 invalid-parameter POST /users/ \
	"{\"email\":\"carol.$RUN@example.com\",\"name\":\"$(head -c 101 /dev/zero | tr '\0' n)\",\"password\":\"12345678\"}"
req "sign-up with 128 four-byte characters as the password is 201" 201 POST /users/ \
	"{\"email\":\"carol.$RUN@example.com\",\"name\":\"Carol\",\"password\":\"$(for i in $(seq 128); do printf '\xf0\x9f\x94\x91'; done)\"}"
problem "a JSON member given as null counts as missing" 400 invalid-parameter POST /users/ \
	'{"email":null,"name":"X","password":"12345678"}'
problem "a body nested too deep is a 400" 400 'malformed-body|bad-request' POST /users/ \
	"$(printf '%.0s[' $(seq 100))"
problem "GET /users is a 405" 405 method-not-allowed GET /users/

# ------------------------------------------------------------ DELETE /me

problem "DELETE /me without a body is a 4xx" '400|415' 'invalid-parameter|unsupported-media-type' \
	DELETE /users/me -H "$(bearer "$ALICE_TOKEN")"
problem "DELETE /me with a wrong password is a 403" 403 forbidden DELETE /users/me \
	'{"password":"not the password"}' -H "$(bearer "$ALICE_TOKEN")"
ALICE_TOKEN=$(user_login "$ALICE" "$ALICE_PW")
ALICE_REFRESH=$(user_refresh_token)
check "Alice signs in with the password of the reset" test -n "$ALICE_TOKEN"
req "DELETE /me with the password is 204" 204 DELETE /users/me \
	"{\"password\":\"$ALICE_PW\"}" -H "$(bearer "$ALICE_TOKEN")"
refresh "the refresh token from before the deletion is refused" 400 "$ALICE_REFRESH"
expect_jq "... invalid_grant" '.error == "invalid_grant"'
problem "GET /me afterwards is a 404" 404 not-found GET /users/me -H "$(bearer "$ALICE_TOKEN")"
problem "DELETE /me again is a 404" 404 not-found DELETE /users/me \
	"{\"password\":\"$ALICE_PW\"}" -H "$(bearer "$ALICE_TOKEN")"
check "the account row and its codes are gone from the database" test \
	"$(users_psql -c "SELECT (SELECT count(*) FROM users WHERE id = '$ALICE_ID') + (SELECT count(*) FROM email_tokens WHERE user_id = '$ALICE_ID')")" = 0
req "verify-password for the deleted account" 200 POST $VP \
	"{\"email\":\"$ALICE\",\"password\":\"$ALICE_PW\"}" -H "$(bearer "$AUTH_TOKEN")"
expect_jq "... is {\"verified\": false}" '. == {"verified": false}'
check "signing in as the deleted account is refused" login_refused "$ALICE" "$ALICE_PW"
problem "internal GET of the deleted account is a 404" 404 not-found GET "$IU/$ALICE_ID" \
	-H "$(bearer "$RESERVATIONS_TOKEN")"
req "Bob's account is still there" 200 GET /users/me -H "$(bearer "$BOB_TOKEN")"
expect_jq "... as it was" '.id == $id' --arg id "$BOB_ID"

# ------------------------------------- auth and notifications unreachable

BOB_TOKEN=$(user_login "$BOB" "$BOB_PW")
check "Bob signs in again" test -n "$BOB_TOKEN"
before=$(mail_count "$BOB")
req "a password reset for Bob" 202 POST /users/password-reset "{\"email\":\"$BOB\"}"
BOB_RESET=$(code_in "$(next_mail "$BOB" "$before")" "Your password reset code")
CODES+=("$BOB_RESET")
check "... mails him a code" test -n "$BOB_RESET"
BOB_ROW=$(users_psql -c "SELECT email || ' ' || password_hash FROM users WHERE id = '$BOB_ID'")
AUTH_PID=$(master_pid auth)
NOTIF_PID=$(master_pid notifications)
check "stop the auth and notifications services" test -n "$AUTH_PID" -a -n "$NOTIF_PID"
kill -TERM "$AUTH_PID" "$NOTIF_PID" 2>/dev/null
wait_until 15 bh_pid_gone "$AUTH_PID"
wait_until 15 bh_pid_gone "$NOTIF_PID"
# users may still hold auth's keys (then the call to end the sessions
# fails) or not (then the token cannot be checked): a 503 either way
problem "a password change while auth is down is a 503" 503 'upstream-unavailable|service-unavailable' \
	POST /users/me/password "{\"current_password\":\"$BOB_PW\",\"new_password\":\"bob password 2\"}" \
	-H "$(bearer "$BOB_TOKEN")"
problem "an email change while auth is down is a 503" 503 'upstream-unavailable|service-unavailable' \
	PATCH /users/me "{\"email\":\"bob2.$RUN@example.com\",\"current_password\":\"$BOB_PW\"}" \
	-H "$(bearer "$BOB_TOKEN")"
problem "deleting the account while auth is down is a 503" 503 'upstream-unavailable|service-unavailable' \
	DELETE /users/me "{\"password\":\"$BOB_PW\"}" -H "$(bearer "$BOB_TOKEN")"
problem "a reset confirm while auth is down is a 503" 503 upstream-unavailable \
	POST /users/password-reset/confirm "{\"token\":\"$BOB_RESET\",\"new_password\":\"bob password 3\"}"
expect_header "... with Retry-After" Retry-After '[0-9]+'
check "... and none of them changed anything: Bob's address and hash are as they were" test \
	"$(users_psql -c "SELECT email || ' ' || password_hash FROM users WHERE id = '$BOB_ID'")" = "$BOB_ROW"
check "... and his reset code is still live" test \
	"$(tokens_of "$BOB_ID" reset "used_at IS NULL AND token_hash = '$(sha256_of "$BOB_RESET")'")" = 1

DAVE=dave.$RUN@example.com
req "sign-up while notifications is down is still 201" 201 POST /users/ \
	"{\"email\":\"$DAVE\",\"name\":\"Dave\",\"password\":\"dave password\"}"
expect_jq "... with verification_email pending" '.verification_email == "pending"'
# the restart also raises the argon2id cost: hashes are redone at sign-in
export BH_ARGON2_ITERATIONS=3
stack_up nginx || bail "the stack did not come back"
req "after raising BH_ARGON2_ITERATIONS, Bob's old hash still verifies" 200 POST $VP \
	"{\"email\":\"$BOB\",\"password\":\"$BOB_PW\"}" -H "$(bearer "$(client_token auth)")"
expect_jq "... verified true" '.verified == true'
check "... and is stored again with t=3" \
	bash -c '[[ $1 == "\$argon2id\$v=19\$m=19456,t=3,p=1\$"* ]] || { echo "hash: $1"; exit 1; }' _ \
	"$(users_psql -c "SELECT password_hash FROM users WHERE id = '$BOB_ID'")"
req "with auth back, the same reset code works" 200 POST /users/password-reset/confirm \
	"{\"token\":\"$BOB_RESET\",\"new_password\":\"bob password 3\"}"
BOB_PW='bob password 3'
check "Bob signs in with it" test -n "$(user_login "$BOB" "$BOB_PW")"

# Dave's verification mail never went: he asks for it again by address.
check "Dave cannot sign in before his address is verified" login_refused "$DAVE" "dave password"
req "POST /users/verification-email for Dave is 202" 202 POST /users/verification-email \
	"{\"email\":\"$DAVE\"}"
cp "$RESP_BODY_FILE" "$BH_SCRATCH/verification-dave.json"
MAIL=$(mail_nth "$DAVE" 1 30)
CODE=$(code_in "$MAIL" "Your verification code")
CODES+=("$CODE")
check "... and the mail reaches the sink with a code" test -n "$CODE"
req "POST /users/verification-email for an unknown address is 202" 202 \
	POST /users/verification-email "{\"email\":\"$NOBODY\"}"
check "... with the same body" cmp "$RESP_BODY_FILE" "$BH_SCRATCH/verification-dave.json"
bob_codes=$(tokens_of "$BOB_ID" verify)
req "POST /users/verification-email for Bob (verified already) is 202" 202 \
	POST /users/verification-email "{\"email\":\"$BOB\"}"
check "... with the same body" cmp "$RESP_BODY_FILE" "$BH_SCRATCH/verification-dave.json"
check "... and makes him no code" test "$(tokens_of "$BOB_ID" verify)" = "$bob_codes"
req "the code verifies Dave's address" 200 POST /users/verify-email "{\"token\":\"$CODE\"}"
DAVE_TOKEN=$(user_login "$DAVE" "dave password")
check "Dave signs in once verified" test -n "$DAVE_TOKEN"
problem "asking for a verification mail once verified is a 409" 409 conflict \
	POST /users/me/verification-email -H "$(bearer "$DAVE_TOKEN")"

# ------------------------------------------------------------ rate limits

# Low limits, and notifications at a URL that answers 404: a mail it
# refuses.  The counters start afresh (the earlier requests count too).
export BH_SIGNUP_LIMIT_ADDRESS=2 BH_MAIL_LIMIT_ADDRESS=5 BH_CODE_LIMIT_ADDRESS=3
export BH_RESET_MAIL_LIMIT=2
export BH_NOTIFICATIONS_URL=$BASE_URL/search
stack_up nginx || bail "the stack did not come back with low limits"
users_psql -c "DELETE FROM rate_counters" >/dev/null
ERIN=erin.$RUN@example.com
req "sign-up 1 of 2 from this address is 201" 201 POST /users/ \
	"{\"email\":\"$ERIN\",\"name\":\"Erin\",\"password\":\"erin password\"}"
expect_jq "... and a mail notifications refused (a 4xx) is verification_email failed" \
	'.verification_email == "failed"'
ERIN_ID=$(jq -r .id "$RESP_BODY_FILE")
check "... which the users log says, with the status" \
	grep -q 'notifications refused the verify mail.*HTTP 4[0-9][0-9]' "$VAR/log/users.log"
req "sign-up 2 of 2 is 201" 201 POST /users/ \
	"{\"email\":\"frank.$RUN@example.com\",\"name\":\"Frank\",\"password\":\"frank password\"}"
problem "a third sign-up from the address is a 429" 429 too-many-requests POST /users/ \
	"{\"email\":\"gina.$RUN@example.com\",\"name\":\"Gina\",\"password\":\"gina password\"}"
expect_header "... with Retry-After" Retry-After '[0-9]+'
check "... and makes no account" test \
	"$(users_psql -c "SELECT count(*) FROM users WHERE email = 'gina.$RUN@example.com'")" = 0
problem "past the limit a taken address is a 429 too, not a 409" 429 too-many-requests \
	POST /users/ "{\"email\":\"$ERIN\",\"name\":\"Erin\",\"password\":\"erin password\"}"

for i in 1 2 3; do
	req "password reset $i of 3 for Erin is 202" 202 POST /users/password-reset \
		"{\"email\":\"$ERIN\"}"
done
check "only BH_RESET_MAIL_LIMIT (2) reset codes were made for Erin" test \
	"$(tokens_of "$ERIN_ID" reset)" = 2
check "... and the last one mailed is still live: the third request spent nothing" test \
	"$(tokens_of "$ERIN_ID" reset "used_at IS NULL")" = 1
users_psql -c "UPDATE email_tokens SET expires_at = now() - interval '1 second' WHERE user_id = '$ERIN_ID'" >/dev/null
req "with no live code left, a fourth request is 202" 202 POST /users/password-reset \
	"{\"email\":\"$ERIN\"}"
check "... and makes a code again" test "$(tokens_of "$ERIN_ID" reset)" = 3
req "a fifth request for a mailed code from the address (another account) is 202" 202 \
	POST /users/password-reset "{\"email\":\"$NOBODY\"}"
problem "a sixth is a 429" 429 too-many-requests POST /users/password-reset \
	"{\"email\":\"$NOBODY\"}"
expect_header "... with Retry-After" Retry-After '[0-9]+'
problem "POST /users/verification-email counts with them: a 429" 429 too-many-requests \
	POST /users/verification-email "{\"email\":\"$ERIN\"}"

for i in 1 2 3; do
	problem "a wrong code $i of 3 is a 400" 400 invalid-parameter POST /users/verify-email \
		"{\"token\":\"wrong-$i\"}"
done
problem "a fourth code from the address is a 429" 429 too-many-requests \
	POST /users/password-reset/confirm '{"token":"wrong-4","new_password":"whatever 123"}'
problem "... at verify-email too" 429 too-many-requests POST /users/verify-email \
	'{"token":"wrong-5"}'

# ------------------------------------------------------ nothing leaked

check "no response held an argon2 hash" bash -c '! grep -i argon2 "$1"' _ "$ALL_BODIES"
leaked=
for c in "${CODES[@]}"; do
	[ -n "$c" ] && grep -qF -- "$c" "$ALL_BODIES" && leaked="$leaked $c"
done
check "no response held a mailed code (${#CODES[@]} codes)" test -z "$leaked"
# The log of the last run, and of the one before it (*.log.1), which
# holds the 503s of the outage above: those only.
check "no 5xx answer from the users service in its logs but the 503s of auth's outage" \
	bash -c '! grep -h "\"msg\":\"request\"" "$@" | grep -E "\"status\":5[0-9][0-9]" |
		grep -vE "\"status\":503"' _ "$VAR"/log/users.log*
check "the users logs hold no code and no hash" \
	bash -c 'logs=("$1"*); for c in "${@:2}"; do [ -z "$c" ] || ! grep -qF -- "$c" "${logs[@]}" || exit 1; done
		! grep -q argon2id "${logs[@]}"' _ "$VAR/log/users.log" "${CODES[@]}"

finish
