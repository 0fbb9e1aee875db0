/*
 * money.c - ISO 4217 currencies and amounts in minor units.
 *
 * Money is never a float: an int64 count of the currency's minor unit
 * (cents, fils) and a code.  The table lists the active codes of
 * ISO 4217 (list one) that have a minor unit; the precious metals, SDR
 * and test codes (XAU, XDR, XTS, XXX...) have none and are not money a
 * hotel charges, so they are unknown here.
 */
#include <string.h>

#include "internal.h"

/* Codes whose minor unit is not 2 digits; every other listed code has 2. */
static const struct {
	const char *codes; /* three letters each, no separator */
	int exponent;
} exceptions[] = {
	{ "BIFCLPDJFGNFISKJPYKMFKRWPYGRWFUGXUYIVNDVUVXAFXOFXPF", 0 },
	{ "BHDIQDJODKWDLYDOMRTND", 3 },
	{ "CLFUYW", 4 },
};

/* The 2-digit codes, sorted (for reading, not for searching). */
static const char two_digit[] =
    "AEDAFNALLAMDANGAOAARSAUDAWGAZN"
    "BAMBBDBDTBGNBMDBNDBOBBOVBRLBSDBTNBWPBYNBZD"
    "CADCDFCHECHFCHWCNYCOPCOUCRCCUCCUPCVECZK"
    "DKKDOPDZD" "EGPERNETBEUR" "FJDFKP"
    "GBPGELGHSGIPGMDGTQGYD" "HKDHNLHTGHUF"
    "IDRILSINRIRR" "JMD" "KESKGSKHRKPWKYDKZT"
    "LAKLBPLKRLRDLSL"
    "MADMDLMGAMKDMMKMNTMOPMRUMURMVRMWKMXNMXVMYRMZN"
    "NADNGNNIONOKNPRNZD" "PABPENPGKPHPPKRPLN" "QAR"
    "RONRSDRUB" "SARSBDSCRSDGSEKSGDSHPSLESLLSOSSRDSSPSTNSVCSYPSZL"
    "THBTJSTMTTOPTRYTTDTWDTZS" "UAHUSDUSNUYUUZS"
    "VEDVES" "WST" "XCDXCG" "YER" "ZARZMWZWGZWL";

/* True if the three letters code[0..3) are one of the codes in list. */
static bool
listed(const char *list, const char *code)
{
	size_t i, n = strlen(list);

	for (i = 0; i + 3 <= n; i += 3)
		if (memcmp(list + i, code, 3) == 0)
			return true;
	return false;
}

int
bh_currency_exponent(const char *code)
{
	size_t i;

	if (code == NULL)
		return -1;
	/* Exactly three upper-case ASCII letters: "eur" and "EURO" are not
	 * codes, and no list entry can match across two codes. */
	for (i = 0; i < 3; i++)
		if (code[i] < 'A' || code[i] > 'Z')
			return -1;
	if (code[3] != '\0')
		return -1;
	for (i = 0; i < sizeof(exceptions) / sizeof(exceptions[0]); i++)
		if (listed(exceptions[i].codes, code))
			return exceptions[i].exponent;
	return listed(two_digit, code) ? 2 : -1;
}

char *
bh_money_format(bh_pool *pool, int64_t amount, const char *currency)
{
	char digits[32], out[64];
	uint64_t magnitude;
	size_t ndigits = 0, o = 0, i, whole;
	int exponent;

	if ((exponent = bh_currency_exponent(currency)) < 0)
		return NULL;
	/* -(INT64_MIN) does not fit an int64; in uint64 arithmetic it does. */
	magnitude = amount < 0 ? -(uint64_t)amount : (uint64_t)amount;
	/* The digits, least significant first, at least one more than the
	 * exponent so that 5 cents reads "0.05". */
	do {
		digits[ndigits++] = (char)('0' + magnitude % 10);
		magnitude /= 10;
	} while (magnitude != 0);
	while (ndigits < (size_t)exponent + 1)
		digits[ndigits++] = '0';

	if (amount < 0)
		out[o++] = '-';
	whole = ndigits - (size_t)exponent;
	for (i = 0; i < whole; i++) {
		if (i > 0 && (whole - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[ndigits - 1 - i];
	}
	if (exponent > 0) {
		out[o++] = '.';
		for (i = whole; i < ndigits; i++)
			out[o++] = digits[ndigits - 1 - i];
	}
	out[o++] = ' ';
	memcpy(out + o, currency, 3);
	o += 3;
	return bh_pstrndup(pool, out, o);
}
