/*
 * router.c - from a parsed request to a handler: the built-in /health and
 * /ready, then the service's route table, then access (bearer token and
 * scopes), then body parsing and parameter validation, then the handler.
 *
 * Matching runs for every request, so it allocates nothing until a route
 * is chosen: the path is split once into (pointer, length) segments on the
 * stack and each pattern is walked in place.
 */
#include <inttypes.h>
#include <string.h>

#include "internal.h"

/* Deeper paths match no route (no pattern is that long) and get a 404. */
#define MAX_SEGMENTS 32

/* Bounds of a {name:int} segment unless a BH_PATH param tightens them. */
#define PATH_INT_MIN 1
#define PATH_INT_MAX 2147483647

struct segment {
	const char *p;
	size_t len;
};

/* The end of the segment at s: the next '/' or the NUL. */
static const char *
segment_end(const char *s)
{
	while (*s != '\0' && *s != '/')
		s++;
	return s;
}

/* Splits "/a/b" into "a", "b".  "/" and "" give no segment; "/a/" gives
 * "a" and "", so a trailing slash matches no pattern without one.
 * Returns the number of segments, or -1 when there are too many. */
static int
split_path(const char *path, struct segment *segs)
{
	const char *end;
	int n = 0;

	if (path[0] == '/')
		path++;
	if (path[0] == '\0')
		return 0;
	for (;;) {
		if (n == MAX_SEGMENTS)
			return -1;
		end = segment_end(path);
		segs[n].p = path;
		segs[n].len = (size_t)(end - path);
		n++;
		if (*end == '\0')
			return n;
		path = end + 1;
	}
}

/* The next segment of a pattern: sets *len, returns its start, or NULL at
 * the end.  Patterns may or may not start with '/'. */
static const char *
pattern_next(const char **pattern, size_t *len)
{
	const char *start = *pattern, *end;

	if (*start == '/')
		start++;
	if (*start == '\0')
		return NULL;
	end = segment_end(start);
	*len = (size_t)(end - start);
	*pattern = end;
	return start;
}

static bool
pattern_is_param(const char *seg, size_t len)
{
	return len >= 2 && seg[0] == '{' && seg[len - 1] == '}';
}

/*
 * Matches pattern against segs.  On a match, *rank orders routes that
 * could both match: a bit per parameter segment, earlier segments weigh
 * more, so the lower rank has a literal where the other has a parameter
 * first ("/hotels/new" beats "/hotels/{id}").
 */
static bool
route_matches(const char *pattern, const struct segment *segs, int nsegs,
    uint64_t *rank)
{
	const char *seg;
	size_t len;
	int i;

	*rank = 0;
	for (i = 0; (seg = pattern_next(&pattern, &len)) != NULL; i++) {
		if (i == nsegs)
			return false;
		if (pattern_is_param(seg, len)) {
			if (segs[i].len == 0)
				return false;
			if (i < 64)
				*rank |= UINT64_C(1) << (63 - i);
		} else if (len != segs[i].len ||
		    memcmp(seg, segs[i].p, len) != 0)
			return false;
	}
	return i == nsegs;
}

/* The methods a route answers: GET implies HEAD. */
static unsigned
route_methods(const bh_route *route)
{
	return route->methods & BH_GET ? route->methods | BH_HEAD :
	    route->methods;
}

/* Sets Allow from a method set (OPTIONS is always answered). */
static void
set_allow(bh_request *req, unsigned methods)
{
	static const struct {
		unsigned bit;
		const char *name;
	} order[] = {
		{ BH_GET, "GET" }, { BH_HEAD, "HEAD" }, { BH_POST, "POST" },
		{ BH_PUT, "PUT" }, { BH_PATCH, "PATCH" },
		{ BH_DELETE, "DELETE" }, { BH_OPTIONS, "OPTIONS" },
	};
	char allow[64];
	size_t i, len = 0, n;

	methods |= BH_OPTIONS;
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (!(methods & order[i].bit))
			continue;
		n = strlen(order[i].name);
		if (len > 0) {
			memcpy(allow + len, ", ", 2);
			len += 2;
		}
		memcpy(allow + len, order[i].name, n);
		len += n;
	}
	allow[len] = '\0';
	bh_add_header(req, "Allow", allow);
}

/*
 * Answers a path whose routes do not take this method: OPTIONS gets 204
 * with Allow, anything else 405 with Allow.  An unknown method
 * (req->method == 0) also gets 405 rather than 501: the path exists, and
 * Allow tells the client what it can do with it.
 */
static void
method_not_allowed(bh_request *req, unsigned methods)
{
	set_allow(req, methods);
	if (req->method == BH_OPTIONS) {
		bh_send(req, 204, NULL, NULL, 0);
		return;
	}
	bh_problem(req, 405, BH_PROBLEM_METHOD_NOT_ALLOWED, NULL,
	    "this path does not accept the method; Allow lists those it "
	    "does");
}

static void
send_status(bh_request *req, int status, const char *key1, const char *val1,
    const char *key2, const char *val2)
{
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, key1, json_object_new_string(val1));
	if (key2 != NULL)
		json_object_object_add(obj, key2, json_object_new_string(val2));
	bh_send_json(req, status, obj);
	json_object_put(obj);
}

/* /health and /ready.  Returns true when path was one of them. */
static bool
builtin(const bh_service *svc, bh_request *req, const char *path)
{
	bool health = strcmp(path, "/health") == 0;

	if (!health && strcmp(path, "/ready") != 0)
		return false;
	if (!(req->method & (BH_GET | BH_HEAD))) {
		method_not_allowed(req, BH_GET | BH_HEAD);
		return true;
	}
	if (health)
		send_status(req, 200, "status", "ok", "service",
		    svc->name != NULL ? svc->name : "");
	else if (!svc->uses_db || bh_db_ping())
		send_status(req, 200, "status", "ready", NULL, NULL);
	else
		bh_problem(req, 503, BH_PROBLEM_DB_UNAVAILABLE, NULL,
		    "the database is not reachable");
	return true;
}

/* Bounds of the {name:int} segment name: 1..2^31-1 unless the route
 * declares a BH_PATH parameter of that name with its own bounds. */
static void
path_int_bounds(const bh_route *route, const char *name, size_t namelen,
    int64_t *min, int64_t *max)
{
	const bh_param *p;

	*min = PATH_INT_MIN;
	*max = PATH_INT_MAX;
	for (p = route->params; p != NULL && p->name != NULL; p++)
		if (p->src == BH_PATH && strlen(p->name) == namelen &&
		    memcmp(p->name, name, namelen) == 0 &&
		    (p->min != 0 || p->max != 0)) {
			*min = p->min;
			*max = p->max;
			return;
		}
}

/* Strict decimal in [min, max]: digits with an optional '-', nothing
 * else (validate.c has its own, with messages, for declared params). */
static bool
int_in_range(const char *s, size_t len, int64_t min, int64_t max)
{
	int64_t v = 0;
	size_t i = 0;
	bool neg = false;
	int d;

	if (len > 0 && s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == len)
		return false;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		d = s[i] - '0';
		/* Accumulate negatively: INT64_MIN has no positive twin. */
		if (v < (INT64_MIN + d) / 10)
			return false;
		v = v * 10 - d;
	}
	if (!neg) {
		if (v == INT64_MIN)
			return false;
		v = -v;
	}
	return v >= min && v <= max;
}

/*
 * Copies the route's path parameters into req->path_params and checks
 * the {name:int} ones.  Returns 0, or -1 with a 400 set.
 */
static int
bind_path_params(bh_request *req, const bh_route *route,
    const struct segment *segs)
{
	const char *pattern = route->pattern, *seg, *colon, *name;
	size_t len, namelen, nparams = 0;
	int64_t min, max;
	bh_kv *kv;
	int i;

	for (i = 0; (seg = pattern_next(&pattern, &len)) != NULL; i++)
		if (pattern_is_param(seg, len))
			nparams++;
	if (nparams == 0)
		return 0;
	req->path_params.items = bh_palloc(req->pool,
	    nparams * sizeof(*req->path_params.items));
	pattern = route->pattern;
	for (i = 0; (seg = pattern_next(&pattern, &len)) != NULL; i++) {
		if (!pattern_is_param(seg, len))
			continue;
		name = seg + 1;
		colon = memchr(name, ':', len - 2);
		namelen = colon != NULL ? (size_t)(colon - name) : len - 2;
		kv = &req->path_params.items[req->path_params.n++];
		kv->key = bh_pstrndup(req->pool, name, namelen);
		kv->val = bh_pstrndup(req->pool, segs[i].p, segs[i].len);
		kv->len = segs[i].len;
		/* Only ":int" is a type; any other suffix is ignored. */
		if (colon == NULL || seg + len - 1 - (colon + 1) != 3 ||
		    memcmp(colon + 1, "int", 3) != 0)
			continue;
		path_int_bounds(route, name, namelen, &min, &max);
		if (!int_in_range(kv->val, kv->len, min, max)) {
			bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
			    kv->key, "%s must be an integer between %" PRId64
			    " and %" PRId64, kv->key, min, max);
			return -1;
		}
	}
	return 0;
}

static void
not_found(bh_request *req)
{
	bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
	    "no resource at this path");
}

void
bh_dispatch(const bh_service *svc, bh_request *req)
{
	struct segment segs[MAX_SEGMENTS];
	const bh_route *route, *best = NULL;
	const char *path = req->path != NULL ? req->path : "/";
	uint64_t rank, best_rank = 0;
	unsigned methods = 0;
	int nsegs;

	if (builtin(svc, req, path))
		return;
	if ((nsegs = split_path(path, segs)) == -1) {
		not_found(req);
		return;
	}
	/*
	 * Among the routes matching the path, the most specific one that
	 * takes the method wins: GET /hotels/new goes to "/hotels/new", and
	 * DELETE /hotels/new to "/hotels/{id}" when only that one takes
	 * DELETE.  No route taking the method: 405 listing what the path
	 * takes.
	 */
	for (route = svc->routes; route != NULL && route->pattern != NULL;
	    route++) {
		if (!route_matches(route->pattern, segs, nsegs, &rank))
			continue;
		methods |= route_methods(route);
		if (!(route_methods(route) & req->method))
			continue;
		if (best == NULL || rank < best_rank) {
			best = route;
			best_rank = rank;
		}
	}
	if (methods == 0) {
		not_found(req);
		return;
	}
	if (best == NULL) {
		method_not_allowed(req, methods);
		return;
	}

	req->route = best;
	/*
	 * Access first: a caller without the right token learns nothing
	 * about the route's parameters or body rules.  An undeclared route
	 * (bh_main refuses to serve one) is never public.
	 */
	if (best->access != BH_PUBLIC &&
	    bh_authorize(req, NULL, best->access == BH_TOKEN ?
	    best->scopes : NULL) == -1)
		return;
	if (bind_path_params(req, best, segs) == -1)
		return;
	if (req->body_len > 0 && bh_request_parse_body(req) == -1)
		return;
	if (bh_validate_params(req) == -1)
		return;
	best->handler(req);
}
