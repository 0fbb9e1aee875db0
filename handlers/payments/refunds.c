/*
 * refunds.c - POST /payments/{id}/refunds: a refund of a succeeded
 * payment, all that is left of it or a part, exactly once.
 *
 * As for charges (charges.c): the Idempotency-Key's advisory lock is
 * held across the bank call, the refund row is committed before it, and
 * the bank gets Idempotency-Key "refund_<refund id>", so a repeated call
 * refunds once.  Never more than was charged: the refund's amount is
 * reserved on the payment row (refund_reserved, under a row lock, with a
 * CHECK that it stays within the amount) in the transaction that makes
 * the refund, before the bank hears of it; concurrent refunds of one
 * payment take turns on that row.  A refund the bank never got (it was
 * unavailable, or reconcile found nothing under its key) gives its
 * amount back and may be tried again with the same key.
 *
 * A refund's amount is bounded by what is left of its payment (409), not
 * by BH_PAYMENT_MAX_AMOUNT: the payment was within the ceiling when it
 * was made, and a ceiling lowered since must neither block its refund
 * nor turn the retry of a refund into a 400.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "payments.h"

#define REASON_MAX 500

const bh_param refund_post_params[] = {
	{ "id", BH_PATH, BH_STRING, true, 1, 1024, NULL, NULL, NULL },
	{ "amount", BH_BODY, BH_INT, false, 0, 0, NULL, NULL, NULL },
	{ "reason", BH_BODY, BH_STRING, false, 1, REASON_MAX, NULL, NULL,
	    NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

/* A POST, checked, and what its first transaction found or did. */
struct new_refund {
	const char *client_id, *key, *fingerprint, *payment_id, *reason;
	int64_t amount;          /* 0: all that is left */
	/* the transaction's outcome */
	const char *id, *charge_id;
	int64_t reserved;        /* the refund's amount */
	bool mismatch, settled, was_maybe;
	int refused;             /* 404 or 409: nothing stored */
	const char *refused_detail;
	const char *r_status, *r_type, *r_body;
};

#define REFUND_COLUMNS \
	"id, payment_id, amount, currency, status, bank_refund_id, reason, " \
	PAY_UTC("created_at")
enum {
	RC_ID, RC_PAYMENT, RC_AMOUNT, RC_CURRENCY, RC_STATUS, RC_BANK_REF,
	RC_REASON, RC_CREATED, RC_COUNT
};

static void
json_put(void *obj)
{
	json_object_put(obj);
}

static json_object *
str_or_null(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

static const char *
col(const PGresult *res, int row, int c)
{
	return PQgetisnull(res, row, c) ? NULL : PQgetvalue(res, row, c);
}

/* The refund object of a REFUND_COLUMNS row, status and bank reference
 * replaced when given.  The caller owns it. */
static json_object *
refund_json(const PGresult *res, int row, const char *status,
    const char *bank_ref)
{
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "id",
	    json_object_new_string(PQgetvalue(res, row, RC_ID)));
	json_object_object_add(obj, "payment_id",
	    json_object_new_string(PQgetvalue(res, row, RC_PAYMENT)));
	json_object_object_add(obj, "amount", json_object_new_int64(
	    strtoll(PQgetvalue(res, row, RC_AMOUNT), NULL, 10)));
	json_object_object_add(obj, "currency",
	    json_object_new_string(PQgetvalue(res, row, RC_CURRENCY)));
	json_object_object_add(obj, "status", json_object_new_string(
	    status != NULL ? status : PQgetvalue(res, row, RC_STATUS)));
	json_object_object_add(obj, "bank_reference", str_or_null(
	    bank_ref != NULL ? bank_ref : col(res, row, RC_BANK_REF)));
	json_object_object_add(obj, "reason",
	    str_or_null(col(res, row, RC_REASON)));
	json_object_object_add(obj, "created_at",
	    json_object_new_string(PQgetvalue(res, row, RC_CREATED)));
	return obj;
}

static const char *
refund_text(bh_request *req, const PGresult *res, const char *status,
    const char *bank_ref)
{
	json_object *obj = refund_json(res, 0, status, bank_ref);
	const char *text;

	text = bh_pstrdup(req->pool, json_object_to_json_string_ext(obj,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(obj);
	return text;
}

json_object *
refunds_of_payment(bh_request *req, const char *id)
{
	const char *params[] = { id };
	json_object *list;
	PGresult *res;
	int i;

	res = bh_db_query(req, "SELECT " REFUND_COLUMNS " FROM refunds "
	    "WHERE payment_id = $1 ORDER BY created_at, id", 1, params);
	if (res == NULL)
		return NULL;
	list = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++)
		json_object_array_add(list, refund_json(res, i, NULL, NULL));
	return list;
}

/* ------------------------------------------------------------ settling */

struct refund_settlement {
	const char *id;
	enum bank_outcome outcome; /* SUCCEEDED, REFUSED, or else: never got */
	const struct bank_result *bank;
	/* Settling by asking the bank: the refund's bank_calls when it was
	 * asked (as for payments, charges.c); NULL for our own call's
	 * answer. */
	const char *asked_at_calls;
	/* the outcome of the transaction */
	bool already;
	bool moved;                /* sent again since asked: left pending */
	const char *r_status, *r_type, *r_body; /* NULL: nothing stored */
};

static int
refund_settle_tx(bh_request *req, void *arg)
{
	struct refund_settlement *s = arg;
	const char *params[6];
	const char *status, *amount, *payment;
	PGresult *res;

	s->already = s->moved = false;
	s->r_status = s->r_type = s->r_body = NULL;
	params[0] = s->id;
	res = bh_db_query(req, "SELECT " REFUND_COLUMNS ", response_status, "
	    "response_type, response_body, bank_calls, maybe_sent "
	    "FROM refunds WHERE id = $1 FOR UPDATE", 1, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL,
		    "The request could not be completed.");
		return -1;
	}
	if (strcmp(PQgetvalue(res, 0, RC_STATUS), "pending") != 0) {
		s->already = true;
		s->r_status = col(res, 0, RC_COUNT);
		s->r_type = col(res, 0, RC_COUNT + 1);
		s->r_body = col(res, 0, RC_COUNT + 2);
		return 0;
	}
	if (s->asked_at_calls != NULL &&
	    (strcmp(PQgetvalue(res, 0, RC_COUNT + 3), s->asked_at_calls) != 0 ||
	    strcmp(PQgetvalue(res, 0, RC_COUNT + 4), "t") != 0)) {
		s->moved = true;
		return 0;
	}
	amount = PQgetvalue(res, 0, RC_AMOUNT);
	payment = PQgetvalue(res, 0, RC_PAYMENT);
	if (s->outcome == BANK_SUCCEEDED) {
		status = "succeeded";
		s->r_status = "201";
		s->r_type = "application/json";
		s->r_body = refund_text(req, res, status, s->bank->id);
	} else {
		status = "failed";
		if (s->outcome == BANK_REFUSED) {
			json_object *extra = json_object_new_object();

			bh_pool_defer(req->pool, json_put, extra);
			json_object_object_add(extra, "refund_id",
			    json_object_new_string(s->id));
			json_object_object_add(extra, "bank_code",
			    str_or_null(s->bank->code));
			bh_problem_ext(req, 409, BH_PROBLEM_CONFLICT, NULL,
			    extra, "the bank refused the refund (%s); nothing "
			    "was refunded", s->bank->code != NULL ?
			    s->bank->code : "invalid request");
			s->r_status = "409";
			s->r_type = req->resp_type;
			s->r_body = bh_pstrndup(req->pool, req->resp_body.data,
			    req->resp_body.len);
		}
	}
	params[1] = status;
	params[2] = s->outcome == BANK_SUCCEEDED ? s->bank->id : NULL;
	params[3] = s->r_status;
	params[4] = s->r_type;
	params[5] = s->r_body;
	if (bh_db_query(req, "UPDATE refunds SET status = $2, "
	    "bank_refund_id = $3, response_status = $4::integer, "
	    "response_type = $5, response_body = $6, updated_at = now(), "
	    "settled_at = CASE WHEN $4 IS NULL THEN NULL ELSE now() END "
	    "WHERE id = $1", 6, params) == NULL)
		return -1;
	params[0] = payment;
	params[1] = amount;
	return bh_db_query(req, s->outcome == BANK_SUCCEEDED ?
	    "UPDATE payments SET refunded_amount = refunded_amount + "
	    "$2::bigint, updated_at = now() WHERE id = $1" :
	    "UPDATE payments SET refund_reserved = refund_reserved - "
	    "$2::bigint, updated_at = now() WHERE id = $1", 2, params) ==
	    NULL ? -1 : 0;
}

static int
settle(bh_request *req, struct refund_settlement *s)
{
	if (bh_db_tx(req, refund_settle_tx, s) == -1)
		return -1;
	if (s->moved)
		bh_log(BH_LOG_INFO, "refund %s was sent to the bank again "
		    "meanwhile; still pending", s->id);
	else if (!s->already)
		bh_log(BH_LOG_INFO, "refund %s %s", s->id,
		    s->outcome == BANK_SUCCEEDED ? "succeeded" :
		    s->outcome == BANK_REFUSED ? "refused by the bank" :
		    "never reached the bank: its amount is free again");
	return 0;
}

int
refund_settle(bh_request *req, const char *id)
{
	struct refund_settlement s = { .id = id };
	const char *params[] = { id, pay_timeout_text(req) };
	struct bank_result r;
	PGresult *res;

	/* Looked at again under the caller's lock, as payment_settle does:
	 * only a refund that may have reached the bank and whose last call
	 * is over is settled by asking. */
	res = bh_db_query(req, "SELECT p.bank_charge_id, r.bank_calls "
	    "FROM refunds r JOIN payments p ON p.id = r.payment_id "
	    "WHERE r.id = $1 AND r.status = 'pending' AND r.maybe_sent AND "
	    "r.bank_called_at < now() - " PAY_SETTLE_AFTER(2), 2, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	s.asked_at_calls = bh_pstrdup(req->pool, PQgetvalue(res, 0, 1));
	bank_find_refund(req->pool, PQgetvalue(res, 0, 0),
	    bh_psprintf(req->pool, "refund_%s", id), &r);
	if (r.outcome != BANK_SUCCEEDED && r.outcome != BANK_ABSENT) {
		bh_log(BH_LOG_INFO, "refund %s: the bank could not be asked "
		    "(%s); still pending", id, r.why != NULL ? r.why : "?");
		return 0;
	}
	s.outcome = r.outcome;
	s.bank = &r;
	if (settle(req, &s) == -1)
		return -1;
	return s.moved ? 0 : 1;
}

/* ------------------------------------------------------------ refunding */

/* Reserves amount (0: all that is left) of payment_id for a refund.
 * Returns 1 with *reserved and *charge_id set, 0 with r->refused set
 * (404, 409), -1 on database trouble. */
static int
reserve(bh_request *req, struct new_refund *r, int64_t amount)
{
	const char *params[] = { r->payment_id, r->client_id, NULL };
	int64_t total, reserved, left;
	PGresult *res;

	res = bh_db_query(req, "SELECT status, amount, refund_reserved, "
	    "bank_charge_id FROM payments WHERE id = $1 AND client_id = $2 "
	    "FOR UPDATE", 2, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		r->refused = 404;
		r->refused_detail = "no such payment";
		return 0;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "succeeded") != 0 ||
	    PQgetisnull(res, 0, 3)) {
		r->refused = 409;
		r->refused_detail = "the payment did not succeed: there is "
		    "nothing to refund";
		return 0;
	}
	total = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	reserved = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	left = total - reserved;
	if (amount == 0)
		amount = left;
	if (left == 0) {
		r->refused = 409;
		r->refused_detail = "the payment is refunded in full already "
		    "(or refunds of all of it are under way)";
		return 0;
	}
	if (amount > left) {
		r->refused = 409;
		r->refused_detail = bh_psprintf(req->pool, "the refund (%"
		    PRId64 ") is more than what is left to refund of the "
		    "payment (%" PRId64 ")", amount, left);
		return 0;
	}
	r->reserved = amount;
	r->charge_id = PQgetvalue(res, 0, 3);
	params[1] = bh_psprintf(req->pool, "%" PRId64, amount);
	return bh_db_query(req, "UPDATE payments SET refund_reserved = "
	    "refund_reserved + $2::bigint, updated_at = now() WHERE id = $1",
	    2, params) == NULL ? -1 : 1;
}

static int
begin_tx(bh_request *req, void *arg)
{
	struct new_refund *r = arg;
	PGresult *res;
	int rc;

	r->mismatch = r->settled = r->was_maybe = false;
	r->refused = 0;
	{
		const char *params[] = { r->client_id, r->key };

		res = bh_db_query(req, "SELECT id, request_hash, status, "
		    "response_status, response_type, response_body, "
		    "maybe_sent, amount FROM refunds "
		    "WHERE client_id = $1 AND idempotency_key = $2 FOR UPDATE",
		    2, params);
	}
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		const char *id = PQgetvalue(res, 0, 0);
		char *salted = bh_psprintf(req->pool, "%s:%s", id,
		    r->fingerprint);
		const char *status = PQgetvalue(res, 0, 2);

		r->id = id;
		if (strcmp(bh_sha256_hex(req->pool, salted, strlen(salted)),
		    PQgetvalue(res, 0, 1)) != 0) {
			r->mismatch = true;
			return 0;
		}
		if (!PQgetisnull(res, 0, 3)) {
			r->settled = true;
			r->r_status = PQgetvalue(res, 0, 3);
			r->r_type = PQgetvalue(res, 0, 4);
			r->r_body = PQgetvalue(res, 0, 5);
			return 0;
		}
		if (strcmp(status, "failed") == 0) {
			/* It never reached the bank: its amount was given
			 * back; take it again. */
			rc = reserve(req, r, strtoll(PQgetvalue(res, 0, 7),
			    NULL, 10));
			if (rc != 1)
				return rc;
		} else {
			const char *params[] = { r->payment_id };

			r->was_maybe = strcmp(PQgetvalue(res, 0, 6), "t") == 0;
			r->reserved = strtoll(PQgetvalue(res, 0, 7), NULL, 10);
			res = bh_db_query(req, "SELECT bank_charge_id FROM "
			    "payments WHERE id = $1", 1, params);
			if (res == NULL)
				return -1;
			r->charge_id = PQgetvalue(res, 0, 0);
		}
		{
			const char *params[] = { r->id };

			return bh_db_query(req, "UPDATE refunds SET "
			    "status = 'pending', maybe_sent = true, "
			    "bank_called_at = now(), bank_calls = "
			    "bank_calls + 1, updated_at = now() WHERE id = $1",
			    1, params) == NULL ? -1 : 0;
		}
	}

	if ((rc = reserve(req, r, r->amount)) != 1)
		return rc;
	r->id = pay_uuid_new(req->pool);
	{
		char *salted = bh_psprintf(req->pool, "%s:%s", r->id,
		    r->fingerprint);
		const char *params[] = { r->id, r->payment_id, r->client_id,
		    r->key, bh_sha256_hex(req->pool, salted, strlen(salted)),
		    bh_psprintf(req->pool, "%" PRId64, r->reserved),
		    r->reason };

		res = bh_db_query(req, "INSERT INTO refunds (id, payment_id, "
		    "client_id, idempotency_key, request_hash, amount, "
		    "currency, reason, maybe_sent, bank_called_at, "
		    "bank_calls) SELECT $1, $2, $3, $4, $5, $6, currency, $7, "
		    "true, now(), 1 FROM payments WHERE id = $2 "
		    "ON CONFLICT (client_id, idempotency_key) DO NOTHING "
		    "RETURNING id", 7, params);
	}
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		bh_problem(req, 409, BH_PROBLEM_CONFLICT, "Idempotency-Key",
		    "a request with this Idempotency-Key is in progress; try "
		    "again in a moment");
		return -1;
	}
	return 0;
}

/* Gives back the amount of a refund that never reached the bank. */
static int
unsent(bh_request *req, struct new_refund *r)
{
	struct refund_settlement s = { .id = r->id,
	    .outcome = BANK_UNAVAILABLE };

	return settle(req, &s);
}

/* Answers with the refund as it is now (a 201 with status pending). */
static int
send_pending(bh_request *req, const char *id)
{
	const char *params[] = { id };
	const char *text;
	PGresult *res;

	res = bh_db_query(req, "SELECT " REFUND_COLUMNS " FROM refunds "
	    "WHERE id = $1", 1, params);
	if (res == NULL)
		return req->status;
	if (PQntuples(res) != 1)
		return bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL,
		    "The request could not be completed.");
	text = refund_text(req, res, NULL, NULL);
	return bh_send(req, 201, "application/json", text, strlen(text));
}

/* The steps with the key's lock held. */
static int
refund(bh_request *req, struct new_refund *r)
{
	struct refund_settlement s;
	struct bank_result b;

	if (bh_db_tx(req, begin_tx, r) == -1)
		return req->status;
	if (r->mismatch)
		return bh_problem(req, 422, BH_PROBLEM_IDEMPOTENCY_KEY_REUSED,
		    "Idempotency-Key", "this Idempotency-Key was used with "
		    "another request");
	if (r->settled)
		return pay_replay(req, r->r_status, r->r_type, r->r_body, NULL);
	if (r->refused != 0)
		return bh_problem(req, r->refused, r->refused == 404 ?
		    BH_PROBLEM_NOT_FOUND : BH_PROBLEM_CONFLICT, NULL, "%s",
		    r->refused_detail);

	bank_refund(req->pool, bh_psprintf(req->pool, "refund_%s", r->id),
	    r->charge_id, r->reserved, r->reason, &b);
	switch (b.outcome) {
	case BANK_SUCCEEDED:
	case BANK_REFUSED:
		if (b.outcome == BANK_REFUSED)
			bh_log(BH_LOG_WARN, "refund %s: the bank refused it: "
			    "%s", r->id, b.why);
		memset(&s, 0, sizeof(s));
		s.id = r->id;
		s.outcome = b.outcome;
		s.bank = &b;
		if (settle(req, &s) == -1)
			return req->status;
		if (s.r_status == NULL)
			return send_pending(req, r->id);
		return bh_send(req, atoi(s.r_status), s.r_type, s.r_body,
		    strlen(s.r_body));
	case BANK_UNAVAILABLE:
		if (r->was_maybe)
			break;
		bh_log(BH_LOG_WARN, "refund %s: the bank is unavailable (%s); "
		    "nothing refunded", r->id, b.why);
		if (unsent(req, r) == -1)
			return req->status;
		return bh_problem(req, 503, BH_PROBLEM_UPSTREAM, NULL,
		    "The bank is unavailable; nothing was refunded.  Try "
		    "again with the same Idempotency-Key.");
	case BANK_DECLINED:
	case BANK_UNKNOWN:
	case BANK_ABSENT:
		break;
	}
	bh_log(BH_LOG_WARN, "refund %s: outcome unknown (%s); pending until "
	    "the bank is asked", r->id, b.why != NULL ? b.why : "?");
	return send_pending(req, r->id);
}

int
refund_post(bh_request *req)
{
	struct new_refund r;
	const char *lock;
	int rc;

	memset(&r, 0, sizeof(r));
	if ((r.key = bh_idempotency_key(req, true)) == NULL)
		return req->status;
	if (req->body_len > 0 && (req->content_type == NULL ||
	    strcmp(req->content_type, "application/json") != 0))
		return bh_problem(req, 415, BH_PROBLEM_UNSUPPORTED_MEDIA_TYPE,
		    NULL, "the body must be application/json");
	r.payment_id = bh_arg_str(req, "id");
	if (!bh_uuid_valid(r.payment_id))
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "no such payment");
	if (bh_arg_present(req, "amount")) {
		r.amount = bh_arg_int(req, "amount");
		if (r.amount < 1)
			return bh_problem(req, 400,
			    BH_PROBLEM_INVALID_PARAMETER, "amount", "amount "
			    "must be a positive integer number of minor units");
	}
	r.reason = bh_arg_str(req, "reason");
	r.client_id = req->token->client_id;
	r.fingerprint = bh_request_fingerprint(req);

	lock = pay_lock_name(req, "refund", r.client_id, r.key);
	switch (pay_lock_try(req, lock)) {
	case -1:
		return req->status;
	case 0:
		return bh_problem(req, 409, BH_PROBLEM_CONFLICT,
		    "Idempotency-Key", "a request with this Idempotency-Key is "
		    "in progress; try again in a moment");
	}
	rc = refund(req, &r);
	pay_unlock(req, lock);
	return rc;
}
