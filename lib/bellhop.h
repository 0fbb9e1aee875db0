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
	/* identity and calls between services (lib/authz.c, httpc.c) */
	const char *public_url;   /* BH_PUBLIC_URL, default http://127.0.0.1:8080 */
	const char *auth_issuer;  /* BH_AUTH_ISSUER, default <public_url>/auth */
	const char *jwks_url;     /* BH_AUTH_JWKS_URL, default <issuer>/.well-known/jwks.json */
	const char *token_url;    /* BH_AUTH_TOKEN_URL, default <issuer>/oauth/token */
	const char *audience;     /* BH_AUDIENCE, default the service's name */
	const char *client_id;    /* BH_CLIENT_ID, default the service's name */
	const char *client_secret; /* BH_CLIENT_SECRET, or read from BH_CLIENT_SECRET_FILE; NULL if neither */
	int token_leeway;         /* BH_TOKEN_LEEWAY seconds for exp/nbf, 0-300, default 30 */
	int jwks_cooldown;        /* BH_JWKS_COOLDOWN seconds between JWKS refetches for unknown kids, 1-3600, default 30 */
	int http_connect_timeout_ms; /* BH_HTTP_CONNECT_TIMEOUT, 10-60000, default 1000 */
	int http_timeout_ms;      /* BH_HTTP_TIMEOUT (whole call, retries included), 10-300000, default 5000 */
	int http_retries;         /* BH_HTTP_RETRIES for idempotent calls, 0-10, default 2 */
} bh_config;

extern bh_config bh_cfg;

/* Fills bh_cfg from the environment.  Returns 0, or -1 after writing a
 * message naming the bad variable to *err (a static string). */
int bh_config_load(const char *service, const char **err);

/* A service's own settings (read from its configure hook, see bh_service):
 * the integer in environment variable var, def when unset; min..max
 * inclusive (def too: else -1, a bug); a '-' only when min < 0.  Returns
 * 0 with *out set, or -1 with *err a static message naming var. */
int bh_env_int(const char *var, long long def, long long min, long long max,
	       long long *out, const char **err);
/* One row of a service's table of integer settings (see bh_env_ints). */
typedef struct bh_int_setting {
	const char *var;          /* "BH_ACCESS_TOKEN_TTL"; NULL ends the table */
	long long def, min, max;  /* as for bh_env_int */
	long long *out;
} bh_int_setting;
/* bh_env_int for each row of settings, in order, up to the row whose var
 * is NULL.  Returns 0 with every *out set, or -1 at the first bad value
 * (or a default outside its own range, a bug) with *err a static message
 * naming the variable; the rows before it are set then. */
int bh_env_ints(const bh_int_setting *settings, const char **err);
/* The value of var, or def when unset or empty.  Static (the environment's
 * or def). */
const char *bh_env_str(const char *var, const char *def);
/* Reads a secret from the file named by var_FILE (trailing newline cut) or
 * else from var itself; NULL when neither is set.  Returns malloc'ed memory
 * the caller owns (held for the process's life in practice), or NULL with
 * *err set when the file cannot be read. */
char *bh_env_secret(const char *var, const char **err);
/* The base URL of another service, as this one calls it: $BH_<SVC>_URL
 * (svc upper-cased), else <public_url>/<svc>.  No trailing slash.  Static
 * storage, valid for the process's life. */
const char *bh_service_url(const char *svc);

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
	BH_DATE,   /* YYYY-MM-DD, a real calendar date 1970-01-01..9999-12-31;
		    * .i is days since 1970-01-01; min/max (in those days)
		    * bound it when not both 0 */
	BH_OBJECT, /* BH_BODY only: a JSON object, in .json; when .members is
		    * set its members are validated like a body (undeclared
		    * ones refused), named "card.number" in problems, and
		    * read with bh_arg(req, "card.number") */
	BH_ARRAY,  /* BH_BODY only: a JSON array, in .json; min/max bound its
		    * length (0,0 = 0..1000); elements are the handler's */
	BH_IGNORED, /* BH_BODY only: any JSON value, accepted and never read:
		    * a member clients send that the server decides itself
		    * (a price, a status) */
};

/* One declared input, as kcgi's struct kvalid: only what passes reaches
 * the handler.  Tables end with an entry whose name is NULL.
 * A route that declares BH_BODY parameters declares its whole body: a
 * JSON object body with a member not declared is a 400 invalid-parameter
 * naming it ("param"), before any value is checked.  A form body may hold
 * other fields (OAuth 2.0 says to ignore them); they are not read.  A
 * JSON body that gives a member name twice in any object never gets this
 * far: 400 malformed-body (request.c).  Nested objects are declared
 * with BH_OBJECT and .members; arrays (BH_ARRAY) are checked for their
 * length only, their elements read by the handler from .json. */
typedef struct bh_param {
	const char *name;
	enum bh_src src;
	enum bh_type type;
	bool required;
	int64_t min, max;            /* 0,0 = type's default bounds */
	const char *const *choices;  /* BH_ENUM: NULL-terminated */
	const char *def;             /* default, as text, used when absent */
	const struct bh_param *members; /* BH_OBJECT: its members, or NULL */
} bh_param;

typedef struct bh_value {
	const bh_param *spec;
	bool present; /* given by the caller or defaulted */
	int64_t i;    /* BH_INT, BH_BOOL (0/1), BH_ENUM (index) */
	const char *s; /* the text (all scalar types) */
	size_t len;
	json_object *json;  /* BH_OBJECT, BH_ARRAY: the member, owned by the request */
	struct bh_value *members; /* BH_OBJECT with .members: one per member param */
	size_t nmembers;
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
	const struct bh_token *token; /* verified bearer token (BH_TOKEN routes), else NULL */
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

/* Validated values by parameter name (the route declared it); a member
 * of a BH_OBJECT parameter is named "object.member" ("card.number"). */
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
/* validate.c: the number of characters in valid UTF-8 s[0..len). */
size_t bh_utf8_length(const char *s, size_t len);
/* validate.c: true if s[0..len) is valid UTF-8 without ASCII control
 * characters (U+0000-U+001F, U+007F), newline and tab excepted when
 * multiline: text as BH_STRING parameters take it (multiline false). */
bool bh_text_valid(const char *s, size_t len, bool multiline);
/* validate.c: true if s is a uuid as PostgreSQL prints one: 8-4-4-4-12
 * hex digits (either case), nothing else. */
bool bh_uuid_valid(const char *s);

/* The request's Idempotency-Key header: 1-255 printable ASCII
 * characters.  Returns it (owned by req), or NULL: with no response set
 * when the header is absent and not required; with a 400
 * invalid-parameter (param "Idempotency-Key") set when it is absent and
 * required, or malformed. */
const char *bh_idempotency_key(bh_request *req, bool required);
/* What the request asks, for comparing a replay with the original: SHA-256
 * hex over the method, the path and the body's bytes, as an HMAC keyed
 * with bh_cfg.client_secret when there is one (a body may hold a card
 * number).  Owned by req. */
char *bh_request_fingerprint(bh_request *req);

/* ----------------------------------------------------------------- date.c */

/* Dates are days since 1970-01-01 (UTC), as BH_DATE values carry them. */
/* True, with *days set, if s[0..len) is a YYYY-MM-DD calendar date from
 * 1970-01-01 to 9999-12-31 (leap years checked, nothing else allowed). */
bool bh_date_parse(const char *s, size_t len, int64_t *days);
/* The date as YYYY-MM-DD.  Owned by pool. */
char *bh_date_format(bh_pool *pool, int64_t days);
/* Today's date in UTC. */
int64_t bh_date_today(void);

/* ---------------------------------------------------------------- money.c */

/* Money is an integer amount of minor units plus an ISO 4217 code. */
/* The number of minor-unit digits of currency code (upper-case ISO 4217:
 * EUR 2, JPY 0, BHD 3), or -1 when it is not a currency bellhop knows. */
int bh_currency_exponent(const char *code);
/* amount in minor units written for people, grouped by thousands, with
 * the code after it: "1,234.50 EUR", "15,000 JPY", "-0.500 BHD".  Owned
 * by pool; NULL for an unknown currency. */
char *bh_money_format(bh_pool *pool, int64_t amount, const char *currency);

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
#define BH_PROBLEM_UNAUTHORIZED "unauthorized"          /* 401: missing or bad token */
#define BH_PROBLEM_INSUFFICIENT_SCOPE "insufficient-scope" /* 403 */
#define BH_PROBLEM_FORBIDDEN "forbidden"                /* 403, other reasons */
#define BH_PROBLEM_CONFLICT "conflict"                  /* 409 */
#define BH_PROBLEM_IDEMPOTENCY_KEY_REUSED "idempotency-key-reused" /* 422 */
#define BH_PROBLEM_TOO_MANY_REQUESTS "too-many-requests" /* 429 + Retry-After */
#define BH_PROBLEM_UPSTREAM "upstream-unavailable"      /* 502/503/504 from a call */
#define BH_PROBLEM_PAYMENT_DECLINED "payment-declined"  /* 402: the bank said no */

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
/* bh_problem with more members: those of extra (a JSON object, not
 * consumed; may be NULL), e.g. "payment_id" and "decline_code", added
 * after the standard ones (which they cannot replace). */
int bh_problem_ext(bh_request *req, int status, const char *slug,
		   const char *param, json_object *extra,
		   const char *detail_fmt, ...) BH_PRINTF(6, 7);

/* --------------------------------------------------------------- router.c */

typedef int (*bh_handler)(bh_request *req);

/* One route: methods (GET also answers HEAD), a path pattern relative to
 * the service's base path with segments "name" or "{name}" or
 * "{name:int}" (1..2147483647, else 400 naming the parameter), the
 * handler, and its declared parameters (NULL-name-terminated, may be
 * NULL).  Path parameters are matched by name with BH_PATH entries, which
 * may tighten their bounds. */
/* Who may call a route.  Every route must say: bh_main refuses to start
 * a service with a route left BH_ACCESS_UNDECLARED, and bh_dispatch
 * treats one as BH_TOKEN with no scope (never as public). */
enum bh_access {
	BH_ACCESS_UNDECLARED = 0,
	BH_PUBLIC,  /* no token looked at */
	BH_TOKEN,   /* a valid bearer token for this service's audience (bh_cfg.audience) holding every scope in .scopes */
};

typedef struct bh_route {
	unsigned methods;
	const char *pattern;
	bh_handler handler;
	const bh_param *params;
	enum bh_access access;
	const char *scopes;     /* BH_TOKEN: space-separated, all required; NULL = none */
} bh_route;

/* A command of the program besides serve and migrate, e.g.
 * "bellhop-auth client add ...": run gets the arguments after the
 * command's name (argv[0] is the name), with bh_cfg loaded.  Returns the
 * exit status.  Tables end with {0}. */
typedef struct bh_command {
	const char *name;     /* "client" */
	const char *usage;    /* one or more lines for --help: "client add NAME --scopes S ..." */
	int (*run)(int argc, char **argv);
} bh_command;

typedef struct bh_service {
	const char *name;        /* "search" */
	const bh_route *routes;  /* ends with {0} */
	bool uses_db;            /* /ready checks the database; migrate works */
	/* Called once in each worker before it serves; returns 0 or -1. */
	int (*worker_init)(void);
	/* Called once after bh_cfg is loaded, before serving or running any
	 * command: reads and checks the service's own settings (bh_env_*).
	 * Returns 0, or -1 with *err a message naming the bad variable; the
	 * program then exits with status 2.  May be NULL. */
	int (*configure)(const char **err);
	const bh_command *commands; /* may be NULL */
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
/* For commands and long-running modes (not requests): a new connection
 * to bh_cfg.database_url with the configured timeouts, or NULL with a
 * one-line reason (never the URL) in err.  The caller owns it (PQfinish). */
PGconn *bh_db_connect(char *err, size_t errsize);
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

/* --------------------------------------------------------------- crypto.c */

/* n bytes from the kernel's CSPRNG (getrandom); aborts if it fails. */
void bh_random_bytes(void *buf, size_t n);
/* nbytes random bytes as base64url without padding (a secret, a code, a
 * CSRF token).  Owned by pool. */
char *bh_random_token(bh_pool *pool, size_t nbytes);
/* Compares in time that depends on the lengths only.  False when they
 * differ. */
bool bh_ct_equal(const void *a, size_t alen, const void *b, size_t blen);
/* SHA-256 of data as 64 lower-case hex digits: how high-entropy secrets
 * (client secrets, refresh tokens, codes, email tokens) are stored.
 * Owned by pool. */
char *bh_sha256_hex(bh_pool *pool, const void *data, size_t len);
/* base64url (RFC 4648 section 5) without padding.  Owned by pool. */
char *bh_b64url_encode(bh_pool *pool, const void *data, size_t len);
/* Strict decoding: only the base64url alphabet, no padding, no white
 * space, unused trailing bits zero, length % 4 != 1.  Returns the bytes
 * (NUL-terminated for convenience) owned by pool and *outlen, or NULL. */
unsigned char *bh_b64url_decode(bh_pool *pool, const char *s, size_t len,
				size_t *outlen);
/* Standard base64 with padding (MIME, HTTP Basic).  Owned by pool. */
char *bh_b64_encode(bh_pool *pool, const void *data, size_t len);
/* Strict standard base64 with padding; NULL when malformed. */
unsigned char *bh_b64_decode(bh_pool *pool, const char *s, size_t len,
			     size_t *outlen);

/* ------------------------------------------------------------------ jwt.c */

/* Access tokens are JWTs (RFC 9068) signed with Ed25519: header
 * {"alg":"EdDSA","typ":"at+jwt","kid":...}.  Nothing else is accepted. */
#define BH_JWT_ALG "EdDSA"
#define BH_JWT_TYP "at+jwt"
#define BH_JWT_MAX_LEN 8192 /* longer tokens are refused unread */

typedef struct bh_jwk {
	char kid[65];             /* 1-64 characters of [A-Za-z0-9_-] */
	unsigned char pub[32];    /* Ed25519 public key */
} bh_jwk;

typedef struct bh_jwks {
	bh_jwk *keys;             /* malloc'ed; bh_jwks_free */
	size_t n;
} bh_jwks;

/* Makes a key pair: seed is the private key.  Returns 0 or -1. */
int bh_ed25519_keygen(unsigned char seed[32], unsigned char pub[32]);
/* The public key of a seed.  Returns 0 or -1. */
int bh_ed25519_public(const unsigned char seed[32], unsigned char pub[32]);
/* Signs claims (not consumed) as header.payload.signature with the
 * header above.  Returns the token owned by pool, or NULL on failure. */
char *bh_jwt_sign(bh_pool *pool, const char *kid,
		  const unsigned char seed[32], json_object *claims);
/* One JWK for a JWKS document: {"kty":"OKP","crv":"Ed25519","x":...,
 * "kid":...,"alg":"EdDSA","use":"sig"}.  The caller owns the object
 * (json_object_put). */
json_object *bh_jwk_to_json(const bh_jwk *key);
/* Parses a JWKS document, keeping the keys with kty OKP, crv Ed25519, a
 * valid kid, alg EdDSA or absent, use sig or absent; others are skipped.
 * Returns 0 (out filled, possibly with n == 0; the caller owns it:
 * bh_jwks_free) or -1 when the document is malformed. */
int bh_jwks_parse(const char *json, size_t len, bh_jwks *out);
void bh_jwks_free(bh_jwks *jwks);
const bh_jwk *bh_jwks_find(const bh_jwks *jwks, const char *kid);

enum bh_jwt_status {
	BH_JWT_OK = 0,
	BH_JWT_MALFORMED,      /* not three strict base64url parts of JSON objects, too long */
	BH_JWT_BAD_HEADER,     /* alg not EdDSA, typ not at+jwt, no kid, jku/jwk/x5u/x5c/crit present */
	BH_JWT_UNKNOWN_KID,    /* kid not in the key set (callers may refetch once) */
	BH_JWT_BAD_SIGNATURE,
	BH_JWT_BAD_CLAIMS,     /* exp/iat/nbf not integers, sub/jti/client_id missing or not strings, scope not a string */
	BH_JWT_EXPIRED,        /* exp + leeway <= now */
	BH_JWT_NOT_YET_VALID,  /* nbf or iat - leeway > now */
	BH_JWT_BAD_ISSUER,
	BH_JWT_BAD_AUDIENCE,   /* aud (string or array) does not hold the audience */
};

typedef struct bh_jwt_expect {
	const char *issuer;    /* iss must equal it */
	const char *audience;  /* must be aud or in aud */
	int leeway;            /* seconds */
	int64_t now;           /* seconds since the epoch */
} bh_jwt_expect;

/* Verifies token against keys and expect.  On BH_JWT_OK *claims is the
 * payload, owned by pool (released with it).  Required claims: iss, aud,
 * exp, iat, sub, jti, client_id; optional nbf, scope. */
enum bh_jwt_status bh_jwt_verify(bh_pool *pool, const char *token,
				 const bh_jwks *keys,
				 const bh_jwt_expect *expect,
				 json_object **claims);
/* A short English reason for a status ("the token has expired"). */
const char *bh_jwt_status_str(enum bh_jwt_status status);

/* ---------------------------------------------------------------- authz.c */

/* The verified bearer token of a request (req->token): strings point into
 * the claims, owned by the request's pool. */
typedef struct bh_token {
	const char *sub;       /* user id, or client id for client_credentials */
	const char *client_id;
	const char *scope;     /* space-separated, "" if none */
	const char *jti;
	int64_t exp, iat;
	json_object *claims;
} bh_token;

/* True if the token's scope holds scope (exact match of one word). */
bool bh_token_has_scope(const bh_token *token, const char *scope);
/* For handlers that need the token on a route they keep BH_PUBLIC, and for
 * bh_dispatch: verifies the Authorization: Bearer token of req against
 * auth's JWKS (fetched with bh_http, cached; refetched for an unknown kid
 * at most once per bh_cfg.jwks_cooldown), bh_cfg.auth_issuer and
 * audience, then checks scopes (space-separated, all required; may be
 * NULL).  Returns 0 with req->token set, or -1 with the response set:
 * 401 unauthorized + WWW-Authenticate: Bearer (error="invalid_token" when
 * a token was given), 403 insufficient-scope + WWW-Authenticate with
 * error="insufficient_scope", or 503 when no key set could be had. */
int bh_authorize(bh_request *req, const char *audience, const char *scopes);
/* audience NULL means bh_cfg.audience. */

/* ---------------------------------------------------------------- httpc.c */

/* One outbound HTTP call (libcurl).  Fields left zero take defaults. */
typedef struct bh_http_call {
	const char *upstream;   /* circuit breaker name, e.g. "users"; required */
	const char *method;     /* "GET", "POST"...; default GET */
	const char *url;
	const char *content_type; /* of body; default application/json when body is set */
	const char *body;
	size_t body_len;
	const char *idempotency_key; /* sent as Idempotency-Key; makes a POST/PATCH retryable */
	const char *const *headers;  /* extra "Name: value" lines, NULL-terminated; may be NULL */
	const char *basic_user, *basic_password; /* HTTP Basic (client authentication) */
	bool service_token;     /* attach this service's own bearer token (svctoken.c) */
	int timeout_ms;         /* whole call, retries included; 0 = bh_cfg.http_timeout_ms */
} bh_http_call;

typedef struct bh_http_response {
	long status;            /* HTTP status, 0 when no response came */
	const char *content_type; /* lower-case media type or NULL */
	const char *retry_after;  /* Retry-After or NULL */
	const char *location;     /* Location or NULL */
	char *body;             /* NUL-terminated, owned by the pool */
	size_t len;
	const char *error;      /* why no response came (status 0), owned by the pool */
	const char *cache_control; /* Cache-Control or NULL (authz.c honours max-age of the JWKS) */
	bool maybe_sent;        /* false only when no attempt's request can have
				 * reached the upstream (circuit open, no
				 * service token, connection refused or not
				 * made): safe to report "nothing happened" */
} bh_http_response;

/* Performs call, passing on the request id of the request in flight
 * (X-Request-Id) and User-Agent bellhop-<service>.  Bodies of answers are
 * capped at 8 MiB.  GET/HEAD/PUT/DELETE and calls with an idempotency key
 * are retried (at most bh_cfg.http_retries times, exponential backoff with
 * jitter, inside the time budget) after a connection failure, a timeout or
 * a 502/503/504; others are tried once.  A call whose service token was
 * refused (401) gets a fresh token and is sent once more.  Each upstream
 * has a circuit breaker per process: 5 failures in a row (no answer or a
 * 5xx) open it for 10 s, during which calls fail at once; then one trial
 * call decides.  Everything in *resp is owned by pool.  Returns 0 when an
 * HTTP answer came (any status), -1 otherwise (resp->error says why). */
int bh_http(bh_pool *pool, const bh_http_call *call, bh_http_response *resp);
/* The answer's body as JSON (owned by pool), or NULL when it is not JSON. */
json_object *bh_http_json(bh_pool *pool, const bh_http_response *resp);

/* ------------------------------------------------------------- svctoken.c */

/* This service's own access token from auth (client_credentials with
 * bh_cfg.client_id/client_secret at bh_cfg.token_url), cached per process
 * until 60 s before it expires.  Returns a static string valid until the
 * next call, or NULL (logged) when none could be had. */
const char *bh_service_token(void);
/* Drops the cached token (after an upstream refused it). */
void bh_service_token_invalidate(void);

/* ---------------------------------------------------------------- email.c */

/* The normal form of an email address, the one every service stores,
 * compares and counts: s[0..len) (any bytes) trimmed of spaces, checked,
 * and lower-cased as a whole.  Accepted: ASCII only (no SMTPUTF8, no
 * IDNA: notifications could not send to anything else), at most 254
 * characters, no space or control character, exactly one '@'; before it
 * 1-64 characters, none of ( ) < > [ ] : ; , \ ", no leading, trailing
 * or doubled dot; after it at least two labels of 1-63 letters, digits
 * and '-', not starting or ending with '-'.  Returns it (owned by pool),
 * or NULL when s is not an address bellhop accepts. */
char *bh_email_normalize(bh_pool *pool, const char *s, size_t len);
/* bh_email_normalize, and when it returns NULL *why (why may be NULL)
 * says why in one static English phrase ("it must hold exactly one
 * '@'"), for a 400's detail; NULL on success. */
char *bh_email_normalize_why(bh_pool *pool, const char *s, size_t len,
			     const char **why);

/* --------------------------------------------------------------- repeat.c */

/* One round of a repeated command's work: memory from pool (reset after
 * the round), says what it did on stdout; repeating is false when the
 * command runs it once, true under --every.  Returns the exit status of
 * the command run once (ignored when repeating). */
typedef int (*bh_round_fn)(bh_pool *pool, bool repeating, void *arg);

/* The body of a command "NAME [--every SECONDS]" (a bh_command's run):
 * argv[0] is NAME, usage the synopsis starting with the program's name
 * ("bellhop-payments reconcile [--every SECONDS]").  Ignores SIGPIPE and
 * turns SIGTERM and SIGINT into a stop request (both stay so after it
 * returns).  Runs round(pool, repeating, arg) once, or with --every (1 to
 * 86400) again SECONDS after each round ends until a stop is requested:
 * the round in hand is finished (a long one may end early when
 * bh_repeat_stopping() says so), a pause ends within 0.1 s.  Owns the
 * pool; closes this process's database connection before it returns.
 * Returns 2 on a usage error (said on stderr, no round run), else once
 * the round's status, repeating 0. */
int bh_repeat_command(const char *usage, int argc, char **argv,
		      bh_round_fn round, void *arg);
/* True once SIGTERM or SIGINT has asked bh_repeat_command to stop. */
bool bh_repeat_stopping(void);

/* --------------------------------------------------------------- server.c */

/* The whole program: parses argv (serve flags, --help, --version,
 * "migrate"), loads config, then serves.  Returns the exit status. */
int bh_main(const bh_service *svc, int argc, char **argv);

#endif
