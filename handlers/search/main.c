/*
 * main.c - bellhop-search, the hotel catalogue's read side: its routes,
 * relative to the base path (/search by default).  /health and /ready
 * come with the runtime.
 */
#include "search.h"

static const bh_route routes[] = {
	{ BH_GET, "/hotels", search_hotels, search_hotels_params },
	{ BH_GET, "/hotels/{id:int}", hotel_detail, hotel_detail_params },
	{ BH_GET, "/cities", search_cities, search_cities_params },
	{ 0, NULL, NULL, NULL }
};

static const bh_service service = {
	.name = "search",
	.routes = routes,
	.uses_db = true,
	.worker_init = NULL,
};

int
main(int argc, char **argv)
{
	return bh_main(&service, argc, argv);
}
