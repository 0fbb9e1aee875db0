/*
 * test_money.c - money.c: currency exponents and amounts for people.
 */
#include <stdlib.h>
#include <string.h>

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

static void
test_exponents(void)
{
	static const struct {
		const char *code;
		int exponent;
	} cases[] = {
		{ "EUR", 2 }, { "USD", 2 }, { "GBP", 2 }, { "CHF", 2 },
		{ "PLN", 2 }, { "BRL", 2 }, { "SEK", 2 }, { "AED", 2 },
		{ "ZWL", 2 }, { "IDR", 2 }, { "MGA", 2 }, { "UYU", 2 },
		{ "JPY", 0 }, { "KRW", 0 }, { "ISK", 0 }, { "CLP", 0 },
		{ "VND", 0 }, { "XAF", 0 }, { "XOF", 0 }, { "XPF", 0 },
		{ "BIF", 0 }, { "UGX", 0 }, { "UYI", 0 }, { "VUV", 0 },
		{ "PYG", 0 }, { "RWF", 0 }, { "KMF", 0 }, { "GNF", 0 },
		{ "DJF", 0 },
		{ "BHD", 3 }, { "IQD", 3 }, { "JOD", 3 }, { "KWD", 3 },
		{ "LYD", 3 }, { "OMR", 3 }, { "TND", 3 },
		{ "CLF", 4 }, { "UYW", 4 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CU_ASSERT_EQUAL(bh_currency_exponent(cases[i].code),
		    cases[i].exponent);
}

static void
test_unknown_codes(void)
{
	static const char *const bad[] = {
		"", "E", "EU", "eur", "Eur", "EUr", "EURO", "EUR ", " EUR",
		"XXX", "XTS", "XAU", "XDR", "ABC", "ZZZ", "DEM", "FRF", "HRK",
		"E1R", "€", "EUR\n", "RUBEUR", "UREURE",
		/* Across two codes of the table: "AFN" "ALL" -> "FNA". */
		"FNA", "EDA", "NAL",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(bh_currency_exponent(bad[i]), -1);
	CU_ASSERT_EQUAL(bh_currency_exponent(NULL), -1);
}

static void
test_format(void)
{
	static const struct {
		int64_t amount;
		const char *currency, *text;
	} cases[] = {
		{ 0, "EUR", "0.00 EUR" },
		{ 5, "EUR", "0.05 EUR" },
		{ 99, "EUR", "0.99 EUR" },
		{ 100, "EUR", "1.00 EUR" },
		{ 11700, "EUR", "117.00 EUR" },
		{ 35100, "EUR", "351.00 EUR" },
		{ 123450, "EUR", "1,234.50 EUR" },
		{ 99999999, "EUR", "999,999.99 EUR" },
		{ 100000000, "EUR", "1,000,000.00 EUR" },
		{ -5, "EUR", "-0.05 EUR" },
		{ -123450, "USD", "-1,234.50 USD" },
		{ 0, "JPY", "0 JPY" },
		{ 999, "JPY", "999 JPY" },
		{ 1000, "JPY", "1,000 JPY" },
		{ 15000, "JPY", "15,000 JPY" },
		{ -15000, "JPY", "-15,000 JPY" },
		{ 1234567, "KRW", "1,234,567 KRW" },
		{ 500, "BHD", "0.500 BHD" },
		{ -500, "BHD", "-0.500 BHD" },
		{ 1234567, "KWD", "1,234.567 KWD" },
		{ 1, "CLF", "0.0001 CLF" },
		{ 123456789, "CLF", "12,345.6789 CLF" },
		{ INT64_MAX, "EUR", "92,233,720,368,547,758.07 EUR" },
		{ INT64_MIN, "EUR", "-92,233,720,368,547,758.08 EUR" },
		{ INT64_MIN, "JPY", "-9,223,372,036,854,775,808 JPY" },
		{ INT64_MAX, "CLF", "922,337,203,685,477.5807 CLF" },
	};
	const char *got;
	size_t i;

	pool = bh_pool_new();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = bh_money_format(pool, cases[i].amount,
		    cases[i].currency);
		CU_ASSERT_PTR_NOT_NULL(got);
		if (got != NULL && strcmp(got, cases[i].text) != 0) {
			fprintf(stderr, "\n  got %s, wanted %s\n", got,
			    cases[i].text);
			CU_FAIL("format");
		}
	}
	CU_ASSERT_PTR_NULL(bh_money_format(pool, 100, "eur"));
	CU_ASSERT_PTR_NULL(bh_money_format(pool, 100, "XXX"));
	CU_ASSERT_PTR_NULL(bh_money_format(pool, 100, NULL));
	free_pool();
}

int
bh_test_register(void)
{
	static const CU_TestInfo money[] = {
		{ "exponents", test_exponents },
		{ "unknown codes", test_unknown_codes },
		{ "format", test_format },
		CU_TEST_INFO_NULL,
	};
	int rc;

	atexit(free_pool);
	if ((rc = bh_test_add_suite("money", money)) != CUE_SUCCESS)
		return rc;
	return CUE_SUCCESS;
}
