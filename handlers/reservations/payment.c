/*
 * payment.c - POST /reservations/{id}/payment (pay and confirm), GET
 * /reservations/{id}/receipt, and what follows a confirmation.
 *
 * Paying never charges twice.  Attempt n of a reservation is one call to
 * payments with Idempotency-Key reservation-<id>-<n>, so retrying the call
 * can only find the same payment.  The attempt is recorded and the
 * reservation moved to payment_pending (it no longer expires) in a
 * transaction committed before the call; the outcome is applied in
 * another, guarded by the attempt number, so that two requests (or a
 * request and reconcile) settling one attempt change the reservation
 * once.  A reservation found payment_pending is settled first by asking
 * payments what became of its last attempt, never by charging again:
 * only an attempt payments says failed, or has never heard of once the
 * call must have ended (BH_PAYMENT_SETTLE_SECONDS), makes way for a new
 * one.  An attempt another request may still be making is a 409 to the
 * second request, never a 202: a 202 is this request's own unknown
 * outcome, or an old attempt's still pending at the bank.  At most
 * BH_PAY_ATTEMPTS attempts that may have charged are made per
 * reservation (those payments refused before the bank are not counted).
 *
 * The whole request ends within PAY_BUDGET_MS, before the front ends
 * give up (30 s): the lookup of an earlier attempt has a short budget,
 * the charge what is left (at most BH_PAYMENTS_TIMEOUT), and after a
 * slow charge the receipt and the mails are left to reconcile.
 *
 * After a confirmation (resv_finish, also from reconcile): the receipt is
 * rendered by reports and stored once, then the recap (receipt attached)
 * goes to the guest and the notice to the hotel through notifications,
 * each with an idempotency key made of the reservation, and each marked
 * done in the database in a transaction that holds the row's lock while
 * it is sent, so that a cancellation is mailed after it or makes it
 * never go.  Their bodies are made of stored data only, so a retry sends
 * the same bytes and notifications takes it as the same mail.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "reservations.h"

static const bh_param card_members[] = {
	{ "number", BH_BODY, BH_STRING, true, 12, 19, NULL, NULL, NULL },
	{ "exp_month", BH_BODY, BH_INT, true, 1, 12, NULL, NULL, NULL },
	{ "exp_year", BH_BODY, BH_INT, true, 2000, 2100, NULL, NULL, NULL },
	{ "cvc", BH_BODY, BH_STRING, true, 3, 4, NULL, NULL, NULL },
	{ "holder", BH_BODY, BH_STRING, true, 1, 200, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

/* The whole payment request's time (the front ends wait 30 s). */
#define PAY_BUDGET_MS 25000
/* Asking payments what became of an earlier attempt, before a new one. */
#define LOOKUP_TIMEOUT_MS 5000
/* The receipt and the mails are made in the request only with this much
 * of its budget left; else reconcile makes them. */
#define FINISH_MIN_MS 5000
/* A mail sent while the row is locked (a cancellation waits for it). */
#define LOCKED_MAIL_TIMEOUT_MS 3000

const bh_param resv_pay_params[] = {
	{ "card", BH_BODY, BH_OBJECT, false, 0, 0, NULL, NULL, card_members },
	{ "bank_token", BH_BODY, BH_STRING, false, 1, 200, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

/* ------------------------------------------------------ the outcome */

int
resv_apply_payment(bh_request *req, const char *id, long long attempt,
    const struct payment_result *pr)
{
	const char *params[7];
	PGresult *res;

	params[0] = id;
	params[1] = bh_psprintf(req->pool, "%lld", attempt);
	switch (pr->outcome) {
	case PAY_SUCCEEDED:
		if (pr->id == NULL || !bh_uuid_valid(pr->id)) {
			bh_log(BH_LOG_ERROR, "payments gave reservation %s a "
			    "payment without a uuid; left pending", id);
			return 0;
		}
		params[2] = pr->id;
		params[3] = pr->brand;
		params[4] = pr->last4;
		params[5] = pr->bank_reference;
		/* paid when payments made it, not when we learnt of it */
		params[6] = pr->created_at;
		res = bh_db_query(req, "UPDATE reservations SET"
		    " status = 'confirmed', payment_id = $3,"
		    " payment_brand = $4, payment_last4 = $5,"
		    " payment_reference = $6,"
		    " paid_at = coalesce($7::timestamptz, now()),"
		    " confirmed_at = now(), updated_at = now()"
		    " WHERE id = $1 AND status = 'payment_pending'"
		    " AND payment_attempts = $2::integer", 7, params);
		break;
	case PAY_DECLINED:
	case PAY_FAILED:
	case PAY_NOT_FOUND:
		/* nothing charged: the hold again, with its expiry */
		res = bh_db_query(req, "UPDATE reservations SET"
		    " status = CASE WHEN hold_expires_at > now() THEN 'held'"
		    " ELSE 'expired' END, updated_at = now()"
		    " WHERE id = $1 AND status = 'payment_pending'"
		    " AND payment_attempts = $2::integer", 2, params);
		break;
	case PAY_REFUSED:
	case PAY_UNAVAILABLE:
		/* refused before the bank: not counted as an attempt, and
		 * not one the stray sweep need ask about */
		res = bh_db_query(req, "UPDATE reservations SET"
		    " status = CASE WHEN hold_expires_at > now() THEN 'held'"
		    " ELSE 'expired' END, updated_at = now(),"
		    " uncharged_attempts = array_append(uncharged_attempts,"
		    " $2::integer)"
		    " WHERE id = $1 AND status = 'payment_pending'"
		    " AND payment_attempts = $2::integer", 2, params);
		break;
	default:
		return 0;
	}
	if (res == NULL)
		return -1;
	if (strcmp(PQcmdTuples(res), "1") != 0)
		return 0;
	bh_log(BH_LOG_INFO, "reservation %s: payment attempt %lld %s", id,
	    attempt, pr->outcome == PAY_SUCCEEDED ? "succeeded, confirmed" :
	    "did not charge, back on hold");
	return 1;
}

/* ------------------------------------------------- after confirmation */

/* Columns resv_finish reads; the last, the receipt in base64, only where
 * the recap attaches it (FINISH_COLUMNS_RECAP): elsewhere a NULL, which
 * spares encoding a stored PDF for nothing. */
#define FINISH_COLUMNS_BASE \
	"status, receipt IS NULL, recap_sent_at IS NULL," \
	" hotel_email IS NOT NULL AND hotel_notice_sent_at IS NULL," \
	" guest_name, guest_email, hotel_name, hotel_address, hotel_city," \
	" hotel_country, hotel_email, lower(stay)::text, upper(stay)::text," \
	" upper(stay) - lower(stay), room_type_name, guests, currency," \
	" nightly_rate, total, payment_brand, payment_last4," \
	" to_char(paid_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')," \
	" payment_reference," \
	" to_char(confirmed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
#define FINISH_COLUMNS FINISH_COLUMNS_BASE " NULL::text"
#define FINISH_COLUMNS_RECAP FINISH_COLUMNS_BASE \
	" translate(encode(receipt, 'base64'), E'\\n', '')"
enum { FC_STATUS, FC_NO_RECEIPT, FC_NO_RECAP, FC_NO_NOTICE, FC_GUEST_NAME,
	FC_GUEST_EMAIL, FC_HOTEL_NAME, FC_HOTEL_ADDRESS, FC_HOTEL_CITY,
	FC_HOTEL_COUNTRY, FC_HOTEL_EMAIL, FC_CHECKIN, FC_CHECKOUT, FC_NIGHTS,
	FC_TYPE, FC_GUESTS, FC_CURRENCY, FC_RATE, FC_TOTAL, FC_BRAND, FC_LAST4,
	FC_PAID_AT, FC_REFERENCE, FC_CONFIRMED_AT, FC_RECEIPT_B64 };

static const char *
val(const PGresult *res, int col)
{
	return PQgetvalue(res, 0, col);
}

static long long
val_int(const PGresult *res, int col)
{
	return strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

static bool
val_true(const PGresult *res, int col)
{
	return strcmp(PQgetvalue(res, 0, col), "t") == 0;
}

static json_object *
jstr(const PGresult *res, int col)
{
	return json_object_new_string(PQgetvalue(res, 0, col));
}

/* The receipt template's data (docs/reports.md), from the stored row. */
static json_object *
receipt_data(bh_request *req, const char *id, const PGresult *r)
{
	json_object *data, *sub, *lines, *line;
	int64_t day, last;
	const char *date;

	data = resv_json_own(req, json_object_new_object());
	resv_add(data, "number", json_object_new_string(id));
	resv_add(data, "issued_at", jstr(r, FC_CONFIRMED_AT));
	sub = json_object_new_object();
	resv_add(sub, "name", jstr(r, FC_GUEST_NAME));
	resv_add(sub, "email", jstr(r, FC_GUEST_EMAIL));
	resv_add(data, "guest", sub);
	sub = json_object_new_object();
	resv_add(sub, "name", jstr(r, FC_HOTEL_NAME));
	resv_add(sub, "address", jstr(r, FC_HOTEL_ADDRESS));
	resv_add(sub, "city", jstr(r, FC_HOTEL_CITY));
	resv_add(sub, "country", jstr(r, FC_HOTEL_COUNTRY));
	resv_add(data, "hotel", sub);
	sub = json_object_new_object();
	resv_add(sub, "checkin", jstr(r, FC_CHECKIN));
	resv_add(sub, "checkout", jstr(r, FC_CHECKOUT));
	resv_add(sub, "nights", json_object_new_int64(val_int(r, FC_NIGHTS)));
	resv_add(sub, "room_type", jstr(r, FC_TYPE));
	resv_add(sub, "guests", json_object_new_int64(val_int(r, FC_GUESTS)));
	resv_add(data, "stay", sub);
	lines = json_object_new_array();
	if (bh_date_parse(val(r, FC_CHECKIN), strlen(val(r, FC_CHECKIN)),
	    &day) && bh_date_parse(val(r, FC_CHECKOUT),
	    strlen(val(r, FC_CHECKOUT)), &last)) {
		for (; day < last; day++) {
			date = bh_date_format(req->pool, day);
			line = json_object_new_object();
			resv_add(line, "date", json_object_new_string(date));
			resv_add(line, "description", json_object_new_string(
			    bh_psprintf(req->pool, "%s, night of %s",
			    val(r, FC_TYPE), date)));
			resv_add(line, "amount",
			    json_object_new_int64(val_int(r, FC_RATE)));
			json_object_array_add(lines, line);
		}
	}
	resv_add(data, "lines", lines);
	resv_add(data, "currency", jstr(r, FC_CURRENCY));
	resv_add(data, "total", json_object_new_int64(val_int(r, FC_TOTAL)));
	sub = json_object_new_object();
	resv_add(sub, "brand", jstr(r, FC_BRAND));
	resv_add(sub, "last4", jstr(r, FC_LAST4));
	resv_add(sub, "paid_at", jstr(r, FC_PAID_AT));
	resv_add(sub, "reference", jstr(r, FC_REFERENCE));
	resv_add(data, "payment", sub);
	return data;
}

/* Renders the receipt and stores it unless one is stored already.
 * Returns 0 when one is stored, -1 when not (logged). */
static int
store_receipt(bh_request *req, const char *id, const PGresult *r,
    int timeout_ms)
{
	const char *pdf, *params[2];
	size_t len;

	pdf = upstream_render(req, "receipt", receipt_data(req, id, r),
	    timeout_ms, &len);
	if (pdf == NULL)
		return -1;
	params[0] = id;
	params[1] = bh_b64_encode(req->pool, pdf, len);
	/* the first rendering stays: the receipt never changes */
	if (bh_db_query(req, "UPDATE reservations SET receipt ="
	    " decode($2, 'base64'), updated_at = now()"
	    " WHERE id = $1 AND receipt IS NULL", 2, params) == NULL)
		return -1;
	return 0;
}

static const char *
money(bh_request *req, const PGresult *r, int col)
{
	const char *s = bh_money_format(req->pool, val_int(r, col),
	    val(r, FC_CURRENCY));

	return s != NULL ? s : bh_psprintf(req->pool, "%s %s", val(r, col),
	    val(r, FC_CURRENCY));
}

static json_object *
recap_mail(bh_request *req, const char *id, const PGresult *r)
{
	json_object *mail, *atts, *att;
	bh_buf text;

	bh_buf_init(&text, req->pool);
	bh_buf_printf(&text, "Dear %s,\n\n"
	    "your reservation at %s is confirmed.\n\n"
	    "Reservation: %s\n"
	    "Hotel: %s, %s, %s, %s\n"
	    "Room: %s for %s guest(s)\n"
	    "Check-in: %s\nCheck-out: %s (%s night(s))\n"
	    "Total paid: %s (%s ending in %s)\n\n"
	    "Your receipt is attached.\n\nbellhop\n",
	    val(r, FC_GUEST_NAME), val(r, FC_HOTEL_NAME), id,
	    val(r, FC_HOTEL_NAME), val(r, FC_HOTEL_ADDRESS),
	    val(r, FC_HOTEL_CITY), val(r, FC_HOTEL_COUNTRY), val(r, FC_TYPE),
	    val(r, FC_GUESTS), val(r, FC_CHECKIN), val(r, FC_CHECKOUT),
	    val(r, FC_NIGHTS), money(req, r, FC_TOTAL), val(r, FC_BRAND),
	    val(r, FC_LAST4));
	mail = resv_json_own(req, json_object_new_object());
	resv_add(mail, "to", jstr(r, FC_GUEST_EMAIL));
	resv_add(mail, "subject", json_object_new_string(bh_psprintf(
	    req->pool, "Your reservation at %s is confirmed",
	    val(r, FC_HOTEL_NAME))));
	resv_add(mail, "text", json_object_new_string(text.data));
	atts = json_object_new_array();
	att = json_object_new_object();
	resv_add(att, "filename", json_object_new_string(bh_psprintf(
	    req->pool, "receipt-%s.pdf", id)));
	resv_add(att, "content_type", json_object_new_string(
	    "application/pdf"));
	resv_add(att, "content", jstr(r, FC_RECEIPT_B64));
	json_object_array_add(atts, att);
	resv_add(mail, "attachments", atts);
	return mail;
}

static json_object *
hotel_mail(bh_request *req, const char *id, const PGresult *r)
{
	json_object *mail;
	bh_buf text;

	bh_buf_init(&text, req->pool);
	bh_buf_printf(&text, "A new reservation for %s:\n\n"
	    "Reservation: %s\n"
	    "Guest: %s <%s>\n"
	    "Room: %s for %s guest(s)\n"
	    "Check-in: %s\nCheck-out: %s (%s night(s))\n"
	    "Paid: %s\n\nbellhop\n",
	    val(r, FC_HOTEL_NAME), id, val(r, FC_GUEST_NAME),
	    val(r, FC_GUEST_EMAIL), val(r, FC_TYPE), val(r, FC_GUESTS),
	    val(r, FC_CHECKIN), val(r, FC_CHECKOUT), val(r, FC_NIGHTS),
	    money(req, r, FC_TOTAL));
	mail = resv_json_own(req, json_object_new_object());
	resv_add(mail, "to", jstr(r, FC_HOTEL_EMAIL));
	resv_add(mail, "subject", json_object_new_string(bh_psprintf(
	    req->pool, "New reservation %s: %s to %s", id,
	    val(r, FC_CHECKIN), val(r, FC_CHECKOUT))));
	resv_add(mail, "text", json_object_new_string(text.data));
	return mail;
}

enum mail_kind { MAIL_RECAP, MAIL_HOTEL };

/* One mail of a confirmation, sent and marked in one transaction. */
struct mail_job {
	const char *id;
	enum mail_kind kind;
	int timeout_ms;
	bool failed;            /* notifications did not take it */
};

static int
mail_tx(bh_request *req, void *arg)
{
	struct mail_job *m = arg;
	const char *params[1] = { m->id };
	json_object *mail;
	PGresult *r;
	bool recap = m->kind == MAIL_RECAP;

	m->failed = false;
	/* The row's lock, held while the mail is handed over: a cancel
	 * waits until it is sent and marked, or this finds the stay
	 * cancelled and sends nothing. */
	r = bh_db_query(req, recap ? "SELECT " FINISH_COLUMNS_RECAP
	    " FROM reservations WHERE id = $1 AND status = 'confirmed'"
	    " AND recap_sent_at IS NULL AND receipt IS NOT NULL FOR UPDATE" :
	    "SELECT " FINISH_COLUMNS " FROM reservations WHERE id = $1"
	    " AND status = 'confirmed' AND hotel_email IS NOT NULL"
	    " AND hotel_notice_sent_at IS NULL FOR UPDATE", 1, params);
	if (r == NULL)
		return -1;
	if (PQntuples(r) == 0)
		return 0;  /* sent meanwhile, or no longer confirmed */
	mail = recap ? recap_mail(req, m->id, r) : hotel_mail(req, m->id, r);
	if (upstream_email(req, bh_psprintf(req->pool, "reservation-%s-%s",
	    m->id, recap ? "recap" : "hotel"), mail, m->timeout_ms) == -1) {
		m->failed = true;
		return 0;  /* nothing changed: commit nothing */
	}
	if (bh_db_query(req, recap ? "UPDATE reservations SET recap_sent_at ="
	    " now() WHERE id = $1" : "UPDATE reservations SET"
	    " hotel_notice_sent_at = now() WHERE id = $1", 1, params) == NULL)
		return -1;
	return 0;
}

/* Sends mail kind of reservation id unless it was sent or the stay is
 * no longer confirmed.  Returns 0, or -1 when it is still to send. */
static int
send_locked(bh_request *req, const char *id, enum mail_kind kind,
    int64_t deadline)
{
	struct mail_job m = { .id = id, .kind = kind };

	m.timeout_ms = resv_time_left(deadline, LOCKED_MAIL_TIMEOUT_MS);
	if (m.timeout_ms < 100)
		return -1;
	if (bh_db_tx(req, mail_tx, &m) == -1 || m.failed)
		return -1;
	return 0;
}

static PGresult *
finish_row(bh_request *req, const char *id)
{
	const char *params[1] = { id };
	PGresult *res;

	/* paid: confirmed, or cancelled since (a receipt all the same) */
	res = bh_db_query(req, "SELECT " FINISH_COLUMNS " FROM reservations"
	    " WHERE id = $1 AND payment_id IS NOT NULL", 1, params);
	if (res == NULL || PQntuples(res) != 1)
		return NULL;
	return res;
}

int
resv_store_receipt(bh_request *req, const char *id)
{
	PGresult *r;

	if ((r = finish_row(req, id)) == NULL || !val_true(r, FC_NO_RECEIPT))
		return 0;
	return store_receipt(req, id, r, 0);
}

int
resv_finish(bh_request *req, const char *id, int64_t deadline)
{
	PGresult *r;
	int undone = 0, left;
	bool receipt;

	if ((r = finish_row(req, id)) == NULL)
		return 0;
	receipt = !val_true(r, FC_NO_RECEIPT);
	if (!receipt) {
		left = resv_time_left(deadline, INT_MAX);
		if (left >= 100 && store_receipt(req, id, r,
		    deadline != 0 ? left : 0) == 0)
			receipt = true;
		else
			undone++;
	}
	/* the mails announce a stay: none once it is cancelled */
	if (strcmp(val(r, FC_STATUS), RESV_CONFIRMED) != 0)
		return undone;
	/* the recap carries the receipt: not before there is one */
	if (val_true(r, FC_NO_RECAP) && (!receipt ||
	    send_locked(req, id, MAIL_RECAP, deadline) == -1))
		undone++;
	/* the hotel's notice needs no receipt */
	if (val_true(r, FC_NO_NOTICE) &&
	    send_locked(req, id, MAIL_HOTEL, deadline) == -1)
		undone++;
	return undone;
}

/* ------------------------------------- POST /reservations/{id}/payment */

enum pay_step {
	STEP_ATTEMPT,   /* a new attempt is recorded: call payments */
	STEP_SETTLE,    /* the last attempt's outcome is to be found */
	STEP_CONFIRMED, /* nothing to pay */
	STEP_EXPIRED,   /* the hold ran out (just marked) */
	STEP_CLOSED,    /* cancelled or expired before */
	STEP_LIMIT,     /* BH_PAY_ATTEMPTS made already */
};

struct pay {
	const char *id, *guest;
	enum pay_step step;
	long long attempt;
	long long counted;      /* attempts that may have charged */
	bool recent;            /* the last attempt may still be in flight */
	const char *status;
	long long total;
	const char *currency, *guest_email, *hotel_name, *checkin, *checkout;
};

static int
pay_start_tx(bh_request *req, void *arg)
{
	struct pay *p = arg;
	const char *params[3] = { p->id, p->guest };
	PGresult *res;

	params[2] = bh_psprintf(req->pool, "%lld",
	    resv_cfg.payment_settle_seconds);
	res = bh_db_query(req, "SELECT status, hold_expires_at > now(),"
	    " payment_attempts, total, currency, guest_email, hotel_name,"
	    " lower(stay)::text, upper(stay)::text,"
	    " coalesce(payment_started_at > now() - make_interval(secs =>"
	    " $3::integer), false),"
	    " payment_attempts - cardinality(uncharged_attempts)"
	    " FROM reservations WHERE id = $1 AND guest_sub = $2 FOR UPDATE",
	    3, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "there is no such reservation");
	p->status = bh_pstrdup(req->pool, val(res, 0));
	p->attempt = val_int(res, 2);
	p->total = val_int(res, 3);
	p->currency = bh_pstrdup(req->pool, val(res, 4));
	p->guest_email = bh_pstrdup(req->pool, val(res, 5));
	p->hotel_name = bh_pstrdup(req->pool, val(res, 6));
	p->checkin = bh_pstrdup(req->pool, val(res, 7));
	p->checkout = bh_pstrdup(req->pool, val(res, 8));
	p->recent = val_true(res, 9);
	p->counted = val_int(res, 10);

	if (strcmp(p->status, RESV_CONFIRMED) == 0) {
		p->step = STEP_CONFIRMED;
	} else if (strcmp(p->status, RESV_PENDING) == 0) {
		p->step = STEP_SETTLE;
	} else if (strcmp(p->status, RESV_HELD) != 0) {
		p->step = STEP_CLOSED;
	} else if (!val_true(res, 1)) {
		p->step = STEP_EXPIRED;
		if (bh_db_query(req, "UPDATE reservations SET status ="
		    " 'expired', updated_at = now() WHERE id = $1", 1,
		    params) == NULL)
			return -1;
	} else if (p->counted >= resv_cfg.pay_attempts) {
		p->step = STEP_LIMIT;
	} else {
		p->step = STEP_ATTEMPT;
		res = bh_db_query(req, "UPDATE reservations SET"
		    " status = 'payment_pending',"
		    " payment_attempts = payment_attempts + 1,"
		    " payment_started_at = now(), updated_at = now()"
		    " WHERE id = $1 RETURNING payment_attempts", 1, params);
		if (res == NULL)
			return -1;
		p->attempt = val_int(res, 0);
	}
	return 0;
}

/* The body of the charge: the card goes through, never stored. */
static const char *
charge_body(bh_request *req, const struct pay *p)
{
	json_object *body, *card;

	body = resv_json_own(req, json_object_new_object());
	resv_add(body, "amount", json_object_new_int64(p->total));
	resv_add(body, "currency", json_object_new_string(p->currency));
	if (bh_arg_present(req, "card")) {
		card = json_object_new_object();
		resv_add(card, "number", json_object_new_string(
		    bh_arg_str(req, "card.number")));
		resv_add(card, "exp_month", json_object_new_int64(
		    bh_arg_int(req, "card.exp_month")));
		resv_add(card, "exp_year", json_object_new_int64(
		    bh_arg_int(req, "card.exp_year")));
		resv_add(card, "cvc", json_object_new_string(
		    bh_arg_str(req, "card.cvc")));
		resv_add(card, "holder", json_object_new_string(
		    bh_arg_str(req, "card.holder")));
		resv_add(body, "card", card);
	} else {
		resv_add(body, "bank_token", json_object_new_string(
		    bh_arg_str(req, "bank_token")));
	}
	resv_add(body, "reference", json_object_new_string(bh_psprintf(
	    req->pool, "reservation-%s", p->id)));
	resv_add(body, "description", json_object_new_string(bh_psprintf(
	    req->pool, "%s, %s to %s", p->hotel_name, p->checkin,
	    p->checkout)));
	resv_add(body, "receipt_email", json_object_new_string(
	    p->guest_email));
	return resv_json_text(req->pool, body);
}

static int
in_progress(bh_request *req)
{
	return bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
	    "a payment of this reservation is in progress; look at the "
	    "reservation in a moment");
}

/* Answers with the reservation as it is now: 200 confirmed, 202 when
 * attempt p->attempt's outcome is still unknown; a newer attempt pending
 * is another request's, in flight: 409; else 409 with the status. */
static int
answer_current(bh_request *req, const struct pay *p)
{
	PGresult *res;
	const char *status;

	req->status = 0;
	if ((res = resv_fetch(req, p->id, p->guest)) == NULL)
		return req->status;
	status = PQgetvalue(res, 0, RC_STATUS);
	if (strcmp(status, RESV_CONFIRMED) == 0)
		return resv_send(req, 200, res);
	if (strcmp(status, RESV_PENDING) == 0) {
		if (strtoll(PQgetvalue(res, 0, RC_ATTEMPTS), NULL, 10) ==
		    p->attempt)
			return resv_send(req, 202, res);
		return in_progress(req);
	}
	return bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
	    "the reservation is %s", status);
}

/* The receipt and the mails, in the request only when its budget
 * allows; reconcile does them otherwise. */
static void
finish_within(bh_request *req, const char *id, int64_t deadline)
{
	if (resv_time_left(deadline, INT_MAX) >= FINISH_MIN_MS)
		resv_finish(req, id, deadline);
	else
		bh_log(BH_LOG_INFO, "reservation %s: confirmed late in the "
		    "request; the receipt and mails are left to reconcile", id);
}

/* What became of the hold after an attempt that charged nothing, for a
 * problem's detail (owned by the request). */
static const char *
hold_note(bh_request *req, const struct pay *p)
{
	const char *params[1] = { p->id };
	PGresult *res;

	res = bh_db_query(req, "SELECT status, to_char(hold_expires_at AT"
	    " TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	    " FROM reservations WHERE id = $1", 1, params);
	req->status = 0;
	if (res == NULL || PQntuples(res) != 1)
		return "the reservation is as it was";
	if (strcmp(val(res, 0), RESV_HELD) == 0)
		return bh_psprintf(req->pool, "the room stays held until %s",
		    val(res, 1));
	if (strcmp(val(res, 0), RESV_EXPIRED) == 0)
		return "the hold has expired meanwhile: hold the room again";
	return bh_psprintf(req->pool, "the reservation is %s", val(res, 0));
}

static int
declined(bh_request *req, const struct pay *p, const struct payment_result *pr)
{
	json_object *extra = resv_json_own(req, json_object_new_object());
	const char *code = pr->decline_code != NULL ? pr->decline_code :
	    "card_declined";
	const char *note = hold_note(req, p);

	resv_add(extra, "reservation_id", json_object_new_string(p->id));
	resv_add(extra, "payment_id", pr->id != NULL ?
	    json_object_new_string(pr->id) : NULL);
	resv_add(extra, "decline_code", json_object_new_string(code));
	return bh_problem_ext(req, 402, BH_PROBLEM_PAYMENT_DECLINED, NULL,
	    extra, "the card was declined (%s); %s", code, note);
}

/* A 503 for an attempt that charged nothing. */
static int
unavailable(bh_request *req, const struct pay *p, const char *what)
{
	const char *note = hold_note(req, p);

	bh_add_header(req, "Retry-After", bh_psprintf(req->pool, "%d",
	    bh_cfg.retry_after));
	return bh_problem(req, 503, BH_PROBLEM_UPSTREAM, NULL,
	    "%s; nothing was charged and %s", what, note);
}

/* A 400 of payments about the card, as ours (its param and detail). */
static int
refused(bh_request *req, const struct pay *p, const struct payment_result *pr)
{
	json_object *v;
	const char *param = NULL, *detail = "the payment details were refused";

	if (pr->status != 400)
		return unavailable(req, p, "payments cannot be taken now");
	if (pr->problem != NULL) {
		if (json_object_object_get_ex(pr->problem, "param", &v) &&
		    json_object_is_type(v, json_type_string))
			param = json_object_get_string(v);
		if (json_object_object_get_ex(pr->problem, "detail", &v) &&
		    json_object_is_type(v, json_type_string))
			detail = json_object_get_string(v);
	}
	return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, param, "%s",
	    detail);
}

int
resv_pay(bh_request *req)
{
	struct pay p;
	struct payment_result pr;
	const char *key, *body = NULL;
	int64_t deadline = resv_now_ms() + PAY_BUDGET_MS;
	int round, timeout;

	memset(&p, 0, sizeof(p));
	if ((p.guest = resv_guest(req)) == NULL ||
	    (p.id = resv_path_id(req)) == NULL)
		return req->status;
	if (bh_arg_present(req, "card") == bh_arg_present(req, "bank_token"))
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "card", "give either card or bank_token");
	if (bh_arg_present(req, "card") &&
	    strspn(bh_arg_str(req, "card.number"), "0123456789") !=
	    strlen(bh_arg_str(req, "card.number")))
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "card.number", "card.number must be digits only");

	/* at most: settle the last attempt, then make a new one */
	for (round = 0; round < 2; round++) {
		if (bh_db_tx(req, pay_start_tx, &p) == -1)
			return req->status;
		key = bh_psprintf(req->pool, "reservation-%s-%lld", p.id,
		    p.attempt);
		switch (p.step) {
		case STEP_CONFIRMED:
			finish_within(req, p.id, deadline);
			return answer_current(req, &p);
		case STEP_EXPIRED:
			return bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
			    "the hold has expired; hold the room again");
		case STEP_CLOSED:
			return bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
			    "the reservation is %s", p.status);
		case STEP_LIMIT:
			return bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
			    "this reservation has had %lld payment attempts, "
			    "the most allowed; cancel it and hold the room "
			    "again to pay with another card", p.counted);
		case STEP_SETTLE:
			timeout = resv_time_left(deadline,
			    resv_cfg.payments_timeout_ms < LOOKUP_TIMEOUT_MS ?
			    (int)resv_cfg.payments_timeout_ms :
			    LOOKUP_TIMEOUT_MS);
			upstream_payment_find(req, key, timeout, &pr);
			/* a young attempt not settled is another request's,
			 * still under way */
			if (p.recent && (pr.outcome == PAY_NOT_FOUND ||
			    pr.outcome == PAY_PENDING ||
			    pr.outcome == PAY_UNKNOWN))
				return in_progress(req);
			if (resv_apply_payment(req, p.id, p.attempt, &pr) == -1)
				return req->status;
			if (pr.outcome == PAY_SUCCEEDED) {
				finish_within(req, p.id, deadline);
				return answer_current(req, &p);
			}
			if (pr.outcome == PAY_PENDING ||
			    pr.outcome == PAY_UNKNOWN)
				return answer_current(req, &p);
			continue;  /* nothing charged: a new attempt */
		case STEP_ATTEMPT:
			break;
		}

		if (body == NULL)
			body = charge_body(req, &p);
		timeout = resv_time_left(deadline,
		    (int)resv_cfg.payments_timeout_ms);
		upstream_charge(req, key, body, timeout > 1000 ? timeout :
		    1000, &pr);
		if (resv_apply_payment(req, p.id, p.attempt, &pr) == -1)
			return req->status;
		switch (pr.outcome) {
		case PAY_SUCCEEDED:
			finish_within(req, p.id, deadline);
			return answer_current(req, &p);
		case PAY_DECLINED:
		case PAY_FAILED:
			return declined(req, &p, &pr);
		case PAY_REFUSED:
			return refused(req, &p, &pr);
		case PAY_UNAVAILABLE:
			return unavailable(req, &p,
			    "the bank or payments is unavailable");
		case PAY_IN_PROGRESS:
			return in_progress(req);
		default:
			/* unknown: settled later, never charged again */
			return answer_current(req, &p);
		}
	}
	return in_progress(req);
}

/* ------------------------------------- GET /reservations/{id}/receipt */

int
resv_receipt(bh_request *req)
{
	const char *guest, *id, *params[2];
	unsigned char *bytes;
	size_t len;
	PGresult *res;
	int tries;

	if ((guest = resv_guest(req)) == NULL ||
	    (id = resv_path_id(req)) == NULL)
		return req->status;
	params[0] = id;
	params[1] = guest;
	for (tries = 0; tries < 2; tries++) {
		res = bh_db_query(req, "SELECT payment_id IS NOT NULL, receipt"
		    " FROM reservations WHERE id = $1 AND guest_sub = $2", 2,
		    params);
		if (res == NULL)
			return req->status;
		if (PQntuples(res) == 0)
			return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
			    "there is no such reservation");
		if (!val_true(res, 0))
			return bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
			    "there is no receipt before the reservation is "
			    "paid");
		if (!PQgetisnull(res, 0, 1))
			break;
		/* paid, but reports could not render it then: now (the
		 * mails are the payment's and reconcile's, never this) */
		resv_store_receipt(req, id);
	}
	if (PQgetisnull(res, 0, 1)) {
		bh_add_header(req, "Retry-After", bh_psprintf(req->pool, "%d",
		    bh_cfg.retry_after));
		return bh_problem(req, 503, BH_PROBLEM_UPSTREAM, NULL,
		    "the receipt cannot be made now; try again later");
	}
	bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 1),
	    &len);
	if (bytes == NULL)
		return bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL,
		    "the receipt could not be read");
	bh_add_header(req, "Content-Disposition", bh_psprintf(req->pool,
	    "inline; filename=\"receipt-%s.pdf\"", id));
	bh_send(req, 200, "application/pdf", bytes, len);
	PQfreemem(bytes);
	return req->status;
}
