/*
 * charges.c - POST /payments (charge a card exactly once), GET
 * /payments?idempotency_key=K and GET /payments/{id}; the idempotency
 * machinery refunds.c shares; the payment receipt email.
 *
 * Exactly once, step by step (docs/payments.md tells it for people):
 *
 *  1. The request's form is checked locally (types, Luhn, brand, cvc:
 *     card.c) before anything is stored.
 *  2. A session advisory lock on (client, Idempotency-Key) is taken
 *     without waiting: a second request with the key while the first is
 *     at work gets 409 at once.  The lock is held across the bank call
 *     and dies with the worker's database session if the worker dies.
 *  3. A transaction finds the key's payment or makes it (status pending,
 *     maybe_charged) and commits before the bank is called.  The same key
 *     with another request is 422; a payment already settled is answered
 *     with its stored answer, byte for byte.  What depends on the clock
 *     or the settings (the card's expiry, BH_PAYMENT_MAX_AMOUNT) is
 *     checked only for a new payment: a retry next month, or after the
 *     ceiling was lowered, gets the first request's answer or finishes
 *     its pending charge, not a 400.
 *  4. The bank is called with Idempotency-Key "pay_<payment id>": a call
 *     repeated for the same payment (a retry after a timeout, after a
 *     worker was killed mid-call) is the same bank request, which the
 *     bank answers with its first answer.  It cannot charge twice.
 *  5. The outcome is stored with the answer in one transaction:
 *     succeeded 201, declined 402; a bank that did nothing (503, refused
 *     connection) 503 and the key stays usable; no answer 202 pending,
 *     settled by a retry, by GET ?idempotency_key or by reconcile, which
 *     ask the bank for the charge made with "pay_<id>".
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "payments.h"

/* A receipt email that notifications did not take within this long is
 * left to reconcile: it never holds up the answer for long. */
#define RECEIPT_TIMEOUT_MS 2000
#define REFERENCE_MAX 200
#define DESCRIPTION_MAX 1000
#define HOLDER_MAX 200
#define TOKEN_MAX 100

static const bh_param card_members[] = {
	{ "number", BH_BODY, BH_STRING, true, 12, 19, NULL, NULL, NULL },
	{ "exp_month", BH_BODY, BH_INT, true, 1, 12, NULL, NULL, NULL },
	{ "exp_year", BH_BODY, BH_INT, true, 2000, 2100, NULL, NULL, NULL },
	{ "cvc", BH_BODY, BH_STRING, true, 3, 4, NULL, NULL, NULL },
	{ "holder", BH_BODY, BH_STRING, true, 1, HOLDER_MAX, NULL, NULL,
	    NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

/* amount is only typed here: its bounds come from BH_PAYMENT_MAX_AMOUNT. */
const bh_param payment_post_params[] = {
	{ "amount", BH_BODY, BH_INT, true, 0, 0, NULL, NULL, NULL },
	{ "currency", BH_BODY, BH_STRING, true, 3, 3, NULL, NULL, NULL },
	{ "card", BH_BODY, BH_OBJECT, false, 0, 0, NULL, NULL, card_members },
	{ "bank_token", BH_BODY, BH_STRING, false, 5, TOKEN_MAX, NULL, NULL,
	    NULL },
	{ "reference", BH_BODY, BH_STRING, true, 1, REFERENCE_MAX, NULL, NULL,
	    NULL },
	{ "description", BH_BODY, BH_STRING, false, 0, DESCRIPTION_MAX, NULL,
	    NULL, NULL },
	{ "receipt_email", BH_BODY, BH_STRING, false, 1, 254, NULL, NULL,
	    NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

const bh_param payment_find_params[] = {
	{ "idempotency_key", BH_QUERY, BH_STRING, true, 1, 255, NULL, NULL,
	    NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

const bh_param payment_get_params[] = {
	{ "id", BH_PATH, BH_STRING, true, 1, 1024, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

/* A POST /payments, checked, and what its first transaction found. */
struct new_payment {
	const char *client_id, *key, *fingerprint;
	int64_t amount;
	const char *currency, *reference, *description, *receipt_email;
	const char *number, *cvc, *holder; /* a card, or */
	const char *source;                /* a bank token */
	int64_t exp_month, exp_year;
	const char *brand, *last4;
	/* the transaction's outcome */
	const char *id;
	bool mismatch;       /* the key was used with another request: 422 */
	bool refused;        /* a new payment failed check_new_payment: 400 */
	bool settled;        /* answer with the stored response */
	bool was_maybe;      /* a charge may have reached the bank before */
	bool receipt;        /* it succeeded now: send the receipt email */
	const char *r_status, *r_type, *r_body;
};

/* A payment as the API shows it; NULL strings are JSON null. */
struct payment_view {
	const char *id, *status, *currency, *reference, *description;
	const char *brand, *last4, *bank_ref, *decline, *created, *updated;
	int64_t amount, refunded;
	bool maybe_charged;  /* pending: its charge may have reached the bank */
};

#define PAYMENT_COLUMNS \
	"id, status, amount, currency, reference, description, card_brand, " \
	"card_last4, bank_charge_id, refunded_amount, decline_code, " \
	PAY_UTC("created_at") ", " PAY_UTC("updated_at") ", maybe_charged"
enum {
	PC_ID, PC_STATUS, PC_AMOUNT, PC_CURRENCY, PC_REFERENCE, PC_DESCRIPTION,
	PC_BRAND, PC_LAST4, PC_BANK_REF, PC_REFUNDED, PC_DECLINE, PC_CREATED,
	PC_UPDATED, PC_MAYBE_CHARGED, PC_COUNT
};

struct pay_config pay_cfg;

static void
json_put(void *obj)
{
	json_object_put(obj);
}

/* ------------------------------------------------------ shared helpers */

const char *
pay_lock_name(bh_request *req, const char *kind, const char *client_id,
    const char *key)
{
	/* Newlines hold apart what keys (printable ASCII) cannot hold. */
	return bh_psprintf(req->pool, "%s\n%s\n%s", kind, client_id, key);
}

int
pay_lock_try(bh_request *req, const char *name)
{
	const char *params[] = { name };
	PGresult *res;

	res = bh_db_query(req, "SELECT pg_try_advisory_lock("
	    "hashtextextended($1, 0))", 1, params);
	if (res == NULL)
		return -1;
	return strcmp(PQgetvalue(res, 0, 0), "t") == 0 ? 1 : 0;
}

void
pay_unlock(bh_request *req, const char *name)
{
	/* A request of its own, so that a failure here (the database gone,
	 * and the lock with it) cannot replace the answer already set. */
	bh_request scratch = { .pool = req->pool,
	    .request_id = req->request_id };
	const char *params[] = { name };

	(void)bh_db_query(&scratch, "SELECT pg_advisory_unlock("
	    "hashtextextended($1, 0))", 1, params);
}

char *
pay_uuid_new(bh_pool *pool)
{
	unsigned char b[16];

	bh_random_bytes(b, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	return bh_psprintf(pool, "%02x%02x%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4],
	    b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
	    b[15]);
}

int
pay_replay(bh_request *req, const char *status, const char *type,
    const char *body, const char *location)
{
	bh_add_header(req, "Idempotent-Replayed", "true");
	if (location != NULL)
		bh_add_header(req, "Location", location);
	return bh_send(req, atoi(status), type, body, strlen(body));
}

const char *
pay_timeout_text(bh_request *req)
{
	return bh_psprintf(req->pool, "%lld", pay_cfg.bank_timeout_ms);
}

/* What request_hash holds for a request with this fingerprint: SHA-256
 * of the row's id and the fingerprint, an HMAC-SHA-256 keyed with the
 * client secret (configure makes sure there is one), so that a stored
 * hash of a body holding a card number cannot be matched against a list
 * of numbers without that secret. */
static char *
request_hash(bh_request *req, const char *id, const char *fingerprint)
{
	char *salted = bh_psprintf(req->pool, "%s:%s", id, fingerprint);

	return bh_sha256_hex(req->pool, salted, strlen(salted));
}

static const char *
payment_location(bh_request *req, const char *id)
{
	return bh_psprintf(req->pool, "%s/payments/%s", bh_cfg.base_path, id);
}

/* ----------------------------------------------------------------- views */

static const char *
col(const PGresult *res, int row, int c)
{
	return PQgetisnull(res, row, c) ? NULL : PQgetvalue(res, row, c);
}

static void
view_from_row(struct payment_view *v, const PGresult *res, int row)
{
	v->id = col(res, row, PC_ID);
	v->status = col(res, row, PC_STATUS);
	v->amount = strtoll(PQgetvalue(res, row, PC_AMOUNT), NULL, 10);
	v->currency = col(res, row, PC_CURRENCY);
	v->reference = col(res, row, PC_REFERENCE);
	v->description = col(res, row, PC_DESCRIPTION);
	v->brand = col(res, row, PC_BRAND);
	v->last4 = col(res, row, PC_LAST4);
	v->bank_ref = col(res, row, PC_BANK_REF);
	v->refunded = strtoll(PQgetvalue(res, row, PC_REFUNDED), NULL, 10);
	v->decline = col(res, row, PC_DECLINE);
	v->created = col(res, row, PC_CREATED);
	v->updated = col(res, row, PC_UPDATED);
	v->maybe_charged = strcmp(PQgetvalue(res, row, PC_MAYBE_CHARGED),
	    "t") == 0;
}

static json_object *
str_or_null(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

/* The payment object; the caller owns it. */
static json_object *
view_json(const struct payment_view *v)
{
	json_object *obj = json_object_new_object(), *card = NULL;

	json_object_object_add(obj, "id", json_object_new_string(v->id));
	json_object_object_add(obj, "status", str_or_null(v->status));
	json_object_object_add(obj, "amount", json_object_new_int64(v->amount));
	json_object_object_add(obj, "currency", str_or_null(v->currency));
	json_object_object_add(obj, "reference", str_or_null(v->reference));
	json_object_object_add(obj, "description",
	    str_or_null(v->description));
	if (v->brand != NULL || v->last4 != NULL) {
		card = json_object_new_object();
		json_object_object_add(card, "brand", str_or_null(v->brand));
		json_object_object_add(card, "last4", str_or_null(v->last4));
	}
	json_object_object_add(obj, "card", card);
	json_object_object_add(obj, "bank_reference", str_or_null(v->bank_ref));
	json_object_object_add(obj, "refunded_amount",
	    json_object_new_int64(v->refunded));
	json_object_object_add(obj, "decline_code", str_or_null(v->decline));
	json_object_object_add(obj, "created_at", str_or_null(v->created));
	json_object_object_add(obj, "updated_at", str_or_null(v->updated));
	/* Why a pending payment is pending, for a client that looks it up:
	 * "bank_unavailable", the bank never got it (nothing charged; the
	 * POST retried with the same key and body sends it), or
	 * "outcome_unknown", it may have charged (settled by asking the
	 * bank).  Absent once settled, so stored answers never hold it. */
	if (v->status != NULL && strcmp(v->status, "pending") == 0)
		json_object_object_add(obj, "pending_reason",
		    json_object_new_string(v->maybe_charged ?
		    "outcome_unknown" : "bank_unavailable"));
	return obj;
}

/* The payment object as text, owned by the request. */
static const char *
view_text(bh_request *req, const struct payment_view *v)
{
	json_object *obj = view_json(v);
	const char *text;

	text = bh_pstrdup(req->pool, json_object_to_json_string_ext(obj,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(obj);
	return text;
}

/* The payment id's row (PAYMENT_COLUMNS), or NULL (response set). */
static PGresult *
payment_row(bh_request *req, const char *id)
{
	const char *params[] = { id };

	return bh_db_query(req, "SELECT " PAYMENT_COLUMNS
	    " FROM payments WHERE id = $1", 1, params);
}

/* Answers with the payment's current state (202 pending or 200). */
static int
send_current(bh_request *req, const char *id, int status)
{
	struct payment_view v;
	PGresult *res;
	const char *text;

	if ((res = payment_row(req, id)) == NULL)
		return req->status;
	if (PQntuples(res) != 1)
		return bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL,
		    "The request could not be completed.");
	view_from_row(&v, res, 0);
	text = view_text(req, &v);
	bh_add_header(req, "Location", payment_location(req, id));
	return bh_send(req, status, "application/json", text, strlen(text));
}

/* ------------------------------------------------------------ settling */

/* How a pending payment ends. */
struct settlement {
	const char *id;
	enum bank_outcome outcome; /* SUCCEEDED, DECLINED, REFUSED or ABSENT */
	const struct bank_result *bank;
	/* Settling by asking the bank: its bank_calls when it was asked.  A
	 * call made since (a retry) may still be at the bank, which then
	 * knows nothing yet: the payment is left pending.  NULL when the
	 * answer is that of our own call. */
	const char *asked_at_calls;
	/* the outcome of the transaction */
	bool already;              /* someone else settled it first */
	bool moved;                /* called again since asked: left pending */
	const char *r_status, *r_type, *r_body;
};

/* A sentence about a decline code, for the problem's detail. */
static const char *
decline_text(const char *code)
{
	static const struct {
		const char *code, *text;
	} texts[] = {
		{ "card_declined", "the card was declined" },
		{ "insufficient_funds", "the card has insufficient funds" },
		{ "expired_card", "the card has expired" },
		{ "incorrect_cvc", "the card's security code is incorrect" },
		{ "processing_error", "the card could not be processed; "
		    "nothing was charged" },
		{ "not_received", "the bank never received the charge; "
		    "nothing was charged" },
	};
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (strcmp(texts[i].code, code) == 0)
			return texts[i].text;
	return "the card was declined";
}

/* The bank's name of a parameter as this API calls it. */
static const char *
our_param(const char *bank_param)
{
	if (bank_param == NULL)
		return NULL;
	if (strcmp(bank_param, "card.name") == 0)
		return "card.holder";
	if (strcmp(bank_param, "source") == 0)
		return "bank_token";
	return bank_param;
}

/* Sets the final problem of a failed payment as req's response. */
static void
failure_problem(bh_request *req, struct settlement *s, const char *decline)
{
	json_object *extra = json_object_new_object();

	bh_pool_defer(req->pool, json_put, extra);
	json_object_object_add(extra, "payment_id",
	    json_object_new_string(s->id));
	if (s->outcome == BANK_REFUSED) {
		json_object_object_add(extra, "bank_code",
		    str_or_null(s->bank->code));
		bh_problem_ext(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    our_param(s->bank->param), extra, "the bank refused the "
		    "payment (%s); nothing was charged", s->bank->code != NULL ?
		    s->bank->code : "invalid request");
		return;
	}
	json_object_object_add(extra, "decline_code",
	    json_object_new_string(decline));
	bh_problem_ext(req, 402, BH_PROBLEM_PAYMENT_DECLINED, NULL, extra,
	    "The payment was declined: %s.", decline_text(decline));
}

static int
settle_tx(bh_request *req, void *arg)
{
	struct settlement *s = arg;
	const struct bank_result *b = s->bank;
	struct payment_view v;
	const char *params[9], *decline = NULL, *status;
	PGresult *res;

	s->already = s->moved = false;
	params[0] = s->id;
	res = bh_db_query(req, "SELECT " PAYMENT_COLUMNS ", "
	    PAY_UTC("now()") ", response_status, response_type, "
	    "response_body, bank_calls FROM payments "
	    "WHERE id = $1 FOR UPDATE", 1, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL,
		    "The request could not be completed.");
		return -1;
	}
	if (strcmp(PQgetvalue(res, 0, PC_STATUS), "pending") != 0) {
		s->already = true;
		s->r_status = PQgetvalue(res, 0, PC_COUNT + 1);
		s->r_type = PQgetvalue(res, 0, PC_COUNT + 2);
		s->r_body = PQgetvalue(res, 0, PC_COUNT + 3);
		return 0;
	}
	if (s->asked_at_calls != NULL &&
	    (strcmp(PQgetvalue(res, 0, PC_COUNT + 4), s->asked_at_calls) != 0 ||
	    strcmp(PQgetvalue(res, 0, PC_MAYBE_CHARGED), "t") != 0)) {
		s->moved = true;
		return 0;
	}
	view_from_row(&v, res, 0);
	v.updated = PQgetvalue(res, 0, PC_COUNT);
	if (b != NULL && b->id != NULL)
		v.bank_ref = b->id;
	if (s->outcome == BANK_SUCCEEDED) {
		v.status = "succeeded";
		if (v.brand == NULL && b->brand != NULL)
			v.brand = b->brand;
		if (v.last4 == NULL && b->last4 != NULL)
			v.last4 = b->last4;
		s->r_status = "201";
		s->r_type = "application/json";
		s->r_body = view_text(req, &v);
	} else {
		v.status = "failed";
		if (s->outcome == BANK_DECLINED)
			decline = b->decline_code;
		else if (s->outcome == BANK_ABSENT)
			decline = "not_received";
		v.decline = decline;
		failure_problem(req, s, decline);
		s->r_status = bh_psprintf(req->pool, "%d", req->status);
		s->r_type = req->resp_type;
		s->r_body = bh_pstrndup(req->pool, req->resp_body.data,
		    req->resp_body.len);
	}
	status = v.status;
	params[1] = status;
	params[2] = v.bank_ref;
	params[3] = v.brand;
	params[4] = v.last4;
	params[5] = decline;
	params[6] = s->r_status;
	params[7] = s->r_type;
	params[8] = s->r_body;
	return bh_db_query(req, "UPDATE payments SET status = $2, "
	    "bank_charge_id = $3, card_brand = $4, card_last4 = $5, "
	    "decline_code = $6, response_status = $7::integer, "
	    "response_type = $8, response_body = $9, "
	    "receipt_state = CASE WHEN $2 = 'succeeded' AND "
	    "receipt_email IS NOT NULL THEN 'due' ELSE receipt_state END, "
	    "updated_at = now(), settled_at = now() WHERE id = $1",
	    9, params) == NULL ? -1 : 0;
}

/* Stores the outcome of payment id.  Returns 0 with s's answer set, or
 * -1 with the response set. */
static int
settle(bh_request *req, struct settlement *s)
{
	if (bh_db_tx(req, settle_tx, s) == -1)
		return -1;
	if (s->already)
		bh_log(BH_LOG_INFO, "payment %s was settled meanwhile", s->id);
	else if (s->moved)
		bh_log(BH_LOG_INFO, "payment %s was sent to the bank again "
		    "meanwhile; still pending", s->id);
	else
		bh_log(BH_LOG_INFO, "payment %s %s%s%s", s->id,
		    s->outcome == BANK_SUCCEEDED ? "succeeded" : "failed",
		    s->bank != NULL && s->bank->decline_code != NULL ? ": " :
		    "", s->bank != NULL && s->bank->decline_code != NULL ?
		    s->bank->decline_code : "");
	return 0;
}

int
payment_settle(bh_request *req, const char *id)
{
	struct settlement s = { .id = id };
	const char *params[] = { id, pay_timeout_text(req) };
	struct bank_result r;
	PGresult *res;

	/* The caller chose it before taking its lock: look again.  Only a
	 * call that may have reached the bank (maybe_charged) and is over
	 * can be settled by asking; one never sent stays pending for its
	 * client's retry, and one sent again meanwhile may still be at the
	 * bank, where "absent" would be a lie. */
	res = bh_db_query(req, "SELECT bank_calls FROM payments WHERE id = $1 "
	    "AND status = 'pending' AND maybe_charged AND "
	    "bank_called_at < now() - " PAY_SETTLE_AFTER(2), 2, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	s.asked_at_calls = bh_pstrdup(req->pool, PQgetvalue(res, 0, 0));

	bank_find_charge(req->pool, bh_psprintf(req->pool, "pay_%s", id), &r);
	switch (r.outcome) {
	case BANK_SUCCEEDED:
	case BANK_DECLINED:
	case BANK_ABSENT:
		break;
	default:
		bh_log(BH_LOG_INFO, "payment %s: the bank could not be asked "
		    "(%s); still pending", id, r.why != NULL ? r.why : "?");
		return 0;
	}
	s.outcome = r.outcome;
	s.bank = &r;
	if (settle(req, &s) == -1)
		return -1;
	return s.moved ? 0 : 1;
}

/* ------------------------------------------------------------- receipts */

int
payment_send_receipt(bh_request *req, const char *id)
{
	/* Its own request for the database: the answer already set (a
	 * 201) must not become a 503 because the receipt could not go. */
	bh_request scratch = { .pool = req->pool,
	    .request_id = req->request_id };
	const char *params[] = { id, NULL };
	const char *to, *money, *subject, *text;
	bh_http_response resp;
	json_object *mail;
	PGresult *res;
	int rc = -1;

	res = bh_db_query(&scratch, "SELECT receipt_email, amount, currency, "
	    "reference, card_brand, card_last4, bank_charge_id, "
	    PAY_UTC("settled_at") " FROM payments "
	    "WHERE id = $1 AND status = 'succeeded' AND receipt_state = 'due'",
	    1, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	to = PQgetvalue(res, 0, 0);
	money = bh_money_format(req->pool,
	    strtoll(PQgetvalue(res, 0, 1), NULL, 10), PQgetvalue(res, 0, 2));
	if (money == NULL)
		money = bh_psprintf(req->pool, "%s %s (minor units)",
		    PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
	subject = bh_psprintf(req->pool, "Payment receipt: %s", money);
	text = bh_psprintf(req->pool,
	    "Thank you for your payment.\n\n"
	    "Amount:          %s\n"
	    "Reference:       %s\n"
	    "Card:            %s ending in %s\n"
	    "Bank reference:  %s\n"
	    "Payment:         %s\n"
	    "Date:            %s\n\n"
	    "Keep this email as your receipt.\n",
	    money, PQgetvalue(res, 0, 3),
	    PQgetisnull(res, 0, 4) ? "card" : PQgetvalue(res, 0, 4),
	    PQgetisnull(res, 0, 5) ? "????" : PQgetvalue(res, 0, 5),
	    PQgetvalue(res, 0, 6), id, PQgetvalue(res, 0, 7));

	mail = json_object_new_object();
	bh_pool_defer(req->pool, json_put, mail);
	json_object_object_add(mail, "to", json_object_new_string(to));
	json_object_object_add(mail, "subject",
	    json_object_new_string(subject));
	json_object_object_add(mail, "text", json_object_new_string(text));
	{
		const char *body = json_object_to_json_string_ext(mail,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		bh_http_call call = {
			.upstream = "notifications",
			.method = "POST",
			.url = bh_psprintf(req->pool, "%s/emails",
			    bh_service_url("notifications")),
			.body = body,
			.body_len = strlen(body),
			.idempotency_key = bh_psprintf(req->pool,
			    "payment-%s-receipt", id),
			.service_token = true,
			.timeout_ms = RECEIPT_TIMEOUT_MS,
		};

		if (bh_http(req->pool, &call, &resp) == -1) {
			bh_log(BH_LOG_WARN, "payment %s: receipt email not "
			    "queued (%s); reconcile will retry", id,
			    resp.error);
			return -1;
		}
	}
	if (resp.status >= 200 && resp.status < 300) {
		params[1] = "sent";
		rc = 1;
	} else if (resp.status == 400 || resp.status == 422) {
		/* notifications will never take it (a bad address): trying
		 * again changes nothing. */
		bh_log(BH_LOG_WARN, "payment %s: notifications refused the "
		    "receipt email (%ld); not retried", id, resp.status);
		params[1] = "failed";
	} else {
		bh_log(BH_LOG_WARN, "payment %s: notifications answered %ld "
		    "to the receipt email; reconcile will retry", id,
		    resp.status);
		return -1;
	}
	if (bh_db_query(&scratch, "UPDATE payments SET receipt_state = $2 "
	    "WHERE id = $1 AND receipt_state = 'due'", 2, params) == NULL)
		return -1;
	return rc;
}

/* -------------------------------------------------------------- checks */

/* Reads the body of a POST into p and checks its form: what no clock or
 * setting changes.  Returns 0, or the status of the 400 set.  The
 * messages never quote a card number or cvc. */
static int
check_payment(bh_request *req, struct new_payment *p)
{
	const char *why = NULL, *email;
	enum card_brand brand;
	size_t len;

	p->amount = bh_arg_int(req, "amount");
	if (p->amount < 1)
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "amount", "amount must be an integer number of minor "
		    "units between 1 and %lld", pay_cfg.max_amount);
	p->currency = bh_arg_str(req, "currency");
	if (bh_currency_exponent(p->currency) < 0)
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "currency", "currency must be an ISO 4217 code in capitals "
		    "that bellhop knows, such as EUR");
	p->reference = bh_arg_str(req, "reference");
	p->description = bh_arg_str(req, "description");
	if (bh_arg_present(req, "receipt_email")) {
		email = bh_arg_str(req, "receipt_email");
		p->receipt_email = bh_email_normalize_why(req->pool, email,
		    strlen(email), &why);
		if (p->receipt_email == NULL)
			return bh_problem(req, 400,
			    BH_PROBLEM_INVALID_PARAMETER, "receipt_email",
			    "receipt_email is not an address: %s",
			    why != NULL ? why : "it is malformed");
	}

	if (bh_arg_present(req, "card") == bh_arg_present(req, "bank_token"))
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "card", "give exactly one of card and bank_token");
	if (bh_arg_present(req, "bank_token")) {
		p->source = bh_arg_str(req, "bank_token");
		len = strlen(p->source);
		if (strncmp(p->source, "tok_", 4) != 0 ||
		    strspn(p->source + 4, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != len - 4)
			return bh_problem(req, 400,
			    BH_PROBLEM_INVALID_PARAMETER, "bank_token",
			    "bank_token must be a token of the bank: \"tok_\" "
			    "followed by letters, digits and '_'");
		return 0;
	}

	p->number = bh_arg_str(req, "card.number");
	p->cvc = bh_arg_str(req, "card.cvc");
	p->holder = bh_arg_str(req, "card.holder");
	p->exp_month = bh_arg_int(req, "card.exp_month");
	p->exp_year = bh_arg_int(req, "card.exp_year");
	if (!card_number_digits(p->number))
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "card.number", "card.number must be 12 to 19 digits, "
		    "without spaces or dashes");
	if (!card_luhn_valid(p->number))
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "card.number", "card.number is not a card number (its "
		    "check digit is wrong): a typo?");
	brand = card_brand_of(p->number);
	if (brand == CARD_UNKNOWN)
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "card.number", "card.number is of a card network we do "
		    "not take (visa, mastercard, amex, discover, diners, jcb, "
		    "unionpay)");
	if (!card_length_valid(brand, strlen(p->number)))
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "card.number", "card.number has %zu digits, which no %s "
		    "card has", strlen(p->number), card_brand_name(brand));
	if (!card_cvc_valid(p->cvc, card_cvc_digits(brand)))
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "card.cvc", "card.cvc must be %d digits for a %s card",
		    card_cvc_digits(brand), card_brand_name(brand));
	p->brand = card_brand_name(brand);
	p->last4 = p->number + strlen(p->number) - 4;
	return 0;
}

/* What a new payment must also pass, and a retry of one already made
 * need not: the checks that depend on today's date or on the settings.
 * Returns 0, or the status of the 400 set. */
static int
check_new_payment(bh_request *req, const struct new_payment *p)
{
	if (p->amount > pay_cfg.max_amount)
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "amount", "amount must be an integer number of minor "
		    "units between 1 and %lld", pay_cfg.max_amount);
	if (p->source == NULL &&
	    card_expired(p->exp_month, p->exp_year, time(NULL)))
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "card.exp_year", "the card expired at the end of "
		    "%02" PRId64 "/%" PRId64, p->exp_month, p->exp_year);
	return 0;
}

/* ------------------------------------------------------------- charging */

static int
begin_tx(bh_request *req, void *arg)
{
	struct new_payment *p = arg;
	PGresult *res;

	p->mismatch = p->refused = p->settled = p->was_maybe = false;
	{
		const char *params[] = { p->client_id, p->key };

		res = bh_db_query(req, "SELECT id, request_hash, status, "
		    "response_status, response_type, response_body, "
		    "maybe_charged FROM payments "
		    "WHERE client_id = $1 AND idempotency_key = $2 FOR UPDATE",
		    2, params);
	}
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		p->id = PQgetvalue(res, 0, 0);
		if (strcmp(request_hash(req, p->id, p->fingerprint),
		    PQgetvalue(res, 0, 1)) != 0) {
			p->mismatch = true;
			return 0;
		}
		if (strcmp(PQgetvalue(res, 0, 2), "pending") != 0) {
			p->settled = true;
			p->r_status = PQgetvalue(res, 0, 3);
			p->r_type = PQgetvalue(res, 0, 4);
			p->r_body = PQgetvalue(res, 0, 5);
			return 0;
		}
		p->was_maybe = strcmp(PQgetvalue(res, 0, 6), "t") == 0;
		{
			const char *params[] = { p->id };

			return bh_db_query(req, "UPDATE payments SET "
			    "maybe_charged = true, bank_called_at = now(), "
			    "bank_calls = bank_calls + 1, updated_at = now() "
			    "WHERE id = $1", 1, params) == NULL ? -1 : 0;
		}
	}

	/* No row: a new payment (the key's lock keeps others from making
	 * one meanwhile). */
	if (check_new_payment(req, p) != 0) {
		p->refused = true;
		return 0;
	}
	p->id = pay_uuid_new(req->pool);
	{
		const char *exp_month = p->source == NULL ?
		    bh_psprintf(req->pool, "%" PRId64, p->exp_month) : NULL;
		const char *exp_year = p->source == NULL ?
		    bh_psprintf(req->pool, "%" PRId64, p->exp_year) : NULL;
		const char *params[] = { p->id, p->client_id, p->key,
		    request_hash(req, p->id, p->fingerprint),
		    bh_psprintf(req->pool, "%" PRId64, p->amount), p->currency,
		    p->reference, p->description, p->receipt_email,
		    p->source != NULL ? "bank_token" : "card", p->brand,
		    p->last4, exp_month, exp_year, p->holder };

		res = bh_db_query(req, "INSERT INTO payments (id, client_id, "
		    "idempotency_key, request_hash, amount, currency, "
		    "reference, description, receipt_email, method, "
		    "card_brand, card_last4, card_exp_month, card_exp_year, "
		    "card_holder, maybe_charged, bank_called_at, bank_calls) "
		    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
		    "$12, $13, $14, $15, true, now(), 1) "
		    "ON CONFLICT (client_id, idempotency_key) DO NOTHING "
		    "RETURNING id", 15, params);
	}
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		/* Only without the lock (the database restarted under us):
		 * someone else made it. */
		bh_problem(req, 409, BH_PROBLEM_CONFLICT, "Idempotency-Key",
		    "a request with this Idempotency-Key is in progress; try "
		    "again in a moment");
		return -1;
	}
	return 0;
}

/* Puts back maybe_charged after a call that never reached the bank. */
static int
unsent_tx(bh_request *req, void *arg)
{
	struct new_payment *p = arg;
	const char *params[] = { p->id, p->was_maybe ? "true" : "false" };

	return bh_db_query(req, "UPDATE payments SET maybe_charged = $2, "
	    "updated_at = now() WHERE id = $1 AND status = 'pending'", 2,
	    params) == NULL ? -1 : 0;
}

/* Steps 3 to 5 (see the top), with the key's lock held. */
static int
charge(bh_request *req, struct new_payment *p)
{
	struct settlement s;
	struct bank_charge c;
	struct bank_result r;

	if (bh_db_tx(req, begin_tx, p) == -1)
		return req->status;
	if (p->mismatch)
		return bh_problem(req, 422, BH_PROBLEM_IDEMPOTENCY_KEY_REUSED,
		    "Idempotency-Key", "this Idempotency-Key was used with "
		    "another request");
	if (p->refused)
		return req->status; /* the 400 of check_new_payment */
	if (p->settled)
		return pay_replay(req, p->r_status, p->r_type, p->r_body,
		    strcmp(p->r_status, "201") == 0 ?
		    payment_location(req, p->id) : NULL);

	memset(&c, 0, sizeof(c));
	c.key = bh_psprintf(req->pool, "pay_%s", p->id);
	c.amount = p->amount;
	c.currency = p->currency;
	c.number = p->number;
	c.cvc = p->cvc;
	c.holder = p->holder;
	c.exp_month = p->exp_month;
	c.exp_year = p->exp_year;
	c.source = p->source;
	c.reference = p->reference;
	c.description = p->description;
	bank_charge(req->pool, &c, &r);

	switch (r.outcome) {
	case BANK_SUCCEEDED:
	case BANK_DECLINED:
	case BANK_REFUSED:
		if (r.outcome == BANK_REFUSED)
			bh_log(BH_LOG_WARN, "payment %s: the bank refused the "
			    "charge: %s", p->id, r.why);
		memset(&s, 0, sizeof(s));
		s.id = p->id;
		s.outcome = r.outcome;
		s.bank = &r;
		if (settle(req, &s) == -1)
			return req->status;
		/* The answer is the stored one, byte for byte. */
		if (strcmp(s.r_status, "201") == 0)
			bh_add_header(req, "Location",
			    payment_location(req, p->id));
		p->receipt = r.outcome == BANK_SUCCEEDED && !s.already;
		return bh_send(req, atoi(s.r_status), s.r_type, s.r_body,
		    strlen(s.r_body));
	case BANK_UNAVAILABLE:
		if (!p->was_maybe) {
			bh_log(BH_LOG_WARN, "payment %s: the bank is "
			    "unavailable (%s); nothing charged", p->id, r.why);
			if (bh_db_tx(req, unsent_tx, p) == -1)
				return req->status;
			return bh_problem(req, 503, BH_PROBLEM_UPSTREAM, NULL,
			    "The bank is unavailable; nothing was charged.  "
			    "Try again with the same Idempotency-Key.");
		}
		/* An earlier call may have charged: still unknown. */
		break;
	case BANK_UNKNOWN:
	case BANK_ABSENT:
		break;
	}
	bh_log(BH_LOG_WARN, "payment %s: outcome unknown (%s); pending until "
	    "the bank is asked", p->id, r.why != NULL ? r.why : "?");
	return send_current(req, p->id, 202);
}

int
payment_post(bh_request *req)
{
	struct new_payment p;
	const char *lock;
	int rc;

	memset(&p, 0, sizeof(p));
	if ((p.key = bh_idempotency_key(req, true)) == NULL)
		return req->status;
	if (req->content_type == NULL ||
	    strcmp(req->content_type, "application/json") != 0)
		return bh_problem(req, 415, BH_PROBLEM_UNSUPPORTED_MEDIA_TYPE,
		    NULL, "the body must be application/json");
	if (check_payment(req, &p) != 0)
		return req->status;
	p.client_id = req->token->client_id;
	p.fingerprint = bh_request_fingerprint(req);

	lock = pay_lock_name(req, "payment", p.client_id, p.key);
	switch (pay_lock_try(req, lock)) {
	case -1:
		return req->status;
	case 0:
		return bh_problem(req, 409, BH_PROBLEM_CONFLICT,
		    "Idempotency-Key", "a request with this Idempotency-Key is "
		    "in progress; try again in a moment");
	}
	rc = charge(req, &p);
	pay_unlock(req, lock);
	/* After the lock: a retry need not wait for notifications. */
	if (p.receipt)
		(void)payment_send_receipt(req, p.id);
	return rc;
}

/* --------------------------------------------------------------- reading */

/* Answers 200 with payment id (a row of PAYMENT_COLUMNS in res) and its
 * refunds. */
static int
send_payment(bh_request *req, const PGresult *res)
{
	struct payment_view v;
	json_object *obj, *refunds;

	view_from_row(&v, res, 0);
	if ((refunds = refunds_of_payment(req, v.id)) == NULL)
		return req->status;
	obj = view_json(&v);
	bh_pool_defer(req->pool, json_put, obj);
	json_object_object_add(obj, "refunds", refunds);
	return bh_send_json(req, 200, obj);
}

int
payment_get(bh_request *req)
{
	const char *id = bh_arg_str(req, "id");
	const char *params[] = { id, req->token->client_id };
	PGresult *res;

	if (!bh_uuid_valid(id))
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "no such payment");
	res = bh_db_query(req, "SELECT " PAYMENT_COLUMNS " FROM payments "
	    "WHERE id = $1 AND client_id = $2", 2, params);
	if (res == NULL)
		return req->status;
	if (PQntuples(res) != 1)
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "no such payment");
	return send_payment(req, res);
}

int
payment_find(bh_request *req)
{
	const char *key = bh_arg_str(req, "idempotency_key");
	const char *params[] = { req->token->client_id, pay_timeout_text(req),
	    key };
	const char *id, *lock;
	PGresult *res;
	size_t i;

	for (i = 0; key[i] != '\0'; i++)
		if ((unsigned char)key[i] < 0x20 ||
		    (unsigned char)key[i] > 0x7e)
			return bh_problem(req, 400,
			    BH_PROBLEM_INVALID_PARAMETER, "idempotency_key",
			    "idempotency_key must be printable ASCII");
	res = bh_db_query(req, "SELECT id, status = 'pending' AND "
	    "maybe_charged AND bank_called_at < now() - " PAY_SETTLE_AFTER(2)
	    " FROM payments WHERE client_id = $1 AND idempotency_key = $3", 3,
	    params);
	if (res == NULL)
		return req->status;
	if (PQntuples(res) != 1)
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND,
		    "idempotency_key", "no payment was made with this "
		    "idempotency key");
	id = PQgetvalue(res, 0, 0);

	/* A pending one whose bank call is over and may have reached the
	 * bank: ask the bank now, unless someone is at it (then it is still
	 * pending, as the answer says).  One the bank never got (it was
	 * unavailable) is shown as it is, pending: nothing was charged, and
	 * its client's retry with the same key sends it. */
	if (strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
		lock = pay_lock_name(req, "payment", req->token->client_id,
		    key);
		switch (pay_lock_try(req, lock)) {
		case -1:
			return req->status;
		case 1:
			if (payment_settle(req, id) == -1) {
				pay_unlock(req, lock);
				return req->status;
			}
			pay_unlock(req, lock);
			(void)payment_send_receipt(req, id);
			break;
		}
	}
	if ((res = payment_row(req, id)) == NULL)
		return req->status;
	if (PQntuples(res) != 1)
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "no such payment");
	return send_payment(req, res);
}
