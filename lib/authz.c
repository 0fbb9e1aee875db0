/*
 * authz.c - bearer tokens on the way in: the Authorization header, the
 * authorization server's published keys, the token's signature and
 * claims, and the scopes a route needs.
 *
 * The keys (auth's JWKS) are cached per process.  They are fetched on the
 * first protected request, kept as long as the JWKS's Cache-Control
 * max-age says (clamped to 60..3600 s), and fetched again early when a
 * token names a key id we do not have (a rotation), but at most once per
 * bh_cfg.jwks_cooldown so that tokens with made-up key ids cannot turn
 * every request into a call to auth.  A failed fetch keeps the keys we
 * have: auth being down must not lock everyone out while their tokens are
 * still good.
 *
 * Tokens that verified are cached per process too (see "Verified tokens"
 * below): the Ed25519 check is most of what a protected request costs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

#define MAX_AGE_DEFAULT 300
#define MAX_AGE_MIN 60
#define MAX_AGE_MAX 3600

typedef int (*fetch_fn)(bh_pool *pool, const bh_http_call *call,
    bh_http_response *resp);

static struct {
	bh_jwks keys;            /* n == 0 until a fetch succeeded */
	bool pinned;             /* installed by a test: never fetched */
	int64_t expires_at;      /* refetch at or after this */
	int64_t next_fetch_at;   /* no fetch before this (after a failure) */
	int64_t last_kid_fetch;  /* last refetch for an unknown kid */
	bool kid_fetched;        /* last_kid_fetch is set */
} cache;

/*
 * Verified tokens.  A caller keeps its access token for minutes and sends
 * it with every request, and checking its Ed25519 signature costs more
 * than the rest of a request that reads one row (about 0.15 ms of CPU on
 * the bench machine: bench/README.md).  So a token that verified is
 * remembered, by the SHA-256 of the whole token, with its claims and what
 * it was checked against; the same token again skips the signature check
 * and nothing else:
 * - it must have been verified for the same issuer and audience;
 * - its key (kid and public key) must still be in the key set we have;
 * - exp, nbf and iat are checked against the clock with the leeway;
 * - the route's scopes are checked as for any token.
 * Any doubt means the full check, so the cache never changes an answer.
 * Failures are not remembered.  Bounded: TOKEN_SETS sets of TOKEN_WAYS
 * entries; a new token takes an entry of its set that is free or holds
 * an expired token, else the oldest.
 */
#define TOKEN_WAYS 4
#define TOKEN_SETS 256                 /* 1024 tokens */
#define TOKEN_CLAIMS_MAX 2048          /* larger payloads are not kept */
#define LEEWAY_MAX 86400               /* as jwt.c bounds it */

struct verified_token {
	bool used;
	uint8_t digest[BH_SHA256_LEN];   /* of the whole token */
	char kid[sizeof(((bh_jwk *)NULL)->kid)];
	unsigned char pub[32];           /* the key it verified with */
	char *issuer, *audience;         /* what it was verified for */
	char *claims;                    /* the payload, JSON text */
	int64_t exp, iat, nbf;           /* nbf 0 when absent */
	uint64_t stamp;                  /* insertion order */
};

static struct {
	struct verified_token set[TOKEN_SETS][TOKEN_WAYS];
	uint64_t stamp;
	unsigned long hits, misses;
} tokens;

static int64_t fixed_now;          /* test clock, 0 = the real one */
static fetch_fn fetch_hook = NULL; /* tests replace bh_http */

static int64_t
now_seconds(void)
{
	return fixed_now != 0 ? fixed_now : (int64_t)time(NULL);
}

void
bh_authz_set_now(int64_t now)
{
	fixed_now = now;
}

void
bh_authz_set_fetch(int (*fetch)(bh_pool *pool, const bh_http_call *call,
    bh_http_response *resp))
{
	fetch_hook = fetch;
}

static void
forget_token(struct verified_token *t)
{
	free(t->issuer);
	free(t->audience);
	free(t->claims);
	memset(t, 0, sizeof(*t));
}

static void
forget_tokens(void)
{
	size_t i, j;

	for (i = 0; i < TOKEN_SETS; i++)
		for (j = 0; j < TOKEN_WAYS; j++)
			forget_token(&tokens.set[i][j]);
	tokens.stamp = 0;
	tokens.hits = tokens.misses = 0;
}

void
bh_authz_token_cache_stats(unsigned long *hits, unsigned long *misses,
    size_t *entries)
{
	size_t i, j, n = 0;

	for (i = 0; i < TOKEN_SETS; i++)
		for (j = 0; j < TOKEN_WAYS; j++)
			n += tokens.set[i][j].used;
	*hits = tokens.hits;
	*misses = tokens.misses;
	*entries = n;
}

void
bh_authz_set_keys(const bh_jwks *keys)
{
	forget_tokens();
	bh_jwks_free(&cache.keys);
	memset(&cache, 0, sizeof(cache));
	if (keys == NULL || keys->n == 0)
		return;
	if ((cache.keys.keys = malloc(keys->n * sizeof(*keys->keys))) == NULL)
		abort();
	memcpy(cache.keys.keys, keys->keys, keys->n * sizeof(*keys->keys));
	cache.keys.n = keys->n;
	cache.pinned = true;
}

/*
 * The max-age directive of a Cache-Control value, clamped: 60 s at least
 * (no-cache or max-age=0 from a misconfigured auth must not make every
 * request fetch), an hour at most (a rotation must reach us), 300 s when
 * there is none.
 */
static int
jwks_max_age(const char *cache_control)
{
	const char *p = cache_control;
	long long age = -1;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, "max-age=", 8) == 0) {
			p += 8;
			if (*p == '"')
				p++;
			if (*p >= '0' && *p <= '9') {
				age = 0;
				for (; *p >= '0' && *p <= '9'; p++)
					if (age < MAX_AGE_MAX)
						age = age * 10 + (*p - '0');
			}
		} else if (strncasecmp(p, "no-cache", 8) == 0 ||
		    strncasecmp(p, "no-store", 8) == 0)
			age = 0;
		p = strchr(p, ',');
	}
	if (age < 0)
		return MAX_AGE_DEFAULT;
	if (age < MAX_AGE_MIN)
		return MAX_AGE_MIN;
	return age > MAX_AGE_MAX ? MAX_AGE_MAX : (int)age;
}

/* Fetches auth's JWKS into the cache.  Returns 0, or -1 (logged) with the
 * cache as it was. */
static int
fetch_keys(bh_pool *pool, int64_t now)
{
	bh_http_call call = {
		.upstream = "auth",
		.method = "GET",
		.url = bh_cfg.jwks_url,
	};
	bh_http_response resp;
	bh_jwks fresh = { NULL, 0 };
	int max_age;

	memset(&resp, 0, sizeof(resp));
	if (call.url == NULL) {
		bh_log(BH_LOG_ERROR, "no JWKS URL configured");
		return -1;
	}
	if ((fetch_hook != NULL ? fetch_hook : bh_http)(pool, &call,
	    &resp) == -1) {
		bh_log(BH_LOG_WARN, "fetching the JWKS: %s",
		    resp.error != NULL ? resp.error : "no answer");
		return -1;
	}
	if (resp.status != 200 || resp.body == NULL) {
		bh_log(BH_LOG_WARN, "fetching the JWKS: HTTP status %ld",
		    resp.status);
		return -1;
	}
	if (bh_jwks_parse(resp.body, resp.len, &fresh) == -1) {
		bh_log(BH_LOG_WARN, "fetching the JWKS: not a JWKS document");
		return -1;
	}
	if (fresh.n == 0) {
		/* A set we cannot use is no better than the one we have. */
		bh_log(BH_LOG_WARN, "fetching the JWKS: no usable Ed25519 key");
		bh_jwks_free(&fresh);
		return -1;
	}
	max_age = jwks_max_age(resp.cache_control);
	bh_jwks_free(&cache.keys);
	cache.keys = fresh;
	cache.expires_at = now + max_age;
	cache.next_fetch_at = 0;
	bh_log(BH_LOG_DEBUG, "fetched the JWKS: %zu keys, fresh for %d s",
	    fresh.n, max_age);
	return 0;
}

/* The key set to verify with, fetched first when there is none or it is
 * stale; *fetched tells whether this call fetched it.  NULL when there
 * are no keys at all. */
static const bh_jwks *
current_keys(bh_pool *pool, int64_t now, bool *fetched)
{
	int backoff;

	*fetched = false;
	if (cache.pinned)
		return &cache.keys;
	if ((cache.keys.n == 0 || now >= cache.expires_at) &&
	    now >= cache.next_fetch_at) {
		if (fetch_keys(pool, now) == 0)
			*fetched = true;
		else {
			/* Without keys, try again soon (clients are told to
			 * come back after retry_after); with keys, they
			 * serve while auth recovers. */
			backoff = cache.keys.n == 0 ? bh_cfg.retry_after :
			    bh_cfg.jwks_cooldown;
			cache.next_fetch_at = now + (backoff > 0 ? backoff : 1);
		}
	}
	return cache.keys.n > 0 ? &cache.keys : NULL;
}

/* A token naming a key id we do not know: fetch again, unless we just
 * did or did so for the same reason less than the cooldown ago.  Returns
 * true when the cache got fresh keys. */
static bool
refetch_for_unknown_kid(bh_pool *pool, int64_t now, bool fetched)
{
	int cooldown = bh_cfg.jwks_cooldown > 0 ? bh_cfg.jwks_cooldown : 1;

	if (cache.pinned || fetched ||
	    (cache.kid_fetched && now - cache.last_kid_fetch < cooldown))
		return false;
	cache.kid_fetched = true;
	cache.last_kid_fetch = now;
	return fetch_keys(pool, now) == 0;
}

/* ------------------------------------------------------ verified tokens */

/* Returns the string member name of claims, or NULL. */
static const char *
claim_string(json_object *claims, const char *name)
{
	json_object *v;

	if (!json_object_object_get_ex(claims, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int64_t
claim_int(json_object *claims, const char *name)
{
	json_object *v;

	if (!json_object_object_get_ex(claims, name, &v) ||
	    !json_object_is_type(v, json_type_int))
		return 0;
	return json_object_get_int64(v);
}

static void
json_put(void *obj)
{
	json_object_put(obj);
}

static bool
same_string(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int64_t
bounded_leeway(int leeway)
{
	return leeway < 0 ? 0 : leeway > LEEWAY_MAX ? LEEWAY_MAX : leeway;
}

/* The times of t are good now: what bh_jwt_verify checks of them. */
static bool
token_current(const struct verified_token *t, const bh_jwt_expect *expect)
{
	int64_t leeway = bounded_leeway(expect->leeway);

	return t->exp + leeway > expect->now &&
	    t->nbf - leeway <= expect->now && t->iat - leeway <= expect->now;
}

static struct verified_token *
token_set(const uint8_t digest[BH_SHA256_LEN])
{
	return tokens.set[((size_t)digest[0] << 8 | digest[1]) % TOKEN_SETS];
}

/*
 * The claims of the token with this digest if it verified before for the
 * same issuer and audience, with a key we still have, and its times are
 * good now; the claims are a fresh object owned by pool.  NULL otherwise:
 * the caller verifies it in full.
 */
static json_object *
remembered_claims(bh_pool *pool, const uint8_t digest[BH_SHA256_LEN],
    const bh_jwks *keys, const bh_jwt_expect *expect)
{
	struct verified_token *set = token_set(digest), *t = NULL;
	const bh_jwk *key;
	json_object *claims;
	size_t i;

	for (i = 0; i < TOKEN_WAYS && t == NULL; i++)
		if (set[i].used && memcmp(set[i].digest, digest,
		    BH_SHA256_LEN) == 0)
			t = &set[i];
	if (t == NULL || !same_string(t->issuer, expect->issuer) ||
	    !same_string(t->audience, expect->audience))
		return NULL;
	if ((key = bh_jwks_find(keys, t->kid)) == NULL ||
	    memcmp(key->pub, t->pub, sizeof(t->pub)) != 0 ||
	    !token_current(t, expect))
		return NULL;
	if ((claims = json_tokener_parse(t->claims)) == NULL)
		return NULL;
	bh_pool_defer(pool, json_put, claims);
	tokens.hits++;
	return claims;
}

/* The kid of raw's header (which bh_jwt_verify accepted) into kid;
 * false when it cannot be read. */
static bool
token_kid(bh_pool *pool, const char *raw, char *kid, size_t size)
{
	const char *dot = strchr(raw, '.');
	unsigned char *header;
	json_object *doc, *v;
	size_t len;
	bool ok = false;

	if (dot == NULL || (header = bh_b64url_decode(pool, raw,
	    (size_t)(dot - raw), &len)) == NULL)
		return false;
	if ((doc = json_tokener_parse((const char *)header)) == NULL)
		return false;
	if (json_object_object_get_ex(doc, "kid", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    (size_t)json_object_get_string_len(v) < size) {
		snprintf(kid, size, "%s", json_object_get_string(v));
		ok = true;
	}
	json_object_put(doc);
	return ok;
}

/* Remembers a token that bh_jwt_verify just accepted with keys and
 * expect.  Nothing is kept when anything about it cannot be. */
static void
remember_token(bh_pool *pool, const uint8_t digest[BH_SHA256_LEN],
    const char *raw, const bh_jwks *keys, const bh_jwt_expect *expect,
    json_object *claims)
{
	struct verified_token fresh, *set = token_set(digest), *slot = NULL;
	const bh_jwk *key;
	const char *text;
	size_t i;

	memset(&fresh, 0, sizeof(fresh));
	if (!token_kid(pool, raw, fresh.kid, sizeof(fresh.kid)) ||
	    (key = bh_jwks_find(keys, fresh.kid)) == NULL)
		return;
	text = json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PLAIN);
	if (text == NULL || strlen(text) > TOKEN_CLAIMS_MAX)
		return;
	memcpy(fresh.digest, digest, BH_SHA256_LEN);
	memcpy(fresh.pub, key->pub, sizeof(fresh.pub));
	fresh.exp = claim_int(claims, "exp");
	fresh.iat = claim_int(claims, "iat");
	fresh.nbf = claim_int(claims, "nbf");
	if ((fresh.claims = strdup(text)) == NULL ||
	    (expect->issuer != NULL &&
	    (fresh.issuer = strdup(expect->issuer)) == NULL) ||
	    (expect->audience != NULL &&
	    (fresh.audience = strdup(expect->audience)) == NULL)) {
		forget_token(&fresh);
		return;
	}
	fresh.used = true;
	fresh.stamp = ++tokens.stamp;

	/* The same token (verified again: its entry did not serve), a free
	 * entry, an expired one, else the oldest. */
	for (i = 0; i < TOKEN_WAYS && slot == NULL; i++)
		if (set[i].used && memcmp(set[i].digest, digest,
		    BH_SHA256_LEN) == 0)
			slot = &set[i];
	for (i = 0; i < TOKEN_WAYS && slot == NULL; i++)
		if (!set[i].used)
			slot = &set[i];
	for (i = 0; i < TOKEN_WAYS && slot == NULL; i++)
		if (set[i].exp + bounded_leeway(expect->leeway) <= expect->now)
			slot = &set[i];
	if (slot == NULL) {
		slot = &set[0];
		for (i = 1; i < TOKEN_WAYS; i++)
			if (set[i].stamp < slot->stamp)
				slot = &set[i];
	}
	forget_token(slot);
	*slot = fresh;
}

/* The parts of a Bearer credential. */
enum bearer {
	BEARER_NONE,      /* no Authorization header */
	BEARER_OTHER,     /* another scheme (Basic...) */
	BEARER_MALFORMED, /* "Bearer" without a valid token68 */
	BEARER_OK,
};

static bool
is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
is_token68_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~' || c == '+' || c == '/';
}

/*
 * "Bearer" (any case), one or more spaces, a token68 (RFC 7235: the
 * characters above, then '=' padding only at the end), nothing else: no
 * trailing blank, no second credential.  On BEARER_OK *token points to
 * the token inside header.
 */
static enum bearer
parse_bearer(const char *header, const char **token)
{
	const char *p = header, *start;

	if (header == NULL)
		return BEARER_NONE;
	while (*p != '\0' && is_tchar(*p))
		p++;
	if (p - header != 6 || strncasecmp(header, "bearer", 6) != 0)
		return BEARER_OTHER;
	if (*p != ' ')
		return BEARER_MALFORMED;
	while (*p == ' ')
		p++;
	start = p;
	while (is_token68_char(*p))
		p++;
	if (p == start)
		return BEARER_MALFORMED;
	while (*p == '=')
		p++;
	if (*p != '\0')
		return BEARER_MALFORMED;
	*token = start;
	return BEARER_OK;
}

/* Copies s for a quoted-string of a WWW-Authenticate parameter: quotes,
 * backslashes and anything unprintable become spaces. */
static const char *
quotable(bh_pool *pool, const char *s)
{
	char *copy = bh_pstrdup(pool, s), *p;

	for (p = copy; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f ||
		    *p == '"' || *p == '\\')
			*p = ' ';
	return copy;
}

/* 401: no token (error NULL) or a bad one (error_description says why;
 * never the token itself). */
static int
unauthorized(bh_request *req, const char *description)
{
	if (description == NULL)
		bh_add_header(req, "WWW-Authenticate", "Bearer realm=\"bellhop\"");
	else
		bh_add_header(req, "WWW-Authenticate", bh_psprintf(req->pool,
		    "Bearer realm=\"bellhop\", error=\"invalid_token\", "
		    "error_description=\"%s\"", quotable(req->pool,
		    description)));
	bh_problem(req, 401, BH_PROBLEM_UNAUTHORIZED, NULL, "%s",
	    description != NULL ? description :
	    "this resource needs an Authorization: Bearer token");
	return -1;
}

/* The word at s[0..len) is one of the space-separated words of list. */
static bool
has_word(const char *list, const char *s, size_t len)
{
	const char *p = list, *start;

	if (len == 0)
		return false;
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		start = p;
		while (*p != '\0' && *p != ' ')
			p++;
		if ((size_t)(p - start) == len && memcmp(start, s, len) == 0)
			return true;
	}
	return false;
}

bool
bh_token_has_scope(const bh_token *token, const char *scope)
{
	if (token == NULL || token->scope == NULL || scope == NULL)
		return false;
	return has_word(token->scope, scope, strlen(scope));
}

/*
 * Checks that the token holds every word of scopes.  Returns 0, or -1
 * with a 403 naming the missing scopes and, in WWW-Authenticate, all the
 * scopes the resource needs (RFC 6750 section 3.1).
 */
static int
check_scopes(bh_request *req, const bh_token *token, const char *scopes)
{
	bh_buf missing, needed;
	const char *p = scopes, *start;
	size_t len;

	if (scopes == NULL)
		return 0;
	bh_buf_init(&missing, req->pool);
	bh_buf_init(&needed, req->pool);
	while (*p != '\0') {
		while (*p == ' ')
			p++;
		start = p;
		while (*p != '\0' && *p != ' ')
			p++;
		if ((len = (size_t)(p - start)) == 0)
			continue;
		if (needed.len > 0)
			bh_buf_puts(&needed, " ");
		bh_buf_append(&needed, start, len);
		if (has_word(token->scope, start, len))
			continue;
		if (missing.len > 0)
			bh_buf_puts(&missing, " ");
		bh_buf_append(&missing, start, len);
	}
	if (missing.len == 0)
		return 0;
	bh_log(BH_LOG_DEBUG, "token of client %s refused: lacks scope %s",
	    token->client_id, missing.data);
	bh_add_header(req, "WWW-Authenticate", bh_psprintf(req->pool,
	    "Bearer realm=\"bellhop\", error=\"insufficient_scope\", "
	    "scope=\"%s\"", quotable(req->pool, needed.data)));
	bh_problem(req, 403, BH_PROBLEM_INSUFFICIENT_SCOPE, NULL,
	    "the token lacks the scope this resource needs: %s", missing.data);
	return -1;
}

int
bh_authorize(bh_request *req, const char *audience, const char *scopes)
{
	const char *raw = NULL;
	const bh_jwks *keys;
	bh_jwt_expect expect;
	enum bh_jwt_status st;
	json_object *claims = NULL;
	bh_token *token;
	int64_t now = now_seconds();
	bool fetched, hashed, remembered;
	uint8_t digest[BH_SHA256_LEN];
	char retry[16];

	req->token = NULL;
	switch (parse_bearer(bh_header_get(req, "authorization"), &raw)) {
	case BEARER_NONE:
	case BEARER_OTHER:
		bh_log(BH_LOG_DEBUG, "no bearer token");
		return unauthorized(req, NULL);
	case BEARER_MALFORMED:
		bh_log(BH_LOG_DEBUG, "token refused: malformed Authorization");
		return unauthorized(req, "the Authorization header is not "
		    "\"Bearer\" followed by one token");
	case BEARER_OK:
		break;
	}

	if ((keys = current_keys(req->pool, now, &fetched)) == NULL) {
		snprintf(retry, sizeof(retry), "%d",
		    bh_cfg.retry_after > 0 ? bh_cfg.retry_after : 2);
		bh_add_header(req, "Retry-After", retry);
		bh_problem(req, 503, BH_PROBLEM_DB_UNAVAILABLE, NULL,
		    "tokens cannot be checked now: the authorization "
		    "server's keys are not available");
		return -1;
	}
	expect.issuer = bh_cfg.auth_issuer;
	expect.audience = audience != NULL ? audience : bh_cfg.audience;
	expect.leeway = bh_cfg.token_leeway;
	expect.now = now;
	/* Only a token of a length bh_jwt_verify reads can have been
	 * remembered: a huge one is not even hashed. */
	hashed = strnlen(raw, BH_JWT_MAX_LEN + 1) <= BH_JWT_MAX_LEN;
	if (hashed) {
		bh_sha256(raw, strlen(raw), digest);
		claims = remembered_claims(req->pool, digest, keys, &expect);
	}
	remembered = claims != NULL;
	if (!remembered) {
		st = bh_jwt_verify(req->pool, raw, keys, &expect, &claims);
		if (st == BH_JWT_UNKNOWN_KID &&
		    refetch_for_unknown_kid(req->pool, now, fetched))
			st = bh_jwt_verify(req->pool, raw, &cache.keys,
			    &expect, &claims);
		if (st != BH_JWT_OK) {
			bh_log(BH_LOG_DEBUG, "token refused: %s",
			    bh_jwt_status_str(st));
			return unauthorized(req, bh_jwt_status_str(st));
		}
		tokens.misses++;
	}

	token = bh_palloc(req->pool, sizeof(*token));
	token->claims = claims;
	token->sub = claim_string(claims, "sub");
	token->client_id = claim_string(claims, "client_id");
	token->jti = claim_string(claims, "jti");
	token->scope = claim_string(claims, "scope");
	if (token->scope == NULL)
		token->scope = "";
	token->exp = claim_int(claims, "exp");
	token->iat = claim_int(claims, "iat");
	/* bh_jwt_verify promises these; a token without them is no token. */
	if (token->sub == NULL || token->client_id == NULL ||
	    token->jti == NULL) {
		bh_log(BH_LOG_DEBUG, "token refused: required claims missing");
		return unauthorized(req, bh_jwt_status_str(BH_JWT_BAD_CLAIMS));
	}
	/* A good token, whatever this route needs of its scopes. */
	if (hashed && !remembered)
		remember_token(req->pool, digest, raw, keys, &expect, claims);
	if (check_scopes(req, token, scopes) == -1)
		return -1;
	req->token = token;
	return 0;
}
