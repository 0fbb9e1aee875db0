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

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

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
	"BH_WORKERS", "BH_MAX_REQUESTS", "BH_SOCKET_MODE",
	"BH_PUBLIC_URL", "BH_AUTH_ISSUER", "BH_AUTH_JWKS_URL",
	"BH_AUTH_TOKEN_URL", "BH_AUDIENCE", "BH_CLIENT_ID",
	"BH_CLIENT_SECRET", "BH_CLIENT_SECRET_FILE", "BH_TOKEN_LEEWAY",
	"BH_JWKS_COOLDOWN", "BH_HTTP_CONNECT_TIMEOUT", "BH_HTTP_TIMEOUT",
	"BH_HTTP_RETRIES", NULL
};

/* Longest service name: it becomes part of a path, a database name and
 * a role name (PostgreSQL allows 63 bytes). */
#define SERVICE_MAX 40

/* Longest URL setting; derived ones add at most DERIVED_SUFFIX_MAX. */
#define URL_MAX 512
#define DERIVED_SUFFIX_MAX 64
/* Longest secret (client secrets are 43 characters of base64url). */
#define SECRET_MAX 1024

static char default_base_path[SERVICE_MAX + 2];
static char default_database_url[SERVICE_MAX + 32];
static char default_issuer[URL_MAX + DERIVED_SUFFIX_MAX];
static char default_jwks_url[2 * (URL_MAX + DERIVED_SUFFIX_MAX)];
static char default_token_url[2 * (URL_MAX + DERIVED_SUFFIX_MAX)];
/* The secret, its line end and the NUL. */
static char client_secret_buf[SECRET_MAX + 3];
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

/*
 * An absolute http or https URL: scheme, a non-empty authority, then an
 * optional path, nothing but printable ASCII without blanks, no fragment,
 * at most URL_MAX characters.  bare: also no query and no trailing
 * slash, so that paths can be appended (public URL, issuer).
 */
static bool
valid_http_url(const char *s, bool bare)
{
	const char *p, *host;
	size_t len = strlen(s);

	if (len > URL_MAX)
		return false;
	if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return false;
	if (*host == '\0' || *host == '/' || *host == '?' || *host == '#')
		return false;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '#' ||
		    *p == '\\' || (unsigned char)*p >= 0x80)
			return false;
	if (bare && (strchr(host, '?') != NULL || s[len - 1] == '/'))
		return false;
	return true;
}

/* 1 to 128 printable ASCII characters without blanks or quotes: a client
 * id or an audience, which appear in tokens and in HTTP Basic. */
static bool
valid_name(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 128)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    *s == '"' || *s == '\\')
			return false;
	return true;
}

/*
 * Reads the secret in the file at path into buf (size bytes, at least
 * SECRET_MAX + 3): the whole file, one trailing "\n" or "\r\n" cut.  The
 * rest must be 1 to SECRET_MAX bytes without a control character.  Returns 0, or -1 with why in
 * message (never the file's content).
 */
static int
read_secret_file(const char *label, const char *path, char *buf,
    size_t size)
{
	struct stat st;
	ssize_t n;
	size_t len = 0, i;
	int fd, rc = -1;

	/* O_NONBLOCK: a FIFO must not hang the start; it is refused
	 * below, and regular files ignore the flag. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		snprintf(message, sizeof(message), "%s: cannot open the "
		    "secret file: %s", label, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(message, sizeof(message), "%s: the secret file is "
		    "not a regular file", label);
		goto out;
	}
	for (;;) {
		n = read(fd, buf + len, size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(message, sizeof(message), "%s: reading the "
			    "secret file: %s", label, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == size)
			break;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len > SECRET_MAX) {
		snprintf(message, sizeof(message), "%s: the secret file holds "
		    "more than %d bytes", label, SECRET_MAX);
		goto out;
	}
	buf[len] = '\0';
	if (len == 0) {
		snprintf(message, sizeof(message), "%s: the secret file is "
		    "empty", label);
		goto out;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
			snprintf(message, sizeof(message), "%s: the secret "
			    "file must hold one line of printable text", label);
			goto out;
		}
	rc = 0;
out:
	if (rc == -1)
		explicit_bzero(buf, size);
	close(fd);
	return rc;
}

/* A secret given directly: one line of printable text, never echoed. */
static bool
valid_secret(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > SECRET_MAX)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
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
	} else if (strcmp(var, "BH_PUBLIC_URL") == 0) {
		if (!valid_http_url(value, true))
			return fail(err, label, value, "an http:// or https:// "
			    "URL without query or trailing slash, e.g. "
			    "https://hotel.example");
		bh_cfg.public_url = value;
	} else if (strcmp(var, "BH_AUTH_ISSUER") == 0) {
		if (!valid_http_url(value, true))
			return fail(err, label, value, "an http:// or https:// "
			    "URL without query or trailing slash, e.g. "
			    "https://hotel.example/auth");
		bh_cfg.auth_issuer = value;
	} else if (strcmp(var, "BH_AUTH_JWKS_URL") == 0 ||
	    strcmp(var, "BH_AUTH_TOKEN_URL") == 0) {
		if (!valid_http_url(value, false))
			return fail(err, label, value,
			    "an http:// or https:// URL");
		if (var[8] == 'J')
			bh_cfg.jwks_url = value;
		else
			bh_cfg.token_url = value;
	} else if (strcmp(var, "BH_AUDIENCE") == 0 ||
	    strcmp(var, "BH_CLIENT_ID") == 0) {
		if (!valid_name(value))
			return fail(err, label, value, "1 to 128 printable "
			    "characters without blanks or quotes");
		if (var[3] == 'A')
			bh_cfg.audience = value;
		else
			bh_cfg.client_id = value;
	} else if (strcmp(var, "BH_CLIENT_SECRET") == 0) {
		/* Never echoed, not even cut short. */
		if (!valid_secret(value)) {
			snprintf(message, sizeof(message), "%s: expected one "
			    "line of 1 to %d printable characters", label,
			    SECRET_MAX);
			*err = message;
			return -1;
		}
		bh_cfg.client_secret = value;
	} else if (strcmp(var, "BH_CLIENT_SECRET_FILE") == 0) {
		if (*value == '\0')
			return fail(err, label, value, "the path of a file "
			    "holding the client secret");
		if (read_secret_file(label, value, client_secret_buf,
		    sizeof(client_secret_buf)) == -1) {
			*err = message;
			return -1;
		}
		bh_cfg.client_secret = client_secret_buf;
	} else if (strcmp(var, "BH_TOKEN_LEEWAY") == 0) {
		if (!parse_number(value, 0, 300, &n))
			return fail(err, label, value,
			    "a number of seconds from 0 to 300");
		bh_cfg.token_leeway = (int)n;
	} else if (strcmp(var, "BH_JWKS_COOLDOWN") == 0) {
		if (!parse_number(value, 1, 3600, &n))
			return fail(err, label, value,
			    "a number of seconds from 1 to 3600");
		bh_cfg.jwks_cooldown = (int)n;
	} else if (strcmp(var, "BH_HTTP_CONNECT_TIMEOUT") == 0) {
		if (!parse_number(value, 10, 60000, &n))
			return fail(err, label, value,
			    "a number of milliseconds from 10 to 60000");
		bh_cfg.http_connect_timeout_ms = (int)n;
	} else if (strcmp(var, "BH_HTTP_TIMEOUT") == 0) {
		if (!parse_number(value, 10, 300000, &n))
			return fail(err, label, value,
			    "a number of milliseconds from 10 to 300000");
		bh_cfg.http_timeout_ms = (int)n;
	} else if (strcmp(var, "BH_HTTP_RETRIES") == 0) {
		if (!parse_number(value, 0, 10, &n))
			return fail(err, label, value,
			    "a whole number from 0 to 10");
		bh_cfg.http_retries = (int)n;
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
	bh_cfg.public_url = "http://127.0.0.1:8080";
	bh_cfg.audience = service;
	bh_cfg.client_id = service;
	bh_cfg.client_secret = NULL;
	explicit_bzero(client_secret_buf, sizeof(client_secret_buf));
	bh_cfg.token_leeway = 30;
	bh_cfg.jwks_cooldown = 30;
	bh_cfg.http_connect_timeout_ms = 1000;
	bh_cfg.http_timeout_ms = 5000;
	bh_cfg.http_retries = 2;

	if (getenv("BH_CLIENT_SECRET") != NULL &&
	    getenv("BH_CLIENT_SECRET_FILE") != NULL) {
		snprintf(message, sizeof(message), "BH_CLIENT_SECRET and "
		    "BH_CLIENT_SECRET_FILE are both set: set only one");
		*err = message;
		return -1;
	}
	for (var = variables; *var != NULL; var++)
		if ((value = getenv(*var)) != NULL &&
		    bh_config_set(*var, *var, value, err) == -1)
			return -1;

	/* Derived defaults: the issuer lives under the public URL, its
	 * endpoints under the issuer (as auth publishes them). */
	if (bh_cfg.auth_issuer == NULL) {
		snprintf(default_issuer, sizeof(default_issuer), "%s/auth",
		    bh_cfg.public_url);
		bh_cfg.auth_issuer = default_issuer;
	}
	if (bh_cfg.jwks_url == NULL) {
		snprintf(default_jwks_url, sizeof(default_jwks_url),
		    "%s/.well-known/jwks.json", bh_cfg.auth_issuer);
		bh_cfg.jwks_url = default_jwks_url;
	}
	if (bh_cfg.token_url == NULL) {
		snprintf(default_token_url, sizeof(default_token_url),
		    "%s/oauth/token", bh_cfg.auth_issuer);
		bh_cfg.token_url = default_token_url;
	}
	return 0;
}

/* ------------------------------------------- a service's own settings */

/* Like parse_number, with an optional '-' for negative bounds. */
static bool
parse_signed(const char *s, long long min, long long max, long long *out)
{
	long long n = 0;
	bool neg = *s == '-';
	int d;

	if (neg)
		s++;
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		d = *s - '0';
		/* Accumulate negatively: LLONG_MIN has no positive twin. */
		if (n < (LLONG_MIN + d) / 10)
			return false;
		n = n * 10 - d;
	}
	if (!neg) {
		if (n == LLONG_MIN)
			return false;
		n = -n;
	}
	if (n < min || n > max)
		return false;
	*out = n;
	return true;
}

int
bh_env_int(const char *var, long long def, long long min, long long max,
	   long long *out, const char **err)
{
	const char *value = getenv(var);
	char expected[96];

	/* Checked even when var is set, so that a wrong row in a service's
	 * table shows at the first start, not when someone unsets var. */
	if (def < min || def > max) {
		snprintf(message, sizeof(message), "%s: the built-in default "
		    "%lld is outside %lld to %lld", var, def, min, max);
		*err = message;
		return -1;
	}
	if (value == NULL) {
		*out = def;
		return 0;
	}
	/* A sign only where negative values are allowed ("-0" is no
	 * number of seconds), like the runtime's own numbers. */
	if ((value[0] == '-' && min >= 0) ||
	    !parse_signed(value, min, max, out)) {
		snprintf(expected, sizeof(expected),
		    "a whole number from %lld to %lld", min, max);
		return fail(err, var, value, expected);
	}
	return 0;
}

int
bh_env_ints(const bh_int_setting *settings, const char **err)
{
	const bh_int_setting *s;

	for (s = settings; s->var != NULL; s++)
		if (bh_env_int(s->var, s->def, s->min, s->max, s->out,
		    err) == -1)
			return -1;
	return 0;
}

const char *
bh_env_str(const char *var, const char *def)
{
	const char *value = getenv(var);

	return value != NULL && value[0] != '\0' ? value : def;
}

char *
bh_env_secret(const char *var, const char **err)
{
	char file_var[128], buf[SECRET_MAX + 3];
	const char *path, *value;
	char *secret;

	*err = NULL;
	snprintf(file_var, sizeof(file_var), "%s_FILE", var);
	path = getenv(file_var);
	value = getenv(var);
	if (path != NULL && value != NULL) {
		snprintf(message, sizeof(message), "%s and %s are both set: "
		    "set only one", var, file_var);
		*err = message;
		return NULL;
	}
	if (path != NULL) {
		if (*path == '\0') {
			fail(err, file_var, path,
			    "the path of a file holding the secret");
			return NULL;
		}
		if (read_secret_file(file_var, path, buf, sizeof(buf)) == -1) {
			*err = message;
			return NULL;
		}
		secret = strdup(buf);
		explicit_bzero(buf, sizeof(buf));
	} else if (value != NULL) {
		if (!valid_secret(value)) {
			snprintf(message, sizeof(message), "%s: expected one "
			    "line of 1 to %d printable characters", var,
			    SECRET_MAX);
			*err = message;
			return NULL;
		}
		secret = strdup(value);
	} else
		return NULL;
	if (secret == NULL)
		abort();
	return secret;
}

/* The URLs handed out by bh_service_url, kept for the process's life and
 * shared by equal values, so repeated calls allocate nothing new. */
struct service_url {
	struct service_url *next;
	char url[];
};
static struct service_url *service_urls;

const char *
bh_service_url(const char *svc)
{
	char var[96], url[URL_MAX + SERVICE_MAX + 2];
	const char *value;
	struct service_url *su;
	size_t i, len;

	len = strlen("BH_");
	memcpy(var, "BH_", len);
	for (i = 0; svc[i] != '\0' && len < sizeof(var) - 5; i++)
		var[len++] = (char)toupper((unsigned char)svc[i]);
	memcpy(var + len, "_URL", 5);
	if ((value = getenv(var)) != NULL && value[0] != '\0')
		snprintf(url, sizeof(url), "%s", value);
	else
		snprintf(url, sizeof(url), "%s/%s", bh_cfg.public_url != NULL ?
		    bh_cfg.public_url : "http://127.0.0.1:8080", svc);
	len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		url[--len] = '\0';
	for (su = service_urls; su != NULL; su = su->next)
		if (strcmp(su->url, url) == 0)
			return su->url;
	if ((su = malloc(sizeof(*su) + len + 1)) == NULL)
		abort();
	memcpy(su->url, url, len + 1);
	su->next = service_urls;
	service_urls = su;
	return su->url;
}
