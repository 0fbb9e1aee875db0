# t/lib/oauth.sh - signing a person up and in with the authorization-code
# flow and PKCE, as the booking site does, with curl alone (bash).  Source
# it after t/lib/harness.sh (it uses BASE_URL, BH_SCRATCH, BH_CURL_TIMEOUT
# and client_secret; it sources t/lib/mail.sh for user_signup), then:
#
#	user_signup alice@example.com 'correct horse battery' Alice >/dev/null ||
#		fail "sign-up"
#	token=$(user_login alice@example.com 'correct horse battery') ||
#		fail "sign-in"
#	curl -H "Authorization: Bearer $token" "$BASE_URL/users/me"
#
# Only accounts whose address is verified can sign in: user_signup signs
# up and confirms the address with the code mailed to it.
#
# It is also the executable form of docs/auth.md "Sign in with curl":
# keep the two the same.
#
# The steps, each a helper a test can call on its own:
#   user_signup EMAIL PASS [NAME]  sign-up, then the mailed code back
#   pkce_new                  a verifier and its S256 challenge
#   oauth_authorize_page      GET the sign-in page, keep the CSRF cookie
#   oauth_submit EMAIL PASS   POST the form, keep the redirect
#   oauth_exchange            the code for tokens at the token endpoint

# mail_wait and mail_last, for the verification code.
if ! declare -F mail_wait >/dev/null; then
	# shellcheck source=mail.sh
	. "$BH_SRCDIR/t/lib/mail.sh"
fi

# user_signup EMAIL PASSWORD [NAME]: signs up through POST /users (the
# password in the environment and on curl's stdin, never on a command
# line), waits for the
# verification mail (t/lib/mail.sh: the sink of scripts/stack), takes the
# code from its text ("verification code: CODE") and sends it to POST
# /users/verify-email.  Prints the new account's id.  On failure says
# why on stderr and returns 1.
user_signup() {
	local email=$1 password=$2 name=${3:-Test Person} before out status id
	local mail code
	before=$(mail_count "$email")
	out=$(OAUTH_PW=$password jq -cn --arg e "$email" --arg n "$name" \
		'{email: $e, name: $n, password: env.OAUTH_PW}' |
		curl -sS -m "$BH_CURL_TIMEOUT" -H 'Content-Type: application/json' \
			--data-binary @- -w '\n%{http_code}' "$BASE_URL/users/") || return 1
	status=${out##*$'\n'}
	out=${out%$'\n'*}
	id=$(jq -r '.id // empty' <<<"$out" 2>/dev/null)
	if [ "$status" != 201 ] || [ -z "$id" ]; then
		echo "oauth: sign-up of $email answered $status: $out" >&2
		return 1
	fi
	# The verification mail of this sign-up: one more than before.
	if ! wait_until 15 oauth_mail_more "$email" "$before"; then
		echo "oauth: no verification mail to $email in $(mail_dir)" >&2
		return 1
	fi
	mail=$(mail_last "$email") || return 1
	code=$(jq -r '.text // empty' "$mail" |
		sed -n 's/.*[Vv]erification code: *\([A-Za-z0-9_-]\{1,\}\).*/\1/p' | head -n 1)
	if [ -z "$code" ]; then
		echo "oauth: no verification code in $mail" >&2
		return 1
	fi
	out=$(jq -cn --arg t "$code" '{token: $t}' |
		curl -sS -m "$BH_CURL_TIMEOUT" -H 'Content-Type: application/json' \
			--data-binary @- -w '\n%{http_code}' "$BASE_URL/users/verify-email") ||
		return 1
	status=${out##*$'\n'}
	if [ "$status" != 200 ]; then
		echo "oauth: verifying $email answered $status: ${out%$'\n'*}" >&2
		return 1
	fi
	printf '%s\n' "$id"
}

# oauth_mail_more ADDR N: ADDR has received more than N messages.
oauth_mail_more() {
	[ "$(mail_count "$1")" -gt "$2" ]
}

# The demo client of the flow and its registered redirect URI.  A
# person's token may read their profile (users) and book (reservations).
OAUTH_CLIENT=booking-site
OAUTH_SCOPE="profile bookings"

oauth_redirect_uri() {
	printf '%s/callback\n' "$BASE_URL"
}

# pkce_new: sets PKCE_VERIFIER (43 characters of base64url from 32 random
# bytes) and PKCE_CHALLENGE = BASE64URL(SHA256(verifier)) (RFC 7636), and
# OAUTH_STATE, a random value the redirect must carry back.
pkce_new() {
	PKCE_VERIFIER=$(openssl rand 32 | basenc --base64url | tr -d '=\n')
	PKCE_CHALLENGE=$(printf '%s' "$PKCE_VERIFIER" |
		openssl dgst -sha256 -binary | basenc --base64url | tr -d '=\n')
	OAUTH_STATE=$(openssl rand -hex 16)
}

# The authorization request's parameters, as curl --data-urlencode
# arguments (OAUTH_PARAMS array).
oauth_params() {
	OAUTH_PARAMS=(
		--data-urlencode response_type=code
		--data-urlencode "client_id=$OAUTH_CLIENT"
		--data-urlencode "redirect_uri=$(oauth_redirect_uri)"
		--data-urlencode "scope=$OAUTH_SCOPE"
		--data-urlencode "state=$OAUTH_STATE"
		--data-urlencode "code_challenge=$PKCE_CHALLENGE"
		--data-urlencode code_challenge_method=S256
	)
}

# oauth_authorize_page: GETs the sign-in page with a fresh cookie jar
# (OAUTH_JAR) and sets OAUTH_CSRF from its hidden csrf_token field.
# Returns 1 when the page is not the form.
oauth_authorize_page() {
	local page
	OAUTH_JAR=$(mktemp "$BH_SCRATCH/oauth-jar.XXXXXX")
	oauth_params
	page=$(curl -sS -m "$BH_CURL_TIMEOUT" -c "$OAUTH_JAR" -G \
		"${OAUTH_PARAMS[@]}" "$BASE_URL/auth/oauth/authorize") || return 1
	OAUTH_CSRF=$(sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' <<<"$page")
	[ -n "$OAUTH_CSRF" ] || {
		echo "oauth: no sign-in form at /auth/oauth/authorize" >&2
		return 1
	}
}

# oauth_submit EMAIL PASSWORD: POSTs the form (the password goes on
# curl's stdin, never on a command line).  Sets OAUTH_STATUS and
# OAUTH_LOCATION (the redirect, "" when none), and OAUTH_CODE when the
# redirect carries a code and the state sent.  Returns 1 without a code.
oauth_submit() {
	local email=$1 password=$2 out
	OAUTH_CODE=
	oauth_params
	out=$(printf '%s' "$password" | curl -sS -m "$BH_CURL_TIMEOUT" \
		-b "$OAUTH_JAR" -o /dev/null -w '%{http_code} %{redirect_url}' \
		--data-urlencode "email=$email" --data-urlencode "password@-" \
		--data-urlencode "csrf_token=$OAUTH_CSRF" "${OAUTH_PARAMS[@]}" \
		"$BASE_URL/auth/oauth/authorize") || return 1
	OAUTH_STATUS=${out%% *}
	OAUTH_LOCATION=${out#* }
	[ "$OAUTH_STATUS" = 303 ] || return 1
	case $OAUTH_LOCATION in
	"$(oauth_redirect_uri)?"*"state=$OAUTH_STATE"*) ;;
	*)
		echo "oauth: the redirect does not go back with our state" >&2
		return 1
		;;
	esac
	OAUTH_CODE=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$OAUTH_LOCATION")
	[ -n "$OAUTH_CODE" ]
}

# oauth_exchange: trades OAUTH_CODE and PKCE_VERIFIER for tokens with the
# client's secret (HTTP Basic).  Sets OAUTH_TOKENS (the JSON answer).
# Returns 1 when no access token came.
oauth_exchange() {
	local secret
	secret=$(client_secret "$OAUTH_CLIENT") || return 1
	OAUTH_TOKENS=$(curl -sS -m "$BH_CURL_TIMEOUT" -u "$OAUTH_CLIENT:$secret" \
		--data-urlencode grant_type=authorization_code \
		--data-urlencode "code=$OAUTH_CODE" \
		--data-urlencode "redirect_uri=$(oauth_redirect_uri)" \
		--data-urlencode "code_verifier=$PKCE_VERIFIER" \
		"$BASE_URL/auth/oauth/token") || return 1
	jq -e '.access_token | type == "string"' <<<"$OAUTH_TOKENS" >/dev/null 2>&1
}

# user_login EMAIL PASSWORD: the whole flow; prints the access token.
# Sets USER_ACCESS_TOKEN and USER_REFRESH_TOKEN, and writes the refresh
# token to $BH_SCRATCH/user_refresh_token as well, for callers that run
# it in $(...) (a subshell, whose variables are lost): read it back with
# user_refresh_token.  On failure says why on stderr and returns 1.
user_login() {
	local email=$1 password=$2
	pkce_new
	oauth_authorize_page || return 1
	oauth_submit "$email" "$password" || {
		echo "oauth: sign-in of $email failed (status $OAUTH_STATUS)" >&2
		return 1
	}
	oauth_exchange || {
		echo "oauth: code exchange failed: $OAUTH_TOKENS" >&2
		return 1
	}
	USER_ACCESS_TOKEN=$(jq -r .access_token <<<"$OAUTH_TOKENS")
	USER_REFRESH_TOKEN=$(jq -r '.refresh_token // empty' <<<"$OAUTH_TOKENS")
	printf '%s\n' "$USER_REFRESH_TOKEN" >"$BH_SCRATCH/user_refresh_token"
	printf '%s\n' "$USER_ACCESS_TOKEN"
}

# user_refresh_token: the refresh token of the last user_login.
user_refresh_token() {
	cat "$BH_SCRATCH/user_refresh_token"
}
