/*
 * card.c - what can be checked about a card without asking the bank,
 * and the redaction of card numbers from text bound for a log.
 *
 * Checking locally spares the bank (and the guest) a round trip for a
 * typo: a number that fails the Luhn check, a brand we do not take, a
 * card past its expiry, a security code of the wrong length.  The number
 * itself is never kept: payments stores the brand and last four digits.
 */
#include <ctype.h>
#include <string.h>
#include <time.h>

#include "payments.h"

#define CARD_MIN_DIGITS 12
#define CARD_MAX_DIGITS 19

bool
card_number_digits(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return i >= CARD_MIN_DIGITS && i <= CARD_MAX_DIGITS;
}

bool
card_luhn_valid(const char *s)
{
	size_t len = strlen(s), i;
	unsigned sum = 0, d;

	if (len == 0)
		return false;
	/* From the right: every second digit doubled, 9 taken off when
	 * the double has two digits. */
	for (i = 0; i < len; i++) {
		d = (unsigned)(s[len - 1 - i] - '0');
		if (d > 9)
			return false;
		if (i % 2 == 1) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return sum % 10 == 0;
}

/* The number made of the first n digits of s (s has at least n). */
static unsigned
prefix(const char *s, size_t n)
{
	unsigned v = 0;
	size_t i;

	for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	return i == n ? v : 0;
}

/*
 * The issuer identification ranges of the networks (ISO/IEC 7812), as
 * the well-known payment providers recognise them.
 */
enum card_brand
card_brand_of(const char *s)
{
	unsigned two, three, four, six;

	if (strlen(s) < 6)
		return CARD_UNKNOWN;
	two = prefix(s, 2);
	three = prefix(s, 3);
	four = prefix(s, 4);
	six = prefix(s, 6);
	if (s[0] == '4')
		return CARD_VISA;
	if ((two >= 51 && two <= 55) || (four >= 2221 && four <= 2720))
		return CARD_MASTERCARD;
	if (two == 34 || two == 37)
		return CARD_AMEX;
	if (four == 6011 || two == 65 || (three >= 644 && three <= 649) ||
	    (six >= 622126 && six <= 622925))
		return CARD_DISCOVER;
	if (two == 36 || two == 38 || two == 39 || (three >= 300 &&
	    three <= 305) || three == 309)
		return CARD_DINERS;
	if (four >= 3528 && four <= 3589)
		return CARD_JCB;
	if (two == 62 || two == 81)
		return CARD_UNIONPAY;
	return CARD_UNKNOWN;
}

bool
card_length_valid(enum card_brand brand, size_t len)
{
	switch (brand) {
	case CARD_VISA:
		return len == 13 || len == 16 || len == 19;
	case CARD_MASTERCARD:
		return len == 16;
	case CARD_AMEX:
		return len == 15;
	case CARD_DISCOVER:
	case CARD_JCB:
	case CARD_UNIONPAY:
		return len >= 16 && len <= 19;
	case CARD_DINERS:
		return len >= 14 && len <= 19;
	case CARD_UNKNOWN:
		break;
	}
	return false;
}

const char *
card_brand_name(enum card_brand brand)
{
	switch (brand) {
	case CARD_VISA:
		return "visa";
	case CARD_MASTERCARD:
		return "mastercard";
	case CARD_AMEX:
		return "amex";
	case CARD_DISCOVER:
		return "discover";
	case CARD_DINERS:
		return "diners";
	case CARD_JCB:
		return "jcb";
	case CARD_UNIONPAY:
		return "unionpay";
	case CARD_UNKNOWN:
		break;
	}
	return "unknown";
}

int
card_cvc_digits(enum card_brand brand)
{
	return brand == CARD_AMEX ? 4 : 3;
}

bool
card_cvc_valid(const char *s, int n)
{
	int i;

	for (i = 0; s[i] != '\0'; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return i == n;
}

bool
card_expired(int64_t exp_month, int64_t exp_year, time_t now)
{
	struct tm tm;
	int64_t year, month;

	if (gmtime_r(&now, &tm) == NULL)
		return true;
	year = (int64_t)tm.tm_year + 1900;
	month = (int64_t)tm.tm_mon + 1;
	/* Valid through the last day of its month. */
	return exp_year < year || (exp_year == year && exp_month < month);
}

/* The length of the card-number-like run at s: digits, each separated
 * from the next by at most one space or dash; *ndigits gets how many
 * digits it holds.  The run ends on its last digit. */
static size_t
digit_run(const char *s, size_t *ndigits)
{
	size_t i = 0, end = 0, n = 0;

	while (isdigit((unsigned char)s[i])) {
		n++;
		end = ++i;
		if ((s[i] == ' ' || s[i] == '-') &&
		    isdigit((unsigned char)s[i + 1]))
			i++;
	}
	*ndigits = n;
	return end;
}

char *
card_redact(bh_pool *pool, const char *text)
{
	size_t i = 0, run, ndigits;
	bh_buf out;

	bh_buf_init(&out, pool);
	if (text == NULL)
		return out.data;
	while (text[i] != '\0') {
		/* Only at the start of a digit run: "x12345..." counts, the
		 * tail of a longer run does not start another. */
		if (isdigit((unsigned char)text[i]) && (i == 0 ||
		    !isdigit((unsigned char)text[i - 1]))) {
			run = digit_run(text + i, &ndigits);
			if (ndigits >= CARD_MIN_DIGITS)
				bh_buf_puts(&out, "[redacted]");
			else
				bh_buf_append(&out, text + i, run);
			i += run;
			continue;
		}
		bh_buf_append(&out, text + i, 1);
		i++;
	}
	return out.data;
}
