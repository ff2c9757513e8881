/* test_lifecycle.c - cases for the ends of a run: abandoning it, objects outliving it, and the error table. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "host_toy.h"
#include "test.h"

/* ---- Abandon ------------------------------------------------------------ */

typedef struct abandon_state {
  gloop_event *ev;
  gloop_channel *ch;
  gloop_timer *timer;
  gloop_semaphore *sem;
  int sleepers_started;
  int cleanup_ran;
  int abandon_in_task;
  int abandon_in_timer;
  int timer_fired;
} abandon_state;

static abandon_state ab;

static int abandon_sleeper(void *arg) {
  (void)arg;
  ab.sleepers_started++;
  gloop_sleep(1000.0);
  /* Never reached: an abandoned run's tasks do not resume. */
  ab.cleanup_ran++;
  return 0;
}

static void abandon_timer_cb(void *arg) {
  (void)arg;
  ab.timer_fired = 1;
  /* Inside a tick the run cannot be torn down. */
  ab.abandon_in_timer = gloop_abandon_run();
}

static int abandon_main(void *arg) {
  gloop_nursery *n;
  (void)arg;
  ab.abandon_in_task = gloop_abandon_run();
  ASSERT_OK(gloop_event_new(&ab.ev));
  ASSERT_OK(gloop_channel_new(4, 64, &ab.ch));
  ASSERT_OK(gloop_timer_new(&ab.timer));
  ASSERT_OK(gloop_timer_start(ab.timer, 0.001, abandon_timer_cb, NULL));
  ASSERT_OK(gloop_nursery_open(&n));
  for (int i = 0; i < 3; i++) ASSERT_OK(gloop_nursery_start(n, abandon_sleeper, NULL, NULL, NULL));
  gloop_nursery_close(n);
  ab.cleanup_ran++;
  return 0;
}

static int abandon_ready(void *arg) {
  (void)arg;
  return ab.sleepers_started == 3 && ab.timer_fired;
}

static int second_run_main(void *arg) {
  int *ran = arg;
  ASSERT_OK(gloop_sleep(0.001));
  *ran = 1;
  return 0;
}

TEST_CASE(abandon_run) {
  char buf[64];
  memset(&ab, 0, sizeof ab);
  host_toy_init();
  ASSERT_OK(host_toy_start(abandon_main, NULL, NULL, 1));
  /* A semaphore made from host context, and one with the run still to come. */
  ASSERT_OK(gloop_semaphore_new(0, 0, &ab.sem));
  host_toy_run_until(abandon_ready, NULL, 5.0);
  ASSERT_ERR(ab.abandon_in_task, GLOOP_EBUSY);
  ASSERT_ERR(ab.abandon_in_timer, GLOOP_EBUSY);
  /* Let everything settle into the long sleep. */
  host_toy_run_for(0.010);

  ASSERT_OK(gloop_abandon_run());
  host_toy_stats at_abandon = host_toy_get_stats();
  ASSERT_EQ_INT(gloop_in_run(), 0);
  ASSERT_NAN(gloop_now());
  ASSERT_ERR(gloop_abandon_run(), GLOOP_ENORUN);
  ASSERT_ERR(gloop_cancel_run(), GLOOP_ENORUN);
  /* The user's objects stay valid to free, but the run is gone. */
  memset(buf, 0, sizeof buf);
  ASSERT_ERR(gloop_event_set(ab.ev), GLOOP_ENORUN);
  ASSERT_ERR(gloop_channel_try_send(ab.ch, buf), GLOOP_ENORUN);
  ASSERT_ERR(gloop_timer_start(ab.timer, 1.0, abandon_timer_cb, NULL), GLOOP_ENORUN);
  ASSERT_ERR(gloop_semaphore_release(ab.sem), GLOOP_ENORUN);
  /* Ticks already posted are harmless no-ops, and the helper thread is
   * gone: nothing new is posted, and done_cb never runs. */
  host_toy_drain();
  host_toy_run_for(0.030);
  host_toy_stats after = host_toy_get_stats();
  ASSERT_EQ_UINT(after.threadsafe_posts, at_abandon.threadsafe_posts);
  ASSERT_EQ_UINT(after.not_threadsafe_posts, at_abandon.not_threadsafe_posts);
  ASSERT_EQ_INT(after.done_calls, 0);
  ASSERT_EQ_INT(ab.cleanup_ran, 0);
  gloop_event_free(ab.ev);
  gloop_channel_free(ab.ch);
  gloop_timer_free(ab.timer);
  gloop_semaphore_free(ab.sem);
  host_toy_fini();

  /* The thread is free for a new run, which works normally. */
  int ran = 0;
  ASSERT_OK(test_guest_run(second_run_main, &ran, NULL, 1));
  ASSERT_EQ_INT(ran, 1);
  return 0;
}

/* Abandoning before the first tick ran: the posted tick must be a no-op. */
static int never_runs(void *arg) {
  *(int *)arg = 1;
  return 0;
}

TEST_CASE(abandon_before_first_tick) {
  int ran = 0;
  host_toy_init();
  ASSERT_OK(host_toy_start(never_runs, &ran, NULL, 0));
  ASSERT_OK(gloop_abandon_run());
  ASSERT_GE_UINT(host_toy_drain(), 1);
  host_toy_run_for(0.010);
  ASSERT_EQ_INT(ran, 0);
  ASSERT_EQ_INT(host_toy_get_stats().done_calls, 0);
  host_toy_fini();
  /* Same with a standalone run straight after. */
  ASSERT_OK(gloop_run(never_runs, &ran, NULL, NULL, NULL));
  ASSERT_EQ_INT(ran, 1);
  return 0;
}

/* ---- Objects after their run ended -------------------------------------- */

typedef struct leftovers {
  gloop_event *ev;
  gloop_semaphore *sem;
  gloop_lock *lock;
  gloop_channel *ch;
  gloop_timer *timer;
  gloop_clock *clk;
} leftovers;

static leftovers lf;

static void noop_cb(void *arg) { (void)arg; }

static int make_objects_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_event_new(&lf.ev));
  ASSERT_OK(gloop_semaphore_new(1, 0, &lf.sem));
  ASSERT_OK(gloop_lock_new(&lf.lock));
  ASSERT_OK(gloop_channel_new(2, sizeof(int), &lf.ch));
  ASSERT_OK(gloop_timer_new(&lf.timer));
  /* Left armed: it dies with the run. */
  ASSERT_OK(gloop_timer_start(lf.timer, 1000.0, noop_cb, NULL));
  return 0;
}

/* A later run must not accept objects of an earlier one either. */
static int use_old_objects_main(void *arg) {
  int v = 1;
  (void)arg;
  ASSERT_ERR(gloop_event_set(lf.ev), GLOOP_ENORUN);
  ASSERT_ERR(gloop_event_wait(lf.ev), GLOOP_ENORUN);
  ASSERT_ERR(gloop_semaphore_acquire(lf.sem), GLOOP_ENORUN);
  ASSERT_ERR(gloop_lock_acquire(lf.lock), GLOOP_ENORUN);
  ASSERT_ERR(gloop_channel_send(lf.ch, &v), GLOOP_ENORUN);
  ASSERT_ERR(gloop_channel_receive(lf.ch, &v), GLOOP_ENORUN);
  return 0;
}

TEST_CASE(objects_after_run) {
  int v = 3;
  memset(&lf, 0, sizeof lf);
  ASSERT_OK(gloop_run(make_objects_main, NULL, NULL, NULL, NULL));
  ASSERT_ERR(gloop_event_set(lf.ev), GLOOP_ENORUN);
  ASSERT_ERR(gloop_semaphore_release(lf.sem), GLOOP_ENORUN);
  ASSERT_ERR(gloop_channel_try_send(lf.ch, &v), GLOOP_ENORUN);
  ASSERT_ERR(gloop_channel_try_receive(lf.ch, &v), GLOOP_ENORUN);
  ASSERT_ERR(gloop_channel_close(lf.ch), GLOOP_ENORUN);
  ASSERT_ERR(gloop_timer_start(lf.timer, 1.0, noop_cb, NULL), GLOOP_ENORUN);
  ASSERT_ERR(gloop_cancel_run(), GLOOP_ENORUN);
  ASSERT_OK(test_guest_run(use_old_objects_main, NULL, NULL, 1));
  gloop_event_free(lf.ev);
  gloop_semaphore_free(lf.sem);
  gloop_lock_free(lf.lock);
  gloop_channel_free(lf.ch);
  gloop_timer_free(lf.timer);
  return 0;
}

/* ---- The error table ---------------------------------------------------- */

TEST_CASE(errors_table) {
  static const struct {
    int code;
    const char *name;
    const char *msg;
  } table[] = {
#define XX(name, val, msg) {GLOOP_##name, #name, msg},
      GLOOP_ERRNO_MAP(XX)
#undef XX
  };
  int n = (int)(sizeof table / sizeof table[0]);
  for (int i = 0; i < n; i++) {
    ASSERT_LT_INT(table[i].code, 0);
    ASSERT_EQ_STR(gloop_err_name(table[i].code), table[i].name);
    ASSERT_EQ_STR(gloop_strerror(table[i].code), table[i].msg);
    for (int j = 0; j < i; j++) ASSERT_NE_INT(table[i].code, table[j].code);
  }
  /* OS conditions are negated errno values. */
  ASSERT_EQ_INT(GLOOP_EINVAL, -EINVAL);
  ASSERT_EQ_INT(GLOOP_ECANCELED, -ECANCELED);
  ASSERT_EQ_INT(GLOOP_ETIMEDOUT, -ETIMEDOUT);
  ASSERT_EQ_INT(GLOOP_EAGAIN, -EAGAIN);
  ASSERT_EQ_INT(GLOOP_EPIPE, -EPIPE);
  ASSERT_EQ_INT(GLOOP_EBUSY, -EBUSY);
  ASSERT_EQ_INT(GLOOP_EPERM, -EPERM);
  ASSERT_EQ_INT(GLOOP_ENOMEM, -ENOMEM);
  ASSERT_EQ_INT(GLOOP_EBADF, -EBADF);
  ASSERT_EQ_INT(GLOOP_ECONNRESET, -ECONNRESET);
  /* Library conditions sit below -4000. */
  ASSERT_LT_INT(GLOOP_ENOTTASK, -4000);
  ASSERT_LT_INT(GLOOP_EINTERNAL, -4000);

  static const int unknown[] = {1, 22, -4000, -4099, -99999, INT_MIN, INT_MAX};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    ASSERT_EQ_STR(gloop_strerror(unknown[i]), "unknown error");
    ASSERT_EQ_STR(gloop_err_name(unknown[i]), "UNKNOWN");
  }
  return 0;
}

/* Outside the table: 0 reads as success, other negated errno values get the
 * C library's message (the I/O helpers pass them through), anything else is
 * unknown. */
TEST_CASE(errors_outside_table) {
  ASSERT_EQ_STR(gloop_strerror(0), "success");
  ASSERT_EQ_STR(gloop_err_name(0), "OK");
  ASSERT_EQ_STR(gloop_strerror(-ENOENT), strerror(ENOENT));
  ASSERT_EQ_STR(gloop_err_name(-ENOENT), "UNKNOWN");
  ASSERT_EQ_STR(gloop_strerror(-EISDIR), strerror(EISDIR));
  return 0;
}
