/*
 * config.c - settings from the environment, strictly validated.
 *
 * Every BH_* variable is checked once at start, so that a typo stops the
 * service with a message naming the variable and what it accepts instead
 * of running with a surprising value.  Strings point into the environment
 * or argv, which live as long as the process, or into static buffers:
 * nothing is allocated, so loading twice (as the tests do) leaks nothing.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "internal.h"

bh_config bh_cfg;

#ifndef BH_DEFAULT_SQL_DIR
#define BH_DEFAULT_SQL_DIR "/usr/local/share/bellhop/sql"
#endif

/* The variables bh_config_load reads, in the order they are checked. */
static const char *const variables[] = {
	"BH_DATABASE_URL", "BH_SQL_DIR", "BH_LOG_LEVEL", "BH_BASE_PATH",
	"BH_MAX_BODY", "BH_JSON_MAX_DEPTH", "BH_DB_CONNECT_TIMEOUT",
	"BH_DB_STATEMENT_TIMEOUT", "BH_RETRY_AFTER", "BH_LISTEN",
	"BH_WORKERS", "BH_MAX_REQUESTS", "BH_SOCKET_MODE", NULL
};

/* Longest service name: it becomes part of a path, a database name and
 * a role name (PostgreSQL allows 63 bytes). */
#define SERVICE_MAX 40

static char default_base_path[SERVICE_MAX + 2];
static char default_database_url[SERVICE_MAX + 32];
static char message[512];

/* Sets *err to "LABEL: invalid value "VALUE": expected EXPECTED".  The
 * value is shown cut short and with anything unprintable as '?', so a
 * hostile or binary value cannot garble the terminal or a log. */
static int
fail(const char **err, const char *label, const char *value,
     const char *expected)
{
	char shown[48];
	size_t i;

	for (i = 0; value[i] != '\0' && i < sizeof(shown) - 4; i++)
		shown[i] = value[i] >= 0x20 && value[i] < 0x7f ? value[i] : '?';
	if (value[i] != '\0')
		memcpy(shown + i, "...", 4);
	else
		shown[i] = '\0';
	if (value[0] == '\0')
		snprintf(message, sizeof(message), "%s: is empty: expected %s",
		    label, expected);
	else
		snprintf(message, sizeof(message),
		    "%s: invalid value \"%s\": expected %s", label, shown,
		    expected);
	*err = message;
	return -1;
}

/* Digits only (no sign, no blanks), value within [min, max]. */
static bool
parse_number(const char *s, long long min, long long max, long long *out)
{
	long long n = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		n = n * 10 + (*s - '0');
		if (n > max)
			return false;
	}
	if (n < min)
		return false;
	*out = n;
	return true;
}

/* 1 to 4 octal digits, at most 0777. */
static bool
parse_mode(const char *s, int *out)
{
	int n = 0;
	size_t len = strlen(s);

	if (len == 0 || len > 4)
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '7')
			return false;
		n = n * 8 + (*s - '0');
	}
	if (n > 0777)
		return false;
	*out = n;
	return true;
}

static bool
is_unreserved(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

/* "" or "/seg/seg": no trailing slash, no empty, "." or ".." segment,
 * only unreserved URL characters (so it compares with a decoded path). */
static bool
valid_base_path(const char *s)
{
	const char *seg;
	size_t len;

	if (*s == '\0')
		return true;
	if (strlen(s) > 200)
		return false;
	while (*s == '/') {
		seg = ++s;
		while (is_unreserved(*s))
			s++;
		len = (size_t)(s - seg);
		if (len == 0 || (len == 1 && seg[0] == '.') ||
		    (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
	}
	return *s == '\0';
}

/* "unix:/absolute/path" (fits sun_path) or "HOST:PORT" with HOST a name,
 * an IPv4 address or a bracketed IPv6 address, PORT 1..65535. */
static bool
valid_listen(const char *s)
{
	struct sockaddr_un sun;
	const char *colon, *p;
	long long port;
	char portbuf[8];
	size_t hostlen;

	if (strncmp(s, "unix:", 5) == 0) {
		s += 5;
		if (s[0] != '/' || strlen(s) >= sizeof(sun.sun_path))
			return false;
		for (p = s; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return false;
		return true;
	}
	if ((colon = strrchr(s, ':')) == NULL)
		return false;
	hostlen = (size_t)(colon - s);
	if (hostlen == 0 || hostlen > 253 || strlen(colon + 1) >= sizeof(portbuf))
		return false;
	if (!parse_number(colon + 1, 1, 65535, &port))
		return false;
	if (s[0] == '[') {
		if (hostlen < 3 || s[hostlen - 1] != ']')
			return false;
		for (p = s + 1; p < s + hostlen - 1; p++)
			if (strchr("0123456789abcdefABCDEF:.", *p) == NULL)
				return false;
		return true;
	}
	for (p = s; p < colon; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
			return false;
	return true;
}

int
bh_config_set(const char *var, const char *label, const char *value,
	      const char **err)
{
	long long n;
	int mode;

	if (strcmp(var, "BH_DATABASE_URL") == 0) {
		/* Never echoed: it may hold a password. */
		if (*value == '\0')
			return fail(err, label, value,
			    "a libpq connection string or URI");
		bh_cfg.database_url = value;
	} else if (strcmp(var, "BH_SQL_DIR") == 0) {
		if (*value == '\0')
			return fail(err, label, value,
			    "the directory holding <service>/NNN_*.sql");
		bh_cfg.sql_dir = value;
	} else if (strcmp(var, "BH_LOG_LEVEL") == 0) {
		if (strcmp(value, "debug") == 0)
			bh_cfg.log_level = BH_LOG_DEBUG;
		else if (strcmp(value, "info") == 0)
			bh_cfg.log_level = BH_LOG_INFO;
		else if (strcmp(value, "warn") == 0)
			bh_cfg.log_level = BH_LOG_WARN;
		else if (strcmp(value, "error") == 0)
			bh_cfg.log_level = BH_LOG_ERROR;
		else
			return fail(err, label, value,
			    "one of debug, info, warn, error");
	} else if (strcmp(var, "BH_BASE_PATH") == 0) {
		if (!valid_base_path(value))
			return fail(err, label, value, "\"\" or a path such as "
			    "/search: starting with /, not ending with /, "
			    "segments of letters, digits, - . _ ~");
		bh_cfg.base_path = value;
	} else if (strcmp(var, "BH_MAX_BODY") == 0) {
		if (!parse_number(value, 1024, 1024LL * 1024 * 1024, &n))
			return fail(err, label, value, "a number of bytes from "
			    "1024 (1 KiB) to 1073741824 (1 GiB)");
		bh_cfg.max_body = (size_t)n;
	} else if (strcmp(var, "BH_JSON_MAX_DEPTH") == 0) {
		if (!parse_number(value, 1, 256, &n))
			return fail(err, label, value,
			    "a whole number from 1 to 256");
		bh_cfg.json_max_depth = (int)n;
	} else if (strcmp(var, "BH_DB_CONNECT_TIMEOUT") == 0) {
		if (!parse_number(value, 1, 300, &n))
			return fail(err, label, value,
			    "a number of seconds from 1 to 300");
		bh_cfg.db_connect_timeout = (int)n;
	} else if (strcmp(var, "BH_DB_STATEMENT_TIMEOUT") == 0) {
		if (!parse_number(value, 1, 3600000, &n))
			return fail(err, label, value, "a number of "
			    "milliseconds from 1 to 3600000 (1 hour)");
		bh_cfg.db_statement_timeout = (int)n;
	} else if (strcmp(var, "BH_RETRY_AFTER") == 0) {
		if (!parse_number(value, 1, 3600, &n))
			return fail(err, label, value,
			    "a number of seconds from 1 to 3600");
		bh_cfg.retry_after = (int)n;
	} else if (strcmp(var, "BH_LISTEN") == 0) {
		if (!valid_listen(value))
			return fail(err, label, value, "unix:/absolute/path or "
			    "HOST:PORT with PORT 1-65535, e.g. "
			    "unix:/run/bellhop/search.sock or 127.0.0.1:9000");
		bh_cfg.listen = value;
	} else if (strcmp(var, "BH_WORKERS") == 0) {
		if (!parse_number(value, 1, 256, &n))
			return fail(err, label, value,
			    "a whole number from 1 to 256");
		bh_cfg.workers = (int)n;
	} else if (strcmp(var, "BH_MAX_REQUESTS") == 0) {
		if (!parse_number(value, 0, 1000000000, &n))
			return fail(err, label, value, "a whole number from 0 "
			    "(never recycle) to 1000000000");
		bh_cfg.max_requests = (long)n;
	} else if (strcmp(var, "BH_SOCKET_MODE") == 0) {
		if (!parse_mode(value, &mode))
			return fail(err, label, value,
			    "an octal mode from 0 to 0777, e.g. 0660");
		bh_cfg.socket_mode = mode;
	} else {
		snprintf(message, sizeof(message), "%s: unknown setting", var);
		*err = message;
		return -1;
	}
	return 0;
}

static bool
valid_service(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > SERVICE_MAX)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		    *s == '_'))
			return false;
	return true;
}

int
bh_config_load(const char *service, const char **err)
{
	const char *const *var;
	const char *value;

	memset(&bh_cfg, 0, sizeof(bh_cfg));
	bh_cfg.log_level = BH_LOG_INFO;
	if (service == NULL || !valid_service(service)) {
		snprintf(message, sizeof(message), "service name must be 1 to "
		    "%d characters of a-z, 0-9, _", SERVICE_MAX);
		*err = message;
		return -1;
	}
	snprintf(default_base_path, sizeof(default_base_path), "/%s",
	    service);
	snprintf(default_database_url, sizeof(default_database_url),
	    "dbname=bellhop_%s", service);
	bh_cfg.service = service;
	bh_cfg.base_path = default_base_path;
	/* libpq's PG* variables (PGHOST, PGUSER, ...) fill in the rest. */
	bh_cfg.database_url = default_database_url;
	bh_cfg.sql_dir = BH_DEFAULT_SQL_DIR;
	bh_cfg.max_body = 1024 * 1024;
	bh_cfg.json_max_depth = 32;
	bh_cfg.db_connect_timeout = 2;
	bh_cfg.db_statement_timeout = 5000;
	bh_cfg.retry_after = 2;
	bh_cfg.listen = NULL;
	bh_cfg.workers = 2;
	bh_cfg.max_requests = 0;
	bh_cfg.socket_mode = 0660;

	for (var = variables; *var != NULL; var++)
		if ((value = getenv(*var)) != NULL &&
		    bh_config_set(*var, *var, value, err) == -1)
			return -1;
	return 0;
}
