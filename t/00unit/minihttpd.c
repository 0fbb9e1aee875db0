/*
 * minihttpd.c - a scripted HTTP/1.1 server for unit tests (see
 * minihttpd.h).
 *
 * One thread accepts; each connection gets a thread of its own, so a
 * delayed answer on one connection never holds up another (a client that
 * gave up on a slow answer comes back on a new connection).  Stopping
 * shuts every socket down, which wakes the threads blocked on them, and
 * joins them all.
 */
#define _GNU_SOURCE /* strcasestr */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "minihttpd.h"

#define MH_HEAD_MAX (64 * 1024)
#define MH_BODY_MAX (16 * 1024 * 1024)

struct queued {
	struct queued *next;
	struct mh_answer a;   /* strings malloc'ed */
};

struct conn {
	minihttpd *mh;
	int fd;
	pthread_t thread;
};

struct minihttpd {
	int listen_fd;
	int port;
	pthread_t acceptor;
	pthread_mutex_t lock;
	atomic_int stopping;
	struct queued *queue;
	struct mh_request **requests;
	size_t nrequests, caprequests;
	struct conn **conns;
	size_t nconns, capconns;
};

static void *
xmalloc(size_t n)
{
	void *p = calloc(1, n == 0 ? 1 : n);

	if (p == NULL)
		abort();
	return p;
}

static char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	return p;
}

static void
request_free(struct mh_request *r)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++) {
		free(r->names[i]);
		free(r->values[i]);
	}
	free(r->names);
	free(r->values);
	free(r->target);
	free(r->body);
	free(r);
}

static void
queued_free(struct queued *q)
{
	free((char *)q->a.path);
	free((char *)q->a.headers);
	free((char *)q->a.body);
	free(q);
}

/* Path of a request target, without the query. */
static size_t
path_len(const char *target)
{
	return strcspn(target, "?");
}

static bool
path_matches(const char *want, const char *target)
{
	size_t n = path_len(target);

	return want == NULL || (strlen(want) == n &&
	    strncmp(want, target, n) == 0);
}

/* Takes the answer for target off the queue (caller frees), or NULL. */
static struct queued *
answer_take(minihttpd *mh, const char *target)
{
	struct queued **qp, *q;

	pthread_mutex_lock(&mh->lock);
	for (qp = &mh->queue; (q = *qp) != NULL; qp = &q->next)
		if (path_matches(q->a.path, target)) {
			*qp = q->next;
			break;
		}
	pthread_mutex_unlock(&mh->lock);
	return q;
}

static void
record(minihttpd *mh, struct mh_request *r)
{
	pthread_mutex_lock(&mh->lock);
	if (mh->nrequests == mh->caprequests) {
		mh->caprequests = mh->caprequests == 0 ? 16 :
		    mh->caprequests * 2;
		mh->requests = realloc(mh->requests,
		    mh->caprequests * sizeof(*mh->requests));
		if (mh->requests == NULL)
			abort();
	}
	mh->requests[mh->nrequests++] = r;
	pthread_mutex_unlock(&mh->lock);
}

static int
send_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads more into buf[*len..cap).  Returns bytes read, 0 at end, -1. */
static ssize_t
read_some(int fd, char *buf, size_t *len, size_t cap)
{
	ssize_t r;

	do
		r = recv(fd, buf + *len, cap - *len, 0);
	while (r < 0 && errno == EINTR);
	if (r > 0)
		*len += (size_t)r;
	return r;
}

/* Parses the head buf[0..headlen) (ending with the blank line) into r.
 * Returns the Content-Length (0 if none), or -1 if malformed. */
static long long
parse_head(char *buf, size_t headlen, struct mh_request *r)
{
	char *line = buf, *end, *sp1, *sp2, *colon, *v;
	long long length = 0;
	size_t cap = 0;

	if ((end = strstr(line, "\r\n")) == NULL)
		return -1;
	*end = '\0';
	if ((sp1 = strchr(line, ' ')) == NULL ||
	    (sp2 = strchr(sp1 + 1, ' ')) == NULL ||
	    (size_t)(sp1 - line) >= sizeof(r->method))
		return -1;
	memcpy(r->method, line, (size_t)(sp1 - line));
	r->target = xstrndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	for (line = end + 2; line < buf + headlen - 2; line = end + 2) {
		if ((end = strstr(line, "\r\n")) == NULL)
			return -1;
		*end = '\0';
		if ((colon = strchr(line, ':')) == NULL)
			return -1;
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			continue;
		if (r->nheaders == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			r->names = realloc(r->names, cap * sizeof(char *));
			r->values = realloc(r->values, cap * sizeof(char *));
			if (r->names == NULL || r->values == NULL)
				abort();
		}
		r->names[r->nheaders] = xstrndup(line, (size_t)(colon - line));
		r->values[r->nheaders] = xstrndup(v, strlen(v));
		r->nheaders++;
	}
	if ((v = (char *)mh_header(r, "content-length")) != NULL) {
		char *e;

		errno = 0;
		length = strtoll(v, &e, 10);
		if (errno != 0 || *e != '\0' || length < 0 ||
		    length > MH_BODY_MAX)
			return -1;
	}
	if (mh_header(r, "transfer-encoding") != NULL)
		return -1;
	return length;
}

static void
sleep_ms_unless_stopping(minihttpd *mh, int ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	for (; ms > 0 && !mh->stopping; ms -= 10)
		nanosleep(&ts, NULL);
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Status";
	}
}

/* Sends the answer.  Returns 0 to keep the connection, -1 to close it. */
static int
respond(int fd, bool head_only, const struct mh_answer *a)
{
	char head[MH_HEAD_MAX];
	const char *body = a->body != NULL ? a->body : "";
	size_t body_len = a->body_len != 0 ? a->body_len : strlen(body);
	int status = a->status != 0 ? a->status : 200, n;
	bool closing = a->no_length ||
	    (a->headers != NULL && strcasestr(a->headers, "connection: close"));

	if (a->no_length)
		n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n%s"
		    "Connection: close\r\n\r\n", status, reason(status),
		    a->headers != NULL ? a->headers : "");
	else
		n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n%s"
		    "Content-Length: %zu\r\n\r\n", status, reason(status),
		    a->headers != NULL ? a->headers : "", body_len);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	if (send_all(fd, head, (size_t)n) == -1)
		return -1;
	if (!head_only && send_all(fd, body, body_len) == -1)
		return -1;
	return closing ? -1 : 0;
}

static void *
conn_main(void *arg)
{
	struct conn *c = arg;
	minihttpd *mh = c->mh;
	char *buf = xmalloc(MH_HEAD_MAX + 1), *blank;
	size_t len = 0, headlen;
	long long length;
	struct mh_request *r;
	struct queued *q;
	struct mh_answer none = { .status = 404, .body = "no scripted answer" };
	static const char bad_request[] = "HTTP/1.1 400 Bad Request\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n";
	const char *connection;
	bool keep, head_only;

	while (!mh->stopping) {
		/* The head, then the body from what follows it. */
		buf[len] = '\0';
		while ((blank = strstr(buf, "\r\n\r\n")) == NULL) {
			if (len == MH_HEAD_MAX ||
			    read_some(c->fd, buf, &len, MH_HEAD_MAX) <= 0)
				goto out;
			buf[len] = '\0';
		}
		headlen = (size_t)(blank - buf) + 4;
		r = xmalloc(sizeof(*r));
		if ((length = parse_head(buf, headlen, r)) < 0) {
			request_free(r);
			send_all(c->fd, bad_request, strlen(bad_request));
			goto out;
		}
		r->body = xmalloc((size_t)length + 1);
		r->body_len = (size_t)length;
		if (len - headlen >= (size_t)length) {
			memcpy(r->body, buf + headlen, (size_t)length);
			memmove(buf, buf + headlen + length,
			    len - headlen - (size_t)length);
			len -= headlen + (size_t)length;
		} else {
			size_t have = len - headlen;

			memcpy(r->body, buf + headlen, have);
			len = 0;
			while (have < (size_t)length) {
				if (read_some(c->fd, r->body, &have,
				    (size_t)length) <= 0) {
					request_free(r);
					goto out;
				}
			}
		}
		/* r belongs to the record once made (mh_clear may free it
		 * while this thread still waits to answer). */
		connection = mh_header(r, "connection");
		keep = connection == NULL || strcasecmp(connection, "close");
		head_only = strcmp(r->method, "HEAD") == 0;
		q = answer_take(mh, r->target);
		record(mh, r);
		r = NULL;
		if (q != NULL && q->a.delay_ms > 0)
			sleep_ms_unless_stopping(mh, q->a.delay_ms);
		if (mh->stopping || (q != NULL && q->a.close)) {
			if (q != NULL)
				queued_free(q);
			goto out;
		}
		if (respond(c->fd, head_only, q != NULL ? &q->a : &none) == -1)
			keep = 0;
		if (q != NULL)
			queued_free(q);
		if (!keep)
			goto out;
	}
out:
	free(buf);
	shutdown(c->fd, SHUT_RDWR);
	return NULL;
}

static void *
accept_main(void *arg)
{
	minihttpd *mh = arg;
	struct conn *c;
	int fd;

	while (!mh->stopping) {
		if ((fd = accept(mh->listen_fd, NULL, NULL)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break;
		}
		c = xmalloc(sizeof(*c));
		c->mh = mh;
		c->fd = fd;
		pthread_mutex_lock(&mh->lock);
		if (mh->stopping) {
			pthread_mutex_unlock(&mh->lock);
			close(fd);
			free(c);
			break;
		}
		if (mh->nconns == mh->capconns) {
			mh->capconns = mh->capconns == 0 ? 16 :
			    mh->capconns * 2;
			mh->conns = realloc(mh->conns,
			    mh->capconns * sizeof(*mh->conns));
			if (mh->conns == NULL)
				abort();
		}
		if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
			pthread_mutex_unlock(&mh->lock);
			close(fd);
			free(c);
			continue;
		}
		mh->conns[mh->nconns++] = c;
		pthread_mutex_unlock(&mh->lock);
	}
	return NULL;
}

minihttpd *
mh_start(void)
{
	minihttpd *mh = xmalloc(sizeof(*mh));
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t slen = sizeof(sin);
	int one = 1;

	pthread_mutex_init(&mh->lock, NULL);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((mh->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC,
	    0)) == -1 ||
	    setsockopt(mh->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1 ||
	    bind(mh->listen_fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(mh->listen_fd, 64) == -1 ||
	    getsockname(mh->listen_fd, (struct sockaddr *)&sin, &slen) == -1) {
		perror("minihttpd");
		goto fail;
	}
	mh->port = ntohs(sin.sin_port);
	if (pthread_create(&mh->acceptor, NULL, accept_main, mh) != 0) {
		fprintf(stderr, "minihttpd: cannot start a thread\n");
		goto fail;
	}
	return mh;
fail:
	if (mh->listen_fd != -1)
		close(mh->listen_fd);
	pthread_mutex_destroy(&mh->lock);
	free(mh);
	return NULL;
}

void
mh_stop(minihttpd *mh)
{
	size_t i;

	if (mh == NULL)
		return;
	pthread_mutex_lock(&mh->lock);
	mh->stopping = 1;
	pthread_mutex_unlock(&mh->lock);
	/* Wakes accept() and every recv(). */
	shutdown(mh->listen_fd, SHUT_RDWR);
	pthread_join(mh->acceptor, NULL);
	for (i = 0; i < mh->nconns; i++)
		shutdown(mh->conns[i]->fd, SHUT_RDWR);
	for (i = 0; i < mh->nconns; i++) {
		pthread_join(mh->conns[i]->thread, NULL);
		close(mh->conns[i]->fd);
		free(mh->conns[i]);
	}
	close(mh->listen_fd);
	mh_clear(mh);
	free(mh->requests);
	free(mh->conns);
	pthread_mutex_destroy(&mh->lock);
	free(mh);
}

int
mh_port(const minihttpd *mh)
{
	return mh->port;
}

void
mh_push(minihttpd *mh, const struct mh_answer *answer)
{
	struct queued *q = xmalloc(sizeof(*q)), **tail;

	q->a = *answer;
	if (answer->path != NULL)
		q->a.path = xstrndup(answer->path, strlen(answer->path));
	if (answer->headers != NULL)
		q->a.headers = xstrndup(answer->headers,
		    strlen(answer->headers));
	if (answer->body != NULL) {
		q->a.body_len = answer->body_len != 0 ? answer->body_len :
		    strlen(answer->body);
		q->a.body = xstrndup(answer->body, q->a.body_len);
	}
	pthread_mutex_lock(&mh->lock);
	for (tail = &mh->queue; *tail != NULL; tail = &(*tail)->next)
		continue;
	*tail = q;
	pthread_mutex_unlock(&mh->lock);
}

void
mh_clear(minihttpd *mh)
{
	struct queued *q;
	size_t i;

	pthread_mutex_lock(&mh->lock);
	while ((q = mh->queue) != NULL) {
		mh->queue = q->next;
		queued_free(q);
	}
	for (i = 0; i < mh->nrequests; i++)
		request_free(mh->requests[i]);
	mh->nrequests = 0;
	pthread_mutex_unlock(&mh->lock);
}

size_t
mh_count(minihttpd *mh)
{
	size_t n;

	pthread_mutex_lock(&mh->lock);
	n = mh->nrequests;
	pthread_mutex_unlock(&mh->lock);
	return n;
}

const struct mh_request *
mh_request(minihttpd *mh, size_t i)
{
	const struct mh_request *r = NULL;

	pthread_mutex_lock(&mh->lock);
	if (i < mh->nrequests)
		r = mh->requests[i];
	pthread_mutex_unlock(&mh->lock);
	return r;
}

size_t
mh_count_path(minihttpd *mh, const char *path)
{
	size_t i, n = 0;

	pthread_mutex_lock(&mh->lock);
	for (i = 0; i < mh->nrequests; i++)
		if (path_matches(path, mh->requests[i]->target))
			n++;
	pthread_mutex_unlock(&mh->lock);
	return n;
}

size_t
mh_connections(minihttpd *mh)
{
	size_t n;

	pthread_mutex_lock(&mh->lock);
	n = mh->nconns;
	pthread_mutex_unlock(&mh->lock);
	return n;
}

const char *
mh_header(const struct mh_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->names[i], name) == 0)
			return req->values[i];
	return NULL;
}
