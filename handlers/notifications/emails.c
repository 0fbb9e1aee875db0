/*
 * emails.c - POST /notifications/emails (queue a message) and
 * GET /notifications/emails/{id} (its status and delivery attempts).
 *
 * Idempotency.  Every POST carries an Idempotency-Key, unique per client
 * (the token's client_id).  The row is inserted with ON CONFLICT DO
 * NOTHING and then read back, so concurrent identical requests make one
 * row: the losers wait for the winner's transaction and find its row.
 * The row keeps the SHA-256 of the raw body and the first answer; the
 * same key with the same body gets that answer again (with
 * Idempotent-Replayed: true), with another body 422.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "notifications.h"

const bh_param email_get_params[] = {
	{ "id", BH_PATH, BH_INT, true, 1, INT64_MAX, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

/* A validated POST body, strings owned by the request. */
struct new_attachment {
	const char *filename;
	const char *content_type;
	const char *content_b64; /* as given: strict base64, checked */
};

struct new_email {
	const char *client_id;
	const char *key;
	const char *fingerprint;
	const char *to;
	const char *subject;
	const char *text;
	const char *html; /* NULL when absent */
	struct new_attachment attachments[MAIL_MAX_ATTACHMENTS];
	size_t nattachments;
	/* the outcome of the transaction */
	bool created;
	long long status;
	const char *id;
	const char *answer;
	const char *stored_fingerprint;
};

static void
json_put(void *obj)
{
	json_object_put(obj);
}

/* ---------------------------------------------------------- validation */

/* The string member name of body: 0 with *out (NULL when absent or null
 * and optional), or the status of the 400 set, naming it label (name when
 * NULL; "attachments[2].content" for a nested one).  The
 * validators below all answer so: 0, or non-zero with the response set. */
static int
get_string(bh_request *req, json_object *body, const char *name,
    const char *label, bool required, size_t max, const char **out,
    size_t *outlen)
{
	json_object *val;
	const char *s;
	size_t len;

	if (label == NULL)
		label = name;

	*out = NULL;
	if (!json_object_object_get_ex(body, name, &val) || val == NULL) {
		if (!required)
			return 0;
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, label,
		    "%s is required", label);
	}
	if (!json_object_is_type(val, json_type_string))
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, label,
		    "%s must be a string", label);
	s = json_object_get_string(val);
	len = (size_t)json_object_get_string_len(val);
	if (strlen(s) != len)
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, label,
		    "%s must not contain a NUL character", label);
	/* The body was UTF-8, but a \u escape may make a lone surrogate. */
	if (!bh_utf8_valid(s, len))
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, label,
		    "%s must be valid UTF-8", label);
	if (len > max)
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, label,
		    "%s is longer than %zu bytes", label, max);
	*out = s;
	if (outlen != NULL)
		*outlen = len;
	return 0;
}

static int
check_members(bh_request *req, json_object *obj, const char *const *known,
    const char *where)
{
	size_t i;

	json_object_object_foreach(obj, key, val) {
		(void)val;
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (known[i] == NULL)
			return bh_problem(req, 400,
			    BH_PROBLEM_INVALID_PARAMETER, key,
			    "unknown member \"%.64s\"%s", key, where);
	}
	return 0;
}

static int
parse_attachments(bh_request *req, json_object *list, struct new_email *e)
{
	static const char *const known[] = { "filename", "content_type",
	    "content", NULL };
	json_object *item;
	const char *s;
	char *name, param[64];
	size_t i, n, len, decoded, total = 0;

	if (!json_object_is_type(list, json_type_array))
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "attachments", "attachments must be an array");
	n = json_object_array_length(list);
	if (n > MAIL_MAX_ATTACHMENTS)
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "attachments", "at most %d attachments",
		    MAIL_MAX_ATTACHMENTS);
	for (i = 0; i < n; i++) {
		struct new_attachment *a = &e->attachments[i];

		item = json_object_array_get_idx(list, i);
		snprintf(param, sizeof(param), "attachments[%zu]", i);
		if (item == NULL || !json_object_is_type(item,
		    json_type_object))
			return bh_problem(req, 400,
			    BH_PROBLEM_INVALID_PARAMETER, param,
			    "%s must be an object", param);
		if (check_members(req, item, known, " in an attachment") != 0)
			return req->status;

		snprintf(param, sizeof(param), "attachments[%zu].filename", i);
		if (get_string(req, item, "filename", param, true,
		    4 * MAIL_MAX_FILENAME, &s, &len) != 0)
			return req->status;
		name = mime_filename_sanitise(req->pool, s, len);
		if (name == NULL)
			return bh_problem(req, 400,
			    BH_PROBLEM_INVALID_PARAMETER, param,
			    "%s has nothing left once cleaned (only what "
			    "follows the last / or \\ is kept, without "
			    "leading dots or spaces): give a file name like "
			    "receipt.pdf", param);
		if (strlen(name) > MAIL_MAX_FILENAME)
			return bh_problem(req, 400,
			    BH_PROBLEM_INVALID_PARAMETER, param,
			    "%s must be a file name of at most %d bytes",
			    param, MAIL_MAX_FILENAME);
		a->filename = name;

		snprintf(param, sizeof(param),
		    "attachments[%zu].content_type", i);
		if (get_string(req, item, "content_type", param, true,
		    MAIL_MAX_CONTENT_TYPE, &s, &len) != 0)
			return req->status;
		if (!mime_content_type_valid(s, len))
			return bh_problem(req, 400,
			    BH_PROBLEM_INVALID_PARAMETER, param,
			    "%s must be a media type like application/pdf",
			    param);
		a->content_type = s;

		snprintf(param, sizeof(param), "attachments[%zu].content", i);
		if (get_string(req, item, "content", param, true, SIZE_MAX,
		    &s, &len) != 0)
			return req->status;
		if (bh_b64_decode(req->pool, s, len, &decoded) == NULL)
			return bh_problem(req, 400,
			    BH_PROBLEM_INVALID_PARAMETER, param,
			    "%s must be standard base64 with padding, "
			    "without line breaks", param);
		total += decoded;
		if (total > MAIL_MAX_ATTACHED)
			return bh_problem(req, 400,
			    BH_PROBLEM_INVALID_PARAMETER, "attachments",
			    "attachments may hold at most %d bytes in all",
			    MAIL_MAX_ATTACHED);
		a->content_b64 = s;
	}
	e->nattachments = n;
	return 0;
}

static int
parse_email(bh_request *req, struct new_email *e)
{
	static const char *const known[] = { "to", "subject", "text", "html",
	    "attachments", NULL };
	json_object *body = req->json, *list;
	size_t len;

	/* As the runtime answers for routes that declare their body. */
	if (body == NULL || !json_object_is_type(body, json_type_object))
		return bh_problem(req, 400, BH_PROBLEM_BAD_REQUEST, NULL,
		    "the request body must be a JSON object");
	if (check_members(req, body, known, "") != 0)
		return req->status;

	if (get_string(req, body, "to", NULL, true, MAIL_MAX_ADDRESS, &e->to,
	    &len) != 0)
		return req->status;
	if (!mail_address_valid(e->to, len))
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, "to",
		    "to must be one address like name@example.com");

	if (get_string(req, body, "subject", NULL, true, MAIL_MAX_SUBJECT,
	    &e->subject, &len) != 0)
		return req->status;
	if (len == 0 || !bh_text_valid(e->subject, len, false))
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "subject", "subject must be 1 to %d bytes without line "
		    "breaks or control characters", MAIL_MAX_SUBJECT);

	if (get_string(req, body, "text", NULL, true, MAIL_MAX_BODY, &e->text,
	    NULL) != 0)
		return req->status;
	if (get_string(req, body, "html", NULL, false, MAIL_MAX_BODY, &e->html,
	    NULL) != 0)
		return req->status;

	if (json_object_object_get_ex(body, "attachments", &list) &&
	    list != NULL && parse_attachments(req, list, e) != 0)
		return req->status;
	return 0;
}

/* --------------------------------------------------------------- store */

static const char *
email_location(bh_request *req, const char *id)
{
	return bh_psprintf(req->pool, "%s/emails/%s", bh_cfg.base_path, id);
}

/* The first answer to a new email, stored with it. */
static const char *
accepted_answer(bh_request *req, const struct new_email *e,
    const char *created_at)
{
	json_object *obj = json_object_new_object();

	bh_pool_defer(req->pool, json_put, obj);
	json_object_object_add(obj, "id",
	    json_object_new_int64(strtoll(e->id, NULL, 10)));
	json_object_object_add(obj, "status", json_object_new_string("queued"));
	json_object_object_add(obj, "to", json_object_new_string(e->to));
	json_object_object_add(obj, "subject",
	    json_object_new_string(e->subject));
	json_object_object_add(obj, "created_at",
	    json_object_new_string(created_at));
	return bh_pstrdup(req->pool, json_object_to_json_string_ext(obj,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

#define UTC_TEXT(col) "to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

static int
store_tx(bh_request *req, void *arg)
{
	struct new_email *e = arg;
	PGresult *res;
	size_t i;

	e->created = false;
	{
		const char *params[] = { e->client_id, e->key, e->fingerprint,
		    e->to, e->subject, e->text, e->html,
		    bh_psprintf(req->pool, "%zu", e->nattachments) };

		res = bh_db_query(req,
		    "INSERT INTO emails (client_id, idempotency_key, "
		    "request_sha256, to_address, subject, body_text, "
		    "body_html, attachment_count) "
		    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
		    "ON CONFLICT (client_id, idempotency_key) DO NOTHING "
		    "RETURNING id, " UTC_TEXT("created_at"), 8, params);
	}
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		/* Someone else's transaction made it (and committed: ON
		 * CONFLICT waited for it); this statement sees it. */
		const char *params[] = { e->client_id, e->key };

		res = bh_db_query(req,
		    "SELECT id, request_sha256, response_status, response_body "
		    "FROM emails WHERE client_id = $1 AND idempotency_key = $2",
		    2, params);
		if (res == NULL)
			return -1;
		if (PQntuples(res) != 1) {
			/* Purged between the two statements: try again. */
			bh_problem(req, 503, BH_PROBLEM_DB_UNAVAILABLE, NULL,
			    "try again");
			return -1;
		}
		e->id = PQgetvalue(res, 0, 0);
		e->stored_fingerprint = PQgetvalue(res, 0, 1);
		e->status = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
		e->answer = PQgetvalue(res, 0, 3);
		return 0;
	}
	e->created = true;
	e->id = PQgetvalue(res, 0, 0);
	e->status = 202;
	e->answer = accepted_answer(req, e, PQgetvalue(res, 0, 1));
	for (i = 0; i < e->nattachments; i++) {
		const struct new_attachment *a = &e->attachments[i];
		const char *params[] = { e->id,
		    bh_psprintf(req->pool, "%zu", i), a->filename,
		    a->content_type, a->content_b64 };

		if (bh_db_query(req,
		    "INSERT INTO email_attachments (email_id, position, "
		    "filename, content_type, content) "
		    "VALUES ($1, $2, $3, $4, decode($5, 'base64'))",
		    5, params) == NULL)
			return -1;
	}
	{
		const char *params[] = { e->id, e->answer };

		if (bh_db_query(req, "UPDATE emails SET response_body = $2 "
		    "WHERE id = $1", 2, params) == NULL)
			return -1;
	}
	return 0;
}

int
email_post(bh_request *req)
{
	struct new_email e;

	memset(&e, 0, sizeof(e));
	if ((e.key = bh_idempotency_key(req, true)) == NULL)
		return req->status;
	if (req->body == NULL || req->body_len == 0)
		return bh_problem(req, 400, BH_PROBLEM_MALFORMED_BODY, NULL,
		    "a JSON body is required");
	if (req->content_type == NULL ||
	    strcmp(req->content_type, "application/json") != 0)
		return bh_problem(req, 415, BH_PROBLEM_UNSUPPORTED_MEDIA_TYPE,
		    NULL, "the body must be application/json");
	if (parse_email(req, &e) != 0)
		return req->status;
	e.client_id = req->token->client_id;
	e.fingerprint = bh_sha256_hex(req->pool, req->body, req->body_len);

	if (bh_db_tx(req, store_tx, &e) == -1)
		return req->status;
	if (!e.created && strcmp(e.stored_fingerprint, e.fingerprint) != 0)
		return bh_problem(req, 422, BH_PROBLEM_IDEMPOTENCY_KEY_REUSED,
		    "Idempotency-Key", "this Idempotency-Key was used with "
		    "another request body");
	if (e.created)
		bh_log(BH_LOG_INFO, "email %s queued for %s", e.id,
		    strchr(e.to, '@'));
	else
		bh_add_header(req, "Idempotent-Replayed", "true");
	bh_add_header(req, "Location", email_location(req, e.id));
	return bh_send(req, (int)e.status, "application/json", e.answer,
	    strlen(e.answer));
}

/* ----------------------------------------------------------------- read */

static void
add_text(json_object *obj, const char *key, const PGresult *res, int row,
    int col)
{
	json_object_object_add(obj, key, PQgetisnull(res, row, col) ? NULL :
	    json_object_new_string(PQgetvalue(res, row, col)));
}

int
email_get(bh_request *req)
{
	const char *id = bh_psprintf(req->pool, "%" PRId64,
	    bh_arg_int(req, "id"));
	const char *params[] = { id, req->token->client_id };
	json_object *obj, *history, *item;
	PGresult *res;
	int i;

	res = bh_db_query(req,
	    "SELECT id, status, to_address, subject, attempts, "
	    UTC_TEXT("created_at") ", " UTC_TEXT("next_attempt_at") ", "
	    UTC_TEXT("sent_at") ", " UTC_TEXT("failed_at") ", last_error, "
	    "attachment_count, body_retained, " UTC_TEXT("requeued_at") " "
	    "FROM emails WHERE id = $1 AND client_id = $2", 2, params);
	if (res == NULL)
		return req->status;
	if (PQntuples(res) != 1)
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "no email %s", id);

	obj = json_object_new_object();
	bh_pool_defer(req->pool, json_put, obj);
	json_object_object_add(obj, "id", json_object_new_int64(
	    strtoll(PQgetvalue(res, 0, 0), NULL, 10)));
	add_text(obj, "status", res, 0, 1);
	add_text(obj, "to", res, 0, 2);
	add_text(obj, "subject", res, 0, 3);
	json_object_object_add(obj, "attempts", json_object_new_int64(
	    strtoll(PQgetvalue(res, 0, 4), NULL, 10)));
	add_text(obj, "created_at", res, 0, 5);
	if (strcmp(PQgetvalue(res, 0, 1), "queued") == 0)
		add_text(obj, "next_attempt_at", res, 0, 6);
	else
		json_object_object_add(obj, "next_attempt_at", NULL);
	add_text(obj, "sent_at", res, 0, 7);
	add_text(obj, "failed_at", res, 0, 8);
	add_text(obj, "last_error", res, 0, 9);
	json_object_object_add(obj, "attachments", json_object_new_int64(
	    strtoll(PQgetvalue(res, 0, 10), NULL, 10)));
	/* Cleared once sent (or failed long ago): the codes in it are
	 * secrets. */
	json_object_object_add(obj, "body_retained", json_object_new_boolean(
	    strcmp(PQgetvalue(res, 0, 11), "t") == 0));
	add_text(obj, "requeued_at", res, 0, 12);

	res = bh_db_query(req,
	    "SELECT attempt, " UTC_TEXT("attempted_at") ", result, smtp_code, "
	    "error, step FROM email_attempts WHERE email_id = $1 "
	    "ORDER BY attempt", 1, params);
	if (res == NULL)
		return req->status;
	history = json_object_new_array();
	json_object_object_add(obj, "history", history);
	for (i = 0; i < PQntuples(res); i++) {
		item = json_object_new_object();
		json_object_object_add(item, "attempt", json_object_new_int64(
		    strtoll(PQgetvalue(res, i, 0), NULL, 10)));
		add_text(item, "at", res, i, 1);
		add_text(item, "result", res, i, 2);
		json_object_object_add(item, "smtp_code",
		    PQgetisnull(res, i, 3) ? NULL : json_object_new_int(
		    atoi(PQgetvalue(res, i, 3))));
		add_text(item, "error", res, i, 4);
		add_text(item, "step", res, i, 5);
		json_object_array_add(history, item);
	}
	return bh_send_json(req, 200, obj);
}
