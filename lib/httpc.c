/*
 * httpc.c - the one HTTP client for calls to other services and to third
 * parties (libcurl easy API).
 *
 * A worker handles one request at a time, so the process keeps one easy
 * handle, made on first use (after the fork from the master, never
 * before) and reused so that connections to the front end stay alive
 * between calls.  curl_easy_reset() before each attempt clears the
 * options of the previous call but keeps its live connections.
 *
 * Around each call: a time budget shared by all attempts, retries with
 * full-jitter backoff for calls that are safe to repeat, and a circuit
 * breaker per upstream name, so that a dead upstream costs callers
 * nothing once it is known dead.  The breaker counts attempts, not calls
 * (three 503s from one retried call are three failures): retries stop
 * as soon as it opens, and the trial of a half-open breaker is a single
 * attempt.  Nothing here is thread-safe: a worker is one thread.
 *
 * Proxy variables in the environment (http_proxy...) are ignored: calls
 * go to the configured URLs, the front end first of all.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "internal.h"

/* Answers' bodies beyond this abort the transfer. */
#define HTTP_MAX_BODY (8 * 1024 * 1024)
/* Consecutive failed attempts (no answer or a 5xx) that open a breaker. */
#define BREAKER_THRESHOLD 5
/* Backoff before retry n (from 0): a random wait in [0, base * 2^n]. */
#define BACKOFF_BASE_MS 50
/* A Retry-After longer than this is not waited for: the answer is
 * returned as it is. */
#define RETRY_AFTER_MAX_S 10
/* Defaults for a bh_cfg left zero (tests, tools that do not load it). */
#define DEFAULT_CONNECT_TIMEOUT_MS 1000
#define DEFAULT_TIMEOUT_MS 5000

int bh_http_breaker_open_ms = 10000;

/* One upstream's breaker.  Closed: open_until == 0.  Open: now <
 * open_until, calls fail at once.  Half-open: open_until passed, the
 * next attempt is the trial that closes or re-opens it. */
struct breaker {
	struct breaker *next;
	int failures;           /* consecutive */
	uint64_t open_until;    /* bh_now_us() time; 0 when closed */
	char name[];
};

static struct breaker *breakers;

static CURL *curl;
static pid_t curl_pid;
/* A handle inherited from the parent (a call made before fork): it
 * shares the parent's sockets, so it is left alone, not used nor
 * cleaned up; kept here so it is not reported as a leak. */
static CURL *curl_inherited;

/* What one attempt got. */
struct attempt {
	bh_pool *pool;
	CURLcode rc;
	long status;
	bool too_large;
	char *body;             /* malloc'ed */
	size_t len, cap;
	const char *content_type, *retry_after, *location, *cache_control; /* in pool */
	char errbuf[CURL_ERROR_SIZE];
};

/* --------------------------------------------------------------- breaker */

static struct breaker *
breaker_get(const char *name)
{
	struct breaker *b;
	size_t len;

	for (b = breakers; b != NULL; b = b->next)
		if (strcmp(b->name, name) == 0)
			return b;
	len = strlen(name);
	if ((b = calloc(1, sizeof(*b) + len + 1)) == NULL)
		abort(); /* as pool.c: out of memory ends the worker */
	memcpy(b->name, name, len + 1);
	b->next = breakers;
	breakers = b;
	return b;
}

/* False while the breaker is open. */
static bool
breaker_allows(const struct breaker *b, uint64_t now)
{
	return b->open_until == 0 || now >= b->open_until;
}

static void
breaker_record(struct breaker *b, bool failed)
{
	bool trial = b->open_until != 0;

	if (!failed) {
		if (trial)
			bh_log(BH_LOG_INFO, "circuit closed for %s: the trial "
			    "call succeeded", b->name);
		b->failures = 0;
		b->open_until = 0;
		return;
	}
	if (b->failures < INT_MAX)
		b->failures++;
	if (trial || b->failures >= BREAKER_THRESHOLD) {
		b->open_until = bh_now_us() +
		    (uint64_t)bh_http_breaker_open_ms * 1000u;
		if (b->open_until == 0)
			b->open_until = 1;
		bh_log(BH_LOG_WARN, "circuit open for %s after %d failures "
		    "in a row: calls fail at once for %d ms", b->name,
		    b->failures, bh_http_breaker_open_ms);
	}
}

void
bh_http_reset(void)
{
	struct breaker *b;

	while ((b = breakers) != NULL) {
		breakers = b->next;
		free(b);
	}
	if (curl != NULL && curl_pid == getpid())
		curl_easy_cleanup(curl);
	curl = NULL;
}

/* ----------------------------------------------------------------- utils */

/* A cheap PRNG for backoff jitter (no secret depends on it), seeded per
 * process. */
static uint64_t
jitter_random(void)
{
	static uint64_t state;
	static pid_t seeded_pid;

	if (state == 0 || seeded_pid != getpid()) {
		seeded_pid = getpid();
		state = bh_now_us() ^ ((uint64_t)seeded_pid << 32) ^
		    0x9e3779b97f4a7c15ULL;
		if (state == 0)
			state = 1;
	}
	state ^= state >> 12;
	state ^= state << 25;
	state ^= state >> 27;
	return state * 0x2545f4914f6cdd1dULL;
}

static void
sleep_us(uint64_t us)
{
	struct timespec ts = {
		.tv_sec = (time_t)(us / 1000000u),
		.tv_nsec = (long)(us % 1000000u) * 1000,
	};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/* Printable ASCII and spaces only: what may go into a header value
 * (never CR or LF, which would let a value add headers). */
static bool
header_safe(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool
method_valid(const char *m)
{
	size_t n;

	for (n = 0; m[n] != '\0'; n++)
		if (m[n] < 'A' || m[n] > 'Z')
			return false;
	return n > 0 && n <= 16;
}

/* GET/HEAD/PUT/DELETE/OPTIONS can be repeated without changing the
 * outcome (RFC 9110 9.2.2). */
static bool
method_idempotent(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ||
	    strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0 ||
	    strcmp(m, "OPTIONS") == 0;
}

static bool
has_header(const char *const *headers, const char *name)
{
	size_t len = strlen(name);

	for (; headers != NULL && *headers != NULL; headers++)
		if (strncasecmp(*headers, name, len) == 0 &&
		    (*headers)[len] == ':')
			return true;
	return false;
}

/* Form-urlencoding (RFC 6749 2.3.1 asks it of the client id and secret
 * before HTTP Basic): unreserved characters stay, space is '+', the rest
 * %XX.  Owned by pool. */
static char *
form_encode(bh_pool *pool, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = bh_palloc(pool, strlen(s) * 3 + 1), *o = out;
	unsigned char c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			*o++ = (char)c;
		else if (c == ' ')
			*o++ = '+';
		else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

/* The URL as it may be logged: without user information, query string
 * or fragment, which can carry secrets.  Owned by pool. */
static const char *
url_for_log(bh_pool *pool, const char *url)
{
	const char *scheme_end = strstr(url, "://"), *host, *at, *end;

	host = scheme_end != NULL ? scheme_end + 3 : url;
	end = host + strcspn(host, "/?#");
	if ((at = memchr(host, '@', (size_t)(end - host))) != NULL)
		return bh_psprintf(pool, "%.*s%.*s",
		    (int)(host - url), url,
		    (int)strcspn(at + 1, "?#"), at + 1);
	return bh_pstrndup(pool, url, strcspn(url, "?#"));
}

/* Retry-After as delta-seconds or an HTTP date; -1 if neither. */
static long
retry_after_seconds(const char *value)
{
	char *end;
	long n;
	time_t when;

	if (value == NULL)
		return -1;
	if (isdigit((unsigned char)value[0])) {
		errno = 0;
		n = strtol(value, &end, 10);
		if (errno != 0 || *end != '\0')
			return -1;
		return n;
	}
	if ((when = curl_getdate(value, NULL)) == -1)
		return -1;
	return when > time(NULL) ? (long)(when - time(NULL)) : 0;
}

/* -------------------------------------------------------------- transfer */

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct attempt *a = arg;
	size_t n = size * nmemb, cap;
	char *p;

	if (n > HTTP_MAX_BODY - a->len) {
		a->too_large = true;
		return 0; /* aborts the transfer */
	}
	if (a->len + n + 1 > a->cap) {
		cap = a->cap == 0 ? 4096 : a->cap;
		while (cap < a->len + n + 1)
			cap *= 2;
		if ((p = realloc(a->body, cap)) == NULL)
			abort();
		a->body = p;
		a->cap = cap;
	}
	memcpy(a->body + a->len, data, n);
	a->len += n;
	return n;
}

/* Header lines, one per call, the status line of each answer included
 * (an interim 100 Continue comes before the real one). */
static size_t
on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct attempt *a = arg;
	size_t n = size * nmemb, namelen, vlen;
	const char *colon, *value;
	char *media, *p;

	if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		a->content_type = a->retry_after = a->location = NULL;
		a->cache_control = NULL;
		return n;
	}
	if ((colon = memchr(line, ':', n)) == NULL)
		return n;
	namelen = (size_t)(colon - line);
	value = colon + 1;
	vlen = n - namelen - 1;
	while (vlen > 0 && (*value == ' ' || *value == '\t')) {
		value++;
		vlen--;
	}
	while (vlen > 0 && (value[vlen - 1] == '\r' ||
	    value[vlen - 1] == '\n' || value[vlen - 1] == ' ' ||
	    value[vlen - 1] == '\t'))
		vlen--;
	if (namelen == 12 && strncasecmp(line, "content-type", 12) == 0) {
		media = bh_pstrndup(a->pool, value, vlen);
		media[strcspn(media, ";")] = '\0';
		for (p = media + strlen(media); p > media &&
		    (p[-1] == ' ' || p[-1] == '\t'); p--)
			p[-1] = '\0';
		for (p = media; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		a->content_type = media;
	} else if (namelen == 11 && strncasecmp(line, "retry-after", 11) == 0)
		a->retry_after = bh_pstrndup(a->pool, value, vlen);
	else if (namelen == 8 && strncasecmp(line, "location", 8) == 0)
		a->location = bh_pstrndup(a->pool, value, vlen);
	else if (namelen == 13 && strncasecmp(line, "cache-control", 13) == 0)
		a->cache_control = bh_pstrndup(a->pool, value, vlen);
	return n;
}

/* The process's handle, made on first use in this process. */
static CURL *
handle(void)
{
	static bool global_done;

	if (curl != NULL && curl_pid != getpid()) {
		curl_inherited = curl;
		curl = NULL;
	}
	if (curl != NULL)
		return curl;
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return NULL;
		global_done = true;
	}
	if ((curl = curl_easy_init()) != NULL)
		curl_pid = getpid();
	return curl;
}

/* The request headers of one attempt; NULL with *why set if a value
 * would break the header block. */
static struct curl_slist *
build_headers(bh_pool *pool, const bh_http_call *call, const char *token,
	      const char **why)
{
	struct curl_slist *list = NULL, *next;
	const char *const *h;
	const char *line;
	const char *ctype;

	*why = NULL;
#define ADD(s)	do {							\
		if ((next = curl_slist_append(list, (s))) == NULL)	\
			goto oom;					\
		list = next;						\
	} while (0)
	if (bh_log_request_id != NULL && header_safe(bh_log_request_id))
		ADD(bh_psprintf(pool, "X-Request-Id: %s", bh_log_request_id));
	if (!has_header(call->headers, "Accept"))
		ADD("Accept: application/json");
	if (call->body != NULL) {
		ctype = call->content_type != NULL ? call->content_type :
		    "application/json";
		if (!header_safe(ctype)) {
			*why = "bad content type";
			goto fail;
		}
		ADD(bh_psprintf(pool, "Content-Type: %s", ctype));
	} else
		ADD("Content-Type:"); /* none of curl's own for an empty POST */
	/* curl waits up to a second for "100 Continue" on larger bodies;
	 * our upstreams never need the round trip. */
	ADD("Expect:");
	if (call->idempotency_key != NULL) {
		if (call->idempotency_key[0] == '\0' ||
		    strlen(call->idempotency_key) > 255 ||
		    !header_safe(call->idempotency_key)) {
			*why = "bad idempotency key";
			goto fail;
		}
		ADD(bh_psprintf(pool, "Idempotency-Key: %s",
		    call->idempotency_key));
	}
	if (token != NULL) {
		if (!header_safe(token)) {
			*why = "bad service token";
			goto fail;
		}
		ADD(bh_psprintf(pool, "Authorization: Bearer %s", token));
	}
	for (h = call->headers; h != NULL && *h != NULL; h++) {
		line = *h;
		if (!header_safe(line) || strchr(line, ':') == NULL ||
		    line[0] == ':') {
			*why = "bad extra header";
			goto fail;
		}
		ADD(line);
	}
#undef ADD
	return list;
oom:
	*why = "out of memory";
fail:
	curl_slist_free_all(list);
	return NULL;
}

/* One attempt with remaining_ms of the budget left.  Fills *a. */
static void
perform(CURL *h, const bh_http_call *call, const char *method,
	struct curl_slist *headers, long remaining_ms, struct attempt *a)
{
	char *user, *password;
	long connect_ms = bh_cfg.http_connect_timeout_ms > 0 ?
	    bh_cfg.http_connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	const char *ua_service = bh_cfg.service != NULL ? bh_cfg.service : "";

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, call->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	/* Calls go where the configuration says, not through a proxy that
	 * happens to be in the environment. */
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    connect_ms < remaining_ms ? connect_ms : remaining_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, remaining_ms);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)HTTP_MAX_BODY);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, a->errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_USERAGENT, bh_psprintf(a->pool,
	    "bellhop%s%s/%s", *ua_service != '\0' ? "-" : "", ua_service,
	    PACKAGE_VERSION));
	if (call->basic_user != NULL) {
		user = form_encode(a->pool, call->basic_user);
		password = form_encode(a->pool, call->basic_password != NULL ?
		    call->basic_password : "");
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, password);
	}
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") == 0 && call->body == NULL)
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	else {
		/* POST, PUT and PATCH always carry a Content-Length, 0 for no
		 * body; others only when they have a body. */
		if (call->body != NULL || strcmp(method, "POST") == 0 ||
		    strcmp(method, "PUT") == 0 ||
		    strcmp(method, "PATCH") == 0) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS,
			    call->body != NULL ? call->body : "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)(call->body != NULL ?
			    call->body_len : 0));
		}
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}

	a->rc = curl_easy_perform(h);
	a->status = 0;
	if (a->rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
	if (a->rc == CURLE_FILESIZE_EXCEEDED)
		a->too_large = true;
	/* The breaker, the header list and a->errbuf go out of scope; curl
	 * must not keep pointers to them. */
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
}

/* The attempt failed before its request could leave this host: no
 * connection was made to send it on.  Anything else (a timeout, a reset,
 * an answer) may mean the upstream got it. */
static bool
certainly_unsent(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return true;
	default:
		return false;
	}
}

/* The attempt never got an answer for a reason that may pass. */
static bool
transient_failure(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static void
attempt_clear(struct attempt *a)
{
	free(a->body);
	a->body = NULL;
	a->len = a->cap = 0;
	a->too_large = false;
	a->status = 0;
	a->rc = CURLE_OK;
	a->content_type = a->retry_after = a->location = NULL;
	a->cache_control = NULL;
	a->errbuf[0] = '\0';
}

static const char *
attempt_error(bh_pool *pool, const struct attempt *a, int budget_ms)
{
	if (a->too_large)
		return "response too large";
	if (a->rc == CURLE_OPERATION_TIMEDOUT)
		return bh_psprintf(pool, "timed out (budget %d ms)",
		    budget_ms);
	if (a->errbuf[0] != '\0')
		return bh_pstrdup(pool, a->errbuf);
	return bh_pstrdup(pool, curl_easy_strerror(a->rc));
}

/* ------------------------------------------------------------------ api */

int
bh_http(bh_pool *pool, const bh_http_call *call, bh_http_response *resp)
{
	struct attempt a = { .pool = pool, .rc = CURLE_OK };
	struct curl_slist *headers = NULL;
	struct breaker *b;
	const char *method, *token = NULL, *why = NULL, *logged_url;
	uint64_t start = bh_now_us(), deadline, now, wait_us, cap_us;
	int budget_ms, retries, attempts = 0, tries = 0, rv = -1;
	bool retryable, token_refreshed = false, answered = false;
	bool fast_fail = false, maybe_sent = false;
	long remaining_ms, ra;
	CURL *h;

	memset(resp, 0, sizeof(*resp));
	method = call->method != NULL ? call->method : "GET";
	if (call->upstream == NULL || call->upstream[0] == '\0' ||
	    call->url == NULL || !method_valid(method)) {
		resp->error = "bad call: upstream, url and method required";
		bh_log(BH_LOG_ERROR, "http: %s", resp->error);
		return -1;
	}
	logged_url = url_for_log(pool, call->url);
	budget_ms = call->timeout_ms > 0 ? call->timeout_ms :
	    bh_cfg.http_timeout_ms > 0 ? bh_cfg.http_timeout_ms :
	    DEFAULT_TIMEOUT_MS;
	deadline = start + (uint64_t)budget_ms * 1000u;
	retries = bh_cfg.http_retries > 0 ? bh_cfg.http_retries : 0;
	retryable = method_idempotent(method) || call->idempotency_key != NULL;
	b = breaker_get(call->upstream);

	for (;;) {
		now = bh_now_us();
		if (!breaker_allows(b, now)) {
			if (attempts == 0) {
				why = bh_psprintf(pool, "circuit open for %s",
				    call->upstream);
				fast_fail = true;
			}
			break;
		}
		if (now >= deadline) {
			if (attempts == 0)
				why = bh_psprintf(pool,
				    "timed out (budget %d ms)", budget_ms);
			break;
		}
		/* Before the handle is set up: fetching the token is itself
		 * a call on the same handle. */
		if (call->service_token) {
			if ((token = bh_service_token_within(
			    (int)((deadline - now + 999) / 1000))) == NULL) {
				why = "no service token";
				break;
			}
			/* Fetching it (here or after a 401) spent part of
			 * the budget: what is left is measured again. */
			if ((now = bh_now_us()) >= deadline) {
				why = bh_psprintf(pool,
				    "timed out (budget %d ms)", budget_ms);
				break;
			}
		}
		if ((headers = build_headers(pool, call, token, &why)) ==
		    NULL) {
			bh_log(BH_LOG_ERROR, "http %s: %s", call->upstream,
			    why);
			break;
		}
		if ((h = handle()) == NULL) {
			curl_slist_free_all(headers);
			why = "could not initialise libcurl";
			break;
		}
		attempt_clear(&a);
		remaining_ms = (long)((deadline - now + 999) / 1000);
		perform(h, call, method, headers, remaining_ms, &a);
		curl_slist_free_all(headers);
		headers = NULL;
		attempts++;
		answered = a.rc == CURLE_OK;
		if (!certainly_unsent(a.rc))
			maybe_sent = true;
		why = answered ? NULL : attempt_error(pool, &a, budget_ms);

		if ((answered && a.status >= 500) ||
		    (!answered && transient_failure(a.rc)))
			breaker_record(b, true);
		else if (answered || a.too_large)
			breaker_record(b, false);

		if (answered && a.status == 401 && call->service_token &&
		    !token_refreshed) {
			/* Our token may have been revoked or signed by a
			 * retired key: once with a fresh one. */
			bh_service_token_invalidate();
			token_refreshed = true;
			continue;
		}
		if (!retryable || tries >= retries)
			break;
		if (answered ? a.status != 502 && a.status != 503 &&
		    a.status != 504 : !transient_failure(a.rc))
			break;
		cap_us = (uint64_t)BACKOFF_BASE_MS * 1000u << (tries < 16 ?
		    tries : 16);
		wait_us = jitter_random() % (cap_us + 1);
		ra = answered ? retry_after_seconds(a.retry_after) : -1;
		if (ra > RETRY_AFTER_MAX_S)
			break; /* the upstream asks for more than we wait */
		if (ra >= 0 && (uint64_t)ra * 1000000u > wait_us)
			wait_us = (uint64_t)ra * 1000000u;
		if (bh_now_us() + wait_us >= deadline ||
		    !breaker_allows(b, bh_now_us()))
			break;
		sleep_us(wait_us);
		tries++;
	}

	if (answered) {
		resp->status = a.status;
		resp->content_type = a.content_type;
		resp->retry_after = a.retry_after;
		resp->location = a.location;
		resp->cache_control = a.cache_control;
		resp->body = bh_palloc(pool, a.len + 1);
		if (a.len > 0)
			memcpy(resp->body, a.body, a.len);
		resp->len = a.len;
		rv = 0;
	} else
		resp->error = why != NULL ? why : "failed";
	resp->maybe_sent = maybe_sent;
	attempt_clear(&a);

	bh_log(BH_LOG_DEBUG, "http %s %s %s -> %ld in %llu ms, %d attempt%s",
	    call->upstream, method, logged_url, resp->status,
	    (unsigned long long)((bh_now_us() - start) / 1000), attempts,
	    attempts == 1 ? "" : "s");
	/* An open circuit was logged when it opened, not on every call. */
	if (rv == -1 && !fast_fail)
		bh_log(BH_LOG_WARN, "http %s %s %s failed after %d attempt%s: "
		    "%s", call->upstream, method, logged_url, attempts,
		    attempts == 1 ? "" : "s", resp->error);
	else if (resp->status >= 500)
		bh_log(BH_LOG_WARN, "http %s %s %s answered %ld after %d "
		    "attempt%s", call->upstream, method, logged_url,
		    resp->status, attempts, attempts == 1 ? "" : "s");
	return rv;
}

static void
json_put(void *obj)
{
	json_object_put(obj);
}

static bool
is_json_type(const char *type)
{
	size_t len;

	if (type == NULL)
		return false;
	if (strcmp(type, "application/json") == 0)
		return true;
	len = strlen(type);
	return strncmp(type, "application/", 12) == 0 && len > 17 &&
	    strcmp(type + len - 5, "+json") == 0;
}

json_object *
bh_http_json(bh_pool *pool, const bh_http_response *resp)
{
	json_tokener *tok;
	json_object *obj = NULL;
	size_t end;
	int depth = bh_cfg.json_max_depth > 32 ? bh_cfg.json_max_depth : 32;

	if (resp->body == NULL || resp->len == 0 || resp->len > INT_MAX ||
	    !is_json_type(resp->content_type) ||
	    !bh_utf8_valid(resp->body, resp->len))
		return NULL;
	if (depth > 256)
		depth = 256;
	if ((tok = json_tokener_new_ex(depth + 1)) == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, resp->body, (int)resp->len);
	if (json_tokener_get_error(tok) == json_tokener_continue) {
		/* A bare number at the very end needs to see the end. */
		obj = json_tokener_parse_ex(tok, "", 1);
		end = resp->len;
	} else
		end = json_tokener_get_parse_end(tok);
	if (json_tokener_get_error(tok) != json_tokener_success)
		goto fail;
	/* Trailing bytes after the value: only white space. */
	for (; end < resp->len; end++)
		if (resp->body[end] == '\0' ||
		    strchr(" \t\r\n", resp->body[end]) == NULL)
			goto fail;
	json_tokener_free(tok);
	if (obj != NULL)
		bh_pool_defer(pool, json_put, obj);
	return obj;
fail:
	json_object_put(obj);
	json_tokener_free(tok);
	return NULL;
}
