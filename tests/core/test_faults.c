/* test_faults.c - cases that make each resource acquisition fail in turn and check every failure surfaces as an error code. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "guestloop/testing.h"
#include "host_toy.h"
#include "test.h"

/* The scenario touches every kind of resource the library acquires: the
 * run itself, its helper thread and fds, task stacks, a nursery, scopes,
 * events, a channel, a timer, a token, and a pool worker. Every call's
 * failure is passed up as the task's status, never asserted away, because
 * under fault injection any of them may legitimately fail. */

static void *double_it(void *arg) { return (void *)((intptr_t)arg * 2); }
static void timer_cb(void *arg) { ++*(int *)arg; }

static int child(void *arg) {
  gloop_channel *ch = arg;
  int v = 5;
  int rc = gloop_sleep(0.0005);
  if (rc == 0) rc = gloop_channel_send(ch, &v);
  return rc;
}

static int scenario_main(void *arg) {
  gloop_nursery *n = NULL;
  gloop_channel *ch = NULL;
  gloop_event *ev = NULL;
  gloop_timer *tm = NULL;
  gloop_token *tok = NULL;
  gloop_scope *s = NULL;
  int fired = 0, v = 0;
  void *res = NULL;
  (void)arg;
  int rc = gloop_channel_new(2, sizeof(int), &ch);
  if (rc == 0) rc = gloop_event_new(&ev);
  if (rc == 0) rc = gloop_timer_new(&tm);
  if (rc == 0) rc = gloop_timer_start(tm, 0.0001, timer_cb, &fired);
  if (rc == 0) rc = gloop_token_new(&tok);
  if (rc == 0) rc = gloop_move_on_after(10.0, &s);
  if (rc == 0) {
    rc = gloop_nursery_open(&n);
    if (rc == 0) {
      for (int i = 0; i < 3 && rc == 0; i++) rc = gloop_nursery_start(n, child, ch, NULL, NULL);
      for (int i = 0; i < 3 && rc == 0; i++) rc = gloop_channel_receive(ch, &v);
      if (rc != 0) gloop_nursery_cancel(n);
      int crc = gloop_nursery_close(n);
      /* A child's failure cancels our receive; report the failure itself. */
      if (rc == 0 || (rc == GLOOP_ECANCELED && crc != 0)) rc = crc;
    }
    int src = gloop_scope_close(s);
    if (rc == 0) rc = src;
  }
  if (rc == 0) rc = gloop_to_thread(double_it, (void *)(intptr_t)21, 0, &res);
  if (rc == 0 && res != (void *)(intptr_t)42) rc = GLOOP_EINTERNAL;
  if (rc == 0) rc = gloop_sleep(0.0005);
  gloop_token_free(tok);
  gloop_timer_free(tm);
  gloop_event_free(ev);
  gloop_channel_free(ch);
  return rc;
}

/* Errors a failed acquisition may surface as. */
static int acceptable(int rc) {
  return rc == 0 || rc == GLOOP_ENOMEM || rc == GLOOP_EMFILE || rc == GLOOP_ECANCELED;
}

static int guest_once(void) {
  host_toy_init();
  int rc = host_toy_start(scenario_main, NULL, NULL, 1);
  if (rc != 0) {
    host_toy_stats s = host_toy_get_stats();
    /* A failed start posted nothing and will never call done_cb. */
    ASSERT_EQ_UINT(s.threadsafe_posts + s.not_threadsafe_posts, 0);
    ASSERT_EQ_INT(gloop_in_run(), 0);
    host_toy_fini();
    return rc;
  }
  host_toy_run_until_done();
  host_toy_stats s = host_toy_get_stats();
  ASSERT_EQ_INT(s.done_calls, 1);
  ASSERT_EQ_INT(s.done_message_null, 0);
  ASSERT_EQ_INT(gloop_in_run(), 0);
  host_toy_fini();
  return s.done_status;
}

static int standalone_once(void) { return gloop_run(scenario_main, NULL, NULL, NULL, NULL); }

static void sweep(int (*once)(void), const char *what) {
  /* A clean pass first, counting the acquisitions the scenario makes. */
  gloop_fault_inject(LONG_MAX, GLOOP_FAULT_ALL, 0);
  ASSERT_OK(once());
  long count = gloop_fault_count();
  gloop_fault_inject(-1, 0, 0);
  ASSERT_GT_INT(count, 5);
  int failures = 0;
  for (long i = 0; i < count; i++) {
    /* Said before each run, so that a hang names its acquisition. */
    printf("# %s: failing acquisition %ld of %ld\n", what, i, count);
    gloop_fault_inject(i, GLOOP_FAULT_ALL, 0);
    int rc = once();
    gloop_fault_inject(-1, 0, 0);
    if (!acceptable(rc))
      TEST_FAIL("%s: failing acquisition %ld of %ld gave %d (%s)", what, i, count, rc,
                gloop_err_name(rc));
    failures += rc != 0;
  }
  /* Most failures must be visible; a sweep where nothing failed would mean
   * the injection never reached the library. */
  ASSERT_GT_INT(failures, 0);
  printf("# %s: %ld acquisitions, %d of the injected failures surfaced as errors\n", what, count,
         failures);
  /* Without injection everything works again. */
  ASSERT_OK(once());
}

TEST_CASE(faults_guest_sweep) {
  sweep(guest_once, "guest run");
  return 0;
}

TEST_CASE(faults_standalone_sweep) {
  sweep(standalone_once, "standalone run");
  return 0;
}

/* Persistent failure: from some point on, everything fails. The run must
 * still end (or refuse to start) with an error, never hang or crash. */
TEST_CASE(faults_persistent) {
  gloop_fault_inject(LONG_MAX, GLOOP_FAULT_MEMORY | GLOOP_FAULT_STACK, 0);
  ASSERT_OK(guest_once());
  long count = gloop_fault_count();
  gloop_fault_inject(-1, 0, 0);
  for (long i = 0; i < count; i += 3) {
    printf("# persistent failure from acquisition %ld of %ld\n", i, count);
    gloop_fault_inject(i, GLOOP_FAULT_MEMORY | GLOOP_FAULT_STACK, 1);
    int rc = guest_once();
    gloop_fault_inject(-1, 0, 0);
    if (!acceptable(rc))
      TEST_FAIL("persistent failure from acquisition %ld gave %d (%s)", i, rc, gloop_err_name(rc));
  }
  ASSERT_OK(guest_once());
  return 0;
}
