/*
 * users.h - the users service: accounts (sign-up, profile, deletion),
 * email verification, password change and reset, and the password check
 * the auth service's sign-in page asks for.
 *
 * accounts.c holds the account routes and the helpers they share
 * (addresses, JSON, the caller's account, ending a person's sessions at
 * auth), password.c the argon2id hashing and the password routes,
 * email_tokens.c the one-time codes and the mails, limits.c the rate
 * limits of the public routes.
 */
#ifndef USERS_H
#define USERS_H

#include <stdint.h>

#include "bellhop.h"

/* The service's own settings, read by the configure hook (main.c). */
struct users_settings {
	uint32_t argon2_memory_kib;  /* BH_ARGON2_MEMORY_KIB */
	uint32_t argon2_iterations;  /* BH_ARGON2_ITERATIONS */
	long long verify_token_ttl;  /* BH_VERIFY_TOKEN_TTL seconds */
	long long reset_token_ttl;   /* BH_RESET_TOKEN_TTL seconds */
	/* rate limits (limits.c), per BH_USERS_LIMIT_WINDOW seconds */
	long long limit_window;         /* BH_USERS_LIMIT_WINDOW */
	long long signup_limit_address; /* BH_SIGNUP_LIMIT_ADDRESS */
	long long mail_limit_address;   /* BH_MAIL_LIMIT_ADDRESS */
	long long code_limit_address;   /* BH_CODE_LIMIT_ADDRESS */
	long long reset_mail_limit;     /* BH_RESET_MAIL_LIMIT per account */
	long long verify_mail_limit;    /* BH_VERIFY_MAIL_LIMIT per account */
};

extern struct users_settings users_cfg;

/* ------------------------------------------------------- accounts.c */

extern const bh_param users_signup_params[];
extern const bh_param users_me_patch_params[];
extern const bh_param users_me_delete_params[];
extern const bh_param users_verify_password_params[];
extern const bh_param users_internal_get_params[];
int users_signup(bh_request *req);
int users_me_get(bh_request *req);
int users_me_patch(bh_request *req);
int users_me_delete(bh_request *req);
int users_verify_password(bh_request *req);
int users_internal_get(bh_request *req);

/* The body member "email" in bellhop's normal form (bh_email_normalize):
 * owned by the request, or NULL with a 400 naming it set. */
const char *users_clean_email(bh_request *req);
/* Ends every session of the account at the auth service (refresh tokens
 * at once, access tokens within their lifetime), before a change that
 * must not leave an earlier sign-in alive is committed.  Returns 0, or
 * -1 with a 503 set when auth could not do it (the change must not
 * happen then). */
int users_end_sessions(bh_request *req, const char *user_id);
/* The caller's account id: the token's sub when it is a uuid.  Returns it
 * (owned by the request), or NULL with a 404 set. */
const char *users_caller_id(bh_request *req);
/* Returns a new JSON object released with the request's pool. */
json_object *users_json_object(bh_request *req);
/* Hands obj (a reference the caller owned) to the request's pool, which
 * releases it; returns obj. */
json_object *users_json_own(bh_request *req, json_object *obj);

/* Columns every query answering with an account returns first, in this
 * order, and the JSON made of them (never the hash). */
#define USERS_ACCOUNT_COLUMNS \
	"id, email, name, email_verified," \
	" to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')," \
	" to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
enum { UA_ID, UA_EMAIL, UA_NAME, UA_EMAIL_VERIFIED, UA_CREATED_AT,
	UA_UPDATED_AT, UA_NCOLUMNS };
/* A new JSON object (the caller owns it) for the account at row of res. */
json_object *users_account_json(const PGresult *res, int row);

/* ------------------------------------------------------- password.c */

extern const bh_param users_me_password_params[];
extern const bh_param users_password_reset_params[];
extern const bh_param users_password_reset_confirm_params[];
int users_me_password(bh_request *req);
int users_password_reset(bh_request *req);
int users_password_reset_confirm(bh_request *req);

/* An argon2id PHC string of password with the configured cost and a new
 * random salt, owned by the request; NULL with a 500 set on failure. */
char *users_password_hash(bh_request *req, const char *password, size_t len);
/* True if password matches the PHC string encoded (NULL: checks against
 * a dummy hash so that the time taken does not tell, and is false). */
bool users_password_check(const char *encoded, const char *password,
			  size_t len);
/* True if encoded was made with less memory or fewer iterations than
 * the service uses now. */
bool users_password_outdated(const char *encoded);

/* --------------------------------------------------- email_tokens.c */

int users_verify_email(bh_request *req);
int users_resend_verification(bh_request *req);
int users_verification_email(bh_request *req);
extern const bh_param users_verify_email_params[];
extern const bh_param users_verification_email_params[];

enum users_token_purpose { USERS_TOKEN_VERIFY, USERS_TOKEN_RESET };

/* A mailed one-time code made inside the caller's transaction: stores
 * its SHA-256 for user_id, bound to email, spending the account's earlier
 * live codes of the same purpose.  Returns the code's text (owned by the
 * request; the only copy), or NULL after a failed query (response
 * set). */
char *users_token_issue(bh_request *req, const char *user_id,
			enum users_token_purpose purpose, const char *email);
/* Looks up the mailed code the body member "token" holds with sql,
 * whose $1 is the code's SHA-256 (all that is stored), and gives the hash
 * in *hash (owned by the request) when hash is not NULL.  Returns the
 * result (owned by the request) when it has a row, else NULL with the
 * response set: the 400 of users_token_refused, or the database's 5xx. */
PGresult *users_token_find(bh_request *req, const char *sql,
			   const char **hash);
/* Sets the 400 naming "token" for a code that is wrong, used or expired;
 * returns the status. */
int users_token_refused(bh_request *req);
/* A public request for a code by address, the body member "email":
 * POST /users/password-reset (any account) and POST
 * /users/verification-email (an unverified one).  Always 202 with one
 * body per purpose, whether or not a mail goes (see limits.c for when
 * none does).  Returns the status. */
int users_code_request(bh_request *req, enum users_token_purpose purpose);
/* What became of a mail handed to the notifications service. */
enum users_mail_result {
	USERS_MAIL_SENT,        /* taken (queued for delivery) */
	USERS_MAIL_UNREACHABLE, /* no answer or a 5xx: may work later */
	USERS_MAIL_REFUSED,     /* a 4xx: it will not work as it is (logged) */
};
/* Mails code to email through the notifications service, with an
 * idempotency key made of the code's hash, so that no retry sends it
 * twice. */
enum users_mail_result users_token_mail(bh_request *req,
					enum users_token_purpose purpose,
					const char *email, const char *name,
					const char *code);
/* Notices of a change to the account, mailed to email. */
enum users_notice { USERS_NOTICE_PASSWORD, USERS_NOTICE_EMAIL };
/* Mails the notice (a fresh idempotency key: one mail per call); a
 * failure is logged, as the change is done by then. */
void users_notice_mail(bh_request *req, enum users_notice notice,
		       const char *email, const char *name);

/* ---------------------------------------------------------- limits.c */

/* What a client address is limited in. */
enum users_limit {
	USERS_LIMIT_SIGNUP, /* POST /users */
	USERS_LIMIT_MAIL,   /* requests for a mailed code */
	USERS_LIMIT_CODE,   /* codes sent back */
};
/* Counts the request against its client address's limit of the kind.
 * Returns 0 when within it, else -1 with the response set: 429
 * too-many-requests with Retry-After, or the database's 5xx. */
int users_limit_address(bh_request *req, enum users_limit kind);
/* Whether the account (row locked by the caller's transaction) may be
 * mailed another code of purpose: fewer than its limit were made in the
 * window, or none is live.  Returns 1 or 0, or -1 after a failed query
 * (response set). */
int users_mail_allowed(bh_request *req, const char *user_id,
		       enum users_token_purpose purpose);

#endif
