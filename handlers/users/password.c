/*
 * password.c - argon2id password hashing, POST /users/me/password, and
 * the password reset: POST /users/password-reset (always 202) and POST
 * /users/password-reset/confirm.
 *
 * A new password ends every session of the account at the auth service
 * first (users_end_sessions): whoever signed in with the old one, or
 * had an account's session before its owner took it back, is out.  If
 * auth cannot do that, the password stays as it was (503).  The
 * account's address then gets a notice of the change.
 *
 * Hashes are PHC strings ("$argon2id$v=19$m=19456,t=2,p=1$salt$hash")
 * made by libargon2 with a 16-byte random salt and a 32-byte output; the
 * cost comes from BH_ARGON2_MEMORY_KIB and BH_ARGON2_ITERATIONS, so old
 * hashes keep working after the cost grows (and are redone at the next
 * sign-in: accounts.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <argon2.h>

#include "users.h"

#define SALT_LEN 16
#define HASH_LEN 32
#define PARALLELISM 1

/* A new PHC string for password, malloc'ed (the caller frees it), or
 * NULL with the libargon2 status in *rc. */
static char *
hash_encoded(const char *password, size_t len, int *rc)
{
	unsigned char salt[SALT_LEN];
	size_t size;
	char *encoded;

	size = argon2_encodedlen(users_cfg.argon2_iterations,
	    users_cfg.argon2_memory_kib, PARALLELISM, SALT_LEN, HASH_LEN,
	    Argon2_id);
	if ((encoded = malloc(size)) == NULL) {
		*rc = ARGON2_MEMORY_ALLOCATION_ERROR;
		return NULL;
	}
	bh_random_bytes(salt, sizeof(salt));
	*rc = argon2id_hash_encoded(users_cfg.argon2_iterations,
	    users_cfg.argon2_memory_kib, PARALLELISM, password, len, salt,
	    sizeof(salt), HASH_LEN, encoded, size);
	if (*rc != ARGON2_OK) {
		free(encoded);
		return NULL;
	}
	return encoded;
}

char *
users_password_hash(bh_request *req, const char *password, size_t len)
{
	char *encoded, *copy;
	int rc;

	if ((encoded = hash_encoded(password, len, &rc)) == NULL) {
		bh_log(BH_LOG_ERROR, "argon2id hashing failed: %s",
		    argon2_error_message(rc));
		bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL,
		    "The request could not be completed.");
		return NULL;
	}
	copy = bh_pstrdup(req->pool, encoded);
	free(encoded);
	return copy;
}

/*
 * A hash of a random password with the current cost, made once per
 * process: checking a password for an unknown address against it takes
 * as long as checking a real one, so the time does not tell whether an
 * account exists.
 */
static const char *
dummy_hash(void)
{
	static char *dummy;
	unsigned char secret[24];
	int rc;

	if (dummy == NULL) {
		bh_random_bytes(secret, sizeof(secret));
		if ((dummy = hash_encoded((const char *)secret, sizeof(secret),
		    &rc)) == NULL)
			bh_log(BH_LOG_ERROR, "argon2id hashing failed: %s",
			    argon2_error_message(rc));
	}
	return dummy;
}

bool
users_password_check(const char *encoded, const char *password, size_t len)
{
	const char *dummy;
	bool real = encoded != NULL;

	if (!real) {
		if ((dummy = dummy_hash()) != NULL)
			(void)argon2id_verify(dummy, password, len);
		return false;
	}
	return argon2id_verify(encoded, password, len) == ARGON2_OK;
}

bool
users_password_outdated(const char *encoded)
{
	unsigned m, t, p;

	if (sscanf(encoded, "$argon2id$v=19$m=%u,t=%u,p=%u$", &m, &t, &p) != 3)
		return true;
	return m < users_cfg.argon2_memory_kib ||
	    t < users_cfg.argon2_iterations;
}

/* ------------------------------------------------ POST /users/me/password */

const bh_param users_me_password_params[] = {
	{ "current_password", BH_BODY, BH_STRING, true, 1, 128, NULL, NULL, NULL },
	{ "new_password", BH_BODY, BH_STRING, true, 8, 128, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

static const char current_hash_sql[] =
	"SELECT password_hash, email, name FROM users WHERE id = $1";
/* Only over the hash that was checked; reset codes still out stop
 * working with the old password. */
static const char change_password_sql[] =
	"WITH u AS (UPDATE users SET password_hash = $3,"
	"  password_changed_at = now(), updated_at = now()"
	"  WHERE id = $1 AND password_hash = $2 RETURNING id),"
	" spent AS (UPDATE email_tokens SET used_at = now()"
	"  WHERE user_id IN (SELECT id FROM u) AND purpose = 'reset'"
	"  AND used_at IS NULL)"
	" SELECT id FROM u";

int
users_me_password(bh_request *req)
{
	const bh_value *current, *fresh;
	const char *params[3], *email, *name;
	PGresult *res;

	if ((params[0] = users_caller_id(req)) == NULL)
		return req->status;
	if ((res = bh_db_query(req, current_hash_sql, 1, params)) == NULL)
		return req->status;
	if (PQntuples(res) == 0)
		return bh_problem(req, 404, BH_PROBLEM_NOT_FOUND, NULL,
		    "there is no account for this token");
	params[1] = PQgetvalue(res, 0, 0);
	current = bh_arg(req, "current_password");
	if (!users_password_check(params[1], current->s, current->len))
		return bh_problem(req, 403, BH_PROBLEM_FORBIDDEN,
		    "current_password", "the current password is wrong");
	email = PQgetvalue(res, 0, 1);
	name = PQgetvalue(res, 0, 2);
	fresh = bh_arg(req, "new_password");
	if ((params[2] = users_password_hash(req, fresh->s, fresh->len)) ==
	    NULL || users_end_sessions(req, params[0]) == -1)
		return req->status;
	if ((res = bh_db_query(req, change_password_sql, 3, params)) == NULL)
		return req->status;
	if (PQntuples(res) == 0)
		return bh_problem(req, 409, BH_PROBLEM_CONFLICT, NULL,
		    "the password changed meanwhile; try again");
	users_notice_mail(req, USERS_NOTICE_PASSWORD, email, name);
	return bh_send(req, 204, NULL, NULL, 0);
}

/* ----------------------------------------------- POST /users/password-reset */

const bh_param users_password_reset_params[] = {
	{ "email", BH_BODY, BH_STRING, true, 1, 320, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

int
users_password_reset(bh_request *req)
{
	return users_code_request(req, USERS_TOKEN_RESET);
}

/* --------------------------------------- POST /users/password-reset/confirm */

const bh_param users_password_reset_confirm_params[] = {
	{ "token", BH_BODY, BH_STRING, true, 1, 256, NULL, NULL, NULL },
	{ "new_password", BH_BODY, BH_STRING, true, 8, 128, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

/* A cheap look first, so that a made-up code costs no argon2 hash and
 * no call to auth.  A code works only while the account still has the
 * address it was sent to. */
static const char reset_code_live_sql[] =
	"SELECT t.user_id, u.email, u.name FROM email_tokens t"
	" JOIN users u ON u.id = t.user_id AND u.email = t.email"
	" WHERE t.token_hash = $1 AND t.purpose = 'reset'"
	" AND t.used_at IS NULL AND t.expires_at > now()";
/*
 * One statement: spends the code (only if still live), sets the password
 * (only if the account still has the address the code went to), spends
 * the account's other reset codes.  Receiving the code proves the
 * address, which then counts as verified.
 */
static const char reset_confirm_sql[] =
	"WITH t AS (UPDATE email_tokens SET used_at = now()"
	"  WHERE token_hash = $1 AND purpose = 'reset' AND used_at IS NULL"
	"  AND expires_at > now() RETURNING user_id, email AS sent_to),"
	" u AS (UPDATE users SET password_hash = $2,"
	"  password_changed_at = now(), updated_at = now(),"
	"  email_verified = true"
	"  FROM t WHERE users.id = t.user_id AND users.email = t.sent_to"
	"  RETURNING users.id),"
	" others AS (UPDATE email_tokens SET used_at = now()"
	"  WHERE user_id IN (SELECT id FROM u) AND purpose = 'reset'"
	"  AND used_at IS NULL AND token_hash <> $1)"
	" SELECT id FROM u";

int
users_password_reset_confirm(bh_request *req)
{
	const bh_value *fresh;
	const char *params[2];
	json_object *body;
	PGresult *account, *res;

	if (users_limit_address(req, USERS_LIMIT_CODE) == -1 ||
	    (account = users_token_find(req, reset_code_live_sql,
	    &params[0])) == NULL)
		return req->status;
	fresh = bh_arg(req, "new_password");
	if ((params[1] = users_password_hash(req, fresh->s, fresh->len)) ==
	    NULL || users_end_sessions(req, PQgetvalue(account, 0, 0)) == -1)
		return req->status;
	if ((res = bh_db_query(req, reset_confirm_sql, 2, params)) == NULL)
		return req->status;
	/* spent by a concurrent request meanwhile, or the address changed */
	if (PQntuples(res) == 0)
		return users_token_refused(req);
	users_notice_mail(req, USERS_NOTICE_PASSWORD,
	    PQgetvalue(account, 0, 1), PQgetvalue(account, 0, 2));
	body = users_json_object(req);
	json_object_object_add(body, "password_changed",
	    json_object_new_boolean(true));
	return bh_send_json(req, 200, body);
}
