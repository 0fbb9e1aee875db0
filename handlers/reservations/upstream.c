/*
 * upstream.c - every call the reservations service makes to another:
 * search (the hotel, the room type and its rooms), users (the guest's
 * name and address), payments (charges, lookups by idempotency key,
 * refunds), reports (the receipt) and notifications (the mails).
 *
 * All go through the front end (bh_service_url) with bh_http; those that
 * need it carry this service's own token.  Answers are read defensively:
 * a member missing or of the wrong type makes the answer unusable, never
 * a crash.  Card data passes through the body of the charge and nowhere
 * else: nothing here logs a body.
 */
#include <inttypes.h>
#include <string.h>

#include "reservations.h"

/* The string member key of obj, or NULL. */
static const char *
get_str(json_object *obj, const char *key)
{
	json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The integer member key of obj: true with *out, or false. */
static bool
get_int(json_object *obj, const char *key, int64_t *out)
{
	json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return true;
}

static json_object *
get_obj(json_object *obj, const char *key, json_type type)
{
	json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, type))
		return NULL;
	return v;
}

static int
unavailable(bh_request *req, const char *what)
{
	bh_add_header(req, "Retry-After", bh_psprintf(req->pool, "%d",
	    bh_cfg.retry_after));
	return bh_problem(req, 503, BH_PROBLEM_UPSTREAM, NULL,
	    "%s cannot be reached now; try again later", what);
}

static void
log_failure(const char *svc, const char *what, int rc,
    const bh_http_response *resp)
{
	if (rc == 0)
		bh_log(BH_LOG_WARN, "%s: %s answered HTTP %ld", svc, what,
		    resp->status);
	else
		bh_log(BH_LOG_WARN, "%s: %s got no answer: %s", svc, what,
		    resp->error != NULL ? resp->error : "unknown");
}

/* ------------------------------------------------------------- search */

int
upstream_offer(bh_request *req, int64_t hotel_id, int64_t type_id,
    struct room_offer *out)
{
	bh_http_call call;
	bh_http_response resp;
	json_object *hotel, *types, *rooms, *t, *type = NULL;
	bh_buf ids;
	int64_t id, v;
	size_t i, n;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&call, 0, sizeof(call));
	call.upstream = "search";
	call.url = bh_psprintf(req->pool, "%s/hotels/%" PRId64,
	    bh_service_url("search"), hotel_id);
	rc = bh_http(req->pool, &call, &resp);
	if (rc == 0 && resp.status == 404)
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, "hotel_id",
		    "there is no hotel %" PRId64, hotel_id);
	hotel = rc == 0 && resp.status == 200 ?
	    bh_http_json(req->pool, &resp) : NULL;
	out->hotel_name = get_str(hotel, "name");
	types = get_obj(hotel, "room_types", json_type_array);
	if (out->hotel_name == NULL || types == NULL) {
		log_failure("search", "the hotel", rc, &resp);
		return unavailable(req, "the catalogue");
	}
	out->hotel_email = get_str(hotel, "email");
	out->hotel_address = get_str(hotel, "address");
	out->hotel_city = get_str(hotel, "city");
	out->hotel_country = get_str(hotel, "country");
	if (out->hotel_address == NULL)
		out->hotel_address = "";
	if (out->hotel_city == NULL)
		out->hotel_city = "";
	if (out->hotel_country == NULL)
		out->hotel_country = "";

	n = json_object_array_length(types);
	for (i = 0; i < n; i++) {
		t = json_object_array_get_idx(types, i);
		if (get_int(t, "id", &id) && id == type_id) {
			type = t;
			break;
		}
	}
	if (type == NULL)
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND,
		    "room_type_id", "hotel %" PRId64 " has no room type %"
		    PRId64, hotel_id, type_id);
	out->type_name = get_str(type, "name");
	out->currency = get_str(type, "currency");
	if (out->currency == NULL)
		out->currency = get_str(hotel, "currency");
	if (out->type_name == NULL || out->currency == NULL ||
	    bh_currency_exponent(out->currency) < 0 ||
	    !get_int(type, "capacity", &out->capacity) ||
	    !get_int(type, "nightly_rate", &out->nightly_rate) ||
	    out->nightly_rate <= 0) {
		bh_log(BH_LOG_ERROR, "search: room type %" PRId64 " of hotel %"
		    PRId64 " lacks a name, capacity, rate or known currency",
		    type_id, hotel_id);
		return unavailable(req, "the catalogue");
	}

	/* the rooms are the operators' view: our token, scope catalog:read */
	memset(&call, 0, sizeof(call));
	call.upstream = "search";
	call.url = bh_psprintf(req->pool, "%s/hotels/%" PRId64 "/rooms",
	    bh_service_url("search"), hotel_id);
	call.service_token = true;
	rc = bh_http(req->pool, &call, &resp);
	rooms = rc == 0 && resp.status == 200 ?
	    get_obj(bh_http_json(req->pool, &resp), "rooms",
	    json_type_array) : NULL;
	if (rooms == NULL) {
		log_failure("search", "the rooms", rc, &resp);
		return unavailable(req, "the catalogue");
	}
	bh_buf_init(&ids, req->pool);
	bh_buf_puts(&ids, "{");
	n = json_object_array_length(rooms);
	for (i = 0; i < n; i++) {
		t = json_object_array_get_idx(rooms, i);
		if (!get_int(t, "room_type_id", &v) || v != type_id ||
		    !get_int(t, "id", &id) || id <= 0 || id > INT32_MAX)
			continue;
		bh_buf_printf(&ids, "%s%" PRId64, out->nrooms > 0 ? "," : "",
		    id);
		out->nrooms++;
	}
	bh_buf_puts(&ids, "}");
	out->room_ids = ids.data;
	return 0;
}

/* -------------------------------------------------------------- users */

int
upstream_guest(bh_request *req, const char *sub, const char **name,
    const char **email)
{
	bh_http_call call;
	bh_http_response resp;
	json_object *user;
	int rc;

	memset(&call, 0, sizeof(call));
	call.upstream = "users";
	call.url = bh_psprintf(req->pool, "%s/internal/users/%s",
	    bh_service_url("users"), sub);
	call.service_token = true;
	rc = bh_http(req->pool, &call, &resp);
	if (rc == 0 && resp.status == 404)
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "there is no account for this token");
	user = rc == 0 && resp.status == 200 ?
	    bh_http_json(req->pool, &resp) : NULL;
	*name = get_str(user, "name");
	*email = get_str(user, "email");
	if (*name == NULL || *email == NULL) {
		log_failure("users", "the guest's account", rc, &resp);
		return unavailable(req, "the accounts service");
	}
	return 0;
}

/* ----------------------------------------------------------- payments */

/* True if s is a UTC time as payments writes one, YYYY-MM-DDTHH:MM:SSZ:
 * safe to hand to PostgreSQL as a timestamptz. */
static bool
utc_stamp_valid(const char *s)
{
	static const char form[] = "dddd-dd-ddTdd:dd:ddZ";
	size_t i;

	if (s == NULL || strlen(s) != sizeof(form) - 1)
		return false;
	for (i = 0; form[i] != '\0'; i++)
		if (form[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != form[i])
			return false;
	return true;
}

/* True if answer is a problem of type slug. */
static bool
problem_is(json_object *answer, const char *slug)
{
	const char *type = get_str(answer, "type");
	static const char prefix[] = "urn:bellhop:problem:";

	return type != NULL && strncmp(type, prefix, sizeof(prefix) - 1) == 0 &&
	    strcmp(type + sizeof(prefix) - 1, slug) == 0;
}

/* Reads a payment object into out (outcome from its status). */
static void
read_payment(json_object *p, struct payment_result *out)
{
	json_object *card = get_obj(p, "card", json_type_object);
	const char *status = get_str(p, "status");

	out->id = get_str(p, "id");
	out->brand = get_str(card, "brand");
	out->last4 = get_str(card, "last4");
	out->bank_reference = get_str(p, "bank_reference");
	out->created_at = get_str(p, "created_at");
	if (!utc_stamp_valid(out->created_at))
		out->created_at = NULL;
	out->currency = get_str(p, "currency");
	if (!get_int(p, "amount", &out->amount) || out->amount < 0)
		out->amount = 0;
	if (out->id == NULL || status == NULL)
		out->outcome = PAY_UNKNOWN;
	else if (strcmp(status, "succeeded") == 0)
		out->outcome = PAY_SUCCEEDED;
	else if (strcmp(status, "pending") == 0)
		/* "bank_unavailable": the bank never got it, nothing was
		 * charged under that key; the guest may try again */
		out->outcome = get_str(p, "pending_reason") != NULL &&
		    strcmp(get_str(p, "pending_reason"),
		    "bank_unavailable") == 0 ? PAY_UNAVAILABLE : PAY_PENDING;
	else
		/* failed, declined: settled, nothing charged */
		out->outcome = PAY_FAILED;
	if (out->outcome == PAY_SUCCEEDED && (out->brand == NULL ||
	    out->last4 == NULL))
		out->outcome = PAY_UNKNOWN;
}

void
upstream_charge(bh_request *req, const char *key, const char *body,
    int timeout_ms, struct payment_result *out)
{
	bh_http_call call;
	bh_http_response resp;
	json_object *answer;
	const char *headers[2] = { NULL, NULL };
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&call, 0, sizeof(call));
	call.upstream = "payments";
	call.method = "POST";
	call.url = bh_psprintf(req->pool, "%s/payments",
	    bh_service_url("payments"));
	call.body = body;
	call.body_len = strlen(body);
	/* The key makes a repeat safe (payments charges once), but it goes
	 * as a plain header so that bh_http sends the charge once: a repeat
	 * at once after a 503 only piles failures onto payments' circuit
	 * breaker for the bank.  The guest's retry and reconcile repeat it,
	 * settling the attempt first. */
	headers[0] = bh_psprintf(req->pool, "Idempotency-Key: %s", key);
	call.headers = headers;
	call.service_token = true;
	call.timeout_ms = timeout_ms;
	rc = bh_http(req->pool, &call, &resp);
	out->status = rc == 0 ? resp.status : 0;
	answer = rc == 0 ? bh_http_json(req->pool, &resp) : NULL;
	if (rc != 0) {
		/* no answer: a call that cannot have reached payments (refused,
		 * circuit open, no token) charged nothing; any other may have */
		out->outcome = resp.maybe_sent ? PAY_UNKNOWN : PAY_UNAVAILABLE;
	} else if (resp.status == 201 || resp.status == 200 ||
	    resp.status == 202) {
		read_payment(answer, out);
		if (resp.status == 202 && out->outcome != PAY_UNKNOWN)
			out->outcome = PAY_PENDING;
	} else if (resp.status == 402) {
		out->outcome = PAY_DECLINED;
		out->problem = answer;
		out->id = get_str(answer, "payment_id");
		out->decline_code = get_str(answer, "decline_code");
	} else if (resp.status == 503 &&
	    problem_is(answer, BH_PROBLEM_UPSTREAM)) {
		/* payments says the bank refused service: nothing charged.
		 * Its other 503s (its own database) may come after the bank
		 * charged: unknown, as any other 5xx. */
		out->outcome = PAY_UNAVAILABLE;
	} else if (resp.status == 400 || resp.status == 401 ||
	    resp.status == 403) {
		out->outcome = PAY_REFUSED;
		out->problem = answer;
	} else if (resp.status == 409) {
		/* a request with this key is at payments */
		out->outcome = PAY_IN_PROGRESS;
	} else {
		/* 422, 5xx, a front end's page: not known here */
		out->outcome = PAY_UNKNOWN;
	}
	if (out->outcome == PAY_UNKNOWN || out->outcome == PAY_UNAVAILABLE ||
	    (out->outcome == PAY_REFUSED && resp.status != 400))
		log_failure("payments", "a charge", rc, &resp);
}

void
upstream_payment_find(bh_request *req, const char *key, int timeout_ms,
    struct payment_result *out)
{
	bh_http_call call;
	bh_http_response resp;
	char *escaped;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&call, 0, sizeof(call));
	call.upstream = "payments";
	/* our keys are [a-z0-9-]: nothing to escape, but be sure */
	escaped = bh_pstrdup(req->pool, key);
	for (char *p = escaped; *p != '\0'; p++)
		if (strchr("&#?=+% ", *p) != NULL)
			*p = '-';
	call.url = bh_psprintf(req->pool, "%s/payments?idempotency_key=%s",
	    bh_service_url("payments"), escaped);
	call.service_token = true;
	call.timeout_ms = timeout_ms;
	rc = bh_http(req->pool, &call, &resp);
	out->status = rc == 0 ? resp.status : 0;
	if (rc == 0 && resp.status == 200)
		read_payment(bh_http_json(req->pool, &resp), out);
	else if (rc == 0 && resp.status == 404)
		out->outcome = PAY_NOT_FOUND;
	else
		out->outcome = PAY_UNKNOWN;
	if (out->outcome == PAY_UNKNOWN)
		log_failure("payments", "a payment lookup", rc, &resp);
}

enum refund_outcome
upstream_refund(bh_request *req, const char *payment_id, long long amount,
    const char *reason, const char *key, const char **refund_id,
    const char **why)
{
	bh_http_call call;
	bh_http_response resp;
	json_object *body, *answer;
	const char *status, *headers[2] = { NULL, NULL };
	int rc;

	*refund_id = NULL;
	*why = NULL;
	body = resv_json_own(req, json_object_new_object());
	if (amount > 0)
		resv_add(body, "amount", json_object_new_int64(amount));
	resv_add(body, "reason", json_object_new_string(reason));
	memset(&call, 0, sizeof(call));
	call.upstream = "payments";
	call.method = "POST";
	call.url = bh_psprintf(req->pool, "%s/payments/%s/refunds",
	    bh_service_url("payments"), payment_id);
	call.body = resv_json_text(req->pool, body);
	call.body_len = strlen(call.body);
	/* sent once, as the charge (see upstream_charge); reconcile retries */
	headers[0] = bh_psprintf(req->pool, "Idempotency-Key: %s", key);
	call.headers = headers;
	call.service_token = true;
	call.timeout_ms = (int)resv_cfg.payments_timeout_ms;
	rc = bh_http(req->pool, &call, &resp);
	answer = rc == 0 ? bh_http_json(req->pool, &resp) : NULL;
	if (rc == 0 && (resp.status == 201 || resp.status == 200 ||
	    resp.status == 202) && (status = get_str(answer, "status")) !=
	    NULL) {
		*refund_id = get_str(answer, "id");
		if (strcmp(status, "succeeded") == 0)
			return REFUND_DONE;
		if (strcmp(status, "pending") == 0)
			return REFUND_PENDING;
		*why = bh_psprintf(req->pool, "the refund is %s", status);
		return REFUND_REFUSED;
	}
	/* Refused for good: nothing left to refund or the payment did not
	 * succeed (409), the key used otherwise (422), no such payment
	 * (404), a body it refuses (400).  A 409 naming the Idempotency-Key
	 * is a request with the key still at work: later. */
	if (rc == 0 && get_str(answer, "type") != NULL &&
	    (resp.status == 400 || resp.status == 404 ||
	    resp.status == 422 || (resp.status == 409 &&
	    !(get_str(answer, "param") != NULL &&
	    strcmp(get_str(answer, "param"), "Idempotency-Key") == 0)))) {
		*why = get_str(answer, "detail");
		if (*why == NULL)
			*why = bh_psprintf(req->pool, "HTTP %ld", resp.status);
		return REFUND_REFUSED;
	}
	log_failure("payments", "a refund", rc, &resp);
	return REFUND_RETRY;
}

/* ------------------------------------------------------------ reports */

const char *
upstream_render(bh_request *req, const char *template_name,
    json_object *data, int timeout_ms, size_t *len)
{
	bh_http_call call;
	bh_http_response resp;
	int rc;

	memset(&call, 0, sizeof(call));
	call.upstream = "reports";
	call.method = "POST";
	call.url = bh_psprintf(req->pool, "%s/%s",
	    bh_service_url("reports"), template_name);
	call.body = resv_json_text(req->pool, data);
	call.body_len = strlen(call.body);
	call.service_token = true;
	call.timeout_ms = timeout_ms;
	rc = bh_http(req->pool, &call, &resp);
	if (rc != 0 || resp.status != 200 || resp.content_type == NULL ||
	    strcmp(resp.content_type, "application/pdf") != 0 ||
	    resp.len < 5 || memcmp(resp.body, "%PDF-", 5) != 0) {
		log_failure("reports", "the receipt", rc, &resp);
		return NULL;
	}
	*len = resp.len;
	return resp.body;
}

/* ------------------------------------------------------ notifications */

int
upstream_email(bh_request *req, const char *key, json_object *mail,
    int timeout_ms)
{
	bh_http_call call;
	bh_http_response resp;
	int rc;

	memset(&call, 0, sizeof(call));
	call.upstream = "notifications";
	call.method = "POST";
	call.url = bh_psprintf(req->pool, "%s/emails",
	    bh_service_url("notifications"));
	call.body = resv_json_text(req->pool, mail);
	call.body_len = strlen(call.body);
	call.idempotency_key = key;
	call.service_token = true;
	call.timeout_ms = timeout_ms;
	rc = bh_http(req->pool, &call, &resp);
	if (rc == 0 && (resp.status == 202 || resp.status == 200 ||
	    resp.status == 201))
		return 0;
	log_failure("notifications", key, rc, &resp);
	return -1;
}
