/*
 * email_tokens.c - the one-time codes the service mails (email
 * verification, password reset), the mails (codes and notices of
 * changes), POST /users/verify-email, POST /users/verification-email and
 * POST /users/me/verification-email, and what POST /users/password-reset
 * shares with the second.
 *
 * A code is 32 random bytes in base64url.  Only its SHA-256 is stored,
 * with the address it went to, an expiry and a used mark; the text
 * exists in the mail alone.  Mail goes through the notifications
 * service, with an idempotency key made of the code's SHA-256, so that a
 * retried call never sends two mails for one code, and no key is ever
 * used for two mails (a row id would be, once its sequence restarts).
 */
#include <string.h>

#include "users.h"

#define CODE_BYTES 32

static const char *const purpose_names[] = { "verify", "reset" };

/*
 * Spends the account's live codes of the purpose (one live code at a
 * time), drops its codes expired for a day (the table does not grow
 * without end), stores the new one.
 */
static const char issue_sql[] =
	"WITH spent AS (UPDATE email_tokens SET used_at = now()"
	"  WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL"
	"  AND expires_at > now()),"
	" pruned AS (DELETE FROM email_tokens WHERE user_id = $1"
	"  AND expires_at < now() - interval '1 day')"
	" INSERT INTO email_tokens (user_id, purpose, token_hash, email,"
	"  expires_at)"
	" VALUES ($1, $2, $3, $4, now() + $5::bigint * interval '1 second')";

char *
users_token_issue(bh_request *req, const char *user_id,
    enum users_token_purpose purpose, const char *email)
{
	const char *params[5];
	char *code;

	code = bh_random_token(req->pool, CODE_BYTES);
	params[0] = user_id;
	params[1] = purpose_names[purpose];
	params[2] = bh_sha256_hex(req->pool, code, strlen(code));
	params[3] = email;
	params[4] = bh_psprintf(req->pool, "%lld",
	    purpose == USERS_TOKEN_VERIFY ? users_cfg.verify_token_ttl :
	    users_cfg.reset_token_ttl);
	if (bh_db_query(req, issue_sql, 5, params) == NULL)
		return NULL;
	return code;
}

PGresult *
users_token_find(bh_request *req, const char *sql, const char **hash)
{
	const bh_value *code = bh_arg(req, "token");
	const char *params[1];
	PGresult *res;

	params[0] = bh_sha256_hex(req->pool, code->s, code->len);
	if (hash != NULL)
		*hash = params[0];
	if ((res = bh_db_query(req, sql, 1, params)) == NULL)
		return NULL;
	if (PQntuples(res) == 0) {
		users_token_refused(req);
		return NULL;
	}
	return res;
}

int
users_token_refused(bh_request *req)
{
	return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, "token",
	    "the code is wrong, used or expired; ask for a new one");
}

/* "24 hours", "30 minutes", "90 seconds": how long a code works. */
static const char *
duration(bh_pool *pool, long long secs)
{
	if (secs % 3600 == 0)
		return bh_psprintf(pool, "%lld hour%s", secs / 3600,
		    secs == 3600 ? "" : "s");
	if (secs % 60 == 0)
		return bh_psprintf(pool, "%lld minute%s", secs / 60,
		    secs == 60 ? "" : "s");
	return bh_psprintf(pool, "%lld seconds", secs);
}

/* The users service's public URL, for the curl lines in the mail. */
static const char *
public_base(bh_pool *pool)
{
	return bh_psprintf(pool, "%s%s", bh_cfg.public_url, bh_cfg.base_path);
}

static const char *
verify_text(bh_pool *pool, const char *email, const char *name,
    const char *code)
{
	return bh_psprintf(pool,
	    "Hello %s,\n"
	    "\n"
	    "please confirm that %s is your email address.\n"
	    "\n"
	    "Your verification code: %s\n"
	    "\n"
	    "To confirm, send the code to bellhop, for example with curl:\n"
	    "\n"
	    "curl -X POST %s/verify-email -H 'Content-Type: application/json'"
	    " -d '{\"token\":\"%s\"}'\n"
	    "\n"
	    "The code works once, for %s.  If you did not ask for a bellhop "
	    "account, ignore this message.\n",
	    name, email, code, public_base(pool), code,
	    duration(pool, users_cfg.verify_token_ttl));
}

static const char *
reset_text(bh_pool *pool, const char *email, const char *name,
    const char *code)
{
	return bh_psprintf(pool,
	    "Hello %s,\n"
	    "\n"
	    "someone, hopefully you, asked to reset the password of the "
	    "bellhop account of %s.\n"
	    "\n"
	    "Your password reset code: %s\n"
	    "\n"
	    "To choose a new password, send the code with it, for example "
	    "with curl:\n"
	    "\n"
	    "curl -X POST %s/password-reset/confirm"
	    " -H 'Content-Type: application/json'"
	    " -d '{\"token\":\"%s\",\"new_password\":\"YOUR NEW PASSWORD\"}'\n"
	    "\n"
	    "The code works once, for %s.  If you did not ask for this, "
	    "ignore this message: your password stays as it is.\n",
	    name, email, code, public_base(pool), code,
	    duration(pool, users_cfg.reset_token_ttl));
}

static const char *
password_notice_text(bh_pool *pool, const char *email, const char *name)
{
	return bh_psprintf(pool,
	    "Hello %s,\n"
	    "\n"
	    "the password of your bellhop account (%s) was changed, and "
	    "every session signed in before was ended.\n"
	    "\n"
	    "If you did this, there is nothing to do.  If you did not, "
	    "someone else can get into your account: choose a new password "
	    "with a code mailed to this address, asked for with curl:\n"
	    "\n"
	    "curl -X POST %s/password-reset"
	    " -H 'Content-Type: application/json'"
	    " -d '{\"email\":\"%s\"}'\n",
	    name, email, public_base(pool), email);
}

static const char *
email_notice_text(bh_pool *pool, const char *email, const char *name)
{
	return bh_psprintf(pool,
	    "Hello %s,\n"
	    "\n"
	    "the email address of your bellhop account was changed from %s "
	    "to another one, and every session signed in before was ended.  "
	    "Mail about the account goes to the new address from now on.\n"
	    "\n"
	    "If you did not make this change, someone who knows your "
	    "password did: this address no longer opens the account, so "
	    "tell the people who run this bellhop site at once.\n",
	    name, email);
}

/* Hands one mail to notifications; what says what it is in the log
 * ("the verify mail"), never the address or the text. */
static enum users_mail_result
send_mail(bh_request *req, const char *to, const char *subject,
    const char *text, const char *key, const char *what)
{
	bh_http_call call;
	bh_http_response resp;
	json_object *mail, *problem, *type;

	mail = json_object_new_object();
	json_object_object_add(mail, "to", json_object_new_string(to));
	json_object_object_add(mail, "subject",
	    json_object_new_string(subject));
	json_object_object_add(mail, "text", json_object_new_string(text));

	memset(&call, 0, sizeof(call));
	call.upstream = "notifications";
	call.method = "POST";
	call.url = bh_psprintf(req->pool, "%s/emails",
	    bh_service_url("notifications"));
	call.body = bh_pstrdup(req->pool, json_object_to_json_string_ext(mail,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	call.body_len = strlen(call.body);
	call.idempotency_key = key;
	call.service_token = true;
	json_object_put(mail);

	if (bh_http(req->pool, &call, &resp) == -1) {
		bh_log(BH_LOG_WARN, "notifications unreachable for %s: %s",
		    what, resp.error != NULL ? resp.error : "no answer");
		return USERS_MAIL_UNREACHABLE;
	}
	if (resp.status >= 200 && resp.status <= 299)
		return USERS_MAIL_SENT;
	if (resp.status >= 500 || resp.status < 400) {
		bh_log(BH_LOG_WARN, "notifications could not take %s: HTTP "
		    "%ld", what, resp.status);
		return USERS_MAIL_UNREACHABLE;
	}
	/* A 4xx: this mail, or this service's credentials, will not do as
	 * they are.  The problem's type says which (its detail may hold
	 * the address: not logged). */
	problem = bh_http_json(req->pool, &resp);
	bh_log(BH_LOG_ERROR, "notifications refused %s: HTTP %ld %s", what,
	    resp.status, problem != NULL && json_object_object_get_ex(problem,
	    "type", &type) && json_object_is_type(type, json_type_string) ?
	    json_object_get_string(type) : "(no problem type)");
	return USERS_MAIL_REFUSED;
}

enum users_mail_result
users_token_mail(bh_request *req, enum users_token_purpose purpose,
    const char *email, const char *name, const char *code)
{
	const char *hash = bh_sha256_hex(req->pool, code, strlen(code));
	const char *subject, *text;

	if (purpose == USERS_TOKEN_VERIFY) {
		subject = "Confirm your email address for bellhop";
		text = verify_text(req->pool, email, name, code);
	} else {
		subject = "Reset your bellhop password";
		text = reset_text(req->pool, email, name, code);
	}
	/* The first 12 digits of the hash tell the log's reader which
	 * code; they are of no use for guessing it. */
	return send_mail(req, email, subject, text,
	    bh_psprintf(req->pool, "users:%s:%s", purpose_names[purpose], hash),
	    bh_psprintf(req->pool, "the %s mail (code %.12s)",
	    purpose_names[purpose], hash));
}

void
users_notice_mail(bh_request *req, enum users_notice notice,
    const char *email, const char *name)
{
	const char *key = bh_psprintf(req->pool, "users:notice:%s",
	    bh_random_token(req->pool, 16));

	if (notice == USERS_NOTICE_PASSWORD)
		(void)send_mail(req, email, "Your bellhop password was changed",
		    password_notice_text(req->pool, email, name), key,
		    "the password change notice");
	else
		(void)send_mail(req, email, "The email address of your bellhop "
		    "account was changed", email_notice_text(req->pool, email,
		    name), key, "the email change notice");
}

/* ------------------------------------------------ POST /users/verify-email */

const bh_param users_verify_email_params[] = {
	{ "token", BH_BODY, BH_STRING, true, 1, 256, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

/* One statement: spends the code if live, and verifies the address only
 * if the account still has the one the code was sent to. */
static const char verify_sql[] =
	"WITH t AS (UPDATE email_tokens SET used_at = now()"
	"  WHERE token_hash = $1 AND purpose = 'verify' AND used_at IS NULL"
	"  AND expires_at > now() RETURNING user_id, email AS sent_to)"
	" UPDATE users SET email_verified = true, updated_at = now()"
	" FROM t WHERE users.id = t.user_id AND users.email = t.sent_to"
	" RETURNING " USERS_ACCOUNT_COLUMNS;

int
users_verify_email(bh_request *req)
{
	json_object *body;
	PGresult *res;

	if (users_limit_address(req, USERS_LIMIT_CODE) == -1 ||
	    (res = users_token_find(req, verify_sql, NULL)) == NULL)
		return req->status;
	body = users_json_own(req, users_account_json(res, 0));
	return bh_send_json(req, 200, body);
}

/* ------------------------------------ POST /users/me/verification-email */

static const char resend_lock_sql[] =
	"SELECT email, name, email_verified FROM users WHERE id = $1"
	" FOR UPDATE";

struct resend {
	const char *id, *email, *name;
	char *code;
};

static int
resend_tx(bh_request *req, void *arg)
{
	struct resend *rs = arg;
	const char *params[1] = { rs->id };
	PGresult *res;

	if ((res = bh_db_query(req, resend_lock_sql, 1, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "there is no account for this token");
		return -1;
	}
	if (strcmp(PQgetvalue(res, 0, 2), "t") == 0) {
		bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
		    "the email address is verified already");
		return -1;
	}
	rs->email = PQgetvalue(res, 0, 0);
	rs->name = PQgetvalue(res, 0, 1);
	rs->code = users_token_issue(req, rs->id, USERS_TOKEN_VERIFY,
	    rs->email);
	return rs->code == NULL ? -1 : 0;
}

int
users_resend_verification(bh_request *req)
{
	struct resend rs;
	json_object *body;

	memset(&rs, 0, sizeof(rs));
	if ((rs.id = users_caller_id(req)) == NULL)
		return req->status;
	if (bh_db_tx(req, resend_tx, &rs) == -1)
		return req->status;
	switch (users_token_mail(req, USERS_TOKEN_VERIFY, rs.email, rs.name,
	    rs.code)) {
	case USERS_MAIL_SENT:
		break;
	case USERS_MAIL_UNREACHABLE:
		bh_add_header(req, "Retry-After", bh_psprintf(req->pool, "%d",
		    bh_cfg.retry_after));
		return bh_problem(req, 503, BH_PROBLEM_UPSTREAM, NULL,
		    "the mail service cannot be reached; try again later");
	case USERS_MAIL_REFUSED:
		return bh_problem(req, 502, BH_PROBLEM_UPSTREAM, NULL,
		    "the mail service refused the message (the service's "
		    "log says why); trying again will not help");
	}
	body = users_json_object(req);
	json_object_object_add(body, "verification_email",
	    json_object_new_string("sent"));
	return bh_send_json(req, 202, body);
}

/* ---------------------------------------- codes asked for by address:
 * POST /users/verification-email, POST /users/password-reset */

const bh_param users_verification_email_params[] = {
	{ "email", BH_BODY, BH_STRING, true, 1, 320, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

/* Locked, so that the address checked is the one the code is bound to
 * (an email change waits, or goes first), and concurrent requests count
 * each other's mails. */
static const char request_lock_sql[] =
	"SELECT id, name, email_verified FROM users WHERE email = $1"
	" FOR UPDATE";

struct code_request {
	enum users_token_purpose purpose;
	const char *email, *name;
	char *code;  /* NULL: no mail goes */
};

static int
code_request_tx(bh_request *req, void *arg)
{
	struct code_request *cr = arg;
	const char *params[1] = { cr->email };
	const char *id;
	PGresult *res;
	int allowed;

	cr->code = NULL;
	if ((res = bh_db_query(req, request_lock_sql, 1, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0)
		return 0;
	if (cr->purpose == USERS_TOKEN_VERIFY &&
	    strcmp(PQgetvalue(res, 0, 2), "t") == 0)
		return 0;
	id = PQgetvalue(res, 0, 0);
	cr->name = PQgetvalue(res, 0, 1);
	if ((allowed = users_mail_allowed(req, id, cr->purpose)) != 1)
		return allowed;
	cr->code = users_token_issue(req, id, cr->purpose, cr->email);
	return cr->code == NULL ? -1 : 0;
}

int
users_code_request(bh_request *req, enum users_token_purpose purpose)
{
	struct code_request cr;
	json_object *body;

	memset(&cr, 0, sizeof(cr));
	cr.purpose = purpose;
	/* Not being an address tells nothing about accounts: a 400. */
	if ((cr.email = users_clean_email(req)) == NULL ||
	    users_limit_address(req, USERS_LIMIT_MAIL) == -1 ||
	    bh_db_tx(req, code_request_tx, &cr) == -1)
		return req->status;
	/* Undelivered, it is logged; the answer must not differ. */
	if (cr.code != NULL)
		(void)users_token_mail(req, purpose, cr.email, cr.name,
		    cr.code);

	body = users_json_object(req);
	json_object_object_add(body, "status",
	    json_object_new_string("accepted"));
	json_object_object_add(body, "message", json_object_new_string(
	    purpose == USERS_TOKEN_RESET ?
	    "If an account has this address, a password reset code is on "
	    "its way to it." :
	    "If an account has this address and it is not verified yet, a "
	    "verification code is on its way to it."));
	return bh_send_json(req, 202, body);
}

int
users_verification_email(bh_request *req)
{
	return users_code_request(req, USERS_TOKEN_VERIFY);
}
