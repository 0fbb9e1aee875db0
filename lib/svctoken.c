/*
 * svctoken.c - this service's own access token, for calls to other
 * services (bh_http_call.service_token).
 *
 * The service is an OAuth2 confidential client of auth: it asks for a
 * client_credentials token (no scope parameter: it gets every scope it
 * is registered for) and keeps it per process until shortly before it
 * expires.  If auth cannot be reached when the token is due for renewal
 * but has not expired yet, the old one is used meanwhile.  The token
 * and the secret are never logged.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* Renew this long before expiry, or half the lifetime if that is
 * shorter (a very short-lived token). */
#define RENEW_MARGIN_S 60

static char *cached;             /* malloc'ed */
static uint64_t renew_at, expires_at; /* bh_now_us() times */
static bool warned_no_secret;

void
bh_service_token_invalidate(void)
{
	free(cached);
	cached = NULL;
	renew_at = expires_at = 0;
}

/* A plausible bearer token (RFC 6750 b64token, as JWTs are), short
 * enough to verify. */
static bool
token_acceptable(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > BH_JWT_MAX_LEN)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    (s[i] != '\0' && strchr("-._~+/=", s[i]) != NULL)))
			return false;
	return true;
}

/* Asks auth for a token.  Returns 0 with the cache filled, or -1 after
 * logging why. */
static int
fetch(int timeout_ms)
{
	static const char form[] = "grant_type=client_credentials";
	bh_pool *pool = bh_pool_new();
	bh_http_call call = {
		.upstream = "auth",
		.method = "POST",
		.url = bh_cfg.token_url,
		.content_type = "application/x-www-form-urlencoded",
		.body = form,
		.body_len = sizeof(form) - 1,
		.basic_user = bh_cfg.client_id,
		.basic_password = bh_cfg.client_secret,
		.timeout_ms = timeout_ms,
	};
	bh_http_response resp;
	json_object *doc, *access, *expires, *type;
	const char *token, *code = "no error code";
	int64_t lifetime, margin;
	uint64_t now;
	int rv = -1;

	if (bh_http(pool, &call, &resp) == -1) {
		bh_log(BH_LOG_WARN, "service token: auth unreachable: %s",
		    resp.error);
		goto out;
	}
	doc = bh_http_json(pool, &resp);
	if (resp.status != 200) {
		/* An RFC 6749 error: its code is safe to log (auth never
		 * echoes the secret). */
		if (doc != NULL && json_object_object_get_ex(doc, "error",
		    &type) && json_object_is_type(type, json_type_string))
			code = json_object_get_string(type);
		bh_log(BH_LOG_WARN, "service token: auth answered %ld (%.64s) "
		    "for client %s", resp.status, code,
		    bh_cfg.client_id);
		goto out;
	}
	if (doc == NULL ||
	    !json_object_is_type(doc, json_type_object) ||
	    !json_object_object_get_ex(doc, "access_token", &access) ||
	    !json_object_is_type(access, json_type_string) ||
	    !json_object_object_get_ex(doc, "expires_in", &expires) ||
	    !json_object_is_type(expires, json_type_int) ||
	    (json_object_object_get_ex(doc, "token_type", &type) &&
	    (!json_object_is_type(type, json_type_string) ||
	    strcasecmp(json_object_get_string(type), "Bearer") != 0))) {
		bh_log(BH_LOG_WARN, "service token: auth's answer is not a "
		    "bearer token response");
		goto out;
	}
	token = json_object_get_string(access);
	lifetime = json_object_get_int64(expires);
	if (!token_acceptable(token,
	    (size_t)json_object_get_string_len(access)) ||
	    lifetime <= 0 || lifetime > 7 * 24 * 3600) {
		bh_log(BH_LOG_WARN, "service token: auth's answer holds an "
		    "unusable token or lifetime");
		goto out;
	}
	margin = lifetime / 2 < RENEW_MARGIN_S ? lifetime / 2 : RENEW_MARGIN_S;
	free(cached);
	if ((cached = strdup(token)) == NULL)
		abort();
	now = bh_now_us();
	renew_at = now + (uint64_t)(lifetime - margin) * 1000000u;
	expires_at = now + (uint64_t)lifetime * 1000000u;
	bh_log(BH_LOG_DEBUG, "service token: got one for %lld s",
	    (long long)lifetime);
	rv = 0;
out:
	bh_pool_free(pool);
	return rv;
}

const char *
bh_service_token(void)
{
	return bh_service_token_within(0);
}

const char *
bh_service_token_within(int timeout_ms)
{
	uint64_t now = bh_now_us();

	if (cached != NULL && now < renew_at)
		return cached;
	if (bh_cfg.client_secret == NULL || bh_cfg.token_url == NULL ||
	    bh_cfg.client_id == NULL) {
		if (!warned_no_secret)
			bh_log(BH_LOG_WARN, "service token: no client secret "
			    "configured (BH_CLIENT_SECRET_FILE): calls that "
			    "need one fail");
		warned_no_secret = true;
		return NULL;
	}
	if (fetch(timeout_ms) == 0)
		return cached;
	/* auth is down: the old token still works until it expires. */
	if (cached != NULL && now < expires_at)
		return cached;
	bh_service_token_invalidate();
	return NULL;
}
