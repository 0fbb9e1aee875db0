/*
 * main.c - bellhop-users, people's accounts: its routes, relative to the
 * base path (/users by default), and its settings.  /health and /ready
 * come with the runtime.
 *
 * The /me routes act on the account the bearer token names (its sub), so
 * a person reaches only their own; /internal/verify-password is for the
 * auth service's sign-in page alone (scope users:verify), and
 * /internal/users/{id} for the services that need a person's name and
 * address (scope users:read: reservations).  The public
 * routes are rate-limited (limits.c).
 */
#include "users.h"

static const bh_route routes[] = {
	{ BH_POST, "/", users_signup, users_signup_params, BH_PUBLIC, NULL },
	{ BH_GET, "/me", users_me_get, NULL, BH_TOKEN, "profile" },
	{ BH_PATCH, "/me", users_me_patch, users_me_patch_params, BH_TOKEN,
	    "profile" },
	{ BH_DELETE, "/me", users_me_delete, users_me_delete_params,
	    BH_TOKEN, "profile" },
	{ BH_POST, "/me/password", users_me_password,
	    users_me_password_params, BH_TOKEN, "profile" },
	{ BH_POST, "/me/verification-email", users_resend_verification, NULL,
	    BH_TOKEN, "profile" },
	{ BH_POST, "/verify-email", users_verify_email,
	    users_verify_email_params, BH_PUBLIC, NULL },
	{ BH_POST, "/verification-email", users_verification_email,
	    users_verification_email_params, BH_PUBLIC, NULL },
	{ BH_POST, "/password-reset", users_password_reset,
	    users_password_reset_params, BH_PUBLIC, NULL },
	{ BH_POST, "/password-reset/confirm", users_password_reset_confirm,
	    users_password_reset_confirm_params, BH_PUBLIC, NULL },
	{ BH_POST, "/internal/verify-password", users_verify_password,
	    users_verify_password_params, BH_TOKEN, "users:verify" },
	{ BH_GET, "/internal/users/{id}", users_internal_get,
	    users_internal_get_params, BH_TOKEN, "users:read" },
	{ 0, NULL, NULL, NULL, BH_ACCESS_UNDECLARED, NULL }
};

struct users_settings users_cfg;

/*
 * OWASP's minimum for argon2id is m = 19 MiB, t = 2, p = 1: the floors
 * here, so that a setting can make hashing stronger, never weaker.  The
 * ceilings keep a typo from making every sign-in take minutes.
 */
static int
users_configure(const char **err)
{
	long long memory_kib, iterations;
	const bh_int_setting ints[] = {
		{ "BH_ARGON2_MEMORY_KIB", 19456, 19456, 4194304, &memory_kib },
		{ "BH_ARGON2_ITERATIONS", 2, 2, 64, &iterations },
		{ "BH_VERIFY_TOKEN_TTL", 86400, 300, 2592000,
		    &users_cfg.verify_token_ttl },
		{ "BH_RESET_TOKEN_TTL", 1800, 60, 86400,
		    &users_cfg.reset_token_ttl },
		{ "BH_USERS_LIMIT_WINDOW", 3600, 1, 86400,
		    &users_cfg.limit_window },
		{ "BH_SIGNUP_LIMIT_ADDRESS", 20, 1, 1000000,
		    &users_cfg.signup_limit_address },
		{ "BH_MAIL_LIMIT_ADDRESS", 20, 1, 1000000,
		    &users_cfg.mail_limit_address },
		{ "BH_CODE_LIMIT_ADDRESS", 30, 1, 1000000,
		    &users_cfg.code_limit_address },
		{ "BH_RESET_MAIL_LIMIT", 3, 1, 1000,
		    &users_cfg.reset_mail_limit },
		{ "BH_VERIFY_MAIL_LIMIT", 3, 1, 1000,
		    &users_cfg.verify_mail_limit },
		{ NULL, 0, 0, 0, NULL }
	};

	if (bh_env_ints(ints, err) == -1)
		return -1;
	/* argon2's own type; the ranges above fit it. */
	users_cfg.argon2_memory_kib = (uint32_t)memory_kib;
	users_cfg.argon2_iterations = (uint32_t)iterations;
	return 0;
}

/* Makes the dummy hash now, so that the first check of an unknown
 * address in this worker takes no longer than later ones. */
static int
users_worker_init(void)
{
	(void)users_password_check(NULL, "", 0);
	return 0;
}

static const bh_service service = {
	.name = "users",
	.routes = routes,
	.uses_db = true,
	.worker_init = users_worker_init,
	.configure = users_configure,
	.commands = NULL,
};

int
main(int argc, char **argv)
{
	return bh_main(&service, argc, argv);
}
