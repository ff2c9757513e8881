/* qt_test.h - the Qt test harness: case declaration, checks that print both sides, stderr capture and a counting allocator. */
#ifndef GLOOP_QT_TEST_H
#define GLOOP_QT_TEST_H

#include "guestloop/guestloop-qt.h"
#include "qt_support.h"

/* A case returns 0 on success; a failed check never returns: it prints
 * file:line with both operands and ends the process (each case runs in a
 * process of its own, started by ctest). */
#define QT_CASE(name) int qt_case_##name(void)

#if defined(__GNUC__)
#define QT_NORETURN __attribute__((noreturn))
#define QT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define QT_NORETURN
#define QT_PRINTF(a, b)
#endif

QT_NORETURN void qt_fail_(const char *file, int line, const char *fmt, ...) QT_PRINTF(3, 4);
/* Ends the case as skipped (exit code QT_SKIP_CODE, which ctest is told
 * about), for a measurement the machine cannot make right now. */
QT_NORETURN void qt_skip_(const char *file, int line, const char *fmt, ...) QT_PRINTF(3, 4);
#define QT_SKIP_CODE 77
#define QT_SKIP(...) qt_skip_(__FILE__, __LINE__, __VA_ARGS__)

#define CHECK(c)                                                                \
  do {                                                                          \
    if (!(c)) qt_fail_(__FILE__, __LINE__, "CHECK(%s) failed", #c);             \
  } while (0)
#define CHECK_INT(a, op, b)                                                     \
  do {                                                                          \
    long long qt_a_ = (long long)(a), qt_b_ = (long long)(b);                   \
    if (!(qt_a_ op qt_b_))                                                      \
      qt_fail_(__FILE__, __LINE__, "expected %s %s %s, got %lld vs %lld", #a,   \
               #op, #b, qt_a_, qt_b_);                                          \
  } while (0)
#define CHECK_DBL(a, op, b)                                                     \
  do {                                                                          \
    double qt_a_ = (double)(a), qt_b_ = (double)(b);                            \
    if (!(qt_a_ op qt_b_))                                                      \
      qt_fail_(__FILE__, __LINE__, "expected %s %s %s, got %g vs %g", #a, #op,  \
               #b, qt_a_, qt_b_);                                               \
  } while (0)
/* Library codes, printed with their GLOOP_E* names. */
#define CHECK_ERR(a, b)                                                         \
  do {                                                                          \
    int qt_a_ = (int)(a), qt_b_ = (int)(b);                                     \
    if (qt_a_ != qt_b_)                                                         \
      qt_fail_(__FILE__, __LINE__, "expected %s == %s, got %d (%s) vs %d (%s)", \
               #a, #b, qt_a_, gloop_err_name(qt_a_), qt_b_,                     \
               gloop_err_name(qt_b_));                                          \
  } while (0)
#define CHECK_OK(a) CHECK_ERR(a, 0)
#define CHECK_CONTAINS(hay, needle)                                             \
  do {                                                                          \
    const char *qt_h_ = (hay), *qt_n_ = (needle);                               \
    if (qt_h_ == NULL || strstr(qt_h_, qt_n_) == NULL)                          \
      qt_fail_(__FILE__, __LINE__, "expected %s to contain \"%s\", got \"%s\"",  \
               #hay, qt_n_, qt_h_ ? qt_h_ : "(null)");                          \
  } while (0)
#define CHECK_NOT_CONTAINS(hay, needle)                                         \
  do {                                                                          \
    const char *qt_h_ = (hay), *qt_n_ = (needle);                               \
    if (qt_h_ != NULL && strstr(qt_h_, qt_n_) != NULL)                          \
      qt_fail_(__FILE__, __LINE__, "expected %s not to contain \"%s\"", #hay,   \
               qt_n_);                                                          \
  } while (0)

/* The application of the current case (one per process). */
extern gloop_qt_app *qt_app;
/* Creates qt_app (checking that it worked) and returns it. */
gloop_qt_app *qt_app_make(void);

/* Redirects stderr into a temporary file until qt_capture_end(), which
 * restores it, echoes what was captured (so ctest logs still show it) and
 * returns it as a string valid until the next capture. */
void qt_capture_begin(void);
const char *qt_capture_end(void);

/* Fills *opts with defaults and an allocator that counts live blocks, so a
 * case can check that a run (even an abandoned one) left nothing behind. */
void qt_counting_options(gloop_options *opts);
long qt_live_allocs(void);

/* CPU time (user + system, all threads) of this process, in seconds. */
double qt_cpu_seconds(void);

#endif
