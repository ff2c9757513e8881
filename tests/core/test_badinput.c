/* test_badinput.c - cases for bad input and misuse: NULLs, bad durations, wrong context, wrong thread, second runs, stack sizes. */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "host_toy.h"
#include "test.h"

static int noop_main(void *arg) {
  (void)arg;
  return 0;
}

static void noop_cb(void *arg) { (void)arg; }

static int rejected_done_calls;
static void rejected_done(const gloop_outcome *o, void *host_data) {
  (void)o;
  (void)host_data;
  rejected_done_calls++;
}

/* ---- Starting runs with bad arguments ----------------------------------- */

TEST_CASE(bad_start_args) {
  gloop_options o;
  host_toy_init();
  ASSERT_ERR(gloop_start_guest_run(NULL, NULL, host_toy_post_threadsafe, host_toy_done, NULL),
             GLOOP_EINVAL);
  ASSERT_ERR(gloop_start_guest_run(noop_main, NULL, NULL, host_toy_done, NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_start_guest_run(noop_main, NULL, host_toy_post_threadsafe, NULL, NULL),
             GLOOP_EINVAL);
  ASSERT_ERR(gloop_run(NULL, NULL, NULL, NULL, NULL), GLOOP_EINVAL);

  gloop_options_init(&o);
  o.stack_size = GLOOP_MAX_STACK_SIZE + 1;
  ASSERT_ERR(host_toy_start(noop_main, NULL, &o, 1), GLOOP_ESTACKSIZE);
  ASSERT_ERR(gloop_run(noop_main, NULL, &o, NULL, NULL), GLOOP_ESTACKSIZE);
  o.stack_size = 1;
  ASSERT_ERR(host_toy_start(noop_main, NULL, &o, 1), GLOOP_ESTACKSIZE);
  ASSERT_ERR(gloop_run(noop_main, NULL, &o, NULL, NULL), GLOOP_ESTACKSIZE);
  o.stack_size = GLOOP_MIN_STACK_SIZE - 1;
  ASSERT_ERR(gloop_run(noop_main, NULL, &o, NULL, NULL), GLOOP_ESTACKSIZE);

  /* A failed start posts nothing, calls nothing, and leaves no run behind. */
  host_toy_stats s = host_toy_get_stats();
  ASSERT_EQ_UINT(s.threadsafe_posts + s.not_threadsafe_posts, 0);
  ASSERT_EQ_INT(s.done_calls, 0);
  ASSERT_EQ_INT(gloop_in_run(), 0);

  /* The smallest allowed stack works. */
  o.stack_size = GLOOP_MIN_STACK_SIZE;
  ASSERT_OK(gloop_run(noop_main, NULL, &o, NULL, NULL));
  host_toy_fini();
  return 0;
}

/* ---- Bad durations and deadlines ---------------------------------------- */

static int durations_main(void *arg) {
  gloop_scope *s = NULL;
  gloop_timer *t;
  (void)arg;
  ASSERT_ERR(gloop_sleep(-1.0), GLOOP_EINVAL);
  ASSERT_ERR(gloop_sleep(-INFINITY), GLOOP_EINVAL);
  ASSERT_ERR(gloop_sleep(NAN), GLOOP_EINVAL);
  ASSERT_ERR(gloop_sleep_until(NAN), GLOOP_EINVAL);
  /* A deadline in the past is just a checkpoint. */
  ASSERT_OK(gloop_sleep_until(gloop_now() - 10.0));
  ASSERT_OK(gloop_sleep(0.0));
  ASSERT_ERR(gloop_move_on_after(NAN, &s), GLOOP_EINVAL);
  ASSERT_ERR(gloop_fail_after(NAN, &s), GLOOP_EINVAL);
  ASSERT_ERR(gloop_scope_open(NAN, 0, &s), GLOOP_EINVAL);
  ASSERT_ERR(gloop_scope_open(INFINITY, 64, &s), GLOOP_EINVAL);
  ASSERT_ERR(gloop_scope_open(INFINITY, -1, &s), GLOOP_EINVAL);
  ASSERT_ERR(gloop_scope_open(INFINITY, 0, NULL), GLOOP_EINVAL);
  ASSERT_NULL(s);
  /* Nothing half-opened is left behind: a fresh scope is innermost. */
  ASSERT_OK(gloop_scope_open(INFINITY, GLOOP_SCOPE_SHIELD | GLOOP_SCOPE_FAIL, &s));
  ASSERT_OK(gloop_scope_close(s));

  ASSERT_OK(gloop_timer_new(&t));
  ASSERT_ERR(gloop_timer_start(t, -0.5, noop_cb, NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_timer_start(t, NAN, noop_cb, NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_timer_start(t, 1.0, NULL, NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_timer_start(NULL, 1.0, noop_cb, NULL), GLOOP_EINVAL);
  ASSERT_EQ_INT(gloop_timer_active(t), 0);
  gloop_timer_free(t);
  return 0;
}

TEST_CASE(bad_durations) {
  ASSERT_OK(test_guest_run(durations_main, NULL, NULL, 1));
  gloop_clock *clk = NULL;
  ASSERT_ERR(gloop_mock_clock_new(NAN, 0.0, &clk), GLOOP_EINVAL);
  ASSERT_ERR(gloop_mock_clock_new(0.0, NAN, &clk), GLOOP_EINVAL);
  ASSERT_ERR(gloop_mock_clock_new(0.0, -1.0, &clk), GLOOP_EINVAL);
  ASSERT_NULL(clk);
  ASSERT_OK(gloop_mock_clock_new(0.0, INFINITY, &clk));
  ASSERT_ERR(gloop_mock_clock_jump(clk, -0.001), GLOOP_EINVAL);
  ASSERT_NEAR(gloop_clock_now(clk), 0.0, 0.0);
  ASSERT_OK(gloop_clock_free(clk));
  return 0;
}

/* ---- NULL objects and outputs ------------------------------------------- */

static int nulls_main(void *arg) {
  int v = 0;
  (void)arg;
  ASSERT_ERR(gloop_event_new(NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_semaphore_new(0, 0, NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_lock_new(NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_channel_new(1, sizeof(int), NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_timer_new(NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_event_set(NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_event_wait(NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_semaphore_acquire(NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_semaphore_release(NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_lock_acquire(NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_lock_release(NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_channel_send(NULL, &v), GLOOP_EINVAL);
  ASSERT_ERR(gloop_channel_receive(NULL, &v), GLOOP_EINVAL);
  ASSERT_ERR(gloop_channel_try_send(NULL, &v), GLOOP_EINVAL);
  ASSERT_ERR(gloop_channel_try_receive(NULL, &v), GLOOP_EINVAL);
  ASSERT_ERR(gloop_channel_close(NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_scope_cancel(NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_scope_close(NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_scope_set_deadline(NULL, 1.0), GLOOP_EINVAL);
  ASSERT_ERR(gloop_nursery_cancel(NULL), GLOOP_EINVAL);

  gloop_channel *ch;
  ASSERT_OK(gloop_channel_new(1, sizeof(int), &ch));
  ASSERT_ERR(gloop_channel_send(ch, NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_channel_try_send(ch, NULL), GLOOP_EINVAL);
  ASSERT_OK(gloop_channel_try_send(ch, &v));
  ASSERT_ERR(gloop_channel_try_receive(ch, NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_channel_receive(ch, NULL), GLOOP_EINVAL);
  ASSERT_EQ_UINT(gloop_channel_size(ch), 1);
  gloop_channel_free(ch);

  /* Every free accepts NULL. */
  gloop_event_free(NULL);
  gloop_semaphore_free(NULL);
  gloop_lock_free(NULL);
  gloop_channel_free(NULL);
  gloop_timer_free(NULL);
  ASSERT_OK(gloop_clock_free(NULL));
  return 0;
}

TEST_CASE(bad_null_args) {
  ASSERT_OK(test_guest_run(nulls_main, NULL, NULL, 1));
  return 0;
}

/* ---- Task-only calls outside a task ------------------------------------- */

static void check_not_task_calls(gloop_event *ev, gloop_semaphore *sem, gloop_lock *lock,
                                 gloop_channel *ch) {
  gloop_scope *s = NULL;
  gloop_nursery *n = NULL;
  int v = 0;
  ASSERT_NULL(gloop_current_task());
  ASSERT_ERR(gloop_sleep(1.0), GLOOP_ENOTTASK);
  ASSERT_ERR(gloop_sleep_until(1.0), GLOOP_ENOTTASK);
  ASSERT_ERR(gloop_sleep_forever(), GLOOP_ENOTTASK);
  ASSERT_ERR(gloop_checkpoint(), GLOOP_ENOTTASK);
  ASSERT_ERR(gloop_nursery_open(&n), GLOOP_ENOTTASK);
  ASSERT_ERR(gloop_scope_open(INFINITY, 0, &s), GLOOP_ENOTTASK);
  ASSERT_ERR(gloop_move_on_after(1.0, &s), GLOOP_ENOTTASK);
  ASSERT_ERR(gloop_fail_after(1.0, &s), GLOOP_ENOTTASK);
  ASSERT_NULL(s);
  ASSERT_NULL(n);
  /* gloop_fail() outside a task only hands back its code. */
  ASSERT_ERR(gloop_fail(GLOOP_EPIPE, "ignored %d", 1), GLOOP_EPIPE);
  if (ev) {
    ASSERT_ERR(gloop_event_wait(ev), GLOOP_ENOTTASK);
    ASSERT_ERR(gloop_semaphore_acquire(sem), GLOOP_ENOTTASK);
    ASSERT_ERR(gloop_lock_acquire(lock), GLOOP_ENOTTASK);
    ASSERT_ERR(gloop_channel_send(ch, &v), GLOOP_ENOTTASK);
    ASSERT_ERR(gloop_channel_receive(ch, &v), GLOOP_ENOTTASK);
  }
}

typedef struct nottask_state {
  gloop_event *ev;
  gloop_event *timer_done;
  gloop_semaphore *sem;
  gloop_lock *lock;
  gloop_channel *ch;
  int checked;
} nottask_state;

static nottask_state nt;

static void nottask_in_timer(void *arg) {
  (void)arg;
  check_not_task_calls(nt.ev, nt.sem, nt.lock, nt.ch);
  nt.checked++;
  ASSERT_OK(gloop_event_set(nt.timer_done));
}

static int nottask_main(void *arg) {
  gloop_timer *t;
  (void)arg;
  ASSERT_OK(gloop_timer_new(&t));
  ASSERT_OK(gloop_timer_start(t, 0.001, nottask_in_timer, NULL));
  /* Both the timer's check and the host's must have happened. */
  ASSERT_OK(gloop_event_wait(nt.timer_done));
  ASSERT_OK(gloop_event_wait(nt.ev));
  gloop_timer_free(t);
  return 0;
}

static void nottask_from_host(void *arg) {
  (void)arg;
  check_not_task_calls(nt.ev, nt.sem, nt.lock, nt.ch);
  nt.checked++;
  ASSERT_OK(gloop_event_set(nt.ev));
}

TEST_CASE(bad_not_in_task) {
  /* With no run at all. */
  check_not_task_calls(NULL, NULL, NULL, NULL);
  ASSERT_NAN(gloop_now());
  ASSERT_EQ_INT(gloop_in_run(), 0);
  ASSERT_ERR(gloop_cancel_run(), GLOOP_ENORUN);
  ASSERT_ERR(gloop_abandon_run(), GLOOP_ENORUN);

  /* In host context of a live run: a host-side call, and a timer callback. */
  memset(&nt, 0, sizeof nt);
  host_toy_init();
  ASSERT_OK(host_toy_start(nottask_main, NULL, NULL, 1));
  ASSERT_OK(gloop_event_new(&nt.ev));
  ASSERT_OK(gloop_event_new(&nt.timer_done));
  ASSERT_OK(gloop_semaphore_new(0, 0, &nt.sem));
  ASSERT_OK(gloop_lock_new(&nt.lock));
  ASSERT_OK(gloop_channel_new(1, sizeof(int), &nt.ch));
  host_toy_call_later(0.020, nottask_from_host, NULL);
  host_toy_run_until_done();
  ASSERT_OK(host_toy_get_stats().done_status);
  ASSERT_EQ_INT(nt.checked, 2);
  gloop_event_free(nt.ev);
  gloop_event_free(nt.timer_done);
  gloop_semaphore_free(nt.sem);
  gloop_lock_free(nt.lock);
  gloop_channel_free(nt.ch);
  host_toy_fini();
  return 0;
}

/* gloop_lock_release() is a task-only call ("Task." in the header), so by
 * the header's general rule it gives GLOOP_ENOTTASK outside a task rather
 * than GLOOP_EPERM ("unless the calling task holds it": there is no calling
 * task). */
static gloop_lock *host_lock;
static gloop_event *host_tried;
static int host_release_rc = 12345;

static void release_from_host(void *arg) {
  (void)arg;
  host_release_rc = gloop_lock_release(host_lock);
  ASSERT_OK(gloop_event_set(host_tried));
}

static int lock_holder_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_lock_new(&host_lock));
  ASSERT_OK(gloop_lock_acquire(host_lock));
  ASSERT_OK(gloop_event_wait(host_tried));
  /* Whatever the host's call returned, the lock is still ours. */
  ASSERT_OK(gloop_lock_release(host_lock));
  gloop_lock_free(host_lock);
  return 0;
}

TEST_CASE(bad_lock_release_outside_task) {
  host_toy_init();
  ASSERT_OK(host_toy_start(lock_holder_main, NULL, NULL, 1));
  ASSERT_OK(gloop_event_new(&host_tried));
  host_toy_call_after(1, release_from_host, NULL);
  host_toy_run_until_done();
  ASSERT_OK(host_toy_get_stats().done_status);
  gloop_event_free(host_tried);
  host_toy_fini();
  ASSERT_ERR(host_release_rc, GLOOP_ENOTTASK);
  return 0;
}

/* Objects need a live run on the creating thread. Timers are the exception:
 * the header binds them to a run only when started. */
TEST_CASE(bad_objects_without_run) {
  gloop_event *ev = NULL;
  gloop_semaphore *sem = NULL;
  gloop_lock *lock = NULL;
  gloop_channel *ch = NULL;
  gloop_timer *t = NULL;
  ASSERT_ERR(gloop_event_new(&ev), GLOOP_ENORUN);
  ASSERT_ERR(gloop_semaphore_new(0, 0, &sem), GLOOP_ENORUN);
  ASSERT_ERR(gloop_lock_new(&lock), GLOOP_ENORUN);
  ASSERT_ERR(gloop_channel_new(1, 4, &ch), GLOOP_ENORUN);
  ASSERT_NULL(ev);
  ASSERT_NULL(sem);
  ASSERT_NULL(lock);
  ASSERT_NULL(ch);
  ASSERT_OK(gloop_timer_new(&t));
  ASSERT_ERR(gloop_timer_start(t, 1.0, noop_cb, NULL), GLOOP_ENORUN);
  ASSERT_EQ_INT(gloop_timer_active(t), 0);
  gloop_timer_free(t);
  return 0;
}

/* ---- A second run on the same thread ------------------------------------ */

static int second_in_task_rc[2];
static gloop_event *second_go;

static int second_main(void *arg) {
  (void)arg;
  second_in_task_rc[0] =
      gloop_start_guest_run(noop_main, NULL, host_toy_post_threadsafe, rejected_done, NULL);
  second_in_task_rc[1] = gloop_run(noop_main, NULL, NULL, rejected_done, NULL);
  /* Stay alive until the host has tried from between ticks as well. */
  return gloop_event_wait(second_go);
}

static int second_from_host_rc[2];

static void second_from_host(void *arg) {
  (void)arg;
  second_from_host_rc[0] =
      gloop_start_guest_run(noop_main, NULL, host_toy_post_threadsafe, rejected_done, NULL);
  second_from_host_rc[1] = gloop_run(noop_main, NULL, NULL, rejected_done, NULL);
}

static void second_from_host_then_release(void *arg) {
  second_from_host(arg);
  ASSERT_OK(gloop_event_set(second_go));
}

TEST_CASE(bad_second_run) {
  rejected_done_calls = 0;
  host_toy_init();
  ASSERT_OK(host_toy_start(second_main, NULL, NULL, 1));
  ASSERT_OK(gloop_event_new(&second_go));
  /* Straight after start, from the host. */
  second_from_host(NULL);
  ASSERT_ERR(second_from_host_rc[0], GLOOP_ERUNNING);
  ASSERT_ERR(second_from_host_rc[1], GLOOP_ERUNNING);
  second_from_host_rc[0] = second_from_host_rc[1] = 12345;
  /* And between ticks, once the main task has run. */
  host_toy_call_after(1, second_from_host_then_release, NULL);
  host_toy_run_until_done();
  ASSERT_OK(host_toy_get_stats().done_status);
  ASSERT_EQ_INT(host_toy_get_stats().done_calls, 1);
  ASSERT_ERR(second_in_task_rc[0], GLOOP_ERUNNING);
  ASSERT_ERR(second_in_task_rc[1], GLOOP_ERUNNING);
  ASSERT_ERR(second_from_host_rc[0], GLOOP_ERUNNING);
  ASSERT_ERR(second_from_host_rc[1], GLOOP_ERUNNING);
  ASSERT_EQ_INT(rejected_done_calls, 0);
  gloop_event_free(second_go);
  host_toy_fini();
  return 0;
}

/* ---- Calls from a thread that does not own the run ---------------------- */

typedef struct wrongthread_state {
  gloop_event *ev;
  gloop_semaphore *sem;
  gloop_channel *ch;
  gloop_timer *timer;      /* armed in the run */
  gloop_timer *idle_timer; /* never started */
  gloop_nursery *nursery;
  gloop_scope *scope;
  gloop_event *done;
  int rc[9];
  int idle_timer_rc;
  int in_run;
  double now;
  int has_task;
} wrongthread_state;

static wrongthread_state wt;

static int wt_child_ran;
static int wt_child(void *arg) {
  (void)arg;
  wt_child_ran = 1;
  return 0;
}

static void *foreign_thread(void *arg) {
  int v = 1;
  (void)arg;
  wt.rc[0] = gloop_event_set(wt.ev);
  wt.rc[1] = gloop_semaphore_release(wt.sem);
  wt.rc[2] = gloop_channel_try_send(wt.ch, &v);
  wt.rc[3] = gloop_timer_start(wt.timer, 0.001, noop_cb, NULL);
  wt.rc[8] = gloop_timer_stop(wt.timer);
  /* A timer not yet started belongs to no run: starting it binds it to the
   * run of the calling thread, and this thread has none. */
  wt.idle_timer_rc = gloop_timer_start(wt.idle_timer, 0.001, noop_cb, NULL);
  wt.rc[4] = gloop_nursery_start(wt.nursery, wt_child, NULL, NULL, NULL);
  wt.rc[5] = gloop_scope_cancel(wt.scope);
  wt.rc[6] = gloop_channel_close(wt.ch);
  wt.rc[7] = gloop_scope_set_deadline(wt.scope, 0.0);
  wt.in_run = gloop_in_run();
  wt.now = gloop_now();
  wt.has_task = gloop_current_task() != NULL;
  return NULL;
}

static int wt_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_event_new(&wt.ev));
  ASSERT_OK(gloop_semaphore_new(0, 0, &wt.sem));
  ASSERT_OK(gloop_channel_new(1, sizeof(int), &wt.ch));
  ASSERT_OK(gloop_timer_new(&wt.timer));
  ASSERT_OK(gloop_timer_start(wt.timer, 1000.0, noop_cb, NULL));
  ASSERT_OK(gloop_timer_new(&wt.idle_timer));
  ASSERT_OK(gloop_event_new(&wt.done));
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &wt.scope));
  ASSERT_OK(gloop_nursery_open(&wt.nursery));
  ASSERT_OK(gloop_event_wait(wt.done));
  ASSERT_OK(gloop_nursery_close(wt.nursery));
  wt.nursery = NULL;
  /* None of the foreign calls had any effect. */
  ASSERT_EQ_INT(gloop_scope_cancel_called(wt.scope), 0);
  ASSERT_OK(gloop_scope_close(wt.scope));
  ASSERT_EQ_INT(gloop_event_is_set(wt.ev), 0);
  ASSERT_EQ_UINT(gloop_semaphore_value(wt.sem), 0);
  ASSERT_EQ_UINT(gloop_channel_size(wt.ch), 0);
  /* Still armed, as armed by this task. */
  ASSERT_EQ_INT(gloop_timer_active(wt.timer), 1);
  ASSERT_EQ_INT(gloop_timer_active(wt.idle_timer), 0);
  gloop_timer_free(wt.idle_timer);
  gloop_event_free(wt.ev);
  gloop_semaphore_free(wt.sem);
  gloop_channel_free(wt.ch);
  gloop_timer_free(wt.timer);
  gloop_event_free(wt.done);
  return 0;
}

static int wt_ready(void *arg) {
  (void)arg;
  return wt.nursery != NULL;
}

TEST_CASE(bad_wrong_thread) {
  pthread_t th;
  memset(&wt, 0, sizeof wt);
  wt_child_ran = 0;
  host_toy_init();
  ASSERT_OK(host_toy_start(wt_main, NULL, NULL, 1));
  host_toy_run_until(wt_ready, NULL, 5.0);
  /* The host thread waits in join, so the run is live but idle meanwhile. */
  ASSERT_EQ_INT(pthread_create(&th, NULL, foreign_thread, NULL), 0);
  ASSERT_EQ_INT(pthread_join(th, NULL), 0);
  ASSERT_ERR(wt.idle_timer_rc, GLOOP_ENORUN);
  for (int i = 0; i < 9; i++) {
    if (wt.rc[i] != GLOOP_EWRONGTHREAD)
      TEST_FAIL("foreign call %d returned %d (%s), expected EWRONGTHREAD", i, wt.rc[i],
                gloop_err_name(wt.rc[i]));
  }
  ASSERT_EQ_INT(wt.in_run, 0);
  ASSERT_NAN(wt.now);
  ASSERT_EQ_INT(wt.has_task, 0);
  ASSERT_OK(gloop_event_set(wt.done));
  host_toy_run_until_done();
  ASSERT_OK(host_toy_get_stats().done_status);
  ASSERT_EQ_INT(wt_child_ran, 0);
  host_toy_fini();
  return 0;
}
