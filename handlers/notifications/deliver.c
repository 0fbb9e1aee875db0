/*
 * deliver.c - `bellhop-notifications deliver [--once]`, the delivery
 * worker, and the operator's `purge --days N` and `requeue [--id N |
 * --failed-since SECONDS]`.
 *
 * One message at a time, each in its own transaction:
 *
 *	BEGIN;
 *	SELECT ... FROM emails
 *	    WHERE status = 'queued' AND next_attempt_at <= now()
 *	    ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED;
 *	-- send it over SMTP (libcurl) while holding the row lock
 *	INSERT INTO email_attempts ...; UPDATE emails ...;
 *	COMMIT;
 *
 * Several workers never take the same row (SKIP LOCKED).  A worker killed
 * mid-send leaves its transaction to be rolled back by PostgreSQL, so the
 * message is still queued and another worker sends it: nothing is lost.
 * The one duplicate SMTP allows is a worker dying (or the database going
 * away) after the server answered 250 to the end of DATA and before the
 * COMMIT; the message then goes again with the same Message-ID, which is
 * how the recipient's software can spot it.
 *
 * Waiting: LISTEN notifications_outbox (a trigger notifies on insert)
 * wakes the worker at once; it also polls every BH_DELIVERY_POLL_MS, for
 * retries that fall due and in case a notification was missed.
 *
 * Signals: SIGTERM and SIGINT stay blocked except while the worker waits,
 * so a message in hand is always finished and recorded before it exits 0.
 *
 * Giving up.  A 5xx reply to RCPT TO or DATA (this recipient, this
 * message) fails a message at once.  Any other refusal - a 4xx, or a 5xx
 * to the greeting, EHLO, STARTTLS, AUTH or MAIL FROM, which is the
 * server's or our configuration's trouble - is retried and counted, up to
 * BH_DELIVERY_MAX_ATTEMPTS.  An attempt no server answered (no connection,
 * a timeout, TLS trouble) is retried without being counted: an outage
 * must not fail mail, so such a message gives up only once it has been
 * queued BH_DELIVERY_MAX_AGE, like an MTA's queue lifetime.
 *
 * Secrets.  Bodies carry verification and reset codes: a message's text,
 * HTML and attachments are cleared as it is sent, and a failed one's
 * BH_FAILED_BODY_RETENTION after it failed (requeue needs them until then).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "notifications.h"

#define CHANNEL "notifications_outbox"
#define RECONNECT_FIRST_MS 500
#define RECONNECT_MAX_MS 30000
/* How often an idle worker clears the bodies of messages failed long ago. */
#define BODY_CLEANUP_EVERY_MS 1000

static volatile sig_atomic_t stop_signal;

static void
on_stop(int sig)
{
	stop_signal = sig;
}

/* True once SIGTERM or SIGINT came, whether or not it was delivered yet
 * (they are blocked outside waits). */
static bool
stopping(void)
{
	sigset_t pending;

	if (stop_signal != 0)
		return true;
	if (sigpending(&pending) == 0 && (sigismember(&pending, SIGTERM) ||
	    sigismember(&pending, SIGINT)))
		return true;
	return false;
}

/* Waits up to ms milliseconds for fd to be readable (fd < 0: just
 * sleeps), with the stop signals unblocked for the wait only. */
static void
wait_for(int fd, long ms, const sigset_t *wait_mask)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	fd_set readable;

	if (stopping())
		return;
	FD_ZERO(&readable);
	if (fd >= 0 && fd < FD_SETSIZE)
		FD_SET(fd, &readable);
	(void)pselect(fd >= 0 && fd < FD_SETSIZE ? fd + 1 : 0, &readable,
	    NULL, NULL, &ts, wait_mask);
}

/* ------------------------------------------------------------- sending */

struct upload {
	const char *data;
	size_t len, off;
};

static size_t
read_upload(char *buf, size_t size, size_t nitems, void *arg)
{
	struct upload *up = arg;
	size_t n = size * nitems;

	if (n > up->len - up->off)
		n = up->len - up->off;
	memcpy(buf, up->data + up->off, n);
	up->off += n;
	return n;
}

enum outcome { SENT, TEMPORARY, PERMANENT };

static const char *const outcome_names[] = { "sent", "temporary",
    "permanent" };

/* The steps of an SMTP delivery, as the server sees them. */
enum smtp_step { SMTP_GREETING, SMTP_EHLO, SMTP_STARTTLS, SMTP_AUTH,
    SMTP_MAIL, SMTP_RCPT, SMTP_DATA };

static const char *const smtp_step_names[] = { "greeting", "ehlo",
    "starttls", "auth", "mail", "rcpt", "data" };

/* Where the conversation stood, followed through libcurl's debug
 * callback: libcurl's error codes do not say which command a reply
 * refused (MAIL FROM and RCPT TO both give CURLE_SEND_ERROR). */
struct smtp_trace {
	enum smtp_step step;      /* the last command sent */
	enum smtp_step replied;   /* the command the last reply answered */
	long reply;               /* that reply's code, 0 before any */
	bool quitting;            /* QUIT sent: what follows is not delivery */
};

struct attempt {
	enum outcome outcome;
	bool refused;             /* the server refused a step with a reply */
	enum smtp_step step;      /* the step that failed, for a failure */
	long smtp_code;           /* the refusal's (or 250's) code, else 0 */
	char error[CURL_ERROR_SIZE + 64];
};

/* libcurl's CURLOPT_DEBUGFUNCTION: follows commands (CURLINFO_HEADER_OUT,
 * one per call) and replies (CURLINFO_HEADER_IN, one line per call).
 * Nothing of the text is kept: an AUTH line holds the password. */
static int
trace_smtp(CURL *curl, curl_infotype type, char *data, size_t size,
    void *arg)
{
	static const struct {
		const char *verb;
		enum smtp_step step;
	} verbs[] = {
		{ "EHLO", SMTP_EHLO }, { "HELO", SMTP_EHLO },
		{ "STARTTLS", SMTP_STARTTLS }, { "AUTH", SMTP_AUTH },
		{ "MAIL", SMTP_MAIL }, { "RCPT", SMTP_RCPT },
		{ "DATA", SMTP_DATA },
	};
	struct smtp_trace *t = arg;
	size_t i, n;

	(void)curl;
	if (t->quitting)
		return 0;
	if (type == CURLINFO_HEADER_OUT) {
		if (size >= 4 && strncasecmp(data, "QUIT", 4) == 0) {
			t->quitting = true;
			return 0;
		}
		/* Other lines (an AUTH exchange's) leave the step as it is. */
		for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
			n = strlen(verbs[i].verb);
			if (size > n &&
			    strncasecmp(data, verbs[i].verb, n) == 0 &&
			    (data[n] == ' ' || data[n] == '\r' ||
			    data[n] == '\n')) {
				t->step = verbs[i].step;
				break;
			}
		}
	} else if (type == CURLINFO_HEADER_IN && size >= 3 &&
	    data[0] >= '1' && data[0] <= '5' &&
	    data[1] >= '0' && data[1] <= '9' &&
	    data[2] >= '0' && data[2] <= '9' &&
	    (size == 3 || data[3] != '-')) {
		/* A reply's last line ("250-" lines go before it). */
		t->reply = (data[0] - '0') * 100 + (data[1] - '0') * 10 +
		    (data[2] - '0');
		t->replied = t->step;
	}
	return 0;
}

/* Sends msg[0..len) to rcpt over SMTP.  Fills *at. */
static void
smtp_send(const char *rcpt, const char *msg, size_t len, struct attempt *at)
{
	char errbuf[CURL_ERROR_SIZE] = "", rcpt_path[MAIL_MAX_ADDRESS + 3],
	    from_path[MAIL_MAX_ADDRESS + 3];
	struct curl_slist *rcpts = NULL;
	struct upload up = { msg, len, 0 };
	struct smtp_trace trace;
	CURLcode rc;
	CURL *curl;

	memset(at, 0, sizeof(*at));
	memset(&trace, 0, sizeof(trace));
	if ((curl = curl_easy_init()) == NULL) {
		at->outcome = TEMPORARY;
		snprintf(at->error, sizeof(at->error), "curl_easy_init failed");
		return;
	}
	snprintf(from_path, sizeof(from_path), "<%s>", notif_cfg.from_address);
	snprintf(rcpt_path, sizeof(rcpt_path), "<%s>", rcpt);
	rcpts = curl_slist_append(rcpts, rcpt_path);

	curl_easy_setopt(curl, CURLOPT_URL, notif_cfg.smtp_url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	/* With a debug function, "verbose" goes to it only, not stderr. */
	curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, trace_smtp);
	curl_easy_setopt(curl, CURLOPT_DEBUGDATA, &trace);
	curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
	/* STARTTLS whenever the server offers it (or required). */
	curl_easy_setopt(curl, CURLOPT_USE_SSL, notif_cfg.smtp_tls_required ?
	    (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
	if (notif_cfg.smtp_ca_file != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, notif_cfg.smtp_ca_file);
	if (notif_cfg.smtp_user != NULL) {
		curl_easy_setopt(curl, CURLOPT_USERNAME, notif_cfg.smtp_user);
		if (notif_cfg.smtp_password != NULL)
			curl_easy_setopt(curl, CURLOPT_PASSWORD,
			    notif_cfg.smtp_password);
	}
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT,
	    notif_cfg.smtp_timeout < 10 ? notif_cfg.smtp_timeout : 10L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, notif_cfg.smtp_timeout);
	curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from_path);
	curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpts);
	curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_upload);
	curl_easy_setopt(curl, CURLOPT_READDATA, &up);

	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK) {
		at->outcome = SENT;
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &at->smtp_code);
	} else {
		at->step = trace.step;
		if (trace.reply >= 400 && trace.replied == trace.step) {
			/* The server refused this step.  A 5xx to RCPT TO
			 * (no such user) or DATA (this message) is final;
			 * a 5xx earlier is the server's or our configuration's
			 * trouble, which may be fixed: retried, counted. */
			at->refused = true;
			at->smtp_code = trace.reply;
			at->outcome = trace.reply >= 500 &&
			    (trace.step == SMTP_RCPT ||
			    trace.step == SMTP_DATA) ? PERMANENT : TEMPORARY;
		} else
			/* No server answered: no connection, a timeout, TLS
			 * trouble, the connection lost. */
			at->outcome = TEMPORARY;
		/* The error buffer says more (which step, which reply)
		 * than the code's generic text. */
		snprintf(at->error, sizeof(at->error), "%s",
		    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
	}
	curl_slist_free_all(rcpts);
	curl_easy_cleanup(curl);
}

/* ----------------------------------------------------------- database */

enum step { STEP_DONE, STEP_IDLE, STEP_DB_ERROR };

/* Runs sql on c; returns the result (the caller PQclears it) or NULL after
 * logging, the result cleared. */
static PGresult *
run(PGconn *c, const char *sql, int nparams, const char *const *params,
    int result_format)
{
	PGresult *res = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL,
	    result_format);
	ExecStatusType st = PQresultStatus(res);
	char msg[256];

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	snprintf(msg, sizeof(msg), "%s", PQerrorMessage(c));
	msg[strcspn(msg, "\r\n")] = '\0';
	bh_log(BH_LOG_ERROR, "database: %s", msg);
	PQclear(res);
	return NULL;
}

static void
rollback(PGconn *c)
{
	PGresult *res = PQexec(c, "ROLLBACK");

	PQclear(res);
}

/* Delay before attempt number (attempts + 1), in milliseconds: the base
 * doubled per attempt already made, capped, with half of it random
 * ("equal jitter") so that retries of a batch spread out. */
static long long
retry_delay_ms(long attempts)
{
	long long ms = notif_cfg.retry_base * 1000LL, cap =
	    notif_cfg.retry_max * 1000LL;
	uint32_t r;
	long i;

	for (i = 1; i < attempts && ms < cap; i++)
		ms *= 2;
	if (ms > cap)
		ms = cap;
	if (ms < 2)
		return ms;
	bh_random_bytes(&r, sizeof(r));
	return ms / 2 + (long long)(r % (uint32_t)(ms / 2 + 1));
}

/* The message of row 0 of res (see the SELECT in deliver_one), built. */
static char *
build_message(bh_pool *pool, PGconn *c, PGresult *row, size_t *len)
{
	struct mime_attachment *atts = NULL;
	struct mime_message m;
	const char *params[1];
	unsigned char *data;
	PGresult *res;
	char *msg;
	int i, n;

	memset(&m, 0, sizeof(m));
	m.from = notif_cfg.mail_from;
	m.to = PQgetvalue(row, 0, 1);
	m.subject = PQgetvalue(row, 0, 2);
	m.text = PQgetvalue(row, 0, 3);
	m.html = PQgetisnull(row, 0, 4) ? NULL : PQgetvalue(row, 0, 4);
	m.date = (time_t)strtoll(PQgetvalue(row, 0, 6), NULL, 10);
	/* Stable per row, so a duplicate is recognisable. */
	m.message_id = bh_psprintf(pool, "<bellhop.%s.%s@%s>",
	    PQgetvalue(row, 0, 0), PQgetvalue(row, 0, 7),
	    notif_cfg.from_domain);
	m.boundary_seed = bh_psprintf(pool, "%s_%s", PQgetvalue(row, 0, 0),
	    PQgetvalue(row, 0, 7));

	params[0] = PQgetvalue(row, 0, 0);
	/* Binary results: the attachment's bytes as they are. */
	res = run(c, "SELECT filename, content_type, content "
	    "FROM email_attachments WHERE email_id = $1 ORDER BY position",
	    1, params, 1);
	if (res == NULL)
		return NULL;
	n = PQntuples(res);
	if (n > 0)
		atts = bh_palloc(pool, (size_t)n * sizeof(*atts));
	for (i = 0; i < n; i++) {
		atts[i].filename = bh_pstrndup(pool, PQgetvalue(res, i, 0),
		    (size_t)PQgetlength(res, i, 0));
		atts[i].content_type = bh_pstrndup(pool, PQgetvalue(res, i, 1),
		    (size_t)PQgetlength(res, i, 1));
		/* Bytes, NULs included: copied, not as a string. */
		atts[i].len = (size_t)PQgetlength(res, i, 2);
		data = bh_palloc(pool, atts[i].len + 1);
		memcpy(data, PQgetvalue(res, i, 2), atts[i].len);
		atts[i].data = data;
	}
	m.attachments = atts;
	m.nattachments = (size_t)n;
	msg = mime_build(pool, &m, len);
	PQclear(res);
	return msg;
}

/* The message in hand: the columns of deliver_one's SELECT it needs. */
struct due {
	const char *id;
	long attempts;            /* since it was (re)queued */
	long refusals;            /* of them, the ones a server refused */
	bool expired;             /* queued BH_DELIVERY_MAX_AGE or longer */
};

/* Why a message failed, for the log. */
enum verdict { GOING_ON, FAILED_PERMANENT, FAILED_REFUSALS, FAILED_AGE };

/* What becomes of a message after attempt at. */
static enum verdict
judge(const struct due *d, const struct attempt *at)
{
	if (at->outcome == SENT)
		return GOING_ON;
	if (at->outcome == PERMANENT)
		return FAILED_PERMANENT;
	if (at->refused && d->refusals + 1 >= notif_cfg.max_attempts)
		return FAILED_REFUSALS;
	if (d->expired)
		return FAILED_AGE;
	return GOING_ON;
}

/* Records the attempt at on the row and moves its status on; a message
 * sent (or failed, with BH_FAILED_BODY_RETENTION 0) loses its body.
 * Returns 0 or -1. */
static int
record(PGconn *c, const struct due *d, const struct attempt *at,
    enum verdict verdict)
{
	const char *params[8];
	char code[16], delay[32], max_age[24];
	const char *status;
	PGresult *res;
	bool clear;

	status = at->outcome == SENT ? "sent" :
	    verdict != GOING_ON ? "failed" : "queued";
	clear = at->outcome == SENT ||
	    (verdict != GOING_ON && notif_cfg.failed_body_retention == 0);

	snprintf(code, sizeof(code), "%ld", at->smtp_code);
	params[0] = d->id;
	params[1] = outcome_names[at->outcome];
	params[2] = at->smtp_code >= 100 && at->smtp_code <= 599 ? code : NULL;
	params[3] = at->outcome == SENT ? NULL : at->error;
	params[4] = at->outcome == SENT ? NULL : smtp_step_names[at->step];
	/* Numbered after every earlier attempt, those before a requeue too
	 * (emails.attempts starts again from 0 then).  The row is locked. */
	res = run(c, "INSERT INTO email_attempts (email_id, attempt, result, "
	    "smtp_code, error, step) SELECT $1::bigint, "
	    "coalesce(max(attempt), 0) + 1, $2::text, $3::integer, $4::text, "
	    "$5::text FROM email_attempts WHERE email_id = $1::bigint",
	    5, params, 0);
	if (res == NULL)
		return -1;
	PQclear(res);

	snprintf(delay, sizeof(delay), "%lld", retry_delay_ms(d->attempts + 1));
	snprintf(max_age, sizeof(max_age), "%ld", notif_cfg.max_age);
	params[1] = status;
	params[2] = delay;
	params[3] = at->outcome == SENT ? NULL : at->error;
	params[4] = at->refused ? "1" : "0";
	params[5] = max_age;
	params[6] = clear ? "t" : "f";
	/* The next attempt no later than the age limit: one last try then. */
	res = run(c, "UPDATE emails SET status = $2, attempts = attempts + 1, "
	    "refusals = refusals + $5::integer, "
	    "next_attempt_at = CASE WHEN $2 = 'queued' THEN "
	    "least(clock_timestamp() + $3::bigint * interval '1 millisecond', "
	    "queued_at + $6::bigint * interval '1 second') "
	    "ELSE next_attempt_at END, "
	    "sent_at = CASE WHEN $2 = 'sent' THEN clock_timestamp() END, "
	    "failed_at = CASE WHEN $2 = 'failed' THEN clock_timestamp() END, "
	    "last_error = $4, "
	    "body_text = CASE WHEN $7::boolean THEN NULL ELSE body_text END, "
	    "body_html = CASE WHEN $7::boolean THEN NULL ELSE body_html END, "
	    "body_retained = body_retained AND NOT $7::boolean "
	    "WHERE id = $1", 7, params, 0);
	if (res == NULL)
		return -1;
	PQclear(res);
	if (clear) {
		res = run(c, "DELETE FROM email_attachments "
		    "WHERE email_id = $1", 1, params, 0);
		if (res == NULL)
			return -1;
		PQclear(res);
	}
	return 0;
}

/* Takes the next due message, sends it, records the outcome. */
static enum step
deliver_one(PGconn *c, bh_pool *pool)
{
	static const char *const verdict_text[] = {
		[GOING_ON] = "",
		[FAILED_PERMANENT] = ", failed",
		[FAILED_REFUSALS] =
		    ", failed: BH_DELIVERY_MAX_ATTEMPTS refusals",
		[FAILED_AGE] =
		    ", failed: queued longer than BH_DELIVERY_MAX_AGE",
	};
	struct attempt at;
	enum verdict verdict;
	PGresult *res = NULL, *done;
	const char *to, *params[1];
	char max_age[24];
	struct due d;
	size_t len;
	char *msg;

	if ((done = run(c, "BEGIN", 0, NULL, 0)) == NULL)
		return STEP_DB_ERROR;
	PQclear(done);
	snprintf(max_age, sizeof(max_age), "%ld", notif_cfg.max_age);
	params[0] = max_age;
	res = run(c, "SELECT id, to_address, subject, body_text, body_html, "
	    "attempts, extract(epoch FROM created_at)::bigint, "
	    "to_char(created_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS'), "
	    "refusals, now() >= queued_at + $1::bigint * interval '1 second' "
	    "FROM emails WHERE status = 'queued' AND next_attempt_at <= now() "
	    "ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
	    1, params, 0);
	if (res == NULL)
		goto db_error;
	if (PQntuples(res) == 0) {
		PQclear(res);
		rollback(c);
		return STEP_IDLE;
	}
	d.id = PQgetvalue(res, 0, 0);
	to = PQgetvalue(res, 0, 1);
	d.attempts = strtol(PQgetvalue(res, 0, 5), NULL, 10);
	d.refusals = strtol(PQgetvalue(res, 0, 8), NULL, 10);
	d.expired = strcmp(PQgetvalue(res, 0, 9), "t") == 0;
	if ((msg = build_message(pool, c, res, &len)) == NULL)
		goto db_error;

	smtp_send(to, msg, len, &at);
	verdict = judge(&d, &at);
	if (record(c, &d, &at, verdict) == -1)
		goto db_error;
	if ((done = run(c, "COMMIT", 0, NULL, 0)) == NULL)
		goto db_error;
	PQclear(done);
	/* The recipient's domain only: addresses are personal data. */
	if (at.outcome == SENT)
		bh_log(BH_LOG_INFO, "email %s to %s attempt %ld: sent "
		    "(smtp %ld)", d.id, strchr(to, '@'), d.attempts + 1,
		    at.smtp_code);
	else
		bh_log(BH_LOG_WARN, "email %s to %s attempt %ld: %s at %s, %s%s"
		    ": %s", d.id, strchr(to, '@'), d.attempts + 1,
		    outcome_names[at.outcome], smtp_step_names[at.step],
		    at.refused ? bh_psprintf(pool, "smtp %ld", at.smtp_code) :
		    "no reply (not counted)",
		    verdict == GOING_ON ? ", will retry" :
		    verdict_text[verdict], at.error);
	PQclear(res);
	return STEP_DONE;

db_error:
	/* The message, if one was sent, goes again later: rolled back. */
	PQclear(res);
	if (PQstatus(c) == CONNECTION_OK)
		rollback(c);
	return STEP_DB_ERROR;
}

/* Clears the bodies of messages failed BH_FAILED_BODY_RETENTION ago or
 * more: after that they can no longer be requeued.  Returns 0 or -1. */
static int
clear_failed_bodies(PGconn *c)
{
	const char *params[1];
	char retention[24];
	PGresult *res;

	snprintf(retention, sizeof(retention), "%ld",
	    notif_cfg.failed_body_retention);
	params[0] = retention;
	res = run(c, "WITH cleared AS (UPDATE emails SET body_text = NULL, "
	    "body_html = NULL, body_retained = false "
	    "WHERE status = 'failed' AND body_retained "
	    "AND failed_at <= now() - $1::bigint * interval '1 second' "
	    "RETURNING id), "
	    "gone AS (DELETE FROM email_attachments "
	    "WHERE email_id IN (SELECT id FROM cleared)) "
	    "SELECT count(*) FROM cleared", 1, params, 0);
	if (res == NULL)
		return -1;
	if (strcmp(PQgetvalue(res, 0, 0), "0") != 0)
		bh_log(BH_LOG_INFO, "cleared the bodies of %s emails failed "
		    "more than %ld s ago", PQgetvalue(res, 0, 0),
		    notif_cfg.failed_body_retention);
	PQclear(res);
	return 0;
}

/* Milliseconds of a monotonic clock. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static PGconn *
connect_and_listen(void)
{
	char err[256];
	PGresult *res;
	PGconn *c;

	if ((c = bh_db_connect(err, sizeof(err))) == NULL) {
		bh_log(BH_LOG_WARN, "database: %s", err);
		return NULL;
	}
	/* A transaction stays open while the SMTP server is talked to (up
	 * to BH_SMTP_TIMEOUT): a server-side idle-in-transaction timeout
	 * would cut it, and the message would go again. */
	if ((res = run(c, "SET idle_in_transaction_session_timeout = 0", 0,
	    NULL, 0)) == NULL) {
		PQfinish(c);
		return NULL;
	}
	PQclear(res);
	if ((res = run(c, "LISTEN " CHANNEL, 0, NULL, 0)) == NULL) {
		PQfinish(c);
		return NULL;
	}
	PQclear(res);
	return c;
}

static void
drain_notifications(PGconn *c)
{
	PGnotify *n;

	if (PQconsumeInput(c) == 0)
		return;
	while ((n = PQnotifies(c)) != NULL)
		PQfreemem(n);
}

static int
deliver_usage(void)
{
	fprintf(stderr, "usage: bellhop-notifications deliver [--once]\n");
	return 2;
}

int
deliver_command(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t stop_mask, wait_mask;
	long backoff = RECONNECT_FIRST_MS;
	long long last_cleanup = 0;
	bool once = false, failed = false;
	PGconn *c = NULL;
	bh_pool *pool;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--once") == 0)
			once = true;
		else
			return deliver_usage();
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigemptyset(&stop_mask);
	sigaddset(&stop_mask, SIGTERM);
	sigaddset(&stop_mask, SIGINT);
	sigprocmask(SIG_BLOCK, &stop_mask, &wait_mask);
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGINT);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "bellhop-notifications: libcurl failed to "
		    "start\n");
		return 1;
	}
	pool = bh_pool_new();
	bh_log(BH_LOG_INFO, "delivery worker started (pid %ld)%s",
	    (long)getpid(), once ? ", once" : "");

	while (!stopping()) {
		if (c == NULL) {
			if ((c = connect_and_listen()) == NULL) {
				failed = true;
				if (once)
					break;
				wait_for(-1, backoff, &wait_mask);
				backoff = backoff * 2 > RECONNECT_MAX_MS ?
				    RECONNECT_MAX_MS : backoff * 2;
				continue;
			}
			backoff = RECONNECT_FIRST_MS;
			failed = false;
		}
		switch (deliver_one(c, pool)) {
		case STEP_DONE:
			break;
		case STEP_IDLE:
			if (once || now_ms() - last_cleanup >=
			    BODY_CLEANUP_EVERY_MS) {
				last_cleanup = now_ms();
				if (clear_failed_bodies(c) == -1)
					failed = true;
			}
			if (once)
				goto out;
			wait_for(PQsocket(c), notif_cfg.poll_ms, &wait_mask);
			drain_notifications(c);
			break;
		case STEP_DB_ERROR:
			failed = true;
			if (PQstatus(c) != CONNECTION_OK) {
				PQfinish(c);
				c = NULL;
			}
			if (once)
				goto out;
			/* A statement that failed on a live connection
			 * (timeout...) is tried again a moment later. */
			wait_for(-1, backoff, &wait_mask);
			break;
		}
		bh_pool_reset(pool);
	}
out:
	bh_log(BH_LOG_INFO, "delivery worker stopping");
	if (c != NULL)
		PQfinish(c);
	bh_pool_free(pool);
	curl_global_cleanup();
	/* --once reports whether it got through; the worker, asked to stop,
	 * stopped as it should. */
	return once && failed ? 1 : 0;
}

/* ---------------------------------------------------------------- purge */

int
purge_command(int argc, char **argv)
{
	const char *params[1];
	char err[256], *end;
	PGresult *res;
	PGconn *c;
	long days;
	int rc = 1;

	if (argc != 3 || strcmp(argv[1], "--days") != 0)
		goto usage;
	errno = 0;
	days = strtol(argv[2], &end, 10);
	if (errno != 0 || end == argv[2] || *end != '\0' || days < 0 ||
	    days > 36500)
		goto usage;
	if ((c = bh_db_connect(err, sizeof(err))) == NULL) {
		fprintf(stderr, "bellhop-notifications: database: %s\n", err);
		return 1;
	}
	params[0] = argv[2];
	res = run(c, "DELETE FROM emails WHERE status IN ('sent', 'failed') "
	    "AND coalesce(sent_at, failed_at, created_at) < "
	    "now() - $1::integer * interval '1 day'", 1, params, 0);
	if (res != NULL) {
		printf("%s\n", PQcmdTuples(res));
		fprintf(stderr, "bellhop-notifications: purged %s emails sent "
		    "or failed more than %ld days ago\n", PQcmdTuples(res),
		    days);
		PQclear(res);
		rc = 0;
	}
	PQfinish(c);
	return rc;

usage:
	fprintf(stderr, "usage: bellhop-notifications purge --days N "
	    "(N from 0 to 36500)\n");
	return 2;
}

/* -------------------------------------------------------------- requeue */

static int
requeue_usage(void)
{
	fprintf(stderr, "usage: bellhop-notifications requeue "
	    "[--id N | --failed-since SECONDS]\n");
	return 2;
}

/* A decimal number from 1 to max, or -1. */
static long long
parse_count(const char *s, long long max)
{
	long long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > max)
		return -1;
	return v;
}

/* Why message params[0] was not requeued, on stderr. */
static void
explain_not_requeued(PGconn *c, const char *const *params)
{
	PGresult *res;

	res = run(c, "SELECT status, body_retained FROM emails WHERE id = $1",
	    1, params, 0);
	if (res == NULL)
		return;
	if (PQntuples(res) == 0)
		fprintf(stderr, "bellhop-notifications: no email %s\n",
		    params[0]);
	else if (strcmp(PQgetvalue(res, 0, 0), "failed") != 0)
		fprintf(stderr, "bellhop-notifications: email %s is %s, not "
		    "failed\n", params[0], PQgetvalue(res, 0, 0));
	else
		fprintf(stderr, "bellhop-notifications: email %s failed too "
		    "long ago: its body was cleared (BH_FAILED_BODY_RETENTION) "
		    "and it cannot be sent again\n", params[0]);
	PQclear(res);
}

/*
 * Puts failed messages back in the queue, for an operator who fixed what
 * made them fail: one (--id N), those failed in the last SECONDS
 * (--failed-since), or all.  Their attempts and refusals start again from
 * 0 and BH_DELIVERY_MAX_AGE from now; the history of attempts stays.  A
 * message whose body was cleared cannot be sent again and is left as it
 * is.  Prints how many were requeued.
 */
int
requeue_command(int argc, char **argv)
{
	const char *params[2] = { NULL, NULL };
	char err[256];
	PGresult *res;
	long long n;
	PGconn *c;
	int rc = 1;

	if (argc == 3 && strcmp(argv[1], "--id") == 0) {
		if (parse_count(argv[2], INT64_MAX) == -1)
			return requeue_usage();
		params[0] = argv[2];
	} else if (argc == 3 && strcmp(argv[1], "--failed-since") == 0) {
		if (parse_count(argv[2], 36500LL * 86400) == -1)
			return requeue_usage();
		params[1] = argv[2];
	} else if (argc != 1)
		return requeue_usage();

	if ((c = bh_db_connect(err, sizeof(err))) == NULL) {
		fprintf(stderr, "bellhop-notifications: database: %s\n", err);
		return 1;
	}
	res = run(c, "UPDATE emails SET status = 'queued', attempts = 0, "
	    "refusals = 0, next_attempt_at = now(), queued_at = now(), "
	    "requeued_at = now(), failed_at = NULL "
	    "WHERE status = 'failed' AND body_retained "
	    "AND ($1::bigint IS NULL OR id = $1::bigint) "
	    "AND ($2::bigint IS NULL OR "
	    "failed_at >= now() - $2::bigint * interval '1 second')",
	    2, params, 0);
	if (res == NULL)
		goto out;
	n = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	/* Wake the delivery workers (the trigger is for inserts only). */
	if (n > 0 && (res = run(c, "NOTIFY " CHANNEL, 0, NULL, 0)) != NULL)
		PQclear(res);
	printf("%lld\n", n);
	fprintf(stderr, "bellhop-notifications: requeued %lld failed "
	    "emails\n", n);
	if (params[0] != NULL) {
		if (n == 0)
			explain_not_requeued(c, params);
		rc = n == 1 ? 0 : 1;
		goto out;
	}
	res = run(c, "SELECT count(*) FROM emails WHERE status = 'failed' "
	    "AND NOT body_retained AND ($1::bigint IS NULL OR "
	    "failed_at >= now() - $1::bigint * interval '1 second')",
	    1, params + 1, 0);
	if (res == NULL)
		goto out;
	if (strcmp(PQgetvalue(res, 0, 0), "0") != 0)
		fprintf(stderr, "bellhop-notifications: %s failed emails were "
		    "left: their bodies were cleared "
		    "(BH_FAILED_BODY_RETENTION)\n", PQgetvalue(res, 0, 0));
	PQclear(res);
	rc = 0;
out:
	PQfinish(c);
	return rc;
}
