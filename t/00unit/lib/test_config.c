/*
 * test_config.c - bh_config_load: defaults, every variable accepted and
 * refused, messages that name the variable.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "runner.h"

static const char *const all_vars[] = {
	"BH_DATABASE_URL", "BH_SQL_DIR", "BH_LOG_LEVEL", "BH_BASE_PATH",
	"BH_MAX_BODY", "BH_JSON_MAX_DEPTH", "BH_DB_CONNECT_TIMEOUT",
	"BH_DB_STATEMENT_TIMEOUT", "BH_RETRY_AFTER", "BH_LISTEN",
	"BH_WORKERS", "BH_MAX_REQUESTS", "BH_SOCKET_MODE",
	"BH_PUBLIC_URL", "BH_AUTH_ISSUER", "BH_AUTH_JWKS_URL",
	"BH_AUTH_TOKEN_URL", "BH_AUDIENCE", "BH_CLIENT_ID",
	"BH_CLIENT_SECRET", "BH_CLIENT_SECRET_FILE", "BH_TOKEN_LEEWAY",
	"BH_JWKS_COOLDOWN", "BH_HTTP_CONNECT_TIMEOUT", "BH_HTTP_TIMEOUT",
	"BH_HTTP_RETRIES", "BH_TEST_SECRET", "BH_TEST_SECRET_FILE",
	"BH_TEST_INT", "BH_TEST_INT_B", "BH_TEST_INT_C", "BH_USERS_URL", NULL
};

/* A file in /tmp holding content; the path is static. */
static const char *
temp_file(const char *content)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/bh-test-config-XXXXXX");
	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd != -1);
	f = fdopen(fd, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(content, f);
	fclose(f);
	return path;
}

static void
clear_env(void)
{
	const char *const *v;

	for (v = all_vars; *v != NULL; v++)
		unsetenv(*v);
}

/* Loads with only var=value set; returns bh_config_load's result. */
static int
load_with(const char *var, const char *value, const char **err)
{
	clear_env();
	setenv(var, value, 1);
	*err = NULL;
	return bh_config_load("search", err);
}

static void
accepts(const char *var, const char *value)
{
	const char *err;
	int rc = load_with(var, value, &err);

	CU_ASSERT_EQUAL(rc, 0);
	if (rc != 0)
		fprintf(stderr, "\n  %s=%s refused: %s\n", var, value, err);
}

/* The load fails and the message names the variable. */
static void
refuses(const char *var, const char *value)
{
	const char *err;
	int rc = load_with(var, value, &err);

	CU_ASSERT_EQUAL(rc, -1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, var));
	if (rc != -1 || strstr(err, var) == NULL)
		fprintf(stderr, "\n  %s=\"%s\": rc %d, err %s\n", var, value,
		    rc, err != NULL ? err : "(null)");
}

static void
test_defaults(void)
{
	const char *err = NULL;

	clear_env();
	CU_ASSERT_EQUAL_FATAL(bh_config_load("search", &err), 0);
	CU_ASSERT_STRING_EQUAL(bh_cfg.service, "search");
	CU_ASSERT_STRING_EQUAL(bh_cfg.base_path, "/search");
	CU_ASSERT_STRING_EQUAL(bh_cfg.database_url, "dbname=bellhop_search");
	CU_ASSERT_STRING_EQUAL(bh_cfg.sql_dir, BH_DEFAULT_SQL_DIR);
	CU_ASSERT_EQUAL(bh_cfg.max_body, 1024 * 1024);
	CU_ASSERT_EQUAL(bh_cfg.json_max_depth, 32);
	CU_ASSERT_EQUAL(bh_cfg.log_level, BH_LOG_INFO);
	CU_ASSERT_EQUAL(bh_cfg.db_connect_timeout, 2);
	CU_ASSERT_EQUAL(bh_cfg.db_statement_timeout, 5000);
	CU_ASSERT_EQUAL(bh_cfg.retry_after, 2);
	CU_ASSERT_PTR_NULL(bh_cfg.listen);
	CU_ASSERT_EQUAL(bh_cfg.workers, 2);
	CU_ASSERT_EQUAL(bh_cfg.max_requests, 0);
	CU_ASSERT_EQUAL(bh_cfg.socket_mode, 0660);

	CU_ASSERT_STRING_EQUAL(bh_cfg.public_url, "http://127.0.0.1:8080");
	CU_ASSERT_STRING_EQUAL(bh_cfg.auth_issuer, "http://127.0.0.1:8080/auth");
	CU_ASSERT_STRING_EQUAL(bh_cfg.jwks_url,
	    "http://127.0.0.1:8080/auth/.well-known/jwks.json");
	CU_ASSERT_STRING_EQUAL(bh_cfg.token_url,
	    "http://127.0.0.1:8080/auth/oauth/token");
	CU_ASSERT_STRING_EQUAL(bh_cfg.audience, "search");
	CU_ASSERT_STRING_EQUAL(bh_cfg.client_id, "search");
	CU_ASSERT_PTR_NULL(bh_cfg.client_secret);
	CU_ASSERT_EQUAL(bh_cfg.token_leeway, 30);
	CU_ASSERT_EQUAL(bh_cfg.jwks_cooldown, 30);
	CU_ASSERT_EQUAL(bh_cfg.http_connect_timeout_ms, 1000);
	CU_ASSERT_EQUAL(bh_cfg.http_timeout_ms, 5000);
	CU_ASSERT_EQUAL(bh_cfg.http_retries, 2);

	/* The defaults follow the service's name. */
	CU_ASSERT_EQUAL_FATAL(bh_config_load("users", &err), 0);
	CU_ASSERT_STRING_EQUAL(bh_cfg.base_path, "/users");
	CU_ASSERT_STRING_EQUAL(bh_cfg.database_url, "dbname=bellhop_users");
	CU_ASSERT_STRING_EQUAL(bh_cfg.audience, "users");
	CU_ASSERT_STRING_EQUAL(bh_cfg.client_id, "users");
}

static void
test_urls(void)
{
	const char *err;

	accepts("BH_PUBLIC_URL", "https://hotel.example");
	CU_ASSERT_STRING_EQUAL(bh_cfg.auth_issuer, "https://hotel.example/auth");
	CU_ASSERT_STRING_EQUAL(bh_cfg.jwks_url,
	    "https://hotel.example/auth/.well-known/jwks.json");
	CU_ASSERT_STRING_EQUAL(bh_cfg.token_url,
	    "https://hotel.example/auth/oauth/token");
	accepts("BH_PUBLIC_URL", "http://127.0.0.1:18200/prefix");
	CU_ASSERT_STRING_EQUAL(bh_cfg.auth_issuer,
	    "http://127.0.0.1:18200/prefix/auth");
	refuses("BH_PUBLIC_URL", "");
	refuses("BH_PUBLIC_URL", "127.0.0.1:8080");
	refuses("BH_PUBLIC_URL", "ftp://hotel.example");
	refuses("BH_PUBLIC_URL", "http://");
	refuses("BH_PUBLIC_URL", "http:///path");
	refuses("BH_PUBLIC_URL", "http://hotel.example/");
	refuses("BH_PUBLIC_URL", "http://hotel.example?x=1");
	refuses("BH_PUBLIC_URL", "http://hotel.example#top");
	refuses("BH_PUBLIC_URL", "http://hotel example");
	refuses("BH_PUBLIC_URL", "http://hotel.example/\n");
	refuses("BH_PUBLIC_URL", "http://h\xc3\xa9tel.example");
	load_with("BH_PUBLIC_URL", "ftp://x", &err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "http://"));

	/* The issuer moves its endpoints; explicit endpoints win. */
	accepts("BH_AUTH_ISSUER", "https://id.example");
	CU_ASSERT_STRING_EQUAL(bh_cfg.auth_issuer, "https://id.example");
	CU_ASSERT_STRING_EQUAL(bh_cfg.jwks_url,
	    "https://id.example/.well-known/jwks.json");
	CU_ASSERT_STRING_EQUAL(bh_cfg.token_url,
	    "https://id.example/oauth/token");
	refuses("BH_AUTH_ISSUER", "https://id.example/");
	refuses("BH_AUTH_ISSUER", "id.example");
	accepts("BH_AUTH_JWKS_URL", "http://10.0.0.5:8000/keys?v=1");
	CU_ASSERT_STRING_EQUAL(bh_cfg.jwks_url, "http://10.0.0.5:8000/keys?v=1");
	CU_ASSERT_STRING_EQUAL(bh_cfg.auth_issuer, "http://127.0.0.1:8080/auth");
	refuses("BH_AUTH_JWKS_URL", "file:///etc/passwd");
	refuses("BH_AUTH_JWKS_URL", "");
	accepts("BH_AUTH_TOKEN_URL", "https://id.example/token");
	CU_ASSERT_STRING_EQUAL(bh_cfg.token_url, "https://id.example/token");
	refuses("BH_AUTH_TOKEN_URL", "gopher://x");
}

static void
test_names(void)
{
	accepts("BH_AUDIENCE", "search-api");
	CU_ASSERT_STRING_EQUAL(bh_cfg.audience, "search-api");
	CU_ASSERT_STRING_EQUAL(bh_cfg.client_id, "search");
	refuses("BH_AUDIENCE", "");
	refuses("BH_AUDIENCE", "two words");
	refuses("BH_AUDIENCE", "quo\"te");
	accepts("BH_CLIENT_ID", "catalog-admin");
	CU_ASSERT_STRING_EQUAL(bh_cfg.client_id, "catalog-admin");
	CU_ASSERT_STRING_EQUAL(bh_cfg.audience, "search");
	refuses("BH_CLIENT_ID", "tab\there");
}

static void
test_client_secret(void)
{
	const char *err, *path;
	char longsecret[1100], fifo[64];

	accepts("BH_CLIENT_SECRET", "s3cret-value");
	CU_ASSERT_STRING_EQUAL(bh_cfg.client_secret, "s3cret-value");
	refuses("BH_CLIENT_SECRET", "");
	/* A refused secret is never shown. */
	CU_ASSERT_EQUAL(load_with("BH_CLIENT_SECRET", "line1\nhidden", &err),
	    -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "BH_CLIENT_SECRET"));
	CU_ASSERT_PTR_NULL(strstr(err, "hidden"));

	/* From a file: one trailing newline (or CRLF) cut. */
	path = temp_file("from-a-file\n");
	accepts("BH_CLIENT_SECRET_FILE", path);
	CU_ASSERT_STRING_EQUAL(bh_cfg.client_secret, "from-a-file");
	unlink(path);
	path = temp_file("crlf\r\n");
	accepts("BH_CLIENT_SECRET_FILE", path);
	CU_ASSERT_STRING_EQUAL(bh_cfg.client_secret, "crlf");
	unlink(path);
	path = temp_file("no-newline");
	accepts("BH_CLIENT_SECRET_FILE", path);
	CU_ASSERT_STRING_EQUAL(bh_cfg.client_secret, "no-newline");
	/* Reloading without it forgets it. */
	clear_env();
	CU_ASSERT_EQUAL(bh_config_load("search", &err), 0);
	CU_ASSERT_PTR_NULL(bh_cfg.client_secret);
	unlink(path);

	/* Missing, empty, two lines, a directory. */
	refuses("BH_CLIENT_SECRET_FILE", "/nonexistent/bh-secret");
	load_with("BH_CLIENT_SECRET_FILE", "/nonexistent/bh-secret", &err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file"));
	path = temp_file("");
	refuses("BH_CLIENT_SECRET_FILE", path);
	unlink(path);
	path = temp_file("\n");
	refuses("BH_CLIENT_SECRET_FILE", path);
	unlink(path);
	path = temp_file("first\nsecond-hidden\n");
	refuses("BH_CLIENT_SECRET_FILE", path);
	load_with("BH_CLIENT_SECRET_FILE", path, &err);
	CU_ASSERT_PTR_NULL(strstr(err, "second-hidden"));
	unlink(path);
	refuses("BH_CLIENT_SECRET_FILE", "/tmp");
	refuses("BH_CLIENT_SECRET_FILE", "");
	/* 1024 bytes and a newline fit; one more does not. */
	memset(longsecret, 'a', 1024);
	memcpy(longsecret + 1024, "\r\n", 3);
	path = temp_file(longsecret);
	accepts("BH_CLIENT_SECRET_FILE", path);
	CU_ASSERT_EQUAL(strlen(bh_cfg.client_secret), 1024);
	unlink(path);
	memset(longsecret, 'a', 1025);
	longsecret[1025] = '\0';
	path = temp_file(longsecret);
	refuses("BH_CLIENT_SECRET_FILE", path);
	unlink(path);
	/* A FIFO is refused at once, not waited on. */
	snprintf(fifo, sizeof(fifo), "/tmp/bh-test-fifo-%ld", (long)getpid());
	CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0600), 0);
	refuses("BH_CLIENT_SECRET_FILE", fifo);
	unlink(fifo);

	/* Both set: refused, naming both. */
	path = temp_file("x\n");
	clear_env();
	setenv("BH_CLIENT_SECRET", "y", 1);
	setenv("BH_CLIENT_SECRET_FILE", path, 1);
	CU_ASSERT_EQUAL(bh_config_load("search", &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "BH_CLIENT_SECRET "));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "BH_CLIENT_SECRET_FILE"));
	unlink(path);
	clear_env();
}

static void
test_identity_numbers(void)
{
	accepts("BH_TOKEN_LEEWAY", "0");
	CU_ASSERT_EQUAL(bh_cfg.token_leeway, 0);
	accepts("BH_TOKEN_LEEWAY", "300");
	refuses("BH_TOKEN_LEEWAY", "301");
	refuses("BH_TOKEN_LEEWAY", "-1");
	accepts("BH_JWKS_COOLDOWN", "1");
	CU_ASSERT_EQUAL(bh_cfg.jwks_cooldown, 1);
	accepts("BH_JWKS_COOLDOWN", "3600");
	refuses("BH_JWKS_COOLDOWN", "0");
	refuses("BH_JWKS_COOLDOWN", "3601");
	accepts("BH_HTTP_CONNECT_TIMEOUT", "10");
	CU_ASSERT_EQUAL(bh_cfg.http_connect_timeout_ms, 10);
	accepts("BH_HTTP_CONNECT_TIMEOUT", "60000");
	refuses("BH_HTTP_CONNECT_TIMEOUT", "9");
	refuses("BH_HTTP_CONNECT_TIMEOUT", "60001");
	accepts("BH_HTTP_TIMEOUT", "300000");
	CU_ASSERT_EQUAL(bh_cfg.http_timeout_ms, 300000);
	refuses("BH_HTTP_TIMEOUT", "9");
	refuses("BH_HTTP_TIMEOUT", "300001");
	refuses("BH_HTTP_TIMEOUT", "5s");
	accepts("BH_HTTP_RETRIES", "0");
	CU_ASSERT_EQUAL(bh_cfg.http_retries, 0);
	accepts("BH_HTTP_RETRIES", "10");
	refuses("BH_HTTP_RETRIES", "11");
	refuses("BH_HTTP_RETRIES", "");
}

static void
test_env_int(void)
{
	const char *err = NULL;
	long long v = 0;

	clear_env();
	CU_ASSERT_EQUAL(bh_env_int("BH_TEST_INT", 42, 1, 100, &v, &err), 0);
	CU_ASSERT_EQUAL(v, 42);
	setenv("BH_TEST_INT", "7", 1);
	CU_ASSERT_EQUAL(bh_env_int("BH_TEST_INT", 42, 1, 100, &v, &err), 0);
	CU_ASSERT_EQUAL(v, 7);
	setenv("BH_TEST_INT", "-5", 1);
	CU_ASSERT_EQUAL(bh_env_int("BH_TEST_INT", 0, -10, 10, &v, &err), 0);
	CU_ASSERT_EQUAL(v, -5);
	CU_ASSERT_EQUAL(bh_env_int("BH_TEST_INT", 0, 0, 10, &v, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "BH_TEST_INT"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "0 to 10"));
	setenv("BH_TEST_INT", "9223372036854775807", 1);
	CU_ASSERT_EQUAL(bh_env_int("BH_TEST_INT", 0, 0, LLONG_MAX, &v, &err),
	    0);
	CU_ASSERT_EQUAL(v, LLONG_MAX);
	setenv("BH_TEST_INT", "-9223372036854775808", 1);
	CU_ASSERT_EQUAL(bh_env_int("BH_TEST_INT", 0, LLONG_MIN, 0, &v, &err),
	    0);
	CU_ASSERT_EQUAL(v, LLONG_MIN);
	setenv("BH_TEST_INT", "9223372036854775808", 1);
	CU_ASSERT_EQUAL(bh_env_int("BH_TEST_INT", 0, 0, LLONG_MAX, &v, &err),
	    -1);
	setenv("BH_TEST_INT", "", 1);
	CU_ASSERT_EQUAL(bh_env_int("BH_TEST_INT", 1, 0, 10, &v, &err), -1);
	setenv("BH_TEST_INT", "3 ", 1);
	CU_ASSERT_EQUAL(bh_env_int("BH_TEST_INT", 1, 0, 10, &v, &err), -1);
	setenv("BH_TEST_INT", "+3", 1);
	CU_ASSERT_EQUAL(bh_env_int("BH_TEST_INT", 1, 0, 10, &v, &err), -1);
	setenv("BH_TEST_INT", "-", 1);
	CU_ASSERT_EQUAL(bh_env_int("BH_TEST_INT", 1, -10, 10, &v, &err), -1);
	/* No sign where the range has no negative number. */
	setenv("BH_TEST_INT", "-0", 1);
	CU_ASSERT_EQUAL(bh_env_int("BH_TEST_INT", 1, 0, 10, &v, &err), -1);
	CU_ASSERT_EQUAL(bh_env_int("BH_TEST_INT", 1, -10, 10, &v, &err), 0);
	CU_ASSERT_EQUAL(v, 0);
	unsetenv("BH_TEST_INT");
}

static void
test_env_ints(void)
{
	long long a = -1, b = -1, c = -1;
	const bh_int_setting table[] = {
		{ "BH_TEST_INT", 5, 1, 10, &a },
		{ "BH_TEST_INT_B", -3, -5, 5, &b },
		{ "BH_TEST_INT_C", 100, 0, 1000, &c },
		{ NULL, 0, 0, 0, NULL }
	};
	const bh_int_setting bad_default[] = {
		{ "BH_TEST_INT", 11, 1, 10, &a },
		{ NULL, 0, 0, 0, NULL }
	};
	const bh_int_setting empty[] = { { NULL, 0, 0, 0, NULL } };
	const char *err = NULL;

	clear_env();
	/* Unset: every default. */
	CU_ASSERT_EQUAL(bh_env_ints(table, &err), 0);
	CU_ASSERT_EQUAL(a, 5);
	CU_ASSERT_EQUAL(b, -3);
	CU_ASSERT_EQUAL(c, 100);
	/* Set: each row reads its own variable. */
	setenv("BH_TEST_INT", "10", 1);
	setenv("BH_TEST_INT_B", "-5", 1);
	setenv("BH_TEST_INT_C", "0", 1);
	CU_ASSERT_EQUAL(bh_env_ints(table, &err), 0);
	CU_ASSERT_EQUAL(a, 10);
	CU_ASSERT_EQUAL(b, -5);
	CU_ASSERT_EQUAL(c, 0);
	/* The first bad value stops it, naming its variable; the rows
	 * before it are set, the rows after it untouched. */
	a = b = c = -1;
	setenv("BH_TEST_INT_B", "6", 1);
	err = NULL;
	CU_ASSERT_EQUAL(bh_env_ints(table, &err), -1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "BH_TEST_INT_B"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "-5 to 5"));
	CU_ASSERT_EQUAL(a, 10);
	CU_ASSERT_EQUAL(c, -1);
	setenv("BH_TEST_INT_B", "", 1);
	CU_ASSERT_EQUAL(bh_env_ints(table, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "BH_TEST_INT_B"));
	setenv("BH_TEST_INT_B", "1", 1);
	setenv("BH_TEST_INT_C", "1001", 1);
	CU_ASSERT_EQUAL(bh_env_ints(table, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "BH_TEST_INT_C"));
	/* A default outside its own range is a bug, caught whether or not
	 * the variable is set. */
	unsetenv("BH_TEST_INT");
	CU_ASSERT_EQUAL(bh_env_ints(bad_default, &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "BH_TEST_INT"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "default"));
	setenv("BH_TEST_INT", "5", 1);
	CU_ASSERT_EQUAL(bh_env_ints(bad_default, &err), -1);
	/* An empty table sets nothing and succeeds. */
	CU_ASSERT_EQUAL(bh_env_ints(empty, &err), 0);
	clear_env();
}

static void
test_env_str(void)
{
	clear_env();
	CU_ASSERT_STRING_EQUAL(bh_env_str("BH_TEST_INT", "dflt"), "dflt");
	CU_ASSERT_PTR_NULL(bh_env_str("BH_TEST_INT", NULL));
	setenv("BH_TEST_INT", "", 1);
	CU_ASSERT_STRING_EQUAL(bh_env_str("BH_TEST_INT", "dflt"), "dflt");
	setenv("BH_TEST_INT", "value", 1);
	CU_ASSERT_STRING_EQUAL(bh_env_str("BH_TEST_INT", "dflt"), "value");
	unsetenv("BH_TEST_INT");
}

static void
test_env_secret(void)
{
	const char *err = "x", *path;
	char *secret;

	clear_env();
	CU_ASSERT_PTR_NULL(bh_env_secret("BH_TEST_SECRET", &err));
	CU_ASSERT_PTR_NULL(err);
	setenv("BH_TEST_SECRET", "direct", 1);
	secret = bh_env_secret("BH_TEST_SECRET", &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(secret);
	CU_ASSERT_STRING_EQUAL(secret, "direct");
	free(secret);
	unsetenv("BH_TEST_SECRET");

	path = temp_file("in-file\n");
	setenv("BH_TEST_SECRET_FILE", path, 1);
	secret = bh_env_secret("BH_TEST_SECRET", &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(secret);
	CU_ASSERT_STRING_EQUAL(secret, "in-file");
	free(secret);
	/* Both: refused. */
	setenv("BH_TEST_SECRET", "direct", 1);
	CU_ASSERT_PTR_NULL(bh_env_secret("BH_TEST_SECRET", &err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "BH_TEST_SECRET_FILE"));
	unsetenv("BH_TEST_SECRET");
	unlink(path);
	/* A missing file: NULL with a message naming the variable. */
	err = NULL;
	CU_ASSERT_PTR_NULL(bh_env_secret("BH_TEST_SECRET", &err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "BH_TEST_SECRET_FILE"));
	unsetenv("BH_TEST_SECRET_FILE");
}

static void
test_service_url(void)
{
	const char *err, *a, *b;

	CU_ASSERT_EQUAL(load_with("BH_PUBLIC_URL", "http://127.0.0.1:18200",
	    &err), 0);
	a = bh_service_url("users");
	CU_ASSERT_STRING_EQUAL(a, "http://127.0.0.1:18200/users");
	b = bh_service_url("users");
	CU_ASSERT_PTR_EQUAL(a, b);
	CU_ASSERT_STRING_EQUAL(bh_service_url("notifications"),
	    "http://127.0.0.1:18200/notifications");
	/* The service's own variable wins, trailing slashes cut; the earlier
	 * answer stays valid. */
	setenv("BH_USERS_URL", "http://users.internal:9000/u//", 1);
	CU_ASSERT_STRING_EQUAL(bh_service_url("users"),
	    "http://users.internal:9000/u");
	CU_ASSERT_STRING_EQUAL(a, "http://127.0.0.1:18200/users");
	unsetenv("BH_USERS_URL");
}

static void
test_reload_resets(void)
{
	const char *err;

	CU_ASSERT_EQUAL(load_with("BH_WORKERS", "7", &err), 0);
	CU_ASSERT_EQUAL(bh_cfg.workers, 7);
	clear_env();
	CU_ASSERT_EQUAL(bh_config_load("search", &err), 0);
	CU_ASSERT_EQUAL(bh_cfg.workers, 2);
}

static void
test_service_name(void)
{
	const char *err = NULL;

	clear_env();
	CU_ASSERT_EQUAL(bh_config_load("", &err), -1);
	CU_ASSERT_PTR_NOT_NULL(err);
	CU_ASSERT_EQUAL(bh_config_load("Search", &err), -1);
	CU_ASSERT_EQUAL(bh_config_load("se/arch", &err), -1);
	CU_ASSERT_EQUAL(bh_config_load(
	    "a_very_long_service_name_that_goes_on_and_on", &err), -1);
	CU_ASSERT_EQUAL(bh_config_load(NULL, &err), -1);
	CU_ASSERT_EQUAL(bh_config_load("search_2", &err), 0);
}

static void
test_database_url(void)
{
	const char *err;

	accepts("BH_DATABASE_URL", "host=/tmp dbname=x");
	CU_ASSERT_STRING_EQUAL(bh_cfg.database_url, "host=/tmp dbname=x");
	accepts("BH_DATABASE_URL", "postgresql://u:secret@h/db");
	refuses("BH_DATABASE_URL", "");
	/* A refused value is never echoed (it could hold a password); an
	 * empty one is the only refusal, and the message says so. */
	load_with("BH_DATABASE_URL", "", &err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "empty"));
}

static void
test_sql_dir(void)
{
	accepts("BH_SQL_DIR", "/srv/bellhop/sql");
	CU_ASSERT_STRING_EQUAL(bh_cfg.sql_dir, "/srv/bellhop/sql");
	accepts("BH_SQL_DIR", "sql");
	refuses("BH_SQL_DIR", "");
}

static void
test_log_level(void)
{
	const char *err;

	accepts("BH_LOG_LEVEL", "debug");
	CU_ASSERT_EQUAL(bh_cfg.log_level, BH_LOG_DEBUG);
	accepts("BH_LOG_LEVEL", "info");
	CU_ASSERT_EQUAL(bh_cfg.log_level, BH_LOG_INFO);
	accepts("BH_LOG_LEVEL", "warn");
	CU_ASSERT_EQUAL(bh_cfg.log_level, BH_LOG_WARN);
	accepts("BH_LOG_LEVEL", "error");
	CU_ASSERT_EQUAL(bh_cfg.log_level, BH_LOG_ERROR);
	refuses("BH_LOG_LEVEL", "loud");
	refuses("BH_LOG_LEVEL", "INFO");
	refuses("BH_LOG_LEVEL", "warning");
	refuses("BH_LOG_LEVEL", "info ");
	refuses("BH_LOG_LEVEL", "");
	/* The message lists what is accepted. */
	load_with("BH_LOG_LEVEL", "loud", &err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "debug, info, warn, error"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "\"loud\""));
}

static void
test_base_path(void)
{
	accepts("BH_BASE_PATH", "");
	CU_ASSERT_STRING_EQUAL(bh_cfg.base_path, "");
	accepts("BH_BASE_PATH", "/api");
	CU_ASSERT_STRING_EQUAL(bh_cfg.base_path, "/api");
	accepts("BH_BASE_PATH", "/api/v1/search-x_y.z~");
	refuses("BH_BASE_PATH", "/");
	refuses("BH_BASE_PATH", "api");
	refuses("BH_BASE_PATH", "/api/");
	refuses("BH_BASE_PATH", "//api");
	refuses("BH_BASE_PATH", "/a//b");
	refuses("BH_BASE_PATH", "/a/../b");
	refuses("BH_BASE_PATH", "/a/./b");
	refuses("BH_BASE_PATH", "/a b");
	refuses("BH_BASE_PATH", "/a%20b");
	refuses("BH_BASE_PATH", "/a?b");
	refuses("BH_BASE_PATH", "/caf\xc3\xa9");
}

static void
test_max_body(void)
{
	accepts("BH_MAX_BODY", "1024");
	CU_ASSERT_EQUAL(bh_cfg.max_body, 1024);
	accepts("BH_MAX_BODY", "1073741824");
	CU_ASSERT_EQUAL(bh_cfg.max_body, 1073741824);
	accepts("BH_MAX_BODY", "0000065536");
	CU_ASSERT_EQUAL(bh_cfg.max_body, 65536);
	refuses("BH_MAX_BODY", "1023");
	refuses("BH_MAX_BODY", "1073741825");
	refuses("BH_MAX_BODY", "99999999999999999999999999");
	refuses("BH_MAX_BODY", "-1");
	refuses("BH_MAX_BODY", "+2048");
	refuses("BH_MAX_BODY", " 2048");
	refuses("BH_MAX_BODY", "2048 ");
	refuses("BH_MAX_BODY", "1M");
	refuses("BH_MAX_BODY", "0x1000");
	refuses("BH_MAX_BODY", "");
}

static void
test_small_numbers(void)
{
	accepts("BH_JSON_MAX_DEPTH", "1");
	CU_ASSERT_EQUAL(bh_cfg.json_max_depth, 1);
	accepts("BH_JSON_MAX_DEPTH", "256");
	refuses("BH_JSON_MAX_DEPTH", "0");
	refuses("BH_JSON_MAX_DEPTH", "257");
	refuses("BH_JSON_MAX_DEPTH", "deep");

	accepts("BH_DB_CONNECT_TIMEOUT", "10");
	CU_ASSERT_EQUAL(bh_cfg.db_connect_timeout, 10);
	refuses("BH_DB_CONNECT_TIMEOUT", "0");
	refuses("BH_DB_CONNECT_TIMEOUT", "301");
	refuses("BH_DB_CONNECT_TIMEOUT", "2s");

	accepts("BH_DB_STATEMENT_TIMEOUT", "250");
	CU_ASSERT_EQUAL(bh_cfg.db_statement_timeout, 250);
	accepts("BH_DB_STATEMENT_TIMEOUT", "3600000");
	refuses("BH_DB_STATEMENT_TIMEOUT", "0");
	refuses("BH_DB_STATEMENT_TIMEOUT", "3600001");
	refuses("BH_DB_STATEMENT_TIMEOUT", "1.5");

	accepts("BH_RETRY_AFTER", "30");
	CU_ASSERT_EQUAL(bh_cfg.retry_after, 30);
	refuses("BH_RETRY_AFTER", "0");
	refuses("BH_RETRY_AFTER", "3601");
	refuses("BH_RETRY_AFTER", "");
}

static void
test_listen(void)
{
	const char *err;
	char longpath[200];

	accepts("BH_LISTEN", "unix:/run/bellhop/search.sock");
	CU_ASSERT_STRING_EQUAL(bh_cfg.listen, "unix:/run/bellhop/search.sock");
	accepts("BH_LISTEN", "127.0.0.1:9000");
	accepts("BH_LISTEN", "localhost:1");
	accepts("BH_LISTEN", "0.0.0.0:65535");
	accepts("BH_LISTEN", "[::1]:9000");
	accepts("BH_LISTEN", "fcgi-host.example:9000");
	refuses("BH_LISTEN", "unix:relative.sock");
	refuses("BH_LISTEN", "unix:");
	refuses("BH_LISTEN", "unix:/tmp/a\nb");
	refuses("BH_LISTEN", "/tmp/search.sock");
	refuses("BH_LISTEN", "127.0.0.1");
	refuses("BH_LISTEN", "127.0.0.1:");
	refuses("BH_LISTEN", ":9000");
	refuses("BH_LISTEN", "127.0.0.1:0");
	refuses("BH_LISTEN", "127.0.0.1:65536");
	refuses("BH_LISTEN", "127.0.0.1:99999999");
	refuses("BH_LISTEN", "127.0.0.1:http");
	refuses("BH_LISTEN", "127.0.0.1:-1");
	refuses("BH_LISTEN", "bad host:9000");
	refuses("BH_LISTEN", "[::1:9000");
	refuses("BH_LISTEN", "[]:9000");
	refuses("BH_LISTEN", "");
	/* A path that does not fit sockaddr_un.sun_path. */
	memset(longpath, 'a', sizeof(longpath));
	memcpy(longpath, "unix:/", 6);
	longpath[sizeof(longpath) - 1] = '\0';
	refuses("BH_LISTEN", longpath);
	/* Long values are shown cut short. */
	load_with("BH_LISTEN", longpath, &err);
	CU_ASSERT(strlen(err) < 300);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "..."));
}

static void
test_workers(void)
{
	const char *err;

	accepts("BH_WORKERS", "1");
	CU_ASSERT_EQUAL(bh_cfg.workers, 1);
	accepts("BH_WORKERS", "256");
	CU_ASSERT_EQUAL(bh_cfg.workers, 256);
	refuses("BH_WORKERS", "0");
	refuses("BH_WORKERS", "257");
	refuses("BH_WORKERS", "99999");
	refuses("BH_WORKERS", "abc");
	refuses("BH_WORKERS", "4x");
	refuses("BH_WORKERS", "");
	load_with("BH_WORKERS", "abc", &err);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "1 to 256"));
}

static void
test_max_requests(void)
{
	accepts("BH_MAX_REQUESTS", "0");
	CU_ASSERT_EQUAL(bh_cfg.max_requests, 0);
	accepts("BH_MAX_REQUESTS", "1000");
	CU_ASSERT_EQUAL(bh_cfg.max_requests, 1000);
	accepts("BH_MAX_REQUESTS", "1000000000");
	refuses("BH_MAX_REQUESTS", "1000000001");
	refuses("BH_MAX_REQUESTS", "-5");
	refuses("BH_MAX_REQUESTS", "many");
}

static void
test_socket_mode(void)
{
	accepts("BH_SOCKET_MODE", "0600");
	CU_ASSERT_EQUAL(bh_cfg.socket_mode, 0600);
	accepts("BH_SOCKET_MODE", "666");
	CU_ASSERT_EQUAL(bh_cfg.socket_mode, 0666);
	accepts("BH_SOCKET_MODE", "0");
	CU_ASSERT_EQUAL(bh_cfg.socket_mode, 0);
	accepts("BH_SOCKET_MODE", "0777");
	CU_ASSERT_EQUAL(bh_cfg.socket_mode, 0777);
	refuses("BH_SOCKET_MODE", "1777");
	refuses("BH_SOCKET_MODE", "0800");
	refuses("BH_SOCKET_MODE", "00660");
	refuses("BH_SOCKET_MODE", "rw");
	refuses("BH_SOCKET_MODE", "-660");
	refuses("BH_SOCKET_MODE", "");
}

/* Command-line flags go through bh_config_set, named by the flag. */
static void
test_set_with_flag_label(void)
{
	const char *err = NULL;

	clear_env();
	CU_ASSERT_EQUAL_FATAL(bh_config_load("search", &err), 0);
	CU_ASSERT_EQUAL(bh_config_set("BH_WORKERS", "--workers", "5", &err), 0);
	CU_ASSERT_EQUAL(bh_cfg.workers, 5);
	CU_ASSERT_EQUAL(bh_config_set("BH_WORKERS", "--workers", "0", &err),
	    -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "--workers"));
	CU_ASSERT_EQUAL(bh_cfg.workers, 5);
	CU_ASSERT_EQUAL(bh_config_set("BH_NOPE", "BH_NOPE", "1", &err), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "BH_NOPE"));
}

/* Control characters in a refused value are not copied into the message. */
static void
test_message_sanitised(void)
{
	const char *err;
	const char *p;

	load_with("BH_LOG_LEVEL", "x\033[31my\n", &err);
	for (p = err; *p != '\0'; p++)
		CU_ASSERT((unsigned char)*p >= 0x20 && *p != 0x7f);
}

int
bh_test_register(void)
{
	static const CU_TestInfo tests[] = {
		{ "defaults", test_defaults },
		{ "reload resets", test_reload_resets },
		{ "service name", test_service_name },
		{ "BH_DATABASE_URL", test_database_url },
		{ "BH_SQL_DIR", test_sql_dir },
		{ "BH_LOG_LEVEL", test_log_level },
		{ "BH_BASE_PATH", test_base_path },
		{ "BH_MAX_BODY", test_max_body },
		{ "timeouts and depth", test_small_numbers },
		{ "BH_LISTEN", test_listen },
		{ "BH_WORKERS", test_workers },
		{ "BH_MAX_REQUESTS", test_max_requests },
		{ "BH_SOCKET_MODE", test_socket_mode },
		{ "flag label", test_set_with_flag_label },
		{ "message sanitised", test_message_sanitised },
		{ "URLs and derived defaults", test_urls },
		{ "BH_AUDIENCE, BH_CLIENT_ID", test_names },
		{ "client secret", test_client_secret },
		{ "identity and HTTP numbers", test_identity_numbers },
		{ "bh_env_int", test_env_int },
		{ "bh_env_ints", test_env_ints },
		{ "bh_env_str", test_env_str },
		{ "bh_env_secret", test_env_secret },
		{ "bh_service_url", test_service_url },
		CU_TEST_INFO_NULL,
	};

	return bh_test_add_suite("config", tests);
}
