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
