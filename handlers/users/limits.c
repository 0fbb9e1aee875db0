/*
 * limits.c - rate limits of the public endpoints.
 *
 * Per client address, in fixed windows of BH_USERS_LIMIT_WINDOW seconds
 * (table rate_counters): sign-ups, requests for a mailed code (password
 * reset, verification mail again) and codes sent back (verify-email,
 * reset confirm).  Over the limit: 429 too-many-requests with
 * Retry-After, before anything else is looked at or hashed.
 *
 * Per account, the mails themselves (counted from the codes stored in
 * the last window): past the limit, an account gets a new code only when
 * none of the kind is live, so that nobody can fill a mailbox, nor keep
 * spending the owner's code with new requests.  That limit never answers
 * 429: the answer must not tell whether an account has the address.
 */
#include <stdlib.h>
#include <string.h>

#include "users.h"

static const char *const kind_names[] = { "signup", "mail", "code" };

static long long
limit_of(enum users_limit kind)
{
	switch (kind) {
	case USERS_LIMIT_SIGNUP:
		return users_cfg.signup_limit_address;
	case USERS_LIMIT_MAIL:
		return users_cfg.mail_limit_address;
	case USERS_LIMIT_CODE:
		return users_cfg.code_limit_address;
	}
	return 0;
}

/* One more in (kind, subject)'s window, a new window when the last one
 * is over; the count and the seconds left in the window. */
static const char count_sql[] =
	"INSERT INTO rate_counters AS c (kind, subject, window_start, count)"
	" VALUES ($1, $2, now(), 1) ON CONFLICT (kind, subject) DO UPDATE SET"
	" window_start = CASE WHEN c.window_start"
	"  + make_interval(secs => $3::int) <= now() THEN now()"
	"  ELSE c.window_start END,"
	" count = CASE WHEN c.window_start + make_interval(secs => $3::int)"
	"  <= now() THEN 1 ELSE c.count + 1 END"
	" RETURNING count, greatest(1, ceil(extract(epoch FROM"
	"  c.window_start + make_interval(secs => $3::int) - now())))::bigint";
/* Windows over, a bounded batch at a time. */
static const char sweep_sql[] =
	"DELETE FROM rate_counters WHERE ctid IN (SELECT ctid FROM"
	" rate_counters WHERE window_start < now() -"
	" make_interval(secs => $1::int) LIMIT 1000)";

int
users_limit_address(bh_request *req, enum users_limit kind)
{
	const char *params[3];
	unsigned char dice;
	long long count;
	PGresult *res;

	params[0] = kind_names[kind];
	params[1] = req->remote_addr != NULL ? req->remote_addr : "unknown";
	params[2] = bh_psprintf(req->pool, "%lld", users_cfg.limit_window);
	if ((res = bh_db_query(req, count_sql, 3, params)) == NULL)
		return -1;
	count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (count > limit_of(kind)) {
		bh_add_header(req, "Retry-After", PQgetvalue(res, 0, 1));
		bh_problem(req, 429, BH_PROBLEM_TOO_MANY_REQUESTS, NULL,
		    "too many requests of this kind from your address; try "
		    "again in %s seconds", PQgetvalue(res, 0, 1));
		return -1;
	}
	/* Now and then, not at every request: the sweep is not free. */
	bh_random_bytes(&dice, 1);
	if (dice == 0 && bh_db_query(req, sweep_sql, 1, &params[2]) == NULL)
		bh_log(BH_LOG_WARN, "could not sweep the rate counters");
	return 0;
}

/* The account's codes of the purpose made in the window, and whether
 * one is live.  Run with the account's row locked, so that two
 * concurrent requests count each other. */
static const char mails_sql[] =
	"SELECT count(*), bool_or(used_at IS NULL AND expires_at > now())"
	" FROM email_tokens WHERE user_id = $1 AND purpose = $2"
	" AND created_at > now() - make_interval(secs => $3::int)";

int
users_mail_allowed(bh_request *req, const char *user_id,
    enum users_token_purpose purpose)
{
	const char *params[3];
	long long limit;
	PGresult *res;

	params[0] = user_id;
	params[1] = purpose == USERS_TOKEN_VERIFY ? "verify" : "reset";
	params[2] = bh_psprintf(req->pool, "%lld", users_cfg.limit_window);
	limit = purpose == USERS_TOKEN_VERIFY ? users_cfg.verify_mail_limit :
	    users_cfg.reset_mail_limit;
	if ((res = bh_db_query(req, mails_sql, 3, params)) == NULL)
		return -1;
	if (strtoll(PQgetvalue(res, 0, 0), NULL, 10) < limit)
		return 1;
	/* bool_or of no row is NULL (""): nothing live */
	return strcmp(PQgetvalue(res, 0, 1), "t") != 0;
}
