/*
 * reservations.h - the reservations service: holding a room, paying for
 * it, the receipt and the emails of a confirmed stay, cancelling it, and
 * the availability search asks about.
 *
 * holds.c has the holds and the reads (create, list, get, availability)
 * and the reservation's JSON; payment.c paying, confirming and what
 * follows a confirmation (receipt, emails); cancel.c the cancellation
 * policy and the refund; upstream.c every call to another service
 * (search, users, payments, reports, notifications); reconcile.c the
 * command that finishes what a request left undone.
 *
 * Every query a guest's request makes names the reservation by (id,
 * guest_sub): someone else's reservation is a 404, as a missing one.
 */
#ifndef RESERVATIONS_H
#define RESERVATIONS_H

#include <stdint.h>

#include "bellhop.h"

/* The service's own settings, read by the configure hook (main.c). */
struct resv_settings {
	long long hold_seconds;      /* BH_HOLD_SECONDS: a hold's life */
	long long max_nights;        /* BH_MAX_NIGHTS */
	long long max_advance_days;  /* BH_MAX_ADVANCE_DAYS: latest check-in */
	long long cancel_free_hours; /* BH_CANCEL_FREE_HOURS before check-in day */
	long long cancel_grace_minutes; /* BH_CANCEL_GRACE_MINUTES: full
					 * refund this long after confirmation */
	long long payments_timeout_ms; /* BH_PAYMENTS_TIMEOUT: one call to payments */
	long long payment_settle_seconds; /* BH_PAYMENT_SETTLE_SECONDS: a
					   * payment attempt younger than
					   * this may still be in flight */
	long long pay_attempts;      /* BH_PAY_ATTEMPTS: per reservation */
	long long max_live_holds;    /* BH_MAX_LIVE_HOLDS: per guest */
	long long payment_max_amount; /* BH_PAYMENT_MAX_AMOUNT: payments' ceiling */
};

extern struct resv_settings resv_cfg;

/* The live statuses (the exclusion constraint's) and the others. */
#define RESV_HELD "held"
#define RESV_PENDING "payment_pending"
#define RESV_CONFIRMED "confirmed"
#define RESV_CANCELLED "cancelled"
#define RESV_EXPIRED "expired"

/* ------------------------------------------------------------ holds.c */

extern const bh_param resv_create_params[];
extern const bh_param resv_list_params[];
extern const bh_param resv_availability_params[];
int resv_create(bh_request *req);
int resv_list(bh_request *req);
int resv_get(bh_request *req);
int resv_availability(bh_request *req);

/* Columns every query answering with a reservation selects first, in
 * this order (from table reservations, unaliased), and the JSON made of
 * them. */
#define RESV_COLUMNS \
	"id, status, hotel_id, hotel_name, room_type_id, room_type_name," \
	" lower(stay)::text, upper(stay)::text, upper(stay) - lower(stay)," \
	" guests, currency, nightly_rate, total," \
	" CASE WHEN status = 'held' THEN to_char(hold_expires_at AT TIME ZONE" \
	" 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') END," \
	" to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')," \
	" payment_id, payment_brand, payment_last4," \
	" to_char(paid_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')," \
	" refund_amount, refund_status, payment_attempts"
enum { RC_ID, RC_STATUS, RC_HOTEL_ID, RC_HOTEL_NAME, RC_TYPE_ID, RC_TYPE_NAME,
	RC_CHECKIN, RC_CHECKOUT, RC_NIGHTS, RC_GUESTS, RC_CURRENCY, RC_RATE,
	RC_TOTAL, RC_HOLD_EXPIRES, RC_CREATED, RC_PAYMENT_ID, RC_BRAND,
	RC_LAST4, RC_PAID_AT, RC_REFUND_AMOUNT, RC_REFUND_STATUS, RC_ATTEMPTS,
	RC_NCOLUMNS };

/* A new JSON object, released with the request's pool, for the
 * reservation at row of res (selected with RESV_COLUMNS first). */
json_object *resv_json(bh_request *req, const PGresult *res, int row);
/* Answers status with the reservation at row 0 of res.  Returns status. */
int resv_send(bh_request *req, int status, const PGresult *res);
/* The reservation id of the path ({id}) when it is a uuid, else NULL with
 * a 404 set (an id that cannot exist is as unknown as one that does not). */
const char *resv_path_id(bh_request *req);
/* The caller's id (the token's sub), or NULL with a 403 set. */
const char *resv_guest(bh_request *req);
/* The reservation (id, guest) with RESV_COLUMNS, owned by the request;
 * NULL with the response set (404 when it is not the guest's). */
PGresult *resv_fetch(bh_request *req, const char *id, const char *guest);
/* Hands obj (a reference the caller owned) to the request's pool. */
json_object *resv_json_own(bh_request *req, json_object *obj);
/* Adds key (a string literal, new in obj): val, whose reference obj
 * takes over. */
void resv_add(json_object *obj, const char *key, json_object *val);
/* The JSON text of obj, owned by pool. */
const char *resv_json_text(bh_pool *pool, json_object *obj);
/* A monotonic clock in milliseconds, for time budgets. */
int64_t resv_now_ms(void);
/* What is left until deadline (resv_now_ms() time) in ms, at most cap;
 * cap itself when deadline is 0 (none); 0 when it has passed. */
int resv_time_left(int64_t deadline, int cap);

/* ---------------------------------------------------------- payment.c */

extern const bh_param resv_pay_params[];
int resv_pay(bh_request *req);
int resv_receipt(bh_request *req);

/* What became of a payment attempt, as payments tells (upstream.c). */
enum pay_outcome {
	PAY_SUCCEEDED,   /* charged */
	PAY_DECLINED,    /* the bank said no (402): nothing charged */
	PAY_FAILED,      /* settled as failed: nothing charged */
	PAY_PENDING,     /* the outcome is not known yet */
	PAY_REFUSED,     /* payments refused the request (4xx): nothing charged */
	PAY_UNAVAILABLE, /* payments or the bank refused service: nothing charged */
	PAY_NOT_FOUND,   /* (lookups) payments has no payment with that key */
	PAY_IN_PROGRESS, /* payments is at a request with that key (its 409) */
	PAY_UNKNOWN,     /* no usable answer: it may or may not have happened */
};

/* A payment as payments describes it; strings owned by the pool. */
struct payment_result {
	enum pay_outcome outcome;
	long status;             /* HTTP status, 0 when none came */
	const char *id, *brand, *last4, *bank_reference;
	const char *created_at;  /* YYYY-MM-DDTHH:MM:SSZ, or NULL */
	const char *currency;
	int64_t amount;          /* 0 when not said */
	const char *decline_code;
	json_object *problem;    /* the 4xx problem of PAY_REFUSED/DECLINED, or NULL */
};

/* Applies the outcome of attempt n of reservation id (payment_pending
 * with that attempt number): PAY_SUCCEEDED confirms it (paid_at the
 * payment's created_at), PAY_DECLINED, PAY_FAILED, PAY_REFUSED,
 * PAY_UNAVAILABLE and PAY_NOT_FOUND put it back on hold (the same
 * expiry; PAY_REFUSED and PAY_UNAVAILABLE attempts recorded as
 * uncharged), others change nothing.  Returns 1 when it changed the
 * reservation, 0 when it had moved on meanwhile (or nothing was to
 * change), -1 after a database failure (response set). */
int resv_apply_payment(bh_request *req, const char *id, long long attempt,
		       const struct payment_result *pr);
/* What follows a confirmation, each step once however often it is
 * called: the receipt rendered and stored (for any paid reservation),
 * then, while it is confirmed, the recap to the guest (the receipt
 * attached; not before there is one) and the notice to the hotel (with
 * or without it), each mail sent and marked under the row's lock so that
 * a cancellation comes before or after it, never in between.  Calls stop
 * at deadline (resv_now_ms() time; 0 = none).  Failures are logged and
 * left for reconcile.  Returns the number of steps still undone. */
int resv_finish(bh_request *req, const char *id, int64_t deadline);
/* Renders and stores the receipt of paid reservation id unless one is
 * stored; sends nothing.  Returns 0 when one is stored (or the
 * reservation is not paid), -1 when not (logged). */
int resv_store_receipt(bh_request *req, const char *id);

/* ----------------------------------------------------------- cancel.c */

int resv_cancel(bh_request *req);
/* Sends the pending refund of cancelled reservation id to payments and
 * then the cancellation email, each once.  Returns the number of steps
 * still undone. */
int resv_finish_cancel(bh_request *req, const char *id);

/* --------------------------------------------------------- upstream.c */

/* A hotel and one of its room types, from search. */
struct room_offer {
	const char *hotel_name, *hotel_email, *hotel_address, *hotel_city,
	      *hotel_country;
	const char *type_name, *currency;
	int64_t capacity, nightly_rate;
	const char *room_ids;   /* "{1,2,3}": the rooms of that type */
	size_t nrooms;
};

/* Asks search for hotel hotel_id, its room type type_id and that type's
 * rooms (strings owned by the request).  Returns 0, or the status of the
 * response set: 404 naming hotel_id or room_type_id, 503 when search
 * cannot say. */
int upstream_offer(bh_request *req, int64_t hotel_id, int64_t type_id,
		   struct room_offer *out);
/* The guest's name and email from users (owned by the request).
 * Returns 0, or the status of the response set (404 no account, 503). */
int upstream_guest(bh_request *req, const char *sub, const char **name,
		   const char **email);
/* POST /payments with Idempotency-Key key and the JSON body, within
 * timeout_ms.  PAY_UNAVAILABLE only when nothing can have been charged:
 * the call never reached payments, or payments answered 503
 * upstream-unavailable (the bank refused service).  Any other 5xx or an
 * answer lost on the way is PAY_UNKNOWN: payments may have charged. */
void upstream_charge(bh_request *req, const char *key, const char *body,
		     int timeout_ms, struct payment_result *out);
/* GET /payments?idempotency_key=key within timeout_ms: PAY_SUCCEEDED,
 * PAY_FAILED, PAY_PENDING, PAY_UNAVAILABLE (pending at payments because
 * the bank never got it: nothing charged), PAY_NOT_FOUND or
 * PAY_UNKNOWN. */
void upstream_payment_find(bh_request *req, const char *key, int timeout_ms,
			   struct payment_result *out);

enum refund_outcome {
	REFUND_DONE,     /* refunded */
	REFUND_PENDING,  /* payments took it, the bank's answer is pending */
	REFUND_RETRY,    /* not done, or not known: send it again later */
	REFUND_REFUSED,  /* payments refuses it for good (409, 422...) */
};
/* POST /payments/{payment_id}/refunds of amount (0: all that is left)
 * with Idempotency-Key key; *refund_id (owned by the request) is set
 * when payments made one; *why (for a log) says what payments said when
 * it refused. */
enum refund_outcome upstream_refund(bh_request *req, const char *payment_id,
				    long long amount, const char *reason,
				    const char *key, const char **refund_id,
				    const char **why);
/* The PDF of template with data (not consumed) from reports within
 * timeout_ms (0: the runtime's default): its bytes owned by the
 * request, or NULL (logged). */
const char *upstream_render(bh_request *req, const char *template_name,
			    json_object *data, int timeout_ms, size_t *len);
/* Hands mail (not consumed: {"to","subject","text",...}) to
 * notifications with Idempotency-Key key within timeout_ms (0: the
 * runtime's default).  Returns 0 when taken, -1 (logged) when not. */
int upstream_email(bh_request *req, const char *key, json_object *mail,
		   int timeout_ms);

/* -------------------------------------------------------- reconcile.c */

int resv_reconcile_command(int argc, char **argv);

#endif
