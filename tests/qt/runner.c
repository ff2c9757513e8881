/* runner.c - the gloop_qt_tests program: the Qt cases on the one test harness, and the Qt suite's helpers (application, counting allocator). */
#include <stdatomic.h>
#include <stdlib.h>

#include "qt_test.h"

gloop_qt_app *qt_app;

/* ---- Helpers ------------------------------------------------------------- */

static int app_argc = 1;
static char app_arg0[] = "gloop_qt_tests";
static char *app_argv[] = {app_arg0, NULL};

gloop_qt_app *qt_app_make(void) {
  gloop_qt_app *app = NULL;
  CHECK_OK(gloop_qt_app_new(&app_argc, app_argv, &app));
  CHECK(app != NULL);
  qt_app = app;
  return app;
}

/* The run's allocator may be called from its helper thread too. */
static atomic_long live_allocs;

static void *counting_realloc(void *ud, void *ptr, size_t size) {
  (void)ud;
  if (size == 0) {
    if (ptr != NULL) atomic_fetch_sub(&live_allocs, 1);
    free(ptr);
    return NULL;
  }
  void *p = realloc(ptr, size);
  if (p != NULL && ptr == NULL) atomic_fetch_add(&live_allocs, 1);
  return p;
}

void qt_counting_options(gloop_options *opts) {
  gloop_options_init(opts);
  opts->realloc_fn = counting_realloc;
  opts->realloc_ud = NULL;
}

long qt_live_allocs(void) { return atomic_load(&live_allocs); }

/* ---- Main ---------------------------------------------------------------- */

/* The case table, from qt-list.h, run by the harness: a case name runs that
 * case in this process under the watchdog, no argument runs them all, each
 * in a child process, --list names them. */
#define QT_TEST(name) GLOOP_TEST(name)
#define GLOOP_TEST_LIST "qt/qt-list.h"
#include "harness/runner_main.h"
