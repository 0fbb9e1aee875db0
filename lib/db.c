/*
 * db.c - this worker's PostgreSQL connection.
 *
 * One connection per worker process, opened on the first query and kept.
 * Each distinct SQL text is prepared once per connection ("bh_1",
 * "bh_2", ...) and then executed with text parameters.
 *
 * Failures fall into a few classes, each with its own answer:
 *  - the connection is gone (server restarted, network, can't connect):
 *    close it; a statement outside a transaction that failed on a
 *    connection which had been sitting idle is retried once on a new one;
 *    otherwise 503 with Retry-After.  The next request connects again, so
 *    the service recovers by itself when the database is back.
 *  - the database is busy (statement timeout, out of resources): 503, the
 *    connection is kept.
 *  - serialization failure or deadlock: bh_db_tx runs the transaction
 *    again; outside one, 503 (the client may simply retry).
 *  - anything else (constraint violation, bad SQL): 500 with a generic
 *    detail; the SQLSTATE stays available to the handler.
 * No wait is unbounded: connecting is bounded by connect_timeout,
 * statements by statement_timeout, a silent TCP peer by keepalives.
 */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Past this many distinct statements (SQL built at run time, a bug) new
 * ones run unprepared instead of growing the cache without end. */
#define BH_DB_MAX_PREPARED 512
/* Runs of a transaction that hit serialization failures or deadlocks. */
#define BH_DB_TX_RETRIES 5

enum db_failure {
	DB_OK,
	DB_CONN,      /* connection unusable: 503, reconnect next time */
	DB_BUSY,      /* timeout, resources: 503, connection kept */
	DB_CONFLICT,  /* 40001, 40P01: retry the transaction */
	DB_ERROR,     /* anything else: 500 */
};

struct stmt {
	char *sql;      /* our copy of the text: the key */
	uint32_t hash;
	unsigned id;    /* prepared as "bh_<id>" */
};

static PGconn *conn;
static struct stmt *stmts;
static size_t nstmts, capstmts;
static unsigned last_stmt_id;

static bool in_tx;                 /* between BEGIN and COMMIT/ROLLBACK */
static enum db_failure tx_failure; /* first query failure inside it */

static char last_sqlstate[6];
/* Why the last statement failed, one line, safe to log. */
static char last_error[512];

/* The start of sql on one line, for logs (our SQL text is no secret;
 * parameter values never are logged). */
static void
sql_excerpt(char *buf, size_t size, const char *sql)
{
	char line[81];

	bh_log_one_line(line, sizeof(line), sql);
	snprintf(buf, size, "%s%s", line, strlen(sql) >= sizeof(line) - 1 ?
	    "..." : "");
}

/* Server notices (and a FATAL arriving on an idle connection) to bh_log;
 * NOTICEs such as "relation exists, skipping" are only debug. */
static void
notice_to_log(void *arg, const PGresult *res)
{
	const char *severity, *msg;
	enum bh_log_level level = BH_LOG_DEBUG;
	char line[512];

	(void)arg;
	severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (severity != NULL && (strcmp(severity, "WARNING") == 0 ||
	    strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0 ||
	    strcmp(severity, "ERROR") == 0))
		level = BH_LOG_WARN;
	bh_log_one_line(line, sizeof(line), msg);
	bh_log(level, "postgres %s: %s", severity ? severity : "NOTICE", line);
}

PGconn *
bh_db_open(const char *url, const char *application_name, char *err,
	   size_t errsize)
{
	/*
	 * Later keywords override earlier ones, and "dbname" is expanded into
	 * the settings of the URL: keepalives are defaults the URL may
	 * change, the timeout and name are ours.
	 */
	const char *keys[] = {
		"keepalives_idle", "keepalives_interval", "keepalives_count",
		"dbname", "connect_timeout", "application_name", NULL,
	};
	char timeout[16];
	const char *values[] = {
		"10", "5", "3", url != NULL ? url : "", timeout,
		application_name, NULL,
	};
	PQconninfoOption *parsed;
	char *parse_err = NULL;
	PGconn *c;

	/* libpq's own parse errors may quote the URL, password included */
	if (url != NULL && url[0] != '\0') {
		parsed = PQconninfoParse(url, &parse_err);
		PQfreemem(parse_err);
		if (parsed == NULL) {
			snprintf(err, errsize, "BH_DATABASE_URL is not a valid "
			    "libpq connection string or URI");
			return NULL;
		}
		PQconninfoFree(parsed);
	}

	/* 0 would mean "wait forever": never */
	snprintf(timeout, sizeof(timeout), "%d",
	    bh_cfg.db_connect_timeout > 0 ? bh_cfg.db_connect_timeout : 2);
	c = PQconnectdbParams(keys, values, 1);
	if (c == NULL) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		/* host, port, user and the server's reason; never the password */
		bh_log_one_line(err, errsize, PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeReceiver(c, notice_to_log, NULL);
	return c;
}

static void
stmts_forget(void)
{
	size_t i;

	for (i = 0; i < nstmts; i++)
		free(stmts[i].sql);
	nstmts = 0;
	last_stmt_id = 0;
}

static void
db_disconnect(void)
{
	if (conn != NULL)
		PQfinish(conn);
	conn = NULL;
	stmts_forget();
}

static int
db_connect(void)
{
	const char *params[1];
	char app[96], timeout[24];
	PGresult *res;
	int rc = -1;

	snprintf(app, sizeof(app), "bellhop-%s",
	    bh_cfg.service != NULL ? bh_cfg.service : "service");
	conn = bh_db_open(bh_cfg.database_url, app, last_error,
	    sizeof(last_error));
	if (conn == NULL)
		return -1;
	snprintf(timeout, sizeof(timeout), "%d",
	    bh_cfg.db_statement_timeout > 0 ? bh_cfg.db_statement_timeout : 0);
	params[0] = timeout;
	res = PQexecParams(conn,
	    "SELECT set_config('statement_timeout', $1, false)", 1, NULL,
	    params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(last_error, sizeof(last_error), "setting "
		    "statement_timeout: ");
		bh_log_one_line(last_error + strlen(last_error), sizeof(last_error) -
		    strlen(last_error), PQerrorMessage(conn));
		db_disconnect();
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	return rc;
}

PGconn *
bh_db_connect(char *err, size_t errsize)
{
	const char *params[1];
	char app[96], timeout[24];
	PGresult *res;
	PGconn *c;

	snprintf(app, sizeof(app), "bellhop-%s-cmd",
	    bh_cfg.service != NULL ? bh_cfg.service : "service");
	if ((c = bh_db_open(bh_cfg.database_url, app, err, errsize)) == NULL)
		return NULL;
	snprintf(timeout, sizeof(timeout), "%d",
	    bh_cfg.db_statement_timeout > 0 ? bh_cfg.db_statement_timeout : 0);
	params[0] = timeout;
	res = PQexecParams(c,
	    "SELECT set_config('statement_timeout', $1, false)", 1, NULL,
	    params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(err, errsize, "setting statement_timeout: ");
		bh_log_one_line(err + strlen(err), errsize - strlen(err),
		    PQerrorMessage(c));
		PQfinish(c);
		c = NULL;
	}
	PQclear(res);
	return c;
}

/*
 * True when the server closed the connection while we were not using it
 * (restart, idle timeout): the goodbye message and the end of file are
 * waiting on the socket.  Costs one poll(2) when all is well.
 */
static bool
conn_went_away(void)
{
	struct pollfd pfd;
	int i;

	if (PQstatus(conn) != CONNECTION_OK)
		return true;
	pfd.fd = PQsocket(conn);
	pfd.events = POLLIN;
	if (pfd.fd < 0)
		return true;
	/* the error message and the EOF may need a read each */
	for (i = 0; i < 4; i++) {
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) <= 0)
			return false;
		if (PQconsumeInput(conn) == 0 ||
		    PQstatus(conn) != CONNECTION_OK)
			return true;
	}
	return false;
}

/* FNV-1a: cheap, and only used to skip most strcmp()s. */
static uint32_t
hash_text(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static const struct stmt *
stmt_find(const char *sql, uint32_t hash)
{
	size_t i;

	for (i = 0; i < nstmts; i++)
		if (stmts[i].hash == hash && strcmp(stmts[i].sql, sql) == 0)
			return &stmts[i];
	return NULL;
}

/* Remembers sql as prepared under id; NULL if out of memory. */
static const struct stmt *
stmt_add(const char *sql, uint32_t hash, unsigned id)
{
	struct stmt *grown;
	size_t cap;
	char *copy;

	if (nstmts == capstmts) {
		cap = capstmts == 0 ? 32 : capstmts * 2;
		grown = realloc(stmts, cap * sizeof(*stmts));
		if (grown == NULL)
			return NULL;
		stmts = grown;
		capstmts = cap;
	}
	if ((copy = strdup(sql)) == NULL)
		return NULL;
	stmts[nstmts].sql = copy;
	stmts[nstmts].hash = hash;
	stmts[nstmts].id = id;
	return &stmts[nstmts++];
}

/* Executes sql on conn, prepared once per connection when prepare is
 * set.  The result (NULL when libpq ran out of memory) is the caller's. */
static PGresult *
db_exec(const char *sql, int nparams, const char *const *params, bool prepare)
{
	const struct stmt *st;
	uint32_t hash;
	PGresult *res;
	char name[24];

	if (!prepare)
		return PQexecParams(conn, sql, nparams, NULL, params, NULL,
		    NULL, 0);
	hash = hash_text(sql);
	if ((st = stmt_find(sql, hash)) == NULL) {
		if (nstmts >= BH_DB_MAX_PREPARED)
			return PQexecParams(conn, sql, nparams, NULL, params,
			    NULL, NULL, 0);
		snprintf(name, sizeof(name), "bh_%u", last_stmt_id + 1);
		res = PQprepare(conn, name, sql, nparams, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			return res;
		PQclear(res);
		last_stmt_id++;
		if ((st = stmt_add(sql, hash, last_stmt_id)) == NULL)
			/* prepared but not remembered: harmless */
			return PQexecParams(conn, sql, nparams, NULL, params,
			    NULL, NULL, 0);
	}
	snprintf(name, sizeof(name), "bh_%u", st->id);
	return PQexecPrepared(conn, name, nparams, params, NULL, NULL, 0);
}

/* Sorts a result into a failure class, noting its SQLSTATE and, for the
 * log, its message. */
static enum db_failure
classify(const PGresult *res)
{
	ExecStatusType status;
	const char *state, *msg;

	last_sqlstate[0] = '\0';
	last_error[0] = '\0';
	status = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
		return DB_OK;

	state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (state != NULL)
		snprintf(last_sqlstate, sizeof(last_sqlstate), "%s", state);
	msg = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) :
	    NULL;
	if (msg == NULL)
		msg = PQerrorMessage(conn);
	/* data exceptions ("invalid input syntax for type integer: "...")
	 * quote the parameter's value, which must not reach the log */
	if (strncmp(last_sqlstate, "22", 2) == 0)
		msg = "(message withheld: it may quote a parameter value)";
	bh_log_one_line(last_error, sizeof(last_error), msg);

	if (PQstatus(conn) != CONNECTION_OK ||
	    strncmp(last_sqlstate, "08", 2) == 0 ||
	    strcmp(last_sqlstate, "57P01") == 0 ||
	    strcmp(last_sqlstate, "57P02") == 0 ||
	    strcmp(last_sqlstate, "57P03") == 0)
		return DB_CONN;
	if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT ||
	    status == PGRES_COPY_BOTH) {
		/* a COPY left the connection in a state we do not handle */
		snprintf(last_error, sizeof(last_error),
		    "COPY is not supported by bh_db_query");
		return DB_CONN;
	}
	if (strcmp(last_sqlstate, "40001") == 0 ||
	    strcmp(last_sqlstate, "40P01") == 0)
		return DB_CONFLICT;
	if (strcmp(last_sqlstate, "57014") == 0 ||
	    strncmp(last_sqlstate, "53", 2) == 0)
		return DB_BUSY;
	return DB_ERROR;
}

/*
 * Runs one statement, connecting first if needed.  Outside a transaction,
 * a connection found dead before use is replaced, and a statement that
 * failed on a connection left over from earlier requests is retried once
 * on a new one: the common case is a server restarted while we idled.
 * Inside a transaction nothing is retried (its earlier statements are
 * gone with the connection).  *resp gets the result (maybe NULL), which
 * the caller owns.
 */
static enum db_failure
db_run(const char *sql, int nparams, const char *const *params, bool prepare,
       PGresult **resp)
{
	enum db_failure failure;
	PGresult *res;
	bool reused;

	*resp = NULL;
	last_sqlstate[0] = '\0';
	if (conn != NULL && conn_went_away()) {
		db_disconnect();
		if (in_tx) {
			snprintf(last_error, sizeof(last_error),
			    "connection lost inside a transaction");
			return DB_CONN;
		}
		bh_log(BH_LOG_INFO, "database connection closed by the server "
		    "while idle; reconnecting");
	}
	if (conn == NULL && in_tx) {
		snprintf(last_error, sizeof(last_error),
		    "connection lost inside a transaction");
		return DB_CONN;
	}
	reused = conn != NULL;
	if (conn == NULL && db_connect() == -1)
		return DB_CONN;

	res = db_exec(sql, nparams, params, prepare);
	failure = classify(res);
	if (failure == DB_CONN) {
		db_disconnect();
		if (reused && !in_tx) {
			bh_log(BH_LOG_INFO, "database connection lost (%s); "
			    "reconnecting once", last_error);
			PQclear(res);
			res = NULL;
			if (db_connect() == -1)
				return DB_CONN;
			res = db_exec(sql, nparams, params, prepare);
			if ((failure = classify(res)) == DB_CONN)
				db_disconnect();
		}
	}
	*resp = res;
	return failure;
}

/* Logs a failure and sets the response for it. */
static void
db_fail(bh_request *req, enum db_failure failure, const char *sql)
{
	char query[96];

	sql_excerpt(query, sizeof(query), sql);
	switch (failure) {
	case DB_CONN:
		bh_log(BH_LOG_WARN, "database unavailable: %s", last_error);
		break;
	case DB_BUSY:
		bh_log(BH_LOG_WARN, "database busy: SQLSTATE %s: %s (query: %s)",
		    last_sqlstate, last_error, query);
		break;
	case DB_CONFLICT:
		bh_log(in_tx ? BH_LOG_INFO : BH_LOG_WARN, "database conflict: "
		    "SQLSTATE %s: %s (query: %s)", last_sqlstate, last_error,
		    query);
		break;
	case DB_ERROR:
		bh_log(BH_LOG_ERROR, "query failed: SQLSTATE %s: %s (query: %s)",
		    last_sqlstate[0] != '\0' ? last_sqlstate : "none",
		    last_error, query);
		break;
	case DB_OK:
		return;
	}
	if (failure == DB_ERROR)
		bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL,
		    "The request could not be completed.");
	else
		bh_problem(req, 503, BH_PROBLEM_DB_UNAVAILABLE, NULL,
		    "The database is unavailable; try again later.");
}

static void
clear_result(void *res)
{
	PQclear(res);
}

PGresult *
bh_db_query(bh_request *req, const char *sql, int nparams,
	    const char *const *params)
{
	enum db_failure failure;
	PGresult *res;

	if (sql == NULL || nparams < 0 || (nparams > 0 && params == NULL)) {
		bh_log(BH_LOG_ERROR, "bh_db_query: bad arguments");
		bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL,
		    "The request could not be completed.");
		return NULL;
	}
	/* an aborted transaction refuses everything: its failure is set */
	if (in_tx && tx_failure != DB_OK)
		return NULL;

	failure = db_run(sql, nparams, params, true, &res);
	if (res != NULL)
		bh_pool_defer(req->pool, clear_result, res);
	if (failure == DB_OK)
		return res;
	if (in_tx)
		tx_failure = failure;
	db_fail(req, failure, sql);
	return NULL;
}

const char *
bh_db_last_sqlstate(void)
{
	return last_sqlstate;
}

/* Runs a transaction control statement; 0 or the failure. */
static enum db_failure
tx_control(const char *sql)
{
	enum db_failure failure;
	PGresult *res;

	failure = db_run(sql, 0, NULL, false, &res);
	/* COMMIT of an aborted transaction "succeeds" as ROLLBACK */
	if (failure == DB_OK && strcmp(sql, "COMMIT") == 0 &&
	    strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		snprintf(last_error, sizeof(last_error),
		    "COMMIT answered %s", PQcmdStatus(res));
		failure = DB_ERROR;
	}
	PQclear(res);
	return failure;
}

/* Rolls back, keeping what is known of the failure that caused it. */
static void
tx_rollback(void)
{
	char state[sizeof(last_sqlstate)], error[sizeof(last_error)];

	if (conn == NULL)
		return;
	memcpy(state, last_sqlstate, sizeof(state));
	memcpy(error, last_error, sizeof(error));
	/* a failed ROLLBACK leaves a state we cannot trust: start afresh */
	if (tx_control("ROLLBACK") != DB_OK)
		db_disconnect();
	memcpy(last_sqlstate, state, sizeof(state));
	memcpy(last_error, error, sizeof(error));
}

/* What fn may have done to the response, to undo before a retry. */
struct resp_mark {
	int status;
	const char *type;
	bh_buf body;      /* bh_send starts a new buffer; appends only add */
	size_t nheaders;  /* headers are only ever appended */
};

static void
resp_mark(const bh_request *req, struct resp_mark *m)
{
	m->status = req->status;
	m->type = req->resp_type;
	m->body = req->resp_body;
	m->nheaders = req->nresp_headers;
}

static void
resp_restore(bh_request *req, const struct resp_mark *m)
{
	req->status = m->status;
	req->resp_type = m->type;
	req->resp_body = m->body;
	if (req->resp_body.data != NULL)
		req->resp_body.data[req->resp_body.len] = '\0';
	req->nresp_headers = m->nheaders;
}

/* A short random pause that grows with each attempt, so that the
 * transactions that collided do not collide again in step. */
static void
tx_backoff(int attempt)
{
	struct timespec ts;
	long ms;

	ms = 5 + (long)arc4random_uniform(10u * (unsigned)attempt + 10u);
	ts.tv_sec = 0;
	ts.tv_nsec = ms * 1000000L;
	nanosleep(&ts, NULL);
}

int
bh_db_tx(bh_request *req, int (*fn)(bh_request *req, void *arg), void *arg)
{
	enum db_failure failure;
	struct resp_mark mark;
	int attempt, rc;

	if (in_tx) {
		bh_log(BH_LOG_ERROR, "bh_db_tx: nested transaction refused");
		bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL,
		    "The request could not be completed.");
		return -1;
	}
	resp_mark(req, &mark);
	for (attempt = 1;; attempt++) {
		/* BEGIN may reconnect: nothing has happened yet */
		if ((failure = tx_control("BEGIN")) != DB_OK) {
			db_fail(req, failure, "BEGIN");
			return -1;
		}
		in_tx = true;
		tx_failure = DB_OK;
		rc = fn(req, arg);
		if (rc == 0 && tx_failure == DB_OK) {
			failure = tx_control("COMMIT");
			in_tx = false;
			if (failure == DB_OK)
				return 0;
			if (failure == DB_CONN) {
				/* it may or may not have committed: no retry */
				bh_log(BH_LOG_WARN, "database connection lost "
				    "during COMMIT; the outcome is unknown");
				db_fail(req, failure, "COMMIT");
				return -1;
			}
			/* serialization failures at commit roll it back */
			tx_failure = failure;
			if (failure != DB_CONFLICT) {
				db_fail(req, failure, "COMMIT");
				return -1;
			}
		} else {
			tx_rollback();
			in_tx = false;
		}

		if (tx_failure == DB_CONFLICT && attempt <= BH_DB_TX_RETRIES) {
			bh_log(BH_LOG_INFO, "transaction conflict (SQLSTATE %s); "
			    "retrying (%d of %d)", last_sqlstate, attempt,
			    BH_DB_TX_RETRIES);
			resp_restore(req, &mark);
			tx_backoff(attempt);
			continue;
		}
		if (tx_failure == DB_CONFLICT && rc == 0)
			/* the COMMIT's conflict, the last time round */
			db_fail(req, DB_CONFLICT, "COMMIT");
		if (req->status == 0) {
			bh_log(BH_LOG_ERROR, "bh_db_tx: the transaction failed "
			    "without setting a response");
			bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL,
			    "The request could not be completed.");
		}
		return -1;
	}
}

bool
bh_db_ping(void)
{
	enum db_failure failure;
	PGresult *res;

	failure = db_run("SELECT 1", 0, NULL, false, &res);
	PQclear(res);
	if (failure != DB_OK)
		bh_log(BH_LOG_WARN, "database ping failed: %s", last_error);
	return failure == DB_OK;
}

void
bh_db_close(void)
{
	db_disconnect();
	free(stmts);
	stmts = NULL;
	capstmts = 0;
	in_tx = false;
}
