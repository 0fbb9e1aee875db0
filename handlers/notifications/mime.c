/*
 * mime.c - turns a stored email into the RFC 5322 / MIME message that is
 * sent over SMTP.  Pure functions: no I/O, no globals, memory from the
 * caller's pool.
 *
 * Everything written is 7-bit ASCII with CRLF line endings and lines of
 * at most 76 characters in bodies (RFC 2045), so no SMTP extension
 * (8BITMIME, SMTPUTF8) is needed: text and HTML go quoted-printable,
 * attachments base64, a non-ASCII subject as RFC 2047 encoded words, a
 * non-ASCII file name as an RFC 2231 parameter.  Boundaries start with
 * "=_", which neither encoding can produce.
 */
#include <stdio.h>
#include <string.h>

#include "notifications.h"

#define QP_LINE 76      /* RFC 2045 limit, soft break "=" included */
#define B64_LINE 76
#define WORD_BYTES 45   /* per encoded word: 60 base64 chars, 72 in all */

static const char hex[] = "0123456789ABCDEF";

/* ----------------------------------------------------------- checks */

/* RFC 2045 token characters. */
static bool
token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

bool
mime_content_type_valid(const char *s, size_t len)
{
	size_t i, slash = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '/') {
			if (slash != 0 || i == 0)
				return false;
			slash = i;
		} else if (!token_char((unsigned char)s[i]))
			return false;
	}
	return slash != 0 && slash + 1 < len;
}

char *
mime_filename_sanitise(bh_pool *pool, const char *name, size_t len)
{
	const char *start = name;
	char *out;
	size_t i, n;

	if (!bh_utf8_valid(name, len) || memchr(name, '\0', len) != NULL)
		return NULL;
	/* The last path component only: "../../etc/x.pdf" is "x.pdf". */
	for (i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == '\\')
			start = name + i + 1;
	n = len - (size_t)(start - name);
	while (n > 0 && (*start == '.' || *start == ' ')) {
		start++;
		n--;
	}
	while (n > 0 && start[n - 1] == ' ')
		n--;
	if (n == 0)
		return NULL;
	out = bh_pstrndup(pool, start, n);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c < 0x20 || c == 0x7f || c == '"')
			out[i] = '_';
	}
	return out;
}

/* RFC 5322 atext. */
static bool
atext(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

bool
mail_address_valid(const char *s, size_t len)
{
	const char *at = NULL;
	size_t i, label = 0;

	if (len < 3 || len > MAIL_MAX_ADDRESS)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] == '@') {
			if (at != NULL)
				return false;
			at = s + i;
		}
	if (at == NULL || at == s || at - s > 64 || at + 1 == s + len)
		return false;
	/* Local part: dot-atom (dots not first, last or doubled). */
	if (s[0] == '.' || at[-1] == '.')
		return false;
	for (i = 0; s + i < at; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return false;
		} else if (!atext(s[i]))
			return false;
	}
	/* Domain: labels of letters, digits and '-', 1-63 octets each. */
	for (i = (size_t)(at - s) + 1; i < len; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-') {
			if (++label > 63)
				return false;
		} else
			return false;
	}
	return label > 0;
}

/* ---------------------------------------------------------- encoders */

static bool
is_ascii_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* Appends s as quoted-printable, with its line breaks (LF, CRLF or CR)
 * as CRLF; the result ends with CRLF. */
static void
put_qp(bh_buf *out, const char *s)
{
	size_t col = 0;
	unsigned char c;
	char enc[3];

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c == '\r' || c == '\n') {
			if (c == '\r' && s[1] == '\n')
				s++;
			bh_buf_append(out, "\r\n", 2);
			col = 0;
			continue;
		}
		/* Space or tab before a line break or the end would be lost
		 * by the transport: encode it. */
		if ((c == ' ' || c == '\t') && (s[1] == '\0' || s[1] == '\r' ||
		    s[1] == '\n'))
			goto encode;
		if ((c >= 33 && c <= 126 && c != '=') || c == ' ' ||
		    c == '\t') {
			if (col + 1 > QP_LINE - 1) {
				bh_buf_append(out, "=\r\n", 3);
				col = 0;
			}
			bh_buf_append(out, s, 1);
			col++;
			continue;
		}
encode:
		if (col + 3 > QP_LINE - 1) {
			bh_buf_append(out, "=\r\n", 3);
			col = 0;
		}
		enc[0] = '=';
		enc[1] = hex[c >> 4];
		enc[2] = hex[c & 15];
		bh_buf_append(out, enc, 3);
		col += 3;
	}
	bh_buf_append(out, "\r\n", 2);
}

/* Appends data as base64 in lines of B64_LINE characters. */
static void
put_base64(bh_buf *out, bh_pool *pool, const unsigned char *data, size_t len)
{
	const char *b64 = bh_b64_encode(pool, data, len);
	size_t n = strlen(b64), i, chunk;

	for (i = 0; i < n; i += chunk) {
		chunk = n - i < B64_LINE ? n - i : B64_LINE;
		bh_buf_append(out, b64 + i, chunk);
		bh_buf_append(out, "\r\n", 2);
	}
}

/* Length of the UTF-8 sequence starting with lead byte c (1 for others,
 * which valid input does not have in that position). */
static size_t
utf8_len(unsigned char c)
{
	if (c >= 0xf0)
		return 4;
	if (c >= 0xe0)
		return 3;
	if (c >= 0xc0)
		return 2;
	return 1;
}

/* Appends a Subject: header.  Plain ASCII of a reasonable length that
 * cannot be mistaken for an encoded word goes as is; anything else as
 * RFC 2047 "B" encoded words of whole UTF-8 characters, one per folded
 * line. */
static void
put_subject(bh_buf *out, bh_pool *pool, const char *subject)
{
	size_t len = strlen(subject), i, n, c;

	if (is_ascii_printable(subject) && len <= 900 &&
	    strstr(subject, "=?") == NULL) {
		bh_buf_printf(out, "Subject: %s\r\n", subject);
		return;
	}
	bh_buf_puts(out, "Subject:");
	for (i = 0; i < len; i += n) {
		/* Whole characters only, up to WORD_BYTES bytes. */
		for (n = 0; i + n < len; n += c) {
			c = utf8_len((unsigned char)subject[i + n]);
			if (n + c > WORD_BYTES || i + n + c > len)
				break;
		}
		if (n == 0) /* cannot happen with valid UTF-8 */
			n = 1;
		bh_buf_printf(out, "%s=?UTF-8?B?%s?=", i == 0 ? " " : "\r\n ",
		    bh_b64_encode(pool, subject + i, n));
	}
	bh_buf_puts(out, "\r\n");
}

/* Appends the parameter name="value" (ASCII) or name*=UTF-8''%XX..
 * (RFC 2231) of a header, with "; " before it. */
static void
put_filename_param(bh_buf *out, const char *param, const char *value)
{
	const unsigned char *p;

	if (is_ascii_printable(value) && strchr(value, '\\') == NULL &&
	    strlen(value) <= 200) {
		bh_buf_printf(out, ";\r\n\t%s=\"%s\"", param, value);
		return;
	}
	bh_buf_printf(out, ";\r\n\t%s*=UTF-8''", param);
	for (p = (const unsigned char *)value; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("!#$&+-.^_`|~", *p))
			bh_buf_append(out, p, 1);
		else
			bh_buf_printf(out, "%%%c%c", hex[*p >> 4],
			    hex[*p & 15]);
		/* A long encoded value stays on one line: RFC 2231
		 * continuations would be needed past 998, and a name
		 * has at most 255 bytes, 765 encoded. */
	}
}

static void
put_text_part(bh_buf *out, const char *subtype, const char *body)
{
	bh_buf_printf(out, "Content-Type: text/%s; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", subtype);
	put_qp(out, body);
}

/* The text, or text and HTML as multipart/alternative. */
static void
put_body(bh_buf *out, const struct mime_message *msg, const char *boundary)
{
	if (msg->html == NULL) {
		put_text_part(out, "plain", msg->text);
		return;
	}
	bh_buf_printf(out, "Content-Type: multipart/alternative;\r\n"
	    "\tboundary=\"%s\"\r\n\r\n", boundary);
	bh_buf_printf(out, "--%s\r\n", boundary);
	put_text_part(out, "plain", msg->text);
	bh_buf_printf(out, "--%s\r\n", boundary);
	put_text_part(out, "html", msg->html);
	bh_buf_printf(out, "--%s--\r\n", boundary);
}

char *
mime_build(bh_pool *pool, const struct mime_message *msg, size_t *len)
{
	char date[64], mixed[128], alternative[128];
	const struct mime_attachment *a;
	struct tm tm;
	bh_buf out;
	size_t i;

	gmtime_r(&msg->date, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(mixed, sizeof(mixed), "=_bellhop_m_%s", msg->boundary_seed);
	snprintf(alternative, sizeof(alternative), "=_bellhop_a_%s",
	    msg->boundary_seed);

	bh_buf_init(&out, pool);
	bh_buf_printf(&out, "Date: %s\r\n", date);
	bh_buf_printf(&out, "From: %s\r\n", msg->from);
	bh_buf_printf(&out, "To: %s\r\n", msg->to);
	put_subject(&out, pool, msg->subject);
	bh_buf_printf(&out, "Message-ID: %s\r\n", msg->message_id);
	bh_buf_puts(&out, "MIME-Version: 1.0\r\n");

	if (msg->nattachments == 0)
		put_body(&out, msg, alternative);
	else {
		bh_buf_printf(&out, "Content-Type: multipart/mixed;\r\n"
		    "\tboundary=\"%s\"\r\n\r\n", mixed);
		bh_buf_printf(&out, "--%s\r\n", mixed);
		put_body(&out, msg, alternative);
		for (i = 0; i < msg->nattachments; i++) {
			a = &msg->attachments[i];
			bh_buf_printf(&out, "--%s\r\n", mixed);
			bh_buf_printf(&out, "Content-Type: %s",
			    a->content_type);
			put_filename_param(&out, "name", a->filename);
			bh_buf_puts(&out,
			    "\r\nContent-Disposition: attachment");
			put_filename_param(&out, "filename", a->filename);
			bh_buf_puts(&out, "\r\nContent-Transfer-Encoding: "
			    "base64\r\n\r\n");
			put_base64(&out, pool, a->data, a->len);
		}
		bh_buf_printf(&out, "--%s--\r\n", mixed);
	}
	*len = out.len;
	return out.data;
}
