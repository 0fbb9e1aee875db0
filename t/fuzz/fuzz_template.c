/*
 * fuzz_template.c - handlers/reports/template.c: template files, data
 * checked against a template, placeholder expansion and wrapping (the
 * drawing with libharu is not built here).
 *
 * Input: one mode byte (% 3), then
 *   0: a template file: template_parse refuses it with a message, or
 *      takes it, and then every text expands (against empty data) to
 *      valid UTF-8;
 *   1: JSON data for a fixed template holding every field type and
 *      format: refused with a 400 problem naming a parameter, or taken,
 *      and then every text of every block (each table row too) expands
 *      to valid UTF-8 and wraps into lines that cover it in order, at
 *      character boundaries, no wider than asked unless one character is;
 *   2: text wrapped at a width from the next byte (if it is valid UTF-8).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "reports.h"

static const int refused[] = { 400, 0 };

static const char fixed_template[] =
	"{\"title\": \"fuzz\", \"currency\": \"currency\", \"fields\": {"
	"\"s\": {\"type\": \"string\", \"min\": 1, \"max\": 40},"
	"\"o\": {\"type\": \"string\", \"required\": false},"
	"\"i\": {\"type\": \"integer\", \"min\": -5, \"max\": 1000},"
	"\"d\": \"date\", \"t\": \"datetime\", \"m\": \"money\","
	"\"currency\": \"currency\","
	"\"obj\": {\"type\": \"object\", \"required\": false, \"fields\": {"
	"\"name\": \"string\", \"deep\": {\"type\": \"object\", \"fields\": "
	"{\"x\": \"integer\"}}}},"
	"\"rows\": {\"type\": \"array\", \"max\": 20, \"items\": {"
	"\"what\": \"string\", \"when\": \"date\", \"cost\": \"money\"}}},"
	"\"layout\": ["
	"{\"text\": \"{{s}} {{s|upper}} {{o}} {{i}} {{d}} {{d|date}} "
	"{{d|weekday}} {{t}} {{t|datetime}} {{m|money}} {{currency}}\"},"
	"{\"row\": [{\"text\": \"{{obj.name}}\", \"width\": 50}, "
	"{\"text\": \"{{obj.deep.x}}\", \"width\": 50}], \"when\": \"obj\"},"
	"{\"table\": \"rows\", \"columns\": ["
	"{\"header\": \"What\", \"text\": \"{{what}} {{s}}\", \"width\": 40},"
	"{\"header\": \"When\", \"text\": \"{{when|weekday}} {{when|date}}\", "
	"\"width\": 30},"
	"{\"header\": \"Cost\", \"text\": \"{{cost|money}}\", \"width\": 30, "
	"\"align\": \"right\"}]},"
	"{\"totals\": [{\"label\": \"Total\", \"value\": \"{{m|money}}\"}]},"
	"{\"rule\": 1}, {\"space\": 4}],"
	"\"footer\": \"{{s}}\"}";

static struct template *fixed;

/* Every character is one unit wide, but 'W' and anything past ASCII two. */
static double
unit_advance(void *ctx, uint32_t cp)
{
	(void)ctx;
	return cp == 'W' || cp > 0x7f ? 2 : 1;
}

static bool
is_continuation(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/* text_wrap's lines: in order, inside the text, starting and ending at
 * character boundaries, not starting with a space, no wider than width
 * unless they hold one character. */
static void
check_wrap(const char *s, size_t len, double width)
{
	struct line *lines = calloc(len + 1, sizeof(*lines));
	size_t n, i, end = 0, j, chars;

	if (lines == NULL)
		abort();
	n = text_wrap(s, len, width, unit_advance, NULL, lines, len + 1);
	FZ_ASSERT(n <= len, "%zu lines from %zu bytes", n, len);
	for (i = 0; i < n; i++) {
		const struct line *l = &lines[i];

		FZ_ASSERT(l->off >= end && l->off + l->len <= len && l->len > 0,
		    "line %zu at %zu+%zu after %zu of %zu", i, l->off, l->len,
		    end, len);
		FZ_ASSERT(!is_continuation((unsigned char)s[l->off]) &&
		    (l->off + l->len == len ||
		    !is_continuation((unsigned char)s[l->off + l->len])),
		    "line %zu cuts a character", i);
		FZ_ASSERT(s[l->off] != ' ', "line %zu starts with a space", i);
		for (j = end; j < l->off; j++)
			FZ_ASSERT(s[j] == ' ', "byte %zu dropped between lines",
			    j);
		for (j = l->off, chars = 0; j < l->off + l->len;)
			(void)utf8_next(s, len, &j), chars++;
		FZ_ASSERT(l->width <= width || chars == 1,
		    "line %zu is %g wide, more than %g", i, l->width, width);
		end = l->off + l->len;
	}
	for (j = end; j < len; j++)
		FZ_ASSERT(s[j] == ' ', "byte %zu after the last line", j);
	free(lines);
}

static void
check_text(const struct template *t, const struct text *text,
    json_object *data, json_object *item, double width)
{
	char *s = text_expand(fz_pool(), t, text, data, item);
	size_t len = strlen(s);

	FZ_ASSERT(bh_utf8_valid(s, len), "an expanded text is not UTF-8");
	check_wrap(s, len, width);
}

/* Expands and wraps every text of t with data. */
static void
check_texts(const struct template *t, json_object *data, double width)
{
	const struct block *b;
	json_object *rows;
	size_t i, j, k;

	for (i = 0; i < t->nblocks; i++) {
		b = &t->blocks[i];
		for (j = 0; j < b->ncells; j++) {
			if (b->headers != NULL)
				check_text(t, &b->headers[j].text, data, NULL,
				    width);
			if (b->type != BLOCK_TABLE)
				check_text(t, &b->cells[j].text, data, NULL,
				    width);
		}
		if (b->type != BLOCK_TABLE ||
		    (rows = segment_value(&b->rows, data, NULL)) == NULL)
			continue;
		for (k = 0; k < json_object_array_length(rows); k++)
			for (j = 0; j < b->ncells; j++)
				check_text(t, &b->cells[j].text, data,
				    json_object_array_get_idx(rows, k), width);
	}
	check_text(t, &t->footer, data, NULL, width);
}

static void
fuzz_template_file(const uint8_t *data, size_t size)
{
	char err[1024];
	struct template *t;
	json_object *empty;
	size_t i;

	err[0] = '\0';
	t = template_parse("fuzz", (const char *)data, size, err, sizeof(err));
	if (t == NULL) {
		FZ_ASSERT(err[0] != '\0', "a template refused without a reason");
		return;
	}
	for (i = 0; i < t->nblocks; i++) {
		double sum = 0;
		size_t j;

		for (j = 0; j < t->blocks[i].ncells; j++)
			sum += t->blocks[i].cells[j].width;
		FZ_ASSERT(t->blocks[i].type != BLOCK_ROW || sum <= 1.0002,
		    "block %zu is %g wide", i, sum);
	}
	empty = json_object_new_object();
	check_texts(t, empty, 30);
	json_object_put(empty);
	template_free(t);
}

static void
fuzz_data(const uint8_t *data, size_t size)
{
	bh_request req;
	json_object *obj, *body;
	char err[1024];

	if (fixed == NULL) {
		fixed = template_parse("fixed", fixed_template,
		    strlen(fixed_template), err, sizeof(err));
		FZ_ASSERT(fixed != NULL, "the fixed template: %s", err);
	}
	if ((obj = fz_json_parse((const char *)data, size)) == NULL)
		return;
	fz_request_new(&req);
	req.method = BH_POST;
	req.method_name = "POST";
	req.path = "/fixed";
	req.request_id = "fuzz";
	if (template_check_data(&req, fixed, obj) == -1) {
		body = fz_check_response(&req, refused);
		FZ_ASSERT(body != NULL, "a refusal that is not JSON");
		json_object_put(body);
	} else {
		FZ_ASSERT(req.status == 0, "data taken with a response set");
		check_texts(fixed, obj, 1 + (double)(size % 40));
	}
	json_object_put(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bh_request req;

	if (size < 1)
		return 0;
	fz_setup();
	fz_request_new(&req);
	switch (data[0] % 3) {
	case 0:
		fuzz_template_file(data + 1, size - 1);
		break;
	case 1:
		fuzz_data(data + 1, size - 1);
		break;
	default:
		if (size >= 2 && bh_utf8_valid((const char *)data + 2,
		    size - 2))
			check_wrap((const char *)data + 2, size - 2,
			    (double)(data[1] % 50));
		break;
	}
	return 0;
}
