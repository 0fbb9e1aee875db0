/*
 * template.c - report templates: loading and checking the files, checking
 * data against a template's fields, expanding {{placeholders}}, wrapping
 * text by measured width.
 *
 * Everything a template says is checked when it is loaded (at start), so
 * that a request can only fail on its data: every placeholder names a
 * declared field and a format that suits its type, widths add up, sizes
 * are sane, no member is misspelt.  A template lives for the process's
 * life; its memory is malloc'ed (template_free).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reports.h"

/* A loading error: the message and where it was found. */
struct loader {
	char *err;
	size_t errsize;
	struct template *t;
};

static int
load_error(struct loader *ld, const char *where, const char *fmt, ...)
    BH_PRINTF(3, 4);

static int
load_error(struct loader *ld, const char *where, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ld->err, ld->errsize, "%s%s%s", where,
	    where[0] != '\0' ? ": " : "", msg);
	return -1;
}

static void *
xcalloc(size_t n, size_t size)
{
	void *p;

	/* Out of memory at load time: there is nothing sensible to do. */
	if ((p = calloc(n == 0 ? 1 : n, size)) == NULL)
		abort();
	return p;
}

static char *
xstrndup(const char *s, size_t len)
{
	char *p = xcalloc(len + 1, 1);

	memcpy(p, s, len);
	return p;
}

bool
template_name_valid(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') ||
		    name[i] == '_' || name[i] == '-'))
			return false;
	return i >= 1 && i <= REPORT_NAME_MAX;
}

/* ---------------------------------------------------------- JSON access */

/* Refuses members of obj not in known (a misspelt option would be
 * silently ignored otherwise). */
static int
only_members(struct loader *ld, json_object *obj, const char *where,
    const char *const *known)
{
	size_t i;

	json_object_object_foreach(obj, key, val) {
		(void)val;
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (known[i] == NULL)
			return load_error(ld, where, "unknown member \"%s\"",
			    key);
	}
	return 0;
}

/* A number member of obj within min..max, or def when absent. */
static int
get_number(struct loader *ld, json_object *obj, const char *name,
    const char *where, double min, double max, double def, double *out)
{
	json_object *v;
	double d;

	*out = def;
	if (!json_object_object_get_ex(obj, name, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double))
		return load_error(ld, where, "%s must be a number", name);
	d = json_object_get_double(v);
	if (!isfinite(d) || d < min || d > max)
		return load_error(ld, where, "%s must be between %g and %g",
		    name, min, max);
	*out = d;
	return 0;
}

/* A string member of obj, or NULL (not an error) when absent. */
static int
get_string(struct loader *ld, json_object *obj, const char *name,
    const char *where, const char **out)
{
	json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(obj, name, &v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return load_error(ld, where, "%s must be a string", name);
	*out = json_object_get_string(v);
	return 0;
}

/* One of choices[], as an index; def when absent. */
static int
get_choice(struct loader *ld, json_object *obj, const char *name,
    const char *where, const char *const *choices, int def, int *out)
{
	const char *s;
	int i;

	*out = def;
	if (get_string(ld, obj, name, where, &s) == -1)
		return -1;
	if (s == NULL)
		return 0;
	for (i = 0; choices[i] != NULL; i++)
		if (strcmp(s, choices[i]) == 0) {
			*out = i;
			return 0;
		}
	return load_error(ld, where, "%s \"%s\" is not one of the choices",
	    name, s);
}

/* --------------------------------------------------------------- fields */

static const char *const type_names[] = {
	"string", "integer", "date", "datetime", "money", "currency",
	"object", "array", NULL
};

static void
fields_free(struct field *fields, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(fields[i].name);
		fields_free(fields[i].fields, fields[i].nfields);
	}
	free(fields);
}

static int parse_fields(struct loader *ld, json_object *obj,
    const char *where, struct field *parent, int depth);

/* One field: "type" or {"type": ..., "required", "min", "max",
 * "fields" (object), "items" (array: its items' fields)}. */
static int
parse_field(struct loader *ld, json_object *spec, const char *where,
    struct field *f, int depth)
{
	static const char *const known[] = { "type", "required", "min",
	    "max", "fields", "items", NULL };
	json_object *v, *members = NULL;
	double min, max, dmin, dmax, limit;
	int type;

	f->required = true;
	if (json_object_is_type(spec, json_type_string)) {
		for (type = 0; type_names[type] != NULL; type++)
			if (strcmp(json_object_get_string(spec),
			    type_names[type]) == 0)
				break;
		if (type_names[type] == NULL)
			return load_error(ld, where, "unknown type \"%s\"",
			    json_object_get_string(spec));
		spec = NULL;
	} else if (json_object_is_type(spec, json_type_object)) {
		if (only_members(ld, spec, where, known) == -1 ||
		    get_choice(ld, spec, "type", where, type_names, -1,
		    &type) == -1)
			return -1;
		if (type == -1)
			return load_error(ld, where, "type is required");
		if (json_object_object_get_ex(spec, "required", &v)) {
			if (!json_object_is_type(v, json_type_boolean))
				return load_error(ld, where,
				    "required must be true or false");
			f->required = json_object_get_boolean(v);
		}
	} else
		return load_error(ld, where, "a field is a type name or an "
		    "object with a \"type\"");
	f->type = (enum field_type)type;

	switch (f->type) {
	case FIELD_STRING:
		dmin = 0, dmax = REPORT_STRING_MAX;
		break;
	case FIELD_ARRAY:
		dmin = 0, dmax = REPORT_ARRAY_MAX;
		break;
	case FIELD_INTEGER:
	case FIELD_MONEY:
		dmin = (double)-REPORT_MONEY_MAX, dmax = (double)REPORT_MONEY_MAX;
		break;
	default:
		dmin = dmax = 0;
		break;
	}
	min = dmin, max = dmax;
	/* A string may be given a longer bound than the default one. */
	limit = f->type == FIELD_STRING ? 10000 : dmax;
	if (spec != NULL && (f->type == FIELD_STRING ||
	    f->type == FIELD_ARRAY || f->type == FIELD_INTEGER ||
	    f->type == FIELD_MONEY) &&
	    (get_number(ld, spec, "min", where, dmin, limit, dmin,
	    &min) == -1 ||
	    get_number(ld, spec, "max", where, dmin, limit, dmax, &max) == -1))
		return -1;
	if (min > max)
		return load_error(ld, where, "min is greater than max");
	f->min = (int64_t)min, f->max = (int64_t)max;

	if (spec != NULL) {
		if (json_object_object_get_ex(spec, "fields", &v)) {
			if (f->type != FIELD_OBJECT)
				return load_error(ld, where, "only an object "
				    "has fields (an array has items)");
			members = v;
		}
		if (json_object_object_get_ex(spec, "items", &v)) {
			if (f->type != FIELD_ARRAY)
				return load_error(ld, where,
				    "only an array has items");
			members = v;
		}
		if ((json_object_object_get_ex(spec, "min", &v) ||
		    json_object_object_get_ex(spec, "max", &v)) &&
		    dmin == dmax)
			return load_error(ld, where, "min and max are for "
			    "strings, integers, money and arrays");
	}
	if (f->type == FIELD_OBJECT || f->type == FIELD_ARRAY) {
		if (members == NULL)
			return load_error(ld, where, "an %s needs its %s",
			    type_names[f->type], f->type == FIELD_OBJECT ?
			    "fields" : "items");
		return parse_fields(ld, members, where, f, depth + 1);
	}
	return 0;
}

/* The members of an object field (or of an array's items). */
static int
parse_fields(struct loader *ld, json_object *obj, const char *where,
    struct field *parent, int depth)
{
	char sub[256];
	size_t n = 0;

	if (depth > 8)
		return load_error(ld, where, "fields nest too deep");
	if (!json_object_is_type(obj, json_type_object) ||
	    json_object_object_length(obj) == 0)
		return load_error(ld, where, "fields must be a non-empty "
		    "object of name: type");
	parent->fields = xcalloc((size_t)json_object_object_length(obj),
	    sizeof(*parent->fields));
	json_object_object_foreach(obj, key, val) {
		struct field *f = &parent->fields[n++];

		parent->nfields = n;
		snprintf(sub, sizeof(sub), "%s.%s", where, key);
		f->name = xstrndup(key, strlen(key));
		if (key[0] == '\0' || strchr(key, '.') != NULL ||
		    strchr(key, '|') != NULL || strchr(key, '{') != NULL ||
		    strchr(key, '}') != NULL || strchr(key, ' ') != NULL)
			return load_error(ld, sub, "a field name is not empty "
			    "and has no '.', '|', '{', '}' or space");
		if (parse_field(ld, val, sub, f, depth) == -1)
			return -1;
	}
	return 0;
}

static const struct field *
field_member(const struct field *parent, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < parent->nfields; i++)
		if (strlen(parent->fields[i].name) == len &&
		    memcmp(parent->fields[i].name, name, len) == 0)
			return &parent->fields[i];
	return NULL;
}

/* --------------------------------------------------------- placeholders */

static const char *const format_names[] = {
	"plain", "money", "date", "weekday", "datetime", "upper", NULL
};

static void
segment_free(struct segment *seg)
{
	size_t i;

	free(seg->literal);
	for (i = 0; i < seg->npath; i++)
		free(seg->path[i]);
	free(seg->path);
}

static void
text_free(struct text *text)
{
	size_t i;

	for (i = 0; i < text->nsegs; i++)
		segment_free(&text->segs[i]);
	free(text->segs);
}

/* Resolves "guest.name" (s[0..len)) to a field: in item (a table's
 * array field) first, then at the root.  Arrays cannot be crossed. */
static int
resolve_path(struct loader *ld, const char *where, const char *s,
    size_t len, const struct field *item, struct segment *seg,
    bool allow_array)
{
	const struct field *scope, *f = NULL;
	const char *p = s, *dot, *end = s + len;
	size_t n = 1, i;

	for (i = 0; i < len; i++)
		if (s[i] == '.')
			n++;
	seg->path = xcalloc(n, sizeof(*seg->path));
	for (i = 0; i < n; i++) {
		dot = memchr(p, '.', (size_t)(end - p));
		if (dot == NULL)
			dot = end;
		if (dot == p)
			return load_error(ld, where, "\"%.*s\" is not a field "
			    "path", (int)len, s);
		seg->path[seg->npath++] = xstrndup(p, (size_t)(dot - p));
		p = dot + 1;
	}
	seg->in_item = false;
	if (item != NULL && field_member(item, seg->path[0],
	    strlen(seg->path[0])) != NULL)
		seg->in_item = true;
	scope = seg->in_item ? item : &ld->t->root;
	for (i = 0; i < seg->npath; i++) {
		if (scope == NULL || (f = field_member(scope, seg->path[i],
		    strlen(seg->path[i]))) == NULL)
			return load_error(ld, where, "unknown field %.*s",
			    (int)len, s);
		if (f->type == FIELD_ARRAY && !(allow_array &&
		    i + 1 == seg->npath))
			return load_error(ld, where, "%.*s is an array: show it "
			    "with a table", (int)len, s);
		scope = f->type == FIELD_OBJECT ? f : NULL;
	}
	seg->field = f;
	return 0;
}

/* Checks that format suits the field's type. */
static int
check_format(struct loader *ld, const char *where, const struct segment *seg,
    const char *path, size_t plen)
{
	enum field_type type = seg->field->type;
	bool ok;

	switch (seg->format) {
	case FMT_PLAIN:
		ok = type != FIELD_MONEY && type != FIELD_OBJECT;
		if (type == FIELD_MONEY)
			return load_error(ld, where, "%.*s is money: write "
			    "{{%.*s|money}}", (int)plen, path, (int)plen, path);
		break;
	case FMT_MONEY:
		ok = type == FIELD_MONEY;
		if (ok && ld->t->currency.field == NULL)
			return load_error(ld, where, "|money needs the "
			    "template's \"currency\" field");
		break;
	case FMT_DATE:
	case FMT_WEEKDAY:
		ok = type == FIELD_DATE;
		break;
	case FMT_DATETIME:
		ok = type == FIELD_DATETIME;
		break;
	case FMT_UPPER:
		ok = type == FIELD_STRING || type == FIELD_CURRENCY;
		break;
	default:
		ok = false;
	}
	if (!ok)
		return load_error(ld, where, "|%s does not suit %.*s, a %s",
		    format_names[seg->format], (int)plen, path,
		    type_names[type]);
	return 0;
}

/* Compiles text with {{path}} and {{path|format}} into segments; item is
 * the array items' field in a table, else NULL.  footer allows
 * {{page}} and {{pages}}. */
static int
parse_text(struct loader *ld, const char *where, const char *s,
    const struct field *item, struct text *text)
{
	const char *p = s, *open, *close, *bar, *name;
	size_t len = strlen(s), n = 0, cap = 4, nlen, i;

	if (!bh_text_valid(s, len, false))
		return load_error(ld, where, "a text must be UTF-8 without "
		    "control characters");
	text->segs = xcalloc(cap, sizeof(*text->segs));
	while (*p != '\0') {
		struct segment *seg;

		if (n + 1 >= cap) {
			cap *= 2;
			text->segs = realloc(text->segs,
			    cap * sizeof(*text->segs));
			if (text->segs == NULL)
				abort();
		}
		seg = &text->segs[n];
		memset(seg, 0, sizeof(*seg));
		open = strstr(p, "{{");
		if (open != p) {
			nlen = open != NULL ? (size_t)(open - p) : strlen(p);
			for (i = 0; i + 1 < nlen; i++)
				if (p[i] == '}' && p[i + 1] == '}')
					break;
			if (i + 1 < nlen)
				return load_error(ld, where, "\"}}\" without "
				    "\"{{\"");
			seg->literal = xstrndup(p, nlen);
			seg->len = nlen;
			text->nsegs = ++n;
			p += nlen;
			continue;
		}
		if ((close = strstr(p + 2, "}}")) == NULL)
			return load_error(ld, where, "\"{{\" without \"}}\"");
		name = p + 2;
		while (*name == ' ')
			name++;
		nlen = (size_t)(close - name);
		while (nlen > 0 && name[nlen - 1] == ' ')
			nlen--;
		text->nsegs = ++n;
		bar = memchr(name, '|', nlen);
		seg->format = FMT_PLAIN;
		if (bar != NULL) {
			const char *f = bar + 1;
			size_t flen = (size_t)(name + nlen - f);

			for (i = 0; format_names[i] != NULL; i++)
				if (strlen(format_names[i]) == flen &&
				    memcmp(format_names[i], f, flen) == 0)
					break;
			if (format_names[i] == NULL)
				return load_error(ld, where, "unknown format "
				    "\"%.*s\"", (int)flen, f);
			seg->format = (enum text_format)i;
			nlen = (size_t)(bar - name);
		}
		if (memchr(name, '{', nlen) != NULL ||
		    memchr(name, ' ', nlen) != NULL)
			return load_error(ld, where, "\"{{%.*s}}\" is not a "
			    "placeholder", (int)nlen, name);
		if (resolve_path(ld, where, name, nlen, item, seg,
		    false) == -1 ||
		    check_format(ld, where, seg, name, nlen) == -1)
			return -1;
		p = close + 2;
	}
	return 0;
}

/* ---------------------------------------------------------------- blocks */

static const char *const align_names[] = { "left", "center", "right", NULL };
static const char *const font_names[] = { "regular", "bold", NULL };

struct defaults {
	double size;
};

static void
block_free(struct block *b)
{
	size_t i;

	for (i = 0; i < b->ncells; i++) {
		text_free(&b->cells[i].text);
		if (b->headers != NULL)
			text_free(&b->headers[i].text);
	}
	free(b->cells);
	free(b->headers);
	segment_free(&b->when);
	segment_free(&b->rows);
}

/* A cell's text and style: {"text", "width", "align", "font", "size"};
 * key names the text member ("text", "label", "value", "header"). */
static int
parse_cell(struct loader *ld, json_object *obj, const char *where,
    const char *key, const struct field *item, const struct defaults *d,
    struct cell *c)
{
	const char *s;
	int align, font;
	double width;

	if (get_string(ld, obj, key, where, &s) == -1 ||
	    get_number(ld, obj, "width", where, 1, 100, 100, &width) == -1 ||
	    get_choice(ld, obj, "align", where, align_names, ALIGN_LEFT,
	    &align) == -1 ||
	    get_choice(ld, obj, "font", where, font_names, FONT_REGULAR,
	    &font) == -1 ||
	    get_number(ld, obj, "size", where, 4, 72, d->size, &c->size) == -1)
		return -1;
	if (s == NULL)
		return load_error(ld, where, "%s is required", key);
	c->width = width / 100;
	c->align = (enum align)align;
	c->font = (enum font_style)font;
	return parse_text(ld, where, s, item, &c->text);
}

static int
parse_when(struct loader *ld, json_object *obj, const char *where,
    struct block *b)
{
	const char *s;

	if (get_string(ld, obj, "when", where, &s) == -1)
		return -1;
	if (s == NULL)
		return 0;
	if (resolve_path(ld, where, s, strlen(s), NULL, &b->when,
	    true) == -1)
		return -1;
	if (b->when.field->required)
		return load_error(ld, where, "when names %s, which is "
		    "required: it is always there", s);
	return 0;
}

static int
check_widths(struct loader *ld, const char *where, const struct cell *cells,
    size_t n)
{
	double sum = 0;
	size_t i;

	for (i = 0; i < n; i++)
		sum += cells[i].width;
	if (sum > 1.0001)
		return load_error(ld, where, "the widths add up to more than "
		    "100");
	return 0;
}

/* {"text": "...", ...style} */
static int
parse_text_block(struct loader *ld, json_object *obj, const char *where,
    const struct defaults *d, struct block *b)
{
	static const char *const known[] = { "text", "align", "font",
	    "size", "when", "space_before", "space_after", NULL };

	if (only_members(ld, obj, where, known) == -1)
		return -1;
	b->type = BLOCK_ROW;
	b->cells = xcalloc(1, sizeof(*b->cells));
	b->ncells = 1;
	return parse_cell(ld, obj, where, "text", NULL, d, b->cells);
}

/* {"row": [cells...]} */
static int
parse_row_block(struct loader *ld, json_object *obj, const char *where,
    const struct defaults *d, struct block *b)
{
	static const char *const known[] = { "row", "when", "space_before",
	    "space_after", NULL };
	static const char *const cell_known[] = { "text", "width", "align",
	    "font", "size", NULL };
	json_object *cells = json_object_object_get(obj, "row");
	char sub[256];
	size_t i, n;

	if (only_members(ld, obj, where, known) == -1)
		return -1;
	if (!json_object_is_type(cells, json_type_array) ||
	    (n = json_object_array_length(cells)) == 0 || n > 12)
		return load_error(ld, where, "row must be an array of 1 to 12 "
		    "cells");
	b->type = BLOCK_ROW;
	b->cells = xcalloc(n, sizeof(*b->cells));
	for (i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(cells, i);

		b->ncells = i + 1;
		snprintf(sub, sizeof(sub), "%s.row[%zu]", where, i);
		if (!json_object_is_type(c, json_type_object))
			return load_error(ld, sub, "a cell is an object");
		if (only_members(ld, c, sub, cell_known) == -1 ||
		    parse_cell(ld, c, sub, "text", NULL, d, &b->cells[i]) == -1)
			return -1;
	}
	return check_widths(ld, where, b->cells, b->ncells);
}

/* {"table": "lines", "columns": [{"header", "text", "width", "align"}],
 * "size", "header_font"} */
static int
parse_table_block(struct loader *ld, json_object *obj, const char *where,
    const struct defaults *d, struct block *b)
{
	static const char *const known[] = { "table", "columns", "size",
	    "when", "space_before", "space_after", NULL };
	static const char *const col_known[] = { "header", "text", "width",
	    "align", "font", NULL };
	json_object *cols;
	const char *array;
	struct defaults td = *d;
	char sub[256];
	size_t i, n;

	if (only_members(ld, obj, where, known) == -1 ||
	    get_string(ld, obj, "table", where, &array) == -1 ||
	    get_number(ld, obj, "size", where, 4, 72, d->size,
	    &td.size) == -1)
		return -1;
	b->type = BLOCK_TABLE;
	b->size = td.size;
	if (resolve_path(ld, where, array, strlen(array), NULL, &b->rows,
	    true) == -1)
		return -1;
	if (b->rows.field->type != FIELD_ARRAY)
		return load_error(ld, where, "table names %s, which is not an "
		    "array", array);
	cols = json_object_object_get(obj, "columns");
	if (!json_object_is_type(cols, json_type_array) ||
	    (n = json_object_array_length(cols)) == 0 || n > 12)
		return load_error(ld, where, "columns must be an array of 1 to "
		    "12 columns");
	b->cells = xcalloc(n, sizeof(*b->cells));
	b->headers = xcalloc(n, sizeof(*b->headers));
	for (i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(cols, i);

		b->ncells = i + 1;
		snprintf(sub, sizeof(sub), "%s.columns[%zu]", where, i);
		if (!json_object_is_type(c, json_type_object))
			return load_error(ld, sub, "a column is an object");
		if (only_members(ld, c, sub, col_known) == -1 ||
		    parse_cell(ld, c, sub, "text", b->rows.field, &td,
		    &b->cells[i]) == -1 ||
		    parse_cell(ld, c, sub, "header", NULL, &td,
		    &b->headers[i]) == -1)
			return -1;
		/* Titles are bold, aligned as their column. */
		b->headers[i].font = FONT_BOLD;
		b->headers[i].width = b->cells[i].width;
		b->headers[i].align = b->cells[i].align;
	}
	return check_widths(ld, where, b->cells, b->ncells);
}

/* {"totals": [{"label", "value", "font"}], "width": 45}: rows of two
 * cells at the right of the page, the value right-aligned. */
static int
parse_totals_block(struct loader *ld, json_object *obj, const char *where,
    const struct defaults *d, struct block **blocks, size_t *nblocks,
    size_t *cap)
{
	static const char *const known[] = { "totals", "width", "when",
	    "space_before", "space_after", NULL };
	static const char *const row_known[] = { "label", "value", "font",
	    "size", NULL };
	json_object *rows = json_object_object_get(obj, "totals");
	double width, before, after;
	char sub[256];
	size_t i, n;

	if (only_members(ld, obj, where, known) == -1 ||
	    get_number(ld, obj, "width", where, 10, 100, 50, &width) == -1 ||
	    get_number(ld, obj, "space_before", where, 0, 500, 0,
	    &before) == -1 ||
	    get_number(ld, obj, "space_after", where, 0, 500, 0, &after) == -1)
		return -1;
	if (!json_object_is_type(rows, json_type_array) ||
	    (n = json_object_array_length(rows)) == 0 || n > 20)
		return load_error(ld, where, "totals must be an array of 1 to "
		    "20 rows");
	width /= 100;
	for (i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(rows, i);
		struct block *b;
		struct cell *c;

		snprintf(sub, sizeof(sub), "%s.totals[%zu]", where, i);
		if (!json_object_is_type(r, json_type_object))
			return load_error(ld, sub, "a totals row is an object");
		if (*nblocks == *cap) {
			*cap *= 2;
			*blocks = realloc(*blocks, *cap * sizeof(**blocks));
			if (*blocks == NULL)
				abort();
		}
		b = &(*blocks)[(*nblocks)++];
		memset(b, 0, sizeof(*b));
		b->type = BLOCK_ROW;
		b->cells = c = xcalloc(3, sizeof(*b->cells));
		b->ncells = 3;
		if (i == 0)
			b->space_before = before;
		if (i + 1 == n)
			b->space_after = after;
		if (only_members(ld, r, sub, row_known) == -1 ||
		    parse_cell(ld, r, sub, "label", NULL, d, &c[1]) == -1 ||
		    parse_cell(ld, r, sub, "value", NULL, d, &c[2]) == -1)
			return -1;
		if (parse_when(ld, obj, where, b) == -1)
			return -1;
		c[0].text.segs = NULL;
		c[0].width = 1 - width;
		c[1].width = width * 0.55;
		c[2].width = width * 0.45;
		c[1].align = ALIGN_RIGHT;
		c[2].align = ALIGN_RIGHT;
		c[2].font = c[1].font;
		c[2].size = c[1].size;
	}
	return 0;
}

static int
parse_layout(struct loader *ld, json_object *layout, const struct defaults *d)
{
	struct template *t = ld->t;
	size_t cap, i, n;
	char where[64];

	if (!json_object_is_type(layout, json_type_array) ||
	    (n = json_object_array_length(layout)) == 0 || n > 500)
		return load_error(ld, "layout", "layout must be an array of 1 "
		    "to 500 blocks");
	cap = n + 8;
	t->blocks = xcalloc(cap, sizeof(*t->blocks));
	for (i = 0; i < n; i++) {
		json_object *obj = json_object_array_get_idx(layout, i);
		struct block *b;

		snprintf(where, sizeof(where), "layout[%zu]", i);
		if (!json_object_is_type(obj, json_type_object))
			return load_error(ld, where, "a block is an object");
		if (json_object_object_get_ex(obj, "totals", NULL)) {
			if (parse_totals_block(ld, obj, where, d, &t->blocks,
			    &t->nblocks, &cap) == -1)
				return -1;
			continue;
		}
		if (t->nblocks == cap) {
			cap *= 2;
			t->blocks = realloc(t->blocks, cap * sizeof(*t->blocks));
			if (t->blocks == NULL)
				abort();
		}
		b = &t->blocks[t->nblocks++];
		memset(b, 0, sizeof(*b));
		if (json_object_object_get_ex(obj, "text", NULL)) {
			if (parse_text_block(ld, obj, where, d, b) == -1)
				return -1;
		} else if (json_object_object_get_ex(obj, "row", NULL)) {
			if (parse_row_block(ld, obj, where, d, b) == -1)
				return -1;
		} else if (json_object_object_get_ex(obj, "table", NULL)) {
			if (parse_table_block(ld, obj, where, d, b) == -1)
				return -1;
		} else if (json_object_object_get_ex(obj, "rule", NULL)) {
			static const char *const known[] = { "rule", "when",
			    "space_before", "space_after", NULL };

			b->type = BLOCK_RULE;
			if (only_members(ld, obj, where, known) == -1 ||
			    get_number(ld, obj, "rule", where, 0.1, 5, 0.5,
			    &b->thickness) == -1)
				return -1;
		} else if (json_object_object_get_ex(obj, "space", NULL)) {
			static const char *const known[] = { "space", NULL };

			b->type = BLOCK_SPACE;
			if (only_members(ld, obj, where, known) == -1 ||
			    get_number(ld, obj, "space", where, 0, 500, 0,
			    &b->height) == -1)
				return -1;
		} else
			return load_error(ld, where, "a block holds one of "
			    "text, row, table, totals, rule, space");
		if (b->type != BLOCK_SPACE &&
		    (parse_when(ld, obj, where, b) == -1 ||
		    get_number(ld, obj, "space_before", where, 0, 500, 0,
		    &b->space_before) == -1 ||
		    get_number(ld, obj, "space_after", where, 0, 500, 0,
		    &b->space_after) == -1))
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- template */

static const struct {
	const char *name;
	double width, height;
} page_sizes[] = {
	{ "A4", 595.276, 841.89 },
	{ "Letter", 612, 792 },
	{ "A5", 419.528, 595.276 },
	{ NULL, 0, 0 }
};

static int
parse_page(struct loader *ld, json_object *obj)
{
	static const char *const known[] = { "size", "margins",
	    "line_height", NULL };
	struct page_setup *p = &ld->t->page;
	json_object *m, *v;
	const char *size = "A4";
	double margins[4];
	size_t i;

	p->width = page_sizes[0].width;
	p->height = page_sizes[0].height;
	p->margin_top = p->margin_right = p->margin_bottom = p->margin_left = 50;
	p->line_height = 1.3;
	if (obj == NULL)
		return 0;
	if (!json_object_is_type(obj, json_type_object))
		return load_error(ld, "page", "page must be an object");
	if (only_members(ld, obj, "page", known) == -1 ||
	    get_string(ld, obj, "size", "page", &size) == -1 ||
	    get_number(ld, obj, "line_height", "page", 1, 3, 1.3,
	    &p->line_height) == -1)
		return -1;
	if (size == NULL)
		size = "A4";
	for (i = 0; page_sizes[i].name != NULL; i++)
		if (strcmp(size, page_sizes[i].name) == 0)
			break;
	if (page_sizes[i].name == NULL)
		return load_error(ld, "page", "size must be A4, A5 or Letter");
	p->width = page_sizes[i].width;
	p->height = page_sizes[i].height;
	if (json_object_object_get_ex(obj, "margins", &m)) {
		if (!json_object_is_type(m, json_type_array) ||
		    json_object_array_length(m) != 4)
			return load_error(ld, "page", "margins must be [top, "
			    "right, bottom, left] in points");
		for (i = 0; i < 4; i++) {
			v = json_object_array_get_idx(m, i);
			if ((!json_object_is_type(v, json_type_int) &&
			    !json_object_is_type(v, json_type_double)) ||
			    (margins[i] = json_object_get_double(v)) < 0 ||
			    margins[i] > 200)
				return load_error(ld, "page", "a margin is "
				    "0 to 200 points");
		}
		p->margin_top = margins[0];
		p->margin_right = margins[1];
		p->margin_bottom = margins[2];
		p->margin_left = margins[3];
	}
	return 0;
}

void
template_free(struct template *t)
{
	size_t i;

	if (t == NULL)
		return;
	free(t->name);
	free(t->title);
	fields_free(t->root.fields, t->root.nfields);
	segment_free(&t->currency);
	for (i = 0; i < t->nblocks; i++)
		block_free(&t->blocks[i]);
	free(t->blocks);
	text_free(&t->footer);
	free(t);
}

struct template *
template_parse(const char *name, const char *text, size_t len, char *err,
    size_t errsize)
{
	static const char *const known[] = { "description", "title", "page",
	    "font_size", "currency", "fields", "layout", "footer", NULL };
	struct loader ld = { err, errsize, NULL };
	struct json_tokener *tok = NULL;
	json_object *doc = NULL, *v;
	const char *s;
	struct defaults d;
	struct template *t;
	size_t i;

	ld.t = t = xcalloc(1, sizeof(*t));
	t->name = xstrndup(name, strlen(name));
	if (len > REPORT_TEMPLATE_MAX_BYTES) {
		load_error(&ld, "", "larger than %d bytes",
		    REPORT_TEMPLATE_MAX_BYTES);
		goto fail;
	}
	if (!bh_utf8_valid(text, len)) {
		load_error(&ld, "", "not UTF-8");
		goto fail;
	}
	if ((tok = json_tokener_new_ex(64)) == NULL)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	doc = json_tokener_parse_ex(tok, text, (int)len);
	if (doc == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset < (int)len) {
		load_error(&ld, "", "not valid JSON (%s near byte %d)",
		    doc == NULL ? json_tokener_error_desc(
		    json_tokener_get_error(tok)) : "trailing text",
		    tok->char_offset);
		goto fail;
	}
	if (!json_object_is_type(doc, json_type_object)) {
		load_error(&ld, "", "a template is a JSON object");
		goto fail;
	}
	if (only_members(&ld, doc, "", known) == -1 ||
	    get_number(&ld, doc, "font_size", "", 4, 72, 10, &d.size) == -1 ||
	    get_string(&ld, doc, "title", "", &s) == -1 ||
	    parse_page(&ld, json_object_object_get(doc, "page")) == -1)
		goto fail;
	if (s == NULL)
		s = name;
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] < 0x20 || s[i] > 0x7e || i >= 200) {
			load_error(&ld, "title", "the title is up to 200 "
			    "printable ASCII characters");
			goto fail;
		}
	t->title = xstrndup(s, strlen(s));

	t->root.type = FIELD_OBJECT;
	t->root.required = true;
	if (!json_object_object_get_ex(doc, "fields", &v)) {
		load_error(&ld, "fields", "the template declares no fields");
		goto fail;
	}
	if (parse_fields(&ld, v, "fields", &t->root, 0) == -1)
		goto fail;
	if (get_string(&ld, doc, "currency", "", &s) == -1)
		goto fail;
	if (s != NULL) {
		if (resolve_path(&ld, "currency", s, strlen(s), NULL,
		    &t->currency, false) == -1)
			goto fail;
		if (t->currency.field->type != FIELD_CURRENCY ||
		    !t->currency.field->required) {
			load_error(&ld, "currency", "%s must be a required "
			    "field of type currency", s);
			goto fail;
		}
	}
	if (!json_object_object_get_ex(doc, "layout", &v)) {
		load_error(&ld, "layout", "the template has no layout");
		goto fail;
	}
	if (parse_layout(&ld, v, &d) == -1)
		goto fail;
	if (get_string(&ld, doc, "footer", "", &s) == -1 ||
	    (s != NULL && parse_text(&ld, "footer", s, NULL,
	    &t->footer) == -1))
		goto fail;
	json_object_put(doc);
	json_tokener_free(tok);
	return t;
fail:
	json_object_put(doc);
	if (tok != NULL)
		json_tokener_free(tok);
	template_free(t);
	return NULL;
}

/* Reads path (at most REPORT_TEMPLATE_MAX_BYTES + 1 bytes, to tell a
 * file that is too large).  Returns malloc'ed bytes or NULL. */
static char *
read_file(const char *path, size_t *len)
{
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	buf = xcalloc(REPORT_TEMPLATE_MAX_BYTES + 2, 1);
	while (got < REPORT_TEMPLATE_MAX_BYTES + 1) {
		n = read(fd, buf + got, REPORT_TEMPLATE_MAX_BYTES + 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (n == -1) {
		close(fd);
		free(buf);
		return NULL;
	}
	close(fd);
	*len = got;
	return buf;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct template *)a)->name,
	    ((const struct template *)b)->name);
}

int
template_set_load(const char *dir, struct template_set *set, char *err,
    size_t errsize)
{
	char path[4096], name[REPORT_NAME_MAX + 1], why[768];
	struct dirent *de;
	struct template *t;
	DIR *d;
	char *text;
	size_t len, nlen;
	int rc = -1;

	memset(set, 0, sizeof(*set));
	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errsize, "%s: %s", dir, strerror(errno));
		return -1;
	}
	set->items = xcalloc(REPORT_MAX_TEMPLATES, sizeof(*set->items));
	while ((de = readdir(d)) != NULL) {
		nlen = strlen(de->d_name);
		if (nlen <= 5 || strcmp(de->d_name + nlen - 5, ".json") != 0)
			continue;
		if (nlen - 5 > REPORT_NAME_MAX)
			continue;
		memcpy(name, de->d_name, nlen - 5);
		name[nlen - 5] = '\0';
		if (!template_name_valid(name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (set->n == REPORT_MAX_TEMPLATES) {
			snprintf(err, errsize, "%s: more than %d templates",
			    dir, REPORT_MAX_TEMPLATES);
			goto out;
		}
		if ((text = read_file(path, &len)) == NULL) {
			snprintf(err, errsize, "%s: %s", path, strerror(errno));
			goto out;
		}
		t = template_parse(name, text, len, why, sizeof(why));
		free(text);
		if (t == NULL) {
			snprintf(err, errsize, "%s: %s", path, why);
			goto out;
		}
		set->items[set->n++] = *t;
		free(t);
	}
	if (set->n == 0) {
		snprintf(err, errsize, "%s: no template (NAME.json) in it", dir);
		goto out;
	}
	qsort(set->items, set->n, sizeof(*set->items), name_cmp);
	rc = 0;
out:
	closedir(d);
	if (rc == -1)
		template_set_free(set);
	return rc;
}

void
template_set_free(struct template_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		struct template *t = xcalloc(1, sizeof(*t));

		*t = set->items[i];
		template_free(t);
	}
	free(set->items);
	set->items = NULL;
	set->n = 0;
}

const struct template *
template_find(const struct template_set *set, const char *name)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (strcmp(set->items[i].name, name) == 0)
			return &set->items[i];
	return NULL;
}

/* ----------------------------------------------------------------- data */

/* "2027-01-02T10:00:00Z", "2027-01-02 10:00:00.123+02:00", "...+0200",
 * "...+02": the parts, checked. */
struct datetime {
	char date[11];
	int hour, minute, second;
	int offset;             /* minutes east of UTC */
};

static bool
digits(const char *s, size_t n, int *out)
{
	size_t i;

	*out = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*out = *out * 10 + (s[i] - '0');
	}
	return true;
}

static bool
datetime_parse(const char *s, size_t len, struct datetime *dt)
{
	int64_t days;
	size_t i = 19;
	int oh = 0, om = 0;

	if (len < 20 || !bh_date_parse(s, 10, &days) ||
	    (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' ||
	    !digits(s + 11, 2, &dt->hour) || !digits(s + 14, 2, &dt->minute) ||
	    !digits(s + 17, 2, &dt->second) || dt->hour > 23 ||
	    dt->minute > 59 || dt->second > 60)
		return false;
	memcpy(dt->date, s, 10);
	dt->date[10] = '\0';
	if (s[i] == '.') {
		for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == 20 || i > 29)
			return false;
	}
	if (i == len)
		return false;
	if (s[i] == 'Z' && i + 1 == len) {
		dt->offset = 0;
		return true;
	}
	if (s[i] != '+' && s[i] != '-')
		return false;
	if (len - i == 3) {
		if (!digits(s + i + 1, 2, &oh))
			return false;
	} else if (len - i == 5) {
		if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 3, 2, &om))
			return false;
	} else if (len - i == 6) {
		if (s[i + 3] != ':' || !digits(s + i + 1, 2, &oh) ||
		    !digits(s + i + 4, 2, &om))
			return false;
	} else
		return false;
	if (oh > 23 || om > 59)
		return false;
	dt->offset = (s[i] == '-' ? -1 : 1) * (oh * 60 + om);
	return true;
}

static int
bad_value(bh_request *req, const char *path, const char *what)
{
	return bh_problem(req, 400, BH_PROBLEM_INVALID_PARAMETER, path,
	    "%s must be %s", path, what);
}

static int check_object(bh_request *req, const struct field *parent,
    json_object *obj, const char *path);

/* Checks one value v (present, not null) of field f at path. */
static int
check_value(bh_request *req, const struct field *f, json_object *v,
    const char *path)
{
	struct datetime dt;
	const char *s;
	size_t len, chars, i, n;
	int64_t i64, days;
	char *sub;

	switch (f->type) {
	case FIELD_STRING:
		if (!json_object_is_type(v, json_type_string))
			return bad_value(req, path, "a string");
		s = json_object_get_string(v);
		len = (size_t)json_object_get_string_len(v);
		if (strlen(s) != len || !bh_text_valid(s, len, false))
			return bad_value(req, path, "UTF-8 text without "
			    "control characters");
		chars = bh_utf8_length(s, len);
		if ((int64_t)chars < f->min || (int64_t)chars > f->max)
			return bh_problem(req, 400,
			    BH_PROBLEM_INVALID_PARAMETER, path,
			    "%s must be %" PRId64 " to %" PRId64
			    " characters long", path, f->min, f->max);
		return 0;
	case FIELD_INTEGER:
	case FIELD_MONEY:
		if (!json_object_is_type(v, json_type_int))
			return bad_value(req, path, f->type == FIELD_MONEY ?
			    "an integer amount in minor units" : "an integer");
		/* json-c saturates what does not fit: the bounds refuse it. */
		i64 = json_object_get_int64(v);
		if (i64 < f->min || i64 > f->max)
			return bh_problem(req, 400,
			    BH_PROBLEM_INVALID_PARAMETER, path,
			    "%s must be between %" PRId64 " and %" PRId64,
			    path, f->min, f->max);
		return 0;
	case FIELD_DATE:
		if (!json_object_is_type(v, json_type_string) ||
		    !bh_date_parse(json_object_get_string(v),
		    (size_t)json_object_get_string_len(v), &days))
			return bad_value(req, path, "a date (YYYY-MM-DD)");
		return 0;
	case FIELD_DATETIME:
		if (!json_object_is_type(v, json_type_string) ||
		    !datetime_parse(json_object_get_string(v),
		    (size_t)json_object_get_string_len(v), &dt))
			return bad_value(req, path, "a time as "
			    "YYYY-MM-DDTHH:MM:SSZ (RFC 3339)");
		return 0;
	case FIELD_CURRENCY:
		if (!json_object_is_type(v, json_type_string) ||
		    json_object_get_string_len(v) != 3 ||
		    bh_currency_exponent(json_object_get_string(v)) < 0)
			return bad_value(req, path, "an ISO 4217 currency "
			    "code (EUR)");
		return 0;
	case FIELD_OBJECT:
		if (!json_object_is_type(v, json_type_object))
			return bad_value(req, path, "an object");
		return check_object(req, f, v, path);
	case FIELD_ARRAY:
		if (!json_object_is_type(v, json_type_array))
			return bad_value(req, path, "an array");
		n = json_object_array_length(v);
		if ((int64_t)n < f->min || (int64_t)n > f->max)
			return bh_problem(req, 400,
			    BH_PROBLEM_INVALID_PARAMETER, path,
			    "%s must hold %" PRId64 " to %" PRId64 " items",
			    path, f->min, f->max);
		for (i = 0; i < n; i++) {
			json_object *item = json_object_array_get_idx(v, i);

			sub = bh_psprintf(req->pool, "%s[%zu]", path, i);
			if (!json_object_is_type(item, json_type_object))
				return bad_value(req, sub, "an object");
			if (check_object(req, f, item, sub) != 0)
				return req->status;
		}
		return 0;
	}
	return bad_value(req, path, "valid");
}

/* Checks the members parent declares in obj; others are ignored. */
static int
check_object(bh_request *req, const struct field *parent, json_object *obj,
    const char *path)
{
	const struct field *f;
	json_object *v;
	const char *sub;
	size_t i;

	for (i = 0; i < parent->nfields; i++) {
		f = &parent->fields[i];
		sub = path[0] == '\0' ? f->name :
		    bh_psprintf(req->pool, "%s.%s", path, f->name);
		if (!json_object_object_get_ex(obj, f->name, &v) || v == NULL) {
			if (!f->required)
				continue;
			return bh_problem(req, 400,
			    BH_PROBLEM_INVALID_PARAMETER, sub,
			    "%s is required", sub);
		}
		if (check_value(req, f, v, sub) != 0)
			return req->status;
	}
	return 0;
}

int
template_check_data(bh_request *req, const struct template *t,
    json_object *data)
{
	if (!json_object_is_type(data, json_type_object))
		return bh_problem(req, 400, BH_PROBLEM_BAD_REQUEST, NULL,
		    "the request body must be a JSON object") != 0 ? -1 : 0;
	return check_object(req, &t->root, data, "") != 0 ? -1 : 0;
}

/* ------------------------------------------------------------ expansion */

json_object *
segment_value(const struct segment *seg, json_object *data, json_object *item)
{
	json_object *v = seg->in_item ? item : data;
	size_t i;

	for (i = 0; i < seg->npath; i++)
		if (v == NULL || !json_object_is_type(v, json_type_object) ||
		    !json_object_object_get_ex(v, seg->path[i], &v))
			return NULL;
	return v;
}

bool
segment_present(const struct segment *seg, json_object *data,
    json_object *item)
{
	return seg->npath == 0 || segment_value(seg, data, item) != NULL;
}

static const char *const month_names[] = { "January", "February", "March",
    "April", "May", "June", "July", "August", "September", "October",
    "November", "December" };
static const char *const weekday_names[] = { "Sunday", "Monday", "Tuesday",
    "Wednesday", "Thursday", "Friday", "Saturday" };

static void
append_value(bh_buf *out, const struct template *t,
    const struct segment *seg, json_object *v, json_object *data)
{
	struct datetime dt;
	/* Strings as given; integers in decimal (json-c writes them). */
	const char *s = json_object_get_string(v), *currency;
	size_t len = strlen(s), i;
	int64_t days;
	int day, month;
	char *money;

	switch (seg->format) {
	case FMT_MONEY:
		currency = json_object_get_string(segment_value(&t->currency,
		    data, NULL));
		money = bh_money_format(out->pool, json_object_get_int64(v),
		    currency);
		bh_buf_puts(out, money != NULL ? money : "?");
		return;
	case FMT_DATE:
		digits(s + 5, 2, &month);
		digits(s + 8, 2, &day);
		bh_buf_printf(out, "%d %s %.4s", day, month_names[month - 1], s);
		return;
	case FMT_WEEKDAY:
		if (bh_date_parse(s, len, &days))
			bh_buf_puts(out, weekday_names[(days + 4) % 7]);
		return;
	case FMT_DATETIME:
		if (!datetime_parse(s, len, &dt))
			return;
		bh_buf_printf(out, "%s %02d:%02d", dt.date, dt.hour, dt.minute);
		if (dt.offset == 0)
			bh_buf_puts(out, " UTC");
		else
			bh_buf_printf(out, " %c%02d:%02d",
			    dt.offset < 0 ? '-' : '+', abs(dt.offset) / 60,
			    abs(dt.offset) % 60);
		return;
	case FMT_UPPER:
		for (i = 0; i < len; i++) {
			char c = s[i];

			if (c >= 'a' && c <= 'z')
				c = (char)(c - 'a' + 'A');
			bh_buf_append(out, &c, 1);
		}
		return;
	case FMT_PLAIN:
		break;
	}
	bh_buf_append(out, s, len);
}

char *
text_expand(bh_pool *pool, const struct template *t, const struct text *text,
    json_object *data, json_object *item)
{
	const struct segment *seg;
	json_object *v;
	bh_buf out;
	size_t i;

	bh_buf_init(&out, pool);
	bh_buf_append(&out, "", 0);
	for (i = 0; i < text->nsegs; i++) {
		seg = &text->segs[i];
		if (seg->npath == 0) {
			bh_buf_append(&out, seg->literal, seg->len);
			continue;
		}
		if ((v = segment_value(seg, data, item)) != NULL)
			append_value(&out, t, seg, v, data);
	}
	return out.data;
}

/* ------------------------------------------------------------- wrapping */

uint32_t
utf8_next(const char *s, size_t len, size_t *i)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp = u[*i];
	size_t n = 0, k;

	if (cp >= 0xF0)
		n = 3, cp &= 0x07;
	else if (cp >= 0xE0)
		n = 2, cp &= 0x0F;
	else if (cp >= 0xC0)
		n = 1, cp &= 0x1F;
	(*i)++;
	for (k = 0; k < n && *i < len; k++, (*i)++)
		cp = (cp << 6) | (u[*i] & 0x3F);
	return cp;
}

size_t
text_wrap(const char *s, size_t len, double max_width, advance_fn advance,
    void *ctx, struct line *lines, size_t maxlines)
{
	size_t n = 0, i = 0, start, word, next, end;
	double width, word_width, space_width, w;
	uint32_t cp;

	while (i < len && n < maxlines) {
		/* A line starts at a word: spaces at a break are dropped. */
		while (i < len && s[i] == ' ')
			i++;
		if (i == len)
			break;
		start = end = i;
		width = 0;
		while (i < len) {
			/* the spaces, then the word after them */
			space_width = 0;
			for (word = i; word < len && s[word] == ' '; word++)
				space_width += advance(ctx, ' ');
			if (word == len)
				break;
			word_width = 0;
			for (next = word; next < len && s[next] != ' ';) {
				size_t at = next;

				cp = utf8_next(s, len, &next);
				w = advance(ctx, cp);
				/* A word wider than a line: cut it where
				 * it stops fitting, between characters. */
				if (end == start && width + space_width +
				    word_width + w > max_width && at > word) {
					next = at;
					break;
				}
				word_width += w;
			}
			if (end != start &&
			    width + space_width + word_width > max_width)
				break;
			width += space_width + word_width;
			end = next;
			i = next;
			if (next < len && s[next] != ' ')
				break; /* a word was cut: the line is full */
		}
		if (end == start) {
			/* Not even one character fits: take one anyway. */
			next = start;
			cp = utf8_next(s, len, &next);
			width = advance(ctx, cp);
			end = i = next;
		}
		lines[n].off = start;
		lines[n].len = end - start;
		lines[n].width = width;
		n++;
	}
	return n;
}
