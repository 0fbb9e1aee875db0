/*
 * jwt.c - Ed25519 JWT access tokens (RFC 7519, RFC 8037, RFC 9068) and
 * JWK sets.
 *
 * One algorithm, one token type, keys only from the set the caller
 * passes: the header is checked against fixed values and never chooses an
 * algorithm or where a key comes from (jku, jwk, x5u... are refused, not
 * ignored).  JSON is read strictly, by json.c: RFC 8259 exactly, valid
 * UTF-8, no "\u0000" (C strings would compare short), and no member name
 * twice in an object, since json-c keeps the last of duplicates silently
 * and another parser in the chain might keep the first.
 *
 * No HTTP and no bh_cfg here: callers (authz.c, the auth service) fetch
 * keys and say what to expect.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "internal.h"

#define ED25519_SIG_LEN 64
/* Nesting a token's header or claims may use (aud is an array, a claim
 * may hold an object): far more than real ones need. */
#define JWT_MAX_DEPTH 8
#define JWKS_MAX_DEPTH 8
/* A JWKS document larger than this is not one an auth server serves. */
#define JWKS_MAX_LEN (1024 * 1024)
/* Time claims are seconds since the epoch up to 9999-12-31T23:59:59Z;
 * json-c clamps larger integers silently, so they are refused first. */
#define JWT_MAX_TIME 253402300799LL

/* ------------------------------------------------------- strict JSON */

/* s[0..len) as one strict JSON object (json.c: no member name twice in
 * any object, no "\u0000"), owned by pool; NULL when it is not one. */
static json_object *
parse_strict_object(bh_pool *pool, const char *s, size_t len, int max_depth)
{
	struct bh_json_fault fault;
	json_object *obj;

	if (bh_json_parse(pool, s, len, max_depth, &obj, &fault) == -1 ||
	    !json_object_is_type(obj, json_type_object))
		return NULL;
	return obj;
}

/* ------------------------------------------------------------- helpers */

/* 1-64 characters of [A-Za-z0-9_-]: safe in logs, URLs and SQL text. */
static bool
kid_valid(const char *kid, size_t len)
{
	size_t i;

	if (len < 1 || len > 64)
		return false;
	for (i = 0; i < len; i++) {
		char c = kid[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* The string member name of obj, or NULL when absent or not a string. */
static const char *
get_string(json_object *obj, const char *name, size_t *len)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	if (len != NULL)
		*len = (size_t)json_object_get_string_len(v);
	return json_object_get_string(v);
}

/* True if member name of obj is the string want exactly. */
static bool
string_is(json_object *obj, const char *name, const char *want)
{
	const char *s;
	size_t len;

	if ((s = get_string(obj, name, &len)) == NULL)
		return false;
	return len == strlen(want) && memcmp(s, want, len) == 0;
}

/* ------------------------------------------------------------ Ed25519 */

int
bh_ed25519_public(const unsigned char seed[32], unsigned char pub[32])
{
	EVP_PKEY *pkey;
	size_t len = 32;
	int rc = -1;

	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	if (pkey == NULL)
		return -1;
	if (EVP_PKEY_get_raw_public_key(pkey, pub, &len) == 1 && len == 32)
		rc = 0;
	EVP_PKEY_free(pkey);
	return rc;
}

int
bh_ed25519_keygen(unsigned char seed[32], unsigned char pub[32])
{
	bh_random_bytes(seed, 32);
	if (bh_ed25519_public(seed, pub) == -1) {
		OPENSSL_cleanse(seed, 32);
		return -1;
	}
	return 0;
}

/* Signs msg into sig (64 bytes).  Returns 0 or -1. */
static int
ed25519_sign(const unsigned char seed[32], const void *msg, size_t len,
    unsigned char sig[ED25519_SIG_LEN])
{
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx = NULL;
	size_t siglen = ED25519_SIG_LEN;
	int rc = -1;

	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	if (pkey == NULL)
		return -1;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		goto out;
	/* Ed25519 hashes internally: no digest is named. */
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, msg, len) != 1 ||
	    siglen != ED25519_SIG_LEN)
		goto out;
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return rc;
}

static bool
ed25519_verify(const unsigned char pub[32], const void *msg, size_t len,
    const unsigned char *sig, size_t siglen)
{
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx = NULL;
	bool ok = false;

	if (siglen != ED25519_SIG_LEN)
		return false;
	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	if (pkey == NULL)
		return false;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		goto out;
	ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ok;
}

/* ----------------------------------------------------------- signing */

char *
bh_jwt_sign(bh_pool *pool, const char *kid, const unsigned char seed[32],
    json_object *claims)
{
	unsigned char sig[ED25519_SIG_LEN];
	const char *payload, *header;
	bh_buf token;

	if (kid == NULL || !kid_valid(kid, strlen(kid)) ||
	    !json_object_is_type(claims, json_type_object))
		return NULL;
	/* The string belongs to claims: copied before anything else can
	 * serialise it again. */
	payload = json_object_to_json_string_ext(claims,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (payload == NULL)
		return NULL;
	/* A kid of the safe alphabet needs no JSON escaping. */
	header = bh_psprintf(pool, "{\"alg\":\"" BH_JWT_ALG "\",\"typ\":\""
	    BH_JWT_TYP "\",\"kid\":\"%s\"}", kid);
	bh_buf_init(&token, pool);
	bh_buf_puts(&token, bh_b64url_encode(pool, header, strlen(header)));
	bh_buf_puts(&token, ".");
	bh_buf_puts(&token, bh_b64url_encode(pool, payload, strlen(payload)));
	if (ed25519_sign(seed, token.data, token.len, sig) == -1)
		return NULL;
	bh_buf_puts(&token, ".");
	bh_buf_puts(&token, bh_b64url_encode(pool, sig, sizeof(sig)));
	/* Verifiers refuse longer ones unread. */
	if (token.len > BH_JWT_MAX_LEN)
		return NULL;
	return token.data;
}

/* --------------------------------------------------------------- JWKS */

json_object *
bh_jwk_to_json(const bh_jwk *key)
{
	json_object *jwk = json_object_new_object();
	bh_pool *pool = bh_pool_new();

	json_object_object_add(jwk, "kty", json_object_new_string("OKP"));
	json_object_object_add(jwk, "crv", json_object_new_string("Ed25519"));
	json_object_object_add(jwk, "x", json_object_new_string(
	    bh_b64url_encode(pool, key->pub, sizeof(key->pub))));
	json_object_object_add(jwk, "kid", json_object_new_string(key->kid));
	json_object_object_add(jwk, "alg", json_object_new_string(BH_JWT_ALG));
	json_object_object_add(jwk, "use", json_object_new_string("sig"));
	bh_pool_free(pool);
	return jwk;
}

/* Fills key from one JWK object; false when it is not a usable Ed25519
 * signing key. */
static bool
jwk_from_json(json_object *jwk, bh_jwk *key, bh_pool *pool)
{
	const char *kid, *x;
	size_t kid_len, x_len, pub_len;
	unsigned char *pub;
	json_object *v;

	if (!json_object_is_type(jwk, json_type_object) ||
	    !string_is(jwk, "kty", "OKP") || !string_is(jwk, "crv", "Ed25519"))
		return false;
	if (json_object_object_get_ex(jwk, "alg", &v) &&
	    !string_is(jwk, "alg", BH_JWT_ALG))
		return false;
	if (json_object_object_get_ex(jwk, "use", &v) &&
	    !string_is(jwk, "use", "sig"))
		return false;
	if ((kid = get_string(jwk, "kid", &kid_len)) == NULL ||
	    !kid_valid(kid, kid_len))
		return false;
	if ((x = get_string(jwk, "x", &x_len)) == NULL ||
	    (pub = bh_b64url_decode(pool, x, x_len, &pub_len)) == NULL ||
	    pub_len != sizeof(key->pub))
		return false;
	memcpy(key->kid, kid, kid_len);
	key->kid[kid_len] = '\0';
	memcpy(key->pub, pub, sizeof(key->pub));
	return true;
}

int
bh_jwks_parse(const char *json, size_t len, bh_jwks *out)
{
	json_object *doc, *keys;
	bh_pool *pool;
	size_t i, n, cap = 0;
	int rc = -1;

	out->keys = NULL;
	out->n = 0;
	if (json == NULL || len > JWKS_MAX_LEN)
		return -1;
	pool = bh_pool_new();
	if ((doc = parse_strict_object(pool, json, len, JWKS_MAX_DEPTH)) ==
	    NULL)
		goto out;
	if (!json_object_object_get_ex(doc, "keys", &keys) ||
	    !json_object_is_type(keys, json_type_array))
		goto out;
	n = json_object_array_length(keys);
	for (i = 0; i < n; i++) {
		bh_jwk key;

		memset(&key, 0, sizeof(key));
		if (!jwk_from_json(json_object_array_get_idx(keys, i), &key,
		    pool))
			continue;
		/* A kid names one key: the first one published wins. */
		if (bh_jwks_find(out, key.kid) != NULL)
			continue;
		/* Grown as usable keys come: a document of a million empty
		 * entries costs no memory. */
		if (out->n == cap) {
			bh_jwk *grown;

			cap = cap == 0 ? 4 : cap * 2;
			if ((grown = reallocarray(out->keys, cap,
			    sizeof(*grown))) == NULL)
				goto out;
			out->keys = grown;
		}
		out->keys[out->n++] = key;
	}
	rc = 0;
out:
	bh_pool_free(pool);
	if (rc == -1)
		bh_jwks_free(out);
	return rc;
}

void
bh_jwks_free(bh_jwks *jwks)
{
	free(jwks->keys);
	jwks->keys = NULL;
	jwks->n = 0;
}

const bh_jwk *
bh_jwks_find(const bh_jwks *jwks, const char *kid)
{
	size_t i;

	if (jwks == NULL || kid == NULL)
		return NULL;
	for (i = 0; i < jwks->n; i++)
		if (strcmp(jwks->keys[i].kid, kid) == 0)
			return &jwks->keys[i];
	return NULL;
}

/* -------------------------------------------------------- verification */

/* Header members that would let the token name its own key or demand
 * processing we do not do (RFC 7515 section 4.1, RFC 8725 3.10). */
static const char *const refused_header_members[] = {
	"jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256", "crit", NULL,
};

static enum bh_jwt_status
check_header(json_object *header, const bh_jwks *keys, const bh_jwk **key)
{
	const char *kid;
	size_t kid_len, i;

	if (!string_is(header, "alg", BH_JWT_ALG) ||
	    !string_is(header, "typ", BH_JWT_TYP))
		return BH_JWT_BAD_HEADER;
	for (i = 0; refused_header_members[i] != NULL; i++)
		if (json_object_object_get_ex(header,
		    refused_header_members[i], NULL))
			return BH_JWT_BAD_HEADER;
	if ((kid = get_string(header, "kid", &kid_len)) == NULL ||
	    !kid_valid(kid, kid_len))
		return BH_JWT_BAD_HEADER;
	if ((*key = bh_jwks_find(keys, kid)) == NULL)
		return BH_JWT_UNKNOWN_KID;
	return BH_JWT_OK;
}

/* A time claim: a JSON integer within 0..JWT_MAX_TIME.  Returns 1 with
 * *out set, 0 when absent, -1 when malformed. */
static int
get_time(json_object *claims, const char *name, int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(claims, name, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	*out = json_object_get_int64(v);
	/* Larger integers were clamped to INT64_MAX (or stored unsigned,
	 * read back as INT64_MAX): out of range either way. */
	if (*out < 0 || *out > JWT_MAX_TIME)
		return -1;
	return 1;
}

/* A required non-empty string claim. */
static bool
has_string(json_object *claims, const char *name)
{
	size_t len;

	return get_string(claims, name, &len) != NULL && len > 0;
}

static bool
equals(const char *s, size_t len, const char *want)
{
	return want != NULL && len == strlen(want) && memcmp(s, want, len) == 0;
}

static enum bh_jwt_status
check_audience(json_object *claims, const char *audience)
{
	json_object *aud, *v;
	size_t i, n;
	bool found = false;

	if (!json_object_object_get_ex(claims, "aud", &aud))
		return BH_JWT_BAD_AUDIENCE;
	if (json_object_is_type(aud, json_type_string))
		return equals(json_object_get_string(aud),
		    (size_t)json_object_get_string_len(aud), audience) ?
		    BH_JWT_OK : BH_JWT_BAD_AUDIENCE;
	if (!json_object_is_type(aud, json_type_array))
		return BH_JWT_BAD_AUDIENCE;
	n = json_object_array_length(aud);
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(aud, i);
		/* An array of strings, or not an audience claim at all. */
		if (!json_object_is_type(v, json_type_string))
			return BH_JWT_BAD_AUDIENCE;
		if (equals(json_object_get_string(v),
		    (size_t)json_object_get_string_len(v), audience))
			found = true;
	}
	return found ? BH_JWT_OK : BH_JWT_BAD_AUDIENCE;
}

static enum bh_jwt_status
check_claims(json_object *claims, const bh_jwt_expect *expect)
{
	int64_t exp, iat, nbf = 0, leeway;
	const char *iss;
	size_t iss_len;
	json_object *v;
	int has_nbf;
	enum bh_jwt_status st;

	if (get_time(claims, "exp", &exp) != 1 ||
	    get_time(claims, "iat", &iat) != 1 ||
	    (has_nbf = get_time(claims, "nbf", &nbf)) == -1)
		return BH_JWT_BAD_CLAIMS;
	if (!has_string(claims, "sub") || !has_string(claims, "jti") ||
	    !has_string(claims, "client_id"))
		return BH_JWT_BAD_CLAIMS;
	if (json_object_object_get_ex(claims, "scope", &v) &&
	    !json_object_is_type(v, json_type_string))
		return BH_JWT_BAD_CLAIMS;
	if ((iss = get_string(claims, "iss", &iss_len)) == NULL ||
	    !equals(iss, iss_len, expect->issuer))
		return BH_JWT_BAD_ISSUER;
	if ((st = check_audience(claims, expect->audience)) != BH_JWT_OK)
		return st;
	/* Clock skew between hosts, bounded so no sum overflows. */
	leeway = expect->leeway < 0 ? 0 : expect->leeway > 86400 ? 86400 :
	    expect->leeway;
	if (exp + leeway <= expect->now)
		return BH_JWT_EXPIRED;
	if ((has_nbf && nbf - leeway > expect->now) ||
	    iat - leeway > expect->now)
		return BH_JWT_NOT_YET_VALID;
	return BH_JWT_OK;
}

enum bh_jwt_status
bh_jwt_verify(bh_pool *pool, const char *token, const bh_jwks *keys,
    const bh_jwt_expect *expect, json_object **claims)
{
	const char *dot1, *dot2, *sig_b64;
	unsigned char *header_json, *payload_json, *sig;
	size_t len, header_len, payload_len, sig_len;
	json_object *header, *payload;
	const bh_jwk *key = NULL;
	enum bh_jwt_status st;

	if (claims != NULL)
		*claims = NULL;
	if (token == NULL || expect == NULL)
		return BH_JWT_MALFORMED;
	/* Bounded scan: a huge string is refused without reading it all. */
	len = strnlen(token, BH_JWT_MAX_LEN + 1);
	if (len == 0 || len > BH_JWT_MAX_LEN)
		return BH_JWT_MALFORMED;
	/* Exactly two dots: JWS compact serialisation, never JWE's four. */
	if ((dot1 = memchr(token, '.', len)) == NULL ||
	    (dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)))
	    == NULL ||
	    memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
		return BH_JWT_MALFORMED;
	sig_b64 = dot2 + 1;
	if ((header_json = bh_b64url_decode(pool, token,
	    (size_t)(dot1 - token), &header_len)) == NULL ||
	    (payload_json = bh_b64url_decode(pool, dot1 + 1,
	    (size_t)(dot2 - dot1 - 1), &payload_len)) == NULL ||
	    (sig = bh_b64url_decode(pool, sig_b64,
	    len - (size_t)(sig_b64 - token), &sig_len)) == NULL)
		return BH_JWT_MALFORMED;
	/* Both owned by pool from here on. */
	if ((header = parse_strict_object(pool, (const char *)header_json,
	    header_len, JWT_MAX_DEPTH)) == NULL ||
	    (payload = parse_strict_object(pool, (const char *)payload_json,
	    payload_len, JWT_MAX_DEPTH)) == NULL)
		return BH_JWT_MALFORMED;
	if ((st = check_header(header, keys, &key)) != BH_JWT_OK)
		return st;
	/* Over the two parts exactly as sent. */
	if (!ed25519_verify(key->pub, token, (size_t)(dot2 - token), sig,
	    sig_len))
		return BH_JWT_BAD_SIGNATURE;
	if ((st = check_claims(payload, expect)) != BH_JWT_OK)
		return st;
	if (claims != NULL)
		*claims = payload;
	return BH_JWT_OK;
}

const char *
bh_jwt_status_str(enum bh_jwt_status status)
{
	switch (status) {
	case BH_JWT_OK:
		return "the token is valid";
	case BH_JWT_MALFORMED:
		return "the token is malformed";
	case BH_JWT_BAD_HEADER:
		return "the token's header is not accepted";
	case BH_JWT_UNKNOWN_KID:
		return "the token is signed with an unknown key";
	case BH_JWT_BAD_SIGNATURE:
		return "the token's signature is invalid";
	case BH_JWT_BAD_CLAIMS:
		return "the token's claims are malformed";
	case BH_JWT_EXPIRED:
		return "the token has expired";
	case BH_JWT_NOT_YET_VALID:
		return "the token is not valid yet";
	case BH_JWT_BAD_ISSUER:
		return "the token's issuer is not accepted";
	case BH_JWT_BAD_AUDIENCE:
		return "the token is not meant for this service";
	}
	return "the token is invalid";
}
