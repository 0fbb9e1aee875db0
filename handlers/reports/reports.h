/*
 * reports.h - the reports service: PDFs from a template and JSON data.
 *
 * A template is a JSON file (handlers/reports/templates/NAME.json, see
 * docs/reports.md) saying what data it needs (its fields, with types)
 * and how the page looks (text with {{placeholders}}, rows of cells, a
 * table over an array, totals).  template.c loads and checks template
 * files, checks data against a template's fields, expands placeholders
 * and wraps text; render.c draws the document with libharu; main.c has
 * the route and the settings.
 */
#ifndef REPORTS_H
#define REPORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bellhop.h"

#define REPORT_NAME_MAX 64          /* template names: [a-z0-9_-]{1,64} */
#define REPORT_TEMPLATE_MAX_BYTES (256 * 1024)
#define REPORT_MAX_TEMPLATES 64
#define REPORT_MAX_PAGES 100        /* a longer document is refused (400) */
#define REPORT_STRING_MAX 500       /* default bound of a string field, characters */
#define REPORT_ARRAY_MAX 1000       /* default bound of an array field, items */
#define REPORT_MONEY_MAX 1000000000000000LL /* |amount| in minor units */

/* ------------------------------------------------------------ templates */

enum field_type {
	FIELD_STRING,   /* UTF-8 text without control characters */
	FIELD_INTEGER,  /* a JSON integer within min..max */
	FIELD_DATE,     /* "YYYY-MM-DD" */
	FIELD_DATETIME, /* "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM)" */
	FIELD_MONEY,    /* integer minor units of the document's currency */
	FIELD_CURRENCY, /* an ISO 4217 code bellhop knows */
	FIELD_OBJECT,   /* members in .fields */
	FIELD_ARRAY,    /* objects whose members are in .fields */
};

struct field {
	char *name;
	enum field_type type;
	bool required;
	int64_t min, max;       /* string: characters; integer, money: value;
				 * array: items */
	struct field *fields;   /* object and array items */
	size_t nfields;
};

enum text_format {
	FMT_PLAIN,      /* the value as given (integers in decimal) */
	FMT_MONEY,      /* bh_money_format with the document's currency */
	FMT_DATE,       /* "10 January 2027" */
	FMT_WEEKDAY,    /* "Sunday" */
	FMT_DATETIME,   /* "2027-01-02 10:00 UTC" */
	FMT_UPPER,      /* ASCII letters upper-cased */
};

/* One piece of a text: a literal (path == NULL) or a placeholder. */
struct segment {
	char *literal;
	size_t len;
	char **path;            /* "guest", "name" */
	size_t npath;
	bool in_item;           /* resolved in the table row's item */
	const struct field *field;
	enum text_format format;
};

struct text {
	struct segment *segs;
	size_t nsegs;
};

enum align { ALIGN_LEFT, ALIGN_CENTER, ALIGN_RIGHT };

enum font_style { FONT_REGULAR, FONT_BOLD };
#define FONT_STYLES 2

struct cell {
	struct text text;
	double width;           /* fraction of the content width */
	enum align align;
	enum font_style font;
	double size;            /* points */
};

enum block_type { BLOCK_ROW, BLOCK_TABLE, BLOCK_RULE, BLOCK_SPACE };

struct block {
	enum block_type type;
	struct cell *cells;     /* row: its cells; table: one per column */
	size_t ncells;
	struct cell *headers;   /* table: column titles (literal text) */
	struct segment when;    /* drawn only when this field is present; npath 0 = always */
	struct segment rows;    /* table: the array field */
	double space_before, space_after; /* points */
	double thickness;       /* rule */
	double height;          /* space */
	double size;            /* table header size */
};

struct page_setup {
	double width, height;   /* points */
	double margin_top, margin_right, margin_bottom, margin_left;
	double line_height;     /* times the font size */
};

struct template {
	char *name;             /* "receipt" */
	char *title;            /* the PDF's Title, ASCII */
	struct page_setup page;
	struct field root;      /* FIELD_OBJECT: the data's members */
	struct segment currency; /* the currency field, for |money */
	struct block *blocks;
	size_t nblocks;
	struct text footer;     /* at the foot of every page; may be empty */
};

struct template_set {
	struct template *items;
	size_t n;
};

/* Loads and checks every NAME.json of dir (NAME as REPORT_NAME_MAX says;
 * other files are ignored).  Returns 0 with *set filled (the caller owns
 * it: template_set_free), or -1 with err holding "FILE: what is wrong". */
int template_set_load(const char *dir, struct template_set *set,
		      char *err, size_t errsize);
void template_set_free(struct template_set *set);
const struct template *template_find(const struct template_set *set,
				     const char *name);

/* Parses one template from text[0..len) named name.  Returns a template
 * the caller owns (template_free), or NULL with err saying what is wrong
 * and where ("layout[2].columns[1].text: unknown field lines.amout"). */
struct template *template_parse(const char *name, const char *text,
				 size_t len, char *err, size_t errsize);
void template_free(struct template *t);

/* True if name is a template name: 1-64 of [a-z0-9_-]. */
bool template_name_valid(const char *name);

/* Checks data (any JSON value, not consumed) against t's fields.  Returns
 * 0, or -1 with a 400 invalid-parameter set on req whose param is the
 * path of the fault ("guest.name", "lines[2].amount"). */
int template_check_data(bh_request *req, const struct template *t,
			json_object *data);

/* The text with its placeholders replaced from data (checked before) and
 * item (the table row, or NULL).  Returns a string owned by pool. */
char *text_expand(bh_pool *pool, const struct template *t,
		  const struct text *text, json_object *data,
		  json_object *item);
/* True if the segment's field has a value in data/item (not null). */
bool segment_present(const struct segment *seg, json_object *data,
		     json_object *item);
/* The value a segment points to, or NULL. */
json_object *segment_value(const struct segment *seg, json_object *data,
			   json_object *item);

/* The width of one code point in points, for wrapping. */
typedef double (*advance_fn)(void *ctx, uint32_t cp);

struct line {
	size_t off, len;        /* bytes of the wrapped text */
	double width;           /* points */
};

/* Breaks s[0..len) (valid UTF-8) into lines no wider than max_width:
 * at spaces, or inside a word wider than a line, between characters
 * (never inside one).  Spaces at a break are dropped.  Returns the
 * number of lines (0 for empty text), at most maxlines: the rest is
 * cut, which callers avoid by sizing maxlines from len. */
size_t text_wrap(const char *s, size_t len, double max_width,
		 advance_fn advance, void *ctx, struct line *lines,
		 size_t maxlines);
/* Decodes the UTF-8 sequence at s[*i] (valid UTF-8 assumed), advancing
 * *i past it. */
uint32_t utf8_next(const char *s, size_t len, size_t *i);

/* --------------------------------------------------------------- render */

/* Settings (main.c reads them). */
struct reports_config {
	const char *template_dir; /* BH_REPORTS_TEMPLATE_DIR */
	const char *font;         /* BH_REPORTS_FONT */
	const char *font_bold;    /* BH_REPORTS_FONT_BOLD */
	bool compress;            /* BH_REPORTS_COMPRESS=1 (default) */
};

extern struct reports_config reports_cfg;

/* Prepares this process's libharu document and loads the fonts once
 * (they are reused by every document).  Returns 0, or -1 with err set. */
int render_init(char *err, size_t errsize);
void render_fini(void);

enum render_status { RENDER_OK, RENDER_TOO_LONG, RENDER_FAILED };

/* Draws t with data (checked before).  On RENDER_OK *pdf (owned by pool)
 * and *len hold the document.  RENDER_TOO_LONG: more than
 * REPORT_MAX_PAGES pages; RENDER_FAILED: libharu failed (logged). */
enum render_status render_pdf(bh_pool *pool, const struct template *t,
			      json_object *data, char **pdf, size_t *len);

#endif
