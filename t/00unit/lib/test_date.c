/*
 * test_date.c - date.c: strict YYYY-MM-DD parsing, leap years, the
 * range, formatting back, today.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "runner.h"

static bh_pool *pool;

static void
free_pool(void)
{
	if (pool != NULL)
		bh_pool_free(pool);
	pool = NULL;
}

static bool
parse(const char *s, int64_t *days)
{
	return bh_date_parse(s, strlen(s), days);
}

/* Days of s, which must parse. */
static int64_t
days_of(const char *s)
{
	int64_t days = -12345;

	CU_ASSERT_TRUE(parse(s, &days));
	return days;
}

static void
test_known_dates(void)
{
	CU_ASSERT_EQUAL(days_of("1970-01-01"), 0);
	CU_ASSERT_EQUAL(days_of("1970-01-02"), 1);
	CU_ASSERT_EQUAL(days_of("1970-12-31"), 364);
	CU_ASSERT_EQUAL(days_of("1971-01-01"), 365);
	CU_ASSERT_EQUAL(days_of("2000-01-01"), 10957);
	CU_ASSERT_EQUAL(days_of("2000-03-01"), 11017);
	CU_ASSERT_EQUAL(days_of("2027-01-10"), 20828);
	CU_ASSERT_EQUAL(days_of("2038-01-19"), 24855);
	CU_ASSERT_EQUAL(days_of("9999-12-31"), 2932896);
	/* A stay's nights are checkout - checkin, across a month and a
	 * leap day. */
	CU_ASSERT_EQUAL(days_of("2028-03-01") - days_of("2028-02-28"), 2);
	CU_ASSERT_EQUAL(days_of("2027-03-01") - days_of("2027-02-28"), 1);
	CU_ASSERT_EQUAL(days_of("2027-01-01") - days_of("2026-12-31"), 1);
}

static void
test_leap_years(void)
{
	int64_t days;

	CU_ASSERT_TRUE(parse("2028-02-29", &days));
	CU_ASSERT_TRUE(parse("2000-02-29", &days)); /* divisible by 400 */
	CU_ASSERT_TRUE(parse("2400-02-29", &days));
	CU_ASSERT_TRUE(parse("1972-02-29", &days));
	CU_ASSERT_FALSE(parse("2027-02-29", &days));
	CU_ASSERT_FALSE(parse("2100-02-29", &days)); /* by 100, not 400 */
	CU_ASSERT_FALSE(parse("1900-02-29", &days));
	CU_ASSERT_FALSE(parse("2028-02-30", &days));
}

static void
test_rejects(void)
{
	static const char *const bad[] = {
		"", "2027", "2027-01", "2027-1-01", "2027-01-1", "27-01-01",
		"2027-01-01x", "2027-01-01 ", " 2027-01-01", "2027-01-01T00:00",
		"2027/01/01", "2027-01/01", "20270101", "2027-00-10",
		"2027-13-01", "2027-01-00", "2027-01-32", "2027-04-31",
		"2027-06-31", "2027-09-31", "2027-11-31", "1969-12-31",
		"0000-01-01", "10000-01-01", "+2027-01-01", "-2027-01-01",
		"2027-+1-01", "2027--1-01", "2027-01--1", "202a-01-01",
		"2027-0a-01", "2027-01-0a", "２０２７-01-01", "2027-01-01\n",
		"2027_01_01", "2027-1--01",
	};
	int64_t days = 77;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_FALSE(parse(bad[i], &days));
		CU_ASSERT_EQUAL(days, 77); /* untouched on failure */
	}
	/* The length is what counts: a NUL inside, or a longer buffer. */
	CU_ASSERT_FALSE(bh_date_parse("2027-01-0\0", 10, &days));
	CU_ASSERT_FALSE(bh_date_parse("2027-01-01", 9, &days));
	CU_ASSERT_TRUE(bh_date_parse("2027-01-01junk", 10, &days));
	CU_ASSERT_EQUAL(days, 20819);
	CU_ASSERT_FALSE(bh_date_parse(NULL, 10, &days));
}

static void
test_format(void)
{
	char text[11];
	int64_t d, back;

	pool = bh_pool_new();
	CU_ASSERT_STRING_EQUAL(bh_date_format(pool, 0), "1970-01-01");
	CU_ASSERT_STRING_EQUAL(bh_date_format(pool, 20828), "2027-01-10");
	CU_ASSERT_STRING_EQUAL(bh_date_format(pool, 2932896), "9999-12-31");
	CU_ASSERT_STRING_EQUAL(bh_date_format(pool, -1), "1969-12-31");
	CU_ASSERT_STRING_EQUAL(bh_date_format(pool, 21243), "2028-02-29");
	/* Every day of the range round-trips (a sample: each 7th day). */
	for (d = 0; d <= 2932896; d += 7) {
		snprintf(text, sizeof(text), "%s", bh_date_format(pool, d));
		if (!parse(text, &back) || back != d) {
			CU_FAIL("round trip");
			break;
		}
		if (d % 7000 == 0)
			bh_pool_reset(pool);
	}
	/* Absurd values are clamped, never overflow (UBSan watches). */
	CU_ASSERT_PTR_NOT_NULL(bh_date_format(pool, INT64_MAX));
	CU_ASSERT_PTR_NOT_NULL(bh_date_format(pool, INT64_MIN));
	free_pool();
}

static void
test_today(void)
{
	int64_t today = bh_date_today();
	time_t now = time(NULL);
	struct tm tm;
	char text[16];
	int64_t parsed;

	gmtime_r(&now, &tm);
	strftime(text, sizeof(text), "%Y-%m-%d", &tm);
	CU_ASSERT_TRUE(parse(text, &parsed));
	/* Midnight may pass between the two clocks. */
	CU_ASSERT_TRUE(today == parsed || today + 1 == parsed);
	CU_ASSERT_EQUAL(today, (int64_t)now / 86400 - (parsed - today));
}

int
bh_test_register(void)
{
	static const CU_TestInfo date[] = {
		{ "known dates", test_known_dates },
		{ "leap years", test_leap_years },
		{ "strict form and range", test_rejects },
		{ "format", test_format },
		{ "today", test_today },
		CU_TEST_INFO_NULL,
	};
	int rc;

	atexit(free_pool);
	if ((rc = bh_test_add_suite("date", date)) != CUE_SUCCESS)
		return rc;
	return CUE_SUCCESS;
}
