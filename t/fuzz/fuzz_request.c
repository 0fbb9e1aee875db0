/*
 * fuzz_request.c - a whole request through the runtime, as a worker
 * serves it: FastCGI params into bh_request_from_env, the body as
 * worker.c reads it, bh_dispatch on a small service (every parameter
 * type from every source, no database), then bh_response_serialize.
 *
 * Input: "NAME=value" lines (FastCGI params, passed as they are: any
 * name, repeats kept), an empty line, then the body:
 *
 *	REQUEST_METHOD=POST
 *	REQUEST_URI=/fz/items?x=1
 *	CONTENT_TYPE=application/json
 *
 *	{"name":"a"}
 *
 * Invariants: no crash, leak or undefined behaviour; the status is 2xx
 * or 4xx, never 5xx; every error is a problem+json that parses; the
 * header block is well formed and Content-Length matches the body; a
 * handler sees only values that satisfy their declaration, and no JSON
 * body member its route does not declare.
 */
#define _GNU_SOURCE /* strcasestr */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"

/* More params than a front end sends; the rest are dropped. */
#define MAX_PARAMS 48

/* ------------------------------------------------------------- service */

static const char *const colors[] = { "red", "green", "blue", NULL };
static const char *const sorts[] = { "name", "price", "-price", NULL };

static const bh_param item_get_params[] = {
	{ .name = "id", .src = BH_PATH, .type = BH_INT, .required = true,
	  .min = 1, .max = 100000 },
	{ .name = "q", .src = BH_QUERY, .type = BH_STRING, .min = 1,
	  .max = 20 },
	{ .name = "exact", .src = BH_QUERY, .type = BH_BOOL, .def = "false" },
	{ .name = "sort", .src = BH_QUERY, .type = BH_ENUM, .choices = sorts,
	  .def = "name" },
	{ .name = "limit", .src = BH_QUERY, .type = BH_INT, .min = 1,
	  .max = 50, .def = "10" },
	{ .name = "offset", .src = BH_QUERY, .type = BH_INT },
	{ .name = "from", .src = BH_QUERY, .type = BH_DATE },
	{ .name = NULL },
};

static const bh_param item_post_params[] = {
	{ .name = "name", .src = BH_BODY, .type = BH_STRING, .required = true,
	  .min = 1, .max = 40 },
	{ .name = "qty", .src = BH_BODY, .type = BH_INT, .min = -5,
	  .max = 99, .def = "1" },
	{ .name = "gift", .src = BH_BODY, .type = BH_BOOL },
	{ .name = "color", .src = BH_BODY, .type = BH_ENUM, .choices = colors,
	  .def = "red" },
	{ .name = "note", .src = BH_BODY, .type = BH_STRING },
	{ .name = "dry", .src = BH_QUERY, .type = BH_BOOL },
	{ .name = NULL },
};

static const bh_param item_put_params[] = {
	{ .name = "id", .src = BH_PATH, .type = BH_INT, .required = true },
	{ .name = "name", .src = BH_BODY, .type = BH_STRING, .min = 1,
	  .max = 40 },
	{ .name = "qty", .src = BH_BODY, .type = BH_INT, .required = true,
	  .min = -5, .max = 99 },
	{ .name = "color", .src = BH_BODY, .type = BH_ENUM, .choices = colors },
	{ .name = NULL },
};

static const bh_param tag_params[] = {
	{ .name = "tag", .src = BH_PATH, .type = BH_STRING, .required = true,
	  .min = 2, .max = 16 },
	{ .name = "n", .src = BH_PATH, .type = BH_INT, .required = true,
	  .min = -3, .max = 3 },
	{ .name = "color", .src = BH_QUERY, .type = BH_ENUM, .choices = colors,
	  .required = true },
	{ .name = NULL },
};

static const bh_param search_params[] = {
	{ .name = "city", .src = BH_QUERY, .type = BH_STRING, .required = true,
	  .min = 1, .max = 64 },
	{ .name = "page", .src = BH_BODY, .type = BH_INT, .min = 1,
	  .max = 1000 },
	{ .name = "open", .src = BH_BODY, .type = BH_BOOL, .def = "1" },
	{ .name = NULL },
};

/* Set by h_problem: what the problem's detail must say once parsed. */
static const char *expected_detail;

/* True if params declare name as a body parameter. */
static bool
body_param(const bh_param *params, const char *name)
{
	for (; params != NULL && params->name != NULL; params++)
		if (params->src == BH_BODY && strcmp(params->name, name) == 0)
			return true;
	return false;
}

/* Checks every value against its declaration: what validate.c let
 * through must be what the route asked for, and a JSON body of a route
 * with body parameters holds nothing else. */
static void
check_values(const bh_request *req)
{
	const bh_value *v;
	const bh_param *p;
	size_t i, n, chars;
	int64_t min, max, parsed;
	bool body_params = false;
	char *end;

	FZ_ASSERT(req->route != NULL, "a handler without a route");
	for (n = 0; req->route->params != NULL &&
	    req->route->params[n].name != NULL; n++)
		body_params = body_params ||
		    req->route->params[n].src == BH_BODY;
	if (body_params && json_object_is_type(req->json, json_type_object)) {
		json_object_object_foreach(req->json, key, val) {
			(void)val;
			FZ_ASSERT(body_param(req->route->params, key),
			    "undeclared member %s reached the handler", key);
		}
	}
	FZ_ASSERT(req->nvalues == n, "%zu values for %zu params",
	    req->nvalues, n);
	for (i = 0; i < req->nvalues; i++) {
		v = &req->values[i];
		p = v->spec;
		FZ_ASSERT(p == &req->route->params[i], "value %zu: wrong spec",
		    i);
		FZ_ASSERT(bh_arg(req, p->name) == v, "bh_arg(%s)", p->name);
		FZ_ASSERT(bh_arg_present(req, p->name) == v->present,
		    "bh_arg_present(%s)", p->name);
		if (!v->present) {
			FZ_ASSERT(!p->required && p->def == NULL,
			    "%s absent", p->name);
			FZ_ASSERT(bh_arg_str(req, p->name) == NULL &&
			    bh_arg_int(req, p->name) == 0, "absent %s", p->name);
			continue;
		}
		FZ_ASSERT(v->s != NULL && strlen(v->s) == v->len,
		    "%s: text and length disagree", p->name);
		FZ_ASSERT(bh_arg_str(req, p->name) == v->s &&
		    bh_arg_int(req, p->name) == v->i, "bh_arg_* %s", p->name);
		switch (p->type) {
		case BH_STRING:
			FZ_ASSERT(bh_utf8_valid(v->s, v->len), "%s: not UTF-8",
			    p->name);
			for (n = 0, chars = 0; n < v->len; n++) {
				unsigned char c = (unsigned char)v->s[n];

				FZ_ASSERT(c >= 0x20 && c != 0x7f,
				    "%s: a control character", p->name);
				if ((c & 0xc0) != 0x80)
					chars++;
			}
			min = p->min == 0 && p->max == 0 ? 0 : p->min;
			max = p->min == 0 && p->max == 0 ? 1024 : p->max;
			FZ_ASSERT((int64_t)chars >= min && (int64_t)chars <= max,
			    "%s: %zu characters", p->name, chars);
			break;
		case BH_INT:
			min = p->min == 0 && p->max == 0 ? INT64_MIN : p->min;
			max = p->min == 0 && p->max == 0 ? INT64_MAX : p->max;
			FZ_ASSERT(v->i >= min && v->i <= max,
			    "%s: %" PRId64 " out of bounds", p->name, v->i);
			errno = 0;
			parsed = strtoll(v->s, &end, 10);
			FZ_ASSERT(errno == 0 && *end == '\0' &&
			    parsed == v->i && v->len > 0 &&
			    (v->s[0] == '-' || (v->s[0] >= '0' &&
			    v->s[0] <= '9')), "%s: \"%s\" is not %" PRId64,
			    p->name, v->s, v->i);
			break;
		case BH_BOOL:
			FZ_ASSERT((v->i == 1 && (strcmp(v->s, "true") == 0 ||
			    strcmp(v->s, "1") == 0)) || (v->i == 0 &&
			    (strcmp(v->s, "false") == 0 ||
			    strcmp(v->s, "0") == 0)),
			    "%s: \"%s\" as %" PRId64, p->name, v->s, v->i);
			break;
		case BH_ENUM:
			for (n = 0; p->choices[n] != NULL; n++)
				continue;
			FZ_ASSERT(v->i >= 0 && (size_t)v->i < n &&
			    strcmp(p->choices[v->i], v->s) == 0,
			    "%s: \"%s\" as choice %" PRId64, p->name, v->s,
			    v->i);
			break;
		case BH_DATE:
			/* 1970-01-01 .. 9999-12-31, written as its day. */
			FZ_ASSERT(v->i >= 0 && v->i <= 2932896 &&
			    strcmp(bh_date_format(req->pool, v->i), v->s) == 0,
			    "%s: \"%s\" as day %" PRId64, p->name, v->s, v->i);
			break;
		case BH_OBJECT:
		case BH_ARRAY:
		case BH_IGNORED:
			/* JSON values: fuzz_json_body covers them. */
			break;
		}
	}
}

/* Checks what request.c made of headers and cookies. */
static void
check_lists(const bh_request *req)
{
	const bh_kv *kv;
	size_t i;

	for (i = 0; i < req->headers.n; i++) {
		kv = &req->headers.items[i];
		FZ_ASSERT(kv->key[0] != '\0' && strpbrk(kv->key,
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == NULL,
		    "header name %s", kv->key);
		FZ_ASSERT(strlen(kv->val) == kv->len, "header %s", kv->key);
		FZ_ASSERT(bh_header_get(req, kv->key) != NULL, "header %s",
		    kv->key);
	}
	for (i = 0; i < req->cookies.n; i++) {
		kv = &req->cookies.items[i];
		FZ_ASSERT(kv->key[0] != '\0' && kv->key[0] != ' ' &&
		    kv->key[strlen(kv->key) - 1] != ' ' &&
		    strchr(kv->key, ';') == NULL && strchr(kv->key, '=') ==
		    NULL, "cookie name \"%s\"", kv->key);
		FZ_ASSERT(strlen(kv->val) == kv->len &&
		    strchr(kv->val, ';') == NULL, "cookie %s", kv->key);
		FZ_ASSERT(bh_cookie_get(req, kv->key) != NULL, "cookie %s",
		    kv->key);
	}
	for (i = 0; i < req->query_params.n; i++) {
		kv = &req->query_params.items[i];
		FZ_ASSERT(strlen(kv->val) == kv->len, "query %s", kv->key);
		FZ_ASSERT(bh_query_get(req, kv->key) != NULL, "query %s",
		    kv->key);
	}
}

/* Answers the validated values as JSON. */
static int
h_echo(bh_request *req)
{
	json_object *obj, *values;
	const bh_value *v;
	size_t i;

	check_values(req);
	check_lists(req);
	obj = json_object_new_object();
	values = json_object_new_object();
	json_object_object_add(obj, "route",
	    json_object_new_string(req->route->pattern));
	for (i = 0; i < req->nvalues; i++) {
		v = &req->values[i];
		if (!v->present)
			continue;
		switch (v->spec->type) {
		case BH_INT:
			json_object_object_add(values, v->spec->name,
			    json_object_new_int64(v->i));
			break;
		case BH_BOOL:
			json_object_object_add(values, v->spec->name,
			    json_object_new_boolean(v->i != 0));
			break;
		case BH_STRING:
		case BH_ENUM:
		case BH_DATE:
			json_object_object_add(values, v->spec->name,
			    json_object_new_string_len(v->s, (int)v->len));
			break;
		case BH_OBJECT:
		case BH_ARRAY:
		case BH_IGNORED:
			break;
		}
	}
	json_object_object_add(obj, "values", values);
	bh_send_json(req, 200, obj);
	json_object_put(obj);
	return 200;
}

/* A header and a content type from the query, as a handler copying
 * input into its response would: bh_add_header and bh_send must refuse
 * what would break the header block.  "problem" is left out: a body of
 * "{}" is not a problem. */
static int
h_headers(bh_request *req)
{
	const char *name = bh_query_get(req, "n");
	const char *value = bh_query_get(req, "v");
	const char *type = bh_query_get(req, "ct");

	check_lists(req);
	if (type == NULL || strcasestr(type, "problem") != NULL)
		type = "application/json";
	bh_send(req, 200, type, "{}", 2);
	if (name == NULL)
		name = "X-Fuzz";
	if (value == NULL)
		value = "";
	if (strcasestr(name, "content-type") == NULL)
		bh_add_header(req, name, value);
	return 200;
}

/* A problem quoting the query: its detail and param may be any bytes
 * but NUL, and the body must still be valid JSON saying them. */
static int
h_problem(bh_request *req)
{
	const char *detail = bh_query_get(req, "detail");

	if (detail == NULL)
		detail = "";
	expected_detail = detail;
	return bh_problem(req, 422, "fuzz-problem", bh_query_get(req, "param"),
	    "%s", detail);
}

/* Every route public but one: "/private" takes a bearer token, checked
 * against a key pinned in fz_pin_key (never fetched), so that the
 * Authorization header and token parsing are fuzzed too. */
static const bh_route routes[] = {
	{ BH_GET, "/items/{id:int}", h_echo, item_get_params, BH_PUBLIC, NULL },
	{ BH_GET, "/items/new", h_echo, NULL, BH_PUBLIC, NULL },
	{ BH_PUT | BH_PATCH, "/items/{id:int}", h_echo, item_put_params,
	    BH_PUBLIC, NULL },
	{ BH_DELETE, "/items/{id}", h_echo, NULL, BH_PUBLIC, NULL },
	{ BH_POST, "/items", h_echo, item_post_params, BH_PUBLIC, NULL },
	{ BH_GET, "/tags/{tag}/items/{n:int}", h_echo, tag_params, BH_PUBLIC,
	    NULL },
	{ BH_GET | BH_POST, "/search", h_echo, search_params, BH_PUBLIC, NULL },
	{ BH_GET | BH_POST, "/headers", h_headers, NULL, BH_PUBLIC, NULL },
	{ BH_GET, "/problem", h_problem, NULL, BH_PUBLIC, NULL },
	{ BH_GET | BH_POST, "/private", h_echo, search_params, BH_TOKEN,
	    "fz:read" },
	{ 0 },
};

/* A fixed key set for "/private": fuzz input cannot reach the network. */
static void
fz_pin_key(void)
{
	static bool done;
	bh_jwk key = { .kid = "fz-1" };
	bh_jwks keys = { &key, 1 };
	unsigned char seed[32];

	if (done)
		return;
	memset(seed, 7, sizeof(seed));
	if (bh_ed25519_public(seed, key.pub) == -1)
		abort();
	bh_authz_set_keys(&keys);
	bh_cfg.auth_issuer = "https://fz.invalid/auth";
	bh_cfg.audience = "fz";
	done = true;
}

static const bh_service service = {
	.name = "fz",
	.routes = routes,
	.uses_db = false,
};

/* ---------------------------------------------------------------- input */

/* The body as worker.c's read_body takes it from FastCGI stdin. */
static void
read_body(bh_request *req, const uint8_t *body, size_t len)
{
	size_t want;
	char *copy;

	if (req->content_length >= 0) {
		want = (size_t)req->content_length;
		if (len < want) {
			bh_problem(req, 400, BH_PROBLEM_BAD_REQUEST, NULL,
			    "body shorter than Content-Length");
			return;
		}
		if (want > 0) {
			copy = bh_palloc(req->pool, want + 1);
			memcpy(copy, body, want);
			req->body = copy;
			req->body_len = want;
		}
		if (len > want)
			bh_problem(req, 400, BH_PROBLEM_BAD_REQUEST, NULL,
			    "body longer than Content-Length");
		return;
	}
	if (len > bh_cfg.max_body) {
		bh_problem(req, 413, BH_PROBLEM_PAYLOAD_TOO_LARGE, NULL,
		    "the body exceeds %zu bytes", bh_cfg.max_body);
		return;
	}
	if (len > 0) {
		copy = bh_palloc(req->pool, len + 1);
		memcpy(copy, body, len);
		req->body = copy;
		req->body_len = len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *envp[MAX_PARAMS + 1], *params;
	const uint8_t *sep, *body = NULL;
	size_t head_len = size, body_len = 0, i, n = 0;
	char *line, *nl;
	json_object *json, *member = NULL;
	bh_request req;

	fz_setup();
	fz_pin_key();
	if ((sep = memmem(data, size, "\n\n", 2)) != NULL) {
		head_len = (size_t)(sep - data);
		body = sep + 2;
		body_len = size - head_len - 2;
	}
	/* The params as libfcgi hands them over: NUL-terminated strings. */
	if ((params = malloc(head_len + 1)) == NULL)
		abort();
	memcpy(params, data, head_len);
	params[head_len] = '\0';
	for (line = params; n < MAX_PARAMS; line = nl + 1) {
		if ((nl = memchr(line, '\n', head_len -
		    (size_t)(line - params))) != NULL)
			*nl = '\0';
		if (*line != '\0')
			envp[n++] = line;
		if (nl == NULL)
			break;
	}
	envp[n] = NULL;

	fz_request_new(&req);
	expected_detail = NULL;
	if (bh_request_from_env(&req, envp) == 0)
		read_body(&req, body, body_len);
	/* request.c copies what it keeps: scribble over its input. */
	for (i = 0; i < n; i++)
		memset(envp[i], '#', strlen(envp[i]));
	if (req.status == 0)
		bh_dispatch(&service, &req);

	json = fz_check_response(&req, NULL);
	if (expected_detail != NULL && req.status == 422) {
		FZ_ASSERT(json != NULL && json_object_object_get_ex(json,
		    "detail", &member), "no detail");
		/* Valid UTF-8 comes back as it was; anything else comes
		 * back valid (fz_check_response checked it). */
		if (bh_utf8_valid(expected_detail, strlen(expected_detail)))
			FZ_ASSERT(strcmp(json_object_get_string(member),
			    expected_detail) == 0, "detail \"%s\" became "
			    "\"%s\"", expected_detail,
			    json_object_get_string(member));
	}
	json_object_put(json);
	free(params);
	return 0;
}
