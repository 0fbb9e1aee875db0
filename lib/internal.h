/*
 * internal.h - what lib/ files share among themselves; services use only
 * bellhop.h.
 */
#ifndef BH_INTERNAL_H
#define BH_INTERNAL_H

#include <signal.h>

#include "bellhop.h"

/* Set by the signal handlers in server.c; the worker loop stops accepting
 * once it is non-zero and finishes the request in flight. */
extern volatile sig_atomic_t bh_stop_requested;

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

/* response.c: serialises status line, headers (defaults, Content-Length,
 * X-Request-Id) and body (not for HEAD) into out.  out must be
 * initialised. */
void bh_response_serialize(bh_request *req, bh_buf *out);

/* log.c: the access line for a finished request. */
void bh_log_access(const bh_request *req, size_t bytes_out);

/* worker.c: serves requests on listen_fd until bh_stop_requested or,
 * when max_requests > 0, that many requests.  Returns 0, or -1 on a fatal
 * accept error. */
int bh_worker_run(const bh_service *svc, int listen_fd, long max_requests);

#endif
