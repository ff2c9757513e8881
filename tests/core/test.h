/* test.h - the core test harness: case declaration, typed assertions, skips and small helpers. */
#ifndef GLOOP_TEST_H
#define GLOOP_TEST_H

#include <math.h>
#include <stddef.h>

#include "guestloop/guestloop.h"

/* A case is a function returning 0 on success. Failing assertions never
 * return: they print both operands with file:line and end the process at
 * once with exit code 1, from whichever thread or task they run in. That is
 * safe because every case runs in a process of its own. */
#define TEST_CASE(name) int test_case_##name(void)
/* Two cases from one scenario(int guest): name_standalone runs it with 0
 * (gloop_run), name_guest with 1 (a guest run on the toy host). */
#define BOTH_MODES(name, scenario)                                              \
  TEST_CASE(name##_standalone) { return scenario(0); }                          \
  TEST_CASE(name##_guest) { return scenario(1); }

/* The exit code ctest is told to treat as "skipped". */
#define TEST_SKIP_CODE 77

#if defined(__GNUC__)
#define TEST_NORETURN __attribute__((noreturn))
#define TEST_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TEST_NORETURN
#define TEST_PRINTF(a, b)
#endif

TEST_NORETURN void test_fail_(const char *file, int line, const char *fmt, ...) TEST_PRINTF(3, 4);
TEST_NORETURN void test_skip_(const char *file, int line, const char *fmt, ...) TEST_PRINTF(3, 4);
void test_check_int_(const char *file, int line, const char *op, const char *ea, const char *eb,
                     long long a, long long b, int ok);
void test_check_uint_(const char *file, int line, const char *op, const char *ea, const char *eb,
                      unsigned long long a, unsigned long long b, int ok);
void test_check_err_(const char *file, int line, const char *ea, const char *eb, int a, int b);
void test_check_dbl_(const char *file, int line, const char *op, const char *ea, const char *eb,
                     double a, double b, int ok);
void test_check_near_(const char *file, int line, const char *ea, const char *eb, double a,
                      double b, double eps);
void test_check_str_(const char *file, int line, const char *ea, const char *eb, const char *a,
                     const char *b, int want_contains);
void test_check_ptr_(const char *file, int line, const char *op, const char *ea, const char *eb,
                     const void *a, const void *b, int ok);
void test_check_null_(const char *file, int line, const char *ea, const void *a, int want_null);

#define TEST_FAIL(...) test_fail_(__FILE__, __LINE__, __VA_ARGS__)
#define TEST_SKIP(...) test_skip_(__FILE__, __LINE__, __VA_ARGS__)

/* Every operand is evaluated exactly once. */
#define TEST_INT_OP_(a, op, b)                                                  \
  do {                                                                          \
    long long test_a_ = (long long)(a), test_b_ = (long long)(b);               \
    test_check_int_(__FILE__, __LINE__, #op, #a, #b, test_a_, test_b_,          \
                    test_a_ op test_b_);                                        \
  } while (0)
#define TEST_UINT_OP_(a, op, b)                                                 \
  do {                                                                          \
    unsigned long long test_a_ = (unsigned long long)(a);                       \
    unsigned long long test_b_ = (unsigned long long)(b);                       \
    test_check_uint_(__FILE__, __LINE__, #op, #a, #b, test_a_, test_b_,         \
                     test_a_ op test_b_);                                       \
  } while (0)
#define TEST_DBL_OP_(a, op, b)                                                  \
  do {                                                                          \
    double test_a_ = (double)(a), test_b_ = (double)(b);                        \
    test_check_dbl_(__FILE__, __LINE__, #op, #a, #b, test_a_, test_b_,          \
                    test_a_ op test_b_);                                        \
  } while (0)
#define TEST_PTR_OP_(a, op, b)                                                  \
  do {                                                                          \
    const void *test_a_ = (const void *)(a), *test_b_ = (const void *)(b);      \
    test_check_ptr_(__FILE__, __LINE__, #op, #a, #b, test_a_, test_b_,          \
                    test_a_ op test_b_);                                        \
  } while (0)

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
#define ASSERT_NAN(a)                                                           \
  do {                                                                          \
    double test_a_ = (double)(a);                                               \
    if (!isnan(test_a_))                                                        \
      test_fail_(__FILE__, __LINE__, "ASSERT_NAN(%s) failed: value %.17g", #a,  \
                 test_a_);                                                      \
  } while (0)
#define ASSERT_FINITE(a)                                                        \
  do {                                                                          \
    double test_a_ = (double)(a);                                               \
    if (!isfinite(test_a_))                                                     \
      test_fail_(__FILE__, __LINE__, "ASSERT_FINITE(%s) failed: value %g", #a,  \
                 test_a_);                                                      \
  } while (0)
/* Library return codes: prints both sides with their GLOOP_E* names. */
#define ASSERT_ERR(a, b) test_check_err_(__FILE__, __LINE__, #a, #b, (int)(a), (int)(b))
#define ASSERT_OK(a) test_check_err_(__FILE__, __LINE__, #a, "0", (int)(a), 0)
#define ASSERT_EQ_STR(a, b) test_check_str_(__FILE__, __LINE__, #a, #b, (a), (b), 0)
/* Passes when the string a contains the string b. */
#define ASSERT_STR_CONTAINS(a, b) test_check_str_(__FILE__, __LINE__, #a, #b, (a), (b), 1)

/* The real monotonic time in seconds, for measuring how long something took. */
double test_real_now(void);
/* The factor every real-time limit of the suite is multiplied by: the
 * environment's GLOOP_TEST_TIME_SCALE when it holds a number >= 1, else the
 * build's default (1 for plain builds, more under sanitizers; see
 * tests/CMakeLists.txt). Durations that a case measures or waits out on
 * purpose are not limits and are not scaled. */
double test_time_scale(void);
/* A real-time limit of `seconds` on a plain build, scaled for this one. */
double test_limit(double seconds);
/* `full` on a plain build; `slow` when the time scale is above 1 (sanitizers,
 * valgrind, emulation), for cases whose size, not their logic, makes them
 * slow there. Prints which count the case uses, so a log says so. */
int test_count(int full, int slow);
/* Sleeps the calling thread for `seconds` of real time (tests keep it short). */
void test_real_sleep(double seconds);
/* Whether the test binary was built with AddressSanitizer. */
int test_under_asan(void);

/* Fills *opts with defaults plus a new mock clock reading `start` with the
 * given autojump threshold (0 = jump as soon as the run is idle, INFINITY =
 * never). The caller frees the clock after the run. */
gloop_clock *test_mock_options(gloop_options *opts, double start, double autojump);
/* Runs entry(arg) as a guest run on the toy host until done, checks that
 * done_cb ran exactly once on the host thread with a message, and returns
 * the outcome's status. */
int test_guest_run(gloop_task_fn entry, void *arg, const gloop_options *opts,
                   int use_not_threadsafe);

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
