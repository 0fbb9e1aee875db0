/*
 * cancel.c - POST /reservations/{id}/cancel: the cancellation policy and
 * the refund.
 *
 * The policy (docs/reservations.md), with D the check-in day's 00:00 UTC
 * and O the check-out day's:
 *  - a hold not paid yet is released, nothing to refund; one whose time
 *    is up is marked expired instead (409: nothing to cancel);
 *  - a confirmed stay cancelled within BH_CANCEL_GRACE_MINUTES of its
 *    confirmation (and before O) is refunded in full, whatever the date:
 *    a booking made for tonight can be taken back;
 *  - else, cancelled before D - BH_CANCEL_FREE_HOURS: refunded in full;
 *  - from then until D, all but the first night is refunded;
 *  - from D on the stay has begun: 409, nothing changes;
 *  - a reservation whose payment is in progress cannot be cancelled (409)
 *    until it is settled; an expired one neither (nothing to cancel).
 * A second cancel answers 200 with the reservation as it is.
 *
 * The cancellation and the amount to refund are committed first (the
 * room is free from then on); the refund goes to payments afterwards
 * with Idempotency-Key reservation-<id>-refund, so however many times it
 * is sent (a retried cancel, reconcile) it is refunded once.  A refund
 * payments refuses for good (its 409: nothing left, or the payment did
 * not succeed) is marked failed and logged as an error for an operator,
 * never sent again.
 */
#include <stdlib.h>
#include <string.h>

#include "reservations.h"

struct cancel {
	const char *id, *guest;
	bool begun;     /* the stay has begun: refused */
	bool closed;    /* expired: refused */
	bool pending;   /* a payment is in flight: refused */
};

static int
cancel_tx(bh_request *req, void *arg)
{
	struct cancel *c = arg;
	const char *params[4] = { c->id, c->guest };
	const char *status;
	PGresult *res;

	c->begun = c->closed = c->pending = false;
	params[2] = bh_psprintf(req->pool, "%lld", resv_cfg.cancel_free_hours);
	params[3] = bh_psprintf(req->pool, "%lld",
	    resv_cfg.cancel_grace_minutes);
	res = bh_db_query(req, "SELECT status,"
	    " CASE WHEN now() < confirmed_at"
	    "  + make_interval(mins => $4::integer)"
	    "  AND now() < (upper(stay)::timestamp AT TIME ZONE 'UTC')"
	    "  THEN total"
	    " WHEN now() < (lower(stay)::timestamp AT TIME ZONE 'UTC')"
	    "  - make_interval(hours => $3::integer) THEN total"
	    " WHEN now() < (lower(stay)::timestamp AT TIME ZONE 'UTC')"
	    "  THEN total - nightly_rate END,"
	    " hold_expires_at > now()"
	    " FROM reservations WHERE id = $1 AND guest_sub = $2 FOR UPDATE",
	    4, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "there is no such reservation");
	status = PQgetvalue(res, 0, 0);
	if (strcmp(status, RESV_HELD) == 0 &&
	    strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
		/* its time is up: it is what it would have become */
		c->closed = true;
		res = bh_db_query(req, "UPDATE reservations SET"
		    " status = 'expired', updated_at = now() WHERE id = $1",
		    1, params);
		return res == NULL ? -1 : 0;
	}
	if (strcmp(status, RESV_HELD) == 0) {
		/* nothing was paid: no refund, and no mail to tell the
		 * guest what they just did */
		res = bh_db_query(req, "UPDATE reservations SET"
		    " status = 'cancelled', cancelled_at = now(),"
		    " cancel_notice_sent_at = now(), updated_at = now()"
		    " WHERE id = $1", 1, params);
		return res == NULL ? -1 : 0;
	}
	if (strcmp(status, RESV_PENDING) == 0) {
		c->pending = true;
		return 0;
	}
	if (strcmp(status, RESV_EXPIRED) == 0) {
		c->closed = true;
		return 0;
	}
	if (strcmp(status, RESV_CONFIRMED) != 0)
		return 0;  /* cancelled already: as it is */
	if (PQgetisnull(res, 0, 1)) {
		c->begun = true;
		return 0;
	}
	params[1] = PQgetvalue(res, 0, 1);
	res = bh_db_query(req, "UPDATE reservations SET status = 'cancelled',"
	    " cancelled_at = now(), updated_at = now(),"
	    " refund_amount = $2::bigint, refund_status = CASE WHEN"
	    " $2::bigint > 0 THEN 'pending' ELSE 'none' END WHERE id = $1",
	    2, params);
	return res == NULL ? -1 : 0;
}

/* Columns resv_finish_cancel reads. */
enum { CC_REFUND_STATUS, CC_REFUND_AMOUNT, CC_PAYMENT_ID, CC_NOTICE_DUE,
	CC_GUEST_NAME, CC_GUEST_EMAIL, CC_HOTEL_NAME, CC_CHECKIN, CC_CHECKOUT,
	CC_CURRENCY };

static int
send_cancel_notice(bh_request *req, const char *id, const PGresult *r)
{
	const char *params[1] = { id }, *refund;
	json_object *mail;
	long long amount;

	amount = strtoll(PQgetvalue(r, 0, CC_REFUND_AMOUNT), NULL, 10);
	if (PQgetisnull(r, 0, CC_REFUND_AMOUNT))
		refund = "Nothing was charged, so there is nothing to refund.";
	else if (amount == 0)
		refund = "Under the cancellation policy nothing is refunded.";
	else if ((refund = bh_money_format(req->pool, amount,
	    PQgetvalue(r, 0, CC_CURRENCY))) != NULL)
		refund = bh_psprintf(req->pool, "%s is refunded to your card.",
		    refund);
	else
		refund = bh_psprintf(req->pool, "%lld (minor units of %s) is "
		    "refunded to your card.", amount,
		    PQgetvalue(r, 0, CC_CURRENCY));
	mail = resv_json_own(req, json_object_new_object());
	resv_add(mail, "to", json_object_new_string(
	    PQgetvalue(r, 0, CC_GUEST_EMAIL)));
	resv_add(mail, "subject", json_object_new_string(bh_psprintf(
	    req->pool, "Your reservation at %s is cancelled",
	    PQgetvalue(r, 0, CC_HOTEL_NAME))));
	resv_add(mail, "text", json_object_new_string(bh_psprintf(req->pool,
	    "Dear %s,\n\nyour reservation %s at %s from %s to %s is "
	    "cancelled.\n%s\n\nbellhop\n", PQgetvalue(r, 0, CC_GUEST_NAME), id,
	    PQgetvalue(r, 0, CC_HOTEL_NAME), PQgetvalue(r, 0, CC_CHECKIN),
	    PQgetvalue(r, 0, CC_CHECKOUT), refund)));
	if (upstream_email(req, bh_psprintf(req->pool,
	    "reservation-%s-cancelled", id), mail, 0) == -1)
		return -1;
	if (bh_db_query(req, "UPDATE reservations SET cancel_notice_sent_at ="
	    " now() WHERE id = $1 AND cancel_notice_sent_at IS NULL", 1,
	    params) == NULL)
		return -1;
	return 0;
}

int
resv_finish_cancel(bh_request *req, const char *id)
{
	const char *params[3] = { id }, *refund_id, *why;
	PGresult *r;
	int undone = 0;

	r = bh_db_query(req, "SELECT refund_status, refund_amount, payment_id,"
	    " cancel_notice_sent_at IS NULL, guest_name, guest_email,"
	    " hotel_name, lower(stay)::text, upper(stay)::text, currency"
	    " FROM reservations WHERE id = $1 AND status = 'cancelled'",
	    1, params);
	if (r == NULL || PQntuples(r) != 1)
		return r == NULL;
	if (strcmp(PQgetvalue(r, 0, CC_REFUND_STATUS), "pending") == 0) {
		switch (upstream_refund(req, PQgetvalue(r, 0, CC_PAYMENT_ID),
		    strtoll(PQgetvalue(r, 0, CC_REFUND_AMOUNT), NULL, 10),
		    "cancelled by the guest",
		    bh_psprintf(req->pool, "reservation-%s-refund", id),
		    &refund_id, &why)) {
		case REFUND_DONE:
			params[1] = refund_id;
			if (bh_db_query(req, "UPDATE reservations SET"
			    " refund_status = 'succeeded', refund_id = $2,"
			    " updated_at = now() WHERE id = $1", 2,
			    params) == NULL)
				return 1 + (strcmp(PQgetvalue(r, 0,
				    CC_NOTICE_DUE), "t") == 0);
			bh_log(BH_LOG_INFO, "reservation %s: refunded", id);
			break;
		case REFUND_REFUSED:
			/* sending it again would get the same answer: an
			 * operator must look at it */
			bh_log(BH_LOG_ERROR, "reservation %s: payments refuses "
			    "the refund of payment %s for good (%s); marked "
			    "failed, not sent again", id,
			    PQgetvalue(r, 0, CC_PAYMENT_ID), why);
			if (bh_db_query(req, "UPDATE reservations SET"
			    " refund_status = 'failed', updated_at = now()"
			    " WHERE id = $1 AND refund_status = 'pending'", 1,
			    params) == NULL)
				undone++;
			break;
		case REFUND_PENDING:
		case REFUND_RETRY:
			/* pending at the bank, or not done: retried with the
			 * same key */
			undone++;
			break;
		}
	}
	if (strcmp(PQgetvalue(r, 0, CC_NOTICE_DUE), "t") == 0 &&
	    send_cancel_notice(req, id, r) == -1)
		undone++;
	return undone;
}

int
resv_cancel(bh_request *req)
{
	struct cancel c;
	PGresult *res;

	memset(&c, 0, sizeof(c));
	if ((c.guest = resv_guest(req)) == NULL ||
	    (c.id = resv_path_id(req)) == NULL)
		return req->status;
	if (bh_db_tx(req, cancel_tx, &c) == -1)
		return req->status;
	if (c.pending)
		return bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
		    "a payment of this reservation is in progress; cancel it "
		    "once it is settled");
	if (c.closed)
		return bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
		    "the hold has expired: there is nothing to cancel, the "
		    "room is free");
	if (c.begun)
		return bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
		    "the stay has begun: it can no longer be cancelled");
	resv_finish_cancel(req, c.id);
	if ((res = resv_fetch(req, c.id, c.guest)) == NULL)
		return req->status;
	return resv_send(req, 200, res);
}
