/*
 * json.c - the runtime's one JSON reader, for request bodies (request.c)
 * and for tokens and key sets (jwt.c).
 *
 * json-c alone is not enough, even in strict mode: it takes
 * 'single-quoted' names, NaN, Infinity, "1." and raw control characters
 * in strings, counts nesting differently for empty and non-empty
 * containers, and keeps the last of repeated member names without a word
 * ({"amount":1,"amount":1000}), where another parser in the chain may
 * keep the first.  So the text is checked first, in one pass without
 * recursion: valid UTF-8, RFC 8259 exactly, no "\u0000" (C strings would
 * compare short), no unpaired surrogate escape, a nesting limit, and no
 * member name twice in one object.  Only then does json-c build the tree.
 */
#include "config.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Highest nesting limit honoured, whatever the caller asks. */
#define JSON_DEPTH_CAP 4096

/* A member name of an object still open: its text, decoded, and the
 * offset of its opening quote. */
struct name {
	const char *text;
	size_t len;
	size_t at;
};

/* The state of one check. */
struct scan {
	bh_pool *pool;
	const char *s;
	size_t len;
	struct bh_json_fault *f;
	int max_depth, depth;
	char *open;           /* per open container: '{' or '[' */
	size_t *names_from;   /* per open container: its first entry in names */
	struct name *names;   /* of all the objects open, innermost last */
	size_t nnames, capnames;
	struct name repeated; /* the earliest repeat found; text NULL if none */
};

static int
fail(struct scan *sc, const char *why, size_t at)
{
	sc->f->error = BH_JSON_SYNTAX;
	sc->f->why = why;
	sc->f->at = at;
	return -1;
}

static bool
json_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The four hex digits at s[i], or -1. */
static long
hex4(const char *s, size_t len, size_t i)
{
	long v = 0;
	size_t k;
	char c;

	if (i > len || len - i < 4)
		return -1;
	for (k = i; k < i + 4; k++) {
		c = s[k];
		if (c >= '0' && c <= '9')
			v = v << 4 | (c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = v << 4 | (c - 'A' + 10);
		else
			return -1;
	}
	return v;
}

/* s[*i] is '"': moves *i past the closing quote.  *escaped tells
 * whether the string holds an escape. */
static int
scan_string(struct scan *sc, size_t *i, bool *escaped)
{
	const char *s = sc->s;
	size_t p = *i + 1, len = sc->len;
	long u, lo;

	*escaped = false;
	while (p < len) {
		unsigned char c = (unsigned char)s[p];

		if (c == '"') {
			*i = p + 1;
			return 0;
		}
		if (c < 0x20)
			return fail(sc, "a control character in a string", p);
		if (c != '\\') {
			p++;
			continue;
		}
		*escaped = true;
		if (p + 1 >= len)
			break;
		switch (s[p + 1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n':
		case 'r': case 't':
			p += 2;
			continue;
		case 'u':
			break;
		default:
			return fail(sc, "a bad escape in a string", p);
		}
		if ((u = hex4(s, len, p + 2)) == -1)
			return fail(sc, "a bad \\u escape", p);
		if (u == 0)
			return fail(sc, "an escaped NUL (\\u0000)", p);
		if (u >= 0xdc00 && u <= 0xdfff)
			return fail(sc, "an unpaired surrogate escape", p);
		if (u >= 0xd800 && u <= 0xdbff) {
			if (len - p < 12 || s[p + 6] != '\\' ||
			    s[p + 7] != 'u' ||
			    (lo = hex4(s, len, p + 8)) < 0xdc00 || lo > 0xdfff)
				return fail(sc, "an unpaired surrogate escape",
				    p);
			p += 12;
		} else
			p += 6;
	}
	return fail(sc, "an unterminated string", len);
}

/* An RFC 8259 number at s[*i]. */
static int
scan_number(struct scan *sc, size_t *i)
{
	const char *s = sc->s;
	size_t p = *i, len = sc->len;

	if (p < len && s[p] == '-')
		p++;
	if (p < len && s[p] == '0')
		p++;
	else if (p < len && is_digit(s[p]))
		while (p < len && is_digit(s[p]))
			p++;
	else
		return fail(sc, "a malformed number", *i);
	if (p < len && s[p] == '.') {
		if (++p >= len || !is_digit(s[p]))
			return fail(sc, "a malformed number", *i);
		while (p < len && is_digit(s[p]))
			p++;
	}
	if (p < len && (s[p] == 'e' || s[p] == 'E')) {
		p++;
		if (p < len && (s[p] == '+' || s[p] == '-'))
			p++;
		if (p >= len || !is_digit(s[p]))
			return fail(sc, "a malformed number", *i);
		while (p < len && is_digit(s[p]))
			p++;
	}
	*i = p;
	return 0;
}

/* Appends code point u as UTF-8 at out; returns the bytes written. */
static size_t
utf8_put(char *out, unsigned long u)
{
	if (u < 0x80) {
		out[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		out[0] = (char)(0xc0 | u >> 6);
		out[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	if (u < 0x10000) {
		out[0] = (char)(0xe0 | u >> 12);
		out[1] = (char)(0x80 | (u >> 6 & 0x3f));
		out[2] = (char)(0x80 | (u & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | u >> 18);
	out[1] = (char)(0x80 | (u >> 12 & 0x3f));
	out[2] = (char)(0x80 | (u >> 6 & 0x3f));
	out[3] = (char)(0x80 | (u & 0x3f));
	return 4;
}

/*
 * The text of the string s[0..len) (without its quotes, escapes checked
 * by scan_string) with its escapes decoded, into *out (owned by pool).
 * Decoding never grows a string.  Returns the length.
 */
static size_t
unescape(bh_pool *pool, const char *s, size_t len, const char **out)
{
	char *buf = bh_palloc(pool, len + 1);
	size_t i = 0, o = 0;
	unsigned long u, lo;

	while (i < len) {
		if (s[i] != '\\') {
			buf[o++] = s[i++];
			continue;
		}
		switch (s[i + 1]) {
		case 'b': buf[o++] = '\b'; break;
		case 'f': buf[o++] = '\f'; break;
		case 'n': buf[o++] = '\n'; break;
		case 'r': buf[o++] = '\r'; break;
		case 't': buf[o++] = '\t'; break;
		case 'u':
			u = (unsigned long)hex4(s, len, i + 2);
			if (u >= 0xd800 && u <= 0xdbff) {
				lo = (unsigned long)hex4(s, len, i + 8);
				u = 0x10000 + ((u - 0xd800) << 10) +
				    (lo - 0xdc00);
				i += 6;
			}
			o += utf8_put(buf + o, u);
			i += 6;
			continue;
		default: buf[o++] = s[i + 1]; break; /* " \ / */
		}
		i += 2;
	}
	*out = buf;
	return o;
}

/* Remembers the member name s[from..to) (quotes included) of the
 * innermost open object. */
static void
name_add(struct scan *sc, size_t from, size_t to, bool escaped)
{
	struct name *n, *grown;

	if (sc->nnames == sc->capnames) {
		sc->capnames = sc->capnames == 0 ? 16 : sc->capnames * 2;
		grown = bh_palloc(sc->pool, sc->capnames * sizeof(*grown));
		if (sc->nnames > 0)
			memcpy(grown, sc->names, sc->nnames * sizeof(*grown));
		sc->names = grown;
	}
	n = &sc->names[sc->nnames++];
	n->at = from;
	if (escaped)
		n->len = unescape(sc->pool, sc->s + from + 1, to - from - 2,
		    &n->text);
	else {
		n->text = sc->s + from + 1;
		n->len = to - from - 2;
	}
}

/* By text, then by place. */
static int
name_cmp(const void *a, const void *b)
{
	const struct name *x = a, *y = b;
	int c = memcmp(x->text, y->text, x->len < y->len ? x->len : y->len);

	if (c != 0)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* The innermost object closes: looks for a name given twice in it (the
 * earliest second occurrence in the text is kept), then forgets its
 * names. */
static void
names_close(struct scan *sc)
{
	size_t from = sc->names_from[sc->depth - 1], i;
	size_t n = sc->nnames - from;
	struct name *names;

	if (n > 1) {
		names = sc->names + from;
		qsort(names, n, sizeof(*names), name_cmp);
		for (i = 1; i < n; i++) {
			if (names[i].len != names[i - 1].len ||
			    memcmp(names[i].text, names[i - 1].text,
			    names[i].len) != 0)
				continue;
			if (sc->repeated.text == NULL ||
			    names[i].at < sc->repeated.at)
				sc->repeated = names[i];
		}
	}
	sc->nnames = from;
}

/* One pass over the text; see bh_json_check. */
static int
scan(struct scan *sc)
{
	enum { VALUE, VALUE_OR_CLOSE, KEY, KEY_OR_CLOSE, COLON, NEXT } state;
	const char *s = sc->s, *word;
	size_t i = 0, len = sc->len, start, n;
	bool escaped;

	state = VALUE;
	for (;;) {
		while (i < len && json_ws(s[i]))
			i++;
		if (i == len) {
			if (sc->depth == 0 && state == NEXT)
				return 0;
			return fail(sc, "unexpected end of data", i);
		}
		switch (state) {
		case VALUE_OR_CLOSE:
			if (s[i] == ']')
				goto close;
			/* FALLTHROUGH */
		case VALUE:
			switch (s[i]) {
			case '{':
			case '[':
				if (sc->depth >= sc->max_depth) {
					sc->f->error = BH_JSON_TOO_DEEP;
					sc->f->at = i;
					return -1;
				}
				sc->open[sc->depth] = s[i];
				sc->names_from[sc->depth] = sc->nnames;
				sc->depth++;
				state = s[i] == '{' ? KEY_OR_CLOSE :
				    VALUE_OR_CLOSE;
				i++;
				continue;
			case '"':
				if (scan_string(sc, &i, &escaped) == -1)
					return -1;
				break;
			case 't':
			case 'f':
			case 'n':
				word = s[i] == 't' ? "true" : s[i] == 'f' ?
				    "false" : "null";
				n = strlen(word);
				if (len - i < n || memcmp(s + i, word, n) != 0)
					return fail(sc, "an unknown literal",
					    i);
				i += n;
				break;
			default:
				if (s[i] != '-' && !is_digit(s[i]))
					return fail(sc,
					    "an unexpected character", i);
				if (scan_number(sc, &i) == -1)
					return -1;
				break;
			}
			state = NEXT;
			continue;
		case KEY_OR_CLOSE:
			if (s[i] == '}')
				goto close;
			/* FALLTHROUGH */
		case KEY:
			if (s[i] != '"')
				return fail(sc,
				    "a member name that is not a string", i);
			start = i;
			if (scan_string(sc, &i, &escaped) == -1)
				return -1;
			name_add(sc, start, i, escaped);
			state = COLON;
			continue;
		case COLON:
			if (s[i] != ':')
				return fail(sc, "a missing ':'", i);
			i++;
			state = VALUE;
			continue;
		case NEXT:
			if (sc->depth == 0)
				return fail(sc,
				    "trailing data after the JSON value", i);
			if (s[i] == ',') {
				i++;
				state = sc->open[sc->depth - 1] == '{' ? KEY :
				    VALUE;
				continue;
			}
			if ((s[i] == ']' && sc->open[sc->depth - 1] == '[') ||
			    (s[i] == '}' && sc->open[sc->depth - 1] == '{'))
				goto close;
			return fail(sc, "an unexpected character", i);
		}
		continue;
close:
		if (s[i] == '}')
			names_close(sc);
		sc->depth--;
		i++;
		state = NEXT;
	}
}

static int
clamp_depth(int max_depth)
{
	return max_depth < 1 ? 1 : max_depth > JSON_DEPTH_CAP ?
	    JSON_DEPTH_CAP : max_depth;
}

int
bh_json_check(bh_pool *pool, const char *s, size_t len, int max_depth,
    struct bh_json_fault *f)
{
	struct scan sc;

	memset(f, 0, sizeof(*f));
	memset(&sc, 0, sizeof(sc));
	sc.pool = pool;
	sc.s = s;
	sc.len = len;
	sc.f = f;
	sc.max_depth = f->max_depth = clamp_depth(max_depth);
	if (!bh_utf8_valid(s, len)) {
		f->error = BH_JSON_NOT_UTF8;
		return -1;
	}
	sc.open = bh_palloc(pool, (size_t)sc.max_depth);
	sc.names_from = bh_palloc(pool, (size_t)sc.max_depth *
	    sizeof(*sc.names_from));
	if (scan(&sc) == -1)
		return -1;
	/* Reported only for text that is JSON otherwise: a syntax error
	 * after the repeat is the first thing to fix. */
	if (sc.repeated.text != NULL) {
		f->error = BH_JSON_REPEATED;
		f->at = sc.repeated.at;
		f->name = sc.repeated.text;
		f->name_len = sc.repeated.len;
		return -1;
	}
	return 0;
}

/* One tokener per process, reused (a worker is one thread), grown to the
 * deepest nesting asked for: the check above enforces the limit. */
static json_tokener *
tokener_get(int depth)
{
	static json_tokener *tok;
	static int tok_depth;

	if (tok != NULL && tok_depth < depth) {
		json_tokener_free(tok);
		tok = NULL;
	}
	if (tok == NULL) {
		if ((tok = json_tokener_new_ex(depth)) == NULL)
			return NULL;
		tok_depth = depth;
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	}
	json_tokener_reset(tok);
	return tok;
}

static void
json_put(void *obj)
{
	json_object_put(obj);
}

int
bh_json_parse(bh_pool *pool, const char *s, size_t len, int max_depth,
    json_object **out, struct bh_json_fault *f)
{
	enum json_tokener_error err;
	json_tokener *tok;
	json_object *obj;

	*out = NULL;
	if (len >= INT_MAX) {
		memset(f, 0, sizeof(*f));
		f->error = BH_JSON_TOO_LARGE;
		return -1;
	}
	if (bh_json_check(pool, s, len, max_depth, f) == -1)
		return -1;
	/* json-c counts a scalar inside the deepest container as one more
	 * level. */
	if ((tok = tokener_get(f->max_depth + 1)) == NULL) {
		f->error = BH_JSON_NO_MEMORY;
		return -1;
	}
	obj = json_tokener_parse_ex(tok, s, (int)len);
	err = json_tokener_get_error(tok);
	if (err == json_tokener_continue) {
		/* A bare number or literal at the very end needs to see the
		 * end of input to finish. */
		obj = json_tokener_parse_ex(tok, "", 1);
		err = json_tokener_get_error(tok);
	}
	if (err != json_tokener_success) {
		/* The check let it through: json-c disagrees. */
		json_object_put(obj);
		f->error = BH_JSON_PARSER;
		f->why = json_tokener_error_desc(err);
		return -1;
	}
	if (obj != NULL)
		bh_pool_defer(pool, json_put, obj);
	*out = obj;
	return 0;
}
