/*
 * test_jwt.c - jwt.c: Ed25519 keys, signing, JWK sets, and every way a
 * token can be forged or bent that the verifier must refuse.
 *
 * Forged tokens are built here from literal header and payload texts and
 * signed with OpenSSL directly, so a test can say anything a forger can.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bellhop.h"
#include "runner.h"

#define NOW 1700000000LL
#define ISS "https://auth.example"
#define AUD "notifications"
#define KID "k1"

/* RFC 8037 appendix A.1. */
#define RFC_D "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"

static bh_pool *pool;
static unsigned char seed[32], pub[32];       /* the real key, KID */
static unsigned char evil_seed[32], evil_pub[32]; /* an attacker's */
static bh_jwk key_list[2];
static bh_jwks keys = { key_list, 2 };
static const bh_jwt_expect expect = { ISS, AUD, 30, NOW };

static bh_pool *
fresh_pool(void)
{
	if (pool == NULL)
		pool = bh_pool_new();
	else
		bh_pool_reset(pool);
	return pool;
}

static void
setup_keys(void)
{
	static bool done;

	if (done)
		return;
	CU_ASSERT_FATAL(bh_ed25519_keygen(seed, pub) == 0);
	CU_ASSERT_FATAL(bh_ed25519_keygen(evil_seed, evil_pub) == 0);
	snprintf(key_list[0].kid, sizeof(key_list[0].kid), "%s", KID);
	memcpy(key_list[0].pub, pub, 32);
	/* A second published key, so lookups are by kid, not by position. */
	snprintf(key_list[1].kid, sizeof(key_list[1].kid), "next-key");
	CU_ASSERT_FATAL(bh_ed25519_keygen((unsigned char[32]){ 0 },
	    key_list[1].pub) == 0);
	done = true;
}

static char *
b64(const void *data, size_t len)
{
	return bh_b64url_encode(pool, data, len);
}

/* Signs msg with an Ed25519 seed, as any library would. */
static void
ed25519_sign(const unsigned char *sd, const char *msg, unsigned char sig[64])
{
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx;
	size_t siglen = 64;

	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sd, 32);
	ctx = EVP_MD_CTX_new();
	CU_ASSERT_FATAL(pkey != NULL && ctx != NULL);
	CU_ASSERT_FATAL(EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) == 1);
	CU_ASSERT_FATAL(EVP_DigestSign(ctx, sig, &siglen,
	    (const unsigned char *)msg, strlen(msg)) == 1);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
}

/* header.payload from literal JSON texts. */
static char *
signing_input(const char *header, const char *payload)
{
	return bh_psprintf(pool, "%s.%s", b64(header, strlen(header)),
	    b64(payload, strlen(payload)));
}

/* A token of the literal texts signed with sd (NULL: empty signature). */
static char *
forge(const char *header, const char *payload, const unsigned char *sd)
{
	char *input = signing_input(header, payload);
	unsigned char sig[64];

	if (sd == NULL)
		return bh_psprintf(pool, "%s.", input);
	ed25519_sign(sd, input, sig);
	return bh_psprintf(pool, "%s.%s", input, b64(sig, sizeof(sig)));
}

/* The same signed with HMAC-SHA256 under key. */
static char *
forge_hs256(const char *header, const char *payload, const void *key,
    size_t keylen)
{
	char *input = signing_input(header, payload);
	unsigned char mac[32];
	unsigned int maclen = sizeof(mac);

	CU_ASSERT_FATAL(HMAC(EVP_sha256(), key, (int)keylen,
	    (const unsigned char *)input, strlen(input), mac, &maclen) != NULL);
	return bh_psprintf(pool, "%s.%s", input, b64(mac, maclen));
}

static const char *
good_header(void)
{
	return "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\"}";
}

/* Claims with exp, iat and nbf as given (nbf omitted when NULL): the
 * texts go in as they are, so they may be any JSON value. */
static const char *
payload_times(const char *exp, const char *iat, const char *nbf)
{
	return bh_psprintf(pool, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\","
	    "\"sub\":\"users\",\"client_id\":\"users\",\"jti\":\"j-1\","
	    "\"scope\":\"notifications:send\",\"exp\":%s,\"iat\":%s%s%s}",
	    exp, iat, nbf != NULL ? ",\"nbf\":" : "", nbf != NULL ? nbf : "");
}

static const char *
good_payload(void)
{
	return payload_times(bh_psprintf(pool, "%lld", NOW + 600),
	    bh_psprintf(pool, "%lld", NOW - 5), NULL);
}

/* good_payload with one member's text replaced (NULL: removed), or one
 * added at the end when absent. */
static const char *
payload_with(const char *name, const char *value)
{
	const char *names[] = { "iss", "aud", "sub", "client_id", "jti",
	    "scope", "exp", "iat", NULL };
	const char *values[] = { "\"" ISS "\"", "\"" AUD "\"", "\"users\"",
	    "\"users\"", "\"j-1\"", "\"notifications:send\"",
	    bh_psprintf(pool, "%lld", NOW + 600),
	    bh_psprintf(pool, "%lld", NOW - 5) };
	bh_buf b;
	bool found = false, first = true;
	size_t i;

	bh_buf_init(&b, pool);
	bh_buf_puts(&b, "{");
	for (i = 0; names[i] != NULL; i++) {
		const char *v = values[i];

		if (strcmp(names[i], name) == 0) {
			found = true;
			if ((v = value) == NULL)
				continue;
		}
		bh_buf_printf(&b, "%s\"%s\":%s", first ? "" : ",", names[i], v);
		first = false;
	}
	if (!found && value != NULL)
		bh_buf_printf(&b, ",\"%s\":%s", name, value);
	bh_buf_puts(&b, "}");
	return b.data;
}

static enum bh_jwt_status
verify(const char *token)
{
	json_object *claims = (json_object *)&claims;
	enum bh_jwt_status st;

	st = bh_jwt_verify(pool, token, &keys, &expect, &claims);
	/* Claims only on success. */
	CU_ASSERT((st == BH_JWT_OK) == (claims != NULL));
	return st;
}

/* The payload signed properly with the real key. */
static enum bh_jwt_status
verify_payload(const char *payload)
{
	return verify(forge(good_header(), payload, seed));
}

static enum bh_jwt_status
verify_header(const char *header)
{
	return verify(forge(header, good_payload(), seed));
}

/* ------------------------------------------------------------- keys */

static void
test_keygen(void)
{
	unsigned char s1[32], p1[32], s2[32], p2[32], again[32];

	CU_ASSERT(bh_ed25519_keygen(s1, p1) == 0);
	CU_ASSERT(bh_ed25519_keygen(s2, p2) == 0);
	CU_ASSERT(memcmp(s1, s2, 32) != 0);
	CU_ASSERT(memcmp(p1, p2, 32) != 0);
	CU_ASSERT(bh_ed25519_public(s1, again) == 0);
	CU_ASSERT(memcmp(p1, again, 32) == 0);
}

static void
test_rfc8037(void)
{
	unsigned char *d, derived[32], sig[64];
	size_t len;
	json_object *claims;
	char *token;

	fresh_pool();
	/* A.1/A.2: the public key of the example private key. */
	d = bh_b64url_decode(pool, RFC_D, strlen(RFC_D), &len);
	CU_ASSERT_FATAL(d != NULL && len == 32);
	CU_ASSERT_FATAL(bh_ed25519_public(d, derived) == 0);
	CU_ASSERT_STRING_EQUAL(b64(derived, 32), RFC_X);
	/* A.4: the example JWS's signature, which the signer must make
	 * from the same primitive. */
	ed25519_sign(d, "eyJhbGciOiJFZERTQSJ9."
	    "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc", sig);
	CU_ASSERT_STRING_EQUAL(b64(sig, 64), "hgyY0il_MGCjP0JzlnLWG1PPOt7-09P"
	    "GcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg");
	/* bh_jwt_sign with that key: Ed25519 is deterministic, so the
	 * whole token is known (computed with another implementation,
	 * Python's cryptography). */
	claims = json_object_new_object();
	json_object_object_add(claims, "iss",
	    json_object_new_string("https://issuer.example"));
	json_object_object_add(claims, "sub", json_object_new_string("alice"));
	token = bh_jwt_sign(pool, "rfc8037", d, claims);
	json_object_put(claims);
	CU_ASSERT_STRING_EQUAL(token,
	    "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCIsImtpZCI6InJmYzgwMzcifQ."
	    "eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwic3ViIjoiYWxpY2UifQ."
	    "FD77YQUpwcMw9Z1Yv9Zbizj8jqrFDfBHeVgV5iLpij9NtzBT2s_BSarpPMinq7m"
	    "JJyMqsLiMs-zjQCnbmx_nDg");
}

/* ------------------------------------------------------ sign + verify */

static json_object *
good_claims(void)
{
	json_object *claims = json_object_new_object(), *aud;

	json_object_object_add(claims, "iss", json_object_new_string(ISS));
	aud = json_object_new_array();
	json_object_array_add(aud, json_object_new_string("search"));
	json_object_array_add(aud, json_object_new_string(AUD));
	json_object_object_add(claims, "aud", aud);
	json_object_object_add(claims, "sub", json_object_new_string("users"));
	json_object_object_add(claims, "client_id",
	    json_object_new_string("users"));
	json_object_object_add(claims, "jti", json_object_new_string("j-2"));
	json_object_object_add(claims, "scope",
	    json_object_new_string("notifications:send"));
	json_object_object_add(claims, "iat", json_object_new_int64(NOW));
	json_object_object_add(claims, "exp",
	    json_object_new_int64(NOW + 600));
	return claims;
}

static void
test_round_trip(void)
{
	json_object *claims = good_claims(), *got = NULL, *v;
	char *token;

	setup_keys();
	fresh_pool();
	token = bh_jwt_sign(pool, KID, seed, claims);
	CU_ASSERT_PTR_NOT_NULL_FATAL(token);
	CU_ASSERT_EQUAL(bh_jwt_verify(pool, token, &keys, &expect, &got),
	    BH_JWT_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT(json_object_object_get_ex(got, "jti", &v));
	CU_ASSERT_STRING_EQUAL(json_object_get_string(v), "j-2");
	/* claims may be NULL; the pool releases them either way. */
	CU_ASSERT_EQUAL(bh_jwt_verify(pool, token, &keys, &expect, NULL),
	    BH_JWT_OK);
	/* The same claims as another service's audience: refused. */
	CU_ASSERT_EQUAL(bh_jwt_verify(pool, token, &keys,
	    &(bh_jwt_expect){ ISS, "users", 30, NOW }, NULL),
	    BH_JWT_BAD_AUDIENCE);
	/* The forging helper makes what the signer makes. */
	CU_ASSERT_EQUAL(verify_payload(good_payload()), BH_JWT_OK);
	/* No key set at all. */
	CU_ASSERT_EQUAL(bh_jwt_verify(pool, token, NULL, &expect, NULL),
	    BH_JWT_UNKNOWN_KID);
	CU_ASSERT_EQUAL(bh_jwt_verify(pool, token,
	    &(bh_jwks){ NULL, 0 }, &expect, NULL), BH_JWT_UNKNOWN_KID);
	json_object_put(claims);
	bh_pool_free(pool);
	pool = NULL;
}

static void
test_sign_refuses(void)
{
	json_object *claims = good_claims(), *arr = json_object_new_array();
	char kid65[66];

	setup_keys();
	fresh_pool();
	memset(kid65, 'a', 65);
	kid65[65] = '\0';
	CU_ASSERT_PTR_NULL(bh_jwt_sign(pool, NULL, seed, claims));
	CU_ASSERT_PTR_NULL(bh_jwt_sign(pool, "", seed, claims));
	CU_ASSERT_PTR_NULL(bh_jwt_sign(pool, "a b", seed, claims));
	CU_ASSERT_PTR_NULL(bh_jwt_sign(pool, "a\"b", seed, claims));
	CU_ASSERT_PTR_NULL(bh_jwt_sign(pool, kid65, seed, claims));
	kid65[64] = '\0';
	CU_ASSERT_PTR_NOT_NULL(bh_jwt_sign(pool, kid65, seed, claims));
	CU_ASSERT_PTR_NULL(bh_jwt_sign(pool, KID, seed, arr));
	CU_ASSERT_PTR_NULL(bh_jwt_sign(pool, KID, seed, NULL));
	/* Too long for any verifier. */
	json_object_object_add(claims, "pad", json_object_new_string(
	    memset(bh_palloc(pool, 7001), 'x', 7000)));
	CU_ASSERT_PTR_NULL(bh_jwt_sign(pool, KID, seed, claims));
	json_object_put(claims);
	json_object_put(arr);
}

/* -------------------------------------------------------------- header */

static void
test_alg_none_and_others(void)
{
	const char *algs[] = { "none", "None", "NONE", "nOnE", "HS256",
	    "HS512", "ES256", "RS256", "PS256", "eddsa", "EDDSA", "Ed25519",
	    "EdDSA ", " EdDSA", "", NULL };
	const char *payload;
	size_t i;

	setup_keys();
	fresh_pool();
	payload = good_payload();
	for (i = 0; algs[i] != NULL; i++) {
		const char *h = bh_psprintf(pool, "{\"alg\":\"%s\","
		    "\"typ\":\"at+jwt\",\"kid\":\"" KID "\"}", algs[i]);

		/* Without a signature, and with the real key's. */
		CU_ASSERT_EQUAL(verify(forge(h, payload, NULL)),
		    BH_JWT_BAD_HEADER);
		CU_ASSERT_EQUAL(verify(forge(h, payload, seed)),
		    BH_JWT_BAD_HEADER);
	}
	/* alg missing, or not a string. */
	CU_ASSERT_EQUAL(verify_header("{\"typ\":\"at+jwt\",\"kid\":\"" KID
	    "\"}"), BH_JWT_BAD_HEADER);
	CU_ASSERT_EQUAL(verify_header("{\"alg\":[\"EdDSA\"],\"typ\":\"at+jwt\","
	    "\"kid\":\"" KID "\"}"), BH_JWT_BAD_HEADER);
	CU_ASSERT_EQUAL(verify_header("{\"alg\":null,\"typ\":\"at+jwt\","
	    "\"kid\":\"" KID "\"}"), BH_JWT_BAD_HEADER);
	/* "EdDSA\u0000x" would pass a C string comparison. */
	CU_ASSERT_NOT_EQUAL(verify_header("{\"alg\":\"EdDSA\\u0000x\","
	    "\"typ\":\"at+jwt\",\"kid\":\"" KID "\"}"), BH_JWT_OK);
}

static void
test_hs256_with_public_key(void)
{
	const char *h = "{\"alg\":\"HS256\",\"typ\":\"at+jwt\",\"kid\":\""
	    KID "\"}";
	const char *payload, *x, *jwk_text;
	json_object *jwk;

	setup_keys();
	fresh_pool();
	payload = good_payload();
	x = b64(pub, 32);
	jwk = bh_jwk_to_json(&key_list[0]);
	jwk_text = bh_pstrdup(pool, json_object_to_json_string_ext(jwk,
	    JSON_C_TO_STRING_PLAIN));
	json_object_put(jwk);
	/* The classic key confusion: the public key as an HMAC secret. */
	CU_ASSERT_EQUAL(verify(forge_hs256(h, payload, pub, 32)),
	    BH_JWT_BAD_HEADER);
	CU_ASSERT_EQUAL(verify(forge_hs256(h, payload, x, strlen(x))),
	    BH_JWT_BAD_HEADER);
	CU_ASSERT_EQUAL(verify(forge_hs256(h, payload, jwk_text,
	    strlen(jwk_text))), BH_JWT_BAD_HEADER);
	/* Even claiming EdDSA, a MAC is not a signature. */
	CU_ASSERT_EQUAL(verify(forge_hs256(good_header(), payload, pub, 32)),
	    BH_JWT_BAD_SIGNATURE);
}

static void
test_typ(void)
{
	const char *typs[] = { "JWT", "jwt", "AT+JWT", "application/at+jwt",
	    "at+jwt ", "", NULL };
	size_t i;

	setup_keys();
	fresh_pool();
	for (i = 0; typs[i] != NULL; i++)
		CU_ASSERT_EQUAL(verify_header(bh_psprintf(pool,
		    "{\"alg\":\"EdDSA\",\"typ\":\"%s\",\"kid\":\"" KID "\"}",
		    typs[i])), BH_JWT_BAD_HEADER);
	CU_ASSERT_EQUAL(verify_header("{\"alg\":\"EdDSA\",\"kid\":\"" KID
	    "\"}"), BH_JWT_BAD_HEADER);
	CU_ASSERT_EQUAL(verify_header("{\"alg\":\"EdDSA\",\"typ\":1,"
	    "\"kid\":\"" KID "\"}"), BH_JWT_BAD_HEADER);
	/* Member order does not matter, other members are ignored. */
	CU_ASSERT_EQUAL(verify_header("{\"kid\":\"" KID "\",\"cty\":\"x\","
	    "\"typ\":\"at+jwt\",\"alg\":\"EdDSA\"}"), BH_JWT_OK);
}

static void
test_kid(void)
{
	const char *bad[] = { "\"../../dev/null\"", "\"' OR '1'='1\"", "\"\"",
	    "5", "null", "[\"" KID "\"]", "{}", "\"k1 \"", "\"k1\\n\"",
	    "\"k\\u00e91\"", NULL };
	char *long_kid;
	size_t i;

	setup_keys();
	fresh_pool();
	for (i = 0; bad[i] != NULL; i++)
		CU_ASSERT_EQUAL(verify_header(bh_psprintf(pool,
		    "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":%s}",
		    bad[i])), BH_JWT_BAD_HEADER);
	CU_ASSERT_EQUAL(verify_header("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\"}"),
	    BH_JWT_BAD_HEADER);
	long_kid = memset(bh_palloc(pool, 1001), 'a', 1000);
	CU_ASSERT_EQUAL(verify_header(bh_psprintf(pool,
	    "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
	    long_kid)), BH_JWT_BAD_HEADER);
	long_kid[65] = '\0';
	CU_ASSERT_EQUAL(verify_header(bh_psprintf(pool,
	    "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
	    long_kid)), BH_JWT_BAD_HEADER);
	/* Well formed but not published. */
	long_kid[64] = '\0';
	CU_ASSERT_EQUAL(verify_header(bh_psprintf(pool,
	    "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"%s\"}",
	    long_kid)), BH_JWT_UNKNOWN_KID);
	CU_ASSERT_EQUAL(verify_header("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\","
	    "\"kid\":\"K1\"}"), BH_JWT_UNKNOWN_KID);
	/* The other published key's kid with the first key's signature. */
	CU_ASSERT_EQUAL(verify_header("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\","
	    "\"kid\":\"next-key\"}"), BH_JWT_BAD_SIGNATURE);
}

static void
test_key_source_members(void)
{
	const char *members[] = { "jku", "jwk", "x5u", "x5c", "x5t",
	    "x5t#S256", "crit", NULL };
	bh_jwk evil = { "evil", { 0 } };
	json_object *jwk;
	const char *evil_jwk, *value, *real_kid;
	size_t i;

	setup_keys();
	fresh_pool();
	memcpy(evil.pub, evil_pub, 32);
	jwk = bh_jwk_to_json(&evil);
	evil_jwk = bh_pstrdup(pool, json_object_to_json_string_ext(jwk,
	    JSON_C_TO_STRING_PLAIN));
	json_object_put(jwk);
	for (i = 0; members[i] != NULL; i++) {
		if (strcmp(members[i], "jwk") == 0)
			value = evil_jwk;
		else if (strcmp(members[i], "crit") == 0)
			value = "[\"exp\"]";
		else if (strcmp(members[i], "x5c") == 0)
			value = "[\"MIIB\"]";
		else
			value = "\"https://evil.example/keys\"";
		/* Signed by the attacker's key under its own kid and under
		 * the real one; and by the real key (the member alone is
		 * enough to refuse). */
		CU_ASSERT_EQUAL(verify(forge(bh_psprintf(pool, "{\"alg\":"
		    "\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"evil\",\"%s\":%s}",
		    members[i], value), good_payload(), evil_seed)),
		    BH_JWT_BAD_HEADER);
		real_kid = bh_psprintf(pool, "{\"alg\":\"EdDSA\","
		    "\"typ\":\"at+jwt\",\"kid\":\"" KID "\",\"%s\":%s}",
		    members[i], value);
		CU_ASSERT_EQUAL(verify(forge(real_kid, good_payload(),
		    evil_seed)), BH_JWT_BAD_HEADER);
		CU_ASSERT_EQUAL(verify(forge(real_kid, good_payload(), seed)),
		    BH_JWT_BAD_HEADER);
	}
}

/* ----------------------------------------------------------- signature */

static void
test_signature(void)
{
	char *token, *other, *dot;
	size_t len, i;
	unsigned char sig[64];

	setup_keys();
	fresh_pool();
	token = forge(good_header(), good_payload(), seed);
	CU_ASSERT_EQUAL(verify(token), BH_JWT_OK);
	/* A flipped bit in the signature, anywhere. */
	len = strlen(token);
	dot = strrchr(token, '.');
	for (i = 0; i < 64; i += 7) {
		unsigned char *raw = bh_b64url_decode(pool, dot + 1,
		    strlen(dot + 1), NULL);

		raw[i] ^= 0x01;
		other = bh_psprintf(pool, "%.*s.%s", (int)(dot - token),
		    token, b64(raw, 64));
		CU_ASSERT_EQUAL(verify(other), BH_JWT_BAD_SIGNATURE);
	}
	/* Another key's signature under the real kid. */
	CU_ASSERT_EQUAL(verify(forge(good_header(), good_payload(),
	    evil_seed)), BH_JWT_BAD_SIGNATURE);
	/* No signature, a short one, a long one. */
	CU_ASSERT_EQUAL(verify(forge(good_header(), good_payload(), NULL)),
	    BH_JWT_BAD_SIGNATURE);
	other = bh_pstrndup(pool, token, len - 2);
	CU_ASSERT_EQUAL(verify(other), BH_JWT_BAD_SIGNATURE);
	other = bh_psprintf(pool, "%sAA", token);
	CU_ASSERT_EQUAL(verify(other), BH_JWT_BAD_SIGNATURE);
	/* The real signature over another payload. */
	other = bh_psprintf(pool, "%s.%s.%s", b64(good_header(),
	    strlen(good_header())), b64(payload_with("sub", "\"admin\""),
	    strlen(payload_with("sub", "\"admin\""))), dot + 1);
	CU_ASSERT_EQUAL(verify(other), BH_JWT_BAD_SIGNATURE);
	/* The signature covers the parts as sent: a header spelled
	 * differently, signed as spelled, is fine. */
	CU_ASSERT_EQUAL(verify_header("{ \"alg\" : \"EdDSA\", \"typ\": "
	    "\"at+jwt\",\n\"kid\":\"k\\u0031\" }"), BH_JWT_OK);
	/* A signature of the right header and payload, then the header
	 * re-encoded: the bytes differ, so does what was signed. */
	ed25519_sign(seed, signing_input(good_header(), good_payload()), sig);
	other = bh_psprintf(pool, "%s.%s", signing_input(
	    "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\" }",
	    good_payload()), b64(sig, 64));
	CU_ASSERT_EQUAL(verify(other), BH_JWT_BAD_SIGNATURE);
}

/* -------------------------------------------------------------- claims */

static void
test_times(void)
{
	char n[4][32];

	setup_keys();
	fresh_pool();
	snprintf(n[0], sizeof(n[0]), "%lld", NOW);
	/* exp: leeway 30 s. */
	CU_ASSERT_EQUAL(verify_payload(payload_times(bh_psprintf(pool, "%lld",
	    NOW - 10), n[0], NULL)), BH_JWT_OK);
	CU_ASSERT_EQUAL(verify_payload(payload_times(bh_psprintf(pool, "%lld",
	    NOW - 29), n[0], NULL)), BH_JWT_OK);
	CU_ASSERT_EQUAL(verify_payload(payload_times(bh_psprintf(pool, "%lld",
	    NOW - 30), n[0], NULL)), BH_JWT_EXPIRED);
	CU_ASSERT_EQUAL(verify_payload(payload_times(bh_psprintf(pool, "%lld",
	    NOW - 3600), bh_psprintf(pool, "%lld", NOW - 4000), NULL)),
	    BH_JWT_EXPIRED);
	CU_ASSERT_EQUAL(verify_payload(payload_times("0", "0", NULL)),
	    BH_JWT_EXPIRED);
	/* nbf and iat in the future. */
	snprintf(n[1], sizeof(n[1]), "%lld", NOW + 600);
	CU_ASSERT_EQUAL(verify_payload(payload_times(n[1], n[0],
	    bh_psprintf(pool, "%lld", NOW + 10))), BH_JWT_OK);
	CU_ASSERT_EQUAL(verify_payload(payload_times(n[1], n[0],
	    bh_psprintf(pool, "%lld", NOW + 30))), BH_JWT_OK);
	CU_ASSERT_EQUAL(verify_payload(payload_times(n[1], n[0],
	    bh_psprintf(pool, "%lld", NOW + 31))), BH_JWT_NOT_YET_VALID);
	CU_ASSERT_EQUAL(verify_payload(payload_times(n[1],
	    bh_psprintf(pool, "%lld", NOW + 30), NULL)), BH_JWT_OK);
	CU_ASSERT_EQUAL(verify_payload(payload_times(n[1],
	    bh_psprintf(pool, "%lld", NOW + 31), NULL)),
	    BH_JWT_NOT_YET_VALID);
	/* Leeway 0. */
	CU_ASSERT_EQUAL(bh_jwt_verify(pool, forge(good_header(),
	    payload_times(bh_psprintf(pool, "%lld", NOW - 1), n[0], NULL),
	    seed), &keys, &(bh_jwt_expect){ ISS, AUD, 0, NOW }, NULL),
	    BH_JWT_EXPIRED);
}

static void
test_time_types(void)
{
	const char *bad[] = { "\"1700000600\"", "1700000600.0", "1.7000006e9",
	    "1e10", "-1", "-1700000600", "99999999999999999999",
	    "9223372036854775807", "9223372036854775808",
	    "18446744073709551615", "-9223372036854775808", "253402300800",
	    "true", "null", "[1700000600]", "{}", NULL };
	const char *names[] = { "exp", "iat", "nbf", NULL };
	size_t i, k;

	setup_keys();
	fresh_pool();
	for (k = 0; names[k] != NULL; k++)
		for (i = 0; bad[i] != NULL; i++)
			CU_ASSERT_EQUAL(verify_payload(payload_with(names[k],
			    bad[i])), BH_JWT_BAD_CLAIMS);
	CU_ASSERT_EQUAL(verify_payload(payload_with("exp", NULL)),
	    BH_JWT_BAD_CLAIMS);
	CU_ASSERT_EQUAL(verify_payload(payload_with("iat", NULL)),
	    BH_JWT_BAD_CLAIMS);
	/* The last second representable is still a time. */
	CU_ASSERT_EQUAL(verify_payload(payload_with("exp", "253402300799")),
	    BH_JWT_OK);
}

static void
test_string_claims(void)
{
	const char *names[] = { "sub", "jti", "client_id", NULL };
	size_t i;

	setup_keys();
	fresh_pool();
	for (i = 0; names[i] != NULL; i++) {
		CU_ASSERT_EQUAL(verify_payload(payload_with(names[i], NULL)),
		    BH_JWT_BAD_CLAIMS);
		CU_ASSERT_EQUAL(verify_payload(payload_with(names[i], "42")),
		    BH_JWT_BAD_CLAIMS);
		CU_ASSERT_EQUAL(verify_payload(payload_with(names[i], "\"\"")),
		    BH_JWT_BAD_CLAIMS);
		CU_ASSERT_EQUAL(verify_payload(payload_with(names[i],
		    "[\"x\"]")), BH_JWT_BAD_CLAIMS);
		CU_ASSERT_EQUAL(verify_payload(payload_with(names[i], "null")),
		    BH_JWT_BAD_CLAIMS);
	}
	/* scope is optional, but a string when there. */
	CU_ASSERT_EQUAL(verify_payload(payload_with("scope", NULL)),
	    BH_JWT_OK);
	CU_ASSERT_EQUAL(verify_payload(payload_with("scope", "\"\"")),
	    BH_JWT_OK);
	CU_ASSERT_EQUAL(verify_payload(payload_with("scope",
	    "[\"notifications:send\"]")), BH_JWT_BAD_CLAIMS);
	CU_ASSERT_EQUAL(verify_payload(payload_with("scope", "1")),
	    BH_JWT_BAD_CLAIMS);
}

static void
test_issuer(void)
{
	const char *bad[] = { "\"https://evil.example\"", "\"" ISS "/\"",
	    "\"https://auth.exampl\"", "\"HTTPS://AUTH.EXAMPLE\"", "\"\"",
	    "1", "[\"" ISS "\"]", "null", NULL };
	size_t i;

	setup_keys();
	fresh_pool();
	for (i = 0; bad[i] != NULL; i++)
		CU_ASSERT_EQUAL(verify_payload(payload_with("iss", bad[i])),
		    BH_JWT_BAD_ISSUER);
	CU_ASSERT_EQUAL(verify_payload(payload_with("iss", NULL)),
	    BH_JWT_BAD_ISSUER);
	/* A NUL would make a C comparison stop early. */
	CU_ASSERT_EQUAL(verify_payload(payload_with("iss",
	    "\"" ISS "\\u0000evil\"")), BH_JWT_MALFORMED);
	/* The verifier's expectation missing: nothing passes. */
	CU_ASSERT_EQUAL(bh_jwt_verify(pool, forge(good_header(),
	    good_payload(), seed), &keys, &(bh_jwt_expect){ NULL, AUD, 30,
	    NOW }, NULL), BH_JWT_BAD_ISSUER);
	CU_ASSERT_EQUAL(bh_jwt_verify(pool, forge(good_header(),
	    good_payload(), seed), &keys, &(bh_jwt_expect){ ISS, NULL, 30,
	    NOW }, NULL), BH_JWT_BAD_AUDIENCE);
}

static void
test_audience(void)
{
	const char *bad[] = { "\"users\"", "\"notification\"",
	    "\"notifications \"", "\"\"", "[]", "[\"users\",\"search\"]",
	    "[\"notifications\",1]", "[[\"notifications\"]]", "{\"aud\":"
	    "\"notifications\"}", "1", "null", "\"users notifications\"",
	    NULL };
	size_t i;

	setup_keys();
	fresh_pool();
	for (i = 0; bad[i] != NULL; i++)
		CU_ASSERT_EQUAL(verify_payload(payload_with("aud", bad[i])),
		    BH_JWT_BAD_AUDIENCE);
	CU_ASSERT_EQUAL(verify_payload(payload_with("aud", NULL)),
	    BH_JWT_BAD_AUDIENCE);
	CU_ASSERT_EQUAL(verify_payload(payload_with("aud",
	    "[\"notifications\"]")), BH_JWT_OK);
	CU_ASSERT_EQUAL(verify_payload(payload_with("aud",
	    "[\"users\",\"notifications\",\"search\"]")), BH_JWT_OK);
}

/* ---------------------------------------------------------- malformed */

static void
test_malformed(void)
{
	char *token, *dot1, *dot2, *t;
	const char *bad[] = { "", ".", "..", "...", "a", "a.b", "a.b.c.d",
	    "a.b.c.d.e", NULL };
	size_t i;

	setup_keys();
	fresh_pool();
	for (i = 0; bad[i] != NULL; i++)
		CU_ASSERT_EQUAL(verify(bad[i]), BH_JWT_MALFORMED);
	CU_ASSERT_EQUAL(bh_jwt_verify(pool, NULL, &keys, &expect, NULL),
	    BH_JWT_MALFORMED);
	token = forge(good_header(), good_payload(), seed);
	dot1 = strchr(token, '.');
	dot2 = strrchr(token, '.');
	/* Two parts, four parts, an empty part. */
	CU_ASSERT_EQUAL(verify(bh_pstrndup(pool, token,
	    (size_t)(dot2 - token))), BH_JWT_MALFORMED);
	CU_ASSERT_EQUAL(verify(bh_psprintf(pool, "%s.", token)),
	    BH_JWT_MALFORMED);
	CU_ASSERT_EQUAL(verify(bh_psprintf(pool, "%s.%s", token, dot2 + 1)),
	    BH_JWT_MALFORMED);
	CU_ASSERT_EQUAL(verify(bh_psprintf(pool, ".%s", dot1 + 1)),
	    BH_JWT_MALFORMED);
	/* Padding, the standard alphabet, white space, in each part. */
	CU_ASSERT_EQUAL(verify(bh_psprintf(pool, "%.*s=%s",
	    (int)(dot1 - token), token, dot1)), BH_JWT_MALFORMED);
	CU_ASSERT_EQUAL(verify(bh_psprintf(pool, "%s==", token)),
	    BH_JWT_MALFORMED);
	CU_ASSERT_EQUAL(verify(bh_psprintf(pool, " %s", token)),
	    BH_JWT_MALFORMED);
	CU_ASSERT_EQUAL(verify(bh_psprintf(pool, "%s ", token)),
	    BH_JWT_MALFORMED);
	CU_ASSERT_EQUAL(verify(bh_psprintf(pool, "%s\n", token)),
	    BH_JWT_MALFORMED);
	CU_ASSERT_EQUAL(verify(bh_psprintf(pool, "%.*s %s",
	    (int)(dot2 - token), token, dot2)), BH_JWT_MALFORMED);
	t = bh_pstrdup(pool, token);
	for (i = 0; t[i] != '\0'; i++)
		if (t[i] == '-' || t[i] == '_')
			break;
	if (t[i] != '\0') {
		t[i] = t[i] == '-' ? '+' : '/';
		CU_ASSERT_EQUAL(verify(t), BH_JWT_MALFORMED);
	}
	t = bh_pstrdup(pool, token);
	t[dot2 - token + 5] = '+';
	CU_ASSERT_EQUAL(verify(t), BH_JWT_MALFORMED);
	t[dot2 - token + 5] = '/';
	CU_ASSERT_EQUAL(verify(t), BH_JWT_MALFORMED);
	/* Truncated anywhere. */
	for (i = 1; i < strlen(token); i += 13)
		CU_ASSERT_NOT_EQUAL(verify(bh_pstrndup(pool, token, i)),
		    BH_JWT_OK);
}

static void
test_not_json_objects(void)
{
	const char *bad[] = {
		"[\"EdDSA\"]", "\"EdDSA\"", "1", "null", "",
		"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\"} x",
		"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\"}{}",
		"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\",}",
		"{'alg':'EdDSA','typ':'at+jwt','kid':'" KID "'}",
		"{alg:\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\"}",
		"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\","
		    "\"x\":NaN}",
		"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\","
		    "\"x\":01}",
		"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\","
		    "\"x\":\"\\ud800\"}",
		"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\","
		    "\"x\":\"\xff\"}",
		"{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"" KID "\","
		    "\"x\":\"a\tb\"}",
		NULL,
	};
	size_t i;

	setup_keys();
	fresh_pool();
	for (i = 0; bad[i] != NULL; i++) {
		CU_ASSERT_EQUAL(verify_header(bad[i]), BH_JWT_MALFORMED);
		CU_ASSERT_EQUAL(verify_payload(bad[i]), BH_JWT_MALFORMED);
	}
	/* A header with a NUL byte in the middle of its JSON. */
	CU_ASSERT_EQUAL(verify(bh_psprintf(pool, "%s.%s.%s",
	    b64("{\"alg\":\"EdDSA\"\0}", 16), b64(good_payload(),
	    strlen(good_payload())), b64("x", 1))), BH_JWT_MALFORMED);
}

static void
test_duplicate_members(void)
{
	setup_keys();
	fresh_pool();
	/* json-c keeps the last: "none" first must not hide. */
	CU_ASSERT_EQUAL(verify_header("{\"alg\":\"none\",\"alg\":\"EdDSA\","
	    "\"typ\":\"at+jwt\",\"kid\":\"" KID "\"}"), BH_JWT_MALFORMED);
	CU_ASSERT_EQUAL(verify_header("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\","
	    "\"kid\":\"" KID "\",\"kid\":\"" KID "\"}"), BH_JWT_MALFORMED);
	CU_ASSERT_EQUAL(verify_header("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\","
	    "\"kid\":\"" KID "\",\"k\\u0069d\":\"other\"}"), BH_JWT_MALFORMED);
	/* In the claims, at the top and nested. */
	CU_ASSERT_EQUAL(verify_payload(payload_with("aud",
	    "\"users\",\"aud\":\"notifications\"")), BH_JWT_MALFORMED);
	CU_ASSERT_EQUAL(verify_payload(payload_with("sub",
	    "\"users\",\"s\\u0075b\":\"admin\"")), BH_JWT_MALFORMED);
	CU_ASSERT_EQUAL(verify_payload(payload_with("cnf",
	    "{\"a\":1,\"b\":{\"c\":1,\"c\":2}}")), BH_JWT_MALFORMED);
	CU_ASSERT_EQUAL(verify_payload(payload_with("cnf",
	    "[{\"a\":1},{\"a\":1,\"a\":{\"b\":1}}]")), BH_JWT_MALFORMED);
	/* The same names in different objects are fine. */
	CU_ASSERT_EQUAL(verify_payload(payload_with("cnf",
	    "[{\"a\":1},{\"a\":{\"a\":1}}]")), BH_JWT_OK);
}

static void
test_depth(void)
{
	setup_keys();
	fresh_pool();
	/* The payload object plus seven levels: the limit of eight. */
	CU_ASSERT_EQUAL(verify_payload(payload_with("x",
	    "[[[[[[[1]]]]]]]")), BH_JWT_OK);
	CU_ASSERT_EQUAL(verify_payload(payload_with("x",
	    "[[[[[[[[1]]]]]]]]")), BH_JWT_MALFORMED);
	CU_ASSERT_EQUAL(verify_payload(payload_with("x",
	    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]"
	    "]]]]]]]]]]]]]]]]]]")), BH_JWT_MALFORMED);
}

static void
test_length_limit(void)
{
	char *token = NULL, *pad;
	size_t n, len = 0;

	setup_keys();
	fresh_pool();
	/* The longest token the padding can make up to the limit. */
	for (n = 6200; n > 5000; n--) {
		pad = memset(bh_palloc(pool, n + 3), 'p', n);
		token = forge(good_header(), payload_with("pad",
		    bh_psprintf(pool, "\"%s\"", pad)), seed);
		if ((len = strlen(token)) <= BH_JWT_MAX_LEN)
			break;
	}
	CU_ASSERT(len <= BH_JWT_MAX_LEN && len >= BH_JWT_MAX_LEN - 3);
	CU_ASSERT_EQUAL(verify(token), BH_JWT_OK);
	pad = memset(bh_palloc(pool, n + 4), 'p', n + 3);
	token = forge(good_header(), payload_with("pad",
	    bh_psprintf(pool, "\"%s\"", pad)), seed);
	CU_ASSERT(strlen(token) > BH_JWT_MAX_LEN);
	CU_ASSERT_EQUAL(verify(token), BH_JWT_MALFORMED);
	/* Far longer. */
	token = memset(bh_palloc(pool, 100001), 'A', 100000);
	CU_ASSERT_EQUAL(verify(token), BH_JWT_MALFORMED);
}

/* --------------------------------------------------------------- JWKS */

static void
test_jwks_round_trip(void)
{
	json_object *doc = json_object_new_object(), *arr;
	const char *text;
	bh_jwks got;
	const bh_jwk *k;

	setup_keys();
	arr = json_object_new_array();
	json_object_array_add(arr, bh_jwk_to_json(&key_list[0]));
	json_object_array_add(arr, bh_jwk_to_json(&key_list[1]));
	json_object_object_add(doc, "keys", arr);
	text = json_object_to_json_string(doc);
	CU_ASSERT_FATAL(bh_jwks_parse(text, strlen(text), &got) == 0);
	CU_ASSERT_EQUAL(got.n, 2);
	k = bh_jwks_find(&got, KID);
	CU_ASSERT_FATAL(k != NULL);
	CU_ASSERT(memcmp(k->pub, pub, 32) == 0);
	k = bh_jwks_find(&got, "next-key");
	CU_ASSERT_FATAL(k != NULL);
	CU_ASSERT(memcmp(k->pub, key_list[1].pub, 32) == 0);
	CU_ASSERT_PTR_NULL(bh_jwks_find(&got, "k"));
	CU_ASSERT_PTR_NULL(bh_jwks_find(&got, NULL));
	CU_ASSERT_PTR_NULL(bh_jwks_find(NULL, KID));
	bh_jwks_free(&got);
	CU_ASSERT_PTR_NULL(got.keys);
	CU_ASSERT_EQUAL(got.n, 0);
	bh_jwks_free(&got);
	json_object_put(doc);
}

static void
test_jwk_json(void)
{
	json_object *jwk, *v;

	setup_keys();
	fresh_pool();
	jwk = bh_jwk_to_json(&key_list[0]);
	CU_ASSERT(json_object_object_get_ex(jwk, "kty", &v) &&
	    strcmp(json_object_get_string(v), "OKP") == 0);
	CU_ASSERT(json_object_object_get_ex(jwk, "crv", &v) &&
	    strcmp(json_object_get_string(v), "Ed25519") == 0);
	CU_ASSERT(json_object_object_get_ex(jwk, "alg", &v) &&
	    strcmp(json_object_get_string(v), "EdDSA") == 0);
	CU_ASSERT(json_object_object_get_ex(jwk, "use", &v) &&
	    strcmp(json_object_get_string(v), "sig") == 0);
	CU_ASSERT(json_object_object_get_ex(jwk, "kid", &v) &&
	    strcmp(json_object_get_string(v), KID) == 0);
	CU_ASSERT(json_object_object_get_ex(jwk, "x", &v) &&
	    strcmp(json_object_get_string(v), b64(pub, 32)) == 0);
	CU_ASSERT(!json_object_object_get_ex(jwk, "d", NULL));
	json_object_put(jwk);
}

static void
test_jwks_skips(void)
{
	char *doc;
	const char *x = NULL;
	bh_jwks got;

	setup_keys();
	fresh_pool();
	x = b64(pub, 32);
	doc = bh_psprintf(pool, "{\"keys\":["
	    "{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"AQAB\",\"e\":\"AQAB\"},"
	    "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"kid\":\"b\",\"x\":\"%s\"},"
	    "{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"kid\":\"c\",\"x\":\"%s\"},"
	    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"d\",\"x\":\"%s\","
	    "\"alg\":\"ES256\"},"
	    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"e\",\"x\":\"%s\","
	    "\"use\":\"enc\"},"
	    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"../f\","
	    "\"x\":\"%s\"},"
	    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"g\","
	    "\"x\":\"%sAA\"},"
	    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"h\","
	    "\"x\":\"%s=\"},"
	    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"i\"},"
	    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"},"
	    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":7,\"x\":\"%s\"},"
	    "\"a string\",null,[],"
	    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ok\",\"x\":\"%s\"},"
	    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ok\",\"x\":\"%s\","
	    "\"alg\":\"EdDSA\",\"use\":\"sig\"}"
	    "],\"other\":1}", x, x, x, x, x, x, x, x, x, x,
	    b64(evil_pub, 32));
	CU_ASSERT_FATAL(bh_jwks_parse(doc, strlen(doc), &got) == 0);
	/* Only "ok", and the first of two with that kid. */
	CU_ASSERT_EQUAL(got.n, 1);
	CU_ASSERT(got.n == 1 && strcmp(got.keys[0].kid, "ok") == 0 &&
	    memcmp(got.keys[0].pub, pub, 32) == 0);
	bh_jwks_free(&got);
	/* An empty set is a set. */
	CU_ASSERT_FATAL(bh_jwks_parse("{\"keys\":[]}", 11, &got) == 0);
	CU_ASSERT_EQUAL(got.n, 0);
	bh_jwks_free(&got);
}

static void
test_jwks_many(void)
{
	bh_buf doc;
	bh_jwks got;
	size_t i;
	char kid[16];

	setup_keys();
	fresh_pool();
	bh_buf_init(&doc, pool);
	bh_buf_puts(&doc, "{\"keys\":[");
	for (i = 0; i < 20; i++)
		bh_buf_printf(&doc, "%s{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
		    "\"kid\":\"key-%zu\",\"x\":\"%s\"}", i > 0 ? "," : "", i,
		    b64(pub, 32));
	/* Many entries that are no keys. */
	for (i = 0; i < 100000; i++)
		bh_buf_puts(&doc, ",{}");
	bh_buf_puts(&doc, "]}");
	CU_ASSERT_FATAL(bh_jwks_parse(doc.data, doc.len, &got) == 0);
	CU_ASSERT_EQUAL(got.n, 20);
	for (i = 0; i < 20; i++) {
		snprintf(kid, sizeof(kid), "key-%zu", i);
		CU_ASSERT_PTR_NOT_NULL(bh_jwks_find(&got, kid));
	}
	bh_jwks_free(&got);
}

static void
test_jwks_malformed(void)
{
	const char *bad[] = { "", "{", "[]", "{}", "{\"keys\":{}}",
	    "{\"keys\":null}", "{\"keys\":[]} x", "{\"keys\":[],\"keys\":[]}",
	    "{'keys':[]}", "{\"keys\":[{\"a\":1,\"a\":2}]}", "null",
	    "{\"keys\":[[[[[[[[[[1]]]]]]]]]]}", NULL };
	bh_jwks got;
	size_t i;

	for (i = 0; bad[i] != NULL; i++) {
		got.keys = (bh_jwk *)&got;
		got.n = 99;
		CU_ASSERT_EQUAL(bh_jwks_parse(bad[i], strlen(bad[i]), &got),
		    -1);
		CU_ASSERT(got.keys == NULL && got.n == 0);
	}
	CU_ASSERT_EQUAL(bh_jwks_parse(NULL, 0, &got), -1);
	/* The length given is what is read. */
	CU_ASSERT_EQUAL(bh_jwks_parse("{\"keys\":[]}", 5, &got), -1);
}

static void
test_status_strings(void)
{
	int s;

	for (s = BH_JWT_OK; s <= BH_JWT_BAD_AUDIENCE; s++)
		CU_ASSERT(strlen(bh_jwt_status_str((enum bh_jwt_status)s)) > 0);
	CU_ASSERT_STRING_EQUAL(bh_jwt_status_str(BH_JWT_EXPIRED),
	    "the token has expired");
}

static void
test_cleanup(void)
{
	if (pool != NULL)
		bh_pool_free(pool);
	pool = NULL;
}

static const CU_TestInfo key_tests[] = {
	{ "keygen", test_keygen },
	{ "RFC 8037 vectors", test_rfc8037 },
	{ "sign and verify", test_round_trip },
	{ "sign refuses", test_sign_refuses },
	{ "JWK", test_jwk_json },
	{ "JWKS round trip", test_jwks_round_trip },
	{ "JWKS skips unusable keys", test_jwks_skips },
	{ "JWKS with many entries", test_jwks_many },
	{ "JWKS malformed", test_jwks_malformed },
	{ "cleanup", test_cleanup },
	CU_TEST_INFO_NULL,
};

static const CU_TestInfo forgery_tests[] = {
	{ "alg none and other algs", test_alg_none_and_others },
	{ "HS256 with the public key", test_hs256_with_public_key },
	{ "typ", test_typ },
	{ "kid", test_kid },
	{ "jku jwk x5u x5c x5t crit", test_key_source_members },
	{ "signature", test_signature },
	{ "exp nbf iat", test_times },
	{ "time claim types", test_time_types },
	{ "string claims", test_string_claims },
	{ "issuer", test_issuer },
	{ "audience", test_audience },
	{ "malformed tokens", test_malformed },
	{ "header and payload not JSON objects", test_not_json_objects },
	{ "duplicate members", test_duplicate_members },
	{ "nesting depth", test_depth },
	{ "length limit", test_length_limit },
	{ "status strings", test_status_strings },
	{ "cleanup", test_cleanup },
	CU_TEST_INFO_NULL,
};

int
bh_test_register(void)
{
	int rc;

	if ((rc = bh_test_add_suite("keys", key_tests)) != CUE_SUCCESS)
		return rc;
	return bh_test_add_suite("forgery", forgery_tests);
}
