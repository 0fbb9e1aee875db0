/*
 * reconcile.c - `bellhop-payments reconcile [--every SECONDS]`: settles
 * what a lost answer or a dead process left pending, by asking the bank.
 *
 * One round:
 *  - each pending payment whose charge may have reached the bank and
 *    whose last bank call is over (older than BH_BANK_TIMEOUT and a
 *    second): the charge made with "pay_<id>" decides, found -> its
 *    outcome, absent -> failed, nothing charged;
 *  - each such pending refund: the bank's refund with "refund_<id>",
 *    found -> succeeded, absent -> failed, its amount free again;
 *  - each receipt email still due: sent again (notifications keeps one
 *    per Idempotency-Key, "payment-<id>-receipt").
 * Each payment or refund is settled under the advisory lock a request
 * for it would take, so a client retrying at the same moment and this
 * command never both call the bank; one that is locked is left for the
 * next round.  The list is made before the locks are taken: once it
 * holds one, payment_settle and refund_settle look at the row again (a
 * retry may have sent it to the bank since), and the settling
 * transaction checks that no call was made while the bank was asked.
 * A pending payment that never reached the bank (it was unavailable) is
 * left alone: its client may retry it with the same key.
 *
 * Prints one summary line per round (with --every, only for rounds that
 * found something).  Exit 0; 1 when the database could not be used.
 */
#include <stdio.h>
#include <string.h>

#include "payments.h"

/* At most this many of each kind per round: a backlog goes in turns. */
#define ROUND_BATCH "100"

struct round {
	int settled, pending;   /* payments */
	int rsettled, rpending; /* refunds */
	int sent, unsent;       /* receipt emails */
	bool db_failed;
};

/* Settles the payments (kind "payment") or refunds ("refund") found by
 * sql ($1 batch size, $2 the bank timeout): id, client_id, key. */
static void
settle_all(bh_request *req, const char *kind, const char *sql,
    int (*settle_one)(bh_request *, const char *), int *settled,
    int *pending, bool *db_failed)
{
	const char *params[] = { ROUND_BATCH, pay_timeout_text(req) };
	const char *lock;
	PGresult *res;
	int i, rc;

	if ((res = bh_db_query(req, sql, 2, params)) == NULL) {
		*db_failed = true;
		return;
	}
	for (i = 0; i < PQntuples(res) && !bh_repeat_stopping(); i++) {
		lock = pay_lock_name(req, kind, PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2));
		switch (pay_lock_try(req, lock)) {
		case -1:
			*db_failed = true;
			return;
		case 0:
			/* a request is at it right now */
			(*pending)++;
			continue;
		}
		rc = settle_one(req, PQgetvalue(res, i, 0));
		pay_unlock(req, lock);
		if (rc == -1) {
			*db_failed = true;
			return;
		}
		if (rc == 1)
			(*settled)++;
		else
			(*pending)++;
	}
}

static void
run_round(bh_pool *pool, struct round *r)
{
	bh_request req = { .pool = pool };
	const char *params[] = { ROUND_BATCH };
	PGresult *res;
	int i;

	memset(r, 0, sizeof(*r));
	settle_all(&req, "payment", "SELECT id, client_id, idempotency_key "
	    "FROM payments WHERE status = 'pending' AND maybe_charged AND "
	    "bank_called_at < now() - " PAY_SETTLE_AFTER(2) " "
	    "ORDER BY bank_called_at LIMIT $1::integer", payment_settle,
	    &r->settled, &r->pending, &r->db_failed);
	if (r->db_failed || bh_repeat_stopping())
		return;
	settle_all(&req, "refund", "SELECT id, client_id, idempotency_key "
	    "FROM refunds WHERE status = 'pending' AND maybe_sent AND "
	    "bank_called_at < now() - " PAY_SETTLE_AFTER(2) " "
	    "ORDER BY bank_called_at LIMIT $1::integer", refund_settle,
	    &r->rsettled, &r->rpending, &r->db_failed);
	if (r->db_failed || bh_repeat_stopping())
		return;

	res = bh_db_query(&req, "SELECT id FROM payments "
	    "WHERE receipt_state = 'due' AND status = 'succeeded' "
	    "ORDER BY updated_at LIMIT $1::integer", 1, params);
	if (res == NULL) {
		r->db_failed = true;
		return;
	}
	for (i = 0; i < PQntuples(res) && !bh_repeat_stopping(); i++)
		switch (payment_send_receipt(&req, PQgetvalue(res, i, 0))) {
		case 1:
			r->sent++;
			break;
		case -1:
			r->unsent++;
			break;
		}
}

static void
print_round(const struct round *r)
{
	printf("reconcile: payments %d settled, %d still pending; refunds %d "
	    "settled, %d still pending; receipt emails %d sent, %d not sent"
	    "%s\n", r->settled, r->pending, r->rsettled, r->rpending, r->sent,
	    r->unsent, r->db_failed ? "; the database could not be used" : "");
	fflush(stdout);
}

/* A round for bh_repeat_command: under --every, only a round that found
 * something is worth a line. */
static int
reconcile_round(bh_pool *pool, bool repeating, void *arg)
{
	struct round r;

	(void)arg;
	run_round(pool, &r);
	if (!repeating || r.db_failed || r.settled || r.pending ||
	    r.rsettled || r.rpending || r.sent || r.unsent)
		print_round(&r);
	return r.db_failed ? 1 : 0;
}

int
reconcile_command(int argc, char **argv)
{
	return bh_repeat_command("bellhop-payments reconcile [--every "
	    "SECONDS]", argc, argv, reconcile_round, NULL);
}
