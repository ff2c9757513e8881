/* outcomes.c - the harness's self-test: every suite's runner reports a failed check, a hang and a crash the same way. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* The runs: --list and the harness's three cases, in every runner. */
static const char *const kinds[] = {"--list", "harness_fail", "harness_hang", "harness_crash"};
enum { NKINDS = sizeof kinds / sizeof kinds[0], MAX_RUNNERS = 16 };

typedef struct run {
  const char *runner;
  int hosted;    /* the runner runs the harness's cases in its suite's host */
  const char *kind;
  FILE *out;     /* what it printed, stdout and stderr together */
  pid_t pid;
  int status;
  char *text;
} run;

static run runs[MAX_RUNNERS * NKINDS];

/* Starts `runner kind` (after the emulator's words, if any) with its output
 * going to a temporary file. The time scale is 1, so the hang case's 1 s
 * watchdog is 1 s whatever the build; the runner's own limit for the case
 * (30 s) leaves a slow start-up (Qt under a sanitizer) all the time it needs. */
static void start(run *r, char **emulator, int emulator_words) {
  char *argv[16];
  int argc = 0;
  for (int i = 0; i < emulator_words && argc < 13; i++) argv[argc++] = emulator[i];
  argv[argc++] = (char *)r->runner;
  argv[argc++] = (char *)r->kind;
  argv[argc] = NULL;
  r->out = tmpfile();
  TEST_CHECK_(r->out != NULL, "tmpfile: %s", strerror(errno));
  fflush(stdout);
  r->pid = fork();
  TEST_CHECK_(r->pid >= 0, "fork: %s", strerror(errno));
  if (r->pid == 0) {
    dup2(fileno(r->out), STDOUT_FILENO);
    dup2(fileno(r->out), STDERR_FILENO);
    setenv("GLOOP_TEST_TIME_SCALE", "1", 1);
    unsetenv("GLOOP_TEST_TIMEOUT");
    execvp(argv[0], argv);
    fprintf(stderr, "cannot run %s: %s\n", r->runner, strerror(errno));
    _exit(126);
  }
}

/* Waits for the run and reads what it printed. */
static void finish(run *r) {
  static char buf[TEST_CAPTURE_MAX];
  while (waitpid(r->pid, &r->status, 0) < 0 && errno == EINTR) {
  }
  rewind(r->out);
  size_t n = fread(buf, 1, sizeof buf - 1, r->out);
  buf[n] = '\0';
  fclose(r->out);
  r->text = strdup(buf);
  TEST_CHECK_(r->text != NULL, "out of memory");
  if (r->kind[0] != '-') printf("# %s %s:\n%s# (status 0x%x)\n", r->runner, r->kind, r->text, r->status);
}

static void expect_exit(const run *r, int code) {
  if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != code)
    TEST_FAIL("%s %s: wanted exit %d, got status 0x%x", r->runner, r->kind, code, r->status);
}

static void expect_text(const run *r, const char *text) {
  if (strstr(r->text, text) == NULL) TEST_FAIL("%s %s: the output lacks \"%s\"", r->runner, r->kind, text);
}

/* The case's arguments: the emulator's words, if any, "--", then the
 * runners of the harness to check (the suites' test programs), each written
 * @path if it must run the harness's cases inside its suite's host (the
 * example runners: inside a running example, with its stderr captured).
 * All runs start at once, so the whole check takes about as long as its
 * slowest run. */
TEST_CASE(outcomes) {
  int nargs = 0, nrunners = -1, emulator_words = 0;
  char **args = gloop_test_args(&nargs);
  for (int i = 0; i < nargs && nrunners < 0; i++)
    if (strcmp(args[i], "--") == 0) {
      emulator_words = i;
      nrunners = nargs - i - 1;
    }
  TEST_CHECK_(nrunners > 0 && nrunners <= MAX_RUNNERS,
              "usage: outcomes [emulator words...] -- runner... (at most %d)", MAX_RUNNERS);
  char **runners = args + emulator_words + 1;
  int nruns = 0;
  for (int i = 0; i < nrunners; i++)
    for (int k = 0; k < NKINDS; k++) {
      run *r = &runs[nruns++];
      r->hosted = runners[i][0] == '@';
      r->runner = runners[i] + r->hosted;
      r->kind = kinds[k];
      start(r, args, emulator_words);
    }
  for (int i = 0; i < nruns; i++) finish(&runs[i]);

  for (int i = 0; i < nruns; i++) {
    const run *r = &runs[i];
    test_label("%s %s", r->runner, r->kind);
    if (r->hosted && r->kind[0] != '-') {
      char line[64];
      snprintf(line, sizeof line, "# %s runs in the suite's host\n", r->kind);
      expect_text(r, line);
    }
    if (strcmp(r->kind, "--list") == 0) {
      /* The harness's cases are not the suite's: not listed. */
      expect_exit(r, 0);
      if (strstr(r->text, "harness_") != NULL) TEST_FAIL("%s --list names the harness's cases", r->runner);
    } else if (strcmp(r->kind, "harness_fail") == 0) {
      /* A failed check: file:line, the case, what failed; exit 1. What the
       * case wrote to stderr before shows, captured or not. */
      expect_exit(r, TEST_FAIL_CODE);
      expect_text(r, "harness_fail: this goes to stderr before the checks fail");
      expect_text(r, ": FAIL in case harness_fail: the harness's deliberate failure that lets the case go on\n");
      expect_text(r, ": FAIL in case harness_fail: the harness's deliberate failure that ends the case\n");
    } else if (strcmp(r->kind, "harness_hang") == 0) {
      /* A hang: the watchdog names the case; exit 1. */
      expect_exit(r, TEST_FAIL_CODE);
      expect_text(r, "harness_hang: this goes to stderr before the case hangs");
      expect_text(r, "FAIL: case harness_hang killed by the watchdog after 1 s\n");
    } else {
      /* A crash. What the case wrote to stderr before shows, captured or
       * not: a capture shows what it holds as the signal arrives. */
      expect_text(r, "harness_crash: this goes to stderr before the case crashes");
      if (test_under_asan() || test_under_tsan()) {
        /* Under a sanitizer, which takes the signal over: its report (on
         * the real stderr even while the case captures stderr) and a
         * non-zero exit. */
        if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) == 0)
          TEST_FAIL("%s harness_crash: wanted a non-zero exit, got status 0x%x", r->runner, r->status);
        expect_text(r, "Sanitizer: SEGV");
      } else if (!WIFSIGNALED(r->status) || WTERMSIG(r->status) != SIGSEGV) {
        /* Otherwise the process dies of SIGSEGV. */
        TEST_FAIL("%s harness_crash: wanted death by SIGSEGV, got status 0x%x", r->runner, r->status);
      }
    }
  }
  for (int i = 0; i < nruns; i++) free(runs[i].text);
  return 0;
}

#define GLOOP_TEST_LIST "harness/harness-list.h"
#include "runner_main.h"
