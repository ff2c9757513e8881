/* sigint_test.c - starts an example program, interrupts it after a second with SIGINT, and expects it to die of that signal at once, as the default disposition does. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness/time_scale.h"

extern char **environ;

/* How long the program may take to die after SIGINT (a real-time limit,
 * scaled by the suite's time scale), and how long it is given to start. */
#define DEATH_LIMIT_MS ((int)(1000 * gloop_test_time_scale_read()))

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: %s PROGRAM [ARGS...]\n", argv[0]);
    return 2;
  }

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
      posix_spawnattr_setsigdefault(&attr, &defaults) != 0 || posix_spawnattr_setsigmask(&attr, &empty) != 0) {
    printf("FAIL cannot set up the spawn attributes\n");
    return 1;
  }
  pid_t pid;
  int err = posix_spawn(&pid, argv[1], NULL, &attr, argv + 1, environ);
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    printf("FAIL cannot start %s: %s\n", argv[1], strerror(err));
    return 1;
  }

  /* Let it get going: window built, guest run started, tasks sleeping. */
  sleep_ms(DEATH_LIMIT_MS);
  int status;
  if (waitpid(pid, &status, WNOHANG) != 0) {
    printf("FAIL %s ended before it was interrupted (status 0x%x)\n", argv[1], status);
    return 1;
  }

  double sent = now_ms();
  kill(pid, SIGINT);
  pid_t done = 0;
  while ((done = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() - sent < DEATH_LIMIT_MS)
    sleep_ms(5);
  double took = now_ms() - sent;
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    printf("FAIL %s still ran %d ms after SIGINT\n", argv[1], DEATH_LIMIT_MS);
    return 1;
  }
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGINT) {
    printf("FAIL %s ended with status 0x%x, not by SIGINT\n", argv[1], status);
    return 1;
  }
  printf("%s died of SIGINT %.0f ms after it was sent\n", argv[1], took);
  return 0;
}
