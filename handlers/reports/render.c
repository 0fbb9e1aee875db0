/*
 * render.c - drawing a template's layout with libharu.
 *
 * Each process keeps one libharu document and its TrueType font, loaded
 * once: HPDF_NewDoc empties the document for the next PDF but keeps the
 * loaded font definitions, so a request pays for its own pages and the
 * glyphs it embeds, not for parsing the font.  Bold is the same face
 * filled and stroked unless a bold face is configured: every embedded
 * font costs each document a 65,536-entry code map and a copy of its
 * tables, most of a PDF's time (docs/reports.md).
 * Text is UTF-8 throughout (HPDF_UseUTFEncodings, fonts embedded with
 * Identity-H and a ToUnicode map, so "Zürich" or "Ελληνικό" come out
 * right in viewers and pdftotext).  Widths are measured per code point
 * (cached per process) to wrap text ourselves, never inside a character.
 *
 * libharu reports errors through a handler instead of aborting: it
 * records the first one, the document is dropped and rebuilt, and the
 * request gets a 500 with a log line.
 */
#include <stdlib.h>
#include <string.h>

#include <hpdf.h>

#include "reports.h"

struct reports_config reports_cfg;

static HPDF_Doc doc;
static const char *loaded_fonts[FONT_STYLES]; /* libharu's names for them */
/* Advance widths in 1/1000 em by code point, plus 1 (0 = not measured). */
static uint16_t *width_cache[FONT_STYLES];
/* No bold face configured: bold is the regular face filled and stroked,
 * so a document embeds one font instead of two (see reports.md). */
static bool synthetic_bold;
static HPDF_STATUS pdf_error, pdf_detail;

/* U+FFFD, drawn for what libharu cannot (code points past U+FFFF). */
#define REPLACEMENT 0xFFFD
#define CELL_PADDING 6.0
/* Stroke width of synthetic bold, times the font size: about the stem
 * difference between DejaVu Sans and DejaVu Sans Bold. */
#define SYNTHETIC_BOLD_STROKE 0.035

static void
error_handler(HPDF_STATUS error_no, HPDF_STATUS detail_no, void *user_data)
{
	(void)user_data;
	if (pdf_error == HPDF_OK) {
		pdf_error = error_no;
		pdf_detail = detail_no;
	}
}

void
render_fini(void)
{
	int i;

	if (doc != NULL)
		HPDF_Free(doc);
	doc = NULL;
	free(width_cache[FONT_REGULAR]);
	if (!synthetic_bold)
		free(width_cache[FONT_BOLD]);
	for (i = 0; i < FONT_STYLES; i++) {
		width_cache[i] = NULL;
		loaded_fonts[i] = NULL;
	}
	synthetic_bold = false;
	pdf_error = HPDF_OK;
}

int
render_init(char *err, size_t errsize)
{
	const char *paths[FONT_STYLES] = { reports_cfg.font,
	    reports_cfg.font_bold };
	int i;

	render_fini();
	if ((doc = HPDF_New(error_handler, NULL)) == NULL) {
		snprintf(err, errsize, "libharu: cannot make a document");
		return -1;
	}
	HPDF_UseUTFEncodings(doc);
	synthetic_bold = paths[FONT_BOLD] == NULL ||
	    paths[FONT_BOLD][0] == '\0';
	for (i = 0; i < FONT_STYLES; i++) {
		if (i == FONT_BOLD && synthetic_bold) {
			/* the same font object, measured the same */
			loaded_fonts[i] = loaded_fonts[FONT_REGULAR];
			width_cache[i] = width_cache[FONT_REGULAR];
			continue;
		}
		loaded_fonts[i] = HPDF_LoadTTFontFromFile(doc, paths[i],
		    HPDF_TRUE);
		if (loaded_fonts[i] == NULL || pdf_error != HPDF_OK) {
			snprintf(err, errsize, "%s: libharu cannot load this "
			    "TrueType font (error 0x%04X)", paths[i],
			    (unsigned)pdf_error);
			render_fini();
			return -1;
		}
		if ((width_cache[i] = calloc(0x10000,
		    sizeof(*width_cache[i]))) == NULL)
			abort();
	}
	return 0;
}

/* ------------------------------------------------------------- drawing */

struct render {
	bh_pool *pool;
	const struct template *t;
	json_object *data;
	HPDF_Font fonts[FONT_STYLES];
	HPDF_Page page;
	double y;               /* top of the next line */
	double left, content_width, bottom;
	int pages;
	bool too_long;
	const struct block *table; /* its header goes on each new page */
};

struct measure {
	HPDF_Font font;
	uint16_t *cache;
	double size;
};

static double
advance(void *ctx, uint32_t cp)
{
	struct measure *m = ctx;

	if (cp > 0xFFFF)
		cp = REPLACEMENT;
	if (m->cache[cp] == 0)
		m->cache[cp] = (uint16_t)(HPDF_Font_GetUnicodeWidth(m->font,
		    (HPDF_UNICODE)cp) + 1);
	return (m->cache[cp] - 1) * m->size / 1000.0;
}

/* s without code points past U+FFFF (libharu's UTF-8 stops there). */
static const char *
bmp_only(bh_pool *pool, const char *s, size_t len)
{
	bh_buf out;
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0xF0)
			break;
	if (i == len)
		return s;
	bh_buf_init(&out, pool);
	for (i = 0; i < len;) {
		if ((unsigned char)s[i] >= 0xF0) {
			bh_buf_puts(&out, "\xEF\xBF\xBD");
			i += 4;
		} else
			bh_buf_append(&out, s + i, 1), i++;
	}
	return out.data;
}

static void
draw_text(struct render *r, enum font_style font, double size, double x,
    double y, const char *s, size_t len)
{
	char *line = bh_pstrndup(r->pool, s, len);

	if (synthetic_bold) {
		/* Text rendering mode is page state: set it for every run. */
		if (font == FONT_BOLD)
			HPDF_Page_SetLineWidth(r->page,
			    (HPDF_REAL)(size * SYNTHETIC_BOLD_STROKE));
		HPDF_Page_BeginText(r->page);
		HPDF_Page_SetTextRenderingMode(r->page, font == FONT_BOLD ?
		    HPDF_FILL_THEN_STROKE : HPDF_FILL);
	} else
		HPDF_Page_BeginText(r->page);
	HPDF_Page_SetFontAndSize(r->page, r->fonts[font], (HPDF_REAL)size);
	HPDF_Page_TextOut(r->page, (HPDF_REAL)x, (HPDF_REAL)y, line);
	HPDF_Page_EndText(r->page);
}

static void
draw_rule(struct render *r, double y, double thickness)
{
	HPDF_Page_SetLineWidth(r->page, (HPDF_REAL)thickness);
	HPDF_Page_MoveTo(r->page, (HPDF_REAL)r->left, (HPDF_REAL)y);
	HPDF_Page_LineTo(r->page, (HPDF_REAL)(r->left + r->content_width),
	    (HPDF_REAL)y);
	HPDF_Page_Stroke(r->page);
}

static int draw_cells(struct render *r, const struct cell *cells,
    size_t ncells, json_object *item, bool header);

/* The footer (at the foot of every page) then a fresh page top. */
static int
new_page(struct render *r)
{
	const struct page_setup *p = &r->t->page;
	const char *footer;
	struct measure m;
	struct line line;
	double size = 8;

	if (r->pages == REPORT_MAX_PAGES) {
		r->too_long = true;
		return -1;
	}
	r->page = HPDF_AddPage(doc);
	if (r->page == NULL)
		return -1;
	HPDF_Page_SetWidth(r->page, (HPDF_REAL)p->width);
	HPDF_Page_SetHeight(r->page, (HPDF_REAL)p->height);
	r->pages++;
	r->y = p->height - p->margin_top;
	if (r->t->footer.nsegs > 0) {
		footer = text_expand(r->pool, r->t, &r->t->footer, r->data,
		    NULL);
		footer = bmp_only(r->pool, footer, strlen(footer));
		m.font = r->fonts[FONT_REGULAR];
		m.cache = width_cache[FONT_REGULAR];
		m.size = size;
		if (text_wrap(footer, strlen(footer), r->content_width,
		    advance, &m, &line, 1) == 1)
			draw_text(r, FONT_REGULAR, size, r->left +
			    (r->content_width - line.width) / 2,
			    p->margin_bottom - 2 * size, footer + line.off,
			    line.len);
	}
	if (r->table != NULL)
		return draw_cells(r, r->table->headers, r->table->ncells, NULL,
		    true);
	return 0;
}

/* Makes room for height points: a new page when they do not fit (and
 * would on a fresh one). */
static int
room_for(struct render *r, double height)
{
	double body = r->t->page.height - r->t->page.margin_top - r->bottom;

	if (r->y - height >= r->bottom || (height > body &&
	    r->y >= r->t->page.height - r->t->page.margin_top - 1))
		return 0;
	return new_page(r);
}

/* Room for n lines of cell i, reused from row to row (a table of a
 * thousand rows would otherwise hold every row's lines until the request
 * ends).  Only for rows that are not headers: a header is drawn while a
 * row's lines are held (new_page inside draw_cells). */
static struct line *
line_buffer(size_t i, size_t n)
{
	static struct line *buf[12];
	static size_t cap[12];

	if (n > cap[i]) {
		free(buf[i]);
		if ((buf[i] = calloc(n, sizeof(*buf[i]))) == NULL)
			abort(); /* as the pool does: the supervisor respawns */
		cap[i] = n;
	}
	return buf[i];
}

/* One row of cells: each wrapped in its width, the row as tall as its
 * tallest cell, split across pages only when taller than a page. */
static int
draw_cells(struct render *r, const struct cell *cells, size_t ncells,
    json_object *item, bool header)
{
	struct line *lines[12];
	size_t nlines[12], most = 0, i, k, maxl;
	const char *texts[12];
	double x[12], inner[12], pitch = 0, size = 0, lx;
	struct measure m;
	double at = 0;

	for (i = 0; i < ncells && i < 12; i++) {
		const struct cell *c = &cells[i];
		const char *s;
		size_t len;

		x[i] = r->left + at * r->content_width;
		at += c->width;
		inner[i] = c->width * r->content_width -
		    (at >= 0.9999 ? 0 : CELL_PADDING);
		if (c->size > size)
			size = c->size;
		s = c->text.nsegs == 0 ? "" : text_expand(r->pool, r->t,
		    &c->text, r->data, item);
		len = strlen(s);
		texts[i] = s = bmp_only(r->pool, s, len);
		len = strlen(s);
		maxl = len + 1;
		/* A header is drawn from inside a row's page break: it must
		 * not take that row's buffers. */
		lines[i] = header ? bh_palloc(r->pool, maxl *
		    sizeof(*lines[i])) : line_buffer(i, maxl);
		m.font = r->fonts[c->font];
		m.cache = width_cache[c->font];
		m.size = c->size;
		nlines[i] = text_wrap(s, len, inner[i] > 1 ? inner[i] : 1,
		    advance, &m, lines[i], maxl);
		if (nlines[i] > most)
			most = nlines[i];
	}
	pitch = size * r->t->page.line_height;
	if (most == 0) {
		if (room_for(r, pitch) == -1)
			return -1;
		r->y -= pitch;
		return 0;
	}
	if (room_for(r, pitch * (double)most) == -1)
		return -1;
	for (k = 0; k < most; k++) {
		if (r->y - pitch < r->bottom && new_page(r) == -1)
			return -1;
		for (i = 0; i < ncells && i < 12; i++) {
			const struct cell *c = &cells[i];
			const struct line *l;

			if (k >= nlines[i])
				continue;
			l = &lines[i][k];
			lx = x[i];
			if (c->align == ALIGN_RIGHT)
				lx += inner[i] - l->width;
			else if (c->align == ALIGN_CENTER)
				lx += (inner[i] - l->width) / 2;
			draw_text(r, c->font, c->size, lx, r->y - size,
			    texts[i] + l->off, l->len);
		}
		r->y -= pitch;
	}
	if (header) {
		draw_rule(r, r->y + size * 0.1, 0.5);
		r->y -= size * 0.3;
	}
	return 0;
}

static int
draw_table(struct render *r, const struct block *b)
{
	json_object *rows = segment_value(&b->rows, r->data, NULL);
	size_t i, n;

	if (rows == NULL)
		return 0;
	n = json_object_array_length(rows);
	/* the header and the first row together */
	if (room_for(r, b->size * r->t->page.line_height * 2.5) == -1 ||
	    draw_cells(r, b->headers, b->ncells, NULL, true) == -1)
		return -1;
	r->table = b;
	for (i = 0; i < n; i++)
		if (draw_cells(r, b->cells, b->ncells,
		    json_object_array_get_idx(rows, i), false) == -1)
			return -1;
	r->table = NULL;
	return 0;
}

static int
draw_blocks(struct render *r)
{
	const struct block *b;
	size_t i;

	for (i = 0; i < r->t->nblocks; i++) {
		b = &r->t->blocks[i];
		if (!segment_present(&b->when, r->data, NULL))
			continue;
		r->y -= b->space_before;
		switch (b->type) {
		case BLOCK_ROW:
			if (draw_cells(r, b->cells, b->ncells, NULL,
			    false) == -1)
				return -1;
			break;
		case BLOCK_TABLE:
			if (draw_table(r, b) == -1)
				return -1;
			break;
		case BLOCK_RULE:
			if (room_for(r, 4) == -1)
				return -1;
			draw_rule(r, r->y - 2, b->thickness);
			r->y -= 4;
			break;
		case BLOCK_SPACE:
			r->y -= b->height;
			break;
		}
		r->y -= b->space_after;
		if (r->y < r->bottom && i + 1 < r->t->nblocks &&
		    new_page(r) == -1)
			return -1;
		if (pdf_error != HPDF_OK)
			return -1;
	}
	return 0;
}

enum render_status
render_pdf(bh_pool *pool, const struct template *t, json_object *data,
    char **pdf, size_t *len)
{
	struct render r;
	HPDF_UINT32 size, got;
	enum render_status rc = RENDER_FAILED;
	char err[256];
	int i;

	*pdf = NULL;
	*len = 0;
	if (doc == NULL && render_init(err, sizeof(err)) == -1) {
		bh_log(BH_LOG_ERROR, "pdf: %s", err);
		return RENDER_FAILED;
	}
	memset(&r, 0, sizeof(r));
	r.pool = pool;
	r.t = t;
	r.data = data;
	r.left = t->page.margin_left;
	r.content_width = t->page.width - t->page.margin_left -
	    t->page.margin_right;
	r.bottom = t->page.margin_bottom;

	pdf_error = HPDF_OK;
	if (HPDF_NewDoc(doc) != HPDF_OK)
		goto out;
	HPDF_SetCompressionMode(doc, reports_cfg.compress ? HPDF_COMP_ALL :
	    HPDF_COMP_NONE);
	HPDF_SetInfoAttr(doc, HPDF_INFO_TITLE, t->title);
	HPDF_SetInfoAttr(doc, HPDF_INFO_CREATOR, "bellhop-reports");
	for (i = 0; i < FONT_STYLES; i++)
		if ((r.fonts[i] = HPDF_GetFont(doc, loaded_fonts[i],
		    "UTF-8")) == NULL)
			goto out;
	if (new_page(&r) == -1 || draw_blocks(&r) == -1 ||
	    pdf_error != HPDF_OK)
		goto out;
	if (HPDF_SaveToStream(doc) != HPDF_OK || pdf_error != HPDF_OK)
		goto out;
	size = HPDF_GetStreamSize(doc);
	got = size;
	*pdf = bh_palloc(pool, size + 1);
	HPDF_ReadFromStream(doc, (HPDF_BYTE *)*pdf, &got);
	if (got != size)
		goto out;
	*len = size;
	rc = RENDER_OK;
out:
	if (rc != RENDER_OK) {
		*pdf = NULL;
		*len = 0;
		if (r.too_long)
			rc = RENDER_TOO_LONG;
		else {
			bh_log(BH_LOG_ERROR, "pdf: rendering %s failed: "
			    "libharu error 0x%04X (detail %u)", t->name,
			    (unsigned)pdf_error, (unsigned)pdf_detail);
			/* Start again from a clean document next time. */
			render_fini();
			return rc;
		}
	}
	/* Frees this document's objects (the fonts stay loaded). */
	HPDF_FreeDoc(doc);
	pdf_error = HPDF_OK;
	return rc;
}
