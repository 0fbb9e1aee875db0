/*
 * fuzz.c - the parts the fuzz targets share (see fuzz.h).
 */
#define _GNU_SOURCE /* memmem */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"

static bh_pool *run_pool;
/* BH_FUZZ_PRINT set: responses go to stderr (to replay an input). */
static int print_responses = -1;

void
fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\n%s:%d: invariant broken: %s\n  ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void
fz_setup(void)
{
	static bool done;

	if (done)
		return;
	bh_cfg.service = "fz";
	bh_cfg.base_path = FZ_BASE_PATH;
	bh_cfg.max_body = 64 * 1024;
	bh_cfg.json_max_depth = 32;
	bh_cfg.log_level = BH_LOG_ERROR;
	bh_cfg.retry_after = 2;
	done = true;
}

void
fz_request_new(bh_request *req)
{
	if (run_pool == NULL)
		run_pool = bh_pool_new();
	else
		bh_pool_reset(run_pool);
	memset(req, 0, sizeof(*req));
	req->pool = run_pool;
}

bh_pool *
fz_pool(void)
{
	return run_pool;
}

json_object *
fz_json_parse(const char *text, size_t len)
{
	json_tokener *tok;
	json_object *obj;

	FZ_ASSERT(len < (size_t)INT32_MAX, "%zu bytes", len);
	if ((tok = json_tokener_new()) == NULL)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	if (json_tokener_get_error(tok) == json_tokener_continue)
		obj = json_tokener_parse_ex(tok, "", 1);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

int
fz_json_check_tree(json_object *obj)
{
	const char *s;
	size_t i, n;
	int depth = 0, d;

	switch (json_object_get_type(obj)) {
	case json_type_string:
		s = json_object_get_string(obj);
		n = (size_t)json_object_get_string_len(obj);
		FZ_ASSERT(strlen(s) == n, "a JSON string holds a NUL");
		FZ_ASSERT(bh_utf8_valid(s, n), "a JSON string is not UTF-8");
		return 0;
	case json_type_array:
		n = json_object_array_length(obj);
		for (i = 0; i < n; i++)
			if ((d = fz_json_check_tree(
			    json_object_array_get_idx(obj, i))) > depth)
				depth = d;
		return depth + 1;
	case json_type_object: {
		json_object_object_foreach(obj, key, val) {
			FZ_ASSERT(bh_utf8_valid(key, strlen(key)),
			    "a member name is not UTF-8");
			if ((d = fz_json_check_tree(val)) > depth)
				depth = d;
		}
		return depth + 1;
	}
	default:
		return 0;
	}
}

/* RFC 9110 token characters. */
static bool
is_token(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') ||
		    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL)))
			return false;
	}
	return true;
}

static bool
status_allowed(int status, const int *allowed)
{
	if (allowed == NULL)
		return (status >= 200 && status < 300) ||
		    (status >= 400 && status < 500);
	for (; *allowed != 0; allowed++)
		if (*allowed == status)
			return true;
	return false;
}

/* Checks a problem+json body against the response it came with. */
static void
check_problem(const bh_request *req, json_object *body)
{
	json_object *member;
	const char *type;

	FZ_ASSERT(json_object_is_type(body, json_type_object),
	    "a problem body is not an object");
	FZ_ASSERT(json_object_object_get_ex(body, "type", &member) &&
	    json_object_is_type(member, json_type_string),
	    "a problem without a type");
	type = json_object_get_string(member);
	FZ_ASSERT(strncmp(type, "urn:bellhop:problem:", 20) == 0 &&
	    type[20] != '\0', "problem type %s", type);
	FZ_ASSERT(json_object_object_get_ex(body, "status", &member) &&
	    json_object_is_type(member, json_type_int) &&
	    json_object_get_int(member) == req->status,
	    "a problem's status differs from the response's %d",
	    req->status);
	FZ_ASSERT(json_object_object_get_ex(body, "title", &member) &&
	    json_object_is_type(member, json_type_string),
	    "a problem without a title");
	FZ_ASSERT(json_object_object_get_ex(body, "detail", &member) &&
	    json_object_is_type(member, json_type_string),
	    "a problem without a detail");
	if (req->request_id != NULL)
		FZ_ASSERT(json_object_object_get_ex(body, "request_id",
		    &member) && strcmp(json_object_get_string(member),
		    req->request_id) == 0, "a problem without the request id");
}

json_object *
fz_check_response(bh_request *req, const int *allowed)
{
	bh_buf out;
	const char *p, *q, *end, *eol, *colon, *head_end, *type = NULL;
	const char *body;
	size_t body_len, declared = 0;
	bool has_length = false, has_id = false, bodyless, head;
	json_object *json = NULL;
	struct {
		const char *p;
		size_t len;
	} names[32];
	size_t i, nnames = 0;
	int status;

	bh_buf_init(&out, req->pool);
	bh_response_serialize(req, &out);
	if (print_responses < 0)
		print_responses = getenv("BH_FUZZ_PRINT") != NULL;
	if (print_responses)
		fprintf(stderr, "--- response\n%.*s\n---\n", (int)out.len,
		    out.data);
	FZ_ASSERT(status_allowed(req->status, allowed), "status %d, body %s",
	    req->status, req->resp_body.data != NULL ?
	    req->resp_body.data : "(none)");

	/* The header block: "Status: NNN reason", then "Name: value" lines
	 * without controls, then an empty line. */
	head_end = memmem(out.data, out.len, "\r\n\r\n", 4);
	FZ_ASSERT(head_end != NULL, "no end of headers");
	FZ_ASSERT(out.len > 12 && memcmp(out.data, "Status: ", 8) == 0 &&
	    sscanf(out.data + 8, "%3d", &status) == 1 &&
	    status == req->status, "bad status line");
	end = head_end + 2;
	for (p = out.data; p < end; p = eol + 2) {
		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		FZ_ASSERT(eol != NULL, "a header line without CRLF");
		colon = memchr(p, ':', (size_t)(eol - p));
		FZ_ASSERT(colon != NULL && is_token(p, (size_t)(colon - p)) &&
		    colon + 1 < eol && colon[1] == ' ',
		    "a malformed header line: %.*s", (int)(eol - p), p);
		/* The targets' handlers set each header once at most, so a
		 * name seen twice is a default that was not replaced. */
		for (i = 0; i < nnames; i++)
			FZ_ASSERT(names[i].len != (size_t)(colon - p) ||
			    strncasecmp(names[i].p, p, names[i].len) != 0,
			    "header %.*s twice", (int)(colon - p), p);
		if (nnames < sizeof(names) / sizeof(names[0])) {
			names[nnames].p = p;
			names[nnames++].len = (size_t)(colon - p);
		}
		for (q = colon + 1; q < eol; q++)
			FZ_ASSERT(((unsigned char)*q >= 0x20 && *q != 0x7f) ||
			    *q == '\t', "a control byte in a header value");
		if ((size_t)(colon - p) == 14 &&
		    strncasecmp(p, "Content-Length", 14) == 0) {
			FZ_ASSERT(!has_length, "two Content-Length headers");
			FZ_ASSERT(sscanf(colon + 2, "%zu", &declared) == 1,
			    "Content-Length is not a number");
			has_length = true;
		} else if ((size_t)(colon - p) == 12 &&
		    strncasecmp(p, "Content-Type", 12) == 0) {
			FZ_ASSERT(type == NULL, "two Content-Type headers");
			type = colon + 2;
		} else if ((size_t)(colon - p) == 12 &&
		    strncasecmp(p, "X-Request-Id", 12) == 0) {
			FZ_ASSERT(!has_id, "two X-Request-Id headers");
			FZ_ASSERT(req->request_id != NULL &&
			    (size_t)(eol - colon - 2) ==
			    strlen(req->request_id) &&
			    memcmp(colon + 2, req->request_id,
			    (size_t)(eol - colon - 2)) == 0,
			    "X-Request-Id is not the request's id");
			has_id = true;
		}
	}
	FZ_ASSERT(has_id, "no X-Request-Id");

	body = head_end + 4;
	body_len = out.len - (size_t)(body - out.data);
	bodyless = req->status < 200 || req->status == 204;
	head = req->method == BH_HEAD;
	FZ_ASSERT(has_length == !bodyless, "Content-Length %s on a %d",
	    has_length ? "present" : "missing", req->status);
	if (bodyless || head) {
		FZ_ASSERT(body_len == 0, "%zu body bytes on a %d %s",
		    body_len, req->status, req->method_name);
		if (!bodyless)
			FZ_ASSERT(declared == req->resp_body.len,
			    "HEAD: Content-Length %zu, body %zu", declared,
			    req->resp_body.len);
		body = req->resp_body.data;
		body_len = req->resp_body.len;
	} else
		FZ_ASSERT(declared == body_len,
		    "Content-Length %zu, body %zu bytes", declared, body_len);

	if (type != NULL && !bodyless &&
	    (strncmp(type, "application/problem+json\r\n", 26) == 0 ||
	    strncmp(type, "application/json\r\n", 18) == 0)) {
		json = fz_json_parse(body, body_len);
		FZ_ASSERT(json != NULL, "a JSON body does not parse: %.*s",
		    (int)body_len, body);
		fz_json_check_tree(json);
		if (type[12] == 'p')
			check_problem(req, json);
	}
	FZ_ASSERT(req->status < 400 || (type != NULL &&
	    strncmp(type, "application/problem+json\r\n", 26) == 0),
	    "a %d that is not a problem", req->status);
	return json;
}
