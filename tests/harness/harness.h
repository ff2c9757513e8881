/* harness.h - the one test harness of every suite: the case table and runner, checks, fail/skip, the watchdog, stderr capture and real-time helpers. */
#ifndef GLOOP_HARNESS_H
#define GLOOP_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* ---- Cases and the runner -------------------------------------------------
 *
 * A suite lists its cases once, as GLOOP_TEST(name) lines in a list file
 * (core/test-list.h is the model); CMake reads the same file through
 * gloop_add_listed_tests() and registers one ctest test per line. The
 * suite's runner is then harness/runner_main.h, which builds the case
 * table from the list and calls gloop_test_main():
 *
 *   #define GLOOP_TEST_LIST "core/test-list.h"
 *   #include "harness/runner_main.h"
 *
 * A case returns 0 when it passed and TEST_SKIP_CODE (or calls TEST_SKIP)
 * when it cannot run here; anything else, a failed check, a crash or the
 * watchdog makes it fail. Every suite reports the same way:
 *   exit 0   passed
 *   exit 1   failed (a check, a non-zero return, or the watchdog)
 *   exit 77  skipped (ctest's SKIP_RETURN_CODE)
 *   exit 2   usage error (no such case)
 * A failed check prints "<file>:<line>: FAIL in case <name> [<label>]: <what>"
 * on stderr; a hang prints "FAIL: case <name> [<label>] killed by the
 * watchdog after <n> s"; a crash is the signal it died of (ctest shows
 * it; the no-argument mode prints "not ok <n> - <name> (signal ...)"). */
typedef struct gloop_test_case {
  const char *name;
  int (*fn)(void);
} gloop_test_case;

#define GLOOP_TEST_DECLARE(name) int test_case_##name(void);
#define GLOOP_TEST_ENTRY(name) {#name, test_case_##name},
#define TEST_CASE(name) int test_case_##name(void)
#define GLOOP_TEST_MAIN(argc, argv, table)                                        \
  gloop_test_main((argc), (argv), (table), sizeof(table) / sizeof((table)[0]))

/* The exit codes above. */
#define TEST_SKIP_CODE 77
#define TEST_FAIL_CODE 1
#define TEST_USAGE_CODE 2

/* Seconds a case may run on a plain build before the watchdog ends it;
 * the time scale multiplies it and GLOOP_TEST_TIMEOUT sets it outright.
 * ctest's TIMEOUT is longer, so a hang is reported with the case's name. */
#define TEST_DEFAULT_CASE_TIMEOUT 30

/* The runner. No argument runs every case, each in a forked child under the
 * watchdog, with a TAP report; "--list" (or "list") prints the names; CASE
 * runs that case in this process. Words after CASE are the case's own
 * arguments (gloop_test_args()). */
int gloop_test_main(int argc, char **argv, const gloop_test_case *cases, size_t ncases);
/* The words given after the case's name, and their number. */
char **gloop_test_args(int *count);
/* The name of the case running in this process ("?" before one starts). */
const char *gloop_test_current(void);

/* ---- Failing and skipping -------------------------------------------------
 *
 * Failures print file:line, the case and its label, then end the process at
 * once with _exit(1) from whichever thread or task they run in: every case
 * runs in a process of its own, so nothing needs unwinding, and atexit
 * handlers or a leak check would only bury the message under noise. (Built
 * with GLOOP_HARNESS_FAIL_ABORTS, as in the libFuzzer target, a failure
 * calls abort() instead, so the fuzzer records the input.) */
#if defined(__GNUC__)
#define TEST_NORETURN __attribute__((noreturn))
#define TEST_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TEST_NORETURN
#define TEST_PRINTF(a, b)
#endif

TEST_NORETURN void test_fail_(const char *file, int line, const char *fmt, ...) TEST_PRINTF(3, 4);
TEST_NORETURN void test_skip_(const char *file, int line, const char *fmt, ...) TEST_PRINTF(3, 4);
#define TEST_FAIL(...) test_fail_(__FILE__, __LINE__, __VA_ARGS__)
#define TEST_SKIP(...) test_skip_(__FILE__, __LINE__, __VA_ARGS__)

/* A failure that lets the case go on, for long scenarios (the example
 * tests) where one run should report everything that is wrong. It prints
 * exactly what TEST_FAIL prints; when the case returns, the runner fails it
 * (exit 1) if any such failure was reported, whatever it returned. Any
 * thread may call it. */
void test_expect_fail_(const char *file, int line, const char *fmt, ...) TEST_PRINTF(3, 4);
#define TEST_EXPECT_FAIL(...) test_expect_fail_(__FILE__, __LINE__, __VA_ARGS__)
#define TEST_EXPECT_(c, ...)                                                    \
  do {                                                                          \
    if (!(c)) test_expect_fail_(__FILE__, __LINE__, __VA_ARGS__);               \
  } while (0)
/* How many failures test_expect_fail_() has reported in this process. */
int test_failed_checks(void);

/* What the case is doing right now (printf-style, at most 255 bytes), shown
 * by failures and by the watchdog. Only the case's main thread sets it. */
void test_label(const char *fmt, ...) TEST_PRINTF(1, 2);
const char *test_label_get(void);

/* Arms the watchdog for `seconds` of a plain build (scaled by
 * test_time_scale()); 0 disarms it. The runner arms it around each case;
 * a case arms it itself only for phases with a tighter limit. */
void test_watchdog(unsigned seconds);

/* ---- Checks ----------------------------------------------------------------
 *
 * One implementation behind every family of check macros (ASSERT_* in the
 * core and GLib suites, REL_CHECK_* in the reliability suite). Each prints
 * both operands and fails the case when `ok` is 0. */
void test_check_int_(const char *file, int line, const char *op, const char *ea, const char *eb,
                     long long a, long long b, int ok);
void test_check_uint_(const char *file, int line, const char *op, const char *ea, const char *eb,
                      unsigned long long a, unsigned long long b, int ok);
/* Library return codes, printed with their GLOOP_E* names. */
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
#define TEST_CHECK_(c, ...)                                                     \
  do {                                                                          \
    if (!(c)) test_fail_(__FILE__, __LINE__, __VA_ARGS__);                      \
  } while (0)
#define TEST_CHECK_ERR_(a, b)                                                   \
  test_check_err_(__FILE__, __LINE__, #a, #b, (int)(a), (int)(b))

/* ---- Capturing stderr -------------------------------------------------------
 *
 * test_capture_begin() sends what this process writes to stderr (fd 2,
 * whichever thread writes) into a temporary file, so that a case can check
 * what the code under test said; test_capture_end() puts stderr back, echoes
 * the captured text there (so the test's log still shows it) and returns it.
 * Meanwhile the harness's own reports (failures, skips, the watchdog) still go
 * to the real stderr, preceded by what was captured so far, so a case that
 * fails or hangs while capturing is reported like any other. Captures do not
 * nest. Call both from the case's main thread. */
void test_capture_begin(void);
/* Returns the text (NUL-terminated; cut at TEST_CAPTURE_MAX - 1 bytes),
 * valid until the next capture. */
const char *test_capture_end(void);
#define TEST_CAPTURE_MAX 65536

/* ---- The harness's own cases --------------------------------------------------
 *
 * Every runner also knows three cases of the harness itself, which show how
 * an outcome is reported: "harness_fail" fails a check (one that lets the
 * case go on, then one that ends it), "harness_hang" arms the watchdog for
 * 1 s (scaled) and blocks until it fires, "harness_crash" writes to an
 * unmapped address. They are not listed (--list) and not run by the no-argument
 * mode; tests/harness/outcomes.c runs them in every suite's runner and
 * checks that each suite reports them the same way. A suite whose cases run
 * inside something else (the example tests run theirs inside the example's
 * event loop) sets test_selftest_host to a function that runs `body` there;
 * the case then says so on stdout ("# harness_fail runs in the suite's
 * host"). */
extern void (*test_selftest_host)(void (*body)(void));

/* ---- Real time and the build ------------------------------------------------ */

/* The real monotonic time in seconds, for measuring how long something took. */
double test_real_now(void);
/* The factor every real-time limit is multiplied by (see time_scale.h; read
 * once, by the runner, before any case starts a thread). Durations a case
 * measures or waits out on purpose are not limits and are not scaled. */
double test_time_scale(void);
/* A real-time limit of `seconds` on a plain build, scaled for this one. */
double test_limit(double seconds);
/* Sleeps the calling thread for `seconds` of real time. */
void test_real_sleep(double seconds);
/* CPU time (user and system, all threads) this process has used, in seconds. */
double test_cpu_seconds(void);
/* Recurses `depth` levels, each keeping a 1 KiB frame alive across the call
 * (the compiler can neither drop the frames nor make a loop of it): about
 * depth KiB of stack. For cases that fill a task's stack or overflow it. */
int test_recurse(int depth);
/* Whether the program was built with AddressSanitizer or ThreadSanitizer. */
int test_under_asan(void);
int test_under_tsan(void);

/* A small deterministic PRNG (xorshift64*), for shuffles and random
 * operation mixes that repeat run to run. A seed of 0 picks a fixed one. */
typedef struct test_rng {
  uint64_t s;
} test_rng;
void test_rng_seed(test_rng *r, uint64_t seed);
uint32_t test_rng_next(test_rng *r);
/* Uniform enough in [0, n) for tests. n > 0. */
uint32_t test_rng_below(test_rng *r, uint32_t n);

#endif
