/*
 * payments.h - the payments service: charges and refunds through the
 * bank, exactly once.
 *
 * charges.c   POST /payments, GET /payments?idempotency_key=,
 *             GET /payments/{id}; the idempotency machinery (advisory
 *             locks, stored answers) and the payment receipt email
 * refunds.c   POST /payments/{id}/refunds
 * bank.c      the bank's card API (t/fakes/bank.py in tests)
 * card.c      local card checks (Luhn, brand, expiry) and redaction
 * reconcile.c `bellhop-payments reconcile [--every SECONDS]`
 *
 * docs/payments.md says how exactly-once holds; sql/payments/ the tables.
 */
#ifndef PAYMENTS_H
#define PAYMENTS_H

#include <time.h>

#include "bellhop.h"

/* ------------------------------------------------------------- settings */

struct pay_config {
	const char *bank_url;     /* BH_BANK_URL, without a trailing slash */
	char *bank_secret;        /* BH_BANK_SECRET_KEY(_FILE) */
	long long bank_timeout_ms; /* BH_BANK_TIMEOUT: a bank call, retries in */
	long long max_amount;     /* BH_PAYMENT_MAX_AMOUNT, minor units */
};

extern struct pay_config pay_cfg;

/* ---------------------------------------------------------------- card.c */

enum card_brand {
	CARD_UNKNOWN,
	CARD_VISA,
	CARD_MASTERCARD,
	CARD_AMEX,
	CARD_DISCOVER,
	CARD_DINERS,
	CARD_JCB,
	CARD_UNIONPAY,
};

/* True if s is 12 to 19 ASCII digits and nothing else. */
bool card_number_digits(const char *s);
/* True if the digits of s pass the Luhn check (s: digits only). */
bool card_luhn_valid(const char *s);
/* The brand by the number's leading digits (s: digits only). */
enum card_brand card_brand_of(const char *s);
/* True if a number of len digits is one brand issues. */
bool card_length_valid(enum card_brand brand, size_t len);
/* "visa", "mastercard"...; "unknown".  Static. */
const char *card_brand_name(enum card_brand brand);
/* Digits of the card security code the brand uses: 4 (amex) or 3. */
int card_cvc_digits(enum card_brand brand);
/* True if s is exactly n ASCII digits. */
bool card_cvc_valid(const char *s, int n);
/* True if a card valid through the end of exp_month/exp_year has expired
 * at now (UTC). */
bool card_expired(int64_t exp_month, int64_t exp_year, time_t now);
/* text with every run of 12 or more digits (single spaces or dashes
 * between digits allowed) replaced by "[redacted]": what a message from
 * the bank may quote before it reaches a log.  Owned by pool. */
char *card_redact(bh_pool *pool, const char *text);

/* ---------------------------------------------------------------- bank.c */

/* What a call to the bank came to. */
enum bank_outcome {
	BANK_SUCCEEDED,   /* charged / refunded: result's id and card */
	BANK_DECLINED,    /* 402: a card error: decline_code, the charge's id */
	BANK_REFUSED,     /* 400: the bank did nothing with the request */
	BANK_UNAVAILABLE, /* nothing reached the bank or it did nothing
			   * (503, connection refused, circuit open, our
			   * key refused) */
	BANK_UNKNOWN,     /* it may have reached the bank; no usable answer */
	BANK_ABSENT,      /* a lookup found nothing under that key */
};

struct bank_result {
	enum bank_outcome outcome;
	long status;             /* HTTP status, 0 when none came */
	const char *id;          /* "ch_..." or "re_..." */
	const char *brand, *last4; /* charges */
	int64_t amount;
	const char *decline_code; /* BANK_DECLINED: [a-z_] only */
	const char *code, *param; /* BANK_REFUSED: the bank's, safe to log */
	const char *why;         /* one line for logs, never a card number */
};

/* A charge as sent to the bank: either a card or a token (source). */
struct bank_charge {
	const char *key;         /* Idempotency-Key: "pay_<payment id>" */
	int64_t amount;
	const char *currency;
	const char *number, *cvc, *holder; /* card; holder may be NULL */
	int64_t exp_month, exp_year;
	const char *source;      /* "tok_...", or NULL for a card */
	const char *reference, *description; /* description may be NULL */
};

/* POST /v1/charges within pay_cfg.bank_timeout_ms.  Everything in *r is
 * owned by pool. */
void bank_charge(bh_pool *pool, const struct bank_charge *c,
    struct bank_result *r);
/* The charge made with Idempotency-Key key: BANK_SUCCEEDED, BANK_DECLINED
 * (a failed charge), BANK_ABSENT, or BANK_UNKNOWN when the bank could not
 * be asked. */
void bank_find_charge(bh_pool *pool, const char *key, struct bank_result *r);
/* POST /v1/refunds of amount of charge charge_id (reason may be NULL). */
void bank_refund(bh_pool *pool, const char *key, const char *charge_id,
    int64_t amount, const char *reason, struct bank_result *r);
/* The refund of charge_id made with Idempotency-Key key, as
 * bank_find_charge. */
void bank_find_refund(bh_pool *pool, const char *charge_id, const char *key,
    struct bank_result *r);

/* -------------------------------------------------------------- charges.c */

extern const bh_param payment_post_params[];
extern const bh_param payment_find_params[];
extern const bh_param payment_get_params[];
int payment_post(bh_request *req);
int payment_find(bh_request *req);
int payment_get(bh_request *req);

/* Timestamps as the API writes them: UTC, ISO 8601 with a Z. */
#define PAY_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
/* A bank call made this long ago is over, whatever happened to it: the
 * bank timeout (ms, query parameter $n) and a second for the clocks and
 * the database. */
#define PAY_SETTLE_AFTER(n) "(make_interval(secs => $" #n "::bigint / " \
	"1000.0) + interval '1 second')"

/* Session advisory locks: one per (client, idempotency key) of a payment
 * or a refund, held by whoever calls the bank for it.  pay_lock_try
 * returns 1 when taken, 0 when someone holds it, -1 after setting a 503
 * (no database).  pay_unlock never touches req's response. */
int pay_lock_try(bh_request *req, const char *name);
void pay_unlock(bh_request *req, const char *name);
/* The lock name of a payment or refund ("payment" or "refund"). */
const char *pay_lock_name(bh_request *req, const char *kind,
    const char *client_id, const char *key);
/* A new random (v4) uuid.  Owned by pool. */
char *pay_uuid_new(bh_pool *pool);
/* Sends a stored answer again: status, type, body, Location when given,
 * and Idempotent-Replayed: true.  Returns the status. */
int pay_replay(bh_request *req, const char *status, const char *type,
    const char *body, const char *location);
/* The bank timeout as text (ms), a query parameter. */
const char *pay_timeout_text(bh_request *req);

/* Settles the pending payment id by asking the bank (the caller holds its
 * lock): found -> its outcome, absent -> failed, nothing charged.  Only
 * one whose charge may have reached the bank and whose last bank call is
 * over, looked at again here; and not if it was sent to the bank again
 * while the bank was asked.  Returns 1 settled, 0 still pending (not
 * due, sent again, or the bank could not be asked), -1 database trouble
 * (response set). */
int payment_settle(bh_request *req, const char *id);
/* Sends the payment receipt email of payment id if one is due.  Returns
 * 1 sent (or queued), 0 nothing due, -1 failed (retried later). */
int payment_send_receipt(bh_request *req, const char *id);

/* -------------------------------------------------------------- refunds.c */

extern const bh_param refund_post_params[];
int refund_post(bh_request *req);
/* The refunds of payment id as a JSON array (the caller owns it), or NULL
 * with the response set. */
json_object *refunds_of_payment(bh_request *req, const char *id);
/* Settles pending refund id by asking the bank (the caller holds its
 * lock): found -> succeeded; absent -> failed, its amount free again.
 * Under the same conditions as payment_settle.  Returns 1 settled, 0
 * still pending, -1 database trouble. */
int refund_settle(bh_request *req, const char *id);

/* ------------------------------------------------------------ reconcile.c */

int reconcile_command(int argc, char **argv);

#endif
