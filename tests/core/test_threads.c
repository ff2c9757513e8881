/* test_threads.c - cases for reaching a run from other threads (tokens) and for running work on the thread pool. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "host_toy.h"
#include "test.h"

/* ---- gloop_token_post ---------------------------------------------------- */

#define NPOSTS 200

typedef struct post_state {
  gloop_token *token;
  gloop_event *all_in;
  int order[NPOSTS];
  int count;
  int bad_context;
  int post_rc[NPOSTS];
  int wait_rc;
} post_state;

static post_state pst;

static void posted_cb(void *arg) {
  int i = (int)(intptr_t)arg;
  /* Host context, on the host thread. */
  if (gloop_current_task() != NULL || !host_toy_on_host_thread()) pst.bad_context++;
  if (pst.count < NPOSTS) pst.order[pst.count] = i;
  pst.count++;
  if (pst.count == NPOSTS) ASSERT_OK(gloop_event_set(pst.all_in));
}

static void *poster_thread(void *arg) {
  (void)arg;
  for (int i = 0; i < NPOSTS; i++)
    pst.post_rc[i] = gloop_token_post(pst.token, posted_cb, (void *)(intptr_t)i);
  return NULL;
}

static int post_main(void *arg) {
  pthread_t th;
  (void)arg;
  ASSERT_ERR(gloop_token_new(NULL), GLOOP_EINVAL);
  ASSERT_OK(gloop_token_new(&pst.token));
  ASSERT_OK(gloop_event_new(&pst.all_in));
  ASSERT_EQ_INT(pthread_create(&th, NULL, poster_thread, NULL), 0);
  /* The run is idle while it waits: the posts must wake it. */
  pst.wait_rc = gloop_event_wait(pst.all_in);
  ASSERT_EQ_INT(pthread_join(th, NULL), 0);
  gloop_event_free(pst.all_in);
  return 0;
}

static int post_after_end_called;
static void must_not_run(void *arg) {
  (void)arg;
  post_after_end_called++;
}

TEST_CASE(token_post) {
  memset(&pst, 0, sizeof pst);
  ASSERT_ERR(gloop_token_new(&pst.token), GLOOP_ENORUN);
  ASSERT_OK(test_guest_run(post_main, NULL, NULL, 1));
  ASSERT_OK(pst.wait_rc);
  for (int i = 0; i < NPOSTS; i++) ASSERT_OK(pst.post_rc[i]);
  ASSERT_EQ_INT(pst.count, NPOSTS);
  ASSERT_EQ_INT(pst.bad_context, 0);
  /* Posts from one thread run in the order they were made. */
  for (int i = 0; i < NPOSTS; i++) ASSERT_EQ_INT(pst.order[i], i);
  /* The token outlives the run; posting now fails and calls nothing. */
  ASSERT_ERR(gloop_token_post(pst.token, must_not_run, NULL), GLOOP_ENORUN);
  ASSERT_ERR(gloop_token_post(pst.token, NULL, NULL), GLOOP_EINVAL);
  ASSERT_EQ_INT(post_after_end_called, 0);
  gloop_token_free(pst.token);
  gloop_token_free(NULL);
  return 0;
}

/* ---- gloop_token_call ---------------------------------------------------- */

typedef struct call_state {
  gloop_token *token;
  gloop_event *done;
  void *result;
  int rc;
  _Atomic int returned;
  int ran_on_host;
  int host_rc;
} call_state;

static call_state cst;

static void *on_host(void *arg) {
  cst.ran_on_host = host_toy_on_host_thread() && gloop_current_task() == NULL;
  return (void *)((intptr_t)arg * 2);
}

static void *caller_thread(void *arg) {
  (void)arg;
  cst.rc = gloop_token_call(cst.token, on_host, (void *)(intptr_t)21, &cst.result);
  atomic_store(&cst.returned, 1);
  return NULL;
}

static int call_main(void *arg) {
  pthread_t th;
  (void)arg;
  ASSERT_OK(gloop_token_new(&cst.token));
  /* On the host thread itself it would deadlock, so it is refused. */
  cst.host_rc = gloop_token_call(cst.token, on_host, NULL, NULL);
  ASSERT_EQ_INT(pthread_create(&th, NULL, caller_thread, NULL), 0);
  /* Keep the run alive until the other thread is through. Joining now would
   * block the host thread, which must stay free to run the call. */
  while (!atomic_load(&cst.returned)) ASSERT_OK(gloop_sleep(0.002));
  ASSERT_EQ_INT(pthread_join(th, NULL), 0);
  return 0;
}

TEST_CASE(token_call) {
  memset(&cst, 0, sizeof cst);
  ASSERT_OK(test_guest_run(call_main, NULL, NULL, 1));
  ASSERT_ERR(cst.host_rc, GLOOP_EBUSY);
  ASSERT_OK(cst.rc);
  ASSERT_EQ_INT(cst.ran_on_host, 1);
  ASSERT_EQ_PTR(cst.result, (void *)(intptr_t)42);
  /* After the run: refused, from any other thread. */
  pthread_t th;
  cst.rc = 12345;
  cst.ran_on_host = 0;
  ASSERT_EQ_INT(pthread_create(&th, NULL, caller_thread, NULL), 0);
  ASSERT_EQ_INT(pthread_join(th, NULL), 0);
  ASSERT_ERR(cst.rc, GLOOP_ENORUN);
  ASSERT_EQ_INT(cst.ran_on_host, 0);
  gloop_token_free(cst.token);
  return 0;
}

/* ---- gloop_token_start: system tasks ------------------------------------- */

typedef struct sys_state {
  gloop_token *token;
  int start_rc;
  int sys_sleep_rc;
  int sys_in_task;
  char sys_name[32];
  int main_rc;
  int fail_mode;
} sys_state;

static sys_state ss;

static int system_task(void *arg) {
  (void)arg;
  ss.sys_in_task = gloop_current_task() != NULL;
  snprintf(ss.sys_name, sizeof ss.sys_name, "%s", gloop_task_name(gloop_current_task()));
  if (ss.fail_mode) {
    ASSERT_OK(gloop_sleep(0.005));
    return gloop_fail(GLOOP_ECONNRESET, "system task lost its peer");
  }
  /* Lives until the main task ends, which cancels it. */
  ss.sys_sleep_rc = gloop_sleep_forever();
  return 0;
}

static void *starter_thread(void *arg) {
  (void)arg;
  ss.start_rc = gloop_token_start(ss.token, system_task, NULL, "sys-worker");
  return NULL;
}

static int sys_main(void *arg) {
  pthread_t th;
  (void)arg;
  ASSERT_OK(gloop_token_new(&ss.token));
  ASSERT_EQ_INT(pthread_create(&th, NULL, starter_thread, NULL), 0);
  ASSERT_EQ_INT(pthread_join(th, NULL), 0);
  ASSERT_OK(ss.start_rc);
  /* Give the system task time to start; in fail mode it cancels us. */
  ss.main_rc = gloop_sleep(ss.fail_mode ? 10.0 : 0.010);
  return 0;
}

TEST_CASE(token_start_system_task) {
  /* The main task ends first: the system task is cancelled, and the run's
   * outcome is the main task's. */
  memset(&ss, 0, sizeof ss);
  ss.sys_sleep_rc = 12345;
  ASSERT_OK(test_guest_run(sys_main, NULL, NULL, 1));
  ASSERT_OK(ss.main_rc);
  ASSERT_EQ_INT(ss.sys_in_task, 1);
  ASSERT_EQ_STR(ss.sys_name, "sys-worker");
  ASSERT_ERR(ss.sys_sleep_rc, GLOOP_ECANCELED);
  ASSERT_ERR(gloop_token_start(ss.token, system_task, NULL, NULL), GLOOP_ENORUN);
  gloop_token_free(ss.token);

  /* A failing system task cancels the main task and becomes the outcome. */
  memset(&ss, 0, sizeof ss);
  ss.fail_mode = 1;
  ASSERT_ERR(test_guest_run(sys_main, NULL, NULL, 1), GLOOP_ECONNRESET);
  host_toy_stats s = host_toy_get_stats();
  ASSERT_STR_CONTAINS(s.done_message, "system task lost its peer");
  ASSERT_ERR(ss.main_rc, GLOOP_ECANCELED);
  gloop_token_free(ss.token);
  return 0;
}

/* ---- gloop_to_thread ----------------------------------------------------- */

typedef struct work_state {
  _Atomic int running;
  _Atomic int max_running;
  _Atomic int started_order[4];
  _Atomic int next_start;
  _Atomic int finished;
  pthread_t host;
  _Atomic int ran_off_host;
} work_state;

static work_state wk;

static void *work_fn(void *arg) {
  int id = (int)(intptr_t)arg;
  if (!pthread_equal(pthread_self(), wk.host)) atomic_fetch_add(&wk.ran_off_host, 1);
  int now = atomic_fetch_add(&wk.running, 1) + 1;
  int prev = atomic_load(&wk.max_running);
  while (now > prev && !atomic_compare_exchange_weak(&wk.max_running, &prev, now)) {
  }
  atomic_store(&wk.started_order[atomic_fetch_add(&wk.next_start, 1) & 3], id);
  /* Job 1 is the slow one, so worker A runs 0, then 2, then 3, one after
   * the other, while worker B is still busy with 1: the queued jobs start
   * in a known order, 5 ms apart. */
  test_real_sleep(id == 1 ? 0.030 : 0.005);
  atomic_fetch_sub(&wk.running, 1);
  atomic_fetch_add(&wk.finished, 1);
  return (void *)(intptr_t)(id + 100);
}

static void *results[4];
static int work_rc[4];

static int pool_job(void *arg) {
  int id = *(int *)arg;
  work_rc[id] = gloop_to_thread(work_fn, (void *)(intptr_t)id, 0, &results[id]);
  return 0;
}

static int pool_main(void *arg) {
  static int ids[4] = {0, 1, 2, 3};
  gloop_nursery *n;
  (void)arg;
  ASSERT_ERR(gloop_to_thread(NULL, NULL, 0, NULL), GLOOP_EINVAL);
  ASSERT_OK(gloop_nursery_open(&n));
  for (int i = 0; i < 4; i++) ASSERT_OK(gloop_nursery_start(n, pool_job, &ids[i], NULL, NULL));
  return gloop_nursery_close(n);
}

TEST_CASE(thread_pool) {
  gloop_options o;
  void *r = NULL;
  memset(&wk, 0, sizeof wk);
  wk.host = pthread_self();
  ASSERT_ERR(gloop_to_thread(work_fn, NULL, 0, &r), GLOOP_ENOTTASK);
  gloop_options_init(&o);
  o.max_threads = 2;
  ASSERT_OK(test_guest_run(pool_main, NULL, &o, 1));
  for (int i = 0; i < 4; i++) {
    ASSERT_OK(work_rc[i]);
    ASSERT_EQ_PTR(results[i], (void *)(intptr_t)(i + 100));
  }
  ASSERT_EQ_INT(atomic_load(&wk.ran_off_host), 4);
  /* Two workers at most, so jobs 2 and 3 queued and started in order. */
  ASSERT_LE_INT(atomic_load(&wk.max_running), 2);
  ASSERT_EQ_INT(atomic_load(&wk.started_order[2]), 2);
  ASSERT_EQ_INT(atomic_load(&wk.started_order[3]), 3);
  return 0;
}

/* Cancellation: without the flag the task waits for the function to return
 * (and still gets its result); with GLOOP_THREAD_ABANDON_ON_CANCEL it leaves
 * at once and the function finishes on its own. The functions below run
 * until the test releases them, and the cancel is sent only once they have
 * started, so a slow machine cannot change the order of events. */

static _Atomic int slow_started;
static _Atomic int slow_done;
static _Atomic int slow_release[2];

static void *slow_fn(void *arg) {
  int i = (int)(intptr_t)arg - 7;
  atomic_fetch_add(&slow_started, 1);
  double limit = test_real_now() + test_limit(10.0);
  while (!atomic_load(&slow_release[i]) && test_real_now() < limit) test_real_sleep(0.001);
  atomic_fetch_add(&slow_done, 1);
  return arg;
}

typedef struct cancel_work {
  gloop_scope *scope;
  int body_returned;
  int returned_before_release;
  int rc_wait, rc_abandon;
  void *res_wait, *res_abandon;
  int done_at_abandon_return;
} cancel_work;

static cancel_work cw;

/* Phase 1: cancel once the function runs, check the task is still waiting
 * a while later, then let the function finish. */
static int wait_canceller(void *arg) {
  (void)arg;
  while (cw.scope == NULL || atomic_load(&slow_started) < 1) ASSERT_OK(gloop_sleep(0.001));
  ASSERT_OK(gloop_scope_cancel(cw.scope));
  for (int i = 0; i < 5; i++) ASSERT_OK(gloop_sleep(0.001));
  cw.returned_before_release = cw.body_returned;
  atomic_store(&slow_release[0], 1);
  return 0;
}

static int wait_body(void *arg) {
  gloop_scope *s;
  (void)arg;
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &s));
  cw.scope = s;
  cw.rc_wait = gloop_to_thread(slow_fn, (void *)(intptr_t)7, 0, &cw.res_wait);
  cw.body_returned = 1;
  cw.scope = NULL;
  ASSERT_OK(gloop_scope_close(s));
  return 0;
}

/* Phase 2: cancel once the function runs; the task leaves at once while the
 * function is still held. */
static int abandon_canceller(void *arg) {
  (void)arg;
  while (cw.scope == NULL || atomic_load(&slow_started) < 2) ASSERT_OK(gloop_sleep(0.001));
  ASSERT_OK(gloop_scope_cancel(cw.scope));
  return 0;
}

static int abandon_body(void *arg) {
  gloop_scope *s;
  (void)arg;
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &s));
  cw.scope = s;
  cw.rc_abandon = gloop_to_thread(slow_fn, (void *)(intptr_t)8, GLOOP_THREAD_ABANDON_ON_CANCEL,
                                  &cw.res_abandon);
  cw.done_at_abandon_return = atomic_load(&slow_done);
  cw.scope = NULL;
  ASSERT_OK(gloop_scope_close(s));
  return 0;
}

static int pair(gloop_task_fn canceller, gloop_task_fn body) {
  gloop_nursery *n;
  cw.scope = NULL;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, canceller, NULL, "canceller", NULL));
  ASSERT_OK(gloop_nursery_start(n, body, NULL, "worker", NULL));
  return gloop_nursery_close(n);
}

static int cancel_work_main(void *arg) {
  (void)arg;
  ASSERT_OK(pair(wait_canceller, wait_body));
  ASSERT_OK(pair(abandon_canceller, abandon_body));
  return 0;
}

TEST_CASE(thread_cancel) {
  memset(&cw, 0, sizeof cw);
  atomic_store(&slow_started, 0);
  atomic_store(&slow_done, 0);
  atomic_store(&slow_release[0], 0);
  atomic_store(&slow_release[1], 0);
  ASSERT_OK(test_guest_run(cancel_work_main, NULL, NULL, 1));
  /* Waited for the function, then reported the cancel with its result. */
  ASSERT_EQ_INT(cw.returned_before_release, 0);
  ASSERT_ERR(cw.rc_wait, GLOOP_ECANCELED);
  ASSERT_EQ_PTR(cw.res_wait, (void *)(intptr_t)7);
  /* Left while the function was still running, without its result. */
  ASSERT_ERR(cw.rc_abandon, GLOOP_ECANCELED);
  ASSERT_NULL(cw.res_abandon);
  ASSERT_EQ_INT(cw.done_at_abandon_return, 1);
  /* The abandoned function still runs to its end on its worker, after the
   * run is over. */
  atomic_store(&slow_release[1], 1);
  double limit = test_real_now() + test_limit(5.0);
  while (atomic_load(&slow_done) < 2 && test_real_now() < limit) test_real_sleep(0.002);
  ASSERT_EQ_INT(atomic_load(&slow_done), 2);
  return 0;
}
