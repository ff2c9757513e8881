/* outcomes.c - the harness's self-test: every suite's runner reports a failed check, a hang and a crash the same way. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* What one run of a runner printed (stdout and stderr together) and how it
 * ended. */
typedef struct outcome {
  char text[TEST_CAPTURE_MAX];
  int status;
} outcome;

static outcome out;

/* The emulator's words that start a program of this build, if any. */
static char **emulator;
static int emulator_words;

/* Runs `runner name` with the watchdog at 1 s, collecting its output. */
static void run_runner(const char *runner, const char *name) {
  char *argv[16];
  int argc = 0;
  for (int i = 0; i < emulator_words && argc < 13; i++) argv[argc++] = emulator[i];
  argv[argc++] = (char *)runner;
  argv[argc++] = (char *)name;
  argv[argc] = NULL;
  int fds[2];
  size_t used = 0;
  TEST_CHECK_(pipe(fds) == 0, "pipe: %s", strerror(errno));
  fflush(stdout);
  pid_t pid = fork();
  TEST_CHECK_(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    setenv("GLOOP_TEST_TIMEOUT", "1", 1);
    execvp(argv[0], argv);
    fprintf(stderr, "cannot run %s: %s\n", runner, strerror(errno));
    _exit(126);
  }
  close(fds[1]);
  for (;;) {
    ssize_t n = read(fds[0], out.text + used, sizeof out.text - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || (used += (size_t)n) == sizeof out.text - 1) break;
  }
  out.text[used] = '\0';
  close(fds[0]);
  while (waitpid(pid, &out.status, 0) < 0 && errno == EINTR) {
  }
  if (name[0] != '-') printf("# %s %s:\n%s# (status 0x%x)\n", runner, name, out.text, out.status);
}

static void expect_exit(const char *runner, const char *name, int code) {
  if (!WIFEXITED(out.status) || WEXITSTATUS(out.status) != code)
    TEST_FAIL("%s %s: wanted exit %d, got status 0x%x", runner, name, code, out.status);
}

static void expect_text(const char *runner, const char *name, const char *text) {
  if (strstr(out.text, text) == NULL)
    TEST_FAIL("%s %s: the output lacks \"%s\"", runner, name, text);
}

/* The case's arguments: the emulator's words, if any, "--", then the
 * runners of the harness to check (the suites' test programs). */
TEST_CASE(outcomes) {
  int nargs = 0, nrunners = 0;
  char **args = gloop_test_args(&nargs);
  char **runners = NULL;
  for (int i = 0; i < nargs; i++) {
    if (strcmp(args[i], "--") != 0) continue;
    emulator = args;
    emulator_words = i;
    runners = args + i + 1;
    nrunners = nargs - i - 1;
    break;
  }
  TEST_CHECK_(nrunners > 0, "usage: outcomes [emulator words...] -- runner...");
  for (int i = 0; i < nrunners; i++) {
    const char *r = runners[i];
    test_label("%s", r);

    /* The harness's cases are not the suite's: not listed. */
    run_runner(r, "--list");
    expect_exit(r, "--list", 0);
    if (strstr(out.text, "harness_") != NULL) TEST_FAIL("%s --list names the harness's cases", r);

    /* A failed check: file:line, the case, what failed; exit 1. What the
     * case wrote to stderr before shows, captured or not. */
    run_runner(r, "harness_fail");
    expect_exit(r, "harness_fail", TEST_FAIL_CODE);
    expect_text(r, "harness_fail", "harness_fail: this goes to stderr before the checks fail");
    expect_text(r, "harness_fail",
                ": FAIL in case harness_fail: the harness's deliberate failure that lets the case go on\n");
    expect_text(r, "harness_fail",
                ": FAIL in case harness_fail: the harness's deliberate failure that ends the case\n");

    /* A hang: the watchdog names the case; exit 1. */
    run_runner(r, "harness_hang");
    expect_exit(r, "harness_hang", TEST_FAIL_CODE);
    expect_text(r, "harness_hang", "harness_hang: this goes to stderr before the case hangs");
    expect_text(r, "harness_hang", "FAIL: case harness_hang killed by the watchdog after 1 s\n");

    /* A crash: the process dies of SIGSEGV; under a sanitizer, which takes
     * the signal over, with the sanitizer's report (on the real stderr even
     * while the case captures stderr) and a non-zero exit. */
    run_runner(r, "harness_crash");
    if (test_under_asan() || test_under_tsan()) {
      if (!WIFEXITED(out.status) || WEXITSTATUS(out.status) == 0)
        TEST_FAIL("%s harness_crash: wanted a non-zero exit, got status 0x%x", r, out.status);
      expect_text(r, "harness_crash", "Sanitizer: SEGV");
    } else if (!WIFSIGNALED(out.status) || WTERMSIG(out.status) != SIGSEGV) {
      TEST_FAIL("%s harness_crash: wanted death by SIGSEGV, got status 0x%x", r, out.status);
    }
  }
  return 0;
}

#define GLOOP_TEST_LIST "harness/harness-list.h"
#include "runner_main.h"
