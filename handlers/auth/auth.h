/*
 * auth.h - the auth service: bellhop's OAuth2 authorization server.
 *
 * It signs access tokens (Ed25519 JWTs, RFC 9068) for clients
 * (client_credentials) and for people signing in on its own page
 * (authorization_code with PKCE, then rotating refresh tokens), publishes
 * its public keys, and answers introspection and revocation.  Its OAuth
 * routes are BH_PUBLIC: clients authenticate with their secret on each
 * call (clients.c), not with a bearer token.  The one internal route,
 * revoking a person's sessions, takes a bearer token like any other
 * service's.  docs/auth.md has the whole of it.
 */
#ifndef AUTH_H
#define AUTH_H

#include "bellhop.h"

/* main.c: the service's own settings, read by the configure hook. */
struct auth_settings {
	long long access_ttl;     /* BH_ACCESS_TOKEN_TTL seconds */
	long long refresh_ttl;    /* BH_REFRESH_TOKEN_TTL seconds */
	long long code_ttl;       /* BH_AUTH_CODE_TTL seconds */
	long long jwks_max_age;   /* BH_JWKS_MAX_AGE seconds */
	long long session_max_age; /* BH_SESSION_MAX_AGE seconds */
	long long limit_account;  /* BH_SIGNIN_LIMIT_ACCOUNT failures per
				   * account and client address */
	long long limit_account_total; /* BH_SIGNIN_LIMIT_ACCOUNT_TOTAL
				   * failures per account */
	long long limit_address;  /* BH_SIGNIN_LIMIT_ADDRESS attempts */
	long long signin_window;  /* BH_SIGNIN_WINDOW seconds */
};
extern struct auth_settings auth_cfg;

/* main.c: a database connection for a command, or NULL after printing
 * why on stderr.  The caller owns it (PQfinish). */
PGconn *auth_cmd_connect(void);
/* main.c: prints "bellhop-auth: MESSAGE" on stderr; returns 1. */
int auth_cmd_fail(const char *fmt, ...) BH_PRINTF(1, 2);

/* ---------------------------------------------------------------- keys.c */

/* GET /.well-known/jwks.json */
int jwks_get(bh_request *req);
/* Decodes exactly 2 * n lower-case hex digits of s into out.  Returns 0,
 * or -1 when s is anything else. */
int auth_hex_decode(const char *s, unsigned char *out, size_t n);
/* bellhop-auth key add|list|rotate|prune */
int key_command(int argc, char **argv);

/* The key that signs now. */
struct auth_key {
	char kid[65];
	unsigned char seed[32];
};
/* Loads the current key, first raising the token lifetime recorded with
 * it (how long after signing a token it signed may be accepted) to this
 * process's access-token TTL plus leeway when that is longer, so that
 * the key stays published long enough once retired.  Returns 0, or -1
 * with the response set (a 503 service-unavailable when there is none:
 * the service is not set up). */
int auth_current_key(bh_request *req, struct auth_key *key);
/* The published public keys (next, current, retired not yet
 * unpublished), for checking auth's own tokens.  Returns 0 with *out
 * filled (owned by req: released with its pool), or -1 with the response
 * set. */
int auth_published_keys(bh_request *req, bh_jwks *out);

/* ------------------------------------------------------------- clients.c */

/* bellhop-auth client add|list|remove */
int client_command(int argc, char **argv);

/* A registered client, loaded for a request (everything owned by it). */
struct auth_client {
	const char *id;
	const char *scopes;        /* space-separated, maybe "" */
	const char *const *audiences; /* NULL-terminated */
	size_t naudiences;
	const char *const *redirect_uris; /* NULL-terminated */
	bool client_credentials;   /* may use that grant */
	bool authorization_code;   /* may use that grant and refresh_token */
};

/* Loads client id.  Returns 1 when found, 0 when unknown, -1 with the
 * response set (database). */
int auth_client_load(bh_request *req, const char *id, struct auth_client *c);
/* Authenticates the calling client from HTTP Basic or client_secret_post
 * form fields (client_id, client_secret).  Returns 0 with *c loaded, or
 * the status of the response it set: an RFC 6749 error (invalid_client
 * 401 with WWW-Authenticate, invalid_request) or a database failure. */
int auth_client_authenticate(bh_request *req, struct auth_client *c);
/* True if uri is one of c's redirect URIs, byte for byte. */
bool auth_client_redirect_ok(const struct auth_client *c, const char *uri);
/* Every scope of any client, space-separated, for the metadata document.
 * Owned by req; NULL with the response set on a database failure. */
const char *auth_all_scopes(bh_request *req);

/* ---------------------------------------------------------- token.c */

/* POST /oauth/token */
int token_post(bh_request *req);

/* Sets an RFC 6749 section 5.2 error: {"error","error_description"},
 * Cache-Control: no-store.  Returns status. */
int oauth_error(bh_request *req, int status, const char *error,
		const char *description);

/* Checks what the token, introspection and revocation endpoints share:
 * a form body, no repeated field.  Returns 0, or the status of the
 * invalid_request error it set. */
int oauth_check_form(bh_request *req);

/* Revokes grant family family_id (decimal text): its refresh tokens and
 * every access token issued from it.  Returns 0, or -1 with the response
 * set (database). */
int auth_revoke_family(bh_request *req, const char *family_id);

/* A form field that must appear at most once.  Returns 1 with *val set
 * (owned by req), 0 when absent (or empty: RFC 6749 treats an empty
 * parameter as omitted), -1 when repeated or not UTF-8. */
int form_field(const bh_request *req, const char *name, const char **val);
/* The same for any list (authorize.c: the query or the form). */
int list_field(const bh_kvlist *list, const char *name, const char **val);

/* True if every word of want (space-separated) is in have. */
bool scope_subset(const char *want, const char *have);
/* The words of a that are also in b, in a's order, separated by single
 * spaces ("" when none).  Owned by pool. */
const char *scope_intersect(bh_pool *pool, const char *a, const char *b);
/* True if s is a well-formed scope list: words of scope-token characters
 * (RFC 6749 3.3) separated by single spaces. */
bool scope_wellformed(const char *s);

/* What an access token says. */
struct auth_grant {
	const struct auth_client *client;
	const char *sub;
	const char *scope;
	const char *family_id;     /* grant_families.id in decimal, or NULL */
	long long not_after;       /* the family's end (epoch seconds): the
				    * token expires no later; 0 = none */
};
/* Signs an access token for grant and records its jti; *expires_in gets
 * its lifetime in seconds.  Returns the token (owned by req), or NULL
 * with the response set.  Runs inside or outside a transaction. */
const char *auth_issue_access_token(bh_request *req,
				    const struct auth_grant *grant,
				    long long *expires_in);

/* ------------------------------------------------------------ authorize.c */

/* GET and POST /oauth/authorize: the sign-in page. */
int authorize_get(bh_request *req);
int authorize_post(bh_request *req);

/* ------------------------------------------------------------ introspect.c */

/* POST /oauth/introspect (RFC 7662), POST /oauth/revoke (RFC 7009) */
int introspect_post(bh_request *req);
int revoke_post(bh_request *req);
/* GET /.well-known/oauth-authorization-server (RFC 8414) */
int metadata_get(bh_request *req);
/* POST /internal/revoke-user (BH_TOKEN, scope auth:revoke): every
 * session of a person ends. */
extern const bh_param revoke_user_params[];
int revoke_user_post(bh_request *req);

#endif
