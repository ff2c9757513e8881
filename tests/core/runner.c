/* runner.c - the gloop_tests program: the core cases of test-list.h under the one harness's runner. */
#define GLOOP_TEST_LIST "core/test-list.h"
#include "harness/runner_main.h"
