/* qt_test.h - the Qt suite's spelling of the one harness (cases, checks that print both sides) and its helpers: the application and a counting allocator. */
#ifndef GLOOP_QT_TEST_H
#define GLOOP_QT_TEST_H

#include "guestloop/guestloop-qt.h"
#include "qt_support.h"

/* A case returns 0 on success; a failed check never returns: it prints
 * file:line with both operands and ends the process. The runner, the checks,
 * the skip and the watchdog are the one test harness's (tests/harness), as
 * in every other suite; these names are the Qt suite's spelling of them. */
#include "harness/harness.h"

#define QT_CASE(name) TEST_CASE(name)
#define qt_fail_ test_fail_
#define qt_skip_ test_skip_
#define QT_SKIP_CODE TEST_SKIP_CODE
#define QT_SKIP(...) TEST_SKIP(__VA_ARGS__)

#define CHECK(c)                                                                \
  do {                                                                          \
    if (!(c)) test_fail_(__FILE__, __LINE__, "CHECK(%s) failed", #c);           \
  } while (0)
#define CHECK_INT(a, op, b) TEST_INT_OP_(a, op, b)
#define CHECK_DBL(a, op, b) TEST_DBL_OP_(a, op, b)
/* Library codes, printed with their GLOOP_E* names. */
#define CHECK_ERR(a, b) test_check_err_(__FILE__, __LINE__, #a, #b, (int)(a), (int)(b))
#define CHECK_OK(a) CHECK_ERR(a, 0)
#define CHECK_CONTAINS(hay, needle)                                             \
  test_check_str_(__FILE__, __LINE__, #hay, #needle, (hay), (needle), 1)
#define CHECK_NOT_CONTAINS(hay, needle)                                         \
  do {                                                                          \
    const char *qt_h_ = (hay), *qt_n_ = (needle);                               \
    if (qt_h_ != NULL && strstr(qt_h_, qt_n_) != NULL)                          \
      test_fail_(__FILE__, __LINE__, "expected %s not to contain \"%s\"", #hay, \
                 qt_n_);                                                        \
  } while (0)

/* The application of the current case (one per process). */
extern gloop_qt_app *qt_app;
/* Creates qt_app (checking that it worked) and returns it. */
gloop_qt_app *qt_app_make(void);

/* Capturing stderr (test_capture_begin/end) and CPU time (test_cpu_seconds)
 * are the harness's. */

/* Fills *opts with defaults and an allocator that counts live blocks, so a
 * case can check that a run (even an abandoned one) left nothing behind. */
void qt_counting_options(gloop_options *opts);
long qt_live_allocs(void);

#endif
