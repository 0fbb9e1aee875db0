/*
 * fuzz_urlencoded.c - bh_url_decode, bh_parse_urlencoded and
 * bh_utf8_valid against reference versions written here from the specs
 * (WHATWG application/x-www-form-urlencoded as bellhop.h narrows it, and
 * RFC 3629), which favour obviousness over speed.
 *
 * Input: any bytes, taken as a query string or form body; decoded
 * strings are checked as UTF-8 too, so escapes reach the UTF-8 checker.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* -------------------------------------------------------- the reference */

static int
ref_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes s[0..len) into out (len + 1 bytes), *outlen bytes.  False on
 * "%" without two hex digits after it, "%00", or a raw NUL. */
static bool
ref_decode(const unsigned char *s, size_t len, bool plus_is_space,
    char *out, size_t *outlen)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\0')
			return false;
		if (s[i] == '+' && plus_is_space)
			out[o++] = ' ';
		else if (s[i] != '%')
			out[o++] = (char)s[i];
		else if (i + 2 < len && ref_hex(s[i + 1]) >= 0 &&
		    ref_hex(s[i + 2]) >= 0) {
			out[o] = (char)(ref_hex(s[i + 1]) * 16 +
			    ref_hex(s[i + 2]));
			if (out[o++] == '\0')
				return false;
			i += 2;
		} else
			return false;
	}
	out[o] = '\0';
	*outlen = o;
	return true;
}

/* RFC 3629: decode each sequence to its code point and refuse what the
 * bit patterns allow but UTF-8 does not. */
static bool
ref_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0, n, k;
	uint32_t cp;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			n = 2;
			cp = s[i] & 0x1f;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 3;
			cp = s[i] & 0x0f;
		} else if ((s[i] & 0xf8) == 0xf0) {
			n = 4;
			cp = s[i] & 0x07;
		} else
			return false;
		if (len - i < n)
			return false;
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
		    (n == 4 && cp < 0x10000))
			return false; /* overlong */
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

/* ----------------------------------------------------------- the checks */

static void
check_utf8(const char *s, size_t len)
{
	bool got = bh_utf8_valid(s, len);

	FZ_ASSERT(got == ref_utf8_valid((const unsigned char *)s, len),
	    "bh_utf8_valid says %s for %zu bytes", got ? "valid" : "invalid",
	    len);
}

/* bh_url_decode in one mode against the reference. */
static void
check_decode(const uint8_t *data, size_t size, bool plus_is_space)
{
	char *want = malloc(size + 1), *got;
	size_t want_len = 0, got_len = 12345;
	bool ok;

	if (want == NULL)
		abort();
	ok = ref_decode(data, size, plus_is_space, want, &want_len);
	got = bh_url_decode(fz_pool(), (const char *)data, size,
	    plus_is_space, &got_len);
	FZ_ASSERT((got != NULL) == ok, "bh_url_decode %s, the reference %s",
	    got != NULL ? "decoded" : "refused", ok ? "decoded" : "refused");
	if (ok) {
		FZ_ASSERT(got_len == want_len && memcmp(got, want,
		    want_len + 1) == 0, "decoded %zu bytes, want %zu",
		    got_len, want_len);
		check_utf8(got, got_len);
	}
	free(want);
}

/* What bh_parse_urlencoded must give: pairs split at '&', empty ones
 * skipped, name and value split at the first '='; stops at the first
 * bad pair, naming it when its name decodes. */
static void
check_parse(const uint8_t *data, size_t size)
{
	const unsigned char *p = data, *end = data + size, *amp, *eq;
	char *key = malloc(size + 1), *val = malloc(size + 1);
	const char *bad_key = "unset";
	size_t n = 0, key_len, val_len, amps = 0;
	bh_kvlist list;
	int rc;
	bool ok = true;

	if (key == NULL || val == NULL)
		abort();
	rc = bh_parse_urlencoded(fz_pool(), (const char *)data, size, &list,
	    &bad_key);
	FZ_ASSERT(rc == 0 || rc == -1, "returned %d", rc);
	for (; p < end; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		amps++;
		if (amp == p)
			continue;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (!ref_decode(p, (size_t)((eq != NULL ? eq : amp) - p), true,
		    key, &key_len)) {
			FZ_ASSERT(rc == -1 && bad_key == NULL,
			    "a bad name at pair %zu not reported", n);
			ok = false;
			break;
		}
		if (eq == NULL) {
			val[0] = '\0';
			val_len = 0;
		} else if (!ref_decode(eq + 1, (size_t)(amp - eq - 1), true,
		    val, &val_len)) {
			FZ_ASSERT(rc == -1 && bad_key != NULL &&
			    strcmp(bad_key, key) == 0,
			    "a bad value at pair %zu not named", n);
			ok = false;
			break;
		}
		if (rc == 0) {
			FZ_ASSERT(n < list.n, "pair %zu missing", n);
			FZ_ASSERT(strcmp(list.items[n].key, key) == 0,
			    "pair %zu: name", n);
			FZ_ASSERT(list.items[n].len == val_len &&
			    memcmp(list.items[n].val, val, val_len + 1) == 0,
			    "pair %zu: value", n);
			check_utf8(list.items[n].key,
			    strlen(list.items[n].key));
			check_utf8(list.items[n].val, list.items[n].len);
		}
		n++;
		if (amp == end)
			break;
	}
	if (ok) {
		FZ_ASSERT(rc == 0 && bad_key == NULL, "refused a good string");
		FZ_ASSERT(list.n == n, "%zu pairs, want %zu", list.n, n);
		FZ_ASSERT(n <= amps, "%zu pairs from %zu", n, amps);
	}
	free(key);
	free(val);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bh_request req;

	fz_setup();
	fz_request_new(&req);
	check_utf8((const char *)data, size);
	check_decode(data, size, false);
	check_decode(data, size, true);
	check_parse(data, size);
	return 0;
}
