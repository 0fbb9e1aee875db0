/*
 * test_config.c - bh_config_load: defaults, every variable accepted and
 * refused, messages that name the variable.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "runner.h"

static const char *const all_vars[] = {
	"BH_DATABASE_URL", "BH_SQL_DIR", "BH_LOG_LEVEL", "BH_BASE_PATH",
	"BH_MAX_BODY", "BH_JSON_MAX_DEPTH", "BH_DB_CONNECT_TIMEOUT",
	"BH_DB_STATEMENT_TIMEOUT", "BH_RETRY_AFTER", "BH_LISTEN",
	"BH_WORKERS", "BH_MAX_REQUESTS", "BH_SOCKET_MODE", NULL
};

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

	/* The defaults follow the service's name. */
	CU_ASSERT_EQUAL_FATAL(bh_config_load("users", &err), 0);
	CU_ASSERT_STRING_EQUAL(bh_cfg.base_path, "/users");
	CU_ASSERT_STRING_EQUAL(bh_cfg.database_url, "dbname=bellhop_users");
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
		CU_TEST_INFO_NULL,
	};

	return bh_test_add_suite("config", tests);
}
