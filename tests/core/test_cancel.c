/* test_cancel.c - cases for cancel scopes: cancel, shield, timeouts, nesting, and cancelling the whole run. */
#include <math.h>
#include <string.h>

#include "guestloop/testing.h"
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

/* ---- The remembered answer of the cancellation check --------------------- *
 *
 * A check that walks the scope chain and finds nothing remembers that
 * until something changes (gloop__task_check_cancel). Each case below makes
 * the check walk once and find nothing, then makes one change that must
 * turn the answer, and fails if the remembered answer outlives it. */

/* The scope chain of the running task changes: closing a shield leaves the
 * task in an outer scope that was cancelled meanwhile. */
static int cached_close_main(void *arg) {
  gloop_scope *outer, *shield;
  (void)arg;
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &outer));
  ASSERT_OK(gloop_scope_open(INFINITY, GLOOP_SCOPE_SHIELD, &shield));
  ASSERT_OK(gloop_scope_cancel(outer));
  ASSERT_OK(gloop_checkpoint()); /* walks, finds the shield: not cancelled */
  ASSERT_OK(gloop_checkpoint()); /* answered from the remembered walk */
  ASSERT_OK(gloop_scope_close(shield));
  ASSERT_ERR(gloop_checkpoint(), GLOOP_ECANCELED);
  ASSERT_OK(gloop_scope_close(outer));
  return 0;
}

TEST_CASE(cancel_cached_shield_close) {
  ASSERT_OK(test_guest_run(cached_close_main, NULL, NULL, 1));
  return 0;
}

/* A shield is dropped while the task runs inside it. */
static int cached_drop_main(void *arg) {
  gloop_scope *outer, *shield;
  (void)arg;
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &outer));
  ASSERT_OK(gloop_scope_open(INFINITY, GLOOP_SCOPE_SHIELD, &shield));
  ASSERT_OK(gloop_scope_cancel(outer));
  ASSERT_OK(gloop_checkpoint());
  ASSERT_OK(gloop_scope_set_shield(shield, 0));
  ASSERT_ERR(gloop_checkpoint(), GLOOP_ECANCELED);
  ASSERT_EQ_INT(gloop_scope_cancelled_caught(outer), 1);
  ASSERT_OK(gloop_scope_close(shield));
  ASSERT_OK(gloop_scope_close(outer));
  return 0;
}

TEST_CASE(cancel_cached_shield_drop) {
  ASSERT_OK(test_guest_run(cached_drop_main, NULL, NULL, 1));
  return 0;
}

/* Another task cancels a ready (not blocked) task, by its scope or by the
 * task itself: the ready task learns it at its next checkpoint. */
typedef struct cached_ready {
  gloop_scope *scope;          /* the looping task's scope */
  gloop_task_ref ref;          /* the looping task */
  int by_ref;                  /* cancel through ref rather than scope */
  int ready;                   /* scope and ref are set */
  long clear_checkpoints;      /* checkpoints that returned 0 */
  int after_cancel;            /* the looping task ran after the cancel */
  int rc;
} cached_ready;

static int cached_loop(void *arg) {
  cached_ready *st = arg;
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &st->scope));
  ASSERT_OK(gloop_task_get_ref(gloop_current_task(), &st->ref));
  st->ready = 1;
  int rc;
  int returned_after = 0;
  while ((rc = gloop_checkpoint()) == 0) {
    st->clear_checkpoints++;
    /* A checkpoint tests before it yields, so the one during which the
     * cancel happened returns 0; the next one must not. */
    if (st->after_cancel && ++returned_after > 1) break;
  }
  st->rc = rc;
  ASSERT_OK(gloop_scope_close(st->scope));
  return 0;
}

static int cached_canceller(void *arg) {
  cached_ready *st = arg;
  /* Let the loop walk its chain once and then answer from memory. */
  while (!st->ready || st->clear_checkpoints < 3) ASSERT_OK(gloop_checkpoint());
  if (st->by_ref)
    ASSERT_OK(gloop_task_ref_cancel(st->ref));
  else
    ASSERT_OK(gloop_scope_cancel(st->scope));
  st->after_cancel = 1;
  return 0;
}

static int cached_ready_main(void *arg) {
  gloop_nursery *n;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, cached_loop, arg, "loop", NULL));
  ASSERT_OK(gloop_nursery_start(n, cached_canceller, arg, "canceller", NULL));
  return gloop_nursery_close(n);
}

static int cached_ready_case(int by_ref) {
  cached_ready st;
  memset(&st, 0, sizeof st);
  st.by_ref = by_ref;
  ASSERT_OK(test_guest_run(cached_ready_main, &st, NULL, 1));
  ASSERT_ERR(st.rc, GLOOP_ECANCELED);
  ASSERT_GE_UINT((unsigned long)st.clear_checkpoints, 3);
  return 0;
}

TEST_CASE(cancel_cached_scope_of_ready_task) { return cached_ready_case(0); }

TEST_CASE(cancel_cached_ready_task) { return cached_ready_case(1); }

/* The check walks once for as long as nothing changes, however deep the
 * chain, and walks again after a change anywhere in the run. */
static int cached_walks_main(void *arg) {
  gloop_scope *s[8], *other;
  unsigned long w0, w1, w2;
  (void)arg;
  for (int i = 0; i < 8; i++) ASSERT_OK(gloop_scope_open(INFINITY, 0, &s[i]));
  ASSERT_OK(gloop_checkpoint());
  ASSERT_OK(gloop_sched_info(NULL, NULL, &w0));
  for (int i = 0; i < 1000; i++) ASSERT_OK(gloop_checkpoint());
  ASSERT_OK(gloop_sched_info(NULL, NULL, &w1));
  ASSERT_EQ_UINT(w1, w0);
  /* A cancellation that does not reach this task still makes it walk once
   * (the check cannot tell where a change was), and then it is remembered. */
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &other));
  ASSERT_OK(gloop_scope_cancel(other));
  ASSERT_ERR(gloop_checkpoint(), GLOOP_ECANCELED);
  ASSERT_OK(gloop_scope_close(other));
  ASSERT_OK(gloop_sched_info(NULL, NULL, &w1));
  for (int i = 0; i < 100; i++) ASSERT_OK(gloop_checkpoint());
  ASSERT_OK(gloop_sched_info(NULL, NULL, &w2));
  ASSERT_EQ_UINT(w2, w1 + 1);
  for (int i = 7; i >= 0; i--) ASSERT_OK(gloop_scope_close(s[i]));
  return 0;
}

TEST_CASE(cancel_cached_walks_once) {
  ASSERT_OK(test_guest_run(cached_walks_main, NULL, NULL, 1));
  return 0;
}
