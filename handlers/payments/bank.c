/*
 * bank.c - the bank's card API: charges, refunds, and finding them again
 * by idempotency key.  JSON in and out, "Authorization: Bearer <secret
 * key>", as the well-known payment providers (t/fakes/bank.py in tests).
 *
 * What matters is knowing, when no answer came, whether the request may
 * have reached the bank.  So a charge or refund is sent one attempt at a
 * time (bh_http tries a POST without an idempotency_key field once; the
 * Idempotency-Key goes as an extra header), and this file retries:
 * after a 503 (the bank says it did nothing) or a connection that could
 * not be made, the request never reached it; after a timeout, a dropped
 * connection or another 5xx it may have.  Every attempt carries the same
 * Idempotency-Key, so repeating one never charges twice: the bank answers
 * a repeat with the first answer.
 *
 * Card numbers and security codes go into the request body and nowhere
 * else: never into a log line, an error text or the database.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "payments.h"

/* Backoff before retry n (from 0): a random wait up to base * 2^n. */
#define BANK_BACKOFF_MS 100
/* Lookups list at most this many items (the bank's own maximum). */
#define BANK_LIST_LIMIT 100

static void
json_put(void *obj)
{
	json_object_put(obj);
}

/* The Authorization header line, made once per call. */
static const char *
auth_header(bh_pool *pool)
{
	return bh_psprintf(pool, "Authorization: Bearer %s",
	    pay_cfg.bank_secret);
}

/* A string member of obj, or NULL. */
static const char *
get_str(json_object *obj, const char *name)
{
	json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, name, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static json_object *
get_obj(json_object *obj, const char *name)
{
	json_object *v;

	if (obj == NULL || !json_object_object_get_ex(obj, name, &v) ||
	    !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}

/* True if s is 1-max characters of [A-Za-z0-9_]: how the bank's ids,
 * codes and brands look, and all we let through from its answers. */
static bool
token_like(const char *s, size_t max)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return i > 0 && i <= max;
}

static bool
last4_like(const char *s)
{
	return s != NULL && strlen(s) == 4 && strspn(s, "0123456789") == 4;
}

/* A param name from the bank ("card.number"): letters, digits, '_' and
 * '.', else NULL. */
static const char *
param_like(bh_pool *pool, const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) > 64)
		return NULL;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		    s[i] == '.'))
			return NULL;
	return i > 0 ? bh_pstrdup(pool, s) : NULL;
}

/* What the bank said in an error answer, for a log line: its message,
 * card numbers removed, on one line. */
static const char *
error_text(bh_pool *pool, json_object *error)
{
	const char *msg = get_str(error, "message");
	char *line;
	size_t i;

	if (msg == NULL)
		return "no message";
	line = card_redact(pool, msg);
	for (i = 0; line[i] != '\0'; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';
	if (i > 300)
		line[300] = '\0';
	return line;
}

/* A wait of up to BANK_BACKOFF_MS * 2^attempt, no longer than left_ms. */
static void
backoff(int attempt, long long left_ms)
{
	long long cap = (long long)BANK_BACKOFF_MS << (attempt < 8 ?
	    attempt : 8);
	long long ms = (long long)arc4random_uniform((unsigned)cap + 1);
	struct timespec ts;

	if (ms > left_ms)
		ms = left_ms;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/* True if bh_http's reason for no answer means the request was never
 * sent: the connection could not be made, or the circuit is open. */
static bool
never_sent(const char *error)
{
	return error != NULL && (strncmp(error, "circuit open", 12) == 0 ||
	    strstr(error, "Failed to connect") != NULL ||
	    strstr(error, "Couldn't connect") != NULL ||
	    strstr(error, "Could not resolve") != NULL ||
	    strstr(error, "Couldn't resolve") != NULL);
}

/* Milliseconds of a monotonic clock. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * POSTs body to path with Idempotency-Key key, attempt after attempt
 * while the answer says nothing happened (503, no connection), within
 * the bank timeout.  Returns 0 with *resp the final answer, or -1 with
 * *maybe_sent telling whether some attempt may have reached the bank.
 */
static int
post(bh_pool *pool, const char *path, const char *key, const char *body,
    bh_http_response *resp, bool *maybe_sent)
{
	const char *headers[] = { auth_header(pool),
	    bh_psprintf(pool, "Idempotency-Key: %s", key), NULL };
	bh_http_call call = {
		.upstream = "bank",
		.method = "POST",
		.url = bh_psprintf(pool, "%s%s", pay_cfg.bank_url, path),
		.body = body,
		.body_len = strlen(body),
		.headers = headers,
	};
	long long deadline = now_ms() + pay_cfg.bank_timeout_ms, left;
	int attempt, retries = bh_cfg.http_retries;

	*maybe_sent = false;
	for (attempt = 0;; attempt++) {
		left = deadline - now_ms();
		if (left <= 0)
			return -1;
		call.timeout_ms = (int)left;
		if (bh_http(pool, &call, resp) == 0) {
			if (resp->status != 502 && resp->status != 503 &&
			    resp->status != 504)
				return 0;
			/* A 503 is the bank's "did nothing"; a gateway's
			 * 502 or 504 may come after the bank got it. */
			if (resp->status != 503)
				*maybe_sent = true;
		} else if (!never_sent(resp->error))
			*maybe_sent = true;
		if (attempt >= retries || (resp->error != NULL &&
		    strncmp(resp->error, "circuit open", 12) == 0))
			break;
		left = deadline - now_ms();
		if (left <= 0)
			break;
		backoff(attempt, left);
	}
	/* The last answer, a 503 or a gateway error, says what happened. */
	return resp->status != 0 && !*maybe_sent ? 0 : -1;
}

/* Fills r from the bank's charge object obj: BANK_SUCCEEDED or
 * BANK_DECLINED by its status, else BANK_UNKNOWN. */
static void
from_charge(bh_pool *pool, json_object *obj, struct bank_result *r)
{
	json_object *card = get_obj(obj, "card"), *amount;
	const char *id = get_str(obj, "id"), *status = get_str(obj, "status");
	const char *brand = get_str(card, "brand"), *last4 =
	    get_str(card, "last4"), *decline = get_str(obj, "decline_code");

	if (!token_like(id, 100) || status == NULL) {
		r->outcome = BANK_UNKNOWN;
		r->why = "the bank's charge has no id or status";
		return;
	}
	r->id = bh_pstrdup(pool, id);
	r->brand = token_like(brand, 32) ? bh_pstrdup(pool, brand) : NULL;
	r->last4 = last4_like(last4) ? bh_pstrdup(pool, last4) : NULL;
	if (json_object_object_get_ex(obj, "amount", &amount) &&
	    json_object_is_type(amount, json_type_int))
		r->amount = json_object_get_int64(amount);
	if (strcmp(status, "succeeded") == 0)
		r->outcome = BANK_SUCCEEDED;
	else if (strcmp(status, "failed") == 0) {
		r->outcome = BANK_DECLINED;
		r->decline_code = token_like(decline, 64) ?
		    bh_pstrdup(pool, decline) : "card_declined";
	} else {
		r->outcome = BANK_UNKNOWN;
		r->why = "the bank's charge is neither succeeded nor failed";
	}
}

/* Sorts the final answer of a POST into an outcome.  Charges (charge
 * true) come back as charge objects; refunds as refund objects. */
static void
classify(bh_pool *pool, const bh_http_response *resp, bool charge,
    struct bank_result *r)
{
	json_object *obj = bh_http_json(pool, resp), *error, *amount;
	const char *id, *code;

	r->status = resp->status;
	error = get_obj(obj, "error");
	if (resp->status == 200 || resp->status == 201) {
		if (obj == NULL || !json_object_is_type(obj,
		    json_type_object)) {
			r->outcome = BANK_UNKNOWN;
			r->why = "the bank's answer is not a JSON object";
			return;
		}
		if (charge) {
			from_charge(pool, obj, r);
			return;
		}
		id = get_str(obj, "id");
		if (!token_like(id, 100)) {
			r->outcome = BANK_UNKNOWN;
			r->why = "the bank's refund has no id";
			return;
		}
		r->outcome = BANK_SUCCEEDED;
		r->id = bh_pstrdup(pool, id);
		if (json_object_object_get_ex(obj, "amount", &amount) &&
		    json_object_is_type(amount, json_type_int))
			r->amount = json_object_get_int64(amount);
		return;
	}
	if (resp->status == 402 && charge) {
		code = get_str(error, "decline_code");
		id = get_str(error, "charge");
		r->outcome = BANK_DECLINED;
		r->decline_code = token_like(code, 64) ?
		    bh_pstrdup(pool, code) : "card_declined";
		r->id = token_like(id, 100) ? bh_pstrdup(pool, id) : NULL;
		r->why = error_text(pool, error);
		return;
	}
	if (resp->status == 400) {
		code = get_str(error, "code");
		r->outcome = BANK_REFUSED;
		r->code = token_like(code, 64) ? bh_pstrdup(pool, code) : NULL;
		r->param = param_like(pool, get_str(error, "param"));
		r->why = error_text(pool, error);
		return;
	}
	if (resp->status == 409 || resp->status >= 500) {
		/* 409: the first request with this key is still being
		 * processed; a 500 may come after the work was done. */
		r->outcome = resp->status == 503 ? BANK_UNAVAILABLE :
		    BANK_UNKNOWN;
		r->why = bh_psprintf(pool, "the bank answered %ld",
		    resp->status);
		return;
	}
	/* 401, 403, 404, 405, 413, 429...: the request was not processed
	 * (our key, our URL): nothing happened, and a retry may do. */
	r->outcome = BANK_UNAVAILABLE;
	r->why = bh_psprintf(pool, "the bank answered %ld: %s", resp->status,
	    error_text(pool, error));
	if (resp->status == 401 || resp->status == 403)
		bh_log(BH_LOG_ERROR, "the bank refused our secret key "
		    "(BH_BANK_SECRET_KEY): %ld", resp->status);
}

/* Sends a POST and fills r. */
static void
post_and_classify(bh_pool *pool, const char *path, const char *key,
    json_object *body, bool charge, struct bank_result *r)
{
	bh_http_response resp;
	bool maybe_sent;
	const char *text;

	memset(r, 0, sizeof(*r));
	text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (post(pool, path, key, text, &resp, &maybe_sent) == 0) {
		classify(pool, &resp, charge, r);
		return;
	}
	r->status = resp.status;
	r->outcome = maybe_sent ? BANK_UNKNOWN : BANK_UNAVAILABLE;
	r->why = resp.status != 0 ? bh_psprintf(pool, "the bank answered %ld",
	    resp.status) : resp.error != NULL ? resp.error :
	    "no answer from the bank";
}

void
bank_charge(bh_pool *pool, const struct bank_charge *c, struct bank_result *r)
{
	json_object *body = json_object_new_object(), *card;

	bh_pool_defer(pool, json_put, body);
	json_object_object_add(body, "amount",
	    json_object_new_int64(c->amount));
	json_object_object_add(body, "currency",
	    json_object_new_string(c->currency));
	if (c->source != NULL)
		json_object_object_add(body, "source",
		    json_object_new_string(c->source));
	else {
		card = json_object_new_object();
		json_object_object_add(card, "number",
		    json_object_new_string(c->number));
		json_object_object_add(card, "exp_month",
		    json_object_new_int64(c->exp_month));
		json_object_object_add(card, "exp_year",
		    json_object_new_int64(c->exp_year));
		json_object_object_add(card, "cvc",
		    json_object_new_string(c->cvc));
		if (c->holder != NULL)
			json_object_object_add(card, "name",
			    json_object_new_string(c->holder));
		json_object_object_add(body, "card", card);
	}
	json_object_object_add(body, "reference",
	    json_object_new_string(c->reference));
	if (c->description != NULL)
		json_object_object_add(body, "description",
		    json_object_new_string(c->description));
	post_and_classify(pool, "/v1/charges", c->key, body, true, r);
}

void
bank_refund(bh_pool *pool, const char *key, const char *charge_id,
    int64_t amount, const char *reason, struct bank_result *r)
{
	json_object *body = json_object_new_object();

	bh_pool_defer(pool, json_put, body);
	json_object_object_add(body, "charge",
	    json_object_new_string(charge_id));
	json_object_object_add(body, "amount", json_object_new_int64(amount));
	if (reason != NULL)
		json_object_object_add(body, "reason",
		    json_object_new_string(reason));
	post_and_classify(pool, "/v1/refunds", key, body, false, r);
}

/* GETs a list from the bank (bh_http retries GETs itself).  Returns its
 * "data" array, or NULL with r set to BANK_UNKNOWN. */
static json_object *
get_list(bh_pool *pool, const char *url, struct bank_result *r,
    bool *has_more)
{
	const char *headers[] = { auth_header(pool), NULL };
	bh_http_call call = {
		.upstream = "bank",
		.method = "GET",
		.url = url,
		.headers = headers,
		.timeout_ms = (int)pay_cfg.bank_timeout_ms,
	};
	bh_http_response resp;
	json_object *obj, *data, *more;

	memset(r, 0, sizeof(*r));
	r->outcome = BANK_UNKNOWN;
	if (bh_http(pool, &call, &resp) == -1) {
		r->why = resp.error;
		return NULL;
	}
	r->status = resp.status;
	obj = bh_http_json(pool, &resp);
	if (resp.status != 200 || obj == NULL ||
	    !json_object_object_get_ex(obj, "data", &data) ||
	    !json_object_is_type(data, json_type_array)) {
		r->why = bh_psprintf(pool, "the bank answered %ld to a lookup",
		    resp.status);
		return NULL;
	}
	*has_more = json_object_object_get_ex(obj, "has_more", &more) &&
	    json_object_get_boolean(more);
	return data;
}

/* The value of s made safe in a URL's query (the keys are ours: uuids
 * with a prefix; ids come from the bank): letters, digits, '-' and '_'
 * pass, the rest %XX. */
static char *
query_escape(bh_pool *pool, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	bh_buf out;

	bh_buf_init(&out, pool);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_')
			bh_buf_append(&out, s, 1);
		else
			bh_buf_printf(&out, "%%%c%c", hex[c >> 4], hex[c & 15]);
	}
	return out.data;
}

void
bank_find_charge(bh_pool *pool, const char *key, struct bank_result *r)
{
	json_object *data, *first = NULL;
	bool has_more = false;
	size_t i, n;

	data = get_list(pool, bh_psprintf(pool,
	    "%s/v1/charges?idempotency_key=%s&limit=%d", pay_cfg.bank_url,
	    query_escape(pool, key), BANK_LIST_LIMIT), r, &has_more);
	if (data == NULL)
		return;
	n = json_object_array_length(data);
	/* A key makes one charge; should there be more, a succeeded one
	 * is what the money says. */
	for (i = 0; i < n; i++) {
		json_object *item = json_object_array_get_idx(data, i);
		const char *status = get_str(item, "status");

		if (first == NULL)
			first = item;
		if (status != NULL && strcmp(status, "succeeded") == 0) {
			first = item;
			break;
		}
	}
	if (first == NULL) {
		r->outcome = BANK_ABSENT;
		return;
	}
	from_charge(pool, first, r);
}

void
bank_find_refund(bh_pool *pool, const char *charge_id, const char *key,
    struct bank_result *r)
{
	json_object *data, *item, *amount;
	bool has_more = false;
	const char *id, *k;
	size_t i, n;

	data = get_list(pool, bh_psprintf(pool,
	    "%s/v1/refunds?charge=%s&limit=%d", pay_cfg.bank_url,
	    query_escape(pool, charge_id), BANK_LIST_LIMIT), r, &has_more);
	if (data == NULL)
		return;
	n = json_object_array_length(data);
	for (i = 0; i < n; i++) {
		item = json_object_array_get_idx(data, i);
		k = get_str(item, "idempotency_key");
		id = get_str(item, "id");
		if (k == NULL || strcmp(k, key) != 0 || !token_like(id, 100))
			continue;
		r->outcome = BANK_SUCCEEDED;
		r->id = bh_pstrdup(pool, id);
		if (json_object_object_get_ex(item, "amount", &amount) &&
		    json_object_is_type(amount, json_type_int))
			r->amount = json_object_get_int64(amount);
		return;
	}
	/* Not among the newest: it may be further down the list. */
	if (has_more) {
		r->outcome = BANK_UNKNOWN;
		r->why = "more refunds than one lookup lists";
		return;
	}
	r->outcome = BANK_ABSENT;
}
