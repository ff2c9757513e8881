/* runner.c - the gloop_tests program: runs one case, lists them, or runs all of them in forked children, each under a watchdog. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

/* The case table comes from the one list that CMake also reads. */
#define GLOOP_TEST(name) int test_case_##name(void);
#include "test-list.h"
#undef GLOOP_TEST

typedef struct test_entry {
  const char *name;
  int (*fn)(void);
} test_entry;

static const test_entry cases[] = {
#define GLOOP_TEST(name) {#name, test_case_##name},
#include "test-list.h"
#undef GLOOP_TEST
};
#define NCASES (sizeof cases / sizeof cases[0])

/* Seconds a case may run on a plain build before the watchdog ends it; the
 * suite's time scale multiplies it (test_time_scale()). ctest's own TIMEOUT is
 * longer, so a hang is reported by us with the case's name rather than as a
 * bare ctest timeout. GLOOP_TEST_TIMEOUT sets it outright. */
#define DEFAULT_CASE_TIMEOUT 30

static const char *current_case = "?";

/* ---- Failure reporting -------------------------------------------------- */

/* Failures end the process with _exit() rather than exit(): the failing code
 * may be on a task's stack or another thread, and atexit handlers or a leak
 * check would only bury the real message under follow-on noise. */
TEST_NORETURN static void die_now(int code) {
  fflush(stdout);
  fflush(stderr);
  _exit(code);
}

void test_fail_(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "%s:%d: FAIL in case %s: ", file, line, current_case);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  die_now(1);
}

void test_skip_(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "%s:%d: SKIP case %s: ", file, line, current_case);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  die_now(TEST_SKIP_CODE);
}

void test_check_int_(const char *file, int line, const char *op, const char *ea, const char *eb,
                     long long a, long long b, int ok) {
  if (!ok)
    test_fail_(file, line, "expected %s %s %s, got %lld vs %lld", ea, op, eb, a, b);
}

void test_check_uint_(const char *file, int line, const char *op, const char *ea,
                      const char *eb, unsigned long long a, unsigned long long b, int ok) {
  if (!ok)
    test_fail_(file, line, "expected %s %s %s, got %llu vs %llu", ea, op, eb, a, b);
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

static unsigned case_timeout = DEFAULT_CASE_TIMEOUT;

/* Only async-signal-safe calls here: the case may be stuck anywhere. */
static void on_alarm(int sig) {
  char msg[256];
  int n = snprintf(msg, sizeof msg, "FAIL: case %s killed by the watchdog after %u s\n",
                   current_case, case_timeout);
  (void)sig;
  if (n > 0) {
    ssize_t w = write(STDERR_FILENO, msg, (size_t)n);
    (void)w;
  }
  _exit(1);
}

static void arm_watchdog(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  alarm(case_timeout);
}

/* ---- Running cases ------------------------------------------------------ */

static const test_entry *find_case(const char *name) {
  for (size_t i = 0; i < NCASES; i++)
    if (strcmp(cases[i].name, name) == 0) return &cases[i];
  return NULL;
}

/* Runs one case in this process and returns its exit code. */
static int run_case(const test_entry *c) {
  int rc;
  current_case = c->name;
  arm_watchdog();
  rc = c->fn();
  alarm(0);
  if (rc != 0) {
    fprintf(stderr, "FAIL: case %s returned %d\n", c->name, rc);
    return 1;
  }
  return 0;
}

/* Runs every case in a forked child of its own, so a crash or a leaked run
 * in one case cannot affect the next, and prints a TAP-style report. */
static int run_all(void) {
  int failed = 0, skipped = 0;
  printf("1..%zu\n", NCASES);
  fflush(stdout);
  for (size_t i = 0; i < NCASES; i++) {
    int status = 0;
    pid_t pid = fork();
    if (pid < 0) {
      perror("fork");
      return 1;
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
    fflush(stdout);
  }
  printf("# %zu cases: %zu passed, %d skipped, %d failed\n", NCASES,
         NCASES - (size_t)failed - (size_t)skipped, skipped, failed);
  return failed ? 1 : 0;
}

static void usage(FILE *to) {
  fprintf(to,
          "usage: gloop_tests [--list | CASE]\n"
          "  no argument  run every case, each in a child process\n"
          "  --list       print the case names, one per line\n"
          "  CASE         run that one case in this process\n"
          "Exit codes: 0 passed, 1 failed, %d skipped, 2 usage error.\n"
          "GLOOP_TEST_TIME_SCALE multiplies every real-time limit (this build: %g).\n"
          "GLOOP_TEST_TIMEOUT sets the per-case watchdog in seconds (default %d x scale).\n",
          TEST_SKIP_CODE, test_time_scale(), DEFAULT_CASE_TIMEOUT);
}

int main(int argc, char **argv) {
  /* Read once here, before any case starts a thread that could read it. */
  case_timeout = (unsigned)test_limit(DEFAULT_CASE_TIMEOUT);
  const char *env = getenv("GLOOP_TEST_TIMEOUT");
  if (env && *env) {
    char *end = NULL;
    unsigned long v = strtoul(env, &end, 10);
    if (*end == '\0' && v > 0 && v < 100000) case_timeout = (unsigned)v;
  }
  /* Unbuffered stderr and line-buffered stdout keep the order of messages
   * intact when a case dies abruptly. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  setvbuf(stderr, NULL, _IONBF, 0);

  if (argc == 1) return run_all();
  if (argc != 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < NCASES; i++) printf("%s\n", cases[i].name);
    return 0;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return 0;
  }
  const test_entry *c = find_case(argv[1]);
  if (c == NULL) {
    fprintf(stderr, "gloop_tests: no case named '%s' (see --list)\n", argv[1]);
    return 2;
  }
  return run_case(c);
}
