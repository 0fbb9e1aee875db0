/*
 * bh-jwt - makes keys and tokens, forged ones included, for the tests.
 * Not installed.
 *
 *   bh-jwt keygen
 *	prints "SEEDHEX PUBB64URL": a new Ed25519 key pair
 *   bh-jwt sign --header JSON --payload JSON
 *	       (--ed25519-seed HEX | --hs256-key-file FILE | --none)
 *	prints base64url(header).base64url(payload).signature, the JSON
 *	texts taken byte for byte as given (so any header can be forged);
 *	--none leaves the signature part empty
 *   bh-jwt jwk SEEDHEX KID
 *	prints the public JWK of the key
 *
 * Exit 0 ok, 1 failure, 2 usage.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bellhop.h"

/* A keyed file for HS256 may hold anything, a JWK text included. */
#define HMAC_KEY_MAX (64 * 1024)

static void
usage(void)
{
	fprintf(stderr,
	    "usage: bh-jwt keygen\n"
	    "       bh-jwt sign --header JSON --payload JSON "
	    "(--ed25519-seed HEX | --hs256-key-file FILE | --none)\n"
	    "       bh-jwt jwk SEEDHEX KID\n");
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 64 hex digits into seed.  Returns 0 or -1. */
static int
parse_seed(const char *hex, unsigned char seed[32])
{
	int i, hi, lo;

	if (strlen(hex) != 64)
		return -1;
	for (i = 0; i < 32; i++) {
		if ((hi = hex_value(hex[2 * i])) < 0 ||
		    (lo = hex_value(hex[2 * i + 1])) < 0)
			return -1;
		seed[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int
cmd_keygen(void)
{
	unsigned char seed[32], pub[32];
	bh_pool *pool;
	int i;

	if (bh_ed25519_keygen(seed, pub) == -1) {
		fprintf(stderr, "bh-jwt: cannot make a key\n");
		return 1;
	}
	pool = bh_pool_new();
	for (i = 0; i < 32; i++)
		printf("%02x", seed[i]);
	printf(" %s\n", bh_b64url_encode(pool, pub, sizeof(pub)));
	bh_pool_free(pool);
	return 0;
}

static int
cmd_jwk(int argc, char **argv)
{
	unsigned char seed[32];
	json_object *jwk;
	bh_jwk key;

	if (argc != 3) {
		usage();
		return 2;
	}
	if (parse_seed(argv[1], seed) == -1) {
		fprintf(stderr, "bh-jwt: the seed must be 64 hex digits\n");
		return 2;
	}
	if (strlen(argv[2]) >= sizeof(key.kid)) {
		fprintf(stderr, "bh-jwt: the kid is too long\n");
		return 2;
	}
	memset(&key, 0, sizeof(key));
	snprintf(key.kid, sizeof(key.kid), "%s", argv[2]);
	if (bh_ed25519_public(seed, key.pub) == -1) {
		fprintf(stderr, "bh-jwt: bad seed\n");
		return 1;
	}
	jwk = bh_jwk_to_json(&key);
	printf("%s\n", json_object_to_json_string_ext(jwk,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(jwk);
	return 0;
}

/* Reads at most HMAC_KEY_MAX bytes of path into buf.  Returns the length
 * or -1. */
static long
read_key_file(const char *path, unsigned char *buf)
{
	FILE *fp;
	size_t n;

	if ((fp = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "bh-jwt: %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, HMAC_KEY_MAX, fp);
	if (ferror(fp) || !feof(fp)) {
		fprintf(stderr, "bh-jwt: %s: unreadable or too large\n", path);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	return (long)n;
}

static int
ed25519_sign(const unsigned char seed[32], const char *msg, size_t len,
    unsigned char sig[64])
{
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx = NULL;
	size_t siglen = 64;
	int rc = -1;

	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	if (pkey == NULL)
		return -1;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		goto out;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)msg,
	    len) != 1)
		goto out;
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return rc;
}

static int
cmd_sign(int argc, char **argv)
{
	const char *header = NULL, *payload = NULL, *seed_hex = NULL;
	const char *key_file = NULL;
	unsigned char seed[32], sig[64], *key = NULL;
	unsigned int maclen = 32;
	bool none = false;
	bh_pool *pool = NULL;
	char *input;
	long keylen;
	int i, modes, rc = 2;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--none") == 0) {
			none = true;
			continue;
		}
		if (i + 1 >= argc)
			goto usage;
		if (strcmp(argv[i], "--header") == 0)
			header = argv[++i];
		else if (strcmp(argv[i], "--payload") == 0)
			payload = argv[++i];
		else if (strcmp(argv[i], "--ed25519-seed") == 0)
			seed_hex = argv[++i];
		else if (strcmp(argv[i], "--hs256-key-file") == 0)
			key_file = argv[++i];
		else
			goto usage;
	}
	modes = (seed_hex != NULL) + (key_file != NULL) + none;
	if (header == NULL || payload == NULL || modes != 1)
		goto usage;
	pool = bh_pool_new();
	input = bh_psprintf(pool, "%s.%s",
	    bh_b64url_encode(pool, header, strlen(header)),
	    bh_b64url_encode(pool, payload, strlen(payload)));
	rc = 1;
	if (none) {
		printf("%s.\n", input);
	} else if (seed_hex != NULL) {
		if (parse_seed(seed_hex, seed) == -1) {
			fprintf(stderr, "bh-jwt: the seed must be 64 hex "
			    "digits\n");
			rc = 2;
			goto out;
		}
		if (ed25519_sign(seed, input, strlen(input), sig) == -1) {
			fprintf(stderr, "bh-jwt: cannot sign\n");
			goto out;
		}
		printf("%s.%s\n", input, bh_b64url_encode(pool, sig, 64));
	} else {
		key = bh_palloc(pool, HMAC_KEY_MAX);
		if ((keylen = read_key_file(key_file, key)) == -1)
			goto out;
		if (HMAC(EVP_sha256(), key, (int)keylen,
		    (const unsigned char *)input, strlen(input), sig,
		    &maclen) == NULL) {
			fprintf(stderr, "bh-jwt: cannot compute the MAC\n");
			goto out;
		}
		printf("%s.%s\n", input, bh_b64url_encode(pool, sig, maclen));
	}
	rc = 0;
out:
	bh_pool_free(pool);
	return rc;
usage:
	usage();
	return 2;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage();
		return 2;
	}
	if (strcmp(argv[1], "keygen") == 0 && argc == 2)
		return cmd_keygen();
	if (strcmp(argv[1], "sign") == 0)
		return cmd_sign(argc - 1, argv + 1);
	if (strcmp(argv[1], "jwk") == 0)
		return cmd_jwk(argc - 1, argv + 1);
	usage();
	return 2;
}
