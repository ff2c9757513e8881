/* test_timer_spin.c - cases for gloop_options.timer_spin: the helper thread's waits end early by the learned wake-up lead, and the tick waits the rest, but no timer or sleep ever ends before its deadline. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "guestloop/testing.h"
#include "host_toy.h"
#include "test.h"

/* A host whose threadsafe post (called by the helper thread when a wait
 * ends) takes 300 µs before it queues the tick, as a busy or slow host
 * would: the lead the run learns is then at least that. */
static void slow_post(gloop_callback_fn fn, void *fn_arg, void *host_data) {
  struct timespec ts = {0, 300 * 1000};
  nanosleep(&ts, NULL);
  host_toy_post_threadsafe(fn, fn_arg, host_data);
}

typedef struct spin_state {
  int sleeps, early_sleeps;
  int timers, early_timers;
  double timer_deadline;
  double lead;
  unsigned long spins;
  int set_lead;         /* force a 4 ms lead before some sleeps */
} spin_state;

static void on_timer(void *arg) {
  spin_state *st = arg;
  st->timers++;
  if (gloop_now() < st->timer_deadline) st->early_timers++;
}

static int spin_main(void *arg) {
  spin_state *st = arg;
  gloop_timer *t;
  int rc = gloop_timer_new(&t);
  if (rc) return rc;
  for (int i = 0; i < 24 && rc == 0; i++) {
    /* The forced lead makes the helper's wait end 4 ms before a 5 ms
     * deadline, so the tick that follows finds the deadline far ahead. */
    if (st->set_lead && i % 6 == 0) rc = gloop_timer_spin_set_lead(0.004);
    double d = i % 2 ? 0.005 : 0.002;
    if (i % 3 == 0) {
      /* A timer: it must fire at or after its deadline. */
      st->timer_deadline = gloop_now() + d;
      if (rc == 0) rc = gloop_timer_start(t, d, on_timer, st);
    }
    double t0 = gloop_now();
    if (rc == 0) rc = gloop_sleep(d);
    /* gloop_now() reads the same clock the deadline was computed on; 1 ns
     * covers the rounding of seconds as doubles. */
    if (gloop_now() - t0 < d - 1e-9) st->early_sleeps++;
    st->sleeps++;
  }
  if (rc == 0 && gloop_timer_active(t)) rc = gloop_sleep(0.006);
  gloop_timer_free(t);
  if (rc == 0) rc = gloop_timer_spin_info(&st->lead, &st->spins);
  return rc;
}

static void run_spin(spin_state *st, double timer_spin, int set_lead) {
  memset(st, 0, sizeof *st);
  st->set_lead = set_lead;
  gloop_options o;
  gloop_options_init(&o);
  o.timer_spin = timer_spin;
  host_toy_init();
  TEST_CHECK_ERR_(gloop_start_guest_run_ex(spin_main, st, slow_post, host_toy_done, HOST_TOY_DATA, &o),
                  0);
  host_toy_run_until_done_within(30.0);
  host_toy_fini();
}

/* The run ended well, and every sleep and timer ended at or after its
 * deadline. */
static int all_on_time(const spin_state *st) {
  ASSERT_EQ_INT(host_toy_get_stats().done_status, 0);
  ASSERT_EQ_INT(st->sleeps, 24);
  ASSERT_EQ_INT(st->early_sleeps, 0);
  ASSERT_EQ_INT(st->timers, 8);
  ASSERT_EQ_INT(st->early_timers, 0);
  return 0;
}

TEST_CASE(timer_spin_never_early) {
  spin_state st;
  run_spin(&st, 0.02, 1);
  if (all_on_time(&st) != 0) return 1;
  /* The forced lead ended waits early, and ticks waited for deadlines. */
  ASSERT_TRUE(st.spins > 0);
  /* Every post took at least 300 µs: that is what the run learned. */
  ASSERT_TRUE(st.lead > 0);
  return 0;
}

TEST_CASE(timer_spin_learns_lead) {
  spin_state st;
  run_spin(&st, 0.02, 0);
  if (all_on_time(&st) != 0) return 1;
  ASSERT_TRUE(st.lead > 0);
  ASSERT_TRUE(st.lead <= 0.02);
  return 0;
}

TEST_CASE(timer_spin_off) {
  spin_state st;
  run_spin(&st, 0, 1);
  if (all_on_time(&st) != 0) return 1;
  /* Off: no early wake and no waiting in the tick, whatever the lead says. */
  ASSERT_TRUE(st.spins == 0);
  return 0;
}

static int spin_hook_main(void *arg) {
  (void)arg;
  ASSERT_ERR(gloop_timer_spin_set_lead(NAN), GLOOP_EINVAL);
  ASSERT_ERR(gloop_timer_spin_set_lead(-1), GLOOP_EINVAL);
  ASSERT_OK(gloop_timer_spin_set_lead(0));
  ASSERT_OK(gloop_timer_spin_info(NULL, NULL));
  return 0;
}

TEST_CASE(timer_spin_options) {
  gloop_options o;
  gloop_options_init(&o);
  ASSERT_NEAR(o.timer_spin, GLOOP_DEFAULT_TIMER_SPIN, 1e-12); /* i386: x87 precision */
  o.timer_spin = NAN;
  ASSERT_ERR(gloop_run(spin_hook_main, NULL, &o, NULL, NULL), GLOOP_EINVAL);
  o.timer_spin = -0.001;
  ASSERT_ERR(gloop_run(spin_hook_main, NULL, &o, NULL, NULL), GLOOP_EINVAL);
  o.timer_spin = INFINITY;
  ASSERT_OK(gloop_run(spin_hook_main, NULL, &o, NULL, NULL));
  ASSERT_ERR(gloop_timer_spin_info(NULL, NULL), GLOOP_ENORUN);
  ASSERT_ERR(gloop_timer_spin_set_lead(0.001), GLOOP_ENORUN);
  return 0;
}

/* A deadline closer than the learned lead is waited for in the tick that
 * finds it, without a round trip through the helper thread (whose end is
 * a threadsafe post: the run also has a not-threadsafe one for its busy
 * ticks). */
typedef struct short_state {
  unsigned long spun, helper_posts;
} short_state;

static int short_main(void *arg) {
  short_state *st = arg;
  unsigned long before = 0, after = 0;
  /* The sleep is well inside the lead even where the tick itself is slow
   * (valgrind). */
  ASSERT_OK(gloop_timer_spin_set_lead(0.01));
  ASSERT_OK(gloop_timer_spin_info(NULL, &before));
  unsigned long posts = host_toy_get_stats().threadsafe_posts;
  double t0 = gloop_now();
  ASSERT_OK(gloop_sleep(0.005));
  ASSERT_TRUE(gloop_now() - t0 >= 0.005 - 1e-9);
  st->helper_posts = host_toy_get_stats().threadsafe_posts - posts;
  ASSERT_OK(gloop_timer_spin_info(NULL, &after));
  st->spun = after - before;
  return 0;
}

TEST_CASE(timer_spin_short_deadline) {
  short_state st = {0, 0};
  gloop_options o;
  gloop_options_init(&o);
  o.timer_spin = 0.02;
  ASSERT_OK(test_guest_run(short_main, &st, &o, 1));
  ASSERT_TRUE(st.spun >= 1);
  ASSERT_TRUE(st.helper_posts == 0);
  return 0;
}
