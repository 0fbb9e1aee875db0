/*
 * test_validate.c - validate.c's JSON-shaped parameter types: BH_DATE,
 * BH_OBJECT with nested members (named "card.number"), BH_ARRAY,
 * BH_IGNORED, and bh_arg's dotted names.  test_router.c covers the
 * scalar types and the body rules they share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int h_ok(bh_request *req) { return bh_send(req, 204, NULL, NULL, 0); }

static const char *const brands[] = { "visa", "mastercard", "amex", NULL };

static const bh_param address_members[] = {
	{ .name = "city", .src = BH_BODY, .type = BH_STRING, .required = true,
	  .min = 1, .max = 100 },
	{ .name = "zip", .src = BH_BODY, .type = BH_STRING, .max = 10 },
	{ .name = NULL },
};

/* Members leave .src unset (BH_PATH): a member's source is the object. */
static const bh_param card_members[] = {
	{ .name = "number", .type = BH_STRING, .required = true, .min = 12,
	  .max = 19 },
	{ .name = "exp_month", .type = BH_INT, .required = true, .min = 1,
	  .max = 12 },
	{ .name = "holder", .type = BH_STRING, .min = 1, .max = 200 },
	{ .name = "brand", .type = BH_ENUM, .choices = brands, .def = "visa" },
	{ .name = "address", .type = BH_OBJECT, .members = address_members },
	{ .name = "expires", .type = BH_DATE },
	{ .name = NULL },
};

/* 2027-01-01 and 2028-12-31 in days since 1970-01-01. */
#define DAY_2027_01_01 20819
#define DAY_2028_12_31 21549

static const bh_param body_params[] = {
	{ .name = "checkin", .src = BH_BODY, .type = BH_DATE,
	  .required = true },
	{ .name = "checkout", .src = BH_BODY, .type = BH_DATE,
	  .min = DAY_2027_01_01, .max = DAY_2028_12_31 },
	{ .name = "card", .src = BH_BODY, .type = BH_OBJECT,
	  .members = card_members },
	{ .name = "meta", .src = BH_BODY, .type = BH_OBJECT },
	{ .name = "hotels", .src = BH_BODY, .type = BH_ARRAY, .min = 1,
	  .max = 3 },
	{ .name = "tags", .src = BH_BODY, .type = BH_ARRAY },
	{ .name = "price", .src = BH_BODY, .type = BH_IGNORED },
	{ .name = "status", .src = BH_BODY, .type = BH_IGNORED },
	{ .name = NULL },
};

static const bh_param query_date_params[] = {
	{ .name = "day", .src = BH_QUERY, .type = BH_DATE, .required = true },
	{ .name = "until", .src = BH_QUERY, .type = BH_DATE,
	  .def = "2027-01-31" },
	{ .name = NULL },
};

/* A route-table bug: JSON types come from a body only. */
static const bh_param query_object_params[] = {
	{ .name = "filter", .src = BH_QUERY, .type = BH_OBJECT },
	{ .name = NULL },
};

static const bh_param path_array_params[] = {
	{ .name = "ids", .src = BH_PATH, .type = BH_ARRAY },
	{ .name = NULL },
};

static const bh_param bad_default_params[] = {
	{ .name = "day", .src = BH_QUERY, .type = BH_DATE,
	  .def = "2027-02-29" },
	{ .name = NULL },
};

static bh_route vroute = { BH_POST, "/v", h_ok, NULL, BH_PUBLIC, NULL };

static const bh_route routes[] = {
	{ BH_POST, "/book", h_ok, body_params, BH_PUBLIC, NULL },
	{ 0, NULL, NULL, NULL, 0, NULL },
};

static const bh_service svc = { .name = "test", .routes = routes };

/* A request as request.c would leave it, in a fresh pool. */
static bh_request *
new_request(unsigned method, const char *path)
{
	bh_request *req;

	if (pool == NULL)
		pool = bh_pool_new();
	else
		bh_pool_reset(pool);
	req = bh_palloc(pool, sizeof(*req));
	req->pool = pool;
	req->method = method;
	req->method_name = method == BH_GET ? "GET" : "POST";
	req->path = path;
	req->full_path = path;
	req->query = "";
	req->request_id = "rid-v";
	req->content_length = -1;
	return req;
}

static void
set_body(bh_request *req, const char *type, const char *body, size_t len)
{
	req->content_type = type;
	req->body = bh_pstrndup(req->pool, body, len);
	req->body_len = len;
	req->content_length = (long long)len;
}

/* Validates a JSON body, parsed by the runtime (request.c), against
 * params. */
static int
validate_json(bh_request **reqp, const bh_param *params, const char *text)
{
	bh_request *req = new_request(BH_POST, "/v");

	set_body(req, "application/json", text, strlen(text));
	CU_ASSERT_EQUAL_FATAL(bh_request_parse_body(req), 0);
	vroute.params = params;
	req->route = &vroute;
	*reqp = req;
	return bh_validate_params(req);
}

static int
validate_form(bh_request **reqp, const bh_param *params, const char *text)
{
	bh_request *req = new_request(BH_POST, "/v");

	set_body(req, "application/x-www-form-urlencoded", text, strlen(text));
	CU_ASSERT_EQUAL_FATAL(bh_request_parse_body(req), 0);
	vroute.params = params;
	req->route = &vroute;
	*reqp = req;
	return bh_validate_params(req);
}

static int
validate_query(bh_request **reqp, const bh_param *params, const char *query)
{
	bh_request *req = new_request(BH_GET, "/v");

	req->query = query;
	CU_ASSERT_EQUAL_FATAL(bh_parse_urlencoded(req->pool, query,
	    strlen(query), &req->query_params, NULL), 0);
	vroute.params = params;
	req->route = &vroute;
	*reqp = req;
	return bh_validate_params(req);
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
		fprintf(stderr, "\n  status %d (%s), wanted %d problem: %s\n",
		    req->status, req->resp_type ? req->resp_type : "-",
		    status, req->resp_body.data ? req->resp_body.data : "");
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

#define FULL_BODY "{\"checkin\":\"2027-01-10\",\"checkout\":\"2028-02-29\"," \
	"\"card\":{\"number\":\"4242424242424242\",\"exp_month\":12," \
	"\"holder\":\"Zo\\u00eb\",\"address\":{\"city\":\"Krak\\u00f3w\"}," \
	"\"expires\":\"2030-12-31\"}," \
	"\"meta\":{\"anything\":[1,{\"x\":null}]},\"hotels\":[1,2,3]," \
	"\"tags\":[],\"price\":{\"total\":1},\"status\":\"confirmed\"}"

static void
test_accepts(void)
{
	const bh_value *v;
	bh_request *req;

	CU_ASSERT_EQUAL_FATAL(validate_json(&req, body_params, FULL_BODY), 0);
	CU_ASSERT_EQUAL(bh_arg_int(req, "checkin"), 20828);
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "checkin"), "2027-01-10");
	CU_ASSERT_EQUAL(bh_arg_int(req, "checkout"), 21243);

	v = bh_arg(req, "card");
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	CU_ASSERT_TRUE(v->present);
	CU_ASSERT_TRUE(json_object_is_type(v->json, json_type_object));
	CU_ASSERT_EQUAL(v->nmembers, 6);
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "card.number"),
	    "4242424242424242");
	CU_ASSERT_EQUAL(bh_arg_int(req, "card.exp_month"), 12);
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "card.holder"), "Zo\xc3\xab");
	/* A member's default applies as for a body. */
	CU_ASSERT_TRUE(bh_arg_present(req, "card.brand"));
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "card.brand"), "visa");
	CU_ASSERT_EQUAL(bh_arg_int(req, "card.brand"), 0);
	CU_ASSERT_STRING_EQUAL(bh_arg_str(req, "card.address.city"),
	    "Krak\xc3\xb3w");
	CU_ASSERT_FALSE(bh_arg_present(req, "card.address.zip"));
	CU_ASSERT_EQUAL(bh_arg_int(req, "card.expires"), 22279);
	CU_ASSERT_EQUAL(bh_arg(req, "card.number")->spec, &card_members[0]);

	/* An object without members takes any object. */
	v = bh_arg(req, "meta");
	CU_ASSERT_TRUE(v->present && json_object_is_type(v->json,
	    json_type_object));
	CU_ASSERT_EQUAL(v->nmembers, 0);
	CU_ASSERT_PTR_NULL(bh_arg(req, "meta.anything"));

	v = bh_arg(req, "hotels");
	CU_ASSERT_TRUE(v->present && json_object_is_type(v->json,
	    json_type_array));
	CU_ASSERT_EQUAL(v->i, 3);
	CU_ASSERT_EQUAL(json_object_array_length(v->json), 3);
	CU_ASSERT_TRUE(bh_arg_present(req, "tags"));
	CU_ASSERT_EQUAL(bh_arg_int(req, "tags"), 0);

	/* Ignored members are accepted, whatever they hold. */
	CU_ASSERT_TRUE(bh_arg_present(req, "price"));
	CU_ASSERT_PTR_NULL(bh_arg_str(req, "price"));
	CU_ASSERT_PTR_NULL(bh_arg_str(req, "status"));

	/* The least: only what is required. */
	CU_ASSERT_EQUAL_FATAL(validate_json(&req, body_params,
	    "{\"checkin\":\"1970-01-01\"}"), 0);
	CU_ASSERT_EQUAL(bh_arg_int(req, "checkin"), 0);
	CU_ASSERT_TRUE(bh_arg_present(req, "checkin"));
	CU_ASSERT_FALSE(bh_arg_present(req, "card"));
	CU_ASSERT_PTR_NULL(bh_arg(req, "card.number"));
	CU_ASSERT_PTR_NULL(bh_arg_str(req, "card.number"));
	CU_ASSERT_EQUAL(bh_arg_int(req, "card.exp_month"), 0);
	CU_ASSERT_FALSE(bh_arg_present(req, "card.brand"));
	CU_ASSERT_FALSE(bh_arg_present(req, "price"));

	/* A member set to null is absent, nested too. */
	CU_ASSERT_EQUAL_FATAL(validate_json(&req, body_params,
	    "{\"checkin\":\"2027-01-10\",\"card\":null,\"price\":null}"), 0);
	CU_ASSERT_FALSE(bh_arg_present(req, "card"));
	CU_ASSERT_FALSE(bh_arg_present(req, "price"));
	CU_ASSERT_EQUAL_FATAL(validate_json(&req, body_params,
	    "{\"checkin\":\"2027-01-10\",\"card\":{\"number\":"
	    "\"4242424242424242\",\"exp_month\":1,\"holder\":null,"
	    "\"address\":null}}"), 0);
	CU_ASSERT_FALSE(bh_arg_present(req, "card.holder"));
	CU_ASSERT_FALSE(bh_arg_present(req, "card.address"));
	CU_ASSERT_PTR_NULL(bh_arg(req, "card.address.city"));

	/* The bounds of a date and an array are inclusive. */
	CU_ASSERT_EQUAL(validate_json(&req, body_params,
	    "{\"checkin\":\"9999-12-31\",\"checkout\":\"2027-01-01\","
	    "\"hotels\":[{}]}"), 0);
	CU_ASSERT_EQUAL(bh_arg_int(req, "checkin"), 2932896);
	CU_ASSERT_EQUAL(validate_json(&req, body_params,
	    "{\"checkin\":\"2028-02-29\",\"checkout\":\"2028-12-31\"}"), 0);
}

struct json_case {
	const char *body, *param, *detail;
};

#define DATE_MSG(n) n " must be a calendar date written YYYY-MM-DD, from " \
	"1970-01-01 to 9999-12-31"
#define CARD_OK "\"number\":\"4242424242424242\",\"exp_month\":1"
#define IN "{\"checkin\":\"2027-01-10\","

static void
test_rejects(void)
{
	static const struct json_case cases[] = {
		/* Dates: JSON strings, strictly YYYY-MM-DD, real days. */
		{ "{}", "checkin", "checkin is required" },
		{ "{\"checkin\":null}", "checkin", "checkin is required" },
		{ "{\"checkin\":20270110}", "checkin",
		  "checkin must be a JSON string" },
		{ "{\"checkin\":true}", "checkin", NULL },
		{ "{\"checkin\":[\"2027-01-10\"]}", "checkin", NULL },
		{ "{\"checkin\":{}}", "checkin", NULL },
		{ "{\"checkin\":\"2027-02-29\"}", "checkin",
		  DATE_MSG("checkin") },
		{ "{\"checkin\":\"2027-1-01\"}", "checkin", NULL },
		{ "{\"checkin\":\"2027-01-10x\"}", "checkin", NULL },
		{ "{\"checkin\":\"2027-01-10 \"}", "checkin", NULL },
		{ "{\"checkin\":\"2027-01-10T00:00:00Z\"}", "checkin", NULL },
		{ "{\"checkin\":\"1969-12-31\"}", "checkin", NULL },
		{ "{\"checkin\":\"10000-01-01\"}", "checkin", NULL },
		{ "{\"checkin\":\"2027-13-01\"}", "checkin", NULL },
		{ "{\"checkin\":\"2027-04-31\"}", "checkin", NULL },
		{ "{\"checkin\":\"\"}", "checkin", NULL },
		{ IN "\"checkout\":\"2026-12-31\"}", "checkout",
		  "checkout must be a date from 2027-01-01 to 2028-12-31" },
		{ IN "\"checkout\":\"2029-01-01\"}", "checkout", NULL },
		/* Objects. */
		{ IN "\"card\":\"4242424242424242\"}", "card",
		  "card must be a JSON object" },
		{ IN "\"card\":[]}", "card", NULL },
		{ IN "\"card\":5}", "card", NULL },
		{ IN "\"meta\":[1]}", "meta", "meta must be a JSON object" },
		{ IN "\"card\":{}}", "card.number", "card.number is required" },
		{ IN "\"card\":{\"number\":\"4242424242424242\"}}",
		  "card.exp_month", "card.exp_month is required" },
		{ IN "\"card\":{\"number\":4242424242424242,\"exp_month\":1}}",
		  "card.number", "card.number must be a JSON string" },
		{ IN "\"card\":{\"number\":\"4242\",\"exp_month\":1}}",
		  "card.number",
		  "card.number must be between 12 and 19 characters long" },
		{ IN "\"card\":{\"number\":\"42424242424242\\n42\","
		  "\"exp_month\":1}}", "card.number", NULL },
		{ IN "\"card\":{\"number\":\"4242424242424242\","
		  "\"exp_month\":13}}", "card.exp_month",
		  "card.exp_month must be an integer between 1 and 12" },
		{ IN "\"card\":{\"number\":\"4242424242424242\","
		  "\"exp_month\":\"12\"}}", "card.exp_month", NULL },
		{ IN "\"card\":{\"number\":\"4242424242424242\","
		  "\"exp_month\":12.0}}", "card.exp_month", NULL },
		{ IN "\"card\":{\"number\":\"4242424242424242\","
		  "\"exp_month\":99999999999999999999}}", "card.exp_month",
		  NULL },
		{ IN "\"card\":{\"number\":\"4242424242424242\","
		  "\"exp_month\":-99999999999999999999}}", "card.exp_month",
		  NULL },
		{ IN "\"card\":{\"number\":\"4242424242424242\","
		  "\"exp_month\":1e3}}", "card.exp_month", NULL },
		{ IN "\"card\":{" CARD_OK ",\"brand\":\"diners\"}}",
		  "card.brand",
		  "card.brand must be one of: visa, mastercard, amex" },
		{ IN "\"card\":{" CARD_OK ",\"holder\":\"\"}}", "card.holder",
		  "card.holder must be between 1 and 200 characters long" },
		{ IN "\"card\":{" CARD_OK ",\"expires\":\"2030-02-30\"}}",
		  "card.expires", DATE_MSG("card.expires") },
		{ IN "\"card\":{" CARD_OK ",\"cvc\":\"123\"}}", "card.cvc",
		  "card.cvc is not a known member; the members of card are: "
		  "number, exp_month, holder, brand, address, expires" },
		{ IN "\"card\":{" CARD_OK ",\"address\":{}}}",
		  "card.address.city", "card.address.city is required" },
		{ IN "\"card\":{" CARD_OK ",\"address\":\"Lisbon\"}}",
		  "card.address", "card.address must be a JSON object" },
		{ IN "\"card\":{" CARD_OK ",\"address\":{\"city\":\"Porto\","
		  "\"country\":\"PT\"}}}", "card.address.country",
		  "card.address.country is not a known member; the members "
		  "of card.address are: city, zip" },
		{ IN "\"card\":{" CARD_OK ",\"\\u0001\":1}}", "card",
		  "card has an unknown member (its name is not shown); its "
		  "members are: number, exp_month, holder, brand, address, "
		  "expires" },
		/* Unknown members are refused before any value is checked,
		 * at the top as before. */
		{ "{\"checkin\":5,\"prise\":1}", "prise",
		  "prise is not a known member; the members are: checkin, "
		  "checkout, card, meta, hotels, tags, price, status" },
		/* Arrays. */
		{ IN "\"hotels\":{}}", "hotels", "hotels must be a JSON array" },
		{ IN "\"hotels\":\"[1]\"}", "hotels", NULL },
		{ IN "\"hotels\":[]}", "hotels",
		  "hotels must be a JSON array of 1 to 3 elements" },
		{ IN "\"hotels\":[1,2,3,4]}", "hotels", NULL },
		{ IN "\"tags\":1}", "tags", "tags must be a JSON array" },
	};
	bh_request *req;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL(validate_json(&req, body_params,
		    cases[i].body), -1);
		if (!is_problem(req, 400, "invalid-parameter", cases[i].param,
		    cases[i].detail)) {
			CU_FAIL("problem");
			fprintf(stderr, "  body %s\n", cases[i].body);
		}
	}
}

/* Array lengths: the default bound is 1000 elements. */
static void
test_array_default_bound(void)
{
	bh_request *req;
	char *text;
	int n, i;

	for (n = 1000; n <= 1001; n++) {
		text = malloc(sizeof(IN) + 2 * (size_t)n + 16);
		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		strcpy(text, IN "\"tags\":[0");
		for (i = 1; i < n; i++)
			strcat(text, ",0");
		strcat(text, "]}");
		CU_ASSERT_EQUAL(validate_json(&req, body_params, text),
		    n == 1000 ? 0 : -1);
		if (n == 1000) {
			CU_ASSERT_EQUAL(bh_arg_int(req, "tags"), 1000);
		} else {
			CU_ASSERT_TRUE(is_problem(req, 400,
			    "invalid-parameter", "tags", "tags must be a JSON "
			    "array of 0 to 1000 elements"));
		}
		free(text);
	}
}

static void
test_ignored_takes_anything(void)
{
	static const char *const bodies[] = {
		IN "\"price\":1}", IN "\"price\":-1.5e300}",
		IN "\"price\":\"free\"}", IN "\"price\":[1,[2,[3]]]}",
		IN "\"price\":{\"a\":{\"b\":{}}}}", IN "\"price\":false}",
		IN "\"status\":\"confirmed\",\"price\":0}",
		IN "\"price\":99999999999999999999999999}",
	};
	bh_request *req;
	size_t i;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		CU_ASSERT_EQUAL(validate_json(&req, body_params, bodies[i]), 0);
		CU_ASSERT_TRUE(bh_arg_present(req, "price") ||
		    bh_arg_present(req, "status"));
	}
}

static void
test_query_and_form(void)
{
	bh_request *req;

	/* Dates come from a query too, defaults included. */
	CU_ASSERT_EQUAL(validate_query(&req, query_date_params,
	    "day=2028-02-29"), 0);
	CU_ASSERT_EQUAL(bh_arg_int(req, "day"), 21243);
	CU_ASSERT_EQUAL(bh_arg_int(req, "until"), 20849);
	CU_ASSERT_EQUAL(validate_query(&req, query_date_params,
	    "day=2027-02-29"), -1);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "day",
	    DATE_MSG("day")));
	CU_ASSERT_EQUAL(validate_query(&req, query_date_params,
	    "day=2027-01-10&day=2027-01-11"), -1);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "day",
	    "day must be given only once"));
	CU_ASSERT_EQUAL(validate_query(&req, query_date_params,
	    "day=2027-01-10%0A"), -1);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "day",
	    NULL));

	/* A default that is no date is the service's bug. */
	CU_ASSERT_EQUAL(validate_query(&req, bad_default_params, ""), -1);
	CU_ASSERT_TRUE(is_problem(req, 500, "internal-error", NULL, NULL));

	/* JSON types outside a body: a route-table bug, never a value. */
	CU_ASSERT_EQUAL(validate_query(&req, query_object_params,
	    "filter=%7B%7D"), -1);
	CU_ASSERT_TRUE(is_problem(req, 500, "internal-error", NULL, NULL));
	CU_ASSERT_EQUAL(validate_query(&req, path_array_params, ""), -1);
	CU_ASSERT_TRUE(is_problem(req, 500, "internal-error", NULL, NULL));

	/* A form cannot carry an object or an array. */
	CU_ASSERT_EQUAL(validate_form(&req, body_params,
	    "checkin=2027-01-10&card=%7B%7D"), -1);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "card",
	    "card must be a JSON object (send the body as "
	    "application/json)"));
	CU_ASSERT_EQUAL(validate_form(&req, body_params,
	    "checkin=2027-01-10&hotels=1"), -1);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "hotels",
	    NULL));
	CU_ASSERT_EQUAL(validate_form(&req, body_params,
	    "checkin=2027-01-10&price=0&checkout=2027-02-01"), 0);
	CU_ASSERT_EQUAL(bh_arg_int(req, "checkout"), 20850);
	CU_ASSERT_TRUE(bh_arg_present(req, "price"));
	CU_ASSERT_EQUAL(validate_form(&req, body_params,
	    "checkin=2027-02-30"), -1);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "checkin",
	    NULL));
}

static void
test_arg_names(void)
{
	static const char *const none[] = {
		"", ".", "card.", ".number", "card..number", "card.number.x",
		"card.nope", "nope.number", "hotels.0", "meta.anything",
		"card.address.", "card.address.city.x", "checkin.x",
		"number", "city", "card.city",
	};
	bh_request *req;
	size_t i;

	CU_ASSERT_EQUAL_FATAL(validate_json(&req, body_params, FULL_BODY), 0);
	for (i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		CU_ASSERT_PTR_NULL(bh_arg(req, none[i]));
		CU_ASSERT_FALSE(bh_arg_present(req, none[i]));
		CU_ASSERT_PTR_NULL(bh_arg_str(req, none[i]));
	}
	CU_ASSERT_PTR_NULL(bh_arg(req, NULL));

	/* After a refusal half-way, lookups are safe (and find nothing
	 * past the fault). */
	CU_ASSERT_EQUAL(validate_json(&req, body_params,
	    IN "\"card\":{\"number\":1},\"price\":1}"), -1);
	CU_ASSERT_FALSE(bh_arg_present(req, "price"));
	CU_ASSERT_PTR_NULL(bh_arg_str(req, "card.number"));
	CU_ASSERT_PTR_NULL(bh_arg(req, "card.exp_month"));
}

/* Through bh_dispatch and request.c's parser: a name given twice inside
 * a nested object never reaches validation; a deep body is refused. */
static void
test_dispatch(void)
{
	bh_request *req;
	int saved = bh_cfg.json_max_depth;

	bh_cfg.json_max_depth = 32;
	req = new_request(BH_POST, "/book");
	set_body(req, "application/json", FULL_BODY, strlen(FULL_BODY));
	bh_dispatch(&svc, req);
	CU_ASSERT_EQUAL(req->status, 204);

	req = new_request(BH_POST, "/book");
	set_body(req, "application/json", IN "\"card\":{" CARD_OK
	    ",\"number\":\"5555555555554444\"}}",
	    strlen(IN "\"card\":{" CARD_OK ",\"number\":\"5555555555554444\"}}"));
	bh_dispatch(&svc, req);
	CU_ASSERT_TRUE(is_problem(req, 400, "malformed-body", "number", NULL));

	req = new_request(BH_POST, "/book");
	set_body(req, "application/json", IN "\"card\":{" CARD_OK
	    ",\"cvc\":\"1\"}}", strlen(IN "\"card\":{" CARD_OK
	    ",\"cvc\":\"1\"}}"));
	bh_dispatch(&svc, req);
	CU_ASSERT_TRUE(is_problem(req, 400, "invalid-parameter", "card.cvc",
	    NULL));

	bh_cfg.json_max_depth = 2;
	req = new_request(BH_POST, "/book");
	set_body(req, "application/json", FULL_BODY, strlen(FULL_BODY));
	bh_dispatch(&svc, req);
	CU_ASSERT_TRUE(is_problem(req, 400, "malformed-body", NULL, NULL));
	bh_cfg.json_max_depth = saved;
}

int
bh_test_register(void)
{
	static const CU_TestInfo validate[] = {
		{ "accepts dates, objects, arrays", test_accepts },
		{ "rejects, naming the path", test_rejects },
		{ "array default bound", test_array_default_bound },
		{ "ignored takes anything", test_ignored_takes_anything },
		{ "query and form", test_query_and_form },
		{ "dotted names", test_arg_names },
		{ "through dispatch", test_dispatch },
		CU_TEST_INFO_NULL,
	};
	int rc;

	atexit(free_pool);
	/* request.c parses the bodies with the configured nesting limit. */
	bh_cfg.json_max_depth = 32;
	if ((rc = bh_test_add_suite("validate-json-types", validate)) !=
	    CUE_SUCCESS)
		return rc;
	return CUE_SUCCESS;
}
