/*
 * introspect.c - POST /oauth/introspect (RFC 7662), POST /oauth/revoke
 * (RFC 7009), the metadata document (RFC 8414), and POST
 * /internal/revoke-user, which ends every session of a person.
 *
 * Both endpoints require client authentication.  An access token is
 * active when its signature checks with a published key, it has not
 * expired (no leeway here: the answer is about now), and its jti is
 * recorded and not revoked, nor its grant family.  A refresh token is
 * looked up by hash and is shown only to the client it was issued to.
 * Revocation only ever affects the caller's own tokens, and answers 200
 * with an empty body whatever it was given, so it reveals nothing.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"

/* What a verified access token says. */
struct access_info {
	json_object *claims;
	const char *jti, *client_id;
};

/*
 * Verifies token as one of auth's access tokens, with no leeway.  The
 * audience check of bh_jwt_verify is satisfied with the token's own first
 * audience: any authenticated client may introspect, whoever the token
 * was for.  Returns 1 when valid (info filled), 0 when not, -1 with the
 * response set (database).
 */
static int
verify_access_token(bh_request *req, const char *token,
    struct access_info *info)
{
	const char *dot1, *dot2, *audience = NULL;
	unsigned char *payload;
	json_object *claims = NULL, *aud, *v;
	bh_jwt_expect expect;
	bh_jwks keys;
	size_t len;

	memset(info, 0, sizeof(*info));
	if (strlen(token) > BH_JWT_MAX_LEN ||
	    (dot1 = strchr(token, '.')) == NULL ||
	    (dot2 = strchr(dot1 + 1, '.')) == NULL)
		return 0;
	payload = bh_b64url_decode(req->pool, dot1 + 1,
	    (size_t)(dot2 - dot1 - 1), &len);
	if (payload == NULL || (claims = json_tokener_parse(
	    (const char *)payload)) == NULL)
		return 0;
	if (json_object_object_get_ex(claims, "aud", &aud)) {
		if (json_object_is_type(aud, json_type_array) &&
		    json_object_array_length(aud) > 0)
			aud = json_object_array_get_idx(aud, 0);
		if (json_object_is_type(aud, json_type_string))
			audience = bh_pstrdup(req->pool,
			    json_object_get_string(aud));
	}
	json_object_put(claims);
	claims = NULL;
	if (audience == NULL)
		return 0;
	if (auth_published_keys(req, &keys) == -1)
		return -1;
	memset(&expect, 0, sizeof(expect));
	expect.issuer = bh_cfg.auth_issuer;
	expect.audience = audience;
	expect.leeway = 0;
	expect.now = (int64_t)time(NULL);
	if (bh_jwt_verify(req->pool, token, &keys, &expect, &claims) !=
	    BH_JWT_OK)
		return 0;
	info->claims = claims;
	if (json_object_object_get_ex(claims, "jti", &v))
		info->jti = json_object_get_string(v);
	if (json_object_object_get_ex(claims, "client_id", &v))
		info->client_id = json_object_get_string(v);
	return info->jti != NULL && info->client_id != NULL ? 1 : 0;
}

/* Whether jti is recorded and neither it nor its family is revoked:
 * 1, 0, or -1 with the response set. */
static int
access_token_live(bh_request *req, const char *jti)
{
	PGresult *res;

	res = bh_db_query(req, "SELECT 1 FROM access_tokens a LEFT JOIN "
	    "grant_families f ON f.id = a.family_id WHERE a.jti = $1 AND "
	    "a.revoked_at IS NULL AND a.expires_at > now() AND "
	    "(f.id IS NULL OR f.revoked_at IS NULL)", 1,
	    (const char *const[]){ jti });
	if (res == NULL)
		return -1;
	return PQntuples(res) == 1;
}

static void
copy_claim(json_object *to, json_object *claims, const char *name)
{
	json_object *v;

	if (json_object_object_get_ex(claims, name, &v))
		json_object_object_add(to, name, json_object_get(v));
}

static int
send_inactive(bh_request *req)
{
	static const char inactive[] = "{\"active\":false}";

	bh_add_header(req, "Cache-Control", "no-store");
	return bh_send(req, 200, "application/json", inactive,
	    sizeof(inactive) - 1);
}

static int
send_active(bh_request *req, json_object *obj)
{
	int status;

	bh_add_header(req, "Cache-Control", "no-store");
	status = bh_send_json(req, 200, obj);
	json_object_put(obj);
	return status;
}

/* The endpoints' common start: form, client, the token field.  Returns
 * the token, or NULL with the response set. */
static const char *
authenticated_token(bh_request *req, struct auth_client *client)
{
	const char *token, *hint;

	if (oauth_check_form(req) != 0 ||
	    auth_client_authenticate(req, client) != 0)
		return NULL;
	if (form_field(req, "token", &token) != 1) {
		oauth_error(req, 400, "invalid_request",
		    "token is missing or not valid UTF-8");
		return NULL;
	}
	/* The hint only orders the lookups; a bad one is no error. */
	if (form_field(req, "token_type_hint", &hint) == -1) {
		oauth_error(req, 400, "invalid_request",
		    "token_type_hint is not valid UTF-8");
		return NULL;
	}
	return token;
}

#define REFRESH_SQL \
	"SELECT f.sub, r.scope, " \
	"extract(epoch FROM r.expires_at)::bigint, f.id " \
	"FROM refresh_tokens r JOIN grant_families f ON f.id = r.family_id " \
	"WHERE r.token_hash = $1 AND f.client_id = $2"

int
introspect_post(bh_request *req)
{
	struct auth_client client;
	struct access_info info;
	const char *token, *p[2];
	json_object *obj;
	PGresult *res;
	int rc;

	if ((token = authenticated_token(req, &client)) == NULL)
		return req->status;

	if ((rc = verify_access_token(req, token, &info)) == -1)
		return req->status;
	if (rc == 1) {
		if ((rc = access_token_live(req, info.jti)) == -1)
			return req->status;
		if (rc == 0)
			return send_inactive(req);
		obj = json_object_new_object();
		json_object_object_add(obj, "active",
		    json_object_new_boolean(1));
		copy_claim(obj, info.claims, "scope");
		copy_claim(obj, info.claims, "client_id");
		copy_claim(obj, info.claims, "sub");
		copy_claim(obj, info.claims, "aud");
		copy_claim(obj, info.claims, "iss");
		copy_claim(obj, info.claims, "exp");
		copy_claim(obj, info.claims, "iat");
		copy_claim(obj, info.claims, "nbf");
		copy_claim(obj, info.claims, "jti");
		json_object_object_add(obj, "token_type",
		    json_object_new_string("Bearer"));
		return send_active(req, obj);
	}

	p[0] = bh_sha256_hex(req->pool, token, strlen(token));
	p[1] = client.id;
	res = bh_db_query(req, REFRESH_SQL " AND r.used_at IS NULL AND "
	    "r.expires_at > now() AND f.revoked_at IS NULL AND "
	    "f.expires_at > now()", 2, p);
	if (res == NULL)
		return req->status;
	if (PQntuples(res) != 1)
		return send_inactive(req);
	obj = json_object_new_object();
	json_object_object_add(obj, "active", json_object_new_boolean(1));
	json_object_object_add(obj, "scope",
	    json_object_new_string(PQgetvalue(res, 0, 1)));
	json_object_object_add(obj, "client_id",
	    json_object_new_string(client.id));
	json_object_object_add(obj, "sub",
	    json_object_new_string(PQgetvalue(res, 0, 0)));
	json_object_object_add(obj, "exp",
	    json_object_new_int64(strtoll(PQgetvalue(res, 0, 2), NULL, 10)));
	json_object_object_add(obj, "token_type",
	    json_object_new_string("refresh_token"));
	return send_active(req, obj);
}

int
revoke_post(bh_request *req)
{
	struct auth_client client;
	struct access_info info;
	const char *token, *p[2];
	PGresult *res;
	int rc;

	if ((token = authenticated_token(req, &client)) == NULL)
		return req->status;
	if ((rc = verify_access_token(req, token, &info)) == -1)
		return req->status;
	if (rc == 1) {
		/* Someone else's token stays as it is. */
		p[0] = info.jti;
		p[1] = client.id;
		if (bh_db_query(req, "UPDATE access_tokens SET revoked_at = "
		    "now() WHERE jti = $1 AND client_id = $2 AND "
		    "revoked_at IS NULL", 2, p) == NULL)
			return req->status;
	} else {
		p[0] = bh_sha256_hex(req->pool, token, strlen(token));
		p[1] = client.id;
		if ((res = bh_db_query(req, REFRESH_SQL, 2, p)) == NULL)
			return req->status;
		if (PQntuples(res) == 1 && auth_revoke_family(req,
		    PQgetvalue(res, 0, 3)) == -1)
			return req->status;
	}
	bh_add_header(req, "Cache-Control", "no-store");
	return bh_send(req, 200, NULL, NULL, 0);
}

/* ----------------------------------------------------------- metadata */

static void
add_strings(json_object *obj, const char *key, const char *const *v)
{
	json_object *arr = json_object_new_array();

	for (; *v != NULL; v++)
		json_object_array_add(arr, json_object_new_string(*v));
	json_object_object_add(obj, key, arr);
}

static void
add_url(bh_request *req, json_object *obj, const char *key,
    const char *path)
{
	json_object_object_add(obj, key, json_object_new_string(
	    bh_psprintf(req->pool, "%s%s", bh_cfg.auth_issuer, path)));
}

int
metadata_get(bh_request *req)
{
	static const char *const response_types[] = { "code", NULL };
	static const char *const grant_types[] = { "authorization_code",
	    "refresh_token", "client_credentials", NULL };
	static const char *const methods[] = { "S256", NULL };
	static const char *const auth_methods[] = { "client_secret_basic",
	    "client_secret_post", NULL };
	const char *scopes;
	json_object *obj, *arr;
	char *copy, *w, *save = NULL;
	int status;

	if ((scopes = auth_all_scopes(req)) == NULL)
		return req->status;
	obj = json_object_new_object();
	json_object_object_add(obj, "issuer",
	    json_object_new_string(bh_cfg.auth_issuer));
	add_url(req, obj, "authorization_endpoint", "/oauth/authorize");
	add_url(req, obj, "token_endpoint", "/oauth/token");
	add_url(req, obj, "jwks_uri", "/.well-known/jwks.json");
	add_url(req, obj, "introspection_endpoint", "/oauth/introspect");
	add_url(req, obj, "revocation_endpoint", "/oauth/revoke");
	/* RFC 9207: the redirect back carries iss. */
	json_object_object_add(obj,
	    "authorization_response_iss_parameter_supported",
	    json_object_new_boolean(1));
	add_strings(obj, "response_types_supported", response_types);
	add_strings(obj, "grant_types_supported", grant_types);
	add_strings(obj, "code_challenge_methods_supported", methods);
	add_strings(obj, "token_endpoint_auth_methods_supported",
	    auth_methods);
	add_strings(obj, "introspection_endpoint_auth_methods_supported",
	    auth_methods);
	add_strings(obj, "revocation_endpoint_auth_methods_supported",
	    auth_methods);
	arr = json_object_new_array();
	copy = bh_pstrdup(req->pool, scopes);
	for (w = strtok_r(copy, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save))
		json_object_array_add(arr, json_object_new_string(w));
	json_object_object_add(obj, "scopes_supported", arr);
	bh_add_header(req, "Cache-Control", bh_psprintf(req->pool,
	    "public, max-age=%lld", auth_cfg.jwks_max_age));
	status = bh_send_json(req, 200, obj);
	json_object_put(obj);
	return status;
}

/* ------------------------------------------------ revoking a person */

const bh_param revoke_user_params[] = {
	{ "user_id", BH_BODY, BH_STRING, true, 1, 64, NULL, NULL, NULL },
	{ NULL, 0, 0, false, 0, 0, NULL, NULL, NULL }
};

/* A uuid as users makes them (8-4-4-4-12 hex digits), lower-cased into
 * out[37].  Returns false for anything else. */
static bool
uuid_lower(const char *s, char out[37])
{
	size_t i;

	if (!bh_uuid_valid(s))
		return false;
	for (i = 0; i < 37; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	return true;
}

struct revocation {
	const char *user_id;
	long long families;
};

static int
revoke_user_tx(bh_request *req, void *arg)
{
	struct revocation *r = arg;
	const char *const p[] = { r->user_id };
	PGresult *res;

	/* Refresh tokens stop working at once; access tokens are revoked
	 * for introspection (resource servers accept them until they
	 * expire); codes not yet exchanged are dropped. */
	res = bh_db_query(req, "UPDATE grant_families SET revoked_at = now() "
	    "WHERE sub = $1 AND revoked_at IS NULL", 1, p);
	if (res == NULL)
		return -1;
	r->families = strtoll(PQcmdTuples(res), NULL, 10);
	if (bh_db_query(req, "UPDATE access_tokens SET revoked_at = now() "
	    "WHERE sub = $1 AND revoked_at IS NULL", 1, p) == NULL ||
	    bh_db_query(req, "DELETE FROM authorization_codes WHERE sub = $1 "
	    "AND used_at IS NULL", 1, p) == NULL)
		return -1;
	return 0;
}

int
revoke_user_post(bh_request *req)
{
	struct revocation r;
	char id[37];
	json_object *obj;
	int status;

	if (!uuid_lower(bh_arg_str(req, "user_id"), id))
		return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER,
		    "user_id", "user_id must be a uuid");
	memset(&r, 0, sizeof(r));
	r.user_id = id;
	if (bh_db_tx(req, revoke_user_tx, &r) == -1)
		return req->status;
	bh_log(BH_LOG_INFO, "sessions of user %s revoked at the request of "
	    "%s: %lld famil%s", id, req->token->client_id, r.families,
	    r.families == 1 ? "y" : "ies");
	obj = json_object_new_object();
	json_object_object_add(obj, "revoked_families",
	    json_object_new_int64(r.families));
	bh_add_header(req, "Cache-Control", "no-store");
	status = bh_send_json(req, 200, obj);
	json_object_put(obj);
	return status;
}
