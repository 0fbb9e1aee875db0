/*
 * test_template.c - handlers/reports: loading and checking template
 * files, checking data against a template's fields, expanding
 * placeholders, wrapping text, and drawing a PDF with libharu.
 *
 * The templates of the source tree are read from $BH_SRCDIR (make check
 * sets it).  BH_REPORT_OUT=FILE keeps the receipt this test draws, to look
 * at it (pdftotext FILE -).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reports.h"
#include "runner.h"

static bh_pool *pool;

static bh_request *
new_request(void)
{
	bh_request *req;

	if (pool == NULL)
		pool = bh_pool_new();
	else
		bh_pool_reset(pool);
	req = bh_palloc(pool, sizeof(*req));
	req->pool = pool;
	req->method = BH_POST;
	req->method_name = "POST";
	req->path = "/receipt";
	req->request_id = "req-1";
	return req;
}

static json_object *
parse(const char *text)
{
	json_object *obj = json_tokener_parse(text);

	CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
	return obj;
}

/* The value of member name of the problem set on req, or "". */
static const char *
problem_member(bh_request *req, const char *name)
{
	json_object *body, *v;
	const char *s = "";

	body = json_tokener_parse(req->resp_body.data);
	if (body != NULL && json_object_object_get_ex(body, name, &v))
		s = bh_pstrdup(req->pool, json_object_get_string(v));
	json_object_put(body);
	return s;
}

static struct template *
parse_template(const char *text, char *err, size_t errsize)
{
	return template_parse("t", text, strlen(text), err, errsize);
}

/* ------------------------------------------------------------- loading */

#define MINIMAL_FIELDS "\"fields\": {\"name\": \"string\", " \
	"\"amount\": \"money\", \"currency\": \"currency\", " \
	"\"day\": \"date\", \"opt\": {\"type\": \"string\", " \
	"\"required\": false}, \"lines\": {\"type\": \"array\", " \
	"\"items\": {\"what\": \"string\", \"cost\": \"money\"}}}, " \
	"\"currency\": \"currency\""

/* A template whose layout is the given block. */
static struct template *
with_layout(const char *block, char *err, size_t errsize)
{
	char text[2048];

	snprintf(text, sizeof(text), "{" MINIMAL_FIELDS ", \"layout\": [%s]}",
	    block);
	return parse_template(text, err, errsize);
}

static void
expect_load_error(const char *block, const char *fragment)
{
	char err[512] = "";
	struct template *t = with_layout(block, err, sizeof(err));

	CU_ASSERT_PTR_NULL(t);
	template_free(t);
	if (strstr(err, fragment) == NULL) {
		fprintf(stderr, "\nlayout %s: error \"%s\" does not say "
		    "\"%s\"\n", block, err, fragment);
		CU_FAIL("the load error does not say what is wrong");
	}
}

static void
test_load_good(void)
{
	char err[512] = "";
	struct template *t;

	t = with_layout("{\"text\": \"{{name}} owes {{amount|money}} since "
	    "{{day|date}}\"}, {\"table\": \"lines\", \"columns\": ["
	    "{\"header\": \"What\", \"text\": \"{{what}} for {{name}}\", "
	    "\"width\": 60}, {\"header\": \"Cost\", \"text\": "
	    "\"{{cost|money}}\", \"width\": 40, \"align\": \"right\"}]}, "
	    "{\"rule\": 1}, {\"space\": 10}, {\"totals\": [{\"label\": "
	    "\"Total\", \"value\": \"{{amount|money}}\"}]}, "
	    "{\"text\": \"{{opt}}\", \"when\": \"opt\"}", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL(t);
	if (t == NULL)
		fprintf(stderr, "\n%s\n", err);
	else {
		CU_ASSERT_EQUAL(t->nblocks, 6);
		CU_ASSERT_EQUAL(t->blocks[1].type, BLOCK_TABLE);
		/* {{name}} in a table column falls back to the root */
		CU_ASSERT_FALSE(t->blocks[1].cells[0].text.segs[2].in_item);
		CU_ASSERT_TRUE(t->blocks[1].cells[0].text.segs[0].in_item);
	}
	template_free(t);
}

static void
test_load_errors(void)
{
	char err[512] = "";
	struct template *t;

	expect_load_error("{\"text\": \"{{nmae}}\"}", "unknown field nmae");
	expect_load_error("{\"text\": \"{{name|money}}\"}",
	    "|money does not suit name");
	expect_load_error("{\"text\": \"{{amount}}\"}", "{{amount|money}}");
	expect_load_error("{\"text\": \"{{name|shout}}\"}",
	    "unknown format \"shout\"");
	expect_load_error("{\"text\": \"{{name\"}", "\"{{\" without \"}}\"");
	expect_load_error("{\"text\": \"name}}\"}", "\"}}\" without \"{{\"");
	expect_load_error("{\"text\": \"{{lines}}\"}", "is an array");
	expect_load_error("{\"text\": \"x\", \"colour\": \"red\"}",
	    "layout[0]: unknown member \"colour\"");
	expect_load_error("{\"text\": \"x\", \"size\": 500}",
	    "size must be between");
	expect_load_error("{\"row\": [{\"text\": \"a\", \"width\": 60}, "
	    "{\"text\": \"b\", \"width\": 50}]}", "add up to more than 100");
	expect_load_error("{\"table\": \"name\", \"columns\": [{\"header\": "
	    "\"x\", \"text\": \"y\"}]}", "not an array");
	expect_load_error("{\"table\": \"lines\", \"columns\": [{\"header\": "
	    "\"x\", \"text\": \"{{what}}\", \"width\": 50}, {\"header\": "
	    "\"y\", \"text\": \"{{nope}}\", \"width\": 50}]}",
	    "layout[0].columns[1]: unknown field nope");
	expect_load_error("{\"text\": \"x\", \"when\": \"name\"}",
	    "which is required");
	expect_load_error("{\"picture\": \"x\"}", "a block holds one of");
	expect_load_error("{\"text\": \"a\\u0001b\"}", "control characters");

	t = parse_template("{\"fields\": {\"a\": \"strnig\"}, \"layout\": "
	    "[{\"text\": \"x\"}]}", err, sizeof(err));
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "fields.a: unknown type"));
	t = parse_template("{\"fields\": {\"a\": \"money\"}, \"layout\": "
	    "[{\"text\": \"{{a|money}}\"}]}", err, sizeof(err));
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "needs the template's "
	    "\"currency\""));
	t = parse_template("{\"fields\": {\"a\": \"string\"}, \"currency\": "
	    "\"a\", \"layout\": [{\"text\": \"x\"}]}", err, sizeof(err));
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "type currency"));
	t = parse_template("{\"fields\": {\"a\": \"string\"}, \"layout\": "
	    "[{\"text\": \"x\"}], }", err, sizeof(err));
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not valid JSON"));
	t = parse_template("[1]", err, sizeof(err));
	CU_ASSERT_PTR_NULL(t);
	t = parse_template("{\"fields\": {\"a\": {\"type\": \"object\"}}, "
	    "\"layout\": [{\"text\": \"x\"}]}", err, sizeof(err));
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "needs its fields"));
	t = parse_template("{\"fields\": {\"a\": \"string\"}, \"layout\": "
	    "[{\"text\": \"x\"}], \"title\": \"Zürich\"}", err, sizeof(err));
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "ASCII"));
}

static const char *
srcdir(void)
{
	const char *dir = getenv("BH_SRCDIR");

	return dir != NULL && dir[0] != '\0' ? dir : ".";
}

static void
test_load_directory(void)
{
	struct template_set set;
	char dir[4096], path[4200], err[1024] = "";
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/handlers/reports/templates", srcdir());
	if (template_set_load(dir, &set, err, sizeof(err)) == -1) {
		fprintf(stderr, "\n%s\n", err);
		CU_FAIL_FATAL("the templates of the source tree do not load");
	}
	CU_ASSERT_PTR_NOT_NULL(template_find(&set, "receipt"));
	CU_ASSERT_PTR_NOT_NULL(template_find(&set, "invoice"));
	CU_ASSERT_PTR_NULL(template_find(&set, "../receipt"));
	template_set_free(&set);

	/* a broken file stops the loading and is named */
	snprintf(dir, sizeof(dir), "/tmp/bh-test-templates.%ld",
	    (long)getpid());
	CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/good.json", dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(path, "w"));
	fputs("{\"fields\": {\"a\": \"string\"}, \"layout\": [{\"text\": "
	    "\"{{a}}\"}]}", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/Not-a-Template.json", dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(path, "w"));
	fputs("ignored", f);
	fclose(f);
	CU_ASSERT_EQUAL(template_set_load(dir, &set, err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(set.n, 1);
	template_set_free(&set);
	snprintf(path, sizeof(path), "%s/broken.json", dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f = fopen(path, "w"));
	fputs("{\"fields\": {\"a\": \"string\"}, \"layout\": [{\"text\": "
	    "\"{{b}}\"}]}", f);
	fclose(f);
	CU_ASSERT_EQUAL(template_set_load(dir, &set, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "broken.json: layout[0]: "
	    "unknown field b"));
	remove(path);
	snprintf(path, sizeof(path), "%s/good.json", dir);
	remove(path);
	snprintf(path, sizeof(path), "%s/Not-a-Template.json", dir);
	remove(path);
	rmdir(dir);
	CU_ASSERT_EQUAL(template_set_load(dir, &set, err, sizeof(err)), -1);
}

static void
test_names(void)
{
	CU_ASSERT_TRUE(template_name_valid("receipt"));
	CU_ASSERT_TRUE(template_name_valid("credit_note-2"));
	CU_ASSERT_FALSE(template_name_valid(""));
	CU_ASSERT_FALSE(template_name_valid(".."));
	CU_ASSERT_FALSE(template_name_valid("../etc/passwd"));
	CU_ASSERT_FALSE(template_name_valid("Receipt"));
	CU_ASSERT_FALSE(template_name_valid("a.json"));
	CU_ASSERT_FALSE(template_name_valid(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

/* ---------------------------------------------------------------- data */

static struct template *receipt;

static const char receipt_data[] =
	"{\"number\": \"3f1c7a52-4b1e-4c8e-9d2a-0b6f1e2d3c4b\","
	" \"issued_at\": \"2027-01-02T10:00:00Z\","
	" \"guest\": {\"name\": \"Zoë Åberg\", \"email\": \"zoe@example.com\"},"
	" \"hotel\": {\"name\": \"Hotel Ελληνικό\", \"address\": \"Rua Augusta 1\","
	" \"city\": \"São Paulo\", \"country\": \"Brazil\"},"
	" \"stay\": {\"checkin\": \"2027-01-10\", \"checkout\": \"2027-01-13\","
	" \"nights\": 3, \"room_type\": \"Double\", \"guests\": 2},"
	" \"lines\": [{\"date\": \"2027-01-10\", \"description\": "
	"\"Double, night of 2027-01-10\", \"amount\": 11700},"
	" {\"date\": \"2027-01-11\", \"description\": "
	"\"Double, night of 2027-01-11\", \"amount\": 11700},"
	" {\"date\": \"2027-01-12\", \"description\": "
	"\"Double, night of 2027-01-12\", \"amount\": 11700}],"
	" \"currency\": \"EUR\", \"total\": 35100,"
	" \"payment\": {\"brand\": \"visa\", \"last4\": \"4242\","
	" \"paid_at\": \"2027-01-02T09:59:58.123456+00:00\","
	" \"reference\": \"ch_123\"}, \"extra\": [1, 2]}";

static int
suite_init(void)
{
	char path[4200], err[1024];
	char *text;
	FILE *f;
	long len;

	snprintf(path, sizeof(path), "%s/handlers/reports/templates/"
	    "receipt.json", srcdir());
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc((size_t)len + 1, 1);
	if (text == NULL || fread(text, 1, (size_t)len, f) != (size_t)len) {
		fclose(f);
		free(text);
		return -1;
	}
	fclose(f);
	receipt = template_parse("receipt", text, (size_t)len, err,
	    sizeof(err));
	free(text);
	if (receipt == NULL)
		fprintf(stderr, "receipt.json: %s\n", err);
	return receipt == NULL ? -1 : 0;
}

static int
suite_clean(void)
{
	template_free(receipt);
	receipt = NULL;
	return 0;
}

/* Checks data (receipt_data with the member at path replaced by value,
 * or removed when value is NULL) and returns the param of the 400, or
 * "" when the data passed. */
static const char *
check_with(const char *path, const char *value)
{
	bh_request *req = new_request();
	json_object *data = parse(receipt_data), *obj = data, *v;
	char *copy = bh_pstrdup(req->pool, path), *dot, *name = copy;
	const char *param = "";

	while ((dot = strchr(name, '.')) != NULL) {
		*dot = '\0';
		CU_ASSERT_TRUE_FATAL(json_object_object_get_ex(obj, name, &obj));
		name = dot + 1;
	}
	if (strchr(name, '[') != NULL) {
		/* "lines[1]" replaces the whole item */
		json_object *lines = json_object_object_get(obj, "lines");

		json_object_array_put_idx(lines, 1, value != NULL ?
		    parse(value) : NULL);
	} else if (value == NULL)
		json_object_object_del(obj, name);
	else {
		v = json_tokener_parse(value);
		json_object_object_add(obj, name, v);
	}
	if (template_check_data(req, receipt, data) == -1) {
		CU_ASSERT_EQUAL(req->status, 400);
		param = problem_member(req, "param");
		if (param[0] == '\0')
			param = "(none)";
	}
	json_object_put(data);
	return param;
}

static void
test_data_checks(void)
{
	bh_request *req = new_request();
	json_object *data = parse(receipt_data);

	CU_ASSERT_EQUAL(template_check_data(req, receipt, data), 0);
	json_object_put(data);

	CU_ASSERT_STRING_EQUAL(check_with("guest.name", NULL), "guest.name");
	CU_ASSERT_STRING_EQUAL(check_with("guest.name", "42"), "guest.name");
	CU_ASSERT_STRING_EQUAL(check_with("guest.name", "\"\""), "guest.name");
	CU_ASSERT_STRING_EQUAL(check_with("guest.name", "\"a\\u0007b\""),
	    "guest.name");
	CU_ASSERT_STRING_EQUAL(check_with("guest", "\"Zoë\""), "guest");
	CU_ASSERT_STRING_EQUAL(check_with("stay.nights", "\"3\""),
	    "stay.nights");
	CU_ASSERT_STRING_EQUAL(check_with("stay.nights", "3.5"),
	    "stay.nights");
	CU_ASSERT_STRING_EQUAL(check_with("stay.nights", "0"), "stay.nights");
	CU_ASSERT_STRING_EQUAL(check_with("stay.checkin", "\"2027-02-30\""),
	    "stay.checkin");
	CU_ASSERT_STRING_EQUAL(check_with("issued_at", "\"2027-01-02\""),
	    "issued_at");
	CU_ASSERT_STRING_EQUAL(check_with("issued_at",
	    "\"2027-01-02T25:00:00Z\""), "issued_at");
	CU_ASSERT_STRING_EQUAL(check_with("issued_at",
	    "\"2027-01-02 10:00:00+02\""), "");
	CU_ASSERT_STRING_EQUAL(check_with("currency", "\"XXQ\""), "currency");
	CU_ASSERT_STRING_EQUAL(check_with("currency", "\"eur\""), "currency");
	CU_ASSERT_STRING_EQUAL(check_with("total", "1e3"), "total");
	CU_ASSERT_STRING_EQUAL(check_with("total",
	    "99999999999999999999999"), "total");
	CU_ASSERT_STRING_EQUAL(check_with("lines", "[]"), "lines");
	CU_ASSERT_STRING_EQUAL(check_with("lines", "{}"), "lines");
	CU_ASSERT_STRING_EQUAL(check_with("lines[1]",
	    "{\"date\": \"2027-01-11\", \"description\": \"x\"}"),
	    "lines[1].amount");
	CU_ASSERT_STRING_EQUAL(check_with("lines[1]", "7"), "lines[1]");
	CU_ASSERT_STRING_EQUAL(check_with("payment.last4", "\"42\""),
	    "payment.last4");
	/* optional members may go, unknown ones are ignored */
	CU_ASSERT_STRING_EQUAL(check_with("payment.reference", NULL), "");
	CU_ASSERT_STRING_EQUAL(check_with("payment.reference", "null"), "");
	CU_ASSERT_STRING_EQUAL(check_with("guest.nickname", "\"Z\""), "");

	req = new_request();
	data = parse("[1, 2]");
	CU_ASSERT_EQUAL(template_check_data(req, receipt, data), -1);
	CU_ASSERT_EQUAL(req->status, 400);
	json_object_put(data);
}

/* --------------------------------------------------------- placeholders */

static const char *
expand(const struct template *t, const char *data_text)
{
	bh_request *req = new_request();
	json_object *data = parse(data_text);
	const struct block *b = &t->blocks[0];
	const char *out;
	size_t i;

	out = "";
	for (i = 0; i < b->ncells; i++)
		out = bh_psprintf(req->pool, "%s%s", out, text_expand(req->pool,
		    t, &b->cells[i].text, data, NULL));
	json_object_put(data);
	return out;
}

static void
test_expand(void)
{
	char err[512] = "";
	struct template *t;
	const char *data = "{\"name\": \"Åre\", \"amount\": 123456,"
	    " \"currency\": \"EUR\", \"day\": \"2027-01-10\", \"lines\": []}";

	t = with_layout("{\"text\": \"{{name}} {{ name|upper }}: "
	    "{{amount|money}} on {{day}}, {{day|date}} ({{day|weekday}})"
	    "{{opt}}.\"}", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_STRING_EQUAL(expand(t, data),
	    "Åre ÅRE: 1,234.56 EUR on 2027-01-10, 10 January 2027 (Sunday).");
	CU_ASSERT_STRING_EQUAL(expand(t, "{\"name\": \"x\", \"amount\": "
	    "15000, \"currency\": \"JPY\", \"day\": \"2000-02-29\", \"opt\": "
	    "\"!\"}"), "x X: 15,000 JPY on 2000-02-29, 29 February 2000 "
	    "(Tuesday)!.");
	CU_ASSERT_STRING_EQUAL(expand(t, "{\"name\": \"x\", \"amount\": "
	    "-500, \"currency\": \"BHD\", \"day\": \"1970-01-01\"}"),
	    "x X: -0.500 BHD on 1970-01-01, 1 January 1970 (Thursday).");
	template_free(t);

	t = parse_template("{\"fields\": {\"at\": \"datetime\"}, \"layout\": "
	    "[{\"text\": \"{{at|datetime}}\"}]}", err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	CU_ASSERT_STRING_EQUAL(expand(t, "{\"at\": "
	    "\"2027-01-02T10:00:59Z\"}"), "2027-01-02 10:00 UTC");
	CU_ASSERT_STRING_EQUAL(expand(t, "{\"at\": "
	    "\"2027-01-02 10:00:00.5-03:30\"}"), "2027-01-02 10:00 -03:30");
	template_free(t);
}

/* -------------------------------------------------------------- wrapping */

/* Every character is one unit wide; 'W' two. */
static double
unit_advance(void *ctx, uint32_t cp)
{
	(void)ctx;
	return cp == 'W' ? 2 : 1;
}

static char *
wrapped(const char *s, double width)
{
	struct line lines[64];
	bh_request *req = new_request();
	size_t n, i;
	bh_buf out;

	bh_buf_init(&out, req->pool);
	bh_buf_append(&out, "", 0);
	n = text_wrap(s, strlen(s), width, unit_advance, NULL, lines, 64);
	for (i = 0; i < n; i++) {
		if (i > 0)
			bh_buf_puts(&out, "|");
		bh_buf_append(&out, s + lines[i].off, lines[i].len);
		/* never wider than asked unless one character is */
		CU_ASSERT_TRUE(lines[i].width <= width || lines[i].len <= 4);
	}
	return out.data;
}

static void
test_wrap(void)
{
	struct line lines[4];

	CU_ASSERT_STRING_EQUAL(wrapped("aaa bbb ccc", 7), "aaa bbb|ccc");
	CU_ASSERT_STRING_EQUAL(wrapped("aaa bbb ccc", 100), "aaa bbb ccc");
	CU_ASSERT_STRING_EQUAL(wrapped("aaa   bbb", 4), "aaa|bbb");
	CU_ASSERT_STRING_EQUAL(wrapped("  aaa  ", 10), "aaa");
	CU_ASSERT_STRING_EQUAL(wrapped("", 10), "");
	CU_ASSERT_STRING_EQUAL(wrapped("   ", 10), "");
	/* a word wider than a line is cut between characters */
	CU_ASSERT_STRING_EQUAL(wrapped("abcdefghij", 4), "abcd|efgh|ij");
	CU_ASSERT_STRING_EQUAL(wrapped("ab abcdefgh", 4), "ab|abcd|efgh");
	CU_ASSERT_STRING_EQUAL(wrapped("WWW", 3), "W|W|W");
	/* never inside a multibyte character */
	CU_ASSERT_STRING_EQUAL(wrapped("ééééé", 2), "éé|éé|é");
	CU_ASSERT_STRING_EQUAL(wrapped("Ελληνικό Kraków", 8),
	    "Ελληνικό|Kraków");
	CU_ASSERT_STRING_EQUAL(wrapped("日本語の", 3), "日本語|の");
	/* one character wider than the line still goes somewhere */
	CU_ASSERT_STRING_EQUAL(wrapped("WW", 1), "W|W");
	/* at most maxlines */
	CU_ASSERT_EQUAL(text_wrap("a b c d e f", 11, 1, unit_advance, NULL,
	    lines, 4), 4);
}

/* ------------------------------------------------------------- drawing */

static bool pdf_has_text(const char *pdf, size_t len, const char *text);

/* How many times needle occurs in hay[0..len) (a PDF: not a C string). */
static size_t
count_in(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle), i, count = 0;

	for (i = 0; i + n <= len; i++)
		if (memcmp(hay + i, needle, n) == 0)
			count++;
	return count;
}

static void
test_render(void)
{
	bh_request *req = new_request();
	json_object *data = parse(receipt_data);
	const char *out = getenv("BH_REPORT_OUT");
	char err[512] = "", *pdf = NULL, *pdf2 = NULL, font[4200];
	size_t len = 0, len2 = 0;
	FILE *f;

	reports_cfg.font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
	reports_cfg.font_bold =
	    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
	reports_cfg.compress = true;
	CU_ASSERT_EQUAL_FATAL(render_init(err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(render_pdf(req->pool, receipt, data, &pdf, &len),
	    RENDER_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pdf);
	CU_ASSERT_TRUE(len > 1000);
	CU_ASSERT_EQUAL(memcmp(pdf, "%PDF-1.", 7), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(pdf + len - 8, "%%EOF"));
	if (out != NULL && (f = fopen(out, "wb")) != NULL) {
		fwrite(pdf, 1, len, f);
		fclose(f);
	}
	/* the same data twice: the same bytes (fonts reused, no dates) */
	CU_ASSERT_EQUAL(render_pdf(req->pool, receipt, data, &pdf2, &len2),
	    RENDER_OK);
	CU_ASSERT_EQUAL(len, len2);
	CU_ASSERT_TRUE(pdf2 != NULL && memcmp(pdf, pdf2, len) == 0);
	/* two faces configured: two fonts embedded */
	CU_ASSERT_EQUAL(count_in(pdf, len, "/FontFile2 "), 2);

	/* the default: the font beside the templates and no bold face: one
	 * font embedded, bold drawn filled and stroked (text rendering mode
	 * 2), the same text */
	snprintf(font, sizeof(font), "%s/handlers/reports/templates/"
	    "DejaVuSans-bellhop.ttf", srcdir());
	reports_cfg.font = font;
	reports_cfg.font_bold = "";
	reports_cfg.compress = false;
	CU_ASSERT_EQUAL_FATAL(render_init(err, sizeof(err)), 0);
	CU_ASSERT_EQUAL(render_pdf(req->pool, receipt, data, &pdf2, &len2),
	    RENDER_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pdf2);
	CU_ASSERT_EQUAL(count_in(pdf2, len2, "/FontFile2 "), 1);
	CU_ASSERT_TRUE(count_in(pdf2, len2, "2 Tr") > 0);
	CU_ASSERT_TRUE(count_in(pdf2, len2, "0 Tr") > 0);
	CU_ASSERT_TRUE(pdf_has_text(pdf2, len2, "RECEIPT"));
	CU_ASSERT_TRUE(pdf_has_text(pdf2, len2, "Hotel Ελληνικό"));
	reports_cfg.font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
	reports_cfg.font_bold =
	    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
	reports_cfg.compress = true;
	json_object_put(data);

	/* a missing font is said at start */
	reports_cfg.font = "/nonexistent/font.ttf";
	CU_ASSERT_EQUAL(render_init(err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/font.ttf"));
	reports_cfg.font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
	render_fini();
}

/* True if the uncompressed pdf shows text (libharu writes UTF-8 text
 * as hexadecimal UTF-16 code units: "<0041> Tj"). */
static bool
pdf_has_text(const char *pdf, size_t len, const char *text)
{
	char hex[1024];
	size_t i = 0, n = 0;
	bool found = false;

	/* Not in the test pool: resetting it would free pdf. */
	while (text[i] != '\0' && n + 5 < sizeof(hex))
		n += (size_t)snprintf(hex + n, sizeof(hex) - n, "%04X",
		    (unsigned)utf8_next(text, strlen(text), &i));
	for (i = 0; !found && i + n <= len; i++)
		found = memcmp(pdf + i, hex, n) == 0;
	return found;
}

/* A stay over several pages: every night is drawn, the table's header
 * on every page (a row moved to the next page is not lost). */
static void
test_render_long(void)
{
	bh_request *req = new_request();
	json_object *data = parse(receipt_data), *lines, *line;
	char *pdf = NULL, desc[64], date[16], err[512];
	size_t len = 0, i, missing = 0, pages = 0, headers = 0;

	reports_cfg.compress = false;
	CU_ASSERT_EQUAL_FATAL(render_init(err, sizeof(err)), 0);
	lines = json_object_new_array();
	for (i = 0; i < 120; i++) {
		snprintf(date, sizeof(date), "2027-%02zu-%02zu", 1 + i / 28,
		    1 + i % 28);
		snprintf(desc, sizeof(desc), "Double, night of %s", date);
		line = json_object_new_object();
		json_object_object_add(line, "date",
		    json_object_new_string(date));
		json_object_object_add(line, "description",
		    json_object_new_string(desc));
		json_object_object_add(line, "amount",
		    json_object_new_int64(11700));
		json_object_array_add(lines, line);
	}
	json_object_object_add(data, "lines", lines);
	CU_ASSERT_EQUAL_FATAL(template_check_data(req, receipt, data), 0);
	CU_ASSERT_EQUAL_FATAL(render_pdf(req->pool, receipt, data, &pdf,
	    &len), RENDER_OK);
	for (i = 0; i < 120; i++) {
		snprintf(desc, sizeof(desc), "Double, night of 2027-%02zu-%02zu",
		    1 + i / 28, 1 + i % 28);
		if (!pdf_has_text(pdf, len, desc))
			missing++;
	}
	CU_ASSERT_EQUAL(missing, 0);
	CU_ASSERT_TRUE(pdf_has_text(pdf, len, "Zoë Åberg"));
	CU_ASSERT_TRUE(pdf_has_text(pdf, len, "Hotel Ελληνικό"));
	CU_ASSERT_TRUE(pdf_has_text(pdf, len, "351.00 EUR"));
	/* (the PDF holds NUL bytes: no strstr) */
	for (i = 0; i + 12 <= len; i++)
		if (memcmp(pdf + i, "/Type /Page\n", 12) == 0)
			pages++;
	CU_ASSERT_TRUE(pages >= 3);
	/* "Description" once per page: the header */
	for (i = 0; i + 44 <= len; i++)
		if (memcmp(pdf + i, "004400650073006300720069007000740069006F006E",
		    44) == 0)
			headers++;
	CU_ASSERT_EQUAL(headers, pages);
	json_object_put(data);
	render_fini();
	reports_cfg.compress = true;
}

static void
test_render_too_long(void)
{
	bh_request *req = new_request();
	char err[512] = "", *pdf;
	struct template *t;
	json_object *data, *lines, *item;
	size_t len, i;

	t = parse_template("{\"fields\": {\"lines\": {\"type\": \"array\","
	    " \"items\": {\"what\": \"string\"}}}, \"page\": {\"size\": "
	    "\"A5\"}, \"layout\": [{\"table\": \"lines\", \"size\": 72, "
	    "\"columns\": [{\"header\": \"W\", \"text\": \"{{what}}\"}]}]}",
	    err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	data = json_object_new_object();
	lines = json_object_new_array();
	for (i = 0; i < 600; i++) {
		item = json_object_new_object();
		json_object_object_add(item, "what",
		    json_object_new_string("x"));
		json_object_array_add(lines, item);
	}
	json_object_object_add(data, "lines", lines);
	CU_ASSERT_EQUAL(template_check_data(req, t, data), 0);
	CU_ASSERT_EQUAL(render_pdf(req->pool, t, data, &pdf, &len),
	    RENDER_TOO_LONG);
	/* and the next document is fine */
	json_object_array_del_idx(lines, 10, 590);
	CU_ASSERT_EQUAL(render_pdf(req->pool, t, data, &pdf, &len),
	    RENDER_OK);
	json_object_put(data);
	template_free(t);
	render_fini();
}

static void
test_cleanup(void)
{
	bh_pool_free(pool);
	pool = NULL;
}

int
bh_test_register(void)
{
	static CU_TestInfo load_tests[] = {
		{ "a good template", test_load_good },
		{ "template errors say what and where", test_load_errors },
		{ "a directory of templates", test_load_directory },
		{ "template names", test_names },
		CU_TEST_INFO_NULL
	};
	static CU_TestInfo data_tests[] = {
		{ "data checked against the fields", test_data_checks },
		{ "placeholders and formats", test_expand },
		{ "wrapping by width", test_wrap },
		{ "drawing a receipt", test_render },
		{ "a stay over several pages", test_render_long },
		{ "a document too long", test_render_too_long },
		{ "release the pool", test_cleanup },
		CU_TEST_INFO_NULL
	};
	CU_SuiteInfo suites[] = {
		{ "reports: templates", NULL, NULL, NULL, NULL, load_tests },
		{ "reports: data and drawing", suite_init, suite_clean, NULL,
		    NULL, data_tests },
		CU_SUITE_INFO_NULL
	};

	return CU_register_suites(suites);
}
