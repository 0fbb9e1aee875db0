/*
 * test_crypto.c - crypto.c: randomness, constant-time comparison,
 * SHA-256 in hex, and the strict base64 codecs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bellhop.h"
#include "runner.h"

static bh_pool *pool;

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
free_pool(void)
{
	if (pool != NULL)
		bh_pool_free(pool);
	pool = NULL;
}

/* ------------------------------------------------------------ random */

static void
test_random_bytes(void)
{
	unsigned char a[64], b[64], zero[64];
	size_t sizes[] = { 0, 1, 31, 64 };
	size_t i;

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(zero, 0, sizeof(zero));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		bh_random_bytes(a, sizes[i]);
	bh_random_bytes(b, sizeof(b));
	/* 2^-512 chances each of failing by luck. */
	CU_ASSERT(memcmp(a, zero, sizeof(a)) != 0);
	CU_ASSERT(memcmp(a, b, sizeof(a)) != 0);
}

static void
test_random_token(void)
{
	bh_pool *p = fresh_pool();
	char *t1, *t2;
	unsigned char *raw;
	size_t len, i;

	t1 = bh_random_token(p, 32);
	t2 = bh_random_token(p, 32);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t1);
	CU_ASSERT_EQUAL(strlen(t1), 43);
	CU_ASSERT_STRING_NOT_EQUAL(t1, t2);
	for (i = 0; t1[i] != '\0'; i++)
		CU_ASSERT(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
		    "qrstuvwxyz0123456789-_", t1[i]) != NULL);
	raw = bh_b64url_decode(p, t1, strlen(t1), &len);
	CU_ASSERT_PTR_NOT_NULL(raw);
	CU_ASSERT_EQUAL(len, 32);
	CU_ASSERT_STRING_EQUAL(bh_random_token(p, 0), "");
	CU_ASSERT_EQUAL(strlen(bh_random_token(p, 16)), 22);
	free_pool();
}

/* ---------------------------------------------------------- compare */

static void
test_ct_equal(void)
{
	CU_ASSERT(bh_ct_equal("abc", 3, "abc", 3));
	CU_ASSERT(!bh_ct_equal("abc", 3, "abd", 3));
	CU_ASSERT(!bh_ct_equal("abc", 3, "abcd", 4));
	CU_ASSERT(!bh_ct_equal("abcd", 4, "abc", 3));
	CU_ASSERT(bh_ct_equal("", 0, "", 0));
	CU_ASSERT(bh_ct_equal(NULL, 0, NULL, 0));
	CU_ASSERT(!bh_ct_equal("", 0, "a", 1));
	/* Bytes after a NUL count. */
	CU_ASSERT(!bh_ct_equal("a\0b", 3, "a\0c", 3));
	CU_ASSERT(bh_ct_equal("a\0b", 3, "a\0b", 3));
}

/* ----------------------------------------------------------- sha256 */

static void
test_sha256_hex(void)
{
	bh_pool *p = fresh_pool();

	/* FIPS 180-2 examples. */
	CU_ASSERT_STRING_EQUAL(bh_sha256_hex(p, "", 0),
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CU_ASSERT_STRING_EQUAL(bh_sha256_hex(p, "abc", 3),
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CU_ASSERT_STRING_EQUAL(bh_sha256_hex(p,
	    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56),
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	free_pool();
}

/* ----------------------------------------------------------- base64 */

struct vector {
	const char *raw;
	const char *std, *url;
};

/* RFC 4648 section 10, plus bytes that differ between the alphabets. */
static const struct vector vectors[] = {
	{ "", "", "" },
	{ "f", "Zg==", "Zg" },
	{ "fo", "Zm8=", "Zm8" },
	{ "foo", "Zm9v", "Zm9v" },
	{ "foob", "Zm9vYg==", "Zm9vYg" },
	{ "fooba", "Zm9vYmE=", "Zm9vYmE" },
	{ "foobar", "Zm9vYmFy", "Zm9vYmFy" },
	{ "\xfb\xff\xbf", "+/+/", "-_-_" },
	{ "\xfa\xfb", "+vs=", "-vs" },
	{ "\x00\x00\x00", "AAAA", "AAAA" },
};

static void
test_b64_vectors(void)
{
	bh_pool *p = fresh_pool();
	size_t i, len, rawlen;
	unsigned char *out;

	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];

		rawlen = i == 9 ? 3 : strlen(v->raw);
		CU_ASSERT_STRING_EQUAL(bh_b64_encode(p, v->raw, rawlen),
		    v->std);
		CU_ASSERT_STRING_EQUAL(bh_b64url_encode(p, v->raw, rawlen),
		    v->url);
		len = 999;
		out = bh_b64_decode(p, v->std, strlen(v->std), &len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(out);
		CU_ASSERT_EQUAL(len, rawlen);
		CU_ASSERT(memcmp(out, v->raw, rawlen) == 0);
		CU_ASSERT_EQUAL(out[len], '\0');
		len = 999;
		out = bh_b64url_decode(p, v->url, strlen(v->url), &len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(out);
		CU_ASSERT_EQUAL(len, rawlen);
		CU_ASSERT(memcmp(out, v->raw, rawlen) == 0);
		CU_ASSERT_EQUAL(out[len], '\0');
	}
	free_pool();
}

static void
test_b64_round_trip(void)
{
	bh_pool *p = fresh_pool();
	unsigned char data[300], *out;
	size_t n, len;
	char *enc;

	bh_random_bytes(data, sizeof(data));
	for (n = 0; n <= sizeof(data); n++) {
		enc = bh_b64url_encode(p, data, n);
		CU_ASSERT_EQUAL(strlen(enc), (n * 4 + 2) / 3);
		out = bh_b64url_decode(p, enc, strlen(enc), &len);
		CU_ASSERT_FATAL(out != NULL && len == n);
		CU_ASSERT(memcmp(out, data, n) == 0);
		enc = bh_b64_encode(p, data, n);
		CU_ASSERT_EQUAL(strlen(enc), (n + 2) / 3 * 4);
		out = bh_b64_decode(p, enc, strlen(enc), &len);
		CU_ASSERT_FATAL(out != NULL && len == n);
		CU_ASSERT(memcmp(out, data, n) == 0);
		if (n % 16 == 15)
			bh_pool_reset(p);
	}
	free_pool();
}

static void
test_b64url_strict(void)
{
	bh_pool *p = fresh_pool();
	const char *bad[] = {
		"Zg==",       /* padding */
		"Zg=",
		"Zm8=",
		"+vs",        /* standard alphabet */
		"/w",
		"Zm 9v",      /* white space */
		" Zm9v",
		"Zm9v\n",
		"Zm9v\t",
		"Z",          /* length % 4 == 1 */
		"Zm9vY",
		"Zh",         /* unused bits not zero: "Zg" is canonical */
		"Zm9",        /* "Zm8" is */
		"Zm9v.",
		"Zm9v%3D",
		"\xc3\xa9" "A",
		NULL,
	};
	size_t i, len;

	for (i = 0; bad[i] != NULL; i++)
		CU_ASSERT_PTR_NULL(bh_b64url_decode(p, bad[i], strlen(bad[i]),
		    &len));
	/* An embedded NUL is not in the alphabet. */
	CU_ASSERT_PTR_NULL(bh_b64url_decode(p, "Zm\0v", 4, &len));
	/* len, not the NUL, bounds the input. */
	CU_ASSERT_PTR_NOT_NULL(bh_b64url_decode(p, "Zm9vXX", 4, &len));
	CU_ASSERT_EQUAL(len, 3);
	/* outlen may be NULL. */
	CU_ASSERT_PTR_NOT_NULL(bh_b64url_decode(p, "Zm9v", 4, NULL));
	free_pool();
}

static void
test_b64_strict(void)
{
	bh_pool *p = fresh_pool();
	const char *bad[] = {
		"Zg",         /* padding missing */
		"Zm8",
		"Zg=",
		"Zg===",
		"Z===",
		"====",
		"Zm9v====",
		"Zg==Zg==",   /* padding in the middle */
		"Z=g=",
		"-vs=",       /* url alphabet */
		"_w==",
		"Zm9v Zm9v",  /* white space */
		"Zm9v\r\n",
		"Zh==",       /* unused bits not zero */
		"Zm9=",
		"Zm9v=",
		NULL,
	};
	size_t i, len;

	for (i = 0; bad[i] != NULL; i++)
		CU_ASSERT_PTR_NULL(bh_b64_decode(p, bad[i], strlen(bad[i]),
		    &len));
	CU_ASSERT_PTR_NULL(bh_b64_decode(p, "Zm\0v", 4, &len));
	/* HTTP Basic credentials. */
	CU_ASSERT_STRING_EQUAL((char *)bh_b64_decode(p, "dXNlcnM6czNjcjN0",
	    16, &len), "users:s3cr3t");
	free_pool();
}

static const CU_TestInfo crypto_tests[] = {
	{ "random bytes", test_random_bytes },
	{ "random token", test_random_token },
	{ "constant-time equal", test_ct_equal },
	{ "sha256 hex", test_sha256_hex },
	CU_TEST_INFO_NULL,
};

static const CU_TestInfo base64_tests[] = {
	{ "RFC 4648 vectors", test_b64_vectors },
	{ "round trips 0-300 bytes", test_b64_round_trip },
	{ "base64url is strict", test_b64url_strict },
	{ "base64 is strict", test_b64_strict },
	CU_TEST_INFO_NULL,
};

int
bh_test_register(void)
{
	int rc;

	if ((rc = bh_test_add_suite("crypto", crypto_tests)) != CUE_SUCCESS)
		return rc;
	return bh_test_add_suite("base64", base64_tests);
}
