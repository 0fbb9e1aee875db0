/*
 * token.c - POST /oauth/token: the client_credentials, authorization_code
 * (PKCE S256) and refresh_token grants, and access-token signing.
 *
 * This endpoint answers RFC 6749 section 5.2 errors
 * ({"error","error_description"}), not problem+json, and never lets an
 * answer be cached.  Codes and refresh tokens are single-use: the
 * statement that spends one is "UPDATE ... WHERE used_at IS NULL
 * RETURNING", so of two concurrent uses exactly one gets a row.  Seeing
 * a spent one again means it leaked (or the client is broken): every
 * token issued from the same grant (its family) is revoked.
 *
 * A family (a person's session with one client) ends BH_SESSION_MAX_AGE
 * after the code exchange that began it: refresh tokens and access tokens
 * issued from it expire no later.  Its scope is what the person granted,
 * cut at every exchange and refresh to what the client is registered for
 * then, so a client whose scopes shrank keeps none it lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"

/* More form fields than any grant uses, with room for extensions: a
 * bound that keeps the repeated-parameter check cheap. */
#define MAX_FIELDS 32
#define MAX_SCOPE_LEN 1024

int
oauth_error(bh_request *req, int status, const char *error,
    const char *description)
{
	json_object *obj = json_object_new_object();

	json_object_object_add(obj, "error", json_object_new_string(error));
	if (description != NULL)
		json_object_object_add(obj, "error_description",
		    json_object_new_string(description));
	bh_add_header(req, "Cache-Control", "no-store");
	bh_add_header(req, "Pragma", "no-cache");
	bh_send_json(req, status, obj);
	json_object_put(obj);
	return status;
}

int
form_field(const bh_request *req, const char *name, const char **val)
{
	return list_field(&req->form, name, val);
}

int
oauth_check_form(bh_request *req)
{
	size_t i, j;

	if (req->content_type == NULL || strcmp(req->content_type,
	    "application/x-www-form-urlencoded") != 0)
		return oauth_error(req, 400, "invalid_request", "the body "
		    "must be application/x-www-form-urlencoded");
	if (req->form.n > MAX_FIELDS)
		return oauth_error(req, 400, "invalid_request",
		    "too many parameters");
	for (i = 0; i < req->form.n; i++)
		for (j = i + 1; j < req->form.n; j++)
			if (strcmp(req->form.items[i].key,
			    req->form.items[j].key) == 0)
				return oauth_error(req, 400,
				    "invalid_request", "a parameter is "
				    "repeated");
	return 0;
}

/* A field every grant requires (absent: invalid_request). */
static const char *
required(bh_request *req, const char *name)
{
	const char *val;

	if (form_field(req, name, &val) != 1) {
		oauth_error(req, 400, "invalid_request", bh_psprintf(req->pool,
		    "%s is missing or not valid UTF-8", name));
		return NULL;
	}
	return val;
}

/* The scope field, when given: well-formed and within allowed.  Returns
 * 0 with *scope set (allowed itself when absent), or the status of the
 * error it set. */
static int
requested_scope(bh_request *req, const char *allowed, const char **scope)
{
	int rc = form_field(req, "scope", scope);

	if (rc == -1)
		return oauth_error(req, 400, "invalid_request",
		    "scope is not valid UTF-8");
	if (rc == 0) {
		*scope = allowed;
		return 0;
	}
	if (strlen(*scope) > MAX_SCOPE_LEN || !scope_wellformed(*scope) ||
	    !scope_subset(*scope, allowed))
		return oauth_error(req, 400, "invalid_scope", "the scope "
		    "asked for is malformed or not granted to this client");
	return 0;
}

/* Removes expired codes, tokens and counters now and then, so the
 * tables stay the size of what is live: one token request in 256, a
 * bounded batch, rows another sweep holds skipped.  Runs before the
 * answer is set, so a failure (logged by the runtime) cannot replace it. */
static void
sweep_expired(bh_request *req)
{
	static const char *const sweeps[] = {
		"DELETE FROM access_tokens WHERE jti IN (SELECT jti FROM "
		"access_tokens WHERE expires_at < now() - interval '1 minute' "
		"LIMIT 1000 FOR UPDATE SKIP LOCKED)",
		"DELETE FROM authorization_codes WHERE code_hash IN (SELECT "
		"code_hash FROM authorization_codes WHERE expires_at < now() - "
		"interval '1 day' LIMIT 1000 FOR UPDATE SKIP LOCKED)",
		"DELETE FROM grant_families WHERE id IN (SELECT f.id FROM "
		"grant_families f WHERE f.created_at < now() - interval '1 day' "
		"AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE "
		"r.family_id = f.id AND r.expires_at > now()) LIMIT 1000 "
		"FOR UPDATE SKIP LOCKED)",
		NULL
	};
	const char *const *sql;
	unsigned char dice;

	bh_random_bytes(&dice, 1);
	if (dice != 0)
		return;
	for (sql = sweeps; *sql != NULL; sql++)
		if (bh_db_query(req, *sql, 0, NULL) == NULL)
			return;
	bh_db_query(req, "DELETE FROM signin_counters WHERE window_start < "
	    "now() - make_interval(secs => $1::int)", 1,
	    (const char *const[]){ bh_psprintf(req->pool, "%lld",
	    auth_cfg.signin_window) });
}

const char *
auth_issue_access_token(bh_request *req, const struct auth_grant *grant,
    long long *expires_in)
{
	struct auth_key key;
	json_object *claims, *aud;
	const char *token = NULL, *params[7];
	const char *jti;
	int64_t now = (int64_t)time(NULL), exp = now + auth_cfg.access_ttl;
	size_t i;

	if (grant->not_after > 0 && grant->not_after < exp)
		exp = grant->not_after > now ? grant->not_after : now;
	*expires_in = exp - now;
	if (auth_current_key(req, &key) == -1)
		return NULL;
	jti = bh_random_token(req->pool, 16);
	claims = json_object_new_object();
	json_object_object_add(claims, "iss",
	    json_object_new_string(bh_cfg.auth_issuer));
	json_object_object_add(claims, "sub",
	    json_object_new_string(grant->sub));
	if (grant->client->naudiences == 1)
		aud = json_object_new_string(grant->client->audiences[0]);
	else {
		aud = json_object_new_array();
		for (i = 0; i < grant->client->naudiences; i++)
			json_object_array_add(aud, json_object_new_string(
			    grant->client->audiences[i]));
	}
	json_object_object_add(claims, "aud", aud);
	json_object_object_add(claims, "exp", json_object_new_int64(exp));
	json_object_object_add(claims, "iat", json_object_new_int64(now));
	json_object_object_add(claims, "nbf", json_object_new_int64(now));
	json_object_object_add(claims, "jti", json_object_new_string(jti));
	json_object_object_add(claims, "scope",
	    json_object_new_string(grant->scope));
	json_object_object_add(claims, "client_id",
	    json_object_new_string(grant->client->id));
	token = bh_jwt_sign(req->pool, key.kid, key.seed, claims);
	explicit_bzero(key.seed, sizeof(key.seed));
	json_object_put(claims);
	if (token == NULL) {
		bh_log(BH_LOG_ERROR, "signing an access token failed");
		bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL,
		    "the token could not be signed");
		return NULL;
	}
	params[0] = jti;
	params[1] = grant->client->id;
	params[2] = grant->sub;
	params[3] = grant->family_id;
	params[4] = grant->scope;
	params[5] = bh_psprintf(req->pool, "%lld", (long long)now);
	params[6] = bh_psprintf(req->pool, "%lld", (long long)exp);
	if (bh_db_query(req, "INSERT INTO access_tokens (jti, client_id, "
	    "sub, family_id, scope, issued_at, expires_at) VALUES ($1, $2, "
	    "$3, $4, $5, to_timestamp($6::bigint), "
	    "to_timestamp($7::bigint))", 7, params) == NULL)
		return NULL;
	return token;
}

/* The successful answer (RFC 6749 5.1). */
static int
token_response(bh_request *req, const char *access_token,
    long long expires_in, const char *refresh_token, const char *scope)
{
	json_object *obj;
	int status;

	sweep_expired(req);
	obj = json_object_new_object();
	json_object_object_add(obj, "access_token",
	    json_object_new_string(access_token));
	json_object_object_add(obj, "token_type",
	    json_object_new_string("Bearer"));
	json_object_object_add(obj, "expires_in",
	    json_object_new_int64(expires_in));
	if (refresh_token != NULL)
		json_object_object_add(obj, "refresh_token",
		    json_object_new_string(refresh_token));
	json_object_object_add(obj, "scope", json_object_new_string(scope));
	bh_add_header(req, "Cache-Control", "no-store");
	bh_add_header(req, "Pragma", "no-cache");
	status = bh_send_json(req, 200, obj);
	json_object_put(obj);
	return status;
}

/* ------------------------------------------------- client_credentials */

static int
grant_client_credentials(bh_request *req, const struct auth_client *c)
{
	struct auth_grant g;
	const char *token;
	long long expires_in;

	if (!c->client_credentials)
		return oauth_error(req, 400, "unauthorized_client", "this "
		    "client may not use the client_credentials grant");
	memset(&g, 0, sizeof(g));
	g.client = c;
	g.sub = c->id;
	if (requested_scope(req, c->scopes, &g.scope) != 0)
		return req->status;
	if ((token = auth_issue_access_token(req, &g, &expires_in)) == NULL)
		return req->status;
	return token_response(req, token, expires_in, NULL, g.scope);
}

/* ------------------------------------------------------- shared: families */

enum outcome { OUTCOME_OK, OUTCOME_INVALID, OUTCOME_REUSED };

struct exchange {
	const struct auth_client *client;
	const char *presented_hash; /* of the code or refresh token */
	const char *redirect_uri, *verifier, *scope;
	/* results */
	enum outcome outcome;
	const char *invalid_reason;
	const char *access_token, *refresh_token, *granted_scope;
	long long expires_in;
};

int
auth_revoke_family(bh_request *req, const char *family_id)
{
	const char *const p[] = { family_id };

	if (bh_db_query(req, "UPDATE grant_families SET revoked_at = now() "
	    "WHERE id = $1 AND revoked_at IS NULL", 1, p) == NULL)
		return -1;
	if (bh_db_query(req, "UPDATE access_tokens SET revoked_at = now() "
	    "WHERE family_id = $1 AND revoked_at IS NULL", 1, p) == NULL)
		return -1;
	return 0;
}

/* What a family is now, as issue_pair needs it. */
struct family {
	const char *id, *sub;
	const char *scope;         /* the session's scope from now on */
	long long expires_at;      /* epoch seconds */
};

/* Makes a refresh token in family f (expiring BH_REFRESH_TOKEN_TTL from
 * now, or with the family if sooner) and the access token that goes
 * with it (scope access_scope). */
static int
issue_pair(bh_request *req, struct exchange *x, const struct family *f,
    const char *access_scope)
{
	struct auth_grant g;
	const char *refresh = bh_random_token(req->pool, 32);
	const char *params[4];

	params[0] = bh_sha256_hex(req->pool, refresh, strlen(refresh));
	params[1] = f->id;
	params[2] = f->scope;
	params[3] = bh_psprintf(req->pool, "%lld", auth_cfg.refresh_ttl);
	if (bh_db_query(req, "INSERT INTO refresh_tokens (token_hash, "
	    "family_id, scope, expires_at) SELECT $1, $2, $3, least(now() + "
	    "make_interval(secs => $4::bigint), f.expires_at) FROM "
	    "grant_families f WHERE f.id = $2", 4, params) == NULL)
		return -1;
	memset(&g, 0, sizeof(g));
	g.client = x->client;
	g.sub = f->sub;
	g.scope = access_scope;
	g.family_id = f->id;
	g.not_after = f->expires_at;
	if ((x->access_token = auth_issue_access_token(req, &g,
	    &x->expires_in)) == NULL)
		return -1;
	x->refresh_token = refresh;
	x->granted_scope = access_scope;
	return 0;
}

/* --------------------------------------------------- authorization_code */

/* True if verifier is 43-128 characters of [A-Za-z0-9-._~] (RFC 7636
 * 4.1). */
static bool
verifier_wellformed(const char *v)
{
	size_t n = strlen(v), i;

	if (n < 43 || n > 128)
		return false;
	for (i = 0; i < n; i++)
		if (!((v[i] >= 'A' && v[i] <= 'Z') ||
		    (v[i] >= 'a' && v[i] <= 'z') ||
		    (v[i] >= '0' && v[i] <= '9') || strchr("-._~", v[i]) !=
		    NULL))
			return false;
	return true;
}

/* True if BASE64URL(SHA256(verifier)) equals challenge. */
static bool
pkce_matches(bh_pool *pool, const char *verifier, const char *challenge)
{
	unsigned char digest[32];
	const char *hex = bh_sha256_hex(pool, verifier, strlen(verifier));
	const char *computed;

	if (auth_hex_decode(hex, digest, sizeof(digest)) == -1)
		return false;
	computed = bh_b64url_encode(pool, digest, sizeof(digest));
	return bh_ct_equal(computed, strlen(computed), challenge,
	    strlen(challenge));
}

static int
exchange_code_tx(bh_request *req, void *arg)
{
	struct exchange *x = arg;
	struct family f;
	const char *p[4], *granted;
	PGresult *res;

	x->outcome = OUTCOME_INVALID;
	x->invalid_reason = "the code is invalid, expired or already used";
	p[0] = x->presented_hash;
	res = bh_db_query(req, "UPDATE authorization_codes SET used_at = "
	    "now() WHERE code_hash = $1 AND used_at IS NULL RETURNING "
	    "client_id, sub, redirect_uri, scope, code_challenge, "
	    "expires_at > now()", 1, p);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		/* Spent before: whatever it gave is revoked. */
		res = bh_db_query(req, "SELECT family_id FROM "
		    "authorization_codes WHERE code_hash = $1", 1, p);
		if (res == NULL)
			return -1;
		if (PQntuples(res) == 1) {
			x->outcome = OUTCOME_REUSED;
			if (!PQgetisnull(res, 0, 0) && auth_revoke_family(req,
			    PQgetvalue(res, 0, 0)) == -1)
				return -1;
		}
		return 0;
	}
	/* The code is spent from here on, whatever follows: a code tried
	 * with a wrong verifier or by another client is not tried again. */
	if (strcmp(PQgetvalue(res, 0, 0), x->client->id) != 0)
		return 0;
	if (PQgetvalue(res, 0, 5)[0] != 't') {
		x->invalid_reason = "the code has expired";
		return 0;
	}
	if (strcmp(PQgetvalue(res, 0, 2), x->redirect_uri) != 0) {
		x->invalid_reason = "redirect_uri differs from the one of "
		    "the authorization request";
		return 0;
	}
	if (!pkce_matches(req->pool, x->verifier, PQgetvalue(res, 0, 4))) {
		x->invalid_reason = "code_verifier does not match the "
		    "code_challenge";
		return 0;
	}
	memset(&f, 0, sizeof(f));
	f.sub = PQgetvalue(res, 0, 1);
	granted = PQgetvalue(res, 0, 3);
	f.scope = scope_intersect(req->pool, granted, x->client->scopes);
	if (*granted != '\0' && *f.scope == '\0') {
		x->invalid_reason = "the client no longer holds the scope "
		    "granted";
		return 0;
	}
	p[0] = x->client->id;
	p[1] = f.sub;
	p[2] = f.scope;
	p[3] = bh_psprintf(req->pool, "%lld", auth_cfg.session_max_age);
	res = bh_db_query(req, "INSERT INTO grant_families (client_id, sub, "
	    "scope, expires_at) VALUES ($1, $2, $3, now() + "
	    "make_interval(secs => $4::bigint)) RETURNING id, "
	    "floor(extract(epoch FROM expires_at))::bigint", 4, p);
	if (res == NULL)
		return -1;
	f.id = PQgetvalue(res, 0, 0);
	f.expires_at = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	p[0] = f.id;
	p[1] = x->presented_hash;
	if (bh_db_query(req, "UPDATE authorization_codes SET family_id = $1 "
	    "WHERE code_hash = $2", 2, p) == NULL)
		return -1;
	if (issue_pair(req, x, &f, f.scope) == -1)
		return -1;
	x->outcome = OUTCOME_OK;
	return 0;
}

static int
finish_exchange(bh_request *req, struct exchange *x)
{
	if (x->outcome == OUTCOME_REUSED) {
		bh_log(BH_LOG_WARN, "a spent %s was presented again by "
		    "client %s: its grant is revoked", x->verifier != NULL ?
		    "authorization code" : "refresh token", x->client->id);
		return oauth_error(req, 400, "invalid_grant", "the grant has "
		    "been used already; every token issued from it is now "
		    "revoked");
	}
	if (x->outcome == OUTCOME_INVALID)
		return oauth_error(req, 400, "invalid_grant",
		    x->invalid_reason);
	return token_response(req, x->access_token, x->expires_in,
	    x->refresh_token, x->granted_scope);
}

static int
grant_authorization_code(bh_request *req, const struct auth_client *c)
{
	struct exchange x;
	const char *code;

	if (!c->authorization_code)
		return oauth_error(req, 400, "unauthorized_client", "this "
		    "client may not use the authorization_code grant");
	memset(&x, 0, sizeof(x));
	x.client = c;
	if ((code = required(req, "code")) == NULL ||
	    (x.redirect_uri = required(req, "redirect_uri")) == NULL ||
	    (x.verifier = required(req, "code_verifier")) == NULL)
		return req->status;
	if (!verifier_wellformed(x.verifier))
		return oauth_error(req, 400, "invalid_request",
		    "code_verifier must be 43 to 128 characters of "
		    "A-Z a-z 0-9 - . _ ~");
	if (form_field(req, "scope", &x.scope) != 0)
		return oauth_error(req, 400, "invalid_request", "scope is "
		    "set by the authorization request, not here");
	x.presented_hash = bh_sha256_hex(req->pool, code, strlen(code));
	if (bh_db_tx(req, exchange_code_tx, &x) == -1)
		return req->status;
	return finish_exchange(req, &x);
}

/* -------------------------------------------------------- refresh_token */

static int
refresh_tx(bh_request *req, void *arg)
{
	struct exchange *x = arg;
	struct family f;
	const char *p[2], *family_scope, *scope;
	PGresult *res;

	x->outcome = OUTCOME_INVALID;
	x->invalid_reason = "the refresh token is invalid, expired or "
	    "revoked";
	p[0] = x->presented_hash;
	p[1] = x->client->id;
	res = bh_db_query(req, "UPDATE refresh_tokens r SET used_at = now() "
	    "FROM grant_families f WHERE r.token_hash = $1 AND "
	    "r.family_id = f.id AND f.client_id = $2 AND r.used_at IS NULL "
	    "AND r.expires_at > now() AND f.revoked_at IS NULL "
	    "AND f.expires_at > now() RETURNING f.id, f.sub, f.scope, "
	    "floor(extract(epoch FROM f.expires_at))::bigint", 2, p);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		res = bh_db_query(req, "SELECT f.id FROM refresh_tokens r "
		    "JOIN grant_families f ON f.id = r.family_id WHERE "
		    "r.token_hash = $1 AND f.client_id = $2 AND "
		    "r.used_at IS NOT NULL", 2, p);
		if (res == NULL)
			return -1;
		if (PQntuples(res) == 1) {
			x->outcome = OUTCOME_REUSED;
			if (auth_revoke_family(req, PQgetvalue(res, 0, 0)) == -1)
				return -1;
		}
		return 0;
	}
	memset(&f, 0, sizeof(f));
	f.id = PQgetvalue(res, 0, 0);
	f.sub = PQgetvalue(res, 0, 1);
	family_scope = PQgetvalue(res, 0, 2);
	f.expires_at = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	/* What the client still holds of what was granted. */
	f.scope = scope_intersect(req->pool, family_scope, x->client->scopes);
	if (*family_scope != '\0' && *f.scope == '\0') {
		/* Rolled back: nothing spent, nothing to get either. */
		oauth_error(req, 400, "invalid_grant", "the client no longer "
		    "holds the scope granted");
		return -1;
	}
	scope = x->scope != NULL ? x->scope : f.scope;
	if (!scope_subset(scope, f.scope)) {
		/* Rolled back: the token stays usable. */
		oauth_error(req, 400, "invalid_scope", "the scope asked for "
		    "exceeds the one originally granted or the client's");
		return -1;
	}
	/* Cut for good: the scope lost does not come back with the
	 * client's registration. */
	if (strcmp(f.scope, family_scope) != 0 && bh_db_query(req,
	    "UPDATE grant_families SET scope = $2 WHERE id = $1", 2,
	    (const char *const[]){ f.id, f.scope }) == NULL)
		return -1;
	if (issue_pair(req, x, &f, scope) == -1)
		return -1;
	x->outcome = OUTCOME_OK;
	return 0;
}

static int
grant_refresh_token(bh_request *req, const struct auth_client *c)
{
	struct exchange x;
	const char *token;
	int rc;

	if (!c->authorization_code)
		return oauth_error(req, 400, "unauthorized_client", "this "
		    "client may not use the refresh_token grant");
	memset(&x, 0, sizeof(x));
	x.client = c;
	if ((token = required(req, "refresh_token")) == NULL)
		return req->status;
	rc = form_field(req, "scope", &x.scope);
	if (rc == -1 || (rc == 1 && (strlen(x.scope) > MAX_SCOPE_LEN ||
	    !scope_wellformed(x.scope))))
		return oauth_error(req, 400, "invalid_scope",
		    "the scope is malformed");
	x.presented_hash = bh_sha256_hex(req->pool, token, strlen(token));
	if (bh_db_tx(req, refresh_tx, &x) == -1)
		return req->status;
	return finish_exchange(req, &x);
}

/* ------------------------------------------------------------ endpoint */

int
token_post(bh_request *req)
{
	struct auth_client client;
	const char *grant;
	int rc;

	if (oauth_check_form(req) != 0)
		return req->status;
	if ((rc = form_field(req, "grant_type", &grant)) != 1)
		return oauth_error(req, 400, "invalid_request",
		    "grant_type is missing");
	if (auth_client_authenticate(req, &client) != 0)
		return req->status;
	if (strcmp(grant, "client_credentials") == 0)
		return grant_client_credentials(req, &client);
	if (strcmp(grant, "authorization_code") == 0)
		return grant_authorization_code(req, &client);
	if (strcmp(grant, "refresh_token") == 0)
		return grant_refresh_token(req, &client);
	/* The password grant included: RFC 9700 2.4 forbids it. */
	return oauth_error(req, 400, "unsupported_grant_type",
	    "grant_type must be client_credentials, authorization_code or "
	    "refresh_token");
}
