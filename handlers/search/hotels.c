/*
 * hotels.c - GET /search/hotels (hotels of a city, filtered, sorted,
 * paged) and GET /search/hotels/{id} (one hotel with its room types).
 *
 * Each request is one round trip: a call of search_hotels(),
 * hotels_in_city() or hotel_detail() (sql/search/001_catalogue.sql, as
 * redefined by 002_catalogue_writes.sql to skip deleted rows), prepared
 * once per connection by bh_db_query.  The SQL does the matching,
 * filtering, sorting and counting; this file shapes the rows into JSON.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "search.h"

/* ------------------------------------------------------------- helpers */

static void
json_put(void *obj)
{
	json_object_put(obj);
}

json_object *
search_json_object(bh_request *req)
{
	json_object *obj = json_object_new_object();

	bh_pool_defer(req->pool, json_put, obj);
	return obj;
}

void
search_add_col(json_object *obj, const char *key, const PGresult *res,
    int row, int col, enum search_col kind)
{
	const char *text;
	json_object *val;

	if (PQgetisnull(res, row, col)) {
		search_add(obj, key, NULL);
		return;
	}
	text = PQgetvalue(res, row, col);
	switch (kind) {
	case SEARCH_INT:
		val = json_object_new_int64(strtoll(text, NULL, 10));
		break;
	case SEARCH_NUMBER:
		/* Keep PostgreSQL's text: json-c would print 9.7 as
		 * 9.6999999999999993. */
		val = json_object_new_double_s(strtod(text, NULL), text);
		break;
	case SEARCH_TEXT:
	default:
		val = json_object_new_string_len(text,
		    PQgetlength(res, row, col));
		break;
	}
	search_add(obj, key, val);
}

void
search_add(json_object *obj, const char *key, json_object *val)
{
	/* Each key is a string literal, added once: json-c need neither
	 * copy it nor look for an earlier value. */
	json_object_object_add_ex(obj, key, val,
	    JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT);
}

const char *
search_int_text(bh_request *req, const char *name)
{
	if (!bh_arg_present(req, name))
		return NULL;
	return bh_psprintf(req->pool, "%" PRId64, bh_arg_int(req, name));
}

void
search_cacheable(bh_request *req)
{
	/* The catalogue changes rarely; a minute of staleness is fine. */
	bh_add_header(req, "Cache-Control", "public, max-age=60");
}

/* ------------------------------------------------------ GET /hotels */

static const char *const sort_choices[] = { "price", "rating", "name", NULL };

const bh_param search_hotels_params[] = {
	{ "city", BH_QUERY, BH_STRING, true, 1, 100, NULL, NULL, NULL },
	{ "guests", BH_QUERY, BH_INT, false, 1, 20, NULL, "1", NULL },
	{ "stars", BH_QUERY, BH_INT, false, 1, 5, NULL, "1", NULL },
	{ "max_price", BH_QUERY, BH_INT, false, 1, 10000000, NULL, NULL, NULL },
	{ "sort", BH_QUERY, BH_ENUM, false, 0, 0, sort_choices, "price", NULL },
	{ "page", BH_QUERY, BH_INT, false, 1, 1000, NULL, "1", NULL },
	{ "per_page", BH_QUERY, BH_INT, false, 1, 100, NULL, "20", NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

/* Both statements return the same columns, in this order. */
#define SEARCH_HOTELS_COLUMNS \
	"SELECT city_id, city_name, city_country, city_country_code, total," \
	" id, name, address, stars, rating, currency, lowest_rate, lat, lon"
/* $1 is the city as the client wrote it... */
static const char search_hotels_sql[] = SEARCH_HOTELS_COLUMNS
	" FROM search_hotels($1, $2, $3, $4, $5, $6, $7)";
/* ...or the id of the city it was found to mean. */
static const char hotels_in_city_sql[] = SEARCH_HOTELS_COLUMNS
	" FROM hotels_in_city($1, $2, $3, $4, $5, $6, $7)";

enum {
	SH_CITY_ID, SH_CITY_NAME, SH_CITY_COUNTRY, SH_CITY_COUNTRY_CODE,
	SH_TOTAL, SH_ID, SH_NAME, SH_ADDRESS, SH_STARS, SH_RATING,
	SH_CURRENCY, SH_LOWEST_RATE, SH_LAT, SH_LON
};

/*
 * Which city a query text meant, remembered by each worker.  Finding the
 * city behind a typo is a trigram search costing more database time than
 * the rest of the request, and clients repeat the same few queries, so a
 * worker keeps up to CITY_MEMO_SIZE answers (direct-mapped by hash, a
 * newer one replacing an older) for CITY_MEMO_TTL and then only asks
 * hotels_in_city().  A city deleted meanwhile is noticed (no row) and
 * looked up again; a closer city added meanwhile wins within the TTL, as
 * the Cache-Control of the answers already allows.  Catalogue writes
 * (catalog.c) need not forget anything: they never add, rename or remove
 * a city, and the hotels themselves are always read afresh.  The one
 * thing a write can shift is which of two cities of the same name (Paris,
 * France and Paris, Texas) has more hotels and so wins the name; each
 * worker sees that within the TTL.
 */
#define CITY_MEMO_SIZE 512
#define CITY_MEMO_TTL (60 * UINT64_C(1000000)) /* microseconds */

struct city_memo {
	char *query;      /* malloc'ed copy, NULL for an empty slot */
	size_t len;
	int64_t city_id;  /* 0: no city is close to this query */
	uint64_t expires; /* CLOCK_MONOTONIC microseconds */
};

static struct city_memo city_memo[CITY_MEMO_SIZE];

static uint64_t
monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The slot of query: FNV-1a over its bytes. */
static struct city_memo *
city_memo_slot(const char *query, size_t len)
{
	uint64_t h = UINT64_C(14695981039346656037);
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)query[i];
		h *= UINT64_C(1099511628211);
	}
	return &city_memo[h % CITY_MEMO_SIZE];
}

/* The live memo of query, or NULL. */
static const struct city_memo *
city_memo_find(const char *query, size_t len)
{
	const struct city_memo *m = city_memo_slot(query, len);

	if (m->query == NULL || m->len != len ||
	    memcmp(m->query, query, len) != 0 ||
	    m->expires <= monotonic_us())
		return NULL;
	return m;
}

static void
city_memo_forget(const char *query, size_t len)
{
	struct city_memo *m = city_memo_slot(query, len);

	free(m->query);
	memset(m, 0, sizeof(*m));
}

static void
city_memo_store(const char *query, size_t len, int64_t city_id)
{
	struct city_memo *m = city_memo_slot(query, len);
	char *copy;

	/* A memo is only an optimisation: without memory, do without. */
	if ((copy = malloc(len + 1)) == NULL)
		return;
	memcpy(copy, query, len);
	copy[len] = '\0';
	free(m->query);
	m->query = copy;
	m->len = len;
	m->city_id = city_id;
	m->expires = monotonic_us() + CITY_MEMO_TTL;
}

/* One hotel of the page; city and country are the matched city's. */
static json_object *
hotel_summary(const PGresult *res, int row)
{
	json_object *hotel = json_object_new_object();

	search_add_col(hotel, "id", res, row, SH_ID, SEARCH_INT);
	search_add_col(hotel, "name", res, row, SH_NAME, SEARCH_TEXT);
	search_add_col(hotel, "city", res, row, SH_CITY_NAME, SEARCH_TEXT);
	search_add_col(hotel, "country", res, row, SH_CITY_COUNTRY,
	    SEARCH_TEXT);
	search_add_col(hotel, "address", res, row, SH_ADDRESS, SEARCH_TEXT);
	search_add_col(hotel, "stars", res, row, SH_STARS, SEARCH_INT);
	search_add_col(hotel, "rating", res, row, SH_RATING, SEARCH_NUMBER);
	search_add_col(hotel, "currency", res, row, SH_CURRENCY, SEARCH_TEXT);
	search_add_col(hotel, "lowest_rate", res, row, SH_LOWEST_RATE,
	    SEARCH_INT);
	search_add_col(hotel, "lat", res, row, SH_LAT, SEARCH_NUMBER);
	search_add_col(hotel, "lon", res, row, SH_LON, SEARCH_NUMBER);
	return hotel;
}

/*
 * One round trip: hotels_in_city() when this worker already knows which
 * city the query means, else search_hotels(), which finds it first.
 *
 * No city close to the query is not an error: 200 with "city": null and
 * no hotels, as for a city without matching hotels, so that a client
 * renders one "nothing found" page for both.
 */
int
search_hotels(bh_request *req)
{
	const bh_value *city_arg = bh_arg(req, "city");
	const struct city_memo *memo;
	const char *params[7];
	json_object *root, *city = NULL, *hotels;
	PGresult *res = NULL;
	int64_t per_page, total = 0;
	int row, rows = 0;

	per_page = bh_arg_int(req, "per_page");
	params[1] = search_int_text(req, "guests");
	params[2] = search_int_text(req, "stars");
	params[3] = search_int_text(req, "max_price"); /* NULL: no cap */
	params[4] = sort_choices[bh_arg_int(req, "sort")];
	params[5] = search_int_text(req, "page");
	params[6] = search_int_text(req, "per_page");

	memo = city_memo_find(city_arg->s, city_arg->len);
	if (memo != NULL && memo->city_id > 0) {
		params[0] = bh_psprintf(req->pool, "%" PRId64, memo->city_id);
		res = bh_db_query(req, hotels_in_city_sql, 7, params);
		if (res == NULL)
			return req->status;
		if ((rows = PQntuples(res)) == 0) {
			/* The city is gone: find what the query means now. */
			city_memo_forget(city_arg->s, city_arg->len);
			memo = NULL;
		}
	}
	if (memo == NULL) {
		params[0] = city_arg->s;
		res = bh_db_query(req, search_hotels_sql, 7, params);
		if (res == NULL)
			return req->status;
		rows = PQntuples(res);
		city_memo_store(city_arg->s, city_arg->len, rows == 0 ? 0 :
		    strtoll(PQgetvalue(res, 0, SH_CITY_ID), NULL, 10));
	}

	root = search_json_object(req);
	if (rows > 0) {
		city = json_object_new_object();
		search_add_col(city, "id", res, 0, SH_CITY_ID, SEARCH_INT);
		search_add_col(city, "name", res, 0, SH_CITY_NAME, SEARCH_TEXT);
		search_add_col(city, "country", res, 0, SH_CITY_COUNTRY,
		    SEARCH_TEXT);
		search_add_col(city, "country_code", res, 0,
		    SH_CITY_COUNTRY_CODE, SEARCH_TEXT);
		total = strtoll(PQgetvalue(res, 0, SH_TOTAL), NULL, 10);
	}
	search_add(root, "city", city);
	hotels = json_object_new_array_ext(rows);
	search_add(root, "hotels", hotels);
	/* An empty page still has its one row, with no hotel in it. */
	for (row = 0; row < rows; row++)
		if (!PQgetisnull(res, row, SH_ID))
			json_object_array_add(hotels, hotel_summary(res, row));
	search_add(root, "page",
	    json_object_new_int64(bh_arg_int(req, "page")));
	search_add(root, "per_page", json_object_new_int64(per_page));
	search_add(root, "total", json_object_new_int64(total));
	search_add(root, "total_pages",
	    json_object_new_int64((total + per_page - 1) / per_page));
	search_cacheable(req);
	return bh_send_json(req, 200, root);
}

/* ------------------------------------------------- GET /hotels/{id} */

const bh_param hotel_detail_params[] = {
	{ "id", BH_PATH, BH_INT, true, 1, 2147483647, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

const char search_hotel_detail_sql[] =
	"SELECT id, name, city_id, city, country, country_code, address,"
	" stars, rating, description, currency, lat, lon, room_type_id,"
	" room_type, capacity, nightly_rate, rooms, email"
	" FROM hotel_detail($1)";

/* Columns of search_hotel_detail_sql, in order. */
enum {
	HD_ID, HD_NAME, HD_CITY_ID, HD_CITY, HD_COUNTRY, HD_COUNTRY_CODE,
	HD_ADDRESS, HD_STARS, HD_RATING, HD_DESCRIPTION, HD_CURRENCY,
	HD_LAT, HD_LON, HD_ROOM_TYPE_ID, HD_ROOM_TYPE, HD_CAPACITY,
	HD_NIGHTLY_RATE, HD_ROOMS, HD_EMAIL
};

static json_object *
room_type(const PGresult *res, int row)
{
	json_object *rt = json_object_new_object();

	search_add_col(rt, "id", res, row, HD_ROOM_TYPE_ID, SEARCH_INT);
	search_add_col(rt, "name", res, row, HD_ROOM_TYPE, SEARCH_TEXT);
	search_add_col(rt, "capacity", res, row, HD_CAPACITY, SEARCH_INT);
	search_add_col(rt, "nightly_rate", res, row, HD_NIGHTLY_RATE,
	    SEARCH_INT);
	search_add_col(rt, "currency", res, row, HD_CURRENCY, SEARCH_TEXT);
	search_add_col(rt, "rooms", res, row, HD_ROOMS, SEARCH_INT);
	return rt;
}

json_object *
search_hotel_json(bh_request *req, const PGresult *res)
{
	json_object *hotel, *types;
	int row, rows = PQntuples(res);

	hotel = search_json_object(req);
	search_add_col(hotel, "id", res, 0, HD_ID, SEARCH_INT);
	search_add_col(hotel, "name", res, 0, HD_NAME, SEARCH_TEXT);
	search_add_col(hotel, "city", res, 0, HD_CITY, SEARCH_TEXT);
	search_add_col(hotel, "city_id", res, 0, HD_CITY_ID, SEARCH_INT);
	search_add_col(hotel, "country", res, 0, HD_COUNTRY, SEARCH_TEXT);
	search_add_col(hotel, "country_code", res, 0, HD_COUNTRY_CODE,
	    SEARCH_TEXT);
	search_add_col(hotel, "address", res, 0, HD_ADDRESS, SEARCH_TEXT);
	search_add_col(hotel, "email", res, 0, HD_EMAIL, SEARCH_TEXT);
	search_add_col(hotel, "stars", res, 0, HD_STARS, SEARCH_INT);
	search_add_col(hotel, "rating", res, 0, HD_RATING, SEARCH_NUMBER);
	search_add_col(hotel, "description", res, 0, HD_DESCRIPTION,
	    SEARCH_TEXT);
	search_add_col(hotel, "currency", res, 0, HD_CURRENCY, SEARCH_TEXT);
	search_add_col(hotel, "lat", res, 0, HD_LAT, SEARCH_NUMBER);
	search_add_col(hotel, "lon", res, 0, HD_LON, SEARCH_NUMBER);
	types = json_object_new_array_ext(rows);
	search_add(hotel, "room_types", types);
	/* A hotel without room types comes as one row with NULLs there. */
	for (row = 0; row < rows; row++)
		if (!PQgetisnull(res, row, HD_ROOM_TYPE_ID))
			json_object_array_add(types, room_type(res, row));
	return hotel;
}

int
hotel_detail(bh_request *req)
{
	const char *params[1];
	PGresult *res;

	params[0] = search_int_text(req, "id");
	if ((res = bh_db_query(req, search_hotel_detail_sql, 1, params)) ==
	    NULL)
		return req->status;
	if (PQntuples(res) == 0)
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "there is no hotel with id %s", params[0]);
	search_cacheable(req);
	return bh_send_json(req, 200, search_hotel_json(req, res));
}
