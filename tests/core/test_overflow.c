/* test_overflow.c - cases for task stacks: deep recursion that fits, and the guard-page death on overflow. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

/* Each level keeps a 512-byte frame alive across the recursive call (its
 * contents are used after the call returns), so the compiler can neither
 * drop the frames nor turn the recursion into a loop. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int recurse(volatile char *parent, int depth) {
  volatile char frame[512];
  frame[0] = (char)depth;
  frame[sizeof frame - 1] = parent ? parent[0] : 0;
  if (depth <= 0) return frame[0];
  return recurse(frame, depth - 1) + frame[sizeof frame - 1];
}

typedef struct depth_arg {
  int depth;
  int result;
  int done;
} depth_arg;

static int deep_task(void *arg) {
  depth_arg *d = arg;
  d->result = recurse(NULL, d->depth);
  d->done = 1;
  return 0;
}

static int spawn_deep(void *arg) {
  depth_arg *d = arg;
  gloop_nursery *n;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start_ex(n, deep_task, d, "deep-diver", 64 * 1024, NULL));
  return gloop_nursery_close(n);
}

/* About 100 KB of frames: fine on the default stack of the main task. */
TEST_CASE(stack_deep_ok) {
  depth_arg d = {200, 0, 0};
  ASSERT_OK(gloop_run(deep_task, &d, NULL, NULL, NULL));
  ASSERT_EQ_INT(d.done, 1);
  /* The same depth without guard pages behaves the same. */
  gloop_options o;
  gloop_options_init(&o);
  o.guard_pages = 0;
  d.done = 0;
  ASSERT_OK(gloop_run(deep_task, &d, &o, NULL, NULL));
  ASSERT_EQ_INT(d.done, 1);
  return 0;
}

/* A death test: in a child process a task named "deep-diver" recurses far past
 * its 64 KB stack with guard pages on. The process must die by SIGABRT and
 * its last words on stderr must name the task. */
TEST_CASE(stack_overflow_death) {
  int fds[2];
  char out[8192];
  size_t used = 0;
  int status = 0;
  ASSERT_EQ_INT(pipe(fds), 0);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  ASSERT_GE_INT(pid, 0);
  if (pid == 0) {
    depth_arg d = {1 << 20, 0, 0};
    gloop_options o;
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    /* Our own backstop, in case the overflow is not caught at all. */
    alarm(10);
    gloop_options_init(&o);
    o.main_name = "stack-owner";
    int rc = gloop_run(spawn_deep, &d, &o, NULL, NULL);
    fprintf(stderr, "child: the run returned %d (%s) instead of aborting\n", rc,
            gloop_err_name(rc));
    _exit(3);
  }
  close(fds[1]);
  for (;;) {
    ssize_t n = read(fds[0], out + used, sizeof out - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    used += (size_t)n;
    if (used == sizeof out - 1) break;
  }
  out[used] = '\0';
  close(fds[0]);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  printf("# child stderr:\n%s# end of child stderr\n", out);
  if (!WIFSIGNALED(status))
    TEST_FAIL("the child exited with status %d instead of dying by a signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  ASSERT_EQ_INT(WTERMSIG(status), SIGABRT);
  ASSERT_STR_CONTAINS(out, "deep-diver");
  return 0;
}
