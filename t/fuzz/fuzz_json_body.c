/*
 * fuzz_json_body.c - the JSON body path: bh_request_parse_body with a
 * JSON content type and a nesting limit.
 *
 * Input: one byte of settings, then the body.  The settings byte sets
 * the nesting limit to 1 + (byte & 31) and, when its top bit is set, the
 * content type to application/merge-patch+json instead of
 * application/json.
 *
 * Invariants: what is accepted nests no deeper than the limit, holds only
 * UTF-8 strings without NUL, has as many members in json-c's tree as
 * member names in its text (no name given twice was dropped), and
 * re-serialised is accepted again and equal; what is refused is a 400 or
 * 413 problem that parses, a body too deep is really too deep, and one
 * refused for a name given twice really has one; json-c never refuses
 * what the runtime's own RFC 8259 check let through.
 *
 * What is accepted is then validated against a booking-like route (a
 * date, an object with nested members, arrays, ignored members): a
 * refusal is a 400/415 problem, never a 500; what passes holds only
 * declared members, at every level, with values within their rules.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static const int refused[] = { 400, 413, 0 };

/* Runs bh_request_parse_body on body[0..len) in a fresh request. */
static int
parse(bh_request *req, const char *type, const char *body, size_t len)
{
	char *copy;

	fz_request_new(req);
	req->method = BH_POST;
	req->method_name = "POST";
	req->request_id = "fuzz";
	req->content_type = type;
	copy = bh_palloc(req->pool, len + 1);
	memcpy(copy, body, len);
	req->body = copy;
	req->body_len = len;
	req->content_length = (long long)len;
	return bh_request_parse_body(req);
}

/* Nesting depth of obj (arrays and objects); a scalar is 0. */
static int
tree_depth(json_object *obj)
{
	size_t i, n;
	int depth = 0, d;

	if (json_object_is_type(obj, json_type_array)) {
		n = json_object_array_length(obj);
		for (i = 0; i < n; i++)
			if ((d = tree_depth(json_object_array_get_idx(obj,
			    i))) > depth)
				depth = d;
		return depth + 1;
	}
	if (json_object_is_type(obj, json_type_object)) {
		json_object_object_foreach(obj, key, val) {
			(void)key;
			if ((d = tree_depth(val)) > depth)
				depth = d;
		}
		return depth + 1;
	}
	return 0;
}

/* Members of all the objects in obj (json-c keeps one per name). */
static size_t
tree_members(json_object *obj)
{
	size_t i, n = 0;

	if (json_object_is_type(obj, json_type_array))
		for (i = 0; i < json_object_array_length(obj); i++)
			n += tree_members(json_object_array_get_idx(obj, i));
	else if (json_object_is_type(obj, json_type_object)) {
		json_object_object_foreach(obj, key, val) {
			(void)key;
			n += 1 + tree_members(val);
		}
	}
	return n;
}

/* Member names in body, a JSON text: the strings followed by ':'.  A
 * reference apart from the runtime's scanner. */
static size_t
text_members(const char *body, size_t len)
{
	size_t i, j, n = 0;

	for (i = 0; i < len; i++) {
		if (body[i] != '"')
			continue;
		for (i++; i < len && body[i] != '"'; i++)
			if (body[i] == '\\')
				i++;
		for (j = i + 1; j < len && strchr(" \t\r\n", body[j]) != NULL &&
		    body[j] != '\0'; j++)
			continue;
		if (j < len && body[j] == ':')
			n++;
	}
	return n;
}

/* Parses body with json-c alone and a generous limit; NULL when json-c
 * does not take it (or it is the text null). */
static json_object *
parse_by_json_c(const char *body, size_t len)
{
	json_tokener *tok = json_tokener_new_ex(4096);
	json_object *obj;

	if (tok == NULL)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, body, (int)len);
	if (json_tokener_get_error(tok) == json_tokener_continue)
		obj = json_tokener_parse_ex(tok, "", 1);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

/* Depth of body by json-c alone, or -1 when json-c does not take it. */
static int
depth_by_json_c(const char *body, size_t len)
{
	json_object *obj = parse_by_json_c(body, len);
	int depth = obj != NULL ? tree_depth(obj) : -1;

	json_object_put(obj);
	return depth;
}

static bool
is_null_text(const char *s, size_t len)
{
	while (len > 0 && strchr(" \t\r\n", s[0]) != NULL && s[0] != '\0') {
		s++;
		len--;
	}
	while (len > 0 && strchr(" \t\r\n", s[len - 1]) != NULL &&
	    s[len - 1] != '\0')
		len--;
	return len == 4 && memcmp(s, "null", 4) == 0;
}

/* ------------------------------------------------------ validation */

static int
h_none(bh_request *req)
{
	(void)req;
	return 0;
}

static const char *const brands[] = { "visa", "mastercard", "amex", NULL };

static const bh_param address_members[] = {
	{ .name = "city", .type = BH_STRING, .required = true, .min = 1,
	  .max = 100 },
	{ .name = "home", .type = BH_BOOL },
	{ .name = NULL },
};

static const bh_param card_members[] = {
	{ .name = "number", .type = BH_STRING, .required = true, .min = 12,
	  .max = 19 },
	{ .name = "exp_month", .type = BH_INT, .required = true, .min = 1,
	  .max = 12 },
	{ .name = "brand", .type = BH_ENUM, .choices = brands, .def = "visa" },
	{ .name = "expires", .type = BH_DATE },
	{ .name = "address", .type = BH_OBJECT, .members = address_members },
	{ .name = "extra", .type = BH_IGNORED },
	{ .name = NULL },
};

/* 2027-01-01 .. 2028-12-31 */
#define CHECKOUT_MIN 20819
#define CHECKOUT_MAX 21549
#define DATE_MAX 2932896 /* 9999-12-31 */

static const bh_param booking_params[] = {
	{ .name = "checkin", .src = BH_BODY, .type = BH_DATE,
	  .required = true },
	{ .name = "checkout", .src = BH_BODY, .type = BH_DATE,
	  .min = CHECKOUT_MIN, .max = CHECKOUT_MAX },
	{ .name = "card", .src = BH_BODY, .type = BH_OBJECT,
	  .members = card_members },
	{ .name = "meta", .src = BH_BODY, .type = BH_OBJECT },
	{ .name = "hotels", .src = BH_BODY, .type = BH_ARRAY, .min = 1,
	  .max = 5 },
	{ .name = "tags", .src = BH_BODY, .type = BH_ARRAY },
	{ .name = "guests", .src = BH_BODY, .type = BH_INT, .min = 1,
	  .max = 20 },
	{ .name = "price", .src = BH_BODY, .type = BH_IGNORED },
	{ .name = NULL },
};

static const bh_route booking_route = {
	BH_POST, "/book", h_none, booking_params, BH_PUBLIC, NULL
};

/* Every member of obj is one of params (at any level: an object with
 * members is checked in turn). */
static void
check_declared(json_object *obj, const bh_param *params, const char *where)
{
	const bh_param *p;
	json_object *m;

	json_object_object_foreach(obj, key, val) {
		(void)val;
		for (p = params; p->name != NULL; p++)
			if (strcmp(p->name, key) == 0)
				break;
		FZ_ASSERT(p->name != NULL, "%s: took undeclared member %s",
		    where, key);
	}
	for (p = params; p->name != NULL; p++)
		if (p->type == BH_OBJECT && p->members != NULL &&
		    json_object_object_get_ex(obj, p->name, &m) && m != NULL)
			check_declared(m, p->members, p->name);
}

/* A date value: within its bounds, and its text is its day. */
static void
check_date(bh_request *req, const char *name, int64_t min, int64_t max)
{
	const bh_value *v = bh_arg(req, name);

	if (v == NULL || !v->present)
		return;
	FZ_ASSERT(v->i >= min && v->i <= max, "%s: day %lld out of bounds",
	    name, (long long)v->i);
	FZ_ASSERT(v->s != NULL && strcmp(bh_date_format(req->pool, v->i),
	    v->s) == 0, "%s: %s is not day %lld", name, v->s, (long long)v->i);
}

static void
check_array(bh_request *req, const char *name, int64_t min, int64_t max)
{
	const bh_value *v = bh_arg(req, name);

	if (v == NULL || !v->present)
		return;
	FZ_ASSERT(json_object_is_type(v->json, json_type_array) &&
	    v->i == (int64_t)json_object_array_length(v->json) &&
	    v->i >= min && v->i <= max, "%s: not an array of %lld to %lld",
	    name, (long long)min, (long long)max);
}

/* Validates the parsed body of req against the booking route. */
static void
validate(bh_request *req)
{
	static const int refused_params[] = { 400, 415, 0 };
	const bh_value *v;
	const char *s;
	json_object *problem;

	req->route = &booking_route;
	if (bh_validate_params(req) == -1) {
		problem = fz_check_response(req, refused_params);
		json_object_put(problem);
		return;
	}
	FZ_ASSERT(req->status == 0, "passed with status %d", req->status);
	FZ_ASSERT(req->json != NULL && json_object_is_type(req->json,
	    json_type_object), "passed without an object body");
	check_declared(req->json, booking_params, "body");
	FZ_ASSERT(bh_arg_present(req, "checkin"), "no checkin");
	check_date(req, "checkin", 0, DATE_MAX);
	check_date(req, "checkout", CHECKOUT_MIN, CHECKOUT_MAX);
	check_date(req, "card.expires", 0, DATE_MAX);
	check_array(req, "hotels", 1, 5);
	check_array(req, "tags", 0, 1000);
	if (bh_arg_present(req, "guests"))
		FZ_ASSERT(bh_arg_int(req, "guests") >= 1 &&
		    bh_arg_int(req, "guests") <= 20, "guests out of bounds");
	if (bh_arg_present(req, "card")) {
		v = bh_arg(req, "card");
		FZ_ASSERT(json_object_is_type(v->json, json_type_object) &&
		    v->nmembers == 6, "card is not an object with 6 members");
		s = bh_arg_str(req, "card.number");
		FZ_ASSERT(s != NULL && bh_text_valid(s, strlen(s), false) &&
		    bh_utf8_length(s, strlen(s)) >= 12 &&
		    bh_utf8_length(s, strlen(s)) <= 19, "card.number");
		FZ_ASSERT(bh_arg_int(req, "card.exp_month") >= 1 &&
		    bh_arg_int(req, "card.exp_month") <= 12, "card.exp_month");
		FZ_ASSERT(bh_arg_present(req, "card.brand") &&
		    bh_arg_int(req, "card.brand") >= 0 &&
		    bh_arg_int(req, "card.brand") <= 2, "card.brand");
		if (bh_arg_present(req, "card.address"))
			FZ_ASSERT(bh_arg_str(req, "card.address.city") != NULL,
			    "card.address.city");
	} else
		FZ_ASSERT(bh_arg(req, "card.number") == NULL,
		    "card.number without a card");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *type, *body, *detail;
	json_object *obj, *again, *problem, *member = NULL;
	char *text;
	size_t len, text_len;
	bh_request req;
	int depth, rc;

	if (size < 1 || size > 1 << 20)
		return 0;
	fz_setup();
	bh_cfg.json_max_depth = 1 + (data[0] & 31);
	type = data[0] & 0x80 ? "application/merge-patch+json" :
	    "application/json";
	body = (const char *)data + 1;
	len = size - 1;

	rc = parse(&req, type, body, len);
	if (rc == -1) {
		problem = fz_check_response(&req, refused);
		FZ_ASSERT(problem != NULL && json_object_object_get_ex(problem,
		    "detail", &member), "a refusal without a detail");
		detail = json_object_get_string(member);
		/* The runtime's check passed and json-c refused. */
		FZ_ASSERT(strncmp(detail, "the body is not valid JSON: ", 28)
		    != 0 || strstr(detail, " at byte ") != NULL,
		    "json-c refused what the RFC 8259 check took: %s", detail);
		/* By their beginnings: the rest may quote the body. */
		if (strncmp(detail, "the JSON body nests ", 20) == 0) {
			depth = depth_by_json_c(body, len);
			FZ_ASSERT(depth == -1 || depth > bh_cfg.json_max_depth,
			    "refused as too deep at depth %d, limit %d",
			    depth, bh_cfg.json_max_depth);
		}
		if (strncmp(detail, "the JSON body gives ", 20) == 0) {
			obj = parse_by_json_c(body, len);
			FZ_ASSERT(obj != NULL && tree_members(obj) <
			    text_members(body, len),
			    "refused a name given twice where none is: %s",
			    detail);
			json_object_put(obj);
		}
		json_object_put(problem);
		return 0;
	}
	FZ_ASSERT(rc == 0 && req.status == 0, "rc %d, status %d", rc,
	    req.status);
	FZ_ASSERT(bh_utf8_valid(body, len), "took a body that is not UTF-8");
	if (req.json == NULL) {
		FZ_ASSERT(len == 0 || is_null_text(body, len),
		    "no JSON from %zu bytes", len);
		return 0;
	}
	depth = fz_json_check_tree(req.json);
	FZ_ASSERT(depth <= bh_cfg.json_max_depth, "took depth %d, limit %d",
	    depth, bh_cfg.json_max_depth);
	FZ_ASSERT(tree_members(req.json) == text_members(body, len),
	    "took a body giving a member name twice (%zu names, %zu kept)",
	    text_members(body, len), tree_members(req.json));
	validate(&req);

	/* Re-serialised, it must be taken again and mean the same. */
	obj = json_object_get(req.json);
	text = strdup(json_object_to_json_string_length(obj,
	    JSON_C_TO_STRING_PLAIN, &text_len));
	if (text == NULL)
		abort();
	rc = parse(&req, type, text, text_len);
	FZ_ASSERT(rc == 0 && req.json != NULL, "refused its own output %s: "
	    "%s", text, req.resp_body.data != NULL ? req.resp_body.data : "");
	again = req.json;
	FZ_ASSERT(json_object_equal(obj, again), "%s parsed differently",
	    text);
	json_object_put(obj);
	free(text);
	return 0;
}
