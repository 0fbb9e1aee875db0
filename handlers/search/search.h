/*
 * search.h - the search service: the hotel catalogue.
 *
 * Each read handler runs one statement, a call of a SQL function created
 * by sql/search/ (search_hotels, hotel_detail, search_cities,
 * room_type_detail), and turns its rows into JSON with json-c.  The write
 * handlers (catalog.c, scope catalog:write) run each write in one
 * transaction.
 */
#ifndef SEARCH_H
#define SEARCH_H

#include "bellhop.h"

/* hotels.c: GET /hotels and GET /hotels/{id} */
extern const bh_param search_hotels_params[];
extern const bh_param hotel_detail_params[];
int search_hotels(bh_request *req);
int hotel_detail(bh_request *req);

/* hotels.c: the hotel_detail() statement ($1 = the hotel's id)... */
extern const char search_hotel_detail_sql[];
/* ...and its rows (at least one) as the JSON of GET /hotels/{id}: an
 * object the request's pool releases. */
json_object *search_hotel_json(bh_request *req, const PGresult *res);

/* catalog.c: hotels, room types and rooms written (scope catalog:write),
 * room types and rooms read. */
extern const bh_param catalog_hotel_params[];     /* {id} */
extern const bh_param catalog_room_type_params[]; /* {id}, {type_id} */
extern const bh_param catalog_room_params[];      /* {id}, {room_id} */
int catalog_hotel_create(bh_request *req);
int catalog_hotel_replace(bh_request *req);
int catalog_hotel_delete(bh_request *req);
int catalog_room_type_get(bh_request *req);
int catalog_room_type_create(bh_request *req);
int catalog_room_type_replace(bh_request *req);
int catalog_room_type_delete(bh_request *req);
int catalog_rooms_list(bh_request *req);
int catalog_room_create(bh_request *req);
int catalog_room_get(bh_request *req);
int catalog_room_delete(bh_request *req);

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
