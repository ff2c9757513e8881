/* test_nursery.c - cases for nurseries: waiting for children, failure propagation, host-side spawning, closing, and leftovers. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "host_toy.h"
#include "test.h"

/* ---- Close waits for every child ---------------------------------------- */

typedef struct wait_child {
  double delay;
  int done;
  double ended_at;
} wait_child;

static wait_child wchildren[3] = {{2.0, 0, 0}, {3.0, 0, 0}, {1.0, 0, 0}};

static int wait_child_fn(void *arg) {
  wait_child *c = arg;
  int rc = gloop_sleep(c->delay);
  c->done = 1;
  c->ended_at = gloop_now();
  return rc;
}

static int waits_main(void *arg) {
  gloop_nursery *n;
  gloop_task *t[3];
  char longname[64];
  (void)arg;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, wait_child_fn, &wchildren[0], "alpha", &t[0]));
  ASSERT_OK(gloop_nursery_start(n, wait_child_fn, &wchildren[1], NULL, &t[1]));
  memset(longname, 'x', sizeof longname);
  longname[sizeof longname - 1] = '\0';
  ASSERT_OK(gloop_nursery_start(n, wait_child_fn, &wchildren[2], longname, &t[2]));
  /* Names are copied; a missing one gets "task-N"; long ones are cut to 31 bytes. */
  longname[0] = 'y';
  ASSERT_EQ_STR(gloop_task_name(t[0]), "alpha");
  ASSERT_STR_CONTAINS(gloop_task_name(t[1]), "task-");
  ASSERT_EQ_INT(strlen(gloop_task_name(t[2])), 31);
  ASSERT_EQ_INT(gloop_task_name(t[2])[0], 'x');
  ASSERT_OK(gloop_nursery_close(n));
  for (int i = 0; i < 3; i++) ASSERT_EQ_INT(wchildren[i].done, 1);
  ASSERT_NEAR(gloop_now(), 3.0, 1e-9);
  /* No failure was received, so there is no message. */
  ASSERT_EQ_STR(gloop_last_message(), "");
  return 0;
}

TEST_CASE(nursery_waits_all) {
  gloop_options o;
  gloop_clock *clk = test_mock_options(&o, 0.0, 0.0);
  ASSERT_OK(test_guest_run(waits_main, NULL, &o, 1));
  ASSERT_NEAR(wchildren[0].ended_at, 2.0, 1e-9);
  ASSERT_NEAR(wchildren[1].ended_at, 3.0, 1e-9);
  ASSERT_NEAR(wchildren[2].ended_at, 1.0, 1e-9);
  ASSERT_OK(gloop_clock_free(clk));
  return 0;
}

/* ---- The first failure cancels the siblings and is close's result -------- */

typedef struct fail_state {
  int sibling_rc, forever_rc, owner_rc, close_rc;
  double sibling_woke, owner_woke;
  char message[256];
} fail_state;

static fail_state fs;

static int failing_child(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_sleep(1.0));
  return gloop_fail(GLOOP_EPIPE, "boom %d", 42);
}

static int slow_sibling(void *arg) {
  (void)arg;
  fs.sibling_rc = gloop_sleep(100.0);
  fs.sibling_woke = gloop_now();
  return 0;
}

/* Returns its cancellation as its status: a later error than the first
 * failure, so it must not replace it. */
static int forever_sibling(void *arg) {
  (void)arg;
  fs.forever_rc = gloop_sleep_forever();
  return gloop_fail(fs.forever_rc, "late error");
}

static int fail_main(void *arg) {
  gloop_nursery *n;
  (void)arg;
  ASSERT_EQ_STR(gloop_last_message(), "");
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, slow_sibling, NULL, "slow", NULL));
  ASSERT_OK(gloop_nursery_start(n, failing_child, NULL, "failer", NULL));
  ASSERT_OK(gloop_nursery_start(n, forever_sibling, NULL, "forever", NULL));
  /* The owner's own code inside the nursery is cancelled too. */
  fs.owner_rc = gloop_sleep(50.0);
  fs.owner_woke = gloop_now();
  fs.close_rc = gloop_nursery_close(n);
  snprintf(fs.message, sizeof fs.message, "%s", gloop_last_message());
  return gloop_fail(fs.close_rc, "nursery said: %s", gloop_last_message());
}

TEST_CASE(nursery_first_failure) {
  gloop_options o;
  gloop_clock *clk = test_mock_options(&o, 0.0, 0.0);
  memset(&fs, 0, sizeof fs);
  ASSERT_ERR(test_guest_run(fail_main, NULL, &o, 1), GLOOP_EPIPE);
  host_toy_stats s = host_toy_get_stats();
  ASSERT_ERR(fs.close_rc, GLOOP_EPIPE);
  ASSERT_STR_CONTAINS(fs.message, "boom 42");
  ASSERT_ERR(fs.sibling_rc, GLOOP_ECANCELED);
  ASSERT_ERR(fs.forever_rc, GLOOP_ECANCELED);
  ASSERT_ERR(fs.owner_rc, GLOOP_ECANCELED);
  /* Cancellation is immediate: nobody waited for their own deadline. */
  ASSERT_NEAR(fs.sibling_woke, 1.0, 1e-9);
  ASSERT_NEAR(fs.owner_woke, 1.0, 1e-9);
  /* And the outcome of the run carries it up. */
  ASSERT_STR_CONTAINS(s.done_message, "boom 42");
  ASSERT_OK(gloop_clock_free(clk));
  return 0;
}

/* ---- gloop_nursery_cancel ------------------------------------------------ */

static int ncancel_rc[2];

static int ncancel_child(void *arg) {
  ncancel_rc[0] = gloop_sleep_forever();
  (void)arg;
  return 0;
}

static int ncancel_main(void *arg) {
  gloop_nursery *n;
  (void)arg;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, ncancel_child, NULL, NULL, NULL));
  ASSERT_OK(gloop_checkpoint());
  ASSERT_OK(gloop_nursery_cancel(n));
  ncancel_rc[1] = gloop_checkpoint();
  /* Cancellation is not failure: close reports the children's statuses. */
  ASSERT_OK(gloop_nursery_close(n));
  /* It was the nursery's scope, which is gone now. */
  ASSERT_OK(gloop_checkpoint());
  return 0;
}

TEST_CASE(nursery_cancel) {
  ncancel_rc[0] = ncancel_rc[1] = 12345;
  ASSERT_OK(test_guest_run(ncancel_main, NULL, NULL, 1));
  ASSERT_ERR(ncancel_rc[0], GLOOP_ECANCELED);
  ASSERT_ERR(ncancel_rc[1], GLOOP_ECANCELED);
  return 0;
}

/* ---- Children started from host context ---------------------------------- */

typedef struct hostspawn_state {
  gloop_nursery *nursery;
  gloop_event *release;
  gloop_timer *timer;
  int ran[3];
  int in_task[3];
  char names[3][32];
  int close_rc;
  int closing_start_rc;
} hostspawn_state;

static hostspawn_state hs;

static int hostspawn_child(void *arg) {
  int i = *(int *)arg;
  hs.ran[i]++;
  hs.in_task[i] = gloop_current_task() != NULL;
  /* Copy: the name lives in the task, which is gone after it returns. */
  snprintf(hs.names[i], sizeof hs.names[i], "%s", gloop_task_name(gloop_current_task()));
  return 0;
}

static int idx3[3] = {0, 1, 2};

static void spawn_from_timer(void *arg) {
  (void)arg;
  /* A timer callback is host context too. */
  ASSERT_NULL(gloop_current_task());
  ASSERT_OK(gloop_nursery_start(hs.nursery, hostspawn_child, &idx3[1], "by-timer", NULL));
}

static void spawn_from_host(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_nursery_start(hs.nursery, hostspawn_child, &idx3[0], "by-host", NULL));
}

static void release_owner(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_event_set(hs.release));
}

static int hostspawn_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_event_new(&hs.release));
  ASSERT_OK(gloop_timer_new(&hs.timer));
  ASSERT_OK(gloop_nursery_open(&hs.nursery));
  ASSERT_OK(gloop_timer_start(hs.timer, 0.005, spawn_from_timer, NULL));
  ASSERT_OK(gloop_event_wait(hs.release));
  hs.close_rc = gloop_nursery_close(hs.nursery);
  hs.nursery = NULL;
  gloop_timer_free(hs.timer);
  gloop_event_free(hs.release);
  return hs.close_rc;
}

static int hostspawn_ready(void *arg) {
  (void)arg;
  return hs.nursery != NULL;
}

static int hostspawn_both_ran(void *arg) {
  (void)arg;
  return hs.ran[0] && hs.ran[1];
}

TEST_CASE(nursery_host_start) {
  memset(&hs, 0, sizeof hs);
  host_toy_init();
  ASSERT_OK(host_toy_start(hostspawn_main, NULL, NULL, 1));
  host_toy_run_until(hostspawn_ready, NULL, 5.0);
  /* The guest is idle by then: starting a child must wake it. */
  host_toy_call_later(0.020, spawn_from_host, NULL);
  host_toy_run_until(hostspawn_both_ran, NULL, 5.0);
  release_owner(NULL);
  host_toy_run_until_done();
  host_toy_stats s = host_toy_get_stats();
  ASSERT_OK(s.done_status);
  ASSERT_OK(hs.close_rc);
  for (int i = 0; i < 2; i++) {
    ASSERT_EQ_INT(hs.ran[i], 1);
    ASSERT_EQ_INT(hs.in_task[i], 1);
  }
  ASSERT_EQ_STR(hs.names[0], "by-host");
  ASSERT_EQ_STR(hs.names[1], "by-timer");
  host_toy_fini();
  return 0;
}

/* ---- Starting into a closing or closed nursery -------------------------- */

/* While the owner waits in close and a child still runs, the nursery still
 * takes new children (as in Trio), from a task and from host context alike,
 * and close waits for them too. */

typedef struct closing_state {
  gloop_nursery *nursery;
  int task_rc;
  int task_tried;
  int host_rc;
  int host_tried;
  int late_ran;
  int in_close;
  int late_ran_at_close_return;
} closing_state;

static closing_state cl;

static int closing_late(void *arg) {
  (void)arg;
  cl.late_ran++;
  return 0;
}

static int closing_child(void *arg) {
  (void)arg;
  /* Wait until the owner sits in close. */
  while (!cl.in_close) ASSERT_OK(gloop_checkpoint());
  ASSERT_OK(gloop_checkpoint());
  cl.task_rc = gloop_nursery_start(cl.nursery, closing_late, NULL, NULL, NULL);
  cl.task_tried = 1;
  /* Stay alive until the host has tried too. */
  while (!cl.host_tried) ASSERT_OK(gloop_sleep(0.002));
  return 0;
}

static int closing_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_nursery_open(&cl.nursery));
  ASSERT_OK(gloop_nursery_start(cl.nursery, closing_child, NULL, NULL, NULL));
  cl.in_close = 1;
  int rc = gloop_nursery_close(cl.nursery);
  cl.late_ran_at_close_return = cl.late_ran;
  cl.nursery = NULL;
  return rc;
}

static int closing_task_tried(void *arg) {
  (void)arg;
  return cl.task_tried;
}

TEST_CASE(nursery_start_while_closing) {
  memset(&cl, 0, sizeof cl);
  host_toy_init();
  ASSERT_OK(host_toy_start(closing_main, NULL, NULL, 1));
  host_toy_run_until(closing_task_tried, NULL, 5.0);
  ASSERT_NOT_NULL(cl.nursery);
  cl.host_rc = gloop_nursery_start(cl.nursery, closing_late, NULL, NULL, NULL);
  cl.host_tried = 1;
  host_toy_run_until_done();
  host_toy_stats s = host_toy_get_stats();
  ASSERT_OK(s.done_status);
  ASSERT_OK(cl.task_rc);
  ASSERT_OK(cl.host_rc);
  ASSERT_EQ_INT(cl.late_ran_at_close_return, 2);
  host_toy_fini();
  return 0;
}

/* After the last child has ended but before the owner has come back from
 * close, the nursery is still allocated but closed for good: a start then
 * must be refused. A prober task beside the owner watches for that window. */

typedef struct closed_state {
  gloop_nursery *nursery;
  int owner_in_close;
  int child_ended;
  int owner_back;
  int probe_rc;
  int probed;
  int late_ran;
} closed_state;

static closed_state cd;

static int closed_late(void *arg) {
  (void)arg;
  cd.late_ran++;
  return 0;
}

static int closed_child(void *arg) {
  (void)arg;
  while (!cd.owner_in_close) ASSERT_OK(gloop_checkpoint());
  cd.child_ended = 1;
  return 0;
}

static int closed_owner(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_nursery_open(&cd.nursery));
  ASSERT_OK(gloop_nursery_start(cd.nursery, closed_child, NULL, "child", NULL));
  cd.owner_in_close = 1;
  int rc = gloop_nursery_close(cd.nursery);
  cd.owner_back = 1;
  return rc;
}

static int closed_prober(void *arg) {
  (void)arg;
  while (!cd.child_ended) ASSERT_OK(gloop_checkpoint());
  /* The owner was woken by the child's end, in the prober's batch at the
   * earliest, so it cannot have run yet: its nursery still exists. */
  ASSERT_EQ_INT(cd.owner_back, 0);
  cd.probe_rc = gloop_nursery_start(cd.nursery, closed_late, NULL, NULL, NULL);
  cd.probed = 1;
  return 0;
}

static int closed_main(void *arg) {
  gloop_nursery *n;
  (void)arg;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, closed_prober, NULL, "prober", NULL));
  ASSERT_OK(gloop_nursery_start(n, closed_owner, NULL, "owner", NULL));
  return gloop_nursery_close(n);
}

TEST_CASE(nursery_start_after_close) {
  memset(&cd, 0, sizeof cd);
  cd.probe_rc = 12345;
  ASSERT_OK(test_guest_run(closed_main, NULL, NULL, 1));
  ASSERT_EQ_INT(cd.probed, 1);
  ASSERT_ERR(cd.probe_rc, GLOOP_ECLOSED);
  ASSERT_EQ_INT(cd.late_ran, 0);
  return 0;
}

/* ---- Bad uses of nurseries ---------------------------------------------- */

static gloop_nursery *parent_nursery;
static int child_close_rc;

static int noop_ran;

static int noop_task(void *arg) {
  (void)arg;
  noop_ran++;
  return 0;
}

static int close_parents(void *arg) {
  (void)arg;
  child_close_rc = gloop_nursery_close(parent_nursery);
  return 0;
}

static int nbad_main(void *arg) {
  gloop_nursery *n;
  gloop_task *t = NULL;
  (void)arg;
  ASSERT_ERR(gloop_nursery_open(NULL), GLOOP_EINVAL);
  ASSERT_OK(gloop_nursery_open(&n));
  parent_nursery = n;
  ASSERT_ERR(gloop_nursery_start(NULL, noop_task, NULL, NULL, NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_nursery_start(n, NULL, NULL, NULL, NULL), GLOOP_EINVAL);
  /* The smallest allowed stack is fine. */
  ASSERT_OK(gloop_nursery_start_ex(n, noop_task, NULL, "small", GLOOP_MIN_STACK_SIZE, &t));
  ASSERT_NOT_NULL(t);
  ASSERT_OK(gloop_nursery_start(n, close_parents, NULL, NULL, NULL));
  ASSERT_ERR(gloop_nursery_close(NULL), GLOOP_EINVAL);
  ASSERT_OK(gloop_nursery_close(n));
  /* Only the owner may close it. */
  ASSERT_ERR(child_close_rc, GLOOP_EINVAL);
  return 0;
}

TEST_CASE(nursery_bad_input) {
  ASSERT_OK(test_guest_run(nbad_main, NULL, NULL, 1));
  return 0;
}

/* A stack size out of range is GLOOP_ESTACKSIZE here as in the run options;
 * nothing is started. */
static int nstack_main(void *arg) {
  gloop_nursery *n;
  (void)arg;
  ASSERT_OK(gloop_nursery_open(&n));
  int big = gloop_nursery_start_ex(n, noop_task, NULL, NULL, GLOOP_MAX_STACK_SIZE + 1, NULL);
  int tiny = gloop_nursery_start_ex(n, noop_task, NULL, NULL, 1, NULL);
  ASSERT_OK(gloop_nursery_close(n));
  ASSERT_ERR(big, GLOOP_ESTACKSIZE);
  ASSERT_ERR(tiny, GLOOP_ESTACKSIZE);
  ASSERT_EQ_INT(noop_ran, 0);
  return 0;
}

TEST_CASE(nursery_stack_size_range) {
  ASSERT_OK(test_guest_run(nstack_main, NULL, NULL, 1));
  return 0;
}

/* ---- A task returns with its nursery still open -------------------------- */

/* The header does not say what happens; the suite pins down the minimum the
 * rest of the contract implies: no crash, the grandchild still ends (done_cb
 * comes only after every task has ended), and the run finishes once. What
 * the implementation chose is printed for the record. */

typedef struct leftover_state {
  int grandchild_rc;
  int grandchild_ended;
  double grandchild_end;
  int child_returned;
  int scope_left_open;
  char close_message[256];
} leftover_state;

static leftover_state lo;

static int leftover_grandchild(void *arg) {
  (void)arg;
  lo.grandchild_rc = gloop_sleep(5.0);
  lo.grandchild_end = gloop_now();
  lo.grandchild_ended = 1;
  return 0;
}

static int leftover_child(void *arg) {
  gloop_nursery *n;
  gloop_scope *s;
  (void)arg;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, leftover_grandchild, NULL, "grandchild", NULL));
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &s));
  lo.scope_left_open = 1;
  lo.child_returned = 1;
  return 0; /* neither the scope nor the nursery is closed */
}

static int leftover_main(void *arg) {
  gloop_nursery *n;
  (void)arg;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, leftover_child, NULL, "careless", NULL));
  int rc = gloop_nursery_close(n);
  snprintf(lo.close_message, sizeof lo.close_message, "%s", gloop_last_message());
  return rc;
}

TEST_CASE(nursery_left_open) {
  gloop_options o;
  gloop_clock *clk = test_mock_options(&o, 0.0, 0.0);
  memset(&lo, 0, sizeof lo);
  lo.grandchild_rc = 12345;
  int status = test_guest_run(leftover_main, NULL, &o, 1);
  host_toy_stats s = host_toy_get_stats();
  ASSERT_EQ_INT(lo.child_returned, 1);
  ASSERT_EQ_INT(lo.grandchild_ended, 1);
  printf("# open nursery at task return: run status %d (%s) \"%s\"; parent's close said "
         "\"%s\"; grandchild got %d (%s) at clock %.3f\n",
         status, gloop_err_name(status), s.done_message, lo.close_message, lo.grandchild_rc,
         gloop_err_name(lo.grandchild_rc), lo.grandchild_end);
  ASSERT_OK(gloop_clock_free(clk));
  return 0;
}
