/* test_host.c - cases for the host policy (guestloop/host.h) on the toy host: held quits, cancel on quit, quit again, abandon, misuse. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "guestloop/host.h"
#include "host_toy.h"
#include "test.h"

/* The toy's answers to the policy's host operations: counters, and the order
 * of the calls among the done callback's, by a shared step counter. */
static struct {
  int holds, releases, quits;
  int hold_rc;
  int step;
  int hold_step, release_step, quit_step, done_step;
  void *data_seen;
  int quit_in_run;  /* quit found a run live on the thread */
  int release_live; /* release_quit found gloop_host_live() true */
} ops_log;

#define POLICY_DATA ((void *)&ops_log)

static int toy_hold(void *data) {
  ops_log.data_seen = data;
  ops_log.holds++;
  ops_log.hold_step = ++ops_log.step;
  if (!host_toy_on_host_thread()) TEST_FAIL("hold_quit off the host thread");
  return ops_log.hold_rc;
}

static void toy_release(void *data) {
  ops_log.data_seen = data;
  ops_log.releases++;
  ops_log.release_step = ++ops_log.step;
  ops_log.release_live = gloop_host_live();
  if (!host_toy_on_host_thread()) TEST_FAIL("release_quit off the host thread");
}

static void toy_quit(void *data) {
  ops_log.data_seen = data;
  ops_log.quits++;
  ops_log.quit_step = ++ops_log.step;
  ops_log.quit_in_run = gloop_in_run();
  if (!host_toy_on_host_thread()) TEST_FAIL("quit off the host thread");
}

static void toy_done(const gloop_outcome *o, void *data) {
  ops_log.done_step = ++ops_log.step;
  host_toy_done(o, data);
}

static const gloop_host_ops toy_ops = {
    .post_threadsafe = host_toy_post_threadsafe,
    .post_host = host_toy_post_not_threadsafe,
    .hold_quit = toy_hold,
    .release_quit = toy_release,
    .quit = toy_quit,
};

static void policy_init(void) {
  memset(&ops_log, 0, sizeof ops_log);
  host_toy_init();
  host_toy_expect_not_threadsafe(1);
}

static int policy_start(gloop_task_fn entry, void *arg) {
  return gloop_host_start(&toy_ops, POLICY_DATA, entry, arg, toy_done, HOST_TOY_DATA, NULL);
}

/* ---- A run that ends by itself ------------------------------------------- */

static int short_main(void *arg) {
  (void)arg;
  ASSERT_EQ_INT(gloop_host_live(), 1);
  ASSERT_EQ_INT(gloop_host_quit_pending(), 0);
  return gloop_sleep(0.001);
}

TEST_CASE(host_policy_run_done) {
  policy_init();
  ASSERT_OK(policy_start(short_main, NULL));
  ASSERT_EQ_INT(ops_log.holds, 1);
  ASSERT_EQ_INT(gloop_host_live(), 1);
  host_toy_run_until_done();
  host_toy_stats st = host_toy_get_stats();
  ASSERT_EQ_INT(st.done_calls, 1);
  ASSERT_EQ_INT(st.done_off_host, 0);
  ASSERT_OK(st.done_status);
  ASSERT_EQ_PTR(st.done_host_data, HOST_TOY_DATA);
  /* The posts carry the policy's host_data, and both kinds were used. */
  ASSERT_EQ_PTR(st.post_host_data, POLICY_DATA);
  ASSERT_GE_UINT(st.not_threadsafe_posts, 1);
  ASSERT_EQ_UINT(st.threadsafe_on_host, 0);
  /* hold, release, done; no quit, as nobody asked for one. */
  ASSERT_EQ_INT(ops_log.releases, 1);
  ASSERT_EQ_INT(ops_log.quits, 0);
  ASSERT_EQ_INT(ops_log.hold_step, 1);
  ASSERT_EQ_INT(ops_log.release_step, 2);
  ASSERT_EQ_INT(ops_log.done_step, 3);
  ASSERT_EQ_INT(ops_log.release_live, 0);
  ASSERT_EQ_PTR(ops_log.data_seen, POLICY_DATA);
  ASSERT_EQ_INT(gloop_host_live(), 0);
  ASSERT_ERR(gloop_host_request_quit(), GLOOP_ENORUN);
  ASSERT_ERR(gloop_host_ending(), GLOOP_ENORUN);
  host_toy_fini();
  return 0;
}

/* ---- A quit request while tasks run --------------------------------------- */

static struct {
  int sleeper_rc;
  int cleanup_done;
  int in_task_quit_rc;
  int quit_from_task;
  int started;
} qr;

static int quit_sleeper(void *arg) {
  (void)arg;
  qr.started++;
  qr.sleeper_rc = gloop_sleep_forever();
  /* Cleanup that needs the loop: a shielded scope lets it sleep. */
  gloop_scope *s;
  ASSERT_OK(gloop_scope_open(1e300, GLOOP_SCOPE_SHIELD, &s));
  ASSERT_OK(gloop_sleep(0.005));
  ASSERT_OK(gloop_scope_close(s));
  qr.cleanup_done = 1;
  return 0;
}

static int quit_main(void *arg) {
  gloop_nursery *n;
  (void)arg;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, quit_sleeper, NULL, "sleeper", NULL));
  if (qr.quit_from_task) {
    ASSERT_OK(gloop_sleep(0.002));
    /* A quit request made inside the run (a Qt slot called from a task). */
    qr.in_task_quit_rc = gloop_host_request_quit();
  }
  int rc = gloop_sleep_forever();
  gloop_nursery_close(n);
  return rc;
}

static int sleeper_started(void *arg) {
  (void)arg;
  return qr.started > 0;
}

static void ask_quit_twice(void *arg) {
  int *rcs = arg;
  rcs[0] = gloop_host_request_quit();
  rcs[1] = gloop_host_quit_pending();
  rcs[2] = gloop_host_request_quit();
}

static int quit_scenario(int from_task) {
  int rcs[3] = {0, 0, 0};
  memset(&qr, 0, sizeof qr);
  qr.quit_from_task = from_task;
  policy_init();
  ASSERT_OK(policy_start(quit_main, NULL));
  if (!from_task) {
    host_toy_run_until(sleeper_started, NULL, 5.0);
    host_toy_call_later(0.002, ask_quit_twice, rcs);
  }
  host_toy_run_until_done();
  host_toy_stats st = host_toy_get_stats();
  if (from_task) {
    ASSERT_EQ_INT(qr.in_task_quit_rc, 1);
  } else {
    ASSERT_EQ_INT(rcs[0], 1);
    ASSERT_EQ_INT(rcs[1], 1);
    ASSERT_EQ_INT(rcs[2], 1);
  }
  /* The quit cancelled the run, the cleanup ran to its end, and the quit
   * came back once, after release and done. */
  ASSERT_EQ_INT(st.done_calls, 1);
  ASSERT_ERR(st.done_status, GLOOP_ECANCELED);
  ASSERT_ERR(qr.sleeper_rc, GLOOP_ECANCELED);
  ASSERT_EQ_INT(qr.cleanup_done, 1);
  ASSERT_EQ_INT(ops_log.holds, 1);
  ASSERT_EQ_INT(ops_log.releases, 1);
  ASSERT_EQ_INT(ops_log.quits, 1);
  ASSERT_LT_INT(ops_log.release_step, ops_log.done_step);
  ASSERT_LT_INT(ops_log.done_step, ops_log.quit_step);
  ASSERT_EQ_INT(ops_log.quit_in_run, 0);
  ASSERT_EQ_INT(gloop_host_quit_pending(), 0);
  ASSERT_ERR(gloop_host_request_quit(), GLOOP_ENORUN);
  host_toy_fini();
  return 0;
}

TEST_CASE(host_policy_quit_cancels) { return quit_scenario(0); }
TEST_CASE(host_policy_quit_from_task) { return quit_scenario(1); }

/* ---- The done callback, the end, and the next run ------------------------- */

static struct {
  int quit_rc_in_done;
  int live_in_done;
  int second_start_rc;
  int second_ran;
} dn;

static int second_main(void *arg) {
  (void)arg;
  dn.second_ran = 1;
  return 0;
}

static void done_starts_next(const gloop_outcome *o, void *data) {
  (void)o;
  (void)data;
  ops_log.done_step = ++ops_log.step;
  dn.quit_rc_in_done = gloop_host_request_quit();
  dn.live_in_done = gloop_host_live();
  dn.second_start_rc = gloop_host_start(&toy_ops, POLICY_DATA, second_main, NULL, host_toy_done,
                                        HOST_TOY_DATA, NULL);
}

TEST_CASE(host_policy_done_starts_next) {
  memset(&dn, 0, sizeof dn);
  policy_init();
  ASSERT_OK(gloop_host_start(&toy_ops, POLICY_DATA, short_main, NULL, done_starts_next, NULL,
                             NULL));
  host_toy_run_until_done();
  /* In the done callback the run is over: a quit goes ahead, a new run may
   * start. */
  ASSERT_ERR(dn.quit_rc_in_done, GLOOP_ENORUN);
  ASSERT_EQ_INT(dn.live_in_done, 0);
  ASSERT_OK(dn.second_start_rc);
  ASSERT_EQ_INT(ops_log.holds, 2);
  ASSERT_EQ_INT(dn.second_ran, 1);
  ASSERT_EQ_INT(ops_log.releases, 2);
  ASSERT_EQ_INT(ops_log.quits, 0);
  host_toy_fini();
  return 0;
}

/* ---- The host ends first ------------------------------------------------ */

static struct {
  int started;
  int resumed;
  int ending_in_task;
} he;

static int ending_main(void *arg) {
  (void)arg;
  he.ending_in_task = gloop_host_ending();
  he.started = 1;
  gloop_sleep_forever();
  he.resumed = 1;
  return 0;
}

static int ending_started(void *arg) {
  (void)arg;
  return he.started;
}

/* Starts a policy run whose main task sleeps forever, and waits for it. */
static void start_ending_run(void) {
  memset(&he, 0, sizeof he);
  policy_init();
  ASSERT_OK(policy_start(ending_main, NULL));
  host_toy_run_until(ending_started, NULL, 5.0);
}

TEST_CASE(host_policy_ending_abandons) {
  start_ending_run();
  /* From inside the run the run cannot be torn down; it stays live. */
  ASSERT_ERR(he.ending_in_task, GLOOP_EBUSY);
  ASSERT_EQ_INT(gloop_host_live(), 1);
  ASSERT_OK(gloop_host_ending());
  ASSERT_EQ_INT(gloop_in_run(), 0);
  ASSERT_EQ_INT(gloop_host_live(), 0);
  ASSERT_EQ_INT(ops_log.releases, 1);
  /* After the abandon: every call finds no run, done never comes, the run
   * never resumes, and no quit is issued. */
  ASSERT_ERR(gloop_host_ending(), GLOOP_ENORUN);
  ASSERT_ERR(gloop_host_request_quit(), GLOOP_ENORUN);
  host_toy_drain();
  host_toy_run_for(0.020);
  ASSERT_EQ_INT(host_toy_get_stats().done_calls, 0);
  ASSERT_EQ_INT(he.resumed, 0);
  ASSERT_EQ_INT(ops_log.quits, 0);
  ASSERT_EQ_INT(ops_log.releases, 1);
  host_toy_fini();
  /* The thread can host the next run. */
  policy_init();
  ASSERT_OK(policy_start(short_main, NULL));
  host_toy_run_until_done();
  ASSERT_OK(host_toy_get_stats().done_status);
  host_toy_fini();
  return 0;
}

/* A quit that was held, then the host ended anyway: abandoned, released
 * once, and the quit is not issued again (the host is already quitting). */
TEST_CASE(host_policy_quit_then_ending) {
  start_ending_run();
  ASSERT_EQ_INT(gloop_host_request_quit(), 1);
  ASSERT_OK(gloop_host_ending());
  host_toy_drain();
  ASSERT_EQ_INT(ops_log.releases, 1);
  ASSERT_EQ_INT(ops_log.quits, 0);
  ASSERT_EQ_INT(host_toy_get_stats().done_calls, 0);
  host_toy_fini();
  return 0;
}

/* The adapter abandoned the run itself: the policy notices and releases. */
TEST_CASE(host_policy_direct_abandon) {
  start_ending_run();
  ASSERT_OK(gloop_abandon_run());
  ASSERT_EQ_INT(gloop_host_live(), 0);
  ASSERT_EQ_INT(ops_log.releases, 1);
  ASSERT_ERR(gloop_host_ending(), GLOOP_ENORUN);
  host_toy_drain();
  host_toy_fini();
  return 0;
}

/* ---- Misuse --------------------------------------------------------------- */

static void nop_post(gloop_callback_fn fn, void *fn_arg, void *host_data) {
  (void)fn;
  (void)fn_arg;
  (void)host_data;
  TEST_FAIL("a failed start posted");
}

static struct {
  int start_in_task;
  int live_rc;
} mis;

static int misuse_main(void *arg) {
  (void)arg;
  mis.start_in_task = gloop_host_start(&toy_ops, POLICY_DATA, short_main, NULL, NULL, NULL, NULL);
  mis.live_rc = 1;
  return gloop_sleep_forever();
}

static int misuse_started(void *arg) {
  (void)arg;
  return mis.live_rc;
}

static void *other_thread_calls(void *arg) {
  int *rcs = arg;
  rcs[0] = gloop_host_request_quit();
  rcs[1] = gloop_host_ending();
  rcs[2] = gloop_host_live();
  return NULL;
}

TEST_CASE(host_policy_misuse) {
  gloop_host_ops ops = {.post_threadsafe = nop_post};
  gloop_options o;
  memset(&mis, 0, sizeof mis);
  policy_init();
  /* Bad arguments: nothing is held, nothing posted. */
  ASSERT_ERR(gloop_host_start(NULL, NULL, short_main, NULL, NULL, NULL, NULL), GLOOP_EINVAL);
  ASSERT_ERR(gloop_host_start(&ops, NULL, NULL, NULL, NULL, NULL, NULL), GLOOP_EINVAL);
  ops.post_threadsafe = NULL;
  ASSERT_ERR(gloop_host_start(&ops, NULL, short_main, NULL, NULL, NULL, NULL), GLOOP_EINVAL);
  ops = toy_ops;
  ops.release_quit = NULL;
  ASSERT_ERR(gloop_host_start(&ops, NULL, short_main, NULL, NULL, NULL, NULL), GLOOP_EINVAL);
  ops = toy_ops;
  ops.hold_quit = NULL;
  ASSERT_ERR(gloop_host_start(&ops, NULL, short_main, NULL, NULL, NULL, NULL), GLOOP_EINVAL);
  /* The host post comes from ops alone. */
  gloop_options_init(&o);
  o.run_sync_soon_not_threadsafe = nop_post;
  ASSERT_ERR(gloop_host_start(&toy_ops, NULL, short_main, NULL, NULL, NULL, &o), GLOOP_EINVAL);
  ASSERT_EQ_INT(ops_log.holds, 0);
  /* The core refuses the options after the hold: the hold is released. */
  gloop_options_init(&o);
  o.tick_budget = -1.0;
  ASSERT_ERR(gloop_host_start(&toy_ops, NULL, short_main, NULL, NULL, NULL, &o), GLOOP_EINVAL);
  ASSERT_EQ_INT(ops_log.holds, 1);
  ASSERT_EQ_INT(ops_log.releases, 1);
  /* A hold that fails fails the start with its code, and is not released. */
  ops_log.hold_rc = GLOOP_ENOMEM;
  ASSERT_ERR(gloop_host_start(&toy_ops, NULL, short_main, NULL, NULL, NULL, NULL), GLOOP_ENOMEM);
  ASSERT_EQ_INT(ops_log.holds, 2);
  ASSERT_EQ_INT(ops_log.releases, 1);
  ASSERT_EQ_INT(gloop_in_run(), 0);
  ops_log.hold_rc = 0;
  /* No run anywhere. */
  ASSERT_ERR(gloop_host_request_quit(), GLOOP_ENORUN);
  ASSERT_ERR(gloop_host_ending(), GLOOP_ENORUN);
  ASSERT_EQ_INT(gloop_host_live(), 0);
  ASSERT_EQ_INT(host_toy_get_stats().threadsafe_posts, 0);

  /* A live run: a second start, from host context or from a task. */
  ASSERT_OK(policy_start(misuse_main, NULL));
  ASSERT_ERR(policy_start(short_main, NULL), GLOOP_ERUNNING);
  /* Nor beside a run started without the policy. */
  host_toy_run_until(misuse_started, NULL, 5.0);
  ASSERT_ERR(mis.start_in_task, GLOOP_ERUNNING);
  ASSERT_EQ_INT(ops_log.holds, 3);
  /* Another thread: not its run. */
  int rcs[3] = {0, 0, -1};
  pthread_t th;
  ASSERT_EQ_INT(pthread_create(&th, NULL, other_thread_calls, rcs), 0);
  ASSERT_EQ_INT(pthread_join(th, NULL), 0);
  ASSERT_ERR(rcs[0], GLOOP_EWRONGTHREAD);
  ASSERT_ERR(rcs[1], GLOOP_EWRONGTHREAD);
  ASSERT_EQ_INT(rcs[2], 0);
  ASSERT_EQ_INT(gloop_host_quit_pending(), 0);
  ASSERT_EQ_INT(gloop_host_request_quit(), 1);
  host_toy_run_until_done();
  ASSERT_ERR(host_toy_get_stats().done_status, GLOOP_ECANCELED);
  ASSERT_EQ_INT(ops_log.quits, 1);
  ASSERT_EQ_INT(ops_log.releases, 2);
  host_toy_fini();

  /* A run started without the policy: the policy does not start beside it
   * and does not hold its quits. */
  host_toy_init();
  ASSERT_OK(host_toy_start(second_main, NULL, NULL, 0));
  ASSERT_ERR(policy_start(short_main, NULL), GLOOP_ERUNNING);
  ASSERT_ERR(gloop_host_request_quit(), GLOOP_ENORUN);
  host_toy_run_until_done();
  ASSERT_EQ_INT(ops_log.holds, 3);
  host_toy_fini();
  return 0;
}

/* ---- Two host threads, a policy run on each ------------------------------ */

/* The second host thread's loop: a locked FIFO of callbacks, run until the
 * policy's quit (after its run ended) stops it. */
typedef struct mini_item {
  gloop_callback_fn fn;
  void *arg;
  struct mini_item *next;
} mini_item;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  mini_item *head, *tail;
  int stop;
  int live_in_task, quit_rc, done_status, done_calls, quits;
} mini = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, 0, 0, 0, 0};

static void mini_post(gloop_callback_fn fn, void *fn_arg, void *host_data) {
  (void)host_data;
  mini_item *it = malloc(sizeof *it);
  if (it == NULL) TEST_FAIL("out of memory");
  *it = (mini_item){fn, fn_arg, NULL};
  pthread_mutex_lock(&mini.mu);
  if (mini.tail)
    mini.tail->next = it;
  else
    mini.head = it;
  mini.tail = it;
  pthread_cond_signal(&mini.cv);
  pthread_mutex_unlock(&mini.mu);
}

static void mini_quit(void *host_data) {
  (void)host_data;
  mini.quits++;
  mini.stop = 1;
}

static void mini_done(const gloop_outcome *o, void *data) {
  (void)data;
  mini.done_calls++;
  mini.done_status = o->status;
}

static const gloop_host_ops mini_ops = {.post_threadsafe = mini_post, .quit = mini_quit};

/* Parks until cancelled; the first step asks this thread's policy to quit,
 * which must cancel this thread's run only. */
static int mini_main(void *arg) {
  (void)arg;
  mini.live_in_task = gloop_host_live();
  ASSERT_OK(gloop_sleep(0.01));
  mini.quit_rc = gloop_host_request_quit();
  return gloop_sleep_forever();
}

static void *mini_thread(void *arg) {
  (void)arg;
  int rc = gloop_host_start(&mini_ops, NULL, mini_main, NULL, mini_done, NULL, NULL);
  if (rc != 0) TEST_FAIL("second host thread: gloop_host_start: %s", gloop_err_name(rc));
  while (!mini.stop) {
    pthread_mutex_lock(&mini.mu);
    while (mini.head == NULL) pthread_cond_wait(&mini.cv, &mini.mu);
    mini_item *it = mini.head;
    mini.head = it->next;
    if (mini.head == NULL) mini.tail = NULL;
    pthread_mutex_unlock(&mini.mu);
    it->fn(it->arg);
    free(it);
  }
  /* Ticks of the ended run still queued are no-ops; drop them. */
  while (mini.head != NULL) {
    mini_item *it = mini.head;
    mini.head = it->next;
    it->fn(it->arg);
    free(it);
  }
  return NULL;
}

TEST_CASE(host_policy_two_threads) {
  memset(&qr, 0, sizeof qr);
  policy_init();
  /* This thread's run parks its workers until a quit. */
  ASSERT_OK(policy_start(quit_main, NULL));
  host_toy_run_until(sleeper_started, NULL, 5.0);
  /* The other thread runs a policy run of its own, quits it from inside,
   * and its loop ends; this thread's run is untouched. */
  pthread_t th;
  ASSERT_EQ_INT(pthread_create(&th, NULL, mini_thread, NULL), 0);
  ASSERT_EQ_INT(pthread_join(th, NULL), 0);
  ASSERT_EQ_INT(mini.live_in_task, 1);
  ASSERT_EQ_INT(mini.quit_rc, 1);
  ASSERT_EQ_INT(mini.done_calls, 1);
  ASSERT_ERR(mini.done_status, GLOOP_ECANCELED);
  ASSERT_EQ_INT(mini.quits, 1);
  ASSERT_EQ_INT(gloop_host_live(), 1);
  ASSERT_EQ_INT(gloop_host_quit_pending(), 0);
  ASSERT_EQ_INT(qr.cleanup_done, 0);
  /* Now this one. */
  ASSERT_EQ_INT(gloop_host_request_quit(), 1);
  host_toy_run_until_done();
  ASSERT_ERR(host_toy_get_stats().done_status, GLOOP_ECANCELED);
  ASSERT_EQ_INT(qr.cleanup_done, 1);
  ASSERT_EQ_INT(ops_log.quits, 1);
  host_toy_fini();
  return 0;
}
