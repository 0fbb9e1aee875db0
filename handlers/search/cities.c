/*
 * cities.c - GET /search/cities?prefix=..&limit=..: city autocomplete.
 *
 * One call of search_cities() (sql/search/001_catalogue.sql): cities
 * with a name (their own or another one, "Munich" for München) starting
 * with the prefix, compared without case or accents, most hotels first.
 */
#include "search.h"

const bh_param search_cities_params[] = {
	{ "prefix", BH_QUERY, BH_STRING, true, 1, 100, NULL, NULL, NULL },
	{ "limit", BH_QUERY, BH_INT, false, 1, 50, NULL, "10", NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

static const char search_cities_sql[] =
	"SELECT id, name, country, country_code, hotel_count, matched_name"
	" FROM search_cities($1, $2)";

/* Columns of search_cities_sql, in order. */
enum { SC_ID, SC_NAME, SC_COUNTRY, SC_COUNTRY_CODE, SC_HOTEL_COUNT,
	SC_MATCHED_NAME };

int
search_cities(bh_request *req)
{
	const char *params[2];
	json_object *root, *cities, *city;
	PGresult *res;
	int row, rows;

	params[0] = bh_arg_str(req, "prefix");
	params[1] = search_int_text(req, "limit");
	if ((res = bh_db_query(req, search_cities_sql, 2, params)) == NULL)
		return req->status;

	rows = PQntuples(res);
	root = search_json_object(req);
	cities = json_object_new_array_ext(rows);
	search_add(root, "cities", cities);
	for (row = 0; row < rows; row++) {
		city = json_object_new_object();
		json_object_array_add(cities, city);
		search_add_col(city, "id", res, row, SC_ID, SEARCH_INT);
		search_add_col(city, "name", res, row, SC_NAME, SEARCH_TEXT);
		search_add_col(city, "country", res, row, SC_COUNTRY,
		    SEARCH_TEXT);
		search_add_col(city, "country_code", res, row,
		    SC_COUNTRY_CODE, SEARCH_TEXT);
		search_add_col(city, "hotel_count", res, row, SC_HOTEL_COUNT,
		    SEARCH_INT);
		search_add_col(city, "matched_name", res, row,
		    SC_MATCHED_NAME, SEARCH_TEXT);
	}
	search_cacheable(req);
	return bh_send_json(req, 200, root);
}
