/* test_job_cancel.c - worker jobs that notice their task's cancellation: gloop_thread_check_cancelled() and gloop_thread_cancel_fd(). */
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "host_toy.h"
#include "test.h"

/* A job that would run for a long time (JOB_SECONDS) unless it is told to
 * stop: it polls gloop_thread_check_cancelled() every millisecond, or
 * blocks in poll() on the cancel fd. */
#define JOB_SECONDS 30.0

static struct {
  atomic_int started;
  int before_rc;        /* check_cancelled() at the job's start */
  atomic_int seen_rc;   /* what ended the job's loop; stored last */
  int fd_first, fd_second;
  int stopped_early;
  int to_thread_rc;
  void *result;
  double returned_after;
} jc;

static void *polling_job(void *arg) {
  (void)arg;
  jc.before_rc = gloop_thread_check_cancelled();
  atomic_store(&jc.started, 1);
  double until = test_real_now() + JOB_SECONDS;
  int rc = 0;
  while (test_real_now() < until && (rc = gloop_thread_check_cancelled()) == 0) test_real_sleep(0.001);
  jc.stopped_early = test_real_now() < until;
  /* Once cancelled, it stays so. */
  if (gloop_thread_check_cancelled() != GLOOP_ECANCELED) rc = 12345;
  atomic_store(&jc.seen_rc, rc);
  return (void *)(intptr_t)42;
}

static void *fd_job(void *arg) {
  (void)arg;
  jc.before_rc = gloop_thread_check_cancelled();
  jc.fd_first = gloop_thread_cancel_fd();
  jc.fd_second = gloop_thread_cancel_fd();
  atomic_store(&jc.started, 1);
  struct pollfd p = {.fd = jc.fd_first, .events = POLLIN};
  int n = jc.fd_first >= 0 ? poll(&p, 1, (int)(JOB_SECONDS * 1000)) : -1;
  jc.stopped_early = n == 1;
  atomic_store(&jc.seen_rc, gloop_thread_check_cancelled());
  return (void *)(intptr_t)42;
}

static gloop_work_fn job_of(int kind) { return kind == 0 ? polling_job : fd_job; }

/* The task waits (without abandon-on-cancel) inside a scope that another
 * task cancels once the job runs: the job notices, returns early, and the
 * task gets GLOOP_ECANCELED with the job's result. */
static gloop_scope *jc_scope;
static int jc_kind;

static int jc_waiter(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &jc_scope));
  double t0 = test_real_now();
  jc.to_thread_rc = gloop_to_thread(job_of(jc_kind), NULL, 0, &jc.result);
  jc.returned_after = test_real_now() - t0;
  ASSERT_OK(gloop_scope_close(jc_scope));
  jc_scope = NULL;
  return 0;
}

static int jc_canceller(void *arg) {
  (void)arg;
  while (jc_scope == NULL || !atomic_load(&jc.started)) ASSERT_OK(gloop_sleep(0.001));
  ASSERT_OK(gloop_sleep(0.005)); /* a few polls with no cancellation */
  ASSERT_OK(gloop_scope_cancel(jc_scope));
  return 0;
}

static int jc_main(void *arg) {
  (void)arg;
  gloop_nursery *n;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, jc_waiter, NULL, "waiter", NULL));
  ASSERT_OK(gloop_nursery_start(n, jc_canceller, NULL, "canceller", NULL));
  return gloop_nursery_close(n);
}

static int scenario_scope_cancel(int guest, int kind) {
  memset(&jc, 0, sizeof jc);
  jc_kind = kind;
  jc_scope = NULL;
  if (guest)
    ASSERT_OK(test_guest_run(jc_main, NULL, NULL, 1));
  else
    ASSERT_OK(gloop_run(jc_main, NULL, NULL, NULL, NULL));
  ASSERT_OK(jc.before_rc);
  ASSERT_ERR(atomic_load(&jc.seen_rc), GLOOP_ECANCELED);
  ASSERT_EQ_INT(jc.stopped_early, 1);
  ASSERT_ERR(jc.to_thread_rc, GLOOP_ECANCELED);
  ASSERT_EQ_PTR(jc.result, (void *)(intptr_t)42);
  ASSERT_LT_DBL(jc.returned_after, JOB_SECONDS / 2);
  if (kind == 1) {
    ASSERT_GE_INT(jc.fd_first, 0);
    ASSERT_EQ_INT(jc.fd_second, jc.fd_first);
  }
  return 0;
}

static int scenario_poll(int guest) { return scenario_scope_cancel(guest, 0); }
static int scenario_fd(int guest) { return scenario_scope_cancel(guest, 1); }
BOTH_MODES(job_check_cancelled, scenario_poll)
BOTH_MODES(job_cancel_fd, scenario_fd)

/* Cancelling the whole run (what an application's quit does) reaches a job
 * the main task waits for, and the run ends long before the job would. */
static int jr_main(void *arg) {
  (void)arg;
  jc.to_thread_rc = gloop_to_thread(polling_job, NULL, 0, &jc.result);
  return jc.to_thread_rc;
}

/* The job starts on its worker while the host is idle: look between short
 * host turns. */
static void until_started(void) {
  double limit = test_real_now() + test_limit(5.0);
  while (!atomic_load(&jc.started) && test_real_now() < limit) host_toy_run_for(0.001);
  if (!atomic_load(&jc.started)) TEST_FAIL("the job never started");
}

TEST_CASE(job_cancelled_with_the_run) {
  memset(&jc, 0, sizeof jc);
  host_toy_init();
  ASSERT_OK(host_toy_start(jr_main, NULL, NULL, 0));
  until_started();
  double t0 = test_real_now();
  ASSERT_OK(gloop_cancel_run());
  host_toy_run_until_done();
  double took = test_real_now() - t0;
  ASSERT_ERR(host_toy_get_stats().done_status, GLOOP_ECANCELED);
  host_toy_fini();
  ASSERT_ERR(atomic_load(&jc.seen_rc), GLOOP_ECANCELED);
  ASSERT_LT_DBL(took, JOB_SECONDS / 2);
  return 0;
}

/* Abandon-on-cancel: the task leaves at once, and the job, running on
 * alone, is told too. After an abandon of the run the same holds. */
static int ja_main(void *arg) {
  (void)arg;
  gloop_scope *s;
  ASSERT_OK(gloop_scope_open(INFINITY, 0, &s));
  jc_scope = s;
  jc.to_thread_rc = gloop_to_thread(polling_job, NULL, GLOOP_THREAD_ABANDON_ON_CANCEL, NULL);
  ASSERT_OK(gloop_scope_close(s));
  jc_scope = NULL;
  return 0;
}

static int ja_canceller(void *arg) {
  (void)arg;
  while (jc_scope == NULL || !atomic_load(&jc.started)) ASSERT_OK(gloop_sleep(0.001));
  return gloop_scope_cancel(jc_scope);
}

static int ja_pair(void *arg) {
  (void)arg;
  gloop_nursery *n;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, ja_main, NULL, "waiter", NULL));
  ASSERT_OK(gloop_nursery_start(n, ja_canceller, NULL, "canceller", NULL));
  return gloop_nursery_close(n);
}

static int job_finished(void) {
  double limit = test_real_now() + test_limit(5.0);
  while (atomic_load(&jc.seen_rc) == 0 && test_real_now() < limit) test_real_sleep(0.001);
  return atomic_load(&jc.seen_rc);
}

TEST_CASE(job_abandoned_is_told) {
  memset(&jc, 0, sizeof jc);
  jc_scope = NULL;
  ASSERT_OK(gloop_run(ja_pair, NULL, NULL, NULL, NULL));
  ASSERT_ERR(jc.to_thread_rc, GLOOP_ECANCELED);
  ASSERT_ERR(job_finished(), GLOOP_ECANCELED);
  return 0;
}

static void ab_done(const gloop_outcome *o, void *data) {
  (void)o;
  (void)data;
  TEST_FAIL("done_cb of an abandoned run was called");
}

TEST_CASE(job_told_at_abandon) {
  memset(&jc, 0, sizeof jc);
  host_toy_init();
  ASSERT_OK(gloop_start_guest_run(jr_main, NULL, host_toy_post_threadsafe, ab_done, NULL));
  until_started();
  ASSERT_OK(gloop_abandon_run());
  host_toy_drain();
  host_toy_fini();
  ASSERT_ERR(job_finished(), GLOOP_ECANCELED);
  return 0;
}

/* Outside a job, both calls say so. */
static int jw_task(void *arg) {
  (void)arg;
  ASSERT_ERR(gloop_thread_check_cancelled(), GLOOP_EWRONGTHREAD);
  ASSERT_ERR(gloop_thread_cancel_fd(), GLOOP_EWRONGTHREAD);
  return 0;
}

TEST_CASE(job_calls_outside_a_job) {
  ASSERT_ERR(gloop_thread_check_cancelled(), GLOOP_EWRONGTHREAD);
  ASSERT_ERR(gloop_thread_cancel_fd(), GLOOP_EWRONGTHREAD);
  ASSERT_OK(gloop_run(jw_task, NULL, NULL, NULL, NULL));
  return 0;
}
