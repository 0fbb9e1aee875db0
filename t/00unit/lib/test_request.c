/*
 * test_request.c - FastCGI params and bodies into a bh_request, the
 * decoding helpers, and the log lines written about requests.
 *
 * Requests are built by feeding envp arrays to bh_request_from_env, as
 * the worker does with FCGX_Request.envp.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "runner.h"

#define MAX_ENV 64

static bh_pool *pool;
static bh_request req;

static void
cfg_defaults(void)
{
	bh_cfg.service = "search";
	bh_cfg.base_path = "/search";
	bh_cfg.max_body = 1024 * 1024;
	bh_cfg.json_max_depth = 32;
	bh_cfg.log_level = BH_LOG_ERROR;
}

/* A fresh request in a fresh (reset) pool; bh_cfg is left as it is. */
static void
req_reset(void)
{
	if (pool == NULL)
		pool = bh_pool_new();
	else
		bh_pool_reset(pool);
	memset(&req, 0, sizeof(req));
	req.pool = pool;
}

/* Runs bh_request_from_env on the NULL-terminated "NAME=value" list.
 * The strings are copied into writable buffers that are scribbled over
 * afterwards, so anything the request kept by pointer would show. */
static int
from_envv(const char *const *env)
{
	static char store[MAX_ENV][4096];
	char *envp[MAX_ENV + 1];
	size_t i;
	int rc;

	req_reset();
	for (i = 0; env[i] != NULL && i < MAX_ENV; i++) {
		snprintf(store[i], sizeof(store[i]), "%s", env[i]);
		envp[i] = store[i];
	}
	envp[i] = NULL;
	rc = bh_request_from_env(&req, envp);
	for (i = 0; envp[i] != NULL; i++)
		memset(store[i], '#', strlen(store[i]));
	return rc;
}

static int
from_env(const char *first, ...)
{
	const char *env[MAX_ENV + 1];
	va_list ap;
	size_t n = 0;

	va_start(ap, first);
	for (env[n] = first; env[n] != NULL && n < MAX_ENV;)
		env[++n] = va_arg(ap, const char *);
	va_end(ap);
	env[n] = NULL;
	return from_envv(env);
}

/* Checks that req holds an application/problem+json response with this
 * status, type slug and "param" (NULL: none).  Returns the detail. */
static const char *
check_problem(int status, const char *slug, const char *param)
{
	static char detail[512];
	json_object *body, *v;
	char type[128];

	detail[0] = '\0';
	CU_ASSERT_EQUAL(req.status, status);
	CU_ASSERT_PTR_NOT_NULL(req.resp_type);
	if (req.resp_type != NULL)
		CU_ASSERT_STRING_EQUAL(req.resp_type,
		    "application/problem+json");
	CU_ASSERT_PTR_NOT_NULL_FATAL(req.resp_body.data);
	body = json_tokener_parse(req.resp_body.data);
	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	snprintf(type, sizeof(type), "urn:bellhop:problem:%s", slug);
	CU_ASSERT(json_object_object_get_ex(body, "type", &v) &&
	    strcmp(json_object_get_string(v), type) == 0);
	CU_ASSERT(json_object_object_get_ex(body, "status", &v) &&
	    json_object_get_int(v) == status);
	CU_ASSERT(json_object_object_get_ex(body, "request_id", &v) &&
	    strcmp(json_object_get_string(v), req.request_id) == 0);
	if (param == NULL) {
		CU_ASSERT(!json_object_object_get_ex(body, "param", NULL));
	} else
		CU_ASSERT(json_object_object_get_ex(body, "param", &v) &&
		    strcmp(json_object_get_string(v), param) == 0);
	if (json_object_object_get_ex(body, "detail", &v))
		snprintf(detail, sizeof(detail), "%s",
		    json_object_get_string(v));
	json_object_put(body);
	return detail;
}

static bool
is_hex32(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 32;
}

/* ------------------------------------------------------------- decoding */

static void
test_url_decode_good(void)
{
	size_t len;
	char *s;

	req_reset();
	s = bh_url_decode(pool, "a%20b%2Fc%e2%82%AC", 18, false, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(s, "a b/c\xe2\x82\xac");
	CU_ASSERT_EQUAL(len, 8);
	CU_ASSERT_STRING_EQUAL(bh_url_decode(pool, "a+b", 3, true, NULL),
	    "a b");
	CU_ASSERT_STRING_EQUAL(bh_url_decode(pool, "a+b", 3, false, NULL),
	    "a+b");
	CU_ASSERT_STRING_EQUAL(bh_url_decode(pool, "%2B", 3, true, NULL),
	    "+");
	CU_ASSERT_STRING_EQUAL(bh_url_decode(pool, "", 0, true, &len), "");
	CU_ASSERT_EQUAL(len, 0);
	/* Only len bytes are read. */
	CU_ASSERT_STRING_EQUAL(bh_url_decode(pool, "ab%41", 2, false, NULL),
	    "ab");
	/* Not checked for UTF-8: callers do. */
	s = bh_url_decode(pool, "%FF", 3, false, &len);
	CU_ASSERT(s != NULL && len == 1 && (unsigned char)s[0] == 0xff);
}

static void
test_url_decode_bad(void)
{
	const char *bad[] = { "%G1", "%1G", "%4", "%", "a%", "a%0", "%00",
	    "x%00y", "%%", "%-1", "% 1" };
	size_t i;

	req_reset();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_PTR_NULL(bh_url_decode(pool, bad[i], strlen(bad[i]),
		    true, NULL));
	/* "%4" at the end of the given length, even if more follows. */
	CU_ASSERT_PTR_NULL(bh_url_decode(pool, "%41", 2, true, NULL));
	/* A raw NUL (possible in a body) is refused like %00. */
	CU_ASSERT_PTR_NULL(bh_url_decode(pool, "a\0b", 3, true, NULL));
}

static void
test_parse_urlencoded(void)
{
	bh_kvlist l;
	const char *s;

	req_reset();
	s = "a=&a=1&b";
	CU_ASSERT_EQUAL_FATAL(bh_parse_urlencoded(pool, s, strlen(s), &l, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(l.n, 3);
	CU_ASSERT_STRING_EQUAL(l.items[0].key, "a");
	CU_ASSERT_STRING_EQUAL(l.items[0].val, "");
	CU_ASSERT_EQUAL(l.items[0].len, 0);
	CU_ASSERT_STRING_EQUAL(l.items[1].key, "a");
	CU_ASSERT_STRING_EQUAL(l.items[1].val, "1");
	CU_ASSERT_EQUAL(l.items[1].len, 1);
	CU_ASSERT_STRING_EQUAL(l.items[2].key, "b");
	CU_ASSERT_STRING_EQUAL(l.items[2].val, "");

	s = "&&x=1&&y=a+b%2Bc&";
	CU_ASSERT_EQUAL_FATAL(bh_parse_urlencoded(pool, s, strlen(s), &l, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(l.n, 2);
	CU_ASSERT_STRING_EQUAL(l.items[0].key, "x");
	CU_ASSERT_STRING_EQUAL(l.items[1].val, "a b+c");

	s = "a=b=c&=v&k%20ey=%C3%A9";
	CU_ASSERT_EQUAL_FATAL(bh_parse_urlencoded(pool, s, strlen(s), &l, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(l.n, 3);
	CU_ASSERT_STRING_EQUAL(l.items[0].val, "b=c");
	CU_ASSERT_STRING_EQUAL(l.items[1].key, "");
	CU_ASSERT_STRING_EQUAL(l.items[1].val, "v");
	CU_ASSERT_STRING_EQUAL(l.items[2].key, "k ey");
	CU_ASSERT_STRING_EQUAL(l.items[2].val, "\xc3\xa9");
	CU_ASSERT_EQUAL(l.items[2].len, 2);

	CU_ASSERT_EQUAL(bh_parse_urlencoded(pool, "", 0, &l, NULL), 0);
	CU_ASSERT_EQUAL(l.n, 0);
	CU_ASSERT_EQUAL(bh_parse_urlencoded(pool, "a=%ZZ", 5, &l, NULL), -1);
	CU_ASSERT_EQUAL(bh_parse_urlencoded(pool, "%G=1", 4, &l, NULL), -1);
	CU_ASSERT_EQUAL(bh_parse_urlencoded(pool, "a=%00", 5, &l, NULL), -1);
	CU_ASSERT_EQUAL(bh_parse_urlencoded(pool, "a=1&b=%4", 8, &l, NULL), -1);

	/* The pair at fault is named so the 400 can say which parameter. */
	{
		const char *bad = "x";

		CU_ASSERT_EQUAL(bh_parse_urlencoded(pool, "a=1&city=lis%00bon",
		    18, &l, &bad), -1);
		CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
		CU_ASSERT_STRING_EQUAL(bad, "city");
		CU_ASSERT_EQUAL(bh_parse_urlencoded(pool, "%G=1", 4, &l, &bad),
		    -1);
		CU_ASSERT_PTR_NULL(bad);
	}
}

static void
test_utf8_valid(void)
{
	static const struct {
		const char *s;
		size_t len;
		bool ok;
	} cases[] = {
		{ "", 0, true },
		{ "plain ascii", 11, true },
		{ "a\0b", 3, true },                 /* U+0000 is UTF-8 */
		{ "\xc3\xa9", 2, true },             /* U+00E9 */
		{ "\xe2\x82\xac", 3, true },         /* U+20AC */
		{ "\xef\xbf\xbf", 3, true },         /* U+FFFF */
		{ "\xf0\x9f\x98\x80", 4, true },     /* U+1F600 */
		{ "\xf4\x8f\xbf\xbf", 4, true },     /* U+10FFFF */
		{ "\xed\x9f\xbf", 3, true },         /* U+D7FF */
		{ "\xee\x80\x80", 3, true },         /* U+E000 */
		{ "\x80", 1, false },                /* lone continuation */
		{ "\xbf", 1, false },
		{ "\xc0\x80", 2, false },            /* overlong NUL */
		{ "\xc1\xbf", 2, false },            /* overlong */
		{ "\xe0\x80\x80", 3, false },        /* overlong */
		{ "\xe0\x9f\xbf", 3, false },        /* overlong */
		{ "\xf0\x80\x80\x80", 4, false },    /* overlong */
		{ "\xf0\x8f\xbf\xbf", 4, false },    /* overlong */
		{ "\xed\xa0\x80", 3, false },        /* U+D800 surrogate */
		{ "\xed\xbf\xbf", 3, false },        /* U+DFFF surrogate */
		{ "\xf4\x90\x80\x80", 4, false },    /* U+110000 */
		{ "\xf5\x80\x80\x80", 4, false },
		{ "\xff", 1, false },
		{ "\xfe", 1, false },
		{ "\xe2\x82", 2, false },            /* truncated */
		{ "\xf0\x9f\x98", 3, false },        /* truncated */
		{ "\xc3", 1, false },
		{ "\xc3\x41", 2, false },            /* bad continuation */
		{ "\xe2\x28\xa1", 3, false },
		{ "ok\xc3\xa9ok\xff", 7, false },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (bh_utf8_valid(cases[i].s, cases[i].len) != cases[i].ok)
			fprintf(stderr, "utf8 case %zu wrong\n", i);
		CU_ASSERT(bh_utf8_valid(cases[i].s, cases[i].len) ==
		    cases[i].ok);
	}
}

/* ------------------------------------------------------------- from env */

static void
test_basic_request(void)
{
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_METHOD=GET",
	    "REQUEST_URI=/search/hotels?city=Lisbon&guests=2",
	    "QUERY_STRING=city=Lisbon&guests=2", "REMOTE_ADDR=192.0.2.7",
	    "SCRIPT_NAME=/ignored", "SERVER_NAME=localhost", NULL), 0);
	CU_ASSERT_EQUAL(req.status, 0);
	CU_ASSERT_EQUAL(req.method, BH_GET);
	CU_ASSERT_STRING_EQUAL(req.method_name, "GET");
	CU_ASSERT_STRING_EQUAL(req.path, "/hotels");
	CU_ASSERT_STRING_EQUAL(req.full_path, "/search/hotels");
	CU_ASSERT_STRING_EQUAL(req.query, "city=Lisbon&guests=2");
	CU_ASSERT_EQUAL(req.query_params.n, 2);
	CU_ASSERT_STRING_EQUAL(bh_query_get(&req, "city"), "Lisbon");
	CU_ASSERT_STRING_EQUAL(bh_query_get(&req, "guests"), "2");
	CU_ASSERT_PTR_NULL(bh_query_get(&req, "stars"));
	CU_ASSERT_STRING_EQUAL(req.remote_addr, "192.0.2.7");
	CU_ASSERT_EQUAL(req.content_length, -1);
	CU_ASSERT_PTR_NULL(req.content_type);
	CU_ASSERT_PTR_NULL(req.body);
	CU_ASSERT_EQUAL(req.headers.n, 0);
	CU_ASSERT_EQUAL(req.cookies.n, 0);
	CU_ASSERT(is_hex32(req.request_id));

	/* Nothing at all: still a request, for "/". */
	CU_ASSERT_EQUAL_FATAL(from_env(NULL), 0);
	CU_ASSERT_EQUAL(req.method, 0);
	CU_ASSERT_STRING_EQUAL(req.method_name, "");
	CU_ASSERT_STRING_EQUAL(req.path, "/");
	CU_ASSERT_STRING_EQUAL(req.query, "");
	CU_ASSERT_EQUAL(req.query_params.n, 0);
	CU_ASSERT_PTR_NULL(req.remote_addr);
}

static void
test_methods(void)
{
	static const struct {
		const char *env;
		unsigned bit;
	} cases[] = {
		{ "REQUEST_METHOD=GET", BH_GET },
		{ "REQUEST_METHOD=HEAD", BH_HEAD },
		{ "REQUEST_METHOD=POST", BH_POST },
		{ "REQUEST_METHOD=PUT", BH_PUT },
		{ "REQUEST_METHOD=PATCH", BH_PATCH },
		{ "REQUEST_METHOD=DELETE", BH_DELETE },
		{ "REQUEST_METHOD=OPTIONS", BH_OPTIONS },
		{ "REQUEST_METHOD=get", 0 },
		{ "REQUEST_METHOD=BREW", 0 },
		{ "REQUEST_METHOD=GETX", 0 },
		{ "REQUEST_METHOD=", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(from_env(cases[i].env,
		    "REQUEST_URI=/search/x", NULL), 0);
		CU_ASSERT_EQUAL(req.method, cases[i].bit);
		CU_ASSERT_STRING_EQUAL(req.method_name,
		    cases[i].env + strlen("REQUEST_METHOD="));
	}
	/* The first of duplicated params wins, as with FCGX_GetParam. */
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_METHOD=POST",
	    "REQUEST_METHOD=GET", NULL), 0);
	CU_ASSERT_EQUAL(req.method, BH_POST);
}

static void
test_path_encoding(void)
{
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/caf%C3%A9%20x",
	    NULL), 0);
	CU_ASSERT_STRING_EQUAL(req.path, "/caf\xc3\xa9 x");
	CU_ASSERT_STRING_EQUAL(req.full_path, "/search/caf\xc3\xa9 x");

	/* '+' is a plus in a path, a space in a query. */
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/a+b?q=a+b%2Bc",
	    "QUERY_STRING=q=a+b%2Bc", NULL), 0);
	CU_ASSERT_STRING_EQUAL(req.path, "/a+b");
	CU_ASSERT_STRING_EQUAL(bh_query_get(&req, "q"), "a b+c");
	CU_ASSERT_STRING_EQUAL(req.query, "q=a+b%2Bc");

	/* The path stops at the first '?'. */
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/h?x=%3F?y",
	    NULL), 0);
	CU_ASSERT_STRING_EQUAL(req.path, "/h");
}

static void
test_path_bad(void)
{
	const char *bad_escape[] = { "REQUEST_URI=/search/%G1",
	    "REQUEST_URI=/search/%4", "REQUEST_URI=/search/x%",
	    "REQUEST_URI=/search/%00", "REQUEST_URI=/search/a%00b?x=1" };
	const char *bad_utf8[] = { "REQUEST_URI=/search/%FF",
	    "REQUEST_URI=/search/%C0%80", "REQUEST_URI=/search/%ED%A0%80",
	    "REQUEST_URI=/search/%E2%82", "REQUEST_URI=/search/\xff" };
	size_t i;

	for (i = 0; i < sizeof(bad_escape) / sizeof(bad_escape[0]); i++) {
		CU_ASSERT_EQUAL(from_env("REQUEST_METHOD=GET", bad_escape[i],
		    NULL), -1);
		check_problem(400, "bad-request", "path");
	}
	for (i = 0; i < sizeof(bad_utf8) / sizeof(bad_utf8[0]); i++) {
		CU_ASSERT_EQUAL(from_env("REQUEST_METHOD=GET", bad_utf8[i],
		    NULL), -1);
		check_problem(400, "bad-request", "path");
	}
	/* Not a path at all ("OPTIONS *", an absolute URI). */
	CU_ASSERT_EQUAL(from_env("REQUEST_URI=*", NULL), -1);
	check_problem(400, "bad-request", "path");
	CU_ASSERT_EQUAL(from_env("REQUEST_URI=http://x/search", NULL), -1);
	check_problem(400, "bad-request", "path");
}

static void
test_query(void)
{
	/* Repeats and empty values kept, in order; a key without '='. */
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/h",
	    "QUERY_STRING=a=&a=1&b&flag&&c=x%20y", NULL), 0);
	CU_ASSERT_EQUAL_FATAL(req.query_params.n, 5);
	CU_ASSERT_STRING_EQUAL(req.query_params.items[0].key, "a");
	CU_ASSERT_STRING_EQUAL(req.query_params.items[0].val, "");
	CU_ASSERT_STRING_EQUAL(req.query_params.items[1].val, "1");
	CU_ASSERT_STRING_EQUAL(req.query_params.items[2].key, "b");
	CU_ASSERT_STRING_EQUAL(req.query_params.items[2].val, "");
	CU_ASSERT_STRING_EQUAL(req.query_params.items[3].key, "flag");
	CU_ASSERT_STRING_EQUAL(req.query_params.items[4].val, "x y");
	/* The first occurrence. */
	CU_ASSERT_STRING_EQUAL(bh_query_get(&req, "a"), "");
	CU_ASSERT_STRING_EQUAL(bh_query_get(&req, "flag"), "");

	/* Bad escapes and %00 in a value are refused naming the parameter. */
	CU_ASSERT_EQUAL(from_env("REQUEST_URI=/search/h",
	    "QUERY_STRING=city=%G1", NULL), -1);
	check_problem(400, "invalid-parameter", "city");
	CU_ASSERT_EQUAL(from_env("REQUEST_URI=/search/h",
	    "QUERY_STRING=city=ab%4", NULL), -1);
	check_problem(400, "invalid-parameter", "city");
	CU_ASSERT_EQUAL(from_env("REQUEST_URI=/search/h",
	    "QUERY_STRING=city=a%00b", NULL), -1);
	check_problem(400, "invalid-parameter", "city");
	/* A bad name leaves only "query" to name. */
	CU_ASSERT_EQUAL(from_env("REQUEST_URI=/search/h",
	    "QUERY_STRING=%zz=1", NULL), -1);
	check_problem(400, "bad-request", "query");

	/* Invalid UTF-8 in a value is kept for the validator, which names
	 * the parameter. */
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/h",
	    "QUERY_STRING=city=%FF%C0%80&x=1", NULL), 0);
	CU_ASSERT_EQUAL(req.query_params.items[0].len, 3);
	CU_ASSERT(memcmp(bh_query_get(&req, "city"), "\xff\xc0\x80", 4) == 0);
	CU_ASSERT_STRING_EQUAL(bh_query_get(&req, "x"), "1");
}

static void
test_base_path(void)
{
	static const struct {
		const char *uri, *path, *full;
	} cases[] = {
		{ "REQUEST_URI=/search/hotels", "/hotels", "/search/hotels" },
		{ "REQUEST_URI=/search/hotels/12", "/hotels/12", NULL },
		{ "REQUEST_URI=/search", "/", "/search" },
		{ "REQUEST_URI=/search/", "/", "/search/" },
		{ "REQUEST_URI=/search?x=1", "/", "/search" },
		{ "REQUEST_URI=/searchx", "/searchx", "/searchx" },
		{ "REQUEST_URI=/searchx/hotels", "/searchx/hotels", NULL },
		{ "REQUEST_URI=/health", "/health", "/health" },
		{ "REQUEST_URI=/", "/", "/" },
		{ "REQUEST_URI=/sea", "/sea", NULL },
		{ "REQUEST_URI=/%73earch/hotels", "/hotels", "/search/hotels" },
		{ "REQUEST_URI=/search/search/x", "/search/x", NULL },
		{ "REQUEST_URI=", "/", "/" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(from_env(cases[i].uri, NULL), 0);
		CU_ASSERT_STRING_EQUAL(req.path, cases[i].path);
		if (cases[i].full != NULL) {
			CU_ASSERT_STRING_EQUAL(req.full_path, cases[i].full);
		}
	}

	/* A base path given with a trailing slash, or none at all. */
	bh_cfg.base_path = "/search/";
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/hotels", NULL), 0);
	CU_ASSERT_STRING_EQUAL(req.path, "/hotels");
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search", NULL), 0);
	CU_ASSERT_STRING_EQUAL(req.path, "/");
	bh_cfg.base_path = "/";
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/hotels", NULL), 0);
	CU_ASSERT_STRING_EQUAL(req.path, "/search/hotels");
	bh_cfg.base_path = "";
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/hotels", NULL), 0);
	CU_ASSERT_STRING_EQUAL(req.path, "/search/hotels");
	bh_cfg.base_path = NULL;
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/hotels", NULL), 0);
	CU_ASSERT_STRING_EQUAL(req.path, "/search/hotels");
	/* A deeper base path. */
	bh_cfg.base_path = "/api/search";
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/api/search/hotels",
	    NULL), 0);
	CU_ASSERT_STRING_EQUAL(req.path, "/hotels");
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/api/searc", NULL), 0);
	CU_ASSERT_STRING_EQUAL(req.path, "/api/searc");
	cfg_defaults();
}

/* Without REQUEST_URI: SCRIPT_NAME + PATH_INFO, already decoded by the
 * front end, so not decoded again. */
static void
test_path_fallback(void)
{
	CU_ASSERT_EQUAL_FATAL(from_env("SCRIPT_NAME=/search",
	    "PATH_INFO=/hotels/7", NULL), 0);
	CU_ASSERT_STRING_EQUAL(req.path, "/hotels/7");
	CU_ASSERT_STRING_EQUAL(req.full_path, "/search/hotels/7");
	CU_ASSERT_EQUAL_FATAL(from_env("SCRIPT_NAME=/search",
	    "PATH_INFO=/a%41", NULL), 0);
	CU_ASSERT_STRING_EQUAL(req.path, "/a%41");
	CU_ASSERT_EQUAL_FATAL(from_env("PATH_INFO=/health", NULL), 0);
	CU_ASSERT_STRING_EQUAL(req.path, "/health");
	CU_ASSERT_EQUAL(from_env("SCRIPT_NAME=/search",
	    "PATH_INFO=/\xff", NULL), -1);
	check_problem(400, "bad-request", "path");
	/* REQUEST_URI wins when present. */
	CU_ASSERT_EQUAL_FATAL(from_env("SCRIPT_NAME=/search",
	    "PATH_INFO=/x", "REQUEST_URI=/search/y", NULL), 0);
	CU_ASSERT_STRING_EQUAL(req.path, "/y");
}

static void
test_content_length(void)
{
	static const struct {
		const char *env;
		int rc, status;
		long long value;
	} cases[] = {
		{ NULL, 0, 0, -1 },
		{ "CONTENT_LENGTH=", 0, 0, -1 }, /* nginx without a body */
		{ "CONTENT_LENGTH=0", 0, 0, 0 },
		{ "CONTENT_LENGTH=123", 0, 0, 123 },
		{ "CONTENT_LENGTH=007", 0, 0, 7 },
		{ "CONTENT_LENGTH=1048576", 0, 0, 1048576 },
		{ "CONTENT_LENGTH=1048577", -1, 413, 0 },
		{ "CONTENT_LENGTH=9223372036854775807", -1, 413, 0 },
		{ "CONTENT_LENGTH=9223372036854775808", -1, 400, 0 },
		{ "CONTENT_LENGTH=99999999999999999999999", -1, 400, 0 },
		{ "CONTENT_LENGTH=-1", -1, 400, 0 },
		{ "CONTENT_LENGTH=+5", -1, 400, 0 },
		{ "CONTENT_LENGTH= 5", -1, 400, 0 },
		{ "CONTENT_LENGTH=5 ", -1, 400, 0 },
		{ "CONTENT_LENGTH=abc", -1, 400, 0 },
		{ "CONTENT_LENGTH=0x10", -1, 400, 0 },
		{ "CONTENT_LENGTH=1e3", -1, 400, 0 },
		{ "CONTENT_LENGTH=5,5", -1, 400, 0 },
	};
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = from_env("REQUEST_METHOD=POST", "REQUEST_URI=/search/x",
		    cases[i].env, NULL);
		CU_ASSERT_EQUAL(rc, cases[i].rc);
		if (cases[i].rc == 0) {
			CU_ASSERT_EQUAL(req.content_length, cases[i].value);
		} else if (cases[i].status == 413)
			check_problem(413, "payload-too-large", NULL);
		else
			check_problem(400, "bad-request", NULL);
	}
}

static void
test_headers(void)
{
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/x",
	    "HTTP_ACCEPT_LANGUAGE=fr-FR,fr;q=0.9", "HTTP_HOST=example.org",
	    "HTTP_X_FORWARDED_FOR=198.51.100.1", "HTTP_X_DUP=first",
	    "HTTP_X_DUP=second", "HTTP_EMPTY=", "HTTPS=on", "HTTP_=nameless",
	    "NO_EQUALS_SIGN", "HTTP_NO_EQUALS",
	    "CONTENT_TYPE=Application/JSON; charset=UTF-8",
	    "CONTENT_LENGTH=2", NULL), 0);
	CU_ASSERT_EQUAL(req.headers.n, 6);
	CU_ASSERT_STRING_EQUAL(bh_header_get(&req, "accept-language"),
	    "fr-FR,fr;q=0.9");
	CU_ASSERT_STRING_EQUAL(bh_header_get(&req, "host"), "example.org");
	CU_ASSERT_STRING_EQUAL(bh_header_get(&req, "x-forwarded-for"),
	    "198.51.100.1");
	CU_ASSERT_STRING_EQUAL(bh_header_get(&req, "x-dup"), "first");
	CU_ASSERT_STRING_EQUAL(bh_header_get(&req, "empty"), "");
	CU_ASSERT_PTR_NULL(bh_header_get(&req, "HOST"));
	CU_ASSERT_PTR_NULL(bh_header_get(&req, "https"));
	CU_ASSERT_PTR_NULL(bh_header_get(&req, "missing"));
	CU_ASSERT_STRING_EQUAL(req.content_type, "application/json");
	CU_ASSERT_EQUAL(req.content_length, 2);
}

static void
test_content_type(void)
{
	static const struct {
		const char *env, *type;
	} cases[] = {
		{ "CONTENT_TYPE=application/json", "application/json" },
		{ "CONTENT_TYPE=Application/JSON;charset=utf-8",
		    "application/json" },
		{ "CONTENT_TYPE=  text/plain  ; x=y", "text/plain" },
		{ "CONTENT_TYPE=application/x-www-form-urlencoded",
		    "application/x-www-form-urlencoded" },
		{ "CONTENT_TYPE=", NULL },
		{ "CONTENT_TYPE=   ", NULL },
		{ "CONTENT_TYPE=;charset=utf-8", NULL },
		{ NULL, NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/x",
		    cases[i].env, NULL), 0);
		if (cases[i].type == NULL) {
			CU_ASSERT_PTR_NULL(req.content_type);
		} else {
			CU_ASSERT_PTR_NOT_NULL_FATAL(req.content_type);
			CU_ASSERT_STRING_EQUAL(req.content_type,
			    cases[i].type);
		}
	}
}

static void
test_cookies(void)
{
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/x",
	    "HTTP_COOKIE=a=b; c=d", NULL), 0);
	CU_ASSERT_EQUAL(req.cookies.n, 2);
	CU_ASSERT_STRING_EQUAL(bh_cookie_get(&req, "a"), "b");
	CU_ASSERT_STRING_EQUAL(bh_cookie_get(&req, "c"), "d");
	CU_ASSERT_PTR_NULL(bh_cookie_get(&req, "b"));
	/* The Cookie header is also a header. */
	CU_ASSERT_STRING_EQUAL(bh_header_get(&req, "cookie"), "a=b; c=d");

	/* Junk tolerated: no '=', empty name, empty pairs, spaces, tabs,
	 * '=' in the value, repeated names (first wins), quotes kept. */
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/x",
	    "HTTP_COOKIE=  sid = xyz ;theme=dark;;junk; =novalue;e=;"
	    "\tk=v=w\t; sid=second; q=\"quoted\"; ;", NULL), 0);
	CU_ASSERT_EQUAL(req.cookies.n, 6);
	CU_ASSERT_STRING_EQUAL(bh_cookie_get(&req, "sid"), "xyz");
	CU_ASSERT_STRING_EQUAL(bh_cookie_get(&req, "theme"), "dark");
	CU_ASSERT_STRING_EQUAL(bh_cookie_get(&req, "e"), "");
	CU_ASSERT_STRING_EQUAL(bh_cookie_get(&req, "k"), "v=w");
	CU_ASSERT_STRING_EQUAL(bh_cookie_get(&req, "q"), "\"quoted\"");
	CU_ASSERT_PTR_NULL(bh_cookie_get(&req, "junk"));
	CU_ASSERT_PTR_NULL(bh_cookie_get(&req, ""));

	/* Pure junk: no crash, nothing parsed. */
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/x",
	    "HTTP_COOKIE=;;; ;=;==;\x01\xff; \t", NULL), 0);
	CU_ASSERT_EQUAL(req.cookies.n, 0);
	/* Odd bytes in names and values are kept as sent. */
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/x",
	    "HTTP_COOKIE=\x01\xff=\x7f", NULL), 0);
	CU_ASSERT_EQUAL(req.cookies.n, 1);
	CU_ASSERT_STRING_EQUAL(bh_cookie_get(&req, "\x01\xff"), "\x7f");
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/x",
	    "HTTP_COOKIE=", NULL), 0);
	CU_ASSERT_EQUAL(req.cookies.n, 0);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_request_id(void)
{
	char id128[128 + 1 + 18], id129[129 + 1 + 18];
	char *ids[1000];
	char first[33];
	size_t i;

	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/search/x",
	    "HTTP_X_REQUEST_ID=abc-123_X.y:z", NULL), 0);
	CU_ASSERT_STRING_EQUAL(req.request_id, "abc-123_X.y:z");

	/* Exactly 128 characters is taken, 129 is not. */
	memcpy(id128, "HTTP_X_REQUEST_ID=", 18);
	memset(id128 + 18, 'a', 128);
	id128[18 + 128] = '\0';
	CU_ASSERT_EQUAL_FATAL(from_env(id128, NULL), 0);
	CU_ASSERT_STRING_EQUAL(req.request_id, id128 + 18);
	memcpy(id129, "HTTP_X_REQUEST_ID=", 18);
	memset(id129 + 18, 'a', 129);
	id129[18 + 129] = '\0';
	CU_ASSERT_EQUAL_FATAL(from_env(id129, NULL), 0);
	CU_ASSERT(is_hex32(req.request_id));

	/* Bad characters: generated instead. */
	{
		const char *bad[] = { "HTTP_X_REQUEST_ID=a b",
		    "HTTP_X_REQUEST_ID=a\"b", "HTTP_X_REQUEST_ID=a\nb",
		    "HTTP_X_REQUEST_ID=\xc3\xa9", "HTTP_X_REQUEST_ID=a/b",
		    "HTTP_X_REQUEST_ID=a,b", "HTTP_X_REQUEST_ID=" };

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			CU_ASSERT_EQUAL_FATAL(from_env(bad[i], NULL), 0);
			CU_ASSERT(is_hex32(req.request_id));
		}
	}

	/* Generated ids are 32 hex digits and unique. */
	for (i = 0; i < 1000; i++) {
		CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_URI=/", NULL), 0);
		CU_ASSERT(is_hex32(req.request_id));
		ids[i] = strdup(req.request_id);
	}
	qsort(ids, 1000, sizeof(ids[0]), cmp_str);
	for (i = 1; i < 1000; i++)
		CU_ASSERT(strcmp(ids[i - 1], ids[i]) != 0);
	for (i = 0; i < 1000; i++)
		free(ids[i]);

	/* A forked worker does not repeat its parent's ids. */
	{
		int fd[2], status;
		char child[33] = "";
		pid_t pid;

		CU_ASSERT_FATAL(pipe(fd) == 0);
		fflush(NULL);
		pid = fork();
		CU_ASSERT_FATAL(pid >= 0);
		if (pid == 0) {
			close(fd[0]);
			from_env("REQUEST_URI=/", NULL);
			_exit(write(fd[1], req.request_id, 32) == 32 ? 0 : 1);
		}
		close(fd[1]);
		CU_ASSERT(read(fd[0], child, 32) == 32);
		close(fd[0]);
		CU_ASSERT(waitpid(pid, &status, 0) == pid &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0);
		from_env("REQUEST_URI=/", NULL);
		snprintf(first, sizeof(first), "%s", req.request_id);
		CU_ASSERT(is_hex32(child));
		CU_ASSERT(strcmp(child, first) != 0);
	}
}

/* Problems raised before the body are answered with the caller's id. */
static void
test_problem_carries_id(void)
{
	CU_ASSERT_EQUAL(from_env("HTTP_X_REQUEST_ID=trace-1",
	    "REQUEST_URI=/search/%ZZ", NULL), -1);
	CU_ASSERT_STRING_EQUAL(req.request_id, "trace-1");
	check_problem(400, "bad-request", "path");
}

/* ----------------------------------------------------------------- body */

/* A POST with this content type (NULL: none) and body; body must not
 * live in the pool, which is reset here. */
static int
body_req(const char *type, const char *body, size_t len)
{
	char ct[256], cl[64];

	snprintf(cl, sizeof(cl), "CONTENT_LENGTH=%zu", len);
	if (type != NULL)
		snprintf(ct, sizeof(ct), "CONTENT_TYPE=%s", type);
	else
		snprintf(ct, sizeof(ct), "HTTP_X_NONE=1");
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_METHOD=POST",
	    "REQUEST_URI=/search/x", ct, cl, NULL), 0);
	/* As the worker stores it: a NUL-terminated pool copy. */
	req.body = bh_pstrndup(pool, body, len);
	req.body_len = len;
	return bh_request_parse_body(&req);
}

static int
json_req(const char *body)
{
	return body_req("application/json", body, strlen(body));
}

static void
test_json_ok(void)
{
	json_object *v;

	CU_ASSERT_EQUAL_FATAL(json_req("{\"a\":1,\"b\":[true,null,\"x\"]}"),
	    0);
	CU_ASSERT_EQUAL(req.status, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(req.json);
	CU_ASSERT(json_object_is_type(req.json, json_type_object));
	CU_ASSERT(json_object_object_get_ex(req.json, "a", &v) &&
	    json_object_get_int(v) == 1);

	/* Scalars at the very end of the body, whitespace around. */
	CU_ASSERT_EQUAL_FATAL(json_req("42"), 0);
	CU_ASSERT(req.json != NULL && json_object_get_int(req.json) == 42);
	CU_ASSERT_EQUAL_FATAL(json_req("-1.5e3"), 0);
	CU_ASSERT(req.json != NULL &&
	    json_object_get_double(req.json) == -1500.0);
	CU_ASSERT_EQUAL_FATAL(json_req("true"), 0);
	CU_ASSERT(req.json != NULL && json_object_get_boolean(req.json));
	CU_ASSERT_EQUAL_FATAL(json_req("null"), 0);
	CU_ASSERT_PTR_NULL(req.json);
	CU_ASSERT_EQUAL_FATAL(json_req(" \"s\xc3\xa9\" "), 0);
	CU_ASSERT(req.json != NULL &&
	    strcmp(json_object_get_string(req.json), "s\xc3\xa9") == 0);
	CU_ASSERT_EQUAL_FATAL(json_req("\n {\"a\" : [ ] }\r\n\t "), 0);
	CU_ASSERT_PTR_NOT_NULL(req.json);

	/* Media type parameters and +json types. */
	CU_ASSERT_EQUAL_FATAL(body_req("Application/JSON; charset=utf-8",
	    "{}", 2), 0);
	CU_ASSERT_PTR_NOT_NULL(req.json);
	CU_ASSERT_EQUAL_FATAL(body_req("application/merge-patch+json",
	    "{\"x\":1}", 7), 0);
	CU_ASSERT_PTR_NOT_NULL(req.json);

	/* An empty body parses to nothing. */
	CU_ASSERT_EQUAL_FATAL(json_req(""), 0);
	CU_ASSERT_PTR_NULL(req.json);
	CU_ASSERT_EQUAL(req.status, 0);
}

static void
test_json_malformed(void)
{
	/* Including what json-c accepts even in strict mode: single-quoted
	 * names, NaN, Infinity, "1.", raw control characters in strings. */
	const char *bad[] = { "{", "{\"a\":}", "{\"a\" 1}", "[1,]",
	    "{\"a\":1,}", "'a'", "{'a':1}", "NaN", "[NaN]", "nul", "tru",
	    "[1,2", "\"abc", "/*c*/{}", "   ", "{\"a\":01x}", "\"\\x\"",
	    "{a:1}", "[Infinity]", "[-Infinity]", "1.", "[1.]", ".5", "01",
	    "-", "1e", "1e+", "+1", "0x10", "\"a\tb\"", "\"a\nb\"",
	    "\"\x01\"", "[}", "{]", "[1}", "{\"a\":1]", ",", "[,1]", "{,}",
	    "{\"a\":1 \"b\":2}", "[1 2]", "{\"a\"}", "{1:2}", "[\"\\u12\"]",
	    "[\"\\u12G4\"]", "\"\\u0000\"", "{\"a\\u0000b\":1}",
	    "\"\\udc00\"", "\"\\ud800\"", "\"\\ud800x\"",
	    "\"\\ud800\\u0041\"", "\"\\ud800\\ud800\"", "TRUE", "True",
	    "\xef\xbb\xbf{}", "]", "}", ":" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (json_req(bad[i]) != -1)
			fprintf(stderr, "bad JSON accepted: %s\n", bad[i]);
		CU_ASSERT_EQUAL(req.status, 400);
		CU_ASSERT_PTR_NULL(req.json);
		check_problem(400, "malformed-body", NULL);
	}
}

static void
test_json_valid_edges(void)
{
	const char *good[] = { "-0", "0", "0.0e+0", "1E-5", "-12.5e10",
	    "[]", "{}", "[[],{}]", "{\"\":1}", "{\"a\":1,\"b\":2}",
	    "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u00e9\\ud83d\\ude00\"",
	    "\"\\uD83D\\uDE00\"", "[true,false,null]", "{\"a\":{\"b\":[1]}}",
	    "123456789012345678901234567890", "1e400", "\"\x7f\"" };
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (json_req(good[i]) != 0)
			fprintf(stderr, "valid JSON refused: %s\n", good[i]);
		CU_ASSERT_EQUAL(req.status, 0);
		CU_ASSERT_PTR_NOT_NULL(req.json);
	}
	CU_ASSERT_EQUAL(json_req("\"\\ud83d\\ude00\""), 0);
	CU_ASSERT(req.json != NULL && strcmp(json_object_get_string(req.json),
	    "\xf0\x9f\x98\x80") == 0);
}

static void
test_json_trailing(void)
{
	const char *bad[] = { "{}x", "{}{}", "[1] 2", "{} ,", "42 43",
	    "null null", "\"a\"\"b\"", "true false" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(json_req(bad[i]), -1);
		CU_ASSERT_PTR_NULL(req.json);
		check_problem(400, "malformed-body", NULL);
	}
	/* A NUL after the document is trailing data too. */
	CU_ASSERT_EQUAL(body_req("application/json", "{}\0", 3), -1);
	check_problem(400, "malformed-body", NULL);
	CU_ASSERT_EQUAL(body_req("application/json", "{\"a\":\0}", 7), -1);
	check_problem(400, "malformed-body", NULL);
	CU_ASSERT_EQUAL(body_req("application/json", "12\0003", 4), -1);
	check_problem(400, "malformed-body", NULL);
}

struct repeat_case {
	const char *body;
	const char *param; /* NULL: the name is not shown */
	size_t at;         /* where the second occurrence starts */
};

/* json-c keeps the last of repeated names ({"amount":1,"amount":1000}):
 * the runtime refuses them, naming the member and where it repeats. */
static void
test_json_repeated(void)
{
	static const struct repeat_case cases[] = {
		{ "{\"amount\":1,\"amount\":1000}", "amount", 12 },
		{ "{\"a\":1,\"b\":2,\"a\":3,\"b\":4}", "a", 13 },
		{ "{\"a\":1,\"a\":2,\"a\":3}", "a", 7 },
		/* Compared as json-c sees them: escapes decoded. */
		{ "{\"amount\":1,\"\\u0061mount\":2}", "amount", 12 },
		{ "{\"a/\":1,\"a\\/\":2}", "a/", 8 },
		{ "{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}",
		  "\xf0\x9f\x98\x80", 18 },
		{ "{\"\\u00e9\":1,\"\xc3\xa9\":2}", "\xc3\xa9", 12 },
		{ "{\"\":1,\"\":2}", NULL, 6 },
		/* In nested objects, inside arrays too. */
		{ "{\"a\":{\"b\":1,\"b\":2}}", "b", 12 },
		{ "[{\"a\":1},{\"a\":1,\"a\":{\"b\":1}}]", "a", 16 },
		/* The earliest repeat in the text, whichever object closes
		 * first. */
		{ "{\"a\":1,\"x\":{\"b\":1,\"b\":2},\"a\":2}", "b", 18 },
		{ "{\"a\":1,\"a\":2,\"x\":{\"b\":1,\"b\":2}}", "a", 7 },
		/* Names not fit to show. */
		{ "{\"a\\nb\":1,\"a\\nb\":2}", NULL, 10 },
		{ "{\"a\\u007fb\":1,\"a\\u007fb\":2}", NULL, 14 },
	};
	const char *detail;
	char at[32];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (json_req(cases[i].body) != -1)
			fprintf(stderr, "repeat accepted: %s\n", cases[i].body);
		CU_ASSERT_PTR_NULL(req.json);
		detail = check_problem(400, "malformed-body", cases[i].param);
		snprintf(at, sizeof(at), "at byte %zu", cases[i].at);
		if (strstr(detail, at) == NULL)
			fprintf(stderr, "%s: %s\n", cases[i].body, detail);
		CU_ASSERT_PTR_NOT_NULL(strstr(detail, at));
		CU_ASSERT_PTR_NOT_NULL(strstr(detail, "twice"));
		if (cases[i].param != NULL)
			CU_ASSERT_PTR_NOT_NULL(strstr(detail, cases[i].param));
	}
}

static void
test_json_repeated_edges(void)
{
	static const char *const fine[] = {
		/* The same names in different objects. */
		"{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}]}",
		"[{\"a\":1},{\"a\":1}]",
		/* Names that share a prefix, or differ only by escapes that
		 * decode differently. */
		"{\"ab\":1,\"a\":2,\"abc\":3,\"b\":4,\"\":5}",
		"{\"a\\n\":1,\"a\\t\":2,\"a\\\\\":3,\"a\\\"\":4,\"a/\":5}",
		"{\"\\u00e9\":1,\"\\u00e8\":2,\"\\ud83d\\ude01\":3,"
		"\"\\ud83d\\ude00\":4}",
		/* A value may repeat a name. */
		"{\"a\":\"a\",\"b\":[\"a\",\"a\"]}",
	};
	char *body, *p, name[300], twice[700];
	const char *detail;
	size_t i, n = 20000, cap;

	for (i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
		if (json_req(fine[i]) != 0)
			fprintf(stderr, "refused: %s\n", fine[i]);
		CU_ASSERT_EQUAL(req.status, 0);
		CU_ASSERT_PTR_NOT_NULL(req.json);
	}

	/* A syntax error after a repeat is what is reported. */
	CU_ASSERT_EQUAL(json_req("{\"a\":1,\"a\":2"), -1);
	detail = check_problem(400, "malformed-body", NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(detail, "not valid JSON"));
	CU_ASSERT_PTR_NULL(strstr(detail, "twice"));

	/* A long name is cut (at a character boundary) where shown. */
	p = name;
	for (i = 0; i < 100; i++) {
		memcpy(p, "\xc3\xa9", 2);
		p += 2;
	}
	*p = '\0';
	/* Not in the pool: json_req resets it. */
	snprintf(twice, sizeof(twice), "{\"%s\":1,\"%s\":2}", name, name);
	CU_ASSERT_EQUAL(json_req(twice), -1);
	name[128] = '\0'; /* 64 characters */
	check_problem(400, "malformed-body",
	    bh_psprintf(pool, "%s...", name));

	/* Many members: all different, then one given again at the end. */
	cap = n * 16 + 64;
	body = malloc(cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	p = body;
	*p++ = '{';
	for (i = 0; i < n; i++)
		p += snprintf(p, cap - (size_t)(p - body), "\"m%zu\":%zu,", i,
		    i);
	p[-1] = '}';
	*p = '\0';
	CU_ASSERT_EQUAL(json_req(body), 0);
	CU_ASSERT(req.json != NULL &&
	    json_object_object_length(req.json) == (int)n);
	p[-1] = ',';
	snprintf(p, cap - (size_t)(p - body), "\"m%zu\":0}", n / 2);
	CU_ASSERT_EQUAL(json_req(body), -1);
	check_problem(400, "malformed-body",
	    bh_psprintf(pool, "m%zu", n / 2));
	free(body);
}

/* The fault bh_json_check and bh_json_parse give, for callers other
 * than request.c (jwt.c). */
static void
test_json_faults(void)
{
	struct bh_json_fault f;
	json_object *obj;

	req_reset();
	CU_ASSERT_EQUAL(bh_json_check(pool, "[1,]", 4, 8, &f), -1);
	CU_ASSERT_EQUAL(f.error, BH_JSON_SYNTAX);
	CU_ASSERT_EQUAL(f.at, 3);
	CU_ASSERT_PTR_NOT_NULL(f.why);
	CU_ASSERT_EQUAL(bh_json_check(pool, "\"\xff\"", 3, 8, &f), -1);
	CU_ASSERT_EQUAL(f.error, BH_JSON_NOT_UTF8);
	CU_ASSERT_EQUAL(bh_json_check(pool, "[[1]]", 5, 1, &f), -1);
	CU_ASSERT_EQUAL(f.error, BH_JSON_TOO_DEEP);
	CU_ASSERT_EQUAL(f.at, 1);
	CU_ASSERT_EQUAL(f.max_depth, 1);
	/* Limits beyond reason are clamped. */
	CU_ASSERT_EQUAL(bh_json_check(pool, "[[1]]", 5, 0, &f), -1);
	CU_ASSERT_EQUAL(f.max_depth, 1);
	CU_ASSERT_EQUAL(bh_json_check(pool, "[1]", 3, 1 << 30, &f), 0);
	CU_ASSERT_EQUAL(f.max_depth, 4096);
	CU_ASSERT_EQUAL(bh_json_check(pool, "{\"k\":1,\"k\":2}", 13, 8, &f),
	    -1);
	CU_ASSERT_EQUAL(f.error, BH_JSON_REPEATED);
	CU_ASSERT_EQUAL(f.at, 7);
	CU_ASSERT(f.name_len == 1 && f.name[0] == 'k');
	CU_ASSERT_EQUAL(bh_json_check(pool, "\"\\u0000\"", 8, 8, &f), -1);
	CU_ASSERT_EQUAL(f.error, BH_JSON_SYNTAX);

	obj = (json_object *)&f;
	CU_ASSERT_EQUAL(bh_json_parse(pool, "{\"a\":[1]}", 9, 8, &obj, &f),
	    0);
	CU_ASSERT(obj != NULL && json_object_is_type(obj, json_type_object));
	CU_ASSERT_EQUAL(bh_json_parse(pool, " null ", 6, 8, &obj, &f), 0);
	CU_ASSERT_PTR_NULL(obj);
	obj = (json_object *)&f;
	CU_ASSERT_EQUAL(bh_json_parse(pool, "{\"a\":1,\"a\":1}", 13, 8, &obj,
	    &f), -1);
	CU_ASSERT_PTR_NULL(obj);
	CU_ASSERT_EQUAL(f.error, BH_JSON_REPEATED);
	/* The tokener grows and shrinks with the limit asked for. */
	CU_ASSERT_EQUAL(bh_json_parse(pool, "[[[[1]]]]", 9, 100, &obj, &f), 0);
	CU_ASSERT_EQUAL(bh_json_parse(pool, "[[[[1]]]]", 9, 4, &obj, &f), 0);
	CU_ASSERT_EQUAL(bh_json_parse(pool, "[[[[1]]]]", 9, 3, &obj, &f), -1);
	CU_ASSERT_EQUAL(f.error, BH_JSON_TOO_DEEP);
}

/* depth nested arrays, or objects {"a":...} when objects, in a static
 * buffer (body_req resets the pool). */
static const char *
nested(int depth, bool objects)
{
	static char buf[1000000];
	size_t n = 0;
	int i;

	for (i = 0; i < depth; i++) {
		memcpy(buf + n, objects ? "{\"a\":" : "[", objects ? 5 : 1);
		n += objects ? 5 : 1;
	}
	buf[n++] = '1';
	for (i = 0; i < depth; i++)
		buf[n++] = objects ? '}' : ']';
	buf[n] = '\0';
	return buf;
}

static int
nested_req(int depth, bool objects)
{
	const char *s = nested(depth, objects);

	return body_req("application/json", s, strlen(s));
}

static void
test_json_depth(void)
{
	const char *detail;

	/* At the limit: fine. */
	CU_ASSERT_EQUAL(nested_req(32, false), 0);
	CU_ASSERT_PTR_NOT_NULL(req.json);
	CU_ASSERT_EQUAL(nested_req(32, true), 0);
	CU_ASSERT_PTR_NOT_NULL(req.json);

	/* One beyond, and far beyond: 400 naming the limit. */
	CU_ASSERT_EQUAL(nested_req(33, false), -1);
	detail = check_problem(400, "malformed-body", NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(detail, "32"));
	CU_ASSERT_PTR_NOT_NULL(strstr(detail, "nest"));
	CU_ASSERT_EQUAL(nested_req(33, true), -1);
	check_problem(400, "malformed-body", NULL);
	CU_ASSERT_EQUAL(nested_req(100000, false), -1);
	check_problem(400, "malformed-body", NULL);

	/* The limit comes from the configuration. */
	bh_cfg.json_max_depth = 3;
	CU_ASSERT_EQUAL(body_req("application/json", "[[[1]]]", 7), 0);
	CU_ASSERT_PTR_NOT_NULL(req.json);
	CU_ASSERT_EQUAL(body_req("application/json", "[[[[1]]]]", 9), -1);
	detail = check_problem(400, "malformed-body", NULL);
	CU_ASSERT_PTR_NOT_NULL(strstr(detail, "3"));
	cfg_defaults();
}

static void
test_json_utf8(void)
{
	const char *bad[] = { "{\"a\":\"\xff\"}", "{\"a\":\"\xc0\xaf\"}",
	    "{\"\xed\xa0\x80\":1}", "[\"\xe2\x82\"]", "\xef\xbb\xbf{}x\xff" };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(json_req(bad[i]), -1);
		CU_ASSERT_PTR_NULL(req.json);
		check_problem(400, "malformed-body", NULL);
	}
	CU_ASSERT_EQUAL(json_req("{\"a\":\"\xf0\x9f\x98\x80\"}"), 0);
	CU_ASSERT_PTR_NOT_NULL(req.json);
}

static void
test_form_body(void)
{
	const char *form = "a=1&b=x+y&a=%C3%A9&empty=&flag";

	CU_ASSERT_EQUAL_FATAL(body_req("application/x-www-form-urlencoded",
	    form, strlen(form)), 0);
	CU_ASSERT_PTR_NULL(req.json);
	CU_ASSERT_EQUAL_FATAL(req.form.n, 5);
	CU_ASSERT_STRING_EQUAL(req.form.items[0].val, "1");
	CU_ASSERT_STRING_EQUAL(req.form.items[1].val, "x y");
	CU_ASSERT_STRING_EQUAL(req.form.items[2].key, "a");
	CU_ASSERT_STRING_EQUAL(req.form.items[2].val, "\xc3\xa9");
	CU_ASSERT_STRING_EQUAL(req.form.items[3].val, "");
	CU_ASSERT_STRING_EQUAL(req.form.items[4].key, "flag");

	CU_ASSERT_EQUAL(body_req("application/x-www-form-urlencoded; "
	    "charset=utf-8", "a=%G1", 5), -1);
	check_problem(400, "malformed-body", NULL);
	CU_ASSERT_EQUAL(req.form.n, 0);
	CU_ASSERT_EQUAL(body_req("application/x-www-form-urlencoded",
	    "a=%00", 5), -1);
	check_problem(400, "malformed-body", NULL);
	CU_ASSERT_EQUAL(body_req("application/x-www-form-urlencoded",
	    "a=1\0b=2", 7), -1);
	check_problem(400, "malformed-body", NULL);
}

static void
test_other_bodies(void)
{
	/* Other types stay raw, for validate.c to refuse with 415 where
	 * the route wants body parameters. */
	CU_ASSERT_EQUAL(body_req("text/plain", "{\"a\":1}", 7), 0);
	CU_ASSERT_PTR_NULL(req.json);
	CU_ASSERT_EQUAL(req.form.n, 0);
	CU_ASSERT_EQUAL(req.body_len, 7);
	CU_ASSERT_EQUAL(req.status, 0);
	CU_ASSERT_EQUAL(body_req("application/jsonx", "{", 1), 0);
	CU_ASSERT_PTR_NULL(req.json);
	CU_ASSERT_EQUAL(body_req(NULL, "{", 1), 0);
	CU_ASSERT_PTR_NULL(req.json);
	/* No body at all. */
	req_reset();
	CU_ASSERT_EQUAL_FATAL(from_env("CONTENT_TYPE=application/json",
	    NULL), 0);
	CU_ASSERT_EQUAL(bh_request_parse_body(&req), 0);
	CU_ASSERT_PTR_NULL(req.json);
}

/* ----------------------------------------------------------------- fuzz */

static uint64_t fuzz_state = 0x853c49e6748fea9bull;

static uint32_t
fuzz_next(void)
{
	fuzz_state = fuzz_state * 6364136223846793005ull +
	    1442695040888963407ull;
	return (uint32_t)(fuzz_state >> 33);
}

/* Random bytes biased toward what the parsers care about. */
static void
fuzz_fill(char *buf, size_t n, const char *alphabet)
{
	size_t i, alen = strlen(alphabet);

	for (i = 0; i < n; i++)
		buf[i] = fuzz_next() % 4 == 0 ? (char)(fuzz_next() % 255 + 1) :
		    alphabet[fuzz_next() % alen];
	buf[n] = '\0';
}

/* Hostile params and bodies never crash (ASan/UBSan watch), and end in
 * success or a 4xx problem, never anything else. */
static void
test_fuzz(void)
{
	char uri[200], query[200], cookie[200], clen[40], body[300];
	char env_uri[220], env_query[220], env_cookie[220], env_cl[60];
	static const char *types[] = { "application/json",
	    "application/x-www-form-urlencoded", "text/plain" };
	const char *json_seed = "{\"a\":[1,-2.5e3,\"x\\u00e9\",true,null],\"b\":{}}";
	int round, rc, bad = 0;
	size_t n;

	for (round = 0; round < 20000; round++) {
		fuzz_fill(uri, fuzz_next() % 60, "/search%2F0aGz?&=+.");
		fuzz_fill(query, fuzz_next() % 60, "ab=&+%0F9c");
		fuzz_fill(cookie, fuzz_next() % 60, "a=b; \t\"");
		if (fuzz_next() % 2)
			fuzz_fill(clen, fuzz_next() % 22, "0123456789");
		else
			fuzz_fill(clen, fuzz_next() % 5, "0123456789-+ x");
		snprintf(env_uri, sizeof(env_uri), "REQUEST_URI=%s", uri);
		snprintf(env_query, sizeof(env_query), "QUERY_STRING=%s",
		    query);
		snprintf(env_cookie, sizeof(env_cookie), "HTTP_COOKIE=%s",
		    cookie);
		snprintf(env_cl, sizeof(env_cl), "CONTENT_LENGTH=%s", clen);
		rc = from_env("REQUEST_METHOD=POST", env_uri, env_query,
		    env_cookie, env_cl, NULL);
		if (rc == 0 ? req.status != 0 :
		    req.status < 400 || req.status > 499)
			bad++;

		/* Bodies: mutations of a valid JSON document, or noise. */
		n = strlen(json_seed);
		memcpy(body, json_seed, n + 1);
		if (round % 3 == 0)
			fuzz_fill(body, fuzz_next() % 80, "{}[]\",:0-1e.tnul\\ ");
		else {
			int k, edits = 1 + (int)(fuzz_next() % 3);

			for (k = 0; k < edits && n > 0; k++)
				body[fuzz_next() % n] = "{}[]\",:0-.e\\u\x01\xff"
				    [fuzz_next() % 16];
		}
		rc = body_req(types[fuzz_next() % 3], body, strlen(body));
		if (rc == 0 ? req.status != 0 :
		    req.status < 400 || req.status > 499)
			bad++;
	}
	CU_ASSERT_EQUAL(bad, 0);
}

/* ------------------------------------------------------------------ log */

/* Runs fn with stderr captured; returns what was written (pool). */
static char *
capture_stderr(void (*fn)(void))
{
	char path[] = "/tmp/bh-test-log-XXXXXX";
	int fd, saved;
	bh_buf out;
	char chunk[4096];
	ssize_t n;

	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	unlink(path);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	bh_buf_init(&out, pool);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		bh_buf_append(&out, chunk, (size_t)n);
	close(fd);
	return out.data;
}

static void
json_put(void *obj)
{
	json_object_put(obj);
}

/* Parses the single line in s (which must end with '\n'). */
static json_object *
one_line(const char *s)
{
	json_object *o;
	const char *nl = strchr(s, '\n');

	CU_ASSERT_PTR_NOT_NULL(nl);
	if (nl == NULL)
		return NULL;
	CU_ASSERT(nl[1] == '\0');
	o = json_tokener_parse(s);
	CU_ASSERT_PTR_NOT_NULL(o);
	if (o != NULL)
		bh_pool_defer(pool, json_put, o);
	return o;
}

static const char *
field(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_get_string(v);
}

static void
log_escapes(void)
{
	bh_log(BH_LOG_ERROR, "ctl[\x01\x1f] q[\"] bs[\\] nl[\n] tab[\t] "
	    "bad[\xff\xc3] ok[\xc3\xa9] %s", "end");
}

static void
log_with_id(void)
{
	bh_log_request_id = "rid-7";
	bh_log(BH_LOG_WARN, "hello");
	bh_log_request_id = NULL;
}

static void
log_filtered(void)
{
	bh_log(BH_LOG_DEBUG, "not shown");
	bh_log(BH_LOG_INFO, "not shown");
}

static void
log_long(void)
{
	char *msg = bh_palloc(pool, 100001);

	memset(msg, 'x', 100000);
	bh_log(BH_LOG_ERROR, "%s", msg);
	/* Every byte escaped six-fold. */
	memset(msg, '\x01', 100000);
	bh_log(BH_LOG_ERROR, "%s", msg);
	/* A multi-byte sequence cut by the limit. */
	memset(msg, 0, 100001);
	for (size_t i = 0; i + 3 <= 99999; i += 3)
		memcpy(msg + i, "\xe2\x82\xac", 3);
	bh_log(BH_LOG_ERROR, "%s", msg);
}

static void
log_access(void)
{
	bh_log_access(&req, 1234);
}

static void
test_log_line(void)
{
	json_object *o;
	const char *t;
	char *out;

	req_reset();
	cfg_defaults();
	bh_cfg.log_level = BH_LOG_INFO;
	out = capture_stderr(log_escapes);
	o = one_line(out);
	CU_ASSERT_STRING_EQUAL(field(o, "level"), "error");
	CU_ASSERT_STRING_EQUAL(field(o, "service"), "search");
	CU_ASSERT_PTR_NULL(field(o, "request_id"));
	CU_ASSERT_STRING_EQUAL(field(o, "msg"), "ctl[\x01\x1f] q[\"] bs[\\] "
	    "nl[\n] tab[\t] bad[\xef\xbf\xbd\xef\xbf\xbd] ok[\xc3\xa9] end");
	/* Control bytes are escaped in the raw line. */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ctl[\\u0001\\u001f]"));
	t = field(o, "time");
	CU_ASSERT(t != NULL && strlen(t) == 24 && t[4] == '-' &&
	    t[10] == 'T' && t[19] == '.' && t[23] == 'Z');

	o = one_line(capture_stderr(log_with_id));
	CU_ASSERT_STRING_EQUAL(field(o, "level"), "warn");
	CU_ASSERT_STRING_EQUAL(field(o, "request_id"), "rid-7");
	CU_ASSERT_STRING_EQUAL(field(o, "msg"), "hello");

	bh_cfg.log_level = BH_LOG_WARN;
	CU_ASSERT_STRING_EQUAL(capture_stderr(log_filtered), "");
	cfg_defaults();
}

static void
test_log_long(void)
{
	char *out, *line, *nl;
	json_object *o;
	int lines = 0;

	req_reset();
	out = capture_stderr(log_long);
	for (line = out; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		*nl = '\0';
		lines++;
		CU_ASSERT(strlen(line) < 8192);
		o = json_tokener_parse(line);
		CU_ASSERT_PTR_NOT_NULL(o);
		if (o == NULL)
			continue;
		CU_ASSERT(json_object_object_get_ex(o, "truncated", NULL));
		CU_ASSERT(bh_utf8_valid(field(o, "msg"),
		    strlen(field(o, "msg"))));
		json_object_put(o);
	}
	CU_ASSERT_EQUAL(lines, 3);
	CU_ASSERT(*line == '\0');
}

static void
test_log_access(void)
{
	json_object *o, *v;
	char *out;

	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_METHOD=GET",
	    "REQUEST_URI=/search/hotels?token=s3cret",
	    "QUERY_STRING=token=s3cret", "REMOTE_ADDR=203.0.113.9",
	    "HTTP_X_REQUEST_ID=acc-1", NULL), 0);
	req.status = 200;
	req.start_us = bh_now_us();
	bh_cfg.log_level = BH_LOG_INFO;
	out = capture_stderr(log_access);
	CU_ASSERT_PTR_NULL(strstr(out, "s3cret"));
	o = one_line(out);
	CU_ASSERT_STRING_EQUAL(field(o, "level"), "info");
	CU_ASSERT_STRING_EQUAL(field(o, "service"), "search");
	CU_ASSERT_STRING_EQUAL(field(o, "request_id"), "acc-1");
	CU_ASSERT_STRING_EQUAL(field(o, "method"), "GET");
	CU_ASSERT_STRING_EQUAL(field(o, "path"), "/search/hotels");
	CU_ASSERT_STRING_EQUAL(field(o, "remote_addr"), "203.0.113.9");
	CU_ASSERT(o != NULL && json_object_object_get_ex(o, "status", &v) &&
	    json_object_get_int(v) == 200);
	CU_ASSERT(o != NULL && json_object_object_get_ex(o, "bytes", &v) &&
	    json_object_get_int(v) == 1234);
	CU_ASSERT(o != NULL &&
	    json_object_object_get_ex(o, "duration_us", &v) &&
	    json_object_get_int64(v) >= 0 &&
	    json_object_get_int64(v) < 10000000);

	/* A request refused before its path was known still logs. */
	CU_ASSERT_EQUAL(from_env("REQUEST_METHOD=\x01\xff",
	    "REQUEST_URI=/search/%FF", NULL), -1);
	req.start_us = bh_now_us();
	bh_cfg.log_level = BH_LOG_INFO;
	o = one_line(capture_stderr(log_access));
	CU_ASSERT(o != NULL && json_object_object_get_ex(o, "status", &v) &&
	    json_object_get_int(v) == 400);
	CU_ASSERT_STRING_EQUAL(field(o, "method"), "\x01\xef\xbf\xbd");

	bh_cfg.log_level = BH_LOG_WARN;
	CU_ASSERT_STRING_EQUAL(capture_stderr(log_access), "");
	cfg_defaults();
}

static void
test_now_us(void)
{
	uint64_t a = bh_now_us(), b;

	usleep(2000);
	b = bh_now_us();
	CU_ASSERT(b >= a + 1500 && b < a + 2000000);
}

static const CU_TestInfo decode_tests[] = {
	{ "url_decode good", test_url_decode_good },
	{ "url_decode bad", test_url_decode_bad },
	{ "parse_urlencoded", test_parse_urlencoded },
	{ "utf8_valid", test_utf8_valid },
	CU_TEST_INFO_NULL,
};

static const CU_TestInfo env_tests[] = {
	{ "basic request", test_basic_request },
	{ "methods", test_methods },
	{ "path percent-encoding", test_path_encoding },
	{ "bad path: escapes, UTF-8", test_path_bad },
	{ "query: repeats, empty, bad", test_query },
	{ "base path stripping", test_base_path },
	{ "SCRIPT_NAME+PATH_INFO fallback", test_path_fallback },
	{ "Content-Length", test_content_length },
	{ "headers", test_headers },
	{ "content type", test_content_type },
	{ "cookies", test_cookies },
	{ "request id", test_request_id },
	{ "problem carries the request id", test_problem_carries_id },
	CU_TEST_INFO_NULL,
};

/* ---------------------------------------------------------- idempotency */

/* A request to /search/x with the Idempotency-Key header line hdr
 * ("HTTP_IDEMPOTENCY_KEY=..." or NULL for none). */
static void
key_req(const char *hdr)
{
	CU_ASSERT_EQUAL_FATAL(from_env("REQUEST_METHOD=POST",
	    "REQUEST_URI=/search/x", hdr != NULL ? hdr : "HTTP_X_NONE=1",
	    NULL), 0);
}

static void
test_idempotency_key(void)
{
	static const char *const bad[] = {
		"HTTP_IDEMPOTENCY_KEY=",
		"HTTP_IDEMPOTENCY_KEY=cl\xc3\xa9",
		"HTTP_IDEMPOTENCY_KEY=a\tb",
		"HTTP_IDEMPOTENCY_KEY=a\x7f",
		"HTTP_IDEMPOTENCY_KEY=a\x01",
		"HTTP_IDEMPOTENCY_KEY=\xff",
	};
	char line[400];
	const char *detail;
	size_t i;

	/* Absent: NULL, and a response only when it is required. */
	key_req(NULL);
	CU_ASSERT_PTR_NULL(bh_idempotency_key(&req, false));
	CU_ASSERT_EQUAL(req.status, 0);
	CU_ASSERT_PTR_NULL(bh_idempotency_key(&req, true));
	detail = check_problem(400, "invalid-parameter", "Idempotency-Key");
	CU_ASSERT_STRING_EQUAL(detail,
	    "the Idempotency-Key header is required");

	key_req("HTTP_IDEMPOTENCY_KEY=reservation-6f1c-1");
	CU_ASSERT_STRING_EQUAL(bh_idempotency_key(&req, true),
	    "reservation-6f1c-1");
	CU_ASSERT_STRING_EQUAL(bh_idempotency_key(&req, false),
	    "reservation-6f1c-1");
	CU_ASSERT_EQUAL(req.status, 0);
	/* Any printable ASCII, spaces inside included. */
	key_req("HTTP_IDEMPOTENCY_KEY=a b~!\"{}");
	CU_ASSERT_STRING_EQUAL(bh_idempotency_key(&req, true), "a b~!\"{}");

	/* 255 characters pass, 256 do not. */
	snprintf(line, sizeof(line), "HTTP_IDEMPOTENCY_KEY=%0255d", 7);
	key_req(line);
	CU_ASSERT_EQUAL(strlen(bh_idempotency_key(&req, true)), 255);
	snprintf(line, sizeof(line), "HTTP_IDEMPOTENCY_KEY=%0256d", 7);
	key_req(line);
	CU_ASSERT_PTR_NULL(bh_idempotency_key(&req, false));
	detail = check_problem(400, "invalid-parameter", "Idempotency-Key");
	CU_ASSERT_STRING_EQUAL(detail, "the Idempotency-Key header must be "
	    "1 to 255 printable ASCII characters");

	/* Malformed is refused even where a key is optional. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		key_req(bad[i]);
		CU_ASSERT_PTR_NULL(bh_idempotency_key(&req, false));
		check_problem(400, "invalid-parameter", "Idempotency-Key");
	}
}

/* The fingerprint of a request with method, uri, and a body, in one of
 * a few static buffers (each request resets the pool). */
static const char *
fingerprint(const char *method, const char *uri, const char *body,
    size_t len)
{
	static char prints[4][BH_SHA256_HEX_LEN + 1];
	static size_t next;
	char m[64], u[256], *out = prints[next++ % 4];

	snprintf(m, sizeof(m), "REQUEST_METHOD=%s", method);
	snprintf(u, sizeof(u), "REQUEST_URI=%s", uri);
	CU_ASSERT_EQUAL_FATAL(from_env(m, u, NULL), 0);
	if (body != NULL) {
		req.body = bh_pstrndup(pool, body, len);
		req.body_len = len;
	}
	snprintf(out, BH_SHA256_HEX_LEN + 1, "%s",
	    bh_request_fingerprint(&req));
	return out;
}

static void
test_fingerprint(void)
{
	char a[BH_SHA256_HEX_LEN + 1];
	const char *b;
	size_t i;

	snprintf(a, sizeof(a), "%s", fingerprint("POST", "/search/x",
	    "{\"a\":1}", 7));
	CU_ASSERT_EQUAL(strlen(a), 64);
	for (i = 0; i < 64; i++)
		CU_ASSERT(strchr("0123456789abcdef", a[i]) != NULL);
	/* The same request, the same print; the query does not count. */
	b = fingerprint("POST", "/search/x?z=1", "{\"a\":1}", 7);
	CU_ASSERT_STRING_EQUAL(a, b);
	/* SHA-256 of "POST\0/search/x\0{"a":1}". */
	CU_ASSERT_STRING_EQUAL(a, bh_sha256_hex(pool,
	    "POST\0/search/x\0{\"a\":1}", 22));

	/* Any part changed changes it, and parts cannot trade bytes. */
	CU_ASSERT_STRING_NOT_EQUAL(a, fingerprint("PUT", "/search/x",
	    "{\"a\":1}", 7));
	CU_ASSERT_STRING_NOT_EQUAL(a, fingerprint("POST", "/search/y",
	    "{\"a\":1}", 7));
	CU_ASSERT_STRING_NOT_EQUAL(a, fingerprint("POST", "/search/x",
	    "{\"a\":2}", 7));
	CU_ASSERT_STRING_NOT_EQUAL(a, fingerprint("POST", "/search/x",
	    "{\"a\":1} ", 8));
	CU_ASSERT_STRING_NOT_EQUAL(
	    fingerprint("POST", "/search/x", "ab", 2),
	    fingerprint("POST", "/search/xa", "b", 1));
	/* A body with a NUL byte is hashed whole. */
	CU_ASSERT_STRING_NOT_EQUAL(fingerprint("POST", "/search/x", "a\0b", 3),
	    fingerprint("POST", "/search/x", "a\0c", 3));
	/* No body and an empty body are the same request. */
	CU_ASSERT_STRING_EQUAL(fingerprint("POST", "/search/x", NULL, 0),
	    fingerprint("POST", "/search/x", "", 0));
}

/* With a client secret the print is an HMAC keyed with it (a body may
 * hold a card number: a bare hash could be reversed by trying them). */
static void
test_fingerprint_keyed(void)
{
	const char *saved = bh_cfg.client_secret;
	char plain[BH_SHA256_HEX_LEN + 1], keyed[BH_SHA256_HEX_LEN + 1];
	char long_key[101];

	snprintf(plain, sizeof(plain), "%s", fingerprint("POST", "/search/x",
	    "{\"a\":1}", 7));
	bh_cfg.client_secret = "s3cret";
	snprintf(keyed, sizeof(keyed), "%s", fingerprint("POST", "/search/x",
	    "{\"a\":1}", 7));
	/* HMAC-SHA-256("s3cret", "bellhop request fingerprint\0POST\0"
	 * "/search/x\0{"a":1}"), as Python's hmac module computes it. */
	CU_ASSERT_STRING_EQUAL(keyed, "f339cf36fbe760913a7d2e7f6d1dbc31"
	    "cf110b3bb6712a0388c3864265f97df1");
	CU_ASSERT_STRING_NOT_EQUAL(keyed, plain);
	/* Stable for one key; another key, another print. */
	CU_ASSERT_STRING_EQUAL(keyed, fingerprint("POST", "/search/x",
	    "{\"a\":1}", 7));
	CU_ASSERT_STRING_NOT_EQUAL(keyed, fingerprint("POST", "/search/x",
	    "{\"a\":2}", 7));
	bh_cfg.client_secret = "s3creT";
	CU_ASSERT_STRING_NOT_EQUAL(keyed, fingerprint("POST", "/search/x",
	    "{\"a\":1}", 7));
	/* A key longer than SHA-256's block is hashed first. */
	memset(long_key, 'k', 100);
	long_key[100] = '\0';
	bh_cfg.client_secret = long_key;
	CU_ASSERT_STRING_EQUAL(fingerprint("POST", "/search/x", "{\"a\":1}",
	    7), "2168ebf94fe4f0dc2973eba049d1f7f6"
	    "1929f9102a1344551be7d05088e48363");
	/* An empty secret is none. */
	bh_cfg.client_secret = "";
	CU_ASSERT_STRING_EQUAL(fingerprint("POST", "/search/x", "{\"a\":1}",
	    7), plain);
	bh_cfg.client_secret = saved;
}

static const CU_TestInfo idempotency_tests[] = {
	{ "Idempotency-Key", test_idempotency_key },
	{ "request fingerprint", test_fingerprint },
	{ "keyed fingerprint", test_fingerprint_keyed },
	CU_TEST_INFO_NULL,
};

static const CU_TestInfo body_tests[] = {
	{ "JSON ok", test_json_ok },
	{ "JSON malformed", test_json_malformed },
	{ "JSON valid edge cases", test_json_valid_edges },
	{ "JSON trailing garbage", test_json_trailing },
	{ "JSON nesting limit", test_json_depth },
	{ "JSON member names given twice", test_json_repeated },
	{ "JSON names: fine, long, many", test_json_repeated_edges },
	{ "bh_json_check faults", test_json_faults },
	{ "JSON invalid UTF-8", test_json_utf8 },
	{ "form body", test_form_body },
	{ "other bodies stay raw", test_other_bodies },
	{ "hostile params and bodies", test_fuzz },
	CU_TEST_INFO_NULL,
};

static const CU_TestInfo log_tests[] = {
	{ "log line escaping and levels", test_log_line },
	{ "long log lines", test_log_long },
	{ "access line", test_log_access },
	{ "bh_now_us", test_now_us },
	CU_TEST_INFO_NULL,
};

static void
free_pool(void)
{
	bh_pool_free(pool);
	pool = NULL;
}

int
bh_test_register(void)
{
	int rc;

	atexit(free_pool);
	cfg_defaults();
	if ((rc = bh_test_add_suite("decode", decode_tests)) != CUE_SUCCESS ||
	    (rc = bh_test_add_suite("from_env", env_tests)) != CUE_SUCCESS ||
	    (rc = bh_test_add_suite("body", body_tests)) != CUE_SUCCESS ||
	    (rc = bh_test_add_suite("idempotency", idempotency_tests)) !=
	    CUE_SUCCESS)
		return rc;
	return bh_test_add_suite("log", log_tests);
}
