/*
 * holds.c - POST /reservations (hold a room), GET /reservations (mine),
 * GET /reservations/{id}, POST /internal/availability (for search), and
 * the reservation's JSON.
 *
 * A hold asks search for the hotel, the room type (capacity, rate,
 * currency) and its rooms, and users for the guest's name and address,
 * then in one transaction calls reservation_hold() (see
 * sql/reservations/001_reservations.sql): stale holds on those rooms are
 * expired and the first free room is taken, the exclusion constraint
 * making a double booking impossible.  The transaction first takes the
 * guest's advisory lock (their count of live holds, BH_MAX_LIVE_HOLDS,
 * cannot be raced past) and then the room type's, so that concurrent
 * holds of one type queue instead of deadlocking on each other's expired
 * and inserted rows.  The price is the catalogue's; whatever the client
 * says about price or status is ignored.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reservations.h"

/* ------------------------------------------------------------ helpers */

/* The classes of the transaction-scoped advisory locks (the two-key
 * form; the reservations database has no other locks of that form). */
#define LOCK_GUEST 1      /* second key: hashtext(guest_sub) */
#define LOCK_ROOM_TYPE 2  /* second key: the room type's id */

static void
json_put(void *obj)
{
	json_object_put(obj);
}

int64_t
resv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
resv_time_left(int64_t deadline, int cap)
{
	int64_t left;

	if (deadline == 0)
		return cap;
	left = deadline - resv_now_ms();
	if (left <= 0)
		return 0;
	return left < cap ? (int)left : cap;
}

json_object *
resv_json_own(bh_request *req, json_object *obj)
{
	bh_pool_defer(req->pool, json_put, obj);
	return obj;
}

void
resv_add(json_object *obj, const char *key, json_object *val)
{
	json_object_object_add_ex(obj, key, val,
	    JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT);
}

const char *
resv_json_text(bh_pool *pool, json_object *obj)
{
	return bh_pstrdup(pool, json_object_to_json_string_ext(obj,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static json_object *
col_str(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return json_object_new_string_len(PQgetvalue(res, row, col),
	    PQgetlength(res, row, col));
}

static json_object *
col_int(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return json_object_new_int64(strtoll(PQgetvalue(res, row, col),
	    NULL, 10));
}

json_object *
resv_json(bh_request *req, const PGresult *res, int row)
{
	json_object *obj, *sub;

	obj = resv_json_own(req, json_object_new_object());
	resv_add(obj, "id", col_str(res, row, RC_ID));
	resv_add(obj, "status", col_str(res, row, RC_STATUS));
	sub = json_object_new_object();
	resv_add(sub, "id", col_int(res, row, RC_HOTEL_ID));
	resv_add(sub, "name", col_str(res, row, RC_HOTEL_NAME));
	resv_add(obj, "hotel", sub);
	sub = json_object_new_object();
	resv_add(sub, "id", col_int(res, row, RC_TYPE_ID));
	resv_add(sub, "name", col_str(res, row, RC_TYPE_NAME));
	resv_add(obj, "room_type", sub);
	resv_add(obj, "checkin", col_str(res, row, RC_CHECKIN));
	resv_add(obj, "checkout", col_str(res, row, RC_CHECKOUT));
	resv_add(obj, "nights", col_int(res, row, RC_NIGHTS));
	resv_add(obj, "guests", col_int(res, row, RC_GUESTS));
	resv_add(obj, "currency", col_str(res, row, RC_CURRENCY));
	resv_add(obj, "nightly_rate", col_int(res, row, RC_RATE));
	resv_add(obj, "total", col_int(res, row, RC_TOTAL));
	resv_add(obj, "hold_expires_at", col_str(res, row, RC_HOLD_EXPIRES));
	resv_add(obj, "created_at", col_str(res, row, RC_CREATED));
	if (PQgetisnull(res, row, RC_PAYMENT_ID)) {
		resv_add(obj, "payment", NULL);
	} else {
		sub = json_object_new_object();
		resv_add(sub, "id", col_str(res, row, RC_PAYMENT_ID));
		resv_add(sub, "brand", col_str(res, row, RC_BRAND));
		resv_add(sub, "last4", col_str(res, row, RC_LAST4));
		resv_add(sub, "paid_at", col_str(res, row, RC_PAID_AT));
		resv_add(obj, "payment", sub);
	}
	if (PQgetisnull(res, row, RC_REFUND_STATUS)) {
		resv_add(obj, "refund", NULL);
	} else {
		sub = json_object_new_object();
		resv_add(sub, "amount", col_int(res, row, RC_REFUND_AMOUNT));
		resv_add(sub, "status", col_str(res, row, RC_REFUND_STATUS));
		resv_add(obj, "refund", sub);
	}
	/* a paid reservation has a receipt: rendered now if not yet */
	resv_add(obj, "receipt_url", PQgetisnull(res, row, RC_PAYMENT_ID) ?
	    NULL : json_object_new_string(bh_psprintf(req->pool,
	    "%s/reservations/%s/receipt", bh_cfg.base_path,
	    PQgetvalue(res, row, RC_ID))));
	return obj;
}

int
resv_send(bh_request *req, int status, const PGresult *res)
{
	const char *text = resv_json_text(req->pool, resv_json(req, res, 0));

	return bh_send(req, status, "application/json", text, strlen(text));
}

const char *
resv_path_id(bh_request *req)
{
	size_t i;

	for (i = 0; i < req->path_params.n; i++)
		if (strcmp(req->path_params.items[i].key, "id") == 0 &&
		    bh_uuid_valid(req->path_params.items[i].val))
			return req->path_params.items[i].val;
	bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
	    "there is no such reservation");
	return NULL;
}

const char *
resv_guest(bh_request *req)
{
	if (req->token == NULL || req->token->sub == NULL ||
	    !bh_uuid_valid(req->token->sub)) {
		bh_problem(req, 403, BH_PROBLEM_FORBIDDEN, NULL,
		    "reservations are made with a person's token");
		return NULL;
	}
	return req->token->sub;
}

PGresult *
resv_fetch(bh_request *req, const char *id, const char *guest)
{
	const char *params[] = { id, guest };
	PGresult *res;

	res = bh_db_query(req, "SELECT " RESV_COLUMNS " FROM reservations"
	    " WHERE id = $1 AND guest_sub = $2", 2, params);
	if (res != NULL && PQntuples(res) == 0) {
		bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "there is no such reservation");
		return NULL;
	}
	return res;
}

/* ---------------------------------------------------- POST /reservations */

const bh_param resv_create_params[] = {
	{ "hotel_id", BH_BODY, BH_INT, true, 1, INT32_MAX, NULL, NULL, NULL },
	{ "room_type_id", BH_BODY, BH_INT, true, 1, INT32_MAX, NULL, NULL,
	    NULL },
	{ "checkin", BH_BODY, BH_DATE, true, 0, 0, NULL, NULL, NULL },
	{ "checkout", BH_BODY, BH_DATE, true, 0, 0, NULL, NULL, NULL },
	{ "guests", BH_BODY, BH_INT, true, 1, 20, NULL, NULL, NULL },
	/* the server decides these; a client that sends them is ignored */
	{ "price", BH_BODY, BH_IGNORED, false, 0, 0, NULL, NULL, NULL },
	{ "total", BH_BODY, BH_IGNORED, false, 0, 0, NULL, NULL, NULL },
	{ "nightly_rate", BH_BODY, BH_IGNORED, false, 0, 0, NULL, NULL, NULL },
	{ "status", BH_BODY, BH_IGNORED, false, 0, 0, NULL, NULL, NULL },
	{ "currency", BH_BODY, BH_IGNORED, false, 0, 0, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

struct hold {
	const char *guest, *key, *fingerprint;
	int64_t type_id;
	const char *checkin, *checkout;
	const char *rooms;        /* "{1,2,3}" */
	const char *details;      /* the JSON reservation_hold() takes */
	/* outcome */
	bool replay;              /* another request holds the key */
	bool full;                /* no room free */
	const char *answer;       /* the 201's body */
	const char *id;
};

/* Answers with the stored answer to (guest, key): 1 when there was one
 * (replayed, or 422 when the body differs), 0 when there is none, -1
 * after a failed query. */
static int
replay_stored(bh_request *req, struct hold *h)
{
	const char *params[] = { h->guest, h->key };
	PGresult *res;
	int status;

	res = bh_db_query(req, "SELECT fingerprint, status, body,"
	    " reservation_id FROM reservation_requests"
	    " WHERE guest_sub = $1 AND idempotency_key = $2", 2, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 1))
		return 0;
	if (strcmp(PQgetvalue(res, 0, 0), h->fingerprint) != 0) {
		bh_problem(req, 422, BH_PROBLEM_IDEMPOTENCY_KEY_REUSED,
		    "Idempotency-Key", "this Idempotency-Key was used with "
		    "another request");
		return 1;
	}
	status = atoi(PQgetvalue(res, 0, 1));
	bh_add_header(req, "Idempotent-Replayed", "true");
	bh_add_header(req, "Location", bh_psprintf(req->pool,
	    "%s/reservations/%s", bh_cfg.base_path, PQgetvalue(res, 0, 3)));
	bh_send(req, status, "application/json", PQgetvalue(res, 0, 2),
	    (size_t)PQgetlength(res, 0, 2));
	return 1;
}

static int
hold_tx(bh_request *req, void *arg)
{
	struct hold *h = arg;
	const char *params[5];
	PGresult *res;

	h->replay = h->full = false;
	params[0] = h->guest;
	params[1] = bh_psprintf(req->pool, "%d", LOCK_GUEST);
	if (bh_db_query(req, "SELECT pg_advisory_xact_lock($2::integer,"
	    " hashtext($1))", 2, params) == NULL)
		return -1;
	if (h->key != NULL) {
		/* a second request with the key waits here for the first */
		params[0] = h->guest;
		params[1] = h->key;
		params[2] = h->fingerprint;
		res = bh_db_query(req, "INSERT INTO reservation_requests"
		    " (guest_sub, idempotency_key, fingerprint)"
		    " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1",
		    3, params);
		if (res == NULL)
			return -1;
		if (PQntuples(res) == 0) {
			/* the first one has committed: its answer is replayed */
			h->replay = true;
			return bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
			    "a request with this Idempotency-Key is in "
			    "progress");
		}
	}
	params[0] = h->guest;
	res = bh_db_query(req, "SELECT count(*) FROM reservations"
	    " WHERE guest_sub = $1 AND (status = 'payment_pending'"
	    " OR (status = 'held' AND hold_expires_at > now()))", 1, params);
	if (res == NULL)
		return -1;
	if (strtoll(PQgetvalue(res, 0, 0), NULL, 10) >=
	    resv_cfg.max_live_holds)
		return bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
		    "you have %lld rooms on hold or being paid for, the most "
		    "at once: pay for one or cancel one first",
		    resv_cfg.max_live_holds);
	params[0] = bh_psprintf(req->pool, "%d", LOCK_ROOM_TYPE);
	params[1] = bh_psprintf(req->pool, "%" PRId64, h->type_id);
	if (bh_db_query(req, "SELECT pg_advisory_xact_lock($1::integer,"
	    " $2::integer)", 2, params) == NULL)
		return -1;

	params[0] = h->rooms;
	params[1] = bh_psprintf(req->pool, "[%s,%s)", h->checkin,
	    h->checkout);
	params[2] = bh_psprintf(req->pool, "%lld", resv_cfg.hold_seconds);
	params[3] = h->details;
	res = bh_db_query(req, "SELECT reservation_hold($1::integer[],"
	    " $2::daterange, $3::integer, $4::jsonb)", 4, params);
	if (res == NULL)
		return -1;
	if (PQgetisnull(res, 0, 0)) {
		h->full = true;
		return bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
		    "no room of this type is free from %s to %s", h->checkin,
		    h->checkout);
	}
	h->id = bh_pstrdup(req->pool, PQgetvalue(res, 0, 0));
	params[0] = h->id;
	res = bh_db_query(req, "SELECT " RESV_COLUMNS " FROM reservations"
	    " WHERE id = $1", 1, params);
	if (res == NULL || PQntuples(res) != 1)
		return -1;
	h->answer = resv_json_text(req->pool, resv_json(req, res, 0));
	if (h->key != NULL) {
		params[0] = h->guest;
		params[1] = h->key;
		params[2] = h->answer;
		params[3] = h->id;
		if (bh_db_query(req, "UPDATE reservation_requests"
		    " SET status = 201, body = $3, reservation_id = $4"
		    " WHERE guest_sub = $1 AND idempotency_key = $2",
		    4, params) == NULL)
			return -1;
	}
	return 0;
}

/* The dates' checks: 0, or the status of the 400 set. */
static int
check_dates(bh_request *req, int64_t checkin, int64_t checkout)
{
	int64_t today = bh_date_today();

	if (checkout <= checkin)
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "checkout", "checkout must be after checkin");
	if (checkin < today)
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "checkin", "checkin must not be in the past");
	if (checkout - checkin > resv_cfg.max_nights)
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "checkout", "a stay is at most %lld nights",
		    resv_cfg.max_nights);
	if (checkin - today > resv_cfg.max_advance_days)
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "checkin", "checkin is at most %lld days ahead",
		    resv_cfg.max_advance_days);
	return 0;
}

/* A total payments would refuse (BH_PAYMENT_MAX_AMOUNT) is refused now,
 * not when the guest pays: 0, or the status of the 400/409 set. */
static int
check_total(bh_request *req, const struct room_offer *offer, int64_t nights)
{
	int64_t max = resv_cfg.payment_max_amount, fit;
	const char *limit;

	if (offer->nightly_rate <= max / nights)
		return 0;
	limit = bh_money_format(req->pool, max, offer->currency);
	if ((fit = max / offer->nightly_rate) == 0)
		return bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
		    "one night of a %s costs more than a payment may be (%s): "
		    "it cannot be booked online", offer->type_name,
		    limit != NULL ? limit : "");
	return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, "checkout",
	    "the stay would cost more than a payment may be (%s): at most %"
	    PRId64 " night(s) of a %s can be paid at once",
	    limit != NULL ? limit : "", fit, offer->type_name);
}

int
resv_create(bh_request *req)
{
	struct hold h;
	struct room_offer offer;
	const char *name, *email;
	int64_t hotel_id, type_id, checkin, checkout, guests;
	json_object *details;
	int rc;

	memset(&h, 0, sizeof(h));
	if ((h.guest = resv_guest(req)) == NULL)
		return req->status;
	h.key = bh_idempotency_key(req, false);
	if (h.key == NULL && req->status != 0)
		return req->status;
	if (h.key != NULL) {
		h.fingerprint = bh_request_fingerprint(req);
		if ((rc = replay_stored(req, &h)) != 0)
			return req->status;
	}

	hotel_id = bh_arg_int(req, "hotel_id");
	type_id = bh_arg_int(req, "room_type_id");
	checkin = bh_arg_int(req, "checkin");
	checkout = bh_arg_int(req, "checkout");
	guests = bh_arg_int(req, "guests");
	if (check_dates(req, checkin, checkout) != 0)
		return req->status;
	if (upstream_offer(req, hotel_id, type_id, &offer) != 0)
		return req->status;
	if (guests > offer.capacity)
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "guests", "a %s room takes at most %" PRId64 " guest(s)",
		    offer.type_name, offer.capacity);
	if (check_total(req, &offer, checkout - checkin) != 0)
		return req->status;
	if (upstream_guest(req, h.guest, &name, &email) != 0)
		return req->status;

	h.checkin = bh_date_format(req->pool, checkin);
	h.checkout = bh_date_format(req->pool, checkout);
	h.rooms = offer.room_ids;
	h.type_id = type_id;
	details = resv_json_own(req, json_object_new_object());
	resv_add(details, "guest_sub", json_object_new_string(h.guest));
	resv_add(details, "guest_name", json_object_new_string(name));
	resv_add(details, "guest_email", json_object_new_string(email));
	resv_add(details, "hotel_id", json_object_new_int64(hotel_id));
	resv_add(details, "hotel_name",
	    json_object_new_string(offer.hotel_name));
	resv_add(details, "hotel_email", offer.hotel_email != NULL ?
	    json_object_new_string(offer.hotel_email) : NULL);
	resv_add(details, "hotel_address",
	    json_object_new_string(offer.hotel_address));
	resv_add(details, "hotel_city",
	    json_object_new_string(offer.hotel_city));
	resv_add(details, "hotel_country",
	    json_object_new_string(offer.hotel_country));
	resv_add(details, "room_type_id", json_object_new_int64(type_id));
	resv_add(details, "room_type_name",
	    json_object_new_string(offer.type_name));
	resv_add(details, "guests", json_object_new_int64(guests));
	resv_add(details, "currency", json_object_new_string(offer.currency));
	resv_add(details, "nightly_rate",
	    json_object_new_int64(offer.nightly_rate));
	h.details = resv_json_text(req->pool, details);

	if (offer.nrooms == 0)
		return bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
		    "no %s is free at this hotel from %s to %s",
		    offer.type_name, h.checkin, h.checkout);
	if (bh_db_tx(req, hold_tx, &h) == 0) {
		bh_log(BH_LOG_INFO, "reservation %s held: hotel %" PRId64
		    ", room type %" PRId64 ", %s to %s", h.id, hotel_id,
		    type_id, h.checkin, h.checkout);
		bh_add_header(req, "Location", bh_psprintf(req->pool,
		    "%s/reservations/%s", bh_cfg.base_path, h.id));
		return bh_send(req, 201, "application/json", h.answer,
		    strlen(h.answer));
	}
	/* the request that had the key first has committed: its answer (the
	 * 409 set by hold_tx stays if it is gone meanwhile) */
	if (h.replay)
		replay_stored(req, &h);
	return req->status;
}

/* ----------------------------------------------------- GET /reservations */

const bh_param resv_list_params[] = {
	{ "page", BH_QUERY, BH_INT, false, 1, 100000, NULL, "1", NULL },
	{ "per_page", BH_QUERY, BH_INT, false, 1, 100, NULL, "20", NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

int
resv_list(bh_request *req)
{
	const char *guest, *params[3];
	int64_t page, per_page;
	json_object *obj, *list;
	PGresult *res, *count;
	int i;

	if ((guest = resv_guest(req)) == NULL)
		return req->status;
	page = bh_arg_int(req, "page");
	per_page = bh_arg_int(req, "per_page");
	params[0] = guest;
	params[1] = bh_psprintf(req->pool, "%" PRId64, per_page);
	params[2] = bh_psprintf(req->pool, "%" PRId64, (page - 1) * per_page);
	res = bh_db_query(req, "SELECT " RESV_COLUMNS " FROM reservations"
	    " WHERE guest_sub = $1 ORDER BY created_at DESC, id"
	    " LIMIT $2 OFFSET $3", 3, params);
	if (res == NULL)
		return req->status;
	count = bh_db_query(req, "SELECT count(*) FROM reservations"
	    " WHERE guest_sub = $1", 1, params);
	if (count == NULL)
		return req->status;

	obj = resv_json_own(req, json_object_new_object());
	list = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++)
		json_object_array_add(list,
		    json_object_get(resv_json(req, res, i)));
	resv_add(obj, "reservations", list);
	resv_add(obj, "page", json_object_new_int64(page));
	resv_add(obj, "per_page", json_object_new_int64(per_page));
	resv_add(obj, "total", json_object_new_int64(strtoll(
	    PQgetvalue(count, 0, 0), NULL, 10)));
	return bh_send_json(req, 200, obj);
}

/* ------------------------------------------------ GET /reservations/{id} */

int
resv_get(bh_request *req)
{
	const char *guest, *id;
	PGresult *res;

	if ((guest = resv_guest(req)) == NULL ||
	    (id = resv_path_id(req)) == NULL ||
	    (res = resv_fetch(req, id, guest)) == NULL)
		return req->status;
	return resv_send(req, 200, res);
}

/* ------------------------------------- POST /internal/availability */

#define AVAIL_MAX_ROOMS 20000

const bh_param resv_availability_params[] = {
	{ "checkin", BH_BODY, BH_DATE, true, 0, 0, NULL, NULL, NULL },
	{ "checkout", BH_BODY, BH_DATE, true, 0, 0, NULL, NULL, NULL },
	{ "hotels", BH_BODY, BH_ARRAY, true, 0, 500, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

static int
cmp_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* A positive 32-bit id at member key of obj: true with *out. */
static bool
id_member(json_object *obj, const char *key, int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return *out >= 1 && *out <= INT32_MAX;
}

static int
bad_hotels(bh_request *req, const char *param, const char *why)
{
	return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, param,
	    "%s %s", param, why);
}

int
resv_availability(bh_request *req)
{
	json_object *hotels = bh_arg(req, "hotels")->json, *h, *ids, *v;
	json_object *out, *list, *entry, *free_ids;
	int64_t checkin = bh_arg_int(req, "checkin");
	int64_t checkout = bh_arg_int(req, "checkout");
	int64_t *busy, id;
	size_t nhotels, i, j, n, nrooms = 0, nbusy;
	const char *params[2];
	char param[64];
	bh_buf all;
	PGresult *res;

	if (checkout <= checkin)
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "checkout", "checkout must be after checkin");
	nhotels = json_object_array_length(hotels);
	bh_buf_init(&all, req->pool);
	bh_buf_puts(&all, "{");
	for (i = 0; i < nhotels; i++) {
		h = json_object_array_get_idx(hotels, i);
		snprintf(param, sizeof(param), "hotels[%zu]", i);
		if (!json_object_is_type(h, json_type_object) ||
		    json_object_object_length(h) != 2)
			return bad_hotels(req, param, "must be an object "
			    "{\"hotel_id\", \"room_ids\"}");
		snprintf(param, sizeof(param), "hotels[%zu].hotel_id", i);
		if (!id_member(h, "hotel_id", &id))
			return bad_hotels(req, param,
			    "must be an integer from 1 to 2147483647");
		snprintf(param, sizeof(param), "hotels[%zu].room_ids", i);
		if (!json_object_object_get_ex(h, "room_ids", &ids) ||
		    !json_object_is_type(ids, json_type_array))
			return bad_hotels(req, param, "must be an array");
		n = json_object_array_length(ids);
		if ((nrooms += n) > AVAIL_MAX_ROOMS)
			return bh_problem(req, 400,
			    BH_PROBLEM_INVALID_PARAMETER, "hotels",
			    "at most %d rooms in all", AVAIL_MAX_ROOMS);
		for (j = 0; j < n; j++) {
			v = json_object_array_get_idx(ids, j);
			if (!json_object_is_type(v, json_type_int) ||
			    (id = json_object_get_int64(v)) < 1 ||
			    id > INT32_MAX) {
				snprintf(param, sizeof(param),
				    "hotels[%zu].room_ids[%zu]", i, j);
				return bad_hotels(req, param, "must be an "
				    "integer from 1 to 2147483647");
			}
			bh_buf_printf(&all, "%s%" PRId64,
			    all.len > 1 ? "," : "", id);
		}
	}
	bh_buf_puts(&all, "}");

	/* one query for every room: those a live reservation holds */
	params[0] = all.data;
	params[1] = bh_psprintf(req->pool, "[%s,%s)",
	    bh_date_format(req->pool, checkin),
	    bh_date_format(req->pool, checkout));
	res = bh_db_query(req, "SELECT DISTINCT room_id FROM reservations"
	    " WHERE room_id = ANY ($1::integer[]) AND stay && $2::daterange"
	    " AND (status IN ('payment_pending', 'confirmed')"
	    " OR (status = 'held' AND hold_expires_at > now()))", 2, params);
	if (res == NULL)
		return req->status;
	nbusy = (size_t)PQntuples(res);
	busy = bh_palloc(req->pool, (nbusy + 1) * sizeof(*busy));
	for (i = 0; i < nbusy; i++)
		busy[i] = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
	qsort(busy, nbusy, sizeof(*busy), cmp_int64);

	out = resv_json_own(req, json_object_new_object());
	resv_add(out, "checkin", json_object_new_string(
	    bh_date_format(req->pool, checkin)));
	resv_add(out, "checkout", json_object_new_string(
	    bh_date_format(req->pool, checkout)));
	list = json_object_new_array();
	resv_add(out, "hotels", list);
	for (i = 0; i < nhotels; i++) {
		h = json_object_array_get_idx(hotels, i);
		json_object_object_get_ex(h, "room_ids", &ids);
		entry = json_object_new_object();
		json_object_array_add(list, entry);
		id_member(h, "hotel_id", &id);
		resv_add(entry, "hotel_id", json_object_new_int64(id));
		free_ids = json_object_new_array();
		resv_add(entry, "free_room_ids", free_ids);
		n = json_object_array_length(ids);
		for (j = 0; j < n; j++) {
			id = json_object_get_int64(
			    json_object_array_get_idx(ids, j));
			if (bsearch(&id, busy, nbusy, sizeof(*busy),
			    cmp_int64) == NULL)
				json_object_array_add(free_ids,
				    json_object_new_int64(id));
		}
	}
	return bh_send_json(req, 200, out);
}
