/*
 * bellhop.h - libbellhop, the runtime every bellhop service is built on.
 *
 * A service is a table of routes handed to bh_main().  The runtime serves
 * FastCGI (on fd 0, a systemd socket, or its own supervised worker pool),
 * turns each request into a bh_request whose memory lives in one arena,
 * validates declared parameters, calls the handler, and writes the response
 * with Content-Length, default security headers and the request id.
 *
 * Ownership rule for the whole API: anything returned from a bh_request's
 * pool (strings, json objects registered with bh_pool_defer, PGresults from
 * bh_db_query) belongs to the request and is released once when the request
 * ends.  Callers never free it.
 */
#ifndef BELLHOP_H
#define BELLHOP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#define BH_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ------------------------------------------------------------------ pool.c */

/* A growable arena.  Allocation never fails: out of memory aborts the
 * worker (the supervisor respawns it), as h2o and nginx pools do. */
typedef struct bh_pool bh_pool;

/* Returns a new pool; the caller owns it and releases it with bh_pool_free. */
bh_pool *bh_pool_new(void);
/* Runs deferred cleanups, frees every chunk but the first, keeps the pool. */
void bh_pool_reset(bh_pool *pool);
void bh_pool_free(bh_pool *pool);
/* Memory owned by the pool, aligned for any type, zero-filled. */
void *bh_palloc(bh_pool *pool, size_t size);
char *bh_pstrdup(bh_pool *pool, const char *s);
char *bh_pstrndup(bh_pool *pool, const char *s, size_t len);
char *bh_psprintf(bh_pool *pool, const char *fmt, ...) BH_PRINTF(2, 3);
/* Calls fn(arg) when the pool is reset or freed (latest first). */
void bh_pool_defer(bh_pool *pool, void (*fn)(void *), void *arg);

/* A byte buffer growing inside a pool. */
typedef struct bh_buf {
	bh_pool *pool;
	char *data; /* always NUL-terminated */
	size_t len, cap;
} bh_buf;

void bh_buf_init(bh_buf *buf, bh_pool *pool);
void bh_buf_append(bh_buf *buf, const void *data, size_t len);
void bh_buf_puts(bh_buf *buf, const char *s);
void bh_buf_printf(bh_buf *buf, const char *fmt, ...) BH_PRINTF(2, 3);

/* --------------------------------------------------------------- config.c */

enum bh_log_level { BH_LOG_DEBUG, BH_LOG_INFO, BH_LOG_WARN, BH_LOG_ERROR };

/* Settings from the environment (see docs/configuration.md), validated at
 * start; command-line flags override the serving ones. */
typedef struct bh_config {
	const char *service;      /* the service's name, e.g. "search" */
	const char *base_path;    /* BH_BASE_PATH, default "/<service>" */
	const char *database_url; /* BH_DATABASE_URL, libpq conninfo or URI */
	const char *sql_dir;      /* BH_SQL_DIR, holds <service>/NNN_*.sql */
	size_t max_body;          /* BH_MAX_BODY bytes, default 1 MiB */
	int json_max_depth;       /* BH_JSON_MAX_DEPTH, default 32 */
	enum bh_log_level log_level; /* BH_LOG_LEVEL debug|info|warn|error */
	int db_connect_timeout;   /* BH_DB_CONNECT_TIMEOUT seconds, default 2 */
	int db_statement_timeout; /* BH_DB_STATEMENT_TIMEOUT ms, default 5000 */
	int retry_after;          /* BH_RETRY_AFTER seconds in 503s, default 2 */
	/* serving: BH_LISTEN, BH_WORKERS, BH_MAX_REQUESTS, BH_SOCKET_MODE */
	const char *listen;       /* "unix:/path" or "HOST:PORT", NULL = fd 0 */
	int workers;              /* default 2 */
	long max_requests;        /* recycle a worker after this many, 0 = never */
	int socket_mode;          /* unix socket mode, default 0660 */
} bh_config;

extern bh_config bh_cfg;

/* Fills bh_cfg from the environment.  Returns 0, or -1 after writing a
 * message naming the bad variable to *err (a static string). */
int bh_config_load(const char *service, const char **err);

/* ------------------------------------------------------------------ log.c */

/* One JSON line on stderr: time, level, service, request id (when inside a
 * request), msg.  Never pass secrets (passwords, tokens, card numbers). */
void bh_log(enum bh_log_level level, const char *fmt, ...) BH_PRINTF(2, 3);

/* -------------------------------------------------------------- request.c */

enum bh_method {
	BH_GET = 1 << 0,
	BH_HEAD = 1 << 1,
	BH_POST = 1 << 2,
	BH_PUT = 1 << 3,
	BH_PATCH = 1 << 4,
	BH_DELETE = 1 << 5,
	BH_OPTIONS = 1 << 6,
};

typedef struct bh_kv {
	const char *key; /* header names are lower-case, '-' kept */
	const char *val; /* decoded, NUL-terminated */
	size_t len;      /* of val, which may hold no NUL (rejected earlier) */
} bh_kv;

typedef struct bh_kvlist {
	bh_kv *items;
	size_t n;
} bh_kvlist;

/* Where a declared parameter comes from. */
enum bh_src { BH_PATH, BH_QUERY, BH_BODY };

enum bh_type {
	BH_STRING, /* valid UTF-8, no control characters; min/max bound the length in characters */
	BH_INT,    /* decimal int64; min/max bound the value */
	BH_BOOL,   /* true/false (query: "true"/"false"/"1"/"0") */
	BH_ENUM,   /* one of choices[]; the value's .i is the index */
};

/* One declared input, as kcgi's struct kvalid: only what passes reaches
 * the handler.  Tables end with an entry whose name is NULL. */
typedef struct bh_param {
	const char *name;
	enum bh_src src;
	enum bh_type type;
	bool required;
	int64_t min, max;            /* 0,0 = type's default bounds */
	const char *const *choices;  /* BH_ENUM: NULL-terminated */
	const char *def;             /* default, as text, used when absent */
} bh_param;

typedef struct bh_value {
	const bh_param *spec;
	bool present; /* given by the caller or defaulted */
	int64_t i;    /* BH_INT, BH_BOOL (0/1), BH_ENUM (index) */
	const char *s; /* the text (all types) */
	size_t len;
} bh_value;

typedef struct bh_header {
	const char *name, *value;
} bh_header;

struct bh_route;

typedef struct bh_request {
	bh_pool *pool;
	unsigned method;          /* one enum bh_method bit, 0 if unknown */
	const char *method_name;
	const char *path;         /* percent-decoded, without base_path */
	const char *full_path;    /* percent-decoded, as the client sent it */
	const char *query;        /* raw query string, "" if none */
	bh_kvlist query_params;   /* decoded, in order, repeats kept */
	bh_kvlist headers;        /* HTTP_* params, lower-case names */
	bh_kvlist cookies;
	const char *content_type; /* media type only, lower-case, or NULL */
	const char *remote_addr;
	const char *request_id;
	const char *body;         /* NUL-terminated copy, or NULL */
	size_t body_len;
	long long content_length; /* -1 if absent */
	bh_kvlist form;           /* application/x-www-form-urlencoded body */
	json_object *json;        /* application/json body, owned by pool */
	/* routing result */
	const struct bh_route *route;
	bh_kvlist path_params;    /* raw, from {name} segments */
	bh_value *values;         /* validated values, one per route param */
	size_t nvalues;
	/* response */
	int status;               /* 0 until a response is set */
	const char *resp_type;
	bh_buf resp_body;
	bh_header *resp_headers;
	size_t nresp_headers, capresp_headers;
	uint64_t start_us;
} bh_request;

/* Header value by lower-case name, or NULL.  Owned by the request. */
const char *bh_header_get(const bh_request *req, const char *name);
const char *bh_cookie_get(const bh_request *req, const char *name);
const char *bh_query_get(const bh_request *req, const char *name);

/* Validated values by parameter name (the route declared it). */
const bh_value *bh_arg(const bh_request *req, const char *name);
int64_t bh_arg_int(const bh_request *req, const char *name);
const char *bh_arg_str(const bh_request *req, const char *name);
bool bh_arg_present(const bh_request *req, const char *name);

/* Percent-decodes src[0..len) into a string owned by pool; '+' becomes
 * ' ' when plus_is_space.  Returns NULL on a bad escape ("%G1", "%4"), an
 * encoded NUL (%00) or a raw NUL byte.  It does not check UTF-8: callers
 * do (bh_utf8_valid), naming the parameter.  *outlen (may be NULL) gets
 * the decoded length. */
char *bh_url_decode(bh_pool *pool, const char *src, size_t len,
		    bool plus_is_space, size_t *outlen);
/* Parses "a=1&b=2" into list (items and strings owned by pool): keys and
 * values decoded with '+' as space, repeats and empty values kept in
 * order ("a=&a=1&b" gives a="", a="1", b=""), empty pairs skipped.
 * Returns 0, or -1 on a bad escape or a NUL (UTF-8 is not checked); then
 * *bad_key (when bad_key != NULL) gets the decoded name of the pair at
 * fault, or NULL if the name itself is bad, so errors can name it. */
int bh_parse_urlencoded(bh_pool *pool, const char *s, size_t len,
			bh_kvlist *list, const char **bad_key);
/* True if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool bh_utf8_valid(const char *s, size_t len);

/* ------------------------------------------------------------- response.c */

/* Problem types (RFC 9457): the "type" member is "urn:bellhop:problem:"
 * followed by one of these slugs; docs/problems.md lists them. */
#define BH_PROBLEM_INVALID_PARAMETER "invalid-parameter"
#define BH_PROBLEM_NOT_FOUND "not-found"
#define BH_PROBLEM_METHOD_NOT_ALLOWED "method-not-allowed"
#define BH_PROBLEM_BAD_REQUEST "bad-request"
#define BH_PROBLEM_MALFORMED_BODY "malformed-body"
#define BH_PROBLEM_PAYLOAD_TOO_LARGE "payload-too-large"
#define BH_PROBLEM_UNSUPPORTED_MEDIA_TYPE "unsupported-media-type"
#define BH_PROBLEM_DB_UNAVAILABLE "service-unavailable"
#define BH_PROBLEM_INTERNAL "internal-error"

/* Adds a response header (both strings copied into the pool).  Replaces a
 * default header of the same name. */
void bh_add_header(bh_request *req, const char *name, const char *value);
/* Sets status, type and body (copied).  Returns status. */
int bh_send(bh_request *req, int status, const char *content_type,
	    const void *body, size_t len);
/* Serialises obj (not consumed: the caller keeps its reference) as the
 * JSON body.  Returns status. */
int bh_send_json(bh_request *req, int status, json_object *obj);
/* Sets an application/problem+json response: type, title (from status),
 * status, detail, instance-free, plus "request_id"; "param" names the
 * offending parameter when param != NULL.  Returns status. */
int bh_problem(bh_request *req, int status, const char *slug,
	       const char *param, const char *detail_fmt, ...) BH_PRINTF(5, 6);

/* --------------------------------------------------------------- router.c */

typedef int (*bh_handler)(bh_request *req);

/* One route: methods (GET also answers HEAD), a path pattern relative to
 * the service's base path with segments "name" or "{name}" or
 * "{name:int}" (1..2147483647, else 400 naming the parameter), the
 * handler, and its declared parameters (NULL-name-terminated, may be
 * NULL).  Path parameters are matched by name with BH_PATH entries, which
 * may tighten their bounds. */
typedef struct bh_route {
	unsigned methods;
	const char *pattern;
	bh_handler handler;
	const bh_param *params;
} bh_route;

typedef struct bh_service {
	const char *name;        /* "search" */
	const bh_route *routes;  /* ends with {0} */
	bool uses_db;            /* /ready checks the database; migrate works */
	/* Called once in each worker before it serves; returns 0 or -1. */
	int (*worker_init)(void);
} bh_service;

/* Finds the route, validates parameters into req->values, calls the handler
 * (or sets the 404/405/400 problem); /health and /ready are built in. */
void bh_dispatch(const bh_service *svc, bh_request *req);

/* ------------------------------------------------------------------- db.c */

/* Runs sql with text parameters (NULL = SQL NULL) on this worker's
 * connection, opening it lazily and re-opening it once if the server went
 * away.  Statements are prepared once per connection.  Returns a result
 * owned by req (PQclear'ed with the pool) with status TUPLES_OK or
 * COMMAND_OK, or NULL after setting the response: 503 service-unavailable
 * with Retry-After when the database is unreachable or busy (statement
 * timeout; a deadlock outside bh_db_tx), 500 otherwise (constraint
 * violations included: see bh_db_last_sqlstate).  Use bh_db_tx, not a
 * BEGIN of your own, for transactions. */
PGresult *bh_db_query(bh_request *req, const char *sql, int nparams,
		      const char *const *params);
/* Runs fn(req, arg) between BEGIN and COMMIT; rolls back when fn returns
 * non-zero or a query failed; retries the whole transaction on
 * serialization failure or deadlock up to 5 times, so fn may run more
 * than once and must have no effect outside the database.  A connection
 * lost during COMMIT is a 503, never retried (the outcome is unknown).
 * Not nestable.  Returns 0 when committed, else -1 with the response set
 * (by fn or by the runtime). */
int bh_db_tx(bh_request *req, int (*fn)(bh_request *req, void *arg),
	     void *arg);
/* The SQLSTATE of the statement that made the last bh_db_query (or
 * bh_db_tx) fail, e.g. "23505" for a unique violation, so that a handler
 * expecting a constraint violation can replace the 500 with its own
 * answer (409...); "" after a success or a failure without one (the
 * connection was lost).  Static storage, valid until the next query. */
const char *bh_db_last_sqlstate(void);
/* True if the database answers "SELECT 1" now (used by /ready). */
bool bh_db_ping(void);
/* Closes this worker's connection (at exit, after fork). */
void bh_db_close(void);

/* -------------------------------------------------------------- migrate.c */

/* Applies sql_dir/<service>/NNN_name.sql in numeric order, each in its own
 * transaction, recording name and SHA-256 checksum in bh_migrations, under
 * an advisory lock so concurrent starts are safe.  Refuses (returns -1 and
 * says which file) if an applied file changed or a number repeats.
 * Progress goes to bh_log.  Returns 0 on success.  A file may hold several
 * statements but no BEGIN/COMMIT/ROLLBACK, nothing that cannot run in a
 * transaction (CREATE INDEX CONCURRENTLY, VACUUM), no COPY FROM STDIN,
 * and is never edited once applied: changes go in a new file. */
int bh_migrate(const char *database_url, const char *sql_dir,
	       const char *service);

/* --------------------------------------------------------------- server.c */

/* The whole program: parses argv (serve flags, --help, --version,
 * "migrate"), loads config, then serves.  Returns the exit status. */
int bh_main(const bh_service *svc, int argc, char **argv);

#endif
