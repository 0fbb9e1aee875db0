/*
 * test_router.c - router.c (matching, 404/405/OPTIONS, built-ins, typed
 * path parameters, access checked before the body) and validate.c (every
 * declared-parameter rule).
 *
 * Requests are built by hand, as request.c would leave them, so that
 * these tests depend on request.c only for body parsing in dispatch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "runner.h"

static bh_pool *pool;
static const char *called; /* the handler that ran, or NULL */

static void
free_pool(void)
{
	if (pool != NULL)
		bh_pool_free(pool);
	pool = NULL;
}

/* --------------------------------------------------------- test fixtures */

static int
record(bh_request *req, const char *name)
{
	called = name;
	return bh_send(req, 200, "text/plain", name, strlen(name));
}

static int h_list(bh_request *req) { return record(req, "list"); }
static int h_create(bh_request *req) { return record(req, "create"); }
static int h_hotel(bh_request *req) { return record(req, "hotel"); }
static int h_new(bh_request *req) { return record(req, "new"); }
static int h_delete(bh_request *req) { return record(req, "delete"); }
static int h_city(bh_request *req) { return record(req, "city"); }
static int h_room(bh_request *req) { return record(req, "room"); }
static int h_axc(bh_request *req) { return record(req, "a-x-c"); }
static int h_aby(bh_request *req) { return record(req, "a-b-y"); }
static int h_root(bh_request *req) { return record(req, "root"); }
static int h_opt(bh_request *req) { return record(req, "options"); }
static int h_silent(bh_request *req) { called = "silent"; (void)req; return 0; }

static const char *const sorts[] = { "price", "rating", "name", NULL };

static const bh_param hotel_params[] = {
	{ .name = "id", .src = BH_PATH, .type = BH_INT, .required = true,
	  .min = 1, .max = 2147483647 },
	{ .name = NULL },
};

static const bh_param room_params[] = {
	{ .name = "n", .src = BH_PATH, .type = BH_INT, .required = true,
	  .min = 10, .max = 20 },
	{ .name = NULL },
};

static const bh_param list_params[] = {
	{ .name = "page", .src = BH_QUERY, .type = BH_INT, .min = 1,
	  .max = 1000, .def = "1" },
	{ .name = "sort", .src = BH_QUERY, .type = BH_ENUM, .choices = sorts,
	  .def = "price" },
	{ .name = NULL },
};

static const bh_param create_params[] = {
	{ .name = "name", .src = BH_BODY, .type = BH_STRING, .required = true,
	  .min = 1, .max = 64 },
	{ .name = "stars", .src = BH_BODY, .type = BH_INT, .min = 1,
	  .max = 5 },
	{ .name = NULL },
};

/* The parameter route comes first: order in the table must not matter. */
static const bh_route routes[] = {
	{ BH_GET, "/hotels/{id:int}", h_hotel, hotel_params, BH_PUBLIC, NULL },
	{ BH_DELETE, "/hotels/{id:int}", h_delete, hotel_params,
	  BH_PUBLIC, NULL },
	{ BH_GET, "/hotels/new", h_new, NULL, BH_PUBLIC, NULL },
	{ BH_GET, "/hotels", h_list, list_params, BH_PUBLIC, NULL },
	{ BH_POST, "/hotels", h_create, create_params, BH_PUBLIC, NULL },
	{ BH_GET, "/cities/{name}", h_city, NULL, BH_PUBLIC, NULL },
	{ BH_GET, "/rooms/{n:int}", h_room, room_params, BH_PUBLIC, NULL },
	{ BH_GET, "/a/{x}/c", h_axc, NULL, BH_PUBLIC, NULL },
	{ BH_GET, "/a/b/{y}", h_aby, NULL, BH_PUBLIC, NULL },
	{ BH_GET, "/", h_root, NULL, BH_PUBLIC, NULL },
	{ BH_PUT | BH_OPTIONS, "/items/{id}", h_opt, NULL, BH_PUBLIC, NULL },
	{ BH_GET, "/silent", h_silent, NULL, BH_PUBLIC, NULL },
	{ 0, NULL, NULL, NULL, 0, NULL },
};

static const bh_service svc = { .name = "test", .routes = routes };

static const char *
method_name(unsigned method)
{
	switch (method) {
	case BH_GET: return "GET";
	case BH_HEAD: return "HEAD";
	case BH_POST: return "POST";
	case BH_PUT: return "PUT";
	case BH_PATCH: return "PATCH";
	case BH_DELETE: return "DELETE";
	case BH_OPTIONS: return "OPTIONS";
	}
	return "BREW";
}

/* A request as request.c would leave it, in a fresh pool. */
static bh_request *
new_request(unsigned method, const char *path)
{
	bh_request *req;

	if (pool == NULL)
		pool = bh_pool_new();
	else
		bh_pool_reset(pool);
	called = NULL;
	req = bh_palloc(pool, sizeof(*req));
	req->pool = pool;
	req->method = method;
	req->method_name = method_name(method);
	req->path = path;
	req->full_path = path;
	req->query = "";
	req->request_id = "rid-1";
	req->content_length = -1;
	return req;
}

/* Sets the query string and its decoded list (via request.c). */
static void
set_query(bh_request *req, const char *query)
{
	req->query = query;
	CU_ASSERT_EQUAL_FATAL(bh_parse_urlencoded(req->pool, query,
	    strlen(query), &req->query_params, NULL), 0);
}

/* Sets a raw body and its media type. */
static void
set_body(bh_request *req, const char *type, const char *body)
{
	req->content_type = type;
	req->body = bh_pstrdup(req->pool, body);
	req->body_len = strlen(body);
	req->content_length = (long long)req->body_len;
}

static bh_request *
dispatch(unsigned method, const char *path, const char *query)
{
	bh_request *req = new_request(method, path);

	if (query != NULL)
		set_query(req, query);
	bh_dispatch(&svc, req);
	return req;
}

static const char *
resp_header(const bh_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nresp_headers; i++)
		if (strcasecmp(req->resp_headers[i].name, name) == 0)
			return req->resp_headers[i].value;
	return NULL;
}

static bool
body_is(const bh_request *req, const char *text)
{
	return req->resp_body.data != NULL &&
	    req->resp_body.len == strlen(text) &&
	    memcmp(req->resp_body.data, text, req->resp_body.len) == 0;
}

static const char *
member(json_object *obj, const char *key)
{
	json_object *m;

	if (!json_object_object_get_ex(obj, key, &m))
		return NULL;
	return json_object_get_string(m);
}

/*
 * True if req holds the problem status/slug, with "param" equal to param
 * (absent when NULL) and, when detail is not NULL, that detail.  Says
 * what differs on stderr, since CUnit only reports the caller's line.
 */
static bool
is_problem(const bh_request *req, int status, const char *slug,
    const char *param, const char *detail)
{
	json_object *obj;
	const char *got;
	char type[128];
	bool ok = true;

	if (req->status != status || req->resp_type == NULL ||
	    strcmp(req->resp_type, "application/problem+json") != 0) {
		fprintf(stderr, "\n  status %d (%s), wanted %d problem\n",
		    req->status, req->resp_type ? req->resp_type : "-",
		    status);
		return false;
	}
	if ((obj = json_tokener_parse(req->resp_body.data)) == NULL) {
		fprintf(stderr, "\n  body is not JSON: %s\n",
		    req->resp_body.data);
		return false;
	}
	snprintf(type, sizeof(type), "urn:bellhop:problem:%s", slug);
	if ((got = member(obj, "type")) == NULL || strcmp(got, type) != 0)
		ok = false;
	got = member(obj, "param");
	if ((param == NULL) != (got == NULL) ||
	    (param != NULL && strcmp(got, param) != 0))
		ok = false;
	got = member(obj, "detail");
	if (detail != NULL && (got == NULL || strcmp(got, detail) != 0))
		ok = false;
	if (!ok)
		fprintf(stderr, "\n  got %s\n  wanted type %s param %s "
		    "detail %s\n", req->resp_body.data, type,
		    param ? param : "(none)", detail ? detail : "(any)");
	json_object_put(obj);
	return ok;
}

/* ------------------------------------------------------------- matching */

static void
test_static_and_typed(void)
{
	bh_request *req;

	req = dispatch(BH_GET, "/hotels", NULL);
	CU_ASSERT_STRING_EQUAL(called, "list");
	CU_ASSERT_EQUAL(req->status, 200);
	CU_ASSERT_PTR_EQUAL(req->route, &routes[3]);

	req = dispatch(BH_GET, "/hotels/42", NULL);
	CU_ASSERT_STRING_EQUAL(called, "hotel");
	CU_ASSERT_EQUAL(req->path_params.n, 1);
	CU_ASSERT_STRING_EQUAL(req->path_params.items[0].key, "id");
	CU_ASSERT_STRING_EQUAL(req->path_params.items[0].val, "42");
	CU_ASSERT_EQUAL(bh_arg_int(req, "id"), 42);
	CU_ASSERT_TRUE(bh_arg_present(req, "id"));

	req = dispatch(BH_GET, "/hotels/2147483647", NULL);
	CU_ASSERT_STRING_EQUAL(called, "hotel");
	CU_ASSERT_EQUAL(bh_arg_int(req, "id"), 2147483647);

	req = dispatch(BH_GET, "/cities/Lisboa%20x", NULL);
	CU_ASSERT_STRING_EQUAL(called, "city");
	CU_ASSERT_STRING_EQUAL(req->path_params.items[0].key, "name");
	CU_ASSERT_STRING_EQUAL(req->path_params.items[0].val, "Lisboa%20x");

	req = dispatch(BH_GET, "/", NULL);
	CU_ASSERT_STRING_EQUAL(called, "root");
	req = dispatch(BH_GET, "", NULL);
	CU_ASSERT_STRING_EQUAL(called, "root");

	req = dispatch(BH_DELETE, "/hotels/7", NULL);
	CU_ASSERT_STRING_EQUAL(called, "delete");
	CU_ASSERT_EQUAL(bh_arg_int(req, "id"), 7);
}

static void
test_literal_beats_param(void)
{
	dispatch(BH_GET, "/hotels/new", NULL);
	CU_ASSERT_STRING_EQUAL(called, "new");
	/* Both /a/{x}/c and /a/b/{y} match: the earlier literal wins. */
	dispatch(BH_GET, "/a/b/c", NULL);
	CU_ASSERT_STRING_EQUAL(called, "a-b-y");
	dispatch(BH_GET, "/a/z/c", NULL);
	CU_ASSERT_STRING_EQUAL(called, "a-x-c");
	dispatch(BH_GET, "/a/b/z", NULL);
	CU_ASSERT_STRING_EQUAL(called, "a-b-y");
}

static void
test_not_found(void)
{
	static const char *const paths[] = {
		"/nothing", "/hotels/", "/hotels//", "//hotels", "/hotels/42/",
		"/hotels/42/rooms", "/cities/", "/cities//x", "/HOTELS",
		"/hotel", "/hotelsx", "/health/", "/ready/x", "/a/b",
	};
	char deep[256];
	bh_request *req;
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		req = dispatch(BH_GET, paths[i], NULL);
		CU_ASSERT_PTR_NULL(called);
		CU_ASSERT_TRUE(is_problem(req, 404, "not-found", NULL, NULL));
		if (req->status != 404)
			fprintf(stderr, "  path %s\n", paths[i]);
	}
	/* Deeper than any pattern could be. */
	for (i = 0; i < 60; i++)
		memcpy(deep + i * 2, "/a", 2);
	deep[120] = '\0';
	req = dispatch(BH_GET, deep, NULL);
	CU_ASSERT_TRUE(is_problem(req, 404, "not-found", NULL, NULL));
	/* OPTIONS on an unknown path is a 404 too. */
	req = dispatch(BH_OPTIONS, "/nothing", NULL);
	CU_ASSERT_TRUE(is_problem(req, 404, "not-found", NULL, NULL));
}

static void
test_method_not_allowed(void)
{
	bh_request *req;

	req = dispatch(BH_POST, "/hotels/42", NULL);
	CU_ASSERT_PTR_NULL(called);
	CU_ASSERT_TRUE(is_problem(req, 405, "method-not-allowed", NULL, NULL));
	CU_ASSERT_STRING_EQUAL(resp_header(req, "Allow"),
	    "GET, HEAD, DELETE, OPTIONS");

	req = dispatch(BH_PATCH, "/hotels", NULL);
	CU_ASSERT_TRUE(is_problem(req, 405, "method-not-allowed", NULL, NULL));
	CU_ASSERT_STRING_EQUAL(resp_header(req, "Allow"),
	    "GET, HEAD, POST, OPTIONS");

	req = dispatch(BH_DELETE, "/hotels/new", NULL);
	/* /hotels/new is GET only, but DELETE /hotels/{id:int} matches the
	 * path too: it is chosen, and "new" is no integer. */
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "id", NULL));

	req = dispatch(BH_GET, "/items/3", NULL);
	CU_ASSERT_TRUE(is_problem(req, 405, "method-not-allowed", NULL, NULL));
	CU_ASSERT_STRING_EQUAL(resp_header(req, "Allow"), "PUT, OPTIONS");

	/* An unknown method on a known path: 405, documented in router.c. */
	req = dispatch(0, "/hotels", NULL);
	CU_ASSERT_PTR_NULL(called);
	CU_ASSERT_TRUE(is_problem(req, 405, "method-not-allowed", NULL, NULL));
	CU_ASSERT_STRING_EQUAL(resp_header(req, "Allow"),
	    "GET, HEAD, POST, OPTIONS");
	req = dispatch(0, "/nothing", NULL);
	CU_ASSERT_TRUE(is_problem(req, 404, "not-found", NULL, NULL));
}

static void
test_head_via_get(void)
{
	bh_request *req;
	bh_buf out;

	req = dispatch(BH_HEAD, "/hotels/5", NULL);
	CU_ASSERT_STRING_EQUAL(called, "hotel");
	CU_ASSERT_EQUAL(req->status, 200);
	bh_buf_init(&out, req->pool);
	bh_response_serialize(req, &out);
	CU_ASSERT_PTR_NOT_NULL(strstr(out.data, "Content-Length: 5\r\n"));
	CU_ASSERT_EQUAL(strcmp(out.data + out.len - 4, "\r\n\r\n"), 0);

	/* HEAD on a route without GET is not allowed. */
	req = dispatch(BH_HEAD, "/items/1", NULL);
	CU_ASSERT_TRUE(is_problem(req, 405, "method-not-allowed", NULL, NULL));
}

static void
test_options(void)
{
	bh_request *req;

	req = dispatch(BH_OPTIONS, "/hotels", NULL);
	CU_ASSERT_PTR_NULL(called);
	CU_ASSERT_EQUAL(req->status, 204);
	CU_ASSERT_STRING_EQUAL(resp_header(req, "Allow"),
	    "GET, HEAD, POST, OPTIONS");
	CU_ASSERT_EQUAL(req->resp_body.len, 0);

	req = dispatch(BH_OPTIONS, "/hotels/9", NULL);
	CU_ASSERT_EQUAL(req->status, 204);
	CU_ASSERT_STRING_EQUAL(resp_header(req, "Allow"),
	    "GET, HEAD, DELETE, OPTIONS");

	/* A route that declares OPTIONS handles it itself. */
	dispatch(BH_OPTIONS, "/items/1", NULL);
	CU_ASSERT_STRING_EQUAL(called, "options");

	req = dispatch(BH_OPTIONS, "/health", NULL);
	CU_ASSERT_EQUAL(req->status, 204);
	CU_ASSERT_STRING_EQUAL(resp_header(req, "Allow"),
	    "GET, HEAD, OPTIONS");
}

static void
test_builtins(void)
{
	bh_request *req;

	req = dispatch(BH_GET, "/health", NULL);
	CU_ASSERT_EQUAL(req->status, 200);
	CU_ASSERT_STRING_EQUAL(req->resp_type, "application/json");
	CU_ASSERT_TRUE(body_is(req, "{\"status\":\"ok\",\"service\":\"test\"}"));

	req = dispatch(BH_HEAD, "/health", NULL);
	CU_ASSERT_EQUAL(req->status, 200);

	req = dispatch(BH_GET, "/ready", NULL);
	CU_ASSERT_EQUAL(req->status, 200);
	CU_ASSERT_TRUE(body_is(req, "{\"status\":\"ready\"}"));

	req = dispatch(BH_POST, "/health", NULL);
	CU_ASSERT_TRUE(is_problem(req, 405, "method-not-allowed", NULL, NULL));
	CU_ASSERT_STRING_EQUAL(resp_header(req, "Allow"),
	    "GET, HEAD, OPTIONS");
	req = dispatch(BH_DELETE, "/ready", NULL);
	CU_ASSERT_TRUE(is_problem(req, 405, "method-not-allowed", NULL, NULL));
	CU_ASSERT_PTR_NULL(called);
}

static void
test_typed_path_errors(void)
{
	static const char *const bad[] = {
		"/hotels/abc", "/hotels/99999999999", "/hotels/0",
		"/hotels/-1", "/hotels/+5", "/hotels/5x", "/hotels/%205",
		"/hotels/2147483648", "/hotels/99999999999999999999999",
		"/hotels/-", "/hotels/0x10", "/hotels/1e3",
	};
	bh_request *req;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req = dispatch(BH_GET, bad[i], NULL);
		CU_ASSERT_PTR_NULL(called);
		CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "id",
		    "id must be an integer between 1 and 2147483647"));
	}
	/* A BH_PATH param of that name sets the bounds. */
	req = dispatch(BH_GET, "/rooms/5", NULL);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "n",
	    "n must be an integer between 10 and 20"));
	req = dispatch(BH_GET, "/rooms/21", NULL);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "n", NULL));
	req = dispatch(BH_GET, "/rooms/15", NULL);
	CU_ASSERT_STRING_EQUAL(called, "room");
	CU_ASSERT_EQUAL(bh_arg_int(req, "n"), 15);
}

static void
test_dispatch_validates(void)
{
	bh_request *req;

	req = dispatch(BH_GET, "/hotels", "page=3&sort=name&other=x");
	CU_ASSERT_STRING_EQUAL(called, "list");
	CU_ASSERT_EQUAL(bh_arg_int(req, "page"), 3);
	CU_ASSERT_EQUAL(bh_arg(req, "sort")->i, 2);
	CU_ASSERT_PTR_NULL(bh_arg(req, "other"));

	req = dispatch(BH_GET, "/hotels", "page=0");
	CU_ASSERT_PTR_NULL(called);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "page",
	    "page must be an integer between 1 and 1000"));

	/* A JSON body is parsed (request.c) then validated. */
	bh_cfg.json_max_depth = 32;
	req = new_request(BH_POST, "/hotels");
	set_body(req, "application/json", "{\"name\":\"Ritz\",\"stars\":5}");
	bh_dispatch(&svc, req);
	CU_ASSERT_STRING_EQUAL(called, "create");
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "name"), "Ritz");
	CU_ASSERT_EQUAL(bh_arg_int(req, "stars"), 5);

	req = new_request(BH_POST, "/hotels");
	set_body(req, "application/json", "{\"name\":");
	bh_dispatch(&svc, req);
	CU_ASSERT_PTR_NULL(called);
	CU_ASSERT_TRUE(is_problem(req, 400, "malformed-body", NULL, NULL));

	/* A member given twice: json-c would keep the last one. */
	req = new_request(BH_POST, "/hotels");
	set_body(req, "application/json",
	    "{\"name\":\"Ritz\",\"stars\":1,\"stars\":5}");
	bh_dispatch(&svc, req);
	CU_ASSERT_PTR_NULL(called);
	CU_ASSERT_TRUE(is_problem(req, 400, "malformed-body", "stars",
	    "the JSON body gives the member \"stars\" twice in one object "
	    "(at byte 25)"));

	/* A member the route does not declare. */
	req = new_request(BH_POST, "/hotels");
	set_body(req, "application/json",
	    "{\"name\":\"Ritz\",\"stras\":5}");
	bh_dispatch(&svc, req);
	CU_ASSERT_PTR_NULL(called);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "stras",
	    NULL));

	req = new_request(BH_POST, "/hotels");
	set_body(req, "application/x-www-form-urlencoded", "name=Ritz&stars=9");
	bh_dispatch(&svc, req);
	CU_ASSERT_PTR_NULL(called);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "stars",
	    "stars must be an integer between 1 and 5"));

	req = new_request(BH_POST, "/hotels");
	set_body(req, "text/plain", "name=Ritz");
	bh_dispatch(&svc, req);
	CU_ASSERT_PTR_NULL(called);
	CU_ASSERT_TRUE(is_problem(req, 415, "unsupported-media-type", NULL,
	    NULL));

	/* A handler that sets no response leaves status 0 (serialised as
	 * a 500 by response.c). */
	req = dispatch(BH_GET, "/silent", NULL);
	CU_ASSERT_STRING_EQUAL(called, "silent");
	CU_ASSERT_EQUAL(req->status, 0);
}

/* Through request.c: the environment a front end passes, then dispatch
 * and the serialised response, byte for byte. */
static bh_request *
dispatch_env(char *const *envp)
{
	bh_request *req = new_request(0, NULL);

	memset(req, 0, sizeof(*req));
	req->pool = pool;
	bh_cfg.base_path = "/test";
	CU_ASSERT_EQUAL_FATAL(bh_request_from_env(req, envp), 0);
	bh_dispatch(&svc, req);
	return req;
}

static void
test_from_env(void)
{
	static char *const health[] = {
		"REQUEST_METHOD=GET", "REQUEST_URI=/test/health",
		"QUERY_STRING=", "HTTP_X_REQUEST_ID=abc123", NULL,
	};
	static char *const hotel[] = {
		"REQUEST_METHOD=GET", "REQUEST_URI=/test/hotels/4%32?page=2",
		"QUERY_STRING=page=2", NULL,
	};
	static char *const slash[] = {
		"REQUEST_METHOD=GET", "REQUEST_URI=/test/cities/a%2Fb",
		"QUERY_STRING=", NULL,
	};
	static char *const brew[] = {
		"REQUEST_METHOD=BREW", "REQUEST_URI=/test/hotels",
		"QUERY_STRING=", NULL,
	};
	static const char expect[] =
	    "Status: 200 OK\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: 32\r\n"
	    "X-Request-Id: abc123\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "X-Frame-Options: DENY\r\n"
	    "Referrer-Policy: no-referrer\r\n"
	    "Cache-Control: no-store\r\n"
	    "Content-Security-Policy: default-src 'none'; "
	    "frame-ancestors 'none'\r\n"
	    "\r\n"
	    "{\"status\":\"ok\",\"service\":\"test\"}";
	bh_request *req;
	bh_buf out;

	req = dispatch_env(health);
	bh_buf_init(&out, req->pool);
	bh_response_serialize(req, &out);
	CU_ASSERT_EQUAL(out.len, sizeof(expect) - 1);
	CU_ASSERT_STRING_EQUAL(out.data, expect);

	req = dispatch_env(hotel);
	CU_ASSERT_STRING_EQUAL(called, "hotel");
	CU_ASSERT_EQUAL(bh_arg_int(req, "id"), 42);

	/* An encoded slash is decoded before matching: no such route. */
	req = dispatch_env(slash);
	CU_ASSERT_TRUE(is_problem(req, 404, "not-found", NULL, NULL));

	req = dispatch_env(brew);
	CU_ASSERT_TRUE(is_problem(req, 405, "method-not-allowed", NULL, NULL));
	bh_cfg.base_path = NULL;
}

/* ----------------------------------------------------------- validation */

static const bh_param query_params[] = {
	{ .name = "page", .src = BH_QUERY, .type = BH_INT, .min = 1,
	  .max = 1000, .def = "1" },
	{ .name = "n", .src = BH_QUERY, .type = BH_INT },
	{ .name = "delta", .src = BH_QUERY, .type = BH_INT, .min = -10,
	  .max = 10 },
	{ .name = "city", .src = BH_QUERY, .type = BH_STRING, .min = 1,
	  .max = 64 },
	{ .name = "note", .src = BH_QUERY, .type = BH_STRING },
	{ .name = "short", .src = BH_QUERY, .type = BH_STRING, .max = 5 },
	{ .name = "big", .src = BH_QUERY, .type = BH_STRING, .max = 20000 },
	{ .name = "sort", .src = BH_QUERY, .type = BH_ENUM, .choices = sorts,
	  .def = "rating" },
	{ .name = "open", .src = BH_QUERY, .type = BH_BOOL, .def = "true" },
	{ .name = "flag", .src = BH_QUERY, .type = BH_BOOL },
	{ .name = NULL },
};

static const bh_param required_params[] = {
	{ .name = "city", .src = BH_QUERY, .type = BH_STRING,
	  .required = true },
	{ .name = NULL },
};

static const bh_param body_params[] = {
	{ .name = "name", .src = BH_BODY, .type = BH_STRING, .max = 10 },
	{ .name = "count", .src = BH_BODY, .type = BH_INT },
	{ .name = "stars", .src = BH_BODY, .type = BH_INT, .min = 1,
	  .max = 5 },
	{ .name = "paid", .src = BH_BODY, .type = BH_BOOL },
	{ .name = "sort", .src = BH_BODY, .type = BH_ENUM, .choices = sorts },
	{ .name = NULL },
};

static const bh_param required_body_params[] = {
	{ .name = "name", .src = BH_BODY, .type = BH_STRING,
	  .required = true },
	{ .name = NULL },
};

static bh_route vroute = { BH_GET, "/v", h_list, NULL, BH_PUBLIC, NULL };

/* Validates raw key/value pairs (NULL-terminated: k, v, k, v, NULL) as
 * the query against params; returns bh_validate_params's result. */
static int
validate_kv(bh_request **reqp, const bh_param *params,
    const char *const *pairs)
{
	bh_request *req = new_request(BH_GET, "/v");
	size_t i, n = 0;

	while (pairs[n] != NULL)
		n += 2;
	req->query_params.items = bh_palloc(req->pool,
	    (n / 2 + 1) * sizeof(bh_kv));
	for (i = 0; i < n; i += 2) {
		req->query_params.items[i / 2].key = pairs[i];
		req->query_params.items[i / 2].val = pairs[i + 1];
		req->query_params.items[i / 2].len = strlen(pairs[i + 1]);
	}
	req->query_params.n = n / 2;
	vroute.params = params;
	req->route = &vroute;
	*reqp = req;
	return bh_validate_params(req);
}

static void
json_put(void *obj)
{
	json_object_put(obj);
}

/* Validates a JSON body (parsed here with json-c) against params. */
static int
validate_json(bh_request **reqp, const bh_param *params, const char *text)
{
	bh_request *req = new_request(BH_POST, "/v");

	set_body(req, "application/json", text);
	req->json = json_tokener_parse(text);
	if (req->json != NULL)
		bh_pool_defer(req->pool, json_put, req->json);
	vroute.params = params;
	req->route = &vroute;
	*reqp = req;
	return bh_validate_params(req);
}

/* Validates a form body (decoded by request.c) against params. */
static int
validate_form(bh_request **reqp, const bh_param *params, const char *text)
{
	bh_request *req = new_request(BH_POST, "/v");

	set_body(req, "application/x-www-form-urlencoded", text);
	CU_ASSERT_EQUAL_FATAL(bh_parse_urlencoded(req->pool, text,
	    strlen(text), &req->form, NULL), 0);
	vroute.params = params;
	req->route = &vroute;
	*reqp = req;
	return bh_validate_params(req);
}

struct bad_case {
	const char *pairs[5];
	const char *param, *detail;
};

#define INT_PAGE "page must be an integer between 1 and 1000"
#define INT_N "n must be an integer"
#define TEXT_NOTE "note must be UTF-8 text without control characters"

static void
test_query_rejects(void)
{
	static const struct bad_case cases[] = {
		{ { "page", "1", "page", "2" }, "page",
		  "page must be given only once" },
		{ { "note", "", "note", "" }, "note",
		  "note must be given only once" },
		{ { "page", "" }, "page", INT_PAGE },
		{ { "page", "0" }, "page", INT_PAGE },
		{ { "page", "1001" }, "page", INT_PAGE },
		{ { "page", "-1" }, "page", INT_PAGE },
		{ { "page", "+5" }, "page", INT_PAGE },
		{ { "page", " 5" }, "page", INT_PAGE },
		{ { "page", "5 " }, "page", INT_PAGE },
		{ { "page", "5x" }, "page", INT_PAGE },
		{ { "page", "x5" }, "page", INT_PAGE },
		{ { "page", "0x10" }, "page", INT_PAGE },
		{ { "page", "1e3" }, "page", INT_PAGE },
		{ { "page", "5.0" }, "page", INT_PAGE },
		{ { "n", "99999999999999999999" }, "n", INT_N },
		{ { "n", "9223372036854775808" }, "n", INT_N },
		{ { "n", "-9223372036854775809" }, "n", INT_N },
		{ { "n", "-" }, "n", INT_N },
		{ { "n", "--5" }, "n", INT_N },
		{ { "n", "" }, "n", INT_N },
		{ { "delta", "-11" }, "delta",
		  "delta must be an integer between -10 and 10" },
		{ { "delta", "11" }, "delta",
		  "delta must be an integer between -10 and 10" },
		{ { "city", "" }, "city",
		  "city must be between 1 and 64 characters long" },
		{ { "note", "\xc3\x28" }, "note", TEXT_NOTE },
		{ { "note", "\xc0\xaf" }, "note", TEXT_NOTE },
		{ { "note", "\xed\xa0\x80" }, "note", TEXT_NOTE },
		{ { "note", "abc\xff" }, "note", TEXT_NOTE },
		{ { "note", "\xe2\x82" }, "note", TEXT_NOTE },
		{ { "note", "a\x01" "b" }, "note", TEXT_NOTE },
		{ { "note", "a\nb" }, "note", TEXT_NOTE },
		{ { "note", "a\rb" }, "note", TEXT_NOTE },
		{ { "note", "a\tb" }, "note", TEXT_NOTE },
		{ { "note", "a\x7f" }, "note", TEXT_NOTE },
		{ { "short", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x" },
		  "short", "short must be between 0 and 5 characters long" },
		{ { "sort", "popularity" }, "sort",
		  "sort must be one of: price, rating, name" },
		{ { "sort", "Price" }, "sort",
		  "sort must be one of: price, rating, name" },
		{ { "sort", "" }, "sort",
		  "sort must be one of: price, rating, name" },
		{ { "sort", "price " }, "sort", NULL },
		{ { "flag", "yes" }, "flag",
		  "flag must be true, false, 1 or 0" },
		{ { "flag", "TRUE" }, "flag", NULL },
		{ { "flag", "" }, "flag", NULL },
		{ { "flag", "2" }, "flag", NULL },
	};
	bh_request *req;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL(validate_kv(&req, query_params,
		    cases[i].pairs), -1);
		CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter",
		    cases[i].param, cases[i].detail));
	}
}

static void
test_query_strings(void)
{
	static const char *const empty_note[] = { "note", "", NULL };
	const char *pairs[3] = { "note", NULL, NULL };
	const char *bigpairs[3] = { "big", NULL, NULL };
	char *ten_k;
	bh_request *req;

	/* Empty is a present value, allowed when min is 0. */
	CU_ASSERT_EQUAL(validate_kv(&req, query_params, empty_note), 0);
	CU_ASSERT_TRUE(bh_arg_present(req, "note"));
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "note"), "");

	/* Not in the pool: validate_kv resets it. */
	ten_k = malloc(10241);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ten_k);
	memset(ten_k, 'a', 10240);
	ten_k[10240] = '\0';
	pairs[1] = ten_k;
	CU_ASSERT_EQUAL(validate_kv(&req, query_params, pairs), -1);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "note",
	    "note must be between 0 and 1024 characters long"));
	bigpairs[1] = ten_k;
	CU_ASSERT_EQUAL(validate_kv(&req, query_params, bigpairs), 0);
	CU_ASSERT_EQUAL(bh_arg(req, "big")->len, 10240);
	/* Exactly the default maximum passes. */
	ten_k[1024] = '\0';
	pairs[1] = ten_k;
	CU_ASSERT_EQUAL(validate_kv(&req, query_params, pairs), 0);
	free(ten_k);

	/* Length counts characters, not bytes. */
	pairs[0] = "short";
	pairs[1] = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
	CU_ASSERT_EQUAL(validate_kv(&req, query_params, pairs), 0);
	pairs[1] = "\xf0\x9f\x8f\xa8 ok";
	CU_ASSERT_EQUAL(validate_kv(&req, query_params, pairs), 0);
}

static void
test_query_accepts(void)
{
	static const char *const ints[] = {
		"page", "1000", "n", "-9223372036854775808", "delta", "-10",
		NULL,
	};
	static const char *const max[] = {
		"n", "9223372036854775807", "page", "007", NULL,
	};
	static const char *const enums[] = {
		"sort", "name", "flag", "0", "open", "false", "other", "\xff",
		NULL,
	};
	static const char *const bools[] = {
		"flag", "1", "open", "0", NULL,
	};
	static const char *const none[] = { NULL };
	bh_request *req;

	CU_ASSERT_EQUAL(validate_kv(&req, query_params, ints), 0);
	CU_ASSERT_EQUAL(bh_arg_int(req, "page"), 1000);
	CU_ASSERT_EQUAL(bh_arg_int(req, "n"), INT64_MIN);
	CU_ASSERT_EQUAL(bh_arg_int(req, "delta"), -10);
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "delta"), "-10");

	CU_ASSERT_EQUAL(validate_kv(&req, query_params, max), 0);
	CU_ASSERT_EQUAL(bh_arg_int(req, "n"), INT64_MAX);
	CU_ASSERT_EQUAL(bh_arg_int(req, "page"), 7);

	/* Unknown parameters ("other") are ignored, even malformed ones. */
	CU_ASSERT_EQUAL(validate_kv(&req, query_params, enums), 0);
	CU_ASSERT_EQUAL(bh_arg(req, "sort")->i, 2);
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "sort"), "name");
	CU_ASSERT_TRUE(bh_arg_present(req, "flag"));
	CU_ASSERT_EQUAL(bh_arg_int(req, "flag"), 0);
	CU_ASSERT_EQUAL(bh_arg_int(req, "open"), 0);
	CU_ASSERT_PTR_NULL(bh_arg(req, "other"));

	CU_ASSERT_EQUAL(validate_kv(&req, query_params, bools), 0);
	CU_ASSERT_EQUAL(bh_arg_int(req, "flag"), 1);
	CU_ASSERT_EQUAL(bh_arg_int(req, "open"), 0);

	/* Defaults are parsed as if given; others stay absent. */
	CU_ASSERT_EQUAL(validate_kv(&req, query_params, none), 0);
	CU_ASSERT_EQUAL(req->nvalues, 10);
	CU_ASSERT_TRUE(bh_arg_present(req, "page"));
	CU_ASSERT_EQUAL(bh_arg_int(req, "page"), 1);
	CU_ASSERT_EQUAL(bh_arg(req, "sort")->i, 1);
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "sort"), "rating");
	CU_ASSERT_EQUAL(bh_arg_int(req, "open"), 1);
	CU_ASSERT_FALSE(bh_arg_present(req, "n"));
	CU_ASSERT_FALSE(bh_arg_present(req, "city"));
	CU_ASSERT_PTR_NULL(bh_arg_str(req, "city"));
	CU_ASSERT_EQUAL(bh_arg_int(req, "n"), 0);
	CU_ASSERT_FALSE(bh_arg_present(req, "undeclared"));
}

static void
test_required(void)
{
	static const char *const none[] = { NULL };
	static const char *const given[] = { "city", "Lisboa", NULL };
	static const char *const empty[] = { "city", "", NULL };
	bh_request *req;

	CU_ASSERT_EQUAL(validate_kv(&req, required_params, none), -1);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "city",
	    "city is required"));
	CU_ASSERT_EQUAL(validate_kv(&req, required_params, given), 0);
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "city"), "Lisboa");
	/* Given but empty is present (min 0 allows it). */
	CU_ASSERT_EQUAL(validate_kv(&req, required_params, empty), 0);
	CU_ASSERT_TRUE(bh_arg_present(req, "city"));
}

static void
test_query_via_decoder(void)
{
	bh_request *req;

	/* Through request.c's decoder: '+' is a space, %2B a plus. */
	req = dispatch(BH_GET, "/hotels", "page=%2B5");
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "page",
	    INT_PAGE));
	req = dispatch(BH_GET, "/hotels", "page=+5");
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "page",
	    INT_PAGE));
	req = dispatch(BH_GET, "/hotels", "page=");
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "page",
	    INT_PAGE));
	req = dispatch(BH_GET, "/hotels", "page");
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "page",
	    INT_PAGE));
	req = dispatch(BH_GET, "/hotels", "page=2&page=2");
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "page",
	    "page must be given only once"));
}

struct json_case {
	const char *body, *param, *detail;
};

static void
test_json_rejects(void)
{
	static const struct json_case cases[] = {
		{ "{\"name\":5}", "name", "name must be a JSON string" },
		{ "{\"name\":true}", "name", "name must be a JSON string" },
		{ "{\"name\":[\"a\"]}", "name", "name must be a JSON string" },
		{ "{\"name\":{}}", "name", "name must be a JSON string" },
		{ "{\"name\":\"a\\u0000b\"}", "name",
		  "name must be UTF-8 text without control characters" },
		{ "{\"name\":\"a\\nb\"}", "name", NULL },
		/* Raw bad UTF-8 (request.c refuses it in a whole body first;
		 * the validator does not rely on that). */
		{ "{\"name\":\"\xed\xa0\x80\"}", "name", NULL },
		{ "{\"name\":\"\xc3\x28\"}", "name", NULL },
		{ "{\"name\":\"12345678901\"}", "name",
		  "name must be between 0 and 10 characters long" },
		{ "{\"count\":\"5\"}", "count", "count must be an integer" },
		{ "{\"count\":5.0}", "count", "count must be an integer" },
		{ "{\"count\":5.5}", "count", "count must be an integer" },
		{ "{\"count\":1e3}", "count", "count must be an integer" },
		{ "{\"count\":true}", "count", "count must be an integer" },
		{ "{\"count\":[1]}", "count", "count must be an integer" },
		{ "{\"count\":99999999999999999999}", "count", NULL },
		{ "{\"count\":9223372036854775808}", "count", NULL },
		{ "{\"count\":18446744073709551615}", "count", NULL },
		{ "{\"count\":-99999999999999999999}", "count", NULL },
		{ "{\"stars\":6}", "stars",
		  "stars must be an integer between 1 and 5" },
		{ "{\"stars\":0}", "stars", NULL },
		{ "{\"paid\":1}", "paid", "paid must be true or false" },
		{ "{\"paid\":\"true\"}", "paid", NULL },
		{ "{\"sort\":1}", "sort", "sort must be a JSON string" },
		{ "{\"sort\":\"cheap\"}", "sort",
		  "sort must be one of: price, rating, name" },
	};
	bh_request *req;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL(validate_json(&req, body_params,
		    cases[i].body), -1);
		CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter",
		    cases[i].param, cases[i].detail));
		if (req->status != 400)
			fprintf(stderr, "  body %s\n", cases[i].body);
	}
}

static void
test_json_accepts(void)
{
	bh_request *req;

	CU_ASSERT_EQUAL_FATAL(validate_json(&req, body_params,
	    "{\"name\":\"Caf\\u00e9\",\"count\":9223372036854775807,"
	    "\"stars\":5,\"paid\":true,\"sort\":\"rating\"}"), 0);
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "name"), "Caf\xc3\xa9");
	CU_ASSERT_EQUAL(bh_arg_int(req, "count"), INT64_MAX);
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "count"),
	    "9223372036854775807");
	CU_ASSERT_EQUAL(bh_arg_int(req, "stars"), 5);
	CU_ASSERT_EQUAL(bh_arg_int(req, "paid"), 1);
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "paid"), "true");
	CU_ASSERT_EQUAL(bh_arg(req, "sort")->i, 1);

	CU_ASSERT_EQUAL(validate_json(&req, body_params,
	    "{\"count\":-42,\"paid\":false}"), 0);
	CU_ASSERT_EQUAL(bh_arg_int(req, "count"), -42);
	CU_ASSERT_EQUAL(bh_arg_int(req, "paid"), 0);
	CU_ASSERT_TRUE(bh_arg_present(req, "paid"));
	CU_ASSERT_FALSE(bh_arg_present(req, "name"));

	/* json-c turns an escaped lone surrogate into U+FFFD. */
	CU_ASSERT_EQUAL(validate_json(&req, body_params,
	    "{\"name\":\"\\ud800\"}"), 0);
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "name"), "\xef\xbf\xbd");

	/* null counts as absent. */
	CU_ASSERT_EQUAL(validate_json(&req, body_params,
	    "{\"name\":null}"), 0);
	CU_ASSERT_FALSE(bh_arg_present(req, "name"));
	CU_ASSERT_EQUAL(validate_json(&req, required_body_params,
	    "{\"name\":null}"), -1);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "name",
	    "name is required"));
	CU_ASSERT_EQUAL(validate_json(&req, required_body_params, "{}"), -1);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "name",
	    "name is required"));
}

#define BODY_MEMBERS "the members are: name, count, stars, paid, sort"
/* 32 characters of two bytes each. */
#define E8 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
#define E32 E8 E8 E8 E8

/* A route declaring BH_BODY parameters declares its whole JSON body. */
static void
test_json_unknown_members(void)
{
	static const struct json_case cases[] = {
		{ "{\"name\":\"a\",\"colour\":\"red\"}", "colour",
		  "colour is not a known member; " BODY_MEMBERS },
		/* Whatever its value, and before any value is checked. */
		{ "{\"name\":5,\"x\":[1]}", "x", NULL },
		{ "{\"x\":null}", "x", NULL },
		{ "{\"x\":{\"name\":\"a\"}}", "x", NULL },
		/* Names are matched exactly. */
		{ "{\"Name\":\"a\"}", "Name", NULL },
		{ "{\"name \":\"a\"}", "name ", NULL },
		/* A query parameter's name is no body member. */
		{ "{\"page\":1}", "page", NULL },
		/* The first in the body's order. */
		{ "{\"count\":1,\"b\":1,\"a\":1}", "b", NULL },
		/* Cut at a character boundary after 64 characters. */
		{ "{\"" E32 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaxyz\":1}",
		  E32 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...", NULL },
		/* Names not shown: empty, control characters, not UTF-8
		 * (json-c alone lets raw bytes through; request.c does
		 * not). */
		{ "{\"\":1}", NULL, "the body has an unknown member (its name "
		  "is not shown); " BODY_MEMBERS },
		{ "{\"a\\nb\":1}", NULL, NULL },
		{ "{\"a\\u007f\":1}", NULL, NULL },
		{ "{\"\xff\":1}", NULL, NULL },
		{ "{\"\xc3\":1}", NULL, NULL },
	};
	static const bh_param mixed[] = {
		{ .name = "page", .src = BH_QUERY, .type = BH_INT },
		{ .name = "name", .src = BH_BODY, .type = BH_STRING },
		{ .name = NULL },
	};
	bh_request *req;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL(validate_json(&req, body_params,
		    cases[i].body), -1);
		CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter",
		    cases[i].param, cases[i].detail));
		if (req->status != 400)
			fprintf(stderr, "  body %s\n", cases[i].body);
	}

	/* Every member declared: fine; the list names only body ones. */
	CU_ASSERT_EQUAL(validate_json(&req, mixed, "{\"name\":\"a\"}"), 0);
	CU_ASSERT_EQUAL(validate_json(&req, mixed, "{\"page\":1}"), -1);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "page",
	    "page is not a known member; the members are: name"));
	/* Routes without body parameters do not look at the body. */
	CU_ASSERT_EQUAL(validate_json(&req, query_params,
	    "{\"anything\":[1]}"), 0);
	/* Form bodies may hold other fields (OAuth 2.0): not read. */
	CU_ASSERT_EQUAL(validate_form(&req, mixed, "name=a&colour=red&"
	    "page=3"), 0);
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "name"), "a");
	CU_ASSERT_FALSE(bh_arg_present(req, "page"));
}

static void
test_json_not_object(void)
{
	static const char *const bodies[] = {
		"[1,2]", "\"name\"", "5", "true", "null",
	};
	bh_request *req;
	size_t i;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		CU_ASSERT_EQUAL(validate_json(&req, body_params, bodies[i]),
		    -1);
		CU_ASSERT_TRUE(is_problem(req, 400, "bad-request", NULL,
		    "the request body must be a JSON object"));
	}
}

static void
test_form(void)
{
	bh_request *req;

	CU_ASSERT_EQUAL_FATAL(validate_form(&req, body_params,
	    "name=Ann+Lee&count=-3&paid=1&sort=price&junk=%C3%A9"), 0);
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "name"), "Ann Lee");
	CU_ASSERT_EQUAL(bh_arg_int(req, "count"), -3);
	CU_ASSERT_EQUAL(bh_arg_int(req, "paid"), 1);
	CU_ASSERT_EQUAL(bh_arg(req, "sort")->i, 0);

	CU_ASSERT_EQUAL(validate_form(&req, body_params, "count=1&count=2"),
	    -1);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "count",
	    "count must be given only once"));
	CU_ASSERT_EQUAL(validate_form(&req, body_params, "stars="), -1);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "stars",
	    "stars must be an integer between 1 and 5"));
	CU_ASSERT_EQUAL(validate_form(&req, body_params, "paid=yes"), -1);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "paid",
	    "paid must be true, false, 1 or 0"));
	CU_ASSERT_EQUAL(validate_form(&req, required_body_params, "x=1"), -1);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "name",
	    "name is required"));
	/* An empty form body is still a form: absent, not 415. */
	CU_ASSERT_EQUAL(validate_form(&req, body_params, ""), 0);
}

static void
test_unsupported_media_type(void)
{
	static const char *const none[] = { NULL };
	bh_request *req;

	req = new_request(BH_POST, "/v");
	set_body(req, "text/plain", "name=x");
	vroute.params = body_params;
	req->route = &vroute;
	CU_ASSERT_EQUAL(bh_validate_params(req), -1);
	CU_ASSERT_TRUE(is_problem(req, 415, "unsupported-media-type", NULL,
	    NULL));

	/* A body without any type. */
	req = new_request(BH_POST, "/v");
	set_body(req, NULL, "{\"name\":\"x\"}");
	vroute.params = body_params;
	req->route = &vroute;
	CU_ASSERT_EQUAL(bh_validate_params(req), -1);
	CU_ASSERT_TRUE(is_problem(req, 415, "unsupported-media-type", NULL,
	    NULL));

	/* No body at all: fine when every body param is optional... */
	CU_ASSERT_EQUAL(validate_kv(&req, body_params, none), 0);
	CU_ASSERT_FALSE(bh_arg_present(req, "name"));
	/* ...415 when one is required. */
	CU_ASSERT_EQUAL(validate_kv(&req, required_body_params, none), -1);
	CU_ASSERT_TRUE(is_problem(req, 415, "unsupported-media-type", NULL,
	    NULL));

	/* Routes without body params ignore the body's type. */
	req = new_request(BH_POST, "/v");
	set_body(req, "text/plain", "whatever");
	vroute.params = query_params;
	req->route = &vroute;
	CU_ASSERT_EQUAL(bh_validate_params(req), 0);
}

/* ------------------------------------------------------ access control */

static const bh_route secure_routes[] = {
	{ BH_POST, "/catalog", h_create, create_params, BH_TOKEN,
	  "catalog:write" },
	{ BH_GET, "/me/{id:int}", h_hotel, hotel_params, BH_TOKEN, NULL },
	{ BH_GET, "/forgotten", h_list, NULL, BH_ACCESS_UNDECLARED, NULL },
	{ BH_GET, "/open", h_list, list_params, BH_PUBLIC, NULL },
	{ 0, NULL, NULL, NULL, 0, NULL },
};

static const bh_service secure_svc = {
	.name = "test",
	.routes = secure_routes,
};

#define ACCESS_NOW 1700000000

static unsigned char access_seed[32];

/* A configuration for service "test" and a pinned key "k1". */
static void
access_setup(void)
{
	unsigned char pub[32];
	bh_jwk key;
	bh_jwks keys = { &key, 1 };
	const char *err;

	unsetenv("BH_PUBLIC_URL");
	unsetenv("BH_AUTH_ISSUER");
	unsetenv("BH_AUDIENCE");
	CU_ASSERT_EQUAL_FATAL(bh_config_load("test", &err), 0);
	CU_ASSERT_EQUAL_FATAL(bh_ed25519_keygen(access_seed, pub), 0);
	memset(&key, 0, sizeof(key));
	strcpy(key.kid, "k1");
	memcpy(key.pub, pub, sizeof(pub));
	bh_authz_set_keys(&keys);
	bh_authz_set_now(ACCESS_NOW);
}

static void
access_teardown(void)
{
	bh_authz_set_keys(NULL);
	bh_authz_set_now(0);
}

/* A valid token for audience "test" holding scope (NULL: none). */
static const char *
access_token(const char *scope)
{
	json_object *claims = json_object_new_object();
	const char *tok;

	json_object_object_add(claims, "iss",
	    json_object_new_string(bh_cfg.auth_issuer));
	json_object_object_add(claims, "aud", json_object_new_string("test"));
	json_object_object_add(claims, "sub", json_object_new_string("u-1"));
	json_object_object_add(claims, "client_id",
	    json_object_new_string("catalog-admin"));
	json_object_object_add(claims, "jti", json_object_new_string("j"));
	json_object_object_add(claims, "iat",
	    json_object_new_int64(ACCESS_NOW));
	json_object_object_add(claims, "exp",
	    json_object_new_int64(ACCESS_NOW + 600));
	if (scope != NULL)
		json_object_object_add(claims, "scope",
		    json_object_new_string(scope));
	tok = bh_jwt_sign(pool, "k1", access_seed, claims);
	json_object_put(claims);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tok);
	return bh_psprintf(pool, "Bearer %s", tok);
}

/* A request to the secure service with Authorization: header (none when
 * NULL), and a body when type is set. */
static bh_request *
secure_dispatch(unsigned method, const char *path, const char *header,
    const char *type, const char *body)
{
	bh_request *req = new_request(method, path);

	if (header != NULL) {
		/* The token lives in the pool new_request just reset. */
		header = bh_pstrdup(pool, header);
		req->headers.items = bh_palloc(pool, sizeof(bh_kv));
		req->headers.items[0].key = "authorization";
		req->headers.items[0].val = header;
		req->headers.items[0].len = strlen(header);
		req->headers.n = 1;
	}
	if (type != NULL)
		set_body(req, type, body);
	bh_dispatch(&secure_svc, req);
	return req;
}

static char header_copy[16384];

/* access_token, copied out of the pool the next request resets. */
static const char *
held_token(const char *scope)
{
	new_request(BH_GET, "/");
	snprintf(header_copy, sizeof(header_copy), "%s", access_token(scope));
	return header_copy;
}

static void
test_access_401(void)
{
	bh_request *req;

	access_setup();
	req = secure_dispatch(BH_POST, "/catalog", NULL, "application/json",
	    "{\"name\":\"Ritz\"}");
	CU_ASSERT_PTR_NULL(called);
	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized", NULL, NULL));
	CU_ASSERT_STRING_EQUAL(resp_header(req, "WWW-Authenticate"),
	    "Bearer realm=\"bellhop\"");
	CU_ASSERT_PTR_NULL(req->token);

	/* A bad token: invalid_token, and the token is not echoed. */
	req = secure_dispatch(BH_POST, "/catalog", "Bearer abc.def.ghi",
	    "application/json", "{\"name\":\"Ritz\"}");
	CU_ASSERT_PTR_NULL(called);
	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized", NULL, NULL));
	CU_ASSERT_PTR_NOT_NULL(strstr(resp_header(req, "WWW-Authenticate"),
	    "error=\"invalid_token\""));
	CU_ASSERT_PTR_NULL(strstr(req->resp_body.data, "abc.def.ghi"));
	access_teardown();
}

/* Access is checked before the body and parameters: an anonymous caller
 * gets 401 whatever it sends, never a 400 telling it what is expected. */
static void
test_access_before_validation(void)
{
	bh_request *req;

	access_setup();
	req = secure_dispatch(BH_POST, "/catalog", NULL, "application/json",
	    "{\"name\":");
	CU_ASSERT_PTR_NULL(called);
	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized", NULL, NULL));
	req = secure_dispatch(BH_POST, "/catalog", NULL, "text/plain", "x");
	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized", NULL, NULL));
	req = secure_dispatch(BH_POST, "/catalog", NULL, "application/json",
	    "{\"stars\":99}");
	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized", NULL, NULL));
	req = secure_dispatch(BH_GET, "/me/abc", NULL, NULL, NULL);
	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized", NULL, NULL));
	/* With the wrong scope, 403 before the body too. */
	req = secure_dispatch(BH_POST, "/catalog", held_token("profile"),
	    "application/json", "{\"name\":");
	CU_ASSERT_TRUE(is_problem(req, 403, "insufficient-scope", NULL, NULL));
	/* Authorised: then the body is checked. */
	req = secure_dispatch(BH_POST, "/catalog",
	    held_token("catalog:write"), "application/json", "{\"name\":");
	CU_ASSERT_TRUE(is_problem(req, 400, "malformed-body", NULL, NULL));
	req = secure_dispatch(BH_GET, "/me/abc", held_token(NULL), NULL, NULL);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "id", NULL));

	/* 404 and 405 come first: they say nothing about a resource. */
	req = secure_dispatch(BH_GET, "/catalog", NULL, NULL, NULL);
	CU_ASSERT_TRUE(is_problem(req, 405, "method-not-allowed", NULL, NULL));
	req = secure_dispatch(BH_GET, "/nowhere", NULL, NULL, NULL);
	CU_ASSERT_TRUE(is_problem(req, 404, "not-found", NULL, NULL));
	req = secure_dispatch(BH_OPTIONS, "/catalog", NULL, NULL, NULL);
	CU_ASSERT_EQUAL(req->status, 204);
	access_teardown();
}

static void
test_access_403(void)
{
	bh_request *req;

	access_setup();
	req = secure_dispatch(BH_POST, "/catalog", held_token("catalog:writer"),
	    "application/json", "{\"name\":\"Ritz\"}");
	CU_ASSERT_PTR_NULL(called);
	CU_ASSERT_TRUE(is_problem(req, 403, "insufficient-scope", NULL, NULL));
	CU_ASSERT_STRING_EQUAL(resp_header(req, "WWW-Authenticate"),
	    "Bearer realm=\"bellhop\", error=\"insufficient_scope\", "
	    "scope=\"catalog:write\"");
	access_teardown();
}

static void
test_access_200(void)
{
	bh_request *req;

	access_setup();
	req = secure_dispatch(BH_POST, "/catalog",
	    held_token("profile catalog:write"), "application/json",
	    "{\"name\":\"Ritz\"}");
	CU_ASSERT_STRING_EQUAL(called, "create");
	CU_ASSERT_EQUAL(req->status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(req->token);
	CU_ASSERT_STRING_EQUAL(req->token->sub, "u-1");
	CU_ASSERT_STRING_EQUAL(req->token->client_id, "catalog-admin");
	CU_ASSERT_TRUE(bh_token_has_scope(req->token, "catalog:write"));
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "name"), "Ritz");

	req = secure_dispatch(BH_GET, "/me/7", held_token(NULL), NULL, NULL);
	CU_ASSERT_STRING_EQUAL(called, "hotel");
	CU_ASSERT_EQUAL(bh_arg_int(req, "id"), 7);
	/* HEAD goes through GET's access. */
	req = secure_dispatch(BH_HEAD, "/me/7", NULL, NULL, NULL);
	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized", NULL, NULL));
	access_teardown();
}

/* A route left undeclared is token-protected (no scope), never public. */
static void
test_access_undeclared(void)
{
	bh_request *req;

	access_setup();
	req = secure_dispatch(BH_GET, "/forgotten", NULL, NULL, NULL);
	CU_ASSERT_PTR_NULL(called);
	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized", NULL, NULL));
	req = secure_dispatch(BH_GET, "/forgotten", held_token(NULL), NULL,
	    NULL);
	CU_ASSERT_STRING_EQUAL(called, "list");
	access_teardown();
}

/* A public route looks at no token, not even a bad one. */
static void
test_access_public(void)
{
	bh_request *req;

	access_setup();
	req = secure_dispatch(BH_GET, "/open", NULL, NULL, NULL);
	CU_ASSERT_STRING_EQUAL(called, "list");
	CU_ASSERT_PTR_NULL(req->token);
	req = secure_dispatch(BH_GET, "/open", "Bearer not-a-token", NULL,
	    NULL);
	CU_ASSERT_STRING_EQUAL(called, "list");
	CU_ASSERT_PTR_NULL(req->token);
	CU_ASSERT_PTR_NULL(resp_header(req, "WWW-Authenticate"));
	access_teardown();
}

static void
test_no_params(void)
{
	bh_request *req = new_request(BH_GET, "/v");

	vroute.params = NULL;
	req->route = &vroute;
	CU_ASSERT_EQUAL(bh_validate_params(req), 0);
	CU_ASSERT_EQUAL(req->nvalues, 0);
	CU_ASSERT_PTR_NULL(bh_arg(req, "x"));
	CU_ASSERT_EQUAL(bh_arg_int(req, "x"), 0);
	CU_ASSERT_PTR_NULL(bh_arg_str(req, "x"));
	CU_ASSERT_FALSE(bh_arg_present(req, "x"));
}

static void
test_bad_default_is_500(void)
{
	static const bh_param bad_default[] = {
		{ .name = "page", .src = BH_QUERY, .type = BH_INT, .min = 1,
		  .max = 10, .def = "11" },
		{ .name = NULL },
	};
	static const char *const none[] = { NULL };
	bh_request *req;

	CU_ASSERT_EQUAL(validate_kv(&req, bad_default, none), -1);
	CU_ASSERT_TRUE(is_problem(req, 500, "internal-error", NULL, NULL));
}

/* The text helpers services use on their own JSON members. */
static void
test_text_helpers(void)
{
	CU_ASSERT_TRUE(bh_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950e"));
	CU_ASSERT_TRUE(bh_uuid_valid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
	CU_ASSERT_FALSE(bh_uuid_valid(""));
	CU_ASSERT_FALSE(bh_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950"));
	CU_ASSERT_FALSE(bh_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950e0"));
	CU_ASSERT_FALSE(bh_uuid_valid("0f8fad5bd-9cb-469f-a165-70867728950e"));
	CU_ASSERT_FALSE(bh_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950g"));
	CU_ASSERT_FALSE(bh_uuid_valid("' OR 1=1 --"));

	CU_ASSERT_EQUAL(bh_utf8_length("Z\xc3\xbcrich", 7), 6);
	CU_ASSERT_EQUAL(bh_utf8_length("", 0), 0);
	CU_ASSERT_TRUE(bh_text_valid("Krak\xc3\xb3w", 7, false));
	CU_ASSERT_FALSE(bh_text_valid("a\nb", 3, false));
	CU_ASSERT_TRUE(bh_text_valid("a\nb\tc", 5, true));
	CU_ASSERT_FALSE(bh_text_valid("a\rb", 3, true));
	CU_ASSERT_FALSE(bh_text_valid("a\x7f", 2, true));
	CU_ASSERT_FALSE(bh_text_valid("\xc3", 1, false));
	CU_ASSERT_FALSE(bh_text_valid("a\0b", 3, true));
}

int
bh_test_register(void)
{
	static const CU_TestInfo router[] = {
		{ "static and typed", test_static_and_typed },
		{ "literal beats param", test_literal_beats_param },
		{ "404", test_not_found },
		{ "405 and Allow", test_method_not_allowed },
		{ "HEAD via GET", test_head_via_get },
		{ "OPTIONS", test_options },
		{ "health and ready", test_builtins },
		{ "typed path errors", test_typed_path_errors },
		{ "dispatch validates", test_dispatch_validates },
		{ "from the environment", test_from_env },
		CU_TEST_INFO_NULL,
	};
	static const CU_TestInfo access[] = {
		{ "401 without a token", test_access_401 },
		{ "access before validation", test_access_before_validation },
		{ "403 without the scope", test_access_403 },
		{ "200 with a valid token", test_access_200 },
		{ "undeclared is protected", test_access_undeclared },
		{ "public looks at no token", test_access_public },
		CU_TEST_INFO_NULL,
	};
	static const CU_TestInfo validate[] = {
		{ "query rejects", test_query_rejects },
		{ "query strings", test_query_strings },
		{ "query accepts, defaults", test_query_accepts },
		{ "required", test_required },
		{ "query via decoder", test_query_via_decoder },
		{ "JSON rejects", test_json_rejects },
		{ "JSON accepts", test_json_accepts },
		{ "JSON unknown members", test_json_unknown_members },
		{ "JSON not an object", test_json_not_object },
		{ "form", test_form },
		{ "415", test_unsupported_media_type },
		{ "no params", test_no_params },
		{ "bad default is 500", test_bad_default_is_500 },
		{ "text helpers", test_text_helpers },
		CU_TEST_INFO_NULL,
	};
	int rc;

	atexit(free_pool);
	if ((rc = bh_test_add_suite("router", router)) != CUE_SUCCESS ||
	    (rc = bh_test_add_suite("validate", validate)) != CUE_SUCCESS ||
	    (rc = bh_test_add_suite("access", access)) != CUE_SUCCESS)
		return rc;
	return CUE_SUCCESS;
}
