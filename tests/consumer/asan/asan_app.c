/* asan_app.c - an outside C program built with AddressSanitizer against a library built without it: cancellations, longjmp, abandoned runs and many task switches must give no report. */
#define _POSIX_C_SOURCE 200809L
#include <guestloop/guestloop.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

/* ---- Abandon: tasks that never return ---------------------------------------
 *
 * A host that abandons a guest run leaves its tasks' instrumented frames on
 * their stacks for good, redzones poisoned. The library must clear them when
 * it gives the stacks back: memory mapped later at the same addresses (the
 * next run's stacks) would otherwise report overflows in frames of a
 * different shape. The host is a minimal FIFO of posted callbacks. */

enum { QUEUE_CAP = 4096 };
static struct {
  pthread_mutex_t mu;
  gloop_callback_fn fn[QUEUE_CAP];
  void *arg[QUEUE_CAP];
  unsigned head, tail;
} host = {PTHREAD_MUTEX_INITIALIZER, {0}, {0}, 0, 0};
static int blocked_tasks;

static void host_post(gloop_callback_fn fn, void *fn_arg, void *host_data) {
  (void)host_data;
  pthread_mutex_lock(&host.mu);
  if (host.tail - host.head < QUEUE_CAP) {
    host.fn[host.tail % QUEUE_CAP] = fn;
    host.arg[host.tail % QUEUE_CAP] = fn_arg;
    host.tail++;
  }
  pthread_mutex_unlock(&host.mu);
}

/* Runs one queued callback; 0 if none was queued. */
static int host_step(void) {
  pthread_mutex_lock(&host.mu);
  if (host.head == host.tail) {
    pthread_mutex_unlock(&host.mu);
    return 0;
  }
  gloop_callback_fn fn = host.fn[host.head % QUEUE_CAP];
  void *arg = host.arg[host.head % QUEUE_CAP];
  host.head++;
  pthread_mutex_unlock(&host.mu);
  fn(arg);
  return 1;
}

static void never_done(const gloop_outcome *o, void *data) {
  (void)o;
  (void)data;
}

static int stuck(void *arg) {
  int *count = arg;
  blocked_tasks++;
  return deep(12, count);
}

static int abandoned_main(void *arg) {
  gloop_nursery *n;
  if (gloop_nursery_open(&n) != 0) return -1;
  for (int i = 0; i < WORKERS; i++)
    if (gloop_nursery_start(n, stuck, arg, NULL, NULL) != 0) return -1;
  blocked_tasks++;
  return deep(12, arg);
}

/* Frames of another shape over the same addresses. */
static int wide(void *arg) {
  int *count = arg;
  volatile char buf[6000];
  memset((char *)buf, 7, sizeof buf);
  (*count) += buf[5999] == 7;
  return gloop_checkpoint();
}

static int reuse_main(void *arg) {
  gloop_nursery *n;
  if (gloop_nursery_open(&n) != 0) return -1;
  for (int i = 0; i < 2 * WORKERS; i++)
    if (gloop_nursery_start(n, wide, arg, NULL, NULL) != 0) return -1;
  return gloop_nursery_close(n);
}

static int abandon_then_reuse(int *count) {
  for (int round = 0; round < 3; round++) {
    blocked_tasks = 0;
    if (gloop_start_guest_run(abandoned_main, count, host_post, never_done, NULL) != 0) return -1;
    while (blocked_tasks < WORKERS + 1) {
      if (!host_step()) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
      }
    }
    if (gloop_abandon_run() != 0) return -1;
    while (host_step()) {
    }
    if (gloop_run(reuse_main, count, NULL, NULL, NULL) != 0) return -1;
  }
  return 0;
}

int main(void) {
  int count = 0;
  int rc = gloop_run(main_task, &count, NULL, NULL, NULL);
  if (rc == 0) rc = abandon_then_reuse(&count);
  printf("asan consumer (C): status %d, %d frames checked\n", rc, count);
  return rc == 0 && count > 0 ? 0 : 1;
}
