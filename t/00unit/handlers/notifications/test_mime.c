/*
 * test_mime.c - handlers/notifications/mime.c: the messages built for SMTP
 * (headers, quoted-printable bodies, multipart structure, attachments in
 * base64, RFC 2047 subjects), and the checks of addresses, file names and
 * media types.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notifications.h"
#include "runner.h"

static bh_pool *pool;

static bh_pool *
fresh_pool(void)
{
	if (pool == NULL)
		pool = bh_pool_new();
	else
		bh_pool_reset(pool);
	return pool;
}

static struct mime_message
base_message(void)
{
	struct mime_message m;

	memset(&m, 0, sizeof(m));
	m.from = "bellhop <noreply@bellhop.invalid>";
	m.to = "alice@example.com";
	m.subject = "Hello";
	m.message_id = "<bellhop.1.20260101000000000000@bellhop.invalid>";
	m.date = 1767225600; /* 2026-01-01 00:00:00 UTC, a Thursday */
	m.text = "Hi Alice";
	m.boundary_seed = "1_20260101";
	return m;
}

/* Every line ends with CRLF, no bare CR or LF, none longer than max
 * octets before its CRLF. */
static bool
lines_ok(const char *msg, size_t len, size_t max)
{
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		if (msg[i] == '\r') {
			if (i + 1 >= len || msg[i + 1] != '\n')
				return false;
			i++;
			col = 0;
		} else if (msg[i] == '\n')
			return false;
		else if (++col > max)
			return false;
	}
	return col == 0;
}

/* All octets 7-bit. */
static bool
ascii_only(const char *msg, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)msg[i] > 0x7e ||
		    ((unsigned char)msg[i] < 0x20 && msg[i] != '\r' &&
		    msg[i] != '\n' && msg[i] != '\t'))
			return false;
	return true;
}

/* The body after the first blank line of part (headers then body). */
static const char *
body_of(const char *part)
{
	const char *p = strstr(part, "\r\n\r\n");

	return p != NULL ? p + 4 : NULL;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes quoted-printable s[0..len) (CRLF kept as "\n"). */
static char *
qp_decode(const char *s, size_t len)
{
	char *out = malloc(len + 1), *o = out;
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '=' && i + 2 < len && s[i + 1] == '\r' &&
		    s[i + 2] == '\n') {
			i += 2;
		} else if (s[i] == '=' && i + 2 < len) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n') {
			*o++ = '\n';
			i++;
		} else
			*o++ = s[i];
	}
	*o = '\0';
	return out;
}

/* ------------------------------------------------------------ messages */

static void
test_plain_text(void)
{
	struct mime_message m = base_message();
	size_t len;
	char *msg = mime_build(fresh_pool(), &m, &len);

	CU_ASSERT_EQUAL(strlen(msg), len);
	CU_ASSERT(strncmp(msg, "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n", 39)
	    == 0);
	CU_ASSERT(strstr(msg, "\r\nFrom: bellhop <noreply@bellhop.invalid>\r\n")
	    != NULL);
	CU_ASSERT(strstr(msg, "\r\nTo: alice@example.com\r\n") != NULL);
	CU_ASSERT(strstr(msg, "\r\nSubject: Hello\r\n") != NULL);
	CU_ASSERT(strstr(msg, "\r\nMessage-ID: <bellhop.1.20260101000000000000"
	    "@bellhop.invalid>\r\n") != NULL);
	CU_ASSERT(strstr(msg, "\r\nMIME-Version: 1.0\r\n") != NULL);
	CU_ASSERT(strstr(msg, "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\nHi Alice\r\n")
	    != NULL);
	CU_ASSERT(strstr(msg, "multipart") == NULL);
	CU_ASSERT(lines_ok(msg, len, 998));
	CU_ASSERT(ascii_only(msg, len));
}

static void
test_quoted_printable(void)
{
	struct mime_message m = base_message();
	char text[600], *msg, *decoded;
	const char *body;
	size_t len;

	/* '=', trailing blanks, UTF-8, all three line-break styles, a line
	 * of 300 characters, a lone dot. */
	snprintf(text, sizeof(text), "a=b \nC\xc3\xa9sar\t\r\nx\ry\n.\n%0300d",
	    0);
	m.text = text;
	msg = mime_build(fresh_pool(), &m, &len);
	CU_ASSERT(lines_ok(msg, len, 76));
	CU_ASSERT(ascii_only(msg, len));
	CU_ASSERT(strstr(msg, "a=3Db=20\r\nC=C3=A9sar=09\r\nx\r\ny\r\n.\r\n")
	    != NULL);
	body = body_of(strstr(msg, "Content-Type: text/plain"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	decoded = qp_decode(body, strlen(body));
	{
		static const char start[] = "a=b \nC\xc3\xa9sar\t\nx\ny\n.\n";

		CU_ASSERT(strncmp(decoded, start, sizeof(start) - 1) == 0);
	}
	/* the long line comes back whole (soft breaks removed) */
	{
		char zeros[301];

		memset(zeros, '0', 300);
		zeros[300] = '\0';
		CU_ASSERT(strstr(decoded, zeros) != NULL);
	}
	free(decoded);
}

static void
test_alternative(void)
{
	struct mime_message m = base_message();
	const char *alt, *p;
	size_t len;
	char *msg;

	m.html = "<p>Hi <b>Alice</b></p>";
	msg = mime_build(fresh_pool(), &m, &len);
	CU_ASSERT(lines_ok(msg, len, 998));
	alt = strstr(msg, "Content-Type: multipart/alternative;\r\n"
	    "\tboundary=\"=_bellhop_a_1_20260101\"\r\n\r\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(alt);
	CU_ASSERT(strstr(msg, "multipart/mixed") == NULL);
	/* text first, then html, then the closing boundary */
	p = strstr(alt, "--=_bellhop_a_1_20260101\r\nContent-Type: text/plain");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	p = strstr(p, "--=_bellhop_a_1_20260101\r\nContent-Type: text/html");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT(strstr(p, "<p>Hi <b>Alice</b></p>\r\n") != NULL);
	p = strstr(p, "--=_bellhop_a_1_20260101--\r\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_EQUAL((size_t)(p - msg) + strlen(p), len);
}

static void
test_attachments(void)
{
	struct mime_message m = base_message();
	struct mime_attachment att[2];
	unsigned char data[1000], *back;
	const char *part, *b64, *end;
	size_t len, i, n, blen;
	char *msg, *joined;
	bh_pool *p = fresh_pool();

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + 3);
	att[0].filename = "receipt.pdf";
	att[0].content_type = "application/pdf";
	att[0].data = data;
	att[0].len = sizeof(data);
	att[1].filename = "r\xc3\xa9sum\xc3\xa9 2026.txt";
	att[1].content_type = "text/plain";
	att[1].data = (const unsigned char *)"";
	att[1].len = 0;
	m.html = "<p>x</p>";
	m.attachments = att;
	m.nattachments = 2;
	msg = mime_build(p, &m, &len);
	CU_ASSERT(lines_ok(msg, len, 998));
	CU_ASSERT(ascii_only(msg, len));
	CU_ASSERT(strstr(msg, "\r\nContent-Type: multipart/mixed;\r\n"
	    "\tboundary=\"=_bellhop_m_1_20260101\"\r\n\r\n"
	    "--=_bellhop_m_1_20260101\r\n"
	    "Content-Type: multipart/alternative;") != NULL);

	part = strstr(msg, "Content-Type: application/pdf;\r\n"
	    "\tname=\"receipt.pdf\"\r\nContent-Disposition: attachment;\r\n"
	    "\tfilename=\"receipt.pdf\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n");
	CU_ASSERT_PTR_NOT_NULL_FATAL(part);
	b64 = body_of(part);
	end = strstr(b64, "\r\n--=_bellhop_m_");
	CU_ASSERT_PTR_NOT_NULL_FATAL(end);
	/* lines of at most 76, decoding to the bytes given */
	CU_ASSERT(lines_ok(b64, (size_t)(end - b64) + 2, 76));
	joined = bh_palloc(p, (size_t)(end - b64) + 1);
	for (i = 0, n = 0; b64 + i < end; i++)
		if (b64[i] != '\r' && b64[i] != '\n')
			joined[n++] = b64[i];
	back = bh_b64_decode(p, joined, n, &blen);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	CU_ASSERT_EQUAL(blen, sizeof(data));
	CU_ASSERT(memcmp(back, data, sizeof(data)) == 0);

	/* a non-ASCII name goes as an RFC 2231 parameter */
	CU_ASSERT(strstr(msg, "Content-Disposition: attachment;\r\n"
	    "\tfilename*=UTF-8''r%C3%A9sum%C3%A9%202026.txt\r\n") != NULL);
	CU_ASSERT(strstr(msg, "--=_bellhop_m_1_20260101--\r\n") != NULL);
}

static void
test_subject_encoding(void)
{
	struct mime_message m = base_message();
	char subject[400], *msg, *word, *q, joined[400] = "";
	const char *hdr, *p;
	unsigned char *dec;
	size_t len, dlen, wl;
	bh_pool *pl = fresh_pool();

	/* 60 two-byte characters and a three-byte one: several words, none
	 * splitting a character. */
	subject[0] = '\0';
	for (int i = 0; i < 60; i++)
		strcat(subject, "\xc3\xa9");
	strcat(subject, " \xe2\x80\x94 ok");
	m.subject = subject;
	msg = mime_build(pl, &m, &len);
	CU_ASSERT(ascii_only(msg, len));
	CU_ASSERT(lines_ok(msg, len, 998));
	hdr = strstr(msg, "\r\nSubject: =?UTF-8?B?");
	CU_ASSERT_PTR_NOT_NULL_FATAL(hdr);
	p = hdr + strlen("\r\nSubject:");
	/* each word on its own folded line, at most 75 characters */
	while (*p == ' ') {
		p++;
		q = strstr(p, "?=");
		CU_ASSERT_PTR_NOT_NULL_FATAL(q);
		wl = (size_t)(q + 2 - p);
		CU_ASSERT(wl <= 75);
		CU_ASSERT(strncmp(p, "=?UTF-8?B?", 10) == 0);
		word = bh_pstrndup(pl, p + 10, wl - 12);
		dec = bh_b64_decode(pl, word, strlen(word), &dlen);
		CU_ASSERT_PTR_NOT_NULL_FATAL(dec);
		CU_ASSERT(bh_utf8_valid((const char *)dec, dlen));
		strncat(joined, (const char *)dec, dlen);
		p = q + 2;
		if (strncmp(p, "\r\n ", 3) == 0)
			p += 2;
	}
	CU_ASSERT(strncmp(p, "\r\n", 2) == 0);
	CU_ASSERT_STRING_EQUAL(joined, subject);

	/* ASCII that looks like an encoded word is encoded too */
	m.subject = "=?UTF-8?B?abc?=";
	msg = mime_build(fresh_pool(), &m, &len);
	CU_ASSERT(strstr(msg, "Subject: =?UTF-8?B?PT9VVEYtOD9CP2FiYz89?=\r\n")
	    != NULL);
}

/* ------------------------------------------------------------- checks */

static void
test_address(void)
{
	static const char *const good[] = { "a@b.co", "alice@example.com",
	    "first.last+tag@mail.example.org", "x@localhost",
	    "o'brien@example.ie", "gina+tempfail@example.com", NULL };
	static const char *const bad[] = { "", "a@", "@b.co", "ab.co",
	    "a@@b.co", "a@b@c.co", "a b@c.co", "a@b .co", "A <a@b.co>",
	    "a@b.co, c@d.co", "a@b.co\r\nBcc: v@x.y", ".a@b.co", "a.@b.co",
	    "a..b@c.co", "a@b..co", "a@.b.co", "a@b.co.", "\"a\"@b.co",
	    "a@[127.0.0.1]", "a\\b@c.co", "a;b@c.co", "a(b)@c.co",
	    "\xc3\xa9@b.co", "a@b_c.co", NULL };
	char big[300];
	size_t i;

	for (i = 0; good[i] != NULL; i++)
		CU_ASSERT(mail_address_valid(good[i], strlen(good[i])));
	for (i = 0; bad[i] != NULL; i++)
		CU_ASSERT(!mail_address_valid(bad[i], strlen(bad[i])));
	/* a NUL inside */
	CU_ASSERT(!mail_address_valid("a\0b@c.co", 8));
	/* local part of 65, a label of 64, 255 in all */
	memset(big, 'a', sizeof(big));
	memcpy(big + 65, "@b.co", 5);
	CU_ASSERT(!mail_address_valid(big, 70));
	memcpy(big + 64, "@b.co", 5);
	CU_ASSERT(mail_address_valid(big, 69));
	memcpy(big, "a@", 2);
	memcpy(big + 66, ".co", 3);
	CU_ASSERT(!mail_address_valid(big, 69));
	memset(big, 'a', sizeof(big));
	big[1] = '@';
	for (i = 10; i < 255; i += 10)
		big[i] = '.';
	CU_ASSERT(mail_address_valid(big, 254));
	CU_ASSERT(!mail_address_valid(big, 255));
}

static void
test_filename(void)
{
	bh_pool *p = fresh_pool();
	char *s;

#define SAN(in) mime_filename_sanitise(p, in, sizeof(in) - 1)
	CU_ASSERT_STRING_EQUAL(SAN("receipt.pdf"), "receipt.pdf");
	CU_ASSERT_STRING_EQUAL(SAN("../../etc/passwd"), "passwd");
	CU_ASSERT_STRING_EQUAL(SAN("C:\\Users\\x\\r.pdf"), "r.pdf");
	CU_ASSERT_STRING_EQUAL(SAN("a\"b\".txt"), "a_b_.txt");
	CU_ASSERT_STRING_EQUAL(SAN("a\r\nX: y.txt"), "a__X: y.txt");
	CU_ASSERT_STRING_EQUAL(SAN(".hidden"), "hidden");
	CU_ASSERT_STRING_EQUAL(SAN("  spaced  "), "spaced");
	CU_ASSERT_STRING_EQUAL(SAN("r\xc3\xa9sum\xc3\xa9.pdf"),
	    "r\xc3\xa9sum\xc3\xa9.pdf");
	CU_ASSERT_PTR_NULL(SAN(""));
	CU_ASSERT_PTR_NULL(SAN("../"));
	CU_ASSERT_PTR_NULL(SAN("..."));
	CU_ASSERT_PTR_NULL(SAN("dir/"));
	CU_ASSERT_PTR_NULL(SAN("bad\xff.txt"));
	s = mime_filename_sanitise(p, "a\0b", 3);
	CU_ASSERT_PTR_NULL(s);
#undef SAN
}

static void
test_content_type(void)
{
	static const char *const good[] = { "application/pdf", "text/plain",
	    "image/svg+xml", "application/vnd.ms-excel", "x/y", NULL };
	static const char *const bad[] = { "", "pdf", "/pdf", "text/",
	    "text/plain; charset=utf-8", "a/b/c", "text/pl ain",
	    "text/plain\r\nX: y", "te\"xt/plain", "text/(x)", NULL };
	size_t i;

	for (i = 0; good[i] != NULL; i++)
		CU_ASSERT(mime_content_type_valid(good[i], strlen(good[i])));
	for (i = 0; bad[i] != NULL; i++)
		CU_ASSERT(!mime_content_type_valid(bad[i], strlen(bad[i])));
}

static void
cleanup(void)
{
	if (pool != NULL)
		bh_pool_free(pool);
	pool = NULL;
}

static void
test_cleanup(void)
{
	cleanup();
	CU_PASS("pool released");
}

int
bh_test_register(void)
{
	static CU_TestInfo build_tests[] = {
		{ "plain text message", test_plain_text },
		{ "quoted-printable bodies", test_quoted_printable },
		{ "text and HTML as multipart/alternative", test_alternative },
		{ "attachments in multipart/mixed", test_attachments },
		{ "RFC 2047 subjects", test_subject_encoding },
		CU_TEST_INFO_NULL
	};
	static CU_TestInfo check_tests[] = {
		{ "addresses", test_address },
		{ "file names", test_filename },
		{ "media types", test_content_type },
		{ "release the pool", test_cleanup },
		CU_TEST_INFO_NULL
	};
	int rc;

	if ((rc = bh_test_add_suite("mime: building messages",
	    build_tests)) != 0)
		return rc;
	return bh_test_add_suite("mime: checks", check_tests);
}
