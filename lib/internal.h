/*
 * internal.h - what lib/ files share among themselves; services use only
 * bellhop.h.
 */
#ifndef BH_INTERNAL_H
#define BH_INTERNAL_H

#include <signal.h>

#include "bellhop.h"
#include "sha256.h"

/* Set by the workers' signal handlers (worker.c); the worker loop stops
 * accepting once it is non-zero and finishes the request in flight. */
extern volatile sig_atomic_t bh_stop_requested;

/* config.c: checks value as the setting of environment variable var
 * (e.g. "BH_WORKERS") and stores it in bh_cfg; label names it in the
 * message (the variable, or the command-line flag that overrides it).
 * Returns 0, or -1 with *err pointing to a static message. */
int bh_config_set(const char *var, const char *label, const char *value,
		  const char **err);

/* The request id of the request in flight, for bh_log; NULL between
 * requests. */
extern const char *bh_log_request_id;

/* Microseconds from CLOCK_MONOTONIC. */
uint64_t bh_now_us(void);

/* request.c: fills req from the FastCGI params (envp, NULL-terminated
 * "NAME=value" strings, as FCGX_Request.envp), copying everything into
 * req->pool.  Sets a problem response (and returns -1) for a request
 * that is bad before routing: bad percent-encoding or UTF-8 in the path,
 * a Content-Length that is not a number or exceeds bh_cfg.max_body (413).
 * req->pool must be set and the rest zeroed by the caller. */
int bh_request_from_env(bh_request *req, char *const *envp);
/* request.c: parses req->body by content type (form or JSON with the
 * nesting limit).  Returns 0, or -1 with a 400/415 problem set. */
int bh_request_parse_body(bh_request *req);
/* request.c: true for the media types read as JSON (as req->content_type
 * gives them): application/json and any "+json" type. */
bool bh_is_json_type(const char *type);

/* json.c: why a text is not the strict JSON bh_json_check takes. */
enum bh_json_error {
	BH_JSON_OK = 0,
	BH_JSON_NOT_UTF8,   /* the text is not valid UTF-8 */
	BH_JSON_SYNTAX,     /* not RFC 8259 JSON (or a \u0000, an unpaired
			     * surrogate escape): why, at */
	BH_JSON_TOO_DEEP,   /* nests deeper than max_depth: at, the bracket */
	BH_JSON_REPEATED,   /* a member name twice in one object: name, at
			     * (its second occurrence) */
	BH_JSON_TOO_LARGE,  /* INT_MAX bytes or more (json-c counts in int) */
	BH_JSON_PARSER,     /* json-c refused what the check took: why */
	BH_JSON_NO_MEMORY,  /* json-c could not make a parser */
};

struct bh_json_fault {
	enum bh_json_error error;
	const char *why;    /* static English text, e.g. "a malformed number" */
	size_t at;          /* byte offset of the fault in the text */
	const char *name;   /* BH_JSON_REPEATED: the name, escapes decoded
			     * (valid UTF-8, no NUL, not NUL-terminated;
			     * owned by the pool or the text) */
	size_t name_len;
	int max_depth;      /* the nesting limit applied */
};

/* json.c: checks that s[0..len) is exactly one JSON text as RFC 8259
 * says, in valid UTF-8, without "\u0000" or unpaired surrogate escapes,
 * nesting at most max_depth arrays and objects (clamped to 1..4096), with
 * no member name twice in one object (names compared after decoding
 * escapes, as json-c does).  Scratch memory comes from pool.  Returns 0,
 * or -1 with *f saying why and where. */
int bh_json_check(bh_pool *pool, const char *s, size_t len, int max_depth,
		  struct bh_json_fault *f);
/* json.c: bh_json_check, then the tree from json-c.  Returns 0 with *out
 * owned by pool (released with it; NULL for the text "null"), or -1 with
 * *out NULL and *f saying why.  Not reentrant: one json-c parser per
 * process is reused. */
int bh_json_parse(bh_pool *pool, const char *s, size_t len, int max_depth,
		  json_object **out, struct bh_json_fault *f);

/* validate.c: name (a parameter's or member's, from the request) as a
 * message may show it: cut after 64 characters at a character boundary
 * (with "..." then), owned by pool; NULL when it is better not shown
 * (empty, not valid UTF-8, or holding control characters). */
const char *bh_name_shown(bh_pool *pool, const char *name, size_t len);

/* validate.c: fills req->values (in the pool) from the declared
 * parameters of req->route.  Returns 0, or -1 with a 400/415 problem set. */
int bh_validate_params(bh_request *req);

/* response.c: serialises status line, headers (defaults, Content-Length,
 * X-Request-Id) and body (not for HEAD) into out.  out must be
 * initialised. */
void bh_response_serialize(bh_request *req, bh_buf *out);

/* log.c: copies msg (may be NULL) into buf as one line for a log
 * message: newlines and tabs become spaces, trailing blanks go. */
void bh_log_one_line(char *buf, size_t size, const char *msg);

/* log.c: the access line for a finished request. */
void bh_log_access(const bh_request *req, size_t bytes_out);

/* worker.c: serves requests on listen_fd until bh_stop_requested or,
 * when max_requests > 0, that many requests.  Returns 0, or -1 on a fatal
 * accept error. */
int bh_worker_run(const bh_service *svc, int listen_fd, long max_requests);

/* db.c: opens a connection to url (a libpq conninfo string or URI; NULL
 * means libpq's defaults) with connect_timeout from bh_cfg and the given
 * application_name, routing server notices to bh_log.  On failure writes
 * why to err (one line, safe to log: never the URL, which may hold a
 * password) and returns NULL.  The caller owns the connection
 * (PQfinish). */
PGconn *bh_db_open(const char *url, const char *application_name,
		   char *err, size_t errsize);

/* httpc.c: how long a circuit breaker stays open, in ms (10000; tests
 * shorten it). */
extern int bh_http_breaker_open_ms;
/* httpc.c: forgets every breaker's state and closes the process's
 * connections (tests, between cases). */
void bh_http_reset(void);
/* svctoken.c: bh_service_token, a fetch (when one is due) limited to
 * timeout_ms (0 = bh_cfg.http_timeout_ms): bh_http spends the call's own
 * budget on getting its token. */
const char *bh_service_token_within(int timeout_ms);

/* authz.c, for tests: pins a copy of keys as the key set (never
 * fetched nor refetched then); NULL forgets the keys and every cache
 * state, so the next request fetches. */
void bh_authz_set_keys(const bh_jwks *keys);
/* authz.c, for tests: the clock (seconds since the epoch) used for the
 * cache and for token times; 0 = the real clock. */
void bh_authz_set_now(int64_t now);
/* authz.c, for tests: what fetches the JWKS instead of bh_http (same
 * contract); NULL = bh_http. */
void bh_authz_set_fetch(int (*fetch)(bh_pool *pool, const bh_http_call *call,
    bh_http_response *resp));
/* authz.c, for tests: the verified-token cache since the last
 * bh_authz_set_keys (which empties it): hits (signature checks skipped),
 * misses (tokens verified in full and accepted), entries held now. */
void bh_authz_token_cache_stats(unsigned long *hits, unsigned long *misses,
    size_t *entries);

/* migrate.c: one NNN_name.sql file of a service's migration directory. */
typedef struct bh_migration {
	int version; /* NNN, read as a decimal number */
	char *name;  /* the file's name, e.g. "001_catalogue.sql" */
	char *path;  /* dir/name */
} bh_migration;

/* migrate.c: migration files are refused above this size. */
#define BH_MIGRATION_MAX_SIZE (16 * 1024 * 1024)

/* migrate.c: lists the migration files in dir (names made of 1 to 9
 * digits, '_', a name, ".sql"; anything else is ignored) in numeric order
 * into *list, *n entries.  Returns 0, or -1 after logging why (unreadable
 * directory, a number used twice).  The caller owns *list and releases it
 * with bh_migration_list_free. */
int bh_migration_scan(const char *dir, bh_migration **list, size_t *n);
void bh_migration_list_free(bh_migration *list, size_t n);
/* migrate.c: reads the migration file at path (a regular file of at most
 * BH_MIGRATION_MAX_SIZE bytes holding no NUL byte) and its SHA-256 in hex
 * into checksum.  Returns a NUL-terminated copy the caller frees, *len its
 * length, or NULL after logging why. */
char *bh_migration_read(const char *path, size_t *len,
			char checksum[BH_SHA256_HEX_LEN + 1]);

#endif
