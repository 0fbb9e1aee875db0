/*
 * fuzz_jwt.c - bh_jwt_verify and bh_jwks_parse.
 *
 * Input: one mode byte, then the rest.  Mode (byte % 3):
 *   0  the rest is a token, verified as it is (and parsed as a JWKS too);
 *   1  the rest is a header JSON text, a newline, a payload JSON text:
 *      the target signs them with the key the verifier trusts, so the
 *      fuzzer reaches the header and claims checks behind the signature;
 *   2  the rest is a JWKS document.
 *
 * Invariants: a verified token's header says alg EdDSA, typ at+jwt and a
 * kid of the key set, names no key source, and its claims hold every
 * required claim with the right type, the issuer, the audience, and times
 * valid at "now" within the leeway; changing one character of a verified
 * token's signature never verifies; a parsed key set holds only valid
 * kids, each once.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fuzz.h"

#define FZ_NOW 1700000000LL
#define FZ_LEEWAY 30
#define FZ_ISS "https://auth.fz"
#define FZ_AUD "fz"
#define FZ_KID "k1"

static const bh_jwt_expect expect = { FZ_ISS, FZ_AUD, FZ_LEEWAY, FZ_NOW };
/* A fixed key: the fuzzer's inputs stay reproducible. */
static const unsigned char seed[32] = {
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
};
static bh_jwk key_list[1];
static bh_jwks keys = { key_list, 1 };

static void
setup(void)
{
	static bool done;

	if (done)
		return;
	fz_setup();
	strcpy(key_list[0].kid, FZ_KID);
	if (bh_ed25519_public(seed, key_list[0].pub) == -1)
		abort();
	done = true;
}

static bool
is_string(json_object *obj, const char *name, const char *want)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return false;
	return want == NULL || ((size_t)json_object_get_string_len(v) ==
	    strlen(want) && strcmp(json_object_get_string(v), want) == 0);
}

static int64_t
int_claim(json_object *claims, const char *name, bool required)
{
	json_object *v;

	if (!json_object_object_get_ex(claims, name, &v)) {
		FZ_ASSERT(!required, "claim %s missing", name);
		return -1;
	}
	FZ_ASSERT(json_object_is_type(v, json_type_int), "%s not an int",
	    name);
	return json_object_get_int64(v);
}

/* What a token that verified must be like, checked from its text. */
static void
check_accepted(const char *token, json_object *claims)
{
	const char *dot = strchr(token, '.');
	unsigned char *text;
	size_t len, i, n;
	json_object *header, *aud;
	const char *refused[] = { "jku", "jwk", "x5u", "x5c", "x5t", "crit",
	    NULL };
	bool found = false;
	int64_t exp, iat, nbf;

	FZ_ASSERT(claims != NULL && json_object_is_type(claims,
	    json_type_object), "no claims object");
	fz_json_check_tree(claims);
	text = bh_b64url_decode(fz_pool(), token, (size_t)(dot - token), &len);
	FZ_ASSERT(text != NULL, "the header is not base64url");
	header = fz_json_parse((const char *)text, len);
	FZ_ASSERT(header != NULL, "the header is not JSON");
	FZ_ASSERT(is_string(header, "alg", BH_JWT_ALG), "alg");
	FZ_ASSERT(is_string(header, "typ", BH_JWT_TYP), "typ");
	FZ_ASSERT(is_string(header, "kid", FZ_KID), "kid");
	for (i = 0; refused[i] != NULL; i++)
		FZ_ASSERT(!json_object_object_get_ex(header, refused[i], NULL),
		    "header member %s", refused[i]);
	json_object_put(header);

	FZ_ASSERT(is_string(claims, "iss", FZ_ISS), "iss");
	FZ_ASSERT(is_string(claims, "sub", NULL), "sub");
	FZ_ASSERT(is_string(claims, "jti", NULL), "jti");
	FZ_ASSERT(is_string(claims, "client_id", NULL), "client_id");
	FZ_ASSERT(!json_object_object_get_ex(claims, "scope", NULL) ||
	    is_string(claims, "scope", NULL), "scope");
	FZ_ASSERT(json_object_object_get_ex(claims, "aud", &aud), "aud");
	if (json_object_is_type(aud, json_type_array)) {
		n = json_object_array_length(aud);
		for (i = 0; i < n; i++) {
			json_object *v = json_object_array_get_idx(aud, i);

			FZ_ASSERT(json_object_is_type(v, json_type_string),
			    "aud[%zu]", i);
			if (strcmp(json_object_get_string(v), FZ_AUD) == 0)
				found = true;
		}
	} else
		found = is_string(claims, "aud", FZ_AUD);
	FZ_ASSERT(found, "aud without " FZ_AUD);
	exp = int_claim(claims, "exp", true);
	iat = int_claim(claims, "iat", true);
	nbf = int_claim(claims, "nbf", false);
	FZ_ASSERT(exp + FZ_LEEWAY > FZ_NOW, "expired: %lld", (long long)exp);
	FZ_ASSERT(iat - FZ_LEEWAY <= FZ_NOW, "iat: %lld", (long long)iat);
	FZ_ASSERT(nbf - FZ_LEEWAY <= FZ_NOW, "nbf: %lld", (long long)nbf);
}

/* Every other character in place of the signature's first one. */
static void
check_signature_bound(const char *token)
{
	char *copy = bh_pstrdup(fz_pool(), token);
	char *sig = strrchr(copy, '.') + 1;
	const char *alphabet = "AZaz09-_+/=.";
	char orig = *sig;
	size_t i;

	for (i = 0; alphabet[i] != '\0'; i++) {
		if (alphabet[i] == orig)
			continue;
		*sig = alphabet[i];
		FZ_ASSERT(bh_jwt_verify(fz_pool(), copy, &keys, &expect,
		    NULL) != BH_JWT_OK, "a changed signature verified");
	}
}

static void
verify_token(const char *token)
{
	json_object *claims = NULL;
	enum bh_jwt_status st;

	st = bh_jwt_verify(fz_pool(), token, &keys, &expect, &claims);
	FZ_ASSERT(st >= BH_JWT_OK && st <= BH_JWT_BAD_AUDIENCE,
	    "status %d", (int)st);
	FZ_ASSERT(bh_jwt_status_str(st) != NULL, "no status text");
	if (st != BH_JWT_OK) {
		FZ_ASSERT(claims == NULL, "claims with status %d", (int)st);
		return;
	}
	check_accepted(token, claims);
	check_signature_bound(token);
}

static void
sign_and_verify(const char *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	bh_pool *pool = fz_pool();
	unsigned char sig[64];
	size_t siglen = sizeof(sig);
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx;
	char *input;

	if (nl == NULL)
		return;
	input = bh_psprintf(pool, "%s.%s",
	    bh_b64url_encode(pool, data, (size_t)(nl - data)),
	    bh_b64url_encode(pool, nl + 1, size - (size_t)(nl + 1 - data)));
	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	ctx = EVP_MD_CTX_new();
	if (pkey == NULL || ctx == NULL ||
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)input,
	    strlen(input)) != 1)
		abort();
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	verify_token(bh_psprintf(pool, "%s.%s", input,
	    bh_b64url_encode(pool, sig, siglen)));
}

static void
parse_jwks(const char *data, size_t size)
{
	bh_jwks set;
	size_t i, k, len;

	if (bh_jwks_parse(data, size, &set) == -1) {
		FZ_ASSERT(set.keys == NULL && set.n == 0, "a failed parse "
		    "left keys");
		return;
	}
	for (i = 0; i < set.n; i++) {
		len = strnlen(set.keys[i].kid, sizeof(set.keys[i].kid));
		FZ_ASSERT(len >= 1 && len <= 64, "kid of %zu bytes", len);
		FZ_ASSERT(strspn(set.keys[i].kid, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789_-") == len,
		    "kid with a bad character");
		for (k = 0; k < i; k++)
			FZ_ASSERT(strcmp(set.keys[k].kid, set.keys[i].kid) != 0,
			    "kid twice");
		FZ_ASSERT(bh_jwks_find(&set, set.keys[i].kid) == &set.keys[i],
		    "find");
	}
	bh_jwks_free(&set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bh_request req;
	const char *rest;
	size_t len;

	if (size < 1)
		return 0;
	setup();
	fz_request_new(&req);
	rest = (const char *)data + 1;
	len = size - 1;
	switch (data[0] % 3) {
	case 0:
		/* A token is a C string: it ends at the first NUL. */
		verify_token(bh_pstrndup(fz_pool(), rest, len));
		parse_jwks(rest, len);
		break;
	case 1:
		sign_and_verify(rest, len);
		break;
	default:
		parse_jwks(rest, len);
		break;
	}
	return 0;
}
