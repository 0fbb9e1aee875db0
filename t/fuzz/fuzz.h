/*
 * fuzz.h - what the libFuzzer targets share: the settings and the pool a
 * run uses, the assertion that turns a broken invariant into a crash
 * libFuzzer records, and the checks every serialised response must pass.
 */
#ifndef BH_FUZZ_H
#define BH_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* The base path the targets' service is mounted under. */
#define FZ_BASE_PATH "/fz"

/* A broken invariant: says which and where, then aborts, so that
 * libFuzzer saves the input as a crash reproducer. */
#define FZ_ASSERT(cond, ...) do {					\
	if (!(cond))							\
		fz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);	\
} while (0)

void fz_fail(const char *file, int line, const char *cond,
	     const char *fmt, ...) __attribute__((noreturn))
	     BH_PRINTF(4, 5);

/* Sets bh_cfg as a service's start would (once per process). */
void fz_setup(void);

/* A zeroed request on the run's pool, which is reset first: every run
 * starts with an empty pool, as every request does in a worker. */
void fz_request_new(bh_request *req);

/* The pool of the current run (valid until the next fz_request_new). */
bh_pool *fz_pool(void);

/* Parses text[0..len) as one strict JSON text, UTF-8 checked.  Returns a
 * new reference the caller puts, or NULL. */
json_object *fz_json_parse(const char *text, size_t len);

/* Checks that a JSON value holds only valid UTF-8 strings without NUL,
 * and returns its nesting depth (arrays and objects). */
int fz_json_check_tree(json_object *obj);

/* Serialises req's response and checks it: the status is one of the
 * statuses allowed by the caller (a NULL-free, 0-terminated list, or any
 * 2xx/4xx when allowed is NULL), the header block is well formed, the
 * Content-Length matches the body, the request id is echoed, and a
 * problem or JSON body parses as such (a problem's status and type
 * included).  Returns the body of the response as parsed JSON (a new
 * reference), or NULL when it is not JSON. */
json_object *fz_check_response(bh_request *req, const int *allowed);

#endif
