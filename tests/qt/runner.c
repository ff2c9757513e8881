/* runner.c - the gloop_qt_tests program: runs one named Qt case under a watchdog, or lists the cases. */
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "harness/time_scale.h"
#include "qt_test.h"

#define QT_TEST(name) int qt_case_##name(void);
#include "qt-list.h"
#undef QT_TEST

typedef struct qt_entry {
  const char *name;
  int (*fn)(void);
} qt_entry;

static const qt_entry cases[] = {
#define QT_TEST(name) {#name, qt_case_##name},
#include "qt-list.h"
#undef QT_TEST
};
#define NCASES (sizeof cases / sizeof cases[0])

/* Seconds a case may run on a plain build before the watchdog aborts it; the
 * suite's time scale multiplies it. Shorter than ctest's TIMEOUT so that a
 * hang is reported here, with the case's name. GLOOP_TEST_TIMEOUT sets it
 * outright. */
#define DEFAULT_CASE_TIMEOUT 30

static const char *current_case = "?";
static char watchdog_message[256];

gloop_qt_app *qt_app;

/* ---- Failures and the watchdog ------------------------------------------- */

/* _exit(), not exit(): a failing check may run on a task's stack or inside a
 * Qt callback, where static destructors and Qt's own teardown would only add
 * noise after the real message. */
void qt_fail_(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "%s:%d: FAIL in case %s: ", file, line, current_case);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  _exit(1);
}

void qt_skip_(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "%s:%d: SKIP case %s: ", file, line, current_case);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  _exit(QT_SKIP_CODE);
}

static void watchdog_fired(int sig) {
  (void)sig;
  /* Only async-signal-safe calls here: the message was formatted before. */
  ssize_t w = write(STDERR_FILENO, watchdog_message, strlen(watchdog_message));
  (void)w;
  abort();
}

static void watchdog_arm(void) {
  int seconds = (int)(DEFAULT_CASE_TIMEOUT * gloop_test_time_scale_read());
  const char *env = getenv("GLOOP_TEST_TIMEOUT");
  if (env != NULL && atoi(env) > 0) seconds = atoi(env);
  snprintf(watchdog_message, sizeof watchdog_message,
           "watchdog: case %s still running after %d s; aborting\n", current_case, seconds);
  signal(SIGALRM, watchdog_fired);
  alarm((unsigned)seconds);
}

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

static FILE *capture_file;
static int saved_stderr = -1;
static char capture_text[16384];

void qt_capture_begin(void) {
  CHECK(capture_file == NULL);
  fflush(stderr);
  capture_file = tmpfile();
  CHECK(capture_file != NULL);
  saved_stderr = dup(STDERR_FILENO);
  CHECK(saved_stderr >= 0);
  CHECK(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

const char *qt_capture_end(void) {
  CHECK(capture_file != NULL);
  fflush(stderr);
  CHECK(dup2(saved_stderr, STDERR_FILENO) >= 0);
  close(saved_stderr);
  saved_stderr = -1;
  rewind(capture_file);
  size_t n = fread(capture_text, 1, sizeof capture_text - 1, capture_file);
  capture_text[n] = '\0';
  fclose(capture_file);
  capture_file = NULL;
  fputs(capture_text, stderr);
  return capture_text;
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

double qt_cpu_seconds(void) {
  struct rusage ru;
  CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* ---- Main ---------------------------------------------------------------- */

int main(int argc, char **argv) {
  if (argc != 2 || strcmp(argv[1], "--list") == 0) {
    if (argc != 2) fprintf(stderr, "usage: %s CASE | --list\n", argv[0]);
    for (size_t i = 0; i < NCASES; i++) printf("%s\n", cases[i].name);
    return argc == 2 ? 0 : 2;
  }
  for (size_t i = 0; i < NCASES; i++) {
    if (strcmp(argv[1], cases[i].name) != 0) continue;
    current_case = cases[i].name;
    watchdog_arm();
    int rc = cases[i].fn();
    if (rc != 0) {
      fprintf(stderr, "FAIL: case %s returned %d\n", current_case, rc);
      return 1;
    }
    printf("ok %s\n", current_case);
    return 0;
  }
  fprintf(stderr, "unknown case: %s\n", argv[1]);
  return 2;
}
