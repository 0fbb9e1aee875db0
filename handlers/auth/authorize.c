/*
 * authorize.c - GET and POST /oauth/authorize: auth's own sign-in page,
 * the front half of the authorization-code flow (RFC 6749 4.1, PKCE RFC
 * 7636 with S256 only).
 *
 * The client and its redirect URI are checked first, against the
 * registered list, byte for byte: until both are known good nothing is
 * redirected anywhere (an open redirector otherwise), and errors are an
 * HTML page.  After that, errors go back to the client as
 * redirect_uri?error=...&state=... (RFC 6749 4.1.2.1).
 *
 * The form is protected by a double-submit CSRF token: a random value
 * in an HttpOnly, SameSite=Strict cookie and the same value in a hidden
 * field, compared in constant time.  Over https the cookie is
 * "__Host-bh_csrf" (Secure, Path=/, no Domain), which a sibling origin
 * cannot set; over http it is "bh_csrf", scoped to /auth/oauth (see
 * docs/auth.md on what that leaves open).
 *
 * Sign-in attempts are limited per client address, and failures per
 * account and address and per account over all addresses (counters in
 * signin_counters), before the password is looked at; the answer is the
 * same whether the account exists or not.  The account is the address
 * in bellhop's one normal form (bh_email_normalize), as users stores
 * it: an address that has none cannot be an account, and gets the
 * wrong-credentials answer without asking users.  The password goes
 * only to users' /internal/verify-password, in a POST body.  An account
 * whose address is not verified yet cannot sign in: whoever signed up
 * with someone else's address must not get a session that outlives
 * the owner's taking it back (the pre-account hijack).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"

#define CSRF_COOKIE "bh_csrf"
#define CSRF_COOKIE_HOST "__Host-bh_csrf"
#define CSRF_BYTES 32
#define CSRF_LEN 43 /* base64url of 32 bytes */
#define STATE_MAX 1024
#define PASSWORD_MAX 1024
#define USER_ID_MAX 64

#define HTML_TYPE "text/html; charset=utf-8"

/* The OAuth parameters of an authorization request, as given. */
struct authz {
	const bh_kvlist *src;     /* the query (GET) or the form (POST) */
	struct auth_client client;
	const char *client_id, *redirect_uri, *response_type, *scope,
	    *state, *challenge, *method;
	const char *csrf;         /* the token for the form */
};

/* --------------------------------------------------------------- output */

static void
html_escape(bh_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': bh_buf_puts(b, "&amp;"); break;
		case '<': bh_buf_puts(b, "&lt;"); break;
		case '>': bh_buf_puts(b, "&gt;"); break;
		case '"': bh_buf_puts(b, "&quot;"); break;
		case '\'': bh_buf_puts(b, "&#39;"); break;
		default: bh_buf_append(b, s, 1);
		}
	}
}

static void
url_escape(bh_buf *b, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (isalnum(*p) || strchr("-._~", *p) != NULL)
			bh_buf_append(b, p, 1);
		else
			bh_buf_printf(b, "%%%02X", *p);
	}
}

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, "
    "initial-scale=1\">\n<title>Sign in &ndash; bellhop</title>\n<style>\n"
    "body{font-family:system-ui,sans-serif;margin:0;background:#f4f4f6;"
    "color:#1a1a1a}\n"
    "main{max-width:24rem;margin:3rem auto;background:#fff;padding:2rem;"
    "border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15)}\n"
    "h1{font-size:1.5rem;margin-top:0}\n"
    "label{display:block;margin-top:1rem;font-weight:600}\n"
    "input{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;"
    "margin-top:.3rem;border:1px solid #767676;border-radius:4px}\n"
    "input:focus,button:focus{outline:3px solid #1a5fb4;"
    "outline-offset:1px}\n"
    "button{margin-top:1.5rem;width:100%;padding:.7rem;font-size:1rem;"
    "background:#1a5fb4;color:#fff;border:0;border-radius:4px;"
    "cursor:pointer}\n"
    ".error{color:#a51d2d;background:#fbe9eb;padding:.6rem;"
    "border-radius:4px}\n"
    "</style>\n</head>\n<body>\n<main>\n";
static const char page_tail[] = "</main>\n</body>\n</html>\n";

/* Headers every HTML answer carries. */
static void
html_headers(bh_request *req)
{
	bh_add_header(req, "Cache-Control", "no-store");
	bh_add_header(req, "Pragma", "no-cache");
	/* No form-action: some browsers apply it to the redirect that
	 * follows the POST. */
	bh_add_header(req, "Content-Security-Policy", "default-src 'none'; "
	    "style-src 'unsafe-inline'; frame-ancestors 'none'");
	bh_add_header(req, "X-Frame-Options", "DENY");
	bh_add_header(req, "Referrer-Policy", "no-referrer");
}

static int
send_html(bh_request *req, int status, const bh_buf *b)
{
	html_headers(req);
	return bh_send(req, status, HTML_TYPE, b->data, b->len);
}

/* A page saying what went wrong, with no way onwards. */
static int
error_page(bh_request *req, int status, const char *title,
    const char *message)
{
	bh_buf b;

	bh_buf_init(&b, req->pool);
	bh_buf_puts(&b, page_head);
	bh_buf_puts(&b, "<h1>");
	html_escape(&b, title);
	bh_buf_puts(&b, "</h1>\n<p role=\"alert\">");
	html_escape(&b, message);
	bh_buf_puts(&b, "</p>\n");
	bh_buf_puts(&b, page_tail);
	return send_html(req, status, &b);
}

static void
hidden(bh_buf *b, const char *name, const char *value)
{
	if (value == NULL)
		return;
	bh_buf_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
	html_escape(b, value);
	bh_buf_puts(b, "\">\n");
}

/* True when people reach us over https (then the cookie can carry the
 * __Host- prefix, which browsers accept only with Secure). */
static bool
public_https(void)
{
	return strncasecmp(bh_cfg.public_url, "https:", 6) == 0;
}

static const char *
csrf_cookie_name(void)
{
	return public_https() ? CSRF_COOKIE_HOST : CSRF_COOKIE;
}

static void
set_csrf_cookie(bh_request *req, const char *token)
{
	if (public_https())
		bh_add_header(req, "Set-Cookie", bh_psprintf(req->pool,
		    CSRF_COOKIE_HOST "=%s; Path=/; Secure; HttpOnly; "
		    "SameSite=Strict", token));
	else
		bh_add_header(req, "Set-Cookie", bh_psprintf(req->pool,
		    CSRF_COOKIE "=%s; Path=%s/oauth; HttpOnly; "
		    "SameSite=Strict", token, bh_cfg.base_path));
}

/* The sign-in form, with message (may be NULL) and email (may be NULL)
 * filled in. */
static int
form_page(bh_request *req, int status, const struct authz *a,
    const char *message, const char *email)
{
	bh_buf b;

	bh_buf_init(&b, req->pool);
	bh_buf_puts(&b, page_head);
	bh_buf_puts(&b, "<h1>Sign in</h1>\n<p>to continue to <strong>");
	html_escape(&b, a->client.id);
	bh_buf_puts(&b, "</strong></p>\n");
	if (message != NULL) {
		bh_buf_puts(&b, "<p class=\"error\" role=\"alert\" "
		    "id=\"form-error\">");
		html_escape(&b, message);
		bh_buf_puts(&b, "</p>\n");
	}
	/* Relative: the page's own URL, wherever it is mounted. */
	bh_buf_puts(&b, "<form method=\"post\" action=\"authorize\">\n"
	    "<label for=\"email\">Email</label>\n"
	    "<input id=\"email\" name=\"email\" type=\"email\" "
	    "autocomplete=\"username\" required");
	if (message != NULL)
		bh_buf_puts(&b, " aria-describedby=\"form-error\"");
	if (email != NULL) {
		bh_buf_puts(&b, " value=\"");
		html_escape(&b, email);
		bh_buf_puts(&b, "\"");
	} else
		bh_buf_puts(&b, " autofocus");
	bh_buf_puts(&b, ">\n<label for=\"password\">Password</label>\n"
	    "<input id=\"password\" name=\"password\" type=\"password\" "
	    "autocomplete=\"current-password\" required");
	if (email != NULL)
		bh_buf_puts(&b, " autofocus");
	bh_buf_puts(&b, ">\n");
	hidden(&b, "csrf_token", a->csrf);
	hidden(&b, "response_type", a->response_type);
	hidden(&b, "client_id", a->client_id);
	hidden(&b, "redirect_uri", a->redirect_uri);
	hidden(&b, "scope", a->scope);
	hidden(&b, "state", a->state);
	hidden(&b, "code_challenge", a->challenge);
	hidden(&b, "code_challenge_method", a->method);
	bh_buf_puts(&b, "<button type=\"submit\">Sign in</button>\n</form>\n");
	bh_buf_puts(&b, page_tail);
	set_csrf_cookie(req, a->csrf);
	return send_html(req, status, &b);
}

/* 303 to the client's redirect URI with params (name, value pairs,
 * NULL-terminated; NULL values skipped), plus state and iss. */
static int
redirect_back(bh_request *req, const struct authz *a,
    const char *const *params)
{
	bh_buf b;

	bh_buf_init(&b, req->pool);
	bh_buf_puts(&b, a->redirect_uri);
	bh_buf_puts(&b, strchr(a->redirect_uri, '?') != NULL ? "&" : "?");
	for (; params[0] != NULL; params += 2) {
		if (params[1] == NULL)
			continue;
		bh_buf_printf(&b, "%s=", params[0]);
		url_escape(&b, params[1]);
		bh_buf_puts(&b, "&");
	}
	if (a->state != NULL) {
		bh_buf_puts(&b, "state=");
		url_escape(&b, a->state);
		bh_buf_puts(&b, "&");
	}
	/* RFC 9207: tells the client which server answered. */
	bh_buf_puts(&b, "iss=");
	url_escape(&b, bh_cfg.auth_issuer);
	html_headers(req);
	bh_add_header(req, "Location", b.data);
	return bh_send(req, 303, NULL, NULL, 0);
}

static int
redirect_error(bh_request *req, const struct authz *a, const char *error,
    const char *description)
{
	const char *const params[] = { "error", error, "error_description",
	    description, NULL, NULL };

	return redirect_back(req, a, params);
}

/* ----------------------------------------------------------- validation */

int
list_field(const bh_kvlist *list, const char *name, const char **val)
{
	const bh_kv *kv, *found = NULL;
	size_t i;

	*val = NULL;
	for (i = 0; i < list->n; i++) {
		kv = &list->items[i];
		if (strcmp(kv->key, name) != 0)
			continue;
		if (found != NULL)
			return -1;
		found = kv;
	}
	if (found == NULL || found->len == 0)
		return 0;
	if (!bh_utf8_valid(found->val, found->len))
		return -1;
	*val = found->val;
	return 1;
}

/*
 * Checks the client and its redirect URI.  Returns 0, or the status of
 * the error page it set: nothing may be redirected before this passes.
 */
static int
check_client(bh_request *req, struct authz *a)
{
	int rc;

	if (list_field(a->src, "client_id", &a->client_id) != 1 ||
	    list_field(a->src, "redirect_uri", &a->redirect_uri) != 1)
		return error_page(req, 400, "Sign-in request refused",
		    "The application that sent you here did not say who it "
		    "is or where to return (client_id and redirect_uri, "
		    "once each).");
	if ((rc = auth_client_load(req, a->client_id, &a->client)) == -1)
		return error_page(req, 503, "Sign-in unavailable",
		    "Signing in is not possible right now. Please try "
		    "again in a minute.");
	if (rc == 0 || !a->client.authorization_code)
		return error_page(req, 400, "Sign-in request refused",
		    "The application that sent you here is not registered "
		    "for signing in.");
	if (!auth_client_redirect_ok(&a->client, a->redirect_uri))
		return error_page(req, 400, "Sign-in request refused",
		    "The address to return to is not registered for this "
		    "application.");
	return 0;
}

/* True if s is the base64url form of a SHA-256 digest. */
static bool
challenge_wellformed(const char *s)
{
	size_t i;

	if (strlen(s) != 43)
		return false;
	for (i = 0; i < 43; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

/*
 * Checks the other OAuth parameters (the client is known good).
 * Returns 0, or the status of the redirect carrying the error it set.
 */
static int
check_request(bh_request *req, struct authz *a)
{
	static const char *const names[] = { "response_type", "scope",
	    "state", "code_challenge", "code_challenge_method", NULL };
	const char *const *n;
	const char *v;

	/* state first, so that the errors below can carry it back. */
	if (list_field(a->src, "state", &a->state) == -1 ||
	    (a->state != NULL && strlen(a->state) > STATE_MAX)) {
		a->state = NULL;
		return redirect_error(req, a, "invalid_request",
		    "state is repeated, too long or not UTF-8");
	}
	for (n = names; *n != NULL; n++)
		if (list_field(a->src, *n, &v) == -1)
			return redirect_error(req, a, "invalid_request",
			    bh_psprintf(req->pool, "%s is repeated or not "
			    "UTF-8", *n));
	list_field(a->src, "response_type", &a->response_type);
	list_field(a->src, "scope", &a->scope);
	list_field(a->src, "code_challenge", &a->challenge);
	list_field(a->src, "code_challenge_method", &a->method);
	if (a->response_type == NULL)
		return redirect_error(req, a, "invalid_request",
		    "response_type is missing");
	if (strcmp(a->response_type, "code") != 0)
		return redirect_error(req, a, "unsupported_response_type",
		    "response_type must be code");
	if (a->challenge == NULL)
		return redirect_error(req, a, "invalid_request",
		    "code_challenge is required (PKCE)");
	if (a->method == NULL || strcmp(a->method, "S256") != 0)
		return redirect_error(req, a, "invalid_request",
		    "code_challenge_method must be S256");
	if (!challenge_wellformed(a->challenge))
		return redirect_error(req, a, "invalid_request",
		    "code_challenge must be 43 characters of base64url");
	if (a->scope != NULL && (strlen(a->scope) > 1024 ||
	    !scope_wellformed(a->scope) ||
	    !scope_subset(a->scope, a->client.scopes)))
		return redirect_error(req, a, "invalid_scope",
		    "the scope asked for is not granted to this "
		    "application");
	return 0;
}

static bool
csrf_wellformed(const char *s)
{
	return s != NULL && strlen(s) == CSRF_LEN &&
	    challenge_wellformed(s);
}

/* ------------------------------------------------------------------ GET */

int
authorize_get(bh_request *req)
{
	struct authz a;
	const char *cookie;

	memset(&a, 0, sizeof(a));
	a.src = &req->query_params;
	if (check_client(req, &a) != 0 || check_request(req, &a) != 0)
		return req->status;
	/* Keep a token the browser has already: two tabs both work. */
	cookie = bh_cookie_get(req, csrf_cookie_name());
	a.csrf = csrf_wellformed(cookie) ? cookie :
	    bh_random_token(req->pool, CSRF_BYTES);
	return form_page(req, 200, &a, NULL, NULL);
}

/* ----------------------------------------------------------------- POST */

#define COUNT_SQL \
	"INSERT INTO signin_counters AS c (kind, subject, window_start, " \
	"count) VALUES ($1, $2, now(), 1) ON CONFLICT (kind, subject) DO " \
	"UPDATE SET window_start = CASE WHEN c.window_start + " \
	"make_interval(secs => $3::int) <= now() THEN now() ELSE " \
	"c.window_start END, count = CASE WHEN c.window_start + " \
	"make_interval(secs => $3::int) <= now() THEN 1 ELSE c.count + 1 " \
	"END RETURNING count, greatest(1, ceil(extract(epoch FROM " \
	"c.window_start + make_interval(secs => $3::int) - now())))::bigint"

/* Counts one more for (kind, subject).  Returns 1 when within limit, 0
 * when over it (*retry_after set), -1 with the response set. */
static int
count_attempt(bh_request *req, const char *kind, const char *subject,
    long long limit, long long *retry_after)
{
	const char *p[3];
	PGresult *res;

	p[0] = kind;
	p[1] = subject;
	p[2] = bh_psprintf(req->pool, "%lld", auth_cfg.signin_window);
	if ((res = bh_db_query(req, COUNT_SQL, 3, p)) == NULL)
		return -1;
	*retry_after = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	return strtoll(PQgetvalue(res, 0, 0), NULL, 10) <= limit;
}

/* The account's counters of one sign-in: failures per account and
 * client address, and per account over all addresses (SHA-256s). */
struct account_counters {
	const char *pair, *total;
};

/* Takes back the account's counts: the attempt was no failure. */
static void
uncount_account(bh_request *req, const struct account_counters *ac)
{
	bh_db_query(req, "UPDATE signin_counters SET count = greatest(count "
	    "- 1, 0) WHERE (kind = 'account_address' AND subject = $1) OR "
	    "(kind = 'account' AND subject = $2)", 2,
	    (const char *const[]){ ac->pair, ac->total });
}

static int
too_many(bh_request *req, long long retry_after)
{
	long long minutes = (retry_after + 59) / 60;

	bh_add_header(req, "Retry-After", bh_psprintf(req->pool, "%lld",
	    retry_after));
	return error_page(req, 429, "Too many sign-in attempts",
	    bh_psprintf(req->pool, "Too many sign-in attempts. Please try "
	    "again in %lld minute%s.", minutes, minutes == 1 ? "" : "s"));
}

enum verdict { VERIFIED, REFUSED, UNAVAILABLE };

/* Asks users whether email and password match; *user_id gets the id and
 * *email_verified whether the address is confirmed. */
static enum verdict
verify_password(bh_request *req, const char *email, const char *password,
    const char **user_id, bool *email_verified)
{
	bh_http_call call;
	bh_http_response resp;
	json_object *body, *doc, *v, *user, *id, *verified;
	const char *text;
	size_t len;
	enum verdict verdict = UNAVAILABLE;

	body = json_object_new_object();
	json_object_object_add(body, "email", json_object_new_string(email));
	json_object_object_add(body, "password",
	    json_object_new_string(password));
	text = json_object_to_json_string_length(body,
	    JSON_C_TO_STRING_PLAIN, &len);
	memset(&call, 0, sizeof(call));
	call.upstream = "users";
	call.method = "POST";
	call.url = bh_psprintf(req->pool, "%s/internal/verify-password",
	    bh_service_url("users"));
	call.body = bh_pstrndup(req->pool, text, len);
	call.body_len = len;
	call.service_token = true;
	memset(&resp, 0, sizeof(resp));
	/* The copy in the pool outlives this; the password is not kept
	 * elsewhere. */
	json_object_put(body);
	if (bh_http(req->pool, &call, &resp) == -1) {
		bh_log(BH_LOG_WARN, "users did not answer the password check: "
		    "%s", resp.error != NULL ? resp.error : "no answer");
		goto out;
	}
	if (resp.status == 400 || resp.status == 422) {
		/* users refused the email or password as malformed: as
		 * wrong as a wrong password. */
		verdict = REFUSED;
		goto out;
	}
	if (resp.status != 200 || (doc = bh_http_json(req->pool, &resp)) ==
	    NULL || !json_object_object_get_ex(doc, "verified", &v) ||
	    !json_object_is_type(v, json_type_boolean)) {
		bh_log(BH_LOG_ERROR, "users answered the password check with "
		    "status %ld and no verdict", resp.status);
		goto out;
	}
	if (!json_object_get_boolean(v)) {
		verdict = REFUSED;
		goto out;
	}
	if (!json_object_object_get_ex(doc, "user", &user) ||
	    !json_object_object_get_ex(user, "id", &id) ||
	    !json_object_is_type(id, json_type_string) ||
	    json_object_get_string_len(id) < 1 ||
	    json_object_get_string_len(id) > USER_ID_MAX ||
	    !json_object_object_get_ex(user, "email_verified", &verified) ||
	    !json_object_is_type(verified, json_type_boolean)) {
		bh_log(BH_LOG_ERROR, "users verified a password but sent no "
		    "usable user id or email_verified");
		goto out;
	}
	*user_id = bh_pstrdup(req->pool, json_object_get_string(id));
	*email_verified = json_object_get_boolean(verified);
	verdict = VERIFIED;
out:
	explicit_bzero((char *)call.body, call.body != NULL ? len : 0);
	return verdict;
}

/* Makes the code and redirects back with it. */
static int
issue_code(bh_request *req, const struct authz *a, const char *user_id)
{
	const char *code = bh_random_token(req->pool, 32);
	const char *p[7];
	const char *params[] = { "code", code, NULL, NULL };

	p[0] = bh_sha256_hex(req->pool, code, strlen(code));
	p[1] = a->client.id;
	p[2] = user_id;
	p[3] = a->redirect_uri;
	p[4] = a->scope != NULL ? a->scope : a->client.scopes;
	p[5] = a->challenge;
	p[6] = bh_psprintf(req->pool, "%lld", auth_cfg.code_ttl);
	if (bh_db_query(req, "INSERT INTO authorization_codes (code_hash, "
	    "client_id, sub, redirect_uri, scope, code_challenge, expires_at) "
	    "VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => "
	    "$7::int))", 7, p) == NULL)
		return req->status;
	return redirect_back(req, a, params);
}

/* The answer to a wrong password, an unknown account and an address
 * that cannot be one: the same page.  400: the credentials are a bad
 * part of the request (401 would need a WWW-Authenticate challenge). */
static int
wrong_credentials(bh_request *req, const struct authz *a, const char *email)
{
	return form_page(req, 400, a, "Wrong email or password.", email);
}

/* Counts a sign-in against the account (its normal form, account) from
 * address: per account and address first, so that a person's own
 * address stays usable while someone else's guesses run into theirs,
 * then per account over all addresses.  Returns 0 with *ac set, or the
 * status of the answer it set (429, or a database failure). */
static int
count_account(bh_request *req, const char *account, const char *address,
    struct account_counters *ac)
{
	long long retry_after;
	const char *pair;
	int rc;

	pair = bh_psprintf(req->pool, "%s\n%s", account, address);
	ac->pair = bh_sha256_hex(req->pool, pair, strlen(pair));
	ac->total = bh_sha256_hex(req->pool, account, strlen(account));
	if ((rc = count_attempt(req, "account_address", ac->pair,
	    auth_cfg.limit_account, &retry_after)) == 1)
		rc = count_attempt(req, "account", ac->total,
		    auth_cfg.limit_account_total, &retry_after);
	if (rc == 1)
		return 0;
	return rc == -1 ? req->status : too_many(req, retry_after);
}

int
authorize_post(bh_request *req)
{
	struct authz a;
	struct account_counters ac;
	const char *cookie, *field, *email, *password, *account,
	    *user_id = NULL;
	const char *address = req->remote_addr != NULL ? req->remote_addr :
	    "unknown";
	long long retry_after;
	bool email_verified = false;
	int rc;

	memset(&a, 0, sizeof(a));
	a.src = &req->form;
	if (req->content_type == NULL || strcmp(req->content_type,
	    "application/x-www-form-urlencoded") != 0)
		return error_page(req, 415, "Sign-in request refused",
		    "The sign-in form must be sent as a web form.");
	if (check_client(req, &a) != 0)
		return req->status;

	/* Double submit: only a page of ours knows the cookie's value. */
	cookie = bh_cookie_get(req, csrf_cookie_name());
	if (list_field(a.src, "csrf_token", &field) != 1 ||
	    !csrf_wellformed(cookie) ||
	    !bh_ct_equal(cookie, strlen(cookie), field, strlen(field)))
		return error_page(req, 403, "Sign-in form expired",
		    "This sign-in form has expired or did not come from this "
		    "site. Go back to the application and sign in again.");
	a.csrf = cookie;
	if (check_request(req, &a) != 0)
		return req->status;

	if (list_field(a.src, "email", &email) != 1 ||
	    list_field(a.src, "password", &password) != 1)
		return form_page(req, 400, &a, "Enter your email and "
		    "password.", email);

	/* Limits before the password is looked at: every attempt counts
	 * against the address, malformed ones too. */
	if ((rc = count_attempt(req, "address", address,
	    auth_cfg.limit_address, &retry_after)) != 1)
		return rc == -1 ? req->status : too_many(req, retry_after);
	account = bh_email_normalize(req->pool, email, strlen(email));
	if (account == NULL || strlen(password) > PASSWORD_MAX)
		return wrong_credentials(req, &a, email);
	if (count_account(req, account, address, &ac) != 0)
		return req->status;

	rc = verify_password(req, account, password, &user_id,
	    &email_verified);
	/* Only a wrong password is a failure: take the count back for
	 * anything else. */
	if (rc != REFUSED)
		uncount_account(req, &ac);
	if (rc == UNAVAILABLE) {
		bh_add_header(req, "Retry-After", bh_psprintf(req->pool, "%d",
		    bh_cfg.retry_after));
		return error_page(req, 503, "Sign-in unavailable",
		    "Signing in is not possible right now. Please try again "
		    "in a minute.");
	}
	if (rc == REFUSED)
		return wrong_credentials(req, &a, email);
	if (!email_verified)
		return form_page(req, 403, &a, "Confirm your email address "
		    "first: send the code from the message we mailed to it "
		    "(see that message for how), then sign in again.", email);
	return issue_code(req, &a, user_id);
}
