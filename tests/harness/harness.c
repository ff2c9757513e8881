/* harness.c - the C suites' runner (one case, the list, or all of them forked, in TAP form), their checks, failures, watchdog, stderr capture, the harness's own outcome cases and real-time helpers. */
#include "harness.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guestloop/guestloop.h"
#include "time_scale.h"

static const char *current_case = "?";
static char label[256];
static char **case_args;
static int case_nargs;

const char *gloop_test_current(void) { return current_case; }

char **gloop_test_args(int *count) {
  if (count) *count = case_nargs;
  return case_args;
}

void test_label(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(label, sizeof label, fmt, ap);
  va_end(ap);
}

const char *test_label_get(void) { return label; }

/* ---- Failure reporting -------------------------------------------------- */

/* Where the harness's own reports go: stderr, or while a capture lasts the
 * real stderr saved by test_capture_begin(). The watchdog reads both. */
static volatile int report_fd = STDERR_FILENO;
static volatile int capture_fd = -1;
static atomic_int failed_checks;

static void write_all(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

static void write_report(const char *s) { write_all(report_fd, s, strlen(s)); }

/* How much of the running capture has been shown on the real stderr. */
static volatile off_t capture_shown;

/* Copies what a running capture holds, and has not shown yet, to the real
 * stderr, so that a failure shows what the code under test said before it.
 * Only async-signal-safe calls: the watchdog uses it too. */
static void dump_capture(void) {
  char buf[4096];
  off_t at = capture_shown;
  ssize_t n;
  if (capture_fd < 0) return;
  if ((n = pread(capture_fd, buf, sizeof buf, at)) <= 0) return;
  write_report("--- captured stderr ---\n");
  do {
    write_all(report_fd, buf, (size_t)n);
    at += n;
  } while ((n = pread(capture_fd, buf, sizeof buf, at)) > 0);
  write_report("--- end of captured stderr ---\n");
  capture_shown = at;
}

/* Prints "<file>:<line>: <what> in case <name> [<label>]: <message>" as one
 * write, so that reports from two threads do not interleave. */
static void report(const char *file, int line, const char *what, const char *fmt, va_list ap) {
  char msg[2048];
  int n;
  fflush(stdout);
  fflush(stderr);
  dump_capture();
  n = snprintf(msg, sizeof msg, "%s:%d: %s", file, line, what);
  /* Outside a runner (the libFuzzer target) there is no case to name. */
  if (strcmp(current_case, "?") != 0 && n < (int)sizeof msg)
    n += snprintf(msg + n, sizeof msg - (size_t)n, " in case %s", current_case);
  if (label[0] != '\0' && n < (int)sizeof msg)
    n += snprintf(msg + n, sizeof msg - (size_t)n, " [%s]", label);
  if (n < (int)sizeof msg) n += snprintf(msg + n, sizeof msg - (size_t)n, ": ");
  if (n < (int)sizeof msg) n += vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
  if (n >= (int)sizeof msg - 1) n = (int)sizeof msg - 2;
  msg[n] = '\n';
  msg[n + 1] = '\0';
  write_report(msg);
}

TEST_NORETURN static void report_and_exit(const char *file, int line, const char *what, int code,
                                          const char *fmt, va_list ap) {
  report(file, line, what, fmt, ap);
#ifdef GLOOP_HARNESS_FAIL_ABORTS
  /* Under libFuzzer a failure must be a crash, so that the input is kept. */
  if (code == TEST_FAIL_CODE) abort();
#endif
  _exit(code);
}

void test_fail_(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report_and_exit(file, line, "FAIL", TEST_FAIL_CODE, fmt, ap);
}

void test_skip_(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report_and_exit(file, line, "SKIP", TEST_SKIP_CODE, fmt, ap);
}

void test_expect_fail_(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(file, line, "FAIL", fmt, ap);
  va_end(ap);
  atomic_fetch_add(&failed_checks, 1);
}

int test_failed_checks(void) { return atomic_load(&failed_checks); }

void test_check_int_(const char *file, int line, const char *op, const char *ea, const char *eb,
                     long long a, long long b, int ok) {
  if (!ok) test_fail_(file, line, "expected %s %s %s, got %lld vs %lld", ea, op, eb, a, b);
}

void test_check_uint_(const char *file, int line, const char *op, const char *ea,
                      const char *eb, unsigned long long a, unsigned long long b, int ok) {
  if (!ok) test_fail_(file, line, "expected %s %s %s, got %llu vs %llu", ea, op, eb, a, b);
}

void test_check_err_(const char *file, int line, const char *ea, const char *eb, int a, int b) {
  if (a != b)
    test_fail_(file, line, "expected %s == %s, got %d (%s: %s) vs %d (%s)", ea, eb, a,
               gloop_err_name(a), gloop_strerror(a), b, gloop_err_name(b));
}

void test_check_dbl_(const char *file, int line, const char *op, const char *ea, const char *eb,
                     double a, double b, int ok) {
  if (!ok) test_fail_(file, line, "expected %s %s %s, got %.9g vs %.9g", ea, op, eb, a, b);
}

void test_check_near_(const char *file, int line, const char *ea, const char *eb, double a,
                      double b, double eps) {
  /* Written so that a NaN on either side fails. */
  if (!(fabs(a - b) <= eps))
    test_fail_(file, line, "expected %s == %s within %g, got %.9g vs %.9g", ea, eb, eps, a, b);
}

void test_check_str_(const char *file, int line, const char *ea, const char *eb, const char *a,
                     const char *b, int want_contains) {
  int ok;
  if (a == NULL || b == NULL)
    ok = 0;
  else if (want_contains)
    ok = strstr(a, b) != NULL;
  else
    ok = strcmp(a, b) == 0;
  if (!ok)
    test_fail_(file, line, "expected %s %s %s, got \"%s\" vs \"%s\"", ea,
               want_contains ? "to contain" : "==", eb, a ? a : "(null)", b ? b : "(null)");
}

void test_check_ptr_(const char *file, int line, const char *op, const char *ea, const char *eb,
                     const void *a, const void *b, int ok) {
  if (!ok) test_fail_(file, line, "expected %s %s %s, got %p vs %p", ea, op, eb, a, b);
}

void test_check_null_(const char *file, int line, const char *ea, const void *a, int want_null) {
  if ((a == NULL) != want_null)
    test_fail_(file, line, "expected %s %s NULL, got %p", ea, want_null ? "==" : "!=", a);
}

/* ---- The watchdog ------------------------------------------------------- */

static unsigned watchdog_seconds;

/* Only async-signal-safe calls here: the case may be stuck anywhere. The
 * label may be torn if the case is rewriting it at that instant; it is
 * still NUL-terminated because its last byte is never written. */
static void on_alarm(int sig) {
  char num[16];
  unsigned v = watchdog_seconds;
  size_t i = sizeof num - 1;
  (void)sig;
  num[i] = '\0';
  do {
    num[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0 && i > 0);
  write_report("\n");
  dump_capture();
  write_report("FAIL: case ");
  write_report(current_case);
  if (label[0] != '\0') {
    write_report(" [");
    write_report(label);
    write_report("]");
  }
  write_report(" killed by the watchdog after ");
  write_report(num + i);
  write_report(" s\n");
  _exit(TEST_FAIL_CODE);
}

static unsigned scaled_seconds(unsigned seconds) {
  double s = test_limit((double)seconds);
  return s >= 1e6 ? 1000000u : (unsigned)s;
}

void test_watchdog(unsigned seconds) {
  static int installed;
  if (!installed) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    installed = 1;
  }
  watchdog_seconds = seconds == 0 ? 0 : scaled_seconds(seconds);
  alarm(watchdog_seconds);
}

/* The runner's per-case limit: GLOOP_TEST_TIMEOUT (seconds, not scaled) or
 * the default scaled by the build's factor. */
static unsigned case_timeout(void) {
  const char *env = getenv("GLOOP_TEST_TIMEOUT");
  if (env && *env) {
    char *end = NULL;
    unsigned long v = strtoul(env, &end, 10);
    if (*end == '\0' && v > 0 && v < 100000) return (unsigned)v;
  }
  return scaled_seconds(TEST_DEFAULT_CASE_TIMEOUT);
}

/* ---- Running cases ------------------------------------------------------ */

/* Runs one case in this process and returns its exit code. */
static int run_case(const gloop_test_case *c) {
  current_case = c->name;
  test_watchdog(0); /* installs the handler */
  watchdog_seconds = case_timeout();
  alarm(watchdog_seconds);
  int rc = c->fn();
  alarm(0);
  int failed = test_failed_checks();
  if (failed > 0) {
    fprintf(stderr, "FAIL: case %s: %d check%s failed\n", c->name, failed, failed == 1 ? "" : "s");
    return TEST_FAIL_CODE;
  }
  if (rc == TEST_SKIP_CODE) return TEST_SKIP_CODE;
  if (rc != 0) {
    fprintf(stderr, "FAIL: case %s returned %d\n", c->name, rc);
    return TEST_FAIL_CODE;
  }
  return 0;
}

/* ---- The harness's own cases -------------------------------------------- */

void (*test_selftest_host)(void (*body)(void));

/* Both kinds of failure: one that lets the case go on, then one that ends it. */
static void selftest_fail_body(void) {
  fputs("harness_fail: this goes to stderr before the checks fail\n", stderr);
  TEST_EXPECT_FAIL("the harness's deliberate failure that lets the case go on");
  TEST_FAIL("the harness's deliberate failure that ends the case");
}

/* The watchdog is armed for 1 s here, once the case runs (a runner that
 * starts slowly, as Qt's under a sanitizer, has had its full limit). */
static void selftest_hang_body(void) {
  fputs("harness_hang: this goes to stderr before the case hangs\n", stderr);
  test_watchdog(1);
  for (;;) pause();
}

/* A write to a small address, not to NULL: the undefined-behaviour
 * sanitizer would call a store through NULL a misuse, not a crash. */
static void selftest_crash_body(void) {
  static int *volatile nowhere = (int *)16;
  fputs("harness_crash: this goes to stderr before the case crashes\n", stderr);
  *nowhere = 1;
}

static int run_selftest(void (*body)(void)) {
  if (test_selftest_host != NULL) {
    printf("# %s runs in the suite's host\n", current_case);
    test_selftest_host(body);
  } else {
    body();
  }
  return 0;
}

static int selftest_fail(void) { return run_selftest(selftest_fail_body); }
static int selftest_hang(void) { return run_selftest(selftest_hang_body); }
static int selftest_crash(void) { return run_selftest(selftest_crash_body); }

static const gloop_test_case selftest_cases[] = {
    {"harness_fail", selftest_fail},
    {"harness_hang", selftest_hang},
    {"harness_crash", selftest_crash},
};

/* Runs every case in a forked child of its own, so a crash or a leaked run
 * in one case cannot affect the next, and prints a TAP-style report. */
static int run_all(const gloop_test_case *cases, size_t n) {
  size_t failed = 0, skipped = 0;
  printf("1..%zu\n", n);
  for (size_t i = 0; i < n; i++) {
    int status = 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return TEST_FAIL_CODE;
    }
    if (pid == 0) {
      /* exit(), not _exit(): a passing case must still face the leak check
       * that sanitizer builds run at exit. */
      int rc = run_case(&cases[i]);
      fflush(stdout);
      exit(rc);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      printf("ok %zu - %s\n", i + 1, cases[i].name);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == TEST_SKIP_CODE) {
      printf("ok %zu - %s # SKIP\n", i + 1, cases[i].name);
      skipped++;
    } else {
      if (WIFSIGNALED(status))
        printf("not ok %zu - %s (signal %d: %s)\n", i + 1, cases[i].name, WTERMSIG(status),
               strsignal(WTERMSIG(status)));
      else
        printf("not ok %zu - %s (exit %d)\n", i + 1, cases[i].name, WEXITSTATUS(status));
      failed++;
    }
  }
  printf("# %zu cases: %zu passed, %zu skipped, %zu failed\n", n, n - failed - skipped, skipped,
         failed);
  return failed ? TEST_FAIL_CODE : 0;
}

static void usage(FILE *to, const char *prog) {
  fprintf(to,
          "usage: %s [--list | CASE [ARG...]]\n"
          "  no argument  run every case, each in a child process, with a TAP report\n"
          "  --list       print the case names, one per line\n"
          "  CASE         run that one case in this process\n"
          "Exit codes: 0 passed, %d failed, %d skipped, %d usage error.\n"
          "GLOOP_TEST_TIME_SCALE multiplies every real-time limit (this build: %g).\n"
          "GLOOP_TEST_TIMEOUT sets the per-case watchdog in seconds (default %d x scale).\n",
          prog, TEST_FAIL_CODE, TEST_SKIP_CODE, TEST_USAGE_CODE, test_time_scale(),
          TEST_DEFAULT_CASE_TIMEOUT);
}

int gloop_test_main(int argc, char **argv, const gloop_test_case *cases, size_t ncases) {
  const char *prog = argc > 0 ? argv[0] : "tests";
  /* Read once here, before any case starts a thread that could read it. */
  (void)test_time_scale();
  /* Unbuffered stderr and line-buffered stdout keep the order of messages
   * intact when a case dies abruptly. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  setvbuf(stderr, NULL, _IONBF, 0);

  if (argc <= 1) return run_all(cases, ncases);
  if (strcmp(argv[1], "--list") == 0 || strcmp(argv[1], "list") == 0) {
    for (size_t i = 0; i < ncases; i++) printf("%s\n", cases[i].name);
    return 0;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(stdout, prog);
    return 0;
  }
  case_args = argv + 2;
  case_nargs = argc - 2;
  for (size_t i = 0; i < ncases; i++)
    if (strcmp(cases[i].name, argv[1]) == 0) return run_case(&cases[i]);
  for (size_t i = 0; i < sizeof selftest_cases / sizeof selftest_cases[0]; i++)
    if (strcmp(selftest_cases[i].name, argv[1]) == 0) return run_case(&selftest_cases[i]);
  fprintf(stderr, "%s: no case named '%s' (see --list)\n", prog, argv[1]);
  usage(stderr, prog);
  return TEST_USAGE_CODE;
}

/* ---- Real time and the build ------------------------------------------- */

double test_real_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double test_time_scale(void) {
  static double scale;
  if (scale == 0.0) scale = gloop_test_time_scale_read();
  return scale;
}

double test_limit(double seconds) { return seconds * test_time_scale(); }

void test_real_sleep(double seconds) {
  struct timespec ts;
  ts.tv_sec = (time_t)seconds;
  ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

double test_cpu_seconds(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) test_fail_(__FILE__, __LINE__, "getrusage: %s", strerror(errno));
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int recurse_from(volatile char *parent, int depth) {
  volatile char frame[1024];
  frame[0] = (char)depth;
  frame[sizeof frame - 1] = parent ? parent[0] : 0;
  if (depth <= 0) return frame[0];
  /* The frame is read after the call, so the call cannot be a jump. */
  return recurse_from(frame, depth - 1) + frame[sizeof frame - 1];
}

int test_recurse(int depth) { return recurse_from(NULL, depth); }

/* ---- Capturing stderr --------------------------------------------------- */

static FILE *capture_file;
static char capture_text[TEST_CAPTURE_MAX];

/* A sanitizer's report of a crash is the harness's report of it: it must go
 * to the real stderr too, not into a capture that dies with the process.
 * The sanitizers' runtime defines this function; elsewhere it is absent. */
#if defined(__GNUC__)
extern void __sanitizer_set_report_fd(void *fd) __attribute__((weak));
#endif
static void sanitizer_report_to(int fd) {
#if defined(__GNUC__)
  if (__sanitizer_set_report_fd != NULL) __sanitizer_set_report_fd((void *)(intptr_t)fd);
#else
  (void)fd;
#endif
}

/* A crash while a capture runs would take what the case had written with
 * the process (the capture is an unlinked file). So for as long as it runs,
 * the fatal signals first show it on the real stderr, then meet whatever
 * handled them before (the default action, a sanitizer, the library's
 * overflow report): a fault the kernel raised returns and faults again
 * under it, a signal sent by a call (abort(), raise(), kill) is raised
 * again and delivered under it once this handler returns. A handler
 * installed after this one (the library's, at the first run with guard
 * gaps) calls this one for faults that are not its own, with the same
 * outcome. */
static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
enum { NCRASH = sizeof crash_signals / sizeof crash_signals[0] };
static struct sigaction crash_before[NCRASH];

static void on_crash(int sig, siginfo_t *info, void *uctx) {
  (void)uctx;
  dump_capture();
  for (int i = 0; i < NCRASH; i++)
    if (crash_signals[i] == sig) sigaction(sig, &crash_before[i], NULL);
  if (info == NULL || info->si_code <= 0) raise(sig);
}

static void crash_report_begin(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_crash;
  /* On the alternate stack when the thread has one: a task's stack
   * overflow leaves no room on the stack that faulted. */
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < NCRASH; i++) sigaction(crash_signals[i], &sa, &crash_before[i]);
}

/* Puts back what was there before, unless something has replaced the
 * harness's handler since (then that stays). */
static void crash_report_end(void) {
  for (int i = 0; i < NCRASH; i++) {
    struct sigaction cur;
    if (sigaction(crash_signals[i], NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
        cur.sa_sigaction == on_crash)
      sigaction(crash_signals[i], &crash_before[i], NULL);
  }
}

void test_capture_begin(void) {
  if (capture_file != NULL) TEST_FAIL("test_capture_begin: a capture is already running");
  fflush(stderr);
  FILE *f = tmpfile();
  if (f == NULL) TEST_FAIL("test_capture_begin: tmpfile: %s", strerror(errno));
  int saved = dup(STDERR_FILENO);
  if (saved < 0) TEST_FAIL("test_capture_begin: dup: %s", strerror(errno));
  /* Reports go to the saved stderr before fd 2 moves, so none is lost. */
  report_fd = saved;
  sanitizer_report_to(saved);
  capture_shown = 0;
  capture_file = f;
  capture_fd = fileno(f);
  if (dup2(capture_fd, STDERR_FILENO) < 0) TEST_FAIL("test_capture_begin: dup2: %s", strerror(errno));
  crash_report_begin();
}

const char *test_capture_end(void) {
  if (capture_file == NULL) TEST_FAIL("test_capture_end: no capture is running");
  crash_report_end();
  fflush(stderr);
  int saved = report_fd;
  capture_fd = -1;
  if (dup2(saved, STDERR_FILENO) < 0) TEST_FAIL("test_capture_end: dup2: %s", strerror(errno));
  report_fd = STDERR_FILENO;
  sanitizer_report_to(STDERR_FILENO);
  close(saved);
  rewind(capture_file);
  size_t n = fread(capture_text, 1, sizeof capture_text - 1, capture_file);
  capture_text[n] = '\0';
  fclose(capture_file);
  capture_file = NULL;
  /* Echoed, less what a failure has shown already. */
  if ((size_t)capture_shown < n) fputs(capture_text + capture_shown, stderr);
  return capture_text;
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HARNESS_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define HARNESS_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HARNESS_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define HARNESS_TSAN 1
#endif

int test_under_asan(void) {
#ifdef HARNESS_ASAN
  return 1;
#else
  return 0;
#endif
}

int test_under_tsan(void) {
#ifdef HARNESS_TSAN
  return 1;
#else
  return 0;
#endif
}

/* ---- PRNG ---------------------------------------------------------------- */

void test_rng_seed(test_rng *r, uint64_t seed) { r->s = seed ? seed : 0x9e3779b97f4a7c15ull; }

uint32_t test_rng_next(test_rng *r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return (uint32_t)((x * 0x2545f4914f6cdd1dull) >> 32);
}

uint32_t test_rng_below(test_rng *r, uint32_t n) { return test_rng_next(r) % n; }
