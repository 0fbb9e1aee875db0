/*
 * test_httpc.c - bh_http and bh_service_token against minihttpd: what is
 * sent, retries, time budget, body cap, circuit breaker, service token.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "internal.h"
#include "minihttpd.h"
#include "runner.h"

#define JSON_HEADERS "Content-Type: application/json; charset=utf-8\r\n"

/* One server for the whole program (calls built before setup() need its
 * address); setup() forgets what the previous test left in it. */
static minihttpd *mh;
static bh_pool *pool;

static void
server(void)
{
	if (mh == NULL && (mh = mh_start()) == NULL) {
		fprintf(stderr, "cannot start minihttpd\n");
		exit(99);
	}
}

/* A fresh pool, breakers, connections and settings for each test. */
static void
setup(void)
{
	server();
	mh_clear(mh);
	if (pool == NULL)
		pool = bh_pool_new();
	else
		bh_pool_reset(pool);
	bh_http_reset();
	bh_http_breaker_open_ms = 10000;
	bh_service_token_invalidate();
	memset(&bh_cfg, 0, sizeof(bh_cfg));
	bh_cfg.service = "test";
	bh_cfg.log_level = BH_LOG_ERROR;
	bh_cfg.json_max_depth = 32;
	bh_cfg.http_connect_timeout_ms = 1000;
	bh_cfg.http_timeout_ms = 5000;
	bh_cfg.http_retries = 2;
	bh_log_request_id = NULL;
}

/* The server's URL for path, in one of a few static buffers. */
static const char *
url(const char *path)
{
	static char bufs[16][256];
	static unsigned next;
	char *buf = bufs[next++ % 16];

	server();
	snprintf(buf, sizeof(bufs[0]), "http://127.0.0.1:%d%s", mh_port(mh),
	    path);
	return buf;
}

static long
ms_since(uint64_t start)
{
	return (long)((bh_now_us() - start) / 1000);
}

static void
push(const char *path, int status, const char *headers, const char *body)
{
	struct mh_answer a = {
		.path = path, .status = status, .headers = headers,
		.body = body,
	};

	mh_push(mh, &a);
}

/* --------------------------------------------------------------- basics */

static void
test_get_json(void)
{
	bh_http_call call = { .upstream = "up", .url = url("/x?q=1") };
	bh_http_response resp;
	json_object *doc, *v;

	setup();
	push("/x", 200, JSON_HEADERS "Location: /elsewhere\r\n"
	    "Cache-Control: public, max-age=300\r\n",
	    "{\"a\": 1}\n");
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_PTR_NULL(resp.error);
	CU_ASSERT_STRING_EQUAL(resp.content_type, "application/json");
	CU_ASSERT_STRING_EQUAL(resp.location, "/elsewhere");
	CU_ASSERT_STRING_EQUAL(resp.cache_control, "public, max-age=300");
	CU_ASSERT_EQUAL(resp.len, 9);
	CU_ASSERT_STRING_EQUAL(resp.body, "{\"a\": 1}\n");
	doc = bh_http_json(pool, &resp);
	CU_ASSERT_FATAL(doc != NULL);
	CU_ASSERT(json_object_object_get_ex(doc, "a", &v) &&
	    json_object_get_int(v) == 1);
	CU_ASSERT_STRING_EQUAL(mh_request(mh, 0)->method, "GET");
	CU_ASSERT_STRING_EQUAL(mh_request(mh, 0)->target, "/x?q=1");
}

static void
test_json_types(void)
{
	bh_http_call call = { .upstream = "up", .url = url("/x") };
	bh_http_response resp;

	setup();
	push(NULL, 400, "Content-Type: Application/Problem+JSON\r\n",
	    "{\"status\":400}");
	push(NULL, 200, "Content-Type: text/plain\r\n", "{\"a\":1}");
	push(NULL, 200, JSON_HEADERS, "{\"a\":1} trailing");
	push(NULL, 200, JSON_HEADERS, "42");
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_STRING_EQUAL(resp.content_type, "application/problem+json");
	CU_ASSERT_PTR_NOT_NULL(bh_http_json(pool, &resp));
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_PTR_NULL(bh_http_json(pool, &resp));
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_PTR_NULL(bh_http_json(pool, &resp));
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT(bh_http_json(pool, &resp) != NULL &&
	    json_object_get_int(bh_http_json(pool, &resp)) == 42);
}

static void
test_headers_sent(void)
{
	static const char *const extra[] = { "X-Extra: yes", NULL };
	static const char body[] = "{\"to\":\"a@b.c\"}";
	bh_http_call call = {
		.upstream = "up", .method = "POST", .url = url("/emails"),
		.body = body, .body_len = sizeof(body) - 1,
		.idempotency_key = "key-1", .headers = extra,
	};
	bh_http_response resp;
	const struct mh_request *r;
	const char *ua;

	setup();
	bh_log_request_id = "req-123";
	push(NULL, 202, NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 202);
	CU_ASSERT_PTR_NULL(resp.content_type);
	CU_ASSERT_EQUAL(resp.len, 0);
	CU_ASSERT_STRING_EQUAL(resp.body, "");
	r = mh_request(mh, 0);
	CU_ASSERT_FATAL(r != NULL);
	CU_ASSERT_STRING_EQUAL(r->method, "POST");
	CU_ASSERT_STRING_EQUAL(r->body, body);
	CU_ASSERT_STRING_EQUAL(mh_header(r, "content-type"),
	    "application/json");
	CU_ASSERT_STRING_EQUAL(mh_header(r, "idempotency-key"), "key-1");
	CU_ASSERT_STRING_EQUAL(mh_header(r, "x-request-id"), "req-123");
	CU_ASSERT_STRING_EQUAL(mh_header(r, "accept"), "application/json");
	CU_ASSERT_STRING_EQUAL(mh_header(r, "x-extra"), "yes");
	ua = mh_header(r, "user-agent");
	CU_ASSERT(ua != NULL && strncmp(ua, "bellhop-test/", 13) == 0);
	CU_ASSERT_PTR_NULL(mh_header(r, "expect"));
	CU_ASSERT_PTR_NULL(mh_header(r, "authorization"));

	/* No body: no Content-Type; a given Accept wins; outside a request
	 * no request id. */
	{
		static const char *const accept[] = { "Accept: text/html",
		    NULL };
		bh_http_call get = { .upstream = "up", .url = url("/p"),
		    .headers = accept };

		bh_log_request_id = NULL;
		push(NULL, 200, NULL, "<p>");
		CU_ASSERT_EQUAL_FATAL(bh_http(pool, &get, &resp), 0);
		r = mh_request(mh, 1);
		CU_ASSERT_FATAL(r != NULL);
		CU_ASSERT_PTR_NULL(mh_header(r, "content-type"));
		CU_ASSERT_PTR_NULL(mh_header(r, "x-request-id"));
		CU_ASSERT_STRING_EQUAL(mh_header(r, "accept"), "text/html");
	}
}

static void
test_empty_post_and_head(void)
{
	bh_http_call post = { .upstream = "up", .method = "POST",
	    .url = url("/p") };
	bh_http_call head = { .upstream = "up", .method = "HEAD",
	    .url = url("/h") };
	bh_http_response resp;
	const struct mh_request *r;

	setup();
	push(NULL, 204, NULL, NULL);
	push(NULL, 200, JSON_HEADERS, "{\"not\":\"sent\"}");
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &post, &resp), 0);
	r = mh_request(mh, 0);
	CU_ASSERT_STRING_EQUAL(mh_header(r, "content-length"), "0");
	CU_ASSERT_PTR_NULL(mh_header(r, "content-type"));
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &head, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL(resp.len, 0);
	CU_ASSERT_STRING_EQUAL(mh_request(mh, 1)->method, "HEAD");
}

static void
test_basic_auth_encoding(void)
{
	bh_http_call call = {
		.upstream = "up", .url = url("/t"),
		.basic_user = "svc:a%b c", .basic_password = "p:w%",
	};
	bh_http_response resp;

	setup();
	push(NULL, 200, NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &call, &resp), 0);
	/* base64("svc%3Aa%25b+c:p%3Aw%25") */
	CU_ASSERT_STRING_EQUAL(mh_header(mh_request(mh, 0), "authorization"),
	    "Basic c3ZjJTNBYSUyNWIrYzpwJTNBdyUyNQ==");
}

static void
test_bad_calls(void)
{
	static const char *const injected[] = { "X-A: 1\r\nX-B: 2", NULL };
	bh_http_call call = { .upstream = "up", .url = url("/x"),
	    .headers = injected };
	bh_http_call nokey = { .upstream = "up", .method = "POST",
	    .url = url("/x"), .idempotency_key = "a\nb" };
	bh_http_call nourl = { .upstream = "up" };
	bh_http_call badmethod = { .upstream = "up", .url = url("/x"),
	    .method = "GET /evil" };
	bh_http_call ftp = { .upstream = "up", .url = "ftp://127.0.0.1/x" };
	bh_http_response resp;

	setup();
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), -1);
	CU_ASSERT_PTR_NOT_NULL(resp.error);
	CU_ASSERT_EQUAL(bh_http(pool, &nokey, &resp), -1);
	CU_ASSERT_EQUAL(bh_http(pool, &nourl, &resp), -1);
	CU_ASSERT_EQUAL(bh_http(pool, &badmethod, &resp), -1);
	CU_ASSERT_EQUAL(bh_http(pool, &ftp, &resp), -1);
	CU_ASSERT_EQUAL(resp.status, 0);
	CU_ASSERT_EQUAL(mh_count(mh), 0);
}

static void
test_keep_alive(void)
{
	bh_http_call call = { .upstream = "up", .url = url("/x") };
	bh_http_response resp;
	size_t before;
	int i;

	setup();
	before = mh_connections(mh);
	for (i = 0; i < 3; i++) {
		push(NULL, 200, NULL, "ok");
		CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), 0);
	}
	CU_ASSERT_EQUAL(mh_count(mh), 3);
	CU_ASSERT_EQUAL(mh_connections(mh) - before, 1);
}

/* -------------------------------------------------------------- retries */

static void
test_retry_get_on_503(void)
{
	bh_http_call call = { .upstream = "up", .url = url("/x") };
	bh_http_response resp;

	setup();
	push(NULL, 503, NULL, "busy");
	push(NULL, 502, NULL, "bad gateway");
	push(NULL, 200, NULL, "ok");
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_STRING_EQUAL(resp.body, "ok");
	CU_ASSERT_EQUAL(mh_count(mh), 3);
}

static void
test_retries_exhausted(void)
{
	bh_http_call call = { .upstream = "up", .url = url("/x") };
	bh_http_response resp;

	setup();
	push(NULL, 503, NULL, "1");
	push(NULL, 504, NULL, "2");
	push(NULL, 503, NULL, "3");
	push(NULL, 200, NULL, "never reached");
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 503);
	CU_ASSERT_STRING_EQUAL(resp.body, "3");
	CU_ASSERT_EQUAL(mh_count(mh), 3); /* 1 + bh_cfg.http_retries */
}

static void
test_no_retry_post_without_key(void)
{
	bh_http_call call = { .upstream = "up", .method = "POST",
	    .url = url("/x"), .body = "{}", .body_len = 2 };
	bh_http_response resp;

	setup();
	push(NULL, 503, NULL, NULL);
	push(NULL, 200, NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 503);
	CU_ASSERT_EQUAL(mh_count(mh), 1);
}

static void
test_retry_post_with_key(void)
{
	bh_http_call call = { .upstream = "up", .method = "POST",
	    .url = url("/x"), .body = "{}", .body_len = 2,
	    .idempotency_key = "k" };
	bh_http_response resp;

	setup();
	push(NULL, 503, NULL, NULL);
	push(NULL, 201, NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 201);
	CU_ASSERT_EQUAL(mh_count(mh), 2);
	CU_ASSERT_STRING_EQUAL(mh_header(mh_request(mh, 1), "idempotency-key"),
	    "k");
	CU_ASSERT_STRING_EQUAL(mh_request(mh, 1)->body, "{}");
}

static void
test_no_retry_on_4xx_or_500(void)
{
	bh_http_call call = { .upstream = "up", .url = url("/x") };
	bh_http_response resp;

	setup();
	push(NULL, 404, NULL, NULL);
	push(NULL, 500, NULL, NULL);
	push(NULL, 200, NULL, NULL);
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 404);
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 500);
	CU_ASSERT_EQUAL(mh_count(mh), 2);
}

static void
test_retry_after_honoured(void)
{
	bh_http_call call = { .upstream = "up", .url = url("/x") };
	bh_http_response resp;
	uint64_t start;

	setup();
	push(NULL, 503, "Retry-After: 1\r\n", NULL);
	push(NULL, 200, NULL, NULL);
	start = bh_now_us();
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT(ms_since(start) >= 950);
	CU_ASSERT_EQUAL(mh_count(mh), 2);
}

static void
test_retry_after_beyond_budget(void)
{
	bh_http_call call = { .upstream = "up", .url = url("/x"),
	    .timeout_ms = 1000 };
	bh_http_response resp;
	uint64_t start;

	setup();
	push(NULL, 503, "Retry-After: 3\r\n", "later");
	push(NULL, 200, NULL, NULL);
	start = bh_now_us();
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 503);
	CU_ASSERT_STRING_EQUAL(resp.retry_after, "3");
	CU_ASSERT(ms_since(start) < 900);
	CU_ASSERT_EQUAL(mh_count(mh), 1);
}

static void
test_total_timeout(void)
{
	struct mh_answer slow = { .status = 200, .delay_ms = 2000 };
	bh_http_call call = { .upstream = "up", .url = url("/slow"),
	    .timeout_ms = 300 };
	bh_http_response resp;
	uint64_t start;
	long took;

	setup();
	mh_push(mh, &slow);
	mh_push(mh, &slow);
	mh_push(mh, &slow);
	start = bh_now_us();
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), -1);
	took = ms_since(start);
	CU_ASSERT_EQUAL(resp.status, 0);
	CU_ASSERT(resp.error != NULL && strstr(resp.error, "timed out"));
	CU_ASSERT(took >= 250);
	CU_ASSERT(took < 1500);
}

static void
test_connect_refused(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	bh_http_call call = { .upstream = "down" };
	bh_http_response resp;
	uint64_t start;
	int fd;

	setup();
	/* A port just freed: nothing listens there. */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	close(fd);
	call.url = bh_psprintf(pool, "http://127.0.0.1:%d/x",
	    ntohs(sin.sin_port));
	start = bh_now_us();
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), -1);
	CU_ASSERT_EQUAL(resp.status, 0);
	CU_ASSERT_PTR_NOT_NULL(resp.error);
	CU_ASSERT(ms_since(start) < 2000);
}

static void
test_reset_without_answer_retried(void)
{
	struct mh_answer hangup = { .close = true };
	bh_http_call call = { .upstream = "up", .url = url("/x") };
	bh_http_response resp;

	setup();
	mh_push(mh, &hangup);
	push(NULL, 200, NULL, "second");
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_STRING_EQUAL(resp.body, "second");
	CU_ASSERT_EQUAL(mh_count(mh), 2);
}

/* A port just freed on the loopback: nothing listens there.  The URL is
 * owned by pool. */
static const char *
refused_url(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	close(fd);
	return bh_psprintf(pool, "http://127.0.0.1:%d/x", ntohs(sin.sin_port));
}

/* maybe_sent is false only when no attempt can have reached the
 * upstream: callers take "false" as "nothing happened there". */
static void
test_maybe_sent(void)
{
	struct mh_answer slow = { .status = 200, .delay_ms = 1000 };
	struct mh_answer hangup = { .close = true };
	bh_http_call post = { .upstream = "up", .method = "POST",
	    .url = url("/x"), .body = "{}", .body_len = 2 };
	bh_http_call keyed = { .upstream = "down", .method = "POST",
	    .body = "{}", .body_len = 2, .idempotency_key = "k1" };
	bh_http_call nourl = { .upstream = "up" };
	bh_http_call tokened = { .upstream = "users", .url = url("/api"),
	    .service_token = true };
	bh_http_response resp;
	int i;

	setup();
	/* Answered, whatever the status. */
	push(NULL, 500, NULL, NULL);
	CU_ASSERT_EQUAL(bh_http(pool, &post, &resp), 0);
	CU_ASSERT_TRUE(resp.maybe_sent);

	/* Timed out or cut off without an answer: it may have arrived. */
	post.timeout_ms = 200;
	mh_push(mh, &slow);
	CU_ASSERT_EQUAL(bh_http(pool, &post, &resp), -1);
	CU_ASSERT_TRUE(resp.maybe_sent);
	post.timeout_ms = 0;
	mh_push(mh, &hangup);
	CU_ASSERT_EQUAL(bh_http(pool, &post, &resp), -1);
	CU_ASSERT_TRUE(resp.maybe_sent);

	/* Refused on every attempt (a keyed POST is retried). */
	keyed.url = refused_url();
	CU_ASSERT_EQUAL(bh_http(pool, &keyed, &resp), -1);
	CU_ASSERT_FALSE(resp.maybe_sent);

	/* Refused until the breaker opened: still nothing sent. */
	bh_cfg.http_retries = 0;
	for (i = 0; i < 10; i++) {
		CU_ASSERT_EQUAL(bh_http(pool, &keyed, &resp), -1);
		CU_ASSERT_FALSE(resp.maybe_sent);
	}
	CU_ASSERT_STRING_EQUAL(resp.error, "circuit open for down");
	CU_ASSERT_FALSE(resp.maybe_sent);

	/* Refused before sending: a bad call, no service token. */
	CU_ASSERT_EQUAL(bh_http(pool, &nourl, &resp), -1);
	CU_ASSERT_FALSE(resp.maybe_sent);
	bh_cfg.token_url = url("/token");
	bh_cfg.client_id = "svc";
	CU_ASSERT_EQUAL(bh_http(pool, &tokened, &resp), -1);
	CU_ASSERT_STRING_EQUAL(resp.error, "no service token");
	CU_ASSERT_FALSE(resp.maybe_sent);
	CU_ASSERT_EQUAL(mh_count_path(mh, "/api"), 0);
}

/* ------------------------------------------------------------- body cap */

static void
test_body_cap(void)
{
	size_t cap = 8 * 1024 * 1024;
	char *big = malloc(cap + 2);
	struct mh_answer a = { .status = 200, .body = big };
	bh_http_call call = { .upstream = "up", .url = url("/big") };
	bh_http_response resp;

	setup();
	CU_ASSERT_FATAL(big != NULL);
	memset(big, 'x', cap + 1);
	big[cap + 1] = '\0';

	/* Declared too large (Content-Length). */
	a.body_len = cap + 1;
	mh_push(mh, &a);
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), -1);
	CU_ASSERT(resp.error != NULL &&
	    strcmp(resp.error, "response too large") == 0);
	CU_ASSERT_EQUAL(mh_count(mh), 1); /* not retried */

	/* Found too large while reading (no Content-Length). */
	a.no_length = true;
	mh_push(mh, &a);
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), -1);
	CU_ASSERT(resp.error != NULL &&
	    strcmp(resp.error, "response too large") == 0);

	/* Exactly the cap is fine. */
	a.no_length = false;
	a.body_len = cap;
	mh_push(mh, &a);
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.len, cap);
	free(big);
}

/* -------------------------------------------------------------- breaker */

/* Makes 5 calls answered 500 (not retried) to open upstream's breaker. */
static void
open_breaker(const char *upstream)
{
	bh_http_call call = { .upstream = upstream, .url = url("/fail") };
	bh_http_response resp;
	int i;

	for (i = 0; i < 5; i++) {
		push("/fail", 500, NULL, NULL);
		CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), 0);
		CU_ASSERT_EQUAL(resp.status, 500);
	}
}

static void
test_breaker_opens(void)
{
	bh_http_call call = { .upstream = "flaky", .url = url("/ok") };
	bh_http_call other = { .upstream = "other", .url = url("/ok") };
	bh_http_response resp;
	uint64_t start;

	setup();
	open_breaker("flaky");
	CU_ASSERT_EQUAL(mh_count(mh), 5);
	push("/ok", 200, NULL, NULL);
	start = bh_now_us();
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), -1);
	CU_ASSERT(ms_since(start) < 500);
	CU_ASSERT(resp.error != NULL &&
	    strcmp(resp.error, "circuit open for flaky") == 0);
	CU_ASSERT_EQUAL(mh_count(mh), 5); /* nothing sent */
	/* Another upstream has its own breaker. */
	CU_ASSERT_EQUAL(bh_http(pool, &other, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 200);
}

static void
test_breaker_success_resets_count(void)
{
	bh_http_call call = { .upstream = "up", .url = url("/fail") };
	bh_http_response resp;
	int i;

	setup();
	bh_cfg.http_retries = 0;
	for (i = 0; i < 4; i++)
		push("/fail", 500, NULL, NULL);
	push("/fail", 200, NULL, NULL);
	for (i = 0; i < 4; i++)
		push("/fail", 500, NULL, NULL);
	push("/fail", 200, NULL, NULL);
	for (i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(mh_count(mh), 10);
}

static void
test_breaker_counts_timeouts(void)
{
	struct mh_answer slow = { .status = 200, .delay_ms = 500 };
	bh_http_call call = { .upstream = "slow", .url = url("/slow"),
	    .timeout_ms = 50 };
	bh_http_response resp;
	int i;

	setup();
	bh_cfg.http_retries = 0;
	for (i = 0; i < 5; i++) {
		mh_push(mh, &slow);
		CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), -1);
	}
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), -1);
	CU_ASSERT(resp.error != NULL &&
	    strcmp(resp.error, "circuit open for slow") == 0);
	CU_ASSERT_EQUAL(mh_count(mh), 5);
}

static void
test_breaker_half_open(void)
{
	bh_http_call call = { .upstream = "flaky", .url = url("/trial") };
	bh_http_response resp;
	struct timespec wait = { 0, 600 * 1000 * 1000 };

	setup();
	bh_http_breaker_open_ms = 500;

	/* A failed trial opens it again at once. */
	open_breaker("flaky");
	nanosleep(&wait, NULL);
	push("/trial", 503, NULL, NULL);
	push("/trial", 200, NULL, NULL);
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 503); /* the trial: one attempt only */
	CU_ASSERT_EQUAL(mh_count_path(mh, "/trial"), 1);
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), -1);
	CU_ASSERT_EQUAL(mh_count_path(mh, "/trial"), 1);

	/* A successful trial closes it. */
	nanosleep(&wait, NULL);
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 200);
	push("/trial", 200, NULL, NULL);
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL(mh_count_path(mh, "/trial"), 3);
}

/* ---------------------------------------------------------- service token */

static void
token_setup(void)
{
	setup();
	bh_cfg.token_url = url("/token");
	bh_cfg.client_id = "client:1%";
	bh_cfg.client_secret = "s3cr:et";
}

static void
push_token(const char *token, int expires_in)
{
	push("/token", 200, JSON_HEADERS "Cache-Control: no-store\r\n",
	    bh_psprintf(pool, "{\"access_token\":\"%s\",\"token_type\":"
	    "\"Bearer\",\"expires_in\":%d}", token, expires_in));
}

static const struct mh_request *
nth_for(const char *path, size_t n)
{
	size_t i, seen = 0;
	const struct mh_request *r;

	for (i = 0; (r = mh_request(mh, i)) != NULL; i++)
		if (strncmp(r->target, path, strlen(path)) == 0 &&
		    seen++ == n)
			return r;
	return NULL;
}

static void
test_service_token_cached(void)
{
	bh_http_call call = { .upstream = "users", .url = url("/api"),
	    .service_token = true };
	bh_http_response resp;
	const struct mh_request *t;

	token_setup();
	push_token("tok1", 600);
	push("/api", 200, NULL, NULL);
	push("/api", 200, NULL, NULL);
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_EQUAL(mh_count_path(mh, "/token"), 1);
	CU_ASSERT_EQUAL(mh_count_path(mh, "/api"), 2);
	CU_ASSERT_STRING_EQUAL(mh_header(nth_for("/api", 0), "authorization"),
	    "Bearer tok1");
	CU_ASSERT_STRING_EQUAL(mh_header(nth_for("/api", 1), "authorization"),
	    "Bearer tok1");
	t = nth_for("/token", 0);
	CU_ASSERT_FATAL(t != NULL);
	CU_ASSERT_STRING_EQUAL(t->method, "POST");
	CU_ASSERT_STRING_EQUAL(t->body, "grant_type=client_credentials");
	CU_ASSERT_STRING_EQUAL(mh_header(t, "content-type"),
	    "application/x-www-form-urlencoded");
	/* base64("client%3A1%25:s3cr%3Aet") */
	CU_ASSERT_STRING_EQUAL(mh_header(t, "authorization"),
	    "Basic Y2xpZW50JTNBMSUyNTpzM2NyJTNBZXQ=");
	CU_ASSERT_STRING_EQUAL(bh_service_token(), "tok1");
	CU_ASSERT_EQUAL(mh_count_path(mh, "/token"), 1);
}

static void
test_service_token_refreshed_after_401(void)
{
	bh_http_call call = { .upstream = "users", .method = "POST",
	    .url = url("/api"), .body = "{}", .body_len = 2,
	    .service_token = true };
	bh_http_response resp;

	token_setup();
	push_token("tok1", 600);
	push("/api", 401,
	    "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n", NULL);
	push_token("tok2", 600);
	push("/api", 200, NULL, "done");
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 200);
	CU_ASSERT_STRING_EQUAL(resp.body, "done");
	CU_ASSERT_EQUAL(mh_count_path(mh, "/token"), 2);
	CU_ASSERT_STRING_EQUAL(mh_header(nth_for("/api", 0), "authorization"),
	    "Bearer tok1");
	CU_ASSERT_STRING_EQUAL(mh_header(nth_for("/api", 1), "authorization"),
	    "Bearer tok2");

	/* Refused again: once only, the 401 is the answer. */
	push("/api", 401, NULL, NULL);
	push_token("tok3", 600);
	push("/api", 401, NULL, NULL);
	push("/api", 200, NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(bh_http(pool, &call, &resp), 0);
	CU_ASSERT_EQUAL(resp.status, 401);
	CU_ASSERT_EQUAL(mh_count_path(mh, "/api"), 4);
}

static void
test_service_token_renewed_before_expiry(void)
{
	struct timespec wait = { 1, 100 * 1000 * 1000 };

	token_setup();
	/* A 2 s token is renewed after half its life. */
	push_token("short1", 2);
	push_token("short2", 2);
	CU_ASSERT_STRING_EQUAL(bh_service_token(), "short1");
	CU_ASSERT_STRING_EQUAL(bh_service_token(), "short1");
	nanosleep(&wait, NULL);
	CU_ASSERT_STRING_EQUAL(bh_service_token(), "short2");
	CU_ASSERT_EQUAL(mh_count_path(mh, "/token"), 2);
}

static void
test_service_token_failures(void)
{
	bh_http_call call = { .upstream = "users", .url = url("/api"),
	    .service_token = true };
	bh_http_response resp;

	/* No secret: no token, the call is not made. */
	setup();
	bh_cfg.token_url = url("/token");
	bh_cfg.client_id = "svc";
	CU_ASSERT_PTR_NULL(bh_service_token());
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), -1);
	CU_ASSERT(resp.error != NULL &&
	    strcmp(resp.error, "no service token") == 0);
	CU_ASSERT_EQUAL(mh_count(mh), 0);

	/* auth refuses the client, or answers nonsense. */
	token_setup();
	push("/token", 401, JSON_HEADERS, "{\"error\":\"invalid_client\"}");
	CU_ASSERT_PTR_NULL(bh_service_token());
	push("/token", 200, JSON_HEADERS, "{\"access_token\":\"a b\","
	    "\"expires_in\":600}");
	CU_ASSERT_PTR_NULL(bh_service_token());
	push("/token", 200, JSON_HEADERS, "{\"access_token\":\"ok\","
	    "\"expires_in\":\"600\"}");
	CU_ASSERT_PTR_NULL(bh_service_token());
	push("/token", 200, JSON_HEADERS, "{\"access_token\":\"ok\","
	    "\"token_type\":\"mac\",\"expires_in\":600}");
	CU_ASSERT_PTR_NULL(bh_service_token());
	push("/token", 200, "Content-Type: text/html\r\n", "<html>");
	CU_ASSERT_PTR_NULL(bh_service_token());
	CU_ASSERT_EQUAL(mh_count_path(mh, "/token"), 5);
}

static void
test_service_token_within_budget(void)
{
	struct mh_answer slow = { .path = "/token", .status = 200,
	    .delay_ms = 2000 };
	bh_http_call call = { .upstream = "users", .url = url("/api"),
	    .service_token = true, .timeout_ms = 300 };
	bh_http_response resp;
	uint64_t start;

	token_setup();
	mh_push(mh, &slow);
	start = bh_now_us();
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), -1);
	CU_ASSERT(resp.error != NULL &&
	    strcmp(resp.error, "no service token") == 0);
	CU_ASSERT(ms_since(start) < 1500);
	CU_ASSERT_EQUAL(mh_count_path(mh, "/api"), 0);
}

/* The time the token took comes off the call's budget: the attempt after
 * it gets what is left, not the whole budget again. */
static void
test_service_token_time_counted(void)
{
	struct mh_answer slow_token = { .path = "/token", .status = 200,
	    .headers = JSON_HEADERS, .delay_ms = 450,
	    .body = "{\"access_token\":\"slow\",\"token_type\":\"Bearer\","
	    "\"expires_in\":600}" };
	struct mh_answer slow_api = { .path = "/api", .status = 200,
	    .delay_ms = 400 };
	bh_http_call call = { .upstream = "users", .url = url("/api"),
	    .service_token = true, .timeout_ms = 600 };
	bh_http_response resp;
	uint64_t start;
	long took;

	token_setup();
	bh_cfg.http_retries = 0;
	mh_push(mh, &slow_token);
	mh_push(mh, &slow_api);
	start = bh_now_us();
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), -1);
	took = ms_since(start);
	CU_ASSERT(took < 750);
	CU_ASSERT(resp.error != NULL && strstr(resp.error, "timed out") !=
	    NULL);
}

/* The same for the fresh token fetched after a 401. */
static void
test_service_token_time_counted_after_401(void)
{
	struct mh_answer slow_token = { .path = "/token", .status = 200,
	    .headers = JSON_HEADERS, .delay_ms = 650,
	    .body = "{\"access_token\":\"tok2\",\"token_type\":\"Bearer\","
	    "\"expires_in\":600}" };
	struct mh_answer slow_api = { .path = "/api", .status = 200,
	    .delay_ms = 400 };
	bh_http_call call = { .upstream = "users", .method = "POST",
	    .url = url("/api"), .body = "{}", .body_len = 2,
	    .service_token = true, .timeout_ms = 800 };
	bh_http_response resp;
	uint64_t start;
	long took;

	token_setup();
	push_token("tok1", 600);
	push("/api", 401, NULL, NULL);
	mh_push(mh, &slow_token);
	mh_push(mh, &slow_api);
	start = bh_now_us();
	CU_ASSERT_EQUAL(bh_http(pool, &call, &resp), -1);
	took = ms_since(start);
	CU_ASSERT(took < 950);
	CU_ASSERT_EQUAL(mh_count_path(mh, "/token"), 2);
	CU_ASSERT(resp.error != NULL && strstr(resp.error, "timed out") !=
	    NULL);
}

static void
test_service_token_kept_while_auth_down(void)
{
	struct timespec wait = { 1, 100 * 1000 * 1000 };

	token_setup();
	push_token("still-good", 4); /* renewed after 2 s, expires at 4 s */
	CU_ASSERT_STRING_EQUAL(bh_service_token(), "still-good");
	nanosleep(&wait, NULL);
	nanosleep(&wait, NULL);
	push("/token", 503, NULL, NULL);
	push("/token", 503, NULL, NULL);
	push("/token", 503, NULL, NULL);
	/* Renewal due, auth failing: the unexpired token is used. */
	CU_ASSERT_STRING_EQUAL(bh_service_token(), "still-good");
	CU_ASSERT(mh_count_path(mh, "/token") >= 2);
}

static void
cleanup(void)
{
	mh_stop(mh);
	mh = NULL;
	if (pool != NULL)
		bh_pool_free(pool);
	pool = NULL;
	bh_http_reset();
	bh_service_token_invalidate();
}

int
bh_test_register(void)
{
	static CU_TestInfo basics[] = {
		{ "GET with a JSON answer", test_get_json },
		{ "JSON media types and strict parsing", test_json_types },
		{ "headers and body sent", test_headers_sent },
		{ "empty POST and HEAD", test_empty_post_and_head },
		{ "basic auth form-encodes user and password",
		    test_basic_auth_encoding },
		{ "bad calls refused before sending", test_bad_calls },
		{ "connections kept alive", test_keep_alive },
		CU_TEST_INFO_NULL,
	};
	static CU_TestInfo retries[] = {
		{ "GET retried on 502/503", test_retry_get_on_503 },
		{ "retries stop at http_retries", test_retries_exhausted },
		{ "POST without key not retried",
		    test_no_retry_post_without_key },
		{ "POST with key retried", test_retry_post_with_key },
		{ "no retry on 404 or 500", test_no_retry_on_4xx_or_500 },
		{ "Retry-After honoured", test_retry_after_honoured },
		{ "Retry-After beyond the budget",
		    test_retry_after_beyond_budget },
		{ "total timeout respected", test_total_timeout },
		{ "connection refused", test_connect_refused },
		{ "connection closed without answer retried",
		    test_reset_without_answer_retried },
		{ "body capped at 8 MiB", test_body_cap },
		{ "maybe_sent only when it can have arrived",
		    test_maybe_sent },
		CU_TEST_INFO_NULL,
	};
	static CU_TestInfo breaker[] = {
		{ "opens after 5 failures, fails fast", test_breaker_opens },
		{ "a success resets the count",
		    test_breaker_success_resets_count },
		{ "timeouts count as failures", test_breaker_counts_timeouts },
		{ "half-open trial", test_breaker_half_open },
		CU_TEST_INFO_NULL,
	};
	static CU_TestInfo token[] = {
		{ "fetched once and cached", test_service_token_cached },
		{ "refreshed after a 401",
		    test_service_token_refreshed_after_401 },
		{ "renewed before expiry",
		    test_service_token_renewed_before_expiry },
		{ "failures give no token", test_service_token_failures },
		{ "fetched within the call's budget",
		    test_service_token_within_budget },
		{ "its time counted in the call's budget",
		    test_service_token_time_counted },
		{ "... after a 401 too",
		    test_service_token_time_counted_after_401 },
		{ "kept while auth is down",
		    test_service_token_kept_while_auth_down },
		CU_TEST_INFO_NULL,
	};
	int rc;

	atexit(cleanup);
	if ((rc = bh_test_add_suite("httpc basics", basics)) != CUE_SUCCESS ||
	    (rc = bh_test_add_suite("httpc retries", retries)) != CUE_SUCCESS ||
	    (rc = bh_test_add_suite("httpc breaker", breaker)) != CUE_SUCCESS ||
	    (rc = bh_test_add_suite("service token", token)) != CUE_SUCCESS)
		return rc;
	return CUE_SUCCESS;
}
