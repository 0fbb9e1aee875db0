/*
 * response.c - setting a response (status, type, body, headers) and
 * serialising it as a CGI/FastCGI response with Content-Length, the
 * request id and the default security headers.
 *
 * Everything is copied into the request's pool, so a handler may pass
 * stack buffers or strings it frees afterwards.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

#define BH_PROBLEM_TYPE_PREFIX "urn:bellhop:problem:"

/* Appends a string literal without measuring it at run time. */
#define BUF_LIT(buf, lit) bh_buf_append((buf), (lit), sizeof(lit) - 1)

/*
 * Default headers, sent unless the handler sets one of the same name.
 * The CSP one is left out for HTML bodies: a page needs its own policy.
 */
static const struct default_header {
	const char *name;
	const char *line; /* "Name: value\r\n", written as is */
	size_t linelen;
	bool html_too;
} default_headers[] = {
#define DEFHDR(n, v, h) { n, n ": " v "\r\n", sizeof(n ": " v "\r\n") - 1, h }
	DEFHDR("X-Content-Type-Options", "nosniff", true),
	DEFHDR("X-Frame-Options", "DENY", true),
	DEFHDR("Referrer-Policy", "no-referrer", true),
	DEFHDR("Cache-Control", "no-store", true),
	DEFHDR("Content-Security-Policy",
	    "default-src 'none'; frame-ancestors 'none'", false),
#undef DEFHDR
};
#define NDEFAULT_HEADERS (sizeof(default_headers) / sizeof(default_headers[0]))

/* Returns the reason phrase of status (a static string). */
static const char *
reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	}
	if (status >= 200 && status < 300)
		return "Success";
	if (status >= 300 && status < 400)
		return "Redirection";
	if (status >= 400 && status < 500)
		return "Client Error";
	return "Server Error";
}

/* RFC 9110 token characters, the only ones allowed in a header name. */
static bool
header_name_valid(const char *name)
{
	const unsigned char *p = (const unsigned char *)name;

	if (*p == '\0')
		return false;
	for (; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9'))
			continue;
		if (strchr("!#$%&'*+-.^_`|~", *p) == NULL)
			return false;
	}
	return true;
}

/* Field values may hold tab and visible characters, not CR, LF or other
 * controls: one of those could end the header and start another. */
static bool
header_value_valid(const char *value)
{
	const unsigned char *p;

	for (p = (const unsigned char *)value; *p != '\0'; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

/*
 * Headers the runtime writes itself: a handler setting them would break
 * the framing (Content-Length, Status) or the request id.  Content-Type
 * is accepted and becomes the response's type.
 */
static bool
header_reserved(const char *name)
{
	return strcasecmp(name, "Content-Length") == 0 ||
	    strcasecmp(name, "Status") == 0 ||
	    strcasecmp(name, "X-Request-Id") == 0 ||
	    strcasecmp(name, "Transfer-Encoding") == 0;
}

/*
 * Adds a header.  A name that is not a token or a value holding CR, LF or
 * another control character is refused (logged, not sent) rather than
 * repaired: it is a bug or an attack either way, and a half-repaired
 * Location or Set-Cookie is worse than none.
 */
void
bh_add_header(bh_request *req, const char *name, const char *value)
{
	bh_header *grown;
	size_t cap;

	if (name == NULL || value == NULL || !header_name_valid(name) ||
	    !header_value_valid(value)) {
		bh_log(BH_LOG_WARN, "refused an invalid response header");
		return;
	}
	if (header_reserved(name)) {
		bh_log(BH_LOG_WARN, "refused reserved response header %s",
		    name);
		return;
	}
	if (strcasecmp(name, "Content-Type") == 0) {
		req->resp_type = bh_pstrdup(req->pool, value);
		return;
	}
	if (req->nresp_headers == req->capresp_headers) {
		cap = req->capresp_headers == 0 ? 8 : req->capresp_headers * 2;
		grown = bh_palloc(req->pool, cap * sizeof(*grown));
		if (req->nresp_headers > 0)
			memcpy(grown, req->resp_headers,
			    req->nresp_headers * sizeof(*grown));
		req->resp_headers = grown;
		req->capresp_headers = cap;
	}
	req->resp_headers[req->nresp_headers].name =
	    bh_pstrdup(req->pool, name);
	req->resp_headers[req->nresp_headers].value =
	    bh_pstrdup(req->pool, value);
	req->nresp_headers++;
}

int
bh_send(bh_request *req, int status, const char *content_type,
    const void *body, size_t len)
{
	req->status = status;
	if (content_type != NULL && !header_value_valid(content_type)) {
		bh_log(BH_LOG_WARN, "refused an invalid content type");
		content_type = "application/octet-stream";
	}
	req->resp_type = content_type == NULL ? NULL :
	    bh_pstrdup(req->pool, content_type);
	bh_buf_init(&req->resp_body, req->pool);
	if (len > 0)
		bh_buf_append(&req->resp_body, body, len);
	return status;
}

int
bh_send_json(bh_request *req, int status, json_object *obj)
{
	const char *text;
	size_t len;

	/* The string belongs to obj; bh_send copies it. */
	text = json_object_to_json_string_length(obj,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	return bh_send(req, status, "application/json", text, len);
}

/* Length of the well-formed UTF-8 sequence at s[0..len), or 0. */
static size_t
utf8_seq_len(const unsigned char *s, size_t len)
{
	size_t n, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (n > len)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * Appends s JSON-escaped, without quotes: quote, backslash and control
 * characters escaped, invalid UTF-8 replaced by U+FFFD so that a detail
 * quoting hostile input still yields valid JSON.
 */
static void
append_json_chars(bh_buf *buf, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), run, n;
	char esc[6];

	while (left > 0) {
		/* Copy the longest run that needs no escaping in one go. */
		for (run = 0; run < left; run += n) {
			if (p[run] < 0x20 || p[run] == '"' ||
			    p[run] == '\\' || p[run] == 0x7f)
				break;
			if ((n = utf8_seq_len(p + run, left - run)) == 0)
				break;
		}
		bh_buf_append(buf, p, run);
		p += run;
		left -= run;
		if (left == 0)
			break;
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			bh_buf_append(buf, esc, 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 0xf];
			bh_buf_append(buf, esc, 6);
		} else
			BUF_LIT(buf, "\\ufffd");
		p++;
		left--;
	}
}

/* Appends s as a JSON string, quotes included. */
static void
append_json_string(bh_buf *buf, const char *s)
{
	BUF_LIT(buf, "\"");
	append_json_chars(buf, s);
	BUF_LIT(buf, "\"");
}

/* Appends the decimal form of v. */
static void
append_uint(bh_buf *buf, unsigned long long v)
{
	char digits[24], *p = digits + sizeof(digits);

	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	bh_buf_append(buf, p, (size_t)(digits + sizeof(digits) - p));
}

/* True if the handler set a header named name. */
static bool
handler_has_header(const bh_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nresp_headers; i++)
		if (strcasecmp(req->resp_headers[i].name, name) == 0)
			return true;
	return false;
}

/* The members bh_problem writes itself, which extra members never
 * replace (a second "status" would make the body say two things). */
static bool
problem_member_reserved(const char *name)
{
	static const char *const reserved[] = { "type", "title", "status",
	    "detail", "request_id", "param", "instance" };
	size_t i;

	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcmp(name, reserved[i]) == 0)
			return true;
	return false;
}

/* Appends ,"name":value for each member of extra that is not reserved. */
static void
append_extra_members(bh_buf *body, json_object *extra)
{
	const char *text;
	size_t len;

	if (extra == NULL)
		return;
	if (!json_object_is_type(extra, json_type_object)) {
		bh_log(BH_LOG_WARN, "problem: extra members are not an "
		    "object; left out");
		return;
	}
	json_object_object_foreach(extra, name, value) {
		if (problem_member_reserved(name)) {
			bh_log(BH_LOG_WARN, "problem: extra member %s would "
			    "replace a standard one; left out", name);
			continue;
		}
		BUF_LIT(body, ",");
		append_json_string(body, name);
		BUF_LIT(body, ":");
		text = json_object_to_json_string_length(value,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		    &len);
		bh_buf_append(body, text, len);
	}
}

static int vproblem(bh_request *, int, const char *, const char *,
    json_object *, const char *, va_list) BH_PRINTF(6, 0);

static int
vproblem(bh_request *req, int status, const char *slug, const char *param,
    json_object *extra, const char *detail_fmt, va_list ap)
{
	bh_buf body;
	va_list ap2;
	char *detail;
	int len;

	/* Format the detail once into the pool: size, then text. */
	va_copy(ap2, ap);
	len = vsnprintf(NULL, 0, detail_fmt, ap2);
	va_end(ap2);
	if (len < 0)
		len = 0;
	detail = bh_palloc(req->pool, (size_t)len + 1);
	vsnprintf(detail, (size_t)len + 1, detail_fmt, ap);

	bh_buf_init(&body, req->pool);
	BUF_LIT(&body, "{\"type\":\"" BH_PROBLEM_TYPE_PREFIX);
	append_json_chars(&body, slug);
	BUF_LIT(&body, "\",\"title\":");
	append_json_string(&body, reason_phrase(status));
	BUF_LIT(&body, ",\"status\":");
	append_uint(&body, status > 0 ? (unsigned)status : 0);
	BUF_LIT(&body, ",\"detail\":");
	append_json_string(&body, detail);
	if (req->request_id != NULL) {
		BUF_LIT(&body, ",\"request_id\":");
		append_json_string(&body, req->request_id);
	}
	if (param != NULL) {
		BUF_LIT(&body, ",\"param\":");
		append_json_string(&body, param);
	}
	append_extra_members(&body, extra);
	BUF_LIT(&body, "}");

	req->status = status;
	req->resp_type = "application/problem+json";
	req->resp_body = body;
	if (status == 503 && bh_cfg.retry_after > 0 &&
	    !handler_has_header(req, "Retry-After")) {
		char secs[24];

		snprintf(secs, sizeof(secs), "%d", bh_cfg.retry_after);
		bh_add_header(req, "Retry-After", secs);
	}
	return status;
}

int
bh_problem(bh_request *req, int status, const char *slug, const char *param,
    const char *detail_fmt, ...)
{
	va_list ap;

	va_start(ap, detail_fmt);
	vproblem(req, status, slug, param, NULL, detail_fmt, ap);
	va_end(ap);
	return status;
}

int
bh_problem_ext(bh_request *req, int status, const char *slug,
    const char *param, json_object *extra, const char *detail_fmt, ...)
{
	va_list ap;

	va_start(ap, detail_fmt);
	vproblem(req, status, slug, param, extra, detail_fmt, ap);
	va_end(ap);
	return status;
}

void
bh_response_serialize(bh_request *req, bh_buf *out)
{
	const struct default_header *def;
	const bh_header *hdr;
	bool html, bodyless;
	size_t i;

	if (req->status < 100 || req->status > 599) {
		if (req->status != 0)
			bh_log(BH_LOG_ERROR, "handler set invalid status %d",
			    req->status);
		else
			bh_log(BH_LOG_ERROR, "handler set no response");
		bh_problem(req, 500, BH_PROBLEM_INTERNAL, NULL,
		    "the server could not produce a response");
	}
	if (req->resp_body.data == NULL)
		bh_buf_init(&req->resp_body, req->pool);
	/* RFC 9110: a 1xx or 204 response has no content and must not
	 * carry Content-Length. */
	bodyless = req->status < 200 || req->status == 204;

	BUF_LIT(out, "Status: ");
	append_uint(out, (unsigned)req->status);
	BUF_LIT(out, " ");
	bh_buf_puts(out, reason_phrase(req->status));
	BUF_LIT(out, "\r\n");
	if (req->resp_type != NULL && !bodyless) {
		BUF_LIT(out, "Content-Type: ");
		bh_buf_puts(out, req->resp_type);
		BUF_LIT(out, "\r\n");
	}
	if (!bodyless) {
		BUF_LIT(out, "Content-Length: ");
		append_uint(out, req->resp_body.len);
		BUF_LIT(out, "\r\n");
	}
	/* request.c vets a caller's id; checking again keeps this file safe
	 * on its own. */
	if (req->request_id != NULL && header_value_valid(req->request_id)) {
		BUF_LIT(out, "X-Request-Id: ");
		bh_buf_puts(out, req->request_id);
		BUF_LIT(out, "\r\n");
	}

	html = req->resp_type != NULL &&
	    strncasecmp(req->resp_type, "text/html", 9) == 0;
	for (i = 0; i < NDEFAULT_HEADERS; i++) {
		def = &default_headers[i];
		if ((html && !def->html_too) ||
		    (req->nresp_headers > 0 &&
		     handler_has_header(req, def->name)))
			continue;
		bh_buf_append(out, def->line, def->linelen);
	}
	for (i = 0; i < req->nresp_headers; i++) {
		hdr = &req->resp_headers[i];
		bh_buf_puts(out, hdr->name);
		BUF_LIT(out, ": ");
		bh_buf_puts(out, hdr->value);
		BUF_LIT(out, "\r\n");
	}
	BUF_LIT(out, "\r\n");
	if (req->method != BH_HEAD && !bodyless)
		bh_buf_append(out, req->resp_body.data, req->resp_body.len);
}
