/*
 * request.c - turning FastCGI params and a body into a bh_request.
 *
 * Everything is copied into the request's pool: libfcgi frees its params
 * at FCGX_Finish_r, and the pool is released in one go.  Input is
 * hostile, so each step either yields well-formed data or a 4xx problem.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Longest X-Request-Id taken from a caller. */
#define BH_REQUEST_ID_MAX 128

/* ------------------------------------------------------------- decoding */

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decoding never grows a string, so the copy is decoded in place in one
 * pass.  UTF-8 is not checked here: callers do, as they know which
 * parameter to name.
 */
char *
bh_url_decode(bh_pool *pool, const char *src, size_t len,
    bool plus_is_space, size_t *outlen)
{
	char *out = bh_pstrndup(pool, src, len);
	unsigned char *s = (unsigned char *)out;
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (len - i < 3 ||
			    (hi = hex_value(s[i + 1])) < 0 ||
			    (lo = hex_value(s[i + 2])) < 0 ||
			    (hi == 0 && lo == 0))
				return NULL;
			s[o++] = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '+' && plus_is_space)
			s[o++] = ' ';
		else if (s[i] == '\0')
			/* Only a body can hold a raw NUL; it is as bad as %00. */
			return NULL;
		else
			s[o++] = s[i];
	}
	s[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return out;
}

int
bh_parse_urlencoded(bh_pool *pool, const char *s, size_t len,
    bh_kvlist *list, const char **bad_key)
{
	const char *p, *end = s + len, *amp, *eq;
	size_t max = 1, keylen;
	bh_kv *kv;

	list->items = NULL;
	list->n = 0;
	if (bad_key != NULL)
		*bad_key = NULL;
	if (len == 0)
		return 0;
	/* One allocation sized by the separators. */
	for (p = s; (p = memchr(p, '&', (size_t)(end - p))) != NULL; p++)
		max++;
	list->items = bh_palloc(pool, max * sizeof(*list->items));
	for (p = s; p < end; p = amp + 1) {
		if ((amp = memchr(p, '&', (size_t)(end - p))) == NULL)
			amp = end;
		if (amp == p)
			continue; /* "a=1&&b=2": nothing between */
		kv = &list->items[list->n];
		eq = memchr(p, '=', (size_t)(amp - p));
		keylen = (size_t)((eq != NULL ? eq : amp) - p);
		if ((kv->key = bh_url_decode(pool, p, keylen, true,
		    NULL)) == NULL)
			return -1;
		if (eq == NULL) {
			kv->val = "";
			kv->len = 0;
		} else if ((kv->val = bh_url_decode(pool, eq + 1,
		    (size_t)(amp - eq - 1), true, &kv->len)) == NULL) {
			if (bad_key != NULL)
				*bad_key = kv->key;
			return -1;
		}
		list->n++;
		if (amp == end)
			break;
	}
	return 0;
}

bool
bh_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			if (len - i < 2 || (s[i + 1] & 0xc0) != 0x80)
				return false;
			i += 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			if (len - i < 3 || (s[i + 1] & 0xc0) != 0x80 ||
			    (s[i + 2] & 0xc0) != 0x80)
				return false;
			/* Overlong (E0 80..9F) and surrogates (ED A0..BF). */
			if ((c == 0xe0 && s[i + 1] < 0xa0) ||
			    (c == 0xed && s[i + 1] > 0x9f))
				return false;
			i += 3;
		} else if (c >= 0xf0 && c <= 0xf4) {
			if (len - i < 4 || (s[i + 1] & 0xc0) != 0x80 ||
			    (s[i + 2] & 0xc0) != 0x80 ||
			    (s[i + 3] & 0xc0) != 0x80)
				return false;
			/* Overlong (F0 80..8F) and above U+10FFFF (F4 90..). */
			if ((c == 0xf0 && s[i + 1] < 0x90) ||
			    (c == 0xf4 && s[i + 1] > 0x8f))
				return false;
			i += 4;
		} else
			return false; /* continuation, C0, C1, F5..FF */
	}
	return true;
}

/* ----------------------------------------------------------- request id */

static bool id_seeded;
static uint64_t id_seed[2];
static uint64_t id_counter;

/* A forked worker must not repeat its parent's ids. */
static void
id_forget_seed(void)
{
	id_seeded = false;
}

static uint64_t
splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void
id_seed_once(void)
{
	static bool atfork_set;
	struct timespec ts;
	ssize_t n;

	if (id_seeded)
		return;
	if (!atfork_set) {
		pthread_atfork(NULL, NULL, id_forget_seed);
		atfork_set = true;
	}
	do
		n = getrandom(id_seed, sizeof(id_seed), GRND_NONBLOCK);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(id_seed)) {
		/* No entropy yet (early boot): unique enough per process. */
		clock_gettime(CLOCK_REALTIME, &ts);
		id_seed[0] ^= splitmix64((uint64_t)ts.tv_sec << 32 ^
		    (uint64_t)ts.tv_nsec);
		id_seed[1] ^= splitmix64((uint64_t)getpid() ^ bh_now_us());
	}
	id_counter = 0;
	id_seeded = true;
}

/*
 * 32 hex digits.  The low half is a bijection of a per-process counter,
 * so ids never repeat within a process; the seed makes them unguessable
 * and distinct across processes.
 */
static const char *
request_id_new(bh_pool *pool)
{
	static const char hex[] = "0123456789abcdef";
	uint64_t half[2];
	char *id = bh_palloc(pool, 33);
	int i, j;

	id_seed_once();
	id_counter++;
	half[0] = splitmix64(id_seed[0] + id_counter);
	half[1] = splitmix64(id_seed[1] + id_counter);
	for (i = 0; i < 2; i++)
		for (j = 0; j < 16; j++)
			id[i * 16 + j] = hex[(half[i] >> (60 - 4 * j)) & 0xf];
	id[32] = '\0';
	return id;
}

/* Only ids safe in a header and a log line are taken from callers. */
static bool
request_id_acceptable(const char *s)
{
	size_t n;
	char c;

	for (n = 0; (c = s[n]) != '\0'; n++) {
		if (n >= BH_REQUEST_ID_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == ':' || c == '-'))
			return false;
	}
	return n > 0;
}

/* ------------------------------------------------------------ from env */

/* The params bh_request_from_env looks at; the first of duplicates wins,
 * as libfcgi's FCGX_GetParam does. */
struct env {
	const char *method, *uri, *script_name, *path_info, *query;
	const char *content_length, *content_type, *remote_addr;
	const char *cookie, *request_id;
	size_t nheaders;
};

#define ENV_FIELD(name, field) { name, sizeof(name) - 1, offsetof(struct env, field) }

static const struct {
	const char *name;
	size_t len;
	size_t offset;
} env_fields[] = {
	ENV_FIELD("REQUEST_METHOD", method),
	ENV_FIELD("REQUEST_URI", uri),
	ENV_FIELD("SCRIPT_NAME", script_name),
	ENV_FIELD("PATH_INFO", path_info),
	ENV_FIELD("QUERY_STRING", query),
	ENV_FIELD("CONTENT_LENGTH", content_length),
	ENV_FIELD("CONTENT_TYPE", content_type),
	ENV_FIELD("REMOTE_ADDR", remote_addr),
	ENV_FIELD("HTTP_COOKIE", cookie),
	ENV_FIELD("HTTP_X_REQUEST_ID", request_id),
};

/* One pass over the params; names are compared by length first, as
 * this runs for every request. */
static void
env_scan(struct env *e, char *const *envp)
{
	const char *entry, *eq, **field;
	size_t i, namelen;

	memset(e, 0, sizeof(*e));
	for (; *envp != NULL; envp++) {
		entry = *envp;
		if ((eq = strchr(entry, '=')) == NULL)
			continue;
		namelen = (size_t)(eq - entry);
		if (namelen > 5 && memcmp(entry, "HTTP_", 5) == 0)
			e->nheaders++;
		for (i = 0; i < sizeof(env_fields) / sizeof(env_fields[0]);
		    i++) {
			if (env_fields[i].len != namelen ||
			    memcmp(entry, env_fields[i].name, namelen) != 0)
				continue;
			field = (const char **)((char *)e +
			    env_fields[i].offset);
			if (*field == NULL)
				*field = eq + 1;
			break;
		}
	}
}

static const struct {
	const char *name;
	unsigned bit;
} methods[] = {
	{ "GET", BH_GET },
	{ "HEAD", BH_HEAD },
	{ "POST", BH_POST },
	{ "PUT", BH_PUT },
	{ "PATCH", BH_PATCH },
	{ "DELETE", BH_DELETE },
	{ "OPTIONS", BH_OPTIONS },
};

static unsigned
method_bit(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(name, methods[i].name) == 0)
			return methods[i].bit;
	return 0;
}

/* Locale-free: header names and media types are ASCII. */
static char
ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* HTTP_ACCEPT_LANGUAGE=x -> "accept-language" = "x". */
static void
parse_headers(bh_request *req, char *const *envp, size_t n)
{
	const char *entry, *eq;
	bh_kv *kv;
	char *name;
	size_t i, namelen;

	req->headers.items = bh_palloc(req->pool, (n ? n : 1) *
	    sizeof(*req->headers.items));
	req->headers.n = 0;
	for (; *envp != NULL && req->headers.n < n; envp++) {
		entry = *envp;
		if (strncmp(entry, "HTTP_", 5) != 0 ||
		    (eq = strchr(entry + 5, '=')) == NULL ||
		    eq == entry + 5)
			continue; /* as env_scan counts */
		namelen = (size_t)(eq - (entry + 5));
		name = bh_pstrndup(req->pool, entry + 5, namelen);
		for (i = 0; i < namelen; i++)
			name[i] = name[i] == '_' ? '-' : ascii_lower(name[i]);
		kv = &req->headers.items[req->headers.n++];
		kv->key = name;
		kv->len = strlen(eq + 1);
		kv->val = bh_pstrndup(req->pool, eq + 1, kv->len);
	}
}

static bool
is_cookie_space(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 6265 section 5.4 "a=b; c=d"; pairs without a name or '=' are
 * skipped, values are kept as sent (no decoding, quotes kept). */
static void
parse_cookies(bh_request *req, const char *s)
{
	const char *p, *end, *semi, *eq, *k, *kend, *v, *vend;
	size_t max = 1;
	bh_kv *kv;

	req->cookies.items = NULL;
	req->cookies.n = 0;
	if (s == NULL || *s == '\0')
		return;
	end = s + strlen(s);
	for (p = s; (p = memchr(p, ';', (size_t)(end - p))) != NULL; p++)
		max++;
	req->cookies.items = bh_palloc(req->pool,
	    max * sizeof(*req->cookies.items));
	for (p = s; p < end; p = semi + 1) {
		if ((semi = memchr(p, ';', (size_t)(end - p))) == NULL)
			semi = end;
		eq = memchr(p, '=', (size_t)(semi - p));
		if (eq != NULL) {
			for (k = p; k < eq && is_cookie_space(*k); k++)
				continue;
			for (kend = eq; kend > k &&
			    is_cookie_space(kend[-1]); kend--)
				continue;
			for (v = eq + 1; v < semi && is_cookie_space(*v); v++)
				continue;
			for (vend = semi; vend > v &&
			    is_cookie_space(vend[-1]); vend--)
				continue;
			if (kend > k) {
				kv = &req->cookies.items[req->cookies.n++];
				kv->key = bh_pstrndup(req->pool, k,
				    (size_t)(kend - k));
				kv->len = (size_t)(vend - v);
				kv->val = bh_pstrndup(req->pool, v, kv->len);
			}
		}
		if (semi == end)
			break;
	}
}

/* "Application/JSON; charset=utf-8" -> "application/json", or NULL. */
static const char *
media_type(bh_pool *pool, const char *s)
{
	const char *end;
	char *out;
	size_t i, n;

	if (s == NULL)
		return NULL;
	while (*s == ' ' || *s == '\t')
		s++;
	for (end = s; *end != '\0' && *end != ';'; end++)
		continue;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if ((n = (size_t)(end - s)) == 0)
		return NULL;
	out = bh_pstrndup(pool, s, n);
	for (i = 0; i < n; i++)
		out[i] = ascii_lower(out[i]);
	return out;
}

/* Returns 0 and *out (-1 when absent or empty, as nginx sends it for a
 * request without a body), or -1 if s is not plain decimal digits or
 * overflows. */
static int
parse_content_length(const char *s, long long *out)
{
	long long n = 0;
	int d;

	*out = -1;
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		d = *s - '0';
		if (n > (LLONG_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	*out = n;
	return 0;
}

/*
 * Sets req->full_path (decoded) and req->path (base path stripped).
 * REQUEST_URI is raw and decoded here; SCRIPT_NAME and PATH_INFO are
 * already decoded by the front end, so they are only checked.
 */
static int
parse_path(bh_request *req, const struct env *e)
{
	const char *raw, *q, *base = bh_cfg.base_path, *full;
	size_t rawlen, fulllen, blen;

	if (e->uri != NULL) {
		raw = e->uri;
		rawlen = (q = strchr(raw, '?')) != NULL ?
		    (size_t)(q - raw) : strlen(raw);
		if ((full = bh_url_decode(req->pool, raw, rawlen, false,
		    &fulllen)) == NULL) {
			bh_problem(req, 400, BH_PROBLEM_BAD_REQUEST, "path",
			    "the path has a bad percent-escape or an "
			    "encoded NUL");
			return -1;
		}
	} else {
		full = bh_psprintf(req->pool, "%s%s",
		    e->script_name != NULL ? e->script_name : "",
		    e->path_info != NULL ? e->path_info : "");
		fulllen = strlen(full);
	}
	if (fulllen == 0) {
		full = "/";
		fulllen = 1;
	}
	if (full[0] != '/') {
		bh_problem(req, 400, BH_PROBLEM_BAD_REQUEST, "path",
		    "the path must start with '/'");
		return -1;
	}
	if (!bh_utf8_valid(full, fulllen)) {
		bh_problem(req, 400, BH_PROBLEM_BAD_REQUEST, "path",
		    "the path is not valid UTF-8");
		return -1;
	}
	req->full_path = full;
	req->path = full;
	if (base == NULL)
		return 0;
	blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--; /* "/" or "/search/" as a base path */
	if (blen == 0 || fulllen < blen || memcmp(full, base, blen) != 0)
		return 0;
	if (full[blen] == '\0')
		req->path = "/";
	else if (full[blen] == '/')
		req->path = full + blen;
	return 0;
}

int
bh_request_from_env(bh_request *req, char *const *envp)
{
	struct env e;
	const char *bad_key;

	env_scan(&e, envp);

	/* The id first, so every problem below carries it. */
	if (e.request_id != NULL && request_id_acceptable(e.request_id))
		req->request_id = bh_pstrdup(req->pool, e.request_id);
	else
		req->request_id = request_id_new(req->pool);

	req->method_name = bh_pstrdup(req->pool,
	    e.method != NULL ? e.method : "");
	req->method = method_bit(req->method_name);
	req->remote_addr = e.remote_addr != NULL ?
	    bh_pstrdup(req->pool, e.remote_addr) : NULL;
	parse_headers(req, envp, e.nheaders);
	parse_cookies(req, e.cookie);
	req->content_type = media_type(req->pool, e.content_type);
	req->query = bh_pstrdup(req->pool, e.query != NULL ? e.query : "");
	req->content_length = -1;

	if (parse_path(req, &e) == -1)
		return -1;
	if (bh_parse_urlencoded(req->pool, req->query, strlen(req->query),
	    &req->query_params, &bad_key) == -1) {
		req->query_params.n = 0;
		/* Name the parameter when its name is readable. */
		if (bad_key != NULL && bh_utf8_valid(bad_key, strlen(bad_key)))
			bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
			    bad_key, "%s has a bad percent-escape or an "
			    "encoded NUL", bad_key);
		else
			bh_problem(req, 400, BH_PROBLEM_BAD_REQUEST, "query",
			    "the query string has a bad percent-escape or "
			    "an encoded NUL");
		return -1;
	}
	if (parse_content_length(e.content_length,
	    &req->content_length) == -1) {
		bh_problem(req, 400, BH_PROBLEM_BAD_REQUEST, NULL,
		    "Content-Length is not a decimal number");
		return -1;
	}
	if (req->content_length > 0 &&
	    (unsigned long long)req->content_length > bh_cfg.max_body) {
		bh_problem(req, 413, BH_PROBLEM_PAYLOAD_TOO_LARGE, NULL,
		    "the body is larger than the limit of %zu bytes",
		    bh_cfg.max_body);
		return -1;
	}
	return 0;
}

/* ----------------------------------------------------------------- body */

bool
bh_is_json_type(const char *type)
{
	size_t n;

	if (strcmp(type, "application/json") == 0)
		return true;
	/* application/problem+json, application/merge-patch+json, ... */
	n = strlen(type);
	return n > 5 && strcmp(type + n - 5, "+json") == 0;
}

/* Sets the 400 (413, 500) for a JSON body that fault refused. */
static void
json_refused(bh_request *req, const struct bh_json_fault *fault)
{
	const char *name;

	switch (fault->error) {
	case BH_JSON_NOT_UTF8:
		bh_problem(req, 400, BH_PROBLEM_MALFORMED_BODY, NULL,
		    "the JSON body is not valid UTF-8");
		break;
	case BH_JSON_TOO_DEEP:
		bh_problem(req, 400, BH_PROBLEM_MALFORMED_BODY, NULL,
		    "the JSON body nests arrays and objects deeper than the "
		    "limit of %d", fault->max_depth);
		break;
	case BH_JSON_REPEATED:
		/* json-c would keep the last one silently. */
		if ((name = bh_name_shown(req->pool, fault->name,
		    fault->name_len)) != NULL)
			bh_problem(req, 400, BH_PROBLEM_MALFORMED_BODY, name,
			    "the JSON body gives the member \"%s\" twice in "
			    "one object (at byte %zu)", name, fault->at);
		else
			bh_problem(req, 400, BH_PROBLEM_MALFORMED_BODY, NULL,
			    "the JSON body gives a member twice in one object "
			    "(at byte %zu; its name is not shown)", fault->at);
		break;
	case BH_JSON_TOO_LARGE:
		bh_problem(req, 413, BH_PROBLEM_PAYLOAD_TOO_LARGE, NULL,
		    "the JSON body is too large");
		break;
	case BH_JSON_PARSER:
		bh_problem(req, 400, BH_PROBLEM_MALFORMED_BODY, NULL,
		    "the body is not valid JSON: %s", fault->why);
		break;
	case BH_JSON_NO_MEMORY:
		bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL,
		    "could not allocate a JSON parser");
		break;
	case BH_JSON_SYNTAX:
	case BH_JSON_OK:
		bh_problem(req, 400, BH_PROBLEM_MALFORMED_BODY, NULL,
		    "the body is not valid JSON: %s at byte %zu", fault->why,
		    fault->at);
		break;
	}
}

static int
parse_json_body(bh_request *req)
{
	struct bh_json_fault fault;

	if (bh_json_parse(req->pool, req->body, req->body_len,
	    bh_cfg.json_max_depth, &req->json, &fault) == -1) {
		json_refused(req, &fault);
		return -1;
	}
	return 0;
}

int
bh_request_parse_body(bh_request *req)
{
	if (req->body == NULL || req->body_len == 0 ||
	    req->content_type == NULL)
		return 0;
	if (bh_is_json_type(req->content_type))
		return parse_json_body(req);
	if (strcmp(req->content_type,
	    "application/x-www-form-urlencoded") == 0) {
		if (bh_parse_urlencoded(req->pool, req->body, req->body_len,
		    &req->form, NULL) == -1) {
			req->form.n = 0;
			bh_problem(req, 400, BH_PROBLEM_MALFORMED_BODY, NULL,
			    "the form body has a bad percent-escape or a NUL");
			return -1;
		}
		return 0;
	}
	/* Other types stay raw: routes declaring body parameters answer
	 * 415 from validate.c. */
	return 0;
}

/* --------------------------------------------------------------- lookup */

static const char *
kv_get(const bh_kvlist *list, const char *name)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		if (strcmp(list->items[i].key, name) == 0)
			return list->items[i].val;
	return NULL;
}

const char *
bh_header_get(const bh_request *req, const char *name)
{
	return kv_get(&req->headers, name);
}

const char *
bh_cookie_get(const bh_request *req, const char *name)
{
	return kv_get(&req->cookies, name);
}

const char *
bh_query_get(const bh_request *req, const char *name)
{
	return kv_get(&req->query_params, name);
}

/* ---------------------------------------------------------- idempotency */

/* As payment providers take them: long enough for a uuid with a
 * prefix, short enough to index. */
#define IDEMPOTENCY_KEY_MAX 255

const char *
bh_idempotency_key(bh_request *req, bool required)
{
	const char *key = bh_header_get(req, "idempotency-key");
	size_t i, len;

	if (key == NULL) {
		if (!required)
			return NULL;
		bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "Idempotency-Key",
		    "the Idempotency-Key header is required");
		return NULL;
	}
	/* Given empty is a client's bug, not a request without a key. */
	len = strlen(key);
	for (i = 0; i < len; i++)
		if (key[i] < 0x20 || key[i] > 0x7e)
			break;
	if (len == 0 || len > IDEMPOTENCY_KEY_MAX || i < len) {
		bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "Idempotency-Key", "the Idempotency-Key header must be 1 "
		    "to %d printable ASCII characters", IDEMPOTENCY_KEY_MAX);
		return NULL;
	}
	return key;
}

/*
 * HMAC-SHA-256 (RFC 2104) of the parts of a request, on the runtime's
 * own SHA-256.  Keyed because a request body may hold a card number: an
 * unkeyed hash of it, stored for comparing replays, could be reversed by
 * trying the few billion numbers that fit a known brand and last four
 * digits.
 */
struct hmac {
	bh_sha256_ctx inner;
	uint8_t opad[64];
};

static void
hmac_init(struct hmac *h, const void *key, size_t keylen)
{
	uint8_t block[64], ipad[64];
	size_t i;

	memset(block, 0, sizeof(block));
	if (keylen > sizeof(block))
		bh_sha256(key, keylen, block);
	else if (keylen > 0)
		memcpy(block, key, keylen);
	for (i = 0; i < sizeof(block); i++) {
		ipad[i] = block[i] ^ 0x36;
		h->opad[i] = block[i] ^ 0x5c;
	}
	bh_sha256_init(&h->inner);
	bh_sha256_update(&h->inner, ipad, sizeof(ipad));
}

static void
hmac_final(struct hmac *h, uint8_t out[BH_SHA256_LEN])
{
	uint8_t inner[BH_SHA256_LEN];
	bh_sha256_ctx outer;

	bh_sha256_final(&h->inner, inner);
	bh_sha256_init(&outer);
	bh_sha256_update(&outer, h->opad, sizeof(h->opad));
	bh_sha256_update(&outer, inner, sizeof(inner));
	bh_sha256_final(&outer, out);
}

/*
 * The key is this service's client secret (every service has one to get
 * its tokens), so prints are stable across workers and restarts; a
 * service without one gets the plain SHA-256 of the same text.  A new
 * client secret makes earlier prints differ: a replay across the change
 * is refused as another request, never answered with a wrong response.
 * The parts are separated by a NUL, which neither the method nor the
 * decoded path can hold (request.c refuses %00), so that no two requests
 * hash the same text: "POST" "/a" "b..." is not "POST" "/ab" "...".
 */
char *
bh_request_fingerprint(bh_request *req)
{
	static const char purpose[] = "bellhop request fingerprint";
	uint8_t digest[BH_SHA256_LEN];
	char *hex = bh_palloc(req->pool, BH_SHA256_HEX_LEN + 1);
	const char *method = req->method_name != NULL ? req->method_name : "";
	const char *path = req->full_path != NULL ? req->full_path :
	    req->path != NULL ? req->path : "";
	const char *key = bh_cfg.client_secret;
	struct hmac h;
	bh_sha256_ctx *ctx = &h.inner;

	if (key != NULL && key[0] != '\0') {
		hmac_init(&h, key, strlen(key));
		bh_sha256_update(ctx, purpose, sizeof(purpose));
	} else
		bh_sha256_init(ctx);
	bh_sha256_update(ctx, method, strlen(method) + 1);
	bh_sha256_update(ctx, path, strlen(path) + 1);
	if (req->body != NULL && req->body_len > 0)
		bh_sha256_update(ctx, req->body, req->body_len);
	if (key != NULL && key[0] != '\0')
		hmac_final(&h, digest);
	else
		bh_sha256_final(ctx, digest);
	bh_sha256_digest_hex(digest, hex);
	return hex;
}
