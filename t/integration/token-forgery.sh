#!/bin/bash
# token-forgery.sh - forged, bent and broken bearer tokens against a
# BH_TOKEN route through nginx: GET /notifications/emails/999999, which
# needs audience "notifications" and scope "notifications:send".  A token
# accepted there gets 404 not-found (no such email); a refused one gets
# 401 problem+json with WWW-Authenticate: Bearer.
#
# The forger has what an attacker could have (the public JWKS, keys of its
# own) and, for the controls and the claim checks, auth's real signing key
# read from auth's database, as only a test may: a token signed with it is
# genuine, so only the claims or the header can be what is refused.
# Tokens are built by t/tools/bh-jwt from literal JSON texts.  Also, a
# burst of 50 unknown kids must not make the service fetch auth's JWKS 50
# times (counted in auth's request log).
. "$(dirname "$0")/../lib/harness.sh"

BH_JWT=$BH_BUILDDIR/t/tools/bh-jwt
ROUTE=/notifications/emails/999999

[ -x "$BH_JWT" ] || bail "t/tools/bh-jwt is built in $BH_BUILDDIR (make check, or make t/tools/bh-jwt)"
command -v basenc >/dev/null || bail "basenc (coreutils) is needed"

stack_up nginx || bail "the stack did not come up behind nginx"

ISS=$BASE_URL/auth

# ---------------------------------------------------------------- keys

read -r KID SEED < <(bh_pg_psql "$VAR/pg" bellhop_auth -tA -F ' ' -c \
	"SELECT kid, encode(private_key, 'hex') FROM signing_keys WHERE state = 'current'")
[ ${#SEED} = 64 ] && [ -n "$KID" ] || bail "auth's current signing key is in signing_keys (kid, private_key, state)"
read -r EVIL_SEED _ < <("$BH_JWT" keygen)
[ ${#EVIL_SEED} = 64 ] || bail "bh-jwt keygen makes a key"
EVIL_JWK=$("$BH_JWT" jwk "$EVIL_SEED" attacker)

# The published JWK of the real key, as auth serves it, and its raw bytes.
JWK_TEXT=$(curl -sS -m "$BH_CURL_TIMEOUT" "$BASE_URL/auth/.well-known/jwks.json" |
	jq -c --arg kid "$KID" '.keys[] | select(.kid == $kid)')
PUB_X=$(jq -r .x <<<"$JWK_TEXT")
[ ${#PUB_X} = 43 ] || bail "the JWKS publishes the current key ($KID)"
printf '%s' "$JWK_TEXT" >"$SCRATCH/hmac-jwk"
printf '%s' "$PUB_X" >"$SCRATCH/hmac-x"
printf '%s=' "$PUB_X" | tr -- '-_' '+/' | base64 -d >"$SCRATCH/hmac-raw"
[ "$(wc -c <"$SCRATCH/hmac-raw")" = 32 ] || bail "the public key decodes to 32 bytes"

# ------------------------------------------------------------- helpers

b64url() {
	printf '%s' "$1" | basenc --base64url -w0 | tr -d '='
}

# claims [JQ FILTER]: good claims for this route, then FILTER applied
# ('.exp = "x"', 'del(.sub)', ...).  Times are taken now.
claims() {
	local now
	now=$(date +%s)
	jq -cn --arg iss "$ISS" --argjson now "$now" --arg jti "forge-$RANDOM$RANDOM" '{
		iss: $iss, aud: "notifications", sub: "users", client_id: "users",
		jti: $jti, scope: "notifications:send", iat: $now, exp: ($now + 300)
	}' | jq -c "${1:-.}"
}

# header [JQ FILTER]: the header auth writes, then FILTER applied.
header() {
	jq -cn --arg kid "$KID" '{alg: "EdDSA", typ: "at+jwt", kid: $kid}' | jq -c "${1:-.}"
}

# sign HEADER PAYLOAD [SEED]: an Ed25519 token (auth's key by default).
sign() {
	"$BH_JWT" sign --header "$1" --payload "$2" --ed25519-seed "${3:-$SEED}"
}

# refused NAME AUTHORIZATION [CURL ARGS...]: GET the route with that
# Authorization header value; one check: 401, problem+json of type
# unauthorized with the request id, WWW-Authenticate: Bearer.
refused() {
	local name=$1 value=$2 why=() ctype www
	shift 2
	http GET "$ROUTE" -H "Authorization: $value" "$@"
	status_is 401 || why+=("expected status 401")
	ctype=$(resp_header Content-Type)
	ctype=$(printf '%s' "${ctype%%;*}" | tr 'A-Z' 'a-z' | tr -d ' ')
	[ "$ctype" = application/problem+json ] || why+=("expected application/problem+json")
	jq -e --arg rid "$(resp_header X-Request-Id)" '.type == "urn:bellhop:problem:unauthorized"
		and .status == 401 and .request_id == $rid' "$RESP_BODY_FILE" >/dev/null 2>&1 ||
		why+=("expected a problem of type unauthorized, status 401, the request id")
	www=$(resp_header WWW-Authenticate)
	[[ $www =~ ^Bearer([[:space:]]|$) ]] || why+=("expected WWW-Authenticate: Bearer ..., got '$www'")
	if [ ${#why[@]} -eq 0 ]; then
		pass "refused: $name"
		return 0
	fi
	fail "refused: $name" "${why[@]}" "$(resp_summary)"
	return 1
}

# refused_token NAME TOKEN: refused with "Authorization: Bearer TOKEN".
refused_token() {
	refused "$1" "Bearer $2"
}

# accepted NAME TOKEN [SCHEME]: the token gets through to the handler.
accepted() {
	expect_problem "accepted: $1" 404 not-found GET "$ROUTE" \
		-H "Authorization: ${3:-Bearer} $2"
}

# A token with one character of its signature part changed to flip one
# bit of the signature (the first base64url digit's lowest bit).
flip_signature_bit() {
	local token=$1 alphabet=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_
	local sig=${token##*.} rest=${token%.*} c i
	c=${sig:0:1}
	i=${alphabet%%"$c"*}
	i=$(( ${#i} ^ 1 ))
	printf '%s.%s%s' "$rest" "${alphabet:$i:1}" "${sig:1}"
}

GOOD=$(sign "$(header)" "$(claims)")

# ------------------------------------------------------------ controls

TOKEN=$(client_token users) || bail "client users gets a token from auth"
accepted "a real token of client users from auth" "$TOKEN"
accepted "a hand-signed token with auth's key and correct claims" "$GOOD"
accepted "exp 10 s ago (within the 30 s leeway)" "$(sign "$(header)" "$(claims '.exp = .iat - 10 | .iat -= 300')")"
accepted "nbf 10 s ahead (within the leeway)" "$(sign "$(header)" "$(claims '.nbf = .iat + 10')")"
accepted "aud as an array holding notifications" \
	"$(sign "$(header)" "$(claims '.aud = ["search", "notifications"]')")"
accepted "the scheme in lower case (bearer)" "$GOOD" bearer
accepted "the scheme in upper case (BEARER)" "$GOOD" BEARER

# ---------------------------------------------------------------- scope

for scope in profile "" "notifications:sen" "notifications:send-all"; do
	expect_problem "a valid token with scope '$scope' is 403 insufficient-scope" \
		403 insufficient-scope GET "$ROUTE" \
		-H "Authorization: Bearer $(sign "$(header)" "$(claims ".scope = \"$scope\"")")"
	expect_header "... with WWW-Authenticate error=\"insufficient_scope\"" \
		WWW-Authenticate 'Bearer.*error="insufficient_scope".*'
done
expect_problem "a valid token without a scope claim is 403 insufficient-scope" \
	403 insufficient-scope GET "$ROUTE" \
	-H "Authorization: Bearer $(sign "$(header)" "$(claims 'del(.scope)')")"

P=$(claims)

# ------------------------------------------- unknown kids and the JWKS
# Early, while no unknown kid has been seen yet: the first ones may make
# each worker refetch once.

jwks_fetches() {
	grep -c '"path":"/auth/.well-known/jwks.json"' "$VAR/log/auth.log" 2>/dev/null || true
}

BEFORE=$(jwks_fetches)
check "auth's log shows the JWKS fetches of the services ($BEFORE so far)" test "$BEFORE" -ge 1
CFG=$SCRATCH/burst-kids.cfg
: >"$CFG"
for i in $(seq 1 50); do
	printf 'url = "%s%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\nheader = "Authorization: Bearer %s"\n' \
		"$BASE_URL" "$ROUTE" "$(sign "$(header ".kid = \"burst-kid-$i\"")" "$P" "$EVIL_SEED")" >>"$CFG"
	[ "$i" -lt 50 ] && printf 'next\n' >>"$CFG"
done
timeout -k 2 120 curl -sS -m "$BH_CURL_TIMEOUT" -K "$CFG" >"$SCRATCH/burst.codes" 2>"$SCRATCH/burst.err"
check "50 tokens with unknown kids are all 401" \
	test "$(grep -c '^401$' "$SCRATCH/burst.codes")" = 50
sleep 0.5
AFTER=$(jwks_fetches)
WORKERS=$(worker_count notifications)
note "JWKS fetches during the burst: $((AFTER - BEFORE)) ($WORKERS notifications workers)"
# Each worker refetches for an unknown kid at most once per
# BH_JWKS_COOLDOWN: a couple of fetches, not 50.
check "50 unknown kids made at most $((2 * WORKERS)) JWKS fetches" \
	test $((AFTER - BEFORE)) -le $((2 * WORKERS))

# -------------------------------------------------------------- headers

refused_token "alg none, no signature" "$("$BH_JWT" sign --header "$(header '.alg = "none"')" --payload "$P" --none)"
refused_token "alg none with auth's signature" "$(sign "$(header '.alg = "none"')" "$P")"
refused_token "alg None" "$("$BH_JWT" sign --header "$(header '.alg = "None"')" --payload "$P" --none)"
refused_token "alg NONE" "$("$BH_JWT" sign --header "$(header '.alg = "NONE"')" --payload "$P" --none)"
refused_token "alg none, no kid, no typ" "$("$BH_JWT" sign --header '{"alg":"none"}' --payload "$P" --none)"
refused_token "HS256 keyed with the raw public key" \
	"$("$BH_JWT" sign --header "$(header '.alg = "HS256"')" --payload "$P" --hs256-key-file "$SCRATCH/hmac-raw")"
refused_token "HS256 keyed with the public key's base64url x" \
	"$("$BH_JWT" sign --header "$(header '.alg = "HS256"')" --payload "$P" --hs256-key-file "$SCRATCH/hmac-x")"
refused_token "HS256 keyed with the published JWK text" \
	"$("$BH_JWT" sign --header "$(header '.alg = "HS256"')" --payload "$P" --hs256-key-file "$SCRATCH/hmac-jwk")"
refused_token "EdDSA header, HMAC of the public key as signature" \
	"$("$BH_JWT" sign --header "$(header)" --payload "$P" --hs256-key-file "$SCRATCH/hmac-raw")"
refused_token "alg ES256 with auth's real signature" "$(sign "$(header '.alg = "ES256"')" "$P")"
refused_token "alg RS256 with auth's real signature" "$(sign "$(header '.alg = "RS256"')" "$P")"
refused_token "alg eddsa (case matters)" "$(sign "$(header '.alg = "eddsa"')" "$P")"
refused_token "two alg members, none first" \
	"$(sign "{\"alg\":\"none\",\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"$KID\"}" "$P")"
refused_token "typ missing" "$(sign "$(header 'del(.typ)')" "$P")"
refused_token "typ JWT" "$(sign "$(header '.typ = "JWT"')" "$P")"

# ------------------------------------------------------ signature, keys

refused_token "a flipped bit in the signature" "$(flip_signature_bit "$GOOD")"
refused_token "signed by another Ed25519 key under auth's kid" "$(sign "$(header)" "$P" "$EVIL_SEED")"
refused_token "the signature of another token" "${GOOD%.*}.$(sign "$(header)" "$(claims '.sub = "admin"')" | cut -d. -f3)"
refused_token "an unknown kid" "$(sign "$(header '.kid = "no-such-key-0001"')" "$P" "$EVIL_SEED")"
refused_token "kid ../../dev/null" "$(sign "$(header '.kid = "../../dev/null"')" "$P")"
refused_token "kid ' OR '1'='1" "$(sign "$(header ".kid = \"' OR '1'='1\"")" "$P")"
refused_token "kid of 1000 characters" "$(sign "$(header '.kid = ("a" * 1000)')" "$P")"
refused_token "kid empty" "$(sign "$(header '.kid = ""')" "$P")"
refused_token "kid a number" "$(sign "$(header '.kid = 5')" "$P")"
refused_token "kid missing" "$(sign "$(header 'del(.kid)')" "$P")"
refused_token "jku to an attacker's JWKS, signed by the attacker's key" \
	"$(sign "$(header ".kid = \"attacker\" | .jku = \"$BASE_URL/evil/jwks.json\"")" "$P" "$EVIL_SEED")"
refused_token "jku with auth's kid, signed by the attacker's key" \
	"$(sign "$(header ".jku = \"$BASE_URL/evil/jwks.json\"")" "$P" "$EVIL_SEED")"
refused_token "jwk embedding the attacker's key, signed by it" \
	"$(sign "$(header ".kid = \"attacker\" | .jwk = $EVIL_JWK")" "$P" "$EVIL_SEED")"
refused_token "jwk embedding the attacker's key under auth's kid" \
	"$(sign "$(header ".jwk = $EVIL_JWK")" "$P" "$EVIL_SEED")"
refused_token "x5u, signed by auth's key" "$(sign "$(header ".x5u = \"$BASE_URL/evil/cert.pem\"")" "$P")"
refused_token "crit, signed by auth's key" "$(sign "$(header '.crit = ["exp"]')" "$P")"

# --------------------------------------------------------------- claims

refused_token "expired beyond the leeway (exp 120 s ago)" \
	"$(sign "$(header)" "$(claims '.exp = .iat - 120 | .iat -= 600')")"
refused_token "not yet valid (nbf in 120 s)" "$(sign "$(header)" "$(claims '.nbf = .iat + 120')")"
refused_token "not yet valid (iat in 120 s)" "$(sign "$(header)" "$(claims '.iat += 120')")"
refused_token "wrong iss" "$(sign "$(header)" "$(claims ".iss = \"$BASE_URL/evil\"")")"
refused_token "iss with a trailing slash" "$(sign "$(header)" "$(claims '.iss += "/"')")"
refused_token "wrong aud (string)" "$(sign "$(header)" "$(claims '.aud = "users"')")"
refused_token "wrong aud (array)" "$(sign "$(header)" "$(claims '.aud = ["users", "search"]')")"
refused_token "missing exp" "$(sign "$(header)" "$(claims 'del(.exp)')")"
refused_token "exp a string" "$(sign "$(header)" "$(claims '.exp |= tostring')")"
refused_token "exp a float" "$(sign "$(header)" "$(claims '.exp += 0.5')")"
refused_token "exp past 64 bits" \
	"$(sign "$(header)" "$(claims '.' | sed -e 's/"exp":[0-9]*/"exp":99999999999999999999/')")"
refused_token "missing sub" "$(sign "$(header)" "$(claims 'del(.sub)')")"
refused_token "missing jti" "$(sign "$(header)" "$(claims 'del(.jti)')")"
refused_token "two aud members, the right one last" \
	"$(sign "$(header)" "$(claims 'del(.aud)' | sed -e 's/^{/{"aud":"users","aud":"notifications",/')")"
TOKEN=$(client_token auth) || bail "client auth gets a token"
refused_token "a real token of auth for audience users" "$TOKEN"

# ------------------------------------------------------------- encoding

H=${GOOD%%.*}
REST=${GOOD#*.}
PAYLOAD_PART=${REST%%.*}
SIG=${GOOD##*.}
refused_token "base64 padding in the header part" "$H=.$PAYLOAD_PART.$SIG"
refused_token "'+' in the signature (standard alphabet)" "$H.$PAYLOAD_PART.+${SIG:1}"
refused_token "'/' in the signature (standard alphabet)" "$H.$PAYLOAD_PART./${SIG:1}"
refused_token "a space inside the payload part" "$H.${PAYLOAD_PART:0:10} ${PAYLOAD_PART:10}.$SIG"
refused_token "two parts" "$H.$PAYLOAD_PART"
refused_token "four parts" "$GOOD.$SIG"
refused_token "truncated by 5 characters" "${GOOD:0:$((${#GOOD} - 5))}"
refused_token "truncated to its header and half the payload" "$H.${PAYLOAD_PART:0:20}"
refused "an empty token" "Bearer "
refused "Bearer without a token" "Bearer"
refused "the Basic scheme with client users' secret" \
	"Basic $(printf 'users:%s' "$(client_secret users)" | base64 -w0)"
refused "a Token scheme with a good token" "Token $GOOD"
refused "the token without a scheme" "$GOOD"
BIG=$(sign "$(header)" "$(claims ".pad = \"$(head -c 7000 /dev/zero | tr '\0' x)\"")")
note "9 KB token: ${#BIG} characters"
refused_token "a 9 KB token signed by auth's key" "$BIG"

# The front end may answer this one itself (nginx: 431), with a problem
# of its own, which need not have a detail.
HUGE=$(head -c 20480 /dev/zero | tr '\0' A)
expect_status "a 20 KB Authorization header is a 4xx" '4[0-9][0-9]' \
	GET "$ROUTE" -H "Authorization: Bearer $HUGE"
expect_content_type "... as application/problem+json" application/problem+json
expect_jq "... with its status and a problem type" \
	'.status == $s and (.type | startswith("urn:bellhop:problem:"))' \
	--argjson s "$((10#$RESP_STATUS))"
accepted "the service still accepts a good token after all that" "$GOOD"

finish
