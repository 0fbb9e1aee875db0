/*
 * minihttpd.h - a scripted HTTP/1.1 server on 127.0.0.1 for unit tests.
 *
 * It runs in threads of the test process, answers from a queue of
 * scripted answers and records every request it read, so a test can
 * drive a client (bh_http) against it and then look at what was sent.
 * Requests need a Content-Length for a body (no chunked uploads);
 * connections are kept alive unless an answer says otherwise.
 */
#ifndef BH_TEST_MINIHTTPD_H
#define BH_TEST_MINIHTTPD_H

#include <stdbool.h>
#include <stddef.h>

typedef struct minihttpd minihttpd;

/* One scripted answer.  The strings are copied when it is queued. */
struct mh_answer {
	const char *path;     /* for requests to this path only (query ignored); NULL = any */
	int status;           /* 0 = 200 */
	const char *headers;  /* extra header lines, each ending "\r\n"; may be NULL */
	const char *body;     /* may be NULL */
	size_t body_len;      /* 0 = strlen(body) */
	int delay_ms;         /* wait before answering */
	bool close;           /* close the connection without answering */
	bool no_length;       /* send the body without Content-Length, then close */
};

/* One request as received; strings NUL-terminated. */
struct mh_request {
	char method[32];
	char *target;         /* path and query as sent */
	char **names, **values; /* header lines in order; names as sent */
	size_t nheaders;
	char *body;           /* NUL-terminated copy, "" when none */
	size_t body_len;
};

/* Starts a server on an ephemeral port.  Returns NULL (with a message on
 * stderr) on failure; the caller stops it with mh_stop. */
minihttpd *mh_start(void);
/* Stops the threads, closes every connection, frees everything. */
void mh_stop(minihttpd *mh);
int mh_port(const minihttpd *mh);

/* Queues an answer: each request takes the first queued answer whose
 * path matches; with none, it gets 404 "no scripted answer". */
void mh_push(minihttpd *mh, const struct mh_answer *answer);
/* Forgets queued answers and recorded requests (not the connections). */
void mh_clear(minihttpd *mh);

/* Requests recorded so far, and the i-th of them (owned by mh, valid
 * until mh_clear or mh_stop). */
size_t mh_count(minihttpd *mh);
const struct mh_request *mh_request(minihttpd *mh, size_t i);
/* Requests received for path (query ignored). */
size_t mh_count_path(minihttpd *mh, const char *path);
/* Connections accepted so far (to see keep-alive at work). */
size_t mh_connections(minihttpd *mh);

/* The value of a request's header (name case-insensitive), or NULL. */
const char *mh_header(const struct mh_request *req, const char *name);

#endif
