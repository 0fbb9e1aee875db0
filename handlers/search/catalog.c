/*
 * catalog.c - the catalogue's write side: hotels, their room types and
 * their rooms, created, replaced and deleted by operators (scope
 * catalog:write, see main.c); and the reads of one room type (public) and
 * of a hotel's rooms (scope catalog:read).
 *
 * Bodies are JSON objects read here member by member: each member has a
 * JSON type, bounds, and a name that a 400 gives back ("param":
 * "room_types[1].capacity").  A member this file does not know is
 * refused, so that a typo ("night_rate") is never silently dropped.  All
 * of that is checked before the transaction starts; what only the
 * database knows (the city exists, the hotel is not deleted, a name or a
 * room number is free) is checked inside it.
 *
 * Each write is one bh_db_tx that first locks the hotel's row (FOR NO KEY
 * UPDATE): the writes to one hotel queue up, so what a write checked
 * still holds when it commits, and a write that fails halfway leaves
 * nothing behind.  Deleting is soft (sql/search/002_catalogue_writes.sql
 * says why).  The read side follows by itself: triggers keep
 * hotels.lowest_rates and cities.hotel_count, and the city memo of
 * hotels.c needs nothing forgotten (see there).
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "search.h"

#define MAX_ROOM_TYPES 50     /* in one POST /hotels */
#define MAX_ROOM_NUMBERS 500  /* in one room type */
#define MAX_RATE 1000000000   /* nightly rate, in minor units */
#define MAX_ID 2147483647     /* ids are PostgreSQL integers */
#define MAX_REPRICED 1000     /* nightly_rates in one PUT /hotels/{id} */

const bh_param catalog_hotel_params[] = {
	{ "id", BH_PATH, BH_INT, true, 1, MAX_ID, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

const bh_param catalog_room_type_params[] = {
	{ "id", BH_PATH, BH_INT, true, 1, MAX_ID, NULL, NULL, NULL },
	{ "type_id", BH_PATH, BH_INT, true, 1, MAX_ID, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

const bh_param catalog_room_params[] = {
	{ "id", BH_PATH, BH_INT, true, 1, MAX_ID, NULL, NULL, NULL },
	{ "room_id", BH_PATH, BH_INT, true, 1, MAX_ID, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

/* ------------------------------------------------------------ statements */

static const char city_exists_sql[] =
	"SELECT 1 FROM cities WHERE id = $1";

/* The hotel, if not deleted, locked until the transaction ends. */
static const char hotel_lock_sql[] =
	"SELECT currency::text FROM hotels"
	" WHERE id = $1 AND deleted_at IS NULL FOR NO KEY UPDATE";

static const char hotel_insert_sql[] =
	"INSERT INTO hotels (city_id, name, address, email, stars, rating,"
	" description, currency, lat, lon)"
	" VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, ''), $8, $9, $10)"
	" RETURNING id";

static const char hotel_update_sql[] =
	"UPDATE hotels SET city_id = $2, name = $3, address = $4, email = $5,"
	" stars = $6, rating = $7, description = coalesce($8, ''),"
	" currency = $9, lat = $10, lon = $11"
	" WHERE id = $1 AND deleted_at IS NULL RETURNING id";

/* The hotel's live room types, whose rates are in its currency. */
static const char room_types_live_sql[] =
	"SELECT id::text FROM room_types"
	" WHERE hotel_id = $1 AND deleted_at IS NULL ORDER BY id";

/* $2 and $3: room type ids and their new rates, as integer arrays. */
static const char room_types_reprice_sql[] =
	"UPDATE room_types rt SET nightly_rate = x.rate"
	" FROM unnest($2::integer[], $3::integer[]) AS x(id, rate)"
	" WHERE rt.id = x.id AND rt.hotel_id = $1 AND rt.deleted_at IS NULL";

static const char hotel_delete_sql[] =
	"UPDATE hotels SET deleted_at = now()"
	" WHERE id = $1 AND deleted_at IS NULL RETURNING id";

/* No row when the hotel already has a live room type of that name. */
static const char room_type_insert_sql[] =
	"INSERT INTO room_types (hotel_id, name, capacity, nightly_rate)"
	" VALUES ($1, $2, $3, $4)"
	" ON CONFLICT (hotel_id, name) WHERE deleted_at IS NULL DO NOTHING"
	" RETURNING id";

static const char room_type_name_taken_sql[] =
	"SELECT 1 FROM room_types WHERE hotel_id = $1 AND name = $2"
	" AND id <> $3 AND deleted_at IS NULL";

static const char room_type_update_sql[] =
	"UPDATE room_types SET name = $3, capacity = $4, nightly_rate = $5"
	" WHERE id = $2 AND hotel_id = $1 AND deleted_at IS NULL RETURNING id";

static const char room_type_delete_sql[] =
	"UPDATE room_types SET deleted_at = now()"
	" WHERE id = $2 AND hotel_id = $1 AND deleted_at IS NULL RETURNING id";

/* The rooms of a room type go with it. */
static const char room_type_rooms_delete_sql[] =
	"UPDATE rooms SET deleted_at = now()"
	" WHERE room_type_id = $1 AND deleted_at IS NULL";

static const char room_type_live_sql[] =
	"SELECT 1 FROM room_types"
	" WHERE id = $2 AND hotel_id = $1 AND deleted_at IS NULL";

static const char room_type_detail_sql[] =
	"SELECT id, hotel_id, name, capacity, nightly_rate, currency, rooms"
	" FROM room_type_detail($1, $2)";

/* Columns of room_type_detail_sql, in order. */
enum { RT_ID, RT_HOTEL_ID, RT_NAME, RT_CAPACITY, RT_NIGHTLY_RATE,
	RT_CURRENCY, RT_ROOMS };

/* $3 is a JSON array of room numbers, none repeated; the numbers the
 * hotel already has are skipped, so fewer rows come back. */
static const char rooms_insert_sql[] =
	"INSERT INTO rooms (hotel_id, room_type_id, number)"
	" SELECT $1, $2, x.number"
	" FROM jsonb_array_elements_text($3::jsonb) WITH ORDINALITY"
	"  AS x(number, i) ORDER BY x.i"
	" ON CONFLICT (hotel_id, number) WHERE deleted_at IS NULL DO NOTHING"
	" RETURNING number";

/* No row when the hotel already has a live room of that number. */
static const char room_insert_sql[] =
	"INSERT INTO rooms (hotel_id, room_type_id, number)"
	" VALUES ($1, $2, $3)"
	" ON CONFLICT (hotel_id, number) WHERE deleted_at IS NULL DO NOTHING"
	" RETURNING id, hotel_id, room_type_id, number";

static const char room_get_sql[] =
	"SELECT r.id, r.hotel_id, r.room_type_id, r.number"
	" FROM rooms r JOIN hotels h ON h.id = r.hotel_id"
	" WHERE r.id = $2 AND r.hotel_id = $1"
	" AND r.deleted_at IS NULL AND h.deleted_at IS NULL";

/* One row per room, numbers in natural order ("9" before "10"); one row
 * with NULL room columns when the hotel has none; no row without the
 * hotel.  (The rooms of a deleted room type are deleted with it.) */
static const char rooms_list_sql[] =
	"SELECT r.id, h.id, r.room_type_id, r.number"
	" FROM hotels h LEFT JOIN rooms r"
	"  ON r.hotel_id = h.id AND r.deleted_at IS NULL"
	" WHERE h.id = $1 AND h.deleted_at IS NULL"
	" ORDER BY r.room_type_id, length(r.number), r.number";

static const char room_delete_sql[] =
	"UPDATE rooms SET deleted_at = now()"
	" WHERE id = $2 AND hotel_id = $1 AND deleted_at IS NULL RETURNING id";

/* Columns of room_insert_sql, room_get_sql and rooms_list_sql. */
enum { ROOM_ID, ROOM_HOTEL_ID, ROOM_TYPE_ID, ROOM_NUMBER };

/* ---------------------------------------------------------- reading JSON */

/* A JSON object of the body being read. */
struct input {
	bh_request *req;
	json_object *obj;
	/* how messages prefix its members: "" or "room_types[2]." */
	const char *where;
};

enum text_kind {
	TEXT_LINE,      /* no control character, no space at either end */
	TEXT_MULTILINE, /* newlines and tabs allowed */
};

/* Sets the 400 naming member name of in ("what" says what is wrong with
 * it) and returns -1. */
static int
invalid(const struct input *in, const char *name, const char *what)
{
	const char *param = bh_psprintf(in->req->pool, "%s%s", in->where,
	    name);

	bh_problem(in->req, 400, BH_PROBLEM_INVALID_PARAMETER, param, "%s %s",
	    param, what);
	return -1;
}

/* Member name of in, or NULL when absent or null: null means "none". */
static json_object *
member(const struct input *in, const char *name)
{
	json_object *val = NULL;

	json_object_object_get_ex(in->obj, name, &val);
	return val;
}

/* Refuses any member of in not listed in known (NULL-terminated). */
static int
only_known(const struct input *in, const char *const *known)
{
	const char *const *k;
	bh_buf list;
	size_t len;

	json_object_object_foreach(in->obj, key, val) {
		for (k = known; *k != NULL; k++)
			if (strcmp(*k, key) == 0)
				break;
		if (*k != NULL)
			continue;
		bh_buf_init(&list, in->req->pool);
		for (k = known; *k != NULL; k++)
			bh_buf_printf(&list, "%s%s", k == known ? "" : ", ",
			    *k);
		len = strlen(key);
		/* A name is only given back when it is short, printable
		 * text. */
		if (len == 0 || len > 64 || !bh_text_valid(key, len, false)) {
			/* the object: "room_types[2]" (where without its
			 * final '.') or the body itself */
			len = strlen(in->where);
			bh_problem(in->req, 400, BH_PROBLEM_INVALID_PARAMETER,
			    NULL, "%s has an unknown member (its name is not "
			    "shown); the members are: %s", len == 0 ?
			    "the body" : bh_pstrndup(in->req->pool, in->where,
			    len - 1), list.data);
			return -1;
		}
		return invalid(in, key, bh_psprintf(in->req->pool,
		    "is not a known member; the members are: %s", list.data));
	}
	return 0;
}

/* Checks j, the value of member name (NULL when absent): a JSON string
 * of min..max characters of UTF-8 text as kind allows.  *out gets the
 * text, or NULL when j is NULL and not required. */
static int
text_value(const struct input *in, const char *name, json_object *j,
    bool required, size_t min, size_t max, enum text_kind kind,
    const char **out)
{
	const char *s;
	size_t len, chars;

	*out = NULL;
	if (j == NULL)
		return required ? invalid(in, name, "is required") : 0;
	if (!json_object_is_type(j, json_type_string))
		return invalid(in, name, "must be a JSON string");
	s = json_object_get_string(j);
	len = (size_t)json_object_get_string_len(j);
	if (!bh_text_valid(s, len, kind == TEXT_MULTILINE))
		return invalid(in, name, kind == TEXT_MULTILINE ?
		    "must be UTF-8 text without control characters other "
		    "than newline and tab" :
		    "must be UTF-8 text without control characters");
	chars = bh_utf8_length(s, len);
	if (chars < min || chars > max)
		return invalid(in, name, bh_psprintf(in->req->pool,
		    "must be between %zu and %zu characters long", min, max));
	if (kind == TEXT_LINE && len > 0 && (s[0] == ' ' || s[len - 1] == ' '))
		return invalid(in, name, "must not begin or end with a space");
	*out = s;
	return 0;
}

static int
get_text(const struct input *in, const char *name, bool required,
    size_t min, size_t max, enum text_kind kind, const char **out)
{
	return text_value(in, name, member(in, name), required, min, max,
	    kind, out);
}

/* Member name: a JSON integer min..max.  *out gets its decimal text, or
 * NULL when it is absent and not required. */
static int
get_int(const struct input *in, const char *name, bool required,
    int64_t min, int64_t max, const char **out)
{
	json_object *j = member(in, name);
	int64_t v;

	*out = NULL;
	if (j == NULL)
		return required ? invalid(in, name, "is required") : 0;
	/* json-c saturates integers beyond int64 at its bounds, which are
	 * far outside min..max: they fail the range check. */
	if (!json_object_is_type(j, json_type_int) ||
	    (v = json_object_get_int64(j)) < min || v > max)
		return invalid(in, name, bh_psprintf(in->req->pool,
		    "must be an integer between %" PRId64 " and %" PRId64,
		    min, max));
	*out = bh_psprintf(in->req->pool, "%" PRId64, v);
	return 0;
}

/* Member name: a JSON number min..max.  *out gets it as text that
 * PostgreSQL reads back exactly, or NULL when absent and not required. */
static int
get_number(const struct input *in, const char *name, bool required,
    double min, double max, const char **out)
{
	json_object *j = member(in, name);
	double v;

	*out = NULL;
	if (j == NULL)
		return required ? invalid(in, name, "is required") : 0;
	if ((!json_object_is_type(j, json_type_double) &&
	    !json_object_is_type(j, json_type_int)) ||
	    !isfinite(v = json_object_get_double(j)) || v < min || v > max)
		return invalid(in, name, bh_psprintf(in->req->pool,
		    "must be a number between %g and %g", min, max));
	*out = bh_psprintf(in->req->pool, "%.17g", v);
	return 0;
}

/* Member "currency": an ISO 4217 code, three upper-case letters. */
static int
get_currency(const struct input *in, bool required, const char **out)
{
	const char *s;

	if (get_text(in, "currency", required, 1, 100, TEXT_LINE, out) == -1)
		return -1;
	if ((s = *out) == NULL)
		return 0;
	if (strlen(s) != 3 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' ||
	    s[1] > 'Z' || s[2] < 'A' || s[2] > 'Z')
		return invalid(in, "currency", "must be an ISO 4217 currency "
		    "code: three upper-case letters, such as EUR");
	return 0;
}

static bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/*
 * A practical email address check, not all of RFC 5322: ASCII
 * local@domain, at most 254 characters; the local part 1 to 64 letters,
 * digits and !#$%&'*+/=?^_`{|}~.- with no dot at either end or two in a
 * row; the domain two or more dot-separated labels of 1 to 63 letters,
 * digits and hyphens, no hyphen at either end of a label.
 */
static bool
email_valid(const char *s)
{
	const char *at = strchr(s, '@'), *p, *label;
	size_t len = strlen(s);

	if (at == NULL || len > 254 || at == s || at - s > 64 ||
	    s[0] == '.' || at[-1] == '.')
		return false;
	for (p = s; p < at; p++)
		if ((!is_alnum(*p) && strchr("!#$%&'*+/=?^_`{|}~.-", *p) ==
		    NULL) || (p[0] == '.' && p[1] == '.'))
			return false;
	if (strchr(at + 1, '.') == NULL)
		return false;
	for (label = p = at + 1;; p++) {
		if (*p == '.' || *p == '\0') {
			if (p == label || p - label > 63 || *label == '-' ||
			    p[-1] == '-')
				return false;
			if (*p == '\0')
				return true;
			label = p + 1;
		} else if (!is_alnum(*p) && *p != '-')
			return false;
	}
}

/* Member "email": where the hotel's reservation notices go. */
static int
get_email(const struct input *in, const char **out)
{
	if (get_text(in, "email", true, 3, 254, TEXT_LINE, out) == -1)
		return -1;
	if (!email_valid(*out))
		return invalid(in, "email", "must be an email address "
		    "(name@example.com)");
	return 0;
}

/* ----------------------------------------------------- what bodies hold */

/* A room type as a body gives it. */
struct room_type_input {
	const char *where;     /* its members' prefix in messages */
	const char *name, *capacity, *nightly_rate;
	const char *currency;  /* NULL when not given */
	json_object *room_numbers; /* a JSON array of strings, or NULL */
};

/* A new rate for one room type, as a hotel's PUT gives it. */
struct rate_input {
	const char *room_type_id, *nightly_rate;
};

/* A hotel as a body gives it; optional members are NULL when absent. */
struct hotel_input {
	const char *city_id, *name, *address, *email, *stars, *rating;
	const char *description, *currency, *lat, *lon;
	struct room_type_input *room_types;
	size_t nroom_types;
	struct rate_input *rates; /* NULL when nightly_rates is absent */
	size_t nrates;
};

static const char *const room_type_members[] = {
	"name", "capacity", "nightly_rate", "currency", "room_numbers", NULL
};

static const char *const room_type_put_members[] = {
	"name", "capacity", "nightly_rate", "currency", NULL
};

static const char *const hotel_members[] = {
	"name", "city_id", "address", "email", "stars", "rating",
	"description", "currency", "lat", "lon", "room_types", NULL
};

static const char *const hotel_put_members[] = {
	"name", "city_id", "address", "email", "stars", "rating",
	"description", "currency", "lat", "lon", "nightly_rates", NULL
};

static const char *const rate_members[] = {
	"room_type_id", "nightly_rate", NULL
};

static const char *const room_members[] = { "number", NULL };

/* As the runtime's parser: application/json and any type ending "+json". */
static bool
is_json_type(const char *ct)
{
	size_t n;

	if (ct == NULL)
		return false;
	if (strcmp(ct, "application/json") == 0)
		return true;
	n = strlen(ct);
	return n > 5 && strcmp(ct + n - 5, "+json") == 0;
}

/* The request's body as the JSON object to read.  Returns 0, or -1 with
 * 415 (not JSON) or 400 (JSON, but not an object) set. */
static int
body_object(bh_request *req, struct input *in)
{
	in->req = req;
	in->obj = req->json;
	in->where = "";
	if (req->json == NULL && !is_json_type(req->content_type)) {
		bh_problem(req, 415, BH_PROBLEM_UNSUPPORTED_MEDIA_TYPE, NULL,
		    "the request body must be application/json");
		return -1;
	}
	if (req->json == NULL ||
	    !json_object_is_type(req->json, json_type_object)) {
		bh_problem(req, 400, BH_PROBLEM_BAD_REQUEST, NULL,
		    "the request body must be a JSON object");
		return -1;
	}
	return 0;
}

/* Member "room_numbers": a JSON array of up to MAX_ROOM_NUMBERS room
 * numbers, each 1 to 16 characters. */
static int
get_room_numbers(const struct input *in, json_object **out)
{
	json_object *j = member(in, "room_numbers"), *item;
	const char *name, *number;
	size_t i, n;

	*out = NULL;
	if (j == NULL)
		return 0;
	if (!json_object_is_type(j, json_type_array))
		return invalid(in, "room_numbers",
		    "must be a JSON array of room numbers (strings)");
	if ((n = json_object_array_length(j)) > MAX_ROOM_NUMBERS)
		return invalid(in, "room_numbers", bh_psprintf(in->req->pool,
		    "must hold at most %d room numbers", MAX_ROOM_NUMBERS));
	for (i = 0; i < n; i++) {
		item = json_object_array_get_idx(j, i);
		name = bh_psprintf(in->req->pool, "room_numbers[%zu]", i);
		if (item == NULL)
			return invalid(in, name, "must be a JSON string");
		if (text_value(in, name, item, true, 1, 16, TEXT_LINE,
		    &number) == -1)
			return -1;
	}
	*out = j;
	return 0;
}

/* Reads a room type; with_rooms: it may hold room_numbers (a POST). */
static int
read_room_type(const struct input *in, bool with_rooms,
    struct room_type_input *rt)
{
	memset(rt, 0, sizeof(*rt));
	rt->where = in->where;
	if (only_known(in, with_rooms ? room_type_members :
	    room_type_put_members) == -1 ||
	    get_text(in, "name", true, 1, 100, TEXT_LINE, &rt->name) == -1 ||
	    get_int(in, "capacity", true, 1, 20, &rt->capacity) == -1 ||
	    get_int(in, "nightly_rate", true, 1, MAX_RATE,
	    &rt->nightly_rate) == -1 ||
	    get_currency(in, false, &rt->currency) == -1)
		return -1;
	return with_rooms ? get_room_numbers(in, &rt->room_numbers) : 0;
}

/* A text of the body, to find repeats: item of room type number "type". */
struct text_ref {
	const char *text;
	size_t type, item;
};

static int
text_ref_cmp(const void *a, const void *b)
{
	const struct text_ref *x = a, *y = b;
	int c = strcmp(x->text, y->text);

	if (c != 0)
		return c;
	if (x->type != y->type)
		return x->type < y->type ? -1 : 1;
	return x->item < y->item ? -1 : x->item > y->item;
}

/* Sorts refs; returns a ref whose text an earlier one has, or NULL. */
static const struct text_ref *
find_repeat(struct text_ref *refs, size_t n)
{
	size_t i;

	qsort(refs, n, sizeof(*refs), text_ref_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(refs[i - 1].text, refs[i].text) == 0)
			return &refs[i];
	return NULL;
}

/* Refuses a room type name or a room number given twice among the room
 * types rts[0..n): both are unique within a hotel. */
static int
check_repeats(bh_request *req, const struct room_type_input *rts, size_t n)
{
	const struct input top = { req, NULL, "" };
	const struct text_ref *twice;
	struct text_ref *refs;
	json_object *numbers;
	size_t i, j, count = 0, nrooms;

	refs = bh_palloc(req->pool, (n > 0 ? n : 1) * sizeof(*refs));
	for (i = 0; i < n; i++)
		refs[i] = (struct text_ref){ rts[i].name, i, 0 };
	if ((twice = find_repeat(refs, n)) != NULL)
		return invalid(&top, bh_psprintf(req->pool, "%sname",
		    rts[twice->type].where), "repeats the name of another room "
		    "type of the hotel");

	for (i = 0; i < n; i++)
		if (rts[i].room_numbers != NULL)
			count += json_object_array_length(rts[i].room_numbers);
	refs = bh_palloc(req->pool, (count > 0 ? count : 1) * sizeof(*refs));
	for (i = 0, count = 0; i < n; i++) {
		if ((numbers = rts[i].room_numbers) == NULL)
			continue;
		nrooms = json_object_array_length(numbers);
		for (j = 0; j < nrooms; j++) {
			refs[count].text = json_object_get_string(
			    json_object_array_get_idx(numbers, j));
			refs[count].type = i;
			refs[count++].item = j;
		}
	}
	if ((twice = find_repeat(refs, count)) != NULL)
		return invalid(&top, bh_psprintf(req->pool,
		    "%sroom_numbers[%zu]", rts[twice->type].where, twice->item),
		    bh_psprintf(req->pool, "repeats room number %s: a hotel "
		    "numbers each room once", twice->text));
	return 0;
}

/* Member "room_types" of a new hotel: up to MAX_ROOM_TYPES room types,
 * in the hotel's currency. */
static int
get_room_types(const struct input *in, struct hotel_input *h)
{
	json_object *j = member(in, "room_types"), *item;
	struct input sub;
	const char *name;
	size_t i, n;

	if (j == NULL)
		return 0;
	if (!json_object_is_type(j, json_type_array))
		return invalid(in, "room_types",
		    "must be a JSON array of room types");
	if ((n = json_object_array_length(j)) > MAX_ROOM_TYPES)
		return invalid(in, "room_types", bh_psprintf(in->req->pool,
		    "must hold at most %d room types", MAX_ROOM_TYPES));
	h->room_types = bh_palloc(in->req->pool,
	    (n > 0 ? n : 1) * sizeof(*h->room_types));
	h->nroom_types = n;
	for (i = 0; i < n; i++) {
		item = json_object_array_get_idx(j, i);
		name = bh_psprintf(in->req->pool, "room_types[%zu]", i);
		if (item == NULL ||
		    !json_object_is_type(item, json_type_object))
			return invalid(in, name, "must be a JSON object");
		sub.req = in->req;
		sub.obj = item;
		sub.where = bh_psprintf(in->req->pool, "%s.", name);
		if (read_room_type(&sub, true, &h->room_types[i]) == -1)
			return -1;
		if (h->room_types[i].currency != NULL &&
		    strcmp(h->room_types[i].currency, h->currency) != 0)
			return invalid(&sub, "currency", bh_psprintf(
			    in->req->pool, "must be the hotel's currency, %s",
			    h->currency));
	}
	return check_repeats(in->req, h->room_types, n);
}

/*
 * Member "nightly_rates" of a hotel's PUT: a new rate for each of its
 * room types, so that its currency can change without a moment where old
 * rates stand in the new currency (hotel_replace_tx checks that each
 * live room type is named).  Up to MAX_REPRICED, none named twice.
 */
static int
get_nightly_rates(const struct input *in, struct hotel_input *h)
{
	const struct text_ref *twice;
	json_object *j = member(in, "nightly_rates"), *item;
	struct text_ref *refs;
	struct input sub;
	const char *name;
	size_t i, n;

	if (j == NULL)
		return 0;
	if (!json_object_is_type(j, json_type_array))
		return invalid(in, "nightly_rates", "must be a JSON array of "
		    "{\"room_type_id\", \"nightly_rate\"} objects");
	if ((n = json_object_array_length(j)) > MAX_REPRICED)
		return invalid(in, "nightly_rates", bh_psprintf(in->req->pool,
		    "must hold at most %d rates", MAX_REPRICED));
	h->rates = bh_palloc(in->req->pool, (n > 0 ? n : 1) *
	    sizeof(*h->rates));
	h->nrates = n;
	refs = bh_palloc(in->req->pool, (n > 0 ? n : 1) * sizeof(*refs));
	for (i = 0; i < n; i++) {
		item = json_object_array_get_idx(j, i);
		name = bh_psprintf(in->req->pool, "nightly_rates[%zu]", i);
		if (item == NULL ||
		    !json_object_is_type(item, json_type_object))
			return invalid(in, name, "must be a JSON object");
		sub.req = in->req;
		sub.obj = item;
		sub.where = bh_psprintf(in->req->pool, "%s.", name);
		if (only_known(&sub, rate_members) == -1 ||
		    get_int(&sub, "room_type_id", true, 1, MAX_ID,
		    &h->rates[i].room_type_id) == -1 ||
		    get_int(&sub, "nightly_rate", true, 1, MAX_RATE,
		    &h->rates[i].nightly_rate) == -1)
			return -1;
		/* get_int's decimal text: equal ids, equal texts */
		refs[i] = (struct text_ref){ h->rates[i].room_type_id, 0, i };
	}
	if ((twice = find_repeat(refs, n)) != NULL)
		return invalid(in, bh_psprintf(in->req->pool,
		    "nightly_rates[%zu].room_type_id", twice->item),
		    bh_psprintf(in->req->pool, "repeats room type %s: each "
		    "room type gets one rate", twice->text));
	return 0;
}

/* Reads a hotel; with_room_types: it may hold room types (a POST). */
static int
read_hotel(const struct input *in, bool with_room_types,
    struct hotel_input *h)
{
	memset(h, 0, sizeof(*h));
	if (only_known(in, with_room_types ? hotel_members :
	    hotel_put_members) == -1 ||
	    get_text(in, "name", true, 1, 200, TEXT_LINE, &h->name) == -1 ||
	    get_int(in, "city_id", true, 1, MAX_ID, &h->city_id) == -1 ||
	    get_text(in, "address", true, 1, 300, TEXT_LINE,
	    &h->address) == -1 ||
	    get_email(in, &h->email) == -1 ||
	    get_int(in, "stars", true, 1, 5, &h->stars) == -1 ||
	    get_number(in, "rating", false, 0, 10, &h->rating) == -1 ||
	    get_text(in, "description", false, 0, 5000, TEXT_MULTILINE,
	    &h->description) == -1 ||
	    get_currency(in, true, &h->currency) == -1 ||
	    get_number(in, "lat", true, -90, 90, &h->lat) == -1 ||
	    get_number(in, "lon", true, -180, 180, &h->lon) == -1)
		return -1;
	return with_room_types ? get_room_types(in, h) :
	    get_nightly_rates(in, h);
}

/* ------------------------------------------------------- the writes */

/* One write: its path's ids, what the body gave, and what it answers. */
struct write {
	const char *hotel_id, *type_id, *room_id; /* decimal text */
	struct hotel_input hotel;
	struct room_type_input room_type;
	const char *number;   /* POST .../rooms */
	const char *new_id;   /* of what was created */
	PGresult *answer;     /* the rows the answer is made of */
};

static int
not_found(bh_request *req, const char *what, const char *id,
    const char *hotel_id)
{
	if (hotel_id == NULL)
		bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "there is no %s with id %s", what, id);
	else
		bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "hotel %s has no %s with id %s", hotel_id, what, id);
	return -1;
}

/*
 * After a failed write: a unique violation (a name or room number taken
 * by a write this one did not queue behind, e.g. from psql) is a 409
 * naming param; any other failure keeps the runtime's answer.
 */
static int
conflict_or_failure(bh_request *req, const char *param, const char *detail)
{
	if (strcmp(bh_db_last_sqlstate(), "23505") == 0)
		bh_problem(req, 409, BH_PROBLEM_CONFLICT, param, "%s", detail);
	return -1;
}

/* Locks the live hotel hotel_id for this transaction; *currency (may be
 * NULL) gets its currency.  Returns 0, or -1 with 404 (or a database
 * failure) set. */
static int
lock_hotel(bh_request *req, const char *hotel_id, const char **currency)
{
	const char *params[1] = { hotel_id };
	PGresult *res;

	if ((res = bh_db_query(req, hotel_lock_sql, 1, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return not_found(req, "hotel", hotel_id, NULL);
	if (currency != NULL)
		*currency = PQgetvalue(res, 0, 0);
	return 0;
}

static int
check_city(bh_request *req, const char *city_id)
{
	const char *params[1] = { city_id };
	PGresult *res;

	if ((res = bh_db_query(req, city_exists_sql, 1, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, "city_id",
		    "city_id %s is not the id of a city (GET /search/cities "
		    "finds them)", city_id);
		return -1;
	}
	return 0;
}

/* A room type given with a currency gives the hotel's. */
static int
check_currency(bh_request *req, const struct room_type_input *rt,
    const char *currency)
{
	if (rt->currency == NULL || strcmp(rt->currency, currency) == 0)
		return 0;
	bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, "currency",
	    "currency must be the hotel's currency, %s: rates are in it",
	    currency);
	return -1;
}

/* Adds the rooms rt->room_numbers (not repeated among themselves) to
 * room type type_id.  Returns 0, or -1 with a 409 naming the first
 * number the hotel already has. */
static int
insert_rooms(bh_request *req, const char *hotel_id, const char *type_id,
    const struct room_type_input *rt)
{
	const char *params[3], *number = "";
	size_t i, n;
	PGresult *res;
	int row, rows;

	if (rt->room_numbers == NULL ||
	    (n = json_object_array_length(rt->room_numbers)) == 0)
		return 0;
	params[0] = hotel_id;
	params[1] = type_id;
	params[2] = json_object_to_json_string_ext(rt->room_numbers,
	    JSON_C_TO_STRING_PLAIN);
	if ((res = bh_db_query(req, rooms_insert_sql, 3, params)) == NULL)
		return conflict_or_failure(req, bh_psprintf(req->pool,
		    "%sroom_numbers", rt->where),
		    "a room number is already taken in this hotel");
	if ((size_t)(rows = PQntuples(res)) == n)
		return 0;
	for (i = 0; i < n; i++) {
		number = json_object_get_string(
		    json_object_array_get_idx(rt->room_numbers, i));
		for (row = 0; row < rows; row++)
			if (strcmp(PQgetvalue(res, row, 0), number) == 0)
				break;
		if (row == rows)
			break;
	}
	bh_problem(req, 409, BH_PROBLEM_CONFLICT,
	    bh_psprintf(req->pool, "%sroom_numbers[%zu]", rt->where, i),
	    "hotel %s already has a room numbered %s", hotel_id, number);
	return -1;
}

/* Adds room type rt, and its rooms, to hotel hotel_id; *type_id gets its
 * id.  Returns 0, or -1 with a 409 when the name is taken. */
static int
insert_room_type(bh_request *req, const char *hotel_id,
    const struct room_type_input *rt, const char **type_id)
{
	const char *params[4], *param;
	PGresult *res;

	params[0] = hotel_id;
	params[1] = rt->name;
	params[2] = rt->capacity;
	params[3] = rt->nightly_rate;
	param = bh_psprintf(req->pool, "%sname", rt->where);
	if ((res = bh_db_query(req, room_type_insert_sql, 4, params)) == NULL)
		return conflict_or_failure(req, param,
		    "the hotel already has a room type of this name");
	if (PQntuples(res) == 0) {
		bh_problem(req, 409, BH_PROBLEM_CONFLICT, param,
		    "hotel %s already has a room type named \"%s\"", hotel_id,
		    rt->name);
		return -1;
	}
	*type_id = PQgetvalue(res, 0, 0);
	return insert_rooms(req, hotel_id, *type_id, rt);
}

/* The hotel as GET /hotels/{id} shows it, into *answer. */
static int
load_hotel(bh_request *req, const char *hotel_id, PGresult **answer)
{
	const char *params[1] = { hotel_id };

	if ((*answer = bh_db_query(req, search_hotel_detail_sql, 1,
	    params)) == NULL)
		return -1;
	if (PQntuples(*answer) == 0)
		return not_found(req, "hotel", hotel_id, NULL);
	return 0;
}

/* The room type as GET .../room-types/{type_id} shows it, into *answer. */
static int
load_room_type(bh_request *req, const char *hotel_id, const char *type_id,
    PGresult **answer)
{
	const char *params[2] = { hotel_id, type_id };

	if ((*answer = bh_db_query(req, room_type_detail_sql, 2,
	    params)) == NULL)
		return -1;
	if (PQntuples(*answer) == 0)
		return not_found(req, "room type", type_id, hotel_id);
	return 0;
}

static int
hotel_create_tx(bh_request *req, void *arg)
{
	struct write *w = arg;
	const struct hotel_input *h = &w->hotel;
	const char *params[10], *type_id;
	PGresult *res;
	size_t i;

	if (check_city(req, h->city_id) == -1)
		return -1;
	params[0] = h->city_id;
	params[1] = h->name;
	params[2] = h->address;
	params[3] = h->email;
	params[4] = h->stars;
	params[5] = h->rating;
	params[6] = h->description;
	params[7] = h->currency;
	params[8] = h->lat;
	params[9] = h->lon;
	if ((res = bh_db_query(req, hotel_insert_sql, 10, params)) == NULL)
		return -1;
	w->new_id = PQgetvalue(res, 0, 0);
	for (i = 0; i < h->nroom_types; i++)
		if (insert_room_type(req, w->new_id, &h->room_types[i],
		    &type_id) == -1)
			return -1;
	return load_hotel(req, w->new_id, &w->answer);
}

/*
 * A hotel's rates are in its currency: changing the currency of hotel
 * hotel_id from currency (its present one) to h->currency, while it has
 * live room types, needs h->rates to re-price every one of them, in this
 * same transaction; otherwise 62.00 EUR would silently become 6200 JPY.
 * h->rates, when given, must name each live room type (and no other)
 * even when the currency stays.  Returns 0 (rates applied), or -1 with a
 * 409 naming what disagrees with the hotel.
 */
static int
reprice_room_types(bh_request *req, const char *hotel_id,
    const char *currency, const struct hotel_input *h)
{
	const char *params[3];
	bh_buf ids, rates;
	PGresult *res;
	size_t i;
	int row, rows;

	if (h->rates == NULL && strcmp(currency, h->currency) == 0)
		return 0;
	params[0] = hotel_id;
	if ((res = bh_db_query(req, room_types_live_sql, 1, params)) == NULL)
		return -1;
	rows = PQntuples(res);
	if (h->rates == NULL) {
		if (rows == 0)
			return 0;
		bh_problem(req, 409, BH_PROBLEM_CONFLICT, "currency",
		    "hotel %s has %d room type%s priced in %s: changing its "
		    "currency to %s needs nightly_rates, a new rate in %s for "
		    "each of them, in the same PUT", hotel_id, rows,
		    rows == 1 ? "" : "s", currency, h->currency, h->currency);
		return -1;
	}
	for (i = 0; i < h->nrates; i++) {
		for (row = 0; row < rows; row++)
			if (strcmp(PQgetvalue(res, row, 0),
			    h->rates[i].room_type_id) == 0)
				break;
		if (row == rows) {
			bh_problem(req, 409, BH_PROBLEM_CONFLICT,
			    bh_psprintf(req->pool,
			    "nightly_rates[%zu].room_type_id", i),
			    "hotel %s has no room type with id %s", hotel_id,
			    h->rates[i].room_type_id);
			return -1;
		}
	}
	/* Each rate names a live room type, none twice: the same count
	 * means every one is named. */
	if (h->nrates < (size_t)rows) {
		for (row = 0; row < rows; row++) {
			for (i = 0; i < h->nrates; i++)
				if (strcmp(PQgetvalue(res, row, 0),
				    h->rates[i].room_type_id) == 0)
					break;
			if (i == h->nrates)
				break;
		}
		bh_problem(req, 409, BH_PROBLEM_CONFLICT, "nightly_rates",
		    "nightly_rates must give each of the %d room types of "
		    "hotel %s a rate; room type %s has none", rows, hotel_id,
		    PQgetvalue(res, row, 0));
		return -1;
	}
	if (h->nrates == 0)
		return 0;
	bh_buf_init(&ids, req->pool);
	bh_buf_init(&rates, req->pool);
	for (i = 0; i < h->nrates; i++) {
		bh_buf_printf(&ids, "%s%s", i == 0 ? "{" : ",",
		    h->rates[i].room_type_id);
		bh_buf_printf(&rates, "%s%s", i == 0 ? "{" : ",",
		    h->rates[i].nightly_rate);
	}
	bh_buf_puts(&ids, "}");
	bh_buf_puts(&rates, "}");
	params[1] = ids.data;
	params[2] = rates.data;
	return bh_db_query(req, room_types_reprice_sql, 3, params) == NULL ?
	    -1 : 0;
}

static int
hotel_replace_tx(bh_request *req, void *arg)
{
	struct write *w = arg;
	const struct hotel_input *h = &w->hotel;
	const char *params[11], *currency;
	PGresult *res;

	if (lock_hotel(req, w->hotel_id, &currency) == -1 ||
	    check_city(req, h->city_id) == -1 ||
	    reprice_room_types(req, w->hotel_id, currency, h) == -1)
		return -1;
	params[0] = w->hotel_id;
	params[1] = h->city_id;
	params[2] = h->name;
	params[3] = h->address;
	params[4] = h->email;
	params[5] = h->stars;
	params[6] = h->rating;
	params[7] = h->description;
	params[8] = h->currency;
	params[9] = h->lat;
	params[10] = h->lon;
	if ((res = bh_db_query(req, hotel_update_sql, 11, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return not_found(req, "hotel", w->hotel_id, NULL);
	return load_hotel(req, w->hotel_id, &w->answer);
}

static int
hotel_delete_tx(bh_request *req, void *arg)
{
	struct write *w = arg;
	const char *params[1] = { w->hotel_id };
	PGresult *res;

	if ((res = bh_db_query(req, hotel_delete_sql, 1, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return not_found(req, "hotel", w->hotel_id, NULL);
	return 0;
}

static int
room_type_create_tx(bh_request *req, void *arg)
{
	struct write *w = arg;
	const char *currency;

	if (lock_hotel(req, w->hotel_id, &currency) == -1 ||
	    check_currency(req, &w->room_type, currency) == -1 ||
	    insert_room_type(req, w->hotel_id, &w->room_type,
	    &w->new_id) == -1)
		return -1;
	return load_room_type(req, w->hotel_id, w->new_id, &w->answer);
}

static int
room_type_replace_tx(bh_request *req, void *arg)
{
	struct write *w = arg;
	const struct room_type_input *rt = &w->room_type;
	const char *params[5], *currency;
	PGresult *res;

	if (lock_hotel(req, w->hotel_id, &currency) == -1 ||
	    check_currency(req, rt, currency) == -1)
		return -1;
	params[0] = w->hotel_id;
	params[1] = w->type_id;
	if ((res = bh_db_query(req, room_type_live_sql, 2, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return not_found(req, "room type", w->type_id, w->hotel_id);
	/* Asked first, so that a taken name is a 409 rather than a failed
	 * UPDATE (the hotel's lock keeps the answer true until COMMIT). */
	params[1] = rt->name;
	params[2] = w->type_id;
	if ((res = bh_db_query(req, room_type_name_taken_sql, 3,
	    params)) == NULL)
		return -1;
	if (PQntuples(res) > 0) {
		bh_problem(req, 409, BH_PROBLEM_CONFLICT, "name",
		    "hotel %s already has another room type named \"%s\"",
		    w->hotel_id, rt->name);
		return -1;
	}
	params[1] = w->type_id;
	params[2] = rt->name;
	params[3] = rt->capacity;
	params[4] = rt->nightly_rate;
	if ((res = bh_db_query(req, room_type_update_sql, 5, params)) == NULL)
		return conflict_or_failure(req, "name",
		    "the hotel already has another room type of this name");
	if (PQntuples(res) == 0)
		return not_found(req, "room type", w->type_id, w->hotel_id);
	return load_room_type(req, w->hotel_id, w->type_id, &w->answer);
}

static int
room_type_delete_tx(bh_request *req, void *arg)
{
	struct write *w = arg;
	const char *params[2] = { w->hotel_id, w->type_id };
	PGresult *res;

	if (lock_hotel(req, w->hotel_id, NULL) == -1)
		return -1;
	if ((res = bh_db_query(req, room_type_delete_sql, 2, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return not_found(req, "room type", w->type_id, w->hotel_id);
	if (bh_db_query(req, room_type_rooms_delete_sql, 1,
	    &params[1]) == NULL)
		return -1;
	return 0;
}

static int
room_create_tx(bh_request *req, void *arg)
{
	struct write *w = arg;
	const char *params[3] = { w->hotel_id, w->type_id, w->number };
	PGresult *res;

	if (lock_hotel(req, w->hotel_id, NULL) == -1)
		return -1;
	if ((res = bh_db_query(req, room_type_live_sql, 2, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return not_found(req, "room type", w->type_id, w->hotel_id);
	if ((res = bh_db_query(req, room_insert_sql, 3, params)) == NULL)
		return conflict_or_failure(req, "number",
		    "the hotel already has a room of this number");
	if (PQntuples(res) == 0) {
		bh_problem(req, 409, BH_PROBLEM_CONFLICT, "number",
		    "hotel %s already has a room numbered %s", w->hotel_id,
		    w->number);
		return -1;
	}
	w->new_id = PQgetvalue(res, 0, ROOM_ID);
	w->answer = res;
	return 0;
}

static int
room_delete_tx(bh_request *req, void *arg)
{
	struct write *w = arg;
	const char *params[2] = { w->hotel_id, w->room_id };
	PGresult *res;

	if (lock_hotel(req, w->hotel_id, NULL) == -1)
		return -1;
	if ((res = bh_db_query(req, room_delete_sql, 2, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return not_found(req, "room", w->room_id, w->hotel_id);
	return 0;
}

/* ------------------------------------------------------------- answers */

static json_object *
room_type_json(bh_request *req, const PGresult *res)
{
	json_object *rt = search_json_object(req);

	search_add_col(rt, "id", res, 0, RT_ID, SEARCH_INT);
	search_add_col(rt, "hotel_id", res, 0, RT_HOTEL_ID, SEARCH_INT);
	search_add_col(rt, "name", res, 0, RT_NAME, SEARCH_TEXT);
	search_add_col(rt, "capacity", res, 0, RT_CAPACITY, SEARCH_INT);
	search_add_col(rt, "nightly_rate", res, 0, RT_NIGHTLY_RATE,
	    SEARCH_INT);
	search_add_col(rt, "currency", res, 0, RT_CURRENCY, SEARCH_TEXT);
	search_add_col(rt, "rooms", res, 0, RT_ROOMS, SEARCH_INT);
	return rt;
}

/* Fills room with the room at row of res (room_insert_sql, room_get_sql
 * or rooms_list_sql); returns room. */
static json_object *
room_fill(json_object *room, const PGresult *res, int row)
{
	search_add_col(room, "id", res, row, ROOM_ID, SEARCH_INT);
	search_add_col(room, "hotel_id", res, row, ROOM_HOTEL_ID, SEARCH_INT);
	search_add_col(room, "room_type_id", res, row, ROOM_TYPE_ID,
	    SEARCH_INT);
	search_add_col(room, "number", res, row, ROOM_NUMBER, SEARCH_TEXT);
	return room;
}

/* 201 Created with Location: the base path and path. */
static int
created(bh_request *req, const char *path, json_object *obj)
{
	bh_add_header(req, "Location", bh_psprintf(req->pool, "%s%s",
	    bh_cfg.base_path, path));
	return bh_send_json(req, 201, obj);
}

/* Notes a change in the log, with who made it (a client id, no secret). */
static void
audit(bh_request *req, const char *what)
{
	bh_log(BH_LOG_INFO, "catalogue: %s by client %s", what,
	    req->token != NULL && req->token->client_id != NULL ?
	    req->token->client_id : "(unknown)");
}

static void
write_init(bh_request *req, struct write *w)
{
	memset(w, 0, sizeof(*w));
	w->hotel_id = search_int_text(req, "id");
	w->type_id = search_int_text(req, "type_id");
	w->room_id = search_int_text(req, "room_id");
}

/* ------------------------------------------------------------ handlers */

/* POST /hotels: a hotel, with room types and rooms if given. */
int
catalog_hotel_create(bh_request *req)
{
	struct write w;
	struct input in;

	write_init(req, &w);
	if (body_object(req, &in) == -1 ||
	    read_hotel(&in, true, &w.hotel) == -1 ||
	    bh_db_tx(req, hotel_create_tx, &w) == -1)
		return req->status;
	audit(req, bh_psprintf(req->pool, "hotel %s created", w.new_id));
	return created(req, bh_psprintf(req->pool, "/hotels/%s", w.new_id),
	    search_hotel_json(req, w.answer));
}

/* PUT /hotels/{id}: every member of the hotel itself replaced (an
 * optional one left out is reset); its room types stay, re-priced when
 * nightly_rates is given (it must be to change the currency of a hotel
 * with room types). */
int
catalog_hotel_replace(bh_request *req)
{
	struct write w;
	struct input in;

	write_init(req, &w);
	if (body_object(req, &in) == -1 ||
	    read_hotel(&in, false, &w.hotel) == -1 ||
	    bh_db_tx(req, hotel_replace_tx, &w) == -1)
		return req->status;
	audit(req, bh_psprintf(req->pool, "hotel %s replaced", w.hotel_id));
	return bh_send_json(req, 200, search_hotel_json(req, w.answer));
}

/* DELETE /hotels/{id}: hidden from every read from now on. */
int
catalog_hotel_delete(bh_request *req)
{
	struct write w;

	write_init(req, &w);
	if (bh_db_tx(req, hotel_delete_tx, &w) == -1)
		return req->status;
	audit(req, bh_psprintf(req->pool, "hotel %s deleted", w.hotel_id));
	return bh_send(req, 204, NULL, NULL, 0);
}

/* GET /hotels/{id}/room-types/{type_id} (public). */
int
catalog_room_type_get(bh_request *req)
{
	struct write w;

	write_init(req, &w);
	if (load_room_type(req, w.hotel_id, w.type_id, &w.answer) == -1)
		return req->status;
	search_cacheable(req);
	return bh_send_json(req, 200, room_type_json(req, w.answer));
}

/* POST /hotels/{id}/room-types: a room type, with rooms if given. */
int
catalog_room_type_create(bh_request *req)
{
	struct write w;
	struct input in;

	write_init(req, &w);
	if (body_object(req, &in) == -1 ||
	    read_room_type(&in, true, &w.room_type) == -1 ||
	    check_repeats(req, &w.room_type, 1) == -1 ||
	    bh_db_tx(req, room_type_create_tx, &w) == -1)
		return req->status;
	audit(req, bh_psprintf(req->pool, "room type %s of hotel %s created",
	    w.new_id, w.hotel_id));
	return created(req, bh_psprintf(req->pool, "/hotels/%s/room-types/%s",
	    w.hotel_id, w.new_id), room_type_json(req, w.answer));
}

/* PUT /hotels/{id}/room-types/{type_id}: name, capacity and rate. */
int
catalog_room_type_replace(bh_request *req)
{
	struct write w;
	struct input in;

	write_init(req, &w);
	if (body_object(req, &in) == -1 ||
	    read_room_type(&in, false, &w.room_type) == -1 ||
	    bh_db_tx(req, room_type_replace_tx, &w) == -1)
		return req->status;
	audit(req, bh_psprintf(req->pool, "room type %s of hotel %s replaced",
	    w.type_id, w.hotel_id));
	return bh_send_json(req, 200, room_type_json(req, w.answer));
}

/* DELETE /hotels/{id}/room-types/{type_id}: with its rooms. */
int
catalog_room_type_delete(bh_request *req)
{
	struct write w;

	write_init(req, &w);
	if (bh_db_tx(req, room_type_delete_tx, &w) == -1)
		return req->status;
	audit(req, bh_psprintf(req->pool, "room type %s of hotel %s deleted",
	    w.type_id, w.hotel_id));
	return bh_send(req, 204, NULL, NULL, 0);
}

/* GET /hotels/{id}/rooms: every room of the hotel. */
int
catalog_rooms_list(bh_request *req)
{
	const char *params[1];
	json_object *root, *rooms;
	PGresult *res;
	int row, rows;

	params[0] = search_int_text(req, "id");
	if ((res = bh_db_query(req, rooms_list_sql, 1, params)) == NULL)
		return req->status;
	if ((rows = PQntuples(res)) == 0)
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "there is no hotel with id %s", params[0]);
	root = search_json_object(req);
	rooms = json_object_new_array_ext(rows);
	search_add(root, "rooms", rooms);
	/* A hotel without rooms comes as one row with NULLs there. */
	for (row = 0; row < rows; row++)
		if (!PQgetisnull(res, row, ROOM_ID))
			json_object_array_add(rooms,
			    room_fill(json_object_new_object(), res, row));
	return bh_send_json(req, 200, root);
}

/* POST /hotels/{id}/room-types/{type_id}/rooms: one room. */
int
catalog_room_create(bh_request *req)
{
	struct write w;
	struct input in;

	write_init(req, &w);
	if (body_object(req, &in) == -1 ||
	    only_known(&in, room_members) == -1 ||
	    get_text(&in, "number", true, 1, 16, TEXT_LINE, &w.number) == -1 ||
	    bh_db_tx(req, room_create_tx, &w) == -1)
		return req->status;
	audit(req, bh_psprintf(req->pool, "room %s of hotel %s created",
	    w.new_id, w.hotel_id));
	return created(req, bh_psprintf(req->pool, "/hotels/%s/rooms/%s",
	    w.hotel_id, w.new_id),
	    room_fill(search_json_object(req), w.answer, 0));
}

/* GET /hotels/{id}/rooms/{room_id} */
int
catalog_room_get(bh_request *req)
{
	struct write w;
	const char *params[2];
	PGresult *res;

	write_init(req, &w);
	params[0] = w.hotel_id;
	params[1] = w.room_id;
	if ((res = bh_db_query(req, room_get_sql, 2, params)) == NULL)
		return req->status;
	if (PQntuples(res) == 0) {
		not_found(req, "room", w.room_id, w.hotel_id);
		return req->status;
	}
	return bh_send_json(req, 200,
	    room_fill(search_json_object(req), res, 0));
}

/* DELETE /hotels/{id}/rooms/{room_id} */
int
catalog_room_delete(bh_request *req)
{
	struct write w;

	write_init(req, &w);
	if (bh_db_tx(req, room_delete_tx, &w) == -1)
		return req->status;
	audit(req, bh_psprintf(req->pool, "room %s of hotel %s deleted",
	    w.room_id, w.hotel_id));
	return bh_send(req, 204, NULL, NULL, 0);
}
