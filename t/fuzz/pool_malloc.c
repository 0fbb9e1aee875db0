/*
 * pool_malloc.c - lib/pool.c's API with one malloc per allocation, for the
 * fuzz build only (t/fuzz/run links it instead of lib/pool.c unless
 * BH_FUZZ_POOL=lib).
 *
 * Why: the arena of lib/pool.c hands out pieces of 16 KiB chunks, so
 * AddressSanitizer sees the bounds of a chunk, not of a string in it: a
 * parser writing one byte past its copy would go unnoticed.  Here every
 * allocation is its own malloc block, and a bh_buf's spare capacity is
 * poisoned, so ASan reports the first byte read or written out of bounds.
 * The semantics are lib/pool.c's: memory lives until the pool is reset,
 * a grown buffer's old memory too; cleanups run latest first.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

#include "bellhop.h"

struct block {
	struct block *next;
	void *mem;
};

struct cleanup {
	struct cleanup *next;
	void (*fn)(void *);
	void *arg;
};

struct bh_pool {
	struct block *blocks;
	struct cleanup *cleanups; /* latest first */
};

static void __attribute__((noreturn))
oom(void)
{
	fputs("pool_malloc: out of memory\n", stderr);
	abort();
}

static void *
xmalloc(size_t size)
{
	void *p;

	if ((p = malloc(size)) == NULL)
		oom();
	return p;
}

/* Uninitialised memory of exactly size bytes (1 for 0) owned by pool. */
static void *
pool_alloc(bh_pool *pool, size_t size)
{
	struct block *b = xmalloc(sizeof(*b));

	b->mem = xmalloc(size == 0 ? 1 : size);
	b->next = pool->blocks;
	pool->blocks = b;
	return b->mem;
}

bh_pool *
bh_pool_new(void)
{
	bh_pool *pool;

	if ((pool = calloc(1, sizeof(*pool))) == NULL)
		oom();
	return pool;
}

void
bh_pool_reset(bh_pool *pool)
{
	struct cleanup *c;
	struct block *b;

	/* Cleanups may register more; their memory is still there. */
	while ((c = pool->cleanups) != NULL) {
		pool->cleanups = c->next;
		c->fn(c->arg);
		free(c);
	}
	while ((b = pool->blocks) != NULL) {
		pool->blocks = b->next;
		free(b->mem);
		free(b);
	}
}

void
bh_pool_free(bh_pool *pool)
{
	if (pool == NULL)
		return;
	bh_pool_reset(pool);
	free(pool);
}

void *
bh_palloc(bh_pool *pool, size_t size)
{
	void *p = pool_alloc(pool, size);

	memset(p, 0, size);
	return p;
}

char *
bh_pstrndup(bh_pool *pool, const char *s, size_t len)
{
	char *p;

	if (len == SIZE_MAX)
		oom();
	p = pool_alloc(pool, len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
bh_pstrdup(bh_pool *pool, const char *s)
{
	return bh_pstrndup(pool, s, strlen(s));
}

static char *pool_vsprintf(bh_pool *, const char *, va_list) BH_PRINTF(2, 0);

static char *
pool_vsprintf(bh_pool *pool, const char *fmt, va_list ap)
{
	va_list ap2;
	char *p;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return bh_pstrdup(pool, "");
	p = pool_alloc(pool, (size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *
bh_psprintf(bh_pool *pool, const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = pool_vsprintf(pool, fmt, ap);
	va_end(ap);
	return p;
}

void
bh_pool_defer(bh_pool *pool, void (*fn)(void *), void *arg)
{
	struct cleanup *c = xmalloc(sizeof(*c));

	c->fn = fn;
	c->arg = arg;
	c->next = pool->cleanups;
	pool->cleanups = c;
}

/* ------------------------------------------------------------------ buf */

#define BUF_MIN 64

/* Only data[0..len] (the NUL included) is addressable. */
static void
buf_poison_spare(bh_buf *buf)
{
	ASAN_UNPOISON_MEMORY_REGION(buf->data, buf->len + 1);
	ASAN_POISON_MEMORY_REGION(buf->data + buf->len + 1,
	    buf->cap - buf->len - 1);
}

void
bh_buf_init(bh_buf *buf, bh_pool *pool)
{
	buf->pool = pool;
	buf->len = 0;
	buf->cap = BUF_MIN;
	buf->data = pool_alloc(pool, buf->cap);
	buf->data[0] = '\0';
	buf_poison_spare(buf);
}

/* Makes room for extra more bytes plus the NUL; the old memory stays
 * (a caller may still point at it, as with lib/pool.c). */
static void
buf_reserve(bh_buf *buf, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > SIZE_MAX - 1 - buf->len)
		oom();
	need = buf->len + extra + 1;
	if (need <= buf->cap) {
		ASAN_UNPOISON_MEMORY_REGION(buf->data, need);
		return;
	}
	for (cap = buf->cap; cap < need;)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = pool_alloc(buf->pool, cap);
	memcpy(p, buf->data, buf->len + 1);
	buf->data = p;
	buf->cap = cap;
	ASAN_UNPOISON_MEMORY_REGION(buf->data, need);
}

void
bh_buf_append(bh_buf *buf, const void *data, size_t len)
{
	if (len == 0)
		return;
	buf_reserve(buf, len);
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	buf_poison_spare(buf);
}

void
bh_buf_puts(bh_buf *buf, const char *s)
{
	bh_buf_append(buf, s, strlen(s));
}

void
bh_buf_printf(bh_buf *buf, const char *fmt, ...)
{
	va_list ap;
	char *text;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	text = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(text, (size_t)n + 1, fmt, ap);
	va_end(ap);
	bh_buf_append(buf, text, (size_t)n);
	free(text);
}
