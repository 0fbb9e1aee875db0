/*
 * crypto.c - randomness, constant-time comparison, SHA-256 in hex and the
 * base64 codecs tokens, secrets and MIME need.
 *
 * The decoders are strict on purpose: a token or secret has exactly one
 * encoding, so two different strings never decode to the same bytes (no
 * padding variants, no stray bits, no white space), and a forged token
 * cannot pass a check by being spelled differently from the one signed.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>

#include "internal.h"

void
bh_random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;
	ssize_t got;

	while (n > 0) {
		/* Blocks only until the kernel's pool is first seeded. */
		got = getrandom(p, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			/* No randomness means no secrets: never go on with
			 * predictable ones. */
			abort();
		}
		p += got;
		n -= (size_t)got;
	}
}

char *
bh_random_token(bh_pool *pool, size_t nbytes)
{
	unsigned char *bytes = bh_palloc(pool, nbytes);
	char *token;

	bh_random_bytes(bytes, nbytes);
	token = bh_b64url_encode(pool, bytes, nbytes);
	OPENSSL_cleanse(bytes, nbytes);
	return token;
}

bool
bh_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	if (alen != blen)
		return false;
	if (alen == 0)
		return true;
	return CRYPTO_memcmp(a, b, alen) == 0;
}

char *
bh_sha256_hex(bh_pool *pool, const void *data, size_t len)
{
	uint8_t digest[BH_SHA256_LEN];
	char *hex = bh_palloc(pool, BH_SHA256_HEX_LEN + 1);

	bh_sha256(data, len, digest);
	bh_sha256_digest_hex(digest, hex);
	return hex;
}

/* ------------------------------------------------------------- base64 */

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encodes with alphabet; pad adds '=' to a multiple of four. */
static char *
b64_encode(bh_pool *pool, const void *data, size_t len, const char *alphabet,
    bool pad)
{
	const unsigned char *in = data;
	size_t groups, i, o = 0;
	char *out;
	uint32_t v;

	/* Four characters per three bytes, rounded up, plus the NUL. */
	if (len > (SIZE_MAX / 4 - 1) * 3)
		abort();
	groups = (len + 2) / 3;
	out = bh_palloc(pool, groups * 4 + 1);
	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		out[o++] = alphabet[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

/* The 6-bit value of c in the alphabet (url or standard), or -1. */
static int
b64_value(unsigned char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/*
 * Decodes s[0..len), which holds no padding, in the given alphabet.  A
 * final group of two or three characters carries one or two bytes, and
 * the bits it has beyond them must be zero (RFC 4648 section 3.5:
 * otherwise several strings decode to the same bytes).
 */
static unsigned char *
b64_decode(bh_pool *pool, const char *s, size_t len, bool url, size_t *outlen)
{
	unsigned char *out;
	size_t i, o = 0, rest;
	uint32_t v = 0;
	int d, k;

	if (len % 4 == 1)
		return NULL;
	out = bh_palloc(pool, len / 4 * 3 + 3);
	for (i = 0; i + 4 <= len; i += 4) {
		v = 0;
		for (k = 0; k < 4; k++) {
			if ((d = b64_value((unsigned char)s[i + k], url)) < 0)
				return NULL;
			v = v << 6 | (uint32_t)d;
		}
		out[o++] = (unsigned char)(v >> 16);
		out[o++] = (unsigned char)(v >> 8);
		out[o++] = (unsigned char)v;
	}
	rest = len - i;
	if (rest > 0) {
		v = 0;
		for (k = 0; k < (int)rest; k++) {
			if ((d = b64_value((unsigned char)s[i + k], url)) < 0)
				return NULL;
			v = v << 6 | (uint32_t)d;
		}
		if (rest == 2) {
			/* 12 bits: one byte and 4 unused bits. */
			if ((v & 0xf) != 0)
				return NULL;
			out[o++] = (unsigned char)(v >> 4);
		} else {
			/* 18 bits: two bytes and 2 unused bits. */
			if ((v & 0x3) != 0)
				return NULL;
			out[o++] = (unsigned char)(v >> 10);
			out[o++] = (unsigned char)(v >> 2);
		}
	}
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return out;
}

char *
bh_b64url_encode(bh_pool *pool, const void *data, size_t len)
{
	return b64_encode(pool, data, len, b64_url, false);
}

unsigned char *
bh_b64url_decode(bh_pool *pool, const char *s, size_t len, size_t *outlen)
{
	return b64_decode(pool, s, len, true, outlen);
}

char *
bh_b64_encode(bh_pool *pool, const void *data, size_t len)
{
	return b64_encode(pool, data, len, b64_std, true);
}

unsigned char *
bh_b64_decode(bh_pool *pool, const char *s, size_t len, size_t *outlen)
{
	size_t npad = 0;

	/* Padded to whole groups; one or two '=' only at the very end. */
	if (len % 4 != 0)
		return NULL;
	if (len > 0 && s[len - 1] == '=') {
		npad++;
		if (s[len - 2] == '=')
			npad++;
	}
	/* Any other '=' is not in the alphabet: b64_decode refuses it. */
	return b64_decode(pool, s, len - npad, false, outlen);
}
