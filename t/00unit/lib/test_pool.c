/*
 * test_pool.c - the arena and its byte buffers.
 */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bellhop.h"
#include "runner.h"

/* As in lib/pool.c: under AddressSanitizer the pool poisons what it has
 * not handed out. */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

static bool
aligned(const void *p)
{
	return (uintptr_t)p % alignof(max_align_t) == 0;
}

static bool
all_bytes(const unsigned char *p, size_t n, unsigned char c)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != c)
			return false;
	return true;
}

static void
test_alignment_and_zero_fill(void)
{
	bh_pool *pool = bh_pool_new();
	size_t sizes[] = { 0, 1, 3, 7, 8, 15, 16, 17, 31, 100, 1000, 5000 };
	size_t i, round;
	unsigned char *p;

	for (round = 0; round < 20; round++)
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			p = bh_palloc(pool, sizes[i]);
			CU_ASSERT_PTR_NOT_NULL_FATAL(p);
			CU_ASSERT(aligned(p));
			CU_ASSERT(all_bytes(p, sizes[i], 0));
			/* Dirty it so a reuse without zeroing would show. */
			memset(p, 0xa5, sizes[i]);
		}
	bh_pool_reset(pool);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p = bh_palloc(pool, sizes[i]);
		CU_ASSERT(aligned(p));
		CU_ASSERT(all_bytes(p, sizes[i], 0));
		memset(p, 0xa5, sizes[i]);
	}
	bh_pool_free(pool);
}

static void
test_growth_past_chunk(void)
{
	bh_pool *pool = bh_pool_new();
	unsigned char *blocks[400];
	size_t i;

	/* 400 * 1000 bytes: many chunks' worth; each block keeps its own
	 * pattern, so any overlap between allocations shows. */
	for (i = 0; i < 400; i++) {
		blocks[i] = bh_palloc(pool, 1000);
		memset(blocks[i], (int)(i & 0xff), 1000);
	}
	for (i = 0; i < 400; i++)
		CU_ASSERT(all_bytes(blocks[i], 1000, (unsigned char)(i & 0xff)));
	bh_pool_free(pool);
}

static void
test_huge_allocations(void)
{
	bh_pool *pool = bh_pool_new();
	unsigned char *small1, *huge, *small2, *mid;
	size_t huge_size = 16u << 20;

	small1 = bh_palloc(pool, 10);
	memset(small1, 1, 10);
	huge = bh_palloc(pool, huge_size);
	CU_ASSERT(aligned(huge));
	CU_ASSERT(huge[0] == 0 && huge[huge_size - 1] == 0);
	memset(huge, 2, huge_size);
	mid = bh_palloc(pool, 6000);
	memset(mid, 3, 6000);
	small2 = bh_palloc(pool, 10);
	memset(small2, 4, 10);
	CU_ASSERT(all_bytes(small1, 10, 1));
	CU_ASSERT(all_bytes(huge, huge_size, 2));
	CU_ASSERT(all_bytes(mid, 6000, 3));
	CU_ASSERT(all_bytes(small2, 10, 4));
	/* A reset frees the huge chunk; the pool still serves (ASan's leak
	 * check at exit covers the freeing). */
	bh_pool_reset(pool);
	huge = bh_palloc(pool, huge_size);
	CU_ASSERT(all_bytes(huge, huge_size, 0));
	bh_pool_free(pool);
}

/* An impossible size must abort with a message, not wrap around. */
static void
test_size_overflow_aborts(void)
{
	size_t sizes[] = { SIZE_MAX, SIZE_MAX - 3, SIZE_MAX / 2 + 2 };
	size_t i;
	pid_t pid;
	int status;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fflush(NULL);
		pid = fork();
		CU_ASSERT_FATAL(pid >= 0);
		if (pid == 0) {
			bh_pool *pool = bh_pool_new();
			bh_buf buf;

			/* Keep the expected abort message out of the test
			 * output. */
			(void)!freopen("/dev/null", "w", stderr);
			if (i < 2)
				bh_palloc(pool, sizes[i]);
			else {
				bh_buf_init(&buf, pool);
				bh_buf_append(&buf, "x", 1);
				bh_buf_append(&buf, "x", SIZE_MAX);
			}
			_exit(0);
		}
		CU_ASSERT_FATAL(waitpid(pid, &status, 0) == pid);
		CU_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
	}
}

static void
test_reset_keeps_working(void)
{
	bh_pool *pool = bh_pool_new();
	char *s;
	int round, i;

	for (round = 0; round < 200; round++) {
		for (i = 0; i < 50; i++) {
			s = bh_psprintf(pool, "round %d item %d", round, i);
			CU_ASSERT_STRING_EQUAL(s, bh_psprintf(pool,
			    "round %d item %d", round, i));
		}
		/* Every few rounds spill into extra and large chunks. */
		if (round % 7 == 0) {
			memset(bh_palloc(pool, 100000), 1, 100000);
			for (i = 0; i < 40; i++)
				memset(bh_palloc(pool, 1000), 1, 1000);
		}
		bh_pool_reset(pool);
	}
	bh_pool_free(pool);
}

static void
test_strings(void)
{
	bh_pool *pool = bh_pool_new();
	char big[40000];
	char *s;

	CU_ASSERT_STRING_EQUAL(bh_pstrdup(pool, "hello"), "hello");
	CU_ASSERT_STRING_EQUAL(bh_pstrdup(pool, ""), "");
	s = bh_pstrndup(pool, "hello world", 5);
	CU_ASSERT_STRING_EQUAL(s, "hello");
	s = bh_pstrndup(pool, "a\0b", 3);
	CU_ASSERT(memcmp(s, "a\0b", 4) == 0);
	CU_ASSERT_STRING_EQUAL(bh_psprintf(pool, "%s-%d", "x", 42), "x-42");
	CU_ASSERT_STRING_EQUAL(bh_psprintf(pool, "%s", ""), "");
	/* Longer than a chunk: formatted twice, still whole. */
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	s = bh_psprintf(pool, "<%s>", big);
	CU_ASSERT(strlen(s) == sizeof(big) + 1);
	CU_ASSERT(s[0] == '<' && s[sizeof(big)] == '>');
	/* Near the end of a chunk: fill most of it, then format. */
	bh_pool_reset(pool);
	bh_palloc(pool, 16 * 1024 - 48);
	s = bh_psprintf(pool, "%0100d", 7);
	CU_ASSERT(strlen(s) == 100 && s[99] == '7');
	bh_pool_free(pool);
}

static int defer_log[16];
static int defer_n;
static bh_pool *defer_pool;

static void
defer_record(void *arg)
{
	if (defer_n < 16)
		defer_log[defer_n++] = (int)(intptr_t)arg;
}

static void
defer_record_and_add(void *arg)
{
	defer_record(arg);
	bh_pool_defer(defer_pool, defer_record, (void *)(intptr_t)99);
}

static void
test_defer_order(void)
{
	bh_pool *pool = bh_pool_new();

	defer_n = 0;
	bh_pool_defer(pool, defer_record, (void *)1);
	bh_pool_defer(pool, defer_record, (void *)2);
	bh_pool_defer(pool, defer_record, (void *)3);
	bh_pool_reset(pool);
	CU_ASSERT_EQUAL(defer_n, 3);
	CU_ASSERT(defer_log[0] == 3 && defer_log[1] == 2 && defer_log[2] == 1);
	/* Ran once: a second reset runs nothing. */
	bh_pool_reset(pool);
	CU_ASSERT_EQUAL(defer_n, 3);

	/* bh_pool_free runs them too, and one added by a cleanup runs. */
	defer_n = 0;
	defer_pool = pool;
	bh_pool_defer(pool, defer_record, (void *)4);
	bh_pool_defer(pool, defer_record_and_add, (void *)5);
	bh_pool_free(pool);
	CU_ASSERT_EQUAL(defer_n, 3);
	CU_ASSERT(defer_log[0] == 5 && defer_log[1] == 99 &&
	    defer_log[2] == 4);
}

static void
test_defer_frees(void)
{
	bh_pool *pool = bh_pool_new();
	int i;

	/* Under ASan a missed cleanup is a leak report. */
	for (i = 0; i < 100; i++)
		bh_pool_defer(pool, free, malloc(100));
	bh_pool_reset(pool);
	bh_pool_defer(pool, free, malloc(100));
	bh_pool_free(pool);
}

static void
test_buf_growth(void)
{
	bh_pool *pool = bh_pool_new();
	bh_buf buf, other;
	size_t i;

	bh_buf_init(&buf, pool);
	CU_ASSERT_PTR_NOT_NULL_FATAL(buf.data);
	CU_ASSERT_STRING_EQUAL(buf.data, "");
	CU_ASSERT_EQUAL(buf.len, 0);
	bh_buf_append(&buf, "", 0);
	CU_ASSERT_STRING_EQUAL(buf.data, "");

	/* Byte by byte, interleaved with other allocations so both the
	 * in-place and the copying growth paths run. */
	bh_buf_init(&other, pool);
	for (i = 0; i < 100000; i++) {
		char c = (char)('a' + i % 26);

		bh_buf_append(&buf, &c, 1);
		CU_ASSERT_FATAL(buf.data[buf.len] == '\0');
		if (i % 997 == 0) {
			bh_palloc(pool, 40);
			bh_buf_puts(&other, "z");
		}
	}
	CU_ASSERT_EQUAL(buf.len, 100000);
	CU_ASSERT(strlen(buf.data) == 100000);
	for (i = 0; i < 100000; i++)
		if (buf.data[i] != (char)('a' + i % 26))
			break;
	CU_ASSERT_EQUAL(i, 100000);
	CU_ASSERT_EQUAL(other.len, strlen(other.data));
	CU_ASSERT(all_bytes((unsigned char *)other.data, other.len, 'z'));

	/* Appending the buffer to itself survives the move. */
	bh_buf_init(&buf, pool);
	bh_buf_puts(&buf, "abc");
	for (i = 0; i < 12; i++)
		bh_buf_append(&buf, buf.data, buf.len);
	CU_ASSERT_EQUAL(buf.len, 3u << 12);
	CU_ASSERT(memcmp(buf.data + buf.len - 3, "abc", 4) == 0);
	bh_pool_free(pool);
}

static void
test_buf_printf(void)
{
	bh_pool *pool = bh_pool_new();
	bh_buf buf;
	char big[50000];
	int i;

	bh_buf_init(&buf, pool);
	bh_buf_printf(&buf, "%d-%s", 12, "ab");
	CU_ASSERT_STRING_EQUAL(buf.data, "12-ab");
	CU_ASSERT_EQUAL(buf.len, 5);
	bh_buf_puts(&buf, "|");
	bh_buf_printf(&buf, "%s", "");
	CU_ASSERT_STRING_EQUAL(buf.data, "12-ab|");
	/* Much longer than the room left: grows, formats once more. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bh_buf_printf(&buf, "[%s]", big);
	CU_ASSERT_EQUAL(buf.len, 6 + sizeof(big) + 1);
	CU_ASSERT(buf.data[6] == '[' && buf.data[buf.len - 1] == ']');
	CU_ASSERT(buf.data[buf.len] == '\0');
	bh_buf_init(&buf, pool);
	for (i = 0; i < 10000; i++)
		bh_buf_printf(&buf, "%d,", i % 10);
	CU_ASSERT_EQUAL(buf.len, 20000);
	CU_ASSERT(strncmp(buf.data, "0,1,2,", 6) == 0);
	CU_ASSERT(strcmp(buf.data + buf.len - 4, "8,9,") == 0);
	bh_pool_free(pool);
}

/* Exactly n bytes at p are addressable and the byte after them is not. */
static void
assert_exposed(const void *p, size_t n)
{
#ifdef TEST_ASAN
	CU_ASSERT(__asan_region_is_poisoned((void *)(uintptr_t)p, n) == NULL);
	CU_ASSERT(__asan_address_is_poisoned((const char *)p + n));
#else
	(void)p;
	(void)n;
#endif
}

/* Under ASan, the bytes past each allocation (padding, red zone, a
 * buffer's spare capacity) and everything after a reset are poisoned.
 * In every build: a reset hands the first chunk's memory out again, in
 * the same order and zero-filled. */
static void
test_poisoning(void)
{
	bh_pool *pool = bh_pool_new();
	size_t sizes[] = { 1, 5, 16, 32, 100, 1000, 6000 };
	unsigned char *first[7], *p;
	char *s, *old;
	bh_buf buf;
	size_t i;

	for (i = 0; i < 7; i++) {
		first[i] = bh_palloc(pool, sizes[i]);
		CU_ASSERT(all_bytes(first[i], sizes[i], 0));
		memset(first[i], 0xa5, sizes[i]);
		/* 16 and 32 have no alignment padding: the red zone. */
		assert_exposed(first[i], sizes[i]);
	}
	s = bh_psprintf(pool, "%s-%d", "hello", 42);
	CU_ASSERT_STRING_EQUAL(s, "hello-42");
	assert_exposed(s, 9);
	s = bh_pstrndup(pool, "abcdef", 3);
	assert_exposed(s, 4);

	/* A buffer grown in place: the extension up to the NUL becomes
	 * addressable, the capacity past it stays poisoned. */
	bh_buf_init(&buf, pool);
	assert_exposed(buf.data, 1);
	bh_buf_puts(&buf, "abc");
	assert_exposed(buf.data, 4);
	old = buf.data;
	for (i = 0; i < 10; i++)
		bh_buf_puts(&buf, "0123456789");
	CU_ASSERT(buf.data == old);
	CU_ASSERT(buf.cap > buf.len + 1);
	assert_exposed(buf.data, buf.len + 1);
#ifdef TEST_ASAN
	CU_ASSERT(__asan_address_is_poisoned(buf.data + buf.cap - 1));
#endif
	bh_buf_printf(&buf, "%d", 12345);
	CU_ASSERT(strcmp(buf.data + buf.len - 6, "912345") == 0);
	assert_exposed(buf.data, buf.len + 1);

	bh_pool_reset(pool);
#ifdef TEST_ASAN
	for (i = 0; i < 7; i++)
		CU_ASSERT(__asan_address_is_poisoned(first[i]));
	CU_ASSERT(__asan_address_is_poisoned(old));
	CU_ASSERT(__asan_address_is_poisoned(old + 10));
#endif
	for (i = 0; i < 7; i++) {
		p = bh_palloc(pool, sizes[i]);
		CU_ASSERT(all_bytes(p, sizes[i], 0));
		/* The 6000 bytes had a chunk of their own, freed. */
		if (sizes[i] < 6000)
			CU_ASSERT(p == first[i]);
		assert_exposed(p, sizes[i]);
	}
	bh_pool_free(pool);
}

static const CU_TestInfo pool_tests[] = {
	{ "alignment and zero fill", test_alignment_and_zero_fill },
	{ "growth past chunk size", test_growth_past_chunk },
	{ "huge allocations", test_huge_allocations },
	{ "size overflow aborts", test_size_overflow_aborts },
	{ "reset keeps working", test_reset_keeps_working },
	{ "strings", test_strings },
	{ "defer order", test_defer_order },
	{ "defer frees", test_defer_frees },
	{ "poisoning and reuse", test_poisoning },
	CU_TEST_INFO_NULL,
};

static const CU_TestInfo buf_tests[] = {
	{ "growth", test_buf_growth },
	{ "printf", test_buf_printf },
	CU_TEST_INFO_NULL,
};

int
bh_test_register(void)
{
	int rc;

	if ((rc = bh_test_add_suite("pool", pool_tests)) != CUE_SUCCESS)
		return rc;
	return bh_test_add_suite("buf", buf_tests);
}
