/*
 * test_authz.c - authz.c: the Authorization header, token checks, scopes,
 * and the JWKS cache (max-age, refetch for an unknown kid at most once
 * per cooldown, old keys kept when a fetch fails, 503 without keys).
 *
 * No HTTP: the JWKS "fetch" is a function of this file counting its
 * calls, and the clock is set by hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "runner.h"

#define NOW 1700000000
#define ISSUER "http://127.0.0.1:8080/auth"

static bh_pool *pool;

/* Two signing keys: k1 is published from the start, k2 after a
 * "rotation". */
static unsigned char seed1[32], pub1[32], seed2[32], pub2[32];

/* What the fake JWKS endpoint answers. */
static struct {
	int calls;
	int rc;                  /* -1: no answer */
	long status;
	const char *body;        /* NULL: the document of `keys` */
	bool with_k1, with_k2;
	bool k1_other_key;       /* publish kid k1 with k2's public key */
	const char *cache_control;
} jwks_endpoint;

static char jwks_doc[1024];

static void
free_pool(void)
{
	if (pool != NULL)
		bh_pool_free(pool);
	pool = NULL;
	bh_authz_set_keys(NULL);
}

/* The JWKS document for the keys the endpoint publishes. */
static const char *
published_jwks(void)
{
	json_object *doc = json_object_new_object(), *keys;
	bh_jwk k;

	keys = json_object_new_array();
	if (jwks_endpoint.with_k1) {
		memset(&k, 0, sizeof(k));
		strcpy(k.kid, "k1");
		memcpy(k.pub, jwks_endpoint.k1_other_key ? pub2 : pub1, 32);
		json_object_array_add(keys, bh_jwk_to_json(&k));
	}
	if (jwks_endpoint.with_k2) {
		memset(&k, 0, sizeof(k));
		strcpy(k.kid, "k2");
		memcpy(k.pub, pub2, 32);
		json_object_array_add(keys, bh_jwk_to_json(&k));
	}
	json_object_object_add(doc, "keys", keys);
	snprintf(jwks_doc, sizeof(jwks_doc), "%s",
	    json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN));
	json_object_put(doc);
	return jwks_doc;
}

static int
fake_fetch(bh_pool *p, const bh_http_call *call, bh_http_response *resp)
{
	jwks_endpoint.calls++;
	CU_ASSERT_STRING_EQUAL(call->upstream, "auth");
	CU_ASSERT_STRING_EQUAL(call->url, bh_cfg.jwks_url);
	memset(resp, 0, sizeof(*resp));
	if (jwks_endpoint.rc == -1) {
		resp->error = "connection refused";
		return -1;
	}
	resp->status = jwks_endpoint.status;
	resp->body = bh_pstrdup(p, jwks_endpoint.body != NULL ?
	    jwks_endpoint.body : published_jwks());
	resp->len = strlen(resp->body);
	resp->content_type = "application/json";
	resp->cache_control = jwks_endpoint.cache_control;
	return 0;
}

/* A fresh configuration, an empty cache, the endpoint publishing k1. */
static void
reset(void)
{
	const char *err;

	unsetenv("BH_PUBLIC_URL");
	unsetenv("BH_AUTH_ISSUER");
	unsetenv("BH_AUDIENCE");
	unsetenv("BH_JWKS_COOLDOWN");
	unsetenv("BH_TOKEN_LEEWAY");
	CU_ASSERT_EQUAL_FATAL(bh_config_load("search", &err), 0);
	/* The failed fetches below are expected: keep their warnings out. */
	bh_cfg.log_level = BH_LOG_ERROR;
	bh_authz_set_keys(NULL);
	bh_authz_set_now(NOW);
	bh_authz_set_fetch(fake_fetch);
	memset(&jwks_endpoint, 0, sizeof(jwks_endpoint));
	jwks_endpoint.status = 200;
	jwks_endpoint.with_k1 = true;
	if (pool == NULL)
		pool = bh_pool_new();
	else
		bh_pool_reset(pool);
}

/* A token signed with kid's key; aud "search", scope as given (NULL: no
 * scope claim), issued now and valid 600 s. */
static const char *
token_jti(const char *kid, const char *scope, const char *aud,
    const char *iss, int64_t iat, int64_t exp, const char *jti)
{
	json_object *claims = json_object_new_object();
	const char *tok;

	json_object_object_add(claims, "iss", json_object_new_string(iss));
	json_object_object_add(claims, "aud", json_object_new_string(aud));
	json_object_object_add(claims, "sub", json_object_new_string("u-42"));
	json_object_object_add(claims, "client_id",
	    json_object_new_string("booking-site"));
	json_object_object_add(claims, "jti", json_object_new_string(jti));
	json_object_object_add(claims, "iat", json_object_new_int64(iat));
	json_object_object_add(claims, "exp", json_object_new_int64(exp));
	if (scope != NULL)
		json_object_object_add(claims, "scope",
		    json_object_new_string(scope));
	tok = bh_jwt_sign(pool, kid, strcmp(kid, "k2") == 0 ? seed2 : seed1,
	    claims);
	json_object_put(claims);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tok);
	return tok;
}

static const char *
token_ext(const char *kid, const char *scope, const char *aud,
    const char *iss, int64_t iat, int64_t exp)
{
	return token_jti(kid, scope, aud, iss, iat, exp, "j-1");
}

static const char *
token(const char *kid, const char *scope)
{
	return token_ext(kid, scope, "search", ISSUER, NOW, NOW + 600);
}

/* A request carrying Authorization: header (none when NULL). */
static bh_request *
request(const char *header)
{
	bh_request *req = bh_palloc(pool, sizeof(*req));

	req->pool = pool;
	req->method = BH_GET;
	req->method_name = "GET";
	req->path = req->full_path = "/x";
	req->query = "";
	req->request_id = "rid-authz";
	req->content_length = -1;
	if (header != NULL) {
		req->headers.items = bh_palloc(pool, sizeof(bh_kv));
		req->headers.items[0].key = "authorization";
		req->headers.items[0].val = header;
		req->headers.items[0].len = strlen(header);
		req->headers.n = 1;
	}
	return req;
}

static const char *
bearer(const char *tok)
{
	return bh_psprintf(pool, "Bearer %s", tok);
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

/* The response is the problem status/slug (and says so on stderr when
 * not, CUnit naming only the caller's line). */
static bool
is_problem(const bh_request *req, int status, const char *slug)
{
	json_object *body, *type;
	char want[128];
	bool ok;

	snprintf(want, sizeof(want), "urn:bellhop:problem:%s", slug);
	body = json_tokener_parse(req->resp_body.data != NULL ?
	    req->resp_body.data : "");
	ok = req->status == status && req->resp_type != NULL &&
	    strcmp(req->resp_type, "application/problem+json") == 0 &&
	    body != NULL && json_object_object_get_ex(body, "type", &type) &&
	    strcmp(json_object_get_string(type), want) == 0;
	if (!ok)
		fprintf(stderr, "\n  want %d %s, got %d %s\n", status, slug,
		    req->status, req->resp_body.data != NULL ?
		    req->resp_body.data : "(no body)");
	json_object_put(body);
	return ok;
}

/* bh_authorize on a fresh request with header; returns the request. */
static bh_request *
authorize(const char *header, const char *scopes, int want_rc)
{
	bh_request *req = request(header);
	int rc = bh_authorize(req, NULL, scopes);

	CU_ASSERT_EQUAL(rc, want_rc);
	if (rc != want_rc)
		fprintf(stderr, "\n  Authorization: %.40s...: rc %d, status "
		    "%d %s\n", header != NULL ? header : "(none)", rc,
		    req->status, req->resp_body.data != NULL ?
		    req->resp_body.data : "");
	if (rc == 0) {
		CU_ASSERT_PTR_NOT_NULL(req->token);
	} else {
		CU_ASSERT_PTR_NULL(req->token);
	}
	return req;
}

static const char *const no_error = "Bearer realm=\"bellhop\"";

/* 401, with error="invalid_token" when a token was sent, never echoing
 * the credentials. */
static void
expect_401(const char *header, bool invalid_token)
{
	bh_request *req = authorize(header, NULL, -1);
	const char *www = resp_header(req, "WWW-Authenticate");

	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(www);
	if (invalid_token) {
		CU_ASSERT_EQUAL(strncmp(www, "Bearer realm=\"bellhop\", "
		    "error=\"invalid_token\", error_description=\"", 63), 0);
	} else {
		CU_ASSERT_STRING_EQUAL(www, no_error);
	}
	if (header != NULL && strlen(header) > 12) {
		CU_ASSERT_PTR_NULL(strstr(req->resp_body.data, header + 7));
		CU_ASSERT_PTR_NULL(strstr(www, header + 7));
	}
}

static void
test_bearer_parsing(void)
{
	const char *t;
	bh_request *req;

	reset();
	t = token("k1", "profile");
	authorize(bearer(t), NULL, 0);
	authorize(bh_psprintf(pool, "bearer %s", t), NULL, 0);
	authorize(bh_psprintf(pool, "BEARER    %s", t), NULL, 0);
	authorize(bh_psprintf(pool, "bEaReR %s", t), NULL, 0);

	/* No credentials of ours: no error attribute. */
	expect_401(NULL, false);
	expect_401("Basic dXNlcjpwYXNz", false);
	expect_401(bh_psprintf(pool, "Bearerx %s", t), false);
	expect_401(bh_psprintf(pool, " Bearer %s", t), false);
	expect_401("", false);

	/* A Bearer credential that is not one token68. */
	expect_401("Bearer", true);
	expect_401("Bearer ", true);
	expect_401("Bearer    ", true);
	expect_401(bh_psprintf(pool, "Bearer\t%s", t), true);
	expect_401(bh_psprintf(pool, "Bearer %s ", t), true);
	expect_401(bh_psprintf(pool, "Bearer %s extra", t), true);
	expect_401(bh_psprintf(pool, "Bearer %s,", t), true);
	expect_401(bh_psprintf(pool, "Bearer %s, Bearer %s", t, t), true);
	expect_401("Bearer a=b", true);
	expect_401("Bearer \"quoted\"", true);
	expect_401("Bearer abc\xc3\xa9", true);
	/* token68 with padding parses; it is no JWT. */
	expect_401("Bearer abc==", true);
	req = authorize("Bearer abc==", NULL, -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp_header(req, "WWW-Authenticate"),
	    "malformed"));
	/* A signature byte changed. */
	t = token("k1", NULL);
	expect_401(bh_psprintf(pool, "Bearer %.*s%c", (int)strlen(t) - 1, t,
	    t[strlen(t) - 1] == 'A' ? 'B' : 'A'), true);
	/* Too long to be read. */
	expect_401(bh_psprintf(pool, "Bearer %0*d", BH_JWT_MAX_LEN + 10, 0),
	    true);
}

static void
test_token_filled(void)
{
	bh_request *req;

	reset();
	req = authorize(bearer(token("k1", "profile users:verify")), NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(req->token);
	CU_ASSERT_STRING_EQUAL(req->token->sub, "u-42");
	CU_ASSERT_STRING_EQUAL(req->token->client_id, "booking-site");
	CU_ASSERT_STRING_EQUAL(req->token->jti, "j-1");
	CU_ASSERT_STRING_EQUAL(req->token->scope, "profile users:verify");
	CU_ASSERT_EQUAL(req->token->iat, NOW);
	CU_ASSERT_EQUAL(req->token->exp, NOW + 600);
	CU_ASSERT_PTR_NOT_NULL(req->token->claims);
	CU_ASSERT_EQUAL(req->status, 0);

	/* No scope claim: "" (and no scope needed). */
	req = authorize(bearer(token("k1", NULL)), NULL, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(req->token);
	CU_ASSERT_STRING_EQUAL(req->token->scope, "");
	CU_ASSERT_FALSE(bh_token_has_scope(req->token, "profile"));
}

static void
test_claims_checked(void)
{
	bh_request *req;

	reset();
	/* Expired, within and beyond the 30 s leeway. */
	authorize(bearer(token_ext("k1", NULL, "search", ISSUER, NOW - 700,
	    NOW - 29)), NULL, 0);
	req = authorize(bearer(token_ext("k1", NULL, "search", ISSUER,
	    NOW - 700, NOW - 30)), NULL, -1);
	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized"));
	CU_ASSERT_PTR_NOT_NULL(strstr(resp_header(req, "WWW-Authenticate"),
	    "expired"));
	/* Another service's token. */
	req = authorize(bearer(token_ext("k1", NULL, "users", ISSUER, NOW,
	    NOW + 600)), NULL, -1);
	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized"));
	/* ...which that audience accepts. */
	req = request(bearer(token_ext("k1", NULL, "users", ISSUER, NOW,
	    NOW + 600)));
	CU_ASSERT_EQUAL(bh_authorize(req, "users", NULL), 0);
	/* Another issuer. */
	req = authorize(bearer(token_ext("k1", NULL, "search",
	    "http://evil.example/auth", NOW, NOW + 600)), NULL, -1);
	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized"));
	/* The configured audience is the default. */
	bh_cfg.audience = "search-api";
	authorize(bearer(token("k1", NULL)), NULL, -1);
	authorize(bearer(token_ext("k1", NULL, "search-api", ISSUER, NOW,
	    NOW + 600)), NULL, 0);
}

static void
test_scope_matching(void)
{
	bh_token tok = { .scope = "catalog:writer  profile   x" };
	bh_request *req;

	CU_ASSERT_FALSE(bh_token_has_scope(&tok, "catalog:write"));
	CU_ASSERT_TRUE(bh_token_has_scope(&tok, "catalog:writer"));
	CU_ASSERT_TRUE(bh_token_has_scope(&tok, "profile"));
	CU_ASSERT_TRUE(bh_token_has_scope(&tok, "x"));
	CU_ASSERT_FALSE(bh_token_has_scope(&tok, "catalog"));
	CU_ASSERT_FALSE(bh_token_has_scope(&tok, "profile x"));
	CU_ASSERT_FALSE(bh_token_has_scope(&tok, ""));
	CU_ASSERT_FALSE(bh_token_has_scope(&tok, " "));
	CU_ASSERT_FALSE(bh_token_has_scope(&tok, NULL));
	CU_ASSERT_FALSE(bh_token_has_scope(NULL, "x"));
	tok.scope = "";
	CU_ASSERT_FALSE(bh_token_has_scope(&tok, "x"));

	reset();
	/* A longer scope is not the one needed: 403, naming it. */
	req = authorize(bearer(token("k1", "catalog:writer")), "catalog:write",
	    -1);
	CU_ASSERT_TRUE(is_problem(req, 403, "insufficient-scope"));
	CU_ASSERT_STRING_EQUAL(resp_header(req, "WWW-Authenticate"),
	    "Bearer realm=\"bellhop\", error=\"insufficient_scope\", "
	    "scope=\"catalog:write\"");
	CU_ASSERT_PTR_NOT_NULL(strstr(req->resp_body.data, "catalog:write"));
	authorize(bearer(token("k1", "catalog:write")), "catalog:write", 0);
	authorize(bearer(token("k1", "a catalog:write b")), "catalog:write", 0);

	/* Every scope needed, blanks anywhere. */
	req = authorize(bearer(token("k1", "a")), "  a   b ", -1);
	CU_ASSERT_TRUE(is_problem(req, 403, "insufficient-scope"));
	CU_ASSERT_STRING_EQUAL(resp_header(req, "WWW-Authenticate"),
	    "Bearer realm=\"bellhop\", error=\"insufficient_scope\", "
	    "scope=\"a b\"");
	authorize(bearer(token("k1", "b  a")), "  a   b ", 0);
	authorize(bearer(token("k1", NULL)), "", 0);
	authorize(bearer(token("k1", NULL)), "   ", 0);
	req = authorize(bearer(token("k1", NULL)), "profile", -1);
	CU_ASSERT_TRUE(is_problem(req, 403, "insufficient-scope"));
}

static void
test_no_keys_503(void)
{
	bh_request *req;

	reset();
	jwks_endpoint.rc = -1;
	req = authorize(bearer(token("k1", NULL)), NULL, -1);
	CU_ASSERT_TRUE(is_problem(req, 503, "service-unavailable"));
	CU_ASSERT_STRING_EQUAL(resp_header(req, "Retry-After"), "2");
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 1);
	/* Not every request calls auth again: after Retry-After. */
	req = authorize(bearer(token("k1", NULL)), NULL, -1);
	CU_ASSERT_TRUE(is_problem(req, 503, "service-unavailable"));
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 1);
	/* A request without a token is a 401 whatever the keys. */
	req = authorize(NULL, NULL, -1);
	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized"));
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 1);

	bh_authz_set_now(NOW + 2);
	jwks_endpoint.rc = 0;
	jwks_endpoint.status = 503;
	req = authorize(bearer(token("k1", NULL)), NULL, -1);
	CU_ASSERT_TRUE(is_problem(req, 503, "service-unavailable"));
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 2);

	/* Not a JWKS, or one without a usable key: no keys either. */
	bh_authz_set_now(NOW + 4);
	jwks_endpoint.status = 200;
	jwks_endpoint.body = "<html>oops</html>";
	authorize(bearer(token("k1", NULL)), NULL, -1);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 3);
	bh_authz_set_now(NOW + 6);
	jwks_endpoint.body = "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r\","
	    "\"n\":\"AQAB\",\"e\":\"AQAB\"}]}";
	req = authorize(bearer(token("k1", NULL)), NULL, -1);
	CU_ASSERT_TRUE(is_problem(req, 503, "service-unavailable"));
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 4);

	/* Auth is back. */
	bh_authz_set_now(NOW + 8);
	jwks_endpoint.body = NULL;
	authorize(bearer(token("k1", NULL)), NULL, 0);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 5);
}

/* How long the keys are kept for a Cache-Control value: the first
 * request at which a second fetch happens, in seconds after the first. */
static int
kept_for(const char *cache_control)
{
	const char *t;
	int s;

	reset();
	jwks_endpoint.cache_control = cache_control;
	t = token_ext("k1", NULL, "search", ISSUER, NOW, NOW + 7200);
	authorize(bearer(t), NULL, 0);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 1);
	for (s = 1; s <= 4000; s++) {
		bh_authz_set_now(NOW + s);
		if (bh_authorize(request(bearer(t)), NULL, NULL) != 0)
			return -1;
		if (jwks_endpoint.calls > 1)
			return s;
	}
	return 0;
}

static void
test_max_age(void)
{
	CU_ASSERT_EQUAL(kept_for(NULL), 300);
	CU_ASSERT_EQUAL(kept_for("public, max-age=120"), 120);
	CU_ASSERT_EQUAL(kept_for("max-age=600, public"), 600);
	CU_ASSERT_EQUAL(kept_for("Max-Age=90"), 90);
	CU_ASSERT_EQUAL(kept_for("max-age=5"), 60);
	CU_ASSERT_EQUAL(kept_for("max-age=0"), 60);
	CU_ASSERT_EQUAL(kept_for("no-store"), 60);
	CU_ASSERT_EQUAL(kept_for("max-age=999999999999999999999"), 3600);
	CU_ASSERT_EQUAL(kept_for("max-age=abc"), 300);
	CU_ASSERT_EQUAL(kept_for("s-maxage=100"), 300);
}

static void
test_unknown_kid_cooldown(void)
{
	const char *t2;
	bh_request *req;

	reset();
	bh_cfg.jwks_cooldown = 30;
	jwks_endpoint.cache_control = "max-age=3600";
	authorize(bearer(token("k1", NULL)), NULL, 0);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 1);

	/* A token from a key we do not know: one refetch, still unknown. */
	t2 = token_ext("k2", NULL, "search", ISSUER, NOW, NOW + 3600);
	req = authorize(bearer(t2), NULL, -1);
	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized"));
	CU_ASSERT_PTR_NOT_NULL(strstr(resp_header(req, "WWW-Authenticate"),
	    "unknown key"));
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 2);
	/* Within the cooldown: no call, however many such tokens come. */
	authorize(bearer(t2), NULL, -1);
	bh_authz_set_now(NOW + 29);
	authorize(bearer(t2), NULL, -1);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 2);
	/* k1 tokens are unaffected. */
	authorize(bearer(token("k1", NULL)), NULL, 0);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 2);

	/* Auth rotated to k2: found at the next refetch after the cooldown. */
	jwks_endpoint.with_k2 = true;
	authorize(bearer(t2), NULL, -1);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 2);
	bh_authz_set_now(NOW + 30);
	authorize(bearer(t2), NULL, 0);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 3);
	authorize(bearer(t2), NULL, 0);
	authorize(bearer(token("k1", NULL)), NULL, 0);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 3);

	/* A shorter cooldown is honoured. */
	reset();
	t2 = token_ext("k2", NULL, "search", ISSUER, NOW, NOW + 3600);
	bh_cfg.jwks_cooldown = 1;
	authorize(bearer(token("k1", NULL)), NULL, 0);
	authorize(bearer(t2), NULL, -1);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 2);
	bh_authz_set_now(NOW + 1);
	authorize(bearer(t2), NULL, -1);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 3);

	/* A first fetch that lacks the kid is not repeated at once. */
	reset();
	t2 = token_ext("k2", NULL, "search", ISSUER, NOW, NOW + 3600);
	authorize(bearer(t2), NULL, -1);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 1);
}

static void
test_failed_refetch_keeps_keys(void)
{
	const char *t;

	reset();
	bh_cfg.jwks_cooldown = 30;
	jwks_endpoint.cache_control = "max-age=60";
	t = token_ext("k1", NULL, "search", ISSUER, NOW, NOW + 3600);
	authorize(bearer(t), NULL, 0);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 1);

	/* Stale, auth down: the old keys still verify. */
	jwks_endpoint.rc = -1;
	bh_authz_set_now(NOW + 60);
	authorize(bearer(t), NULL, 0);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 2);
	/* ...and auth is asked again only after the cooldown. */
	bh_authz_set_now(NOW + 89);
	authorize(bearer(t), NULL, 0);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 2);
	bh_authz_set_now(NOW + 90);
	jwks_endpoint.rc = 0;
	jwks_endpoint.body = "{\"keys\":[]}";
	authorize(bearer(t), NULL, 0);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 3);
	/* An unknown kid while auth is down: still 401, keys kept. */
	jwks_endpoint.rc = -1;
	bh_authz_set_now(NOW + 200);
	authorize(bearer(token_ext("k2", NULL, "search", ISSUER, NOW,
	    NOW + 3600)), NULL, -1);
	authorize(bearer(t), NULL, 0);
	/* Back: fresh keys for max-age again. */
	bh_authz_set_now(NOW + 300);
	jwks_endpoint.rc = 0;
	jwks_endpoint.body = NULL;
	jwks_endpoint.calls = 0;
	authorize(bearer(t), NULL, 0);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 1);
	bh_authz_set_now(NOW + 359);
	authorize(bearer(t), NULL, 0);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 1);
}

static void
test_pinned_keys(void)
{
	bh_jwk keys[1];
	bh_jwks set = { keys, 1 };

	reset();
	memset(keys, 0, sizeof(keys));
	strcpy(keys[0].kid, "k2");
	memcpy(keys[0].pub, pub2, 32);
	bh_authz_set_keys(&set);
	/* A copy: the caller's array may go. */
	memset(keys, 0, sizeof(keys));
	authorize(bearer(token("k2", NULL)), NULL, 0);
	authorize(bearer(token("k1", NULL)), NULL, -1);
	bh_authz_set_now(NOW + 100000);
	authorize(bearer(token_ext("k2", NULL, "search", ISSUER, NOW + 100000,
	    NOW + 100600)), NULL, 0);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 0);
}

/* ------------------------------------------------ the verified-token cache */

static unsigned long cache_hits, cache_misses;
static size_t cache_entries;

static void
read_cache(void)
{
	bh_authz_token_cache_stats(&cache_hits, &cache_misses, &cache_entries);
}

/* bh_authorize on a fresh request; *hit tells whether the cache served
 * it (a hit counted, no full verification). */
static bh_request *
authorize_hit(const char *header, const char *audience, const char *scopes,
    int want_rc, bool want_hit)
{
	unsigned long hits, misses;
	bh_request *req = request(header);
	int rc;

	read_cache();
	hits = cache_hits;
	misses = cache_misses;
	rc = bh_authorize(req, audience, scopes);
	read_cache();
	CU_ASSERT_EQUAL(rc, want_rc);
	CU_ASSERT_EQUAL(cache_hits - hits, want_hit ? 1 : 0);
	if (want_hit)
		CU_ASSERT_EQUAL(cache_misses, misses);
	if (rc == 0) {
		CU_ASSERT_PTR_NOT_NULL(req->token);
	} else {
		CU_ASSERT_PTR_NULL(req->token);
	}
	return req;
}

static void
test_cache_same_answer(void)
{
	const char *t;
	bh_request *first, *again;

	reset();
	t = token("k1", "profile users:verify");
	first = authorize_hit(bearer(t), NULL, NULL, 0, false);
	read_cache();
	CU_ASSERT_EQUAL(cache_misses, 1);
	CU_ASSERT_EQUAL(cache_entries, 1);
	/* The same token, however the header spells Bearer: served. */
	again = authorize_hit(bh_psprintf(pool, "bEaReR   %s", t), NULL, NULL,
	    0, true);
	CU_ASSERT_PTR_NOT_NULL_FATAL(first->token);
	CU_ASSERT_PTR_NOT_NULL_FATAL(again->token);
	CU_ASSERT_STRING_EQUAL(again->token->sub, "u-42");
	CU_ASSERT_STRING_EQUAL(again->token->client_id, "booking-site");
	CU_ASSERT_STRING_EQUAL(again->token->jti, "j-1");
	CU_ASSERT_STRING_EQUAL(again->token->scope, "profile users:verify");
	CU_ASSERT_EQUAL(again->token->iat, NOW);
	CU_ASSERT_EQUAL(again->token->exp, NOW + 600);
	/* Each request its own claims, equal to the verified ones. */
	CU_ASSERT_PTR_NOT_EQUAL(again->token->claims, first->token->claims);
	CU_ASSERT_TRUE(json_object_equal(again->token->claims,
	    first->token->claims));
	read_cache();
	CU_ASSERT_EQUAL(cache_entries, 1);

	/* One character changed is another token: verified, refused. */
	authorize_hit(bh_psprintf(pool, "Bearer %.*s%c", (int)strlen(t) - 1,
	    t, t[strlen(t) - 1] == 'A' ? 'B' : 'A'), NULL, NULL, -1, false);
	/* Failures are not remembered. */
	authorize_hit(bh_psprintf(pool, "Bearer %.*s%c", (int)strlen(t) - 1,
	    t, t[strlen(t) - 1] == 'A' ? 'B' : 'A'), NULL, NULL, -1, false);
	read_cache();
	CU_ASSERT_EQUAL(cache_entries, 1);
	CU_ASSERT_EQUAL(cache_misses, 1);
}

static void
test_cache_scopes_per_route(void)
{
	const char *t;
	bh_request *req;

	reset();
	t = token("k1", "catalog:writer");
	/* Refused for its scope, but a good token: remembered. */
	req = authorize_hit(bearer(t), NULL, "catalog:write", -1, false);
	CU_ASSERT_TRUE(is_problem(req, 403, "insufficient-scope"));
	req = authorize_hit(bearer(t), NULL, "catalog:write", -1, true);
	CU_ASSERT_TRUE(is_problem(req, 403, "insufficient-scope"));
	CU_ASSERT_STRING_EQUAL(resp_header(req, "WWW-Authenticate"),
	    "Bearer realm=\"bellhop\", error=\"insufficient_scope\", "
	    "scope=\"catalog:write\"");
	authorize_hit(bearer(t), NULL, "catalog:writer", 0, true);
	authorize_hit(bearer(t), NULL, NULL, 0, true);
	req = authorize_hit(bearer(t), NULL, "catalog:writer profile", -1,
	    true);
	CU_ASSERT_TRUE(is_problem(req, 403, "insufficient-scope"));
}

static void
test_cache_audience_issuer(void)
{
	const char *t;
	bh_request *req;

	reset();
	t = token_ext("k1", NULL, "users", ISSUER, NOW, NOW + 600);
	authorize_hit(bearer(t), "users", NULL, 0, false);
	authorize_hit(bearer(t), "users", NULL, 0, true);
	/* Another audience: checked in full, refused. */
	req = authorize_hit(bearer(t), NULL, NULL, -1, false);
	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized"));
	CU_ASSERT_PTR_NOT_NULL(strstr(resp_header(req, "WWW-Authenticate"),
	    "not meant for this service"));
	authorize_hit(bearer(t), "search", NULL, -1, false);
	/* ...as with the service's configured audience. */
	bh_cfg.audience = "users";
	authorize_hit(bearer(t), NULL, NULL, 0, true);
	/* Another issuer configured: checked in full, refused. */
	bh_cfg.auth_issuer = "http://other.example/auth";
	req = authorize_hit(bearer(t), NULL, NULL, -1, false);
	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized"));
}

static void
test_cache_times(void)
{
	const char *t;
	bh_request *req;

	reset();
	t = token_ext("k1", NULL, "search", ISSUER, NOW, NOW + 600);
	authorize_hit(bearer(t), NULL, NULL, 0, false);
	/* exp with the 30 s leeway, on every hit. */
	bh_authz_set_now(NOW + 629);
	authorize_hit(bearer(t), NULL, NULL, 0, true);
	bh_authz_set_now(NOW + 630);
	req = authorize_hit(bearer(t), NULL, NULL, -1, false);
	CU_ASSERT_TRUE(is_problem(req, 401, "unauthorized"));
	CU_ASSERT_PTR_NOT_NULL(strstr(resp_header(req, "WWW-Authenticate"),
	    "expired"));
	/* The leeway as configured now. */
	bh_authz_set_now(NOW + 600);
	authorize_hit(bearer(t), NULL, NULL, 0, true);
	bh_cfg.token_leeway = 0;
	authorize_hit(bearer(t), NULL, NULL, -1, false);
	bh_cfg.token_leeway = 30;
	/* iat (and nbf) too, should the clock go back. */
	bh_authz_set_now(NOW - 30);
	authorize_hit(bearer(t), NULL, NULL, 0, true);
	bh_authz_set_now(NOW - 31);
	req = authorize_hit(bearer(t), NULL, NULL, -1, false);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp_header(req, "WWW-Authenticate"),
	    "not valid yet"));
}

static void
test_cache_keys(void)
{
	const char *t1, *t2;
	bh_request *req;

	reset();
	jwks_endpoint.cache_control = "max-age=60";
	t1 = token_ext("k1", NULL, "search", ISSUER, NOW, NOW + 3600);
	authorize_hit(bearer(t1), NULL, NULL, 0, false);
	authorize_hit(bearer(t1), NULL, NULL, 0, true);

	/* k1 published with another public key: its tokens are checked
	 * against it, and refused. */
	jwks_endpoint.k1_other_key = true;
	bh_authz_set_now(NOW + 60);
	req = authorize_hit(bearer(t1), NULL, NULL, -1, false);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp_header(req, "WWW-Authenticate"),
	    "signature"));

	/* k1 back as it was: the token is good again, as remembered. */
	jwks_endpoint.k1_other_key = false;
	bh_authz_set_now(NOW + 120);
	authorize_hit(bearer(t1), NULL, NULL, 0, true);
	CU_ASSERT_EQUAL(jwks_endpoint.calls, 3);
	/* k1 unpublished: its tokens go with it. */
	jwks_endpoint.with_k1 = false;
	jwks_endpoint.with_k2 = true;
	bh_authz_set_now(NOW + 180);
	t2 = token_ext("k2", NULL, "search", ISSUER, NOW + 180, NOW + 3600);
	authorize_hit(bearer(t2), NULL, NULL, 0, false);
	req = authorize_hit(bearer(t1), NULL, NULL, -1, false);
	CU_ASSERT_PTR_NOT_NULL(strstr(resp_header(req, "WWW-Authenticate"),
	    "unknown key"));
	authorize_hit(bearer(t2), NULL, NULL, 0, true);
}

/* The set of the cache a token falls in, as authz.c picks it. */
static size_t
set_of(const char *tok)
{
	uint8_t d[BH_SHA256_LEN];

	bh_sha256(tok, strlen(tok), d);
	return ((size_t)d[0] << 8 | d[1]) % 256;
}

/* Tokens (exp as given) that share one set of the cache with want[0]. */
static void
same_set_tokens(const char **want, size_t n, const int64_t *exps)
{
	size_t found = 0, set = 0;
	int i;

	for (i = 0; found < n && i < 100000; i++) {
		const char *t = token_jti("k1", NULL, "search", ISSUER, NOW,
		    exps[found], bh_psprintf(pool, "j-%d", i));

		if (found > 0 && set_of(t) != set)
			continue;
		if (found == 0)
			set = set_of(t);
		want[found++] = t;
	}
	CU_ASSERT_EQUAL_FATAL(found, n);
}

static void
test_cache_eviction(void)
{
	const char *t[6];
	const int64_t exps[6] = { NOW + 100, NOW + 3600, NOW + 3600,
	    NOW + 3600, NOW + 3600, NOW + 3600 };
	unsigned long misses;
	int i;

	reset();
	same_set_tokens(t, 6, exps);
	for (i = 0; i < 4; i++)
		authorize_hit(bearer(t[i]), NULL, NULL, 0, false);
	for (i = 0; i < 4; i++)
		authorize_hit(bearer(t[i]), NULL, NULL, 0, true);
	/* A full set: the expired token makes room first... */
	bh_authz_set_now(NOW + 200);
	authorize_hit(bearer(t[4]), NULL, NULL, 0, false);
	for (i = 1; i < 5; i++)
		authorize_hit(bearer(t[i]), NULL, NULL, 0, true);
	/* ...then the oldest (t[1]). */
	authorize_hit(bearer(t[5]), NULL, NULL, 0, false);
	authorize_hit(bearer(t[1]), NULL, NULL, 0, false);
	/* t[1] came back in place of the then oldest, t[2]. */
	authorize_hit(bearer(t[2]), NULL, NULL, 0, false);
	read_cache();
	misses = cache_misses;
	CU_ASSERT_EQUAL(cache_entries, 4);
	CU_ASSERT_EQUAL(misses, 8);

	/* However many tokens come, at most 1024 are kept. */
	reset();
	for (i = 0; i < 1500; i++)
		authorize_hit(bearer(token_jti("k1", NULL, "search", ISSUER,
		    NOW, NOW + 600, bh_psprintf(pool, "n-%d", i))), NULL, NULL,
		    0, false);
	read_cache();
	CU_ASSERT_TRUE(cache_entries <= 1024);
	CU_ASSERT_TRUE(cache_entries >= 900);
	CU_ASSERT_EQUAL(cache_misses, 1500);
}

int
bh_test_register(void)
{
	static const CU_TestInfo tests[] = {
		{ "Bearer parsing", test_bearer_parsing },
		{ "token filled", test_token_filled },
		{ "claims checked", test_claims_checked },
		{ "scope matching", test_scope_matching },
		{ "no keys: 503", test_no_keys_503 },
		{ "JWKS max-age", test_max_age },
		{ "unknown kid cooldown", test_unknown_kid_cooldown },
		{ "failed refetch keeps keys", test_failed_refetch_keeps_keys },
		{ "pinned keys", test_pinned_keys },
		{ "cache: same answer", test_cache_same_answer },
		{ "cache: scopes per route", test_cache_scopes_per_route },
		{ "cache: audience and issuer", test_cache_audience_issuer },
		{ "cache: exp, iat with leeway", test_cache_times },
		{ "cache: keys", test_cache_keys },
		{ "cache: eviction and bound", test_cache_eviction },
		CU_TEST_INFO_NULL,
	};

	if (bh_ed25519_keygen(seed1, pub1) != 0 ||
	    bh_ed25519_keygen(seed2, pub2) != 0)
		return CUE_TEST_INACTIVE;
	atexit(free_pool);
	return bh_test_add_suite("authz", tests);
}
