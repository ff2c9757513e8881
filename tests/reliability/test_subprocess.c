/* test_subprocess.c - runs rel_child in a child process and judges how it ends: Ctrl-C handling with and without gloop_cancel_on_sigint(), and the stack-overflow report. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rel.h"

/* The child's stdout and stderr go into one pipe; everything it wrote is
 * kept so that checks can look for lines and a failure can show it all. */
typedef struct child {
  pid_t pid;
  int fd;
  char out[16384];
  size_t len;
  int status;
} child;

/* The command that starts rel_child: its path, after the words of an
 * emulator when the tests run under one (a cross build). */
/* Starts the child in `mode`. The case's own arguments are the command that
 * runs rel_child: the emulator's words, if any, then the program's path. */
static void spawn(child *c, const char *mode) {
  int child_words;
  char **child_cmd = gloop_test_args(&child_words);
  REL_CHECK(child_words >= 1 && child_words <= 12, "usage: <case> [emulator words...] <path of rel_child>");
  const char *path = child_cmd[child_words - 1];
  int p[2];
  REL_CHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
  memset(c, 0, sizeof *c);
  fflush(stdout);
  fflush(stderr);
  c->pid = fork();
  REL_CHECK(c->pid >= 0, "fork: %s", strerror(errno));
  if (c->pid == 0) {
    dup2(p[1], 1);
    dup2(p[1], 2);
    close(p[0]);
    close(p[1]);
    char *args[16];
    int n = 0;
    for (int i = 0; i < child_words && n < 14; i++) args[n++] = child_cmd[i];
    args[n++] = (char *)mode;
    args[n] = NULL;
    execvp(args[0], args);
    fprintf(stderr, "exec %s: %s\n", path, strerror(errno));
    _exit(127);
  }
  close(p[1]);
  c->fd = p[0];
}

/* Reads what the child wrote until `want` appears at the start of a line
 * (want == NULL: until end of file). Returns 0 on a timeout. */
static int read_until(child *c, const char *want, double timeout) {
  double limit = test_real_now() + test_limit(timeout);
  for (;;) {
    if (want) {
      for (const char *s = c->out; (s = strstr(s, want)) != NULL; s++)
        if (s == c->out || s[-1] == '\n') return 1;
    }
    double left = limit - test_real_now();
    if (left <= 0) return 0;
    struct pollfd pfd = {c->fd, POLLIN, 0};
    int n = poll(&pfd, 1, (int)(left * 1000) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    if (c->len + 1 >= sizeof c->out) return want == NULL;
    ssize_t r = read(c->fd, c->out + c->len, sizeof c->out - 1 - c->len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return want == NULL; /* end of file */
    c->len += (size_t)r;
    c->out[c->len] = '\0';
  }
}

static void show(const child *c) { fprintf(stderr, "---- child output ----\n%s---- end ----\n", c->out); }

static void expect_line(child *c, const char *want, double timeout) {
  if (!read_until(c, want, timeout)) {
    show(c);
    TEST_FAIL("the child did not print '%s' within %.0f s", want, timeout);
  }
}

/* Reads to end of file and reaps the child; kills it after `timeout`. */
static void finish(child *c, double timeout) {
  if (!read_until(c, NULL, timeout)) {
    kill(c->pid, SIGKILL);
    waitpid(c->pid, &c->status, 0);
    show(c);
    TEST_FAIL("the child did not end within %.0f s", timeout);
  }
  close(c->fd);
  while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR) {
  }
}

static void expect_exit0(child *c) {
  if (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != 0) {
    show(c);
    TEST_FAIL("the child did not exit with 0 (status 0x%x)", c->status);
  }
}

static void expect_signal(child *c, int sig) {
  if (!WIFSIGNALED(c->status) || WTERMSIG(c->status) != sig) {
    show(c);
    TEST_FAIL("the child was not ended by signal %d (%s); status 0x%x", sig, strsignal(sig), c->status);
  }
}

static void expect_text(child *c, const char *text, int present) {
  if ((strstr(c->out, text) != NULL) != present) {
    show(c);
    TEST_FAIL("the child's output %s '%s'", present ? "lacks" : "contains", text);
  }
}

#define SIGINT_MESSAGE "outcome: ECANCELED: cancelled by SIGINT (Ctrl-C)"

TEST_CASE(sigint_self) {
  child c;
  /* A task raises SIGINT; the run winds down through cancellation. */
  spawn(&c, "sigint-self");
  finish(&c, 20);
  expect_exit0(&c);
  expect_text(&c, "cleanup ran (ECANCELED)", 1);
  expect_text(&c, SIGINT_MESSAGE, 1);
  return 0;
}

TEST_CASE(sigint_external) {
  child c;
  /* Ctrl-C from outside, to a guest run whose host waits for callbacks. */
  spawn(&c, "sigint-external");
  expect_line(&c, "ready", 20);
  kill(c.pid, SIGINT);
  finish(&c, 20);
  expect_exit0(&c);
  expect_text(&c, "cleanup ran (ECANCELED)", 1);
  expect_text(&c, SIGINT_MESSAGE, 1);
  return 0;
}

TEST_CASE(sigint_default) {
  child c;
  /* Without gloop_cancel_on_sigint() the library leaves SIGINT alone. */
  spawn(&c, "sigint-default");
  expect_line(&c, "ready", 20);
  kill(c.pid, SIGINT);
  finish(&c, 20);
  expect_signal(&c, SIGINT);
  expect_text(&c, "cleanup ran", 0);
  return 0;
}

TEST_CASE(sigint_second) {
  child c;
  /* A second Ctrl-C while the run still winds down gets the previous
   * disposition: the default one ends the process. */
  spawn(&c, "sigint-second");
  expect_line(&c, "ready", 20);
  kill(c.pid, SIGINT);
  expect_line(&c, "main woke: ECANCELED", 20);
  expect_line(&c, "cleanup ran (ECANCELED)", 20);
  kill(c.pid, SIGINT);
  finish(&c, 20);
  expect_signal(&c, SIGINT);
  expect_text(&c, "outcome:", 0);
  return 0;
}

TEST_CASE(sigint_restored) {
  child c;
  /* After the run the previous (default) disposition is back. */
  spawn(&c, "sigint-restored");
  finish(&c, 20);
  expect_signal(&c, SIGINT);
  expect_text(&c, SIGINT_MESSAGE, 1);
  expect_text(&c, "\nended\n", 1);
  return 0;
}

TEST_CASE(overflow) {
  child c;
  /* With guard pages (the default) an overflow names the task and aborts. */
  spawn(&c, "overflow");
  finish(&c, 20);
  expect_signal(&c, SIGABRT);
  expect_text(&c, "guestloop: task 'deep-recursion' overflowed its stack", 1);
  expect_text(&c, "survived", 0);
  return 0;
}

#define GLOOP_TEST_LIST "reliability/subprocess-list.h"
#include "harness/runner_main.h"
