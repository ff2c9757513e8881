/* test_time.c - cases for time: sleep and timer order, the mock clock, idle waits without polling, and host-side wake-ups. */
#include <math.h>
#include <string.h>

#include "host_toy.h"
#include "test.h"

/* ---- Sleeps wake in deadline order, equal deadlines FIFO ----------------- */

typedef struct sleeper {
  int id;
  double delay;    /* relative sleep, or ... */
  double until;    /* ... an absolute deadline when delay < 0 */
  double woke_at;
} sleeper;

static test_log sleep_log;

static int sleeper_task(void *arg) {
  sleeper *s = arg;
  int rc = s->delay >= 0 ? gloop_sleep(s->delay) : gloop_sleep_until(s->until);
  if (rc != 0) return rc;
  s->woke_at = gloop_now();
  test_log_add(&sleep_log, s->id);
  return 0;
}

static sleeper sleepers[] = {
    {3, 3.0, 0, 0},  {1, 1.0, 0, 0},  {2, 2.0, 0, 0},
    {11, -1, 10.0, 0}, {12, -1, 10.0, 0}, {13, -1, 10.0, 0},
};
#define NSLEEPERS ((int)(sizeof sleepers / sizeof sleepers[0]))

static int sleep_order_main(void *arg) {
  gloop_nursery *n;
  (void)arg;
  ASSERT_OK(gloop_nursery_open(&n));
  for (int i = 0; i < NSLEEPERS; i++)
    ASSERT_OK(gloop_nursery_start(n, sleeper_task, &sleepers[i], NULL, NULL));
  return gloop_nursery_close(n);
}

TEST_CASE(time_sleep_order) {
  gloop_options o;
  gloop_clock *clk = test_mock_options(&o, 0.0, 0.0);
  memset(&sleep_log, 0, sizeof sleep_log);
  ASSERT_OK(test_guest_run(sleep_order_main, NULL, &o, 1));
  ASSERT_LOG(&sleep_log, 1, 2, 3, 11, 12, 13);
  ASSERT_NEAR(sleepers[0].woke_at, 3.0, 1e-9);
  ASSERT_NEAR(sleepers[1].woke_at, 1.0, 1e-9);
  ASSERT_NEAR(sleepers[2].woke_at, 2.0, 1e-9);
  for (int i = 3; i < NSLEEPERS; i++) ASSERT_NEAR(sleepers[i].woke_at, 10.0, 1e-9);
  ASSERT_OK(gloop_clock_free(clk));
  return 0;
}

/* ---- gloop_timer_* ------------------------------------------------------ */

typedef struct timer_shot {
  int id;
  double expect_at; /* clock reading the callback must see */
} timer_shot;

typedef struct timer_state {
  test_log log;
  int bad_context;
  int wrong_time;       /* callbacks that saw an unexpected clock reading */
  double wrong_time_at; /* the last such reading */
  gloop_timer *t[8];
  int repeats;
} timer_state;

static timer_state tm;
static timer_shot shots[] = {{1, 2.0}, {2, 1.0}, {3, 1.0}, {4, 1.5}, {5, 3.0}, {7, 0.125}};

static void timer_cb(void *arg) {
  timer_shot *shot = arg;
  /* Timer callbacks run on the host thread, during a tick, outside tasks. */
  if (gloop_current_task() != NULL || !host_toy_on_host_thread()) tm.bad_context++;
  if (!(fabs(gloop_now() - shot->expect_at) <= 1e-9)) {
    tm.wrong_time++;
    tm.wrong_time_at = gloop_now();
  }
  test_log_add(&tm.log, shot->id);
}

/* Re-arms itself from its own callback, three times a quarter second apart. */
static void repeating_cb(void *arg) {
  (void)arg;
  if (gloop_current_task() != NULL) tm.bad_context++;
  tm.repeats++;
  test_log_add(&tm.log, 60 + tm.repeats);
  if (!(fabs(gloop_now() - 0.25 * tm.repeats) <= 1e-9)) {
    tm.wrong_time++;
    tm.wrong_time_at = gloop_now();
  }
  if (tm.repeats < 3) ASSERT_OK(gloop_timer_start(tm.t[6], 0.25, repeating_cb, NULL));
}

static int timer_main(void *arg) {
  (void)arg;
  for (int i = 0; i < 5; i++) ASSERT_OK(gloop_timer_new(&tm.t[i]));
  ASSERT_OK(gloop_timer_new(&tm.t[6]));
  ASSERT_OK(gloop_timer_start(tm.t[0], 2.0, timer_cb, &shots[0]));
  ASSERT_OK(gloop_timer_start(tm.t[1], 1.0, timer_cb, &shots[1]));
  ASSERT_OK(gloop_timer_start(tm.t[2], 1.0, timer_cb, &shots[2]));
  ASSERT_OK(gloop_timer_start(tm.t[3], 1.5, timer_cb, &shots[3]));
  /* Started early, then re-armed: only the second arming counts. */
  ASSERT_OK(gloop_timer_start(tm.t[4], 0.5, timer_cb, &shots[4]));
  ASSERT_OK(gloop_timer_start(tm.t[4], 3.0, timer_cb, &shots[4]));
  ASSERT_OK(gloop_timer_start(tm.t[6], 0.25, repeating_cb, NULL));
  ASSERT_EQ_INT(gloop_timer_active(tm.t[3]), 1);
  ASSERT_OK(gloop_timer_stop(tm.t[3]));
  ASSERT_EQ_INT(gloop_timer_active(tm.t[3]), 0);
  /* Stopping an idle timer is fine too. */
  ASSERT_OK(gloop_timer_stop(tm.t[3]));

  ASSERT_OK(gloop_sleep(5.0));
  for (int i = 0; i < 5; i++) ASSERT_EQ_INT(gloop_timer_active(tm.t[i]), 0);
  ASSERT_EQ_INT(gloop_timer_active(tm.t[6]), 0);
  /* A timer can be armed and freed while armed: it must then never fire. */
  ASSERT_OK(gloop_timer_start(tm.t[0], 1.0, timer_cb, &shots[0]));
  gloop_timer_free(tm.t[0]);
  tm.t[0] = NULL;
  ASSERT_OK(gloop_sleep(2.0));
  for (int i = 1; i < 7; i++) gloop_timer_free(tm.t[i]);
  return 0;
}

TEST_CASE(time_timers) {
  gloop_options o;
  gloop_clock *clk = test_mock_options(&o, 0.0, 0.0);
  memset(&tm, 0, sizeof tm);
  host_toy_init();
  ASSERT_OK(host_toy_start(timer_main, NULL, &o, 1));
  /* A timer armed from host context before the main task has run. */
  ASSERT_OK(gloop_timer_new(&tm.t[7]));
  ASSERT_OK(gloop_timer_start(tm.t[7], 0.125, timer_cb, &shots[5]));
  host_toy_run_until_done();
  host_toy_stats s = host_toy_get_stats();
  ASSERT_EQ_INT(s.done_calls, 1);
  ASSERT_OK(s.done_status);
  ASSERT_EQ_INT(tm.bad_context, 0);
  if (tm.wrong_time) TEST_FAIL("a timer callback ran at clock %.9g", tm.wrong_time_at);
  /* Deadline order; 2 and 3 share a deadline and keep their start order; 4
   * was stopped; 5 fires at its second arming only; the freed one never. */
  ASSERT_LOG(&tm.log, 7, 61, 62, 63, 2, 3, 1, 5);
  gloop_timer_free(tm.t[7]);
  host_toy_fini();
  ASSERT_OK(gloop_clock_free(clk));
  return 0;
}

/* ---- Mock clock --------------------------------------------------------- */

typedef struct mock_state {
  gloop_clock *clk;
  double before, after;
  int sleep_rc;
  int free_while_live;
  double clock_now_inside;
} mock_state;

static int long_sleep_main(void *arg) {
  mock_state *st = arg;
  st->before = gloop_now();
  st->sleep_rc = gloop_sleep(120.0);
  st->after = gloop_now();
  st->clock_now_inside = gloop_clock_now(st->clk);
  /* A clock in use by a live run cannot be freed. */
  st->free_while_live = gloop_clock_free(st->clk);
  return 0;
}

TEST_CASE(time_mock_autojump) {
  mock_state st;
  gloop_options o;
  memset(&st, 0, sizeof st);
  st.clk = test_mock_options(&o, 1000.0, 0.0);
  ASSERT_NEAR(gloop_clock_now(st.clk), 1000.0, 1e-9);
  double t0 = test_real_now();
  ASSERT_OK(test_guest_run(long_sleep_main, &st, &o, 1));
  double real = test_real_now() - t0;
  ASSERT_OK(st.sleep_rc);
  ASSERT_NEAR(st.before, 1000.0, 1e-9);
  ASSERT_NEAR(st.after - st.before, 120.0, 1e-6);
  ASSERT_NEAR(st.clock_now_inside, st.after, 1e-9);
  ASSERT_ERR(st.free_while_live, GLOOP_EBUSY);
  ASSERT_LT_DBL(real, test_limit(1.0));

  /* The same in a standalone run. */
  st.sleep_rc = -1;
  t0 = test_real_now();
  ASSERT_OK(gloop_run(long_sleep_main, &st, &o, NULL, NULL));
  ASSERT_OK(st.sleep_rc);
  ASSERT_NEAR(st.after - st.before, 120.0, 1e-6);
  ASSERT_LT_DBL(test_real_now() - t0, test_limit(1.0));
  ASSERT_OK(gloop_clock_free(st.clk));
  return 0;
}

/* Without autojump the clock moves only when the host jumps it. */
static mock_state manual;
static int manual_woke;

static int manual_main(void *arg) {
  (void)arg;
  manual.sleep_rc = gloop_sleep(10.0);
  manual.after = gloop_now();
  manual_woke = 1;
  /* Now wait on a long sleep that only turning autojump on can finish. */
  ASSERT_OK(gloop_sleep(1000.0));
  manual.clock_now_inside = gloop_now();
  return 0;
}

static void manual_jump4(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_mock_clock_jump(manual.clk, 4.0));
}

static void manual_jump6(void *arg) {
  (void)arg;
  /* Four seconds in, the ten-second sleeper must still be asleep. */
  ASSERT_EQ_INT(manual_woke, 0);
  ASSERT_NEAR(gloop_now(), 4.0, 1e-9);
  ASSERT_OK(gloop_mock_clock_jump(manual.clk, 6.0));
}

static int manual_has_woken(void *arg) {
  (void)arg;
  return manual_woke;
}

TEST_CASE(time_mock_manual) {
  gloop_options o;
  memset(&manual, 0, sizeof manual);
  manual_woke = 0;
  manual.clk = test_mock_options(&o, 0.0, INFINITY);
  host_toy_init();
  ASSERT_OK(host_toy_start(manual_main, NULL, &o, 1));
  host_toy_call_later(0.010, manual_jump4, NULL);
  host_toy_call_later(0.030, manual_jump6, NULL);
  double t0 = test_real_now();
  host_toy_run_until(manual_has_woken, NULL, 5.0);
  /* Turning autojump on must wake the idle run so it can jump. */
  ASSERT_OK(gloop_mock_clock_set_autojump(manual.clk, 0.0));
  host_toy_run_until_done();
  ASSERT_OK(manual.sleep_rc);
  ASSERT_NEAR(manual.after, 10.0, 1e-9);
  ASSERT_NEAR(manual.clock_now_inside, 1010.0, 1e-6);
  ASSERT_LT_DBL(test_real_now() - t0, test_limit(2.0));
  host_toy_stats s = host_toy_get_stats();
  ASSERT_OK(s.done_status);
  host_toy_fini();
  /* Jumps are checked even while unused. */
  ASSERT_ERR(gloop_mock_clock_jump(manual.clk, -1.0), GLOOP_EINVAL);
  ASSERT_ERR(gloop_mock_clock_jump(manual.clk, NAN), GLOOP_EINVAL);
  ASSERT_OK(gloop_mock_clock_jump(manual.clk, 0.5));
  ASSERT_NEAR(gloop_clock_now(manual.clk), 1010.5, 1e-6);
  ASSERT_OK(gloop_clock_free(manual.clk));
  return 0;
}

/* ---- Idle: one wake-up per due deadline, no polling ---------------------- */

#define IDLE_SLEEPERS 3
static unsigned long idle_wake_seq[IDLE_SLEEPERS];
static double idle_delays[IDLE_SLEEPERS] = {0.010, 0.020, 0.030};

static int idle_task(void *arg) {
  int i = *(int *)arg;
  int rc = gloop_sleep(idle_delays[i]);
  idle_wake_seq[i] = host_toy_seq();
  return rc;
}

static int idle_main(void *arg) {
  static int idx[IDLE_SLEEPERS];
  gloop_nursery *n;
  (void)arg;
  ASSERT_OK(gloop_nursery_open(&n));
  for (int i = 0; i < IDLE_SLEEPERS; i++) {
    idx[i] = i;
    ASSERT_OK(gloop_nursery_start(n, idle_task, &idx[i], NULL, NULL));
  }
  return gloop_nursery_close(n);
}

TEST_CASE(time_idle_no_polling) {
  double t0 = test_real_now();
  ASSERT_OK(test_guest_run(idle_main, NULL, NULL, 1));
  double real = test_real_now() - t0;
  host_toy_stats s = host_toy_get_stats();

  /* While idle, only the helper thread's wait ends in a threadsafe post, so
   * every threadsafe post must have started a tick in which a deadline was
   * due and a sleeper woke: an early or periodic wake-up would show up as a
   * threadsafe tick in which nobody woke. (On a loaded machine a deadline
   * can already be due when a busy tick ends; the sleeper then wakes in a
   * tick posted the cheap way, which is fine.) */
  ASSERT_GE_DBL(real, 0.030);
  ASSERT_LE_UINT(s.threadsafe_posts, IDLE_SLEEPERS);
  ASSERT_EQ_UINT(s.threadsafe_on_host, 0);
  for (unsigned long seq = 1; seq <= s.callbacks_run; seq++) {
    if (host_toy_callback_kind(seq) != 1) continue;
    int woke_here = 0;
    for (int i = 0; i < IDLE_SLEEPERS; i++) woke_here |= idle_wake_seq[i] == seq;
    if (!woke_here)
      TEST_FAIL("threadsafe tick %lu woke no sleeper (wake ticks %lu %lu %lu)", seq,
                idle_wake_seq[0], idle_wake_seq[1], idle_wake_seq[2]);
  }
  /* Busy ticks are few: start-up, spawning, and finishing. */
  ASSERT_LE_UINT(s.callbacks_run, 12);
  return 0;
}

/* ---- The host wakes an idle guest --------------------------------------- */

typedef struct hostwake_state {
  gloop_event *ev;
  int wait_rc;
  double woke_real;
  double set_real;
  int waiting;
} hostwake_state;

static hostwake_state hw;

static int hostwake_main(void *arg) {
  (void)arg;
  hw.waiting = 1;
  hw.wait_rc = gloop_event_wait(hw.ev);
  hw.woke_real = test_real_now();
  return 0;
}

static int hostwake_waiting(void *arg) {
  (void)arg;
  return hw.waiting;
}

static void hostwake_set(void *arg) {
  (void)arg;
  ASSERT_EQ_INT(hw.waiting, 1);
  hw.set_real = test_real_now();
  ASSERT_OK(gloop_event_set(hw.ev));
  ASSERT_EQ_INT(gloop_event_is_set(hw.ev), 1);
}

TEST_CASE(time_host_event_wake) {
  memset(&hw, 0, sizeof hw);
  host_toy_init();
  ASSERT_OK(host_toy_start(hostwake_main, NULL, NULL, 1));
  ASSERT_OK(gloop_event_new(&hw.ev));
  host_toy_run_until(hostwake_waiting, NULL, 5.0);
  /* 20 ms later the guest has long been idle with no deadline at all: only
   * the host's call can wake it. */
  host_toy_call_later(0.020, hostwake_set, NULL);
  host_toy_run_until_done();
  host_toy_stats s = host_toy_get_stats();
  ASSERT_OK(s.done_status);
  ASSERT_OK(hw.wait_rc);
  ASSERT_GE_DBL(hw.woke_real, hw.set_real);
  ASSERT_LT_DBL(hw.woke_real - hw.set_real, test_limit(0.5));
  gloop_event_free(hw.ev);
  host_toy_fini();
  return 0;
}

/* ---- The host moves a scope deadline ------------------------------------ */

typedef struct deadline_state {
  gloop_scope *scope;
  int sleep_rc;
  int close_rc;
  int cancel_called;
  int caught;
  double woke_clock;
  double woke_real;
  double start_real;
  double new_deadline;
} deadline_state;

static deadline_state dl;

static int deadline_main(void *arg) {
  double deadline = *(double *)arg;
  ASSERT_OK(gloop_scope_open(deadline, 0, &dl.scope));
  dl.sleep_rc = gloop_sleep_forever();
  dl.woke_clock = gloop_now();
  dl.woke_real = test_real_now();
  dl.cancel_called = gloop_scope_cancel_called(dl.scope);
  dl.caught = gloop_scope_cancelled_caught(dl.scope);
  dl.close_rc = gloop_scope_close(dl.scope);
  dl.scope = NULL;
  return 0;
}

static int scope_published(void *arg) {
  (void)arg;
  return dl.scope != NULL;
}

static void move_deadline_earlier(void *arg) {
  (void)arg;
  dl.new_deadline = gloop_now() + 0.010;
  ASSERT_OK(gloop_scope_set_deadline(dl.scope, dl.new_deadline));
  ASSERT_NEAR(gloop_scope_deadline(dl.scope), dl.new_deadline, 1e-6);
}

TEST_CASE(time_host_deadline_earlier) {
  double deadline;
  memset(&dl, 0, sizeof dl);
  host_toy_init();
  dl.start_real = test_real_now();
  ASSERT_OK(host_toy_start(deadline_main, &deadline, NULL, 1));
  deadline = gloop_now() + 30.0;
  host_toy_run_until(scope_published, NULL, 5.0);
  ASSERT_NEAR(gloop_scope_deadline(dl.scope), deadline, 1e-6);
  /* Let the guest settle into its thirty-second wait first. */
  host_toy_call_later(0.020, move_deadline_earlier, NULL);
  host_toy_run_until_done();
  host_toy_stats s = host_toy_get_stats();
  ASSERT_OK(s.done_status);
  ASSERT_ERR(dl.sleep_rc, GLOOP_ECANCELED);
  ASSERT_EQ_INT(dl.cancel_called, 1);
  ASSERT_EQ_INT(dl.caught, 1);
  ASSERT_OK(dl.close_rc);
  ASSERT_GE_DBL(dl.woke_clock, dl.new_deadline);
  ASSERT_LT_DBL(dl.woke_real - dl.start_real, test_limit(2.0));
  host_toy_fini();
  return 0;
}

static gloop_clock *later_clk;
static int later_woke_early;

static void move_deadline_later(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_scope_set_deadline(dl.scope, 30.0));
  ASSERT_NEAR(gloop_scope_deadline(dl.scope), 30.0, 1e-9);
}

static void later_jump15(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_mock_clock_jump(later_clk, 15.0));
}

static void later_check_then_jump20(void *arg) {
  (void)arg;
  /* Past the old deadline (10) but before the new one (30). */
  later_woke_early = dl.scope == NULL;
  ASSERT_OK(gloop_mock_clock_jump(later_clk, 20.0));
}

TEST_CASE(time_host_deadline_later) {
  double deadline = 10.0;
  gloop_options o;
  memset(&dl, 0, sizeof dl);
  later_woke_early = 0;
  later_clk = test_mock_options(&o, 0.0, INFINITY);
  host_toy_init();
  ASSERT_OK(host_toy_start(deadline_main, &deadline, &o, 1));
  host_toy_run_until(scope_published, NULL, 5.0);
  host_toy_call_later(0.005, move_deadline_later, NULL);
  host_toy_call_later(0.015, later_jump15, NULL);
  host_toy_call_later(0.040, later_check_then_jump20, NULL);
  host_toy_run_until_done();
  host_toy_stats s = host_toy_get_stats();
  ASSERT_OK(s.done_status);
  ASSERT_EQ_INT(later_woke_early, 0);
  ASSERT_ERR(dl.sleep_rc, GLOOP_ECANCELED);
  ASSERT_NEAR(dl.woke_clock, 35.0, 1e-9);
  ASSERT_OK(dl.close_rc);
  host_toy_fini();
  ASSERT_OK(gloop_clock_free(later_clk));
  return 0;
}
