/*
 * keys.c - the signing keys: the JWKS document, the key that signs now,
 * and the `bellhop-auth key` command that adds, rotates and prunes keys.
 *
 * Rotation without a failed request: a key is added as 'next' and is
 * published in the JWKS before it signs anything; `key rotate` promotes it
 * only once it has been published longer than the JWKS max-age, so every
 * verifier's cached copy of the JWKS holds it (verifiers also refetch on
 * an unknown kid).  The old key becomes 'retired' and stays published
 * until unpublish_at = retirement + its token lifetime, when the last
 * token it signed has expired; `key prune` then deletes it.
 *
 * The token lifetime (access-token TTL plus leeway) is stored with the
 * key, not taken from the environment of whoever runs `key rotate`: it
 * is recorded when the key is activated and raised by any serving
 * process that signs with a longer TTL (auth_current_key), and the
 * retirement takes the longer of it and the command's own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

#define PUBLISHED_KEYS_SQL \
	"SELECT kid, encode(public_key, 'hex') FROM signing_keys " \
	"WHERE state IN ('next', 'current') " \
	"OR (state = 'retired' AND unpublish_at > now()) " \
	"ORDER BY created_at, kid"

int
auth_hex_decode(const char *s, unsigned char *out, size_t n)
{
	size_t i;
	int hi, lo;

	if (strlen(s) != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		hi = s[2 * i];
		lo = s[2 * i + 1];
		hi = hi >= '0' && hi <= '9' ? hi - '0' :
		    hi >= 'a' && hi <= 'f' ? hi - 'a' + 10 : -1;
		lo = lo >= '0' && lo <= '9' ? lo - '0' :
		    lo >= 'a' && lo <= 'f' ? lo - 'a' + 10 : -1;
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int
auth_published_keys(bh_request *req, bh_jwks *out)
{
	PGresult *res;
	int i, n;

	memset(out, 0, sizeof(*out));
	if ((res = bh_db_query(req, PUBLISHED_KEYS_SQL, 0, NULL)) == NULL)
		return -1;
	n = PQntuples(res);
	out->keys = bh_palloc(req->pool, (size_t)(n > 0 ? n : 1) *
	    sizeof(*out->keys));
	for (i = 0; i < n; i++) {
		bh_jwk *k = &out->keys[out->n];

		if (PQgetlength(res, i, 0) >= (int)sizeof(k->kid) ||
		    auth_hex_decode(PQgetvalue(res, i, 1), k->pub,
		    sizeof(k->pub)) == -1)
			continue;
		memcpy(k->kid, PQgetvalue(res, i, 0),
		    (size_t)PQgetlength(res, i, 0) + 1);
		out->n++;
	}
	return 0;
}

int
jwks_get(bh_request *req)
{
	json_object *doc, *keys;
	bh_jwks jwks;
	size_t i;
	int status;

	if (auth_published_keys(req, &jwks) == -1)
		return req->status;
	doc = json_object_new_object();
	keys = json_object_new_array();
	for (i = 0; i < jwks.n; i++)
		json_object_array_add(keys, bh_jwk_to_json(&jwks.keys[i]));
	json_object_object_add(doc, "keys", keys);
	/* Verifiers cache it this long; key rotation waits as long before
	 * a new key signs. */
	bh_add_header(req, "Cache-Control", bh_psprintf(req->pool,
	    "public, max-age=%lld", auth_cfg.jwks_max_age));
	status = bh_send_json(req, 200, doc);
	json_object_put(doc);
	return status;
}

/* The longest a token signed now may be accepted: its TTL plus the
 * verifiers' leeway. */
static long long
token_lifetime(void)
{
	return auth_cfg.access_ttl + (long long)bh_cfg.token_leeway;
}

/* Raises the lifetime recorded with key kid to this process's; a key
 * retired meanwhile stays published longer to match. */
#define RAISE_LIFETIME_SQL \
	"UPDATE signing_keys SET token_lifetime = $2::int, " \
	"unpublish_at = CASE WHEN state = 'retired' THEN " \
	"greatest(unpublish_at, now() + make_interval(secs => $2::int)) " \
	"ELSE unpublish_at END WHERE kid = $1 AND token_lifetime < $2::int"

int
auth_current_key(bh_request *req, struct auth_key *key)
{
	PGresult *res;
	const char *p[2];

	res = bh_db_query(req, "SELECT kid, encode(private_key, 'hex'), "
	    "token_lifetime FROM signing_keys WHERE state = 'current'", 0,
	    NULL);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1 ||
	    PQgetlength(res, 0, 0) >= (int)sizeof(key->kid) ||
	    auth_hex_decode(PQgetvalue(res, 0, 1), key->seed,
	    sizeof(key->seed)) == -1) {
		bh_log(BH_LOG_ERROR, "no current signing key: run "
		    "'bellhop-auth key add --activate'");
		/* service-unavailable: the generic "cannot answer now"
		 * (docs/problems.md), whatever the cause. */
		bh_add_header(req, "Retry-After", "30");
		bh_problem(req, 503, BH_PROBLEM_DB_UNAVAILABLE, NULL,
		    "the service has no signing key yet");
		return -1;
	}
	memcpy(key->kid, PQgetvalue(res, 0, 0),
	    (size_t)PQgetlength(res, 0, 0) + 1);
	if (strtoll(PQgetvalue(res, 0, 2), NULL, 10) < token_lifetime()) {
		p[0] = key->kid;
		p[1] = bh_psprintf(req->pool, "%lld", token_lifetime());
		if (bh_db_query(req, RAISE_LIFETIME_SQL, 2, p) == NULL) {
			explicit_bzero(key->seed, sizeof(key->seed));
			return -1;
		}
	}
	return 0;
}

/* ---------------------------------------------------------- command */

static PGresult *
cmd_exec(PGconn *conn, const char *sql, int nparams,
    const char *const *params)
{
	PGresult *res;
	ExecStatusType st;

	res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		/* Callers that expect a unique violation look at it. */
		if (state == NULL || strcmp(state, "23505") != 0)
			auth_cmd_fail("database: %s", PQerrorMessage(conn));
		return res;
	}
	return res;
}

static bool
cmd_ok(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

static bool
cmd_run(PGconn *conn, const char *sql)
{
	PGresult *res = cmd_exec(conn, sql, 0, NULL);
	bool ok = cmd_ok(res);

	PQclear(res);
	return ok;
}

/* This command's token lifetime, as text for a query. */
static void
lifetime_text(char *buf, size_t size)
{
	snprintf(buf, size, "%lld", token_lifetime());
}

/* The current key stays published for the lifetime recorded with it, or
 * this command's when that is longer (or none was recorded). */
#define RETIRE_CURRENT_SQL \
	"UPDATE signing_keys SET state = 'retired', retired_at = now(), " \
	"unpublish_at = now() + make_interval(secs => " \
	"greatest(token_lifetime, $1::int)) WHERE state = 'current' " \
	"RETURNING greatest(token_lifetime, $1::int)"

static int
key_add(PGconn *conn, bool activate)
{
	unsigned char seed[32], pub[32];
	char seed_hex[65], pub_hex[65], secs[32];
	const char *params[5];
	bh_pool *pool = bh_pool_new();
	const char *kid;
	PGresult *res = NULL;
	int rc = 1, i;

	if (bh_ed25519_keygen(seed, pub) == -1) {
		auth_cmd_fail("cannot make an Ed25519 key");
		goto out;
	}
	for (i = 0; i < 32; i++) {
		snprintf(seed_hex + 2 * i, 3, "%02x", seed[i]);
		snprintf(pub_hex + 2 * i, 3, "%02x", pub[i]);
	}
	kid = bh_random_token(pool, 12);
	params[0] = kid;
	params[1] = seed_hex;
	params[2] = pub_hex;
	params[3] = activate ? "current" : "next";
	lifetime_text(secs, sizeof(secs));
	params[4] = secs;
	if (!cmd_run(conn, "BEGIN"))
		goto out;
	if (activate) {
		res = cmd_exec(conn, RETIRE_CURRENT_SQL, 1,
		    (const char *const[]){ secs });
		if (!cmd_ok(res))
			goto rollback;
		PQclear(res);
	}
	res = cmd_exec(conn, "INSERT INTO signing_keys (kid, private_key, "
	    "public_key, state, activated_at, token_lifetime) VALUES ($1, "
	    "decode($2, 'hex'), decode($3, 'hex'), $4, "
	    "CASE WHEN $4 = 'current' THEN now() END, "
	    "CASE WHEN $4 = 'current' THEN $5::int ELSE 0 END)", 5, params);
	if (!cmd_ok(res)) {
		if (!activate)
			auth_cmd_fail("there is a next key already: run "
			    "'bellhop-auth key rotate' first");
		goto rollback;
	}
	if (!cmd_run(conn, "COMMIT"))
		goto out;
	printf("%s\n", kid);
	fprintf(stderr, "bellhop-auth: added key %s (%s)\n", kid,
	    activate ? "current, signing now" :
	    "next: published, signs after 'key rotate'");
	rc = 0;
	goto out;
rollback:
	cmd_run(conn, "ROLLBACK");
out:
	explicit_bzero(seed, sizeof(seed));
	explicit_bzero(seed_hex, sizeof(seed_hex));
	PQclear(res);
	bh_pool_free(pool);
	return rc;
}

static int
key_list(PGconn *conn)
{
	PGresult *res;
	int i;

#define TS(col) "coalesce(to_char(" col " AT TIME ZONE 'UTC', " \
	"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-')"
	res = cmd_exec(conn, "SELECT kid, state, " TS("created_at") ", "
	    TS("activated_at") ", " TS("retired_at") ", " TS("unpublish_at")
	    ", CASE WHEN state <> 'retired' OR unpublish_at > now() "
	    "THEN 'published' ELSE 'unpublished' END "
	    "FROM signing_keys ORDER BY created_at, kid", 0, NULL);
#undef TS
	if (!cmd_ok(res)) {
		PQclear(res);
		return 1;
	}
	/* One line per key, nothing when there is none (scripts test
	 * for empty output). */
	for (i = 0; i < PQntuples(res); i++)
		printf("%s\t%s\tcreated=%s\tactivated=%s\tretired=%s\t"
		    "unpublish_at=%s\t%s\n", PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
		    PQgetvalue(res, i, 3), PQgetvalue(res, i, 4),
		    PQgetvalue(res, i, 5), PQgetvalue(res, i, 6));
	PQclear(res);
	return 0;
}

static int
key_rotate(PGconn *conn, bool now)
{
	char secs[32], promoted[65], kept[32] = "0";
	PGresult *res = NULL;
	const char *kid;
	int rc = 1;

	if (!cmd_run(conn, "BEGIN"))
		return 1;
	res = cmd_exec(conn, "SELECT kid, "
	    "floor(extract(epoch FROM now() - created_at))::bigint "
	    "FROM signing_keys WHERE state = 'next' FOR UPDATE", 0, NULL);
	if (!cmd_ok(res))
		goto rollback;
	if (PQntuples(res) != 1) {
		auth_cmd_fail("no next key: run 'bellhop-auth key add' "
		    "first");
		goto rollback;
	}
	kid = PQgetvalue(res, 0, 0);
	if (!now && atoll(PQgetvalue(res, 0, 1)) < auth_cfg.jwks_max_age) {
		auth_cmd_fail("key %s has been published for %s s only; "
		    "cached key sets may not hold it until %lld s "
		    "(BH_JWKS_MAX_AGE) have passed: try again later, or "
		    "use --now", kid, PQgetvalue(res, 0, 1),
		    auth_cfg.jwks_max_age);
		goto rollback;
	}
	snprintf(promoted, sizeof(promoted), "%s", kid);
	PQclear(res);
	lifetime_text(secs, sizeof(secs));
	res = cmd_exec(conn, RETIRE_CURRENT_SQL, 1,
	    (const char *const[]){ secs });
	if (!cmd_ok(res))
		goto rollback;
	if (PQntuples(res) == 1)
		snprintf(kept, sizeof(kept), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	res = cmd_exec(conn, "UPDATE signing_keys SET state = 'current', "
	    "activated_at = now(), token_lifetime = greatest(token_lifetime, "
	    "$1::int) WHERE state = 'next'", 1, (const char *const[]){ secs });
	if (!cmd_ok(res))
		goto rollback;
	if (!cmd_run(conn, "COMMIT"))
		goto out;
	printf("%s\n", promoted);
	fprintf(stderr, "bellhop-auth: key %s signs now; the previous key "
	    "stays published for %s s\n", promoted, kept);
	rc = 0;
	goto out;
rollback:
	cmd_run(conn, "ROLLBACK");
out:
	PQclear(res);
	return rc;
}

static int
key_prune(PGconn *conn)
{
	PGresult *res;
	int i;

	res = cmd_exec(conn, "DELETE FROM signing_keys WHERE state = "
	    "'retired' AND unpublish_at <= now() RETURNING kid", 0, NULL);
	if (!cmd_ok(res)) {
		PQclear(res);
		return 1;
	}
	for (i = 0; i < PQntuples(res); i++)
		fprintf(stderr, "bellhop-auth: removed key %s\n",
		    PQgetvalue(res, i, 0));
	fprintf(stderr, "bellhop-auth: %d key(s) removed\n", PQntuples(res));
	PQclear(res);
	return 0;
}

static int
key_usage(void)
{
	fprintf(stderr, "usage: bellhop-auth key add [--activate]\n"
	    "       bellhop-auth key list\n"
	    "       bellhop-auth key rotate [--now]\n"
	    "       bellhop-auth key prune\n");
	return 2;
}

int
key_command(int argc, char **argv)
{
	bool flag = false;
	const char *sub;
	PGconn *conn;
	int rc;

	if (argc < 2)
		return key_usage();
	sub = argv[1];
	if (strcmp(sub, "add") == 0 || strcmp(sub, "rotate") == 0) {
		const char *opt = strcmp(sub, "add") == 0 ? "--activate" :
		    "--now";

		if (argc > 3 || (argc == 3 && strcmp(argv[2], opt) != 0))
			return key_usage();
		flag = argc == 3;
	} else if (strcmp(sub, "list") == 0 || strcmp(sub, "prune") == 0) {
		if (argc != 2)
			return key_usage();
	} else
		return key_usage();

	if ((conn = auth_cmd_connect()) == NULL)
		return 1;
	if (strcmp(sub, "add") == 0)
		rc = key_add(conn, flag);
	else if (strcmp(sub, "rotate") == 0)
		rc = key_rotate(conn, flag);
	else if (strcmp(sub, "list") == 0)
		rc = key_list(conn);
	else
		rc = key_prune(conn);
	PQfinish(conn);
	return rc;
}
