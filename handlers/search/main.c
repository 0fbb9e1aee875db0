/*
 * main.c - bellhop-search, the hotel catalogue: its routes, relative to
 * the base path (/search by default).  /health and /ready come with the
 * runtime.
 *
 * Reading the catalogue is public.  Writing it takes a token for this
 * service (audience "search") with the scope catalog:write, which the
 * client catalog-admin has: operators and tests.  The rooms themselves
 * (their ids and numbers) are not the public's: reading them takes the
 * scope catalog:read, which catalog-admin has and so does reservations,
 * which holds rooms by id.
 */
#include "search.h"

/* The scope every catalogue write needs. */
#define CATALOG_WRITE "catalog:write"
/* The scope the room reads need (not a write: reservations has it). */
#define CATALOG_READ "catalog:read"

static const bh_route routes[] = {
	{ BH_GET, "/hotels",
	  search_hotels, search_hotels_params, BH_PUBLIC, NULL },
	{ BH_POST, "/hotels",
	  catalog_hotel_create, NULL, BH_TOKEN, CATALOG_WRITE },
	{ BH_GET, "/hotels/{id:int}",
	  hotel_detail, hotel_detail_params, BH_PUBLIC, NULL },
	{ BH_PUT, "/hotels/{id:int}",
	  catalog_hotel_replace, catalog_hotel_params,
	  BH_TOKEN, CATALOG_WRITE },
	{ BH_DELETE, "/hotels/{id:int}",
	  catalog_hotel_delete, catalog_hotel_params, BH_TOKEN, CATALOG_WRITE },
	{ BH_POST, "/hotels/{id:int}/room-types",
	  catalog_room_type_create, catalog_hotel_params,
	  BH_TOKEN, CATALOG_WRITE },
	{ BH_GET, "/hotels/{id:int}/room-types/{type_id:int}",
	  catalog_room_type_get, catalog_room_type_params, BH_PUBLIC, NULL },
	{ BH_PUT, "/hotels/{id:int}/room-types/{type_id:int}",
	  catalog_room_type_replace, catalog_room_type_params,
	  BH_TOKEN, CATALOG_WRITE },
	{ BH_DELETE, "/hotels/{id:int}/room-types/{type_id:int}",
	  catalog_room_type_delete, catalog_room_type_params,
	  BH_TOKEN, CATALOG_WRITE },
	{ BH_POST, "/hotels/{id:int}/room-types/{type_id:int}/rooms",
	  catalog_room_create, catalog_room_type_params,
	  BH_TOKEN, CATALOG_WRITE },
	{ BH_GET, "/hotels/{id:int}/rooms",
	  catalog_rooms_list, catalog_hotel_params, BH_TOKEN, CATALOG_READ },
	{ BH_GET, "/hotels/{id:int}/rooms/{room_id:int}",
	  catalog_room_get, catalog_room_params, BH_TOKEN, CATALOG_READ },
	{ BH_DELETE, "/hotels/{id:int}/rooms/{room_id:int}",
	  catalog_room_delete, catalog_room_params, BH_TOKEN, CATALOG_WRITE },
	{ BH_GET, "/cities",
	  search_cities, search_cities_params, BH_PUBLIC, NULL },
	{ 0, NULL, NULL, NULL, 0, NULL }
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
