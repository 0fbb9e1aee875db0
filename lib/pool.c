/*
 * pool.c - the arena every request allocates from, and byte buffers in it.
 *
 * A pool is a list of chunks with bump allocation in the current one.  An
 * allocation too large to share a chunk gets a chunk of its own, linked
 * behind the current one so the current chunk's free space stays in use.
 * bh_pool_reset() keeps the first chunk: a worker resets its per-request
 * pool between requests, so a request that fits in one chunk costs no
 * malloc at all.  Out of memory aborts (the supervisor respawns the worker).
 *
 * Under AddressSanitizer a chunk's unused space is poisoned and each
 * allocation unpoisons exactly the bytes it asked for, with a red zone
 * after it, so an overflow inside a chunk is reported like one past a
 * malloc block; only data[0..len] of a bh_buf is addressable.
 */
#include "config.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bellhop.h"

#define BH_POOL_ALIGN alignof(max_align_t)
/* Usable bytes of an ordinary chunk: enough for a typical request (its
 * params, parsed query, a JSON response) without a second malloc. */
#define BH_POOL_CHUNK (16 * 1024)
/* Larger allocations get their own chunk rather than wasting the rest of
 * the current one. */
#define BH_POOL_LARGE (BH_POOL_CHUNK / 4)

#if defined(__SANITIZE_ADDRESS__)
#define BH_POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BH_POOL_ASAN 1
#endif
#endif

#ifdef BH_POOL_ASAN
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n)	ASAN_POISON_MEMORY_REGION((p), (n))
#define POOL_UNPOISON(p, n)	ASAN_UNPOISON_MEMORY_REGION((p), (n))
/* Poisoned bytes after each small allocation (more than the alignment
 * padding, which is none for a size that is a multiple of it). */
#define BH_POOL_REDZONE	BH_POOL_ALIGN
#else
#define POOL_POISON(p, n)	((void)(p), (void)(n))
#define POOL_UNPOISON(p, n)	((void)(p), (void)(n))
#define BH_POOL_REDZONE	0
#endif

struct bh_chunk {
	struct bh_chunk *next;
	size_t size; /* usable bytes in data */
	size_t used;
	alignas(max_align_t) unsigned char data[];
};

struct bh_cleanup {
	struct bh_cleanup *next;
	void (*fn)(void *);
	void *arg;
};

struct bh_pool {
	struct bh_chunk *first; /* kept across resets */
	struct bh_chunk *cur;   /* bump allocation happens here */
	struct bh_cleanup *cleanups; /* latest first */
	/* The most recent small allocation, so a growing bh_buf can extend
	 * it in place instead of copying. */
	unsigned char *last;
	size_t last_size;
};

static void __attribute__((noreturn))
pool_oom(size_t size)
{
	char msg[96];
	int n;

	/* No stdio buffering, no allocation: we are out of memory. */
	n = snprintf(msg, sizeof(msg),
	    "bellhop: out of memory allocating %zu bytes\n", size);
	if (n > 0)
		(void)!write(STDERR_FILENO, msg,
		    (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
	abort();
}

/* Rounds size up to the pool alignment, aborting on overflow. */
static size_t
pool_align(size_t size)
{
	if (size > SIZE_MAX - (BH_POOL_ALIGN - 1))
		pool_oom(size);
	return (size + (BH_POOL_ALIGN - 1)) & ~(BH_POOL_ALIGN - 1);
}

static struct bh_chunk *
chunk_new(size_t size)
{
	struct bh_chunk *c;

	if (size > SIZE_MAX - sizeof(*c))
		pool_oom(size);
	if ((c = malloc(sizeof(*c) + size)) == NULL)
		pool_oom(size);
	c->next = NULL;
	c->size = size;
	c->used = 0;
	POOL_POISON(c->data, size);
	return c;
}

/* Bytes an allocation may take from c, leaving room for its red zone. */
static size_t
chunk_room(const struct bh_chunk *c)
{
	size_t avail = c->size - c->used;

	return avail > BH_POOL_REDZONE ? avail - BH_POOL_REDZONE : 0;
}

bh_pool *
bh_pool_new(void)
{
	bh_pool *pool;

	if ((pool = calloc(1, sizeof(*pool))) == NULL)
		pool_oom(sizeof(*pool));
	pool->first = pool->cur = chunk_new(BH_POOL_CHUNK);
	return pool;
}

static void
pool_run_cleanups(bh_pool *pool)
{
	struct bh_cleanup *c;

	/* A cleanup may register another; it runs too, as the list is
	 * re-read each time and its memory is still there. */
	while ((c = pool->cleanups) != NULL) {
		pool->cleanups = c->next;
		c->fn(c->arg);
	}
}

void
bh_pool_reset(bh_pool *pool)
{
	struct bh_chunk *c, *next;

	pool_run_cleanups(pool);
	for (c = pool->first->next; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	pool->first->next = NULL;
	pool->first->used = 0;
	POOL_POISON(pool->first->data, pool->first->size);
	pool->cur = pool->first;
	pool->last = NULL;
	pool->last_size = 0;
}

void
bh_pool_free(bh_pool *pool)
{
	if (pool == NULL)
		return;
	bh_pool_reset(pool);
	free(pool->first);
	free(pool);
}

/* Uninitialised aligned memory of want bytes from the pool. */
static void *
pool_alloc(bh_pool *pool, size_t want)
{
	struct bh_chunk *c;
	unsigned char *p;
	size_t size;

	size = pool_align(want == 0 ? 1 : want);
	c = pool->cur;
	if (size > chunk_room(c)) {
		if (size > BH_POOL_LARGE) {
			/* Its own chunk, behind the current one; past its
			 * end is malloc's own red zone. */
			c = chunk_new(size);
			c->used = size;
			c->next = pool->cur->next;
			pool->cur->next = c;
			POOL_UNPOISON(c->data, want);
			return c->data;
		}
		c = chunk_new(BH_POOL_CHUNK);
		c->next = pool->cur->next;
		pool->cur->next = c;
		pool->cur = c;
	}
	p = c->data + c->used;
	c->used += size + BH_POOL_REDZONE;
	pool->last = p;
	pool->last_size = size;
	POOL_UNPOISON(p, want);
	return p;
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
		pool_oom(len);
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
	struct bh_chunk *c = pool->cur;
	char *free_space = (char *)c->data + c->used;
	size_t avail = chunk_room(c);
	va_list ap2;
	char *p;
	int n;

	/* Try formatting straight into the current chunk's free space; only
	 * a string that does not fit is formatted twice. */
	POOL_UNPOISON(free_space, avail);
	va_copy(ap2, ap);
	n = vsnprintf(free_space, avail, fmt, ap2);
	va_end(ap2);
	POOL_POISON(free_space, avail);
	if (n < 0)
		return bh_pstrdup(pool, "");
	if ((size_t)n < avail) {
		p = pool_alloc(pool, (size_t)n + 1);
		/* pool_alloc took exactly the bytes we wrote into. */
		return p;
	}
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
	struct bh_cleanup *c = pool_alloc(pool, sizeof(*c));

	c->fn = fn;
	c->arg = arg;
	c->next = pool->cleanups;
	pool->cleanups = c;
}

/* ------------------------------------------------------------------ buf */

#define BH_BUF_MIN 64

/* Only data[0..len], the NUL included, is addressable between calls. */
static void
buf_poison_spare(bh_buf *buf)
{
	POOL_UNPOISON(buf->data, buf->len + 1);
	POOL_POISON(buf->data + buf->len + 1, buf->cap - buf->len - 1);
}

void
bh_buf_init(bh_buf *buf, bh_pool *pool)
{
	buf->pool = pool;
	buf->len = 0;
	buf->cap = BH_BUF_MIN;
	buf->data = pool_alloc(pool, buf->cap);
	buf->data[0] = '\0';
	buf_poison_spare(buf);
}

/* Makes room for extra more bytes plus the NUL, and makes them
 * addressable. */
static void
buf_reserve(bh_buf *buf, size_t extra)
{
	bh_pool *pool = buf->pool;
	struct bh_chunk *c = pool->cur;
	size_t need, cap, grow;
	char *p;

	if (extra > SIZE_MAX - 1 - buf->len)
		pool_oom(extra);
	need = buf->len + extra + 1;
	if (need <= buf->cap) {
		POOL_UNPOISON(buf->data, need);
		return;
	}
	cap = buf->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	/* The buffer is the chunk's latest allocation: grow it in place. */
	if ((unsigned char *)buf->data == pool->last &&
	    pool->last >= c->data && pool->last < c->data + c->size &&
	    pool_align(cap) >= pool->last_size) {
		grow = pool_align(cap) - pool->last_size;
		if (grow <= c->size - c->used) {
			c->used += grow;
			pool->last_size += grow;
			buf->cap = pool->last_size;
			POOL_UNPOISON(buf->data, need);
			return;
		}
	}
	p = pool_alloc(pool, cap);
	memcpy(p, buf->data, buf->len + 1);
	buf->data = p;
	buf->cap = cap;
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
	size_t avail = buf->cap - buf->len;
	int n;

	POOL_UNPOISON(buf->data + buf->len, avail);
	va_start(ap, fmt);
	n = vsnprintf(buf->data + buf->len, avail, fmt, ap);
	va_end(ap);
	if (n < 0) {
		/* Keep the buffer as it was. */
		buf->data[buf->len] = '\0';
		buf_poison_spare(buf);
		return;
	}
	if ((size_t)n >= avail) {
		/* Poison what may stay behind if the buffer moves. */
		buf_poison_spare(buf);
		buf_reserve(buf, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	buf->len += (size_t)n;
	buf_poison_spare(buf);
}
