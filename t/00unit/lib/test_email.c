/*
 * test_email.c - email.c: the one normal form of an email address
 * (trimmed, ASCII only, lower-cased, checked).
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

/* The normal form of the whole string s, or NULL. */
static const char *
norm(const char *s)
{
	return bh_email_normalize(fresh_pool(), s, strlen(s));
}

/* Why s is refused (NULL when it is not). */
static const char *
why_not(const char *s)
{
	const char *why = "unset";

	if (bh_email_normalize_why(fresh_pool(), s, strlen(s), &why) != NULL)
		return NULL;
	return why;
}

static void
expect(const char *in, const char *want)
{
	const char *got = norm(in);

	CU_ASSERT_PTR_NOT_NULL(got);
	if (got != NULL)
		CU_ASSERT_STRING_EQUAL(got, want);
}

/* --------------------------------------------------------------- good */

static void
test_lower_case(void)
{
	expect("alice@example.com", "alice@example.com");
	expect("Alice@Example.COM", "alice@example.com");
	expect("ALICE.SMITH+Tag@MAIL.Example.ORG",
	    "alice.smith+tag@mail.example.org");
	/* Every ASCII letter, and nothing else touched. */
	expect("ABCDEFGHIJKLMNOPQRSTUVWXYZ@Z9-X.example",
	    "abcdefghijklmnopqrstuvwxyz@z9-x.example");
	expect("o'brien_{x}|~!#$%&*/=?^`@example.com",
	    "o'brien_{x}|~!#$%&*/=?^`@example.com");
}

static void
test_trimmed(void)
{
	expect("  bob@example.com", "bob@example.com");
	expect("bob@example.com   ", "bob@example.com");
	expect(" Bob@Example.com ", "bob@example.com");
}

static void
test_idempotent(void)
{
	const char *inputs[] = { "Alice@Example.COM", " x.Y+z@A-b.c.D ",
	    "xn--BCHER-kva@XN--bcher-kva.example", NULL };
	const char *const *in;
	char once[300];
	const char *twice;

	for (in = inputs; *in != NULL; in++) {
		const char *n = norm(*in);

		CU_ASSERT_PTR_NOT_NULL_FATAL(n);
		snprintf(once, sizeof(once), "%s", n);
		twice = norm(once);
		CU_ASSERT_PTR_NOT_NULL_FATAL(twice);
		CU_ASSERT_STRING_EQUAL(twice, once);
	}
}

static void
test_why_null_on_success(void)
{
	const char *why = "unset";
	char *got;

	got = bh_email_normalize_why(fresh_pool(), "a@b.co", 6, &why);
	CU_ASSERT_PTR_NOT_NULL(got);
	CU_ASSERT_PTR_NULL(why);
	/* why may be NULL. */
	CU_ASSERT_PTR_NULL(bh_email_normalize_why(fresh_pool(), "x", 1,
	    NULL));
}

static void
test_length_respected(void)
{
	const char s[] = "carol@example.com-and-more";
	char *got = bh_email_normalize(fresh_pool(), s, 17);

	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_STRING_EQUAL(got, "carol@example.com");
}

static void
test_punycode_domain(void)
{
	expect("hans@xn--bcher-kva.example", "hans@xn--bcher-kva.example");
}

/* ------------------------------------------------------ beyond ASCII */

static void
test_not_ascii(void)
{
	/* The review's case: U+0130 (capital I with dot) lower-cases to
	 * "i" in Unicode; here it is refused, never folded into alice. */
	const char *why = why_not("al\xc4\xb0" "ce@example.com");

	CU_ASSERT_PTR_NOT_NULL_FATAL(why);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "ASCII"));
	CU_ASSERT_PTR_NULL(norm("AL\xc4\xb0" "CE@example.com"));
	CU_ASSERT_PTR_NULL(norm("alice@ex\xc3\xa4mple.com"));
	CU_ASSERT_PTR_NULL(norm("alice@\xd0\xbf\xd1\x80\xd0\xb8.example"));
	/* The Kelvin sign lower-cases to k in Unicode. */
	CU_ASSERT_PTR_NULL(norm("\xe2\x84\xaaim@example.com"));
	/* Not UTF-8 at all. */
	CU_ASSERT_PTR_NULL(norm("\xff\xfe@example.com"));
	CU_ASSERT_PTR_NULL(norm("a\xc0\xaf@example.com"));
	/* A no-break space at either end is not trimmed: refused. */
	CU_ASSERT_PTR_NULL(norm("\xc2\xa0" "alice@example.com"));
}

/* ---------------------------------------------------- blanks, controls */

static void
test_empty(void)
{
	CU_ASSERT_PTR_NOT_NULL(why_not(""));
	CU_ASSERT_STRING_EQUAL(why_not("   "), "it is empty");
	CU_ASSERT_PTR_NULL(bh_email_normalize(fresh_pool(), "", 0));
}

static void
test_controls_and_spaces(void)
{
	const char with_nul[] = "a\0b@example.com";

	CU_ASSERT_PTR_NULL(bh_email_normalize(fresh_pool(), with_nul,
	    sizeof(with_nul) - 1));
	CU_ASSERT_PTR_NULL(norm("al ice@example.com"));
	CU_ASSERT_PTR_NULL(norm("\talice@example.com"));
	CU_ASSERT_PTR_NULL(norm("alice@example.com\n"));
	CU_ASSERT_PTR_NULL(norm("alice@example.com\r"));
	CU_ASSERT_PTR_NULL(norm("ali\x7f" "ce@example.com"));
	CU_ASSERT_PTR_NULL(norm("alice@exa mple.com"));
}

/* ------------------------------------------------------------ shape */

static void
test_at_signs(void)
{
	CU_ASSERT_STRING_EQUAL(why_not("alice.example.com"),
	    "it must hold exactly one '@'");
	CU_ASSERT_STRING_EQUAL(why_not("a@b@example.com"),
	    "it must hold exactly one '@'");
	CU_ASSERT_PTR_NULL(norm("@"));
	CU_ASSERT_PTR_NULL(norm("@example.com"));
	CU_ASSERT_PTR_NULL(norm("alice@"));
}

static void
test_local_part(void)
{
	char local[80];

	CU_ASSERT_PTR_NULL(norm(".alice@example.com"));
	CU_ASSERT_PTR_NULL(norm("alice.@example.com"));
	CU_ASSERT_PTR_NULL(norm("al..ice@example.com"));
	CU_ASSERT_PTR_NULL(norm("\"alice\"@example.com"));
	CU_ASSERT_PTR_NULL(norm("a(b)@example.com"));
	CU_ASSERT_PTR_NULL(norm("a<b>@example.com"));
	CU_ASSERT_PTR_NULL(norm("a,b@example.com"));
	CU_ASSERT_PTR_NULL(norm("a;b@example.com"));
	CU_ASSERT_PTR_NULL(norm("a:b@example.com"));
	CU_ASSERT_PTR_NULL(norm("a\\b@example.com"));
	CU_ASSERT_PTR_NULL(norm("a[b]@example.com"));
	/* 64 characters: fine; 65: not. */
	memset(local, 'x', 64);
	strcpy(local + 64, "@example.com");
	CU_ASSERT_PTR_NOT_NULL(norm(local));
	memset(local, 'x', 65);
	strcpy(local + 65, "@example.com");
	CU_ASSERT_PTR_NULL(norm(local));
}

static void
test_domain(void)
{
	char s[300];

	CU_ASSERT_PTR_NULL(norm("alice@localhost"));
	CU_ASSERT_PTR_NULL(norm("alice@example..com"));
	CU_ASSERT_PTR_NULL(norm("alice@.example.com"));
	CU_ASSERT_PTR_NULL(norm("alice@example.com."));
	CU_ASSERT_PTR_NULL(norm("alice@-example.com"));
	CU_ASSERT_PTR_NULL(norm("alice@example-.com"));
	CU_ASSERT_PTR_NULL(norm("alice@exa_mple.com"));
	CU_ASSERT_PTR_NULL(norm("alice@[127.0.0.1]"));
	CU_ASSERT_PTR_NULL(norm("alice@example.com:25"));
	/* A label of 63: fine; of 64: not. */
	strcpy(s, "a@");
	memset(s + 2, 'd', 63);
	strcpy(s + 65, ".com");
	CU_ASSERT_PTR_NOT_NULL(norm(s));
	strcpy(s, "a@");
	memset(s + 2, 'd', 64);
	strcpy(s + 66, ".com");
	CU_ASSERT_PTR_NULL(norm(s));
}

static void
test_total_length(void)
{
	char s[300], padded[310];
	size_t i;

	/* "a@" + labels of 49 + "." up to 254, then 255. */
	strcpy(s, "a@");
	for (i = 2; i < 254; i++)
		s[i] = (i - 2) % 50 == 49 ? '.' : 'd';
	s[254] = '\0';
	CU_ASSERT_EQUAL(strlen(s), 254);
	CU_ASSERT_PTR_NOT_NULL(norm(s));
	s[254] = 'd';
	s[255] = '\0';
	CU_ASSERT_STRING_EQUAL(why_not(s), "it is longer than 254 characters");
	/* Blanks around do not count. */
	s[254] = '\0';
	snprintf(padded, sizeof(padded), "  %s  ", s);
	CU_ASSERT_PTR_NOT_NULL(norm(padded));
}

int
bh_test_register(void)
{
	static const CU_TestInfo good[] = {
		{ "lower-cased as a whole", test_lower_case },
		{ "trimmed of spaces", test_trimmed },
		{ "idempotent", test_idempotent },
		{ "why is NULL on success", test_why_null_on_success },
		{ "only len bytes read", test_length_respected },
		{ "an A-label domain", test_punycode_domain },
		CU_TEST_INFO_NULL
	};
	static const CU_TestInfo bad[] = {
		{ "beyond ASCII, not UTF-8", test_not_ascii },
		{ "empty", test_empty },
		{ "controls and spaces", test_controls_and_spaces },
		{ "one '@'", test_at_signs },
		{ "the local part", test_local_part },
		{ "the domain", test_domain },
		{ "254 characters at most", test_total_length },
		CU_TEST_INFO_NULL
	};
	int rc;

	atexit(free_pool);
	if ((rc = bh_test_add_suite("email: accepted", good)) != 0)
		return rc;
	return bh_test_add_suite("email: refused", bad);
}
