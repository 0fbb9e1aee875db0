/*
 * accounts.c - POST /users (sign-up), GET/PATCH/DELETE /users/me,
 * POST /users/internal/verify-password (the auth service's sign-in
 * check) and GET /users/internal/users/{id} (an account as other
 * services see it); the helpers every route of the service shares: addresses,
 * the caller's account, account JSON, ending a person's sessions.  (Body
 * members a route does not declare are refused by the runtime.)
 *
 * Addresses are in bellhop's one normal form (bh_email_normalize: ASCII,
 * trimmed, lower-cased), the form auth counts its sign-in limits in.
 */
#include <string.h>

#include "users.h"

/* ------------------------------------------------------------ helpers */

static void
json_put(void *obj)
{
	json_object_put(obj);
}

json_object *
users_json_own(bh_request *req, json_object *obj)
{
	bh_pool_defer(req->pool, json_put, obj);
	return obj;
}

json_object *
users_json_object(bh_request *req)
{
	return users_json_own(req, json_object_new_object());
}

/* Adds key (a string literal, new in obj): val, whose reference obj
 * takes over. */
static void
add(json_object *obj, const char *key, json_object *val)
{
	json_object_object_add_ex(obj, key, val,
	    JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT);
}

static json_object *
col_string(const PGresult *res, int row, int col)
{
	return json_object_new_string_len(PQgetvalue(res, row, col),
	    PQgetlength(res, row, col));
}

json_object *
users_account_json(const PGresult *res, int row)
{
	json_object *obj = json_object_new_object();

	add(obj, "id", col_string(res, row, UA_ID));
	add(obj, "email", col_string(res, row, UA_EMAIL));
	add(obj, "name", col_string(res, row, UA_NAME));
	add(obj, "email_verified", json_object_new_boolean(
	    strcmp(PQgetvalue(res, row, UA_EMAIL_VERIFIED), "t") == 0));
	add(obj, "created_at", col_string(res, row, UA_CREATED_AT));
	add(obj, "updated_at", col_string(res, row, UA_UPDATED_AT));
	return obj;
}

static int
no_account(bh_request *req)
{
	return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
	    "there is no account for this token");
}

const char *
users_caller_id(bh_request *req)
{
	if (req->token == NULL || req->token->sub == NULL ||
	    !bh_uuid_valid(req->token->sub)) {
		no_account(req);
		return NULL;
	}
	return req->token->sub;
}

/* The trimmed name, or NULL with a 400 set when only blanks remain. */
static const char *
clean_name(bh_request *req)
{
	const char *s = bh_arg_str(req, "name"), *end;

	while (*s == ' ')
		s++;
	end = s + strlen(s);
	while (end > s && end[-1] == ' ')
		end--;
	if (end == s) {
		bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, "name",
		    "name must not be blank");
		return NULL;
	}
	return bh_pstrndup(req->pool, s, (size_t)(end - s));
}

const char *
users_clean_email(bh_request *req)
{
	const bh_value *v = bh_arg(req, "email");
	const char *why, *email;

	email = bh_email_normalize_why(req->pool, v->s, v->len, &why);
	if (email == NULL)
		bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, "email",
		    "email is not an address the service accepts: %s", why);
	return email;
}

int
users_end_sessions(bh_request *req, const char *user_id)
{
	bh_http_call call;
	bh_http_response resp;
	json_object *body;
	int rc;

	body = json_object_new_object();
	json_object_object_add(body, "user_id",
	    json_object_new_string(user_id));
	memset(&call, 0, sizeof(call));
	call.upstream = "auth";
	call.method = "POST";
	call.url = bh_psprintf(req->pool, "%s/internal/revoke-user",
	    bh_service_url("auth"));
	call.body = bh_pstrdup(req->pool, json_object_to_json_string_ext(body,
	    JSON_C_TO_STRING_PLAIN));
	call.body_len = strlen(call.body);
	json_object_put(body);
	/* Ending the sessions twice does no harm: a key makes the call one
	 * the client retries. */
	call.idempotency_key = bh_psprintf(req->pool, "users:revoke:%s",
	    bh_random_token(req->pool, 16));
	call.service_token = true;

	rc = bh_http(req->pool, &call, &resp);
	if (rc == 0 && resp.status == 200) {
		bh_log(BH_LOG_INFO, "sessions of account %s ended at auth",
		    user_id);
		return 0;
	}
	if (rc == 0)
		bh_log(resp.status >= 500 ? BH_LOG_WARN : BH_LOG_ERROR,
		    "auth did not end the sessions of account %s: HTTP %ld",
		    user_id, resp.status);
	else
		bh_log(BH_LOG_WARN, "auth unreachable to end the sessions of "
		    "account %s: %s", user_id, resp.error != NULL ? resp.error :
		    "no answer");
	bh_add_header(req, "Retry-After", bh_psprintf(req->pool, "%d",
	    bh_cfg.retry_after));
	bh_problem(req, 503, BH_PROBLEM_UPSTREAM, NULL, "the sign-in service "
	    "cannot end the account's sessions now, so nothing was changed; "
	    "try again later");
	return -1;
}

static int
email_taken(bh_request *req)
{
	return bh_problem(req, 409, "email-taken", "email",
	    "an account with this email address exists already");
}

/* Adds "verification_email": "sent", "pending" (notifications could not
 * be reached: POST /verification-email sends it again) or "failed"
 * (notifications refused it: logged). */
static void
add_mail_state(json_object *obj, enum users_mail_result result)
{
	static const char *const states[] = {
		[USERS_MAIL_SENT] = "sent",
		[USERS_MAIL_UNREACHABLE] = "pending",
		[USERS_MAIL_REFUSED] = "failed",
	};

	add(obj, "verification_email", json_object_new_string(states[result]));
}

/* --------------------------------------------------------- POST /users */

const bh_param users_signup_params[] = {
	{ "email", BH_BODY, BH_STRING, true, 1, 320, NULL, NULL, NULL },
	{ "name", BH_BODY, BH_STRING, true, 1, 100, NULL, NULL, NULL },
	{ "password", BH_BODY, BH_STRING, true, 8, 128, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

struct signup {
	const char *email, *name, *hash;
	PGresult *account;  /* the new row */
	char *code;
};

static const char email_used_sql[] =
	"SELECT 1 FROM users WHERE email = $1";
static const char signup_sql[] =
	"INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3)"
	" ON CONFLICT (email) DO NOTHING"
	" RETURNING " USERS_ACCOUNT_COLUMNS;

/* In one transaction: the account and its first verification code. */
static int
signup_tx(bh_request *req, void *arg)
{
	struct signup *su = arg;
	const char *params[3] = { su->email, su->name, su->hash };

	if ((su->account = bh_db_query(req, signup_sql, 3, params)) == NULL)
		return -1;
	if (PQntuples(su->account) == 0) {
		email_taken(req);
		return -1;
	}
	su->code = users_token_issue(req, PQgetvalue(su->account, 0, UA_ID),
	    USERS_TOKEN_VERIFY, su->email);
	return su->code == NULL ? -1 : 0;
}

int
users_signup(bh_request *req)
{
	const bh_value *password;
	struct signup su;
	json_object *body;
	PGresult *res;
	enum users_mail_result mailed;

	memset(&su, 0, sizeof(su));
	if ((su.email = users_clean_email(req)) == NULL ||
	    (su.name = clean_name(req)) == NULL ||
	    users_limit_address(req, USERS_LIMIT_SIGNUP) == -1)
		return req->status;
	/* A taken address costs no hash (the insert still checks). */
	if ((res = bh_db_query(req, email_used_sql, 1, &su.email)) == NULL)
		return req->status;
	if (PQntuples(res) > 0)
		return email_taken(req);
	password = bh_arg(req, "password");
	if ((su.hash = users_password_hash(req, password->s,
	    password->len)) == NULL)
		return req->status;
	if (bh_db_tx(req, signup_tx, &su) == -1)
		return req->status;

	mailed = users_token_mail(req, USERS_TOKEN_VERIFY, su.email, su.name,
	    su.code);
	body = users_json_own(req, users_account_json(su.account, 0));
	add_mail_state(body, mailed);
	bh_add_header(req, "Location",
	    bh_psprintf(req->pool, "%s/me", bh_cfg.base_path));
	return bh_send_json(req, 201, body);
}

/* ------------------------------------------------------- GET /users/me */

static const char me_get_sql[] =
	"SELECT " USERS_ACCOUNT_COLUMNS " FROM users WHERE id = $1";

int
users_me_get(bh_request *req)
{
	const char *params[1];
	json_object *body;
	PGresult *res;

	if ((params[0] = users_caller_id(req)) == NULL)
		return req->status;
	if ((res = bh_db_query(req, me_get_sql, 1, params)) == NULL)
		return req->status;
	if (PQntuples(res) == 0)
		return no_account(req);
	body = users_json_own(req, users_account_json(res, 0));
	return bh_send_json(req, 200, body);
}

/* ----------------------------------------------------- PATCH /users/me */

const bh_param users_me_patch_params[] = {
	{ "name", BH_BODY, BH_STRING, false, 1, 100, NULL, NULL, NULL },
	{ "email", BH_BODY, BH_STRING, false, 1, 320, NULL, NULL, NULL },
	{ "current_password", BH_BODY, BH_STRING, false, 1, 128, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

struct patch {
	const char *id, *name, *email; /* name, email: NULL = unchanged */
	const char *old_email, *old_name, *hash; /* as checked */
	PGresult *account;
	bool email_changed;
	char *code;
};

static const char me_row_sql[] =
	"SELECT email, name, password_hash FROM users WHERE id = $1";
static const char patch_lock_sql[] =
	"SELECT email, password_hash FROM users WHERE id = $1 FOR UPDATE";
/* The NOT EXISTS spares the log a unique violation in the common case;
 * a race between two changes to one address still ends in 23505. */
static const char patch_email_sql[] =
	"UPDATE users SET email = $2, email_verified = false,"
	" name = coalesce($3, name), updated_at = now()"
	" WHERE id = $1 AND NOT EXISTS"
	" (SELECT 1 FROM users o WHERE o.email = $2 AND o.id <> $1)"
	" RETURNING " USERS_ACCOUNT_COLUMNS;
static const char patch_name_sql[] =
	"UPDATE users SET name = coalesce($2, name), updated_at = now()"
	" WHERE id = $1 RETURNING " USERS_ACCOUNT_COLUMNS;
/* Codes mailed to the old address must not work any more. */
static const char spend_codes_sql[] =
	"UPDATE email_tokens SET used_at = now()"
	" WHERE user_id = $1 AND used_at IS NULL";

static int
patch_tx(bh_request *req, void *arg)
{
	struct patch *pt = arg;
	const char *params[3];
	PGresult *res;

	pt->email_changed = false;
	params[0] = pt->id;
	if ((res = bh_db_query(req, patch_lock_sql, 1, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		no_account(req);
		return -1;
	}
	if (pt->email == NULL || strcmp(pt->email, PQgetvalue(res, 0, 0)) == 0) {
		params[1] = pt->name;
		pt->account = bh_db_query(req, patch_name_sql, 2, params);
		return pt->account == NULL ? -1 : 0;
	}
	/* The password checked must be for the address it allowed to
	 * change, and still be the account's. */
	if (pt->hash == NULL || strcmp(pt->old_email, PQgetvalue(res, 0, 0)) !=
	    0 || strcmp(pt->hash, PQgetvalue(res, 0, 1)) != 0) {
		bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
		    "the account changed meanwhile; try again");
		return -1;
	}

	params[1] = pt->email;
	params[2] = pt->name;
	if ((pt->account = bh_db_query(req, patch_email_sql, 3, params)) ==
	    NULL) {
		if (strcmp(bh_db_last_sqlstate(), "23505") == 0)
			email_taken(req);
		return -1;
	}
	if (PQntuples(pt->account) == 0) {
		email_taken(req);
		return -1;
	}
	pt->email_changed = true;
	if (bh_db_query(req, spend_codes_sql, 1, params) == NULL)
		return -1;
	pt->code = users_token_issue(req, pt->id, USERS_TOKEN_VERIFY,
	    pt->email);
	return pt->code == NULL ? -1 : 0;
}

/*
 * A new address needs the current password (a session left open must not
 * be enough to take the account), and ends every session first, as a
 * new password does: the account is unverified until the new address
 * confirms it, and auth signs nobody in meanwhile.
 */
static int
patch_check_email(bh_request *req, struct patch *pt)
{
	const bh_value *password;
	const char *params[1] = { pt->id };
	PGresult *res;

	if ((res = bh_db_query(req, me_row_sql, 1, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		no_account(req);
		return -1;
	}
	if (strcmp(pt->email, PQgetvalue(res, 0, 0)) == 0)
		return 0;
	if (!bh_arg_present(req, "current_password")) {
		bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "current_password", "current_password is needed to change "
		    "the email address");
		return -1;
	}
	password = bh_arg(req, "current_password");
	pt->old_email = PQgetvalue(res, 0, 0);
	pt->old_name = PQgetvalue(res, 0, 1);
	pt->hash = PQgetvalue(res, 0, 2);
	if (!users_password_check(pt->hash, password->s, password->len)) {
		bh_problem(req, 403, BH_PROBLEM_FORBIDDEN, "current_password",
		    "the current password is wrong");
		return -1;
	}
	/* Taken: say so before ending any session for nothing. */
	params[0] = pt->email;
	if ((res = bh_db_query(req, email_used_sql, 1, params)) == NULL)
		return -1;
	if (PQntuples(res) > 0) {
		email_taken(req);
		return -1;
	}
	return users_end_sessions(req, pt->id);
}

int
users_me_patch(bh_request *req)
{
	struct patch pt;
	json_object *body;
	enum users_mail_result mailed;

	memset(&pt, 0, sizeof(pt));
	if ((pt.id = users_caller_id(req)) == NULL)
		return req->status;
	if (!bh_arg_present(req, "name") && !bh_arg_present(req, "email"))
		return bh_problem(req, 400, BH_PROBLEM_BAD_REQUEST, NULL,
		    "give name, email or both to change them");
	if (bh_arg_present(req, "name") && (pt.name = clean_name(req)) == NULL)
		return req->status;
	if (bh_arg_present(req, "email") &&
	    ((pt.email = users_clean_email(req)) == NULL ||
	    patch_check_email(req, &pt) == -1))
		return req->status;
	if (bh_db_tx(req, patch_tx, &pt) == -1)
		return req->status;

	body = users_json_own(req, users_account_json(pt.account, 0));
	if (pt.email_changed) {
		mailed = users_token_mail(req, USERS_TOKEN_VERIFY, pt.email,
		    PQgetvalue(pt.account, 0, UA_NAME), pt.code);
		add_mail_state(body, mailed);
		users_notice_mail(req, USERS_NOTICE_EMAIL, pt.old_email,
		    pt.old_name);
	}
	return bh_send_json(req, 200, body);
}

/* ---------------------------------------------------- DELETE /users/me */

const bh_param users_me_delete_params[] = {
	{ "password", BH_BODY, BH_STRING, true, 1, 128, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

static const char me_hash_sql[] =
	"SELECT password_hash FROM users WHERE id = $1";
/* One statement, so one transaction: the codes go with the account
 * (ON DELETE CASCADE).  The hash must still be the one checked. */
static const char me_delete_sql[] =
	"DELETE FROM users WHERE id = $1 AND password_hash = $2 RETURNING id";

/* The sessions end first: if auth cannot end them, the account stays,
 * rather than leave sessions of an account that is gone. */
int
users_me_delete(bh_request *req)
{
	const bh_value *password;
	const char *params[2];
	PGresult *res;

	if ((params[0] = users_caller_id(req)) == NULL)
		return req->status;
	if ((res = bh_db_query(req, me_hash_sql, 1, params)) == NULL)
		return req->status;
	if (PQntuples(res) == 0)
		return no_account(req);
	params[1] = PQgetvalue(res, 0, 0);
	password = bh_arg(req, "password");
	if (!users_password_check(params[1], password->s, password->len))
		return bh_problem(req, 403, BH_PROBLEM_FORBIDDEN, "password",
		    "the password is wrong");
	if (users_end_sessions(req, params[0]) == -1)
		return req->status;
	if ((res = bh_db_query(req, me_delete_sql, 2, params)) == NULL)
		return req->status;
	if (PQntuples(res) == 0)
		return bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
		    "the password changed meanwhile; try again");
	bh_log(BH_LOG_INFO, "account %s deleted", params[0]);
	return bh_send(req, 204, NULL, NULL, 0);
}

/* ------------------------------------ POST /users/internal/verify-password */

/* Wide bounds: a wrong guess of any length is "verified": false, not a
 * 400 the sign-in page would have to explain. */
const bh_param users_verify_password_params[] = {
	{ "email", BH_BODY, BH_STRING, true, 1, 1024, NULL, NULL, NULL },
	{ "password", BH_BODY, BH_STRING, true, 1, 1024, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

static const char verify_lookup_sql[] =
	"SELECT " USERS_ACCOUNT_COLUMNS ", password_hash"
	" FROM users WHERE email = $1";
static const char rehash_sql[] =
	"UPDATE users SET password_hash = $3"
	" WHERE id = $1 AND password_hash = $2";

/* Stores a stronger hash after a sign-in when the cost settings grew.
 * Best effort: a failure leaves the old hash, which still works, and
 * the response it set is replaced by the caller's. */
static void
rehash(bh_request *req, const char *id, const char *old,
    const bh_value *password)
{
	const char *params[3];

	params[0] = id;
	params[1] = old;
	if ((params[2] = users_password_hash(req, password->s,
	    password->len)) == NULL || bh_db_query(req, rehash_sql, 3,
	    params) == NULL)
		bh_log(BH_LOG_WARN, "could not store a stronger password hash");
}

int
users_verify_password(bh_request *req)
{
	const bh_value *email_arg, *password;
	const char *email, *params[1], *hash = NULL;
	json_object *body;
	PGresult *res = NULL;
	bool ok;

	email_arg = bh_arg(req, "email");
	password = bh_arg(req, "password");
	email = bh_email_normalize(req->pool, email_arg->s, email_arg->len);
	if (email != NULL) {
		params[0] = email;
		if ((res = bh_db_query(req, verify_lookup_sql, 1, params)) ==
		    NULL)
			return req->status;
		if (PQntuples(res) == 1)
			hash = PQgetvalue(res, 0, UA_NCOLUMNS);
	}
	/* An unknown address costs a hash check too (hash NULL). */
	ok = users_password_check(hash, password->s, password->len);

	body = users_json_object(req);
	add(body, "verified", json_object_new_boolean(ok));
	if (!ok)
		return bh_send_json(req, 200, body);
	if (users_password_outdated(hash))
		rehash(req, PQgetvalue(res, 0, UA_ID), hash, password);
	add(body, "user", users_account_json(res, 0));
	return bh_send_json(req, 200, body);
}

/* ------------------------------------- GET /users/internal/users/{id} */

/* Other services' view of a person (scope users:read): reservations
 * keeps the guest's name and address with a hold.  The id is a path
 * string of any length, so that anything not a uuid is the same 404 as
 * an unknown account (only text that is no text at all, a control
 * character, is a 400). */
const bh_param users_internal_get_params[] = {
	{ "id", BH_PATH, BH_STRING, true, 0, 0, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

static const char internal_get_sql[] =
	"SELECT " USERS_ACCOUNT_COLUMNS " FROM users WHERE id = $1";

int
users_internal_get(bh_request *req)
{
	const char *params[1];
	json_object *body;
	PGresult *res;

	params[0] = bh_arg_str(req, "id");
	if (!bh_uuid_valid(params[0]))
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "there is no such account");
	if ((res = bh_db_query(req, internal_get_sql, 1, params)) == NULL)
		return req->status;
	if (PQntuples(res) == 0)
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "there is no such account");
	body = users_json_object(req);
	add(body, "id", col_string(res, 0, UA_ID));
	add(body, "email", col_string(res, 0, UA_EMAIL));
	add(body, "name", col_string(res, 0, UA_NAME));
	add(body, "email_verified", json_object_new_boolean(
	    strcmp(PQgetvalue(res, 0, UA_EMAIL_VERIFIED), "t") == 0));
	return bh_send_json(req, 200, body);
}
