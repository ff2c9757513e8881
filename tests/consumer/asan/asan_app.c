/* asan_app.c - an outside C program built with AddressSanitizer against a library built without it: cancellations, longjmp and many task switches must give no report. */
#include <guestloop/guestloop.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

enum { WORKERS = 33, ROUNDS = 200 };

/* Frames with large, instrumented local arrays: AddressSanitizer poisons the
 * redzones around them on entry and clears them on return. If it tracked
 * the wrong stack across a switch, later frames built at these addresses
 * (by this task or by the next one that reuses the stack) would be reported
 * as overflows. */
static int deep(int depth, int *count) {
  volatile char buf[512];
  memset((char *)buf, depth, sizeof buf);
  int rc = depth > 0 ? deep(depth - 1, count) : gloop_sleep_forever();
  (*count) += buf[depth] == (char)depth;
  return rc;
}

static int sleeper(void *arg) {
  int *count = arg;
  return deep(8, count) == GLOOP_ECANCELED ? 0 : -1;
}

static int switcher(void *arg) {
  int *count = arg;
  for (int i = 0; i < ROUNDS; i++) {
    volatile char buf[256];
    memset((char *)buf, i, sizeof buf);
    if (gloop_checkpoint() != 0) return 0; /* cancelled: done */
    (*count) += buf[i % (int)sizeof buf] == (char)i;
  }
  return 0;
}

/* A C program's own non-local exit inside a task: longjmp out of
 * instrumented frames once the task is cancelled. The ASan runtime clears
 * the skipped frames' redzones only if it knows which stack the task is on;
 * otherwise the frames built over them afterwards are reported. */
static void jump_out(int depth, jmp_buf *env) {
  volatile char buf[512];
  memset((char *)buf, depth, sizeof buf);
  if (depth > 0) jump_out(depth - 1, env);
  if (gloop_sleep_forever() == GLOOP_ECANCELED) longjmp(*env, 1);
}

static int jumper(void *arg) {
  int *count = arg;
  jmp_buf env;
  if (setjmp(env) == 0) {
    jump_out(8, &env);
    return -1;
  }
  /* Cancelled: new frames over the skipped ones, then switches. */
  for (int i = 0; i < 4; i++) {
    volatile char buf[2048];
    memset((char *)buf, i, sizeof buf);
    (*count) += buf[100] == (char)i;
    gloop_checkpoint();
  }
  return 0;
}

static int main_task(void *arg) {
  int *count = arg;
  /* Rounds of: tasks block deep in their stacks, then a cancellation wakes
   * them all; finished stacks are reused by the next round's tasks. */
  static gloop_task_fn const kinds[] = {sleeper, switcher, jumper};
  for (int round = 0; round < 20; round++) {
    gloop_nursery *n;
    if (gloop_nursery_open(&n) != 0) return -1;
    for (int i = 0; i < WORKERS; i++) {
      if (gloop_nursery_start(n, kinds[i % 3], count, NULL, NULL) != 0) return -1;
    }
    if (gloop_sleep(0.0005) != 0) return -1;
    if (gloop_nursery_cancel(n) != 0) return -1;
    int rc = gloop_nursery_close(n);
    if (rc != 0) return rc;
  }
  /* A deadline that cancels the main task blocked deep in its stack. */
  gloop_scope *s;
  if (gloop_move_on_after(0.001, &s) != 0) return -1;
  int rc = deep(16, count);
  gloop_scope_close(s);
  return rc == GLOOP_ECANCELED ? 0 : -1;
}

int main(void) {
  int count = 0;
  int rc = gloop_run(main_task, &count, NULL, NULL, NULL);
  printf("asan consumer (C): status %d, %d frames checked\n", rc, count);
  return rc == 0 && count > 0 ? 0 : 1;
}
