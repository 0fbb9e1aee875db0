/*
 * clients.c - registered OAuth2 clients: the `bellhop-auth client`
 * command, and authenticating the client that calls the token,
 * introspection and revocation endpoints.
 *
 * Every client is confidential and has a secret of 32 random bytes
 * (base64url, 43 characters) made here and printed once.  Only its
 * SHA-256 is stored: a secret with 256 bits of entropy cannot be found by
 * trying candidates, so a slow password hash would add cost and nothing
 * else.  The comparison is constant-time anyway.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"

#define NAME_MAX_LEN 64
#define REDIRECT_URI_MAX 2000
#define SECRET_MAX_LEN 512

/* The SHA-256 of nothing anyone holds, compared against when the client
 * is unknown, so that both failures take the same path. */
static const char dummy_hash[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static bool
name_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("._:-", s[i]) ==
		    NULL)
			return false;
	return true;
}

bool
scope_wellformed(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	bool word = false;

	/* RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ),
	 * separated by single spaces. */
	for (; *p != '\0'; p++) {
		if (*p == ' ') {
			if (!word)
				return false;
			word = false;
		} else if (*p >= 0x21 && *p <= 0x7e && *p != '"' &&
		    *p != '\\')
			word = true;
		else
			return false;
	}
	return word || *s == '\0';
}

bool
scope_subset(const char *want, const char *have)
{
	const char *w = want, *end, *h, *hend;
	size_t wlen;
	bool found;

	while (*w != '\0') {
		while (*w == ' ')
			w++;
		if (*w == '\0')
			break;
		end = strchr(w, ' ');
		wlen = end != NULL ? (size_t)(end - w) : strlen(w);
		found = false;
		for (h = have; *h != '\0' && !found; h = hend) {
			while (*h == ' ')
				h++;
			hend = strchr(h, ' ');
			if (hend == NULL)
				hend = h + strlen(h);
			found = (size_t)(hend - h) == wlen &&
			    memcmp(h, w, wlen) == 0;
		}
		if (!found)
			return false;
		w += wlen;
	}
	return true;
}

const char *
scope_intersect(bh_pool *pool, const char *a, const char *b)
{
	char *copy = bh_pstrdup(pool, a), *w, *save = NULL;
	bh_buf out;

	bh_buf_init(&out, pool);
	for (w = strtok_r(copy, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save)) {
		if (!scope_subset(w, b))
			continue;
		if (out.len > 0)
			bh_buf_puts(&out, " ");
		bh_buf_puts(&out, w);
	}
	return out.data;
}

/* Splits a space-separated list into a NULL-terminated array in pool. */
static const char *const *
split_words(bh_pool *pool, const char *s, size_t *n)
{
	const char **v;
	char *copy = bh_pstrdup(pool, s), *p, *save = NULL;
	size_t cap = 1;

	for (p = copy; *p != '\0'; p++)
		if (*p == ' ')
			cap++;
	v = bh_palloc(pool, (cap + 1) * sizeof(*v));
	*n = 0;
	for (p = strtok_r(copy, " ", &save); p != NULL;
	    p = strtok_r(NULL, " ", &save))
		v[(*n)++] = p;
	v[*n] = NULL;
	return v;
}

#define CLIENT_SQL \
	"SELECT client_id, array_to_string(scopes, ' '), " \
	"array_to_string(audiences, ' '), " \
	"array_to_string(redirect_uris, ' '), " \
	"'client_credentials' = ANY (grant_types), " \
	"'authorization_code' = ANY (grant_types), secret_hash " \
	"FROM clients WHERE client_id = $1"

/* As auth_client_load; *hash gets the stored secret hash. */
static int
client_load(bh_request *req, const char *id, struct auth_client *c,
    const char **hash)
{
	PGresult *res;
	size_t n;

	memset(c, 0, sizeof(*c));
	if (!name_ok(id))
		return 0;
	res = bh_db_query(req, CLIENT_SQL, 1, (const char *const[]){ id });
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
		return 0;
	c->id = PQgetvalue(res, 0, 0);
	c->scopes = PQgetvalue(res, 0, 1);
	c->audiences = split_words(req->pool, PQgetvalue(res, 0, 2),
	    &c->naudiences);
	c->redirect_uris = split_words(req->pool, PQgetvalue(res, 0, 3), &n);
	c->client_credentials = PQgetvalue(res, 0, 4)[0] == 't';
	c->authorization_code = PQgetvalue(res, 0, 5)[0] == 't';
	if (hash != NULL)
		*hash = PQgetvalue(res, 0, 6);
	return 1;
}

int
auth_client_load(bh_request *req, const char *id, struct auth_client *c)
{
	return client_load(req, id, c, NULL);
}

bool
auth_client_redirect_ok(const struct auth_client *c, const char *uri)
{
	const char *const *r;

	for (r = c->redirect_uris; r != NULL && *r != NULL; r++)
		if (strcmp(*r, uri) == 0)
			return true;
	return false;
}

const char *
auth_all_scopes(bh_request *req)
{
	PGresult *res;

	res = bh_db_query(req, "SELECT coalesce(string_agg(DISTINCT s, ' ' "
	    "ORDER BY s), '') FROM clients, unnest(scopes) AS s", 0, NULL);
	if (res == NULL)
		return NULL;
	return PQgetvalue(res, 0, 0);
}

static int
invalid_client(bh_request *req, const char *description)
{
	bh_add_header(req, "WWW-Authenticate",
	    "Basic realm=\"bellhop-auth\"");
	return oauth_error(req, 401, "invalid_client", description);
}

/*
 * The credentials of an "Authorization: Basic" header: RFC 6749 2.3.1
 * form-urlencodes the id and the secret before joining them with ':'.
 * Returns 1 with *id, *secret set, 0 when there is no Authorization
 * header, -1 when it is not well-formed Basic.
 */
static int
basic_credentials(bh_request *req, const char **id, const char **secret)
{
	const char *h = bh_header_get(req, "authorization"), *colon;
	unsigned char *raw;
	size_t len, idlen, secretlen;

	if (h == NULL)
		return 0;
	if (strncasecmp(h, "Basic ", 6) != 0)
		return -1;
	h += 6;
	while (*h == ' ')
		h++;
	len = strlen(h);
	if (len == 0 || len > 4 * SECRET_MAX_LEN ||
	    (raw = bh_b64_decode(req->pool, h, len, &len)) == NULL)
		return -1;
	if (memchr(raw, '\0', len) != NULL ||
	    (colon = memchr(raw, ':', len)) == NULL)
		return -1;
	*id = bh_url_decode(req->pool, (const char *)raw,
	    (size_t)(colon - (const char *)raw), true, &idlen);
	*secret = bh_url_decode(req->pool, colon + 1,
	    len - (size_t)(colon + 1 - (const char *)raw), true, &secretlen);
	if (*id == NULL || *secret == NULL || idlen == 0 ||
	    !bh_utf8_valid(*id, idlen) || !bh_utf8_valid(*secret, secretlen))
		return -1;
	return 1;
}

int
auth_client_authenticate(bh_request *req, struct auth_client *c)
{
	const char *id = NULL, *secret = NULL, *form_id = NULL,
	    *form_secret = NULL, *hash = NULL, *given;
	int basic, fid, fsecret, found;

	memset(c, 0, sizeof(*c));
	basic = basic_credentials(req, &id, &secret);
	if (basic == -1)
		return invalid_client(req, "the Authorization header is not "
		    "well-formed HTTP Basic credentials");
	fid = form_field(req, "client_id", &form_id);
	fsecret = form_field(req, "client_secret", &form_secret);
	if (fid == -1 || fsecret == -1)
		return oauth_error(req, 400, "invalid_request",
		    "client_id and client_secret may appear once each");
	if (basic == 1) {
		if (fsecret == 1)
			return oauth_error(req, 400, "invalid_request",
			    "use one client authentication method, not both "
			    "HTTP Basic and client_secret");
		if (fid == 1 && strcmp(form_id, id) != 0)
			return oauth_error(req, 400, "invalid_request",
			    "client_id differs from the authenticated "
			    "client");
	} else if (fid == 1 && fsecret == 1) {
		id = form_id;
		secret = form_secret;
	} else
		return invalid_client(req, "client authentication is "
		    "required (HTTP Basic or client_secret_post)");

	if ((found = client_load(req, id, c, &hash)) == -1)
		return req->status;
	given = bh_sha256_hex(req->pool, secret, strlen(secret));
	if (found == 0)
		hash = dummy_hash;
	if (!bh_ct_equal(given, strlen(given), hash, strlen(hash)) ||
	    found == 0) {
		memset(c, 0, sizeof(*c));
		return invalid_client(req, "client authentication failed");
	}
	return 0;
}

/* ---------------------------------------------------------- command */

static int
client_usage(void)
{
	fprintf(stderr, "usage: bellhop-auth client add NAME --scopes \"A B\" "
	    "--audiences \"X Y\"\n"
	    "                       [--redirect-uri URI]... [--replace]\n"
	    "       bellhop-auth client list\n"
	    "       bellhop-auth client remove NAME\n");
	return 2;
}

static bool
audience_ok(const char *s)
{
	return name_ok(s);
}

/* True if the authority (host and optional port) host[0..len) names
 * this machine: 127.0.0.1, [::1] or localhost. */
static bool
loopback_host(const char *host, size_t len)
{
	static const char *const names[] = { "127.0.0.1", "[::1]",
	    "localhost", NULL };
	const char *const *n;
	size_t hlen;

	for (n = names; *n != NULL; n++) {
		hlen = strlen(*n);
		if (len >= hlen && strncasecmp(host, *n, hlen) == 0 &&
		    (len == hlen || host[hlen] == ':'))
			return true;
	}
	return false;
}

/*
 * An absolute https URI (RFC 9700 2.1: redirect URIs are exact and not
 * open to a network attacker), or http to a loopback host (a native
 * app's or a developer's), without spaces, fragment or user info (a "@"
 * in the authority makes the host a different one than it reads).  The
 * port, when given, is digits.
 */
static bool
redirect_uri_ok(const char *s)
{
	size_t n = strlen(s), i, alen;
	const char *authority, *colon;
	bool https = strncmp(s, "https://", 8) == 0;

	if (n > REDIRECT_URI_MAX || (!https && strncmp(s, "http://", 7) != 0))
		return false;
	for (i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || s[i] == '#')
			return false;
	authority = s + (https ? 8 : 7);
	alen = strcspn(authority, "/?");
	if (alen == 0 || memchr(authority, '@', alen) != NULL)
		return false;
	/* The port: after the last ':' outside brackets ("[::1]:8080"). */
	colon = NULL;
	for (i = alen; i > 0; i--) {
		if (authority[i - 1] == ']')
			break;
		if (authority[i - 1] == ':') {
			colon = authority + i - 1;
			break;
		}
	}
	if (colon != NULL) {
		if (colon == authority || colon + 1 == authority + alen)
			return false;
		for (i = 1; colon + i < authority + alen; i++)
			if (colon[i] < '0' || colon[i] > '9')
				return false;
	}
	return https || loopback_host(authority, alen);
}

/* Normalises a list given on the command line (words separated by any
 * blanks) into words separated by one space, each checked by ok.
 * Returns 0, or -1 after naming the bad word. */
static int
normalise_list(bh_buf *out, const char *what, const char *in,
    bool (*ok)(const char *))
{
	char *copy = bh_pstrdup(out->pool, in), *w, *save = NULL;

	for (w = strtok_r(copy, " \t\n", &save); w != NULL;
	    w = strtok_r(NULL, " \t\n", &save)) {
		if (!ok(w)) {
			auth_cmd_fail("bad %s '%s'", what, w);
			return -1;
		}
		if (out->len > 0)
			bh_buf_puts(out, " ");
		bh_buf_puts(out, w);
	}
	return 0;
}

static bool
scope_word_ok(const char *w)
{
	return scope_wellformed(w) && strlen(w) <= NAME_MAX_LEN;
}

/* The value of option name at argv[*i] ("--name V" or "--name=V"), or
 * NULL when argv[*i] is not that option.  *missing is set when the value
 * is absent. */
static const char *
option_value(int argc, char **argv, int *i, const char *name, bool *missing)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

/* Runs sql with the parameters on conn for a command: true when it
 * succeeded, else false after saying why (unless it failed with
 * SQLSTATE quiet_state, which the caller explains). */
static bool
cmd_query(PGconn *conn, const char *sql, int nparams,
    const char *const *params, const char *quiet_state, PGresult **out)
{
	PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL,
	    NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	const char *state;
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (quiet_state == NULL || state == NULL ||
		    strcmp(state, quiet_state) != 0)
			auth_cmd_fail("database: %s", PQerrorMessage(conn));
	}
	if (out != NULL)
		*out = res;
	else
		PQclear(res);
	return ok;
}

/*
 * Revokes every token of client name: its access tokens (recorded by
 * jti, so introspection says inactive at once; resource servers accept
 * them until they expire) and its grant families (refresh tokens stop
 * working at once).  Inside the caller's transaction.
 */
static bool
revoke_client_tokens(PGconn *conn, const char *name)
{
	const char *const p[] = { name };

	return cmd_query(conn, "UPDATE access_tokens SET revoked_at = now() "
	    "WHERE client_id = $1 AND revoked_at IS NULL", 1, p, NULL,
	    NULL) && cmd_query(conn, "UPDATE grant_families SET revoked_at = "
	    "now() WHERE client_id = $1 AND revoked_at IS NULL", 1, p, NULL,
	    NULL);
}

static int
client_add(int argc, char **argv)
{
	const char *name = NULL, *scopes_in = "", *audiences_in = "", *v;
	const char *params[6], *secret;
	bh_pool *pool = bh_pool_new();
	bh_buf scopes, audiences, uris;
	bool replace = false, missing = false;
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int rc = 2, i;

	bh_buf_init(&scopes, pool);
	bh_buf_init(&audiences, pool);
	bh_buf_init(&uris, pool);
	for (i = 2; i < argc; i++) {
		if ((v = option_value(argc, argv, &i, "--scopes",
		    &missing)) != NULL)
			scopes_in = v;
		else if ((v = option_value(argc, argv, &i, "--audiences",
		    &missing)) != NULL)
			audiences_in = v;
		else if ((v = option_value(argc, argv, &i, "--redirect-uri",
		    &missing)) != NULL) {
			if (!redirect_uri_ok(v)) {
				rc = 1;
				auth_cmd_fail("bad redirect URI '%s': an "
				    "absolute https URI (http only to "
				    "127.0.0.1, [::1] or localhost) without "
				    "spaces, user info or fragment, at most %d "
				    "characters", v, REDIRECT_URI_MAX);
				goto out;
			}
			if (uris.len > 0)
				bh_buf_puts(&uris, " ");
			bh_buf_puts(&uris, v);
		} else if (strcmp(argv[i], "--replace") == 0)
			replace = true;
		else if (missing || argv[i][0] == '-' || name != NULL) {
			rc = client_usage();
			goto out;
		} else
			name = argv[i];
		if (missing) {
			rc = client_usage();
			goto out;
		}
	}
	if (name == NULL) {
		rc = client_usage();
		goto out;
	}
	rc = 1;
	if (!name_ok(name)) {
		auth_cmd_fail("bad client name '%s': 1-%d characters of "
		    "A-Z a-z 0-9 . _ : -", name, NAME_MAX_LEN);
		goto out;
	}
	if (normalise_list(&scopes, "scope", scopes_in, scope_word_ok) ==
	    -1 || normalise_list(&audiences, "audience", audiences_in,
	    audience_ok) == -1)
		goto out;
	if ((conn = auth_cmd_connect()) == NULL)
		goto out;
	secret = bh_random_token(pool, 32);
	params[0] = name;
	params[1] = bh_sha256_hex(pool, secret, strlen(secret));
	params[2] = scopes.data;
	params[3] = audiences.data;
	params[4] = uris.data;
	/* A client sending people to a redirect URI uses the code flow
	 * (and refresh tokens); one without acts for itself. */
	params[5] = uris.len > 0 ? "{authorization_code,refresh_token}" :
	    "{client_credentials}";
	if (!cmd_query(conn, "BEGIN", 0, NULL, NULL, NULL))
		goto out;
	if (!cmd_query(conn, replace ?
	    "INSERT INTO clients AS c (client_id, secret_hash, scopes, "
	    "audiences, redirect_uris, grant_types) VALUES ($1, $2, "
	    "string_to_array($3, ' '), string_to_array($4, ' '), "
	    "string_to_array($5, ' '), $6::text[]) "
	    "ON CONFLICT (client_id) DO UPDATE SET "
	    "secret_hash = EXCLUDED.secret_hash, scopes = EXCLUDED.scopes, "
	    "audiences = EXCLUDED.audiences, "
	    "redirect_uris = EXCLUDED.redirect_uris, "
	    "grant_types = EXCLUDED.grant_types, updated_at = now()" :
	    "INSERT INTO clients (client_id, secret_hash, scopes, audiences, "
	    "redirect_uris, grant_types) VALUES ($1, $2, "
	    "string_to_array($3, ' '), string_to_array($4, ' '), "
	    "string_to_array($5, ' '), $6::text[])", 6, params, "23505",
	    &res)) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (state != NULL && strcmp(state, "23505") == 0)
			auth_cmd_fail("client %s exists already (use "
			    "--replace to give it a new secret and these "
			    "settings)", name);
		goto rollback;
	}
	/* A replaced client starts afresh: whatever its old secret got
	 * (maybe with scopes it no longer has) stops working. */
	if (replace && !revoke_client_tokens(conn, name))
		goto rollback;
	if (!cmd_query(conn, "COMMIT", 0, NULL, NULL, NULL))
		goto out;
	/* The secret on stdout and nowhere else; it is not kept. */
	printf("%s\n", secret);
	fflush(stdout);
	fprintf(stderr, "bellhop-auth: client %s %s; its secret is shown "
	    "once, above\n", name, replace ? "registered or replaced (its "
	    "earlier tokens revoked)" : "registered");
	rc = 0;
	goto out;
rollback:
	cmd_query(conn, "ROLLBACK", 0, NULL, NULL, NULL);
out:
	PQclear(res);
	if (conn != NULL)
		PQfinish(conn);
	bh_pool_free(pool);
	return rc;
}

static int
client_list(void)
{
	PGconn *conn;
	PGresult *res;
	int i;

	if ((conn = auth_cmd_connect()) == NULL)
		return 1;
	res = PQexec(conn, "SELECT client_id, "
	    "array_to_string(grant_types, ','), "
	    "array_to_string(scopes, ' '), array_to_string(audiences, ' '), "
	    "array_to_string(redirect_uris, ' ') FROM clients "
	    "ORDER BY client_id");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		auth_cmd_fail("database: %s", PQerrorMessage(conn));
		PQclear(res);
		PQfinish(conn);
		return 1;
	}
	for (i = 0; i < PQntuples(res); i++)
		printf("%s\tgrants=%s\tscopes=%s\taudiences=%s\t"
		    "redirect_uris=%s\n", PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
		    PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
	PQclear(res);
	PQfinish(conn);
	return 0;
}

/* Deletes the client with its codes, families and refresh tokens (the
 * foreign keys cascade), after revoking its access tokens, whose records
 * outlive it until they expire. */
static int
client_remove(const char *name)
{
	PGconn *conn;
	PGresult *res = NULL;
	int rc = 1;

	if (!name_ok(name))
		return auth_cmd_fail("no client '%s'", name);
	if ((conn = auth_cmd_connect()) == NULL)
		return 1;
	if (!cmd_query(conn, "BEGIN", 0, NULL, NULL, NULL))
		goto out;
	if (!revoke_client_tokens(conn, name) || !cmd_query(conn,
	    "DELETE FROM clients WHERE client_id = $1", 1,
	    (const char *const[]){ name }, NULL, &res))
		goto rollback;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		auth_cmd_fail("no client '%s'", name);
		goto rollback;
	}
	if (!cmd_query(conn, "COMMIT", 0, NULL, NULL, NULL))
		goto out;
	fprintf(stderr, "bellhop-auth: client %s removed, with its codes and "
	    "refresh tokens; its access tokens are revoked\n", name);
	rc = 0;
	goto out;
rollback:
	cmd_query(conn, "ROLLBACK", 0, NULL, NULL, NULL);
out:
	PQclear(res);
	PQfinish(conn);
	return rc;
}

int
client_command(int argc, char **argv)
{
	if (argc < 2)
		return client_usage();
	if (strcmp(argv[1], "add") == 0)
		return client_add(argc, argv);
	if (strcmp(argv[1], "list") == 0 && argc == 2)
		return client_list();
	if (strcmp(argv[1], "remove") == 0 && argc == 3)
		return client_remove(argv[2]);
	return client_usage();
}
