#!/bin/bash
# auth-oauth.sh - the OAuth2 authorization server over HTTP, behind nginx,
# with users (for the sign-in page) and notifications (a second resource
# server):
#   1. metadata (RFC 8414) and the JWKS (public keys only, cacheable);
#   2. client_credentials: good, bad secret, unknown client, Basic with
#      form-urlencoded credentials, scope subset, the refused cases;
#      `client add` prints the secret once and stores only its hash;
#      redirect URIs https or loopback http; `client add --replace` and
#      `client remove` revoke the client's tokens;
#   3. the sign-in page: headers, CSRF (and its __Host- cookie over
#      https), wrong password, unknown account and an address that cannot
#      be one alike (400), an unverified address refused (403), escaping;
#      the password never in a log;
#   4. authorization code + PKCE: good, the refused cases, a reused code
#      revoking what it gave, concurrent uses of one code or refresh token
#      (exactly one wins), an expired code, redirect URIs matched exactly;
#   5. refresh tokens: rotation, narrower scope, reuse revoking the family,
#      the scope cut to the client's, the session's absolute end;
#   6. introspection and revocation (client authentication required,
#      inactive is exactly {"active":false}); revoking every session of a
#      person (POST /auth/internal/revoke-user);
#   7. key rotation with no failed request; the token lifetime kept with
#      the key;
#   8. bad input never a 500;
#   9. sign-in rate limits per account and address, per account, per
#      address (429, Retry-After), one account whatever the spelling;
#      users unreachable (503).
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/oauth.sh
. "$BH_SRCDIR/t/lib/oauth.sh"

CODE_TTL=4
export BH_AUTH_CODE_TTL=$CODE_TTL
export BH_SIGNIN_LIMIT_ACCOUNT=3
export BH_SIGNIN_LIMIT_ACCOUNT_TOTAL=5
SESSION_MAX_AGE=86400
export BH_SESSION_MAX_AGE=$SESSION_MAX_AGE
# High for sections 1-8 (they sign in many times from one address);
# section 9 restarts auth with a low one.
export BH_SIGNIN_LIMIT_ADDRESS=1000
# Verifiers refetch the JWKS for an unknown kid at most this often: low,
# so that both workers of users pick the new key up during section 7.
export BH_JWKS_COOLDOWN=1

TOKEN=/auth/oauth/token
INTROSPECT=/auth/oauth/introspect
REVOKE=/auth/oauth/revoke
AUTHORIZE=/auth/oauth/authorize

auth_psql() {
	bh_pg_psql "$VAR/pg" bellhop_auth -tA "$@"
}

# auth_run_env NAME=VALUE... -- ARGS...: bellhop-auth ARGS with the
# stack's settings for auth (as service_run), some of them changed.
auth_run_env() {
	local name
	local -a lines extra=() unset=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		extra+=("$1")
		shift
	done
	shift
	mapfile -t lines < <(stack_env auth)
	for name in $(compgen -e); do
		[[ $name == BH_* ]] && unset+=(-u "$name")
	done
	env "${unset[@]}" "${lines[@]}" "${extra[@]}" "$BH_BUILDDIR/handlers/auth/bellhop-auth" "$@"
}

# b64url_json PART: a JWT part decoded.
b64url_json() {
	local s=$1
	while [ $((${#s} % 4)) -ne 0 ]; do s+="="; done
	printf '%s' "$s" | basenc -d --base64url 2>/dev/null
}

jwt_header() { b64url_json "$(cut -d. -f1 <<<"$1")"; }
jwt_claims() { b64url_json "$(cut -d. -f2 <<<"$1")"; }

# oauth_check NAME STATUS ERROR: the last answer is an RFC 6749 one:
# STATUS, application/json, "error" ERROR ("" for a success),
# Cache-Control no-store.
oauth_check() {
	local name=$1 status=$2 error=$3 why=()
	status_is "$status" || why+=("expected status $status")
	[ "$(resp_header Content-Type | cut -d';' -f1)" = application/json ] ||
		why+=("expected Content-Type application/json")
	if [ -n "$error" ]; then
		jq -e --arg e "$error" '.error == $e and (.error_description | type) == "string"' \
			"$RESP_BODY_FILE" >/dev/null 2>&1 || why+=("expected \"error\": \"$error\"")
	fi
	[ "$(resp_header Cache-Control)" = no-store ] || why+=("expected Cache-Control: no-store")
	if [ ${#why[@]} -eq 0 ]; then
		pass "$name"
		return 0
	fi
	fail "$name" "${why[@]}" "$(resp_summary)"
	return 1
}

# oauth_expect NAME STATUS ERROR METHOD URL [CURL ARGS...]: one request
# and oauth_check.
oauth_expect() {
	local name=$1 status=$2 error=$3
	shift 3
	http "$@"
	oauth_check "$name" "$status" "$error"
}

# last_status NAME STATUS: the last answer's status matches STATUS.
last_status() {
	if status_is "$2"; then
		pass "$1"
		return 0
	fi
	fail "$1" "expected status $2" "$(resp_summary)"
	return 1
}

# basic NAME: curl's -u argument for client NAME with its secret.
basic() {
	printf '%s:%s' "$1" "$(client_secret "$1")"
}

# inactive NAME TOKEN [CLIENT]: introspection answers exactly
# {"active":false} (the raw body, byte for byte).
inactive() {
	local name=$1 token=$2 client=${3:-booking-site}
	http POST "$INTROSPECT" -u "$(basic "$client")" --data-urlencode "token=$token"
	if status_is 200 && [ "$(cat "$RESP_BODY_FILE")" = '{"active":false}' ]; then
		pass "$name"
		return 0
	fi
	fail "$name" 'expected 200 and exactly {"active":false}' "$(resp_summary)"
	return 1
}

active() {
	local name=$1 token=$2 client=${3:-booking-site}
	http POST "$INTROSPECT" -u "$(basic "$client")" --data-urlencode "token=$token"
	if status_is 200 && jq -e '.active == true' "$RESP_BODY_FILE" >/dev/null 2>&1; then
		pass "$name"
		return 0
	fi
	fail "$name" 'expected 200 and "active": true' "$(resp_summary)"
	return 1
}

# refresh TOKEN [SCOPE]: the refresh_token grant for booking-site; the
# answer in RESP_*.
refresh() {
	local args=(-u "$(basic booking-site)" --data-urlencode grant_type=refresh_token
		--data-urlencode "refresh_token=$1")
	[ -n "${2:-}" ] && args+=(--data-urlencode "scope=$2")
	http POST "$TOKEN" "${args[@]}"
}

# exchange CODE VERIFIER [REDIRECT_URI]: the authorization_code grant for
# booking-site; the answer in RESP_*.
exchange() {
	http POST "$TOKEN" -u "$(basic booking-site)" \
		--data-urlencode grant_type=authorization_code \
		--data-urlencode "code=$1" --data-urlencode "code_verifier=$2" \
		--data-urlencode "redirect_uri=${3:-$(oauth_redirect_uri)}"
}

# signed_in_code EMAIL PASSWORD: runs the page and the form; OAUTH_CODE set.
signed_in_code() {
	pkce_new
	oauth_authorize_page && oauth_submit "$1" "$2"
}

# authorize_query [NAME=VALUE...]: the page's query with booking-site's
# good parameters, each replaced or removed (NAME=) by the arguments.
authorize_url() {
	local -A p=([response_type]=code [client_id]=booking-site
		[redirect_uri]="$(oauth_redirect_uri)" [scope]=profile
		[state]="$OAUTH_STATE" [code_challenge]="$PKCE_CHALLENGE"
		[code_challenge_method]=S256)
	local kv q= k
	for kv; do p[${kv%%=*}]=${kv#*=}; done
	for k in "${!p[@]}"; do
		[ -n "${p[$k]}" ] || continue
		q+="${q:+&}$k=$(jq -rn --arg v "${p[$k]}" '$v | @uri')"
	done
	printf '%s?%s' "$AUTHORIZE" "$q"
}

# redirected_with NAME ERROR: the last answer is a 303 to the client's
# redirect URI carrying error=ERROR and our state.
redirected_with() {
	local name=$1 error=$2 loc
	loc=$(resp_header Location)
	if status_is 303 && [[ $loc == "$(oauth_redirect_uri)?"* ]] &&
		[[ $loc == *"error=$error"* ]] && [[ $loc == *"state=$OAUTH_STATE"* ]]; then
		pass "$name"
		return 0
	fi
	fail "$name" "expected a 303 to the redirect URI with error=$error and the state" "$(resp_summary)"
	return 1
}

# html_refusal NAME STATUS: an HTML page with STATUS and no redirect.
html_refusal() {
	local name=$1 status=$2
	if status_is "$status" && [ "$(resp_header_count Location)" = 0 ] &&
		[[ $(resp_header Content-Type) == text/html* ]]; then
		pass "$name"
		return 0
	fi
	fail "$name" "expected an HTML $status and no Location" "$(resp_summary)"
	return 1
}

stack_up nginx || bail "the stack did not come up behind nginx"

RUN=$RANDOM$RANDOM
ALICE=alice.$RUN@example.com
ALICE_PW='correct horse battery staple'
ALICE_ID=$(user_signup "$ALICE" "$ALICE_PW" Alice)
check "a person to sign in: signed up, address confirmed with the mailed code" \
	bash -c '[[ $1 =~ ^[0-9a-f-]{36}$ ]]' _ "$ALICE_ID"

# ---------------------------------------------------------- 1. metadata

expect_status "metadata answers" 200 GET /auth/.well-known/oauth-authorization-server
expect_jq "metadata: issuer and endpoints under $BASE_URL/auth" \
	'.issuer == $i and .token_endpoint == $i + "/oauth/token"
	and .authorization_endpoint == $i + "/oauth/authorize"
	and .jwks_uri == $i + "/.well-known/jwks.json"
	and .introspection_endpoint == $i + "/oauth/introspect"
	and .revocation_endpoint == $i + "/oauth/revoke"' --arg i "$BASE_URL/auth"
expect_jq "metadata: code only, S256 only, no password grant" \
	'.response_types_supported == ["code"] and .code_challenge_methods_supported == ["S256"]
	and (.grant_types_supported | sort) == ["authorization_code", "client_credentials", "refresh_token"]'
expect_jq "metadata: client authentication methods and scopes" \
	'(.token_endpoint_auth_methods_supported | sort) == ["client_secret_basic", "client_secret_post"]
	and (.scopes_supported | index("profile")) and (.scopes_supported | index("catalog:write"))'
expect_jq "metadata: the redirect back carries iss (RFC 9207)" \
	'.authorization_response_iss_parameter_supported == true'
expect_header "metadata: cacheable" Cache-Control 'public, max-age=[0-9]+'

expect_status "JWKS answers" 200 GET /auth/.well-known/jwks.json
expect_header "JWKS: Cache-Control public with max-age" Cache-Control 'public, max-age=300'
expect_jq "JWKS: Ed25519 public keys with kids" \
	'(.keys | length) >= 1 and all(.keys[]; .kty == "OKP" and .crv == "Ed25519"
	and .alg == "EdDSA" and .use == "sig" and (.kid | type) == "string" and (.x | length) == 43)'
expect_jq "JWKS: no private part (d) in any key" 'all(.keys[]; has("d") | not)'
JWKS_KIDS=$(jq -r '.keys[].kid' "$RESP_BODY_FILE")

# ------------------------------------------------ 2. client_credentials

oauth_expect "client_credentials with HTTP Basic: 200" 200 "" POST "$TOKEN" \
	-u "$(basic catalog-admin)" -d grant_type=client_credentials
expect_jq "... a Bearer token with expires_in and all the client's scopes" \
	'.token_type == "Bearer" and .expires_in == 600 and .scope == "catalog:write catalog:read"
	and (.access_token | type) == "string" and (has("refresh_token") | not)'
CC_TOKEN=$(jq -r .access_token "$RESP_BODY_FILE")
check "... its header: EdDSA, at+jwt, a published kid" bash -c '
	h=$1; kids=$2
	jq -e ".alg == \"EdDSA\" and .typ == \"at+jwt\"" <<<"$h" >/dev/null || { echo "$h"; exit 1; }
	grep -qxF -- "$(jq -r .kid <<<"$h")" <<<"$kids" || { echo "kid not in JWKS: $h"; exit 1; }' _ \
	"$(jwt_header "$CC_TOKEN")" "$JWKS_KIDS"
check "... its claims: iss, sub, aud, exp, iat, nbf, jti, scope, client_id" bash -c '
	jq -e --arg i "$2" ".iss == \$i and .sub == \"catalog-admin\" and .aud == \"search\"
		and .client_id == \"catalog-admin\" and .scope == \"catalog:write catalog:read\"
		and .exp - .iat == 600 and .nbf == .iat and (.jti | length) >= 16" <<<"$1" >/dev/null ||
		{ echo "$1"; exit 1; }' _ "$(jwt_claims "$CC_TOKEN")" "$BASE_URL/auth"

oauth_expect "client_secret_post: 200" 200 "" POST "$TOKEN" -d grant_type=client_credentials \
	--data-urlencode client_id=catalog-admin --data-urlencode "client_secret=$(client_secret catalog-admin)"
oauth_expect "Basic and client_secret at once: invalid_request" 400 invalid_request POST "$TOKEN" \
	-u "$(basic catalog-admin)" -d grant_type=client_credentials \
	--data-urlencode "client_secret=$(client_secret catalog-admin)"
oauth_expect "a wrong secret: 401 invalid_client" 401 invalid_client POST "$TOKEN" \
	-u catalog-admin:wrong-secret -d grant_type=client_credentials
expect_header "... with WWW-Authenticate: Basic" WWW-Authenticate 'Basic realm="bellhop-auth"'
WRONG_SECRET_BODY=$(cat "$RESP_BODY_FILE")
oauth_expect "an unknown client: 401 invalid_client" 401 invalid_client POST "$TOKEN" \
	-u nobody:wrong-secret -d grant_type=client_credentials
check "... the same answer as a wrong secret" test "$(cat "$RESP_BODY_FILE")" = "$WRONG_SECRET_BODY"
oauth_expect "no client authentication: 401 invalid_client" 401 invalid_client POST "$TOKEN" \
	-d grant_type=client_credentials

# A client whose name needs form-urlencoding in HTTP Basic (RFC 6749 2.3.1).
ODD=odd:client.$RUN
ODD_SECRET=$(service_run auth client add "$ODD" --scopes "a:read b:write" \
	--audiences "search users" 2>"$BH_SCRATCH/client-add.err")
check "client add prints the secret alone, one line of base64url" \
	bash -c '[[ $1 =~ ^[A-Za-z0-9_-]{43}$ ]] || { echo "stdout: $1"; exit 1; }' _ "$ODD_SECRET"
check "client add: its messages go to stderr, without the secret" \
	bash -c '[ -s "$1" ] && ! grep -qF -- "$2" "$1"' _ "$BH_SCRATCH/client-add.err" "$ODD_SECRET"
check "client add stores the secret's SHA-256 and not the secret" bash -c '
	[ "$1" = "$(printf %s "$2" | sha256sum | cut -d" " -f1)" ] || { echo "stored: $1"; exit 1; }
	[ "$3" = 0 ] || { echo "the secret is in the table"; exit 1; }' _ \
	"$(auth_psql -c "SELECT secret_hash FROM clients WHERE client_id = '$ODD'")" "$ODD_SECRET" \
	"$(auth_psql -v s="$ODD_SECRET" <<<"SELECT count(*) FROM clients c WHERE position(:'s' IN c::text) > 0")"
service_run auth client add "$ODD" --scopes x >/dev/null 2>&1
check "client add of an existing name without --replace: exit 1" test $? = 1
service_run auth client add >/dev/null 2>&1
check "client add without a name: exit 2 (usage)" test $? = 2
# '%3A' for ':' and the secret's '-' and '_' sent as %2D and %5F.
ODD_ENC=${ODD//:/%3A}
ODD_SECRET_ENC=${ODD_SECRET//-/%2D}
ODD_SECRET_ENC=${ODD_SECRET_ENC//_/%5F}
oauth_expect "Basic with form-urlencoded id and secret: 200" 200 "" POST "$TOKEN" \
	-u "$ODD_ENC:$ODD_SECRET_ENC" -d grant_type=client_credentials
expect_jq "... two audiences make aud an array" '.scope == "a:read b:write"'
check "... aud is [search, users]" bash -c 'jq -e ".aud == [\"search\", \"users\"]" <<<"$1" >/dev/null || { echo "$1"; exit 1; }' \
	_ "$(jwt_claims "$(jq -r .access_token "$RESP_BODY_FILE")")"
oauth_expect "Basic with the ':' of the id not encoded: invalid_client" 401 invalid_client POST "$TOKEN" \
	-u "$ODD:$ODD_SECRET" -d grant_type=client_credentials
oauth_expect "a subset of the scopes: 200 with that scope only" 200 "" POST "$TOKEN" \
	-u "$ODD_ENC:$ODD_SECRET" -d grant_type=client_credentials --data-urlencode "scope=b:write"
expect_jq "... scope b:write" '.scope == "b:write"'
oauth_expect "a scope the client does not have: invalid_scope" 400 invalid_scope POST "$TOKEN" \
	-u "$(basic catalog-admin)" -d grant_type=client_credentials --data-urlencode "scope=catalog:write profile"
oauth_expect "an unknown grant type: unsupported_grant_type" 400 unsupported_grant_type POST "$TOKEN" \
	-u "$(basic catalog-admin)" -d grant_type=magic
oauth_expect "the password grant is not offered: unsupported_grant_type" 400 unsupported_grant_type \
	POST "$TOKEN" -u "$(basic catalog-admin)" -d grant_type=password \
	--data-urlencode "username=$ALICE" --data-urlencode "password=$ALICE_PW"
oauth_expect "no grant_type: invalid_request" 400 invalid_request POST "$TOKEN" -u "$(basic catalog-admin)" \
	-d scope=catalog:write
oauth_expect "booking-site may not use client_credentials: unauthorized_client" 400 unauthorized_client \
	POST "$TOKEN" -u "$(basic booking-site)" -d grant_type=client_credentials
oauth_expect "a JSON body is refused: invalid_request" 400 invalid_request POST "$TOKEN" \
	-u "$(basic catalog-admin)" -H 'Content-Type: application/json' --data-binary '{"grant_type":"client_credentials"}'
oauth_expect "a repeated parameter: invalid_request" 400 invalid_request POST "$TOKEN" \
	-u "$(basic catalog-admin)" -d grant_type=client_credentials -d grant_type=client_credentials
expect_status "GET on the token endpoint: 405" 405 GET "$TOKEN?grant_type=client_credentials" \
	-u "$(basic catalog-admin)"
check "... and no token in its answer" bash -c '! grep -q access_token "$1"' _ "$RESP_BODY_FILE"

# Redirect URIs: https, or http to this machine only; no user info.
redirect_refused() {   # redirect_refused URI: client add exits 1
	service_run auth client add "redir-$RUN" --scopes profile --audiences users \
		--redirect-uri "$1" >/dev/null 2>&1
	check "client add refuses redirect URI $1 (exit 1)" test $? = 1
}
redirect_taken() {   # redirect_taken URI: client add registers it
	service_run auth client add "redir-$RUN" --scopes profile --audiences users \
		--redirect-uri "$1" --replace >/dev/null 2>&1
	check "client add takes redirect URI $1" test $? = 0
}
redirect_refused http://app.example/callback
redirect_refused http://127.0.0.1.evil.example/callback
redirect_refused http://127.0.0.1@evil.example/callback
redirect_refused https://user@app.example/callback
redirect_refused http://localhost:80x/callback
redirect_refused https://app.example/callback#frag
redirect_taken https://app.example/callback
redirect_taken http://127.0.0.1:8080/callback
redirect_taken http://localhost/cb
redirect_taken 'http://[::1]:9000/cb?x=1'

# introspected TOKEN: "true" or "false", the "active" member of the
# introspection of TOKEN by the client users (any client may ask about an
# access token).
introspected() {
	curl -s -m "$BH_CURL_TIMEOUT" -u "users:$(client_secret users)" \
		--data-urlencode "token=$1" "$BASE_URL$INTROSPECT" | jq -r .active
}
GONE=gone-$RUN
GONE_SECRET=$(service_run auth client add "$GONE" --scopes a:read --audiences search 2>/dev/null)
GONE_T1=$(curl -s -u "$GONE:$GONE_SECRET" -d grant_type=client_credentials "$BASE_URL$TOKEN" |
	jq -r .access_token)
check "a client's token is active" test "$(introspected "$GONE_T1")" = true
GONE_SECRET2=$(service_run auth client add "$GONE" --scopes a:read --audiences search --replace \
	2>/dev/null)
check "client add --replace revokes the tokens the client had" \
	test "$(introspected "$GONE_T1")" = false
oauth_expect "... the old secret no longer works" 401 invalid_client POST "$TOKEN" \
	-u "$GONE:$GONE_SECRET" -d grant_type=client_credentials
oauth_expect "... the new secret does" 200 "" POST "$TOKEN" -u "$GONE:$GONE_SECRET2" \
	-d grant_type=client_credentials
GONE_T2=$(jq -r .access_token "$RESP_BODY_FILE")
check "... and its new token is active" test "$(introspected "$GONE_T2")" = true
service_run auth client remove "$GONE" 2>/dev/null
check "client remove: exit 0" test $? = 0
check "... and the removed client's tokens are revoked" test "$(introspected "$GONE_T2")" = false
oauth_expect "... and its secret no longer works" 401 invalid_client POST "$TOKEN" \
	-u "$GONE:$GONE_SECRET2" -d grant_type=client_credentials
service_run auth client remove "$GONE" 2>/dev/null
check "client remove of an unknown client: exit 1" test $? = 1

# ---------------------------------------------------- 3. the sign-in page

pkce_new
expect_status "the sign-in page answers 200" 200 GET "$(authorize_url state="<script>x</script>\"'")"
expect_content_type "... as HTML" text/html
expect_header "... Content-Security-Policy without scripts or framing" Content-Security-Policy \
	"default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
expect_header "... X-Frame-Options DENY" X-Frame-Options DENY
expect_header "... Cache-Control no-store" Cache-Control no-store
expect_header "... a CSRF cookie: HttpOnly, SameSite=Strict, Path=/auth/oauth" Set-Cookie \
	'bh_csrf=[A-Za-z0-9_-]{43}; Path=/auth/oauth; HttpOnly; SameSite=Strict'
check "... the cookie's value is the form's csrf_token" bash -c '
	c=$(sed -n "s/^[Ss]et-[Cc]ookie: bh_csrf=\([^;]*\);.*/\1/p" "$1")
	[ -n "$c" ] && grep -qF "name=\"csrf_token\" value=\"$c\"" "$2"' _ \
	"$RESP_HEADERS_FILE" "$RESP_BODY_FILE"
check "... labelled email and password fields, no password in the page" bash -c '
	grep -q "<label for=\"email\">" "$1" && grep -q "<label for=\"password\">" "$1" &&
	grep -q "type=\"password\"" "$1"' _ "$RESP_BODY_FILE"
check "... the state is HTML-escaped" bash -c '
	! grep -q "<script>" "$1" && grep -qF "&lt;script&gt;x&lt;/script&gt;&quot;&#39;" "$1"' _ "$RESP_BODY_FILE"

# Wrong password and unknown account: one page, one status.
signin_page() {   # signin_page EMAIL PASSWORD: POSTs the form of a fresh page
	pkce_new
	oauth_authorize_page || return 1
	oauth_params
	http POST "$AUTHORIZE" -b "$OAUTH_JAR" --data-urlencode "email=$1" \
		--data-urlencode "password=$2" --data-urlencode "csrf_token=$OAUTH_CSRF" "${OAUTH_PARAMS[@]}"
}
# page_as EMAIL FILE: the last page with EMAIL, the CSRF token and the
# state made neutral, for comparing pages.
page_as() {
	sed -e "s/$1/EMAIL/g; s/value=\"[A-Za-z0-9_-]\{43\}\"/value=\"X\"/g; s/[0-9a-f]\{32\}/S/g" \
		"$RESP_BODY_FILE" >"$2"
}
# users_checks: how many password checks users has answered so far.
users_checks() {
	grep -c '"path":"/users/internal/verify-password"' "$VAR/log/users.log"
}
SECRET_PW="wrong-$RUN-pw"
signin_page "$ALICE" "$SECRET_PW"
last_status "a wrong password: 400" 400
check "... the form again, saying: Wrong email or password." grep -q 'Wrong email or password\.' "$RESP_BODY_FILE"
check "... without WWW-Authenticate" test "$(resp_header_count WWW-Authenticate)" = 0
page_as "$ALICE" "$BH_SCRATCH/wrong-password.html"
NOBODY=nobody.$RUN@example.com
signin_page "$NOBODY" "$SECRET_PW"
last_status "an unknown account: 400 as well" 400
page_as "$NOBODY" "$BH_SCRATCH/unknown-account.html"
check "... the same page as a wrong password" cmp "$BH_SCRATCH/wrong-password.html" "$BH_SCRATCH/unknown-account.html"
# U+0130 lower-cases to "i" in Unicode: "alİce" must not be a second
# spelling of an account; addresses are ASCII only.
ODD_ADDRESS=al$'\xc4\xb0'ce.$RUN@example.com
CHECKS_BEFORE=$(users_checks)
signin_page "$ODD_ADDRESS" "$SECRET_PW"
last_status "an address beyond ASCII (al\\u0130ce): 400 as well" 400
page_as "$ODD_ADDRESS" "$BH_SCRATCH/odd-address.html"
check "... the same page as a wrong password" cmp "$BH_SCRATCH/wrong-password.html" "$BH_SCRATCH/odd-address.html"
signin_page "no-at-sign.$RUN" "$SECRET_PW"
last_status "something that is no address: 400 as well" 400
check "... and users was not asked about either" test "$(users_checks)" = "$CHECKS_BEFORE"

# An address not confirmed yet: no sign-in, even with the right password.
CAROL=carol.$RUN@example.com
CAROL_PW='carol has a long password'
expect_status "an account whose address is not confirmed (sign-up only)" 201 POST /users/ \
	-H 'Content-Type: application/json' \
	--data-binary "{\"email\":\"$CAROL\",\"name\":\"Carol\",\"password\":\"$CAROL_PW\"}"
signin_page "$CAROL" "$CAROL_PW"
last_status "... signing in with the right password: 403" 403
check "... the page says to confirm the address first" grep -q 'Confirm your email address first' \
	"$RESP_BODY_FILE"
check "... and no code was issued" test "$(resp_header_count Location)" = 0
signin_page "$CAROL" "$SECRET_PW"
last_status "... with a wrong password: the usual 400" 400
page_as "$CAROL" "$BH_SCRATCH/unverified-wrong.html"
check "... the same page as for any wrong password" \
	cmp "$BH_SCRATCH/wrong-password.html" "$BH_SCRATCH/unverified-wrong.html"

pkce_new
oauth_authorize_page
oauth_params
expect_status "CSRF: a token other than the cookie's is refused (403)" 403 POST "$AUTHORIZE" -b "$OAUTH_JAR" \
	--data-urlencode "email=$ALICE" --data-urlencode "password=$ALICE_PW" \
	--data-urlencode "csrf_token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "${OAUTH_PARAMS[@]}"
html_refusal "... an HTML page, no redirect" 403
expect_status "CSRF: the right token without its cookie is refused (403)" 403 POST "$AUTHORIZE" \
	--data-urlencode "email=$ALICE" --data-urlencode "password=$ALICE_PW" \
	--data-urlencode "csrf_token=$OAUTH_CSRF" "${OAUTH_PARAMS[@]}"

# Over https the cookie is __Host-bh_csrf (Secure, Path=/): a sibling
# origin cannot plant one.  The stack is http, so a second auth, with
# BH_PUBLIC_URL https, is asked directly over FastCGI.
cat >"$BH_SCRATCH/fcgi.py" <<'PY'
# fcgi.py SOCKET NAME=VALUE...: one FastCGI request (the body on stdin);
# prints what the application wrote on its stdout.
import socket, struct, sys

def record(kind, content):
    return struct.pack(">BBHHBB", 1, kind, 1, len(content), 0, 0) + content

def length(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)

params = b""
for arg in sys.argv[2:]:
    name, value = (x.encode() for x in arg.split("=", 1))
    params += length(len(name)) + length(len(value)) + name + value
body = sys.stdin.buffer.read()
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(record(1, struct.pack(">HB5x", 1, 0)) + record(4, params) +
          record(4, b"") + (record(5, body) if body else b"") + record(5, b""))
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
out = b""
while len(data) >= 8:
    _, kind, _, n, pad, _ = struct.unpack(">BBHHBB", data[:8])
    if kind == 6:
        out += data[8:8 + n]
    data = data[8 + n + pad:]
    if kind == 3:
        break
sys.stdout.buffer.write(out)
PY
HTTPS_SOCK=$BH_SCRATCH/auth-https.sock
# (users and the token endpoint made unreachable at once: nothing there)
auth_run_env BH_PUBLIC_URL=https://bellhop.example BH_USERS_URL=http://127.0.0.1:1/users \
	BH_AUTH_TOKEN_URL=http://127.0.0.1:1/token -- --listen "unix:$HTTPS_SOCK" --workers 1 \
	>"$BH_SCRATCH/auth-https.log" 2>&1 &
HTTPS_PID=$!
track $HTTPS_PID
wait_until 10 test -S "$HTTPS_SOCK"
QUERY="response_type=code&client_id=booking-site&redirect_uri=$(jq -rn --arg v "$(oauth_redirect_uri)" '$v | @uri')&scope=profile&state=s&code_challenge=$PKCE_CHALLENGE&code_challenge_method=S256"
/usr/bin/python3 "$BH_SCRATCH/fcgi.py" "$HTTPS_SOCK" REQUEST_METHOD=GET \
	"REQUEST_URI=/auth/oauth/authorize?$QUERY" "QUERY_STRING=$QUERY" REMOTE_ADDR=127.0.0.1 \
	</dev/null >"$BH_SCRATCH/https-page.txt" 2>&1
check "over https: the CSRF cookie is __Host-bh_csrf, Secure, Path=/, no Domain" bash -c '
	tr -d "\r" <"$1" | grep -qiE "^Set-Cookie: __Host-bh_csrf=[A-Za-z0-9_-]{43}; Path=/; Secure; HttpOnly; SameSite=Strict$" &&
	! grep -qi "^Set-Cookie:.*Domain=" "$1" || { head -c 2000 "$1"; exit 1; }' _ "$BH_SCRATCH/https-page.txt"
HTTPS_CSRF=$(sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' "$BH_SCRATCH/https-page.txt")
FORM="$QUERY&csrf_token=$HTTPS_CSRF&email=x%40example.com&password=y"
printf '%s' "$FORM" | /usr/bin/python3 "$BH_SCRATCH/fcgi.py" "$HTTPS_SOCK" REQUEST_METHOD=POST \
	REQUEST_URI=/auth/oauth/authorize CONTENT_TYPE=application/x-www-form-urlencoded \
	"CONTENT_LENGTH=${#FORM}" REMOTE_ADDR=127.0.0.1 "HTTP_COOKIE=bh_csrf=$HTTPS_CSRF" \
	>"$BH_SCRATCH/https-post.txt" 2>&1
check "... a cookie without the prefix is not taken for it (403)" \
	grep -q '^Status: 403' "$BH_SCRATCH/https-post.txt"
printf '%s' "$FORM" | /usr/bin/python3 "$BH_SCRATCH/fcgi.py" "$HTTPS_SOCK" REQUEST_METHOD=POST \
	REQUEST_URI=/auth/oauth/authorize CONTENT_TYPE=application/x-www-form-urlencoded \
	"CONTENT_LENGTH=${#FORM}" REMOTE_ADDR=127.0.0.1 "HTTP_COOKIE=__Host-bh_csrf=$HTTPS_CSRF" \
	>"$BH_SCRATCH/https-post.txt" 2>&1
check "... the __Host- cookie passes the CSRF check (then users, unreachable here: 503)" \
	grep -q '^Status: 503' "$BH_SCRATCH/https-post.txt"
kill -TERM "$HTTPS_PID" 2>/dev/null
wait_pid "$HTTPS_PID" 10

# --------------------------------------------- 4. authorization code + PKCE

USER_TOKEN=$(user_login "$ALICE" "$ALICE_PW")
check "sign-in with the code flow and PKCE gives an access token" test -n "$USER_TOKEN"
USER_REFRESH=$(user_refresh_token)
check "... and a refresh token" test -n "$USER_REFRESH"
check "... the token is the person's: sub, client_id booking-site, aud users and reservations, scope profile bookings" bash -c '
	jq -e --arg s "$2" ".sub == \$s and .client_id == \"booking-site\" and .aud == [\"users\", \"reservations\"]
		and .scope == \"profile bookings\"" <<<"$1" >/dev/null || { echo "$1"; exit 1; }' _ \
	"$(jwt_claims "$USER_TOKEN")" "$ALICE_ID"
expect_status "... and it reads /users/me" 200 GET /users/me -H "Authorization: Bearer $USER_TOKEN"
expect_jq "... which is Alice's account" '.id == $id and .email == $e' --arg id "$ALICE_ID" --arg e "$ALICE"
check "the password is in no log" bash -c '! grep -rqF -e "$1" -e "$2" "$3"/log' _ \
	"$ALICE_PW" "$SECRET_PW" "$VAR"

signed_in_code "$ALICE" "$ALICE_PW"
check "the redirect carries code, state and iss" bash -c '
	[[ $1 == *"code="* && $1 == *"state=$2"* && $1 == *"iss="* ]]' _ "$OAUTH_LOCATION" "$OAUTH_STATE"
GOOD_VERIFIER=$PKCE_VERIFIER
CODE=$OAUTH_CODE
pkce_new
exchange "$CODE" "$PKCE_VERIFIER"
oauth_check "a wrong code_verifier: invalid_grant" 400 invalid_grant
exchange "$CODE" "$GOOD_VERIFIER"
oauth_check "... and the code is spent: the right verifier afterwards is refused" 400 invalid_grant
exchange abc "$(printf 'a%.0s' {1..20})"
oauth_check "a code_verifier shorter than 43 characters: invalid_request" 400 invalid_request

signed_in_code "$ALICE" "$ALICE_PW"
exchange "$OAUTH_CODE" "$PKCE_VERIFIER" "$BASE_URL/elsewhere"
oauth_check "redirect_uri at the token endpoint differing from the authorize one: invalid_grant" \
	400 invalid_grant

pkce_new
http GET "$(authorize_url code_challenge_method=plain code_challenge="$PKCE_VERIFIER")"
redirected_with "the plain PKCE method is refused (redirect with invalid_request)" invalid_request
http GET "$(authorize_url code_challenge= code_challenge_method=)"
redirected_with "a missing code_challenge is refused (redirect with invalid_request)" invalid_request
http GET "$(authorize_url response_type=token)"
redirected_with "response_type=token: unsupported_response_type" unsupported_response_type
http GET "$(authorize_url scope="profile catalog:write")"
redirected_with "a scope the client may not have: invalid_scope" invalid_scope
http GET "$(authorize_url redirect_uri=http://evil.example/callback)"
html_refusal "an unregistered redirect_uri: an HTML 400, never a redirect" 400
http GET "$(authorize_url redirect_uri="$(oauth_redirect_uri)/")"
html_refusal "redirect_uri matched exactly (a trailing slash more): HTML 400" 400
http GET "$(authorize_url client_id=nobody-$RUN)"
html_refusal "an unknown client_id: an HTML 400, never a redirect" 400
http GET "$(authorize_url client_id=catalog-admin redirect_uri=http://evil.example/)"
html_refusal "a client without the code grant: an HTML 400" 400

# A reused code: refused, and what the first exchange gave is revoked.
signed_in_code "$ALICE" "$ALICE_PW"
exchange "$OAUTH_CODE" "$PKCE_VERIFIER"
oauth_check "a code exchanged once: 200" 200 ""
FIRST_ACCESS=$(jq -r .access_token "$RESP_BODY_FILE")
FIRST_REFRESH=$(jq -r .refresh_token "$RESP_BODY_FILE")
active "... its refresh token is active" "$FIRST_REFRESH"
exchange "$OAUTH_CODE" "$PKCE_VERIFIER"
oauth_check "the same code again: invalid_grant" 400 invalid_grant
inactive "... the refresh token of the first exchange is now inactive" "$FIRST_REFRESH"
inactive "... and so is its access token" "$FIRST_ACCESS"
refresh "$FIRST_REFRESH"
oauth_check "... and the refresh token no longer refreshes" 400 invalid_grant

# race ARGS...: two identical token requests at once; prints their
# statuses, sorted, on one line ("200 400").
race() {
	local i pids=()
	for i in 1 2; do
		curl -s -m "$BH_CURL_TIMEOUT" -o /dev/null -w '%{http_code}\n' "$@" \
			"$BASE_URL$TOKEN" >"$BH_SCRATCH/race.$i" &
		pids+=($!)
	done
	wait "${pids[@]}"
	sort -n "$BH_SCRATCH/race.1" "$BH_SCRATCH/race.2" | paste -sd' '
}
CODE_RACES= REFRESH_RACES=
for round in 1 2 3 4 5; do
	signed_in_code "$ALICE" "$ALICE_PW"
	CODE_RACES+="$(race -u "$(basic booking-site)" --data-urlencode grant_type=authorization_code \
		--data-urlencode "code=$OAUTH_CODE" --data-urlencode "code_verifier=$PKCE_VERIFIER" \
		--data-urlencode "redirect_uri=$(oauth_redirect_uri)");"
done
check "two concurrent exchanges of one code, 5 times: exactly one wins each time" \
	test "$CODE_RACES" = "200 400;200 400;200 400;200 400;200 400;"
for round in 1 2 3 4 5; do
	signed_in_code "$ALICE" "$ALICE_PW"
	exchange "$OAUTH_CODE" "$PKCE_VERIFIER"
	REFRESH_RACES+="$(race -u "$(basic booking-site)" --data-urlencode grant_type=refresh_token \
		--data-urlencode "refresh_token=$(jq -r .refresh_token "$RESP_BODY_FILE")");"
done
check "two concurrent uses of one refresh token, 5 times: exactly one wins each time" \
	test "$REFRESH_RACES" = "200 400;200 400;200 400;200 400;200 400;"

signed_in_code "$ALICE" "$ALICE_PW"
sleep $((CODE_TTL + 1))
exchange "$OAUTH_CODE" "$PKCE_VERIFIER"
oauth_check "a code older than BH_AUTH_CODE_TTL ($CODE_TTL s): invalid_grant" 400 invalid_grant

# ---------------------------------------------------------- 5. refresh

refresh "$USER_REFRESH"
oauth_check "refresh: 200 with a new access token and a new refresh token" 200 ""
R2=$(jq -r .refresh_token "$RESP_BODY_FILE")
A2=$(jq -r .access_token "$RESP_BODY_FILE")
check "... the refresh token rotated" bash -c '[ -n "$1" ] && [ "$1" != null ] && [ "$1" != "$2" ]' _ "$R2" "$USER_REFRESH"
expect_status "... the new access token reads /users/me" 200 GET /users/me -H "Authorization: Bearer $A2"
refresh "$R2" "profile admin"
oauth_check "refresh asking for more scope: invalid_scope" 400 invalid_scope
refresh "$R2" profile
oauth_check "refresh asking for the same or a narrower scope: 200 (the refused try spent nothing)" 200 ""
R3=$(jq -r .refresh_token "$RESP_BODY_FILE")
A3=$(jq -r .access_token "$RESP_BODY_FILE")
active "the latest refresh token is active" "$R3"
refresh "$USER_REFRESH"
oauth_check "reusing a spent refresh token: invalid_grant" 400 invalid_grant
inactive "... which revokes the whole family: the latest refresh token is inactive" "$R3"
inactive "... and the family's access token too" "$A3"
refresh "$R3"
oauth_check "... and the latest refresh token no longer refreshes" 400 invalid_grant
http POST "$TOKEN" -u "$(basic catalog-admin)" --data-urlencode grant_type=refresh_token \
	--data-urlencode "refresh_token=$R3"
oauth_check "refresh by a client without that grant: unauthorized_client" 400 unauthorized_client

# The scope is cut at every refresh to what the client is registered for.
SHRINK=shrink-$RUN
SHRINK_SECRET=$(service_run auth client add "$SHRINK" --scopes "profile extra:read" \
	--audiences users --redirect-uri "$(oauth_redirect_uri)" 2>/dev/null)
OAUTH_CLIENT=$SHRINK OAUTH_SCOPE="profile extra:read"
pkce_new
oauth_authorize_page && oauth_submit "$ALICE" "$ALICE_PW"
OAUTH_CLIENT=booking-site OAUTH_SCOPE=profile
http POST "$TOKEN" -u "$SHRINK:$SHRINK_SECRET" --data-urlencode grant_type=authorization_code \
	--data-urlencode "code=$OAUTH_CODE" --data-urlencode "code_verifier=$PKCE_VERIFIER" \
	--data-urlencode "redirect_uri=$(oauth_redirect_uri)"
oauth_check "a code-flow client with two scopes: a session with both" 200 ""
expect_jq "... scope profile extra:read" '.scope == "profile extra:read"'
SR=$(jq -r .refresh_token "$RESP_BODY_FILE")
shrink_refresh() {   # shrink_refresh TOKEN [SCOPE]
	local args=(-u "$SHRINK:$SHRINK_SECRET" --data-urlencode grant_type=refresh_token
		--data-urlencode "refresh_token=$1")
	[ -n "${2:-}" ] && args+=(--data-urlencode "scope=$2")
	http POST "$TOKEN" "${args[@]}"
}
auth_psql -c "UPDATE clients SET scopes = '{profile}' WHERE client_id = '$SHRINK'" >/dev/null
shrink_refresh "$SR"
oauth_check "the client lost a scope: its refresh still works (200)" 200 ""
expect_jq "... with the scope the client still has, no more" '.scope == "profile"'
check "... and so says the access token" bash -c 'jq -e ".scope == \"profile\"" <<<"$1" >/dev/null' _ \
	"$(jwt_claims "$(jq -r .access_token "$RESP_BODY_FILE")")"
SR=$(jq -r .refresh_token "$RESP_BODY_FILE")
shrink_refresh "$SR" "profile extra:read"
oauth_check "... asking for the lost scope: invalid_scope" 400 invalid_scope
auth_psql -c "UPDATE clients SET scopes = '{profile,extra:read}' WHERE client_id = '$SHRINK'" >/dev/null
shrink_refresh "$SR"
oauth_check "the client got the scope back: the refresh works" 200 ""
expect_jq "... but the session does not get it back" '.scope == "profile"'
SR=$(jq -r .refresh_token "$RESP_BODY_FILE")
service_run auth client add "$SHRINK" --scopes profile --audiences users \
	--redirect-uri "$(oauth_redirect_uri)" --replace >"$BH_SCRATCH/shrink.secret" 2>/dev/null
SHRINK_SECRET=$(cat "$BH_SCRATCH/shrink.secret")
shrink_refresh "$SR"
oauth_check "client add --replace ends the client's sessions: its refresh token is refused" \
	400 invalid_grant

# A session ends BH_SESSION_MAX_AGE after the code exchange, whatever the
# refreshes.
sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
signed_in_code "$ALICE" "$ALICE_PW"
exchange "$OAUTH_CODE" "$PKCE_VERIFIER"
S1=$(jq -r .refresh_token "$RESP_BODY_FILE")
FAMILY=$(auth_psql -c "SELECT family_id FROM refresh_tokens WHERE token_hash = '$(sha256 "$S1")'")
check "a session ends BH_SESSION_MAX_AGE ($SESSION_MAX_AGE s) after the code exchange" test \
	"$(auth_psql -c "SELECT extract(epoch FROM expires_at - created_at)::int FROM grant_families WHERE id = '$FAMILY'")" \
	= "$SESSION_MAX_AGE"
check "... its refresh token (BH_REFRESH_TOKEN_TTL 30 days) expires with it" test \
	"$(auth_psql -c "SELECT r.expires_at = f.expires_at FROM refresh_tokens r JOIN grant_families f ON f.id = r.family_id WHERE r.token_hash = '$(sha256 "$S1")'")" = t
auth_psql -c "UPDATE grant_families SET expires_at = now() + interval '3 seconds' WHERE id = '$FAMILY'" >/dev/null
refresh "$S1"
oauth_check "a refresh just before the session ends: 200" 200 ""
expect_jq "... an access token that ends with the session (expires_in <= 3)" '.expires_in <= 3'
check "... and says so (exp)" bash -c '[ "$(jq -r ".exp - .iat" <<<"$1")" -le 3 ]' _ \
	"$(jwt_claims "$(jq -r .access_token "$RESP_BODY_FILE")")"
S2=$(jq -r .refresh_token "$RESP_BODY_FILE")
check "... a refresh token that ends with it too" test \
	"$(auth_psql -c "SELECT r.expires_at <= f.expires_at FROM refresh_tokens r JOIN grant_families f ON f.id = r.family_id WHERE r.token_hash = '$(sha256 "$S2")'")" = t
sleep 4
refresh "$S2"
oauth_check "after the session's end a refresh is refused: invalid_grant" 400 invalid_grant
inactive "... and its refresh token is inactive" "$S2"

# ------------------------------------------- 6. introspection, revocation

oauth_expect "introspection without client authentication: 401" 401 invalid_client \
	POST "$INTROSPECT" --data-urlencode "token=$CC_TOKEN"
oauth_expect "introspection with a wrong secret: 401" 401 invalid_client \
	POST "$INTROSPECT" -u users:wrong --data-urlencode "token=$CC_TOKEN"
expect_status "introspection of an active access token (by another client)" 200 POST "$INTROSPECT" \
	-u "$(basic users)" --data-urlencode "token=$CC_TOKEN"
expect_jq "... active, with scope, client_id, sub, aud, iss, exp, iat, token_type" \
	'.active == true and .scope == "catalog:write catalog:read" and .client_id == "catalog-admin"
	and .sub == "catalog-admin" and .aud == "search" and .iss == $i and (.exp | type) == "number"
	and (.iat | type) == "number" and .token_type == "Bearer"' --arg i "$BASE_URL/auth"
signed_in_code "$ALICE" "$ALICE_PW"
exchange "$OAUTH_CODE" "$PKCE_VERIFIER"
RA=$(jq -r .access_token "$RESP_BODY_FILE")
RR=$(jq -r .refresh_token "$RESP_BODY_FILE")
expect_status "introspection of a refresh token by its client" 200 POST "$INTROSPECT" \
	-u "$(basic booking-site)" --data-urlencode "token=$RR"
expect_jq "... active, token_type refresh_token, scope, client_id, sub, exp" \
	'.active == true and .token_type == "refresh_token" and .scope == "profile"
	and .client_id == "booking-site" and .sub == $s and (.exp | type) == "number"' --arg s "$ALICE_ID"
inactive "another client introspecting that refresh token: inactive" "$RR" users
inactive "an unknown token: exactly {\"active\":false}" "not-a-token"
inactive "a malformed JWT: exactly {\"active\":false}" "eyJhbGciOiJub25lIn0.e30."
TAMPERED=$(cut -d. -f1,2 <<<"$CC_TOKEN").AAAA$(cut -d. -f3 <<<"$CC_TOKEN" | cut -c5-)
inactive "a token with a bad signature: exactly {\"active\":false}" "$TAMPERED"
oauth_expect "introspection without a token: invalid_request" 400 invalid_request POST "$INTROSPECT" \
	-u "$(basic users)" -d token_type_hint=access_token

oauth_expect "revocation without client authentication: 401" 401 invalid_client \
	POST "$REVOKE" --data-urlencode "token=$RR"
expect_status "revoking an unknown token: 200" 200 POST "$REVOKE" -u "$(basic booking-site)" \
	--data-urlencode "token=nothing-$RUN"
check "... with an empty body" test ! -s "$RESP_BODY_FILE"
expect_status "revoking someone else's refresh token: 200 ..." 200 POST "$REVOKE" -u "$(basic users)" \
	--data-urlencode "token=$RR" -d token_type_hint=refresh_token
active "... but it stays active" "$RR"
expect_status "revoking an access token: 200" 200 POST "$REVOKE" -u "$(basic booking-site)" \
	--data-urlencode "token=$RA" -d token_type_hint=access_token
inactive "... it is inactive at introspection" "$RA"
active "... its refresh token is not affected" "$RR"
refresh "$RR"
RA2=$(jq -r .access_token "$RESP_BODY_FILE")
RR2=$(jq -r .refresh_token "$RESP_BODY_FILE")
expect_status "revoking a refresh token: 200" 200 POST "$REVOKE" -u "$(basic booking-site)" \
	--data-urlencode "token=$RR2"
inactive "... it is inactive" "$RR2"
inactive "... and so is the access token of its family" "$RA2"
refresh "$RR2"
oauth_check "... and it no longer refreshes" 400 invalid_grant
expect_status "revoking a client_credentials token by its client: 200" 200 POST "$REVOKE" \
	-u "$(basic catalog-admin)" --data-urlencode "token=$CC_TOKEN"
inactive "... inactive afterwards" "$CC_TOKEN" users

# Every session of a person, ended at once (users calls this when a
# password is reset or changed).  The client users gets scope auth:revoke
# from scripts/stack; this test registers one of its own with it, and one
# for audience auth without it.
REVOKE_USER=/auth/internal/revoke-user
REVOKER_SECRET=$(service_run auth client add "revoker-$RUN" --scopes auth:revoke \
	--audiences auth 2>/dev/null)
NOSCOPE_SECRET=$(service_run auth client add "noscope-$RUN" --scopes other:thing \
	--audiences auth 2>/dev/null)
cc_token() {   # cc_token NAME SECRET
	curl -s -m "$BH_CURL_TIMEOUT" -u "$1:$2" -d grant_type=client_credentials \
		"$BASE_URL$TOKEN" | jq -r '.access_token // empty'
}
REVOKER_TOKEN=$(cc_token "revoker-$RUN" "$REVOKER_SECRET")
NOSCOPE_TOKEN=$(cc_token "noscope-$RUN" "$NOSCOPE_SECRET")
check "a client with scope auth:revoke for audience auth gets a token" test -n "$REVOKER_TOKEN"
revoke_user() {   # revoke_user TOKEN BODY
	http POST "$REVOKE_USER" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
		--data-binary "$2"
}
DAVE=dave.$RUN@example.com
DAVE_PW='dave is here for a while'
DAVE_ID=$(user_signup "$DAVE" "$DAVE_PW" Dave)
DAVE_A1=$(user_login "$DAVE" "$DAVE_PW")
DAVE_R1=$(user_refresh_token)
DAVE_A2=$(user_login "$DAVE" "$DAVE_PW")
DAVE_R2=$(user_refresh_token)
pkce_new
oauth_authorize_page && oauth_submit "$DAVE" "$DAVE_PW"
DAVE_CODE=$OAUTH_CODE DAVE_VERIFIER=$PKCE_VERIFIER
ALICE_A=$(user_login "$ALICE" "$ALICE_PW")
ALICE_R=$(user_refresh_token)
revoke_user "$REVOKER_TOKEN" "{\"user_id\":\"$DAVE_ID\"}"
last_status "revoke-user: 200" 200
expect_jq "... revoked_families: Dave's two sessions" '.revoked_families == 2'
expect_header "... not cached" Cache-Control no-store
inactive "... his refresh tokens are inactive (1)" "$DAVE_R1"
inactive "... (2)" "$DAVE_R2"
refresh "$DAVE_R2"
oauth_check "... and no longer refresh" 400 invalid_grant
inactive "... his access tokens are inactive at introspection (1)" "$DAVE_A1"
inactive "... (2)" "$DAVE_A2"
exchange "$DAVE_CODE" "$DAVE_VERIFIER"
oauth_check "... a code of his not yet exchanged is refused" 400 invalid_grant
active "... Alice's session is untouched" "$ALICE_R"
active "... and her access token" "$ALICE_A"
revoke_user "$REVOKER_TOKEN" "{\"user_id\":\"$DAVE_ID\"}"
last_status "revoke-user again: 200" 200
expect_jq "... revoked_families 0" '.revoked_families == 0'
check "... a new sign-in works afterwards" user_login "$DAVE" "$DAVE_PW"
revoke_user "$REVOKER_TOKEN" "{\"user_id\":\"$(cat /proc/sys/kernel/random/uuid)\"}"
expect_jq "revoke-user of an id nobody has: 200, revoked_families 0" '.revoked_families == 0'
revoke_problem() {   # revoke_problem NAME STATUS SLUG TOKEN BODY
	local auth=()
	[ -n "$4" ] && auth=(-H "Authorization: Bearer $4")
	expect_problem "$1" "$2" "$3" POST "$REVOKE_USER" "${auth[@]}" \
		-H 'Content-Type: application/json' --data-binary "$5"
}
DAVE_BODY="{\"user_id\":\"$DAVE_ID\"}"
revoke_problem "revoke-user without a token: 401" 401 unauthorized "" "$DAVE_BODY"
expect_header "... with WWW-Authenticate: Bearer" WWW-Authenticate 'Bearer.*'
revoke_problem "revoke-user with a token without auth:revoke: 403" 403 insufficient-scope \
	"$NOSCOPE_TOKEN" "$DAVE_BODY"
revoke_problem "revoke-user with a token for another audience (search): 401" 401 unauthorized \
	"$(client_token catalog-admin)" "$DAVE_BODY"
revoke_problem "revoke-user with a person's token (audience users): 401" 401 unauthorized \
	"$ALICE_A" "{\"user_id\":\"$ALICE_ID\"}"
active "... which revoked nothing" "$ALICE_R"
revoke_problem "revoke-user of something not a uuid: 400" 400 invalid-parameter \
	"$REVOKER_TOKEN" '{"user_id":"not-a-uuid"}'
revoke_problem "revoke-user without user_id: 400" 400 invalid-parameter "$REVOKER_TOKEN" '{}'
revoke_problem "revoke-user with a member it does not take: 400" 400 invalid-parameter \
	"$REVOKER_TOKEN" "{\"user_id\":\"$DAVE_ID\",\"all\":true}"
revoke_problem "revoke-user with a body that is not JSON: 400" 400 malformed-body \
	"$REVOKER_TOKEN" '[1'

# ------------------------------------------------------ 7. key rotation

OLD_KID=$(jwt_header "$USER_TOKEN" | jq -r .kid)
OLD_USER_TOKEN=$(user_login "$ALICE" "$ALICE_PW")
OLD_SVC_TOKEN=$(client_token users)
NEW_KID=$(service_run auth key add 2>>"$BH_SCRATCH/keys.err")
check "key add prints the new kid" bash -c '[[ $1 =~ ^[A-Za-z0-9_-]{1,64}$ ]]' _ "$NEW_KID"
expect_status "JWKS after key add" 200 GET /auth/.well-known/jwks.json
expect_jq "... publishes the next key beside the current one" \
	'[.keys[].kid] | index($o) and index($n)' --arg o "$OLD_KID" --arg n "$NEW_KID"
check "... which does not sign yet" test "$(jwt_header "$(client_token users)" | jq -r .kid)" = "$OLD_KID"
service_run auth key rotate >/dev/null 2>>"$BH_SCRATCH/keys.err"
check "key rotate refuses while the next key is younger than the JWKS max-age (exit 1)" test $? = 1

# Requests all along the rotation: the old tokens, and fresh ones.
rotation_load() {
	local i=0 rt=$1 out
	while [ ! -e "$BH_SCRATCH/rotation.stop" ] && [ $i -lt 400 ]; do
		i=$((i + 1))
		curl -s -m 10 -o /dev/null -w '%{http_code} old-user\n' \
			-H "Authorization: Bearer $OLD_USER_TOKEN" "$BASE_URL/users/me"
		curl -s -m 10 -o /dev/null -w '%{http_code} old-service\n' \
			-H "Authorization: Bearer $OLD_SVC_TOKEN" "$BASE_URL/notifications/emails/2147483647"
		out=$(curl -s -m 10 -u "booking-site:$(cat "$VAR/secrets/booking-site.secret")" \
			--data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$rt" \
			"$BASE_URL/auth/oauth/token")
		rt=$(jq -r '.refresh_token // empty' <<<"$out")
		[ -n "$rt" ] || { echo "000 refresh-failed"; return; }
		curl -s -m 10 -o /dev/null -w '%{http_code} fresh-user\n' \
			-H "Authorization: Bearer $(jq -r .access_token <<<"$out")" "$BASE_URL/users/me"
	done
}
rotation_load "$(user_refresh_token)" >"$BH_SCRATCH/rotation.codes" 2>&1 &
LOAD_PID=$!
track $LOAD_PID
sleep 1
# Run with a TTL of 30 s in its environment, where the service signs for
# 600 s: the retired key must stay published for the service's.
ROTATED=$(auth_run_env BH_ACCESS_TOKEN_TTL=30 -- key rotate --now 2>>"$BH_SCRATCH/keys.err")
check "key rotate --now promotes the next key (prints its kid)" test "$ROTATED" = "$NEW_KID"
sleep 2
: >"$BH_SCRATCH/rotation.stop"
wait_pid $LOAD_PID 30
check "requests went on all along the rotation" bash -c '[ "$(wc -l <"$1")" -ge 12 ]' _ "$BH_SCRATCH/rotation.codes"
check "... with no failure: every one answered 200 (old-service: 404, token accepted)" bash -c '
	! grep -v -e "^200 old-user$" -e "^200 fresh-user$" -e "^404 old-service$" "$1"' _ \
	"$BH_SCRATCH/rotation.codes"
NEW_TOKEN=$(client_token users)
check "new tokens carry the new kid" test "$(jwt_header "$NEW_TOKEN" | jq -r .kid)" = "$NEW_KID"
NEW_USER_TOKEN=$(user_login "$ALICE" "$ALICE_PW")
expect_status "... and verify at users (/users/me)" 200 GET /users/me -H "Authorization: Bearer $NEW_USER_TOKEN"
expect_status "... and at notifications (404 for a missing email, not 401)" 404 \
	GET /notifications/emails/2147483647 -H "Authorization: Bearer $NEW_TOKEN"
expect_status "a token of the retired key still verifies" 200 GET /users/me \
	-H "Authorization: Bearer $OLD_USER_TOKEN"
expect_status "JWKS after the rotation" 200 GET /auth/.well-known/jwks.json
expect_jq "... still publishes the retired key" '[.keys[].kid] | index($o) and index($n)' \
	--arg o "$OLD_KID" --arg n "$NEW_KID"
check "key list: the old key retired, the new one current" bash -c '
	grep -qP "^\Q$2\E\tretired\t" <<<"$1" && grep -qP "^\Q$3\E\tcurrent\t" <<<"$1" || { echo "$1"; exit 1; }' _ \
	"$(service_run auth key list 2>/dev/null)" "$OLD_KID" "$NEW_KID"
check "the retired key stays published for the service's token lifetime (600 + 30 s), not the command's" \
	test "$(auth_psql -c "SELECT extract(epoch FROM unpublish_at - retired_at)::int FROM signing_keys WHERE kid = '$OLD_KID'")" = 630
check "... the new key records the lifetime of the tokens it signs (630 s)" \
	test "$(auth_psql -c "SELECT token_lifetime FROM signing_keys WHERE kid = '$NEW_KID'")" = 630
auth_run_env BH_JWKS_MAX_AGE=59 -- key list >/dev/null 2>&1
check "BH_JWKS_MAX_AGE below 60 (what verifiers cache at least) is refused: exit 2" test $? = 2
service_run auth key prune 2>/dev/null
expect_status "key prune keeps a retired key until its tokens expired" 200 GET /auth/.well-known/jwks.json
expect_jq "... (still published)" '[.keys[].kid] | index($o)' --arg o "$OLD_KID"

# --------------------------------------------------------- 8. bad input

BIG=$(head -c 100000 /dev/zero | tr '\0' a)
printf 'grant_type=client_credentials&scope=%s' "$BIG" >"$BH_SCRATCH/big-form"
bad_input() {   # bad_input NAME EXPECTED METHOD URL [CURL ARGS...]
	local name=$1 expected=$2
	shift 2
	expect_status "bad input: $name" "$expected" "$@"
}
bad_input "a 100 kB scope (token)" 400 POST "$TOKEN" -u "$(basic catalog-admin)" \
	--data-binary @"$BH_SCRATCH/big-form"
bad_input "a 100 kB code (token)" 400 POST "$TOKEN" -u "$(basic booking-site)" \
	-d grant_type=authorization_code -d "code=$BIG" -d code_verifier=x -d redirect_uri=x
bad_input "a 100 kB token (introspect)" 200 POST "$INTROSPECT" -u "$(basic users)" -d "token=$BIG"
bad_input "a 100 kB token (revoke)" 200 POST "$REVOKE" -u "$(basic users)" -d "token=$BIG"
bad_input "a 2 MB body (token)" 413 POST "$TOKEN" -u "$(basic catalog-admin)" \
	--data-binary @<(printf 'grant_type=client_credentials&x='; head -c 2000000 /dev/zero | tr '\0' a)
bad_input "bad UTF-8 in scope (token)" 400 POST "$TOKEN" -u "$(basic catalog-admin)" \
	-d grant_type=client_credentials -d 'scope=%FF%FE'
bad_input "bad UTF-8 in client_id (token)" 400 POST "$TOKEN" -d grant_type=client_credentials \
	-d 'client_id=%C0%AF' -d client_secret=x
bad_input "%00 in a field (token)" 400 POST "$TOKEN" -u "$(basic catalog-admin)" \
	-d 'grant_type=client_credentials%00'
bad_input "a bad percent-escape (token)" 400 POST "$TOKEN" -u "$(basic catalog-admin)" \
	-d 'grant_type=client%G1credentials'
bad_input "Basic credentials that are not base64 (token)" 401 POST "$TOKEN" \
	-H 'Authorization: Basic !!!notbase64' -d grant_type=client_credentials
bad_input "Basic credentials without a colon (token)" 401 POST "$TOKEN" \
	-H "Authorization: Basic $(printf 'catalog-admin' | base64)" -d grant_type=client_credentials
bad_input "Basic with %00 in the id (token)" 401 POST "$TOKEN" \
	-H "Authorization: Basic $(printf 'catalog%%00admin:x' | base64)" -d grant_type=client_credentials
bad_input "a Bearer token instead of client credentials (introspect)" 401 POST "$INTROSPECT" \
	-H "Authorization: Bearer $NEW_TOKEN" --data-urlencode "token=$NEW_TOKEN"
bad_input "a repeated token (introspect)" 400 POST "$INTROSPECT" -u "$(basic users)" -d token=a -d token=b
bad_input "a repeated client_id (authorize): HTML 400" 400 GET "$(authorize_url)&client_id=booking-site"
bad_input "a repeated scope (authorize): redirect with invalid_request" 303 GET "$(authorize_url)&scope=profile"
bad_input "bad UTF-8 in redirect_uri (authorize)" 400 GET "$(authorize_url redirect_uri=)&redirect_uri=%FF"
bad_input "%00 in the query (authorize)" 400 GET "$(authorize_url)&x=%00"
bad_input "a 10 kB state (authorize): redirect with invalid_request" 303 GET \
	"$(authorize_url state="$(head -c 10000 /dev/zero | tr '\0' s)")"
bad_input "a JSON body (authorize POST)" 415 POST "$AUTHORIZE" -H 'Content-Type: application/json' \
	--data-binary '{"client_id":"booking-site"}'
bad_input "an empty form (authorize POST)" 400 POST "$AUTHORIZE" -d ''
bad_input "a form without a CSRF token (authorize POST)" 403 POST "$AUTHORIZE" \
	-d client_id=booking-site --data-urlencode "redirect_uri=$(oauth_redirect_uri)"
check "no answer of auth in the test was a 500" bash -c '! grep -q "\"status\":500" "$1"/log/auth.log' _ "$VAR"

# ------------------------------------------------------- 9. rate limits

# signin_from ADDRESS EMAIL PASSWORD: signin_page, the form posted from
# another loopback address (curl --interface): REMOTE_ADDR is ADDRESS.
signin_from() {
	pkce_new
	oauth_authorize_page || return 1
	oauth_params
	http POST "$AUTHORIZE" --interface "$1" -b "$OAUTH_JAR" --data-urlencode "email=$2" \
		--data-urlencode "password=$3" --data-urlencode "csrf_token=$OAUTH_CSRF" "${OAUTH_PARAMS[@]}"
}

# Per account and address (BH_SIGNIN_LIMIT_ACCOUNT=3), whatever the
# spelling of the address.
LIMITED=$RUN-limited@example.com
SPELLINGS=("$LIMITED" " ${LIMITED^^} " "${LIMITED^}")
for i in 1 2 3; do
	signin_page "${SPELLINGS[$((i - 1))]}" "wrong-$i"
	last_status "failed sign-in $i of 3 for one account from one address ('${SPELLINGS[$((i - 1))]}'): 400" 400
done
signin_page "$LIMITED" "wrong-4"
last_status "the 4th within the window: 429" 429
expect_header "... with Retry-After (seconds until the window frees)" Retry-After '[1-9][0-9]*'
check "... at most BH_SIGNIN_WINDOW" bash -c '[ "$1" -le 900 ]' _ "$(resp_header Retry-After)"
check "... an HTML page" bash -c '[[ $1 == text/html* ]]' _ "$(resp_header Content-Type)"
# Per account over all addresses (BH_SIGNIN_LIMIT_ACCOUNT_TOTAL=5): 3
# counted so far.
signin_from 127.0.0.2 "$LIMITED" wrong-5
last_status "the same account from another address: 400 (failure 4 of 5 for the account)" 400
signin_from 127.0.0.2 "$LIMITED" wrong-6
last_status "... failure 5 of 5: 400" 400
signin_from 127.0.0.2 "$LIMITED" wrong-7
last_status "... the 6th failure for the account, from any address: 429" 429
signin_from 127.0.0.3 "$LIMITED" wrong-8
last_status "... from a third address as well: 429" 429

# Someone else's guesses do not lock a person out of their own address.
for i in 1 2 3; do signin_from 127.0.0.2 "$ALICE" "wrong-$i" >/dev/null; done
signin_from 127.0.0.2 "$ALICE" "$ALICE_PW"
last_status "an existing account after 3 failures from an address: 429 there, even with the right password" 429
sed -e 's/[0-9]\+ minute/N minute/' "$RESP_BODY_FILE" >"$BH_SCRATCH/429-existing.html"
signin_page "$LIMITED" "wrong-9"
sed -e 's/[0-9]\+ minute/N minute/' "$RESP_BODY_FILE" >"$BH_SCRATCH/429-unknown.html"
check "... the same page as for an account that does not exist" \
	cmp "$BH_SCRATCH/429-existing.html" "$BH_SCRATCH/429-unknown.html"
signin_page "$ALICE" "$ALICE_PW"
last_status "... while the person signs in from their own address: 303" 303

# users down: no verdict, so a 503 page and the attempt is no failure.
kill -TERM "$(master_pid users)" 2>/dev/null
wait_until 10 bash -c '! kill -0 "$1" 2>/dev/null' _ "$(cat "$VAR/run/users.pid")"
signin_page "down.$RUN@example.com" whatever
last_status "users unreachable: the sign-in page answers 503" 503
expect_header "... with Retry-After" Retry-After '[1-9][0-9]*'
check "... an HTML page saying so" grep -q 'not possible right now' "$RESP_BODY_FILE"

# Per address: a low limit, counters from before cleared.
auth_psql -c "DELETE FROM signin_counters" >/dev/null
export BH_SIGNIN_LIMIT_ADDRESS=2
export BH_SIGNIN_LIMIT_ACCOUNT=100
stack_up nginx || bail "the stack did not restart with BH_SIGNIN_LIMIT_ADDRESS=2"
signin_page "a.$RUN@example.com" wrong
last_status "sign-in attempt 1 of 2 from one address: 400" 400
signin_page "$ODD_ADDRESS" wrong
last_status "sign-in attempt 2 of 2 (an address that cannot be an account): 400" 400
signin_page "$ALICE" "$ALICE_PW"
last_status "attempt 3 from the address, right password: 429" 429
expect_header "... with Retry-After" Retry-After '[1-9][0-9]*'
check "... and no code was issued" test "$(resp_header_count Location)" = 0

finish
