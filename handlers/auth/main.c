/*
 * main.c - bellhop-auth, the OAuth2 authorization server: its routes
 * (relative to the base path, /auth by default), settings and commands.
 *
 * The OAuth routes are BH_PUBLIC: the token, introspection and
 * revocation endpoints authenticate the calling client with its secret
 * themselves, and the others are public by nature.  The internal route
 * takes a bearer token for audience auth, as other services' routes do.
 */
#include <stdarg.h>
#include <stdio.h>

#include "auth.h"

struct auth_settings auth_cfg;

static const bh_route routes[] = {
	{ BH_GET, "/.well-known/jwks.json", jwks_get, NULL, BH_PUBLIC, NULL },
	{ BH_GET, "/.well-known/oauth-authorization-server", metadata_get,
	    NULL, BH_PUBLIC, NULL },
	{ BH_POST, "/oauth/token", token_post, NULL, BH_PUBLIC, NULL },
	{ BH_GET, "/oauth/authorize", authorize_get, NULL, BH_PUBLIC, NULL },
	{ BH_POST, "/oauth/authorize", authorize_post, NULL, BH_PUBLIC, NULL },
	{ BH_POST, "/oauth/introspect", introspect_post, NULL, BH_PUBLIC,
	    NULL },
	{ BH_POST, "/oauth/revoke", revoke_post, NULL, BH_PUBLIC, NULL },
	{ BH_POST, "/internal/revoke-user", revoke_user_post,
	    revoke_user_params, BH_TOKEN, "auth:revoke" },
	{ 0, NULL, NULL, NULL, 0, NULL }
};

static const bh_command commands[] = {
	{ "key", "key add [--activate] | key list | key rotate [--now] | "
	    "key prune", key_command },
	{ "client", "client add NAME --scopes \"A B\" --audiences \"X Y\" "
	    "[--redirect-uri URI]... [--replace]\n"
	    "client list | client remove NAME", client_command },
	{ NULL, NULL, NULL }
};

static int
configure(const char **err)
{
	static const bh_int_setting ints[] = {
		{ "BH_ACCESS_TOKEN_TTL", 600, 30, 86400,
		    &auth_cfg.access_ttl },
		{ "BH_REFRESH_TOKEN_TTL", 30 * 86400, 60, 365 * 86400,
		    &auth_cfg.refresh_ttl },
		/* RFC 6749 4.1.2: at most 10 minutes. */
		{ "BH_AUTH_CODE_TTL", 60, 1, 600, &auth_cfg.code_ttl },
		/* Verifiers cache the key set at least 60 s whatever it
		 * says (lib/authz.c): key rotation must wait as long. */
		{ "BH_JWKS_MAX_AGE", 300, 60, 86400, &auth_cfg.jwks_max_age },
		{ "BH_SESSION_MAX_AGE", 30 * 86400, 60, 365 * 86400,
		    &auth_cfg.session_max_age },
		{ "BH_SIGNIN_LIMIT_ACCOUNT", 5, 1, 1000000,
		    &auth_cfg.limit_account },
		{ "BH_SIGNIN_LIMIT_ACCOUNT_TOTAL", 100, 1, 1000000,
		    &auth_cfg.limit_account_total },
		{ "BH_SIGNIN_LIMIT_ADDRESS", 20, 1, 1000000,
		    &auth_cfg.limit_address },
		{ "BH_SIGNIN_WINDOW", 900, 1, 86400, &auth_cfg.signin_window },
		{ NULL, 0, 0, 0, NULL }
	};

	return bh_env_ints(ints, err);
}

static const bh_service service = {
	.name = "auth",
	.routes = routes,
	.uses_db = true,
	.worker_init = NULL,
	.configure = configure,
	.commands = commands,
};

int
auth_cmd_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("bellhop-auth: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

PGconn *
auth_cmd_connect(void)
{
	char err[256];
	PGconn *conn;

	if ((conn = bh_db_connect(err, sizeof(err))) == NULL)
		auth_cmd_fail("database: %s", err);
	return conn;
}

int
main(int argc, char **argv)
{
	return bh_main(&service, argc, argv);
}
