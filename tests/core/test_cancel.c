/* test_cancel.c - cases for cancel scopes: cancel, shield, timeouts, nesting, and cancelling the whole run. */
#include <math.h>
#include <string.h>

#include "host_toy.h"
#include "test.h"

/* ---- Cancelling a scope wakes a blocked task ----------------------------- */

typedef struct cancel_state {
  gloop_scope *scope;
  gloop_event *never_set;
  gloop_semaphore *empty;
  int rc[8];
  int cancel_called, caught;
  int close_rc, after_close_rc;
  int was_blocked;
  double start_real, woke_real;
} cancel_state;

static cancel_state cs;

static int cancel_victim(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &cs.scope));
  ASSERT_EQ_INT(gloop_scope_cancel_called(cs.scope), 0);
  cs.was_blocked = 1;
  cs.rc[0] = gloop_sleep(1000.0);
  cs.was_blocked = 0;
  cs.woke_real = test_real_now();
  /* Every later blocking call in the scope fails at once. */
  cs.rc[1] = gloop_checkpoint();
  cs.rc[2] = gloop_sleep(0.0);
  cs.rc[3] = gloop_event_wait(cs.never_set);
  cs.rc[4] = gloop_semaphore_acquire(cs.empty);
  cs.rc[5] = gloop_sleep_forever();
  cs.rc[6] = gloop_sleep_until(gloop_now() + 1000.0);
  cs.cancel_called = gloop_scope_cancel_called(cs.scope);
  cs.caught = gloop_scope_cancelled_caught(cs.scope);
  cs.close_rc = gloop_scope_close(cs.scope);
  /* Outside the scope nothing is cancelled any more. */
  cs.after_close_rc = gloop_checkpoint();
  return 0;
}

static int cancel_killer(void *arg) {
  (void)arg;
  /* The victim started first, so by our second batch it is asleep. */
  ASSERT_OK(gloop_checkpoint());
  ASSERT_EQ_INT(cs.was_blocked, 1);
  ASSERT_OK(gloop_scope_cancel(cs.scope));
  ASSERT_OK(gloop_scope_cancel(cs.scope)); /* idempotent */
  return 0;
}

static int cancel_main(void *arg) {
  gloop_nursery *n;
  (void)arg;
  ASSERT_OK(gloop_event_new(&cs.never_set));
  ASSERT_OK(gloop_semaphore_new(0, 0, &cs.empty));
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, cancel_victim, NULL, "victim", NULL));
  ASSERT_OK(gloop_nursery_start(n, cancel_killer, NULL, "killer", NULL));
  int rc = gloop_nursery_close(n);
  gloop_event_free(cs.never_set);
  gloop_semaphore_free(cs.empty);
  return rc;
}

TEST_CASE(cancel_scope_wakes) {
  memset(&cs, 0, sizeof cs);
  for (int i = 0; i < 8; i++) cs.rc[i] = 12345;
  cs.start_real = test_real_now();
  ASSERT_OK(test_guest_run(cancel_main, NULL, NULL, 1));
  for (int i = 0; i < 7; i++) ASSERT_ERR(cs.rc[i], GLOOP_ECANCELED);
  ASSERT_EQ_INT(cs.cancel_called, 1);
  ASSERT_EQ_INT(cs.caught, 1);
  ASSERT_OK(cs.close_rc);
  ASSERT_OK(cs.after_close_rc);
  ASSERT_LT_DBL(cs.woke_real - cs.start_real, test_limit(2.0));
  return 0;
}

/* cancelled_caught is set only when a blocking call actually reported it. */
static int caught_main(void *arg) {
  gloop_scope *s;
  (void)arg;
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &s));
  ASSERT_OK(gloop_scope_cancel(s));
  ASSERT_EQ_INT(gloop_scope_cancel_called(s), 1);
  ASSERT_EQ_INT(gloop_scope_cancelled_caught(s), 0);
  ASSERT_OK(gloop_scope_close(s));

  ASSERT_OK(gloop_scope_open(INFINITY, 0, &s));
  ASSERT_OK(gloop_scope_cancel(s));
  ASSERT_ERR(gloop_checkpoint(), GLOOP_ECANCELED);
  ASSERT_EQ_INT(gloop_scope_cancelled_caught(s), 1);
  ASSERT_OK(gloop_scope_close(s));
  ASSERT_OK(gloop_checkpoint());
  return 0;
}

TEST_CASE(cancel_caught_flag) {
  ASSERT_OK(test_guest_run(caught_main, NULL, NULL, 0));
  return 0;
}

/* ---- Shields ------------------------------------------------------------ */

static int shield_main(void *arg) {
  gloop_scope *outer, *shield;
  (void)arg;
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &outer));
  ASSERT_OK(gloop_scope_cancel(outer));
  ASSERT_ERR(gloop_checkpoint(), GLOOP_ECANCELED);

  /* Cleanup inside a shield can still block. */
  ASSERT_OK(gloop_scope_open(INFINITY, GLOOP_SCOPE_SHIELD, &shield));
  ASSERT_OK(gloop_checkpoint());
  ASSERT_OK(gloop_sleep(0.001));
  /* Dropping the shield lets the outer cancellation in again ... */
  ASSERT_OK(gloop_scope_set_shield(shield, 0));
  ASSERT_ERR(gloop_checkpoint(), GLOOP_ECANCELED);
  ASSERT_EQ_INT(gloop_scope_cancelled_caught(shield), 0);
  /* ... and raising it keeps it out. */
  ASSERT_OK(gloop_scope_set_shield(shield, 1));
  ASSERT_OK(gloop_checkpoint());
  /* A shield stops cancellation from outside only: its own still works. */
  ASSERT_OK(gloop_scope_cancel(shield));
  ASSERT_ERR(gloop_sleep(0.001), GLOOP_ECANCELED);
  ASSERT_EQ_INT(gloop_scope_cancelled_caught(shield), 1);
  ASSERT_OK(gloop_scope_close(shield));

  ASSERT_ERR(gloop_checkpoint(), GLOOP_ECANCELED);
  ASSERT_EQ_INT(gloop_scope_cancelled_caught(outer), 1);
  ASSERT_OK(gloop_scope_close(outer));
  ASSERT_OK(gloop_checkpoint());
  return 0;
}

TEST_CASE(cancel_shield) {
  ASSERT_OK(test_guest_run(shield_main, NULL, NULL, 1));
  return 0;
}

/* ---- move_on_after / fail_after ----------------------------------------- */

static int timeouts_main(void *arg) {
  gloop_scope *s;
  (void)arg;
  ASSERT_NEAR(gloop_now(), 0.0, 1e-9);

  /* move_on_after: the deadline cancels, close reports success. */
  ASSERT_OK(gloop_move_on_after(5.0, &s));
  ASSERT_NEAR(gloop_scope_deadline(s), 5.0, 1e-9);
  ASSERT_ERR(gloop_sleep(10.0), GLOOP_ECANCELED);
  ASSERT_NEAR(gloop_now(), 5.0, 1e-9);
  ASSERT_EQ_INT(gloop_scope_cancel_called(s), 1);
  ASSERT_EQ_INT(gloop_scope_cancelled_caught(s), 1);
  ASSERT_OK(gloop_scope_close(s));

  /* fail_after: the same, but close reports the timeout. */
  ASSERT_OK(gloop_fail_after(5.0, &s));
  ASSERT_ERR(gloop_sleep(10.0), GLOOP_ECANCELED);
  ASSERT_NEAR(gloop_now(), 10.0, 1e-9);
  ASSERT_ERR(gloop_scope_close(s), GLOOP_ETIMEDOUT);

  /* Work that finishes in time: no cancellation, close is 0. */
  ASSERT_OK(gloop_fail_after(5.0, &s));
  ASSERT_OK(gloop_sleep(1.0));
  ASSERT_EQ_INT(gloop_scope_cancel_called(s), 0);
  ASSERT_OK(gloop_scope_close(s));
  ASSERT_NEAR(gloop_now(), 11.0, 1e-9);

  ASSERT_OK(gloop_move_on_after(5.0, &s));
  ASSERT_OK(gloop_sleep(1.0));
  ASSERT_EQ_INT(gloop_scope_cancelled_caught(s), 0);
  ASSERT_OK(gloop_scope_close(s));

  /* GLOOP_SCOPE_FAIL with an absolute deadline. */
  ASSERT_OK(gloop_scope_open(gloop_now() + 2.0, GLOOP_SCOPE_FAIL, &s));
  ASSERT_ERR(gloop_sleep_forever(), GLOOP_ECANCELED);
  ASSERT_NEAR(gloop_now(), 14.0, 1e-9);
  ASSERT_ERR(gloop_scope_close(s), GLOOP_ETIMEDOUT);

  /* An explicit cancel of a fail scope is not a timeout. */
  ASSERT_OK(gloop_fail_after(5.0, &s));
  ASSERT_OK(gloop_scope_cancel(s));
  ASSERT_ERR(gloop_sleep(1.0), GLOOP_ECANCELED);
  ASSERT_OK(gloop_scope_close(s));
  ASSERT_NEAR(gloop_now(), 14.0, 1e-9);
  return 0;
}

TEST_CASE(cancel_move_on_fail_after) {
  gloop_options o;
  gloop_clock *clk = test_mock_options(&o, 0.0, 0.0);
  ASSERT_OK(test_guest_run(timeouts_main, NULL, &o, 1));
  ASSERT_OK(gloop_clock_free(clk));
  return 0;
}

/* ---- Nested scopes ------------------------------------------------------ */

static gloop_scope *foreign_scope;
static int foreign_close_rc;

static int scope_thief(void *arg) {
  (void)arg;
  /* Only the task that opened a scope may close it. */
  foreign_close_rc = gloop_scope_close(foreign_scope);
  return 0;
}

static int nested_main(void *arg) {
  gloop_scope *outer, *inner;
  gloop_nursery *n;
  (void)arg;
  /* The inner, earlier deadline fires first and only the inner scope caught it. */
  ASSERT_OK(gloop_scope_open(10.0, 0, &outer));
  ASSERT_OK(gloop_scope_open(5.0, 0, &inner));
  ASSERT_ERR(gloop_sleep(100.0), GLOOP_ECANCELED);
  ASSERT_NEAR(gloop_now(), 5.0, 1e-9);
  ASSERT_EQ_INT(gloop_scope_cancelled_caught(inner), 1);
  ASSERT_EQ_INT(gloop_scope_cancel_called(outer), 0);
  /* Scopes close innermost first. */
  ASSERT_ERR(gloop_scope_close(outer), GLOOP_EINVAL);
  ASSERT_OK(gloop_scope_close(inner));
  ASSERT_ERR(gloop_sleep(100.0), GLOOP_ECANCELED);
  ASSERT_NEAR(gloop_now(), 10.0, 1e-9);
  ASSERT_EQ_INT(gloop_scope_cancelled_caught(outer), 1);
  ASSERT_OK(gloop_scope_close(outer));

  /* The outer, earlier deadline reaches through an inner scope. */
  ASSERT_OK(gloop_scope_open(13.0, 0, &outer));
  ASSERT_OK(gloop_scope_open(17.0, 0, &inner));
  ASSERT_ERR(gloop_sleep(100.0), GLOOP_ECANCELED);
  ASSERT_NEAR(gloop_now(), 13.0, 1e-9);
  ASSERT_EQ_INT(gloop_scope_cancelled_caught(outer), 1);
  ASSERT_EQ_INT(gloop_scope_cancelled_caught(inner), 0);
  ASSERT_EQ_INT(gloop_scope_cancel_called(inner), 0);
  ASSERT_OK(gloop_scope_close(inner));
  ASSERT_OK(gloop_scope_close(outer));

  /* An explicit cancel of the outer scope is seen inside the inner one. */
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &outer));
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &inner));
  ASSERT_OK(gloop_scope_cancel(outer));
  ASSERT_ERR(gloop_checkpoint(), GLOOP_ECANCELED);
  ASSERT_EQ_INT(gloop_scope_cancelled_caught(outer), 1);
  ASSERT_EQ_INT(gloop_scope_cancelled_caught(inner), 0);
  ASSERT_OK(gloop_scope_close(inner));
  ASSERT_ERR(gloop_checkpoint(), GLOOP_ECANCELED);
  ASSERT_OK(gloop_scope_close(outer));
  ASSERT_OK(gloop_checkpoint());

  /* Another task cannot close our scope. */
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &foreign_scope));
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, scope_thief, NULL, "thief", NULL));
  ASSERT_OK(gloop_nursery_close(n));
  ASSERT_ERR(foreign_close_rc, GLOOP_EINVAL);
  ASSERT_OK(gloop_scope_close(foreign_scope));
  return 0;
}

TEST_CASE(cancel_nested) {
  gloop_options o;
  gloop_clock *clk = test_mock_options(&o, 0.0, 0.0);
  ASSERT_OK(test_guest_run(nested_main, NULL, &o, 1));
  ASSERT_OK(gloop_clock_free(clk));
  return 0;
}

/* ---- gloop_cancel_run --------------------------------------------------- */

typedef struct runcancel_state {
  int child_rc[2];
  int main_rc;
  int shielded_sleep_rc, shielded_after_rc;
  int started;
  int from_task;
  int cancel_issued;
} runcancel_state;

static runcancel_state rcs;

static int runcancel_sleeper(void *arg) {
  int i = *(int *)arg;
  rcs.started++;
  rcs.child_rc[i] = gloop_sleep_forever();
  return 0;
}

static int runcancel_shielded(void *arg) {
  gloop_scope *s;
  (void)arg;
  rcs.started++;
  ASSERT_OK(gloop_scope_open(INFINITY, GLOOP_SCOPE_SHIELD, &s));
  /* Inside the shield, blocking keeps working across the run cancel. */
  while (!rcs.cancel_issued) ASSERT_OK(gloop_sleep(0.002));
  rcs.shielded_sleep_rc = gloop_sleep(0.002);
  ASSERT_OK(gloop_scope_close(s));
  rcs.shielded_after_rc = gloop_checkpoint();
  return 0;
}

static int runcancel_canceller(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_sleep(0.005));
  rcs.cancel_issued = 1;
  ASSERT_OK(gloop_cancel_run());
  ASSERT_OK(gloop_cancel_run());
  return 0;
}

static int runcancel_main(void *arg) {
  static int idx[2] = {0, 1};
  gloop_nursery *n;
  (void)arg;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, runcancel_sleeper, &idx[0], NULL, NULL));
  ASSERT_OK(gloop_nursery_start(n, runcancel_sleeper, &idx[1], NULL, NULL));
  ASSERT_OK(gloop_nursery_start(n, runcancel_shielded, NULL, NULL, NULL));
  if (rcs.from_task) ASSERT_OK(gloop_nursery_start(n, runcancel_canceller, NULL, NULL, NULL));
  rcs.main_rc = gloop_sleep_forever();
  return gloop_nursery_close(n);
}

static int runcancel_ready(void *arg) {
  (void)arg;
  return rcs.started == 3;
}

static void check_runcancel(void) {
  ASSERT_ERR(rcs.child_rc[0], GLOOP_ECANCELED);
  ASSERT_ERR(rcs.child_rc[1], GLOOP_ECANCELED);
  ASSERT_ERR(rcs.main_rc, GLOOP_ECANCELED);
  ASSERT_OK(rcs.shielded_sleep_rc);
  ASSERT_ERR(rcs.shielded_after_rc, GLOOP_ECANCELED);
}

TEST_CASE(cancel_run) {
  /* From host context, while every task is blocked. */
  memset(&rcs, 0, sizeof rcs);
  host_toy_init();
  ASSERT_OK(host_toy_start(runcancel_main, NULL, NULL, 1));
  host_toy_run_until(runcancel_ready, NULL, 5.0);
  host_toy_run_for(0.005);
  rcs.cancel_issued = 1;
  ASSERT_OK(gloop_cancel_run());
  ASSERT_OK(gloop_cancel_run());
  host_toy_run_until_done();
  host_toy_stats s = host_toy_get_stats();
  ASSERT_EQ_INT(s.done_calls, 1);
  ASSERT_OK(s.done_status);
  check_runcancel();
  host_toy_fini();
  ASSERT_ERR(gloop_cancel_run(), GLOOP_ENORUN);

  /* From a task. */
  memset(&rcs, 0, sizeof rcs);
  rcs.from_task = 1;
  ASSERT_OK(test_guest_run(runcancel_main, NULL, NULL, 1));
  check_runcancel();
  return 0;
}
