/*
 * test_card.c - handlers/payments/card.c: the local card checks (digits,
 * Luhn, brand and length, security code, expiry) and the redaction of
 * card numbers from text bound for a log.
 */
#include <string.h>
#include <time.h>

#include "payments.h"
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

/* The test cards of the fake bank and of the well-known providers. */
static void
test_luhn(void)
{
	static const char *const valid[] = {
		"4242424242424242", "5555555555554444", "378282246310005",
		"4000000000000002", "4000000000009995", "4000000000000069",
		"4000000000000127", "4000000000000119", "4000000000007718",
		"4000000000008880", "6011111111111117", "3056930009020004",
		"3566002020360505", "6200000000000005", "2223003122003222",
		"4111111111111111", "000000000000", NULL
	};
	static const char *const invalid[] = {
		"4242424242424241", "4242424242424243", "5555555555554445",
		"378282246310006", "1234567812345678", "4000000000000001",
		/* a transposition of two digits */
		"2424424242424242", NULL
	};
	size_t i;

	for (i = 0; valid[i] != NULL; i++)
		CU_ASSERT_TRUE(card_luhn_valid(valid[i]));
	for (i = 0; invalid[i] != NULL; i++)
		CU_ASSERT_FALSE(card_luhn_valid(invalid[i]));
	CU_ASSERT_FALSE(card_luhn_valid(""));
	CU_ASSERT_FALSE(card_luhn_valid("42424242424242a2"));
}

static void
test_digits(void)
{
	CU_ASSERT_TRUE(card_number_digits("424242424242"));       /* 12 */
	CU_ASSERT_TRUE(card_number_digits("4242424242424242424")); /* 19 */
	CU_ASSERT_FALSE(card_number_digits("42424242424"));       /* 11 */
	CU_ASSERT_FALSE(card_number_digits("42424242424242424242")); /* 20 */
	CU_ASSERT_FALSE(card_number_digits("4242 4242 4242 4242"));
	CU_ASSERT_FALSE(card_number_digits("4242-4242-4242-4242"));
	/* a fullwidth digit four */
	CU_ASSERT_FALSE(card_number_digits("42424242424242４2"));
	CU_ASSERT_FALSE(card_number_digits("+4242424242424242"));
	CU_ASSERT_FALSE(card_number_digits(""));
}

static void
test_brand(void)
{
	static const struct {
		const char *number;
		enum card_brand brand;
		const char *name;
	} cases[] = {
		{ "4242424242424242", CARD_VISA, "visa" },
		{ "4000000000000002", CARD_VISA, "visa" },
		{ "5555555555554444", CARD_MASTERCARD, "mastercard" },
		{ "5105105105105100", CARD_MASTERCARD, "mastercard" },
		{ "2223003122003222", CARD_MASTERCARD, "mastercard" },
		{ "2720990000000007", CARD_MASTERCARD, "mastercard" },
		{ "378282246310005", CARD_AMEX, "amex" },
		{ "371449635398431", CARD_AMEX, "amex" },
		{ "6011111111111117", CARD_DISCOVER, "discover" },
		{ "6445644564456445", CARD_DISCOVER, "discover" },
		{ "3056930009020004", CARD_DINERS, "diners" },
		{ "36227206271667", CARD_DINERS, "diners" },
		{ "3566002020360505", CARD_JCB, "jcb" },
		{ "6200000000000005", CARD_UNIONPAY, "unionpay" },
		{ "1234567812345670", CARD_UNKNOWN, "unknown" },
		{ "9999999999999995", CARD_UNKNOWN, "unknown" },
		{ "2721000000000000", CARD_UNKNOWN, "unknown" },
		{ "12345", CARD_UNKNOWN, "unknown" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum card_brand b = card_brand_of(cases[i].number);

		CU_ASSERT_EQUAL(b, cases[i].brand);
		CU_ASSERT_STRING_EQUAL(card_brand_name(b), cases[i].name);
	}
}

static void
test_length(void)
{
	CU_ASSERT_TRUE(card_length_valid(CARD_VISA, 16));
	CU_ASSERT_TRUE(card_length_valid(CARD_VISA, 13));
	CU_ASSERT_TRUE(card_length_valid(CARD_VISA, 19));
	CU_ASSERT_FALSE(card_length_valid(CARD_VISA, 15));
	CU_ASSERT_TRUE(card_length_valid(CARD_MASTERCARD, 16));
	CU_ASSERT_FALSE(card_length_valid(CARD_MASTERCARD, 15));
	CU_ASSERT_TRUE(card_length_valid(CARD_AMEX, 15));
	CU_ASSERT_FALSE(card_length_valid(CARD_AMEX, 16));
	CU_ASSERT_TRUE(card_length_valid(CARD_DINERS, 14));
	CU_ASSERT_TRUE(card_length_valid(CARD_DISCOVER, 19));
	CU_ASSERT_FALSE(card_length_valid(CARD_DISCOVER, 15));
	CU_ASSERT_FALSE(card_length_valid(CARD_UNKNOWN, 16));
}

static void
test_cvc(void)
{
	CU_ASSERT_EQUAL(card_cvc_digits(CARD_AMEX), 4);
	CU_ASSERT_EQUAL(card_cvc_digits(CARD_VISA), 3);
	CU_ASSERT_EQUAL(card_cvc_digits(CARD_MASTERCARD), 3);
	CU_ASSERT_TRUE(card_cvc_valid("123", 3));
	CU_ASSERT_TRUE(card_cvc_valid("0000", 4));
	CU_ASSERT_FALSE(card_cvc_valid("1234", 3));
	CU_ASSERT_FALSE(card_cvc_valid("123", 4));
	CU_ASSERT_FALSE(card_cvc_valid("12a", 3));
	CU_ASSERT_FALSE(card_cvc_valid(" 12", 3));
	CU_ASSERT_FALSE(card_cvc_valid("", 3));
}

/* Expiry against a fixed clock: valid through the end of its month. */
static void
test_expiry(void)
{
	/* 2026-11-27 12:00:00 UTC */
	time_t now = 1795780800;
	/* 2026-12-01 00:00:00 UTC, the first second of the next month */
	time_t december = 1796083200;

	CU_ASSERT_FALSE(card_expired(11, 2026, now));   /* this month */
	CU_ASSERT_FALSE(card_expired(12, 2026, now));
	CU_ASSERT_FALSE(card_expired(1, 2027, now));
	CU_ASSERT_FALSE(card_expired(1, 2100, now));
	CU_ASSERT_TRUE(card_expired(10, 2026, now));    /* last month */
	CU_ASSERT_TRUE(card_expired(12, 2025, now));
	CU_ASSERT_TRUE(card_expired(1, 2000, now));
	CU_ASSERT_TRUE(card_expired(11, 2026, december));
	CU_ASSERT_FALSE(card_expired(12, 2026, december));
}

static void
test_redact(void)
{
	bh_pool *p = fresh_pool();

	CU_ASSERT_STRING_EQUAL(card_redact(p, "card 4242424242424242 was "
	    "declined"), "card [redacted] was declined");
	CU_ASSERT_STRING_EQUAL(card_redact(p, "4242 4242 4242 4242"),
	    "[redacted]");
	CU_ASSERT_STRING_EQUAL(card_redact(p, "x4242-4242-4242-4242."),
	    "x[redacted].");
	CU_ASSERT_STRING_EQUAL(card_redact(p,
	    "378282246310005,5555555555554444"), "[redacted],[redacted]");
	/* longer runs too: a number with digits around it */
	CU_ASSERT_STRING_EQUAL(card_redact(p, "id 123424242424242424299999"),
	    "id [redacted]");
	/* short numbers stay: amounts, years, last four digits, cvc */
	CU_ASSERT_STRING_EQUAL(card_redact(p, "amount 35100 in 2027, "
	    "ending 4242, cvc 123"), "amount 35100 in 2027, ending 4242, "
	    "cvc 123");
	CU_ASSERT_STRING_EQUAL(card_redact(p, "12345678901"), "12345678901");
	/* two spaces end a run: "4242 4242" and "4242 4242 4242" are apart */
	CU_ASSERT_STRING_EQUAL(card_redact(p, "4242 4242  4242 4242"),
	    "4242 4242  4242 4242");
	CU_ASSERT_STRING_EQUAL(card_redact(p, "ends with a space 4242 "),
	    "ends with a space 4242 ");
	CU_ASSERT_STRING_EQUAL(card_redact(p, ""), "");
	CU_ASSERT_STRING_EQUAL(card_redact(p, NULL), "");
}

static void
test_cleanup(void)
{
	if (pool != NULL)
		bh_pool_free(pool);
	pool = NULL;
	CU_PASS("pool released");
}

int
bh_test_register(void)
{
	static CU_TestInfo tests[] = {
		{ "Luhn check digits", test_luhn },
		{ "12 to 19 digits, nothing else", test_digits },
		{ "brand by issuer range", test_brand },
		{ "lengths per brand", test_length },
		{ "security code length", test_cvc },
		{ "expiry: valid through its month", test_expiry },
		{ "card numbers redacted from text", test_redact },
		{ "release the pool", test_cleanup },
		CU_TEST_INFO_NULL
	};

	return bh_test_add_suite("payments: cards", tests);
}
