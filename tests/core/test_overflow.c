/* test_overflow.c - cases for task stacks: deep recursion that fits, and the reported death on overflow, whatever the frame size, the stack's mapping or an earlier recovered fault. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

typedef struct depth_arg {
  int depth;
  int result;
  int done;
} depth_arg;

static int deep_task(void *arg) {
  depth_arg *d = arg;
  d->result = test_recurse(d->depth);
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
  depth_arg d = {100, 0, 0};
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

/* Runs child(arg) in a child process whose stderr is collected into out
 * (NUL-terminated, at most cap - 1 bytes); returns its wait status. The
 * child must not return: it ends by a signal or by _exit(). */
static int run_child(void (*child)(const void *), const void *arg, char *out, size_t cap) {
  int fds[2], status = 0;
  size_t used = 0;
  ASSERT_EQ_INT(pipe(fds), 0);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  ASSERT_GE_INT(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    /* Our own backstop, in case the overflow is not caught at all. */
    alarm((unsigned)test_limit(10.0));
    child(arg);
    _exit(3);
  }
  close(fds[1]);
  for (;;) {
    ssize_t n = read(fds[0], out + used, cap - 1 - used);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || (used += (size_t)n) == cap - 1) break;
  }
  out[used] = '\0';
  close(fds[0]);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

static void deep_child(const void *arg) {
  depth_arg d = {1 << 20, 0, 0};
  gloop_options o;
  (void)arg;
  gloop_options_init(&o);
  o.main_name = "stack-owner";
  int rc = gloop_run(spawn_deep, &d, &o, NULL, NULL);
  fprintf(stderr, "child: the run returned %d (%s) instead of aborting\n", rc, gloop_err_name(rc));
}

/* A death test: child() must make its process die by SIGABRT, with `words`
 * among its last words on stderr. */
static int expect_abort_naming(void (*child)(const void *), const char *words) {
  char out[8192];
  int status = run_child(child, NULL, out, sizeof out);
  printf("# child stderr:\n%s# end of child stderr\n", out);
  if (!WIFSIGNALED(status))
    TEST_FAIL("the child exited with status %d instead of dying by a signal",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  ASSERT_EQ_INT(WTERMSIG(status), SIGABRT);
  ASSERT_STR_CONTAINS(out, words);
  return 0;
}

/* In a child process a task named "deep-diver" recurses far past its 64 KB
 * stack with guard pages on: the report names the task. */
TEST_CASE(stack_overflow_death) { return expect_abort_naming(deep_child, "deep-diver"); }

/* A stack reused from the process-wide cache keeps its guard gap: in a
 * child process, a first run leaves its slab in the cache, and a task of a
 * second run, on a stack the first one used, overflows it. */
static int reused_first(void *arg) {
  (void)arg;
  gloop_nursery *n;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, deep_task, &(depth_arg){10, 0, 0}, "first", NULL));
  return gloop_nursery_close(n);
}

static int reused_second(void *arg) {
  gloop_nursery *n;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, deep_task, arg, "cached-diver", NULL));
  return gloop_nursery_close(n);
}

static void reused_child(const void *arg) {
  gloop_stack_cache_info info;
  depth_arg d = {1 << 20, 0, 0};
  (void)arg;
  if (gloop_stack_cache_release() != 0 || gloop_run(reused_first, NULL, NULL, NULL, NULL) != 0 ||
      gloop_stack_cache_get_info(&info) != 0 || info.stacks == 0) {
    fprintf(stderr, "child: the first run left no stacks in the cache\n");
    return;
  }
  int rc = gloop_run(reused_second, &d, NULL, NULL, NULL);
  fprintf(stderr, "child: the run returned %d (%s) instead of aborting\n", rc, gloop_err_name(rc));
}

TEST_CASE(stack_cache_guard_kept) {
  return expect_abort_naming(reused_child, "task 'cached-diver' overflowed its stack");
}

/* ---- Every overflow is reported, whatever its frames ------------------------------
 *
 * A task ("diver") recurses with frames of a given size, of which only the
 * lowest byte is written: a frame larger than the guard gap moves the stack
 * pointer past it untouched. The diver's stack sits in a slab just above a
 * sleeping neighbour's, so a jump over the gap runs into the neighbour's
 * stack. Each case tries 16 starting depths (the frames then meet the gap at
 * different phases) in a child process that must die by SIGABRT with the
 * diver's name on stderr. Test code is built without stack-clash
 * protection, like much task code in the wild. */

#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void touch(volatile char *p) { p[0] = 1; }

#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int dive(size_t frame, int depth) {
  char buf[frame]; /* a variable-length frame; only its lowest byte is written */
  touch((volatile char *)buf);
  /* Ends only by the overflow (the depth limit is far beyond any stack). */
  if (depth > (1 << 30)) return 0;
  return dive(frame, depth + 1) + buf[0];
}

typedef struct dive_arg {
  size_t frame;
  int offset;       /* 0..15: extra depth before the recursion starts */
  size_t stack;     /* 0: the run's default size (slab); else a stack of its own */
  int prior_fault;  /* first recover from an unrelated SIGSEGV */
} dive_arg;

static sigjmp_buf recover_point;
static void program_segv_handler(int sig) {
  (void)sig;
  siglongjmp(recover_point, 1);
}

static int diver(void *arg) {
  const dive_arg *d = arg;
  size_t pad = (size_t)d->offset * 1040 + 16;
  char *p = __builtin_alloca(pad);
  touch((volatile char *)p);
  return dive(d->frame, 0) + p[0];
}

static int neighbour(void *arg) {
  (void)arg;
  return gloop_sleep_forever();
}

static int dive_main(void *arg) {
  const dive_arg *d = arg;
  gloop_nursery *n;
  if (d->prior_fault) {
    /* The program's own handler recovers from a fault of its own: the
     * library must pass it on and stay in place for the overflow below. */
    if (sigsetjmp(recover_point, 1) == 0) {
      static volatile uintptr_t bad_address = 16;
      *(volatile char *)bad_address = 1;
      fprintf(stderr, "child: the deliberate fault did not fault\n");
      _exit(4);
    }
  }
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start_ex(n, neighbour, NULL, "neighbour", d->stack, NULL));
  ASSERT_OK(gloop_checkpoint());
  ASSERT_OK(gloop_nursery_start_ex(n, diver, (void *)d, "diver", d->stack, NULL));
  return gloop_nursery_close(n);
}

static void dive_child(const void *arg) {
  const dive_arg *d = arg;
  if (d->prior_fault) signal(SIGSEGV, program_segv_handler);
  int rc = gloop_run(dive_main, (void *)d, NULL, NULL, NULL);
  fprintf(stderr, "child: the run returned %d (%s) instead of aborting\n", rc, gloop_err_name(rc));
}

/* Runs one dive in a child; returns 0 if it died by SIGABRT naming the diver,
 * else its wait status (or -1). */
static int dive_in_child(const dive_arg *d, char *out, size_t cap) {
  int status = run_child(dive_child, d, out, cap);
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(out, "'diver' overflowed")) return 0;
  return status ? status : -1;
}

static int overflow_sweep(size_t frame, size_t stack, int prior_fault) {
  char out[4096];
  int failed = 0;
  for (int off = 0; off < 16; off++) {
    dive_arg d = {frame, off, stack, prior_fault};
    int st = dive_in_child(&d, out, sizeof out);
    if (st != 0) {
      printf("frame %zu, offset %d: status 0x%x (%s), stderr:\n%s\n", frame, off, (unsigned)st,
             WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exited", out);
      failed++;
    }
  }
  if (failed) TEST_FAIL("%d of 16 overflows with %zu-byte frames were not reported", failed, frame);
  return 0;
}

TEST_CASE(stack_overflow_small_frames) { return overflow_sweep(512, 0, 0); }
TEST_CASE(stack_overflow_8k_frames) { return overflow_sweep(8 * 1024, 0, 0); }
TEST_CASE(stack_overflow_64k_frames) { return overflow_sweep(64 * 1024, 0, 0); }
/* Stacks of their own (not the run's default size) have the same gap. */
TEST_CASE(stack_overflow_own_mapping) {
  overflow_sweep(8 * 1024, 128 * 1024, 0);
  return overflow_sweep(64 * 1024, 128 * 1024, 0);
}
TEST_CASE(stack_overflow_after_recovered_fault) {
  overflow_sweep(512, 0, 1);
  return overflow_sweep(64 * 1024, 0, 1);
}
