/*
 * runner.h - the shared main() of the CUnit test programs.
 *
 * Each test program defines bh_test_register(), which adds its suites to
 * the registry; the runner runs them and exits non-zero on any failure.
 */
#ifndef BH_TEST_RUNNER_H
#define BH_TEST_RUNNER_H

#include <CUnit/CUnit.h>

/* Adds the program's suites; returns 0 or a CUnit error code. */
int bh_test_register(void);

/* Adds a suite named name with the NULL-terminated tests, no fixtures. */
int bh_test_add_suite(const char *name, const CU_TestInfo *tests);

#endif
