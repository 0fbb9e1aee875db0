/*
 * validate.c - declared parameters (as kcgi's kvalid): each bh_param of the
 * matched route is looked up in its source, checked against its type and
 * bounds, and stored in req->values.  A handler sees only values that
 * passed; anything else is a 400 naming the parameter.
 *
 * A BH_OBJECT parameter with .members is checked like a body of its own
 * (undeclared members refused, each member typed), its values kept in
 * the parameter's bh_value and named "card.number" in messages and in
 * bh_arg.
 */
#include <ctype.h>
#include <inttypes.h>
#include <string.h>

#include "internal.h"

/* Bounds used when a spec leaves min and max both 0. */
#define STRING_DEFAULT_MAX 1024
#define ARRAY_DEFAULT_MAX 1000 /* elements of a BH_ARRAY */

/* How the request's body carries parameters. */
enum body_kind { BODY_NONE, BODY_JSON, BODY_FORM };

/* One raw occurrence of a parameter: text, or a JSON member. */
struct raw {
	const char *text;
	size_t len;
	json_object *json; /* set for a JSON member; text is then NULL */
	bool is_json;
};

static void
int_bounds(const bh_param *p, int64_t *min, int64_t *max)
{
	if (p->min == 0 && p->max == 0) {
		*min = INT64_MIN;
		*max = INT64_MAX;
	} else {
		*min = p->min;
		*max = p->max;
	}
}

static void
string_bounds(const bh_param *p, int64_t *min, int64_t *max)
{
	if (p->min == 0 && p->max == 0) {
		*min = 0;
		*max = STRING_DEFAULT_MAX;
	} else {
		*min = p->min;
		*max = p->max;
	}
}

/*
 * Strict decimal: an optional '-', then digits only, nothing else, no
 * overflow.  strtoll would accept spaces, '+' and trailing garbage.
 */
static bool
parse_int64(const char *s, size_t len, int64_t *out)
{
	uint64_t limit, acc = 0;
	bool neg = false;
	size_t i = 0;
	unsigned d;

	if (len > 0 && s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == len)
		return false;
	/* Magnitude limit: 2^63 for a negative value, 2^63 - 1 otherwise. */
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		if (acc > (limit - d) / 10)
			return false;
		acc = acc * 10 + d;
	}
	if (neg)
		*out = acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN :
		    -(int64_t)acc;
	else
		*out = (int64_t)acc;
	return true;
}

size_t
bh_utf8_length(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

bool
bh_uuid_valid(const char *s)
{
	size_t i;

	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i]))
			return false;
	}
	return s[36] == '\0';
}

bool
bh_text_valid(const char *s, size_t len, bool multiline)
{
	unsigned char c;
	size_t i;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (multiline && (c == '\n' || c == '\t'))
			continue;
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return bh_utf8_valid(s, len);
}

/* Names longer than this many characters are cut in messages. */
#define NAME_SHOWN_MAX 64

const char *
bh_name_shown(bh_pool *pool, const char *name, size_t len)
{
	size_t cut, chars = 0;

	if (len == 0 || !bh_text_valid(name, len, false))
		return NULL;
	for (cut = 0; cut < len; cut++)
		if (((unsigned char)name[cut] & 0xc0) != 0x80 &&
		    chars++ == NAME_SHOWN_MAX)
			break;
	if (cut == len)
		return bh_pstrndup(pool, name, len);
	return bh_psprintf(pool, "%.*s...", (int)cut, name);
}

/*
 * Messages name the value as the client wrote it: "nights", or for a
 * member of a BH_OBJECT parameter "card.number".  name is that path; the
 * spec p gives the rules.
 */

/* Sets the 400 "<name> <what>" and returns -1. */
static int
fail(bh_request *req, const char *name, const char *what)
{
	bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, name, "%s %s",
	    name, what);
	return -1;
}

static int
fail_int(bh_request *req, const bh_param *p, const char *name)
{
	int64_t min, max;

	int_bounds(p, &min, &max);
	if (min == INT64_MIN && max == INT64_MAX)
		bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, name,
		    "%s must be an integer", name);
	else
		bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, name,
		    "%s must be an integer between %" PRId64 " and %" PRId64,
		    name, min, max);
	return -1;
}

static int
fail_enum(bh_request *req, const bh_param *p, const char *name)
{
	bh_buf list;
	size_t i;

	bh_buf_init(&list, req->pool);
	for (i = 0; p->choices != NULL && p->choices[i] != NULL; i++) {
		if (i > 0)
			bh_buf_puts(&list, ", ");
		bh_buf_puts(&list, p->choices[i]);
	}
	return fail(req, name, bh_psprintf(req->pool, "must be one of: %s",
	    list.data));
}

static int
check_string(bh_request *req, const bh_param *p, const char *name,
    const char *s, size_t len)
{
	int64_t min, max;
	size_t chars;

	if (!bh_text_valid(s, len, false))
		return fail(req, name,
		    "must be UTF-8 text without control characters");
	string_bounds(p, &min, &max);
	chars = bh_utf8_length(s, len);
	if ((int64_t)chars < min || (int64_t)chars > max) {
		bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, name,
		    "%s must be between %" PRId64 " and %" PRId64
		    " characters long", name, min, max);
		return -1;
	}
	return 0;
}

static int
check_int(bh_request *req, const bh_param *p, const char *name, int64_t v)
{
	int64_t min, max;

	int_bounds(p, &min, &max);
	if (v < min || v > max)
		return fail_int(req, p, name);
	return 0;
}

static int
check_enum(bh_request *req, const bh_param *p, const char *name,
    const char *s, size_t len, int64_t *index)
{
	size_t i;

	for (i = 0; p->choices != NULL && p->choices[i] != NULL; i++)
		if (strlen(p->choices[i]) == len &&
		    memcmp(p->choices[i], s, len) == 0) {
			*index = (int64_t)i;
			return 0;
		}
	return fail_enum(req, p, name);
}

/* A calendar date YYYY-MM-DD, within the spec's bounds when it has any
 * (days since 1970-01-01, both 0 for none). */
static int
check_date(bh_request *req, const bh_param *p, const char *name,
    const char *s, size_t len, int64_t *days)
{
	if (!bh_date_parse(s, len, days))
		return fail(req, name, "must be a calendar date written "
		    "YYYY-MM-DD, from 1970-01-01 to 9999-12-31");
	if ((p->min != 0 || p->max != 0) &&
	    (*days < p->min || *days > p->max))
		return fail(req, name, bh_psprintf(req->pool,
		    "must be a date from %s to %s",
		    bh_date_format(req->pool, p->min),
		    bh_date_format(req->pool, p->max)));
	return 0;
}

static int
check_array(bh_request *req, const bh_param *p, const char *name,
    json_object *j, int64_t *length)
{
	int64_t min = 0, max = ARRAY_DEFAULT_MAX;

	if (p->min != 0 || p->max != 0) {
		min = p->min;
		max = p->max;
	}
	if (!json_object_is_type(j, json_type_array))
		return fail(req, name, "must be a JSON array");
	*length = (int64_t)json_object_array_length(j);
	if (*length < min || *length > max) {
		bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, name,
		    "%s must be a JSON array of %" PRId64 " to %" PRId64
		    " elements", name, min, max);
		return -1;
	}
	return 0;
}

/* Validates a value given as text (path, query, form, or a default). */
static int
from_text(bh_request *req, const bh_param *p, const char *name,
    const char *s, size_t len, bh_value *v)
{
	v->s = s;
	v->len = len;
	switch (p->type) {
	case BH_STRING:
		return check_string(req, p, name, s, len);
	case BH_INT:
		if (!parse_int64(s, len, &v->i))
			return fail_int(req, p, name);
		return check_int(req, p, name, v->i);
	case BH_BOOL:
		if ((len == 4 && memcmp(s, "true", 4) == 0) ||
		    (len == 1 && s[0] == '1'))
			v->i = 1;
		else if ((len == 5 && memcmp(s, "false", 5) == 0) ||
		    (len == 1 && s[0] == '0'))
			v->i = 0;
		else
			return fail(req, name,
			    "must be true, false, 1 or 0");
		return 0;
	case BH_ENUM:
		return check_enum(req, p, name, s, len, &v->i);
	case BH_DATE:
		return check_date(req, p, name, s, len, &v->i);
	case BH_OBJECT:
		/* Only a form body gets here (tables are checked first): a
		 * form field cannot hold an object. */
		return fail(req, name, "must be a JSON object (send the body "
		    "as application/json)");
	case BH_ARRAY:
		return fail(req, name, "must be a JSON array (send the body "
		    "as application/json)");
	case BH_IGNORED:
		return 0;
	}
	return fail(req, name, "has an unknown type");
}

static int validate_members(bh_request *, const bh_param *, const char *,
    json_object *, bh_value **, size_t *);

/*
 * Validates a JSON member: the JSON type must match (a number is not a
 * string, "5" is not an integer, 5.0 is not an integer).
 */
static int
from_json(bh_request *req, const bh_param *p, const char *name,
    json_object *j, bh_value *v)
{
	const char *s;

	switch (p->type) {
	case BH_STRING:
	case BH_ENUM:
	case BH_DATE:
		if (!json_object_is_type(j, json_type_string))
			return fail(req, name, "must be a JSON string");
		s = json_object_get_string(j);
		v->s = s;
		v->len = (size_t)json_object_get_string_len(j);
		if (p->type == BH_STRING)
			return check_string(req, p, name, s, v->len);
		if (p->type == BH_DATE)
			return check_date(req, p, name, s, v->len, &v->i);
		return check_enum(req, p, name, s, v->len, &v->i);
	case BH_INT:
		if (!json_object_is_type(j, json_type_int))
			return fail_int(req, p, name);
		/*
		 * json-c keeps integers above INT64_MAX as uint64 (saturated
		 * at UINT64_MAX) and saturates those below INT64_MIN to
		 * INT64_MIN without telling: INT64_MIN itself is therefore
		 * refused, as it may stand for any smaller number.
		 */
		v->i = json_object_get_int64(j);
		if ((v->i == INT64_MAX &&
		    json_object_get_uint64(j) > (uint64_t)INT64_MAX) ||
		    v->i == INT64_MIN)
			return fail_int(req, p, name);
		v->s = bh_psprintf(req->pool, "%" PRId64, v->i);
		v->len = strlen(v->s);
		return check_int(req, p, name, v->i);
	case BH_BOOL:
		if (!json_object_is_type(j, json_type_boolean))
			return fail(req, name, "must be true or false");
		v->i = json_object_get_boolean(j) ? 1 : 0;
		v->s = v->i ? "true" : "false";
		v->len = strlen(v->s);
		return 0;
	case BH_OBJECT:
		if (!json_object_is_type(j, json_type_object))
			return fail(req, name, "must be a JSON object");
		v->json = j;
		if (p->members == NULL)
			return 0;
		return validate_members(req, p->members, name, j,
		    &v->members, &v->nmembers);
	case BH_ARRAY:
		v->json = j;
		return check_array(req, p, name, j, &v->i);
	case BH_IGNORED:
		v->json = j;
		return 0;
	}
	return fail(req, name, "has an unknown type");
}

static enum body_kind
body_kind(const bh_request *req)
{
	const char *ct = req->content_type;

	if (req->json != NULL || (ct != NULL && bh_is_json_type(ct)))
		return BODY_JSON;
	if (req->form.n > 0 || (ct != NULL &&
	    strcmp(ct, "application/x-www-form-urlencoded") == 0))
		return BODY_FORM;
	return BODY_NONE;
}

/* True if name is a member of the object params describe: a BH_BODY
 * parameter of a route, or any member of a BH_OBJECT (nested). */
static bool
declared_member(const bh_param *params, const char *name, bool nested)
{
	const bh_param *p;

	for (p = params; p->name != NULL; p++)
		if ((nested || p->src == BH_BODY) && strcmp(p->name, name) == 0)
			return true;
	return false;
}

/*
 * Refuses the first member of a JSON object (the body, or an object
 * inside it, prefix naming it) that is not declared: a misspelt name
 * ("emial") is never dropped silently, and nothing reaches the handler
 * unchecked.  Form bodies are left alone: OAuth 2.0 (RFC 6749 section
 * 3.1) says unknown form parameters are ignored.
 */
static int
refuse_unknown_members(bh_request *req, json_object *obj,
    const bh_param *params, const char *prefix)
{
	const bh_param *p;
	const char *shown;
	bool nested = prefix != NULL;
	bh_buf known;

	json_object_object_foreach(obj, key, val) {
		(void)val;
		if (declared_member(params, key, nested))
			continue;
		bh_buf_init(&known, req->pool);
		for (p = params; p->name != NULL; p++)
			if (nested || p->src == BH_BODY)
				bh_buf_printf(&known, "%s%s", known.len > 0 ?
				    ", " : "", p->name);
		shown = bh_name_shown(req->pool, key, strlen(key));
		if (shown == NULL && !nested)
			bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
			    NULL, "the body has an unknown member (its name is "
			    "not shown); the members are: %s", known.data);
		else if (shown == NULL)
			bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
			    prefix, "%s has an unknown member (its name is not "
			    "shown); its members are: %s", prefix, known.data);
		else if (!nested)
			bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
			    shown, "%s is not a known member; the members "
			    "are: %s", shown, known.data);
		else {
			shown = bh_psprintf(req->pool, "%s.%s", prefix, shown);
			bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
			    shown, "%s is not a known member; the members of "
			    "%s are: %s", shown, prefix, known.data);
		}
		return -1;
	}
	return 0;
}

/* Checks once that the body can carry the route's body parameters, and
 * holds no member the route does not declare. */
static int
check_body(bh_request *req, const bh_param *params)
{
	const bh_param *p;
	bool any = false, required = false;

	for (p = params; p->name != NULL; p++)
		if (p->src == BH_BODY) {
			any = true;
			required = required || p->required;
		}
	if (!any)
		return 0;
	switch (body_kind(req)) {
	case BODY_JSON:
		/* An empty JSON body is no body; "null" parses to NULL. */
		if ((req->json == NULL && req->body_len > 0) ||
		    (req->json != NULL &&
		    !json_object_is_type(req->json, json_type_object))) {
			bh_problem(req, 400, BH_PROBLEM_BAD_REQUEST, NULL,
			    "the request body must be a JSON object");
			return -1;
		}
		if (req->json != NULL)
			return refuse_unknown_members(req, req->json, params,
			    NULL);
		return 0;
	case BODY_FORM:
		return 0;
	case BODY_NONE:
		break;
	}
	if (req->body_len > 0 || required) {
		bh_problem(req, 415, BH_PROBLEM_UNSUPPORTED_MEDIA_TYPE, NULL,
		    "the request body must be application/json or "
		    "application/x-www-form-urlencoded");
		return -1;
	}
	return 0;
}

/* Counts the occurrences of name in list; *first gets the first. */
static size_t
kv_find(const bh_kvlist *list, const char *name, struct raw *first)
{
	size_t i, n = 0;

	for (i = 0; i < list->n; i++) {
		if (strcmp(list->items[i].key, name) != 0)
			continue;
		if (n++ == 0) {
			first->text = list->items[i].val;
			first->len = list->items[i].len;
		}
	}
	return n;
}

/* The member name of obj as raw; 0 when absent or null, else 1. */
static size_t
json_member(json_object *obj, const char *name, struct raw *raw)
{
	if (obj == NULL || !json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, name, &raw->json) ||
	    raw->json == NULL)
		return 0;
	raw->is_json = true;
	return 1;
}

/* Finds p's raw value; returns how many times it was given (a JSON
 * member counts once: request.c refuses a name given twice, and a member
 * set to null counts as absent). */
static size_t
lookup(const bh_request *req, const bh_param *p, struct raw *raw)
{
	memset(raw, 0, sizeof(*raw));
	switch (p->src) {
	case BH_PATH:
		return kv_find(&req->path_params, p->name, raw);
	case BH_QUERY:
		return kv_find(&req->query_params, p->name, raw);
	case BH_BODY:
		if (req->json != NULL)
			return json_member(req->json, p->name, raw);
		return kv_find(&req->form, p->name, raw);
	}
	return 0;
}

/*
 * The value of p (named name in messages) once looked up: count
 * occurrences found in raw.  Absent: required is a 400, a default is
 * validated as if given (a default that fails is the service's bug: 500).
 */
static int
validate_one(bh_request *req, const bh_param *p, const char *name,
    size_t count, const struct raw *raw, bh_value *v)
{
	v->spec = p;
	if (count > 1)
		return fail(req, name, "must be given only once");
	if (count == 0) {
		if (p->required)
			return fail(req, name, "is required");
		if (p->def == NULL)
			return 0;
		if (from_text(req, p, name, p->def, strlen(p->def), v) == -1) {
			bh_log(BH_LOG_ERROR, "default of parameter %s is "
			    "invalid", name);
			bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL,
			    "the server is misconfigured");
			return -1;
		}
		v->present = true;
		return 0;
	}
	if ((raw->is_json ? from_json(req, p, name, raw->json, v) :
	    from_text(req, p, name, raw->text, raw->len, v)) == -1)
		return -1;
	v->present = true;
	return 0;
}

/*
 * The members of a BH_OBJECT value obj, named prefix ("card"), validated
 * like a body against params: undeclared members refused, then each
 * declared one (its src is not looked at) into *values, in the pool.
 */
static int
validate_members(bh_request *req, const bh_param *params, const char *prefix,
    json_object *obj, bh_value **values, size_t *nvalues)
{
	const bh_param *p;
	struct raw raw;
	size_t n, i;

	for (n = 0; params[n].name != NULL; n++)
		continue;
	*values = bh_palloc(req->pool, (n > 0 ? n : 1) * sizeof(**values));
	*nvalues = n;
	if (refuse_unknown_members(req, obj, params, prefix) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		p = &params[i];
		memset(&raw, 0, sizeof(raw));
		if (validate_one(req, p, bh_psprintf(req->pool, "%s.%s",
		    prefix, p->name), json_member(obj, p->name, &raw), &raw,
		    &(*values)[i]) == -1)
			return -1;
	}
	return 0;
}

/* JSON values cannot come from a path or a query: such a declaration is
 * a bug of the route table. */
static bool
is_json_only(enum bh_type type)
{
	return type == BH_OBJECT || type == BH_ARRAY || type == BH_IGNORED;
}

int
bh_validate_params(bh_request *req)
{
	const bh_param *params, *p;
	struct raw raw;
	bh_value *v;
	size_t n;

	req->values = NULL;
	req->nvalues = 0;
	if (req->route == NULL || (params = req->route->params) == NULL)
		return 0;
	for (n = 0; params[n].name != NULL; n++)
		if (is_json_only(params[n].type) && params[n].src != BH_BODY) {
			bh_log(BH_LOG_ERROR, "route %s: parameter %s is a JSON "
			    "type but not BH_BODY", req->route->pattern,
			    params[n].name);
			bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL,
			    "the server is misconfigured");
			return -1;
		}
	if (n == 0)
		return 0;
	if (check_body(req, params) == -1)
		return -1;
	req->values = bh_palloc(req->pool, n * sizeof(*req->values));
	req->nvalues = n;

	for (p = params, v = req->values; p->name != NULL; p++, v++)
		if (validate_one(req, p, p->name, lookup(req, p, &raw), &raw,
		    v) == -1)
			return -1;
	return 0;
}

/*
 * The value named name among values[0..n): the parameter of that name,
 * else for "card.number" the member "number" of the BH_OBJECT "card"
 * (a path of any depth).  NULL when there is none, or when the object
 * was not given.
 */
static const bh_value *
find_value(const bh_value *values, size_t n, const char *name)
{
	const char *dot;
	size_t i, len;

	/* A value left without spec: validation stopped before it. */
	for (i = 0; i < n; i++)
		if (values[i].spec != NULL &&
		    strcmp(values[i].spec->name, name) == 0)
			return &values[i];
	if ((dot = strchr(name, '.')) == NULL)
		return NULL;
	len = (size_t)(dot - name);
	for (i = 0; i < n; i++)
		if (values[i].spec != NULL &&
		    values[i].spec->type == BH_OBJECT &&
		    strlen(values[i].spec->name) == len &&
		    memcmp(values[i].spec->name, name, len) == 0)
			return values[i].present ? find_value(values[i].members,
			    values[i].nmembers, dot + 1) : NULL;
	return NULL;
}

const bh_value *
bh_arg(const bh_request *req, const char *name)
{
	if (name == NULL || req->values == NULL)
		return NULL;
	return find_value(req->values, req->nvalues, name);
}

int64_t
bh_arg_int(const bh_request *req, const char *name)
{
	const bh_value *v = bh_arg(req, name);

	return v != NULL && v->present ? v->i : 0;
}

const char *
bh_arg_str(const bh_request *req, const char *name)
{
	const bh_value *v = bh_arg(req, name);

	return v != NULL && v->present ? v->s : NULL;
}

bool
bh_arg_present(const bh_request *req, const char *name)
{
	const bh_value *v = bh_arg(req, name);

	return v != NULL && v->present;
}
