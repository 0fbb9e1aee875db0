/*
 * test_response.c - response.c: problem+json, headers, serialisation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "runner.h"

static bh_pool *pool;

static void
free_pool(void)
{
	if (pool != NULL)
		bh_pool_free(pool);
	pool = NULL;
}

/* A request as request.c would leave it, with a fresh pool. */
static bh_request *
new_request(unsigned method)
{
	bh_request *req;

	if (pool == NULL)
		pool = bh_pool_new();
	else
		bh_pool_reset(pool);
	req = bh_palloc(pool, sizeof(*req));
	req->pool = pool;
	req->method = method;
	req->method_name = method == BH_HEAD ? "HEAD" : "GET";
	req->path = "/x";
	req->request_id = "req-123";
	return req;
}

/* The serialised response split into header lines and body. */
struct parsed {
	char *lines[64];
	size_t nlines;
	const char *body;
	size_t body_len;
	bh_buf raw;
};

static void
serialize(bh_request *req, struct parsed *out)
{
	char *head, *end, *line, *next;

	memset(out, 0, sizeof(*out));
	bh_buf_init(&out->raw, req->pool);
	bh_response_serialize(req, &out->raw);
	end = strstr(out->raw.data, "\r\n\r\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(end);
	out->body = end + 4;
	out->body_len = out->raw.len - (size_t)(out->body - out->raw.data);
	head = bh_pstrndup(req->pool, out->raw.data,
	    (size_t)(end - out->raw.data));
	for (line = head; line != NULL && out->nlines < 64; line = next) {
		next = strstr(line, "\r\n");
		if (next != NULL) {
			*next = '\0';
			next += 2;
		}
		/* Every line must be a "Name: value" header: a stray CR or
		 * LF anywhere would show up here. */
		CU_ASSERT_PTR_NULL(strchr(line, '\r'));
		CU_ASSERT_PTR_NULL(strchr(line, '\n'));
		out->lines[out->nlines++] = line;
	}
}

/* The value of header name, or NULL; *count gets how many there were. */
static const char *
header(const struct parsed *p, const char *name, int *count)
{
	const char *found = NULL;
	size_t i, n = strlen(name);
	int c = 0;

	for (i = 0; i < p->nlines; i++)
		if (strncasecmp(p->lines[i], name, n) == 0 &&
		    strncmp(p->lines[i] + n, ": ", 2) == 0) {
			if (found == NULL)
				found = p->lines[i] + n + 2;
			c++;
		}
	if (count != NULL)
		*count = c;
	return found;
}

static json_object *
parse_json(const char *s, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *obj;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, s, (int)len);
	CU_ASSERT_EQUAL(json_tokener_get_error(tok), json_tokener_success);
	CU_ASSERT_EQUAL(json_tokener_get_parse_end(tok), len);
	json_tokener_free(tok);
	return obj;
}

static const char *
member_str(json_object *obj, const char *key)
{
	json_object *m;

	if (!json_object_object_get_ex(obj, key, &m) ||
	    !json_object_is_type(m, json_type_string))
		return NULL;
	return json_object_get_string(m);
}

static void
test_problem_shape(void)
{
	bh_request *req = new_request(BH_GET);
	json_object *obj, *m;

	CU_ASSERT_EQUAL(bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
	    "page", "page must be an integer between %d and %d", 1, 1000),
	    400);
	CU_ASSERT_EQUAL(req->status, 400);
	CU_ASSERT_STRING_EQUAL(req->resp_type, "application/problem+json");
	obj = parse_json(req->resp_body.data, req->resp_body.len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
	CU_ASSERT_EQUAL(json_object_object_length(obj), 6);
	CU_ASSERT_STRING_EQUAL(member_str(obj, "type"),
	    "urn:bellhop:problem:invalid-parameter");
	CU_ASSERT_STRING_EQUAL(member_str(obj, "title"), "Bad Request");
	CU_ASSERT_TRUE(json_object_object_get_ex(obj, "status", &m));
	CU_ASSERT_TRUE(json_object_is_type(m, json_type_int));
	CU_ASSERT_EQUAL(json_object_get_int(m), 400);
	CU_ASSERT_STRING_EQUAL(member_str(obj, "detail"),
	    "page must be an integer between 1 and 1000");
	CU_ASSERT_STRING_EQUAL(member_str(obj, "request_id"), "req-123");
	CU_ASSERT_STRING_EQUAL(member_str(obj, "param"), "page");
	json_object_put(obj);

	/* Without a parameter there is no "param" member. */
	req = new_request(BH_GET);
	bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL, "nothing here");
	obj = parse_json(req->resp_body.data, req->resp_body.len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
	CU_ASSERT_EQUAL(json_object_object_length(obj), 5);
	CU_ASSERT_FALSE(json_object_object_get_ex(obj, "param", NULL));
	CU_ASSERT_STRING_EQUAL(member_str(obj, "title"), "Not Found");
	CU_ASSERT_STRING_EQUAL(member_str(obj, "type"),
	    "urn:bellhop:problem:not-found");
	json_object_put(obj);
}

/* Occurrences of needle in haystack. */
static int
count_of(const char *haystack, const char *needle)
{
	int n = 0;

	for (; (haystack = strstr(haystack, needle)) != NULL; haystack++)
		n++;
	return n;
}

#define STANDARD_FIRST "{\"type\":\"urn:bellhop:problem:payment-declined\"," \
	"\"title\":\"Payment Required\",\"status\":402,\"detail\":"

static void
test_problem_ext(void)
{
	bh_request *req = new_request(BH_POST);
	json_object *extra, *obj, *m;
	char *ext_body;

	extra = json_object_new_object();
	json_object_object_add(extra, "payment_id",
	    json_object_new_string("6f1c0b0e-0000-4000-8000-000000000001"));
	json_object_object_add(extra, "decline_code",
	    json_object_new_string("insufficient_funds"));
	json_object_object_add(extra, "attempts", json_object_new_int(2));
	json_object_object_add(extra, "nested", json_object_new_array());
	json_object_object_add(extra, "none", NULL);
	/* Standard members cannot be replaced, nor a second one added. */
	json_object_object_add(extra, "status", json_object_new_int(200));
	json_object_object_add(extra, "type", json_object_new_string("x"));
	json_object_object_add(extra, "title", json_object_new_string("x"));
	json_object_object_add(extra, "detail", json_object_new_string("x"));
	json_object_object_add(extra, "request_id",
	    json_object_new_string("x"));
	json_object_object_add(extra, "param", json_object_new_string("x"));
	json_object_object_add(extra, "q\"uo\\te</",
	    json_object_new_string("</script>\n"));

	CU_ASSERT_EQUAL(bh_problem_ext(req, 402, BH_PROBLEM_PAYMENT_DECLINED,
	    NULL, extra, "the bank declined the card: %s", "insufficient "
	    "funds"), 402);
	/* Not consumed: still the caller's. */
	CU_ASSERT_EQUAL(json_object_object_length(extra), 12);
	json_object_put(extra);

	CU_ASSERT_EQUAL(req->status, 402);
	CU_ASSERT_STRING_EQUAL(req->resp_type, "application/problem+json");
	CU_ASSERT_EQUAL(count_of(req->resp_body.data, "\"status\""), 1);
	CU_ASSERT_EQUAL(count_of(req->resp_body.data, "\"type\""), 1);
	CU_ASSERT_EQUAL(count_of(req->resp_body.data, "\"param\""), 0);
	/* The standard members come first, in their usual order. */
	CU_ASSERT_EQUAL(strncmp(req->resp_body.data, STANDARD_FIRST,
	    strlen(STANDARD_FIRST)), 0);
	obj = parse_json(req->resp_body.data, req->resp_body.len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
	CU_ASSERT_EQUAL(json_object_object_length(obj), 5 + 6);
	CU_ASSERT_STRING_EQUAL(member_str(obj, "type"),
	    "urn:bellhop:problem:payment-declined");
	CU_ASSERT_STRING_EQUAL(member_str(obj, "title"), "Payment Required");
	CU_ASSERT_STRING_EQUAL(member_str(obj, "detail"),
	    "the bank declined the card: insufficient funds");
	CU_ASSERT_STRING_EQUAL(member_str(obj, "request_id"), "req-123");
	CU_ASSERT_TRUE(json_object_object_get_ex(obj, "status", &m) &&
	    json_object_get_int(m) == 402);
	CU_ASSERT_STRING_EQUAL(member_str(obj, "payment_id"),
	    "6f1c0b0e-0000-4000-8000-000000000001");
	CU_ASSERT_STRING_EQUAL(member_str(obj, "decline_code"),
	    "insufficient_funds");
	CU_ASSERT_TRUE(json_object_object_get_ex(obj, "attempts", &m) &&
	    json_object_get_int(m) == 2);
	CU_ASSERT_TRUE(json_object_object_get_ex(obj, "nested", &m) &&
	    json_object_is_type(m, json_type_array));
	CU_ASSERT_TRUE(json_object_object_get_ex(obj, "none", &m) &&
	    m == NULL);
	CU_ASSERT_STRING_EQUAL(member_str(obj, "q\"uo\\te</"), "</script>\n");
	json_object_put(obj);

	/* With a param, and with no extra at all: as bh_problem. */
	req = new_request(BH_POST);
	extra = json_object_new_object();
	json_object_object_add(extra, "param", json_object_new_string("x"));
	bh_problem_ext(req, 409, BH_PROBLEM_CONFLICT, "amount", extra,
	    "more than is left");
	json_object_put(extra);
	obj = parse_json(req->resp_body.data, req->resp_body.len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
	CU_ASSERT_STRING_EQUAL(member_str(obj, "param"), "amount");
	CU_ASSERT_EQUAL(json_object_object_length(obj), 6);
	json_object_put(obj);

	req = new_request(BH_POST);
	bh_problem_ext(req, 400, BH_PROBLEM_INVALID_PARAMETER, "page", NULL,
	    "page must be %d", 1);
	ext_body = strdup(req->resp_body.data);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ext_body);
	req = new_request(BH_POST);
	bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, "page",
	    "page must be %d", 1);
	CU_ASSERT_STRING_EQUAL(ext_body, req->resp_body.data);
	free(ext_body);

	/* Extra that is not an object is left out. */
	req = new_request(BH_POST);
	extra = json_object_new_array();
	bh_problem_ext(req, 503, BH_PROBLEM_UPSTREAM, NULL, extra,
	    "the bank is unavailable");
	json_object_put(extra);
	obj = parse_json(req->resp_body.data, req->resp_body.len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
	CU_ASSERT_EQUAL(json_object_object_length(obj), 5);
	json_object_put(obj);
}

static void
test_problem_titles(void)
{
	static const struct {
		int status;
		const char *title;
	} cases[] = {
		{ 405, "Method Not Allowed" }, { 413, "Content Too Large" },
		{ 415, "Unsupported Media Type" },
		{ 500, "Internal Server Error" },
		{ 503, "Service Unavailable" }, { 499, "Client Error" },
	};
	bh_request *req;
	json_object *obj;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		req = new_request(BH_GET);
		bh_problem(req, cases[i].status, BH_PROBLEM_BAD_REQUEST, NULL,
		    "x");
		obj = parse_json(req->resp_body.data, req->resp_body.len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
		CU_ASSERT_STRING_EQUAL(member_str(obj, "title"),
		    cases[i].title);
		json_object_put(obj);
	}
}

static void
test_problem_escaping(void)
{
	bh_request *req = new_request(BH_GET);
	json_object *obj;

	/* Quotes, backslash, newline, other controls, DEL, valid UTF-8,
	 * then an invalid byte pair and an overlong '/'. */
	bh_problem(req, 400, BH_PROBLEM_BAD_REQUEST, "a\"b",
	    "q\"b\\n\nt\tc\x01" "d\x7f" "\xc3\xa9|\xc3\x28|\xc0\xaf|%s",
	    "</script>");
	obj = parse_json(req->resp_body.data, req->resp_body.len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
	CU_ASSERT_STRING_EQUAL(member_str(obj, "detail"),
	    "q\"b\\n\nt\tc\x01" "d\x7f" "\xc3\xa9|\xef\xbf\xbd(|"
	    "\xef\xbf\xbd\xef\xbf\xbd|</script>");
	CU_ASSERT_STRING_EQUAL(member_str(obj, "param"), "a\"b");
	/* No raw control character reaches the body. */
	CU_ASSERT_PTR_NULL(strchr(req->resp_body.data, '\n'));
	CU_ASSERT_PTR_NULL(strchr(req->resp_body.data, '\x01'));
	json_object_put(obj);

	/* A hostile request id is escaped in the body too. */
	req = new_request(BH_GET);
	req->request_id = "id\"},\"x\":\"";
	bh_problem(req, 400, BH_PROBLEM_BAD_REQUEST, NULL, "d");
	obj = parse_json(req->resp_body.data, req->resp_body.len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
	CU_ASSERT_STRING_EQUAL(member_str(obj, "request_id"),
	    "id\"},\"x\":\"");
	CU_ASSERT_FALSE(json_object_object_get_ex(obj, "x", NULL));
	json_object_put(obj);
}

static void
test_problem_503_retry_after(void)
{
	bh_request *req = new_request(BH_GET);
	struct parsed p;

	bh_cfg.retry_after = 7;
	bh_problem(req, 503, BH_PROBLEM_DB_UNAVAILABLE, NULL, "db down");
	serialize(req, &p);
	CU_ASSERT_STRING_EQUAL(p.lines[0], "Status: 503 Service Unavailable");
	CU_ASSERT_STRING_EQUAL(header(&p, "Retry-After", NULL), "7");
	CU_ASSERT_STRING_EQUAL(header(&p, "Content-Type", NULL),
	    "application/problem+json");

	/* Other statuses carry none. */
	req = new_request(BH_GET);
	bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL, "oops");
	serialize(req, &p);
	CU_ASSERT_PTR_NULL(header(&p, "Retry-After", NULL));
	bh_cfg.retry_after = 0;
}

static void
test_header_injection(void)
{
	bh_request *req = new_request(BH_GET);
	struct parsed p;
	size_t i;

	bh_add_header(req, "X-A", "v\r\nSet-Cookie: a=b");
	bh_add_header(req, "X-B", "v\nSet-Cookie: a=b");
	bh_add_header(req, "X-C", "v\rSet-Cookie: a=b");
	bh_add_header(req, "X-D\r\nSet-Cookie", "a=b");
	bh_add_header(req, "X E", "v");
	bh_add_header(req, "X:F", "v");
	bh_add_header(req, "", "v");
	bh_add_header(req, "X-G", "nul\x01" "byte");
	CU_ASSERT_EQUAL(req->nresp_headers, 0);
	/* Headers that would break framing or the request id. */
	bh_add_header(req, "Content-Length", "0");
	bh_add_header(req, "status", "200 OK");
	bh_add_header(req, "X-Request-Id", "forged");
	CU_ASSERT_EQUAL(req->nresp_headers, 0);
	bh_add_header(req, "X-Ok", "fine\tvalue");
	CU_ASSERT_EQUAL(req->nresp_headers, 1);
	/* A content type with CR/LF is refused as well. */
	bh_send(req, 200, "text/plain\r\nSet-Cookie: a=b", "hi", 2);
	serialize(req, &p);
	CU_ASSERT_PTR_NULL(strstr(p.raw.data, "Set-Cookie"));
	CU_ASSERT_STRING_EQUAL(header(&p, "X-Ok", NULL), "fine\tvalue");
	CU_ASSERT_STRING_EQUAL(header(&p, "X-Request-Id", NULL), "req-123");
	CU_ASSERT_STRING_EQUAL(header(&p, "Content-Type", NULL),
	    "application/octet-stream");
	for (i = 0; i < p.nlines; i++)
		CU_ASSERT_PTR_NULL(strstr(p.lines[i], "forged"));

	/* A request id that somehow holds CR/LF is not written. */
	req = new_request(BH_GET);
	req->request_id = "a\r\nSet-Cookie: x=y";
	bh_send(req, 200, "text/plain", "", 0);
	serialize(req, &p);
	CU_ASSERT_PTR_NULL(strstr(p.raw.data, "Set-Cookie"));
}

static void
test_header_copied_and_many(void)
{
	bh_request *req = new_request(BH_GET);
	struct parsed p;
	char name[16], value[16];
	int i;

	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "X-H%d", i);
		snprintf(value, sizeof(value), "v%d", i);
		bh_add_header(req, name, value);
	}
	/* The caller's buffers are reused: the runtime kept copies. */
	strcpy(name, "clobbered");
	CU_ASSERT_EQUAL(req->nresp_headers, 20);
	bh_send(req, 200, "text/plain", "x", 1);
	serialize(req, &p);
	CU_ASSERT_STRING_EQUAL(header(&p, "X-H0", NULL), "v0");
	CU_ASSERT_STRING_EQUAL(header(&p, "X-H19", NULL), "v19");
	/* Content-Type set as a header becomes the response's type. */
	req = new_request(BH_GET);
	bh_add_header(req, "content-type", "text/csv");
	req->status = 200;
	serialize(req, &p);
	CU_ASSERT_STRING_EQUAL(header(&p, "Content-Type", NULL), "text/csv");
}

static void
test_content_length(void)
{
	static const char bin[] = "a\0b\r\n\r\nc";
	bh_request *req = new_request(BH_GET);
	struct parsed p;

	bh_send(req, 200, "application/octet-stream", bin, sizeof(bin) - 1);
	serialize(req, &p);
	CU_ASSERT_STRING_EQUAL(p.lines[0], "Status: 200 OK");
	CU_ASSERT_STRING_EQUAL(header(&p, "Content-Length", NULL), "8");
	CU_ASSERT_EQUAL(p.body_len, sizeof(bin) - 1);
	CU_ASSERT_EQUAL(memcmp(p.body, bin, sizeof(bin) - 1), 0);

	/* An empty body still says 0. */
	req = new_request(BH_GET);
	bh_send(req, 200, "text/plain", NULL, 0);
	serialize(req, &p);
	CU_ASSERT_STRING_EQUAL(header(&p, "Content-Length", NULL), "0");
	CU_ASSERT_EQUAL(p.body_len, 0);

	/* A second bh_send replaces the first body. */
	req = new_request(BH_GET);
	bh_send(req, 200, "text/plain", "first body", 10);
	bh_send(req, 201, "text/plain", "2nd", 3);
	serialize(req, &p);
	CU_ASSERT_STRING_EQUAL(p.lines[0], "Status: 201 Created");
	CU_ASSERT_STRING_EQUAL(header(&p, "Content-Length", NULL), "3");
	CU_ASSERT_EQUAL(p.body_len, 3);
}

static void
test_head_no_body(void)
{
	bh_request *req = new_request(BH_HEAD);
	struct parsed p;

	bh_send(req, 200, "application/json", "{\"a\":1}", 7);
	serialize(req, &p);
	CU_ASSERT_STRING_EQUAL(header(&p, "Content-Length", NULL), "7");
	CU_ASSERT_STRING_EQUAL(header(&p, "Content-Type", NULL),
	    "application/json");
	CU_ASSERT_EQUAL(p.body_len, 0);
}

static void
test_204_no_content(void)
{
	bh_request *req = new_request(BH_GET);
	struct parsed p;

	bh_send(req, 204, "text/plain", "ignored", 7);
	serialize(req, &p);
	CU_ASSERT_STRING_EQUAL(p.lines[0], "Status: 204 No Content");
	CU_ASSERT_PTR_NULL(header(&p, "Content-Length", NULL));
	CU_ASSERT_PTR_NULL(header(&p, "Content-Type", NULL));
	CU_ASSERT_EQUAL(p.body_len, 0);
}

static void
test_default_headers(void)
{
	bh_request *req = new_request(BH_GET);
	struct parsed p;
	int n;

	bh_send(req, 200, "application/json", "{}", 2);
	serialize(req, &p);
	CU_ASSERT_STRING_EQUAL(header(&p, "X-Content-Type-Options", NULL),
	    "nosniff");
	CU_ASSERT_STRING_EQUAL(header(&p, "X-Frame-Options", NULL), "DENY");
	CU_ASSERT_STRING_EQUAL(header(&p, "Referrer-Policy", NULL),
	    "no-referrer");
	CU_ASSERT_STRING_EQUAL(header(&p, "Cache-Control", NULL), "no-store");
	CU_ASSERT_STRING_EQUAL(header(&p, "Content-Security-Policy", NULL),
	    "default-src 'none'; frame-ancestors 'none'");
	CU_ASSERT_STRING_EQUAL(header(&p, "X-Request-Id", NULL), "req-123");

	/* Overridden case-insensitively: one header, the handler's. */
	req = new_request(BH_GET);
	bh_add_header(req, "cache-control", "public, max-age=60");
	bh_add_header(req, "Content-Security-Policy", "default-src 'self'");
	bh_send(req, 200, "application/json", "{}", 2);
	serialize(req, &p);
	CU_ASSERT_STRING_EQUAL(header(&p, "Cache-Control", &n),
	    "public, max-age=60");
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_STRING_EQUAL(header(&p, "Content-Security-Policy", &n),
	    "default-src 'self'");
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_STRING_EQUAL(header(&p, "X-Frame-Options", NULL), "DENY");

	/* HTML gets no default CSP (a page sets its own), keeps the rest. */
	req = new_request(BH_GET);
	bh_send(req, 200, "text/html; charset=utf-8", "<p>", 3);
	serialize(req, &p);
	CU_ASSERT_PTR_NULL(header(&p, "Content-Security-Policy", NULL));
	CU_ASSERT_STRING_EQUAL(header(&p, "X-Content-Type-Options", NULL),
	    "nosniff");
}

static void
test_no_response_is_500(void)
{
	bh_request *req = new_request(BH_GET);
	struct parsed p;
	json_object *obj;

	serialize(req, &p);
	CU_ASSERT_STRING_EQUAL(p.lines[0],
	    "Status: 500 Internal Server Error");
	CU_ASSERT_STRING_EQUAL(header(&p, "Content-Type", NULL),
	    "application/problem+json");
	obj = parse_json(p.body, p.body_len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
	CU_ASSERT_STRING_EQUAL(member_str(obj, "type"),
	    "urn:bellhop:problem:internal-error");
	CU_ASSERT_STRING_EQUAL(member_str(obj, "request_id"), "req-123");
	json_object_put(obj);

	/* A status outside 100..599 is a handler bug: 500 as well. */
	req = new_request(BH_GET);
	bh_send(req, 42, "text/plain", "x", 1);
	serialize(req, &p);
	CU_ASSERT_STRING_EQUAL(p.lines[0],
	    "Status: 500 Internal Server Error");
}

static void
test_send_json(void)
{
	bh_request *req = new_request(BH_GET);
	json_object *obj = json_object_new_object();
	struct parsed p;

	json_object_object_add(obj, "url", json_object_new_string("a/b"));
	json_object_object_add(obj, "n", json_object_new_int(3));
	CU_ASSERT_EQUAL(bh_send_json(req, 200, obj), 200);
	/* The caller still owns obj: it is usable and put exactly once. */
	CU_ASSERT_EQUAL(json_object_object_length(obj), 2);
	CU_ASSERT_EQUAL(json_object_put(obj), 1);
	serialize(req, &p);
	CU_ASSERT_STRING_EQUAL(header(&p, "Content-Type", NULL),
	    "application/json");
	CU_ASSERT_EQUAL(p.body_len, strlen("{\"url\":\"a/b\",\"n\":3}"));
	CU_ASSERT_EQUAL(memcmp(p.body, "{\"url\":\"a/b\",\"n\":3}", p.body_len),
	    0);
}

int
bh_test_register(void)
{
	static const CU_TestInfo problem[] = {
		{ "shape", test_problem_shape },
		{ "titles", test_problem_titles },
		{ "extra members", test_problem_ext },
		{ "escaping", test_problem_escaping },
		{ "503 has Retry-After", test_problem_503_retry_after },
		CU_TEST_INFO_NULL,
	};
	static const CU_TestInfo headers[] = {
		{ "injection refused", test_header_injection },
		{ "copied, many", test_header_copied_and_many },
		{ "defaults and overrides", test_default_headers },
		CU_TEST_INFO_NULL,
	};
	static const CU_TestInfo serialise[] = {
		{ "Content-Length", test_content_length },
		{ "HEAD has no body", test_head_no_body },
		{ "204 has no content", test_204_no_content },
		{ "no response is 500", test_no_response_is_500 },
		{ "send_json", test_send_json },
		CU_TEST_INFO_NULL,
	};
	int rc;

	atexit(free_pool);
	if ((rc = bh_test_add_suite("problem", problem)) != CUE_SUCCESS ||
	    (rc = bh_test_add_suite("headers", headers)) != CUE_SUCCESS ||
	    (rc = bh_test_add_suite("serialise", serialise)) != CUE_SUCCESS)
		return rc;
	return CUE_SUCCESS;
}
