/* runner_main.h - a suite's main(): its case table built from its list file, run by gloop_test_main(). */
/* Include it once, in the suite's runner, after defining GLOOP_TEST_LIST as
 * the quoted name of the list file, relative to tests/ (one GLOOP_TEST(name)
 * line per case):
 *
 *   #define GLOOP_TEST_LIST "core/test-list.h"
 *   #include "harness/runner_main.h"
 */
#ifndef GLOOP_TEST_LIST
#error "define GLOOP_TEST_LIST as the suite's list file before including runner_main.h"
#endif

#include "harness.h"

#define GLOOP_TEST(name) GLOOP_TEST_DECLARE(name)
#include GLOOP_TEST_LIST
#undef GLOOP_TEST

static const gloop_test_case gloop_test_cases_[] = {
#define GLOOP_TEST(name) GLOOP_TEST_ENTRY(name)
#include GLOOP_TEST_LIST
#undef GLOOP_TEST
};

int main(int argc, char **argv) { return GLOOP_TEST_MAIN(argc, argv, gloop_test_cases_); }
