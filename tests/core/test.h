/* test.h - the core suite's assertion names over the one harness, plus its helpers: order logs, mock-clock options, a one-call guest run. */
#ifndef GLOOP_TEST_H
#define GLOOP_TEST_H

#include <math.h>
#include <stddef.h>

#include "guestloop/guestloop.h"
#include "harness/harness.h"

/* A case is a function returning 0 on success (see harness/harness.h for
 * TEST_CASE, the checks and the runner). Failing assertions never return:
 * they print both operands with file:line and end the process at once. */
/* Two cases from one scenario(int guest): name_standalone runs it with 0
 * (gloop_run), name_guest with 1 (a guest run on the toy host). */
#define BOTH_MODES(name, scenario)                                              \
  TEST_CASE(name##_standalone) { return scenario(0); }                          \
  TEST_CASE(name##_guest) { return scenario(1); }

#define ASSERT_EQ_INT(a, b) TEST_INT_OP_(a, ==, b)
#define ASSERT_NE_INT(a, b) TEST_INT_OP_(a, !=, b)
#define ASSERT_LT_INT(a, b) TEST_INT_OP_(a, <, b)
#define ASSERT_LE_INT(a, b) TEST_INT_OP_(a, <=, b)
#define ASSERT_GT_INT(a, b) TEST_INT_OP_(a, >, b)
#define ASSERT_GE_INT(a, b) TEST_INT_OP_(a, >=, b)
#define ASSERT_EQ_UINT(a, b) TEST_UINT_OP_(a, ==, b)
#define ASSERT_LE_UINT(a, b) TEST_UINT_OP_(a, <=, b)
#define ASSERT_GE_UINT(a, b) TEST_UINT_OP_(a, >=, b)
#define ASSERT_LT_DBL(a, b) TEST_DBL_OP_(a, <, b)
#define ASSERT_LE_DBL(a, b) TEST_DBL_OP_(a, <=, b)
#define ASSERT_GE_DBL(a, b) TEST_DBL_OP_(a, >=, b)
#define ASSERT_GT_DBL(a, b) TEST_DBL_OP_(a, >, b)
#define ASSERT_NEAR(a, b, eps)                                                  \
  test_check_near_(__FILE__, __LINE__, #a, #b, (double)(a), (double)(b), (double)(eps))
#define ASSERT_EQ_PTR(a, b) TEST_PTR_OP_(a, ==, b)
#define ASSERT_NE_PTR(a, b) TEST_PTR_OP_(a, !=, b)
#define ASSERT_NULL(a) test_check_null_(__FILE__, __LINE__, #a, (const void *)(a), 1)
#define ASSERT_NOT_NULL(a) test_check_null_(__FILE__, __LINE__, #a, (const void *)(a), 0)
#define ASSERT_TRUE(c)                                                          \
  do {                                                                          \
    if (!(c)) test_fail_(__FILE__, __LINE__, "ASSERT_TRUE(%s) failed", #c);     \
  } while (0)
#define ASSERT_FALSE(c)                                                         \
  do {                                                                          \
    if (c) test_fail_(__FILE__, __LINE__, "ASSERT_FALSE(%s) failed", #c);       \
  } while (0)
/* A floating-point class check: isnan or isfinite of the value. */
#define TEST_DBL_IS_(a, cls)                                                    \
  do {                                                                          \
    double test_a_ = (double)(a);                                               \
    if (!cls(test_a_))                                                          \
      test_fail_(__FILE__, __LINE__, "expected %s(%s), got %.17g", #cls, #a,    \
                 test_a_);                                                      \
  } while (0)
#define ASSERT_NAN(a) TEST_DBL_IS_(a, isnan)
#define ASSERT_FINITE(a) TEST_DBL_IS_(a, isfinite)
/* Library return codes: prints both sides with their GLOOP_E* names. */
#define ASSERT_ERR(a, b) TEST_CHECK_ERR_(a, b)
#define ASSERT_OK(a) TEST_CHECK_ERR_(a, 0)
#define ASSERT_EQ_STR(a, b) test_check_str_(__FILE__, __LINE__, #a, #b, (a), (b), 0)
/* Passes when the string a contains the string b. */
#define ASSERT_STR_CONTAINS(a, b) test_check_str_(__FILE__, __LINE__, #a, #b, (a), (b), 1)

/* `full` on a plain build; `slow` when the time scale is above 1 (sanitizers,
 * valgrind, emulation), for cases whose size, not their logic, makes them
 * slow there. Prints which count the case uses, so a log says so. */
int test_count(int full, int slow);

/* Fills *opts with defaults plus a new mock clock reading `start` with the
 * given autojump threshold (0 = jump as soon as the run is idle, INFINITY =
 * never). The caller frees the clock after the run. */
gloop_clock *test_mock_options(gloop_options *opts, double start, double autojump);
/* Runs entry(arg) as a guest run on the toy host until done, checks that
 * done_cb ran exactly once on the host thread with a message, and returns
 * the outcome's status. */
int test_guest_run(gloop_task_fn entry, void *arg, const gloop_options *opts,
                   int use_not_threadsafe);
/* Runs entry(arg) in one of the two modes of a BOTH_MODES scenario: guest 0
 * with gloop_run() on the calling thread, 1 as a guest of the toy host with
 * a not-threadsafe post (test_guest_run()), so the toy's thread-affinity
 * checks stay armed. Returns the run's status. */
int test_run_mode(int guest, gloop_task_fn entry, void *arg, const gloop_options *opts);
/* Records the calling thread as the one that runs the loop (test_run_mode()
 * does it; scenarios that start their run themselves call it first), and
 * tells whether the calling thread is that one. */
void test_mark_loop_thread(void);
int test_on_loop_thread(void);

/* An append-only log of small integers, for checking the order in which tasks
 * and callbacks ran. Fixed capacity; overflowing it fails the test. */
#define TEST_LOG_CAP 64
typedef struct test_log {
  int items[TEST_LOG_CAP];
  int len;
} test_log;
void test_log_add(test_log *log, int v);
/* Fails unless the log holds exactly the n values in `want`. */
void test_log_expect_(const char *file, int line, const char *what, const test_log *log,
                      const int *want, int n);
#define ASSERT_LOG(log, ...)                                                    \
  do {                                                                          \
    static const int test_want_[] = {__VA_ARGS__};                              \
    test_log_expect_(__FILE__, __LINE__, #log, (log), test_want_,               \
                     (int)(sizeof test_want_ / sizeof test_want_[0]));          \
  } while (0)

#endif
