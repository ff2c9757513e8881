/* test_badinput_table.c - one check per row of misuse_table.h: each misuse must give exactly its documented result. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guestloop/guestloop.h"
#include "guestloop/host.h"
#include "rel.h"

/* A value no library call returns, for "the result was not what the row
 * checks" in rows whose documented result is not a code (NaN, NULL). */
#define ROW_MISMATCH 1

/* ---- Fixtures --------------------------------------------------------------
 *
 * Rows run in one of three places: outside any run, in a task (the main
 * task of a standalone run on a mock clock), or in host context of a live
 * guest run (between ticks, on the toy host loop). In the last two a set of
 * objects of the live run is ready for the row to misuse. */

typedef struct fixture {
  gloop_clock *clock;
  gloop_nursery *n;  /* open in the main task */
  gloop_scope *scope; /* open inside n */
  gloop_event *ev;
  gloop_semaphore *sem; /* value 0 */
  gloop_lock *lock;
  gloop_channel *ch; /* capacity 1, int elements */
  gloop_timer *timer; /* armed 100 s ahead */
  gloop_token *tok;
  int sock[2];
  int ready;
} fixture;

static fixture fx;
static int (*row_body)(void);
static int row_result;

static void noop_cb(void *a) { (void)a; }
static void *noop_work(void *a) { return a; }
static int noop_main(void *a) {
  (void)a;
  return 0;
}

static void fixture_open(void) {
  REL_CHECK_OK(gloop_nursery_open(&fx.n));
  REL_CHECK_OK(gloop_scope_open(INFINITY, 0, &fx.scope));
  REL_CHECK_OK(gloop_event_new(&fx.ev));
  REL_CHECK_OK(gloop_semaphore_new(0, 0, &fx.sem));
  REL_CHECK_OK(gloop_lock_new(&fx.lock));
  REL_CHECK_OK(gloop_channel_new(1, sizeof(int), &fx.ch));
  REL_CHECK_OK(gloop_timer_new(&fx.timer));
  REL_CHECK_OK(gloop_timer_start(fx.timer, 100.0, noop_cb, NULL));
  REL_CHECK_OK(gloop_token_new(&fx.tok));
  REL_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fx.sock) == 0, "socketpair: %s",
            strerror(errno));
  fx.ready = 1;
}

static void fixture_close(void) {
  fx.ready = 0;
  REL_CHECK_OK(gloop_nursery_cancel(fx.n));
  REL_CHECK_OK(gloop_scope_close(fx.scope));
  int rc = gloop_nursery_close(fx.n);
  REL_CHECK(rc == 0 || rc == GLOOP_ECANCELED, "the fixture's nursery closed with %s", gloop_err_name(rc));
  gloop_event_free(fx.ev);
  gloop_semaphore_free(fx.sem);
  gloop_lock_free(fx.lock);
  gloop_channel_free(fx.ch);
  gloop_timer_free(fx.timer);
  gloop_token_free(fx.tok);
  close(fx.sock[0]);
  close(fx.sock[1]);
}

static int task_main(void *a) {
  (void)a;
  fixture_open();
  row_result = row_body();
  fixture_close();
  return 0;
}

/* Runs body() in a task and returns its result. */
static int in_task(int (*body)(void)) {
  gloop_options o;
  gloop_options_init(&o);
  REL_CHECK_OK(gloop_mock_clock_new(0.0, 0.0, &fx.clock));
  o.clock = fx.clock;
  row_body = body;
  REL_CHECK_OK(gloop_run(task_main, NULL, &o, NULL, NULL));
  REL_CHECK_OK(gloop_clock_free(fx.clock));
  return row_result;
}

/* Optional: run by the main task of in_host() before the host-side call. */
static void (*host_task_setup)(void);

static int host_main(void *a) {
  (void)a;
  fixture_open();
  if (host_task_setup) host_task_setup();
  int rc = gloop_sleep_forever();
  REL_CHECK_ERR(rc, GLOOP_ECANCELED);
  fixture_close();
  return 0;
}

static int host_called;

static void host_between(void *a) {
  (void)a;
  if (!fx.ready || host_called || !gloop_in_run()) return;
  host_called = 1;
  row_result = row_body();
  REL_CHECK_OK(gloop_cancel_run());
}

/* Runs body() in host context of a live guest run and returns its result. */
static int in_host(int (*body)(void)) {
  gloop_options o;
  gloop_options_init(&o);
  REL_CHECK_OK(gloop_mock_clock_new(0.0, INFINITY, &fx.clock));
  o.clock = fx.clock;
  row_body = body;
  host_called = 0;
  host_toy_init();
  host_toy_set_between(host_between, NULL);
  REL_CHECK_OK(host_toy_start(host_main, NULL, &o, 0));
  host_toy_run_until_done_within(10.0);
  host_toy_stats out = host_toy_get_stats();
  REL_CHECK(out.done_calls == 1 && out.done_status == 0, "outcome %s after %d done call(s)",
            gloop_err_name(out.done_status), out.done_calls);
  REL_CHECK(host_called, "the host-side call never ran");
  REL_CHECK_OK(gloop_clock_free(fx.clock));
  return row_result;
}

/* Runs body() on a new thread (which has no run) and returns its result. */
static void *thread_trampoline(void *a) {
  int (*body)(void) = (int (*)(void))(uintptr_t)a;
  return (void *)(intptr_t)body();
}

static int on_other_thread(int (*body)(void)) {
  pthread_t th;
  void *r;
  REL_CHECK(pthread_create(&th, NULL, thread_trampoline, (void *)(uintptr_t)body) == 0,
            "pthread_create failed");
  pthread_join(th, &r);
  return (int)(intptr_t)r;
}

/* Runs one task in the fixture's nursery and lets it block. */
static void start_child(gloop_task_fn fn, void *arg) {
  REL_CHECK_OK(gloop_nursery_start(fx.n, fn, arg, "row-child", NULL));
  REL_CHECK_OK(gloop_sleep(0.1));
}

/* ---- NULL arguments -------------------------------------------------------- */

static int refused_done_calls;
static void refused_done(const gloop_outcome *o, void *d) {
  (void)o;
  (void)d;
  refused_done_calls++;
}

static int start_refused(gloop_task_fn entry, gloop_post_fn post, gloop_done_fn done) {
  host_toy_init();
  int rc = gloop_start_guest_run(entry, NULL, post, done, NULL);
  REL_CHECK(host_toy_queued() == 0, "a refused start posted a callback");
  REL_CHECK(!gloop_in_run(), "a refused start left a live run");
  REL_CHECK(refused_done_calls == 0, "done_cb of a refused start ran");
  return rc;
}

static int row_start_null_entry(void) { return start_refused(NULL, host_toy_post_threadsafe, refused_done); }
static int row_start_null_post(void) { return start_refused(noop_main, NULL, refused_done); }
static int row_start_null_done(void) { return start_refused(noop_main, host_toy_post_threadsafe, NULL); }
static int row_run_null_entry(void) { return gloop_run(NULL, NULL, NULL, NULL, NULL); }

static int t_nursery_open_null(void) { return gloop_nursery_open(NULL); }
static int row_nursery_open_null(void) { return in_task(t_nursery_open_null); }

static int t_nursery_start_null_nursery(void) { return gloop_nursery_start(NULL, noop_main, NULL, NULL, NULL); }
static int row_nursery_start_null_nursery(void) { return in_task(t_nursery_start_null_nursery); }

static int t_nursery_start_null_fn(void) { return gloop_nursery_start(fx.n, NULL, NULL, NULL, NULL); }
static int row_nursery_start_null_fn(void) { return in_task(t_nursery_start_null_fn); }

static int t_nursery_close_null(void) { return gloop_nursery_close(NULL); }
static int row_nursery_close_null(void) { return in_task(t_nursery_close_null); }

static int t_scope_open_null(void) { return gloop_scope_open(INFINITY, 0, NULL); }
static int row_scope_open_null(void) { return in_task(t_scope_open_null); }

static int t_scope_close_null(void) { return gloop_scope_close(NULL); }
static int row_scope_close_null(void) { return in_task(t_scope_close_null); }

static int t_event_new_null(void) { return gloop_event_new(NULL); }
static int row_event_new_null(void) { return in_task(t_event_new_null); }

static int t_event_set_null(void) { return gloop_event_set(NULL); }
static int row_event_set_null(void) { return in_task(t_event_set_null); }

static int t_event_wait_null(void) { return gloop_event_wait(NULL); }
static int row_event_wait_null(void) { return in_task(t_event_wait_null); }

static int t_channel_new_null(void) { return gloop_channel_new(1, sizeof(int), NULL); }
static int row_channel_new_null(void) { return in_task(t_channel_new_null); }

static int t_channel_send_null_elem(void) { return gloop_channel_send(fx.ch, NULL); }
static int row_channel_send_null_elem(void) { return in_task(t_channel_send_null_elem); }

static int t_token_new_null(void) { return gloop_token_new(NULL); }
static int row_token_new_null(void) { return in_task(t_token_new_null); }

static int t_token_post_null(void) {
  int a = gloop_token_post(NULL, noop_cb, NULL);
  int b = gloop_token_post(fx.tok, NULL, NULL);
  return a != b ? ROW_MISMATCH : a;
}
static int row_token_post_null(void) { return in_task(t_token_post_null); }

static int t_timer_start_null_cb(void) { return gloop_timer_start(fx.timer, 1.0, NULL, NULL); }
static int row_timer_start_null_cb(void) { return in_task(t_timer_start_null_cb); }

static int row_mock_clock_new_null(void) { return gloop_mock_clock_new(0.0, 0.0, NULL); }

static int row_stack_cache_info_null(void) { return gloop_stack_cache_get_info(NULL); }

static int t_to_thread_null_fn(void) { return gloop_to_thread(NULL, NULL, 0, NULL); }
static int row_to_thread_null_fn(void) { return in_task(t_to_thread_null_fn); }

static int row_free_null(void) {
  gloop_event_free(NULL);
  gloop_semaphore_free(NULL);
  gloop_lock_free(NULL);
  gloop_channel_free(NULL);
  gloop_timer_free(NULL);
  gloop_token_free(NULL);
  return gloop_clock_free(NULL);
}

/* ---- Double close and wrong order ------------------------------------------------ */

static int t_channel_close_twice(void) {
  REL_CHECK_OK(gloop_channel_close(fx.ch));
  return gloop_channel_close(fx.ch);
}
static int row_channel_close_twice(void) { return in_task(t_channel_close_twice); }

static int t_scope_close_not_innermost(void) {
  gloop_scope *a, *b;
  REL_CHECK_OK(gloop_scope_open(INFINITY, 0, &a));
  REL_CHECK_OK(gloop_scope_open(INFINITY, 0, &b));
  int rc = gloop_scope_close(a);
  REL_CHECK_OK(gloop_scope_close(b));
  REL_CHECK_OK(gloop_scope_close(a));
  return rc;
}
static int row_scope_close_not_innermost(void) { return in_task(t_scope_close_not_innermost); }

static int t_nursery_close_not_innermost(void) {
  gloop_nursery *n;
  gloop_scope *s;
  REL_CHECK_OK(gloop_nursery_open(&n));
  REL_CHECK_OK(gloop_scope_open(INFINITY, 0, &s));
  int rc = gloop_nursery_close(n);
  REL_CHECK_OK(gloop_scope_close(s));
  REL_CHECK_OK(gloop_nursery_close(n));
  return rc;
}
static int row_nursery_close_not_innermost(void) { return in_task(t_nursery_close_not_innermost); }

static gloop_nursery *foreign_nursery;
static int foreign_rc;
static int foreign_closer(void *a) {
  (void)a;
  foreign_rc = gloop_nursery_close(foreign_nursery);
  return 0;
}
static int t_nursery_close_not_owner(void) {
  REL_CHECK_OK(gloop_nursery_open(&foreign_nursery));
  REL_CHECK_OK(gloop_nursery_start(foreign_nursery, foreign_closer, NULL, NULL, NULL));
  REL_CHECK_OK(gloop_nursery_close(foreign_nursery));
  return foreign_rc;
}
static int row_nursery_close_not_owner(void) { return in_task(t_nursery_close_not_owner); }

static int t_lock_release_not_held(void) { return gloop_lock_release(fx.lock); }
static int row_lock_release_not_held(void) { return in_task(t_lock_release_not_held); }

static int t_lock_acquire_twice(void) {
  REL_CHECK_OK(gloop_lock_acquire(fx.lock));
  int rc = gloop_lock_acquire(fx.lock);
  REL_CHECK_OK(gloop_lock_release(fx.lock));
  return rc;
}
static int row_lock_acquire_twice(void) { return in_task(t_lock_acquire_twice); }

static int t_semaphore_release_past_max(void) {
  gloop_semaphore *s;
  REL_CHECK_OK(gloop_semaphore_new(1, 1, &s));
  int rc = gloop_semaphore_release(s);
  REL_CHECK(gloop_semaphore_value(s) == 1, "the refused release changed the value");
  gloop_semaphore_free(s);
  return rc;
}
static int row_semaphore_release_past_max(void) { return in_task(t_semaphore_release_past_max); }

static int t_semaphore_release_overflow(void) {
  gloop_semaphore *s;
  REL_CHECK_OK(gloop_semaphore_new(UINT_MAX, 0, &s));
  int rc = gloop_semaphore_release(s);
  REL_CHECK(gloop_semaphore_value(s) == UINT_MAX, "the refused release changed the value");
  gloop_semaphore_free(s);
  return rc;
}
static int row_semaphore_release_overflow(void) { return in_task(t_semaphore_release_overflow); }

/* ---- Use after the run -------------------------------------------------------------- */

static gloop_event *kept_event;
static gloop_channel *kept_channel;
static gloop_token *kept_token;
static int kept_post_ran;

static int keep_objects_main(void *a) {
  (void)a;
  REL_CHECK_OK(gloop_event_new(&kept_event));
  REL_CHECK_OK(gloop_channel_new(1, sizeof(int), &kept_channel));
  REL_CHECK_OK(gloop_token_new(&kept_token));
  return 0;
}

static void run_keeping_objects(void) { REL_CHECK_OK(gloop_run(keep_objects_main, NULL, NULL, NULL, NULL)); }

static void free_kept(void) {
  gloop_event_free(kept_event);
  gloop_channel_free(kept_channel);
  gloop_token_free(kept_token);
}

static int row_event_set_after_run(void) {
  run_keeping_objects();
  int rc = gloop_event_set(kept_event);
  free_kept();
  return rc;
}

static int row_channel_send_after_run(void) {
  run_keeping_objects();
  int v = 1;
  int rc = gloop_channel_try_send(kept_channel, &v);
  free_kept();
  return rc;
}

static void kept_post_cb(void *a) {
  (void)a;
  kept_post_ran++;
}

static int row_token_post_after_run(void) {
  run_keeping_objects();
  int rc = gloop_token_post(kept_token, kept_post_cb, NULL);
  REL_CHECK(kept_post_ran == 0, "a refused post ran");
  free_kept();
  return rc;
}

static int o_token_call_kept(void) { return gloop_token_call(kept_token, noop_work, NULL, NULL); }
static int row_token_call_after_run(void) {
  run_keeping_objects();
  int rc = on_other_thread(o_token_call_kept);
  free_kept();
  return rc;
}

static int abandon_main(void *a) {
  (void)a;
  fx.ready = 1;
  return gloop_sleep_forever();
}
static int row_event_set_after_abandon(void) {
  gloop_event *ev;
  host_toy_init();
  fx.ready = 0;
  REL_CHECK_OK(host_toy_start(abandon_main, NULL, NULL, 0));
  REL_CHECK_OK(gloop_event_new(&ev));
  while (!fx.ready) REL_CHECK(host_toy_step(5.0), "the run made no progress");
  REL_CHECK_OK(gloop_abandon_run());
  host_toy_drain();
  int rc = gloop_event_set(ev);
  gloop_event_free(ev);
  return rc;
}

static int row_event_new_no_run(void) {
  gloop_event *ev = NULL;
  int rc = gloop_event_new(&ev);
  gloop_event_free(ev);
  return rc;
}
static int row_token_new_no_run(void) {
  gloop_token *t = NULL;
  int rc = gloop_token_new(&t);
  gloop_token_free(t);
  return rc;
}
static int row_timer_start_no_run(void) {
  gloop_timer *t;
  REL_CHECK_OK(gloop_timer_new(&t));
  int rc = gloop_timer_start(t, 1.0, noop_cb, NULL);
  gloop_timer_free(t);
  return rc;
}
static int row_cancel_run_no_run(void) { return gloop_cancel_run(); }
static int row_abandon_no_run(void) { return gloop_abandon_run(); }
static int row_notify_closing_no_run(void) { return gloop_notify_closing(0); }
static int row_cancel_on_sigint_no_run(void) { return gloop_cancel_on_sigint(); }
static int row_now_no_run(void) { return isnan(gloop_now()) ? 0 : ROW_MISMATCH; }

/* ---- Task-only calls outside a task ------------------------------------------------------ */

static gloop_scope *scratch_scope;
static gloop_nursery *scratch_nursery;

static int row_sleep_no_run(void) { return gloop_sleep(0.1); }
static int h_sleep(void) { return gloop_sleep(0.1); }
static int row_sleep_host(void) { return in_host(h_sleep); }
static int h_sleep_until(void) { return gloop_sleep_until(1.0); }
static int row_sleep_until_host(void) { return in_host(h_sleep_until); }
static int h_sleep_forever(void) { return gloop_sleep_forever(); }
static int row_sleep_forever_host(void) { return in_host(h_sleep_forever); }
static int h_checkpoint(void) { return gloop_checkpoint(); }
static int row_checkpoint_host(void) { return in_host(h_checkpoint); }
static int h_nursery_open(void) {
  scratch_nursery = NULL;
  int rc = gloop_nursery_open(&scratch_nursery);
  REL_CHECK(scratch_nursery == NULL, "a refused open produced a nursery");
  return rc;
}
static int row_nursery_open_host(void) { return in_host(h_nursery_open); }
static int h_nursery_close(void) { return gloop_nursery_close(fx.n); }
static int row_nursery_close_host(void) { return in_host(h_nursery_close); }
static int h_scope_open(void) {
  scratch_scope = NULL;
  int rc = gloop_scope_open(INFINITY, 0, &scratch_scope);
  REL_CHECK(scratch_scope == NULL, "a refused open produced a scope");
  return rc;
}
static int row_scope_open_host(void) { return in_host(h_scope_open); }
static int h_scope_close(void) { return gloop_scope_close(fx.scope); }
static int row_scope_close_host(void) { return in_host(h_scope_close); }
static int row_move_on_after_no_run(void) {
  scratch_scope = NULL;
  return gloop_move_on_after(1.0, &scratch_scope);
}
static int h_event_wait(void) { return gloop_event_wait(fx.ev); }
static int row_event_wait_host(void) { return in_host(h_event_wait); }
static int h_semaphore_acquire(void) { return gloop_semaphore_acquire(fx.sem); }
static int row_semaphore_acquire_host(void) { return in_host(h_semaphore_acquire); }
static int h_lock_acquire(void) { return gloop_lock_acquire(fx.lock); }
static int row_lock_acquire_host(void) { return in_host(h_lock_acquire); }
static int h_lock_release(void) { return gloop_lock_release(fx.lock); }
static int row_lock_release_host(void) { return in_host(h_lock_release); }
static int h_channel_send(void) {
  int v = 1;
  return gloop_channel_send(fx.ch, &v);
}
static int row_channel_send_host(void) { return in_host(h_channel_send); }
static int h_channel_receive(void) {
  int v;
  return gloop_channel_receive(fx.ch, &v);
}
static int row_channel_receive_host(void) { return in_host(h_channel_receive); }
static int h_wait_readable(void) { return gloop_wait_readable(fx.sock[0]); }
static int row_wait_readable_host(void) { return in_host(h_wait_readable); }
static int h_read_some(void) {
  char c;
  return (int)gloop_read_some(fx.sock[0], &c, 1);
}
static int row_read_some_host(void) { return in_host(h_read_some); }
static int h_to_thread(void) { return gloop_to_thread(noop_work, NULL, 0, NULL); }
static int row_to_thread_host(void) { return in_host(h_to_thread); }
static int row_fail_no_task(void) { return gloop_fail(GLOOP_EINVAL, "not in a task: %d", 1); }

/* ---- Wrong thread ---------------------------------------------------------------------------- */

static int o_event_set(void) { return gloop_event_set(fx.ev); }
static int t_event_set_wrong_thread(void) { return on_other_thread(o_event_set); }
static int row_event_set_wrong_thread(void) { return in_task(t_event_set_wrong_thread); }

static int o_nursery_start(void) { return gloop_nursery_start(fx.n, noop_main, NULL, NULL, NULL); }
static int t_nursery_start_wrong_thread(void) { return on_other_thread(o_nursery_start); }
static int row_nursery_start_wrong_thread(void) { return in_task(t_nursery_start_wrong_thread); }

static int o_scope_cancel(void) { return gloop_scope_cancel(fx.scope); }
static int t_scope_cancel_wrong_thread(void) {
  int rc = on_other_thread(o_scope_cancel);
  REL_CHECK(!gloop_scope_cancel_called(fx.scope), "the refused cancel took effect");
  return rc;
}
static int row_scope_cancel_wrong_thread(void) { return in_task(t_scope_cancel_wrong_thread); }

static int o_channel_try_send(void) {
  int v = 1;
  return gloop_channel_try_send(fx.ch, &v);
}
static int t_channel_try_send_wrong_thread(void) { return on_other_thread(o_channel_try_send); }
static int row_channel_try_send_wrong_thread(void) { return in_task(t_channel_try_send_wrong_thread); }

static int o_semaphore_release(void) { return gloop_semaphore_release(fx.sem); }
static int t_semaphore_release_wrong_thread(void) { return on_other_thread(o_semaphore_release); }
static int row_semaphore_release_wrong_thread(void) { return in_task(t_semaphore_release_wrong_thread); }

static int o_timer_stop(void) { return gloop_timer_stop(fx.timer); }
static int t_timer_stop_wrong_thread(void) { return on_other_thread(o_timer_stop); }
static int row_timer_stop_wrong_thread(void) { return in_task(t_timer_stop_wrong_thread); }

static int o_mock_clock_jump(void) { return gloop_mock_clock_jump(fx.clock, 1.0); }
static int t_mock_clock_jump_wrong_thread(void) { return on_other_thread(o_mock_clock_jump); }
static int row_mock_clock_jump_wrong_thread(void) { return in_task(t_mock_clock_jump_wrong_thread); }

static int o_cancel_run(void) { return gloop_cancel_run(); }
static int t_cancel_run_wrong_thread(void) { return on_other_thread(o_cancel_run); }
static int row_cancel_run_wrong_thread(void) { return in_task(t_cancel_run_wrong_thread); }

static int h_token_call(void) { return gloop_token_call(fx.tok, noop_work, NULL, NULL); }
static int row_token_call_host_thread(void) { return in_host(h_token_call); }

static int t_abandon_in_task(void) { return gloop_abandon_run(); }
static int row_abandon_in_task(void) { return in_task(t_abandon_in_task); }

static int tick_abandon_rc = ROW_MISMATCH;
static void abandon_from_timer(void *a) {
  (void)a;
  tick_abandon_rc = gloop_abandon_run();
}
static int t_abandon_in_tick(void) {
  gloop_timer *t;
  REL_CHECK_OK(gloop_timer_new(&t));
  REL_CHECK_OK(gloop_timer_start(t, 0.5, abandon_from_timer, NULL));
  REL_CHECK_OK(gloop_sleep(1.0));
  gloop_timer_free(t);
  return tick_abandon_rc;
}
static int row_abandon_in_tick(void) { return in_task(t_abandon_in_tick); }

static int t_check_cancelled_in_task(void) { return gloop_thread_check_cancelled(); }
static int row_thread_check_cancelled_outside_job(void) { return in_task(t_check_cancelled_in_task); }
static int row_thread_cancel_fd_outside_job(void) { return gloop_thread_cancel_fd(); }

/* A post accepted just before the last task exits runs as the run ends. */
static int end_post_abandon_rc = ROW_MISMATCH;
static void abandon_from_end_post(void *a) {
  (void)a;
  end_post_abandon_rc = gloop_abandon_run();
}
static int end_post_main(void *a) {
  gloop_token *tok;
  (void)a;
  REL_CHECK_OK(gloop_token_new(&tok));
  REL_CHECK_OK(gloop_token_post(tok, abandon_from_end_post, NULL));
  gloop_token_free(tok);
  return 0;
}
static int row_abandon_in_end_post(void) {
  REL_CHECK_OK(gloop_run(end_post_main, NULL, NULL, NULL, NULL));
  return end_post_abandon_rc;
}

/* ---- The end of a run, walked ---------------------------------------------------------------
 *
 * Each row makes one call at one point of the end sequence (design.md):
 * in a timer callback of the run's last tick, before the last task exits;
 * in a post and in a token call's function that run as the run ends; in
 * done_cb; and after it. A post or start accepted in the last tick must run
 * too, and freeing a timer must not warn. */

enum end_ctx { AT_TIMER, AT_POST, AT_CALL, AT_DONE, AT_AFTER };
enum end_call {
  C_EVENT_SET, C_TIMER_STOP, C_TIMER_FREE, C_TOKEN_POST, C_TOKEN_START, C_TOKEN_CALL, C_ABANDON,
  C_IN_RUN
};

static struct {
  enum end_ctx ctx;
  enum end_call call;
  int rc, probed, late_ran, call_rc;
  gloop_token *tok;
  gloop_event *ev;
  gloop_timer *timer, *trigger;
  atomic_int about_to_call;
  pthread_t caller;
} ew;

static void ew_late_post(void *a) {
  (void)a;
  ew.late_ran++;
}
static int ew_late_task(void *a) {
  (void)a;
  ew.late_ran++;
  return 0;
}
static void *ew_late_work(void *a) { return a; }
static void ew_noop(void *a) { (void)a; }

/* Frees the timer with stderr redirected: nothing may be said. */
static int ew_free_timer_quietly(void) {
  test_capture_begin();
  gloop_timer_free(ew.timer);
  ew.timer = NULL;
  return test_capture_end()[0] == '\0' ? 0 : ROW_MISMATCH;
}

static void ew_probe(enum end_ctx here) {
  if (ew.ctx != here) return;
  ew.probed++;
  switch (ew.call) {
    case C_EVENT_SET: ew.rc = gloop_event_set(ew.ev); break;
    case C_TIMER_STOP: ew.rc = gloop_timer_stop(ew.timer); break;
    case C_TIMER_FREE: ew.rc = ew_free_timer_quietly(); break;
    case C_TOKEN_POST: ew.rc = gloop_token_post(ew.tok, ew_late_post, NULL); break;
    case C_TOKEN_START: ew.rc = gloop_token_start(ew.tok, ew_late_task, NULL, "late"); break;
    case C_TOKEN_CALL: ew.rc = gloop_token_call(ew.tok, ew_late_work, NULL, NULL); break;
    case C_ABANDON: ew.rc = gloop_abandon_run(); break;
    case C_IN_RUN: ew.rc = gloop_in_run(); break;
  }
}

static void ew_timer_cb(void *a) {
  (void)a;
  ew_probe(AT_TIMER);
}
static void ew_post_cb(void *a) {
  (void)a;
  ew_probe(AT_POST);
}
static void *ew_call_fn(void *a) {
  ew_probe(AT_CALL);
  return a;
}
static void *ew_caller(void *a) {
  (void)a;
  atomic_store(&ew.about_to_call, 1);
  ew.call_rc = gloop_token_call(ew.tok, ew_call_fn, NULL, NULL);
  return NULL;
}
static void ew_done(const gloop_outcome *o, void *a) {
  (void)o;
  (void)a;
  ew_probe(AT_DONE);
}

static int ew_main(void *a) {
  (void)a;
  REL_CHECK_OK(gloop_token_new(&ew.tok));
  REL_CHECK_OK(gloop_event_new(&ew.ev));
  REL_CHECK_OK(gloop_timer_new(&ew.timer));
  REL_CHECK_OK(gloop_timer_start(ew.timer, 100.0, ew_noop, NULL));
  switch (ew.ctx) {
    case AT_TIMER:
      /* On a mock clock the trigger's deadline and the task's wake-up are
       * the same instant; the trigger was armed first, so it fires first,
       * in the tick in which the task then returns. */
      REL_CHECK_OK(gloop_timer_new(&ew.trigger));
      REL_CHECK_OK(gloop_timer_start(ew.trigger, 1.0, ew_timer_cb, NULL));
      return gloop_sleep(1.0);
    case AT_POST:
      return gloop_token_post(ew.tok, ew_post_cb, NULL);
    case AT_CALL: {
      /* Hold the host thread (this task does not yield) until the call
       * is surely queued, then end: the call runs as the run ends. */
      REL_CHECK(pthread_create(&ew.caller, NULL, ew_caller, NULL) == 0, "pthread_create failed");
      while (!atomic_load(&ew.about_to_call)) sched_yield();
      double until = test_real_now() + test_limit(0.02);
      while (test_real_now() < until) sched_yield();
      return 0;
    }
    case AT_DONE:
    case AT_AFTER:
      return 0;
  }
  return 0;
}

static int end_walk(enum end_ctx ctx, enum end_call call) {
  /* A call from another thread queued too late is refused and the walk is
   * tried again: only a walk in which it was accepted says anything. */
  for (int attempt = 0; attempt < 20; attempt++) {
    memset(&ew, 0, sizeof ew);
    ew.ctx = ctx;
    ew.call = call;
    ew.rc = ROW_MISMATCH;
    gloop_options o;
    gloop_options_init(&o);
    gloop_clock *clock = NULL;
    REL_CHECK_OK(gloop_mock_clock_new(0.0, 0.0, &clock));
    o.clock = clock;
    REL_CHECK_OK(gloop_run(ew_main, NULL, &o, ew_done, NULL));
    if (ctx == AT_CALL) pthread_join(ew.caller, NULL);
    ew_probe(AT_AFTER);
    REL_CHECK_OK(gloop_clock_free(clock));
    gloop_timer_free(ew.timer);
    gloop_timer_free(ew.trigger);
    gloop_event_free(ew.ev);
    gloop_token_free(ew.tok);
    if (ctx == AT_CALL && ew.call_rc == GLOOP_ENORUN) continue;
    if (ew.probed != 1) return ROW_MISMATCH;
    /* Work accepted in the last tick ran before the run ended. */
    if ((call == C_TOKEN_POST || call == C_TOKEN_START) && ew.rc == 0 && ew.late_ran != 1)
      return ROW_MISMATCH;
    if ((call == C_TOKEN_POST || call == C_TOKEN_START) && ew.rc != 0 && ew.late_ran != 0)
      return ROW_MISMATCH;
    /* gloop_in_run() is 1 while the run is live, 0 from its teardown on. */
    if (call == C_IN_RUN) return ew.rc == (ctx == AT_TIMER || ctx == AT_POST || ctx == AT_CALL) ? 0 : ROW_MISMATCH;
    return ew.rc;
  }
  return ROW_MISMATCH;
}

static int row_end_timer_event_set(void) { return end_walk(AT_TIMER, C_EVENT_SET); }
static int row_end_timer_timer_stop(void) { return end_walk(AT_TIMER, C_TIMER_STOP); }
static int row_end_timer_timer_free(void) { return end_walk(AT_TIMER, C_TIMER_FREE); }
static int row_end_timer_token_post(void) { return end_walk(AT_TIMER, C_TOKEN_POST); }
static int row_end_timer_token_start(void) { return end_walk(AT_TIMER, C_TOKEN_START); }
static int row_end_timer_token_call(void) { return end_walk(AT_TIMER, C_TOKEN_CALL); }
static int row_end_timer_abandon(void) { return end_walk(AT_TIMER, C_ABANDON); }
static int row_end_timer_in_run(void) { return end_walk(AT_TIMER, C_IN_RUN); }
static int row_end_post_event_set(void) { return end_walk(AT_POST, C_EVENT_SET); }
static int row_end_post_timer_stop(void) { return end_walk(AT_POST, C_TIMER_STOP); }
static int row_end_post_timer_free(void) { return end_walk(AT_POST, C_TIMER_FREE); }
static int row_end_post_token_post(void) { return end_walk(AT_POST, C_TOKEN_POST); }
static int row_end_post_token_start(void) { return end_walk(AT_POST, C_TOKEN_START); }
static int row_end_post_token_call(void) { return end_walk(AT_POST, C_TOKEN_CALL); }
static int row_end_post_abandon(void) { return end_walk(AT_POST, C_ABANDON); }
static int row_end_post_in_run(void) { return end_walk(AT_POST, C_IN_RUN); }
static int row_end_call_event_set(void) { return end_walk(AT_CALL, C_EVENT_SET); }
static int row_end_call_timer_stop(void) { return end_walk(AT_CALL, C_TIMER_STOP); }
static int row_end_call_timer_free(void) { return end_walk(AT_CALL, C_TIMER_FREE); }
static int row_end_call_token_post(void) { return end_walk(AT_CALL, C_TOKEN_POST); }
static int row_end_call_token_start(void) { return end_walk(AT_CALL, C_TOKEN_START); }
static int row_end_call_token_call(void) { return end_walk(AT_CALL, C_TOKEN_CALL); }
static int row_end_call_abandon(void) { return end_walk(AT_CALL, C_ABANDON); }
static int row_end_call_in_run(void) { return end_walk(AT_CALL, C_IN_RUN); }
static int row_end_done_event_set(void) { return end_walk(AT_DONE, C_EVENT_SET); }
static int row_end_done_timer_stop(void) { return end_walk(AT_DONE, C_TIMER_STOP); }
static int row_end_done_timer_free(void) { return end_walk(AT_DONE, C_TIMER_FREE); }
static int row_end_done_token_post(void) { return end_walk(AT_DONE, C_TOKEN_POST); }
static int row_end_done_token_start(void) { return end_walk(AT_DONE, C_TOKEN_START); }
static int row_end_done_token_call(void) { return end_walk(AT_DONE, C_TOKEN_CALL); }
static int row_end_done_abandon(void) { return end_walk(AT_DONE, C_ABANDON); }
static int row_end_done_in_run(void) { return end_walk(AT_DONE, C_IN_RUN); }
static int row_end_after_event_set(void) { return end_walk(AT_AFTER, C_EVENT_SET); }
static int row_end_after_timer_stop(void) { return end_walk(AT_AFTER, C_TIMER_STOP); }
static int row_end_after_timer_free(void) { return end_walk(AT_AFTER, C_TIMER_FREE); }
static int row_end_after_token_post(void) { return end_walk(AT_AFTER, C_TOKEN_POST); }
static int row_end_after_token_start(void) { return end_walk(AT_AFTER, C_TOKEN_START); }
static int row_end_after_token_call(void) { return end_walk(AT_AFTER, C_TOKEN_CALL); }
static int row_end_after_abandon(void) { return end_walk(AT_AFTER, C_ABANDON); }
static int row_end_after_in_run(void) { return end_walk(AT_AFTER, C_IN_RUN); }

/* ---- Closed channels ------------------------------------------------------------------------ */

static int t_send_closed(void) {
  int v = 1;
  REL_CHECK_OK(gloop_channel_close(fx.ch));
  return gloop_channel_send(fx.ch, &v);
}
static int row_send_closed(void) { return in_task(t_send_closed); }

static int t_try_send_closed(void) {
  int v = 1;
  REL_CHECK_OK(gloop_channel_close(fx.ch));
  return gloop_channel_try_send(fx.ch, &v);
}
static int row_try_send_closed(void) { return in_task(t_try_send_closed); }

static int child_rc = ROW_MISMATCH;
static int blocked_sender(void *a) {
  int v = 1;
  child_rc = gloop_channel_send(a, &v);
  return 0;
}
static int t_send_closed_while_waiting(void) {
  gloop_channel *rv;
  REL_CHECK_OK(gloop_channel_new(0, sizeof(int), &rv));
  start_child(blocked_sender, rv);
  REL_CHECK_OK(gloop_channel_close(rv));
  REL_CHECK_OK(gloop_sleep(0.1));
  gloop_channel_free(rv);
  return child_rc;
}
static int row_send_closed_while_waiting(void) { return in_task(t_send_closed_while_waiting); }

static int t_receive_closed_drained(void) {
  int v = 5, got = 0;
  REL_CHECK_OK(gloop_channel_try_send(fx.ch, &v));
  REL_CHECK_OK(gloop_channel_close(fx.ch));
  REL_CHECK_OK(gloop_channel_receive(fx.ch, &got));
  REL_CHECK(got == 5, "received %d, not the buffered 5", got);
  return gloop_channel_receive(fx.ch, &got);
}
static int row_receive_closed_drained(void) { return in_task(t_receive_closed_drained); }

static int t_try_receive_closed(void) {
  int v;
  REL_CHECK_OK(gloop_channel_close(fx.ch));
  return gloop_channel_try_receive(fx.ch, &v);
}
static int row_try_receive_closed(void) { return in_task(t_try_receive_closed); }

static int blocked_receiver(void *a) {
  int v;
  child_rc = gloop_channel_receive(a, &v);
  return 0;
}
static int t_receive_closed_while_waiting(void) {
  start_child(blocked_receiver, fx.ch);
  REL_CHECK_OK(gloop_channel_close(fx.ch));
  REL_CHECK_OK(gloop_sleep(0.1));
  return child_rc;
}
static int row_receive_closed_while_waiting(void) { return in_task(t_receive_closed_while_waiting); }

static int t_try_receive_empty(void) {
  int v;
  return gloop_channel_try_receive(fx.ch, &v);
}
static int row_try_receive_empty(void) { return in_task(t_try_receive_empty); }

static int t_try_send_full(void) {
  int v = 1;
  REL_CHECK_OK(gloop_channel_try_send(fx.ch, &v));
  return gloop_channel_try_send(fx.ch, &v);
}
static int row_try_send_full(void) { return in_task(t_try_send_full); }

/* ---- Second concurrent run ----------------------------------------------------------------- */

static int h_guest_run(void) {
  refused_done_calls = 0;
  unsigned long queued = host_toy_queued();
  int rc = gloop_start_guest_run(noop_main, NULL, host_toy_post_threadsafe, refused_done, NULL);
  REL_CHECK(host_toy_queued() == queued, "the refused start posted a callback");
  return rc;
}
static int row_guest_run_while_live(void) {
  int rc = in_host(h_guest_run);
  REL_CHECK(refused_done_calls == 0, "done_cb of the refused run was called");
  return rc;
}

static int t_run_nested(void) { return gloop_run(noop_main, NULL, NULL, NULL, NULL); }
static int row_run_inside_task(void) { return in_task(t_run_nested); }
static int row_run_in_host_context(void) { return in_host(t_run_nested); }

static int o_run_on_busy_clock(void) {
  gloop_options o;
  gloop_options_init(&o);
  o.clock = fx.clock;
  return gloop_run(noop_main, NULL, &o, NULL, NULL);
}
static int t_mock_clock_second_run(void) { return on_other_thread(o_run_on_busy_clock); }
static int row_mock_clock_second_run(void) { return in_task(t_mock_clock_second_run); }

static int sigint_main(void *a) {
  (void)a;
  return gloop_cancel_on_sigint();
}
static int o_sigint_run(void) { return gloop_run(sigint_main, NULL, NULL, NULL, NULL); }
static int t_cancel_on_sigint_second_run(void) {
  REL_CHECK_OK(gloop_cancel_on_sigint());
  return on_other_thread(o_sigint_run);
}
static int row_cancel_on_sigint_second_run(void) { return in_task(t_cancel_on_sigint_second_run); }

static int t_clock_free_in_use(void) { return gloop_clock_free(fx.clock); }
static int row_clock_free_in_use(void) { return in_task(t_clock_free_in_use); }

/* ---- Durations and deadlines --------------------------------------------------------------- */

static int t_sleep_negative(void) { return gloop_sleep(-1.0); }
static int row_sleep_negative(void) { return in_task(t_sleep_negative); }
static int t_sleep_nan(void) { return gloop_sleep(NAN); }
static int row_sleep_nan(void) { return in_task(t_sleep_nan); }
static int t_sleep_until_nan(void) { return gloop_sleep_until(NAN); }
static int row_sleep_until_nan(void) { return in_task(t_sleep_until_nan); }
static int t_sleep_until_past(void) {
  REL_CHECK_OK(gloop_sleep(2.0));
  return gloop_sleep_until(1.0);
}
static int row_sleep_until_past(void) { return in_task(t_sleep_until_past); }
static int t_move_on_after_negative(void) {
  scratch_scope = NULL;
  return gloop_move_on_after(-1.0, &scratch_scope);
}
static int row_move_on_after_negative(void) { return in_task(t_move_on_after_negative); }
static int t_fail_after_nan(void) {
  scratch_scope = NULL;
  return gloop_fail_after(NAN, &scratch_scope);
}
static int row_fail_after_nan(void) { return in_task(t_fail_after_nan); }
static int t_scope_open_nan(void) {
  scratch_scope = NULL;
  return gloop_scope_open(NAN, 0, &scratch_scope);
}
static int row_scope_open_nan(void) { return in_task(t_scope_open_nan); }
static int t_scope_set_deadline_nan(void) { return gloop_scope_set_deadline(fx.scope, NAN); }
static int row_scope_set_deadline_nan(void) { return in_task(t_scope_set_deadline_nan); }
static int t_timer_start_negative(void) { return gloop_timer_start(fx.timer, -1.0, noop_cb, NULL); }
static int row_timer_start_negative(void) { return in_task(t_timer_start_negative); }
static int t_timer_start_nan(void) { return gloop_timer_start(fx.timer, NAN, noop_cb, NULL); }
static int row_timer_start_nan(void) { return in_task(t_timer_start_nan); }
static int t_mock_clock_jump_negative(void) { return gloop_mock_clock_jump(fx.clock, -1.0); }
static int row_mock_clock_jump_negative(void) { return in_task(t_mock_clock_jump_negative); }
static int row_mock_clock_jump_not_mock(void) { return gloop_mock_clock_jump(NULL, 1.0); }
static int row_mock_clock_new_nan(void) {
  gloop_clock *c = NULL;
  int rc = gloop_mock_clock_new(NAN, 0.0, &c);
  gloop_clock_free(c);
  return rc;
}
static int row_mock_clock_new_negative_threshold(void) {
  gloop_clock *c = NULL;
  int rc = gloop_mock_clock_new(0.0, -1.0, &c);
  gloop_clock_free(c);
  return rc;
}
static int t_sleep_until_neg_inf(void) { return gloop_sleep_until(-INFINITY); }
static int row_sleep_until_neg_inf(void) { return in_task(t_sleep_until_neg_inf); }
static int t_scope_open_neg_inf(void) {
  gloop_scope *s;
  int rc = gloop_scope_open(-INFINITY, 0, &s);
  if (rc) return rc;
  REL_CHECK(gloop_checkpoint() == GLOOP_ECANCELED, "a -inf scope did not cancel at once");
  return gloop_scope_close(s);
}
static int row_scope_open_neg_inf(void) { return in_task(t_scope_open_neg_inf); }
static int t_move_on_after_inf(void) {
  gloop_scope *s;
  int rc = gloop_move_on_after(INFINITY, &s);
  if (rc) return rc;
  REL_CHECK(isinf(gloop_scope_deadline(s)), "the deadline is not +inf");
  return gloop_scope_close(s);
}
static int row_move_on_after_inf(void) { return in_task(t_move_on_after_inf); }
static int t_timer_start_inf(void) {
  int rc = gloop_timer_start(fx.timer, INFINITY, noop_cb, NULL);
  REL_CHECK(rc != 0 || gloop_timer_active(fx.timer), "the timer is not armed");
  gloop_timer_stop(fx.timer);
  return rc;
}
static int row_timer_start_inf(void) { return in_task(t_timer_start_inf); }
static int t_sleep_denormal(void) { return gloop_sleep(4.9e-324); }
static int row_sleep_denormal(void) { return in_task(t_sleep_denormal); }
static int row_mock_clock_new_below_zero(void) {
  gloop_clock *c = NULL;
  int rc = gloop_mock_clock_new(-1e9, 0.0, &c);
  REL_CHECK(rc != 0 || gloop_clock_now(c) == -1e9, "the clock does not read its start");
  gloop_clock_free(c);
  return rc;
}
static int row_run_tick_budget_inf(void) {
  gloop_options o;
  gloop_options_init(&o);
  o.tick_budget = INFINITY;
  return gloop_run(noop_main, NULL, &o, NULL, NULL);
}
static int row_run_timer_spin_nan(void) {
  gloop_options o;
  gloop_options_init(&o);
  o.timer_spin = NAN;
  int a = gloop_run(noop_main, NULL, &o, NULL, NULL);
  o.timer_spin = -1;
  int b = gloop_run(noop_main, NULL, &o, NULL, NULL);
  return a != b ? ROW_MISMATCH : a;
}
static int row_run_timer_spin_inf(void) {
  gloop_options o;
  gloop_options_init(&o);
  o.timer_spin = INFINITY;
  return gloop_run(noop_main, NULL, &o, NULL, NULL);
}
static void *row_identity(void *a) { return a; }
static int idle_inf_main(void *a) {
  (void)a;
  return gloop_to_thread(row_identity, NULL, 0, NULL);
}
static int row_run_idle_timeout_inf(void) {
  gloop_options o;
  gloop_options_init(&o);
  o.thread_idle_timeout = INFINITY;
  return gloop_run(idle_inf_main, NULL, &o, NULL, NULL);
}
static int t_channel_new_past_ptrdiff(void) {
  gloop_channel *ch = NULL;
  int rc = gloop_channel_new((size_t)PTRDIFF_MAX / 2 + 1, 2, &ch);
  REL_CHECK(ch == NULL, "a refused channel was handed out");
  return rc;
}
static int row_channel_new_past_ptrdiff(void) { return in_task(t_channel_new_past_ptrdiff); }

static int row_stack_cache_limit_zero(void) {
  int rc = gloop_stack_cache_limit(0);
  gloop_stack_cache_info info = {1, 1, 0};
  if (rc == 0) rc = gloop_run(noop_main, NULL, NULL, NULL, NULL);
  if (rc == 0) rc = gloop_stack_cache_get_info(&info);
  REL_CHECK(rc != 0 || (info.stacks == 0 && info.limit == 0), "the cache kept %zu stacks with bound 0",
            info.stacks);
  gloop_stack_cache_limit(GLOOP_DEFAULT_STACK_CACHE_LIMIT);
  return rc;
}
static int row_stack_cache_limit_max(void) {
  int rc = gloop_stack_cache_limit(SIZE_MAX);
  gloop_stack_cache_info info = {0, 0, 0};
  if (rc == 0) rc = gloop_run(noop_main, NULL, NULL, NULL, NULL);
  if (rc == 0) rc = gloop_stack_cache_get_info(&info);
  REL_CHECK(rc != 0 || (info.stacks > 0 && info.limit == SIZE_MAX),
            "an unbounded cache kept %zu stacks of the run", info.stacks);
  gloop_stack_cache_limit(GLOOP_DEFAULT_STACK_CACHE_LIMIT);
  gloop_stack_cache_release();
  return rc;
}
static int t_stack_cache_release_in_task(void) {
  volatile char buf[4096];
  int rc = gloop_stack_cache_release();
  /* The task's own stack, and a new task's, still work. */
  memset((char *)buf, 1, sizeof buf);
  if (rc == 0) rc = gloop_checkpoint();
  return rc != 0 ? rc : buf[100] == 1 ? 0 : ROW_MISMATCH;
}
static int row_stack_cache_release_in_task(void) { return in_task(t_stack_cache_release_in_task); }

static int row_mock_clock_new_out_of_range(void) {
  gloop_clock *c = NULL;
  int rc = gloop_mock_clock_new(1e300, 0.0, &c);
  REL_CHECK(c == NULL, "a refused clock was handed out");
  return rc;
}
static int row_mock_clock_jump_past_range(void) {
  gloop_clock *c = NULL;
  REL_CHECK_OK(gloop_mock_clock_new(0.0, INFINITY, &c));
  int rc = gloop_mock_clock_jump(c, 1e10);
  REL_CHECK(gloop_clock_now(c) == 0.0, "the refused jump moved the clock");
  gloop_clock_free(c);
  return rc;
}
static int t_set_autojump_nan(void) { return gloop_mock_clock_set_autojump(fx.clock, NAN); }
static int row_set_autojump_nan(void) { return in_task(t_set_autojump_nan); }

/* ---- Flags, sizes, fds -------------------------------------------------------------------------- */

static int t_scope_open_bad_flags(void) {
  scratch_scope = NULL;
  return gloop_scope_open(INFINITY, 4, &scratch_scope);
}
static int row_scope_open_bad_flags(void) { return in_task(t_scope_open_bad_flags); }
static int t_to_thread_bad_flags(void) { return gloop_to_thread(noop_work, NULL, 2, NULL); }
static int row_to_thread_bad_flags(void) { return in_task(t_to_thread_bad_flags); }
static int t_channel_new_zero_elem(void) {
  gloop_channel *ch = NULL;
  int rc = gloop_channel_new(1, 0, &ch);
  gloop_channel_free(ch);
  return rc;
}
static int row_channel_new_zero_elem(void) { return in_task(t_channel_new_zero_elem); }
static int t_wait_readable_negative_fd(void) { return gloop_wait_readable(-1); }
static int row_wait_readable_negative_fd(void) { return in_task(t_wait_readable_negative_fd); }
static int t_wait_readable_closed_fd(void) {
  int p[2];
  REL_CHECK(pipe(p) == 0, "pipe: %s", strerror(errno));
  close(p[0]);
  close(p[1]);
  return gloop_wait_readable(p[0]);
}
static int row_wait_readable_closed_fd(void) { return in_task(t_wait_readable_closed_fd); }
static int t_wait_readable_regular_file(void) {
  FILE *f = tmpfile();
  REL_CHECK(f != NULL, "tmpfile: %s", strerror(errno));
  int rc = gloop_wait_readable(fileno(f));
  fclose(f);
  return rc;
}
static int row_wait_readable_regular_file(void) { return in_task(t_wait_readable_regular_file); }
static int fd_waiter(void *a) {
  child_rc = gloop_wait_readable(*(int *)a);
  return 0;
}
static int t_wait_readable_twice(void) {
  start_child(fd_waiter, &fx.sock[0]);
  return gloop_wait_readable(fx.sock[0]);
}
static int row_wait_readable_twice(void) { return in_task(t_wait_readable_twice); }
static int row_notify_closing_negative_fd(void) { return gloop_notify_closing(-1); }

/* ---- Waits ended by others -------------------------------------------------------------------- */

static int event_waiter(void *a) {
  child_rc = gloop_event_wait(a);
  return 0;
}
static int t_event_freed_while_waiting(void) {
  gloop_event *ev;
  REL_CHECK_OK(gloop_event_new(&ev));
  start_child(event_waiter, ev);
  gloop_event_free(ev);
  REL_CHECK_OK(gloop_sleep(0.1));
  return child_rc;
}
static int row_event_freed_while_waiting(void) { return in_task(t_event_freed_while_waiting); }
static int t_wait_fd_notify_closing(void) {
  start_child(fd_waiter, &fx.sock[0]);
  REL_CHECK_OK(gloop_notify_closing(fx.sock[0]));
  REL_CHECK_OK(gloop_sleep(0.1));
  return child_rc;
}
static int row_wait_fd_notify_closing(void) { return in_task(t_wait_fd_notify_closing); }

/* ---- Stack sizes -------------------------------------------------------------------------------- */

static int run_with_stack(size_t size) {
  gloop_options o;
  gloop_options_init(&o);
  o.stack_size = size;
  return gloop_run(noop_main, NULL, &o, NULL, NULL);
}
static int row_run_stack_too_big(void) { return run_with_stack(GLOOP_MAX_STACK_SIZE + 1); }
static int row_run_stack_too_small(void) { return run_with_stack(GLOOP_MIN_STACK_SIZE - 1); }
static int row_guest_stack_too_big(void) {
  gloop_options o;
  gloop_options_init(&o);
  o.stack_size = GLOOP_MAX_STACK_SIZE + 1;
  host_toy_init();
  int rc = host_toy_start(noop_main, NULL, &o, 0);
  REL_CHECK(host_toy_queued() == 0, "a refused start posted a callback");
  return rc;
}
static int t_nursery_start_stack_too_big(void) {
  return gloop_nursery_start_ex(fx.n, noop_main, NULL, NULL, GLOOP_MAX_STACK_SIZE + 1, NULL);
}
static int row_nursery_start_stack_too_big(void) { return in_task(t_nursery_start_stack_too_big); }
static int t_nursery_start_stack_too_small(void) {
  return gloop_nursery_start_ex(fx.n, noop_main, NULL, NULL, GLOOP_MIN_STACK_SIZE - 1, NULL);
}
static int row_nursery_start_stack_too_small(void) { return in_task(t_nursery_start_stack_too_small); }

/* ---- The table ------------------------------------------------------------------------------------ */


/* ---- Host policy ----------------------------------------------------------------- */

static int hp_holds, hp_releases;
static int hp_hold_rc;
static int hp_hold(void *d) {
  (void)d;
  hp_holds++;
  return hp_hold_rc;
}
static void hp_release(void *d) {
  (void)d;
  hp_releases++;
}
static const gloop_host_ops hp_ops = {
    .post_threadsafe = host_toy_post_threadsafe, .hold_quit = hp_hold, .release_quit = hp_release};

/* A refused policy start: nothing posted, no run, and a hold (if any) released. */
static int hp_refused(const gloop_host_ops *ops, const gloop_options *o) {
  host_toy_init();
  hp_holds = hp_releases = 0;
  int rc = gloop_host_start(ops, NULL, noop_main, NULL, refused_done, NULL, o);
  REL_CHECK(host_toy_queued() == 0, "a refused start posted a callback");
  REL_CHECK(!gloop_in_run() && !gloop_host_live(), "a refused start left a live run");
  REL_CHECK(refused_done_calls == 0, "done_cb of a refused start ran");
  REL_CHECK(hp_holds == hp_releases || hp_hold_rc < 0, "a refused start kept its hold");
  return rc;
}
static int row_host_start_null_ops(void) { return hp_refused(NULL, NULL); }
static int row_host_start_null_post(void) {
  gloop_host_ops ops = hp_ops;
  ops.post_threadsafe = NULL;
  return hp_refused(&ops, NULL);
}
static int row_host_start_half_hold(void) {
  gloop_host_ops a = hp_ops, b = hp_ops;
  a.release_quit = NULL;
  b.hold_quit = NULL;
  int ra = hp_refused(&a, NULL), rb = hp_refused(&b, NULL);
  return ra != rb ? ROW_MISMATCH : ra;
}
static int row_host_start_two_host_posts(void) {
  gloop_options o;
  gloop_options_init(&o);
  o.run_sync_soon_not_threadsafe = host_toy_post_threadsafe;
  return hp_refused(&hp_ops, &o);
}
static int row_host_start_hold_fails(void) {
  hp_hold_rc = GLOOP_ENOMEM;
  int rc = hp_refused(&hp_ops, NULL);
  REL_CHECK(hp_holds == 1 && hp_releases == 0, "a failed hold was released");
  hp_hold_rc = 0;
  return rc;
}

/* Runs body in a policy run: `where` 0 in host context (between ticks), 1
 * in its main task, 2 on another thread while the run is live, 3 in the
 * done callback. The run is then ended by a quit request. */
static int (*hp_body)(void);
static int hp_where, hp_result, hp_called;
static int hp_main(void *a) {
  (void)a;
  if (hp_where == 1) {
    hp_result = hp_body();
    hp_called = 1;
  }
  gloop_sleep_forever();
  return 0;
}
static int hp_quit_sent;
static void hp_between(void *a) {
  (void)a;
  if (hp_quit_sent || !gloop_host_live()) return;
  if (!hp_called && (hp_where == 0 || hp_where == 2)) {
    hp_called = 1;
    hp_result = hp_where == 2 ? on_other_thread(hp_body) : hp_body();
  }
  if (hp_where == 1 && !hp_called) return; /* the task has not made its call yet */
  hp_quit_sent = 1;
  REL_CHECK(gloop_host_request_quit() == 1, "the quit request was not held");
}
static void hp_done(const gloop_outcome *o, void *d) {
  if (hp_where == 3) {
    hp_result = hp_body();
    hp_called = 1;
  }
  host_toy_done(o, d);
}
static int in_policy_run(int where, int (*body)(void)) {
  hp_body = body;
  hp_where = where;
  hp_called = hp_quit_sent = 0;
  hp_holds = hp_releases = 0;
  host_toy_init();
  host_toy_set_between(hp_between, NULL);
  REL_CHECK_OK(gloop_host_start(&hp_ops, NULL, hp_main, NULL, hp_done, NULL, NULL));
  host_toy_run_until_done_within(10.0);
  REL_CHECK(hp_called, "the row's call never ran");
  REL_CHECK(hp_holds == 1 && hp_releases == 1, "holds %d, releases %d", hp_holds, hp_releases);
  REL_CHECK(!gloop_host_live(), "the policy run is still live");
  return hp_result;
}
static int hp_start_again(void) {
  return gloop_host_start(&hp_ops, NULL, noop_main, NULL, refused_done, NULL, NULL);
}
static int row_host_start_while_live(void) {
  int a = in_policy_run(0, hp_start_again);
  /* Beside a run started without the policy. */
  int b = in_host(hp_start_again);
  return a != b ? ROW_MISMATCH : a;
}
static int row_host_start_in_task(void) { return in_policy_run(1, hp_start_again); }
static int hp_request_quit(void) { return gloop_host_request_quit(); }
static int hp_ending(void) { return gloop_host_ending(); }
static int row_host_request_quit_no_run(void) { return gloop_host_request_quit(); }
static int row_host_request_quit_wrong_thread(void) {
  int rc = in_policy_run(2, hp_request_quit);
  /* The run ended by the host thread's request alone, with no second cancel. */
  return rc;
}
static int row_host_request_quit_in_done(void) { return in_policy_run(3, hp_request_quit); }
static int row_host_ending_no_run(void) { return gloop_host_ending(); }
static int row_host_ending_wrong_thread(void) { return in_policy_run(2, hp_ending); }
static int row_host_ending_in_task(void) { return in_policy_run(1, hp_ending); }
static int row_host_ending_after_abandon(void) {
  host_toy_init();
  hp_holds = hp_releases = 0;
  REL_CHECK_OK(gloop_host_start(&hp_ops, NULL, hp_main, NULL, refused_done, NULL, NULL));
  REL_CHECK_OK(gloop_host_ending());
  int rc = gloop_host_ending();
  host_toy_drain();
  REL_CHECK(hp_releases == 1 && refused_done_calls == 0, "releases %d, done calls %d", hp_releases,
            refused_done_calls);
  return rc;
}

/* ---- Host-safe handles (refs) and the resettable event --------------------------------- */

static gloop_scope_ref kept_scope_ref;
static gloop_event_ref kept_event_ref;

static int t_scope_get_ref_null(void) {
  gloop_scope_ref r;
  int a = gloop_scope_get_ref(NULL, &r);
  int b = gloop_scope_get_ref(fx.scope, NULL);
  return a != b ? ROW_MISMATCH : a;
}
static int row_scope_get_ref_null(void) { return in_task(t_scope_get_ref_null); }

static int t_scope_ref_cancel_null_ref(void) {
  gloop_scope_ref zero = {0, 0};
  return gloop_scope_ref_cancel(zero);
}
static int row_scope_ref_cancel_null_ref(void) { return in_task(t_scope_ref_cancel_null_ref); }

/* Opens a scope inside the fixture's, takes its ref, closes it. */
static gloop_scope_ref closed_scope_ref(void) {
  gloop_scope *s;
  gloop_scope_ref r;
  REL_CHECK_OK(gloop_scope_open(INFINITY, 0, &s));
  REL_CHECK_OK(gloop_scope_get_ref(s, &r));
  REL_CHECK_OK(gloop_scope_close(s));
  return r;
}

static int t_scope_ref_cancel_closed(void) {
  gloop_scope_ref old = closed_scope_ref();
  gloop_scope *s;
  gloop_scope_ref r;
  REL_CHECK_OK(gloop_scope_open(INFINITY, 0, &s));
  REL_CHECK_OK(gloop_scope_get_ref(s, &r));
  int rc = gloop_scope_ref_cancel(old);
  REL_CHECK(!gloop_scope_cancel_called(s), "a stale ref cancelled a later scope");
  REL_CHECK_OK(gloop_scope_close(s));
  return rc;
}
static int row_scope_ref_cancel_closed(void) { return in_task(t_scope_ref_cancel_closed); }

/* The host-context row: the main task makes the ref of a scope it closes
 * before the host-side call. */
static void keep_closed_scope_ref(void) { kept_scope_ref = closed_scope_ref(); }
static int h_scope_ref_cancel_closed(void) { return gloop_scope_ref_cancel(kept_scope_ref); }
static int row_scope_ref_cancel_host_closed(void) {
  host_task_setup = keep_closed_scope_ref;
  return in_host(h_scope_ref_cancel_closed);
}

static int o_scope_ref_cancel(void) { return gloop_scope_ref_cancel(kept_scope_ref); }
static int t_scope_ref_cancel_wrong_thread(void) {
  REL_CHECK_OK(gloop_scope_get_ref(fx.scope, &kept_scope_ref));
  int rc = on_other_thread(o_scope_ref_cancel);
  REL_CHECK(!gloop_scope_cancel_called(fx.scope), "cancelled from the wrong thread");
  return rc;
}
static int row_scope_ref_cancel_wrong_thread(void) { return in_task(t_scope_ref_cancel_wrong_thread); }

static int in_done_rc;
static int keep_ref_main(void *a) {
  (void)a;
  gloop_scope *s;
  REL_CHECK_OK(gloop_scope_open(INFINITY, 0, &s));
  REL_CHECK_OK(gloop_scope_get_ref(s, &kept_scope_ref));
  REL_CHECK_OK(gloop_scope_close(s));
  REL_CHECK_OK(gloop_event_new(&kept_event));
  REL_CHECK_OK(gloop_event_get_ref(kept_event, &kept_event_ref));
  REL_CHECK_OK(gloop_token_new(&kept_token));
  return 0;
}
static void ref_done(const gloop_outcome *o, void *d) {
  (void)o;
  (void)d;
  in_done_rc = gloop_scope_ref_cancel(kept_scope_ref);
}
static int row_scope_ref_cancel_in_done(void) {
  REL_CHECK_OK(gloop_run(keep_ref_main, NULL, NULL, ref_done, NULL));
  gloop_event_free(kept_event);
  gloop_token_free(kept_token);
  return in_done_rc;
}

static int later_main(void *a) {
  (void)a;
  return gloop_scope_ref_cancel(kept_scope_ref);
}
static int row_scope_ref_cancel_after_run(void) {
  REL_CHECK_OK(gloop_run(keep_ref_main, NULL, NULL, NULL, NULL));
  gloop_event_free(kept_event);
  gloop_token_free(kept_token);
  int a = gloop_scope_ref_cancel(kept_scope_ref);
  /* The same from inside a later run on this thread. */
  int b = gloop_run(later_main, NULL, NULL, NULL, NULL);
  return a != b ? ROW_MISMATCH : a;
}

static int t_nursery_ref_cancel_closed(void) {
  gloop_nursery *n;
  gloop_scope_ref r;
  REL_CHECK_OK(gloop_nursery_open(&n));
  REL_CHECK_OK(gloop_nursery_get_ref(n, &r));
  REL_CHECK_OK(gloop_nursery_close(n));
  return gloop_scope_ref_cancel(r);
}
static int row_nursery_ref_cancel_closed(void) { return in_task(t_nursery_ref_cancel_closed); }

static int ended_task(void *a) {
  (void)a;
  return 0;
}
static int t_task_ref_cancel_ended(void) {
  gloop_task *t;
  gloop_task_ref r;
  REL_CHECK_OK(gloop_nursery_start(fx.n, ended_task, NULL, "ends", &t));
  REL_CHECK_OK(gloop_task_get_ref(t, &r));
  REL_CHECK_OK(gloop_sleep(0.1));
  return gloop_task_ref_cancel(r);
}
static int row_task_ref_cancel_ended(void) { return in_task(t_task_ref_cancel_ended); }

static int t_task_ref_cancel_wrong_kind(void) {
  gloop_scope_ref r;
  REL_CHECK_OK(gloop_scope_get_ref(fx.scope, &r));
  gloop_task_ref forged = {r.run_, r.id_};
  int rc = gloop_task_ref_cancel(forged);
  REL_CHECK(!gloop_scope_cancel_called(fx.scope), "a forged ref cancelled the scope");
  return rc;
}
static int row_task_ref_cancel_wrong_kind(void) { return in_task(t_task_ref_cancel_wrong_kind); }

static gloop_task *kept_task;
static int o_task_get_ref(void) {
  gloop_task_ref r;
  return gloop_task_get_ref(kept_task, &r);
}
static int t_task_get_ref_wrong_thread(void) {
  kept_task = gloop_current_task();
  return on_other_thread(o_task_get_ref);
}
static int row_task_get_ref_wrong_thread(void) { return in_task(t_task_get_ref_wrong_thread); }

static int t_event_ref_set_freed(void) {
  gloop_event *ev;
  gloop_event_ref r;
  REL_CHECK_OK(gloop_event_new(&ev));
  REL_CHECK_OK(gloop_event_get_ref(ev, &r));
  gloop_event_free(ev);
  return gloop_event_ref_set(r);
}
static int row_event_ref_set_freed(void) { return in_task(t_event_ref_set_freed); }

static int t_event_clear_null(void) { return gloop_event_clear(NULL); }
static int row_event_clear_null(void) { return in_task(t_event_clear_null); }

static int row_event_clear_after_run(void) {
  run_keeping_objects();
  int rc = gloop_event_clear(kept_event);
  free_kept();
  return rc;
}

static int o_event_clear(void) { return gloop_event_clear(fx.ev); }
static int t_event_clear_wrong_thread(void) { return on_other_thread(o_event_clear); }
static int row_event_clear_wrong_thread(void) { return in_task(t_event_clear_wrong_thread); }

static int t_token_cancel_scope_null(void) {
  gloop_scope_ref r, zero = {0, 0};
  REL_CHECK_OK(gloop_scope_get_ref(fx.scope, &r));
  int a = gloop_token_cancel_scope(NULL, r);
  int b = gloop_token_cancel_scope(fx.tok, zero);
  return a != b ? ROW_MISMATCH : a;
}
static int row_token_cancel_scope_null(void) { return in_task(t_token_cancel_scope_null); }

static int o_token_cancel_kept(void) { return gloop_token_cancel_scope(fx.tok, kept_scope_ref); }
static int t_token_cancel_scope_closed(void) {
  kept_scope_ref = closed_scope_ref();
  int rc = on_other_thread(o_token_cancel_kept);
  /* Let the request run: it must find nothing to cancel. */
  REL_CHECK_OK(gloop_sleep(0.1));
  REL_CHECK(!gloop_scope_cancel_called(fx.scope), "a stale request cancelled another scope");
  return rc;
}
static int row_token_cancel_scope_closed(void) { return in_task(t_token_cancel_scope_closed); }

static int row_token_cancel_scope_after_run(void) {
  REL_CHECK_OK(gloop_run(keep_ref_main, NULL, NULL, NULL, NULL));
  int rc = gloop_token_cancel_scope(kept_token, kept_scope_ref);
  gloop_event_free(kept_event);
  gloop_token_free(kept_token);
  return rc;
}

typedef struct row {
  const char *id;
  const char *call;
  const char *misuse;
  const char *result;
  int (*fn)(void);
} row;

#define MISUSE_SECTION(title)
#define MISUSE(id, call, misuse, result, note) {#id, call, misuse, #result, row_##id},
static const row rows[] = {
#include "misuse_table.h"
};
#undef MISUSE
#undef MISUSE_SECTION

/* The value of a code named in the table: OK is 0, the others come from
 * the library's own error table. */
static int code_value(const char *name, int *ok) {
  *ok = 1;
  if (strcmp(name, "OK") == 0) return 0;
#define REL_CODE(n, v, m) \
  if (strcmp(name, #n) == 0) return v;
  GLOOP_ERRNO_MAP(REL_CODE)
#undef REL_CODE
  *ok = 0;
  return 0;
}

/* One case per row: the row named by the case runs and its result must be
 * the documented one. */
static int run_row(void) {
  const row *r = NULL;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    if (strcmp(rows[i].id, gloop_test_current()) == 0) r = &rows[i];
  if (r == NULL) TEST_FAIL("no row named %s", gloop_test_current());
  int known;
  int want = code_value(r->result, &known);
  if (!known) TEST_FAIL("row %s: '%s' is not a code name", r->id, r->result);
  test_watchdog(20);
  int got = r->fn();
  test_watchdog(0);
  printf("%s: %s when %s: got %s (%d), documented %s (%d)\n", r->id, r->call, r->misuse,
         got == ROW_MISMATCH ? "a different result" : gloop_err_name(got), got, r->result, want);
  return got == want ? 0 : 1;
}

#define MISUSE_SECTION(title)
#define MISUSE(id, call, misuse, result, note) {#id, run_row},
static const gloop_test_case cases[] = {
#include "misuse_table.h"
};
#undef MISUSE
#undef MISUSE_SECTION

int main(int argc, char **argv) { return GLOOP_TEST_MAIN(argc, argv, cases); }
