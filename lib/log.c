/*
 * log.c - JSON log lines on stderr.
 *
 * Each line is built in a stack buffer and written with one write(2), so
 * lines from the workers of a pool sharing stderr never interleave and
 * logging never allocates.  Every string is JSON-escaped, control bytes
 * included, and invalid UTF-8 becomes U+FFFD: a log line stays one valid
 * JSON object whatever a client sent.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Longest line written; longer messages are cut and marked. */
#define BH_LOG_LINE 8192
/* Room kept at the end of a line for the truncation mark and closing. */
#define BH_LOG_TAIL 256

const char *bh_log_request_id;

static const char *const level_names[] = {
	[BH_LOG_DEBUG] = "debug",
	[BH_LOG_INFO] = "info",
	[BH_LOG_WARN] = "warn",
	[BH_LOG_ERROR] = "error",
};

uint64_t
bh_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A line under construction; len never passes cap - BH_LOG_TAIL except
 * through line_raw for the closing bytes. */
struct line {
	char buf[BH_LOG_LINE];
	size_t len;
	bool truncated;
};

static void
line_raw(struct line *l, const char *s, size_t n)
{
	if (n > sizeof(l->buf) - l->len)
		n = sizeof(l->buf) - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void
line_str(struct line *l, const char *s)
{
	line_raw(l, s, strlen(s));
}

/* Appends s[0..n) JSON-escaped (without quotes).  Stops, marking the
 * line truncated, when the body of the line is full. */
static void
line_escape(struct line *l, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t limit = sizeof(l->buf) - BH_LOG_TAIL;
	size_t i = 0, seq;
	char esc[7];
	const char *out;
	size_t outlen;

	while (i < n) {
		unsigned char c = p[i];

		seq = 1;
		out = esc;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			outlen = 2;
		} else if (c < 0x20 || c == 0x7f) {
			switch (c) {
			case '\n':
				out = "\\n";
				outlen = 2;
				break;
			case '\r':
				out = "\\r";
				outlen = 2;
				break;
			case '\t':
				out = "\\t";
				outlen = 2;
				break;
			default:
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 0xf];
				outlen = 6;
				break;
			}
		} else if (c < 0x80) {
			out = (const char *)p + i;
			outlen = 1;
		} else {
			seq = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			if (seq <= n - i && bh_utf8_valid((const char *)p + i,
			    seq)) {
				out = (const char *)p + i;
				outlen = seq;
			} else {
				/* One bad byte becomes one U+FFFD. */
				seq = 1;
				out = "\xef\xbf\xbd";
				outlen = 3;
			}
		}
		if (outlen > limit - l->len) {
			l->truncated = true;
			return;
		}
		memcpy(l->buf + l->len, out, outlen);
		l->len += outlen;
		i += seq;
	}
}

/* Appends ,"key":"value" (or null for a NULL value). */
static void
line_field(struct line *l, const char *key, const char *val)
{
	line_str(l, ",\"");
	line_str(l, key);
	if (val == NULL) {
		line_str(l, "\":null");
		return;
	}
	line_str(l, "\":\"");
	line_escape(l, val, strlen(val));
	line_str(l, "\"");
}

/* Starts a line: {"time":...,"level":...,"service":...[,"request_id"]. */
static void
line_start(struct line *l, enum bh_log_level level, const char *request_id)
{
	struct timespec ts;
	struct tm tm;
	char stamp[40];
	size_t n;

	l->len = 0;
	l->truncated = false;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ",
	    ts.tv_nsec / 1000000);
	line_str(l, "{\"time\":\"");
	line_str(l, stamp);
	line_str(l, "\",\"level\":\"");
	line_str(l, level_names[level]);
	line_str(l, "\"");
	line_field(l, "service", bh_cfg.service != NULL ? bh_cfg.service :
	    "bellhop");
	if (request_id != NULL)
		line_field(l, "request_id", request_id);
}

static void
line_write(struct line *l)
{
	ssize_t w;

	line_str(l, "}\n");
	/* One write so concurrent workers never interleave lines; a short
	 * write to a full pipe is not retried (logging must not block the
	 * request on a stuck reader more than once). */
	do
		w = write(STDERR_FILENO, l->buf, l->len);
	while (w < 0 && errno == EINTR);
}

static bool
level_enabled(enum bh_log_level level)
{
	return level >= bh_cfg.log_level && level <= BH_LOG_ERROR;
}

void
bh_log(enum bh_log_level level, const char *fmt, ...)
{
	struct line l;
	char msg[BH_LOG_LINE];
	va_list ap;
	int n;

	if (!level_enabled(level))
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	line_start(&l, level, bh_log_request_id);
	line_str(&l, ",\"msg\":\"");
	/* vsnprintf cut long messages already; the escaper cuts again if
	 * escaping made them too long, and a cut UTF-8 sequence is
	 * replaced, not copied half. */
	line_escape(&l, msg, (size_t)n < sizeof(msg) ? (size_t)n :
	    sizeof(msg) - 1);
	if (l.truncated || (size_t)n >= sizeof(msg))
		line_str(&l, "...\",\"truncated\":true");
	else
		line_str(&l, "\"");
	line_write(&l);
}

void
bh_log_access(const bh_request *req, size_t bytes_out)
{
	struct line l;
	char num[96];
	uint64_t now = bh_now_us();
	uint64_t duration = now >= req->start_us ? now - req->start_us : 0;

	if (!level_enabled(BH_LOG_INFO))
		return;
	line_start(&l, BH_LOG_INFO, req->request_id);
	line_field(&l, "msg", "request");
	line_field(&l, "method", req->method_name);
	/* Never the query string: it may carry secrets. */
	line_field(&l, "path", req->full_path);
	snprintf(num, sizeof(num),
	    ",\"status\":%d,\"duration_us\":%llu,\"bytes\":%zu",
	    req->status, (unsigned long long)duration, bytes_out);
	line_str(&l, num);
	line_field(&l, "remote_addr", req->remote_addr);
	if (l.truncated)
		line_str(&l, ",\"truncated\":true");
	line_write(&l);
}

/* Copies msg into buf as one line: newlines and tabs become spaces,
 * trailing blanks go. */
void
bh_log_one_line(char *buf, size_t size, const char *msg)
{
	size_t i, n = 0;

	for (i = 0; msg != NULL && msg[i] != '\0' && n + 1 < size; i++) {
		if (msg[i] == '\n' || msg[i] == '\r' || msg[i] == '\t') {
			if (n > 0 && buf[n - 1] != ' ')
				buf[n++] = ' ';
		} else
			buf[n++] = msg[i];
	}
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
}
