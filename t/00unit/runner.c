/*
 * runner.c - main() for every CUnit program under t/00unit.
 *
 * CU_basic_run_tests() returns success even when tests fail, so the exit
 * status comes from CU_get_number_of_failures() before the registry goes.
 */
#include <stdio.h>
#include <stdlib.h>

#include <CUnit/Basic.h>

#include "runner.h"

int
bh_test_add_suite(const char *name, const CU_TestInfo *tests)
{
	CU_pSuite suite = CU_add_suite(name, NULL, NULL);

	if (suite == NULL)
		return CU_get_error();
	for (; tests->pName != NULL; tests++)
		if (CU_add_test(suite, tests->pName, tests->pTestFunc) == NULL)
			return CU_get_error();
	return CUE_SUCCESS;
}

int
main(void)
{
	unsigned failures, run;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	if (bh_test_register() != CUE_SUCCESS) {
		fprintf(stderr, "registering tests: %s\n", CU_get_error_msg());
		CU_cleanup_registry();
		return 99;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	run = CU_get_number_of_tests_run();
	CU_cleanup_registry();
	if (run == 0) {
		fprintf(stderr, "no test ran\n");
		return 1;
	}
	return failures == 0 ? 0 : 1;
}
