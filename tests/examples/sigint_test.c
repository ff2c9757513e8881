/* sigint_test.c - starts an example program, interrupts it after a second with SIGINT, and expects it to die of that signal at once, as the default disposition does. */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "harness/harness.h"

extern char **environ;

/* The one case: `sigint_test sigint PROGRAM [ARGS...]`. The program may
 * take test_limit(1 s) to die after SIGINT, and is given as long to start. */
TEST_CASE(sigint)
{
  int nargs = 0;
  char **args = gloop_test_args(&nargs);
  if (nargs < 1)
    TEST_FAIL("usage: sigint PROGRAM [ARGS...]");
  const double limit = test_limit(1.0);

  /* The child gets SIGINT's default action and an empty signal mask, even
   * if this test was started with SIGINT ignored (as shells do for
   * background jobs), so the test sees what a user pressing Ctrl-C sees. */
  posix_spawnattr_t attr;
  sigset_t defaults, empty;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigemptyset(&empty);
  if (posix_spawnattr_init(&attr) != 0 ||
      posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK) != 0 ||
      posix_spawnattr_setsigdefault(&attr, &defaults) != 0 || posix_spawnattr_setsigmask(&attr, &empty) != 0)
    TEST_FAIL("cannot set up the spawn attributes");
  pid_t pid;
  int err = posix_spawn(&pid, args[0], NULL, &attr, args, environ);
  posix_spawnattr_destroy(&attr);
  if (err != 0)
    TEST_FAIL("cannot start %s: %s", args[0], strerror(err));

  /* Let it get going: window built, guest run started, tasks sleeping. */
  test_real_sleep(limit);
  int status;
  if (waitpid(pid, &status, WNOHANG) != 0)
    TEST_FAIL("%s ended before it was interrupted (status 0x%x)", args[0], status);

  double sent = test_real_now();
  kill(pid, SIGINT);
  pid_t done = 0;
  while ((done = waitpid(pid, &status, WNOHANG)) == 0 && test_real_now() - sent < limit)
    test_real_sleep(0.005);
  double took = test_real_now() - sent;
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    TEST_FAIL("%s still ran %.1f s after SIGINT", args[0], limit);
  }
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGINT)
    TEST_FAIL("%s ended with status 0x%x, not by SIGINT", args[0], status);
  printf("%s died of SIGINT %.0f ms after it was sent\n", args[0], took * 1000);
  return 0;
}

static const gloop_test_case cases[] = {GLOOP_TEST_ENTRY(sigint)};

int main(int argc, char **argv) { return GLOOP_TEST_MAIN(argc, argv, cases); }
