/*
 * date.c - calendar dates as days since 1970-01-01, the way BH_DATE
 * parameters carry them and stays are counted (checkout - checkin is the
 * number of nights).
 *
 * The conversions are Howard Hinnant's days_from_civil/civil_from_days
 * (proleptic Gregorian calendar): exact, branch-light and free of the
 * time zone and locale that mktime/strptime would bring in.
 */
#include <inttypes.h>
#include <time.h>

#include "internal.h"

/* The dates bh_date_parse takes: 1970-01-01 .. 9999-12-31. */
#define DATE_MIN_YEAR 1970
#define DATE_MAX_YEAR 9999

/* Days from 0000-03-01 to 1970-01-01 in the algorithm's reckoning. */
#define EPOCH_SHIFT 719468

/* bh_date_format clamps to this many days either way, far beyond any
 * year that fits four digits, so that the arithmetic cannot overflow. */
#define FORMAT_LIMIT (INT64_C(1) << 40)

static bool
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int64_t y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - EPOCH_SHIFT;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += EPOCH_SHIFT;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* The value of the n ASCII digits at s, or -1 if one is not a digit. */
static int
digits(const char *s, int n)
{
	int v = 0;

	for (; n > 0; n--, s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

bool
bh_date_parse(const char *s, size_t len, int64_t *days)
{
	int y, m, d;

	if (s == NULL || len != 10 || s[4] != '-' || s[7] != '-')
		return false;
	if ((y = digits(s, 4)) < DATE_MIN_YEAR || y > DATE_MAX_YEAR ||
	    (m = digits(s + 5, 2)) < 1 || m > 12 ||
	    (d = digits(s + 8, 2)) < 1 || d > days_in_month(y, m))
		return false;
	*days = days_from_civil(y, m, d);
	return true;
}

char *
bh_date_format(bh_pool *pool, int64_t days)
{
	int64_t y;
	int m, d;

	if (days > FORMAT_LIMIT)
		days = FORMAT_LIMIT;
	else if (days < -FORMAT_LIMIT)
		days = -FORMAT_LIMIT;
	civil_from_days(days, &y, &m, &d);
	return bh_psprintf(pool, "%04" PRId64 "-%02d-%02d", y, m, d);
}

int64_t
bh_date_today(void)
{
	struct timespec ts;
	int64_t secs;

	clock_gettime(CLOCK_REALTIME, &ts);
	secs = (int64_t)ts.tv_sec;
	/* Floor division: a clock before 1970 is still a whole day. */
	return secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
}
