/*
 * reconcile.c - `bellhop-reservations reconcile [--every SECONDS]`:
 * finishes what requests left undone, each step as idempotent as the
 * request's own:
 *  - payment_pending reservations: the last attempt's outcome asked of
 *    payments (GET /payments?idempotency_key=reservation-<id>-<n>), then
 *    applied (confirmed, or back on hold); one payments has never heard
 *    of is released only once its call must have ended
 *    (BH_PAYMENT_SETTLE_SECONDS);
 *  - confirmed ones whose receipt, recap or hotel notice is not done;
 *  - cancelled ones whose refund is pending or whose notice is not sent;
 *  - stray charges: once a reservation's last attempt is twice
 *    BH_PAYMENT_SETTLE_SECONDS old (and the row unchanged for
 *    BH_PAYMENT_SETTLE_SECONDS), each of its attempts that may have
 *    charged is looked up by its key, and a succeeded payment that is not
 *    the reservation's own (a request that reached payments after its
 *    attempt was settled as failed) is refunded whole, with
 *    Idempotency-Key reservation-<id>-stray-<n>;
 *  - holds whose time is up are marked expired (housekeeping: a hold
 *    blocks nobody once its time is up anyway).
 * A row whose step fails waits before the next try (30 s, doubling, at
 * most an hour: reconcile_next_at), so that one that always fails never
 * holds up the others.
 * Prints one summary line per round; exit 0 (1 when the database cannot
 * be reached).  With --every it runs a round every SECONDS until SIGTERM
 * or SIGINT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reservations.h"

/* Rows looked at per kind and round. */
#define BATCH "500"

struct tally {
	int settled, confirmed, released, pending;
	int finished, finish_undone;
	int cancels, cancel_undone;
	int strays, strays_refunded, strays_undone;
	long long expired;
	bool failed;
};

/* A request-shaped context for the helpers the routes use. */
static void
ctx_reset(bh_request *req)
{
	bh_pool *pool = req->pool;

	bh_pool_reset(pool);
	memset(req, 0, sizeof(*req));
	req->pool = pool;
	req->request_id = "reconcile";
}

static PGresult *
ids_of(bh_request *req, const char *sql, struct tally *t)
{
	PGresult *res = bh_db_query(req, sql, 0, NULL);

	if (res == NULL)
		t->failed = true;
	return res;
}

/* Only rows not waiting after a failed try, those waiting longest first. */
#define DUE " AND (reconcile_next_at IS NULL OR reconcile_next_at <= now())"
#define DUE_ORDER " ORDER BY reconcile_next_at NULLS FIRST"

/* Records how reservation id's step went: a failure puts the row off
 * (30 s after the first, doubling up to an hour), a success clears it. */
static void
backoff(bh_request *req, const char *id, bool failed)
{
	const char *params[1] = { id };

	if (failed)
		bh_db_query(req, "UPDATE reservations SET"
		    " reconcile_tries = reconcile_tries + 1,"
		    " reconcile_next_at = now() + least(interval '1 hour',"
		    " interval '30 seconds' * power(2, least(reconcile_tries,"
		    " 12))) WHERE id = $1", 1, params);
	else
		bh_db_query(req, "UPDATE reservations SET reconcile_tries = 0,"
		    " reconcile_next_at = NULL WHERE id = $1"
		    " AND (reconcile_tries > 0 OR reconcile_next_at IS NOT NULL)",
		    1, params);
}

static void
settle_payments(bh_request *req, struct tally *t)
{
	struct payment_result pr;
	PGresult *res;
	const char *id;
	long long attempt;
	bool recent;
	int i, n;

	ctx_reset(req);
	res = ids_of(req, bh_psprintf(req->pool, "SELECT id,"
	    " payment_attempts, coalesce(payment_started_at > now()"
	    " - make_interval(secs => %lld), false) FROM reservations"
	    " WHERE status = 'payment_pending'" DUE DUE_ORDER ","
	    " payment_started_at LIMIT " BATCH,
	    resv_cfg.payment_settle_seconds), t);
	if (res == NULL)
		return;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		/* res lives in req's pool until the next ctx_reset */
		id = PQgetvalue(res, i, 0);
		attempt = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		recent = strcmp(PQgetvalue(res, i, 2), "t") == 0;
		upstream_payment_find(req, bh_psprintf(req->pool,
		    "reservation-%s-%lld", id, attempt),
		    (int)resv_cfg.payments_timeout_ms, &pr);
		if (pr.outcome == PAY_NOT_FOUND && recent) {
			/* its call may still be on the way: not a failure */
			t->pending++;
		} else if (resv_apply_payment(req, id, attempt, &pr) == 1) {
			t->settled++;
			backoff(req, id, false);
			if (pr.outcome == PAY_SUCCEEDED) {
				t->confirmed++;
				resv_finish(req, id, 0);
			} else {
				t->released++;
			}
		} else {
			t->pending++;
			backoff(req, id, true);
		}
	}
}

/* finish(req, id) for each reservation sql selects: the work a
 * confirmation or a cancellation left undone, counted in *done or
 * *undone, backed off when undone. */
static void
finish_each(bh_request *req, struct tally *t, const char *sql,
    int (*finish)(bh_request *, const char *), int *done, int *undone)
{
	PGresult *res;
	const char *id;
	int i, n;
	bool failed;

	ctx_reset(req);
	if ((res = ids_of(req, sql, t)) == NULL)
		return;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		id = PQgetvalue(res, i, 0);
		failed = finish(req, id) != 0;
		if (failed)
			(*undone)++;
		else
			(*done)++;
		backoff(req, id, failed);
	}
}

/* resv_finish without a deadline, as finish_each calls it. */
static int
finish_confirmed(bh_request *req, const char *id)
{
	return resv_finish(req, id, 0);
}

/* Refunds the stray payment of attempt n of reservation id (recorded in
 * stray_payments).  Returns 0 when it is done (or refused for good), -1
 * when it is to try again. */
static int
refund_stray(bh_request *req, const char *id, const char *attempt,
    const char *payment_id, struct tally *t)
{
	const char *params[3] = { id, attempt }, *refund_id, *why;

	switch (upstream_refund(req, payment_id, 0, "a charge the reservation "
	    "did not take", bh_psprintf(req->pool,
	    "reservation-%s-stray-%s", id, attempt), &refund_id, &why)) {
	case REFUND_DONE:
		params[2] = refund_id;
		if (bh_db_query(req, "UPDATE stray_payments SET"
		    " refund_status = 'succeeded', refund_id = $3,"
		    " updated_at = now() WHERE reservation_id = $1"
		    " AND attempt = $2::integer", 3, params) == NULL)
			return -1;
		bh_log(BH_LOG_WARN, "reservation %s: stray payment %s of "
		    "attempt %s refunded", id, payment_id, attempt);
		t->strays_refunded++;
		return 0;
	case REFUND_REFUSED:
		bh_log(BH_LOG_ERROR, "reservation %s: payments refuses the "
		    "refund of stray payment %s for good (%s); marked failed",
		    id, payment_id, why);
		if (bh_db_query(req, "UPDATE stray_payments SET"
		    " refund_status = 'failed', updated_at = now()"
		    " WHERE reservation_id = $1 AND attempt = $2::integer",
		    2, params) == NULL)
			return -1;
		return 0;
	default:
		return -1;
	}
}

/* Asks payments about attempts strays_checked+1..payment_attempts of
 * reservation id (those not known to have charged nothing) and records
 * each succeeded payment that is not the reservation's own.  Returns 0
 * when every one was settled, -1 when one is to ask again. */
static int
find_strays(bh_request *req, const char *id, struct tally *t)
{
	struct payment_result pr;
	const char *params[6] = { id };
	PGresult *row, *attempts;
	int i, n;

	row = bh_db_query(req, "SELECT payment_attempts, payment_id"
	    " FROM reservations WHERE id = $1", 1, params);
	if (row == NULL || PQntuples(row) != 1)
		return -1;
	attempts = bh_db_query(req, "SELECT n::text FROM reservations,"
	    " generate_series(strays_checked + 1, payment_attempts) AS n"
	    " WHERE id = $1 AND n <> ALL (uncharged_attempts) ORDER BY n",
	    1, params);
	if (attempts == NULL)
		return -1;
	n = PQntuples(attempts);
	for (i = 0; i < n; i++) {
		params[1] = PQgetvalue(attempts, i, 0);
		upstream_payment_find(req, bh_psprintf(req->pool,
		    "reservation-%s-%s", id, params[1]),
		    (int)resv_cfg.payments_timeout_ms, &pr);
		if (pr.outcome == PAY_NOT_FOUND || pr.outcome == PAY_FAILED ||
		    pr.outcome == PAY_UNAVAILABLE)
			continue;
		if (pr.outcome != PAY_SUCCEEDED || pr.id == NULL ||
		    !bh_uuid_valid(pr.id))
			return -1;  /* pending or not known: later */
		if (!PQgetisnull(row, 0, 1) &&
		    strcmp(PQgetvalue(row, 0, 1), pr.id) == 0)
			continue;  /* the payment of the reservation */
		params[2] = pr.id;
		params[3] = bh_psprintf(req->pool, "%lld",
		    (long long)pr.amount);
		params[4] = pr.currency;
		/* its own payment only ever comes from its last attempt
		 * while payment_pending, which is never swept */
		if (bh_db_query(req, "INSERT INTO stray_payments"
		    " (reservation_id, attempt, payment_id, amount, currency)"
		    " SELECT $1, $2::integer, $3::uuid, nullif($4::bigint, 0),"
		    " $5 FROM reservations WHERE id = $1"
		    " AND payment_id IS DISTINCT FROM $3::uuid"
		    " ON CONFLICT DO NOTHING", 5, params) == NULL)
			return -1;
		bh_log(BH_LOG_WARN, "reservation %s: attempt %s charged (payment "
		    "%s) but the reservation did not take it: a stray, to "
		    "refund", id, params[1], pr.id);
		t->strays++;
	}
	params[1] = PQgetvalue(row, 0, 0);
	if (bh_db_query(req, "UPDATE reservations SET strays_checked ="
	    " greatest(strays_checked, $2::integer) WHERE id = $1", 2,
	    params) == NULL)
		return -1;
	return 0;
}

static void
sweep_strays(bh_request *req, struct tally *t)
{
	PGresult *res;
	const char *id;
	int i, n;
	bool undone;

	/* reservations whose attempts are all long over: the last began
	 * twice the settling time ago, and the row has not changed for
	 * the settling time (an attempt settled as unheard-of just now may
	 * still arrive at payments) */
	ctx_reset(req);
	res = ids_of(req, bh_psprintf(req->pool, "SELECT id FROM reservations"
	    " WHERE payment_attempts > strays_checked"
	    " AND status <> 'payment_pending'"
	    " AND payment_started_at < now() - make_interval(secs => %lld)"
	    " AND updated_at < now() - make_interval(secs => %lld)"
	    DUE DUE_ORDER ", payment_started_at LIMIT " BATCH,
	    2 * resv_cfg.payment_settle_seconds,
	    resv_cfg.payment_settle_seconds), t);
	if (res == NULL)
		return;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		id = PQgetvalue(res, i, 0);
		undone = find_strays(req, id, t) != 0;
		if (undone)
			t->strays_undone++;
		backoff(req, id, undone);
	}

	/* and the strays found, this round or before, to refund */
	ctx_reset(req);
	res = ids_of(req, "SELECT reservation_id, attempt::text, payment_id"
	    " FROM stray_payments WHERE refund_status = 'pending'"
	    " ORDER BY updated_at LIMIT " BATCH, t);
	if (res == NULL)
		return;
	n = PQntuples(res);
	for (i = 0; i < n; i++)
		if (refund_stray(req, PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), t) != 0)
			t->strays_undone++;
}

static void
expire_holds(bh_request *req, struct tally *t)
{
	PGresult *res;

	ctx_reset(req);
	res = ids_of(req, "UPDATE reservations SET status = 'expired',"
	    " updated_at = now() WHERE status = 'held'"
	    " AND hold_expires_at <= now()", t);
	if (res != NULL)
		t->expired = strtoll(PQcmdTuples(res), NULL, 10);
}

/* A round for bh_repeat_command: every step, then one summary line. */
static int
reconcile_round(bh_pool *pool, bool repeating, void *arg)
{
	bh_request req = { .pool = pool };
	struct tally t;

	(void)repeating;
	(void)arg;
	memset(&t, 0, sizeof(t));
	settle_payments(&req, &t);
	finish_each(&req, &t, "SELECT id FROM reservations WHERE status ="
	    " 'confirmed' AND (receipt IS NULL OR recap_sent_at IS NULL"
	    " OR (hotel_email IS NOT NULL AND hotel_notice_sent_at IS NULL))"
	    DUE DUE_ORDER ", updated_at LIMIT " BATCH, finish_confirmed,
	    &t.finished, &t.finish_undone);
	finish_each(&req, &t, "SELECT id FROM reservations WHERE status ="
	    " 'cancelled' AND (refund_status = 'pending'"
	    " OR cancel_notice_sent_at IS NULL)"
	    DUE DUE_ORDER ", updated_at LIMIT " BATCH, resv_finish_cancel,
	    &t.cancels, &t.cancel_undone);
	sweep_strays(&req, &t);
	expire_holds(&req, &t);
	printf("reconcile: %d payments settled (%d confirmed, %d released),"
	    " %d still pending; %d confirmations finished, %d unfinished;"
	    " %d cancellations finished, %d unfinished; %d stray payments"
	    " found, %d refunded, %d unfinished; %lld holds expired%s\n",
	    t.settled, t.confirmed, t.released, t.pending, t.finished,
	    t.finish_undone, t.cancels, t.cancel_undone, t.strays,
	    t.strays_refunded, t.strays_undone, t.expired,
	    t.failed ? "; the database could not be reached" : "");
	fflush(stdout);
	return t.failed ? 1 : 0;
}

int
resv_reconcile_command(int argc, char **argv)
{
	return bh_repeat_command("bellhop-reservations reconcile "
	    "[--every SECONDS]", argc, argv, reconcile_round, NULL);
}
