/*
 * search.h - the search service: the hotel catalogue's read side.
 *
 * Each handler runs one statement, a call of a SQL function created by
 * sql/search/001_catalogue.sql (search_hotels, hotel_detail,
 * search_cities), and turns its rows into JSON with json-c.
 */
#ifndef SEARCH_H
#define SEARCH_H

#include "bellhop.h"

/* hotels.c: GET /hotels and GET /hotels/{id} */
extern const bh_param search_hotels_params[];
extern const bh_param hotel_detail_params[];
int search_hotels(bh_request *req);
int hotel_detail(bh_request *req);

/* cities.c: GET /cities */
extern const bh_param search_cities_params[];
int search_cities(bh_request *req);

/* hotels.c: helpers shared by the handlers. */

/* How a result column becomes JSON; SQL NULL is always JSON null. */
enum search_col {
	SEARCH_TEXT,   /* a string */
	SEARCH_INT,    /* an integer column */
	SEARCH_NUMBER, /* numeric or float8: a number written as PostgreSQL
	                * printed it (shortest exact form, "9.5", "-9.1393") */
};

/* Adds key (a string literal, not yet in obj): val to obj, which takes
 * over val's reference; val NULL is JSON null. */
void search_add(json_object *obj, const char *key, json_object *val);
/* Adds key (a string literal, not yet in obj): the value at (row, col) of res to obj. */
void search_add_col(json_object *obj, const char *key, const PGresult *res,
		    int row, int col, enum search_col kind);
/* Returns a new JSON object that the request's pool releases. */
json_object *search_json_object(bh_request *req);
/* The decimal text of an integer argument, owned by the request. */
const char *search_int_text(bh_request *req, const char *name);
/* Marks a catalogue answer cacheable for a short while. */
void search_cacheable(bh_request *req);

#endif
